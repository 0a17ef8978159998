"""Stage 1: read a YAML file as untrusted input, keeping line/column.

The document is *composed* (parsed to a node graph) by libyaml (see
``fastyaml``; ruamel.yaml when libyaml rejects the text or is missing, so
syntax errors read the same) and never *constructed* by either: no tag can make it build an object or run code. This
module turns the node graph into plain data itself, allowing only the core
YAML tags, expanding aliases and merge keys within a fixed node budget (so an
alias bomb costs a bounded amount of time and memory), rejecting duplicate
keys, and recording the position of every key and value by its path.
"""

from __future__ import annotations

import math
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from pfgen.errors import Collector, Diagnostic, UserError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

MAX_BYTES = 256 * 1024
MAX_NODES = 5_000  # values after alias and merge expansion; a real template has under 200
MAX_DEPTH = 64

PathKey = tuple[str | int, ...]
Pos = tuple[int, int]


def dotted(path: PathKey) -> str:
    """A path into a document as messages show it: ``job_setting.docker.env_var``, ``args[0]``."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top level)"

_CORE = "tag:yaml.org,2002:"
_SCALAR_TAGS = {f"{_CORE}{t}" for t in ("str", "int", "float", "bool", "null", "timestamp")}
# Lone surrogates, and the bidi embedding/override/isolate controls (U+202A-U+202E, U+2066-U+2069)
# plus the implicit marks (LRM, RLM, ALM) that can reorder a command's display.
_BAD_TEXT = re.compile("[\ud800-\udfff\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c]")
_INT = re.compile(r"^[-+]?(0|[1-9][0-9_]*)\Z")
_INT_OTHER = re.compile(r"^[-+]?0([xob])([0-9a-fA-F_]+)\Z")
_FLOAT = re.compile(r"^[-+]?(\.[0-9]+|[0-9][0-9_]*(\.[0-9_]*)?)([eE][-+]?[0-9]+)?\Z")


@dataclass
class Document:
    """Plain data plus where each piece of it came from."""

    file: str
    data: dict
    values: dict[PathKey, Pos] = field(default_factory=dict)
    keys: dict[PathKey, Pos] = field(default_factory=dict)
    raw: dict[PathKey, str] = field(default_factory=dict)  # source text of non-string scalars
    source: str = field(default="", compare=False, repr=False)  # the text parsed (positions inside scalars)

    def pos(self, path: PathKey) -> Pos:
        """Position of the value at ``path``, or of its nearest ancestor."""
        path = tuple(path)
        while path not in self.values and path:
            path = path[:-1]
        return self.values.get(path, (1, 1))

    def key_pos(self, path: PathKey) -> Pos:
        """Position of the key that introduces ``path`` (falls back to the value)."""
        return self.keys.get(tuple(path)) or self.pos(path)

    def get(self, path: PathKey, default: Any = None) -> Any:
        node: Any = self.data
        for part in path:
            try:
                node = node[part]
            except (KeyError, IndexError, TypeError):
                return default
        return node


def node_pos(node: Any) -> Pos:
    return (node.start_mark.line + 1, node.start_mark.column + 1)


def _fail(file: str, pos: Pos, message: str) -> UserError:
    return UserError([Diagnostic(file, pos[0], pos[1], message)])


def read_text(path: Path, display: str | None = None) -> str:
    """Read a file as UTF-8 within the size cap; problems become user errors."""
    from pfgen import safefs

    display = display or str(path)
    try:
        data = safefs.read_input(path, MAX_BYTES, shown=display)
    except FileNotFoundError:
        raise _fail(display, (1, 1), "no such file") from None
    except IsADirectoryError:
        raise _fail(display, (1, 1), "is a directory, not a file") from None
    except safefs.Refused as exc:
        if "is larger than" in str(exc):
            raise _fail(display, (1, 1), f"file is larger than {MAX_BYTES // 1024} KiB; a job template is a few KiB") from None
        raise _fail(display, (1, 1), str(exc)) from None
    except OSError as exc:
        raise _fail(display, (1, 1), f"cannot read file: {exc.strerror}") from None
    return decode(data, display)


def decode(data: bytes, display: str) -> str:
    if len(data) > MAX_BYTES:
        raise _fail(display, (1, 1), f"file is larger than {MAX_BYTES // 1024} KiB; a job template is a few KiB")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        before = data[: exc.start]
        line = before.count(b"\n") + 1
        col = exc.start - (before.rfind(b"\n") + 1) + 1
        raise _fail(display, (line, col), f"invalid UTF-8 byte 0x{data[exc.start]:02x}; save the file as UTF-8") from None
    return text


def load_text(text: str, file: str) -> Document:
    """Parse YAML text into a :class:`Document` whose top level is a mapping."""
    issues = Collector(file)
    if "\x00" in text:
        line = text[: text.index("\x00")].count("\n") + 1
        raise _fail(file, (line, 1), "file contains a NUL byte; it is not a text file")
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.lstrip(" ")
        if stripped.startswith("\t") and stripped.strip():
            issues.error((number, len(line) - len(stripped) + 1), "tab character in indentation; YAML indents with spaces only")
    issues.raise_if_errors()
    if not text.strip() or all(not l.strip() or l.lstrip().startswith("#") for l in text.splitlines()):
        raise _fail(file, (1, 1), "file is empty; expected a mapping of template keys")

    root = _compose_fast(text)
    if root is not None:
        try:
            return _document(root, file, text)
        except UserError:
            pass  # report what the reference composer (ruamel) makes of it
    root = _compose_ruamel(text, file)
    if root is None:
        raise _fail(file, (1, 1), "file is empty; expected a mapping of template keys")
    return _document(root, file, text)


def _document(root: Any, file: str, text: str = "") -> Document:
    issues = Collector(file)
    builder = Builder(file, issues)
    try:
        data = builder.build(root, (), 0)
    except Abort:
        pass
    else:
        if not isinstance(data, dict):
            issues.error(node_pos(root), f"top level is a {value_kind(data)}; expected a mapping of template keys")
    issues.raise_if_errors()
    return Document(file, data, builder.values, builder.keys, builder.raw, text)


def _compose_fast(text: str) -> Any:
    """libyaml's node graph (see fastyaml), or None to let ruamel decide."""
    from pfgen.load import fastyaml

    try:
        return fastyaml.compose(text)
    except Exception:  # any libyaml complaint: ruamel gives the message
        return None


