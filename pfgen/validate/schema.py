"""Stage 2a: check a loaded document against a JSON Schema from ``schemas/``.

The schema file is the single source of truth for what keys exist (editors use
it too, via ``pfgen schema``). This module compiles each schema once per
process and turns jsonschema's errors into positioned, human messages: the
unknown key itself with a did-you-mean, the mapping that lacks a key, the
value of the wrong type.
"""

from __future__ import annotations

import json
from functools import lru_cache

from pfgen.errors import Collector, closest, did_you_mean
from pfgen.load.document import Document, PathKey, dotted
from pfgen.resources import schema_path

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Iterator

TEMPLATE_SCHEMA = "pf-template.schema.json"
CONFIG_SCHEMA = "pfgen-config.schema.json"

_TYPE_NAMES = {"string": "a string", "integer": "an integer", "number": "a number", "boolean": "true or false",
               "object": "a mapping", "array": "a list", "null": "null"}


def schema_text(name: str = TEMPLATE_SCHEMA) -> str:
    return schema_path(name).read_text(encoding="utf-8")


@lru_cache(maxsize=None)
def _validator(name: str) -> Any:
    """The schema compiled once per process: by fastschema (no jsonschema import, ~10x less
    start-up), or by jsonschema when the schema uses a keyword fastschema does not implement."""
    from pfgen.validate import fastschema

    schema = json.loads(schema_text(name))
    try:
        return fastschema.compile_schema(schema, strict_integers=True)
    except fastschema.Unsupported:
        return _jsonschema_validator(schema)


def _jsonschema_validator(schema: dict) -> Any:
    """jsonschema's validator with pfgen's two changes: 4.0 is not an integer (integers are
    integers), and `pattern` keeps ECMA-262's `$`."""
    from jsonschema import Draft202012Validator, validators

    from jsonschema.exceptions import ValidationError

    from pfgen.validate.fastschema import ecma_regex

    def pattern(validator: Any, value: str, instance: Any, _schema: dict) -> Iterator[Any]:
        # ECMA-262's `$` (the end of input), as fastschema reads it; jsonschema's re.search does not.
        if isinstance(instance, str) and not ecma_regex(value).search(instance):
            yield ValidationError(f"{instance!r} does not match {value!r}")

    checker = Draft202012Validator.TYPE_CHECKER.redefine(
        "integer", lambda _checker, instance: isinstance(instance, int) and not isinstance(instance, bool))
    return validators.extend(Draft202012Validator, {"pattern": pattern}, type_checker=checker)(schema)


def _kind(value: Any) -> str:
    from pfgen.load.document import value_kind as kind

    name = kind(value)
    return name if name == "null" else ("an " if name[0] in "aeiou" else "a ") + name


def _expected(types: Any) -> str:
    names = [types] if isinstance(types, str) else list(types)
    return " or ".join(_TYPE_NAMES.get(t, t) for t in names)


def check(doc: Document, issues: Collector, name: str = TEMPLATE_SCHEMA) -> None:
    """Add a diagnostic for every schema violation in ``doc``."""
    for error in _leaf_errors(_validator(name).iter_errors(doc.data)):
        _report(doc, issues, error)


def _leaf_errors(errors: Iterator[Any]) -> Iterator[Any]:
    for error in errors:
        if error.validator in ("oneOf", "anyOf") and error.context:
            # Report the branch that matches the value's shape, if any.
            instance_kind = _kind(error.instance)
            fitting = [e for e in error.context if e.validator != "type" or not e.relative_schema_path or len(e.relative_schema_path) > 2]
            same_shape = [e for e in fitting if _kind(e.instance) == instance_kind and e.validator != "type"]
            if same_shape:
                yield from _leaf_errors(iter(same_shape))
                continue
        yield error


def _report(doc: Document, issues: Collector, error: Any) -> None:
    path: PathKey = tuple(error.absolute_path)
    where = dotted(path)
    validator, schema, instance = error.validator, error.schema, error.instance
    if validator == "additionalProperties" and isinstance(instance, dict):
        allowed = schema.get("properties", {})
        for key in instance:
            if key not in allowed:
                hint = did_you_mean(key, allowed)
                scope = f" in {where}" if path else ""
                issues.error(doc.key_pos(path + (key,)), f"unknown key '{key}'{scope}{hint or '; allowed: ' + ', '.join(sorted(allowed))}")
        return
    if validator == "required":
        missing = [k for k in error.validator_value if k not in instance]
        unknown = [k for k in instance if k not in schema.get("properties", {})]
        for key in missing:
            if any(closest(u, schema.get("properties", {})) == key for u in unknown):
                continue  # reported as "unknown key ...; did you mean '<key>'?"
            issues.error(doc.key_pos(path) if path else (1, 1), f"{where}: missing required key '{key}'")
        return
    pos = doc.pos(path)
    at = doc.get(path) if path else doc.data
    if isinstance(at, dict) and isinstance(instance, str) and instance in at and validator != "type":
        pos = doc.key_pos(path + (instance,))  # a propertyNames error: point at the key
    if validator == "type":
        expected = _expected(error.validator_value)
        if isinstance(instance, float) and "integer" in ([error.validator_value] if isinstance(error.validator_value, str) else error.validator_value):
            hint = f"; write {int(instance)}" if instance.is_integer() else ""
            issues.error(pos, f"{where}: expected {expected}, got {doc.raw.get(path, repr(instance))!s}{hint}")
            return
        issues.error(pos, f"{where}: expected {expected}, got {_kind(instance)}")
    elif validator == "enum":
        choices = [str(c) for c in error.validator_value]
        hint = did_you_mean(str(instance), choices) if isinstance(instance, str) else ""
        issues.error(pos, f"{where}: '{instance}' is not one of {', '.join(choices)}{hint}")
    elif validator == "minimum":
        issues.error(pos, f"{where}: must be at least {error.validator_value}, got {instance}")
    elif validator == "maximum":
        issues.error(pos, f"{where}: must be at most {error.validator_value}, got {instance}")
    elif validator == "minLength":
        issues.error(pos, f"{where}: must not be empty")
    elif validator == "maxLength":
        issues.error(pos, f"{where}: must be at most {error.validator_value} characters")
    elif validator == "pattern":
        if "x-pfgen-message" in schema:
            issues.error(pos, f"{where}: '{instance}' {schema['x-pfgen-message']}")
        elif error.validator_value == "^[^\\s]+$":
            issues.error(pos, f"{where}: must not contain whitespace")
        else:
            issues.error(pos, f"{where}: '{instance}' does not match {error.validator_value}")
    elif validator in ("oneOf", "anyOf"):
        options = [_expected(s.get("type", "value")) for s in schema.get(validator, [])]
        issues.error(pos, f"{where}: expected {' or '.join(options)}, got {_kind(instance)}")
    elif validator == "minItems":
        issues.error(pos, f"{where}: must have at least {error.validator_value} item(s)")
    else:
        issues.error(pos, f"{where}: {error.message}")
