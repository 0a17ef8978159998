"""A small compiled JSON Schema validator for exactly the keywords pfgen's schemas use.

Importing jsonschema costs more than the rest of ``pfgen validate`` together
(~40-110 ms of start-up), for schemas that use a dozen simple keywords. This
module compiles a schema once into nested closures and yields errors shaped
like jsonschema's ``ValidationError`` in every attribute ``schema.py`` reads
(validator, validator_value, schema, instance, absolute_path, context,
relative_schema_path, message), so the positioned messages are the same.

It follows jsonschema's Draft 2020-12 semantics for: type, properties,
additionalProperties, patternProperties, propertyNames, required, enum, const,
pattern, minimum, maximum, exclusiveMinimum, exclusiveMaximum, minLength,
maxLength, items, minItems, maxItems, minProperties, maxProperties, uniqueItems, oneOf, anyOf, allOf, not,
local $ref into $defs/definitions; annotations (title, description, $id, x-*
...) are ignored. A schema with any other keyword raises :class:`Unsupported`
at compile time, and ``schema.py`` then uses jsonschema itself: the answer is
never different, only slower. tests/validate/test_fastschema.py checks agreement with
jsonschema on generated documents and that the shipped schemas compile.
"""

from __future__ import annotations

import re

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Iterator, Optional

    Check = Callable[[Any, "Path", list], None]  # one compiled keyword: (instance, instance path, errors)

ANNOTATIONS = {"$schema", "$id", "$comment", "$defs", "definitions", "title", "description", "default", "examples",
               "deprecated", "readOnly", "writeOnly", "$anchor"}
KEYWORDS = {"type", "properties", "additionalProperties", "patternProperties", "propertyNames", "required", "enum",
            "const", "pattern", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "minLength", "maxLength",
            "items", "minItems", "maxItems", "minProperties", "maxProperties", "uniqueItems", "oneOf", "anyOf", "allOf", "not", "$ref"}

Path = tuple


def ecma_regex(pattern: str) -> re.Pattern:
    """``pattern`` (JSON Schema's ECMA-262 dialect) compiled with ECMA's meaning of ``$``: the end of
    the input only. Python's ``$`` also matches before a final line break, so ``^[a-z]+$`` would
    accept "abc\\n"; each unescaped ``$`` outside a character class becomes ``\\Z``."""
    return re.compile(_python_regex(pattern))


class LazyRegex:
    """An ECMA pattern (:func:`ecma_regex`), translated at once and compiled by ``re`` when it is
    first searched with: a command validates a template and a pfgen.yaml, which reach a few of the
    schemas' ~30 patterns, and compiling them all cost ~6 ms of every ``pfgen validate``."""

    __slots__ = ("source", "_compiled")

    def __init__(self, pattern: str):
        self.source = _python_regex(pattern)
        self._compiled: Optional[re.Pattern] = None

    def search(self, text: str) -> Optional[re.Match]:
        compiled = self._compiled
        if compiled is None:
            compiled = self._compiled = re.compile(self.source)
        return compiled.search(text)


def _python_regex(pattern: str) -> str:
    out, i, in_class = [], 0, False
    while i < len(pattern):
        char = pattern[i]
        if char == "\\":
            out.append(pattern[i:i + 2])
            i += 2
            continue
        if in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
            if pattern[i + 1:i + 2] == "]":  # a leading ']' is literal
                out.append("[]")
                i += 2
                continue
        elif char == "$":
            char = "\\Z"
        out.append(char)
        i += 1
    return "".join(out)


class Unsupported(ValueError):
    """The schema uses a keyword (or form of one) this validator does not implement."""


class Error:
    """One violation, with the attributes of jsonschema's ValidationError that pfgen reads."""

    __slots__ = ("validator", "validator_value", "schema", "instance", "absolute_path", "schema_path",
                 "relative_schema_path", "context", "message")

    def __init__(self, validator: str, schema: dict, instance: Any, path: Path, schema_path: Path, message: str,
                 context: Optional[list] = None):
        self.validator = validator
        self.validator_value = schema[validator]
        self.schema = schema
        self.instance = instance
        self.absolute_path = path
        self.schema_path = schema_path  # absolute, from the schema root
        self.relative_schema_path = schema_path
        self.context = context or []
        self.message = message

    def __repr__(self) -> str:
        return f"<Error {self.validator} at {list(self.absolute_path)}: {self.message}>"


