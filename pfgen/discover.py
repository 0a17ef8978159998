"""Find the job templates of a repository: every pf-template.yml / .yaml below a directory.

Skipped: ``.git``, virtualenvs (a directory holding ``pyvenv.cfg``, or named
``.venv``, ``venv`` or ``node_modules``), the output directory, pfgen's own
staging directories, and whatever git ignores. Inside a git work tree the
ignored paths come from one ``git ls-files --others --ignored
--exclude-standard --directory`` call, so ``.gitignore``, ``.git/info/exclude``
and the global excludes file all count, exactly as ``git status`` sees them;
outside git (or without git installed) nothing more is skipped. The result is
sorted by path, so the order never depends on the file system.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Iterable, Optional

TEMPLATE_NAMES = ("pf-template.yml", "pf-template.yaml")
SKIP_DIRS = frozenset({".git", ".hg", ".svn", ".venv", "venv", "node_modules", "__pycache__", ".tox", ".nox"})


def git_ignored(root: Path) -> Optional[set[str]]:
    """Ignored paths below ``root`` as git shows them (directories end with '/'); None outside git."""
    try:
        proc = subprocess.run(
            ["git", "ls-files", "-z", "--others", "--ignored", "--exclude-standard", "--directory"],
            cwd=root, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, check=False,
        )
    except OSError:  # git is not installed
        return None
    if proc.returncode != 0:  # not a work tree (or inside .git)
        return None
    return {os.fsdecode(item) for item in proc.stdout.split(b"\0") if item}


def _is_virtualenv(path: Path) -> bool:
    return (path / "pyvenv.cfg").is_file()


def discover(root: Path, *, exclude: Iterable[Path] = ()) -> list[Path]:
    """Templates below ``root`` (paths starting with ``root``), sorted by their path relative to it."""
    root = Path(root)
    excluded = {os.path.realpath(p) for p in exclude}
    ignored = git_ignored(root) or set()
    found: list[tuple[str, Path]] = []
    for current, dirs, files in os.walk(root):
        base = Path(current)
        rel_base = os.path.relpath(current, root).replace(os.sep, "/")
        prefix = "" if rel_base == "." else rel_base + "/"
        keep = []
        for name in dirs:
            path = base / name
            if name in SKIP_DIRS or name.startswith(".pfgen-") or prefix + name + "/" in ignored:
                continue
            if path.is_symlink() or _is_virtualenv(path) or os.path.realpath(path) in excluded:
                continue
            keep.append(name)
        dirs[:] = sorted(keep)
        for name in files:
            if name in TEMPLATE_NAMES and prefix + name not in ignored:
                found.append((prefix + name, base / name))
    return [path for _, path in sorted(found)]
