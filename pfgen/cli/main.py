"""Command line: parse flags, run the pipeline, report. No compiler logic here.

Exit codes: 0 success, 1 output out of date (``build --check``) or changed
(``build --exit-code``), 2 invalid input or usage, 3 an image build or push
failed (``image build``).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import click

from pfgen import __version__
from pfgen.cli import commands
from pfgen.cli.commands import EXIT_CHANGED, EXIT_IMAGE_FAILED, EXIT_INVALID, EXIT_OK
from pfgen.cli.commands import emit as _emit
from pfgen.cli.commands import fail as _fail
from pfgen.cli.commands import jobs as _jobs
from pfgen.cli.commands import report as _report
from pfgen.cli.commands import templates as _templates
from pfgen.errors import CommandError, Diagnostic, UserError


STRICT_OPTION = click.option(
    "--strict", is_flag=True,
    help="Treat warnings as errors: exit 2 (and write nothing) when there is any warning; for CI.")

TARGET_OPTION = click.option(
    "--target", type=click.Choice(["pytorchjob", "trainjob"]),
    help="Override target of pfgen.yaml: pytorchjob (Training Operator v1) or trainjob (Trainer v2); docs/trainjob.md.")
FORMAT_OPTION = click.option(
    "--format", "fmt", type=click.Choice(["text", "json", "github"]), default="text", show_default=True,
    help="How to report: text (path:line:col: error: message), json (one document on stdout), "
         "github (workflow commands that annotate the pull request).")


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="pfgen")
def main() -> None:
    """Compile PeriFlow job templates (pf-template.yml) into Kubeflow manifests.

    \b
    Typical use:
      pfgen validate                 check every template below .
      pfgen build                    write deploy/<job>/ for every template
      pfgen build --check            fail (exit 1) if deploy/ is out of date
      pfgen render pf-template.yml   print the manifests for kubectl apply -f -
      kubectl apply -k deploy/       apply every generated job

    Templates are pf-template.yml/.yaml or pf_config.yml/.yaml (PeriFlow's
    earlier name), one per directory.

    Exit codes: 0 ok, 1 output changed or out of date, 2 invalid input or
    usage (or any warning, with --strict), 3 an image build or push failed.
    """


@main.command()
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
    commands.validate(paths, fmt, strict)


@main.command()
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
          secrets_mode: Optional[str], verify: bool, no_cache: bool, verbose: bool, quiet: bool, target: Optional[str],
          fmt: str, strict: bool) -> None:
    """Compile templates and write OUT/<job>/ with a kustomization.yaml.

    PATHS are templates or directories searched for pf-template.yml/.yaml and
    pf_config.yml/.yaml (default: the current directory; .git, virtualenvs, the output and
    git-ignored files are skipped). OUT/kustomization.yaml lists every job,
    so `kubectl apply -k OUT` applies all. Files pfgen generated earlier and
    no longer produces are removed; files it did not generate are never
    touched. Each job directory is replaced atomically.

    Prints one line per job directory created, configured or deleted and a
    summary with the number unchanged (-v: every file; -q: nothing).

    Exit 0 on success; 1 with --check when the output is out of date, or
    with --exit-code when files were written; 2 on invalid input or usage,
    or (--strict) when there is any warning, and then nothing is written.
    """
    commands.batch()
    from pfgen.errors import display_path
    from pfgen.output.cache import BuildCache
    from pfgen.output.stream import build as build_trees
    from pfgen.output.write import interrupted, write_tree
    from pfgen.pipeline import CompileOptions

    if workspace_dir:
        _refuse_workspace_dir(workspace_dir)
    if verbose and quiet:
        raise click.UsageError("-v and -q contradict each other")
    out_path = Path(out) if out else None
    templates, output_dirs, found_warnings = _jobs(paths, out_path, fmt, allow_none=True)
    # OUT directories kept up to date even when none of their templates is found any more
    extra_roots = output_dirs if not paths or out_path is not None else output_dirs[1:]
    options = CompileOptions(workspace_dir=Path(workspace_dir) if workspace_dir else None, secrets_mode=secrets_mode,
                             target=target)
    changes: list = []
    tty = fmt == "text" and not quiet and sys.stderr.isatty()
    try:
        cache = BuildCache(None) if no_cache else BuildCache.open()
        result = build_trees(templates, out_path, options, extra_roots, cache=cache, texts=verify, progress=tty)
        trees = sorted(result.trees.items())
        if verify:
            result.warnings.extend(_verify_trees(result.trees))
        result.warnings[:] = sorted({*found_warnings, *result.warnings})
        if not templates and not any(tree.jobs or tree.unchanged for _, tree in trees) \
                and not any(_owns_something(r) for r, _ in trees):
            commands.none_found([Path(paths[0] if paths else ".")], fmt, result.warnings)
        commands.refuse_warnings(result.warnings, fmt, strict)
        stale: set[Path] = set()  # the OUTs the dry run found out of date
        by_root: dict[Path, list] = {}
        for dry_run in ([True] if check else [True, False]):  # find every conflict before writing anything
            changes = []
            for root, tree in trees:
                if not dry_run and root not in stale and not interrupted(root):
                    continue  # up to date, and nothing to recover: leave it alone (no lock, no writes)
                written = write_tree(root, tree.jobs, check=dry_run, sources=tree.sources,
                                     root_files=tree.root_files, display=display_path(root), unchanged=tree.unchanged)
                changes.extend(written.changes)
                by_root[root] = written.changes
                if written.changes:
                    stale.add(root)
    except UserError as exc:
        _fail(UserError([*exc.diagnostics, *found_warnings]), fmt)
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
        _emit(fmt, result.warnings, changes, check=check, notes=notes)
    else:
        from pfgen.cli.report import job_lines

        _report(result.warnings)
        if not quiet:
            for line in job_lines([(display_path(root), by_root.get(root, []), tree.count) for root, tree in trees]):
                click.echo(line, err=True)
            if result.warnings:
                click.echo(f"pfgen: {commands.plural(len(result.warnings), 'warning')}", err=True)
    sys.exit(EXIT_CHANGED if changes and (check or exit_code) else EXIT_OK)


def _refuse_workspace_dir(workspace_dir: str) -> None:
    """`build -d DIR` would write what `build --check` and the pre-commit hook (which do not see -d)
    cannot reproduce: the next check reports drift, the hook drops the image. Refused, with the fix."""
    click.echo(f"pfgen: error: build -d {workspace_dir}: the output must follow from the files alone, and "
               "`pfgen build --check` and the pre-commit hook do not see -d; name the directory in the template "
               f"instead (`path: <{workspace_dir} relative to the template>` under job_setting.workspace), or keep the "
               "code in the directory beside the template that the command enters (pfgen bakes it: docs/images.md). "
               "-d still works for render, image build and run --local.", err=True)
    sys.exit(EXIT_INVALID)


def _verify_trees(trees: dict) -> list[Diagnostic]:
    """Verify every file a build would write; errors raise (nothing is written), warnings are returned."""
    from pfgen.errors import display_path
    from pfgen.kube.verify import verify_files

    found: list[Diagnostic] = []
    for root, tree in sorted(trees.items()):
        files = {f"{directory}/{name}": text for directory, job_files in tree.jobs.items() for name, text in job_files.items()}
        files.update(tree.root_files)
        found.extend(verify_files(files, display_path(root)))
    if any(d.is_error for d in found):
        raise UserError(found)
    return found


@main.command()
@click.argument("paths", nargs=-1, type=click.Path())
@FORMAT_OPTION
def lint(paths: tuple[str, ...], fmt: str) -> None:
    """Verify generated manifests offline (default: ./deploy).

    Every object in every YAML file below PATHS is checked strictly against the
    schemas pfgen ships (PyTorchJob and Katib Experiment CRDs, core kinds of
    Kubernetes 1.36, ExternalSecret, SealedSecret): misspelled fields, wrong
    types, invalid names and kinds no schema covers are errors. Every
    kustomization.yaml is built with `kubectl kustomize` when kubectl is
    installed. Exit 0 when everything verifies, 2 otherwise.
    """
    from pfgen.kube.verify import verify_tree

    roots = [Path(p) for p in paths] or [Path("deploy")]
    found: list[Diagnostic] = []
    for root in roots:
        if not root.exists():
            found.append(Diagnostic(str(root), 1, 1, "no such file or directory"))
            continue
        found.extend(verify_tree(root))
    if any(d.is_error for d in found):
        _fail(UserError(found), fmt)
    _emit(fmt, found, notes=["all objects verified"])


def _owns_something(out: Path) -> bool:
    from pfgen.output.write import recorded_sources

    return out.is_dir() and bool(recorded_sources(out))


@main.command()
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
    commands.render(template, fmt, workspace_dir, secrets_mode, strict, target=target)


@main.command()
@click.argument("paths", nargs=-1, type=click.Path())
@click.option("--mode", type=click.Choice(["env", "external", "sealed"]), help="Override secrets.mode of pfgen.yaml (default env).")
@click.option("--seal", is_flag=True, help="Seal the Secrets for the Sealed Secrets controller (same as --mode sealed).")
@click.option("--cert", type=click.Path(dir_okay=False), help="sealed: the controller's public certificate (`kubeseal --fetch-cert`); default secrets.cert.")
@click.option("--scope", type=click.Choice(["strict", "namespace-wide", "cluster-wide"]), help="sealed: sealing scope; default secrets.scope, else strict.")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="sealed/external: write FILE instead of stdout (never allowed in env mode).")
def secrets(paths: tuple[str, ...], mode: Optional[str], seal: bool, cert: Optional[str], scope: Optional[str], output: Optional[str]) -> None:
    """Print the Secret specs for the credentials the templates use.

    \b
    env (default), in CI:   pfgen secrets | kubectl apply -f -
        values come from PFGEN_SECRET_<ID>_<FIELD> environment variables
        (ID upper-cased, '-' and '.' as '_'); every missing one is listed.
        Plaintext: printed only, never written to a file.
    external:               pfgen secrets --mode external   (ExternalSecrets)
    sealed:                 pfgen secrets --seal --cert cert.pem -o sealed.yaml

    PATHS are templates or directories (default: the current directory).
    See docs/credentials.md.
    """
    import os

    from pfgen.secrets.specs import Request, render as render_secrets

    if seal:
        if mode not in (None, "sealed"):
            click.echo("pfgen: error: --seal contradicts --mode " + str(mode), err=True)
            sys.exit(EXIT_INVALID)
        mode = "sealed"
    templates = _templates(paths)
    try:
        result = render_secrets(templates, Request(mode, Path(cert) if cert else None, scope), os.environ)
    except UserError as exc:
        _fail(exc)
    except CommandError as exc:
        click.echo(f"pfgen: error: {exc}", err=True)
        sys.exit(EXIT_INVALID)
    _report(result.warnings)
    if output and result.mode == "env":
        click.echo("pfgen: error: env mode prints plaintext Secrets and never writes them to a file; "
                   "pipe them to `kubectl apply -f -`, or use --seal", err=True)
        sys.exit(EXIT_INVALID)
    if output:
        # Not pfgen's ownership marker: `pfgen build` must never treat this file as stale output.
        note = f"# {result.mode.capitalize()} secret specs made by `pfgen secrets`; they hold no readable secret value.\n"
        Path(output).write_text(note + result.text, encoding="utf-8")
        click.echo(f"pfgen: wrote {result.count} {result.mode} secret spec{'s' if result.count != 1 else ''} to {output}", err=True)
    else:
        click.echo(result.text, nl=False)


def _pairs(values: tuple[str, ...], flag: str) -> tuple[tuple[str, str], ...]:
    pairs = []
    for value in values:
        name, sep, rest = value.partition("=")
        if not sep or not name:
            raise click.BadParameter(f"'{value}' is not NAME=VALUE", param_hint=flag)
        pairs.append((name, rest))
    return tuple(pairs)


@main.command()
@click.argument("template", type=click.Path(exists=True))
@click.option("--local", is_flag=True, help="Run on this machine (the only mode; clusters get manifests via `pfgen build`).")
@click.option("--nodes", type=click.IntRange(min=1), help="Run this many nodes (replicas) instead of the compiled count.")
@click.option("--nproc", type=click.IntRange(min=1), help="Processes per node instead of the compiled count.")
@click.option("--cpu", is_flag=True, help="Run every process on the CPU (CUDA_VISIBLE_DEVICES=\"\"; gloo) instead of GPUs.")
@click.option("--param", "params", multiple=True, metavar="NAME=VALUE", help="Tuning jobs: the trial parameter values of the one trial to run.")
@click.option("--env", "env", multiple=True, metavar="NAME=VALUE", help="Add or override a container env variable.")
@click.option("--mount", "mounts", multiple=True, metavar="PATH=DIR", help="Use local DIR for the container path PATH (e.g. a data volume).")
@click.option("-d", "--workspace-dir", type=click.Path(file_okay=False), help="Workspace directory (overrides job_setting.workspace.path).")
@click.option("--run-dir", type=click.Path(file_okay=False), help="Run folder for logs, mounts and checkpoints. Default: ./.pfgen-runs/<job>-<time>-<pid>.")
@click.option("--grace", type=click.FloatRange(min=0), default=10.0, show_default=True, help="Seconds between SIGTERM and SIGKILL when stopping replicas.")
@click.option("--isolate", is_flag=True, help="Root only: give each replica a private mount namespace with the volumes at their real container paths, instead of rewriting paths.")
@TARGET_OPTION
def run(template: str, local: bool, nodes: Optional[int], nproc: Optional[int], cpu: bool, params: tuple[str, ...],
        env: tuple[str, ...], mounts: tuple[str, ...], workspace_dir: Optional[str], run_dir: Optional[str], grace: float,
        isolate: bool, target: Optional[str]) -> None:
    """Run a compiled job's replicas as local processes, as the cluster would.

    \b
    pfgen run --local --cpu examples/ddp-smoke/pf-template.yml
    pfgen run --local --cpu --nodes 1 --nproc 2 --mount /workspace/data=./tiny-data pf-template.yml

    Exit status is the job's; replica output is prefixed [master-0], [worker-0], ...
    and saved in the run folder. See docs/run-local.md.
    """
    from pfgen.runlocal import plan as runlocal
    from pfgen.load.discover import TEMPLATE_NAMES

    if not local:
        raise click.UsageError("only --local is supported: a cluster runs the manifests from `pfgen build` (GitOps)")
    path = Path(template)
    if path.is_dir():
        path = next((path / n for n in TEMPLATE_NAMES if (path / n).is_file()), path / TEMPLATE_NAMES[0])
    options = runlocal.Options(
        nodes=nodes, nproc=nproc, cpu=cpu, params=_pairs(params, "--param"), env=_pairs(env, "--env"),
        mounts=tuple((k, Path(v)) for k, v in _pairs(mounts, "--mount")),
        run_dir=Path(run_dir) if run_dir else None, grace=grace, isolate=isolate, target=target)
    try:
        plan = runlocal.prepare(path, options, workspace_dir=Path(workspace_dir) if workspace_dir else None,
                                report=lambda line: click.echo(line, err=True))
    except UserError as exc:
        for diagnostic in exc.diagnostics:  # line 0: about the run, not a place in a file
            click.echo(str(diagnostic) if diagnostic.line else f"{diagnostic.file}: {diagnostic.severity}: {diagnostic.message}", err=True)
        click.echo("pfgen: nothing started", err=True)
        sys.exit(EXIT_INVALID)
    sys.exit(runlocal.launch(plan))


@main.command()
@click.option("--config", "which", flag_value="config", help="Print the schema of pfgen.yaml instead.")
def schema(which: Optional[str]) -> None:
    """Print the JSON Schema of pf-template.yml (for editors and check-jsonschema).

    \b
    pfgen schema > pf-template.schema.json
    # VS Code (redhat.vscode-yaml): "yaml.schemas": {"pf-template.schema.json": "pf-template.y*ml"}
    """
    from pfgen.validate.schema import CONFIG_SCHEMA, TEMPLATE_SCHEMA, schema_text

    click.echo(schema_text(CONFIG_SCHEMA if which == "config" else TEMPLATE_SCHEMA), nl=False)


@main.group()
def image() -> None:
    """Workspace images: build and push the image a job's manifests refer to."""


