"""The runtime contract, executed: the generated container command runs under the
environment the Training Operator injects (pfgen.kube.operator models it), and the
template's own command sees PeriFlow's variables with the right values.

The seed templates hard-code container paths under /workspace; the tests copy
an example and move that prefix into a temporary directory, changing nothing
else in the command.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT
from pfgen.kube.operator import pod_env
from pfgen.pipeline import compile_job

FAKE_TORCHRUN = """#!/usr/bin/env bash
python3 - "$@" <<'PY'
import json, os, sys
keys = ["NUM_NODES", "NODE_RANK", "NPROC_PER_NODE", "MASTER_ADDR", "MASTER_PORT", "WORLD_SIZE", "CKPT_DIR",
        "DP_DEGREE", "PP_DEGREE", "MP_DEGREE", "GREETING"]
record = {"argv": sys.argv[1:], "cwd": os.getcwd(), "env": {k: os.environ.get(k) for k in keys}}
with open(os.path.join(os.environ["RECORD_DIR"], os.environ["NODE_RANK"] + ".json"), "w") as fh:
    json.dump(record, fh)
PY
"""


def relocated_example(tmp_path: Path, example: str) -> tuple[Path, Path]:
    """Copy an example, moving its /workspace container prefix under tmp_path/root."""
    copy = tmp_path / example
    shutil.copytree(ROOT / "examples" / example, copy, ignore=shutil.ignore_patterns("deploy"))
    root = tmp_path / "root"
    template = copy / "pf-template.yml"
    template.write_text(template.read_text().replace("/workspace", str(root)))
    return template, root


def fake_bin(tmp_path: Path) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "torchrun").write_text(FAKE_TORCHRUN)
    (bin_dir / "torchrun").chmod(0o755)
    return bin_dir


def recording_env(tmp_path: Path) -> tuple[Path, dict]:
    """A records directory and the env that puts the recording fake torchrun first on PATH."""
    records = tmp_path / "records"
    records.mkdir()
    return records, {"PATH": f"{fake_bin(tmp_path)}:{os.environ['PATH']}", "RECORD_DIR": str(records)}


def check_cifar_records(records: Path, root: Path, master_addr: str) -> None:
    """What seed cifar100's command passes torchrun on node 0 and node 1 (2 nodes x 4, --master_port 6000)."""
    for node_rank in (0, 1):
        record = json.loads((records / f"{node_rank}.json").read_text())
        assert record["cwd"] == str(root / "cifar")
        assert record["env"] == {
            "NUM_NODES": "2", "NODE_RANK": str(node_rank), "NPROC_PER_NODE": "4", "MASTER_ADDR": master_addr,
            "MASTER_PORT": "6000",  # the command's hard-coded --master_port 6000, not the operator's default
            "WORLD_SIZE": "8", "CKPT_DIR": f"{root}/ckpt",
            "DP_DEGREE": None, "PP_DEGREE": None, "MP_DEGREE": None, "GREETING": None,
        }
        argv = record["argv"]
        assert argv[:11] == ["--nnodes", "2", "--node_rank", str(node_rank), "--master_addr", master_addr,
                             "--master_port", "6000", "--nproc_per_node", "4", "main.py"]
        # The folded scalar's backslash continuations reach torchrun as one argument list.
        assert argv[11:13] == ["--model", "resnet50"]
        assert argv[-2:] == ["--load", f"{root}/ckpt"]


def run_pod(job: dict, replica: str, index: int, extra_env: dict, **stand_ins) -> subprocess.CompletedProcess:
    spec = job["spec"]["pytorchReplicaSpecs"][replica]["template"]["spec"]
    container = spec["containers"][0]
    env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/root"), **extra_env}
    env.update(pod_env(job, replica, index, **stand_ins))
    env["PATH"] = extra_env.get("PATH", env["PATH"])
    return subprocess.run(container["command"], env=env, cwd="/", capture_output=True, text=True, timeout=120)


def test_seed_cifar_command_sees_periflow_variables_on_master_and_worker(tmp_path):
    template, root = relocated_example(tmp_path, "cifar100")
    (root / "cifar").mkdir(parents=True)
    job = compile_job(template).objects[0]
    assert job["kind"] == "PyTorchJob"
    records, extra = recording_env(tmp_path)
    for replica, index in (("Master", 0), ("Worker", 0)):
        result = run_pod(job, replica, index, extra)
        assert result.returncode == 0, result.stderr
    check_cifar_records(records, root, "cifar-job-master-0")


def write_job(tmp_path: Path, body: str, config: str = "") -> Path:
    project = tmp_path / "project"
    project.mkdir(exist_ok=True)
    if config:
        (project / "pfgen.yaml").write_text(config)
    (project / "pf-template.yml").write_text(body)
    return project / "pf-template.yml"


def test_setup_runs_first_and_stops_the_job_when_it_fails(tmp_path):
    marker = tmp_path / "ran"
    template = write_job(tmp_path, f"""
name: setup-check
vm: azure-16gb-v100-1g-eastus-spot
num_devices: 1
job_setting:
  type: custom
  docker:
    image: busybox
    command:
      setup: |
        echo setting up
        false
        echo setup continued after a failure > {marker}.setup
      run: echo ran > {marker}
""")
    job = compile_job(template).objects[0]
    result = run_pod(job, "Master", 0, {})
    assert result.returncode != 0
    assert "setting up" in result.stdout
    assert not marker.exists() and not Path(f"{marker}.setup").exists()


