"""Closing a shell text so that more script can follow it without changing what it means.

The container runs ``bash -c SCRIPT`` where SCRIPT puts the template's ``setup`` between
``set -e`` and ``set +e`` lines and the ``run`` command in a brace group ``{ ...\\n}`` (Katib
appends a redirect to the group, emit/pytorchjob.py). Text placed after a command is only
parsed as a new command if the command's text ends at the top level. Three endings of text
that ``bash -n`` accepts do not:

* a line continuation, ``\\`` and a line break (a YAML ``>`` folded command whose last line
  ends in ``\\``): bash -c drops both at the end of input, but before more text they would join
  the next line (``}`` or ``set +e``) to the command. Closing: keep the final line break and
  put an empty line after it, so the continuation joins nothing;
* a ``\\`` as the very last character (``>-`` folding): bash -c keeps it as a literal backslash.
  Closing: double it (``\\\\`` is the same literal backslash, and ends nothing);
* a here-document whose delimiter line never comes: bash -c ends it at the end of input (with
  a warning), but followed by more text it would swallow that text. Closing: add the
  delimiter lines the text still owes, in order.

What cannot be closed exactly is refused (:func:`problem`): text inside an unclosed quote,
``$(``, backquote or ``${`` (bash -n rejects it too), and an unterminated here-document whose
last line ends in ``\\`` (bash's own result is garbage there). tests/test_shellwrap.py runs
bash on each text alone and closed-and-followed, over a corpus of tricky commands.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

_WORD_BREAK = set(" \t\n;&|()<>")
_METACHAR = set(" \t\n;&|()<>")

# Runs of characters that mean nothing special in each state of :func:`scan` (every character
# the loop below looks at is left out), skipped in one regex match instead of one turn each.
_TOP_PLAIN = re.compile(r"[^\\'\"$`()#<\n]+")  # top level, $( ), ( ), backquotes
_PLAIN = {
    "'": re.compile(r"[^']+"),
    "$'": re.compile(r"[^\\']+"),
    '"': re.compile(r'[^\\"`$]+'),
    "${": re.compile(r"[^\\}'\"$]+"),
    "((": re.compile(r"[^\\()'\"`$]+"),
    "(a": re.compile(r"[^\\()'\"`$]+"),
}


@dataclass
class End:
    """How a text ends, for bash's parser."""

    open: str = ""  # what is still open at the end ("a single quote", ...), "" if nothing
    continuation: bool = False  # ends with backslash + line break, outside quotes
    trailing_backslash: bool = False  # ends with a lone backslash, outside quotes and comments
    heredocs: list[tuple[str, bool]] = field(default_factory=list)  # owed delimiters (word, quoted)
    heredoc_backslash: bool = False  # the unterminated here-document's last line ends in an escaping '\'
    heredoc_continuation: bool = False  # ... or in an escaping '\' and the final line break
    has_command: bool = False  # anything but blanks, line breaks and comments


def _heredoc_word(text: str, i: int) -> tuple[str, bool, int]:
    """The delimiter word starting at ``i`` (after ``<<`` or ``<<-`` and blanks): its text after
    quote removal, whether any part was quoted, and the index after it."""
    word, quoted, n = [], False, len(text)
    while i < n and text[i] not in _METACHAR:
        char = text[i]
        if text.startswith("\\\n", i):  # a line continuation, removed before words are read
            i += 2
            continue
        if char == "\\" and i + 1 < n:
            word.append(text[i + 1])
            quoted, i = True, i + 2
        elif char in "'\"":
            end = text.find(char, i + 1)
            if end < 0:
                return "".join(word) + text[i + 1:], True, n
            word.append(text[i + 1:end])
            quoted, i = True, end + 1
        else:
            word.append(char)
            i += 1
    return "".join(word), quoted, i