@image.command("build")
@click.argument("paths", nargs=-1, type=click.Path())
@click.option("--push", "push_images", is_flag=True, help="Also push to the registry (skipped when the tag is already there).")
@click.option("-d", "--workspace-dir", type=click.Path(file_okay=False), help="Workspace directory (overrides job_setting.workspace.path).")
@click.option("--network", default=None, metavar="MODE", help="Network for the build's RUN steps (e.g. none, host); default: the daemon's.")
def image_build(paths: tuple[str, ...], push_images: bool, workspace_dir: Optional[str], network: Optional[str]) -> None:
    """Build the workspace image of every job below PATHS (templates, directories, or a job's output dir).

    \b
    The tag is the content hash `pfgen build` wrote into the manifests, so the
    image is rebuilt only when the workspace or the Dockerfile changed. The
    build context is the workspace directory (job_setting.workspace.path or -d),
    filtered by its .pfignore. Credentials for --push: PFGEN_REGISTRY_USERNAME
    and PFGEN_REGISTRY_PASSWORD, else docker's own config (`docker login`).
    Exit codes: 0 ok, 2 invalid template, 3 the build or push failed.
    """
    from pfgen.output.layout import compile_all
    from pfgen.image.docker import ImageError, Reporter, build_and_push
    from pfgen.pipeline import CompileOptions

    templates = _templates(tuple(_template_of_output_dir(p) for p in paths))
    options = CompileOptions(workspace_dir=Path(workspace_dir) if workspace_dir else None)
    try:
        compiled, warnings = compile_all(templates, options)
    except UserError as exc:
        _fail(exc)
    _report(warnings)
    images = [job.plan.workspace_image for _, job, _ in compiled if job.plan.workspace_image is not None]
    _warn_stale_manifests(compiled)
    for _, job, _ in compiled:
        if job.plan.workspace_image is None:
            click.echo(f"pfgen: {job.plan.name}: no workspace; it runs {job.plan.image} as is", err=True)
    reporter = Reporter()
    try:
        outcomes = build_and_push(images, push_images=push_images, reporter=reporter, network_mode=network)
    except ImageError as exc:
        click.echo(f"pfgen: error: {exc}", err=True)
        sys.exit(EXIT_IMAGE_FAILED)
    for outcome in outcomes:
        click.echo(outcome.reference)


