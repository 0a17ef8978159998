"""The one YAML/JSON dumper for every Kubernetes object pfgen writes.

Objects are plain dicts and lists. Output is canonical: ``apiVersion``,
``kind``, ``metadata``, ``spec`` lead, every other key is sorted, so the bytes
depend only on the objects. Strings that a YAML 1.1 reader (the Go YAML
library behind kubectl) would take for something else are quoted; multi-line
strings use literal blocks so shell scripts stay readable in review.
"""

from __future__ import annotations

import json
import re

import yaml
from yaml.nodes import MappingNode, ScalarNode, SequenceNode

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Iterable

_LEAD = ("apiVersion", "kind", "metadata", "name", "namespace", "spec")
# Plain scalars that go-yaml v2 (YAML 1.1) or YAML 1.2 resolve to non-strings.
_AMBIGUOUS = re.compile(
    r"^(?:y|Y|yes|Yes|YES|n|N|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF"
    r"|null|Null|NULL|~|[-+]?(?:\.inf|\.Inf|\.INF)|\.nan|\.NaN|\.NAN"
    r"|[-+]?[0-9][0-9_:.]*(?:[eE][-+]?[0-9]+)?|[-+]?0[xXoObB][0-9a-fA-F_]+|[-+]?\.[0-9]+(?:[eE][-+]?[0-9]+)?"
    r"|[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}.*|=|<<)\Z"
)
# go-yaml (v2 behind kubectl apply's sigs.k8s.io/yaml, v3 behind kustomize's kyaml) resolves a
# plain scalar that starts with a digit, '+' or '-' by first deleting every '_' and then trying
# strconv.ParseInt(s, 0, 64) (so 0x, 0o, 0b prefixes), ParseUint and a YAML-style float
# (resolve.go, `case 'D', 'S'`): `0_x1`, `-_1` and `+.5_` are numbers there. PyYAML's YAML 1.1
# regexes also allow '_' in numbers (`.5_`). So a string is quoted when, with its underscores
# deleted, it is anything number-like, a superset of what either reader takes for a number.
_NUMBERISH = re.compile(
    r"[-+]?(?:0[xXoObB][0-9a-fA-F]*|[0-9][0-9:.]*(?:[eE][-+]?[0-9]+)?|\.[0-9]+(?:[eE][-+]?[0-9]+)?"
    r"|\.(?:inf|Inf|INF|nan|NaN|NAN))"
)


def needs_quotes(text: str) -> bool:
    """Whether a plain ``text`` would read back as something other than this string under YAML 1.1
    (PyYAML), YAML 1.2 core, or go-yaml v2/v3 with their underscore rule (tests/test_quoting.py
    round-trips generated strings through the real `kubectl kustomize`)."""
    if _AMBIGUOUS.match(text):
        return True
    if text[:1] not in _NUMBER_START:
        return False
    bare = text.replace("_", "")
    # ruamel (YAML 1.2) takes `+_` and `._` for broken numbers and fails: quote the sign/dot-only ones too.
    return _NUMBERISH.fullmatch(bare) is not None or (bare != text and bare in ("", "+", "-", ".", "+.", "-."))


_NUMBER_START = frozenset("0123456789+-.")


def canonical(value: Any) -> Any:
    """Recursively order mapping keys: the leading Kubernetes keys, then sorted."""
    if isinstance(value, dict):
        lead = [k for k in _LEAD if k in value]
        rest = sorted(k for k in value if k not in _LEAD)
        return {k: canonical(value[k]) for k in lead + rest}
    if isinstance(value, (list, tuple)):
        return [canonical(v) for v in value]
    return value


_Base = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


class _Dumper(_Base):  # type: ignore[misc, valid-type]
    # The emitter asks the resolver twice per scalar which tag its text would get implicitly
    # (regex matching, a third of the dumping time); the answer depends on the text alone,
    # and manifests repeat the same keys and values, so it is remembered.
    _implicit: dict = {}

    def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
        if kind is not ScalarNode:
            return super().resolve(kind, value, implicit)
        key = (value, implicit)
        tag = self._implicit.get(key)
        if tag is None:
            tag = super().resolve(kind, value, implicit)
            if len(self._implicit) >= 100_000:
                self._implicit.clear()
            self._implicit[key] = tag
        return tag


def _represent_str(dumper: Any, data: str) -> Any:
    if "\n" in data and not any(line != line.rstrip() for line in data.split("\n")):
        return dumper.represent_scalar("tag:yaml.org,2002:str", data, style="|")
    if needs_quotes(data):
        return dumper.represent_scalar("tag:yaml.org,2002:str", data, style='"')
    return dumper.represent_scalar("tag:yaml.org,2002:str", data)


