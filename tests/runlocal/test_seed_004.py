"""Seed 004's Experiment as compiled (examples/mnist-katib-cpu) runs correctly, end to end.

1. One trial as Katib v0.19 and the Training Operator v1.9 would start it: the trial
   template instantiated by Katib's plain string replacement, the primary container's
   command wrapped by Katib's pod webhook for the File collector, the operator's env
   (pfgen.kube.operator), the kubelet's $(VAR) expansion, the image's files at the
   Dockerfile's COPY destination and WORKDIR; then the metrics file read with Katib's text
   parser and the Experiment's own filter (tests/katib_runtime.py names the upstream code).
2. The same trial through `pfgen run --local`, which reports the objective from the file.

Container paths (/app, /tmp) are moved under a temporary directory, nothing else changes.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from conftest import ROOT, run_pfgen
from katib_runtime import katib_wrap, parse_text, replicas, substitute
from pfgen.kube.operator import kubelet_expand, pod_env
from pfgen.pipeline import compile_job

EXAMPLE = ROOT / "examples" / "mnist-katib-cpu"


def relocated(tmp_path: Path) -> tuple[Path, Path]:
    copy = tmp_path / "mnist-katib-cpu"
    shutil.copytree(EXAMPLE, copy, ignore=shutil.ignore_patterns("deploy"))
    root = tmp_path / "root"
    template = copy / "pf-template.yml"
    text = template.read_text().replace("/app", "@APP@").replace("/tmp/mnist.log", "@TMP@/mnist.log")
    template.write_text(text.replace("@APP@", f"{root}/app").replace("@TMP@", f"{root}/tmp"))
    return template, root


def test_a_seed_004_trial_runs_under_katib_and_the_operator_and_katib_reads_its_metrics(tmp_path):
    template, root = relocated(tmp_path)
    compiled = compile_job(template)
    experiment = next(o for o in compiled.objects if o["kind"] == "Experiment")
    spec = experiment["spec"]
    job = substitute(spec["trialTemplate"]["trialSpec"], {"learningRate": "0.01", "batchSize": "64"},
                     "mnist-hyperparameter-tuning-x8k2p4qz", experiment["metadata"]["namespace"])
    pods = replicas(job)
    assert [(kind, index) for kind, index, _ in pods] == [("Master", 0)]
    # the image: pfgen's Dockerfile copies the workspace to <mount_path>/hpt and sets WORKDIR
    image = compiled.plan.workspace_image
    assert image.mount_path == f"{root}/app" and image.workspace_name == "hpt"
    shutil.copytree(EXAMPLE / "hpt", root / "app" / "hpt")
    metrics = spec["metricsCollectorSpec"]["source"]["fileSystemPath"]["path"]
    (root / "tmp").mkdir()  # Katib's emptyDir over the metrics file's directory
    kind, index, container = pods[0]
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "TRAIN_MAX_STEPS": "30",
           **pod_env(job, kind, index)}
    command = [kubelet_expand(part, env) for part in katib_wrap(container["command"], "File", metrics)]
    result = subprocess.run(command, env=env, cwd=root / "app", capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Test learning_rate: 0.01" in result.stdout and "Test batch_size: 64" in result.stdout
    # what Katib's File collector then records, with the Experiment's filter
    lines = Path(metrics).read_text().splitlines()
    found = dict(parse_text(lines, ["accuracy", "loss"], spec["metricsCollectorSpec"]["source"]["filter"]["metricsFormat"]))
    assert set(found) == {"accuracy", "loss"}
    assert 0.0 < float(found["accuracy"]) <= 1.0 and float(found["loss"]) > 0
    # the webhook's wrapper ran to the end: the completion marker Katib waits for
    assert any(p.suffix == ".pid" and p.read_text().strip() == "completed" for p in (root / "tmp").iterdir())


def test_a_failing_trial_fails_its_job_at_once(tmp_path):
    template, root = relocated(tmp_path)
    experiment = next(o for o in compile_job(template).objects if o["kind"] == "Experiment")
    job = substitute(experiment["spec"]["trialTemplate"]["trialSpec"], {"learningRate": "x", "batchSize": "64"},
                     "mnist-hyperparameter-tuning-bad00000", "kbm-u-kubeflow-tutorial")
    shutil.copytree(EXAMPLE / "hpt", root / "app" / "hpt")
    (root / "tmp").mkdir()
    kind, index, container = replicas(job)[0]
    env = {"PATH": os.environ["PATH"], **pod_env(job, kind, index)}
    command = [kubelet_expand(part, env) for part in container["command"]]
    result = subprocess.run(command, env=env, cwd=root / "app", capture_output=True, text=True, timeout=120)
    assert result.returncode == 2  # argparse; restartPolicy ExitCode: 1-127 fail the job, counted by Katib
    assert job["spec"]["pytorchReplicaSpecs"]["Master"]["restartPolicy"] == "ExitCode"


def test_seed_004_runs_with_run_local_and_reports_the_objective_from_the_file(tmp_path):
    metrics = tmp_path / "metrics"
    metrics.mkdir()
    result = run_pfgen("run", "--local", "--run-dir", str(tmp_path / "run"), "--param", "learningRate=0.005",
                       "--param", "batchSize=32", "--mount", f"/tmp={metrics}", "--env", "TRAIN_MAX_STEPS=30",
                       str(EXAMPLE), cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "the job requests no GPUs (a CPU-only VM type)" in result.stdout  # no --cpu needed
    assert "[master-0] Test learning_rate: 0.005" in result.stdout
    assert f"objective accuracy: 1 value(s) in {tmp_path / 'run'}/root/tmp/mnist.log, last 0." in result.stdout
    assert (metrics / "mnist.log").read_text().startswith("{metricName: accuracy, metricValue: ")
