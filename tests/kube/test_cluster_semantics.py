"""Failure and cleanup semantics, per-node resources and pod settings (issue 15 part B).

The generated commands run under the operator's env model (pfgen.kube.operator) and
their exit status goes through the model of what the operator then does
(operator.after_exit, from kubeflow/trainer release-1.9 pkg/controller.v1/common/pod.go).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from conftest import FIXTURES, crd_errors, run_pfgen
from pfgen.validate.config import load_config
from pfgen.kube.operator import after_exit, pod_env
from pfgen.pipeline import compile_job

HERE = FIXTURES / "cluster"
BAD = yaml.safe_load((HERE / "bad-configs.yaml").read_text())


def project(tmp_path: Path, config: str = "", template: Path = HERE / "job.yml") -> Path:
    load_config.cache_clear()
    (tmp_path / "pfgen.yaml").write_text(config or "namespace: ml\n")
    target = tmp_path / "pf-template.yml"
    shutil.copy(template, target)
    return target


def job_of(template: Path) -> dict:
    return next(o for o in compile_job(template).objects if o["kind"] == "PyTorchJob")


def run_replica(job: dict, replica: str, index: int, extra: dict) -> int:
    container = job["spec"]["pytorchReplicaSpecs"][replica]["template"]["spec"]["containers"][0]
    env = {"PATH": os.environ["PATH"], **extra, **pod_env(job, replica, index)}
    return subprocess.run(container["command"], env=env, capture_output=True, timeout=60).returncode


def test_default_job_fails_at_once_on_a_user_error_and_cleans_up(tmp_path):
    job = job_of(project(tmp_path))
    assert not crd_errors(job)
    spec = job["spec"]
    assert {r["restartPolicy"] for r in spec["pytorchReplicaSpecs"].values()} == {"ExitCode"}
    assert spec["runPolicy"] == {"backoffLimit": 3, "cleanPodPolicy": "Running"}
    assert job["metadata"]["annotations"] == {"pfgen.dev/min-training-operator": "v1.7.0"}
    # The generated command, run as the operator runs it: a Python exception exits 1,
    # which the operator treats as permanent under ExitCode.
    code = run_replica(job, "Worker", 0, {"EXIT_WITH": "1"})
    assert code == 1 and after_exit(job, "Worker", code) == "job-failed"
    assert run_replica(job, "Master", 0, {"EXIT_WITH": "0"}) == 0
    # Killed by a signal (preemption, SIGKILL): 128 + 9, which the operator retries.
    code = run_replica(job, "Master", 0, {"EXIT_WITH": "137"})
    assert code == 137 and after_exit(job, "Master", code) == "pod-recreated"


def test_run_policy_is_configurable(tmp_path):
    job = job_of(project(tmp_path, "run_policy:\n  restart_policy: OnFailure\n  backoff_limit: 0\n"
                                   "  clean_pod_policy: All\n"))
    assert not crd_errors(job)
    assert {r["restartPolicy"] for r in job["spec"]["pytorchReplicaSpecs"].values()} == {"OnFailure"}
    assert job["spec"]["runPolicy"] == {"backoffLimit": 0, "cleanPodPolicy": "All"}
    assert after_exit(job, "Master", 1) == "container-restarted"


def test_run_local_states_the_mapping(tmp_path):
    from pfgen.runlocal.plan import failure_notes

    job = job_of(project(tmp_path))
    (note,) = failure_notes(job)
    assert "exiting 1-127 fails the job at once" in note and "backoffLimit 3" in note
    assert "cleanPodPolicy Running" in note


def test_pods_request_the_node_minus_the_reserve(tmp_path):
    job = job_of(project(tmp_path))
    for replica in job["spec"]["pytorchReplicaSpecs"].values():
        resources = replica["template"]["spec"]["containers"][0]["resources"]
        # Standard_NC24s_v3: 24 vCPUs, 448 GiB; reserve max(1, 5%) = 1.2 vCPUs, max(4, 10%) = 44.8 GiB.
        assert resources == {"limits": {"memory": "412876Mi", "nvidia.com/gpu": 4},
                             "requests": {"cpu": "22", "memory": "412876Mi", "nvidia.com/gpu": 4}}


def test_a_partial_vm_requests_its_share(tmp_path):
    template = project(tmp_path)
    template.write_text(template.read_text().replace("num_devices: 8", "num_devices: 2"))
    resources = job_of(template)["spec"]["pytorchReplicaSpecs"]["Master"]["template"]["spec"]["containers"][0]["resources"]
    assert resources["requests"] == {"cpu": "11", "memory": "206438Mi", "nvidia.com/gpu": 2}


def test_reserve_and_onprem_sizes_come_from_pfgen_yaml(tmp_path):
    template = project(tmp_path, "resources:\n  reserve: {cpu: 8, memory_gib: 64}\nvms:\n"
                                 "  box: {gpus: 8, vcpus: 128, memory_gib: 1024}\n")
    template.write_text(template.read_text().replace("azure-16gb-v100-4g-eastus-spot", "box"))
    resources = job_of(template)["spec"]["pytorchReplicaSpecs"]["Master"]["template"]["spec"]["containers"][0]["resources"]
    # 128 - max(8, 6.4) = 120 vCPUs; 1024 - max(64, 102.4) = 921.6 GiB
    assert resources["requests"] == {"cpu": "120", "memory": "943718Mi", "nvidia.com/gpu": 8}


def test_resources_can_be_switched_off_and_unknown_sizes_request_nothing(tmp_path):
    template = project(tmp_path, "resources: {enabled: false}\n")
    resources = job_of(template)["spec"]["pytorchReplicaSpecs"]["Master"]["template"]["spec"]["containers"][0]["resources"]
    assert resources == {"limits": {"nvidia.com/gpu": 4}, "requests": {"nvidia.com/gpu": 4}}
    template = project(tmp_path, "vms:\n  box: {gpus: 4}\n")
    template.write_text(template.read_text().replace("azure-16gb-v100-4g-eastus-spot", "box"))
    resources = job_of(template)["spec"]["pytorchReplicaSpecs"]["Master"]["template"]["spec"]["containers"][0]["resources"]
    assert resources == {"limits": {"nvidia.com/gpu": 4}, "requests": {"nvidia.com/gpu": 4}}


def test_a_reserve_that_leaves_nothing_is_an_error_at_the_vm(tmp_path):
    template = project(tmp_path, "resources:\n  reserve: {cpu: 64}\n")
    result = run_pfgen("validate", str(template), cwd=tmp_path)
    assert result.returncode == 2
    assert "pf-template.yml:3:5: error: vm: azure-16gb-v100-4g-eastus-spot has 24 vCPUs" in result.stderr
    assert "lower the reserve" in result.stderr


def test_vm_show_prints_the_size_and_the_requests(tmp_path):
    result = run_pfgen("vm", "show", "azure-16gb-v100-4g-eastus-spot", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "node size:      24 vCPUs, 448 GiB" in result.stdout
    assert "pod requests:   cpu 22, memory 412876Mi (limit = request)" in result.stdout


def test_every_catalogue_instance_type_has_a_size():
    from pfgen.resolve import vms

    for vm in vms.catalogue().values():
        assert vm.vcpus and vm.memory_gib, vm.name
    types = {t for table in vms._data()["instance_types"].values() for t in table.values()}
    assert types <= set(vms._data()["instance_specs"])


@pytest.mark.parametrize("case", sorted(BAD), ids=sorted(BAD))
def test_bad_config_is_refused_with_its_position(tmp_path, case):
    entry = BAD[case]
    template = project(tmp_path, entry["config"])
    result = run_pfgen("validate", str(template), cwd=tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"pfgen.yaml:{entry['at']}: error:" in result.stderr, result.stderr
    assert entry["message"] in result.stderr
    assert "Traceback" not in result.stderr


POD_CONFIG = """\
queue: team-a
pod:
  annotations:
    sidecar.istio.io/inject: "false"
  labels:
    team: vision
    app.kubernetes.io/name: not-this   # pfgen's own labels win
  priority_class: training-high
  service_account: trainer
  scheduler_name: volcano
