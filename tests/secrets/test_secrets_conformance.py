"""Emitted secret objects against the real schemas, and SealedSecrets against the kubeseal wire format.

* Secrets and the wired pods: kubernetes-validate --strict (ships the Kubernetes OpenAPI
  schemas, runs offline).
* ExternalSecret / SealedSecret: the upstream CRDs recorded in tests/conformance/schemas
  (see SOURCES.md there), with unknown fields rejected as `kubectl --validate=strict` does.
* SealedSecret round trip: sealed by `pfgen secrets --seal` with a test certificate, opened
  here with the private key by an independent implementation of sealed-secrets' HybridDecrypt.
"""

from __future__ import annotations

import base64
import copy
import datetime
import struct
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml

from conftest import load_stream as docs, strictify
from test_secrets import VALUES, cli, project  # noqa: F401  (project is a fixture)

SCHEMAS = Path(__file__).parent.parent / "conformance" / "schemas"


def kubernetes_validate(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "kubernetes_validate", "--strict", "--no-warn", str(path)],
        capture_output=True, text=True, timeout=300,
    )


def crd_validator(file: str, version: str) -> jsonschema.Draft7Validator:
    crd = yaml.safe_load((SCHEMAS / file).read_text())
    [entry] = [v for v in crd["spec"]["versions"] if v["name"] == version]
    assert entry["served"], f"{file} {version} is not served"
    return jsonschema.Draft7Validator(strictify(entry["schema"]["openAPIV3Schema"]))


def errors(validator: jsonschema.Draft7Validator, obj: dict) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(obj)]


# --- core kinds ---------------------------------------------------------------------------------


def test_secrets_pass_kubernetes_validate_strict(project, tmp_path):
    result = cli("secrets", cwd=project, env=VALUES)
    assert result.returncode == 0, result.stderr
    manifest = tmp_path / "secrets.yaml"
    manifest.write_text(result.stdout)  # fake values, in the test's temporary directory
    checked = kubernetes_validate(manifest)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.count(" passed for resource secret/") == 6


def test_kubernetes_validate_strict_is_not_a_rubber_stamp(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: v1\nkind: Secret\nmetadata:\n  name: x\ntype: Opaque\ndata:\n  k: dg==\nstringdata:\n  a: b\n")
    assert kubernetes_validate(bad).returncode != 0


def test_wired_pods_pass_kubernetes_validate_strict(project, tmp_path):
    result = cli("build", cwd=project)
    assert result.returncode == 0, result.stderr
    pods = []
    for path in sorted((project / "deploy").glob("*/pytorchjob.yaml")):
        job = yaml.safe_load(path.read_text())
        for replica, spec in job["spec"]["pytorchReplicaSpecs"].items():
            pods.append({"apiVersion": "v1", "kind": "Pod",
                         "metadata": {"name": f"{job['metadata']['name']}-{replica.lower()}"}, "spec": spec["template"]["spec"]})
    assert len(pods) == 4
    manifest = tmp_path / "pods.yaml"
    manifest.write_text(yaml.safe_dump_all(pods))
    checked = kubernetes_validate(manifest)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.count(" passed for resource pod/") == 4


# --- CRD kinds ----------------------------------------------------------------------------------


def test_external_secrets_match_the_upstream_crd(project):
    validator = crd_validator("external-secrets.io_externalsecrets.yaml", "v1")
    result = cli("secrets", "--mode", "external", cwd=project)
    assert result.returncode == 0, result.stderr
    objects = docs(result.stdout)
    assert len(objects) == 6
    for obj in objects:
        assert obj["apiVersion"] == "external-secrets.io/v1"
        assert errors(validator, obj) == []
    broken = copy.deepcopy(objects[0])
    broken["spec"]["data"][0]["remoteRef"]["propety"] = "typo"
    del broken["spec"]["data"][1]["remoteRef"]["key"]
    assert len(errors(validator, broken)) == 2


@pytest.fixture(scope="module")
def controller_key(tmp_path_factory):
    """A test RSA key pair and self-signed certificate, like the controller's sealing key."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sealed-secret")])
    now = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(1).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=3650))
        .sign(key, hashes.SHA256())
    )
    path = tmp_path_factory.mktemp("controller") / "cert.pem"
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return key, path


def unseal(private_key, value: str, label: bytes) -> bytes:
    """sealed-secrets HybridDecrypt: uint16 len || RSA-OAEP(SHA-256, label) session key || AES-256-GCM, zero nonce."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    blob = base64.b64decode(value, validate=True)
    (rsa_len,) = struct.unpack(">H", blob[:2])
    assert rsa_len == private_key.key_size // 8
    session_key = private_key.decrypt(
        blob[2:2 + rsa_len], padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=label)
    )
    assert len(session_key) == 32
    return AESGCM(session_key).decrypt(b"\0" * 12, blob[2 + rsa_len:], None)


