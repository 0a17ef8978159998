"""Container paths and hard-coded launcher flags rewritten for a run on this machine: a
mount's container path becomes a directory of the run folder, a busy master port or a
shrunk ``--nproc_per_node``/``--nnodes`` is replaced in the command."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Iterable


# Top-level directories that exist on the host and must not be rewritten
# wholesale; a mount under them is mapped by its exact path only.
_SYSTEM_DIRS = {"bin", "boot", "dev", "etc", "home", "lib", "lib32", "lib64", "media", "mnt", "opt",
                "proc", "root", "run", "sbin", "srv", "sys", "tmp", "usr", "var"}


def rewrite_roots(mount_paths: Iterable[str]) -> list[str]:
    """Container prefixes to rewrite: a mount's top-level directory, unless that is a system one."""
    roots = set()
    for path in mount_paths:
        parts = [p for p in path.split("/") if p]
        if not parts or parts == ["dev", "shm"]:
            continue
        roots.add("/" + parts[0] if parts[0] not in _SYSTEM_DIRS else "/" + "/".join(parts))
    return sorted(roots, key=len, reverse=True)


def path_rewriter(roots: list[str], stand_in: Path):
    """A function mapping container paths in free text to ``stand_in`` + path.

    A root matches only as a whole path: not inside a longer word or path
    (``/x/workspace``, ``/workspaces``) and not in a URL.
    """
    if not roots:
        return lambda text: text
    pattern = re.compile(r"(?<![\w.:/~-])(" + "|".join(re.escape(r) for r in roots) + r")(?=/|$|[^\w.-])")
    prefix = str(stand_in)
    return lambda text: pattern.sub(lambda m: prefix + m.group(1), text)


def rewrite_port(script: str, old: int, new: int) -> tuple[str, int]:
    """Replace a hard-coded master port ``old`` in launcher flags; returns (script, count)."""
    pattern = re.compile(r"(--master[_-]port(?:=|\s+)['\"]?|\bMASTER_PORT=)%d\b" % old)
    return pattern.subn(lambda m: m.group(1) + str(new), script)


def rewrite_flag(script: str, flags: tuple[str, ...], old: int, new: int) -> tuple[str, int]:
    alternatives = "|".join(re.escape(f) for f in flags)
    pattern = re.compile(r"(?<![\w-])((?:%s)(?:=|\s+))%d(?![\w.:])" % (alternatives, old))  # not 2:4 (elastic)
    return pattern.subn(lambda m: m.group(1) + str(new), script)


def unchanged(text: str) -> str:
    return text
