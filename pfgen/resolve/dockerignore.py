"""A model of which files the docker CLI sends given a `.dockerignore` (moby/patternmatcher
and the CLI's walk). Docker's patterns mean something else than git's: every pattern is
anchored at the context root, a trailing ``/`` is dropped, ``**`` always crosses
directories, ``[!...]`` is not a negation, and ``!`` can re-include files inside an
excluded directory. Tested against the real ``docker build`` (tests/image/)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable, Optional

from pfgen.resolve import linearglob

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


def compile_docker(text: str) -> _DockerPattern:
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
        return _DockerPattern(text, exclusion, kind, re.compile(linearglob.linear(regex) + "$", re.DOTALL))
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
        self.patterns = [compile_docker(p) for p in patterns]
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
