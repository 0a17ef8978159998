"""A trial at run time: Katib substitutes the values, the pods run the command.

Each pod's container command (``bash -c SCRIPT``) runs in a subprocess with
the container's env plus what the Training Operator and Katib add, after
Katib's substitution (and, on the master, Katib's command wrapping). Fake
``torchrun``/``python``/``pip`` on PATH record their argv and environment, so
the test sees exactly what the training script would have received. The
container's absolute paths (the workspace baked into the image, Katib's
metrics volume) are mapped into a temporary directory, the way mounts would
provide them.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
from pathlib import Path

import pytest

from pfgen.pipeline import compile_job

from katib_runtime import katib_wrap, parse_text, replicas, substitute
from pfgen.kube.operator import pod_env
from strict_schema import errors, pytorchjob_validator

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "tuning"
TRIAL = "-x7k2p9qz"  # Katib names a trial <experiment>-<8 random chars>

FAKE = """#!{python}
import json, os, sys
record = os.environ["FAKE_RECORD"]
name = os.path.basename(sys.argv[0])
with open(os.path.join(record, f"{{name}}.{{os.environ.get('PET_NODE_RANK', 'x')}}.json"), "w") as handle:
    json.dump({{"argv": sys.argv[1:], "cwd": os.getcwd(), "env": dict(os.environ)}}, handle)
if name in ("python", "torchrun"):
    print("epoch 1: val-loss=0.25 accuracy=0.875", flush=True)
