"""`.pfignore` (gitignore semantics) and its translation to `.dockerignore`.

PeriFlow filtered the workspace with `.pfignore` in gitignore syntax. This
module implements git's rules itself (no ``pathspec``):

* ``#`` comments, blank lines, trailing spaces unless escaped, ``\\`` escapes;
* ``!`` re-includes, but never a path whose parent directory is excluded;
* a trailing ``/`` matches directories only;
* a pattern with no ``/`` (except a trailing one) matches the name at any
  depth; otherwise it is anchored at the workspace root;
* ``*``, ``?`` and ``[...]`` never match ``/``; ``**`` is special only as
  ``**/x``, ``x/**`` and ``x/**/y``; elsewhere it is a plain ``*``.

Docker's `.dockerignore` (moby/patternmatcher) means something else: every
pattern is anchored at the context root, a trailing ``/`` is dropped, ``**``
always crosses directories, ``[!...]`` is not a negation, and ``!`` can
re-include files inside an excluded directory. :func:`to_dockerignore`
rewrites each rule into a Docker pattern with the same meaning, then checks
the result on the actual tree with a model of Docker's matcher and appends
exact per-path corrections where the two still differ (a re-include under an
excluded directory, an odd ``**``), so that Docker sends exactly the files
that git's rules keep. The model and the translation are tested against
``git check-ignore`` and the real ``docker build`` (tests/image/).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable, Optional, Sequence

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


# -- gitignore ---------------------------------------------------------------


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
        regex = _compile_git(body, anchored)
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


def _git_tokens(pattern: str, anchored: bool = True) -> Optional[list[tuple[str, str]]]:
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


_STAR = "[^/]*"


def _fixed_width(piece: str) -> bool:
    """Whether a regex fragment matches exactly one fixed string shape of characters other than '/':
    escapes, literals and classes that cannot match '/' (checked conservatively)."""
    i, n = 0, len(piece)
    while i < n:
        c = piece[i]
        if c == "\\":
            if i + 1 >= n or piece[i + 1] == "/":
                return False
            i += 2
        elif c == "[":
            j = i + 1
            if piece.startswith("^/", j):
                j += 2
            elif j < n and piece[j] == "^":
                return False  # a negated class without '/' would match it
            while j < n and piece[j] != "]" or j == i + 1:
                if piece[j] == "\\":
                    j += 1
                elif piece[j] == "/" and not piece.startswith("[^/", i):
                    return False
                j += 1
                if j > n:
                    return False
            if j >= n:
                return False
            i = j + 1
        elif c in "/.*+?{}|()^$":
            return False
        else:
            i += 1
    return True


def _linear(atoms: list[str]) -> str:
    """Join regex atoms, making runs of ``*`` within one path component linear-time.

    A glob ``*P1*P2*...*Pk`` (each Pi of fixed width) matches iff matching every Pi but the last at
    its leftmost possible place succeeds, so each ``*Pi`` that another ``*`` follows is emitted as
    the atomic ``(?>[^/]*?Pi)``: the regex engine commits to that place instead of trying every
    split (``*a*a*a*a*b`` on a 255-character name took seconds, and more stars took forever)."""
    out: list[str] = []
    i, n = 0, len(atoms)
    while i < n:
        if atoms[i] != _STAR:
            out.append(atoms[i])
            i += 1
            continue
        j = i + 1
        while j < n and atoms[j] != _STAR:
            j += 1
        piece = "".join(atoms[i + 1 : j])
        if j < n and piece and _fixed_width(piece):
            out.append("(?>[^/]*?" + piece + ")")
        else:
            out.append(_STAR + piece)
        i = j
    return "".join(out)


def _compile_git(pattern: str, anchored: bool) -> Optional["re.Pattern[str]"]:
    tokens = _git_tokens(pattern, anchored)
    if tokens is None:
        return None
    out = []
    for kind, value in tokens:
        if kind == "lit":
            out.append(re.escape(value))
        elif kind == "star":
            out.append(_STAR)
        elif kind == "any":
            out.append("[^/]")
        elif kind == "class":
            out.append(value)
        elif value == "dirs":
            out.append("(?:.*/)?")
        else:
            out.append(".*")
    return re.compile(_linear(out), re.DOTALL)


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


# -- Docker's matcher (a model of moby/patternmatcher + the CLI's walk) -------


def read_dockerignore(text: str) -> list[str]:
    """Patterns as Docker reads them (ignorefile.ReadAll): '#' lines are
    comments, whitespace is trimmed, paths are cleaned, a leading '/' dropped."""
    patterns = []
    for number, raw in enumerate(text.splitlines()):
        if number == 0 and raw.startswith("\ufeff"):
            raw = raw[1:]
        if raw.startswith("#"):
            continue
        line = raw.strip()
        if not line:
            continue
        invert = line.startswith("!")
        if invert:
            line = line[1:].strip()
        if line:
            line = _clean(line)
            if len(line) > 1 and line.startswith("/"):
                line = line[1:]
        patterns.append("!" + line if invert else line)
    return patterns


def _clean(path: str) -> str:
    """Go's filepath.Clean for '/'-separated paths."""
    rooted = path.startswith("/")
    parts: list[str] = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if parts and parts[-1] != "..":
                parts.pop()
            elif not rooted:
                parts.append("..")
            continue
        parts.append(part)
    cleaned = "/".join(parts)
    if rooted:
        return "/" + cleaned
    return cleaned or "."


