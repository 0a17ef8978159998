"""`pfgen schema`: print the JSON Schema of templates or of pfgen.yaml."""

from __future__ import annotations

from typing import Optional

import click


@click.command()
@click.option("--config", "which", flag_value="config", help="Print the schema of pfgen.yaml instead.")
def schema(which: Optional[str]) -> None:
    """Print the JSON Schema of pf-template.yml (for editors and check-jsonschema).

    \b
    pfgen schema > pf-template.schema.json
    # VS Code (redhat.vscode-yaml): "yaml.schemas": {"pf-template.schema.json": "pf-template.y*ml"}
    """
    from pfgen.validate.schema import CONFIG_SCHEMA, TEMPLATE_SCHEMA, schema_text

    click.echo(schema_text(CONFIG_SCHEMA if which == "config" else TEMPLATE_SCHEMA), nl=False)
