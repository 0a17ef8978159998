"""Credentials: which Kubernetes Secret each ``credential_id`` names, and what it holds.

A PeriFlow template refers to credentials by id (``job_setting.docker.credential_id``,
``plugin.wandb.credential_id``, ``plugin.slack.credential_id``); the project config
(``pfgen.yaml``) may declare ids with a type and a Secret name, and name the credential
of each datastore. Here an id becomes a :class:`~pfgen.resolve.plan.CredentialUse`: the Secret
the pod reads, its kind and, for docker, the registries it must log in to.

Nothing in this module ever holds a secret *value*; values are read only by
``pfgen secrets`` (see :mod:`pfgen.emit.secrets`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from pfgen.errors import Collector, did_you_mean
from pfgen.load.document import Document, PathKey
from pfgen.kube.names import DNS1123_SUBDOMAIN as _SUBDOMAIN
from pfgen.resolve.plan import CredentialUse
from pfgen.secrets.seal import SCOPES

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Iterable, Mapping, Optional


@dataclass(frozen=True)
class Field:
    """One value of a credential: its key in the Secret and the suffix of its input variable."""

    key: str  # key in the Kubernetes Secret; property name at the external store
    suffix: str  # PFGEN_SECRET_<ID>_<suffix>
    what: str  # for docs and error messages


@dataclass(frozen=True)
class Kind:
    """A credential type: the values its Secret holds and the Secret's type."""

    name: str
    fields: tuple[Field, ...]  # the inputs (env mode) / remote properties (external mode)
    secret_type: str = "Opaque"


KINDS: dict[str, Kind] = {
    k.name: k
    for k in (
        Kind(
            "docker",
            (Field("username", "USERNAME", "registry user name"), Field("password", "PASSWORD", "registry password or token")),
            "kubernetes.io/dockerconfigjson",
        ),
        Kind(
            "s3",
            (
                Field("aws_access_key_id", "AWS_ACCESS_KEY_ID", "AWS access key id"),
                Field("aws_secret_access_key", "AWS_SECRET_ACCESS_KEY", "AWS secret access key"),
                Field("aws_default_region", "AWS_DEFAULT_REGION", "AWS region, e.g. us-east-1"),
            ),
        ),
        Kind(
            "azure-blob",
            (
                Field("storage_account_name", "STORAGE_ACCOUNT_NAME", "Azure storage account name"),
                Field("storage_account_key", "STORAGE_ACCOUNT_KEY", "Azure storage account key"),
            ),
        ),
        Kind("gcs", (Field("key.json", "KEY_JSON", "the service-account JSON key file's contents"),)),
        Kind("wandb", (Field("api_key", "API_KEY", "Weights & Biases API key"),)),
        Kind("slack", (Field("token", "TOKEN", "Slack bot token"),)),
    )
}
STORAGE_KINDS = ("s3", "azure-blob", "gcs")
ENV_PREFIX = "PFGEN_SECRET_"
DOCKER_HUB = "docker.io"
DOCKER_HUB_AUTH_KEY = "https://index.docker.io/v1/"



def dns1123_subdomain_problem(name: str) -> Optional[str]:
    """Why ``name`` is not a valid Secret name, or None when it is."""
    if not name:
        return "must not be empty"
    if len(name) > 253:
        return f"is {len(name)} characters long; a Kubernetes Secret name has at most 253"
    if not _SUBDOMAIN.match(name):
        hint = ""
        if name.lower() != name and _SUBDOMAIN.match(name.lower()):
            hint = f" (use '{name.lower()}')"
        return (
            "is not a valid Kubernetes Secret name: use lower-case letters, digits, '-' and '.', "
            f"starting and ending with a letter or digit{hint}"
        )
    return None


def env_var(credential_id: str, field: Field) -> str:
    """The input variable ``pfgen secrets`` reads: PFGEN_SECRET_<ID>_<FIELD>, '-' and '.' become '_'."""
    return ENV_PREFIX + re.sub(r"[^A-Z0-9]", "_", credential_id.upper()) + "_" + field.suffix


def registry_host(image: str) -> str:
    """The registry an image reference pulls from, as Docker resolves it ('docker.io' for Hub images)."""
    name = image.split("@", 1)[0]
    first, sep, _rest = name.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        return first.lower()
    return DOCKER_HUB


def auth_key(host: str) -> str:
    """The key of a registry in a dockerconfigjson ``auths`` map (what ``docker login`` writes)."""
    if host in (DOCKER_HUB, "index.docker.io", "registry-1.docker.io"):
        return DOCKER_HUB_AUTH_KEY
    return host


# ---------------------------------------------------------------------------------------------
# Project config: the `credentials:` and `secrets:` sections and `datastores.<name>.credential`.

