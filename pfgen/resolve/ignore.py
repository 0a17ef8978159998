"""`.pfignore` (gitignore semantics) and its translation to `.dockerignore`.

PeriFlow filtered the workspace with `.pfignore` in gitignore syntax
(gitignore.py models git's rules); Docker's `.dockerignore` means something
else (dockerignore.py models Docker's matcher). :func:`to_dockerignore`
rewrites each rule into a Docker pattern with the same meaning, then checks
the result on the actual tree with a model of Docker's matcher and appends
exact per-path corrections where the two still differ (a re-include under an
excluded directory, an odd ``**``), so that Docker sends exactly the files
that git's rules keep. The model and the translation are tested against
``git check-ignore`` and the real ``docker build`` (tests/image/).
"""

from __future__ import annotations

from typing import Iterable, Optional, Sequence

from pfgen.resolve.dockerignore import DockerIgnore, read_dockerignore
from pfgen.resolve.gitignore import GitIgnore, Rule, git_tokens, parse_gitignore

_DOCKER_LITERAL_ESCAPE = set("\\*?[]^#!")


def _docker_literal(c: str) -> str:
    return "\\" + c if c in _DOCKER_LITERAL_ESCAPE else c


def translate_rule(rule: Rule) -> Optional[str]:
    """One gitignore rule as one Docker pattern with the same meaning for files
    (None for a rule that matches nothing). Exact except for git's 'no
    re-include below an excluded directory', which :func:`to_dockerignore`
    corrects on the actual tree."""
    tokens = git_tokens(rule.pattern, rule.anchored)
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