def scan(text: str) -> End:
    """Follow bash's tokenizer far enough to know how ``text`` ends."""
    end = End()
    stack: list[str] = []  # open constructs: "'", '"', "$'", "`", "$(", "${", "(("
    pending: list[tuple[str, bool, bool]] = []  # heredocs started on the current line: (word, quoted, strip_tabs)
    i, n = 0, len(text)

    escaped_end = -1  # the index just after the last backslash escape: a word goes on there

    def word_start(at: int) -> bool:
        return at == 0 or (text[at - 1] in _WORD_BREAK and at != escaped_end)

    while i < n:
        top = stack[-1] if stack else ""
        plain = _PLAIN.get(top, _TOP_PLAIN).match(text, i)
        if plain is not None:
            if top not in _PLAIN and not end.has_command and plain.group().strip(" \t"):
                end.has_command = True
            i = plain.end()
            if i >= n:
                break
        char = text[i]
        if top == "'":
            if char == "'":
                stack.pop()
            i += 1
            continue
        if top == "$'":
            if char == "\\":
                i += 2
                continue
            if char == "'":
                stack.pop()
            i += 1
            continue
        if char == "\\":
            if i + 1 >= n:
                end.trailing_backslash = top != '"'
                if top == '"':
                    end.open = "a double quote"
                i += 1
                break
            if text[i + 1] == "\n" and i + 2 >= n and not stack:
                end.continuation = True
            i += 2
            escaped_end = i
            continue
        if top == '"':
            if char == '"':
                stack.pop()
            elif char == "`":
                stack.append("`")
            elif text.startswith("$(", i):
                stack.append("$(")
                i += 1
            elif text.startswith("${", i):
                stack.append("${")
                i += 1
            i += 1
            continue
        if top == "`" and char == "`":
            stack.pop()
            i += 1
            continue
        if top == "${":
            if char == "}":
                stack.pop()
            elif char in "'\"":
                stack.append(char)
            elif text.startswith("$(", i) or text.startswith("${", i):
                stack.append(text[i:i + 2])
                i += 1
            i += 1
            continue
        if top in ("((", "(a"):  # arithmetic: '<<' is a shift and '#' no comment there
            if top == "((" and text.startswith("))", i):
                stack.pop()
                i += 2
                continue
            if char == "(":
                stack.append("(a")
            elif char == ")" and top == "(a":
                stack.pop()
            elif char in "'\"`":
                stack.append(char)
            elif text.startswith("$(", i) or text.startswith("${", i):
                stack.append(text[i:i + 2])
                i += 1
            i += 1
            continue
        # Top level, or inside $( ) / backquotes: the shell's own grammar.
        if char not in " \t\n#":
            end.has_command = True
        if char == "#" and word_start(i):
            newline = text.find("\n", i)
            i = n if newline < 0 else newline
            continue
        if char in "'\"":
            stack.append(char)
        elif text.startswith("$'", i):
            stack.append("$'")
            i += 1
        elif char == "`":
            stack.append("`")
        elif text.startswith("$((", i) or (text.startswith("((", i) and word_start(i)):
            stack.append("((")
            i += 2 if char == "(" else 3
            continue
        elif text.startswith("$(", i):
            stack.append("$(")
            i += 1
        elif text.startswith("${", i):
            stack.append("${")
            i += 1
        elif char == "(":
            stack.append("(s")  # a subshell or a case pattern's optional '('
        elif char == ")" and top in ("$(", "(s"):
            stack.pop()
        elif text.startswith("<<<", i):  # a here-string: no body lines
            i += 3
            continue
        elif text.startswith("<<", i):
            j = i + 2
            strip = text.startswith("-", j)
            j += strip
            while j < n and text[j] in " \t":
                j += 1
            word, quoted, j = _heredoc_word(text, j)
            if word or quoted:
                pending.append((word, quoted, strip))
            if j >= n and text.endswith("\\\n"):
                end.continuation = True
            i = j
            continue
        elif char == "\n" and pending:
            i = _bodies(text, i + 1, pending, end)
            pending = []
            continue
        i += 1
    if stack and not end.open:
        end.open = {"'": "a single quote", '"': "a double quote", "$'": "a $'...' quote", "`": "a backquote",
                    "$(": "a $( substitution", "${": "a ${ expansion", "((": "an (( arithmetic", "(a": "an (( arithmetic",
                    "(s": "a parenthesis"}[stack[-1]]
    if pending:  # a heredoc operator on the last line, which has no line break after it
        end.heredocs.extend((word, quoted) for word, quoted, _ in pending)
    return end


