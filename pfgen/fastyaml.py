"""Compose YAML with libyaml (through PyYAML's C parser), resolving like ruamel's YAML 1.2.

ruamel.yaml's pure-Python composer costs ~1.5 ms per template; libyaml's costs
~0.07 ms. ``load.py`` composes with :func:`compose` first and falls back to
ruamel for anything libyaml rejects (so every syntax error message stays
ruamel's), for documents with a ``%YAML`` directive, and when PyYAML was built
without libyaml. On documents both accept they must agree node for node:
same kinds, tags, values and positions. Plain scalars are tagged by the YAML
1.2 rules ruamel applies (``true``/``false`` only are booleans, ``0o17`` and
``0x1f`` are integers, ``yes``/``on`` stay strings ...); the tests compare
this resolver with ruamel's on generated scalars and whole documents.
"""

from __future__ import annotations

import re
from typing import Any, Optional

import yaml
from yaml.nodes import ScalarNode
from yaml.resolver import BaseResolver

_CORE = "tag:yaml.org,2002:"

# YAML 1.2 implicit types as ruamel.yaml's VersionedResolver applies them for
# version 1.2 (its "core schema" variant: underscores allowed in numbers).
_PLAIN = [
    ("bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), "tTfF"),
    ("float", re.compile(
        r"^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?"
        r"|[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)"
        r"|[-+]?\.[0-9_]+(?:[eE][-+][0-9]+)?"
        r"|[-+]?\.(?:inf|Inf|INF)"
        r"|\.(?:nan|NaN|NAN))$"), "-+0123456789."),
    ("int", re.compile(
        r"^(?:[-+]?0b[0-1_]+"
        r"|[-+]?0o?[0-7_]+"
        r"|[-+]?[0-9_]+"
        r"|[-+]?0x[0-9a-fA-F_]+)$"), "-+0123456789"),
    ("merge", re.compile(r"^(?:<<)$"), "<"),
    ("null", re.compile(r"^(?:~|null|Null|NULL|)$"), "~nN"),
    ("timestamp", re.compile(
        r"^(?:[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]"
        r"|[0-9][0-9][0-9][0-9]-[0-9][0-9]?-[0-9][0-9]?"
        r"(?:[Tt]|[ \t]+)[0-9][0-9]?"
        r":[0-9][0-9]:[0-9][0-9](?:\.[0-9]*)?"
        r"(?:[ \t]*(?:Z|[-+][0-9][0-9]?(?::[0-9][0-9])?))?)$"), "0123456789"),
    ("value", re.compile(r"^(?:=)$"), "="),
]
_BY_FIRST: dict[str, list[tuple[str, re.Pattern]]] = {}
for _tag, _regex, _first in _PLAIN:
    for _char in _first:
        _BY_FIRST.setdefault(_char, []).append((_CORE + _tag, _regex))


def resolve_plain(value: str) -> str:
    """The tag ruamel (YAML 1.2) gives a plain scalar with this text."""
    if value == "":
        return _CORE + "null"
    for tag, regex in _BY_FIRST.get(value[0], ()):
        if regex.match(value):
            return tag
    return _CORE + "str"


_Parser: Optional[type] = getattr(yaml, "CParser", None)

if _Parser is not None:

    class _Composer(_Parser, BaseResolver):  # type: ignore[misc, valid-type]
        def __init__(self, stream: str) -> None:
            _Parser.__init__(self, stream)
            BaseResolver.__init__(self)

        def resolve(self, kind: Any, value: Any, implicit: Any) -> str:
            if kind is ScalarNode:
                return resolve_plain(value) if implicit[0] else _CORE + "str"
            return _CORE + ("seq" if kind.__name__ == "SequenceNode" else "map")


def available() -> bool:
    return _Parser is not None


def compose(text: str) -> Optional[Any]:
    """The single document's node graph, or None when libyaml cannot be used here.

    Raises ``yaml.YAMLError`` (callers fall back to ruamel for the message).
    """
    if _Parser is None or "%YAML" in text:
        return None
    composer = _Composer(text)
    try:
        return composer.get_single_node()
    finally:
        composer.dispose()