@pytest.mark.parametrize(
    "scope, label, annotations",
    [
        ("strict", "ml-team/{name}", {}),
        ("namespace-wide", "ml-team", {"sealedsecrets.bitnami.com/namespace-wide": "true"}),
        ("cluster-wide", "", {"sealedsecrets.bitnami.com/cluster-wide": "true"}),
    ],
)
def test_sealed_secrets_round_trip(project, controller_key, scope, label, annotations):
    private_key, cert = controller_key
    plain = {o["metadata"]["name"]: o for o in docs(cli("secrets", cwd=project, env=VALUES).stdout)}
    out = project / "sealed.yaml"
    result = cli("secrets", "--seal", "--cert", str(cert), "--scope", scope, "-o", str(out), cwd=project, env=VALUES)
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    text = out.read_text()
    assert text.startswith("# Sealed secret specs made by `pfgen secrets`")
    sealed = docs(text)
    validator = crd_validator("bitnami.com_sealedsecrets.yaml", "v1alpha1")
    assert sorted(s["metadata"]["name"] for s in sealed) == sorted(plain)
    for obj in sealed:
        name = obj["metadata"]["name"]
        assert obj["apiVersion"] == "bitnami.com/v1alpha1" and obj["kind"] == "SealedSecret"
        assert errors(validator, obj) == []
        assert obj["metadata"]["namespace"] == "ml-team"
        assert obj["metadata"].get("annotations", {}) == annotations
        template = obj["spec"]["template"]
        assert template["type"] == plain[name]["type"]
        assert template["metadata"]["name"] == name and template["metadata"]["namespace"] == "ml-team"
        assert template["metadata"].get("annotations", {}) == annotations
        assert template["metadata"]["labels"] == {"app.kubernetes.io/managed-by": "pfgen"}
        opened = {k: unseal(private_key, v, label.format(name=name).encode()) for k, v in obj["spec"]["encryptedData"].items()}
        assert opened == {k: base64.b64decode(v) for k, v in plain[name]["data"].items()}
    if scope == "strict":  # bound to its name: the label of another Secret does not open it
        value = next(iter(sealed[0]["spec"]["encryptedData"].values()))
        with pytest.raises(ValueError):
            unseal(private_key, value, b"ml-team/another-name")


def test_sealing_twice_gives_fresh_ciphertext(project, controller_key):
    _, cert = controller_key
    first = cli("secrets", "--seal", "--cert", str(cert), "gcs-job", cwd=project, env=VALUES).stdout
    second = cli("secrets", "--seal", "--cert", str(cert), "gcs-job", cwd=project, env=VALUES).stdout
    assert docs(first)[0]["spec"]["encryptedData"] != docs(second)[0]["spec"]["encryptedData"]
    assert VALUES["PFGEN_SECRET_WANDB_TEAM_API_KEY"] not in first


def test_sealing_needs_a_certificate_and_a_namespace(project, controller_key):
    _, cert = controller_key
    result = cli("secrets", "--seal", cwd=project, env=VALUES)
    assert result.returncode == 2 and "pass --cert CERT" in result.stderr
    result = cli("secrets", "--seal", "--cert", "missing.pem", cwd=project, env=VALUES)
    assert result.returncode == 2 and "missing.pem:1:1: error: no such file" in result.stderr
    config = project / "pfgen.yaml"
    config.write_text(config.read_text().replace("namespace: ml-team\n", ""))
    result = cli("secrets", "--seal", "--cert", str(cert), cwd=project, env=VALUES)
    assert result.returncode == 2 and "a strict SealedSecret is bound to its namespace" in result.stderr
    result = cli("secrets", "--seal", "--scope", "cluster-wide", "--cert", str(cert), cwd=project, env=VALUES)
    assert result.returncode == 0, result.stderr
    assert all("namespace" not in o["metadata"] for o in docs(result.stdout))


def test_sealed_mode_and_cert_from_pfgen_yaml(project, controller_key):
    _, cert = controller_key
    (project / "cert.pem").write_bytes(cert.read_bytes())
    config = project / "pfgen.yaml"
    config.write_text(config.read_text().replace("  mode: env\n", "  mode: sealed\n  cert: cert.pem\n").replace("scope: strict", "scope: namespace-wide"))
    result = cli("secrets", "train", cwd=project / "gcs-job", env=VALUES)
    assert result.returncode != 0  # a path that does not exist from gcs-job/
    result = cli("secrets", "gcs-job", cwd=project, env=VALUES)
    assert result.returncode == 0, result.stderr
    objects = docs(result.stdout)
    assert [o["kind"] for o in objects] == ["SealedSecret", "SealedSecret"]
    assert objects[0]["metadata"]["annotations"] == {"sealedsecrets.bitnami.com/namespace-wide": "true"}


def test_build_in_sealed_mode_lists_the_sealed_file_and_keeps_it(project, controller_key):
    _, cert = controller_key
    assert cli("build", "--secrets-mode", "sealed", cwd=project).returncode == 0
    sealed = project / "deploy" / "sealed-secrets.yaml"
    result = cli("secrets", "--seal", "--cert", str(cert), "-o", str(sealed), cwd=project, env=VALUES)
    assert result.returncode == 0, result.stderr
    before = sealed.read_text()
    for _ in range(2):  # the first build adds it to the kustomization, the second finds nothing to do
        result = cli("build", "--secrets-mode", "sealed", cwd=project)
        assert result.returncode == 0, result.stderr
    assert sealed.read_text() == before
    root = yaml.safe_load((project / "deploy" / "kustomization.yaml").read_text())
    assert root["resources"] == ["azure-job", "gcs-job", "sealed-secrets.yaml", "train"]
    assert cli("build", "--check", "--secrets-mode", "sealed", cwd=project).returncode == 0
    assert cli("build", cwd=project).returncode == 0  # env mode: not listed, still kept
    assert sealed.read_text() == before
    assert "sealed-secrets.yaml" not in (project / "deploy" / "kustomization.yaml").read_text()


def test_a_non_rsa_or_non_pem_certificate_is_a_user_error(project, tmp_path):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    ec_key = tmp_path / "ec.pem"
    ec_key.write_bytes(ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    result = cli("secrets", "--seal", "--cert", str(ec_key), cwd=project, env=VALUES)
    assert result.returncode == 2 and "this certificate's key is not RSA" in result.stderr
    (tmp_path / "der.crt").write_bytes(b"\x30\x82\x01\x0a")
    result = cli("secrets", "--seal", "--cert", str(tmp_path / "der.crt"), cwd=project, env=VALUES)
    assert result.returncode == 2 and "expected a PEM certificate" in result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""