"""


def _fake_bin(tmp: Path) -> Path:
    import sys

    fake = tmp / "bin"
    fake.mkdir()
    for name in ("torchrun", "python", "pip"):
        path = fake / name
        path.write_text(FAKE.format(python=sys.executable))
        path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return fake


def _run_trial(template: Path, values: dict[str, str], tmp: Path) -> tuple[dict, dict[str, dict], dict[str, str]]:
    """Run every pod's command of one trial; returns (job, records by tool.rank, katib files)."""
    experiment = next(o for o in compile_job(template).objects if o["kind"] == "Experiment")
    spec = experiment["spec"]
    declared = {p["name"] for p in spec["trialTemplate"]["trialParameters"]}
    assert set(values) == declared
    trial_name = experiment["metadata"]["name"] + TRIAL
    job = substitute(spec["trialTemplate"]["trialSpec"], values, trial_name, experiment["metadata"]["namespace"])
    assert errors(pytorchjob_validator(), job) == []

    collector = spec["metricsCollectorSpec"]
    kind = collector["collector"]["kind"]
    metrics_file = "/var/log/katib/metrics.log" if kind == "StdOut" else collector["source"]["fileSystemPath"]["path"]
    root = tmp / "root"  # container paths are mapped below this directory
    (root / "workspace" / "app").mkdir(parents=True)
    (root / "workspace" / "mnist").mkdir(parents=True)
    (root / Path(metrics_file).parent.relative_to("/")).mkdir(parents=True)
    record = tmp / "record"
    record.mkdir()
    fake = _fake_bin(tmp)

    def mapped(text: str) -> str:
        for prefix in ("/workspace", str(Path(metrics_file).parent)):
            text = text.replace(prefix, str(root) + prefix)
        return text

    results = {}
    for replica, index, container in replicas(job):
        command = container["command"]
        assert command[:2] == ["bash", "-c"] and len(command) == 3
        if replica == "Master":  # the primary pod (training.kubeflow.org/job-role: master)
            command = katib_wrap(command, kind, metrics_file)
        env = {
            "PATH": f"{fake}:/usr/bin:/bin",
            "HOME": str(tmp),
            "FAKE_RECORD": str(record),
            **pod_env(job, replica, index),
            "KATIB_TRIAL_NAME": trial_name,
        }
        result = subprocess.run([command[0], command[1], mapped(command[2])], env=env, capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        results[f"{replica}-{index}"] = result
    records = {p.stem: json.loads(p.read_text()) for p in record.glob("*.json")}
    katib_dir = root / Path(metrics_file).parent.relative_to("/")
    files = {p.name: p.read_text() for p in katib_dir.iterdir()}
    return job, records, files


def _after(argv: list[str], flag: str) -> str:
    return argv[argv.index(flag) + 1]


def test_mnist_example_trial_receives_values(tmp_path: Path) -> None:
    template = ROOT / "examples" / "mnist-katib" / "pf-template.yml"
    job, records, files = _run_trial(template, {"learning_rate": "0.0034567", "batch_size": "64"}, tmp_path)
    assert sorted(records) == ["torchrun.0", "torchrun.1"]  # Master and Worker both ran it
    for rank in ("0", "1"):
        argv = records[f"torchrun.{rank}"]["argv"]
        assert _after(argv, "--learning_rate") == "0.0034567"
        assert _after(argv, "--batch_size") == "64"
        assert _after(argv, "--node_rank") == rank
        assert _after(argv, "--nnodes") == "2"
        assert _after(argv, "--nproc_per_node") == "1"
        assert _after(argv, "--master_addr") == "mnist-katib" + TRIAL + "-master-0"
        assert _after(argv, "--master_port") == "23456"
        assert argv[argv.index("--master_port") + 2] == "train.py"
        assert records[f"torchrun.{rank}"]["cwd"].endswith("/workspace/mnist")
        assert records[f"torchrun.{rank}"]["env"]["NODE_RANK"] == rank
    # File collector: only the completion marker lands in the metrics directory here (train.py is faked)
    assert [name for name in files if name.endswith(".pid")] and all(
        files[name] == "completed\n" for name in files if name.endswith(".pid")
    )


def test_stdout_trial_receives_values_and_katib_reads_the_metric(tmp_path: Path) -> None:
    template = FIXTURES / "good" / "stdout-grid.yml"
    values = {"lr": "0.002", "layers": "3", "optimizer": "adam", "dropout": "0.5"}
    job, records, files = _run_trial(template, values, tmp_path)
    assert sorted(records) == ["pip.0", "python.0"]  # setup, then the run command
    assert records["pip.0"]["argv"][-1].endswith("/workspace/app/requirements.txt")
    python = records["python.0"]
    assert python["argv"] == ["train.py", "--lr", "0.002", "--layers", "3", "--dropout=0.5"]
    assert python["env"]["OPTIMIZER"] == "adam"  # a parameter used in docker.env_var
    assert python["env"]["KATIB_TRIAL_NAME"] == "grid-sweep" + TRIAL
    # StdOut collector: the wrapped command redirected the whole brace group into Katib's file
    log = files["metrics.log"].splitlines()
    assert parse_text(log, ["val-loss", "accuracy", "val_acc"]) == [("val-loss", "0.25"), ("accuracy", "0.875")]
    assert any(name.endswith(".pid") and text == "completed\n" for name, text in files.items())


def test_failing_setup_fails_the_trial(tmp_path: Path) -> None:
    """`set -e` around setup: a failing setup stops the pod, and Katib's completion marker is not written."""
    template = FIXTURES / "good" / "stdout-grid.yml"
    experiment = next(o for o in compile_job(template).objects if o["kind"] == "Experiment")
    values = {"lr": "0.002", "layers": "3", "optimizer": "adam", "dropout": "0.5"}
    job = substitute(experiment["spec"]["trialTemplate"]["trialSpec"], values, "grid-sweep" + TRIAL, "hpo")
    _, _, container = replicas(job)[0]
    command = katib_wrap(container["command"], "StdOut", str(tmp_path / "metrics.log"))
    fake = _fake_bin(tmp_path)
    (fake / "pip").write_text("#!/bin/sh\nexit 3\n")
    env = {"PATH": f"{fake}:/usr/bin:/bin", "FAKE_RECORD": str(tmp_path), **pod_env(job, "Master", 0)}
    result = subprocess.run(command, env=env, capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert result.returncode != 0
    assert not list(tmp_path.glob("*.pid"))
