"""Find templates: explicit files, or every pf-template.yml/.yaml below a directory."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable

from pfgen.pipeline import TEMPLATE_NAMES

SKIP_DIRS = {".git", ".hg", ".svn", ".venv", "venv", "node_modules", "__pycache__", ".tox", ".nox", ".mypy_cache", ".pytest_cache"}


def _is_virtualenv(path: str) -> bool:
    return os.path.isfile(os.path.join(path, "pyvenv.cfg"))


def find_templates(paths: Iterable[Path], skip: Iterable[Path] = ()) -> list[Path]:
    skipped = {os.path.realpath(p) for p in skip}
    found: list[str] = []
    for path in paths:
        if not path.is_dir():
            found.append(str(path))
            continue
        for root, dirs, files in os.walk(path):
            dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS and not _is_virtualenv(os.path.join(root, d))
                             and not (skipped and os.path.realpath(os.path.join(root, d)) in skipped))
            found.extend(os.path.join(root, name) for name in sorted(files) if name in TEMPLATE_NAMES)
    unique: dict[str, str] = {}
    for path in found:  # plain strings: pathlib's resolve() per template is slow
        unique.setdefault(os.path.realpath(path), path)
    return [Path(unique[real]) for real in sorted(unique)]
