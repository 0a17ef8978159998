"""`pfgen run --local`, without torch: the launch contract with plain bash jobs.

Every test runs the real CLI in a subprocess on a template compiled by the
spine; the replicas are real process groups. Strays are looked for by an
independent /proc scan for the run's marker (every descendant inherits it).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import run_pfgen
from pfgen.runlocal.plan import Options, find_job, path_rewriter, plan_local, shrink

CPU_BOX = """registry: registry.example.com/team
vms:
  cpu-box: {gpus: 2}
placement: {enabled: false}
storage: {class: standard, checkpoint_size: 1Gi}
datastores:
  tiny-set: {size: 1Gi}
"""


def job_template(tmp_path: Path, command: str, *, devices: int = 4, extra: str = "") -> Path:
    project = tmp_path / "project"
    project.mkdir(exist_ok=True)
    (project / "pfgen.yaml").write_text(CPU_BOX)
    indented = "\n".join("      " + line for line in command.strip().splitlines())
    (project / "pf-template.yml").write_text(f"""name: local-check
vm: cpu-box
num_devices: {devices}
job_setting:
  type: custom
  docker:
    image: busybox
    command: |
{indented}
{extra}""")
    return project / "pf-template.yml"


def env_for_run(**extra: str) -> dict:
    return {"PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}", "PFGEN_TEST": "1", **extra}


def strays(run_id: str) -> list[str]:
    """Command lines of live processes carrying this run's marker."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            environ = Path(f"/proc/{entry}/environ").read_bytes()
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
        except OSError:
            continue
        if f"PFGEN_LOCAL_RUN={run_id}/".encode() in environ:
            found.append(entry + ": " + cmdline.replace(b"\0", b" ").decode(errors="replace"))
    return found


def launched(run_dir: Path) -> dict:
    return json.loads((run_dir / "launch.json").read_text())


def test_every_replica_gets_the_operator_environment_for_the_shrunk_job(tmp_path):
    template = job_template(tmp_path, """
echo "world=$WORLD_SIZE rank=$RANK node=$NODE_RANK nodes=$NUM_NODES nproc=$NPROC_PER_NODE pet=$PET_NNODES/$PET_NPROC_PER_NODE/$PET_NODE_RANK addr=$MASTER_ADDR:$MASTER_PORT cuda=[$CUDA_VISIBLE_DEVICES] unbuf=$PYTHONUNBUFFERED"
""", devices=8)
    run_dir = tmp_path / "run"
    result = run_pfgen("run", "--local", "--cpu", "--nodes", "3", "--nproc", "1", "--run-dir", str(run_dir),
                       str(template), env=env_for_run())
    assert result.returncode == 0, result.stderr + result.stdout
    port = launched(run_dir)["master_port"]
    for node, name in enumerate(["master-0", "worker-0", "worker-1"]):
        line = (f"[{name}] world=3 rank={node} node={node} nodes=3 nproc=1 pet=3/1/{node} "
                f"addr=127.0.0.1:{port} cuda=[] unbuf=1")
        assert line in result.stdout.splitlines()
        # each replica's own log has its raw output
        assert (run_dir / "logs" / f"{name}.log").read_text().startswith(f"world=3 rank={node} ")
    assert "[worker-1] world=3" in (run_dir / "output.log").read_text()
    assert "shrunk from 4 node(s) x 2 process(es) to 3 x 1" in result.stdout


PATHS_SCRIPT = """
echo "start=$(pwd)"
cat /workspace/data/hello.txt
cd /workspace/code && ./tool.sh && touch written-by-job
echo "ckpt=$CKPT_DIR" && touch "$CKPT_DIR/written"
"""


def run_paths_job(tmp_path: Path, extra_script: str, *flags: str) -> tuple[subprocess.CompletedProcess, Path, Path]:
    """A job with a workspace, a data claim (given with --mount) and a checkpoint claim."""
    data = tmp_path / "tiny-data"
    data.mkdir()
    (data / "hello.txt").write_text("hi\n")
    template = job_template(tmp_path, PATHS_SCRIPT + extra_script, devices=2,
                            extra="""  workspace: {mount_path: /workspace, path: code}
data: {name: tiny-set, mount_path: /workspace/data}
checkpoint: {output_checkpoint_dir: /workspace/ckpt}
""")
    code = template.parent / "code"
    code.mkdir()
    (code / "tool.sh").write_text("#!/bin/sh\necho tool ran in $(pwd -P)\n")
    (code / "tool.sh").chmod(0o755)
    run_dir = tmp_path / "run"
    result = run_pfgen("run", "--local", "--cpu", *flags, "--mount", f"/workspace/data={data}",
                       "--run-dir", str(run_dir), str(template), env=env_for_run())
    assert result.returncode == 0, result.stderr + result.stdout
    return result, run_dir, code


