"""Target trainjob: the same plan through the TrainJob emitter (Kubeflow Trainer v2.3).

Shape of the TrainJob, what it carries through runtimePatches, what pfgen refuses
because a TrainJob cannot express it (positioned, in pfgen/validate/target.py),
the target setting and flag, and the CRD's CEL rules evaluated offline.
"""

from __future__ import annotations

import copy
import shutil
from pathlib import Path

import pytest

from conftest import FIXTURES, ROOT, load_stream, run_pfgen
from pfgen.emit import pytorchjob
from pfgen.kube import cel
from pfgen.kube.verify import check_object, verify_text
from pfgen.output import dump
from pfgen.pipeline import CompileOptions, compile_job
from pfgen.validate.config import load_config

V2 = CompileOptions(target="trainjob")
JOB = FIXTURES / "cluster" / "job.yml"


def project(tmp_path: Path, config: str, template: Path = JOB) -> Path:
    load_config.cache_clear()
    (tmp_path / "pfgen.yaml").write_text(config)
    shutil.copy(template, tmp_path / "pf-template.yml")
    return tmp_path / "pf-template.yml"


def node_patch(job: dict) -> dict:
    [patch] = job["spec"]["runtimePatches"]
    [node] = patch["trainingRuntimeSpec"]["template"]["spec"]["replicatedJobs"]
    assert node["name"] == "node"
    return node["template"]["spec"]["template"]


def test_one_plan_two_emitters_carry_the_same_pod():
    template = ROOT / "examples" / "cifar100" / "pf-template.yml"
    v1 = compile_job(template).objects[0]
    v2 = compile_job(template, options=V2).objects[0]
    assert (v1["kind"], v2["kind"]) == ("PyTorchJob", "TrainJob")
    assert v2["apiVersion"] == "trainer.kubeflow.org/v1alpha1" and check_object(v2) == []
    master = v1["spec"]["pytorchReplicaSpecs"]["Master"]["template"]
    container = master["spec"]["containers"][0]
    trainer = v2["spec"]["trainer"]
    assert v2["spec"]["runtimeRef"] == {"apiGroup": "trainer.kubeflow.org", "kind": "ClusterTrainingRuntime",
                                        "name": "torch-distributed"}
    assert (trainer["numNodes"], trainer["numProcPerNode"]) == (2, 4)
    assert trainer["image"] == container["image"] and trainer["resourcesPerNode"] == container["resources"]
    assert trainer["command"][:2] == ["bash", "-c"]
    assert trainer["command"][2].endswith(container["command"][2].split("\n", 1)[1])  # the same setup and run
    pod = node_patch(v2)
    assert pod["metadata"] == master["metadata"]
    assert pod["spec"]["volumes"] == master["spec"]["volumes"]
    assert pod["spec"]["containers"] == [{"name": "node", "volumeMounts": container["volumeMounts"]}]
    assert {"name": "dshm", "mountPath": "/dev/shm"} in container["volumeMounts"]
    for key in ("nodeSelector", "tolerations"):
        assert pod["spec"][key] == master["spec"][key]
    assert "suspend" not in v2["spec"] and v2["metadata"]["labels"] == v1["metadata"]["labels"]
    # PET_* are Trainer's; NUM_NODES etc. are derived by the script, not set as env
    names = [item["name"] for item in trainer["env"]]
    assert names == ["CKPT_DIR"]


