"""Seed 004's hand-written Katib Experiment, expressed as a template (examples/mnist-katib-cpu):
a custom metrics format, trials retained, trial pods out of the Istio mesh, CPU-only trials."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from conftest import run_pfgen
from pfgen.validate.config import load_config
from pfgen.pipeline import compile_job
from pfgen.validate.tuning import filter_problem

from strict_schema import errors, experiment_validator, pytorchjob_validator

ROOT = Path(__file__).resolve().parents[2]
SEED_004 = ROOT / "examples" / "mnist-katib-cpu"
SEED_FILTER = r"{metricName: ([\w|-]+), metricValue: ((-?\d+)(\.\d+)?)}"  # the seed's, verbatim


def experiment(template: Path) -> dict:
    return next(o for o in compile_job(template).objects if o["kind"] == "Experiment")


def test_seed_004_experiment_keeps_what_the_seed_wrote():
    spec = experiment(SEED_004 / "pf-template.yml")["spec"]
    assert spec["objective"] == {"type": "maximize", "goal": 0.99, "objectiveMetricName": "accuracy",
                                 "additionalMetricNames": ["loss"]}
    assert spec["algorithm"] == {"algorithmName": "random"}
    assert (spec["maxTrialCount"], spec["parallelTrialCount"], spec["maxFailedTrialCount"]) == (12, 10, 3)
    assert [(p["name"], p["parameterType"], p["feasibleSpace"]) for p in spec["parameters"]] == [
        ("learningRate", "double", {"min": "0.0001", "max": "0.01"}),
        ("batchSize", "int", {"min": "16", "max": "128"})]
    assert spec["metricsCollectorSpec"] == {
        "collector": {"kind": "File"},
        "source": {"fileSystemPath": {"kind": "File", "path": "/tmp/mnist.log", "format": "TEXT"},
                   "filter": {"metricsFormat": [SEED_FILTER]}}}
    template = spec["trialTemplate"]
    assert template["retain"] is True
    pod = template["trialSpec"]["spec"]["pytorchReplicaSpecs"]["Master"]["template"]
    assert pod["metadata"]["annotations"] == {"sidecar.istio.io/inject": "false"}
    assert pod["spec"]["imagePullSecrets"] == [{"name": "regcred"}]
    assert errors(experiment_validator(), experiment(SEED_004 / "pf-template.yml")) == []
    assert errors(pytorchjob_validator(), template["trialSpec"]) == []


def test_a_cpu_only_trial_has_no_gpu_resource_or_toleration():
    job = experiment(SEED_004 / "pf-template.yml")["spec"]["trialTemplate"]["trialSpec"]
    assert job["spec"]["nprocPerNode"] == "1" and set(job["spec"]["pytorchReplicaSpecs"]) == {"Master"}
    pod = job["spec"]["pytorchReplicaSpecs"]["Master"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["resources"] == {"limits": {"memory": "8Gi"}, "requests": {"cpu": "2", "memory": "8Gi"}}
    assert "tolerations" not in pod and "nodeSelector" not in pod
    assert {e["name"]: e["value"] for e in container["env"]} == {"NUM_NODES": "1", "NPROC_PER_NODE": "1"}


def test_the_sidecar_annotation_can_be_overridden_and_plain_jobs_do_not_get_it(tmp_path):
    load_config.cache_clear()
    project = tmp_path / "seed"
    shutil.copytree(SEED_004, project, ignore=shutil.ignore_patterns("deploy"))
    with (project / "pfgen.yaml").open("a") as config:
        config.write('pod:\n  annotations: {sidecar.istio.io/inject: "true", team: hpo}\n')
    pod = experiment(project / "pf-template.yml")["spec"]["trialTemplate"]["trialSpec"]["spec"][
        "pytorchReplicaSpecs"]["Master"]["template"]
    assert pod["metadata"]["annotations"] == {"sidecar.istio.io/inject": "true", "team": "hpo"}
    # without tuning: a plain PyTorchJob, no Katib trial, no annotation added
    text = (project / "pf-template.yml").read_text()
    plain = text[:text.index("tuning:")].replace("${trialParameters.learningRate}", "0.01").replace(
        "${trialParameters.batchSize}", "64")
    (project / "pf-template.yml").write_text(plain)
    load_config.cache_clear()
    job = next(o for o in compile_job(project / "pf-template.yml").objects if o["kind"] == "PyTorchJob")
    assert job["spec"]["pytorchReplicaSpecs"]["Master"]["template"]["metadata"]["annotations"] == {
        "sidecar.istio.io/inject": "true", "team": "hpo"}
    (project / "pfgen.yaml").write_text((SEED_004 / "pfgen.yaml").read_text())
    load_config.cache_clear()
    job = next(o for o in compile_job(project / "pf-template.yml").objects if o["kind"] == "PyTorchJob")
    assert "annotations" not in job["spec"]["pytorchReplicaSpecs"]["Master"]["template"]["metadata"]
    load_config.cache_clear()


@pytest.mark.parametrize("text, problem", [
    (SEED_FILTER, None),
    (r"([\w|-]+)\s*=\s*([+-]?\d*(\.\d+)?([Ee][+-]?\d+)?)", None),  # Katib's DefaultFilter
    (r"(?P<name>\w+): (?P<value>[0-9.]+)", None),
    (r"(\pL+)=(\d+)\z", None),  # RE2 syntax Python's re lacks: Katib's own check decides
    (r"accuracy=([0-9.]+)", "does not have two capture groups"),
    (r"(?:\w+)=(?:\d+)", "has no capture group"),
    (r"(\w+)=(\d+)(?!\d)", "lookahead/lookbehind"),
    (r"(\w+)=(\1)", "a backreference"),
    (r"(\w+)=(\d++)", "a possessive quantifier"),
    (r"(\w+)=([0-9.]+", "does not have two capture groups"),
    (r"(\w+)=([0-9.]+))(", "is not a valid regular expression"),
])
def test_filter_rules(text, problem):
    found = filter_problem(text)
    assert (found is None) if problem is None else (problem in found), found


def test_cpu_only_job_without_tuning_validates_and_a_gpu_vm_refuses_zero_devices(tmp_path):
    load_config.cache_clear()
    (tmp_path / "pfgen.yaml").write_text("vms:\n  cpu-node: {gpus: 0, vcpus: 4, memory_gib: 16}\n")
    (tmp_path / "pf-template.yml").write_text(
        "name: cpu-job\nvm: cpu-node\nnum_devices: 0\n"
        "job_setting: {type: custom, docker: {image: busybox, command: \"echo $WORLD_SIZE\"}}\n")
    rendered = run_pfgen("render", str(tmp_path / "pf-template.yml"))
    assert rendered.returncode == 0, rendered.stderr
    assert "nvidia.com/gpu" not in rendered.stdout and "tolerations" not in rendered.stdout
    load_config.cache_clear()
