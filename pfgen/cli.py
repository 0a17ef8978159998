"""Command line: parse flags, run the pipeline, report. No compiler logic here.

Exit codes: 0 success, 1 output out of date (``build --check``) or changed,
2 invalid input or usage.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Iterable, Optional

import click

from pfgen import __version__
from pfgen.errors import Diagnostic, UserError

EXIT_OK, EXIT_CHANGED, EXIT_INVALID = 0, 1, 2


def _report(diagnostics: Iterable[Diagnostic]) -> None:
    for diagnostic in diagnostics:
        click.echo(str(diagnostic), err=True)


def _fail(exc: UserError) -> None:
    _report(exc.diagnostics)
    errors = sum(1 for d in exc.diagnostics if d.is_error)
    click.echo(f"pfgen: {errors} error{'s' if errors != 1 else ''}; nothing written", err=True)
    sys.exit(EXIT_INVALID)


def _templates(paths: tuple[str, ...], skip: Iterable[Path] = ()) -> list[Path]:
    from pfgen.discover import find_templates

    roots = [Path(p) for p in paths] or [Path(".")]
    missing = [p for p in roots if not p.exists()]
    if missing:
        _fail(UserError([Diagnostic(str(p), 1, 1, "no such file or directory") for p in missing]))
    found = find_templates(roots, skip)
    if not found:
        _fail(UserError([Diagnostic(str(roots[0]), 1, 1, "no pf-template.yml or pf-template.yaml found here")]))
    return found


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

    Exit codes: 0 ok, 1 output changed or out of date, 2 invalid input or usage.
    """


@main.command()
@click.argument("paths", nargs=-1, type=click.Path())
def validate(paths: tuple[str, ...]) -> None:
    """Check templates without writing anything.

    PATHS are templates or directories searched for pf-template.yml/.yaml
    (default: the current directory). Every problem in every template is
    reported as path:line:col: error: message.
    """
    from pfgen.build import compile_all

    templates = _templates(paths)
    try:
        compiled, warnings = compile_all(templates)
    except UserError as exc:
        _fail(exc)
    _report(warnings)
    click.echo(f"pfgen: {len(compiled)} template{'s' if len(compiled) != 1 else ''} valid", err=True)


@main.command()
@click.argument("paths", nargs=-1, type=click.Path())
@click.option("-o", "--out", type=click.Path(file_okay=False), help="Output directory for all jobs. Default: deploy/ next to the governing pfgen.yaml, else ./deploy.")
@click.option("--check", is_flag=True, help="Write nothing; print a diff and exit 1 if the output is out of date.")
@click.option("-d", "--workspace-dir", type=click.Path(file_okay=False), help="Workspace directory (overrides job_setting.workspace.path).")
@click.option("--secrets-mode", type=click.Choice(["env", "external", "sealed"]), help="Override secrets.mode of pfgen.yaml; external also writes ExternalSecrets (docs/credentials.md).")
@click.option("--no-cache", is_flag=True, help="Compile every template, ignoring the build cache (see PFGEN_CACHE_DIR).")
def build(paths: tuple[str, ...], out: Optional[str], check: bool, workspace_dir: Optional[str], secrets_mode: Optional[str],
          no_cache: bool) -> None:
    """Compile templates and write OUT/<job>/ with a kustomization.yaml.

    PATHS are templates or directories searched for pf-template.yml/.yaml
    (default: the current directory). Files pfgen generated earlier and no
    longer produces are removed; files it did not generate are never touched.
    """
    from pfgen.build import build_trees
    from pfgen.cache import BuildCache
    from pfgen.pipeline import CompileOptions
    from pfgen.write import sync

    out_path = Path(out) if out else None
    templates = _templates(paths, [out_path] if out_path else [])
    options = CompileOptions(workspace_dir=Path(workspace_dir) if workspace_dir else None, secrets_mode=secrets_mode)
    try:
        result = build_trees(templates, out_path, options, cache=BuildCache(None) if no_cache else BuildCache.open())
    except UserError as exc:
        _fail(exc)
    _report(result.warnings)
    drift = False
    for root, tree in sorted(result.trees.items()):
        try:
            changes = sync(root, tree, check=check)
        except FileExistsError as exc:
            click.echo(f"pfgen: error: {exc}", err=True)
            sys.exit(EXIT_INVALID)
        if check and changes.any:
            drift = True
            click.echo(changes.diff, nl=False)
        if not check:
            for verb, names in (("wrote", changes.added + changes.changed), ("removed", changes.removed)):
                for name in names:
                    click.echo(f"pfgen: {verb} {name}", err=True)
    if check:
        if drift:
            click.echo("pfgen: output is out of date; run `pfgen build`", err=True)
            sys.exit(EXIT_CHANGED)
        click.echo(f"pfgen: {result.job_count} job{'s' if result.job_count != 1 else ''} up to date", err=True)


