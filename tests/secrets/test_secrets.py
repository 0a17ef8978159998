"""Secret specs end to end, through the real `pfgen` command line.

The fixture project tests/fixtures/credentials has three templates that together use every
credential kind (docker from two registries, wandb, slack, s3, azure-blob, gcs).
Golden files live in tests/golden/credentials/; regenerate them with
PFGEN_REGEN_GOLDEN=1 pytest tests/secrets/test_secrets.py.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import load_stream as docs

HERE = Path(__file__).parent.parent
PROJECT = HERE / "fixtures" / "credentials"
GOLDEN = HERE / "golden" / "credentials"
REGEN = os.environ.get("PFGEN_REGEN_GOLDEN") == "1"

# Fake, distinctive values: the scan looks for each of them (and their base64) in every output.
GCS_KEY = json.dumps(
    {
        "type": "service_account",
        "project_id": "acme-ml",
        "private_key_id": "fake0private0key0id0c0ffee",
        "private_key": "-----BEGIN PRIVATE KEY-----\nZmFrZS1nY3Mta2V5LWJvZHktOTE3Mg==\n-----END PRIVATE KEY-----\n",
        "client_email": "trainer@acme-ml.iam.gserviceaccount.com",
    },
    sort_keys=True,
)
VALUES = {
    "PFGEN_SECRET_GHCR_PULL_USERNAME": "robot$acme+ci",
    "PFGEN_SECRET_GHCR_PULL_PASSWORD": 'fake-registry-pass"5a1d\\',
    "PFGEN_SECRET_WANDB_TEAM_API_KEY": "fakewandbkey0000000000000000000000000a9c3",
    "PFGEN_SECRET_SLACK_BOT_TOKEN": "fake-slack-token-44b0e1",
    "PFGEN_SECRET_S3_MAIN_AWS_ACCESS_KEY_ID": "FAKEACCESSKEYID7Q2R",
    "PFGEN_SECRET_S3_MAIN_AWS_SECRET_ACCESS_KEY": "fake/aws/secret+access+key/8c1e5f",
    "PFGEN_SECRET_S3_MAIN_AWS_DEFAULT_REGION": "eu-north-1",
    "PFGEN_SECRET_BLOB_STORAGE_ACCOUNT_NAME": "fakeacmeaccount31",
    "PFGEN_SECRET_BLOB_STORAGE_ACCOUNT_KEY": "fake+azure+account+key+d00d==",
    "PFGEN_SECRET_GCS_KEY_KEY_JSON": GCS_KEY,
}


def cli(*args: str, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    """The real CLI, with exactly the PFGEN_SECRET_* variables given (none from the caller's environment)."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("PFGEN_SECRET_")}
    environ.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "pfgen", *args], cwd=cwd, env=environ, capture_output=True, text=True, timeout=120
    )


@pytest.fixture()
def project(tmp_path: Path) -> Path:
    """A copy of the fixture project, so builds write below it with stable relative paths."""
    target = tmp_path / "project"
    shutil.copytree(PROJECT, target)
    return target


def golden(name: str, actual: str) -> None:
    path = GOLDEN / name
    if REGEN:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(actual, encoding="utf-8")
    assert path.is_file(), f"missing golden file {path}; run with PFGEN_REGEN_GOLDEN=1"
    assert actual == path.read_text(encoding="utf-8"), f"{name} differs from its golden file"


def tree(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): p.read_text(encoding="utf-8") for p in sorted(root.rglob("*")) if p.is_file()}


# --- env mode ---------------------------------------------------------------------------------