def _template_of_output_dir(path: str) -> str:
    """A job's output dir (deploy/<job>/) stands for the template its Dockerfile came from."""
    import re

    from pfgen.output.write import MARKER

    dockerfile = Path(path) / "Dockerfile"
    try:
        first = dockerfile.read_text(encoding="utf-8").split("\n", 1)[0]
    except OSError:
        return path
    found = re.match(re.escape(MARKER) + r" from (.+)\. Do not edit", first)
    return str(Path(path) / found.group(1)) if found else path


def _warn_stale_manifests(compiled) -> None:
    """The manifests in the default output dir should name the image being built."""
    from pfgen.output.layout import out_dir_for
    from pfgen.errors import display_path

    for template, job, _ in compiled:
        image = job.plan.workspace_image
        manifest = out_dir_for(template, None) / job.plan.name / "pytorchjob.yaml"
        if image is None or not manifest.is_file():
            continue
        if f"image: {image.reference}\n" not in manifest.read_text(encoding="utf-8"):
            click.echo(f"pfgen: warning: {display_path(manifest)} does not use {image.reference} yet; "
                       "run `pfgen build` so that the manifests name this image", err=True)


@main.group()
def vm() -> None:
    """The VM types pfgen knows (catalogue, naming grammar, pfgen.yaml)."""