"""


def _check_pod_settings(job: dict) -> None:
    assert not crd_errors(job) if "name" in job.get("metadata", {}) else True
    assert job["metadata"]["labels"]["kueue.x-k8s.io/queue-name"] == "team-a"
    assert "suspend" not in job["spec"]["runPolicy"]  # Kueue's webhook suspends; a re-apply must not re-suspend
    for replica in job["spec"]["pytorchReplicaSpecs"].values():
        pod = replica["template"]
        assert pod["metadata"]["annotations"] == {"sidecar.istio.io/inject": "false"}
        assert pod["metadata"]["labels"]["team"] == "vision"
        assert pod["metadata"]["labels"]["app.kubernetes.io/name"] == "policy-job"
        assert "kueue.x-k8s.io/queue-name" not in pod["metadata"]["labels"]
        assert (pod["spec"]["priorityClassName"], pod["spec"]["serviceAccountName"], pod["spec"]["schedulerName"]) == (
            "training-high", "trainer", "volcano")


def test_pod_settings_and_queue_reach_every_replica(tmp_path):
    _check_pod_settings(job_of(project(tmp_path, POD_CONFIG)))


def test_pod_settings_and_queue_reach_every_katib_trial(tmp_path):
    template = project(tmp_path, POD_CONFIG)
    template.write_text(template.read_text().replace(
        "command: \"python -c", "command: \"echo ${trialParameters.lr}; python -c") + """\
tuning:
  objective: {metric: loss, type: minimize}
  algorithm: random
  max_trials: 2
  parallel_trials: 1
  parameters:
    lr: {type: double, min: 0.001, max: 0.1}
""")
    experiment = compile_job(template).objects[0]
    assert experiment["kind"] == "Experiment"
    assert "kueue.x-k8s.io/queue-name" not in experiment["metadata"]["labels"]
    _check_pod_settings(experiment["spec"]["trialTemplate"]["trialSpec"])


def test_a_nested_pfgen_yaml_overrides_the_project_one(tmp_path):
    load_config.cache_clear()
    (tmp_path / "pfgen.yaml").write_text(POD_CONFIG)
    sub = tmp_path / "team-b"
    sub.mkdir()
    (sub / "pfgen.yaml").write_text("queue: team-b\n")
    shutil.copy(HERE / "job.yml", sub / "pf-template.yml")
    job = job_of(sub / "pf-template.yml")
    assert job["metadata"]["labels"]["kueue.x-k8s.io/queue-name"] == "team-b"
    assert "annotations" not in job["spec"]["pytorchReplicaSpecs"]["Master"]["template"]["metadata"]