_Dumper.add_representer(str, _represent_str)


_TAG = "tag:yaml.org,2002:"


class _Unusual(Exception):
    """A value the direct node builder leaves to PyYAML's representer (floats, subclasses ...)."""


def _str_style(data: str) -> Any:
    if "\n" in data and not any(line != line.rstrip() for line in data.split("\n")):
        return "|"
    if needs_quotes(data):
        return '"'
    return None


def _node(value: Any) -> Any:
    """The node PyYAML's SafeRepresenter (with _represent_str, default_flow_style=False) makes of
    ``value``, built directly: the representer's generic dispatch costs more than emitting.
    ``canonical`` output never shares containers, so there are no aliases to find."""
    kind = type(value)
    if kind is str:
        return ScalarNode(_TAG + "str", value, style=_str_style(value))
    if kind is dict:
        return MappingNode(_TAG + "map", [(_node(k), _node(v)) for k, v in value.items()], flow_style=False)
    if kind is list:
        return SequenceNode(_TAG + "seq", [_node(v) for v in value], flow_style=False)
    if kind is bool:
        return ScalarNode(_TAG + "bool", "true" if value else "false")
    if kind is int:
        return ScalarNode(_TAG + "int", str(value))
    if value is None:
        return ScalarNode(_TAG + "null", "null")
    raise _Unusual


def _serialize(node: Any) -> str:
    return yaml.serialize(node, Dumper=_Dumper, allow_unicode=True, width=1 << 16, indent=2, explicit_start=False)


# --- the block structure written directly ------------------------------------------------
# libyaml's block style (indent 2, indentless sequences in mappings) is a few fixed rules; what
# takes judgement is each scalar: plain or quoted, escapes, a literal block's header. So the
# structure is written here and every scalar as libyaml writes it, asked once per distinct
# scalar (a one-entry mapping serialized) and remembered. Whatever these rules do not cover
# (a key that cannot be a simple key, a scalar that would span lines other than as a literal
# block, a literal block that keeps trailing blank lines) goes to libyaml whole. The hypothesis
# test in tests/output/test_fastdump.py compares the two on generated trees.

class _Fallback(Exception):
    """A document the direct writer leaves to libyaml."""


_SCALARS: dict = {}  # (kind, text) -> (first line, body lines of a literal block or None)
_MAX_SCALARS = 20_000  # a few hundred keys and common values repeat; the rest are one-offs
_PROBE_VALUE = ScalarNode(_TAG + "str", "x")
_BREAKS = re.compile("[\r\x85\u2028\u2029]")
_LONGEST = 60_000  # characters; the width is 1 << 16, and no block nests 5,000 levels deep


_NAMELIKE = re.compile(r"[a-z][a-z0-9-]{0,62}")  # DNS-label-like: job and directory names, most values


def _scalar(kind: str, text: str) -> tuple[str, Any]:
    """How libyaml writes ``text`` as a mapping key (``kind`` "key") or a block value ("value"):
    its text on the line, and a literal block's body lines (indented 2, as in the probe)."""
    found = _SCALARS.get((kind, text))
    if found is not None:
        return found
    if _NAMELIKE.fullmatch(text) and not needs_quotes(text):
        # lower-case letters, digits and inner dashes: no indicator, no space, nothing the resolver
        # takes for another type (needs_quotes): libyaml writes it plain, as it is, as a key or a value
        # (tests/output/test_fastdump.py asks libyaml about such names); spares a probe per job name
        found = (text, None)
        if len(_SCALARS) >= _MAX_SCALARS:
            _SCALARS.clear()
        _SCALARS[(kind, text)] = found
        return found
    return _probe(kind, text)


def _probe(kind: str, text: str) -> tuple[str, Any]:
    """_scalar's answer from libyaml: a one-entry mapping serialized."""
    if len(text) > _LONGEST:
        raise _Fallback  # libyaml folds lines past its width, which counts from the column the scalar starts at
    node = ScalarNode(_TAG + "str", text, style=_str_style(text))
    if kind == "key":
        written = _serialize(MappingNode(_TAG + "map", [(node, _PROBE_VALUE)], flow_style=False))
        if not written.endswith(": x\n") or "\n" in written[:-1] or _BREAKS.search(written) or len(text.encode("utf-8", "surrogateescape")) > 100:
            raise _Fallback
        found = (written[:-4], None)
    else:
        written = _serialize(MappingNode(_TAG + "map", [(ScalarNode(_TAG + "str", "k"), node)], flow_style=False))
        if not written.startswith("k: ") or not written.endswith("\n"):
            raise _Fallback
        lines = written[3:-1].split("\n")
        if _BREAKS.search(written):  # other YAML line breaks: libyaml indents after them too
            raise _Fallback
        if len(lines) == 1:
            found = (lines[0], None)
        elif lines[0][:1] == "|" and not lines[0].endswith("+") and all(not line or line.startswith("  ") for line in lines[1:]):
            found = (lines[0], tuple(line[2:] for line in lines[1:]))
        else:
            raise _Fallback
    if len(_SCALARS) >= _MAX_SCALARS:
        _SCALARS.clear()
    _SCALARS[(kind, text)] = found
    return found