def test_container_paths_map_into_the_run_folder_and_ckpt_dir_is_writable(tmp_path):
    result, run_dir, code = run_paths_job(tmp_path, 'echo "untouched: /workspaces http://host/workspace"\n')
    out = result.stdout
    assert f"[master-0] start={run_dir.resolve()}/root/workspace" in out  # the image's WORKDIR: the mount path
    assert "[master-0] hi" in out
    # The workspace is a copy of the image's files: the job cannot write into the source tree.
    assert f"[master-0] tool ran in {run_dir.resolve()}/root/workspace/code" in out
    assert (run_dir / "root" / "workspace" / "code" / "written-by-job").is_file()
    assert sorted(p.name for p in code.iterdir()) == ["tool.sh"]
    assert f"[master-0] ckpt={run_dir.resolve()}/root/workspace/ckpt" in out
    assert (run_dir / "root" / "workspace" / "ckpt" / "written").is_file()
    assert "[master-0] untouched: /workspaces http://host/workspace" in out


def test_a_failing_replica_fails_the_job_and_leaves_no_process_behind(tmp_path):
    # The master starts a grandchild in a session of its own (as torchrun does
    # with its workers): killing the replica's process group cannot reach it.
    template = job_template(tmp_path, """
if [ "$NODE_RANK" = 1 ]; then sleep 1; echo giving up; exit 7; fi
setsid sleep 300 &
sleep 300
""")
    run_dir = tmp_path / "run"
    result = run_pfgen("run", "--local", "--cpu", "--grace", "2", "--run-dir", str(run_dir), str(template),
                       env=env_for_run())
    assert result.returncode == 7, result.stdout
    assert "worker-0 failed (7); stopping the other replicas" in result.stdout
    assert "master-0 exited by signal SIGTERM" in result.stdout
    assert strays(launched(run_dir)["run_id"]) == []


def test_job_succeeds_with_the_master_and_reports_each_exit(tmp_path):
    template = job_template(tmp_path, 'echo "node $NODE_RANK done"')
    result = run_pfgen("run", "--local", "--cpu", "--run-dir", str(tmp_path / "run"), str(template), env=env_for_run())
    assert result.returncode == 0
    assert "pfgen: master-0 exited 0" in result.stdout and "pfgen: worker-0 exited 0" in result.stdout


def test_sigint_stops_every_replica_and_their_detached_children(tmp_path):
    template = job_template(tmp_path, """
setsid sleep 300 &
echo ready
sleep 300
""")
    run_dir = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-m", "pfgen", "run", "--local", "--cpu", "--grace", "3",
                             "--run-dir", str(run_dir), str(template)],
                            env={**os.environ, **env_for_run()}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            log = run_dir / "output.log"
            if log.is_file() and log.read_text().count("] ready") == 2:
                break
            time.sleep(0.1)
        else:
            pytest.fail("replicas never reported ready")
        run_id = launched(run_dir)["run_id"]
        assert len(strays(run_id)) >= 4  # 2 bash + 2 sleep + 2 detached sleep
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, out
    assert "received SIGINT; stopping every replica" in out
    assert strays(run_id) == []


def test_without_cpu_a_machine_without_gpus_is_refused(tmp_path):
    template = job_template(tmp_path, "echo never")
    result = run_pfgen("run", "--local", "--run-dir", str(tmp_path / "run"), str(template),
                       env=env_for_run(CUDA_VISIBLE_DEVICES=""))
    assert result.returncode == 2
    assert "needs 4 GPU(s) (2 node(s) x 2); this machine has 0. Add --cpu" in result.stderr
    assert "never" not in result.stdout


