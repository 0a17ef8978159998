"""Credentials in Kubernetes: pod wiring, Secret specs and ExternalSecrets.

Pure functions of the plan and of given values: no environment, no I/O, no user errors
(reading the values and the checks across jobs are :mod:`pfgen.secrets.objects`). How each credential reaches
the training container is documented in docs/credentials.md:

============  ===================================================================
docker        ``imagePullSecrets`` (Secret of type kubernetes.io/dockerconfigjson)
wandb         ``WANDB_API_KEY``
slack         ``SLACK_BOT_TOKEN`` (secret) and ``SLACK_CHANNEL`` (plain value)
s3            ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_DEFAULT_REGION``
              (botocore, AWS CLI) and ``AWS_REGION`` (the other AWS SDKs)
azure-blob    ``AZURE_STORAGE_ACCOUNT``/``AZURE_STORAGE_KEY`` (Azure CLI) and
              ``AZURE_STORAGE_ACCOUNT_NAME``/``AZURE_STORAGE_ACCOUNT_KEY`` (adlfs/fsspec)
gcs           key file mounted read-only, ``GOOGLE_APPLICATION_CREDENTIALS`` (google-auth)
============  ===================================================================
"""

from __future__ import annotations

import base64
import json

from pfgen.secrets.credentials import KINDS, SecretsConfig, auth_key
from pfgen.emit import tree_copy
from pfgen.kube.names import CONTAINER
from pfgen.resolve.plan import CredentialUse, JobPlan

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Iterable, Mapping, Optional

MANAGED_BY = {"app.kubernetes.io/managed-by": "pfgen"}
GCS_VOLUME = "gcs-credentials"
GCS_DIR = "/var/run/secrets/pfgen/gcs"
GCS_KEY = "key.json"
ESO_API = "external-secrets.io/v1"
DOCKER_JSON_KEY = ".dockerconfigjson"

# (environment variable in the pod, key in the Secret), per kind, in the order they are emitted.
POD_ENV: dict[str, tuple[tuple[str, str], ...]] = {
    "wandb": (("WANDB_API_KEY", "api_key"),),
    "slack": (("SLACK_BOT_TOKEN", "token"),),
    "s3": (
        ("AWS_ACCESS_KEY_ID", "aws_access_key_id"),
        ("AWS_SECRET_ACCESS_KEY", "aws_secret_access_key"),
        ("AWS_DEFAULT_REGION", "aws_default_region"),
        ("AWS_REGION", "aws_default_region"),
    ),
    "azure-blob": (
        ("AZURE_STORAGE_ACCOUNT", "storage_account_name"),
        ("AZURE_STORAGE_KEY", "storage_account_key"),
        ("AZURE_STORAGE_ACCOUNT_NAME", "storage_account_name"),
        ("AZURE_STORAGE_ACCOUNT_KEY", "storage_account_key"),
    ),
    "gcs": (),
    "docker": (),
}
SLACK_CHANNEL_ENV = "SLACK_CHANNEL"
GOOGLE_CREDENTIALS_ENV = "GOOGLE_APPLICATION_CREDENTIALS"


def pod_env_names(uses: Iterable[CredentialUse], slack_channel: Optional[str] = None) -> list[str]:
    """The environment variable names the wiring sets (to catch clashes with the template's env_var)."""
    names: list[str] = []
    for use in uses:
        names += [name for name, _ in POD_ENV[use.kind]]
        if use.kind == "gcs":
            names.append(GOOGLE_CREDENTIALS_ENV)
        if use.kind == "slack" and slack_channel is not None:
            names.append(SLACK_CHANNEL_ENV)
    return names


# ---------------------------------------------------------------------------------------------
# Wiring into the pod.


def env(plan: JobPlan) -> list[dict]:
    """Environment entries of the training container for the plan's credentials."""
    out: list[dict] = []
    for use in ordered(plan.credentials):
        for name, key in POD_ENV[use.kind]:
            out.append({"name": name, "valueFrom": {"secretKeyRef": {"name": use.secret_name, "key": key}}})
        if use.kind == "gcs":
            out.append({"name": GOOGLE_CREDENTIALS_ENV, "value": f"{GCS_DIR}/{GCS_KEY}"})
        if use.kind == "slack" and plan.slack_channel is not None:
            out.append({"name": SLACK_CHANNEL_ENV, "value": plan.slack_channel})
    return out


def volumes(plan: JobPlan) -> list[dict]:
    return [
        {"name": GCS_VOLUME, "secret": {"secretName": use.secret_name, "items": [{"key": GCS_KEY, "path": GCS_KEY}]}}
        for use in plan.credentials
        if use.kind == "gcs"
    ]


def volume_mounts(plan: JobPlan) -> list[dict]:
    return [{"name": GCS_VOLUME, "mountPath": GCS_DIR, "readOnly": True} for use in plan.credentials if use.kind == "gcs"]


def image_pull_secrets(plan: JobPlan) -> list[dict]:
    names = list(plan.image_pull_secrets)
    names += [use.secret_name for use in plan.credentials if use.kind == "docker" and use.secret_name not in names]
    return [{"name": name} for name in names]


