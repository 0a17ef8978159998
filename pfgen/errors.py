"""User errors as data.

A user error is a :class:`Diagnostic` carrying the file, line and column it is
about. Stages collect diagnostics instead of raising on the first one, so that
every problem in a template is reported at once; :class:`UserError` carries a
batch of them out of the pipeline to the CLI, which reports and exits 2.
Anything else that escapes is a bug in pfgen and may show a traceback.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from operator import attrgetter
from pathlib import Path

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Iterable, Sequence

ERROR = "error"
WARNING = "warning"
# What `pfgen build` tells about a job it creates (no fault of the template): shown once, when the job's
# directory is created; never counted as a warning, never failing --strict; validate and render drop it.
NOTE = "note"


@dataclass(frozen=True, order=True)
class Diagnostic:
    """One problem at a place in a file: ``path:line:col: severity: message``."""

    file: str
    line: int
    col: int
    message: str
    severity: str = ERROR

    def __str__(self) -> str:
        # One diagnostic, one line: a message quoting user text with a line break or
        # a control character in it must not break the file:line:col format.
        return one_line(f"{self.file}:{self.line}:{self.col}: {self.severity}: {self.message}")

    @property
    def is_error(self) -> bool:
        return self.severity == ERROR


def one_line(text: str) -> str:
    """``text`` with line breaks and other non-printable characters shown as escapes."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in text)


def ordered(diagnostics: Iterable[Diagnostic]) -> list[Diagnostic]:
    """``sorted(set(diagnostics))``, sorted by a key: the order ``order=True`` gives (the fields in
    order) without a generated ``__lt__`` call per comparison (10,000 jobs' warnings: ~0.1 s)."""
    return sorted(set(diagnostics), key=_FIELDS)


_FIELDS = attrgetter("file", "line", "col", "message", "severity")


def without_notes(diagnostics: Iterable[Diagnostic]) -> list[Diagnostic]:
    """The errors and warnings among ``diagnostics`` (what every command but build reports)."""
    return [d for d in diagnostics if d.severity != NOTE]


class UserError(Exception):
    """One or more problems with the user's input; never a bug in pfgen."""

    def __init__(self, diagnostics: Sequence[Diagnostic]):
        self.diagnostics = sorted(set(diagnostics))
        super().__init__("\n".join(str(d) for d in self.diagnostics))


class CommandError(Exception):
    """A problem with the command line or the environment (no file to point at): the CLI prints
    ``pfgen: error: MESSAGE`` and exits 2."""


@dataclass
class Collector:
    """Accumulates diagnostics for one file."""

    file: str
    diagnostics: list[Diagnostic] = field(default_factory=list)

    def error(self, pos: tuple[int, int], message: str) -> None:
        self.diagnostics.append(Diagnostic(self.file, pos[0], pos[1], message))

    def warning(self, pos: tuple[int, int], message: str) -> None:
        self.diagnostics.append(Diagnostic(self.file, pos[0], pos[1], message, WARNING))

    def note(self, pos: tuple[int, int], message: str) -> None:
        self.diagnostics.append(Diagnostic(self.file, pos[0], pos[1], message, NOTE))

    @property
    def has_errors(self) -> bool:
        return any(d.is_error for d in self.diagnostics)

    def raise_if_errors(self) -> None:
        if self.has_errors:
            raise UserError(self.diagnostics)


def distance(a: str, b: str) -> int:
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def closest(word: str, choices: Iterable[str]) -> str | None:
    """The choice closest to ``word`` (fewest edits among difflib's close matches)."""
    import difflib

    candidates = difflib.get_close_matches(word, sorted(set(choices)), n=5, cutoff=0.6)
    if not candidates:
        return None
    return min(candidates, key=lambda c: (distance(word, c), c))


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """'; did you mean 'x'?' for the closest choice, or '' when none is close."""
    match = closest(word, choices)
    return f"; did you mean '{match}'?" if match else ""


def display_path(path: Path) -> str:
    """How a file is named in messages: relative to the cwd when below it (as written first, so
    that a symbolic link is named by its own path, not its target's)."""
    import os

    absolute = os.path.abspath(path)
    relative = os.path.relpath(absolute, os.path.abspath(os.getcwd()))
    if not relative.startswith(".."):
        return relative
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)