def _compose_ruamel(text: str, file: str) -> Any:
    from ruamel.yaml import YAML
    from ruamel.yaml.error import MarkedYAMLError, YAMLError
    from ruamel.yaml.reader import ReaderError

    yaml = YAML(typ="safe", pure=True)
    yaml.Composer = bounded_composer()
    try:
        with warnings.catch_warnings():
            # ruamel warns on a redefined anchor, which YAML allows (the later one
            # counts); a Python warning on stderr is no way to tell a user anything.
            warnings.simplefilter("ignore")
            return yaml.compose(text)
    except Limit as exc:
        raise _fail(file, exc.pos, exc.message) from None
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        pos = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        problem = exc.problem or exc.context or "invalid YAML"
        if exc.context and exc.problem and "expected a single document" in exc.context:
            problem = "more than one YAML document; a template is a single document"
        elif exc.context_mark and exc.context and exc.problem and ("end of stream" in exc.problem or "<stream end>" in exc.problem):
            # An unclosed quote or bracket: point at where it opened, not at the end of the file.
            mark = exc.context_mark
            pos = (mark.line + 1, mark.column + 1)
            what = re.sub(r"^while (scanning|parsing) ", "", exc.context)
            problem = f"{what} starting here is never closed"
        raise _fail(file, pos, f"YAML syntax error: {problem}") from None
    except RecursionError:
        raise _fail(file, (1, 1), f"document is nested too deeply (more than {MAX_DEPTH} levels)") from None
    except ReaderError as exc:
        # A character YAML does not allow raw in a file (C0/C1 controls, DEL, ...).
        before = text[: exc.position]
        pos = (before.count("\n") + 1, exc.position - (before.rfind("\n") + 1) + 1)
        raise _fail(file, pos, f"character U+{exc.character:04X} is not allowed in YAML; "
                    f"write it as an escape (\\u{exc.character:04x}) inside a double-quoted string") from None
    except YAMLError as exc:
        raise _fail(file, (1, 1), f"YAML error: {exc}") from None