def is_type(instance: Any, name: str, strict_integers: bool = False) -> bool:
    """JSON Schema's types; 1.0 is an integer there, and with ``strict_integers`` (pfgen's own
    schemas, docs/guarantees.md) it is not: a float where an integer belongs is an error."""
    if name == "string":
        return isinstance(instance, str)
    if name == "object":
        return isinstance(instance, dict)
    if name == "array":
        return isinstance(instance, list)
    if name == "boolean":
        return isinstance(instance, bool)
    if name == "null":
        return instance is None
    if isinstance(instance, bool):
        return False
    if name == "integer":
        return isinstance(instance, int) or (not strict_integers and isinstance(instance, float) and instance.is_integer())
    if name == "number":
        return isinstance(instance, (int, float))
    raise Unsupported(f"unknown type {name!r}")


_TRUE, _FALSE = object(), object()


def _unbool(value: Any) -> Any:
    return _TRUE if value is True else _FALSE if value is False else value


def equal(one: Any, two: Any) -> bool:
    """JSON equality: true is not 1, 1.0 is 1, containers compare element-wise."""
    if one is two:
        return True
    if isinstance(one, str) or isinstance(two, str):
        return one == two
    if isinstance(one, list) and isinstance(two, list):
        return len(one) == len(two) and all(equal(a, b) for a, b in zip(one, two))
    if isinstance(one, dict) and isinstance(two, dict):
        return one.keys() == two.keys() and all(equal(one[k], two[k]) for k in one)
    return _unbool(one) == _unbool(two)


def _unique(items: list) -> bool:
    return all(not equal(items[i], items[j]) for i in range(len(items)) for j in range(i + 1, len(items)))