def wire(job: dict, plan: JobPlan) -> dict:
    """A copy of a PyTorchJob (or any object with pod templates under spec.pytorchReplicaSpecs)
    with the plan's credentials wired into every replica's pod and its ``pytorch`` container
    (``job`` itself when there is nothing to wire)."""
    add_env, add_volumes, add_mounts, pull = env(plan), volumes(plan), volume_mounts(plan), image_pull_secrets(plan)
    if not (add_env or add_volumes or add_mounts or pull):
        return job
    job = tree_copy(job)
    for replica in (job.get("spec", {}).get("pytorchReplicaSpecs") or {}).values():
        pod = replica["template"].setdefault("spec", {})
        if pull:
            present = pod.setdefault("imagePullSecrets", [])
            present += [entry for entry in pull if entry not in present]
        if add_volumes:
            pod.setdefault("volumes", []).extend(tree_copy(add_volumes))
        for container in pod.get("containers", []):
            if container.get("name") != CONTAINER:
                continue
            if add_env:
                container.setdefault("env", []).extend(tree_copy(add_env))
            if add_mounts:
                container.setdefault("volumeMounts", []).extend(tree_copy(add_mounts))
    return job


_KIND_ORDER = {name: index for index, name in enumerate(KINDS)}


def ordered(uses: Iterable[CredentialUse]) -> list[CredentialUse]:
    return sorted(uses, key=lambda u: (_KIND_ORDER[u.kind], u.secret_name))


def _meta(use: CredentialUse, namespace: Optional[str]) -> dict:
    meta: dict = {"name": use.secret_name, "labels": dict(MANAGED_BY)}
    if namespace:
        meta["namespace"] = namespace
    return meta


# ---------------------------------------------------------------------------------------------
# env mode: Secret objects from the values pfgen.secrets.objects read (printed, never written).


def dockerconfigjson(registries: Iterable[str], username: str, password: str) -> str:
    """The ``.dockerconfigjson`` document ``docker login`` / ``kubectl create secret docker-registry`` produce."""
    auth = base64.b64encode(f"{username}:{password}".encode()).decode()
    entry = {"username": username, "password": password, "auth": auth}
    return json.dumps({"auths": {auth_key(host): entry for host in sorted(registries)}}, sort_keys=True, separators=(",", ":"))


def secret_data(use: CredentialUse, fields: Mapping[str, str]) -> dict[str, str]:
    """The Secret's ``data`` (key -> plain text; base64 is applied by :func:`secret_object`)."""
    if use.kind == "docker":
        return {DOCKER_JSON_KEY: dockerconfigjson(use.registries, fields["username"], fields["password"])}
    return dict(fields)


def secret_object(use: CredentialUse, namespace: Optional[str], fields: Mapping[str, str]) -> dict:
    data = secret_data(use, fields)
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": _meta(use, namespace),
        "type": KINDS[use.kind].secret_type,
        "data": {key: base64.b64encode(value.encode()).decode() for key, value in data.items()},
    }


# ---------------------------------------------------------------------------------------------
# external mode: ExternalSecret objects (External Secrets Operator, external-secrets.io/v1).


def remote_key(use: CredentialUse, prefix: str) -> str:
    return use.remote_key if use.remote_key is not None else prefix + use.id


def _docker_template(registries: Iterable[str]) -> str:
    # Go template (ESO engine v2, sprig functions): toJson quotes and escapes each value.
    entry = (
        '{"auth":{{ printf "%s:%s" .username .password | b64enc | toJson }},'
        '"password":{{ .password | toJson }},"username":{{ .username | toJson }}}'
    )
    auths = ",".join(f"{json.dumps(auth_key(host))}:{entry}" for host in sorted(registries))
    return '{"auths":{' + auths + "}}"


def external_secret(
    use: CredentialUse,
    namespace: Optional[str],
    *,
    store_name: str,
    store_kind: str = "ClusterSecretStore",
    refresh_interval: str = "1h",
    prefix: str = "",
) -> dict:
    key = remote_key(use, prefix)
    target: dict = {"name": use.secret_name, "creationPolicy": "Owner"}
    if use.kind == "docker":
        target["template"] = {
            "type": KINDS["docker"].secret_type,
            "engineVersion": "v2",
            "data": {DOCKER_JSON_KEY: _docker_template(use.registries)},
        }
    return {
        "apiVersion": ESO_API,
        "kind": "ExternalSecret",
        "metadata": _meta(use, namespace),
        "spec": {
            "refreshInterval": refresh_interval,
            "secretStoreRef": {"name": store_name, "kind": store_kind},
            "target": target,
            "data": [
                {"secretKey": field.key, "remoteRef": {"key": key, "property": field.key}}
                for field in KINDS[use.kind].fields
            ],
        },
    }


def external_secret_for(use: CredentialUse, namespace: Optional[str], settings: SecretsConfig) -> dict:
    return external_secret(use, namespace, store_name=settings.store_name or "", store_kind=settings.store_kind,
                           refresh_interval=settings.refresh_interval, prefix=settings.remote_key_prefix)