def load_file(path: Path, display: str | None = None) -> Document:
    display = display or str(path)
    return load_text(read_text(path, display), display)


class Abort(Exception):
    """Stop building: a limit was hit and has been reported."""


class Limit(Exception):
    """A limit was hit while composing the node graph."""

    def __init__(self, pos: Pos, message: str):
        super().__init__(message)
        self.pos, self.message = pos, message


def bounded_composer(max_nodes: int = MAX_NODES, max_depth: int = MAX_DEPTH) -> type:
    """ruamel's composer, stopped as soon as the document has too many nodes or levels.

    The pure-Python parser costs tens of microseconds per node, so a file
    within the size cap could otherwise keep pfgen busy for seconds before
    the builder's limits apply. Composed nodes never outnumber the values the
    builder would produce (an alias is one node here, its whole expansion
    there), so these checks reject only what the builder would reject anyway.
    """
    from ruamel.yaml.composer import Composer

    class BoundedComposer(Composer):
        pfgen_nodes = 0  # (ruamel's Composer has a `depth` of its own)
        pfgen_depth = 0

        def compose_node(self, parent: Any, index: Any) -> Any:
            event = self.parser.peek_event()
            self.pfgen_nodes += 1
            self.pfgen_depth += 1
            pos = (event.start_mark.line + 1, event.start_mark.column + 1)
            try:
                if self.pfgen_nodes > max_nodes:
                    raise Limit(pos, f"document has more than {max_nodes} values (each copy an alias or merge key makes counts); a job template needs a few dozen")
                if self.pfgen_depth > max_depth + 1:
                    raise Limit(pos, f"document is nested too deeply (more than {max_depth} levels)")
                return super().compose_node(parent, index)
            finally:
                self.pfgen_depth -= 1

    return BoundedComposer


def value_kind(value: Any) -> str:
    if isinstance(value, dict):
        return "mapping"
    if isinstance(value, list):
        return "list"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    return "string"