MODES = ("env", "external", "sealed")
STORE_KINDS = ("SecretStore", "ClusterSecretStore")


@dataclass(frozen=True)
class CredentialDecl:
    """A credential declared in pfgen.yaml ``credentials.<id>``."""

    id: str
    kind: str
    secret_name: str
    remote_key: Optional[str] = None  # external mode: the key at the store (default: prefix + id)
    registries: tuple[str, ...] = ()  # docker: registries besides those of the jobs' images
    pos: tuple[int, int] = (1, 1)


@dataclass(frozen=True)
class SecretsConfig:
    """pfgen.yaml ``secrets:``: how Secret specs are produced."""

    mode: str = "env"
    store_name: Optional[str] = None  # external: the (Cluster)SecretStore
    store_kind: str = "ClusterSecretStore"
    refresh_interval: str = "1h"
    remote_key_prefix: str = ""
    scope: str = "strict"  # sealed
    cert: Optional[str] = None  # sealed: path of the controller's certificate, relative to pfgen.yaml
    pos: tuple[int, int] = field(default=(1, 1), compare=False)  # of the `secrets:` key, for messages


@dataclass(frozen=True)
class CredentialsConfig:
    """The credential parts of pfgen.yaml: ``secrets:``, ``credentials:`` and each datastore's credential."""

    secrets: SecretsConfig = SecretsConfig()
    credentials: Mapping[str, CredentialDecl] = field(default_factory=dict)
    datastores: Mapping[str, tuple[str, tuple[int, int]]] = field(default_factory=dict)  # name -> (credential id, pos)
    file: str = ""  # the pfgen.yaml these came from


def parse_config(doc: Optional[Document], issues: Collector) -> CredentialsConfig:
    """Read the credential parts of a loaded pfgen.yaml (shape already checked by its schema).

    Reports semantic problems (bad Secret names, unknown types, a datastore naming an
    undeclared credential) to ``issues`` with their positions.
    """
    if doc is None:
        return CredentialsConfig()
    data = doc.data
    sec = data.get("secrets") or {}
    store = sec.get("store") or {}
    secrets = SecretsConfig(
        mode=sec.get("mode", "env"),
        store_name=store.get("name"),
        store_kind=store.get("kind", "ClusterSecretStore"),
        refresh_interval=str(sec.get("refresh_interval", "1h")),
        remote_key_prefix=sec.get("remote_key_prefix", ""),
        scope=sec.get("scope", "strict"),
        cert=sec.get("cert"),
        pos=doc.key_pos(("secrets",)) if "secrets" in data else (1, 1),
    )
    if secrets.mode not in MODES:
        issues.error(doc.pos(("secrets", "mode")), f"unknown secrets mode '{secrets.mode}'; use one of {', '.join(MODES)}")
    if secrets.scope not in SCOPES:
        issues.error(doc.pos(("secrets", "scope")), f"unknown sealing scope '{secrets.scope}'; use one of {', '.join(SCOPES)}")
    if secrets.store_kind not in STORE_KINDS:
        issues.error(doc.pos(("secrets", "store", "kind")), f"store kind must be {' or '.join(STORE_KINDS)}")
    if secrets.store_name is not None:
        _check_name(issues, doc.pos(("secrets", "store", "name")), secrets.store_name, "store name")

    decls: dict[str, CredentialDecl] = {}
    for cid, body in (data.get("credentials") or {}).items():
        body = body or {}
        path: PathKey = ("credentials", cid)
        _check_name(issues, doc.key_pos(path), cid, "credential id")
        kind = body.get("type")
        if kind not in KINDS:
            issues.error(
                doc.pos(path + ("type",)),
                f"unknown credential type '{kind}'; use one of {', '.join(KINDS)}{did_you_mean(str(kind), KINDS)}",
            )
            continue
        secret_name = body.get("secret_name", cid)
        if "secret_name" in body:
            _check_name(issues, doc.pos(path + ("secret_name",)), secret_name, "secret_name")
        registries = body.get("registries") or ()
        if registries and kind != "docker":
            issues.error(doc.key_pos(path + ("registries",)), "'registries' applies to docker credentials only")
        decls[cid] = CredentialDecl(
            cid, kind, secret_name, body.get("remote_key"), tuple(str(r).lower() for r in registries), doc.key_pos(path)
        )

    datastores: dict[str, tuple[str, tuple[int, int]]] = {}
    for name, body in (data.get("datastores") or {}).items():
        if not isinstance(body, dict) or "credential" not in body:
            continue
        cid = body["credential"]
        pos = doc.pos(("datastores", name, "credential"))
        if not _check_name(issues, pos, cid, "credential id"):
            continue
        decl = decls.get(cid)
        if decl is None:
            issues.error(
                pos,
                f"datastore '{name}' names credential '{cid}', which is not declared under 'credentials:' "
                f"(declare it with its type, e.g. type: s3){did_you_mean(cid, decls)}",
            )
        elif decl.kind not in STORAGE_KINDS:
            issues.error(pos, f"credential '{cid}' is of type {decl.kind}; a datastore needs one of {', '.join(STORAGE_KINDS)}")
        datastores[name] = (cid, pos)
    return CredentialsConfig(secrets, decls, datastores, doc.file)


