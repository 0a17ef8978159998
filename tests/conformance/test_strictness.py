"""The conformance machinery itself: proof that it rejects what the cluster would reject."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conformance_support import kubernetes_validate, output_files
from pfgen.errors import ERROR
from pfgen.kube.schemas import strict_schema
from pfgen.kube.verify import check_object, verify_text


def _pytorchjob() -> dict:
    path = next(p for p in output_files() if p.name == "pytorchjob.yaml")
    return next(iter(yaml.safe_load_all(path.read_text(encoding="utf-8"))))


def _problems(obj: dict) -> list[str]:
    return [message for _, _, message in check_object(obj)]


def _container(job: dict, role: str = "Master") -> dict:
    return job["spec"]["pytorchReplicaSpecs"][role]["template"]["spec"]["containers"][0]


def test_the_reference_pytorchjob_verifies():
    assert _problems(_pytorchjob()) == []


def test_misspelled_container_field_is_rejected_with_position_and_suggestion():
    job = _pytorchjob()
    _container(job)["imagePullPolicyy"] = "Always"
    text = yaml.safe_dump(job, sort_keys=False)
    found = [d for d in verify_text(text, "job.yaml") if d.severity == ERROR]
    assert len(found) == 1
    diagnostic = found[0]
    assert "unknown field 'imagePullPolicyy'; did you mean 'imagePullPolicy'?" in diagnostic.message
    line = text.splitlines()[diagnostic.line - 1]
    assert line[diagnostic.col - 1:].startswith("imagePullPolicyy:")


@pytest.mark.parametrize(
    "where",
    [
        ("spec",),
        ("spec", "pytorchReplicaSpecs", "Master"),
        ("spec", "pytorchReplicaSpecs", "Master", "template"),
        ("spec", "pytorchReplicaSpecs", "Master", "template", "spec"),
        ("metadata",),  # a custom resource's metadata is checked as ObjectMeta
        ("spec", "pytorchReplicaSpecs", "Master", "template", "metadata"),
    ],
)
def test_an_unknown_field_fails_at_every_level(where):
    job = _pytorchjob()
    node = job
    for key in where:
        node = node.setdefault(key, {})
    node["surprise"] = "x"
    assert any("unknown field 'surprise'" in p for p in _problems(job))


@pytest.mark.parametrize(
    "mutate, expected",
    [
        (lambda j: _container(j)["ports"][0].update(containerPort=2**31), "is not a valid int32"),
        (lambda j: _container(j)["ports"][0].update(containerPort="6000"), "expected integer, got string"),
        (lambda j: _container(j)["env"].append(dict(_container(j)["env"][0])), "duplicate entry"),
        (lambda j: _container(j)["env"].append({"name": "1BAD", "value": "x"}), "environment variable name"),
        (lambda j: _container(j).update(name="PyTorch"), "one container must be named 'pytorch'"),
        (lambda j: j["spec"]["pytorchReplicaSpecs"]["Master"].update(replicas=2), "Master replicas must be set to 1"),
        (lambda j: j["metadata"].update(name="9cifar"), "PyTorchJob name '9cifar'"),
        (lambda j: j["metadata"]["labels"].update({"bad key!": "x"}), "label key 'bad key!'"),
        (lambda j: j["metadata"]["labels"].update({"ok": "line\nbreak"}), "label value"),
        (lambda j: _container(j)["volumeMounts"].append({"name": "nope", "mountPath": "/x"}), "names no volume"),
        (lambda j: _container(j)["resources"]["limits"].update(cpu="lots"), "does not match"),
        (lambda j: j["spec"].update(nprocPerNode=4), "expected string, got integer"),
        (lambda j: j["spec"]["pytorchReplicaSpecs"]["Master"]["template"]["spec"].update(nodeSelector={"bad key!": "x"}),
         "node selector key 'bad key!'"),
        (lambda j: j["spec"]["pytorchReplicaSpecs"]["Master"]["template"]["spec"].update(nodeSelector={"zone": "a b"}),
         "node selector value 'a b'"),
    ],
)
def test_values_the_cluster_rejects_are_rejected(mutate, expected):
    job = _pytorchjob()
    mutate(job)
    assert any(expected in p for p in _problems(job)), _problems(job)


def test_int_or_string_accepts_both():
    job = _pytorchjob()
    _container(job)["resources"]["limits"]["cpu"] = 2
    _container(job)["resources"]["requests"]["cpu"] = "500m"
    assert _problems(job) == []


def test_an_unknown_kind_fails():
    obj = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}
    assert any("no shipped schema covers example.com/v1 Widget" in p for p in _problems(obj))


def test_kubernetes_validate_alone_would_let_an_unknown_kind_pass_but_the_wrapper_does_not(tmp_path):
    path = tmp_path / "widget.yaml"
    path.write_text("apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\n", encoding="utf-8")
    binary = Path(sys.executable).parent / "kubernetes-validate"
    raw = subprocess.run([str(binary) if binary.exists() else "kubernetes-validate", "--strict", str(path)],
                         capture_output=True, text=True, check=False)
    assert raw.returncode == 0  # the upstream tool's behaviour this suite guards against
    assert kubernetes_validate(path, "1.36.0"), "the wrapper must report the unknown kind"


def test_kubernetes_validate_rejects_a_misspelled_core_field(tmp_path):
    path = tmp_path / "pvc.yaml"
    path.write_text(
        "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: {name: data}\n"
        "spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Gi}}, storageClassNam: x}\n",
        encoding="utf-8",
    )
    assert kubernetes_validate(path, "1.36.0")
    found = verify_text(path.read_text(encoding="utf-8"), "pvc.yaml")
    assert any("did you mean 'storageClassName'" in d.message for d in found)


def test_yaml_that_kubectl_would_read_differently_is_rejected():
    text = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {flag: yes}\n"
    assert any("YAML 1.1 reader" in d.message for d in verify_text(text, "c.yaml"))


def test_secret_data_must_be_base64():
    obj = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "data": {"k": "not base64!"}}
    assert any("is not a valid byte" in p for p in _problems(obj))


def test_strict_reading_keeps_open_objects_open():
    schema = {
        "type": "object",
        "properties": {
            "closed": {"type": "object", "properties": {"a": {"type": "string"}}},
            "open": {"type": "object", "properties": {"a": {}}, "x-kubernetes-preserve-unknown-fields": True},
            "map": {"type": "object", "additionalProperties": {"type": "string"}},
        },
    }
    strict = strict_schema(schema)
    assert strict["additionalProperties"] is False
    assert strict["properties"]["closed"]["additionalProperties"] is False
    assert "additionalProperties" not in strict["properties"]["open"]
    assert strict["properties"]["map"]["additionalProperties"] == {"type": "string"}


# Katib Experiment: the upstream pytorchjob-mnist example's shape (kubeflow-runtime.md 4.1).
def _experiment() -> dict:
    trial = _pytorchjob()
    del trial["metadata"]
    _container(trial)["command"] = ["bash", "-c", "python3 mnist.py --lr=${trialParameters.learningRate}"]
    if "Worker" in trial["spec"]["pytorchReplicaSpecs"]:
        _container(trial, "Worker")["command"] = _container(trial)["command"]
    return {
        "apiVersion": "kubeflow.org/v1beta1",
        "kind": "Experiment",
        "metadata": {"name": "mnist-lr", "namespace": "ml-team"},
        "spec": {
            "objective": {"type": "minimize", "goal": 0.001, "objectiveMetricName": "loss"},
            "algorithm": {"algorithmName": "random"},
            "parallelTrialCount": 3,
            "maxTrialCount": 12,
            "maxFailedTrialCount": 3,
            "parameters": [
                {"name": "lr", "parameterType": "double", "feasibleSpace": {"min": "0.01", "max": "0.05"}},
            ],
            "trialTemplate": {
                "primaryContainerName": "pytorch",
                "trialParameters": [{"name": "learningRate", "description": "lr", "reference": "lr"}],
                "trialSpec": trial,
            },
        },
    }


def test_a_katib_experiment_verifies():
    assert _problems(_experiment()) == []


@pytest.mark.parametrize(
    "mutate, expected",
    [
        (lambda e: e["spec"].update(maxTrialCont=3), "unknown field 'maxTrialCont'; did you mean 'maxTrialCount'?"),
        (lambda e: e["spec"]["objective"].update(goal="low"), "expected number, got string"),
        (lambda e: _container(e["spec"]["trialTemplate"]["trialSpec"]).update(imagee="x"), "unknown field 'imagee'"),
        (lambda e: e["spec"]["trialTemplate"]["trialSpec"].update(metadata={"name": "x"}), "must not set metadata.name"),
        (lambda e: e["spec"]["trialTemplate"]["trialParameters"].append({"name": "momentum", "reference": "lr"}), "'momentum' is not used"),
        (lambda e: e["spec"]["algorithm"].update(algorithmName="randon"), "did you mean 'random'?"),
        (lambda e: e["metadata"].update(name="x" * 41), "at most 40 characters"),
        (lambda e: e["spec"].update(parallelTrialCount=20), "parallelTrialCount must not exceed maxTrialCount"),
    ],
)
def test_katib_experiment_mistakes_are_rejected(mutate, expected):
    experiment = _experiment()
    mutate(experiment)
    assert any(expected in p for p in _problems(experiment)), _problems(experiment)


def test_external_secret_and_sealed_secret_schemas_are_strict():
    external = {
        "apiVersion": "external-secrets.io/v1",
        "kind": "ExternalSecret",
        "metadata": {"name": "wandb"},
        "spec": {
            "secretStoreRef": {"name": "vault", "kind": "ClusterSecretStore"},
            "target": {"name": "wandb"},
            "data": [{"secretKey": "token", "remoteRef": {"key": "ml/wandb", "property": "token"}}],
        },
    }
    sealed = {
        "apiVersion": "bitnami.com/v1alpha1",
        "kind": "SealedSecret",
        "metadata": {"name": "wandb", "namespace": "ml-team"},
        "spec": {"encryptedData": {"token": "AgBy3i4OJSWK+PiTySYZZA=="}, "template": {"metadata": {"name": "wandb"}}},
    }
    assert _problems(external) == []
    assert _problems(sealed) == []
    bad = copy.deepcopy(external)
    bad["spec"]["secretStoreRef"]["nam"] = "x"
    assert any("unknown field 'nam'" in p for p in _problems(bad))


def test_lint_command_reports_positions_and_exits_2(tmp_path):
    job = _pytorchjob()
    _container(job)["imagePullPolicyy"] = "Always"
    (tmp_path / "job.yaml").write_text(yaml.safe_dump(job), encoding="utf-8")
    result = subprocess.run([sys.executable, "-m", "pfgen", "lint", str(tmp_path)], capture_output=True, text=True, check=False)
    assert result.returncode == 2
    assert f"{tmp_path / 'job.yaml'}:" in result.stderr and "imagePullPolicyy" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("verify", [["--verify"], []])
def test_build_refuses_a_node_selector_the_cluster_would_reject_and_writes_nothing(tmp_path, verify):
    """A node selector the API server would refuse is refused where it is written, in pfgen.yaml,
    before anything is emitted (issue 16: the message points at the input, not at deploy/)."""
    (tmp_path / "pf-template.yml").write_text(
        "name: demo\nvm: azure-16gb-v100-4g-eastus-spot\nnum_devices: 4\njob_setting:\n  type: custom\n"
        "  docker:\n    image: pytorch/pytorch:2.1\n    command: train\n", encoding="utf-8")
    (tmp_path / "pfgen.yaml").write_text('placement:\n  node_selector:\n    "bad key!": x\n', encoding="utf-8")
    result = subprocess.run([sys.executable, "-m", "pfgen", "build", *verify, "-o", "out", "pf-template.yml"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 2, result.stderr
    assert "pfgen.yaml:3:5: error: placement.node_selector: 'bad key!' is not a Kubernetes label key" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()