@vm.command("list")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
def vm_list(fmt: str) -> None:
    """List the catalogue of PeriFlow VM types and any from ./pfgen.yaml."""
    import json
    from dataclasses import asdict

    from pfgen.validate.config import config_for
    from pfgen.resolve.vms import catalogue

    try:
        config = config_for(Path.cwd() / "pf-template.yml")
    except UserError as exc:
        _fail(exc)
    custom = config.vms
    entries = sorted({**catalogue(), **custom}.values(), key=lambda v: v.name)
    if fmt == "json":
        from pfgen.resolve.job import placement

        rows = []
        for v in entries:
            row = asdict(v)
            # what a job on this VM is placed with, as `vm show` prints it (pfgen.yaml's placement included)
            place = placement(v, config)
            row["node_selector"] = dict(place.node_selector)
            row["tolerations"] = [dict(t) for t in place.tolerations]
            rows.append(row)
        click.echo(json.dumps(rows, indent=2))
        return
    rows = [("VM", "CLOUD", "GPU", "GPUS", "GB/GPU", "REGION", "SPOT", "INSTANCE TYPE")]
    for v in entries:
        rows.append((v.name, v.cloud, v.gpu, str(v.gpus), str(v.gpu_memory_gb or "-"), v.region or "-",
                     "yes" if v.spot else "no", v.instance_type or "-"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        click.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())


@vm.command("show")
@click.argument("name")
def vm_show(name: str) -> None:
    """Show how NAME resolves: GPUs, nodes it needs, placement labels."""
    from pfgen.validate.config import config_for
    from pfgen.resolve.job import placement
    from pfgen.resolve.vms import UnknownVM, resolve

    try:
        config = config_for(Path.cwd() / "pf-template.yml")
        found = resolve(name, config.vms)
    except UnknownVM as exc:
        click.echo(f"pfgen: error: {exc}", err=True)
        sys.exit(EXIT_INVALID)
    except UserError as exc:
        _fail(exc)
    click.echo(f"name:           {found.name}")
    click.echo(f"source:         {found.source}")
    click.echo(f"cloud:          {found.cloud}")
    click.echo(f"gpu:            {found.gpus} x {found.gpu}" + (f" ({found.gpu_memory_gb} GiB each)" if found.gpu_memory_gb else ""))
    click.echo(f"region:         {found.region or '-'}")
    click.echo(f"spot:           {'yes' if found.spot else 'no'}")
    click.echo(f"instance type:  {found.instance_type or '-'}")
    from pfgen.resolve.sizing import pod_resources

    size = f"{found.vcpus} vCPUs, {found.memory_gib:g} GiB" if found.vcpus and found.memory_gib else "-"
    click.echo(f"node size:      {size}")
    requests, problem = pod_resources(found, found.gpus, config.resources)
    shown = f"cpu {requests.cpu}, memory {requests.memory} (limit = request)" if requests else (problem or "-")
    click.echo(f"pod requests:   {shown}")
    place = placement(found, config)
    click.echo("node selector:" + ("" if place.node_selector else "  -"))
    for key, value in place.node_selector:
        click.echo(f"  {key}: {value}")
    click.echo("tolerations:" + ("" if place.tolerations else "    -"))
    for toleration in place.tolerations:
        click.echo("  " + ", ".join(f"{k}={v}" for k, v in toleration))