def _check_name(issues: Collector, pos: tuple[int, int], name: Any, what: str) -> bool:
    if not isinstance(name, str):
        issues.error(pos, f"{what} must be a string")
        return False
    problem = dns1123_subdomain_problem(name)
    if problem:
        issues.error(pos, f"{what} '{name}' {problem}")
        return False
    return True


# ---------------------------------------------------------------------------------------------
# The template's references.

_TEMPLATE_REFS: tuple[tuple[PathKey, str, str], ...] = (
    (("job_setting", "docker", "credential_id"), "docker", "image pull"),
    (("plugin", "wandb", "credential_id"), "wandb", "plugin.wandb"),
    (("plugin", "slack", "credential_id"), "slack", "plugin.slack"),
)


def resolve(
    doc: Document,
    config: CredentialsConfig,
    issues: Collector,
    *,
    image: Optional[str] = None,
    datastores: Iterable[str] = (),
) -> tuple[tuple[CredentialUse, ...], Optional[str]]:
    """The credentials a job uses, and its Slack channel.

    ``datastores`` are the names of the project datastores the job reads or writes; each
    one with a ``credential`` contributes that credential. Problems go to ``issues``.
    """
    uses: list[CredentialUse] = []
    for path, kind, purpose in _TEMPLATE_REFS:
        cid = doc.get(path)
        if cid is None:
            continue
        pos = doc.pos(path)
        if not _check_name(issues, pos, cid, "credential_id"):
            continue
        decl = config.credentials.get(cid)
        if decl is not None and decl.kind != kind:
            issues.error(
                pos,
                f"credential '{cid}' is declared in pfgen.yaml as type {decl.kind}, but {'.'.join(map(str, path[:-1]))} "
                f"needs a {kind} credential",
            )
            continue
        registries: tuple[str, ...] = ()
        if kind == "docker":
            registries = tuple(sorted(({registry_host(image)} if image else set()) | set(decl.registries if decl else ())))
            if not registries:
                registries = (DOCKER_HUB,)
        uses.append(
            CredentialUse(
                cid, kind, decl.secret_name if decl else cid, purpose, registries, decl.remote_key if decl else None, doc.file, pos
            )
        )
    for name in datastores:
        entry = config.datastores.get(name)
        if entry is None:
            continue
        cid, pos = entry
        decl = config.credentials.get(cid)
        if decl is None or decl.kind not in STORAGE_KINDS:
            continue  # reported by parse_config
        uses.append(CredentialUse(cid, decl.kind, decl.secret_name, f"datastore {name}", (), decl.remote_key, config.file, pos))

    # One process environment holds one AWS / Azure / GCS identity: two different credentials
    # of the same storage kind in one job cannot both be wired.
    seen: dict[str, CredentialUse] = {}
    unique: list[CredentialUse] = []
    for use in uses:
        prior = seen.get(use.kind)
        if prior is not None and use.kind in STORAGE_KINDS:
            if prior.id != use.id:
                issues.error(
                    use.pos,
                    f"this job would use two {use.kind} credentials ('{prior.id}' for {prior.purpose} and '{use.id}' "
                    f"for {use.purpose}); a pod has one set of {use.kind} environment variables, so use one credential",
                )
            continue
        seen[use.kind] = use
        unique.append(use)

    channel = doc.get(("plugin", "slack", "channel"))
    if doc.get(("plugin", "slack")) is not None and not isinstance(channel, str):
        issues.error(doc.pos(("plugin", "slack")), "plugin.slack needs a 'channel' (the channel name, e.g. '#training')")
        channel = None

    from pfgen.emit.secrets import pod_env_names

    user_env = doc.get(("job_setting", "docker", "env_var")) or {}
    wired = {name: use for use in unique for name in pod_env_names([use], channel)}
    for name in user_env:
        if name in wired:
            use = wired[name]
            issues.error(
                doc.key_pos(("job_setting", "docker", "env_var", name)),
                f"{name} is set by pfgen from credential '{use.id}' ({use.purpose}); remove it from env_var",
            )
    return tuple(unique), channel
