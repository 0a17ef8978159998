"""`pfgen run --local`: run a compiled job's replicas on this machine."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import click

from pfgen.cli import exits
from pfgen.cli.options import TARGET_OPTION
from pfgen.errors import UserError


def _pairs(values: tuple[str, ...], flag: str) -> tuple[tuple[str, str], ...]:
    pairs = []
    for value in values:
        name, sep, rest = value.partition("=")
        if not sep or not name:
            raise click.BadParameter(f"'{value}' is not NAME=VALUE", param_hint=flag)
        pairs.append((name, rest))
    return tuple(pairs)


@click.command()
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
    from pfgen.runlocal.launch import launch
    from pfgen.runlocal.model import Options
    from pfgen.load.discover import TEMPLATE_NAMES

    if not local:
        raise click.UsageError("only --local is supported: a cluster runs the manifests from `pfgen build` (GitOps)")
    path = Path(template)
    if path.is_dir():
        path = next((path / n for n in TEMPLATE_NAMES if (path / n).is_file()), path / TEMPLATE_NAMES[0])
    options = Options(
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
        sys.exit(exits.INVALID)
    sys.exit(launch(plan))
