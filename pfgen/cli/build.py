"""`pfgen build`: compile templates and write the output trees."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import click

from pfgen.cli import commands, exits
from pfgen.cli.commands import emit as _emit
from pfgen.cli.commands import fail as _fail
from pfgen.cli.commands import jobs as _jobs
from pfgen.cli.commands import report as _report
from pfgen.cli.options import FORMAT_OPTION, STRICT_OPTION, TARGET_OPTION
from pfgen.errors import UserError


@click.command()
@click.argument("paths", nargs=-1, type=click.Path())
@click.option("-o", "--out", type=click.Path(file_okay=False), help="Output directory for all jobs. Default: deploy/ next to the governing pfgen.yaml, else ./deploy.")
@click.option("--check", is_flag=True, help="Write nothing; print a diff and exit 1 if the output is out of date.")
@click.option("--exit-code", is_flag=True, help="Exit 1 when files were written, as formatters do in pre-commit hooks.")
@click.option("-d", "--workspace-dir", type=click.Path(file_okay=False), help="Refused: the output must follow from the files alone (--check and the pre-commit hook do not see -d); set job_setting.workspace.path, or put the code beside the template (docs/images.md).")
@click.option("--secrets-mode", type=click.Choice(["env", "external", "sealed"]), help="Override secrets.mode of pfgen.yaml; external also writes ExternalSecrets (docs/credentials.md).")
@click.option("--verify", is_flag=True, help="Check the generated objects against the shipped Kubernetes/CRD schemas (strict) and run `kubectl kustomize` before writing; exit 2 and write nothing if they fail (docs/guarantees.md).")
@click.option("--no-cache", is_flag=True, help="Compile every template, ignoring the build cache (docs/performance.md).")
@click.option("-v", "--verbose", is_flag=True, help="List every file written, not one line per job.")
@click.option("-q", "--quiet", is_flag=True, help="Print nothing but errors and warnings.")
@TARGET_OPTION
@FORMAT_OPTION
@STRICT_OPTION
def build(paths: tuple[str, ...], out: Optional[str], check: bool, exit_code: bool, workspace_dir: Optional[str],
          secrets_mode: Optional[str], verify: bool, no_cache: bool, verbose: bool, quiet: bool,
          target: Optional[str], fmt: str, strict: bool) -> None:
    """Compile templates and write OUT/<job>/ with a kustomization.yaml.

    PATHS are templates or directories searched for pf-template.yml/.yaml and
    pf_config.yml/.yaml (default: the current directory; .git, virtualenvs, the output and
    git-ignored files are skipped). OUT/kustomization.yaml lists every job,
    so `kubectl apply -k OUT` applies all. Files pfgen generated earlier and
    no longer produces are removed; files it did not generate are never
    touched. Each job directory is replaced atomically.

    Prints one line per job directory created, configured or deleted and a
    summary with the number unchanged (-v: every file; -q: nothing). For a
    job it creates it also prints notes (`path:line:col: note:`) on what to
    do before the job runs, e.g. fill a dataset claim that starts empty;
    notes never fail --strict.

    Exit 0 on success; 1 with --check when the output is out of date, or
    with --exit-code when files were written; 2 on invalid input or usage,
    or (--strict) when there is any warning, and then nothing is written.
    """
    commands.batch()
    from pfgen.errors import NOTE, display_path, without_notes
    from pfgen.output import cache as _clock  # noqa: F401  cache._START_NS: the racy rule's "start", before anything is read

    if workspace_dir:
        _refuse_workspace_dir(workspace_dir)
    if verbose and quiet:
        raise click.UsageError("-v and -q contradict each other")
    out_path = Path(out) if out else None
    # discovery answered by its record without waiting for git, whose answer is compared (discovery_holds)
    # once the whole-build record was checked: git runs meanwhile
    for deferred in (True, False):
        templates, output_dirs, found_warnings = _jobs(paths, out_path, fmt, allow_none=True, cached=not no_cache,
                                                       deferred=deferred)
        record = None if no_cache or verify or not templates else _whole_record(
            paths, out_path, {"secrets_mode": secrets_mode, "target": target}, templates, output_dirs, found_warnings)
        served = record.serve() if record is not None else None
        if commands.discovery_holds():
            break
    # OUT directories kept up to date even when none of their templates is found any more
    extra_roots = output_dirs if not paths or out_path is not None else output_dirs[1:]
    tty = fmt == "text" and not quiet and sys.stderr.isatty()
    try:
        if served is not None:
            from pfgen.output.wholestamp import Served

            result = Served(served)
        else:  # the build itself (its modules are not even imported when the record answers)
            from pfgen.output.build import compile_trees, write_trees
            from pfgen.pipeline import CompileOptions

            options = CompileOptions(secrets_mode=secrets_mode, target=target)  # -d was refused above
            # a few files changed since the record: only their jobs compiled (pfgen/output/incremental.py)
            result = _rebuilt(record, options, out_path, found_warnings, templates)
            if result is None:
                from pfgen.output.cache import BuildCache

                cache = BuildCache(None) if no_cache else BuildCache.open()
                result = compile_trees(templates, out_path, options, extra_roots, cache=cache, verify=verify,
                                       progress=tty, warnings=found_warnings)
        trees = result.trees
        claim_notes = [d for d in result.warnings if d.severity == NOTE]
        all_warnings = list(result.warnings)
        result.warnings[:] = without_notes(result.warnings)
        if not templates and result.empty:
            commands.none_found([Path(paths[0] if paths else ".")], fmt, result.warnings)
        commands.refuse_warnings(result.warnings, fmt, strict)
        by_root = write_trees(trees, check=check) if served is None else {}
    except UserError as exc:
        _fail(UserError([*exc.diagnostics, *found_warnings]), fmt)
    changes = [change for root, _ in trees for change in by_root.get(root, [])]
    if record is not None and served is None and not changes and result.inputs is not None:
        from pfgen.output.wholestamp import warning_rows

        inputs = result.inputs
        record.save(inputs.templates, inputs.configs, inputs.deps, [str(root) for root, _ in trees],
                    {"jobs": result.jobs, "warnings": warning_rows(all_warnings),
                     "roots": [[str(root), tree.count] for root, tree in trees]}, partial=inputs.partial)
    created = []  # the notes of the jobs this build created, after the warnings (not in --format json)
    if not check and not quiet and fmt != "json":
        from pfgen.cli.report import notes_of_created_jobs

        created = notes_of_created_jobs(claim_notes, [(root, tree.sources, by_root.get(root, [])) for root, tree in trees])
    notes = []
    if check and quiet and fmt == "text":
        _report(result.warnings)
    elif check:
        jobs = result.jobs
        notes = [] if changes else [f"{jobs} job{'s' if jobs != 1 else ''} up to date"]
        if result.warnings:
            notes.append(commands.plural(len(result.warnings), "warning"))
        _emit(fmt, result.warnings, changes, check=check, notes=notes)
    elif fmt != "text" or verbose:
        if result.warnings:
            notes.append(commands.plural(len(result.warnings), "warning"))
        if fmt == "github":
            from pfgen.cli.report import github_command

            for d in created:
                click.echo(github_command("notice", d.message, file=d.file, line=d.line, col=d.col))
        else:
            _report(created)
        _emit(fmt, result.warnings, changes, check=check, notes=notes)
    else:
        from pfgen.cli.report import job_lines

        _report(result.warnings)
        _report(created)
        if not quiet:
            for line in job_lines([(display_path(root), by_root.get(root, []), tree.count) for root, tree in trees]):
                click.echo(line, err=True)
            if result.warnings:
                click.echo(f"pfgen: {commands.plural(len(result.warnings), 'warning')}", err=True)
    sys.exit(exits.CHANGED if changes and (check or exit_code) else exits.OK)


def _rebuilt(record: object, options: object, out: Optional[Path], found_warnings: list, templates: list[Path]) -> object:
    """The trees of a build that the whole-build record can narrow down to the jobs that changed, else None."""
    if record is None or getattr(record, "near", None) is None:
        return None
    from pfgen.output.incremental import rebuild

    return rebuild(record, options, out, found_warnings, templates)  # type: ignore[arg-type]


def _whole_record(paths: tuple[str, ...], out: Optional[Path], options: dict, templates: list[Path],
                  output_dirs: list[Path], found_warnings: list) -> object:
    """The whole-build record of this command line (pfgen/output/wholestamp.py): its key is what
    the build was asked and what discovery found."""
    import json

    from pfgen.output.wholestamp import Record, warning_rows

    return Record(["build", json.dumps({"paths": list(paths), "out": None if out is None else str(out),
                                        "options": options,
                                        "templates": [str(t) for t in templates],
                                        "output_dirs": [str(d) for d in output_dirs],
                                        "warnings": warning_rows(found_warnings)}, ensure_ascii=True)])


def _refuse_workspace_dir(workspace_dir: str) -> None:
    """`build -d DIR` would write what `build --check` and the pre-commit hook (which do not see -d)
    cannot reproduce: the next check reports drift, the hook drops the image. Refused, with the fix."""
    click.echo(f"pfgen: error: build -d {workspace_dir}: the output must follow from the files alone, and "
               "`pfgen build --check` and the pre-commit hook do not see -d; name the directory in the template "
               f"instead (`path: <{workspace_dir} relative to the template>` under job_setting.workspace), or keep the "
               "code in the directory beside the template that the command enters (pfgen bakes it: docs/images.md). "
               "-d still works for render, image build and run --local.", err=True)
    sys.exit(exits.INVALID)
