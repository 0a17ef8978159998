"""What ``pfgen validate`` and ``pfgen render`` do, and the reporting every command shares.

No click here: :mod:`pfgen.cli.entry` runs these two commands without loading it
(start-up is most of what they cost), and :mod:`pfgen.cli.main` calls the same
functions once click has parsed the command line, so both print the same bytes
and exit with the same status.
"""

from __future__ import annotations

import sys
from pathlib import Path

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Iterable, NoReturn, Optional, Sequence

    from pfgen.errors import Diagnostic, UserError

EXIT_OK, EXIT_CHANGED, EXIT_INVALID, EXIT_IMAGE_FAILED = 0, 1, 2, 3


def echo(message: str, *, err: bool = False, nl: bool = True) -> None:
    """``click.echo(message, err=err, nl=nl)``, without loading click when nothing else did.

    For a str, click.echo differs from writing to ``sys.stdout``/``sys.stderr`` and
    flushing only on Windows, on a stream whose encoding is ASCII (it writes UTF-8
    instead) and by removing ANSI escape sequences on a stream that is not a
    terminal. :mod:`pfgen.cli.entry` runs commands without click only where the first
    two cannot happen, and text holding an ESC goes to click.echo itself.
    """
    if "click" in sys.modules or "\x1b" in message:
        import click

        click.echo(message, err=err, nl=nl)
        return
    stream = sys.stderr if err else sys.stdout
    stream.write(message + "\n" if nl else message)
    stream.flush()


def batch() -> None:
    """Compiling commands are short batch processes: they allocate many small objects (most of
    them while importing pfgen), keep most of them to the end and exit. Python's cyclic garbage
    collector would traverse them again and again to free the few cycles the exit frees anyway."""
    import gc

    from pfgen import realpaths

    gc.disable()
    realpaths.clear()  # a command run in-process (tests) must not see the last one's links


def report(diagnostics: Iterable[Diagnostic]) -> None:
    for diagnostic in diagnostics:
        echo(str(diagnostic), err=True)


def counted(diagnostics: Iterable[Diagnostic]) -> tuple[int, int]:
    """(errors, warnings) among ``diagnostics``."""
    items = list(diagnostics)
    errors = sum(1 for d in items if d.is_error)
    return errors, len(items) - errors


def plural(n: int, word: str) -> str:
    return f"{n} {word}{'s' if n != 1 else ''}"


def fail(exc: UserError, fmt: str = "text", strict: bool = False) -> NoReturn:
    if fmt != "text":
        emit(fmt, exc.diagnostics)
        sys.exit(EXIT_INVALID)
    report(exc.diagnostics)
    errors, warnings = counted(exc.diagnostics)
    parts = [plural(errors, "error")] if errors else []
    if warnings:
        parts.append(plural(warnings, "warning") + (" (--strict: warnings fail)" if strict and not errors else ""))
    echo(f"pfgen: {', '.join(parts)}; nothing written", err=True)
    sys.exit(EXIT_INVALID)


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


def jobs(paths: tuple[str, ...], out: Optional[Path], fmt: str = "text",
         allow_none: bool = False) -> tuple[list[Path], list[Path], list[Diagnostic]]:
    """The templates below ``paths`` and where their builds write, in one walk of the repository:
    ``-o`` if given, else ./deploy (for templates without a pfgen.yaml) and deploy/ beside every
    pfgen.yaml found. The output directories are not searched for templates. Third: discovery's
    warnings (near-miss file names), for the command's report."""
    from pfgen.output.layout import DEFAULT_OUT
    from pfgen.load.discover import find_jobs

    where = roots(paths, fmt)
    problems: list[Diagnostic] = []
    if out is not None:
        found, output_dirs = find_jobs(where, None, [out], problems)[0], [out]
    else:
        found, beside_configs = find_jobs(where, DEFAULT_OUT, [Path(DEFAULT_OUT)], problems)
        output_dirs = [Path(DEFAULT_OUT), *beside_configs]
    warnings = discovered(problems, fmt)
    if not found and not allow_none:
        none_found(where, fmt, warnings)
    return found, output_dirs, warnings