@dataclass(frozen=True)
class _DockerPattern:
    text: str
    exclusion: bool
    kind: str  # exact | prefix | suffix | regex
    value: object

    def match(self, path: str) -> bool:
        if self.kind == "exact":
            return path == self.value
        if self.kind == "prefix":
            return path.startswith(self.value)  # type: ignore[arg-type]
        if self.kind == "suffix":
            suffix: str = self.value  # type: ignore[assignment]
            return path.endswith(suffix) or (suffix.startswith("/") and path == suffix[1:])
        return self.value.match(path) is not None  # type: ignore[union-attr]


def _compile_docker(text: str) -> _DockerPattern:
    exclusion = text.startswith("!")
    pattern = text[1:] if exclusion else text
    regex = ["^"]
    kind = "exact"
    i, n = 0, len(pattern)
    index = 0
    while i < n:
        c = pattern[i]
        i += 1
        if c == "*":
            if i < n and pattern[i] == "*":
                i += 1
                if i < n and pattern[i] == "/":
                    i += 1
                if i >= n:
                    if kind == "exact":
                        kind = "prefix"
                    else:
                        regex.append(".*")
                        kind = "regex"
                else:
                    regex.append("(.*/)?")
                    kind = "regex"
                if index == 0:
                    kind = "suffix"
            else:
                regex.append("[^/]*")
                kind = "regex"
        elif c == "?":
            regex.append("[^/]")
            kind = "regex"
        elif c in ".+()|{}$":
            regex.append("\\" + c)
        elif c == "\\":
            if i < n:
                regex.append("\\" + pattern[i])
                i += 1
                kind = "regex"
            else:
                regex.append("\\\\")
        elif c in "[]":
            regex.append(c)
            kind = "regex"
        else:
            regex.append(c)
        index += 1
    if kind == "regex":
        return _DockerPattern(text, exclusion, kind, re.compile(_linear(regex) + "$", re.DOTALL))
    if kind == "prefix":
        return _DockerPattern(text, exclusion, kind, pattern[:-2])
    if kind == "suffix":
        return _DockerPattern(text, exclusion, kind, pattern[2:])
    return _DockerPattern(text, exclusion, kind, pattern)


class DockerIgnore:
    """Which files the docker CLI puts in the build context, given `.dockerignore`.

    Models the CLI's tar walk (MatchesUsingParentResults with the parent
    directory's results, and its rule for descending into excluded dirs)."""

    def __init__(self, patterns: Iterable[str]):
        self.patterns = [_compile_docker(p) for p in patterns]
        self.has_exclusions = any(p.exclusion for p in self.patterns)

    @classmethod
    def parse(cls, text: str) -> "DockerIgnore":
        return cls(read_dockerignore(text))

    def _match(self, path: str, parent: Optional[list[bool]]) -> tuple[bool, list[bool]]:
        matched = False
        info = [False] * len(self.patterns)
        for i, pattern in enumerate(self.patterns):
            hit = bool(parent and parent[i])
            if not hit:
                if pattern.exclusion != matched:
                    continue
                hit = pattern.match(path)
                if not hit and not parent and "/" in path:
                    dirs = path.split("/")[:-1]
                    hit = any(pattern.match("/".join(dirs[: k + 1])) for k in range(len(dirs)))
            info[i] = hit
            if hit:
                matched = not pattern.exclusion
        return matched, info

    def _descends(self, directory: str) -> bool:
        """An excluded directory is still walked if an exception is written below it."""
        if not self.has_exclusions:
            return False
        prefix = directory + "/"
        return any(p.exclusion and (p.text[1:] + "/").startswith(prefix) for p in self.patterns)

    def skipped_ancestor(self, path: str) -> Optional[str]:
        """The first directory above ``path`` that the walk does not enter, if any."""
        parts = path.split("/")[:-1]
        info: Optional[list[bool]] = None
        for depth in range(1, len(parts) + 1):
            directory = "/".join(parts[:depth])
            skip, info = self._match(directory, info)
            if skip and not self._descends(directory):
                return directory
        return None

    def sent(self, files: Iterable[str]) -> set[str]:
        """The subset of ``files`` (relative paths of non-directories) in the context."""
        tree: dict[str, set[str]] = {}
        is_dir: set[str] = set()
        for path in files:
            parts = path.split("/")
            for depth in range(len(parts)):
                parent = "/".join(parts[:depth])
                child = "/".join(parts[: depth + 1])
                tree.setdefault(parent, set()).add(child)
                if depth < len(parts) - 1:
                    is_dir.add(child)
        sent: set[str] = set()

        def visit(directory: str, info: Optional[list[bool]]) -> None:
            for path in sorted(tree.get(directory, ())):
                skip, child_info = self._match(path, info)
                if path in is_dir:
                    if not skip or self._descends(path):
                        visit(path, child_info)
                elif not skip:
                    sent.add(path)

        visit("", None)
        return sent