def test_env_mode_prints_secrets_for_every_credential_kind(project):
    result = cli("secrets", cwd=project, env=VALUES)
    assert result.returncode == 0, result.stderr
    golden("secrets.yaml", result.stdout)
    objects = docs(result.stdout)
    assert [(o["kind"], o["metadata"]["name"], o["type"]) for o in objects] == [
        ("Secret", "aws-training", "Opaque"),
        ("Secret", "blob", "Opaque"),
        ("Secret", "gcs-key", "Opaque"),
        ("Secret", "ghcr-pull", "kubernetes.io/dockerconfigjson"),
        ("Secret", "slack-bot", "Opaque"),
        ("Secret", "wandb", "Opaque"),
    ]
    assert all(o["metadata"]["namespace"] == "ml-team" for o in objects)
    data = {o["metadata"]["name"]: {k: base64.b64decode(v).decode() for k, v in o["data"].items()} for o in objects}
    assert data["aws-training"] == {
        "aws_access_key_id": VALUES["PFGEN_SECRET_S3_MAIN_AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": VALUES["PFGEN_SECRET_S3_MAIN_AWS_SECRET_ACCESS_KEY"],
        "aws_default_region": "eu-north-1",
    }
    assert data["gcs-key"] == {"key.json": GCS_KEY}
    assert data["wandb"] == {"api_key": VALUES["PFGEN_SECRET_WANDB_TEAM_API_KEY"]}
    assert list(project.rglob("deploy")) == [], "pfgen secrets must not write anything"


def test_dockerconfigjson_has_an_auths_entry_per_registry_of_the_jobs_images(project):
    result = cli("secrets", cwd=project, env=VALUES)
    [secret] = [o for o in docs(result.stdout) if o["metadata"]["name"] == "ghcr-pull"]
    config = json.loads(base64.b64decode(secret["data"][".dockerconfigjson"]))
    user, password = VALUES["PFGEN_SECRET_GHCR_PULL_USERNAME"], VALUES["PFGEN_SECRET_GHCR_PULL_PASSWORD"]
    expected = {"username": user, "password": password, "auth": base64.b64encode(f"{user}:{password}".encode()).decode()}
    # train uses ghcr.io/acme/trainer, azure-job the Docker Hub image acme/trainer.
    assert config == {"auths": {"ghcr.io": expected, "https://index.docker.io/v1/": expected}}


def test_every_missing_variable_is_listed_in_one_error(project):
    partial = {k: v for k, v in VALUES.items() if "S3_MAIN" not in k and "GHCR" not in k}
    result = cli("secrets", cwd=project, env=partial)
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    missing = sorted(line.split("set environment variable ")[1].split()[0] for line in lines if "set environment variable" in line)
    assert missing == [
        "PFGEN_SECRET_GHCR_PULL_PASSWORD",
        "PFGEN_SECRET_GHCR_PULL_USERNAME",
        "PFGEN_SECRET_S3_MAIN_AWS_ACCESS_KEY_ID",
        "PFGEN_SECRET_S3_MAIN_AWS_DEFAULT_REGION",
        "PFGEN_SECRET_S3_MAIN_AWS_SECRET_ACCESS_KEY",
    ]
    assert "pfgen.yaml:28:17: error: credential 's3-main' (s3, datastore imagenet)" in result.stderr
    assert "azure-job/pf-template.yml:10:20: error: credential 'ghcr-pull' (docker, image pull)" in result.stderr


def test_a_gcs_variable_must_hold_the_key_file_json(project):
    result = cli("secrets", "gcs-job", cwd=project, env={**VALUES, "PFGEN_SECRET_GCS_KEY_KEY_JSON": "/path/to/key.json"})
    assert result.returncode == 2
    assert "PFGEN_SECRET_GCS_KEY_KEY_JSON must hold the service-account key file's JSON" in result.stderr
    assert "/path/to/key.json" not in result.stderr


def test_env_mode_refuses_to_write_a_file(project):
    result = cli("secrets", "-o", "secrets.yaml", cwd=project, env=VALUES)
    assert result.returncode == 2
    assert "never writes them to a file" in result.stderr
    assert not (project / "secrets.yaml").exists()
    assert result.stdout == ""


def test_secrets_for_selected_templates_only(project):
    result = cli("secrets", "gcs-job/pf-template.yml", cwd=project, env=VALUES)
    assert result.returncode == 0, result.stderr
    assert [o["metadata"]["name"] for o in docs(result.stdout)] == ["gcs-key", "wandb"]


# --- build: wiring and external mode ------------------------------------------------------------


def test_build_wires_credentials_into_the_pods(project):
    result = cli("build", cwd=project)
    assert result.returncode == 0, result.stderr
    out = tree(project / "deploy")
    golden("deploy-env.txt", "".join(f"=== {name}\n{text}" for name, text in out.items()))
    assert not any("kind: Secret" in text or "ExternalSecret" in text for text in out.values())
    job = yaml.safe_load(out["train/pytorchjob.yaml"])
    for replica in ("Master", "Worker"):
        pod = job["spec"]["pytorchReplicaSpecs"][replica]["template"]["spec"]
        assert pod["imagePullSecrets"] == [{"name": "ghcr-pull"}]
        env = {e["name"]: e for e in pod["containers"][0]["env"]}
        assert env["WANDB_API_KEY"]["valueFrom"] == {"secretKeyRef": {"name": "wandb", "key": "api_key"}}
        assert env["SLACK_BOT_TOKEN"]["valueFrom"] == {"secretKeyRef": {"name": "slack-bot", "key": "token"}}
        assert env["SLACK_CHANNEL"] == {"name": "SLACK_CHANNEL", "value": "#training"}
        for name, key in (("AWS_ACCESS_KEY_ID", "aws_access_key_id"), ("AWS_SECRET_ACCESS_KEY", "aws_secret_access_key"),
                          ("AWS_DEFAULT_REGION", "aws_default_region"), ("AWS_REGION", "aws_default_region")):
            assert env[name]["valueFrom"] == {"secretKeyRef": {"name": "aws-training", "key": key}}
    azure = yaml.safe_load(out["azure-job/pytorchjob.yaml"])["spec"]["pytorchReplicaSpecs"]["Master"]["template"]["spec"]
    env = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in azure["containers"][0]["env"] if "valueFrom" in e}
    assert env == {
        "AZURE_STORAGE_ACCOUNT": {"name": "blob", "key": "storage_account_name"},
        "AZURE_STORAGE_KEY": {"name": "blob", "key": "storage_account_key"},
        "AZURE_STORAGE_ACCOUNT_NAME": {"name": "blob", "key": "storage_account_name"},
        "AZURE_STORAGE_ACCOUNT_KEY": {"name": "blob", "key": "storage_account_key"},
    }
    gcs = yaml.safe_load(out["gcs-job/pytorchjob.yaml"])["spec"]["pytorchReplicaSpecs"]["Master"]["template"]["spec"]
    container = gcs["containers"][0]
    assert {"name": "gcs-credentials", "mountPath": "/var/run/secrets/pfgen/gcs", "readOnly": True} in container["volumeMounts"]
    assert {"name": "gcs-credentials", "secret": {"secretName": "gcs-key", "items": [{"key": "key.json", "path": "key.json"}]}} in gcs["volumes"]
    assert {"name": "GOOGLE_APPLICATION_CREDENTIALS", "value": "/var/run/secrets/pfgen/gcs/key.json"} in container["env"]
    assert "imagePullSecrets" not in gcs


