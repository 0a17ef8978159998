"""The Secret specs of a set of jobs, with the checks they need: no emitter makes them.

* :func:`merge`: the credentials of several jobs, one entry per (namespace, Secret name);
  one name used for different credentials is an error;
* :func:`secret_objects` (env mode): the values from ``PFGEN_SECRET_<ID>_<FIELD>``
  environment variables, every missing or malformed one reported at once, then the
  Secrets (:func:`pfgen.emit.secrets.secret_object`);
* :func:`external_specs` and :func:`shared_external_secrets` (external mode): the
  ExternalSecrets of one job, and of the jobs of one output tree, once the
  ``secrets:`` settings they need are checked.
"""

from __future__ import annotations

import json

from pfgen.emit import secrets as emit
from pfgen.errors import Diagnostic, UserError
from pfgen.resolve.plan import CredentialUse, JobPlan
from pfgen.secrets.credentials import KINDS, CredentialsConfig, SecretsConfig, env_var

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Iterable, Mapping, Optional


def merge(groups: Iterable[tuple[Optional[str], Iterable[CredentialUse]]]) -> list[tuple[Optional[str], CredentialUse]]:
    """One entry per (namespace, Secret name); docker registries of all jobs are combined.

    Raises UserError when one Secret name is used for credentials of different ids or kinds.
    """
    merged: dict[tuple[Optional[str], str], CredentialUse] = {}
    problems: list[Diagnostic] = []
    for namespace, uses in groups:
        for use in uses:
            key = (namespace, use.secret_name)
            prior = merged.get(key)
            if prior is None:
                merged[key] = use
            elif (prior.kind, prior.id) != (use.kind, use.id):
                problems.append(
                    Diagnostic(
                        use.file, use.pos[0], use.pos[1],
                        f"Secret '{use.secret_name}' would hold both credential '{prior.id}' ({prior.kind}, "
                        f"{prior.file}:{prior.pos[0]}) and '{use.id}' ({use.kind}); give them different secret_name",
                    )
                )
            elif use.kind == "docker":
                registries = tuple(sorted(set(prior.registries) | set(use.registries)))
                merged[key] = CredentialUse(
                    prior.id, prior.kind, prior.secret_name, prior.purpose, registries, prior.remote_key, prior.file, prior.pos
                )
    if problems:
        raise UserError(problems)
    return [(namespace, use) for (namespace, name), use in sorted(merged.items(), key=lambda item: (item[0][0] or "", item[0][1]))]


def read_values(
    entries: Iterable[tuple[Optional[str], CredentialUse]], environ: Mapping[str, str]
) -> dict[tuple[Optional[str], str], dict[str, str]]:
    """Field values per Secret, from ``environ``. Every missing or malformed variable is reported at once."""
    entries = list(entries)
    problems: list[Diagnostic] = []
    values: dict[tuple[Optional[str], str], dict[str, str]] = {}
    for namespace, use in entries:
        fields: dict[str, str] = {}
        for field in KINDS[use.kind].fields:
            var = env_var(use.id, field)
            value = environ.get(var)
            where = f"credential '{use.id}' ({use.kind}, {use.purpose})"
            if not value:
                problems.append(Diagnostic(use.file, use.pos[0], use.pos[1], f"{where}: set environment variable {var} ({field.what})"))
                continue
            if not _is_text(value):
                problems.append(Diagnostic(use.file, use.pos[0], use.pos[1],
                                           f"{where}: environment variable {var} is not valid UTF-8 text; "
                                           "a Secret's stringData holds text only (its value is not shown)"))
                continue
            if use.kind == "gcs" and not _is_key_file(value):
                problems.append(
                    Diagnostic(
                        use.file, use.pos[0], use.pos[1],
                        f"{where}: {var} must hold the service-account key file's JSON (an object with a \"type\" field), "
                        'e.g. export ' + var + '="$(cat key.json)"',
                    )
                )
                continue
            fields[field.key] = value
        values[(namespace, use.secret_name)] = fields
    if problems:
        raise UserError(problems)
    return values


def _is_text(value: str) -> bool:
    """Whether ``value`` (from os.environ, whose undecodable bytes are lone surrogates) is UTF-8 text."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _is_key_file(text: str) -> bool:
    try:
        data = json.loads(text)
    except ValueError:
        return False
    return isinstance(data, dict) and isinstance(data.get("type"), str)


def secret_objects(entries: Iterable[tuple[Optional[str], CredentialUse]], environ: Mapping[str, str]) -> list[dict]:
    entries = list(entries)
    values = read_values(entries, environ)
    return [emit.secret_object(use, namespace, values[(namespace, use.secret_name)]) for namespace, use in entries]


def external_specs(plan: JobPlan, config: CredentialsConfig, mode_override: Optional[str] = None) -> list[dict]:
    """The secret objects ``pfgen build`` writes for a job: ExternalSecrets in external mode, else none.

    In env mode Secrets are made by ``pfgen secrets`` in CI and never written; in sealed mode
    ``pfgen secrets --seal`` writes SealedSecrets where the user asks.
    """
    settings = config.secrets
    mode = mode_override or settings.mode
    if mode != "external" or not plan.credentials:
        return []
    if not settings.store_name:
        where = config.file or "pfgen.yaml"
        raise UserError([Diagnostic(where, settings.pos[0], settings.pos[1],
                                    "secrets mode 'external' needs the store to read from: set secrets.store.name "
                                    "(and store.kind: SecretStore or ClusterSecretStore) in pfgen.yaml")])
    return [emit.external_secret_for(use, plan.namespace, settings) for use in emit.ordered(plan.credentials)]


def shared_external_secrets(jobs: Iterable[tuple[Optional[str], Iterable[CredentialUse], SecretsConfig]]) -> list[dict]:
    """One ExternalSecret per (namespace, Secret) over several jobs written to one output tree."""
    jobs = list(jobs)
    settings = {job[2] for job in jobs}
    if len(settings) > 1:
        raise UserError([Diagnostic("pfgen.yaml", 1, 1, "jobs written to one output directory use pfgen.yaml files with "
                                    "different secrets: settings; build them to different directories (-o)")])
    [chosen] = settings
    return [emit.external_secret_for(use, namespace, chosen) for namespace, use in merge((ns, uses) for ns, uses, _ in jobs)]
