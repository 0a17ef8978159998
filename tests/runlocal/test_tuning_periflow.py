"""The File collector on the PeriFlow SDK's metric log, end to end.

periflow-sdk 0.1.x in local mode (PERIFLOW_ENABLED unset, as on Kubeflow)
appends ``json.dumps(dict)`` lines to ``pf.init(local_log_name=...)``: numbers
stay unquoted. Katib's JSON parser only accepts string values, so pfgen's
``format: periflow`` reads the log as TEXT with a ``"name": value`` filter.
These tests use the real SDK, and finally run the MNIST example's trial (both
pods, real torchrun, CPU) exactly as Katib would start it, then read the metric
file with Katib's text parser.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from pfgen.emit.katib import PERIFLOW_FILTER
from pfgen.kube.operator import pod_env
from pfgen.pipeline import compile_job

from katib_runtime import katib_wrap, parse_json, parse_text, replicas, substitute

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "mnist-katib"

pytestmark = pytest.mark.torch

SDK_LOG = """
import sys
import periflow_sdk as pf
pf.init(local_log_name=sys.argv[1])
pf.metric({"epoch": 1, "loss": 0.5, "accuracy": 0.91})
pf.metric({"epoch": 2, "loss": 1e-05, "accuracy": 0.93, "note": "val accuracy improved"})
pf.metric({"loss": "0.25", "accuracy": "-7.5e-3"})
"""


def _need_sdk() -> None:
    pytest.importorskip("torch", reason="CPU torch is installed by .ci/setup.d; the PeriFlow SDK imports it")
    pytest.importorskip("periflow_sdk", reason="periflow-sdk==0.1.2 comes with the [test] extra")


def test_periflow_filter_reads_the_sdk_log(tmp_path: Path) -> None:
    _need_sdk()
    log = tmp_path / "metrics.jsonl"
    env = {k: v for k, v in os.environ.items() if k != "PERIFLOW_ENABLED"}
    subprocess.run([sys.executable, "-c", SDK_LOG, str(log)], check=True, env=env, timeout=120)
    lines = log.read_text().splitlines()
    assert json.loads(lines[0]) == {"epoch": 1, "loss": 0.5, "accuracy": 0.91}  # what the SDK writes
    found = parse_text(lines, ["accuracy", "loss"], [PERIFLOW_FILTER])
    assert found == [
        ("loss", "0.5"), ("accuracy", "0.91"),
        ("loss", "1e-05"), ("accuracy", "0.93"),
        ("loss", "0.25"), ("accuracy", "-7.5e-3"),
    ]
    # Why not format: json — Katib's JSON parser skips numeric values, so only the quoted line counts.
    assert parse_json(lines, ["accuracy", "loss"]) == [("accuracy", "-7.5e-3"), ("loss", "0.25")]


def _write_idx(path: Path, array: bytes, shape: tuple[int, ...]) -> None:
    header = bytes([0, 0, 8, len(shape)]) + struct.pack(">" + "I" * len(shape), *shape)
    with gzip.open(path.with_name(path.name + ".gz"), "wb") as handle:
        handle.write(header + array)


def _fake_mnist(directory: Path, count: int = 64) -> None:
    import random

    rng = random.Random(0)
    directory.mkdir(parents=True)
    for prefix in ("train", "t10k"):
        images = bytes(rng.randrange(256) for _ in range(count * 28 * 28))
        labels = bytes(rng.randrange(10) for _ in range(count))
        _write_idx(directory / f"{prefix}-images-idx3-ubyte", images, (count, 28, 28))
        _write_idx(directory / f"{prefix}-labels-idx1-ubyte", labels, (count,))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
def test_mnist_trial_runs_and_katib_reads_its_metrics(tmp_path: Path) -> None:
    """Both pods of one trial under real torchrun (gloo on loopback) with the real SDK."""
    _need_sdk()
    experiment = next(o for o in compile_job(EXAMPLE / "pf-template.yml").objects if o["kind"] == "Experiment")
    spec = experiment["spec"]
    trial = "mnist-katib-q4w8e2rt"
    job = substitute(spec["trialTemplate"]["trialSpec"], {"learning_rate": "0.005", "batch_size": "16"}, trial, "ml-team")
    source = spec["metricsCollectorSpec"]["source"]
    metrics_file = source["fileSystemPath"]["path"]

    root = tmp_path / "root"  # stands in for the container filesystem: image workspace, data PVC, Katib's emptyDir
    shutil.copytree(EXAMPLE / "mnist", root / "workspace" / "mnist")
    _fake_mnist(root / "workspace" / "data")
    (root / Path(metrics_file).parent.relative_to("/")).mkdir(parents=True)
    bin_dir = Path(sys.executable).parent  # torchrun and python of this environment
    katib_dir = root / Path(metrics_file).parent.relative_to("/")

    def mapped(text: str) -> str:
        for prefix in ("/workspace", str(Path(metrics_file).parent)):
            text = text.replace(prefix, str(root) + prefix)
        return text

    def run_pods(port: int) -> list[tuple[int, str]]:
        """Start every pod of the trial, wait for all of them, never leave one running."""
        pods = []
        try:
            for replica, index, container in replicas(job):
                command = container["command"]
                if replica == "Master":
                    command = katib_wrap(command, spec["metricsCollectorSpec"]["collector"]["kind"], metrics_file)
                env = {
                    "PATH": f"{bin_dir}:/usr/bin:/bin",
                    "HOME": str(tmp_path),
                    **pod_env(job, replica, index, master_addr="127.0.0.1", port=port),
                    "KATIB_TRIAL_NAME": trial,
                    "OMP_NUM_THREADS": "1",
                }
                pods.append(subprocess.Popen([command[0], command[1], mapped(command[2])], env=env,
                                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                             start_new_session=True))
            outputs = [pod.communicate(timeout=300)[0] for pod in pods]
            return [(pod.returncode, out) for pod, out in zip(pods, outputs)]
        finally:
            for pod in pods:  # a pod's process group: bash, torchrun and its workers
                if pod.poll() is None:
                    os.killpg(pod.pid, signal.SIGKILL)
                    pod.wait()

    results = run_pods(_free_port())
    outputs = [out for _, out in results]
    for code, out in results:
        assert code == 0, out
    log = (katib_dir / Path(metrics_file).name).read_text().splitlines()
    assert len(log) == 5  # one line per epoch, written by rank 0 only
    metrics = [spec["objective"]["objectiveMetricName"], *spec["objective"]["additionalMetricNames"]]
    found = parse_text(log, metrics, source["filter"]["metricsFormat"])
    assert [name for name, _ in found] == ["loss", "accuracy"] * 5
    assert all(0.0 <= float(value) <= 1.0 for name, value in found if name == "accuracy")
    assert [p.read_text() for p in katib_dir.glob("*.pid")] == ["completed\n"]  # the master exited 0
    assert "accuracy=" in outputs[0]  # the StdOut form is printed too
