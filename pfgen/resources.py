"""Locate the data files pfgen ships: schemas/ and templates/.

In a wheel they are package data under ``pfgen/_data``; in a source checkout
(editable install, or running from the repository) they sit at the top level.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


@lru_cache(maxsize=None)
def data_dir(name: str) -> Path:
    for candidate in (_PACKAGE / "_data" / name, _PACKAGE.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"pfgen installation is incomplete: no {name}/ directory")


def schema_path(name: str) -> Path:
    return data_dir("schemas") / name
