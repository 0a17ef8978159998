"""`pfgen run --local --target trainjob`: the TrainJob's nodes as local processes under Trainer v2's
environment (pfgen.kube.operator_v2: PET_* only), with real torchrun on the CPU (gloo)."""

from __future__ import annotations

import json

import pytest

from conftest import ROOT
from pfgen.runlocal.model import Options
from pfgen.runlocal.plan import prepare
from test_runlocal_torch import SMOKE, check_smoke_world, pfgen_run, run_id, strays


def test_each_node_gets_trainers_variables_and_the_script_derives_periflows(tmp_path):
    plan = prepare(SMOKE, Options(cpu=True, run_dir=tmp_path / "run", target="trainjob"))
    assert (plan.nodes, plan.nproc, plan.world_size) == (2, 2, 4)
    for rank, replica in enumerate(plan.replicas):
        env = dict(replica.env)
        assert env["PET_NNODES"] == "2" and env["PET_NPROC_PER_NODE"] == "2" and env["PET_NODE_RANK"] == str(rank)
        assert env["PET_MASTER_ADDR"] == "127.0.0.1" and env["PET_MASTER_PORT"] == str(plan.master_port)
        # Trainer sets none of the v1 operator's variables; the script's prelude exports PeriFlow's
        assert not {"MASTER_ADDR", "WORLD_SIZE", "RANK", "PYTHONUNBUFFERED"} & set(env)
        assert 'export WORLD_SIZE="$((PET_NNODES * PET_NPROC_PER_NODE))"' in replica.argv[-1]
    launch = json.loads((tmp_path / "run" / "launch.json").read_text())
    assert launch["world_size"] == 4 and any("runtime's" in note for note in launch["notes"])


def test_a_busy_hard_coded_port_is_rewritten_in_the_prelude_too(tmp_path):
    import socket

    template = ROOT / "examples" / "cifar100" / "pf-template.yml"  # --master_port 6000
    with socket.socket() as busy:
        busy.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            busy.bind(("127.0.0.1", 6000))
            busy.listen()
        except OSError:
            pass  # already busy
        plan = prepare(template, Options(cpu=True, run_dir=tmp_path / "run", target="trainjob"))
    assert plan.master_port != 6000
    script = plan.replicas[0].argv[-1]
    assert f"export MASTER_PORT={plan.master_port}\n" in script and f"--master_port {plan.master_port}" in script


@pytest.mark.torch
def test_two_nodes_by_two_processes_on_trainer_v2_agree_on_world_size_4(tmp_path):
    pytest.importorskip("torch", reason="CPU torch is not installed (.ci/setup.d/30-torch.sh installs it)")
    run_dir = tmp_path / "run"
    result = pfgen_run("--target", "trainjob", "--run-dir", str(run_dir), str(SMOKE))
    check_smoke_world(result)
    assert strays(run_id(run_dir)) == []
