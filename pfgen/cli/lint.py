"""`pfgen lint`: verify generated manifests offline."""

from __future__ import annotations

from pathlib import Path

import click

from pfgen.cli.commands import emit as _emit
from pfgen.cli.commands import fail as _fail
from pfgen.cli.options import FORMAT_OPTION
from pfgen.errors import Diagnostic, UserError


@click.command()
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