def test_runtime_queue_pod_settings_and_credentials(tmp_path):
    template = project(tmp_path, """namespace: ml
target: trainjob
trainjob: {runtime: torch-cuda-13, runtime_kind: TrainingRuntime}
queue: team-a
pod:
  labels: {team: vision}
  annotations: {sidecar.istio.io/inject: "false"}
  service_account: trainer
credentials:
  wandb-team: {type: wandb, secret_name: wandb}
  gcs-key: {type: gcs}
""")
    text = template.read_text().replace("job_setting:", "plugin:\n  wandb: {credential_id: wandb-team}\njob_setting:")
    template.write_text(text)
    job = compile_job(template).objects[0]
    assert job["kind"] == "TrainJob" and check_object(job) == []
    assert job["spec"]["runtimeRef"]["name"] == "torch-cuda-13" and job["spec"]["runtimeRef"]["kind"] == "TrainingRuntime"
    assert job["metadata"]["labels"]["kueue.x-k8s.io/queue-name"] == "team-a"
    pod = node_patch(job)
    assert pod["metadata"]["labels"]["team"] == "vision"
    assert pod["metadata"]["annotations"] == {"sidecar.istio.io/inject": "false"}
    assert pod["spec"]["serviceAccountName"] == "trainer"
    env = {item["name"]: item for item in job["spec"]["trainer"]["env"]}
    assert env["WANDB_API_KEY"]["valueFrom"]["secretKeyRef"]["name"] == "wandb"


@pytest.mark.parametrize("config,where,expected", [
    ("pod:\n  priority_class: high\n", "priority_class", "pod.priority_class: a TrainJob cannot set priorityClassName"),
    ("pod:\n  scheduler_name: volcano\n", "scheduler_name", "pod.scheduler_name: a TrainJob cannot set schedulerName"),
    ("run_policy:\n  backoff_limit: 1\n", "run_policy", "run_policy: a TrainJob has no runPolicy"),
])
def test_what_a_trainjob_cannot_express_is_refused_at_its_position(tmp_path, config, where, expected):
    project(tmp_path, "target: trainjob\n" + config)
    result = run_pfgen("build", str(tmp_path), "-o", str(tmp_path / "out"))
    assert result.returncode == 2, result.stderr
    line = 1 + next(i for i, text in enumerate(("target: trainjob\n" + config).splitlines()) if where in text)
    assert f"pfgen.yaml:{line}:" in result.stderr and expected in result.stderr, result.stderr
    assert not (tmp_path / "out").exists()
    # the same settings are fine for the PyTorchJob
    assert run_pfgen("build", str(tmp_path), "-o", str(tmp_path / "out"), "--target", "pytorchjob").returncode == 0


def test_a_name_too_long_for_jobset_pod_names_is_refused(tmp_path):
    """48 characters fit PyTorchJob pod names; JobSet's <name>-node-0-<i>-xxxxx needs one more for 11+ nodes."""
    template = project(tmp_path, "target: trainjob\n")
    text = template.read_text().replace("name: policy-job", "name: " + "n" * 48).replace("num_devices: 8", "num_devices: 44")
    template.write_text(text)
    result = run_pfgen("validate", str(template))
    assert result.returncode == 2, result.stderr
    line = 1 + text.splitlines().index("name: " + "n" * 48)
    assert f"pf-template.yml:{line}:7: error: the TrainJob name" in result.stderr, result.stderr
    assert "too long for 11 nodes" in result.stderr and "shorten the name by 1" in result.stderr
    template.write_text(text.replace("num_devices: 44", "num_devices: 40"))  # 10 nodes: fits
    assert run_pfgen("validate", str(template)).returncode == 0


def test_target_is_schema_checked_with_a_suggestion(tmp_path):
    project(tmp_path, "target: trainjb\n")
    result = run_pfgen("validate", str(tmp_path))
    assert result.returncode == 2 and "pfgen.yaml:1:9:" in result.stderr and "trainjob" in result.stderr, result.stderr


def test_flag_overrides_the_config_and_render_prints_the_trainjob(tmp_path):
    project(tmp_path, "target: trainjob\n")
    rendered = run_pfgen("render", str(tmp_path))
    assert rendered.returncode == 0, rendered.stderr
    assert [o["kind"] for o in load_stream(rendered.stdout)][0] == "TrainJob"
    v1 = run_pfgen("render", "--target", "pytorchjob", str(tmp_path))
    assert [o["kind"] for o in load_stream(v1.stdout)][0] == "PyTorchJob", v1.stderr
    built = run_pfgen("build", "--verify", str(tmp_path), "-o", str(tmp_path / "out"))
    assert built.returncode == 0, built.stderr
    files = sorted(p.name for p in (tmp_path / "out").rglob("*.yaml"))
    assert "trainjob.yaml" in files and "pytorchjob.yaml" not in files
    lint = run_pfgen("lint", str(tmp_path / "out"))
    assert lint.returncode == 0, lint.stderr


