"""git's ignore rules (what `.pfignore` means), implemented here (no ``pathspec``):

* ``#`` comments, blank lines, trailing spaces unless escaped, ``\\`` escapes;
* ``!`` re-includes, but never a path whose parent directory is excluded;
* a trailing ``/`` matches directories only;
* a pattern with no ``/`` (except a trailing one) matches the name at any
  depth; otherwise it is anchored at the workspace root;
* ``*``, ``?`` and ``[...]`` never match ``/``; ``**`` is special only as
  ``**/x``, ``x/**`` and ``x/**/y``; elsewhere it is a plain ``*``.

Tested against ``git check-ignore`` (tests/image/)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional, Sequence

from pfgen.resolve import linearglob

_POSIX_CLASSES = {
    "alnum": "a-zA-Z0-9",
    "alpha": "a-zA-Z",
    "blank": " \\t",
    "cntrl": "\\x00-\\x1f\\x7f",
    "digit": "0-9",
    "graph": "!-~",
    "lower": "a-z",
    "print": " -~",
    "punct": "!-/:-@\\[-`{-~",
    "space": " \\t\\n\\r\\f\\v",
    "upper": "A-Z",
    "xdigit": "0-9A-Fa-f",
}


@dataclass(frozen=True)
class Rule:
    """One parsed gitignore line."""

    line: int
    text: str  # the line as written
    pattern: str  # without '!', trailing '/' and (for anchored rules) the leading '/'
    negate: bool
    dir_only: bool
    anchored: bool  # matched against the whole relative path (else: the last component)
    regex: Optional["re.Pattern[str]"]  # None: the pattern is malformed and matches nothing


@dataclass(frozen=True)
class Problem:
    line: int
    message: str


def parse_gitignore(text: str) -> tuple[list[Rule], list[Problem]]:
    rules: list[Rule] = []
    problems: list[Problem] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        if raw.startswith("\ufeff") and number == 1:
            raw = raw[1:]
        line = _strip_trailing_spaces(raw)
        if not line or line.startswith("#"):
            continue
        body = line
        negate = body.startswith("!")
        if negate:
            body = body[1:]
        dir_only = body.endswith("/") and not body.endswith("\\/")
        if dir_only:
            body = body.rstrip("/") if body.strip("/") else ""
        if not body:
            problems.append(Problem(number, f"pattern {raw.strip()!r} matches nothing"))
            continue
        anchored = "/" in body
        if body.startswith("/"):
            body = body[1:]
        regex = compile_git(body, anchored)
        if regex is None:
            problems.append(Problem(number, f"pattern {raw.strip()!r} has an unclosed '[' and matches nothing"))
        rules.append(Rule(number, raw, body, negate, dir_only, anchored, regex))
    return rules, problems


def _strip_trailing_spaces(line: str) -> str:
    """git drops trailing spaces unless the last one is escaped with a backslash."""
    end = len(line)
    while end > 0 and line[end - 1] == " ":
        backslashes = 0
        i = end - 2
        while i >= 0 and line[i] == "\\":
            backslashes += 1
            i -= 1
        if backslashes % 2 == 1:
            break
        end -= 1
    return line[:end]


def git_tokens(pattern: str, anchored: bool = True) -> Optional[list[tuple[str, str]]]:
    """Split a git pattern into tokens: (kind, value) with kind in
    'lit' (one literal character), 'star', 'dstar' (a special **: value 'dirs'
    for '**/' = zero or more directories, 'rest' for a final '**'), 'any' (?),
    'class' (a regex character class). None when a '[' is never closed (git
    then matches nothing).

    git matches an anchored pattern by comparing its literal prefix (up to the
    first of ``*?[\\``) and running wildmatch on the rest, so a ``**`` right
    after that prefix counts as "at the start" (``a**/b`` matches ``ab``); the
    same rule is reproduced here."""
    tokens: list[tuple[str, str]] = []
    first_wildcard = next((k for k, ch in enumerate(pattern) if ch in "*?[\\"), len(pattern)) if anchored else 0
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == "\\":
            if i + 1 < n:
                tokens.append(("lit", pattern[i + 1]))
                i += 2
            else:
                return None  # a trailing backslash: git's wildmatch matches nothing
        elif c == "*":
            j = i
            while j < n and pattern[j] == "*":
                j += 1
            at_start = i == 0 or pattern[i - 1] == "/" or i == first_wildcard
            at_end = j == n or pattern[j] == "/"
            if j - i >= 2 and at_start and at_end:
                if j < n:
                    tokens.append(("dstar", "dirs"))
                    j += 1  # the '/' after it belongs to it
                else:
                    tokens.append(("dstar", "rest"))
            else:
                tokens.append(("star", "*"))
            i = j
        elif c == "?":
            tokens.append(("any", "?"))
            i += 1
        elif c == "[":
            parsed = _parse_class(pattern, i)
            if parsed is None:
                return None
            value, i = parsed
            tokens.append(("class", value))
        else:
            tokens.append(("lit", c))
            i += 1
    return tokens


def _parse_class(pattern: str, start: int) -> Optional[tuple[str, int]]:
    """Parse a bracket expression at ``start`` into a regex class that never
    matches '/'. Returns (regex, index after ']') or None if unclosed."""
    i = start + 1
    n = len(pattern)
    negate = False
    if i < n and pattern[i] in "!^":
        negate = True
        i += 1
    parts: list[str] = []
    last: Optional[str] = None  # the previous member, when it was a single character
    first = True
    while i < n:
        c = pattern[i]
        if c == "]" and not first:
            body = "".join(parts)
            return ("[^/" + body + "]" if negate else "[" + body + "]"), i + 1
        first = False
        if c == "[" and pattern.startswith("[:", i):
            end = pattern.find(":]", i + 2)
            name = pattern[i + 2 : end] if end != -1 else None
            if name in _POSIX_CLASSES:
                parts.append(_POSIX_CLASSES[name])
                last = None
                i = end + 2
                continue
        if c == "\\" and i + 1 < n:
            parts.append(_class_char(pattern[i + 1]))
            last = pattern[i + 1]
            i += 2
            continue
        if c == "-" and parts and last is not None and i + 1 < n and pattern[i + 1] != "]":
            j = i + 1
            high = pattern[j + 1] if pattern[j] == "\\" and j + 1 < n else pattern[j]
            j += 2 if pattern[j] == "\\" and j + 1 < n else 1
            if high < last:
                # git's wildmatch tests each member on its own before it sees the '-', so a
                # reversed range (z-a) adds nothing to its first character; a regex would refuse it
                pass
            else:
                parts += ["-", _class_char(high)]
            last = None
            i = j
            continue
        parts.append(_class_char(c))
        last = c
        i += 1
    return None


def _class_char(c: str) -> str:
    return "\\" + c if c in "\\]^-[" else c


def compile_git(pattern: str, anchored: bool) -> Optional["re.Pattern[str]"]:
    tokens = git_tokens(pattern, anchored)
    if tokens is None:
        return None
    out = []
    for kind, value in tokens:
        if kind == "lit":
            out.append(re.escape(value))
        elif kind == "star":
            out.append(linearglob.STAR)
        elif kind == "any":
            out.append("[^/]")
        elif kind == "class":
            out.append(value)
        elif value == "dirs":
            out.append("(?:.*/)?")
        else:
            out.append(".*")
    return re.compile(linearglob.linear(out), re.DOTALL)


class GitIgnore:
    """git's verdict for paths relative to the workspace root (no leading '/')."""

    def __init__(self, rules: Sequence[Rule]):
        self.rules = list(rules)
        self._dir_cache: dict[str, bool] = {}

    @classmethod
    def parse(cls, text: str) -> "GitIgnore":
        return cls(parse_gitignore(text)[0])

    def _last_match(self, path: str, is_dir: bool) -> Optional[Rule]:
        name = path.rsplit("/", 1)[-1]
        for rule in reversed(self.rules):
            if rule.regex is None or (rule.dir_only and not is_dir):
                continue
            if rule.regex.fullmatch(path if rule.anchored else name):
                return rule
        return None

    def dir_excluded(self, path: str) -> bool:
        """True if the directory ``path`` or any directory above it is excluded."""
        if path in self._dir_cache:
            return self._dir_cache[path]
        parent = path.rsplit("/", 1)[0] if "/" in path else ""
        if parent and self.dir_excluded(parent):
            result = True
        else:
            rule = self._last_match(path, True)
            result = rule is not None and not rule.negate
        self._dir_cache[path] = result
        return result

    def excluded(self, path: str, is_dir: bool = False) -> bool:
        if is_dir:
            return self.dir_excluded(path)
        parent = path.rsplit("/", 1)[0] if "/" in path else ""
        if parent and self.dir_excluded(parent):
            return True
        rule = self._last_match(path, False)
        return rule is not None and not rule.negate