# -- translation --------------------------------------------------------------

_DOCKER_LITERAL_ESCAPE = set("\\*?[]^#!")


def _docker_literal(c: str) -> str:
    return "\\" + c if c in _DOCKER_LITERAL_ESCAPE else c


def translate_rule(rule: Rule) -> Optional[str]:
    """One gitignore rule as one Docker pattern with the same meaning for files
    (None for a rule that matches nothing). Exact except for git's 'no
    re-include below an excluded directory', which :func:`to_dockerignore`
    corrects on the actual tree."""
    tokens = _git_tokens(rule.pattern, rule.anchored)
    if tokens is None:
        return None
    out: list[str] = []
    for kind, value in tokens:
        if kind == "lit":
            out.append(_docker_literal(value))
        elif kind == "star":
            out.append("*")
        elif kind == "any":
            out.append("?")
        elif kind == "class":
            out.append(value)  # already a regex class that excludes '/' when negated
        elif value == "dirs":
            out.append("**/")  # Docker's '**/' is '(.*/)?' too
        elif not rule.anchored:
            out.append("*")  # a basename has no '/'
        else:
            out.append("*/**" if rule.dir_only else "**")
    ends_with_rest = bool(tokens) and tokens[-1] == ("dstar", "rest") and rule.anchored
    body = "".join(out)
    if not rule.anchored:
        body = "**/" + body
    if rule.dir_only and not ends_with_rest:
        body += "/**"
    line = _protect_trailing_space("/" + body)
    return ("!" + line) if rule.negate else line


def _protect_trailing_space(line: str) -> str:
    """Docker trims whitespace around each line: end a line with a class instead."""
    if line and line[-1].isspace():
        return line[:-1] + "[" + line[-1] + "]"
    return line


def _exact(path: str) -> str:
    return _protect_trailing_space("/" + "".join(_docker_literal(c) for c in path))


ALWAYS_EXCLUDED = (".pfignore", ".dockerignore")


def to_dockerignore(
    pfignore_text: Optional[str],
    files: Sequence[str],
    *,
    not_copied: Iterable[str] = (),
    header: str = "",
) -> tuple[str, set[str]]:
    """The `.dockerignore` text for a workspace, and the set of files it keeps.

    ``files`` are every non-directory path in the workspace (relative, '/'-
    separated). The kept set is git's verdict (minus `.pfignore` and
    `.dockerignore` themselves); the text makes Docker's walk send exactly
    those files, which is asserted here with the model above. ``not_copied``
    are paths kept out whatever the patterns say (symlinks, special files).
    """
    rules = parse_gitignore(pfignore_text or "")[0]
    git = GitIgnore(rules)
    skip = set(not_copied) | set(ALWAYS_EXCLUDED)
    keep = {f for f in files if f not in skip and not git.excluded(f)}

    lines = [line for line in header.splitlines()]
    for rule in rules:
        pattern = translate_rule(rule)
        if pattern is not None:
            lines.append(f"# .pfignore:{rule.line}: {rule.text.strip()}")
            lines.append(pattern)
    # Last, so that no '!' line above can bring them back.
    lines.append("# Never copied:")
    lines += ["/" + name for name in ALWAYS_EXCLUDED]

    # Correct what still differs on this tree. An exception for a file inside a
    # directory Docker skipped makes its walk descend there, which can expose
    # more files, so repeat until nothing changes (two rounds at most in practice).
    corrections: list[str] = []
    for _ in range(8):
        sent = DockerIgnore(read_dockerignore("\n".join(lines + corrections))).sent(files)
        if sent == keep:
            break
        docker = DockerIgnore(read_dockerignore("\n".join(lines + corrections)))
        corrections += [_exact(path) for path in sorted(sent - keep)]
        for path in sorted(keep - sent):
            # An exception only makes Docker enter an excluded directory when its
            # text starts with that directory's path, which an escaped name (d\*)
            # does not: re-include the directory itself; the next round excludes
            # whatever else that exposes.
            skipped = docker.skipped_ancestor(path)
            if skipped is not None and "!" + _exact(skipped) not in corrections:
                corrections.append("!" + _exact(skipped))
            corrections.append("!" + _exact(path))
    if corrections:
        lines.append("# Exact corrections for this tree (Docker can re-include inside an excluded")
        lines.append("# directory, git cannot):")
        lines += corrections
    if sent != keep:  # pragma: no cover - a bug in the translation
        raise AssertionError(f"dockerignore translation is not exact: {sorted(sent ^ keep)[:5]}")
    return "\n".join(lines) + "\n", keep
