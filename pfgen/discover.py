"""Find templates: explicit files, or every pf-template.yml/.yaml below a directory."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable

from pfgen.pipeline import TEMPLATE_NAMES

SKIP_DIRS = {".git", ".hg", ".svn", ".venv", "venv", "node_modules", "__pycache__", ".tox", ".nox", ".mypy_cache", ".pytest_cache"}


def _is_virtualenv(path: Path) -> bool:
    return (path / "pyvenv.cfg").is_file()


def find_templates(paths: Iterable[Path], skip: Iterable[Path] = ()) -> list[Path]:
    skipped = {p.resolve() for p in skip}
    found: list[Path] = []
    for path in paths:
        if not path.is_dir():
            found.append(path)
            continue
        for root, dirs, files in os.walk(path):
            here = Path(root)
            dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS and not _is_virtualenv(here / d)
                             and (here / d).resolve() not in skipped)
            found.extend(here / name for name in sorted(files) if name in TEMPLATE_NAMES)
    unique: dict[Path, Path] = {}
    for path in found:
        unique.setdefault(path.resolve(), path)
    return sorted(unique.values(), key=lambda p: str(p.resolve()))
