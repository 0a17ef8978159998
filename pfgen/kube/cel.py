"""The CEL rules of a CRD schema (``x-kubernetes-validations``), evaluated offline.

The API server evaluates these rules on top of the OpenAPI schema; an object
that breaks one is rejected. pfgen evaluates them with cel-python (the
optional extra ``cel``: ``pip install 'pfgen[cel]'``), which this module
imports only when a rule is evaluated, so the validate path never pays for it.

How a rule is read, as the API server does (k8s.io/apiextensions-apiserver
``pkg/apiserver/schema/cel``):

* ``self`` is the value at the schema node that carries the rule; a rule on an
  absent optional field is not evaluated;
* a rule that mentions ``oldSelf`` is a *transition rule*: it compares an
  update with the stored object and is not evaluated on create (nor here; all
  of pfgen's objects are creates as far as the schema can tell). The TrainJob
  CRD's ``self == oldSelf`` immutability rules are all of this kind;
* a rule that is false fails with its ``message`` (or the rule's text); a rule
  that cannot be evaluated (a runtime error, a function cel-python lacks) fails
  too: the API server treats an evaluation error as a failed validation.

Findings are ``(path, message)``; ``path`` is where the rule sits, plus its
``fieldPath`` when the rule names one.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any, Iterator

_OLD_SELF = re.compile(r"\boldSelf\b")
_FIELD_PATH = re.compile(r"\.([A-Za-z_][A-Za-z0-9_]*)|\[['\"]([^'\"]+)['\"]\]")


class Unavailable(Exception):
    """cel-python is not installed."""


def is_transition_rule(rule: str) -> bool:
    return bool(_OLD_SELF.search(rule))


def _celpy() -> Any:
    try:
        import celpy  # cel-python
    except ImportError as exc:  # pragma: no cover - the test extra installs it
        raise Unavailable("cel-python is not installed (pip install 'pfgen[cel]')") from exc
    return celpy


@lru_cache(maxsize=256)
def _program(rule: str) -> Any:
    celpy = _celpy()
    environment = celpy.Environment()
    return environment.program(environment.compile(rule))


def evaluate(rule: str, value: Any) -> tuple[bool, str]:
    """(passed, why-not) for one rule with ``self`` bound to ``value`` (plain JSON data)."""
    celpy = _celpy()
    try:
        program = _program(rule)
    except Exception as exc:  # noqa: BLE001 - cel-python's parse errors have several types
        return False, f"the rule cannot be compiled by cel-python ({type(exc).__name__}: {exc})"
    try:
        result = program.evaluate({"self": celpy.json_to_cel(value)})
    except Exception as exc:  # noqa: BLE001 - evaluation errors fail the rule, as on the API server
        return False, f"the rule cannot be evaluated ({type(exc).__name__}: {exc})"
    if isinstance(result, Exception):  # cel-python returns some errors as values
        return False, f"the rule cannot be evaluated ({result})"
    if not isinstance(result, bool) and type(result).__name__ != "BoolType":
        return False, f"the rule does not give a boolean ({result!r})"
    return bool(result), ""


def _field_path(text: str) -> tuple:
    return tuple(a or b for a, b in _FIELD_PATH.findall(text or ""))


def _rules(schema: dict) -> list[dict]:
    found = schema.get("x-kubernetes-validations")
    return [r for r in found if isinstance(r, dict) and isinstance(r.get("rule"), str)] if isinstance(found, list) else []


def walk(schema: Any, value: Any, path: tuple = ()) -> Iterator[tuple[tuple, str]]:
    """Every failed rule of ``schema`` (a raw CRD openAPIV3Schema node) for ``value``."""
    if not isinstance(schema, dict):
        return
    for rule in _rules(schema):
        text = rule["rule"]
        if is_transition_rule(text):
            continue  # applies to updates only
        passed, why = evaluate(text, value)
        if not passed:
            message = rule.get("message") or f"failed rule: {text}"
            if why:
                message = f"{message} ({why})"
            yield path + _field_path(rule.get("fieldPath", "")), f"{message} [CEL: {text}]"
    if isinstance(value, dict):
        properties = schema.get("properties") or {}
        extra = schema.get("additionalProperties")
        for key, item in value.items():
            sub = properties.get(key) if key in properties else extra if isinstance(extra, dict) else None
            if sub is not None:
                yield from walk(sub, item, path + (key,))
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for index, item in enumerate(value):
            yield from walk(schema["items"], item, path + (index,))


def needs_evaluation(schema: Any) -> bool:
    """Whether any node of ``schema`` carries a CEL rule that applies on create (not a transition rule)."""
    if isinstance(schema, dict):
        if any(not is_transition_rule(rule["rule"]) for rule in _rules(schema)):
            return True
        return any(needs_evaluation(item) for item in schema.values())
    if isinstance(schema, list):
        return any(needs_evaluation(item) for item in schema)
    return False
