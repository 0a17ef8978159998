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


def to_yaml(obj: Any) -> str:
    data = canonical(obj)
    try:
        node = _node(data)
    except _Unusual:
        return _represented(data)
    return yaml.serialize(node, Dumper=_Dumper, allow_unicode=True, width=1 << 16, indent=2, explicit_start=False)


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
