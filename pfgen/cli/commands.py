"""The reporting and template discovery every command shares.

Errors and warnings go to stderr as ``path:line:col: error: message`` (or as
the json/github reports of :mod:`pfgen.cli.report`); a command that fails exits
with :data:`pfgen.cli.exits.INVALID` and writes nothing.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from pfgen.cli import exits

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Iterable, NoReturn, Optional, Sequence

    from pfgen.errors import Diagnostic, UserError

echo = click.echo


def batch() -> None:
    """Compiling commands are short batch processes: they allocate many small objects (most of
    them while importing pfgen), keep most of them to the end and exit. Python's cyclic garbage
    collector would traverse them again and again to free the few cycles the exit frees anyway."""
    import gc

    from pfgen import realpaths

    gc.disable()
    realpaths.clear()  # a command run in-process (tests) must not see the last one's links
    _PENDING.clear()  # nor its discoveries or git's answers
    _ANSWERS.clear()


def report(diagnostics: Iterable[Diagnostic]) -> None:
    lines = [str(diagnostic) for diagnostic in diagnostics]
    if lines:  # one write: the same bytes as one echo per line (thousands of warnings in a large repository)
        echo("\n".join(lines), err=True)


def counted(diagnostics: Iterable[Diagnostic]) -> tuple[int, int]:
    """(errors, warnings) among ``diagnostics``."""
    items = list(diagnostics)
    errors = sum(1 for d in items if d.is_error)
    return errors, len(items) - errors


def plural(n: int, word: str) -> str:
    return f"{n} {word}{'s' if n != 1 else ''}"


def fail(exc: UserError, fmt: str = "text", strict: bool = False) -> NoReturn:
    from pfgen.errors import UserError, without_notes

    exc = UserError(without_notes(exc.diagnostics))  # nothing is built: no note of what a build creates
    if fmt != "text":
        emit(fmt, exc.diagnostics)
        sys.exit(exits.INVALID)
    report(exc.diagnostics)
    errors, warnings = counted(exc.diagnostics)
    parts = [plural(errors, "error")] if errors else []
    if warnings:
        parts.append(plural(warnings, "warning") + (" (--strict: warnings fail)" if strict and not errors else ""))
    echo(f"pfgen: {', '.join(parts)}; nothing written", err=True)
    sys.exit(exits.INVALID)


def refuse_warnings(warnings: Sequence[Diagnostic], fmt: str, strict: bool) -> None:
    """--strict: any warning fails the command (exit 2, nothing written), as an error would."""
    from pfgen.errors import UserError

    if strict and warnings:
        fail(UserError(list(warnings)), fmt, strict=True)


def emit(fmt: str, diagnostics: Iterable[Diagnostic], changes: Sequence = (), *, check: bool = False,
         notes: Sequence[str] = ()) -> None:
    from pfgen.cli.report import Report
    from pfgen.cli.report import emit as write_report

    write_report(fmt, Report(list(diagnostics), list(changes), check=check, notes=list(notes)),
                 stdout=sys.stdout, stderr=sys.stderr)


def roots(paths: tuple[str, ...], fmt: str) -> list[Path]:
    from pfgen.errors import Diagnostic, UserError

    found = [Path(p) for p in paths] or [Path(".")]
    missing = [p for p in found if not p.exists()]
    if missing:
        fail(UserError([Diagnostic(str(p), 1, 1, "no such file or directory") for p in missing]), fmt)
    return found


def none_found(roots: list[Path], fmt: str, problems: Sequence[Diagnostic] = ()) -> NoReturn:
    from pfgen.errors import Diagnostic, UserError
    from pfgen.load.discover import TEMPLATE_NAMES

    names = ", ".join(TEMPLATE_NAMES[:-1]) + " or " + TEMPLATE_NAMES[-1]
    fail(UserError([Diagnostic(str(roots[0]), 1, 1, f"no {names} found here"), *problems]), fmt)


def discovered(problems: list[Diagnostic], fmt: str) -> list[Diagnostic]:
    """What discovery found wrong: errors fail the command, the warnings are returned."""
    from pfgen.errors import UserError

    if any(d.is_error for d in problems):
        fail(UserError(problems), fmt)
    return problems


def templates(paths: tuple[str, ...], fmt: str = "text") -> list[Path]:
    """The templates below ``paths``; discovery's warnings are reported at once."""
    from pfgen.load.discover import find_templates

    where = roots(paths, fmt)
    problems: list[Diagnostic] = []
    found = find_templates(where, problems)
    warnings = discovered(problems, fmt)
    if not found:
        none_found(where, fmt, warnings)
    report(warnings)
    return found