class Builder:
    def __init__(self, file: str, issues: Collector):
        self.file = file
        self.issues = issues
        self.count = 0
        self.values: dict[PathKey, Pos] = {}
        self.keys: dict[PathKey, Pos] = {}
        self.raw: dict[PathKey, str] = {}

    def _tick(self, node: Any, depth: int) -> None:
        self.count += 1
        if self.count > MAX_NODES:
            self.issues.error(node_pos(node), f"document has more than {MAX_NODES} values (each copy an alias or merge key makes counts); a job template needs a few dozen")
            raise Abort
        if depth > MAX_DEPTH:
            self.issues.error(node_pos(node), f"document is nested too deeply (more than {MAX_DEPTH} levels)")
            raise Abort

    def build(self, node: Any, path: PathKey, depth: int) -> Any:
        # Nodes come from libyaml (PyYAML) or ruamel; both name their kind in `id`.
        self._tick(node, depth)
        self.values.setdefault(path, node_pos(node))
        kind = node.id
        if kind == "scalar":
            return self.scalar(node, path)
        if kind == "sequence":
            if node.tag != f"{_CORE}seq":
                return self.bad_tag(node)
            return [self.build(item, path + (index,), depth + 1) for index, item in enumerate(node.value)]
        if kind == "mapping":
            if node.tag != f"{_CORE}map":
                return self.bad_tag(node)
            return self.mapping(node, path, depth)
        return self.bad_tag(node)  # pragma: no cover - composer yields only the three kinds

    def bad_tag(self, node: Any) -> None:
        tag = str(node.tag)
        shown = "!!" + tag[len(_CORE):] if tag.startswith(_CORE) else tag
        self.issues.error(node_pos(node), f"tag '{shown}' is not allowed; templates use plain YAML values only")
        return None

    def text_ok(self, node: Any, text: str) -> bool:
        """Refuse what a double-quoted escape can smuggle into a string: a lone surrogate (not
        encodable as UTF-8, so no file or pod could hold it) and bidirectional controls (they make a
        command read differently from what runs: "Trojan Source", CVE-2021-42574)."""
        found = _BAD_TEXT.search(text)
        if found is None:
            return True
        char = ord(found.group())
        what = "a lone UTF-16 surrogate, which is not a character" if 0xD800 <= char <= 0xDFFF else \
            "a bidirectional control character, which makes text display differently from what it is"
        self.issues.error(node_pos(node), f"string contains U+{char:04X}, {what}; remove it")
        return False

    def scalar(self, node: Any, path: PathKey) -> Any:
        tag, text = str(node.tag), node.value
        if tag not in _SCALAR_TAGS:
            return self.bad_tag(node)
        kind = tag[len(_CORE):]
        if kind in ("str", "timestamp"):
            return text if self.text_ok(node, text) else None
        self.raw[path] = text
        if kind == "null":
            return None
        if kind == "bool":
            if text.lower() in ("true", "false"):
                return text.lower() == "true"
            self.issues.error(node_pos(node), f"'{text}' is not a boolean; use true or false")
            return None
        if kind == "int":
            value = _parse_int(text)
            if value is None and len(text) > MAX_INT_DIGITS:
                self.issues.error(node_pos(node), f"integer '{text[:20]}...' has {len(text)} digits, more than {MAX_INT_DIGITS}; no template value needs that many")
            elif value is None:
                self.issues.error(node_pos(node), f"'{text}' is not an integer")
            return value
        value = _parse_float(text)
        if value is None:
            self.issues.error(node_pos(node), f"'{text}' is not a number")
        return value

    def mapping(self, node: Any, path: PathKey, depth: int) -> dict:
        result: dict[str, Any] = {}
        first_seen: dict[str, Pos] = {}
        merged: list[tuple[Any, Any]] = []
        for key_node, value_node in node.value:
            if str(key_node.tag) == f"{_CORE}merge":
                sources = value_node.value if value_node.id == "sequence" else [value_node]
                for source in sources:
                    if source.id != "mapping":
                        self.issues.error(node_pos(source), "merge key '<<' needs a mapping or a list of mappings")
                        continue
                    merged.extend(source.value)
                continue
            if key_node.id != "scalar":
                self.issues.error(node_pos(key_node), "mapping keys must be plain strings")
                continue
            if str(key_node.tag) not in _SCALAR_TAGS:
                self.bad_tag(key_node)
                continue
            key = key_node.value
            if not self.text_ok(key_node, key):
                continue
            if key in first_seen:
                line = first_seen[key][0]
                self.issues.error(node_pos(key_node), f"duplicate key '{key}' (first defined on line {line})")
                continue
            first_seen[key] = node_pos(key_node)
            self.keys[path + (key,)] = node_pos(key_node)
            if value_node.id == "scalar" and value_node.value == "" and value_node.style is None:
                # An empty value's node starts where the next token does (often the next
                # line); the key is where the user should look.
                self.values[path + (key,)] = node_pos(key_node)
            result[key] = self.build(value_node, path + (key,), depth + 1)
        for key_node, value_node in merged:  # explicit keys win over merged ones
            if key_node.id == "scalar" and key_node.value not in result:
                key = key_node.value
                self.keys[path + (key,)] = node_pos(key_node)
                result[key] = self.build(value_node, path + (key,), depth + 1)
            else:
                self._tick(key_node, depth)
        return result


MAX_INT_DIGITS = 64  # Kubernetes integers are int64 (19 digits); the cap keeps int() linear and far from Python's 4300-digit limit


def _parse_int(text: str) -> int | None:
    if sum(c.isalnum() for c in text) > MAX_INT_DIGITS + 2:
        return None
    if _INT.match(text):
        return int(text.replace("_", ""))
    match = _INT_OTHER.match(text)
    if match:
        base = {"x": 16, "o": 8, "b": 2}[match.group(1)]
        sign = -1 if text.startswith("-") else 1
        try:
            return sign * int(match.group(2).replace("_", ""), base)
        except ValueError:
            return None
    return None


def _parse_float(text: str) -> float | None:
    lowered = text.lower().lstrip("+")
    if lowered in (".inf", "-.inf"):
        return -math.inf if lowered.startswith("-") else math.inf
    if lowered == ".nan":
        return math.nan
    if _FLOAT.match(text):
        return float(text.replace("_", ""))
    return None
