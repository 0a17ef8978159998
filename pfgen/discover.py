"""Find the job templates of a repository: explicit files, or every
pf-template.yml / .yaml below a directory.

Skipped while walking: ``.git`` (and other VCS dirs), virtualenvs (a
directory holding ``pyvenv.cfg``, or named ``.venv``, ``venv``,
``node_modules``, ``.tox``, ``.nox``), caches, the output directories,
pfgen's own staging directories (``.pfgen-*``), and whatever git ignores.
Inside a git work tree the ignored paths come from one ``git ls-files
--others --ignored --exclude-standard --directory`` call per walked
directory, so ``.gitignore``, ``.git/info/exclude`` and the global excludes
file all count, exactly as ``git status`` sees them (a tracked file is never
ignored). Outside git, or without git installed, nothing more is skipped.
The result is sorted by resolved path, so the order never depends on the
file system.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Iterable, Optional

from pfgen.config import CONFIG_NAMES
from pfgen.pipeline import TEMPLATE_NAMES

SKIP_DIRS = frozenset({".git", ".hg", ".svn", ".venv", "venv", "node_modules", "__pycache__", ".tox", ".nox",
                       ".mypy_cache", ".pytest_cache"})


def git_ignored(root: Path) -> Optional[set[str]]:
    """Ignored paths below ``root``, relative to it, as git shows them (directories end
    with '/'); None outside a git work tree."""
    try:
        proc = subprocess.run(
            ["git", "ls-files", "-z", "--others", "--ignored", "--exclude-standard", "--directory"],
            cwd=root, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, check=False,
        )
    except OSError:  # git is not installed
        return None
    if proc.returncode != 0:  # not a work tree
        return None
    return {os.fsdecode(item) for item in proc.stdout.split(b"\0") if item}


def _is_virtualenv(path: str) -> bool:
    return os.path.isfile(os.path.join(path, "pyvenv.cfg"))


def walk(root: Path, names: Iterable[str], skip: Iterable[Path] = ()) -> list[Path]:
    """Files called one of ``names`` below ``root`` (paths start with ``root``), sorted."""
    wanted = frozenset(names)
    skipped = {os.path.realpath(p) for p in skip}
    ignored = git_ignored(root) or set()
    found: list[Path] = []
    for current, dirs, files in os.walk(root):
        here = Path(current)
        rel = os.path.relpath(current, root).replace(os.sep, "/")
        prefix = "" if rel == "." else rel + "/"
        # Plain strings here: pathlib's resolve() per directory is slow in a large monorepo.
        dirs[:] = sorted(
            d for d in dirs
            if d not in SKIP_DIRS and not d.startswith(".pfgen-") and prefix + d + "/" not in ignored
            and not os.path.islink(os.path.join(current, d)) and not _is_virtualenv(os.path.join(current, d))
            and not (skipped and os.path.realpath(os.path.join(current, d)) in skipped)
        )
        found.extend(here / name for name in sorted(files) if name in wanted and prefix + name not in ignored)
    return found


def find_templates(paths: Iterable[Path], skip: Iterable[Path] = ()) -> list[Path]:
    """Templates named by ``paths``: a file is taken as given, a directory is searched."""
    skip = list(skip)
    found: list[Path] = []
    for path in paths:
        found.extend(walk(path, TEMPLATE_NAMES, skip) if path.is_dir() else [path])
    unique: dict[str, Path] = {}
    for path in found:
        unique.setdefault(os.path.realpath(path), path)
    return [unique[real] for real in sorted(unique)]


def find_configs(paths: Iterable[Path], skip: Iterable[Path] = ()) -> list[Path]:
    """Project configs (pfgen.yaml) below the directories among ``paths``."""
    skip = list(skip)
    found = {p.resolve(): p for path in paths if path.is_dir() for p in walk(path, CONFIG_NAMES, skip)}
    return sorted(found.values(), key=lambda p: str(p.resolve()))
