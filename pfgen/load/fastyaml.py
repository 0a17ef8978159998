"""Compose YAML with libyaml (through PyYAML's C parser), resolving like ruamel's YAML 1.2.

ruamel.yaml's pure-Python composer costs ~1.5 ms per template; libyaml's costs
~0.07 ms. ``load.py`` composes with :func:`compose` first and falls back to
ruamel for anything libyaml rejects (so every syntax error message stays
ruamel's), for documents with a ``%YAML`` directive or an empty value (the
two place its position differently), and when PyYAML was built without
libyaml. On documents both accept they must agree node for node:
same kinds, tags, values and positions. Plain scalars are tagged by the YAML
1.2 rules ruamel applies (``true``/``false`` only are booleans, ``0o17`` and
``0x1f`` are integers, ``yes``/``on`` stay strings ...); the tests compare
this resolver with ruamel's on generated scalars and whole documents.
"""

from __future__ import annotations

import re

from yaml.nodes import ScalarNode
from yaml.resolver import BaseResolver

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Optional

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


# Text where libyaml and ruamel are known to disagree, or whose positions they
# report differently, goes to ruamel: directives, tags, anchors and aliases
# (libyaml allows ':' and flow indicators in anchor names), a comment glued to
# a block scalar indicator (libyaml accepts `|#`), blank lines opening a block
# scalar (ruamel rejects ones indented deeper than its text), tabs (ruamel
# rejects some inside plain scalars), line breaks other than \n and \r\n (the
# two count lines differently). Templates rarely have any of these;
# shell `&&`, pipes and globs like `*.py` only cost the fast path.
_DEFER = re.compile(r"[\t\x85\u2028\u2029]|\r(?!\n)|^%|(?:^|[\s\[{,])(?:!|[&*](?![\s&*]|$))|[|>][-+0-9]*(?:#|[ ]*\n[ ]*\n)", re.M)


def resolve_plain(value: str) -> str:
    """The tag ruamel (YAML 1.2) gives a plain scalar with this text."""
    if value == "":
        return _CORE + "null"
    for tag, regex in _BY_FIRST.get(value[0], ()):
        if regex.match(value):
            return tag
    return _CORE + "str"


try:
    from yaml._yaml import CParser as _Parser
except ImportError:  # PyYAML built without libyaml
    _Parser = None  # type: ignore[assignment, misc]

if _Parser is not None:

    class _Composer(_Parser, BaseResolver):  # type: ignore[misc, valid-type]
        def __init__(self, stream: str, max_nodes: Optional[int] = None) -> None:
            _Parser.__init__(self, stream)
            BaseResolver.__init__(self)
            self.pfgen_nodes = 0
            self.pfgen_max_nodes = max_nodes

        def resolve(self, kind: Any, value: Any, implicit: Any) -> str:
            self.pfgen_nodes += 1  # every node but an alias is resolved once
            if self.pfgen_max_nodes is not None and self.pfgen_nodes > self.pfgen_max_nodes:
                raise TooMany
            if kind is ScalarNode:
                if not implicit[0]:
                    return _CORE + "str"
                if value == "":
                    # libyaml places an empty value right after its key; ruamel at the next
                    # token. Let ruamel compose such (rare) documents so positions agree.
                    raise _Defer
                return resolve_plain(value)
            return _CORE + ("seq" if kind.__name__ == "SequenceNode" else "map")


class TooMany(Exception):
    """The document has more nodes than the caller's limit: composing stopped there."""


class _Defer(Exception):
    """The document is one whose composition ruamel must do."""


def available() -> bool:
    return _Parser is not None


def compose(text: str, max_nodes: Optional[int] = None) -> Optional[Any]:
    """The single document's node graph, or None when libyaml cannot be used here.

    Raises ``yaml.YAMLError`` (callers fall back to ruamel for the message), and :class:`TooMany`
    as soon as more than ``max_nodes`` nodes are composed.
    """
    if _Parser is None or _DEFER.search(text):
        return None
    composer = _Composer(text, max_nodes)
    try:
        return composer.get_single_node()
    except _Defer:
        return None
    finally:
        composer.dispose()
