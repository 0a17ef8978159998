"""Find the job templates of a repository: explicit files, or every
pf-template.yml / .yaml below a directory.

Skipped while walking: ``.git`` (and other VCS dirs), virtualenvs (a
directory holding ``pyvenv.cfg``, or named ``.venv``, ``venv``,
``node_modules``, ``.tox``, ``.nox``), caches, the output directories
(for validate and build: ``-o``, else ./deploy and the deploy/ beside every
pfgen.yaml met on the way),
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
from pathlib import Path

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Iterable, Optional

TEMPLATE_NAMES = ("pf-template.yml", "pf-template.yaml")
CONFIG_NAMES = ("pfgen.yaml", "pfgen.yml")
SKIP_DIRS = frozenset({".git", ".hg", ".svn", ".venv", "venv", "node_modules", "__pycache__", ".tox", ".nox",
                       ".mypy_cache", ".pytest_cache"})


def git_ignored(root: Path) -> Optional[set[str]]:
    """Ignored paths below ``root``, relative to it, as git shows them (directories end
    with '/'); None outside a git work tree."""
    import subprocess

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


def _walk(root: Path, names: frozenset[str], skip: set[str], outputs: Optional[str] = None,
          found_outputs: Optional[list[tuple[str, Path]]] = None) -> list[tuple[str, Path]]:
    """(real path, path) of the files called one of ``names`` below ``root``.

    Directories whose real path is in ``skip`` are not entered. With ``outputs``
    (an output directory's name), a directory holding a project config gets its
    ``outputs`` subdirectory added to ``skip`` before its subdirectories are
    walked, and (the config's real path, that subdirectory) to ``found_outputs``:
    the walk finds the configs and leaves their output trees out in one pass.

    Plain strings and scandir's entry types: a monorepo has thousands of
    directories. Symlinked directories are never entered, so a directory's real
    path is its parent's real path plus its name; only symlinked files are
    resolved one by one.
    """
    ignored = git_ignored(root) or set()
    found: list[tuple[str, Path]] = []

    def visit(path: str, real: str, prefix: str) -> None:
        try:
            with os.scandir(path) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError:  # vanished or unreadable: skipped, as os.walk does
            return
        files = [e for e in entries if not _is_dir(e)]
        configs = [e.name for e in files if e.name in CONFIG_NAMES] if outputs is not None else []
        if configs:
            skip.add(os.path.join(real, outputs))
            if found_outputs is not None:
                found_outputs.extend((os.path.join(real, name), Path(path) / outputs) for name in configs)
        for entry in files:
            if entry.name in names and prefix + entry.name not in ignored:
                resolved = os.path.realpath(entry.path) if entry.is_symlink() else os.path.join(real, entry.name)
                found.append((resolved, Path(entry.path)))
        for entry in entries:
            name = entry.name
            if (not _is_dir(entry) or entry.is_symlink() or name in SKIP_DIRS or name.startswith(".pfgen-")
                    or prefix + name + "/" in ignored or os.path.join(real, name) in skip
                    or _is_virtualenv(entry.path)):
                continue
            visit(entry.path, os.path.join(real, name), prefix + name + "/")

    visit(str(root), os.path.realpath(root), "")
    return found


def _is_dir(entry: os.DirEntry) -> bool:
    try:
        return entry.is_dir()  # follows symlinks, as os.walk sorts entries into dirs and files
    except OSError:
        return False


def _by_real_path(found: Iterable[tuple[str, Path]]) -> list[Path]:
    unique: dict[str, Path] = {}
    for real, path in found:
        unique.setdefault(real, path)
    return [unique[real] for real in sorted(unique)]


def find_templates(paths: Iterable[Path]) -> list[Path]:
    """Templates named by ``paths``: a file is taken as given, a directory is searched."""
    return find_jobs(paths, None, ())[0]


def find_jobs(paths: Iterable[Path], outputs: Optional[str], skip: Iterable[Path]) -> tuple[list[Path], list[Path]]:
    """Templates named by ``paths`` (as :func:`find_templates`), leaving out ``skip`` and the
    ``outputs`` directory beside every project config found on the way; and those output
    directories, in the order of their configs' real paths. One walk instead of a walk
    for the configs and another for the templates."""
    skipped = {os.path.realpath(p) for p in skip}
    found: list[tuple[str, Path]] = []
    configs: list[tuple[str, Path]] = []  # (a config's real path, the output directory beside it)
    for path in paths:
        if path.is_dir():
            found.extend(_walk(path, frozenset(TEMPLATE_NAMES), skipped, outputs, configs))
        else:
            found.append((os.path.realpath(path), path))
    return _by_real_path(found), _by_real_path(configs)
