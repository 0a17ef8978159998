"""Katib v0.19 Experiments whose trials are TrainJobs (target trainjob).

The trial template carries Katib's TrainJob defaults written out (primaryContainerName
node, node 0's pod labels, the Complete/Failed conditions), has the upstream example's
shape, verifies (strict CRD + CEL, with a trial's name), and a trial re-enacted as Katib
would create it runs its node command under the Trainer v2 env with the suggested values.
"""

from __future__ import annotations

import os
import subprocess

import pytest
import yaml

from conftest import ROOT, SHARED, run_pfgen
from katib_runtime import katib_wrap, parse_text, sample_values, trial_job
from pfgen.kube import operator_v2
from pfgen.kube.operator import kubelet_expand
from pfgen.kube.verify import check_object
from pfgen.pipeline import CompileOptions, compile_job

V2 = CompileOptions(target="trainjob")


def write_job(tmp_path, body: str):
    project = tmp_path / "project"
    project.mkdir(exist_ok=True)
    (project / "pf-template.yml").write_text(body)
    return project / "pf-template.yml"

UPSTREAM = SHARED / "crds" / "katib-v0.19.0-trainjob-pytorch-example.yaml"


def _experiment() -> dict:
    return compile_job(ROOT / "examples" / "mnist-katib" / "pf-template.yml", options=V2).objects[0]


def test_trial_template_has_katibs_trainjob_defaults_written_out():
    experiment = _experiment()
    assert experiment["kind"] == "Experiment" and check_object(experiment) == []
    template = experiment["spec"]["trialTemplate"]
    assert template["primaryContainerName"] == "node"
    # kubeflow/katib v0.19.0 pkg/apis/controller/experiments/v1beta1/constants.go
    assert template["primaryPodLabels"] == {"jobset.sigs.k8s.io/replicatedjob-name": "node",
                                            "batch.kubernetes.io/job-completion-index": "0"}
    assert template["successCondition"] == 'status.conditions.#(type=="Complete")#|#(status=="True")#'
    assert template["failureCondition"] == 'status.conditions.#(type=="Failed")#|#(status=="True")#'
    trial = template["trialSpec"]
    assert (trial["apiVersion"], trial["kind"]) == ("trainer.kubeflow.org/v1alpha1", "TrainJob")
    assert "name" not in trial["metadata"] and "namespace" not in trial["metadata"]
    assert "${trialParameters.learning_rate}" in trial["spec"]["trainer"]["command"][2]
    # Kueue admits the trials' TrainJobs: the queue label is never on the Experiment
    assert "kueue.x-k8s.io/queue-name" not in experiment["metadata"].get("labels", {})


@pytest.mark.skipif(not UPSTREAM.is_file(), reason="shared/crds is not beside this checkout")
def test_the_upstream_trainjob_experiment_has_the_same_shape_and_verifies():
    upstream = yaml.safe_load(UPSTREAM.read_text())
    ours = _experiment()
    assert upstream["spec"]["trialTemplate"]["primaryContainerName"] == ours["spec"]["trialTemplate"]["primaryContainerName"]
    for key in ("apiVersion", "kind"):
        assert upstream["spec"]["trialTemplate"]["trialSpec"][key] == ours["spec"]["trialTemplate"]["trialSpec"][key]
    assert check_object(upstream) == []  # pfgen's verifier accepts Katib's own example


def test_a_trial_as_katib_creates_it_verifies_and_runs_with_the_suggested_values(tmp_path):
    out = tmp_path / "seen"
    template = write_job(tmp_path, f"""
name: lr-search
vm: azure-16gb-v100-4g-eastus-spot
num_devices: 8
job_setting:
  type: custom
  docker:
    image: busybox
    command: echo "lr=${{trialParameters.lr}} rank=$NODE_RANK world=$WORLD_SIZE" > {out} && echo "accuracy=0.5"
tuning:
  objective: {{type: maximize, metric: accuracy}}
  algorithm: random
  max_trials: 2
  parallel_trials: 1
  parameters:
    lr: {{type: double, min: 0.001, max: 0.1}}
""")
    experiment = compile_job(template, options=V2).objects[0]
    assert check_object(experiment) == []
    values = sample_values(experiment["spec"])
    job = trial_job(experiment)
    assert job["kind"] == "TrainJob" and job["metadata"]["name"] == "lr-search-abcdefgh"
    assert check_object(job) == []
    env = {name: kubelet_expand(value, {}) for name, value in operator_v2.pod_env(job, 0).items()}
    command = [kubelet_expand(part, env) for part in operator_v2.command(job)]
    metrics = tmp_path / "metrics.log"
    wrapped = katib_wrap(command, "StdOut", str(metrics))
    result = subprocess.run(wrapped, env={"PATH": os.environ["PATH"], **env}, cwd=str(tmp_path),
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert out.read_text() == f"lr={values['lr']} rank=0 world=8\n"
    assert parse_text(metrics.read_text().splitlines(), ["accuracy"]) == [("accuracy", "0.5")]


def test_a_name_too_long_for_a_trials_pods_is_refused(tmp_path):
    """Trials are <name>-<8 characters>: a 40-character name fits Katib and PyTorchJob pods, not JobSet's."""
    name = "t" * 40
    text = (ROOT / "examples" / "mnist-katib" / "pf-template.yml").read_text().replace("name: mnist-katib", f"name: {name}")
    project = tmp_path / "p"
    project.mkdir()
    (project / "pf-template.yml").write_text(text)
    (project / "mnist").mkdir()
    (project / "mnist" / "train.py").write_text("print('hi')\n")
    (project / "pfgen.yaml").write_text("registry: registry.example.com/ml\n")
    assert run_pfgen("validate", str(project)).returncode == 0
    result = run_pfgen("render", "--target", "trainjob", str(project))
    assert result.returncode == 2
    line = 1 + text.splitlines().index(f"name: {name}")
    assert f"pf-template.yml:{line}:7: error: the TrainJob name '{name}' is too long for 2 nodes: each Katib trial" \
        in result.stderr, result.stderr
