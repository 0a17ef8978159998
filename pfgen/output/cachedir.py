"""Where the build cache and its records live, and whether it is on.

What a command asks before it knows that it needs the cache: importing this
loads nothing else (pfgen/output/cache.py, which imports hashing, JSON and
pfgen's own source hash, re-exports both; see ``cli.commands._discover``).
"""

from __future__ import annotations

import os
from pathlib import Path

FOUND_MIN_DIRS = 200  # directories a discovery listed: below this, its record saves less than it costs


def enabled() -> bool:
    return os.environ.get("PFGEN_CACHE", "").lower() not in ("0", "off", "no", "false")


def cache_root() -> Path:
    explicit = os.environ.get("PFGEN_CACHE_DIR")
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "pfgen"


def records_prefix(kind: str) -> str:
    """The start of the path of every record of ``kind`` ("whole", "found") made in the current
    working directory (pfgen/output/wholestamp.py)."""
    import hashlib

    where = os.path.realpath(os.getcwd())
    return os.path.join(str(cache_root()), f"{kind}-{hashlib.sha256(where.encode()).hexdigest()[:24]}-")


def has_records(kind: str) -> bool:
    """Whether any record of ``kind`` was made in the current working directory."""
    directory, start = os.path.split(records_prefix(kind))
    try:
        return any(name.startswith(start) for name in os.listdir(directory))
    except OSError:
        return False
