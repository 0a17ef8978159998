"""The command line: one click group whose subcommands are imported only when they run.

``pfgen`` (the console script) and ``python -m pfgen`` both call :func:`main`.
Each subcommand lives in its own module of :mod:`pfgen.cli` and is imported
when it is invoked (or when ``pfgen --help`` lists it): ``pfgen validate``, the
pre-commit hook, loads click, this module and :mod:`pfgen.cli.validate`, not
the code of build, image, run or the secrets commands. The commands parse
flags, call the stages and report; no compiler logic lives here. Exit codes:
:mod:`pfgen.cli.exits`.
"""

from __future__ import annotations

import importlib

import click

from pfgen import __version__
from pfgen.cli import exits

# command name -> "module:attribute" of its click command (or group)
COMMANDS = {
    "build": "pfgen.cli.build:build",
    "image": "pfgen.cli.image:image",
    "lint": "pfgen.cli.lint:lint",
    "render": "pfgen.cli.render:render",
    "run": "pfgen.cli.run:run",
    "schema": "pfgen.cli.schema:schema",
    "secrets": "pfgen.cli.secrets:secrets",
    "validate": "pfgen.cli.validate:validate",
    "vm": "pfgen.cli.vm:vm",
}


class LazyGroup(click.Group):
    """A group that imports a subcommand's module only when the subcommand is looked up
    (click's documented lazy-loading pattern)."""

    def __init__(self, *args, lazy: dict[str, str], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.lazy = lazy

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy})

    def get_command(self, ctx: click.Context, cmd_name: str):
        if cmd_name not in self.lazy:
            return super().get_command(ctx, cmd_name)
        module, _, attribute = self.lazy[cmd_name].partition(":")
        command = getattr(importlib.import_module(module), attribute)
        if not isinstance(command, click.Command) or command.name != cmd_name:
            raise RuntimeError(f"{self.lazy[cmd_name]} is not the click command {cmd_name!r}")
        return command


@click.group(cls=LazyGroup, lazy=COMMANDS,
             context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
             epilog="\b\nExit codes:\n" + exits.help_text())
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
    """
