"""`pfgen vm list|show`: the VM types pfgen knows."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from pfgen.cli import exits
from pfgen.cli.commands import fail as _fail
from pfgen.errors import UserError


@click.group()
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
        sys.exit(exits.INVALID)
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