def _odd_backslashes(line: str) -> bool:
    return (len(line) - len(line.rstrip("\\"))) % 2 == 1


def _bodies(text: str, i: int, pending: list[tuple[str, bool, bool]], end: End) -> int:
    """Skip the bodies of the here-documents begun on the line that just ended; index after them.
    In an unquoted one, a line ending in an escaping backslash goes on on the next line (the
    delimiter is looked for in the joined line, as bash does)."""
    n = len(text)
    for k, (word, quoted, strip) in enumerate(pending):
        while True:
            if i >= n:
                end.heredocs.extend((w, q) for w, q, _ in pending[k:])
                return n
            line, j = "", i
            while True:
                newline = text.find("\n", j)
                piece = text[j:] if newline < 0 else text[j:newline]
                j = n if newline < 0 else newline + 1
                if not quoted and _odd_backslashes(piece) and newline >= 0:
                    line += piece[:-1]
                    if j >= n:
                        end.heredoc_continuation = True
                        break
                    continue
                line += piece
                break
            if (line.lstrip("\t") if strip else line) == word:
                i = j
                break
            if j >= n:
                if not end.heredoc_continuation and newline < 0 and not quoted and _odd_backslashes(line):
                    end.heredoc_backslash = True
                end.heredocs.extend((w, q) for w, q, _ in pending[k:])
                return n
            i = j
    return i


@lru_cache(maxsize=64)
def _scanned(text: str) -> End:
    """:func:`scan`, remembered: a command is checked (problem) and then closed (close). Read only."""
    return scan(text)


def problem(text: str) -> str | None:
    """Why ``text`` cannot be followed by more script without changing its meaning, or None."""
    end = _scanned(text)
    if end.open:
        return f"ends inside {end.open} that is never closed, so bash cannot run it"
    if end.heredoc_backslash:
        return "ends inside a here-document whose last line ends in '\\'; add the delimiter line"
    if any("\n" in word or not word or word.endswith("\\") for word, _ in end.heredocs):
        return "has a here-document whose delimiter cannot be written on a line of its own"
    return None


def close(text: str, group: bool = False) -> str:
    """``text`` followed by what makes its end the top level, meaning unchanged; ends with a
    line break. With ``group`` (the text goes into ``{ ...; }``), text with no command in it
    (comments only) gets a ``:``, as an empty brace group is a syntax error and bash -c of a
    comment succeeds. Call only when :func:`problem` is None."""
    end = _scanned(text)
    if group and not end.has_command:
        text = close(text) + ":\n"
    if end.heredoc_continuation:
        # At the end of input bash drops a here-document line's final `\` + line break (each of them).
        while text.endswith("\\\n") and _odd_backslashes(text[:-1]):
            text = text[:-2]
        if not end.heredocs:
            return text if text.endswith("\n") else text + "\n"
    if end.heredocs:
        body = text if text.endswith("\n") else text + "\n"
        if end.continuation:
            body += "\n"  # the continuation joins this empty line, not the delimiter
        return body + "".join(word + "\n" for word, _ in end.heredocs)
    if end.continuation:
        return text + "\n"  # the continuation joins this empty line, as it joins the end of input alone
    if end.trailing_backslash:
        return text + "\\\n"  # `\\` is the literal backslash that bash -c keeps from a final `\`
    stripped = text.rstrip("\n")
    if (len(stripped) - len(stripped.rstrip("\\"))) % 2 == 1:
        return text if text.endswith("\n") else text + "\n"  # stripping would turn a blank line into a continuation
    return stripped + "\n"