@main.command()
@click.argument("template", type=click.Path(dir_okay=False, allow_dash=True))
@click.option("-o", "--output", "fmt", type=click.Choice(["yaml", "json"]), default="yaml", show_default=True, help="Output format.")
@click.option("-d", "--workspace-dir", type=click.Path(file_okay=False), help="Workspace directory (overrides job_setting.workspace.path).")
@click.option("--secrets-mode", type=click.Choice(["env", "external", "sealed"]), help="Override secrets.mode of pfgen.yaml.")
def render(template: str, fmt: str, workspace_dir: Optional[str], secrets_mode: Optional[str]) -> None:
    """Print a template's manifests to stdout (TEMPLATE '-' reads stdin).

    \b
    pfgen render pf-template.yml | kubectl apply -f -
    """
    from pfgen import dump
    from pfgen.load import decode
    from pfgen.pipeline import CompileOptions, compile_job, compile_text

    options = CompileOptions(workspace_dir=Path(workspace_dir) if workspace_dir else None, secrets_mode=secrets_mode)
    try:
        if template == "-":
            text = decode(sys.stdin.buffer.read(), "<stdin>")
            job = compile_text(text, Path.cwd() / "pf-template.yml", "<stdin>", options=options)
        else:
            job = compile_job(Path(template), options=options)
    except UserError as exc:
        _fail(exc)
    _report(job.diagnostics)
    objects = job.objects + job.secret_objects
    if fmt == "json":
        click.echo(dump.to_json({"apiVersion": "v1", "kind": "List", "items": objects}), nl=False)
    else:
        click.echo(dump.to_yaml_stream(objects), nl=False)


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

    from pfgen.secretspecs import Request, render as render_secrets

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


@main.command()
@click.option("--config", "which", flag_value="config", help="Print the schema of pfgen.yaml instead.")
def schema(which: Optional[str]) -> None:
    """Print the JSON Schema of pf-template.yml (for editors and check-jsonschema).

    \b
    pfgen schema > pf-template.schema.json
    # VS Code (redhat.vscode-yaml): "yaml.schemas": {"pf-template.schema.json": "pf-template.y*ml"}
    """
    from pfgen.schema import CONFIG_SCHEMA, TEMPLATE_SCHEMA, schema_text

    click.echo(schema_text(CONFIG_SCHEMA if which == "config" else TEMPLATE_SCHEMA), nl=False)


@main.group()
def vm() -> None:
    """The VM types pfgen knows (catalogue, naming grammar, pfgen.yaml)."""


@vm.command("list")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
def vm_list(fmt: str) -> None:
    """List the catalogue of PeriFlow VM types and any from ./pfgen.yaml."""
    import json
    from dataclasses import asdict

    from pfgen.config import config_for
    from pfgen.vms import catalogue

    try:
        custom = config_for(Path.cwd() / "pf-template.yml").vms
    except UserError as exc:
        _fail(exc)
    entries = sorted({**catalogue(), **custom}.values(), key=lambda v: v.name)
    if fmt == "json":
        click.echo(json.dumps([asdict(v) for v in entries], indent=2))
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
    from pfgen.config import config_for
    from pfgen.resolve import placement
    from pfgen.vms import UnknownVM, resolve

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
    place = placement(found, config)
    click.echo("node selector:" + ("" if place.node_selector else "  -"))
    for key, value in place.node_selector:
        click.echo(f"  {key}: {value}")
    click.echo("tolerations:" + ("" if place.tolerations else "    -"))
    for toleration in place.tolerations:
        click.echo("  " + ", ".join(f"{k}={v}" for k, v in toleration))