def validate(paths: tuple[str, ...], fmt: str, strict: bool = False) -> None:
    """``pfgen validate [PATHS]... --format FMT``: returns when every template is valid
    (and, with ``strict``, nothing deserves a warning)."""
    batch()
    from pfgen.errors import UserError
    from pfgen.output.stream import validate as check_all

    found, _, warnings = jobs(paths, None, fmt)
    try:
        count, compile_warnings = check_all(found, _validate_cache(len(found)))
    except UserError as exc:
        fail(UserError([*exc.diagnostics, *warnings]), fmt)
    warnings = sorted({*warnings, *compile_warnings})
    refuse_warnings(warnings, fmt, strict)
    emit(fmt, warnings)
    if fmt == "text":
        summary = plural(count, "template") + " valid"
        if warnings:
            summary += f", {plural(len(warnings), 'warning')}"
        echo(f"pfgen: {summary}", err=True)


def _validate_cache(templates: int):
    """The build cache, read only, when it pays: its index is read whole (at ~100 MB/s), a template
    compiles in ~1.5 ms, so the index is used when reading it costs less than a tenth of compiling."""
    import os

    from pfgen.output import cache

    if not cache.enabled():
        return None
    try:  # looked at before the secret, which a first run would create
        size = os.stat(cache.index_path()).st_size
    except OSError:
        return None
    if size > templates * 15_000:
        return None
    opened = cache.BuildCache.open()
    if not opened.active:
        return None
    return opened


def render_target(template: str) -> tuple[Path, list[Diagnostic]]:
    """The template ``pfgen render TEMPLATE`` means, and discovery's warnings: a file as given;
    for a directory, the template in it, else the one template below it."""
    from pfgen.load.discover import find_templates
    from pfgen.errors import Diagnostic, UserError, display_path
    from pfgen.load.discover import TEMPLATE_NAMES

    path = Path(template)
    if not path.is_dir():
        return path, []
    problems: list[Diagnostic] = []
    here = [path / name for name in TEMPLATE_NAMES if (path / name).is_file()]
    found = here if here else find_templates([path], problems)
    if len(here) > 1:
        from pfgen.load.discover import find_jobs

        find_jobs([path], None, (), problems)  # the clash error, at each of them
    warnings = discovered(problems, "text")
    if not found:
        none_found([path], "text", warnings)
    if len(found) > 1:
        shown = ", ".join(display_path(p) for p in found[:5]) + (", ..." if len(found) > 5 else "")
        fail(UserError([Diagnostic(str(path), 1, 1,
                                   f"{plural(len(found), 'template')} below this directory ({shown}); render names one "
                                   "template: give its file or its directory, or use `pfgen build`"), *warnings]))
    return found[0], warnings


def render(template: str, fmt: str, workspace_dir: Optional[str] = None, secrets_mode: Optional[str] = None,
           strict: bool = False, target: Optional[str] = None) -> None:
    """``pfgen render TEMPLATE -o FMT``: print the template's manifests ('-' reads stdin; a
    directory: the template in it, or the one below it)."""
    batch()
    from pfgen.output import dump
    from pfgen.errors import UserError
    from pfgen.load.document import decode
    from pfgen.pipeline import CompileOptions, compile_job, compile_text

    options = CompileOptions(workspace_dir=Path(workspace_dir) if workspace_dir else None, secrets_mode=secrets_mode,
                             target=target)
    warnings: list[Diagnostic] = []
    try:
        if template == "-":
            text = decode(sys.stdin.buffer.read(), "<stdin>")
            job = compile_text(text, Path.cwd() / "pf-template.yml", "<stdin>", options=options)
        else:
            path, warnings = render_target(template)
            job = compile_job(path, options=options)
    except UserError as exc:
        fail(UserError([*exc.diagnostics, *warnings]))
    warnings = sorted({*warnings, *job.diagnostics})
    refuse_warnings(warnings, "text", strict)
    report(warnings)
    objects = job.objects + job.secret_objects
    if fmt == "json":
        echo(dump.to_json({"apiVersion": "v1", "kind": "List", "items": objects}), nl=False)
    else:
        echo(dump.to_yaml_stream(objects), nl=False)