def test_external_mode_build_writes_external_secrets(project):
    result = cli("build", "--secrets-mode", "external", cwd=project)
    assert result.returncode == 0, result.stderr
    out = tree(project / "deploy")
    golden("deploy-external.txt", "".join(f"=== {name}\n{text}" for name, text in out.items()))
    # Written once for all jobs (two jobs share ghcr-pull and wandb), listed by the root kustomization.
    assert yaml.safe_load(out["kustomization.yaml"])["resources"] == ["_secrets", "azure-job", "gcs-job", "train"]
    assert yaml.safe_load(out["_secrets/kustomization.yaml"])["resources"] == ["externalsecret.yaml"]
    assert "externalsecret.yaml" not in yaml.safe_load(out["train/kustomization.yaml"])["resources"]
    secrets = {s["metadata"]["name"]: s for s in docs(out["_secrets/externalsecret.yaml"])}
    assert list(secrets) == ["aws-training", "blob", "gcs-key", "ghcr-pull", "slack-bot", "wandb"]
    aws = secrets["aws-training"]["spec"]
    assert aws["secretStoreRef"] == {"name": "vault", "kind": "ClusterSecretStore"}
    assert {"secretKey": "aws_secret_access_key", "remoteRef": {"key": "pfgen/s3-main", "property": "aws_secret_access_key"}} in aws["data"]
    assert secrets["blob"]["spec"]["data"][0]["remoteRef"]["key"] == "azure/blob-main"
    docker = secrets["ghcr-pull"]["spec"]["target"]["template"]
    assert docker["type"] == "kubernetes.io/dockerconfigjson"
    assert '"ghcr.io":{' in docker["data"][".dockerconfigjson"] and '"https://index.docker.io/v1/":{' in docker["data"][".dockerconfigjson"]
    # render shows one job's ExternalSecrets with it, for `pfgen render | kubectl apply -f -`.
    rendered = cli("render", "--secrets-mode", "external", "gcs-job/pf-template.yml", cwd=project)
    assert [(o["kind"], o["metadata"]["name"]) for o in docs(rendered.stdout)] == [
        ("PyTorchJob", "gcs-job"), ("ExternalSecret", "gcs-key"), ("ExternalSecret", "wandb")]