def jobs(paths: tuple[str, ...], out: Optional[Path], fmt: str = "text", allow_none: bool = False,
         cached: bool = True, deferred: bool = False) -> tuple[list[Path], list[Path], list[Diagnostic]]:
    """The templates below ``paths`` and where their builds write, in one walk of the repository:
    ``-o`` if given, else ./deploy (for templates without a pfgen.yaml) and deploy/ beside every
    pfgen.yaml found. The output directories are not searched for templates. Third: discovery's
    warnings (near-miss file names), for the command's report. With ``cached`` (and the build
    cache on), the answer comes from the record of the same discovery when the directories it
    listed are unchanged (pfgen/output/wholestamp.py, ``Discovery``). With ``deferred`` too, the
    record's answer is given before git's answer is compared with the recorded one (git runs
    meanwhile): the caller must then ask :func:`discovery_holds` before using it, and call this
    again (without ``deferred``) when it does not hold."""
    from pfgen.load.discover import DEFAULT_OUT  # not from output.layout: a served build never loads it

    where = roots(paths, fmt)
    problems: list[Diagnostic] = []
    if out is not None:
        found, output_dirs = _discover(where, None, [out], problems, cached, deferred)[0], [out]
    else:
        found, beside_configs = _discover(where, DEFAULT_OUT, [Path(DEFAULT_OUT)], problems, cached, deferred)
        output_dirs = [Path(DEFAULT_OUT), *beside_configs]
    if _PENDING and (any(d.is_error for d in problems) or (not found and not allow_none)) and not discovery_holds():
        return jobs(paths, out, fmt, allow_none, cached)  # failing on a recorded answer: only if it holds
    warnings = discovered(problems, fmt)
    if not found and not allow_none:
        none_found(where, fmt, warnings)
    return found, output_dirs, warnings


_PENDING: list = []  # discoveries answered by their records, git's answer not compared yet (jobs(deferred=True))
_ANSWERS: dict = {}  # git's answers taken by those that did not hold, for the discovery run again at once


def discovery_holds() -> bool:
    """Whether the answers :func:`jobs` gave with ``deferred`` hold (waiting for git's); False: discover again."""
    held = True
    while _PENDING:
        record = _PENDING.pop()
        if not record.confirm():
            held = False
            _ANSWERS[record.context] = record.ignored
    return held


def _discover(where: list[Path], outputs: Optional[str], skip: list[Path], problems: list[Diagnostic],
              cached: bool, deferred: bool = False) -> tuple[list[Path], list[Path]]:
    """discover.find_jobs, answered by its record when that holds (and then recorded when it did not)."""
    from pfgen.load.discover import Trace, find_jobs
    from pfgen.output import cachedir

    if not cached or not cachedir.enabled() or not any(p.is_dir() for p in where):
        return find_jobs(where, outputs, skip, problems)
    record = None
    if cachedir.has_records("found"):  # else (a small repository, or a first run) nothing more is imported
        from pfgen.output.wholestamp import Discovery

        record = Discovery(where, outputs, skip, _ANSWERS)
        served = record.serve(wait=not deferred)
        if served is not None:
            if deferred:
                _PENDING.append(record)
            problems.extend(served[2])
            return served[0], served[1]
    # the racy rule's "start" (cache._START_NS) is when the cache was imported: if it was not yet (validate),
    # the walk's own start is the one that counts
    clock_set = "pfgen.output.cache" in sys.modules
    trace = Trace(record.ignored if record is not None else None)  # git's answers, if already taken
    before = len(problems)
    found = find_jobs(where, outputs, skip, problems, trace)
    if trace.exact and len(trace.dirs) >= cachedir.FOUND_MIN_DIRS:
        from pfgen.output.wholestamp import Discovery

        if record is None:
            record = Discovery(where, outputs, skip, asking=False)
        record.save(trace, found[0], found[1], problems[before:], None if clock_set else trace.started)
    return found
