"""`pfgen render`: print one template's manifests."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import click

from pfgen.cli.commands import batch, discovered, echo, fail, none_found, plural, refuse_warnings, report
from pfgen.cli.options import STRICT_OPTION, TARGET_OPTION
from pfgen.errors import Diagnostic


@click.command()
@click.argument("template", type=click.Path(allow_dash=True))
@click.option("-o", "--output", "fmt", type=click.Choice(["yaml", "json"]), default="yaml", show_default=True, help="Output format.")
@click.option("-d", "--workspace-dir", type=click.Path(file_okay=False), help="Workspace directory (overrides job_setting.workspace.path).")
@click.option("--secrets-mode", type=click.Choice(["env", "external", "sealed"]), help="Override secrets.mode of pfgen.yaml.")
@TARGET_OPTION
@STRICT_OPTION
def render(template: str, fmt: str, workspace_dir: Optional[str], secrets_mode: Optional[str], target: Optional[str],
           strict: bool) -> None:
    """Print a template's manifests to stdout (TEMPLATE '-' reads stdin).

    TEMPLATE may be a directory: the template in it, else the only one below it.
    Warnings go to stderr; with --strict they fail (exit 2, nothing printed).

    \b
    pfgen render pf-template.yml | kubectl apply -f -
    pfgen render . | kubectl apply -f -
    """
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
    from pfgen.errors import without_notes

    warnings = sorted({*warnings, *without_notes(job.diagnostics)})  # notes are build's
    refuse_warnings(warnings, "text", strict)
    report(warnings)
    objects = job.objects + job.secret_objects
    if fmt == "json":
        echo(dump.to_json({"apiVersion": "v1", "kind": "List", "items": objects}), nl=False)
    else:
        echo(dump.to_yaml_stream(objects), nl=False)


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
