"""Options several commands share."""

from __future__ import annotations

import click

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