def _plain(value: Any) -> tuple[str, Any]:
    """A non-string scalar's text, as _node tags it (plain, implicit)."""
    kind = type(value)
    if kind is bool:
        return ("true" if value else "false"), None
    if kind is int:
        return str(value), None
    if value is None:
        return "null", None
    raise _Unusual


def _value(value: Any) -> tuple[str, Any]:
    if type(value) is str:
        return _scalar("value", value)
    return _plain(value)


def _key(value: Any) -> str:
    if type(value) is str:
        return _scalar("key", value)[0]
    return _plain(value)[0]


def _body(out: list, body: Any, indent: int) -> None:
    pad = " " * indent
    for line in body:
        out.append(pad + line + "\n" if line else "\n")


def _mapping(out: list, value: dict, indent: int, first: str) -> None:
    """Write the block mapping ``value`` at column ``indent``; its first line starts with ``first``
    (the sequence dash it follows, or the indentation)."""
    pad = " " * indent
    lead = first
    for key in _ordered(value):
        item = value[key]
        head = lead + _key(key) + ":"
        lead = pad
        kind = type(item)
        if kind is dict and item:
            out.append(head + "\n")
            _mapping(out, item, indent + 2, " " * (indent + 2))
        elif kind is list and item:
            out.append(head + "\n")
            _sequence(out, item, indent, pad)
        else:
            _leaf(out, head + " ", item, indent)


def _leaf(out: list, head: str, item: Any, indent: int) -> None:
    """An empty mapping or sequence, or a scalar, after ``head`` (a key and ': ', or a dash)."""
    kind = type(item)
    if kind is dict:
        out.append(head + "{}\n")
    elif kind is list:
        out.append(head + "[]\n")
    else:
        text, body = _value(item)
        out.append(head + text + "\n")
        if body is not None:
            _body(out, body, indent + 2)


def _ordered(value: dict) -> list:
    """The keys of ``value`` in :func:`canonical` order."""
    lead = [k for k in _LEAD if k in value]
    return lead + sorted(k for k in value if k not in _LEAD) if lead else sorted(value)


def _sequence(out: list, value: list, indent: int, first: str) -> None:
    """Write the block sequence ``value`` with its dashes at column ``indent``."""
    pad = " " * indent
    lead = first
    for item in value:
        head = lead + "- "
        lead = pad
        kind = type(item)
        if kind is dict and item:
            _mapping(out, item, indent + 2, head)
        elif kind is list and item:
            _sequence(out, item, indent + 2, head)
        else:
            _leaf(out, head, item, indent)


def _written(data: Any) -> str:
    """``data`` (canonical) as libyaml writes it, the block structure written here."""
    if type(data) is not dict or not data:
        raise _Fallback
    # (written in canonical order; a list's tuples and a dict's subclasses take the fallbacks)
    out: list = []
    _mapping(out, data, 0, "")
    return "".join(out)


def to_yaml(obj: Any) -> str:
    try:
        return _written(obj)
    except (_Fallback, _Unusual):
        pass
    data = canonical(obj)
    try:
        node = _node(data)
    except _Unusual:
        return _represented(data)
    return _serialize(node)


def _represented(data: Any) -> str:
    """The reference path: PyYAML's representer (tests check _node against it)."""
    return yaml.dump(
        data,
        Dumper=_Dumper,
        sort_keys=False,
        default_flow_style=False,
        allow_unicode=True,
        width=1 << 16,
        indent=2,
        explicit_start=False,
    )


def to_yaml_stream(objs: Iterable[Any]) -> str:
    """Several objects as one multi-document stream, each introduced by ``---``."""
    return "".join("---\n" + to_yaml(obj) for obj in objs)


def to_json(obj: Any) -> str:
    return json.dumps(canonical(obj), indent=2, ensure_ascii=False) + "\n"
