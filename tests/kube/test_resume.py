"""PeriFlow's resume pattern (checkpoint.input.mount_path = output_checkpoint_dir), executed.

The generated pod commands run under the Training Operator's env model
(pfgen.kube.operator) with the pods' volumes as directories: the input claim at
its hidden mount path, the job's output claim (one ReadWriteMany volume that
every replica shares) at the checkpoint directory. Then the same through
`pfgen run --local`, with a restart on the same output directory.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

from conftest import ROOT, run_pfgen
from pfgen.kube import resume
from pfgen.kube.operator import kubelet_expand, pod_env
from pfgen.pipeline import compile_job

def resume_template(name: str, command: str, mount_path: str, output_dir: str) -> str:
    """A 2-GPU custom job running ``command`` (YAML after ``command:``) that resumes from the claim
    earlier-job-ckpt mounted at ``mount_path``, writing its checkpoints to ``output_dir``."""
    return f"""\
name: {name}
vm: azure-16gb-v100-1g-eastus-spot
num_devices: 2
job_setting:
  type: custom
  docker:
    image: busybox
    command:{command}
checkpoint:
  input:
    id: earlier-job-ckpt
    mount_path: {mount_path}
  output_checkpoint_dir: {output_dir}
"""


TEMPLATE = resume_template("resume-job", """
      setup: ls -A {ckpt} > {ckpt}/../seen-by-setup-$NODE_RANK
      run: |
        ls -A {ckpt} > {ckpt}/../seen-$NODE_RANK
        cat {ckpt}/model.pt > {ckpt}/../model-seen-$NODE_RANK
        if [ "$NODE_RANK" = 0 ]; then echo "step 200" > {ckpt}/model.pt; echo new > {ckpt}/step-200.pt; fi""",
                           "{ckpt}", "{ckpt}/")


def compiled(tmp_path: Path) -> tuple[dict, Path, Path, Path]:
    root = tmp_path / "root"
    ckpt = root / "ckpt"
    project = tmp_path / "project"
    project.mkdir()
    (project / "pf-template.yml").write_text(TEMPLATE.format(ckpt=ckpt))
    job = compile_job(project / "pf-template.yml").objects[0]
    assert job["kind"] == "PyTorchJob"
    source = Path(resume.source_path(str(ckpt)))
    assert source == root / ".pfgen-resume-ckpt"
    # the volumes, as the kubelet would mount them: the input claim's files, an empty output claim
    source.mkdir(parents=True)
    (source / "model.pt").write_text("step 100\n")
    (source / "step-100.pt").write_text("old\n")
    (source / "sub").mkdir()
    (source / "sub" / "optimizer.pt").write_text("adam\n")
    (source / ".hidden").write_text("h\n")
    ckpt.mkdir()
    return job, root, ckpt, source


def pod(job: dict, replica: str, index: int) -> subprocess.Popen:
    container = job["spec"]["pytorchReplicaSpecs"][replica]["template"]["spec"]["containers"][0]
    env = {"PATH": os.environ["PATH"], **pod_env(job, replica, index)}
    command = [kubelet_expand(part, env) for part in container["command"]]  # $$ -> $, as the kubelet does
    return subprocess.Popen(command, env=env, cwd="/", stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def finish(proc: subprocess.Popen) -> str:
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out
    return out


def test_the_compiled_job_mounts_the_input_beside_the_output_claim(tmp_path):
    job, root, ckpt, source = compiled(tmp_path)
    for replica in ("Master", "Worker"):
        spec = job["spec"]["pytorchReplicaSpecs"][replica]["template"]["spec"]
        mounts = {m["name"]: m for m in spec["containers"][0]["volumeMounts"]}
        volumes = {v["name"]: v for v in spec["volumes"]}
        assert mounts["checkpoint-input"] == {"name": "checkpoint-input", "mountPath": str(source), "readOnly": True}
        assert volumes["checkpoint-input"]["persistentVolumeClaim"] == {"claimName": "earlier-job-ckpt", "readOnly": True}
        assert mounts["checkpoint-output"] == {"name": "checkpoint-output", "mountPath": f"{ckpt}/"}
        assert volumes["checkpoint-output"]["persistentVolumeClaim"] == {"claimName": "resume-job-ckpt"}


def test_rank_0_seeds_the_output_once_and_the_worker_waits_for_it(tmp_path):
    job, root, ckpt, source = compiled(tmp_path)
    worker = pod(job, "Worker", 0)  # started first: it must wait for node rank 0's copy
    time.sleep(1.0)
    assert worker.poll() is None and not (root / "seen-1").exists(), "the worker started before the copy"
    master_out = finish(pod(job, "Master", 0))
    worker_out = finish(worker)
    assert "pfgen: resume: copying checkpoint earlier-job-ckpt into" in master_out
    assert "pfgen: resume: waiting for node rank 0 to copy checkpoint earlier-job-ckpt" in worker_out
    whole = {".hidden", resume.MARKER, "model.pt", "step-100.pt", "sub"}
    for rank in ("0", "1"):  # setup and run of both nodes saw the whole input, in the output claim
        for seen in (f"seen-by-setup-{rank}", f"seen-{rank}"):
            assert whole <= set((root / seen).read_text().split()), seen
            assert resume.STAGING not in (root / seen).read_text()
    assert (root / "seen-by-setup-0").read_text().split() == sorted(whole)
    assert (root / "model-seen-0").read_text() == "step 100\n"
    # (the worker has no rendezvous to wait for here, so it may already see rank 0's newer file)
    assert (root / "model-seen-1").read_text() in ("step 100\n", "step 200\n")
    assert (ckpt / "sub" / "optimizer.pt").read_text() == "adam\n"
    assert (ckpt / resume.MARKER).read_text() == "earlier-job-ckpt\n"
    assert not (ckpt / resume.STAGING).exists()
    assert (source / "model.pt").read_text() == "step 100\n", "the input is never written"
    # the run wrote newer checkpoints into its own claim
    assert (ckpt / "model.pt").read_text() == "step 200\n"


def test_a_restarted_pod_never_overwrites_newer_checkpoints(tmp_path):
    job, root, ckpt, source = compiled(tmp_path)
    finish(pod(job, "Master", 0))
    (ckpt / "model.pt").write_text("step 300\n")  # what training wrote before the pod was recreated
    (ckpt / "step-100.pt").unlink()  # and a checkpoint it rotated out
    out = finish(pod(job, "Master", 0))
    assert "already holds checkpoint earlier-job-ckpt; not copying it again" in out
    assert "copying checkpoint" not in out
    assert (root / "model-seen-0").read_text() == "step 300\n"
    assert not (ckpt / "step-100.pt").exists()


def test_an_interrupted_copy_is_done_again_and_files_already_there_are_kept(tmp_path):
    job, root, ckpt, source = compiled(tmp_path)
    # a pod killed during the copy: a partial staging directory, no marker; and a file
    # that a run wrote into the claim (e.g. an earlier version of this job) before any marker
    (ckpt / resume.STAGING).mkdir()
    (ckpt / resume.STAGING / "model.pt").write_text("step 1")
    (ckpt / "step-100.pt").write_text("newer\n")
    out = finish(pod(job, "Master", 0))
    assert f"keeping {ckpt}/step-100.pt (already there)" in out
    assert (ckpt / "step-100.pt").read_text() == "newer\n"
    assert (root / "model-seen-0").read_text() == "step 100\n"
    assert (ckpt / "sub" / "optimizer.pt").read_text() == "adam\n"
    assert not (ckpt / resume.STAGING).exists()


def test_an_input_that_was_itself_resumed_does_not_bring_its_marker(tmp_path):
    job, root, ckpt, source = compiled(tmp_path)
    (source / resume.MARKER).write_text("an-older-job\n")
    (source / resume.STAGING).mkdir()
    finish(pod(job, "Master", 0))
    assert (ckpt / resume.MARKER).read_text() == "earlier-job-ckpt\n"
    assert not (ckpt / resume.STAGING).exists()


def test_a_failing_copy_fails_the_pod_before_the_command(tmp_path):
    job, root, ckpt, source = compiled(tmp_path)
    ckpt.rmdir()
    ckpt.write_text("not a directory: the copy cannot go there")
    proc = pod(job, "Master", 0)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 1, out  # ExitCode: 1 fails the job at once
    assert not (root / "seen-by-setup-0").exists() and not (root / "seen-0").exists()


# --------------------------------------------------------------------------- pfgen run --local

LOCAL = resume_template("resume-local", """ |
      cat /workspace/ckpt/model.pt
      touch /workspace/read-$NODE_RANK
      # a barrier, as torchrun's rendezvous would be: rank 0 saves after every rank has loaded
      if [ "$NODE_RANK" = 0 ]; then
        until [ -e /workspace/read-1 ]; do sleep 0.1; done
        echo "step $((RUN_STEP))" > /workspace/ckpt/model.pt
      fi""", "/workspace/ckpt", "/workspace/ckpt")


def run_local(project: Path, run_dir: Path, inp: Path, out: Path, step: int) -> subprocess.CompletedProcess:
    return run_pfgen("run", "--local", "--cpu", "--run-dir", str(run_dir),
                     "--mount", f"/workspace/.pfgen-resume-ckpt={inp}", "--mount", f"/workspace/ckpt={out}",
                     "--env", f"RUN_STEP={step}", str(project / "pf-template.yml"), cwd=project)


def test_run_local_resumes_and_a_restart_keeps_the_newer_checkpoint(tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    (project / "pf-template.yml").write_text(LOCAL)
    inp, out = tmp_path / "input", tmp_path / "claim"
    inp.mkdir()
    out.mkdir()
    (inp / "model.pt").write_text("step 100\n")
    first = run_local(project, tmp_path / "run1", inp, out, 200)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "[master-0] step 100" in first.stdout and "[worker-0] step 100" in first.stdout
    assert "copying checkpoint earlier-job-ckpt" in first.stdout
    assert (out / "model.pt").read_text() == "step 200\n"
    assert (inp / "model.pt").read_text() == "step 100\n"
    # a restart on the same claim: the newer checkpoint is what the job starts from
    second = run_local(project, tmp_path / "run2", inp, out, 300)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "not copying it again" in second.stdout
    assert "[master-0] step 200" in second.stdout and "[worker-0] step 200" in second.stdout
    assert (out / "model.pt").read_text() == "step 300\n"


def test_the_five_public_resume_templates_compile_with_the_seeding_step():
    corpus = ROOT / "tests" / "corpus" / "periflow-sdk"
    names = ["huggingface-causal_language_modeling-0399663", "huggingface-causal_language_modeling-c7518c6",
             "mnist-786e94c", "timm-imagenet-2abd071", "torchvision-imagenet-c818ed9"]
    for name in names:
        template = next(p for p in (corpus / name).iterdir() if p.suffix == ".yml")
        job = next(o for o in compile_job(template).objects if o["kind"] == "PyTorchJob")
        container = job["spec"]["pytorchReplicaSpecs"]["Master"]["template"]["spec"]["containers"][0]
        paths = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
        assert paths["checkpoint-output"] == "/workspace/ckpt", name
        assert paths["checkpoint-input"] == "/workspace/.pfgen-resume-ckpt", name
        assert "cp -Rp /workspace/.pfgen-resume-ckpt/. /workspace/ckpt/.pfgen-resume-staging/" in container["command"][2]
