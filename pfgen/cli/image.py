"""`pfgen image build`: build (and push) the workspace images of jobs."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import click

from pfgen.cli import exits
from pfgen.cli.commands import fail as _fail
from pfgen.cli.commands import report as _report
from pfgen.cli.commands import templates as _templates
from pfgen.errors import UserError


@click.group()
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
    from pfgen.errors import display_path
    from pfgen.image.docker import ImageError, Reporter, build_and_push
    from pfgen.output.build import stale_manifests, template_of_output_dir
    from pfgen.output.layout import compile_all
    from pfgen.pipeline import CompileOptions

    templates = _templates(tuple(template_of_output_dir(p) for p in paths))
    options = CompileOptions(workspace_dir=Path(workspace_dir) if workspace_dir else None)
    try:
        compiled, warnings = compile_all(templates, options)
    except UserError as exc:
        _fail(exc)
    from pfgen.errors import without_notes

    _report(without_notes(warnings))
    images = [job.plan.workspace_image for _, job, _ in compiled if job.plan.workspace_image is not None]
    for manifest, reference in stale_manifests(compiled):  # the default output dir should name the image being built
        click.echo(f"pfgen: warning: {display_path(manifest)} does not use {reference} yet; "
                   "run `pfgen build` so that the manifests name this image", err=True)
    for _, job, _ in compiled:
        if job.plan.workspace_image is None:
            click.echo(f"pfgen: {job.plan.name}: no workspace; it runs {job.plan.image} as is", err=True)
    reporter = Reporter()
    try:
        outcomes = build_and_push(images, push_images=push_images, reporter=reporter, network_mode=network)
    except ImageError as exc:
        click.echo(f"pfgen: error: {exc}", err=True)
        sys.exit(exits.IMAGE_FAILED)
    for outcome in outcomes:
        click.echo(outcome.reference)
