"""The runtime contract on Kubeflow Trainer v2 (target trainjob), executed.

The TrainJob's ``node`` command runs under the environment Trainer's torch plugin
gives each node (pfgen.kube.operator_v2 models it: only PET_NNODES,
PET_NPROC_PER_NODE, PET_NODE_RANK, PET_MASTER_ADDR, PET_MASTER_PORT=29500), and
the template's own command sees PeriFlow's variables with the right values, as
tests/kube/test_runtime_contract.py checks for the Training Operator v1.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import ROOT, SHARED
from pfgen.kube import operator_v2
from pfgen.kube.operator import kubelet_expand
from pfgen.kube.verify import check_object
from pfgen.pipeline import CompileOptions, compile_job
from test_runtime_contract import (check_cifar_records, free_port, recording_env, relocated_example, run_world_of_4,
                                   world_of_4_job, write_job)

V2 = CompileOptions(target="trainjob")
RUNTIME = ROOT / "tests" / "fixtures" / "trainer-v2.3.0" / "torch_distributed.yaml"


def node_process(job: dict, index: int, **stand_ins) -> tuple[list[str], dict[str, str]]:
    """The node container's argv and env after the kubelet's $(NAME) / $$ expansion."""
    env = {name: kubelet_expand(value, {}) for name, value in operator_v2.pod_env(job, index, **stand_ins).items()}
    return [kubelet_expand(part, env) for part in operator_v2.command(job)], env


def run_node(job: dict, index: int, extra_env: dict, **stand_ins) -> subprocess.CompletedProcess:
    argv, pod = node_process(job, index, **stand_ins)
    env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/root"), **extra_env, **pod}
    env["PATH"] = extra_env.get("PATH", env["PATH"])
    return subprocess.run(argv, env=env, cwd="/", capture_output=True, text=True, timeout=120)


def test_the_model_is_what_the_torch_plugin_sets():
    job = {"metadata": {"name": "cifar-job"}, "spec": {"trainer": {"numNodes": 2, "numProcPerNode": 4,
                                                                   "env": [{"name": "A", "value": "1"}]}}}
    assert operator_v2.injected_env(job, 1) == [
        ("PET_NNODES", "2"), ("PET_NPROC_PER_NODE", "4"), ("PET_NODE_RANK", "1"),
        ("PET_MASTER_ADDR", "cifar-job-node-0-0.cifar-job"), ("PET_MASTER_PORT", "29500"),
    ]
    env = operator_v2.pod_env(job, 0)
    assert env["A"] == "1" and not {"MASTER_ADDR", "MASTER_PORT", "WORLD_SIZE", "RANK", "PYTHONUNBUFFERED"} & set(env)
    # numProcPerNode unset: "auto" on a GPU node, else the CPU request (at least 1): torch.go EnforceMLPolicy
    gpu = {"metadata": {"name": "j"}, "spec": {"trainer": {"resourcesPerNode": {"limits": {"nvidia.com/gpu": 8}}}}}
    cpu = {"metadata": {"name": "j"}, "spec": {"trainer": {"resourcesPerNode": {"requests": {"cpu": "3"}}}}}
    assert operator_v2.nproc(gpu) == "auto" and operator_v2.nproc(cpu) == "3"
    assert operator_v2.nproc({"metadata": {"name": "j"}, "spec": {"trainer": {}}}) == "1"


def test_the_shipped_runtime_has_what_the_emitter_patches():
    runtime = yaml.safe_load(RUNTIME.read_text())
    assert (runtime["kind"], runtime["metadata"]["name"]) == ("ClusterTrainingRuntime", "torch-distributed")
    assert "torch" in runtime["spec"]["mlPolicy"]
    [job] = runtime["spec"]["template"]["spec"]["replicatedJobs"]
    assert job["name"] == operator_v2.NODE
    assert job["template"]["metadata"]["labels"]["trainer.kubeflow.org/trainjob-ancestor-step"] == "trainer"
    [container] = job["template"]["spec"]["template"]["spec"]["containers"]
    assert container["name"] == operator_v2.NODE and "env" not in container and "command" not in container


@pytest.mark.skipif(not (SHARED / "crds" / "trainer-v2.3.0").is_dir(), reason="shared/crds is not beside this checkout")
def test_the_runtime_copy_is_the_upstream_one():
    assert RUNTIME.read_bytes() == (SHARED / "crds" / "trainer-v2.3.0" / "torch_distributed.yaml").read_bytes()


def test_seed_cifar_command_sees_periflow_variables_on_every_node(tmp_path):
    template, root = relocated_example(tmp_path, "cifar100")
    (root / "cifar").mkdir(parents=True)
    job = compile_job(template, options=V2).objects[0]
    assert job["kind"] == "TrainJob" and check_object(job) == []
    records, extra = recording_env(tmp_path)
    for index in (0, 1):
        result = run_node(job, index, extra)
        assert result.returncode == 0, result.stderr
    check_cifar_records(records, root, "cifar-job-node-0-0.cifar-job")  # port 6000 from the command, not Trainer's 29500


def _seed_003_command() -> str:
    text = next(SHARED.glob("seeds/003_*.txt")).read_text(encoding="utf-8")
    args = re.search(r"> - >\n((?:>   .*\n)+)", text).group(1)
    return " ".join(line[4:] for line in args.splitlines())


@pytest.mark.skipif(not (SHARED / "seeds").is_dir(), reason="shared/seeds is not beside this checkout")
def test_seed_003_command_runs_unchanged_on_trainer_v2(tmp_path):
    """Seed 003 (an MLX PyTorchJob) reads PET_NNODES and PET_NPROC_PER_NODE: Trainer sets both;
    the elastic PET_RDZV_* it also names are set by neither operator (and warned about)."""
    command = _seed_003_command().replace("/tmp/", f"{tmp_path}/")
    template = write_job(tmp_path, f"""
