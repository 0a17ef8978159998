"""A small, conservative reading of a template's shell command: which variables it expands,
which it defines itself, which directories it enters and which scripts it runs.

No shell is run and nothing is parsed completely: the command is scanned once,
keeping track of quoting (nothing in single quotes or after a backslash is
expanded; a ``#`` comment runs to the end of the line). What the scan does not
understand it leaves out, so that the rules built on it (pfgen/validate/cmdrules.py)
warn only about what the command certainly does.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Iterator

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_PARAM_OP = re.compile(r"[:]?[-=+?]|[#%/^,@]")
# `NAME=`, `export NAME=`, `export NAME` (also declare/local/readonly/typeset, with flags)
_ASSIGN = re.compile(r"(?:^|[\s;&|(){}`])([A-Za-z_][A-Za-z0-9_]*)(?:\[[^\]]*\])?\+?=")
_DECLARE = re.compile(r"(?:^|[\s;&|(){}`])(?:export|declare|local|readonly|typeset)((?:[ \t]+-[A-Za-z]+)*(?:[ \t]+[A-Za-z_][A-Za-z0-9_]*(?:=[^\s;&|()]*)?)+)")
_FOR = re.compile(r"(?:^|[\s;&|(){}`])(?:for|select)\s+([A-Za-z_][A-Za-z0-9_]*)\s")
_READ = re.compile(r"(?:^|[\s;&|(){}`])(?:read|mapfile|readarray)((?:[ \t]+-[A-Za-z]+(?:[ \t]+[^\s;&|()]+)?)*(?:[ \t]+[A-Za-z_][A-Za-z0-9_]*)+)")
_GETOPTS = re.compile(r"(?:^|[\s;&|(){}`])getopts\s+\S+\s+([A-Za-z_][A-Za-z0-9_]*)")
_ARITH_NAME = re.compile(r"(?<![A-Za-z0-9_$#])[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True)
class Reference:
    """One expansion of a variable: ``$NAME`` or ``${NAME...}`` (or NAME inside ``$((...))``)."""

    name: str
    offset: int  # index of the '$' (or of the name, in arithmetic) in the command text
    text: str  # as written: '$NAME', '${NAME}', 'NAME'
    has_default: bool  # ${NAME:-x}, ${NAME-x}, ${NAME:=x}, ${NAME:+x}: unset is handled by the command


_SPECIAL = re.compile(r"[\\'\"#$]")  # what changes how the shell reads what follows, and `$`


def _expanded_dollars(text: str) -> Iterator[int]:
    """The index of every ``$`` the shell may expand: single-quoted text, escaped characters and
    comments are skipped (double quotes are not: ``$`` expands in them). Jumps from one of the
    characters that matter to the next (``_SPECIAL``), not character by character."""
    i, n = 0, len(text)
    double = False
    search = _SPECIAL.search
    while True:
        match = search(text, i)
        if match is None:
            return
        i = match.start()
        ch = text[i]
        if ch == "\\":
            i += 2
        elif ch == "'" and not double:
            end = text.find("'", i + 1)
            i = n if end == -1 else end + 1
        elif ch == "#" and not double and (i == 0 or text[i - 1] in " \t\n;&|("):
            end = text.find("\n", i)
            i = n if end == -1 else end
        else:
            if ch == '"':
                double = not double
            elif ch == "$":
                yield i
            i += 1


def references(text: str) -> list[Reference]:
    """Every variable the command expands, in order."""
    found: list[Reference] = []
    for i in _expanded_dollars(text):
        if i + 1 >= len(text):
            continue
        following = text[i + 1]
        if following == "{":
            match = _NAME.match(text, i + 2)
            if not match:
                continue
            rest = text[match.end():match.end() + 2]
            if rest[:1] == "}":
                found.append(Reference(match.group(), i, text[i:match.end() + 1], False))
            elif rest[:1] == "[":  # ${ARRAY[...]}: the array is the command's own
                continue
            else:
                op = _PARAM_OP.match(text, match.end())
                default = bool(op) and op.group().lstrip(":") in ("-", "=", "+")
                close = text.find("}", match.end())
                found.append(Reference(match.group(), i, text[i:close + 1] if close != -1 else text[i:match.end()], default))
        elif following == "(" and text[i + 2:i + 3] == "(":
            close = text.find("))", i + 3)
            if close == -1:
                continue
            for name in _ARITH_NAME.finditer(text, i + 3, close):
                found.append(Reference(name.group(), name.start(), name.group(), False))
        else:
            match = _NAME.match(text, i + 1)
            if match:
                found.append(Reference(match.group(), i, "$" + match.group(), False))
    return found


def defined(text: str) -> set[str]:
    """Names the command itself sets, anywhere in it (assignments, export/declare/local, for and
    select loops, read, mapfile, getopts). Order is ignored: a name set anywhere counts as set."""
    names = {m.group(1) for m in _ASSIGN.finditer(text)}
    names |= {m.group(1) for m in _FOR.finditer(text)}
    names |= {m.group(1) for m in _GETOPTS.finditer(text)}
    for pattern in (_DECLARE, _READ):
        for match in pattern.finditer(text):
            for word in match.group(1).split():
                name = word.split("=", 1)[0]
                if not word.startswith("-") and _NAME.fullmatch(name):
                    names.add(name)
    return names


# -- paths the command needs ----------------------------------------------------

_WORD = re.compile(r"""[^\s;&|()<>'"`]+""")
_ENTER = re.compile(r"(?:^|[\s;&|(){}`])(?:cd|pushd)\s+(?:--\s+)?['\"]?([^\s;&|()'\"`]+)")
_SCRIPT_SUFFIXES = (".py", ".sh", ".bash")


@functools.lru_cache(maxsize=1024)  # asked of the same command by the workspace checks and the build cache
def entered_paths(text: str) -> tuple[tuple[str, int], ...]:
    """(path, offset) of what the command needs from the image's file system: the directories
    it enters (``cd``/``pushd``) and the scripts and requirement files it names by absolute path."""
    found = [(m.group(1), m.start(1)) for m in _ENTER.finditer(text)]
    entered = {offset for _, offset in found}
    for match in _WORD.finditer(text):
        word = match.group()
        if match.start() in entered or not word.startswith("/"):
            continue
        if word.endswith(_SCRIPT_SUFFIXES) or word.rsplit("/", 1)[-1].startswith("requirements"):
            found.append((word, match.start()))
    return tuple(sorted(found, key=lambda item: item[1]))