def test_run_requires_local_and_rejects_params_without_tuning(tmp_path):
    template = job_template(tmp_path, "echo never")
    result = run_pfgen("run", str(template), env=env_for_run())
    assert result.returncode == 2 and "only --local is supported" in result.stderr
    result = run_pfgen("run", "--local", "--cpu", "--param", "lr=0.1", "--run-dir", str(tmp_path / "r"),
                       str(template), env=env_for_run())
    assert result.returncode == 2 and "the template has no tuning section" in result.stderr


def test_a_busy_hard_coded_master_port_is_replaced_in_env_and_command(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        template = job_template(tmp_path, f'echo "flag --master_port {port} env $MASTER_PORT"')
        result = run_pfgen("run", "--local", "--cpu", "--nodes", "1", "--run-dir", str(tmp_path / "run"),
                           str(template), env=env_for_run())
    assert result.returncode == 0, result.stderr + result.stdout
    chosen = launched(tmp_path / "run")["master_port"]
    assert chosen != port
    assert f"[master-0] flag --master_port {chosen} env {chosen}" in result.stdout
    assert f"port {port} (pytorchjob-port) is busy here" in result.stdout


def test_path_rewriter_maps_whole_paths_only(tmp_path):
    rewrite = path_rewriter(["/workspace"], Path("/run/root"))
    assert rewrite("cd /workspace/cifar && x --data=/workspace/data '/workspace' /workspace") == \
        "cd /run/root/workspace/cifar && x --data=/run/root/workspace/data '/run/root/workspace' /run/root/workspace"
    for untouched in ("/workspaces/x", "/opt/workspace/x", "s3://b/workspace/x", "~/workspace", "a/workspace"):
        assert rewrite(untouched) == untouched


def test_hard_coded_nproc_per_node_follows_the_shrink(tmp_path):
    job = _job("torchrun --nnodes 2 --nproc_per_node 4 --master_port 6000 main.py --nproc_per_node 4x "
               "--nnodes=2:4", nproc=4)
    plan = plan_local(job, Options(cpu=True, nodes=1, nproc=2, run_dir=tmp_path / "run"))
    script = plan.replicas[0].argv[-1]
    assert "--nnodes 1 --nproc_per_node 2 --master_port" in script
    assert script.endswith("main.py --nproc_per_node 4x --nnodes=2:4")  # not the compiled count: left alone
    assert shrink(job, 1, 2)["spec"]["pytorchReplicaSpecs"].keys() == {"Master"}


def _job(script: str, nproc: int = 2, workers: int = 1) -> dict:
    container = {"name": "pytorch", "image": "x", "command": ["bash", "-c", script],
                 "env": [{"name": "NUM_NODES", "value": str(workers + 1)}, {"name": "NPROC_PER_NODE", "value": str(nproc)}],
                 "ports": [{"name": "pytorchjob-port", "containerPort": 6000}]}
    replica = {"replicas": 1, "restartPolicy": "OnFailure", "template": {"spec": {"containers": [container]}}}
    specs = {"Master": replica}
    if workers:
        specs["Worker"] = {**replica, "replicas": workers}
    return {"apiVersion": "kubeflow.org/v1", "kind": "PyTorchJob", "metadata": {"name": "j"},
            "spec": {"nprocPerNode": str(nproc), "pytorchReplicaSpecs": specs}}


def _experiment() -> dict:
    trial = _job('python train.py --lr=${trialParameters.learningRate} --opt "${trialParameters.optimizer}" '
                 '--name ${trialParameters.trialName}')
    del trial["metadata"]["name"]
    return {"apiVersion": "kubeflow.org/v1beta1", "kind": "Experiment", "metadata": {"name": "tune", "namespace": "ml"},
            "spec": {"objective": {"type": "minimize", "objectiveMetricName": "loss"},
                     "parameters": [
                         {"name": "lr", "parameterType": "double", "feasibleSpace": {"min": "0.001", "max": "0.1"}},
                         {"name": "optimizer", "parameterType": "categorical", "feasibleSpace": {"list": ["sgd", "adam"]}}],
                     "trialTemplate": {"primaryContainerName": "pytorch", "trialSpec": trial, "trialParameters": [
                         {"name": "learningRate", "reference": "lr"},
                         {"name": "optimizer", "reference": "optimizer"},
                         {"name": "trialName", "reference": "${trialSpec.Name}"}]}}}


def test_a_tuning_trial_substitutes_every_parameter_like_katib():
    job, objective = find_job([_experiment()], {"lr": "0.01", "optimizer": "adam"})
    script = job["spec"]["pytorchReplicaSpecs"]["Master"]["template"]["spec"]["containers"][0]["command"][-1]
    assert script == 'python train.py --lr=0.01 --opt "adam" --name tune-local'
    assert job["metadata"]["name"] == "tune-local" and objective == "loss"
    # the trial parameter's own name works as well as the search-space name
    job, _ = find_job([_experiment()], {"learningRate": "0.05", "optimizer": "sgd"})
    assert "--lr=0.05" in json.dumps(job)


@pytest.mark.parametrize("params, message", [
    ({"lr": "0.01"}, "missing: --param optimizer=VALUE"),
    ({"lr": "0.01", "optimiser": "sgd"}, "--param optimiser: no such tuning parameter; did you mean 'optimizer'?"),
    ({"lr": "fast", "optimizer": "sgd"}, "--param lr=fast: not a double"),
    ({"lr": "0.5", "optimizer": "sgd"}, "--param lr=0.5: outside the search space [0.001, 0.1]"),
    ({"lr": "0.01", "optimizer": "rmsprop"}, "--param optimizer=rmsprop: not one of sgd, adam"),
])
def test_a_tuning_trial_refuses_missing_or_bad_parameters(params, message):
    from pfgen.errors import UserError

    with pytest.raises(UserError) as excinfo:
        find_job([_experiment()], params)
    assert message in str(excinfo.value)


def isolation_unavailable(tmp_path: Path) -> str:
    """Why --isolate cannot run here ('' when it can)."""
    from pfgen.errors import UserError
    from pfgen.runlocal.plan import check_isolation

    try:
        check_isolation(tmp_path)
    except UserError as exc:
        return str(exc)
    return ""


def test_isolate_runs_at_the_real_container_paths_without_touching_the_host(tmp_path):
    reason = isolation_unavailable(tmp_path / "probe")
    if reason:
        pytest.skip(f"--isolate cannot run on this machine: {reason}")
    result, run_dir, _ = run_paths_job(
        tmp_path, "echo layer > /etc/pfgen-isolate-check && cat /etc/pfgen-isolate-check\n", "--isolate")
    out = result.stdout.splitlines()
    assert {"[master-0] start=/workspace", "[master-0] hi", "[master-0] tool ran in /workspace/code",
            "[master-0] ckpt=/workspace/ckpt", "[master-0] layer"} <= set(out)
    # the claim is the run folder's directory; the rest of the replica's writes stay in its own layer
    assert (run_dir / "root" / "workspace" / "ckpt" / "written").is_file()
    assert not Path("/etc/pfgen-isolate-check").exists()
    assert (run_dir / "ns" / "master-0" / "upper" / "etc" / "pfgen-isolate-check").is_file()
    assert not Path("/workspace/code").exists()


def test_each_node_sees_only_its_own_gpus(tmp_path):
    plan = plan_local(_job("true", nproc=2, workers=2), Options(gpus=6, run_dir=tmp_path / "run"))
    assert plan.device == "cuda"
    assert [dict(r.env)["CUDA_VISIBLE_DEVICES"] for r in plan.replicas] == ["0,1", "2,3", "4,5"]
    with pytest.raises(Exception, match="needs 6 GPU"):
        plan_local(_job("true", nproc=2, workers=2), Options(gpus=4, run_dir=tmp_path / "run2"))


def test_a_tuning_trial_runs_and_reports_the_objective_katib_would_collect(tmp_path, capsys):
    from pfgen.runlocal.plan import launch

    experiment = _experiment()
    trial = experiment["spec"]["trialTemplate"]["trialSpec"]
    for replica in trial["spec"]["pytorchReplicaSpecs"].values():
        replica["template"]["spec"]["containers"][0]["command"] = [
            "bash", "-c", 'echo "epoch=1 loss=${trialParameters.learningRate}0 opt=${trialParameters.optimizer}"']
    job, objective = find_job([experiment], {"lr": "0.05", "optimizer": "sgd"})
    plan = plan_local(job, Options(cpu=True, run_dir=tmp_path / "run"), objective=objective)
    assert launch(plan) == 0
    out = capsys.readouterr().out
    assert "[master-0] epoch=1 loss=0.050 opt=sgd" in out
    assert "pfgen: objective loss: 1 value(s) on the master, last 0.050" in out


def test_a_stdout_collector_filter_reads_the_masters_own_format(tmp_path, capsys):
    """{kind: stdout, filter}: Katib applies the metricsFormat to the master's output, and so does run --local."""
    from pfgen.runlocal.plan import launch, prepare

    template = tmp_path / "pf-template.yml"
    template.write_text(
        "name: stdout-filter\nvm: azure-16gb-v100-1g-eastus-spot\nnum_devices: 1\n"
        "job_setting: {type: custom, docker: {image: busybox, command: "
        "'echo \"epoch 1: loss is ${trialParameters.lr}0 (loss=9)\"'}}\n"
        "tuning:\n  objective: {type: minimize, metric: loss}\n  max_trials: 2\n  parallel_trials: 1\n"
        "  metrics_collector: {kind: stdout, filter: '(loss) is ([+-]?\\d+(\\.\\d+)?)'}\n"
        "  parameters: {lr: {type: double, min: 0.001, max: 0.1}}\n")
    plan = prepare(template, Options(cpu=True, run_dir=tmp_path / "run", params=(("lr", "0.05"),)))
    assert plan.metrics_filters == (r"(loss) is ([+-]?\d+(\.\d+)?)",)
    assert launch(plan) == 0
    out = capsys.readouterr().out
    # the filter's value, not the 9 that Katib's default name=value filter would take
    assert "pfgen: objective loss: 1 value(s) on the master, last 0.050" in out


def test_env_overrides_the_container_env_but_not_the_operators(tmp_path):
    plan = plan_local(_job("true"), Options(cpu=True, env=(("NUM_NODES", "9"), ("WORLD_SIZE", "99"), ("EXTRA", "x")),
                                            run_dir=tmp_path / "run"))
    env = dict(plan.replicas[1].env)
    assert (env["NUM_NODES"], env["WORLD_SIZE"], env["EXTRA"], env["RANK"]) == ("9", "4", "x", "1")
    assert any("--env WORLD_SIZE: the Training Operator's value" in note for note in plan.notes)


def test_dollar_sequences_run_as_written_through_the_kubelet_expansion(tmp_path):
    """pfgen escapes `$$` and `$(` against the kubelet; run --local expands like the kubelet, so both cancel out."""
    template = job_template(tmp_path, """
echo "pid-dollars=[$$]" | sed 's/[0-9]//g'
echo "tag=$TAG subst=$(echo ok) literal=[\\$(NUM_NODES)]"
""", extra="    env_var:\n      TAG: 'a$$b$(NUM_NODES)c'\n")
    result = run_pfgen("run", "--local", "--cpu", "--nodes", "1", "--run-dir", str(tmp_path / "run"), str(template),
                       env=env_for_run())
    assert result.returncode == 0, result.stderr + result.stdout
    assert "[master-0] pid-dollars=[]" in result.stdout.splitlines()
    assert "[master-0] tag=a$$b$(NUM_NODES)c subst=ok literal=[$(NUM_NODES)]" in result.stdout.splitlines()


def test_a_workspace_template_runs_locally_without_a_registry(tmp_path):
    """Nothing is pushed by run --local, so pfgen.yaml needs no registry; build still refuses without one."""
    template = job_template(tmp_path, "cd /workspace/code && ./tool.sh", devices=2)
    project = template.parent
    (project / "pfgen.yaml").write_text(CPU_BOX.replace("registry: registry.example.com/team\n", ""))
    code = project / "code"  # the directory the command enters: the workspace, as `pf job run -d ./code` took it
    code.mkdir()
    (code / "tool.sh").write_text("#!/bin/sh\necho tool ran in $(pwd -P)\n")
    (code / "tool.sh").chmod(0o755)
    run_dir = tmp_path / "run"
    result = run_pfgen("run", "--local", "--cpu", "--run-dir", str(run_dir), str(template), env=env_for_run())
    assert result.returncode == 0, result.stderr + result.stdout
    assert f"[master-0] tool ran in {run_dir.resolve()}/root/workspace/code" in result.stdout
    built = run_pfgen("build", str(project), "-o", str(tmp_path / "out"))
    assert built.returncode == 2 and "needs a registry" in built.stderr