# ---------------------------------------------------------------------------------------------
# CEL


def _job() -> dict:
    return compile_job(ROOT / "examples" / "cifar100" / "pf-template.yml", options=V2).objects[0]


@pytest.mark.parametrize("mutate,expected", [
    (lambda j: j["metadata"].__setitem__("name", "9lives"), "metadata.name must match RFC 1035 DNS label format"),
    (lambda j: j["spec"].__setitem__("managedBy", "argo"), "ManagedBy must be trainer.kubeflow.org/trainjob-controller"),
    (lambda j: j["spec"].__setitem__("initializer", {"dataset": {"storageUri": "no-scheme"}}),
     "storageUri may be empty, or it must be a valid URI"),
])
def test_cel_rules_of_the_trainjob_crd_are_evaluated(mutate, expected):
    job = _job()
    mutate(job)
    found = [message for _, _, message in check_object(job)]
    assert any(expected in m and "[CEL: " in m for m in found), found


def test_cel_rules_pass_on_good_values_and_transition_rules_are_skipped():
    job = _job()
    job["spec"]["managedBy"] = "kueue.x-k8s.io/multikueue"
    job["spec"]["initializer"] = {"dataset": {"storageUri": "hf://datasets/x"}}
    assert check_object(job) == []
    schema = __import__("json").loads((ROOT / "schemas" / "crds" / "trainer.kubeflow.org_trainjobs.v1alpha1.json").read_text())
    rules = []

    def collect(node):
        if isinstance(node, dict):
            rules.extend(r["rule"] for r in node.get("x-kubernetes-validations", []))
            for value in node.values():
                collect(value)

    collect(schema)
    transition = [r for r in rules if cel.is_transition_rule(r)]
    assert transition and all(r == "self == oldSelf" for r in transition)
    assert len(rules) - len(transition) >= 5  # the ones evaluated on create


def test_a_cel_failure_is_positioned_in_the_file():
    job = _job()
    job["spec"]["managedBy"] = "argo"
    text = dump.to_yaml(job)
    [problem] = verify_text(text, "trainjob.yaml")
    line = 1 + text.splitlines().index("  managedBy: argo")
    assert (problem.line, problem.col) == (line, 14), problem
    assert "ManagedBy must be" in problem.message


def test_the_emitter_is_pure_and_keeps_the_pytorchjob_helpers():
    plan_job = _job()
    assert copy.deepcopy(plan_job) == _job()
    assert pytorchjob.kubelet_literal("$(x) $$") == "$$(x) $$$"


def test_a_variable_only_the_v1_operator_sets_is_warned_about_under_trainjob(tmp_path):
    template = project(tmp_path, "namespace: ml\n")
    template.write_text(template.read_text().replace(
        """command: "python -c 'import os, sys; sys.exit(int(os.environ[\\"EXIT_WITH\\"]))'\"""",
        'command: "echo $RANK $NODE_RANK $WORLD_SIZE $MASTER_ADDR"'))
    assert "$RANK" in template.read_text()
    v1 = run_pfgen("validate", str(template))
    assert v1.returncode == 0 and "warning" not in v1.stderr, v1.stderr  # the Training Operator sets RANK
    (tmp_path / "pfgen.yaml").write_text("namespace: ml\ntarget: trainjob\n")
    v2 = run_pfgen("validate", str(template))
    assert v2.returncode == 0, v2.stderr
    [warning] = [line for line in v2.stderr.splitlines() if ": warning: " in line]
    assert "$RANK is not set in the pod: Kubeflow Trainer's torch runtime sets only PET_NNODES" in warning