class Validator:
    """A compiled schema: ``iter_errors(instance)`` like jsonschema's validators."""

    def __init__(self, schema: dict, strict_integers: bool = False):
        self.root = schema
        self.strict_integers = strict_integers
        self._refs_in_progress: set[str] = set()
        self._check = self._compile(schema, ())

    def iter_errors(self, instance: Any) -> Iterator[Error]:
        errors: list[Error] = []
        self._check(instance, (), errors)
        return iter(errors)

    def is_valid(self, instance: Any) -> bool:
        errors: list[Error] = []
        self._check(instance, (), errors)
        return not errors

    # --- compilation ---------------------------------------------------------

    def _compile(self, schema: Any, spath: Path) -> Check:
        if schema is True or schema == {}:
            return lambda instance, path, out: None
        if schema is False:
            raise Unsupported("the false schema")
        if not isinstance(schema, dict):
            raise Unsupported(f"schema at {list(spath)} is not an object")
        checks: list[Check] = []
        for key in schema:
            if key in ANNOTATIONS or key.startswith("x-"):
                continue
            if key not in KEYWORDS:
                raise Unsupported(f"keyword {key!r} at {list(spath)}")
            checks.append(getattr(self, "_k_" + key.lstrip("$"))(schema, schema[key], spath))
        if len(checks) == 1:
            return checks[0]

        def run_all(instance: Any, path: Path, out: list) -> None:
            for check in checks:
                check(instance, path, out)
        return run_all

    def _k_type(self, schema: dict, value: Any, spath: Path) -> Check:
        names = [value] if isinstance(value, str) else list(value)
        for name in names:
            is_type(None, name)  # reject unknown type names at compile time
        here = spath + ("type",)
        shown = repr(value) if isinstance(value, str) else ", ".join(repr(n) for n in names)
        strict = self.strict_integers

        def check(instance: Any, path: Path, out: list) -> None:
            if not any(is_type(instance, name, strict) for name in names):
                out.append(Error("type", schema, instance, path, here, f"{instance!r} is not of type {shown}"))
        return check

    def _k_properties(self, schema: dict, value: dict, spath: Path) -> Check:
        subs = [(name, self._compile(sub, spath + ("properties", name))) for name, sub in value.items()]

        def check(instance: Any, path: Path, out: list) -> None:
            if isinstance(instance, dict):
                for name, sub in subs:
                    if name in instance:
                        sub(instance[name], path + (name,), out)
        return check

    def _extras(self, schema: dict) -> Callable[[dict], list]:
        known = schema.get("properties", {})
        patterns = [LazyRegex(p) for p in schema.get("patternProperties", {})]
        return lambda instance: [k for k in instance if k not in known and not any(p.search(k) for p in patterns)]

    def _k_additionalProperties(self, schema: dict, value: Any, spath: Path) -> Check:
        extras = self._extras(schema)
        here = spath + ("additionalProperties",)
        if value is False:
            def check(instance: Any, path: Path, out: list) -> None:
                if isinstance(instance, dict):
                    found = extras(instance)
                    if found:
                        listed = ", ".join(repr(k) for k in sorted(found))
                        out.append(Error("additionalProperties", schema, instance, path, here,
                                         f"Additional properties are not allowed ({listed} {'was' if len(found) == 1 else 'were'} unexpected)"))
            return check
        sub = self._compile(value, here)

        def check_each(instance: Any, path: Path, out: list) -> None:
            if isinstance(instance, dict):
                for key in extras(instance):
                    sub(instance[key], path + (key,), out)
        return check_each

    def _k_patternProperties(self, schema: dict, value: dict, spath: Path) -> Check:
        subs = [(LazyRegex(p), self._compile(sub, spath + ("patternProperties", p))) for p, sub in value.items()]

        def check(instance: Any, path: Path, out: list) -> None:
            if isinstance(instance, dict):
                for regex, sub in subs:
                    for key, item in instance.items():
                        if regex.search(key):
                            sub(item, path + (key,), out)
        return check

    def _k_propertyNames(self, schema: dict, value: Any, spath: Path) -> Check:
        sub = self._compile(value, spath + ("propertyNames",))

        def check(instance: Any, path: Path, out: list) -> None:
            if isinstance(instance, dict):
                for key in instance:
                    sub(key, path, out)
        return check

    def _k_required(self, schema: dict, value: list, spath: Path) -> Check:
        here = spath + ("required",)

        def check(instance: Any, path: Path, out: list) -> None:
            if isinstance(instance, dict):
                for name in value:
                    if name not in instance:
                        out.append(Error("required", schema, instance, path, here, f"{name!r} is a required property"))
        return check

    def _k_enum(self, schema: dict, value: list, spath: Path) -> Check:
        here = spath + ("enum",)

        def check(instance: Any, path: Path, out: list) -> None:
            if not any(equal(each, instance) for each in value):
                out.append(Error("enum", schema, instance, path, here, f"{instance!r} is not one of {value!r}"))
        return check

    def _k_const(self, schema: dict, value: Any, spath: Path) -> Check:
        here = spath + ("const",)

        def check(instance: Any, path: Path, out: list) -> None:
            if not equal(instance, value):
                out.append(Error("const", schema, instance, path, here, f"{value!r} was expected"))
        return check

    def _k_pattern(self, schema: dict, value: str, spath: Path) -> Check:
        regex = LazyRegex(value)
        here = spath + ("pattern",)

        def check(instance: Any, path: Path, out: list) -> None:
            if isinstance(instance, str) and not regex.search(instance):
                out.append(Error("pattern", schema, instance, path, here, f"{instance!r} does not match {value!r}"))
        return check

    def _bound(self, keyword: str, fails: Callable[[Any, Any], bool], message: str) -> Callable[[dict, Any, Path], Check]:
        def compile_bound(schema: dict, value: Any, spath: Path) -> Check:
            here = spath + (keyword,)

            def check(instance: Any, path: Path, out: list) -> None:
                if isinstance(instance, (int, float)) and not isinstance(instance, bool) and fails(instance, value):
                    out.append(Error(keyword, schema, instance, path, here, f"{instance!r} {message} {value!r}"))
            return check
        return compile_bound

    def _k_minimum(self, schema: dict, value: Any, spath: Path) -> Check:
        return self._bound("minimum", lambda i, v: i < v, "is less than the minimum of")(schema, value, spath)

    def _k_maximum(self, schema: dict, value: Any, spath: Path) -> Check:
        return self._bound("maximum", lambda i, v: i > v, "is greater than the maximum of")(schema, value, spath)

    def _k_exclusiveMinimum(self, schema: dict, value: Any, spath: Path) -> Check:
        return self._bound("exclusiveMinimum", lambda i, v: i <= v, "is less than or equal to the minimum of")(schema, value, spath)

    def _k_exclusiveMaximum(self, schema: dict, value: Any, spath: Path) -> Check:
        return self._bound("exclusiveMaximum", lambda i, v: i >= v, "is greater than or equal to the maximum of")(schema, value, spath)

    def _length(self, keyword: str, kind: type, fails: Callable[[int, int], bool], message: str):
        def compile_length(schema: dict, value: int, spath: Path) -> Check:
            here = spath + (keyword,)

            def check(instance: Any, path: Path, out: list) -> None:
                if isinstance(instance, kind) and fails(len(instance), value):
                    out.append(Error(keyword, schema, instance, path, here, f"{instance!r} {message}"))
            return check
        return compile_length

    def _k_minLength(self, schema: dict, value: int, spath: Path) -> Check:
        return self._length("minLength", str, lambda n, v: n < v, "is too short")(schema, value, spath)

    def _k_maxLength(self, schema: dict, value: int, spath: Path) -> Check:
        return self._length("maxLength", str, lambda n, v: n > v, "is too long")(schema, value, spath)

    def _k_minItems(self, schema: dict, value: int, spath: Path) -> Check:
        return self._length("minItems", list, lambda n, v: n < v, "should be non-empty" if value == 1 else "is too short")(schema, value, spath)

    def _k_minProperties(self, schema: dict, value: int, spath: Path) -> Check:
        message = "should be non-empty" if value == 1 else "does not have enough properties"
        return self._length("minProperties", dict, lambda n, v: n < v, message)(schema, value, spath)

    def _k_maxProperties(self, schema: dict, value: int, spath: Path) -> Check:
        message = "is expected to be empty" if value == 0 else "has too many properties"
        return self._length("maxProperties", dict, lambda n, v: n > v, message)(schema, value, spath)

    def _k_maxItems(self, schema: dict, value: int, spath: Path) -> Check:
        return self._length("maxItems", list, lambda n, v: n > v, "is expected to be empty" if value == 0 else "is too long")(schema, value, spath)

    def _k_uniqueItems(self, schema: dict, value: bool, spath: Path) -> Check:
        here = spath + ("uniqueItems",)

        def check(instance: Any, path: Path, out: list) -> None:
            if value and isinstance(instance, list) and not _unique(instance):
                out.append(Error("uniqueItems", schema, instance, path, here, f"{instance!r} has non-unique elements"))
        return check

    def _k_items(self, schema: dict, value: Any, spath: Path) -> Check:
        if "prefixItems" in schema or isinstance(value, list):
            raise Unsupported("prefixItems / array-form items")
        sub = self._compile(value, spath + ("items",))

        def check(instance: Any, path: Path, out: list) -> None:
            if isinstance(instance, list):
                for index, item in enumerate(instance):
                    sub(item, path + (index,), out)
        return check

    def _branches(self, keyword: str, value: list, spath: Path) -> list[Check]:
        return [self._compile(sub, spath + (keyword, index)) for index, sub in enumerate(value)]

    @staticmethod
    def _relative(errors: list, base: Path) -> list:
        for error in errors:
            error.relative_schema_path = error.schema_path[len(base):]
        return errors

    def _k_oneOf(self, schema: dict, value: list, spath: Path) -> Check:
        branches = self._branches("oneOf", value, spath)
        here = spath + ("oneOf",)

        def check(instance: Any, path: Path, out: list) -> None:
            context: list = []
            valid = []
            for index, branch in enumerate(branches):
                errors: list = []
                branch(instance, path, errors)
                if errors and not valid:
                    context.extend(errors)
                elif not errors:
                    valid.append(index)
            if not valid:
                out.append(Error("oneOf", schema, instance, path, here,
                                 f"{instance!r} is not valid under any of the given schemas", self._relative(context, here)))
            elif len(valid) > 1:
                out.append(Error("oneOf", schema, instance, path, here, f"{instance!r} is valid under each of "
                                 + ", ".join(repr(value[i]) for i in valid)))
        return check

    def _k_anyOf(self, schema: dict, value: list, spath: Path) -> Check:
        branches = self._branches("anyOf", value, spath)
        here = spath + ("anyOf",)

        def check(instance: Any, path: Path, out: list) -> None:
            context: list = []
            for branch in branches:
                errors: list = []
                branch(instance, path, errors)
                if not errors:
                    return
                context.extend(errors)
            out.append(Error("anyOf", schema, instance, path, here,
                             f"{instance!r} is not valid under any of the given schemas", self._relative(context, here)))
        return check

    def _k_allOf(self, schema: dict, value: list, spath: Path) -> Check:
        branches = self._branches("allOf", value, spath)

        def check(instance: Any, path: Path, out: list) -> None:
            for branch in branches:
                branch(instance, path, out)
        return check

    def _k_not(self, schema: dict, value: Any, spath: Path) -> Check:
        sub = self._compile(value, spath + ("not",))
        here = spath + ("not",)

        def check(instance: Any, path: Path, out: list) -> None:
            errors: list = []
            sub(instance, path, errors)
            if not errors:
                out.append(Error("not", schema, instance, path, here, f"{instance!r} should not be valid under {value!r}"))
        return check

    def _k_ref(self, schema: dict, value: str, spath: Path) -> Check:
        # jsonschema leaves "$ref" out of schema paths: the target acts as if inlined.
        if not value.startswith("#/") or value in self._refs_in_progress:
            raise Unsupported(f"$ref {value!r} (only local, non-recursive references)")
        target: Any = self.root
        for part in value[2:].split("/"):
            part = part.replace("~1", "/").replace("~0", "~")
            if not isinstance(target, dict) or part not in target:
                raise Unsupported(f"unresolvable $ref {value!r}")
            target = target[part]
        self._refs_in_progress.add(value)
        try:
            return self._compile(target, spath)
        finally:
            self._refs_in_progress.discard(value)


def compile_schema(schema: dict, strict_integers: bool = False) -> Validator:
    """Compile ``schema`` or raise :class:`Unsupported`."""
    return Validator(schema, strict_integers)