def test_setup_exports_reach_run_and_env_var_dist_are_set(tmp_path):
    out = tmp_path / "seen"
    template = write_job(tmp_path, f"""
name: env-check
vm: azure-16gb-v100-4g-eastus-spot
num_devices: 8
dist: {{dp_degree: 2, pp_degree: 2, mp_degree: 2}}
job_setting:
  type: custom
  docker:
    image: busybox
    env_var:
      GREETING: "hello 'world' $HOME"
      RETRIES: 3
    command:
      setup: export FROM_SETUP=yes
      run: |
        echo "$FROM_SETUP|$GREETING|$RETRIES|$DP_DEGREE$PP_DEGREE$MP_DEGREE|$NODE_RANK" > {out}
""")
    job = compile_job(template).objects[0]
    result = run_pod(job, "Worker", 0, {})
    assert result.returncode == 0, result.stderr
    assert out.read_text() == "yes|hello 'world' $HOME|3|222|1\n"


def test_run_exit_status_is_the_jobs(tmp_path):
    template = write_job(tmp_path, """
name: exit-check
vm: azure-16gb-v100-1g-eastus-spot
num_devices: 1
job_setting: {type: custom, docker: {image: busybox, command: "echo before; exit 7"}}
""")
    job = compile_job(template).objects[0]
    result = run_pod(job, "Master", 0, {})
    assert result.returncode == 7 and result.stdout == "before\n"


WORLD_CHECK = """
import json, os
import torch
import torch.distributed as dist
dist.init_process_group("gloo")
value = torch.ones(1)
dist.all_reduce(value)
record = {"rank": dist.get_rank(), "world_size": dist.get_world_size(), "sum": int(value.item()),
          "node_rank": int(os.environ["NODE_RANK"]), "group_rank": int(os.environ["GROUP_RANK"]),
          "local_rank": int(os.environ["LOCAL_RANK"]), "env_world_size": int(os.environ["WORLD_SIZE"])}
with open(os.path.join(os.environ["OUT_DIR"], f"rank{record['rank']}.json"), "w") as fh:
    json.dump(record, fh)
dist.destroy_process_group()
"""


def run_world_of_4(nodes: list[tuple[list[str], dict]], results: Path) -> None:
    """Start each node's (argv, env), wait for all; every one exits 0 and the four ranks agree on a world of 4."""
    procs = [subprocess.Popen(argv, env=env, cwd="/", stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for argv, env in nodes]
    outputs = []
    for proc in procs:
        try:
            out, _ = proc.communicate(timeout=240)
        except subprocess.TimeoutExpired:
            for p in procs:
                p.kill()
            raise
        outputs.append(out)
        assert proc.returncode == 0, out
    records = sorted((json.loads(p.read_text()) for p in results.glob("rank*.json")), key=lambda r: r["rank"])
    assert [r["rank"] for r in records] == [0, 1, 2, 3], outputs
    for record in records:
        assert record["world_size"] == 4 and record["env_world_size"] == 4 and record["sum"] == 4
        assert record["node_rank"] == record["rank"] // 2 == record["group_rank"]
        assert record["local_rank"] == record["rank"] % 2


def world_of_4_job(tmp_path: Path, config: str = "") -> Path:
    """The template whose 2 nodes x 2 processes (vm cpu-box, 2 "GPUs" each) run WORLD_CHECK under real torchrun;
    ``config`` is added to its pfgen.yaml."""
    workspace = tmp_path / "ws"
    workspace.mkdir()
    (workspace / "check_world.py").write_text(WORLD_CHECK)
    return write_job(tmp_path, f"""
name: ddp-e2e
vm: cpu-box
num_devices: 4
job_setting:
  type: custom
  docker:
    image: busybox
    command: >
      cd {workspace} && torchrun --nnodes $NUM_NODES --node_rank $NODE_RANK --master_addr $MASTER_ADDR
      --master_port $MASTER_PORT --nproc_per_node $NPROC_PER_NODE check_world.py
""", config="vms:\n  cpu-box: {gpus: 2}\nplacement: {enabled: false}\n" + config)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.torch
def test_two_nodes_two_procs_under_real_torchrun_agree_on_world_size_4(tmp_path):
    pytest.importorskip("torch", reason="CPU torch is installed by .ci/setup.d; without it this end-to-end test cannot run")
    template = world_of_4_job(tmp_path)
    job = compile_job(template).objects[0]
    assert job["spec"]["nprocPerNode"] == "2" and job["spec"]["pytorchReplicaSpecs"]["Worker"]["replicas"] == 1
    results = tmp_path / "results"
    results.mkdir()
    port = free_port()
    bin_dir = str(Path(sys.executable).parent)
    extra = {"PATH": f"{bin_dir}:{os.environ['PATH']}", "OUT_DIR": str(results), "CUDA_VISIBLE_DEVICES": ""}
    nodes = []
    for replica in ("Master", "Worker"):
        spec = job["spec"]["pytorchReplicaSpecs"][replica]["template"]["spec"]
        env = {"HOME": os.environ.get("HOME", "/root"), **extra}
        env.update(pod_env(job, replica, 0, master_addr="127.0.0.1", port=port))
        nodes.append((spec["containers"][0]["command"], env))
    run_world_of_4(nodes, results)
