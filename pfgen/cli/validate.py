"""`pfgen validate`: check templates, write nothing."""

from __future__ import annotations

import click

from pfgen.cli.commands import batch, echo, emit, fail, jobs, plural, refuse_warnings
from pfgen.cli.options import FORMAT_OPTION, STRICT_OPTION


@click.command()
@click.argument("paths", nargs=-1, type=click.Path())
@FORMAT_OPTION
@STRICT_OPTION
def validate(paths: tuple[str, ...], fmt: str, strict: bool) -> None:
    """Check templates without writing anything.

    PATHS are templates or directories searched for pf-template.yml/.yaml and
    pf_config.yml/.yaml (default: the current directory). Every problem in
    every template is reported as path:line:col: error: message, or
    path:line:col: warning: message for what compiles but deserves a look.
    Exit 0 when all are valid, 2 otherwise (with --strict, also on warnings).
    """
    batch()
    from pfgen.errors import UserError, without_notes

    found, _, warnings = jobs(paths, None, fmt)
    record = _whole_record(paths, found, warnings)
    served = record.serve() if record is not None else None
    if len(found) == 1:  # the pre-commit hook's usual case: no layout, no cache, no clash to look for
        try:
            count, warnings = 1, sorted({*warnings, *without_notes(_one(found[0]))})
        except UserError as exc:
            fail(UserError([*exc.diagnostics, *warnings]), fmt)
    elif served is not None:
        from pfgen.output.wholestamp import warnings_of

        count, warnings = served["jobs"], warnings_of(served)
    else:  # the stream module is not even imported when the record answers
        from pfgen.output.stream import validate as check_all

        inputs: list = []
        try:
            count, compile_warnings = check_all(found, _validate_cache(len(found)), inputs)
        except UserError as exc:
            fail(UserError([*exc.diagnostics, *warnings]), fmt)
        warnings = sorted({*warnings, *without_notes(compile_warnings)})  # notes are build's
        if record is not None and inputs:
            from pfgen.output.wholestamp import warning_rows

            done, tops = inputs
            record.save(done.templates, done.configs, done.deps, [],
                        {"jobs": count, "warnings": warning_rows(warnings), "roots": []}, tops)
    refuse_warnings(warnings, fmt, strict)
    emit(fmt, warnings)
    if fmt == "text":
        summary = plural(count, "template") + " valid"
        if warnings:
            summary += f", {plural(len(warnings), 'warning')}"
        echo(f"pfgen: {summary}", err=True)



def _one(template) -> list:
    """The diagnostics of compiling ``template`` alone: what pfgen.output.stream.validate says of
    one template (its OUT is checked, then it compiles; one job cannot clash), without importing
    the stream, the layout, the writer or the build cache (measured in docs/performance.md)."""
    from pfgen.errors import display_path
    from pfgen.load.document import load_file
    from pfgen.output.outdir import out_dir_for
    from pfgen.pipeline import CompileOptions, compile_document

    out_dir_for(template, None)
    doc = load_file(template, display_path(template))
    return list(compile_document(doc, template, None, CompileOptions(tag_images=False)).diagnostics)


WHOLE_MIN = 50  # templates: below this, checking a record costs about what compiling them does


def _whole_record(paths: tuple[str, ...], found: list, warnings: list):
    """The whole-command record of this validate (pfgen/output/wholestamp.py), for many templates only:
    for a few, reading it costs about what compiling them does."""
    if len(found) < WHOLE_MIN:
        return None
    import json

    from pfgen.output import cache

    if not cache.enabled():
        return None
    from pfgen.output.wholestamp import Record, warning_rows

    return Record(["validate", json.dumps({"paths": list(paths), "templates": [str(t) for t in found],
                                           "warnings": warning_rows(warnings)}, ensure_ascii=True)])


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
    opened.read_only = True  # validate never writes the index: what it served need not stay in memory
    return opened