def test_external_mode_needs_a_store(project):
    config = project / "pfgen.yaml"
    config.write_text(config.read_text().replace("  store:\n    name: vault\n    kind: ClusterSecretStore\n", ""))
    result = cli("build", "--secrets-mode", "external", cwd=project)
    assert result.returncode == 2
    assert "pfgen.yaml:2:1: error: secrets mode 'external' needs the store to read from" in result.stderr
    assert not (project / "deploy").exists()


def test_env_var_that_the_wiring_sets_is_refused(project):
    template = project / "train" / "pf-template.yml"
    template.write_text(template.read_text().replace('      BATCH_SIZE: "32"\n', '      BATCH_SIZE: "32"\n      SLACK_CHANNEL: "#other"\n'))
    result = cli("validate", cwd=project)
    assert result.returncode == 2
    assert "train/pf-template.yml:15:7: error: SLACK_CHANNEL is set by pfgen from credential 'slack-bot'" in result.stderr


def test_plaintext_in_config_and_template_is_refused_by_validate(tmp_path):
    shutil.copytree(HERE / "fixtures" / "plaintext", tmp_path / "p")
    result = cli("validate", cwd=tmp_path / "p")
    assert result.returncode == 2
    assert "pfgen.yaml:5:28: error: 'aws_secret_access_key' holds what looks like a secret" in result.stderr
    (tmp_path / "p" / "pfgen.yaml").write_text("namespace: ml-team\n")
    result = cli("validate", cwd=tmp_path / "p")
    assert "pf-template.yml:12:15: error: 'password' holds what looks like a secret; secrets never go in a template" in result.stderr
    assert "pf-template.yml:17:21: error: this value contains an AWS access key id" in result.stderr


# --- the scan: no secret value in any written file or rendered output ------------------------


def _needles() -> list[str]:
    needles = set()
    for value in VALUES.values():
        needles.add(value)
        needles.add(base64.b64encode(value.encode()).decode().rstrip("="))
    user, password = VALUES["PFGEN_SECRET_GHCR_PULL_USERNAME"], VALUES["PFGEN_SECRET_GHCR_PULL_PASSWORD"]
    needles.add(base64.b64encode(f"{user}:{password}".encode()).decode().rstrip("="))
    needles.add(json.loads(GCS_KEY)["private_key_id"])
    return sorted(needles)


@pytest.mark.parametrize("mode", ["env", "external", "sealed"])
def test_no_secret_value_reaches_build_output_or_render(project, mode):
    result = cli("build", "--secrets-mode", mode, cwd=project, env=VALUES)
    assert result.returncode == 0, result.stderr
    outputs = {f"deploy/{name}": text for name, text in tree(project / "deploy").items()}
    assert len(outputs) >= 7
    outputs["build stdout+stderr"] = result.stdout + result.stderr
    for template in ("train", "azure-job", "gcs-job"):
        for fmt in ("yaml", "json"):
            rendered = cli("render", "--secrets-mode", mode, "-o", fmt, f"{template}/pf-template.yml", cwd=project, env=VALUES)
            assert rendered.returncode == 0, rendered.stderr
            outputs[f"render {template} {fmt}"] = rendered.stdout + rendered.stderr
    leaks = [(needle, where) for needle in _needles() for where, text in outputs.items() if needle in text]
    assert leaks == []
    # Every file the project holds after the build, not just deploy/.
    for path in project.rglob("*"):
        if path.is_file():
            text = path.read_text(encoding="utf-8", errors="replace")
            assert not [n for n in _needles() if n in text], path
