"""`pfgen secrets`: print the Secret specs for the credentials the templates use."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import click

from pfgen.cli import exits
from pfgen.cli.commands import fail as _fail
from pfgen.cli.commands import report as _report
from pfgen.cli.commands import templates as _templates
from pfgen.errors import CommandError, UserError
from pfgen.secrets.seal import SCOPES


@click.command()
@click.argument("paths", nargs=-1, type=click.Path())
@click.option("--mode", type=click.Choice(["env", "external", "sealed"]), help="Override secrets.mode of pfgen.yaml (default env).")
@click.option("--seal", is_flag=True, help="Seal the Secrets for the Sealed Secrets controller (same as --mode sealed).")
@click.option("--cert", type=click.Path(dir_okay=False), help="sealed: the controller's public certificate (`kubeseal --fetch-cert`); default secrets.cert.")
@click.option("--scope", type=click.Choice(list(SCOPES)), help="sealed: sealing scope; default secrets.scope, else strict.")
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
            sys.exit(exits.INVALID)
        mode = "sealed"
    templates = _templates(paths)
    try:
        result = render_secrets(templates, Request(mode, Path(cert) if cert else None, scope), os.environ)
    except UserError as exc:
        _fail(exc)
    except CommandError as exc:
        click.echo(f"pfgen: error: {exc}", err=True)
        sys.exit(exits.INVALID)
    _report(result.warnings)
    if output and result.mode == "env":
        click.echo("pfgen: error: env mode prints plaintext Secrets and never writes them to a file; "
                   "pipe them to `kubectl apply -f -`, or use --seal", err=True)
        sys.exit(exits.INVALID)
    if output:
        # Not pfgen's ownership marker: `pfgen build` must never treat this file as stale output.
        note = f"# {result.mode.capitalize()} secret specs made by `pfgen secrets`; they hold no readable secret value.\n"
        Path(output).write_text(note + result.text, encoding="utf-8")
        click.echo(f"pfgen: wrote {result.count} {result.mode} secret spec{'s' if result.count != 1 else ''} to {output}", err=True)
    else:
        click.echo(result.text, nl=False)
