"""A jsonschema error as pfgen's messages: the path it is about, whether the position is
the key's, and a sentence (unknown fields with a did-you-mean, types by their YAML name)."""

from __future__ import annotations

import re
from typing import Any, Iterable, Iterator

from pfgen.errors import did_you_mean

def dotted_path(path: Iterable[Any]) -> str:
    from pfgen.load.document import dotted

    return dotted(tuple(path))


def type_name(value: Any) -> str:
    from pfgen.load.document import value_kind

    return value_kind(value)


def messages(error: Any) -> Iterator[tuple[tuple, bool, str]]:
    """(path, at_key, message) for one jsonschema error."""
    path = tuple(error.absolute_path)
    kind = error.validator
    if kind == "additionalProperties" and isinstance(error.instance, dict):
        known = list((error.schema.get("properties") or {}).keys())
        patterns = list((error.schema.get("patternProperties") or {}).keys())
        for key in error.instance:
            if key in known or any(re.search(p, key) for p in patterns):
                continue
            yield path + (key,), True, f"unknown field '{key}'{did_you_mean(key, known)}"
        return
    if kind == "type":
        expected = error.validator_value
        expected = " or ".join(expected) if isinstance(expected, list) else expected
        yield path, False, f"expected {expected}, got {type_name(error.instance)}"
        return
    if kind in ("anyOf", "oneOf") and error.context:
        types = sorted({str(sub.validator_value) for sub in error.context if sub.validator == "type"})
        if types:
            yield path, False, f"expected {' or '.join(types)}, got {type_name(error.instance)}"
            return
    if kind == "required":
        yield path, False, error.message.replace("is a required property", "is required")
        return
    if kind == "format":
        yield path, False, f"{error.instance!r} is not a valid {error.validator_value}"
        return
    yield path, False, error.message
