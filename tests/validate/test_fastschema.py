"""pfgen/validate/fastschema.py agrees with jsonschema, which it replaces at run time for start-up speed.

For documents generated from the schemas themselves (mostly valid, with
random breakage at every level), both validators must give the same verdict
and, through schema.py's reporting, the very same diagnostics.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from pfgen.validate import fastschema
from pfgen.validate import schema
from pfgen.validate.schema import _jsonschema_validator as pfgen_reference  # jsonschema, with pfgen's integers and ECMA `$`
from pfgen.errors import Collector
from pfgen.load.document import Document, load_file

ROOT = Path(__file__).resolve().parents[2]
SCHEMAS = sorted((ROOT / "schemas").glob("*.schema.json"))
NAMES = [p.name for p in SCHEMAS]


def load_schema(name: str) -> dict:
    return json.loads((ROOT / "schemas" / name).read_text(encoding="utf-8"))


def keywords(node, found: set, parent: str = "") -> set:
    if isinstance(node, dict):
        for key, value in node.items():
            if parent in ("properties", "$defs", "definitions", "patternProperties"):
                keywords(value, found)  # key is a property name, value a schema
                continue
            found.add(key)
            if key not in ("enum", "const", "required", "examples", "default", "description", "title"):
                keywords(value, found, key)
    elif isinstance(node, list) and parent in ("oneOf", "anyOf", "allOf", "prefixItems"):
        for item in node:
            keywords(item, found)
    return found


@pytest.mark.parametrize("name", NAMES)
def test_every_keyword_of_the_shipped_schemas_is_implemented(name):
    """Fails when a schema starts using a keyword fastschema does not implement: add it there
    (with a case below), or pfgen silently falls back to the slow jsonschema import."""
    used = keywords(load_schema(name), set())
    unknown = {k for k in used if k not in fastschema.KEYWORDS and k not in fastschema.ANNOTATIONS and not k.startswith("x-")}
    assert not unknown, f"{name} uses {sorted(unknown)}, which pfgen/validate/fastschema.py does not implement"
    assert isinstance(schema._validator(name), fastschema.Validator)


def patterns(node, found: list, parent: str = "") -> list:
    """Every regular expression of a schema: ``pattern`` values and ``patternProperties`` keys."""
    if isinstance(node, dict):
        for key, value in node.items():
            if parent == "patternProperties":
                found.append(key)
            elif key == "pattern" and parent not in ("properties", "$defs", "definitions") and isinstance(value, str):
                found.append(value)
                continue
            patterns(value, found, key)
    elif isinstance(node, list):
        for item in node:
            patterns(item, found, parent)
    return found


@pytest.mark.parametrize("name", NAMES)
def test_every_pattern_of_the_shipped_schemas_compiles(name):
    """The validator compiles a schema's patterns on first use (fastschema.LazyRegex): a broken one
    would only fail when a document first reaches it, so each is compiled here."""
    found = patterns(load_schema(name), [])
    assert found, f"{name} has no pattern: the walk is broken"
    for pattern in found:
        lazy = fastschema.LazyRegex(pattern)
        assert lazy.source == fastschema.ecma_regex(pattern).pattern
        lazy.search("")  # compiles; raises re.error for a pattern Python's re cannot read


def test_lazy_patterns_keep_ecma_end_of_input():
    lazy = fastschema.LazyRegex("^[a-z]+$")
    assert lazy.search("abc") and not lazy.search("abc\n") and lazy._compiled is not None


def test_unsupported_keyword_falls_back_to_jsonschema():
    with pytest.raises(fastschema.Unsupported):
        fastschema.compile_schema({"type": "object", "dependentRequired": {"a": ["b"]}})
    with pytest.raises(fastschema.Unsupported):
        fastschema.compile_schema({"$ref": "https://example.com/other.json"})


def diagnostics(data, name: str, validator) -> list[str]:
    doc = Document("t.yml", data)
    issues = Collector("t.yml")
    for error in schema._leaf_errors(validator.iter_errors(data)):
        schema._report(doc, issues, error)
    return sorted(str(d) for d in issues.diagnostics)


_VALIDATORS: dict = {}


def validators(name: str) -> tuple:
    """(fastschema, jsonschema) validators of a shipped schema, compiled once."""
    if name not in _VALIDATORS:
        _VALIDATORS[name] = (fastschema.compile_schema(load_schema(name), strict_integers=True),
                             pfgen_reference(load_schema(name)))
    return _VALIDATORS[name]


def assert_agree(data, name: str) -> None:
    fast, reference = validators(name)
    assert fast.is_valid(data) == reference.is_valid(data), data
    assert diagnostics(data, name, fast) == diagnostics(data, name, reference), data


# --- documents drawn from the schema, broken at random -----------------------------

_json = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 70000) | st.floats(allow_nan=False, allow_infinity=False, width=32)
    | st.sampled_from([0, 1, 1.0, 2.5, -1, "", " ", "a b", "x", "custom", "node", "Exists", "100Gi", "ml-team"])
    | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=6)


def _resolve(node: dict, root: dict) -> dict:
    while isinstance(node, dict) and "$ref" in node:
        target = root
        for part in node["$ref"][2:].split("/"):
            target = target[part]
        node = target
    return node


def draw_instance(draw, node, root: dict, depth: int = 0):
    node = _resolve(node, root)
    if not isinstance(node, dict) or depth > 6 or draw(st.integers(0, 99)) < 6:
        return draw(_json)  # random breakage at this level
    for combinator in ("oneOf", "anyOf"):
        if combinator in node:
            return draw_instance(draw, draw(st.sampled_from(node[combinator])), root, depth + 1)
    if "enum" in node:
        return draw(st.sampled_from(node["enum"]) | st.sampled_from(["", "Custom", "nodes", 1, True]))
    kind = node.get("type", "object" if "properties" in node else "string")
    kind = draw(st.sampled_from(kind)) if isinstance(kind, list) else kind
    if kind == "object":
        result = {}
        props = node.get("properties", {})
        required = node.get("required", [])
        for key in sorted(props):
            if key in required and draw(st.integers(0, 99)) < 95 or draw(st.booleans()):
                result[key] = draw_instance(draw, props[key], root, depth + 1)
        extra = node.get("additionalProperties")
        if isinstance(extra, dict) and draw(st.booleans()):
            for key in draw(st.lists(st.sampled_from(["a", "my-data", "B C", "x.y", "_"]), max_size=3, unique=True)):
                result[key] = draw_instance(draw, extra, root, depth + 1)
        if draw(st.integers(0, 99)) < 8:
            result[draw(st.sampled_from(["nmae", "vm_type", "extra", "Image", "type"]))] = draw(_json)
        return result
    if kind == "array":
        return [draw_instance(draw, node.get("items", {}), root, depth + 1) for _ in range(draw(st.integers(0, 3)))]
    if kind == "string":
        return draw(st.sampled_from(["", " ", "ok", "has space", "a\nb", "UPPER", "ml-team", "10Gi", "1.5Ti", "x" * 70,
                                     "registry.example.com/team", "-bad-", "azure-16gb-v100-4g-eastus-spot"]) | st.text(max_size=5))
    if kind in ("integer", "number"):
        return draw(st.sampled_from([0, 1, 2, 8, -1, 65536, 1.0, 2.5, True]) | st.integers(-5, 100))
    if kind == "boolean":
        return draw(st.sampled_from([True, False, 1, "true"]))
    return draw(_json)


@st.composite
def instances(draw, name: str):
    root = load_schema(name)
    return draw_instance(draw, root, root)


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=700, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_generated_documents_get_the_same_verdict_and_messages(name, data):
    assert_agree(data.draw(instances(name)), name)


@settings(max_examples=400, deadline=None)
@given(data=st.data())
def test_random_json_gets_the_same_verdict_and_messages(data):
    for name in NAMES:
        assert_agree(data.draw(_json), name)


def test_real_templates_and_configs_agree():
    files = sorted(ROOT.glob("examples/**/pf-template.y*ml")) + sorted(ROOT.glob("tests/**/pf-template.y*ml")) \
        + sorted(ROOT.glob("tests/fixtures/**/*.yml"))
    configs = sorted(ROOT.glob("examples/**/pfgen.y*ml")) + sorted(ROOT.glob("tests/**/pfgen.y*ml"))
    checked = 0
    for path in files + configs:
        try:
            doc = load_file(path)
        except Exception:
            continue  # fixtures that do not even load are the loader's business
        assert_agree(doc.data, "pfgen-config.schema.json" if path in configs else "pf-template.schema.json")
        checked += 1
    assert checked > 5


# --- each keyword, on a small schema of its own ------------------------------------

KEYWORD_CASES = [
    ({"type": "integer"}, [1, 1.0, 1.5, True, "1", None]),
    ({"type": ["string", "number", "boolean"]}, ["a", 1, 2.5, False, None, [], {}]),
    ({"properties": {"a": {"type": "string"}}, "additionalProperties": False, "required": ["a", "b"]},
     [{}, {"a": 1}, {"a": "x", "b": 1}, {"c": 1}, [], "x"]),
    ({"additionalProperties": {"type": "integer", "minimum": 1}}, [{"a": 0}, {"a": 1, "b": "x"}, {}]),
    ({"patternProperties": {"^x-": {"type": "string"}}, "additionalProperties": False}, [{"x-a": "s"}, {"x-a": 1}, {"y": 1}]),
    ({"propertyNames": {"pattern": "^[a-z]+$"}}, [{"abc": 1}, {"aB": 1, "c d": 2}]),
    ({"enum": ["a", 1, True, None]}, ["a", 1, 1.0, True, False, 0, None, "b"]),
    ({"const": 1}, [1, 1.0, True, "1"]),
    ({"pattern": "^[^\\s]+$", "minLength": 2, "maxLength": 4}, ["ab", "a", "abcde", "a b", "ab\n", 5]),
    ({"minimum": 1, "maximum": 3, "exclusiveMaximum": 3}, [0, 1, 2.5, 3, 4, True, "2"]),
    ({"items": {"type": "string"}, "minItems": 1, "maxItems": 2, "uniqueItems": True}, [[], ["a"], ["a", "a"], ["a", 1, "b"], "x"]),
    ({"maxItems": 0}, [[], [1]]),
    ({"minProperties": 1, "maxProperties": 2}, [{}, {"a": 1}, {"a": 1, "b": 2, "c": 3}, [], "x"]),
    ({"minProperties": 2, "maxProperties": 0}, [{}, {"a": 1}]),
    ({"oneOf": [{"type": "string", "minLength": 1}, {"type": "object", "required": ["run"], "properties": {"run": {"type": "string", "minLength": 1}}}]},
     ["", "x", {}, {"run": ""}, {"run": "x"}, 3, None]),
    ({"oneOf": [{"type": "integer"}, {"type": "number"}]}, [1, 1.5, "x"]),
    ({"anyOf": [{"type": "string"}, {"minimum": 5}]}, ["x", 6, 4, None]),
    ({"allOf": [{"type": "integer"}, {"minimum": 2}], "not": {"const": 3}}, [1, 2, 3, "x"]),
    ({"$defs": {"size": {"type": "string", "pattern": "^[0-9]+Gi$"}}, "properties": {"a": {"$ref": "#/$defs/size"}}},
     [{"a": "10Gi"}, {"a": "10"}, {"a": 10}]),
]


def test_json_schema_semantics_without_pfgens_two_changes():
    """Plain JSON Schema (the default) takes 1.0 for an integer; pfgen does not. Python's `$`
    accepts a final line break; ECMA's, fastschema's and pfgen's reference do not."""
    assert fastschema.compile_schema({"type": "integer"}).is_valid(1.0)
    assert Draft202012Validator({"type": "integer"}).is_valid(1.0)
    assert not fastschema.compile_schema({"type": "integer"}, strict_integers=True).is_valid(1.0)
    assert not pfgen_reference({"type": "integer"}).is_valid(1.0)
    assert Draft202012Validator({"pattern": "^[a-z]+$"}).is_valid("abc\n")  # why pfgen_reference exists
    for validator in (fastschema.compile_schema({"pattern": "^[a-z]+$"}), pfgen_reference({"pattern": "^[a-z]+$"})):
        assert not validator.is_valid("abc\n") and validator.is_valid("abc")


@pytest.mark.parametrize("case", range(len(KEYWORD_CASES)))
def test_each_keyword_matches_jsonschema(case):
    schema_doc, instances = KEYWORD_CASES[case]
    fast, reference = fastschema.compile_schema(schema_doc, strict_integers=True), pfgen_reference(schema_doc)
    for instance in instances:
        assert fast.is_valid(instance) == reference.is_valid(instance), (schema_doc, instance)
        assert diagnostics(instance, "", fast) == diagnostics(instance, "", reference), (schema_doc, instance)
