"""`pfgen run --local --cpu` with real torch and torchrun (CPU wheel, gloo).

The examples are run as a user would run them: the committed templates,
compiled by the spine, launched by the CLI. Skipped (loudly) only when torch
cannot be imported; `.ci/setup.d/30-torch.sh` installs it.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import ROOT

pytestmark = pytest.mark.torch

SMOKE = ROOT / "examples" / "ddp-smoke" / "pf-template.yml"
REPORT = re.compile(r"^\[(master-0|worker-0)\] +smoke rank=(\d) local_rank=(\d) world_size=(\d+) node_rank=(\d+) "
                    r"group_rank=(\d+) backend=gloo allreduce=(\d+) ok$")


@pytest.fixture(autouse=True)
def need_torch():
    pytest.importorskip("torch", reason="CPU torch is not installed (.ci/setup.d/30-torch.sh installs it); "
                                        "the torchrun end-to-end tests cannot run")


def pfgen_run(*args: str, timeout: float = 600, **env: str) -> subprocess.CompletedProcess:
    full = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}", **env}
    return subprocess.run([sys.executable, "-m", "pfgen", "run", "--local", "--cpu", *args], env=full,
                          capture_output=True, text=True, timeout=timeout)


def strays(run_id: str) -> list[str]:
    found = []
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            if f"PFGEN_LOCAL_RUN={run_id}/".encode() in Path(f"/proc/{entry}/environ").read_bytes():
                found.append(Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"))
        except OSError:
            continue
    return found


def run_id(run_dir: Path) -> str:
    return json.loads((run_dir / "launch.json").read_text())["run_id"]


def check_smoke_world(result: subprocess.CompletedProcess) -> list[tuple[str, ...]]:
    """The ddp-smoke run succeeded and its four ranks agree: world size 4, allreduce 10, node and
    group rank rank // 2, local rank rank % 2. Returns the ranks' report lines, parsed."""
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr
    reports = [m.groups() for m in map(REPORT.match, result.stdout.splitlines()) if m]
    assert sorted(int(r[1]) for r in reports) == [0, 1, 2, 3], result.stdout[-4000:]
    for replica, rank, local_rank, world, node_rank, group_rank, total in reports:
        rank = int(rank)
        assert world == "4" and total == "10"
        assert int(node_rank) == int(group_rank) == rank // 2
        assert int(local_rank) == rank % 2
    return reports


@pytest.mark.parametrize("isolate", [False, True], ids=["rewritten-paths", "isolate"])
def test_two_nodes_by_two_processes_agree_on_world_size_and_node_ranks(tmp_path, isolate):
    if isolate:
        from pfgen.errors import UserError
        from pfgen.runlocal.isolate import check_isolation

        try:
            check_isolation(tmp_path / "probe")
        except UserError as exc:
            pytest.skip(f"--isolate cannot run on this machine: {exc}")
    run_dir = tmp_path / "run"
    result = pfgen_run(*(["--isolate"] if isolate else []), "--run-dir", str(run_dir), str(SMOKE))
    for replica, rank, *_ in check_smoke_world(result):
        assert replica == ("master-0" if int(rank) < 2 else "worker-0")
    # CKPT_DIR is the run folder's stand-in for the checkpoint claim, shared by both nodes
    assert sorted(p.name for p in (run_dir / "root/workspace/ckpt").iterdir()) == [f"rank-{r}.txt" for r in range(4)]
    assert strays(run_id(run_dir)) == []


def test_a_failing_rank_fails_the_run_and_leaves_no_process(tmp_path):
    run_dir = tmp_path / "run"
    result = pfgen_run("--env", "SMOKE_FAIL_RANK=3", "--grace", "5", "--run-dir", str(run_dir), str(SMOKE))
    assert result.returncode != 0, result.stdout[-4000:]
    assert "smoke rank=3 failing on purpose" in result.stdout
    assert "job failed" in result.stdout
    assert strays(run_id(run_dir)) == []


def test_sigint_stops_all_ranks_and_leaves_no_process(tmp_path):
    run_dir = tmp_path / "run"
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    proc = subprocess.Popen([sys.executable, "-m", "pfgen", "run", "--local", "--cpu", "--env", "SMOKE_HANG=1",
                             "--grace", "5", "--run-dir", str(run_dir), str(SMOKE)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 300
        log = run_dir / "output.log"
        while time.monotonic() < deadline and proc.poll() is None:
            if log.is_file() and log.read_text().count(" hanging") == 4:
                break
            time.sleep(0.2)
        else:
            pytest.fail("the four ranks never reported: " + (log.read_text()[-3000:] if log.is_file() else ""))
        ident = run_id(run_dir)
        assert len(strays(ident)) >= 6  # 2 bash, 2 torchrun agents, 4 ranks
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, out[-3000:]
    assert strays(ident) == []


def test_cifar100_example_trains_two_steps_on_tiny_data(tmp_path):
    data = tmp_path / "data"
    subprocess.run([sys.executable, str(ROOT / "examples/cifar100/tiny_data.py"), str(data), "--train", "8",
                    "--test", "4"], check=True, capture_output=True)
    run_dir = tmp_path / "run"
    result = pfgen_run("--nodes", "2", "--nproc", "1", "--mount", f"/workspace/data={data}",
                       "--env", "TRAIN_MAX_STEPS=2", "--run-dir", str(run_dir),
                       str(ROOT / "examples/cifar100/pf-template.yml"))
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr
    assert "rewrote hard-coded --nproc_per_node 4 to 1" in result.stdout
    assert "[master-0] done steps=2 world_size=2 device=cpu" in result.stdout
    assert (run_dir / "root/workspace/ckpt/checkpoint.pt").is_file()


def test_lightning_example_trains_two_steps_on_the_shipped_tiny_mnist(tmp_path):
    pytest.importorskip("pytorch_lightning", reason="pytorch-lightning is installed by .ci/setup.d/30-torch.sh")
    run_dir = tmp_path / "run"
    result = pfgen_run("--env", "TRAIN_MAX_STEPS=2", "--run-dir", str(run_dir),
                       str(ROOT / "examples/lightning-autoencoder/pf-template.yml"))
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr
    assert "[master-0] done steps=2 device=cpu" in result.stdout
    assert list((run_dir / "root/workspace/ckpt").glob("*.ckpt"))
