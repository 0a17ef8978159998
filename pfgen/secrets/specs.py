"""``pfgen secrets``: the Secret specs for the credentials of a set of templates.

Compiles the templates (so every reference is checked first), merges their credentials
into one Secret per namespace and name, and renders them in the chosen mode:

* env: Secrets filled from ``PFGEN_SECRET_<ID>_<FIELD>`` environment variables, as text
  for stdout only (the CLI refuses to write it to a file);
* external: ExternalSecrets (the same objects ``pfgen build`` writes in external mode);
* sealed: SealedSecrets encrypted with the controller's certificate.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Optional

from pfgen.output import dump
from pfgen.secrets.credentials import CredentialsConfig, SecretsConfig
from pfgen.emit import secrets as emit
from pfgen.secrets.objects import merge, secret_objects
from pfgen.errors import Diagnostic, UserError
from pfgen.resolve.plan import CredentialUse


@dataclass(frozen=True)
class Request:
    mode: Optional[str] = None  # overrides secrets.mode
    cert: Optional[Path] = None  # overrides secrets.cert
    scope: Optional[str] = None  # overrides secrets.scope


@dataclass
class Result:
    mode: str
    text: str
    count: int
    warnings: list[Diagnostic]


def _settings(configs: list[CredentialsConfig]) -> tuple[SecretsConfig, Optional[Path], str]:
    """The one secrets: section governing all templates, the directory its paths are relative to, its file."""
    distinct: dict[SecretsConfig, CredentialsConfig] = {}
    for config in configs:
        distinct.setdefault(config.secrets, config)
    if len(distinct) > 1:
        files = sorted({c.file or "(no pfgen.yaml)" for c in distinct.values()})
        raise UserError([Diagnostic(files[0], 1, 1, "these templates are governed by pfgen.yaml files with different "
                                    f"secrets: settings ({', '.join(files)}); run `pfgen secrets` once per project")])
    config = next(iter(distinct.values()), CredentialsConfig())
    base = Path(config.file).resolve().parent if config.file else None
    return config.secrets, base, config.file


def render(templates: list[Path], request: Request, environ: Mapping[str, str]) -> Result:
    from pfgen.output.layout import compile_all

    compiled, warnings = compile_all(templates)
    configs = [_config_of(template) for template, _, _ in compiled]
    settings, base, config_file = _settings(configs)
    mode = request.mode or settings.mode
    entries = merge((job.plan.namespace, job.plan.credentials) for _, job, _ in compiled)
    if mode == "external":
        if entries and not settings.store_name:
            raise UserError([Diagnostic(config_file or "pfgen.yaml", settings.pos[0], settings.pos[1],
                                        "secrets mode 'external' needs secrets.store.name in pfgen.yaml")])
        objects = [emit.external_secret_for(use, namespace, settings) for namespace, use in entries]
    elif mode == "sealed":
        scope = request.scope or settings.scope
        cert = request.cert or (base / settings.cert if base and settings.cert else None)
        if cert is None:
            raise UserError([Diagnostic(config_file or "<command line>", settings.pos[0], settings.pos[1],
                                        "sealing needs the controller's certificate: pass --cert CERT "
                                        "(from `kubeseal --fetch-cert`) or set secrets.cert in pfgen.yaml")])
        _need_namespaces(entries, scope)
        from pfgen.secrets import seal

        seal.require_cryptography()
        key = seal.load_public_key(cert)
        objects = [seal.seal(secret, key, scope) for secret in secret_objects(entries, environ)]
    else:
        objects = secret_objects(entries, environ)
    return Result(mode, dump.to_yaml_stream(objects), len(objects), warnings)


def _need_namespaces(entries: list[tuple[Optional[str], CredentialUse]], scope: str) -> None:
    if scope == "cluster-wide":
        return
    problems = [
        Diagnostic(use.file, use.pos[0], use.pos[1],
                   f"a {scope} SealedSecret is bound to its namespace, and the job using credential '{use.id}' has "
                   "none: set namespace in pfgen.yaml, or seal with --scope cluster-wide")
        for namespace, use in entries
        if not namespace
    ]
    if problems:
        raise UserError(problems)


def _config_of(template: Path) -> CredentialsConfig:
    from pfgen.validate.config import config_for

    return config_for(template).credentials