name: mnist-seed3
vm: azure-16gb-v100-4g-eastus-spot
num_devices: 8
job_setting:
  type: custom
  docker:
    image: busybox
    command: {json.dumps(command)}
""")
    compiled = compile_job(template, options=V2)
    job = compiled.objects[0]
    warned = sorted(re.findall(r"\$\{(PET_\w+)\}", " ".join(d.message for d in compiled.diagnostics)))
    assert warned == ["PET_RDZV_BACKEND", "PET_RDZV_ENDPOINT", "PET_RDZV_ID"]
    records, extra = recording_env(tmp_path)
    for index in (0, 1):
        result = run_node(job, index, extra)
        assert result.returncode == 0, result.stderr
        record = json.loads((records / f"{index}.json").read_text())
        assert record["argv"][:4] == ["--nnodes", "2", "--nproc_per_node", "4"]
        assert record["env"]["WORLD_SIZE"] == "8" and record["env"]["NODE_RANK"] == str(index)
        assert record["env"]["MASTER_PORT"] == "29500"  # no --master_port in the command: Trainer's
    assert (tmp_path / "checkpoints").is_dir() and (tmp_path / "logs").is_dir()


def test_setup_fails_fast_exports_carry_over_and_run_status_is_the_jobs(tmp_path):
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
      GREETING: "hello 'world' $HOME $(date) $$"
      RETRIES: 3
    command:
      setup: export FROM_SETUP=yes
      run: |
        echo "$FROM_SETUP|$GREETING|$RETRIES|$DP_DEGREE$PP_DEGREE$MP_DEGREE|$NODE_RANK|$WORLD_SIZE" > {out}
        exit 7
""")
    job = compile_job(template, options=V2).objects[0]
    result = run_node(job, 1, {})
    assert result.returncode == 7
    assert out.read_text() == "yes|hello 'world' $HOME $(date) $$|3|222|1|8\n"

    failing = write_job(tmp_path, """
name: setup-check
vm: azure-16gb-v100-1g-eastus-spot
num_devices: 1
job_setting:
  type: custom
  docker:
    image: busybox
    command: {setup: "echo setting up; false; echo continued", run: "echo ran"}
""")
    result = run_node(compile_job(failing, options=V2).objects[0], 0, {})
    assert result.returncode != 0 and result.stdout == "setting up\n"


@pytest.mark.torch
def test_two_nodes_two_procs_under_real_torchrun_on_trainer_v2_agree_on_world_size_4(tmp_path):
    pytest.importorskip("torch", reason="CPU torch is installed by .ci/setup.d; without it this end-to-end test cannot run")
    template = world_of_4_job(tmp_path, "target: trainjob\n")
    job = compile_job(template).objects[0]  # target: trainjob from pfgen.yaml
    assert job["kind"] == "TrainJob" and job["spec"]["trainer"]["numNodes"] == 2
    assert job["spec"]["trainer"]["numProcPerNode"] == 2
    results = tmp_path / "results"
    results.mkdir()
    port = free_port()
    extra = {"OUT_DIR": str(results), "CUDA_VISIBLE_DEVICES": "", "HOME": os.environ.get("HOME", "/root"),
             "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    nodes = []
    for index in (0, 1):
        argv, pod = node_process(job, index, master_addr_="127.0.0.1", port=port)
        nodes.append((argv, {**extra, **pod}))
    run_world_of_4(nodes, results)
