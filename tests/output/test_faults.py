"""Interrupted and concurrent builds: each job directory is always all old or all new.

The build is cut with SIGKILL at every filesystem mutation in turn (the
test-only PFGEN_FAULT_AFTER=N hook makes the build kill itself just before
its (N+1)-th mutation), with both swap strategies, and at random moments
from outside; then concurrent builds into one output directory.
"""

from __future__ import annotations

import fcntl
import os
import random
import shutil
import signal
import subprocess
import sys
import time

import pytest

from gitops_util import job_dirs, make_repo, pfgen, snapshot, write_template

pytestmark = pytest.mark.slow


def _state(out):
    """Per directory in OUT its files, plus the root kustomization; None for what is absent."""
    dirs = job_dirs(out)
    root = out / "kustomization.yaml"
    return dirs, (root.read_bytes() if root.exists() else None)


@pytest.fixture()
def scenario(tmp_path):
    """A built repository (OLD), then edited so the next build changes, creates and removes directories."""
    repo = make_repo(tmp_path / "repo", {"a": "train-a", "b": "train-b"})
    assert pfgen(repo, "build", "--exit-code").returncode == 1
    (repo / "deploy/train-a/NOTES.md").write_text("hand-written, must survive\n")
    old = _state(repo / "deploy")
    write_template(repo, "a", "train-a", command="python main.py --epochs 9")
    shutil.rmtree(repo / "jobs/b")
    write_template(repo, "c", "train-c")
    # NEW: what an uninterrupted build produces
    twin = tmp_path / "twin"
    shutil.copytree(repo, twin, symlinks=True)
    assert pfgen(twin, "build", "--exit-code").returncode == 1
    new = _state(twin / "deploy")
    saved = tmp_path / "old-deploy"
    shutil.copytree(repo / "deploy", saved, symlinks=True)
    assert set(old[0]) == {"_shared", "train-a", "train-b"} and set(new[0]) == {"_shared", "train-a", "train-c"}
    assert old[0]["_shared"] != new[0]["_shared"] and old[0]["train-a"] != new[0]["train-a"]
    return repo, saved, old, new


def _assert_all_old_or_all_new(out, old, new):
    dirs, root = _state(out)
    for name in sorted(set(old[0]) | set(new[0]) | set(dirs)):
        now = dirs.get(name)
        assert now in (old[0].get(name), new[0].get(name)), f"{name} is a mix of old and new: {sorted(now or {})}"
    assert root in (old[1], new[1])


def _restore(repo, saved):
    shutil.rmtree(repo / "deploy")
    shutil.copytree(saved, repo / "deploy", symlinks=True)


def _recover(repo):
    code = "import sys; from pathlib import Path; from pfgen.output.write import recover; recover(Path(sys.argv[1]))"
    subprocess.run([sys.executable, "-c", code, str(repo / "deploy")], check=True)


@pytest.mark.parametrize("exchange", [True, False], ids=["renameat2-exchange", "two-renames"])
def test_kill_at_every_step_leaves_each_job_directory_all_old_or_all_new(scenario, exchange):
    repo, saved, old, new = scenario
    env = {} if exchange else {"PFGEN_NO_EXCHANGE": "1"}
    kills = 0
    for step in range(500):
        _restore(repo, saved)
        result = pfgen(repo, "build", "--exit-code", env={**env, "PFGEN_FAULT_AFTER": str(step)})
        if result.returncode != -signal.SIGKILL:
            assert result.returncode == 1, result.stderr  # ran to the end: it changed files
            assert _state(repo / "deploy") == new
            break
        kills += 1
        if exchange:  # the swap is one atomic rename: consistent even before any recovery
            _assert_all_old_or_all_new(repo / "deploy", old, new)
        _recover(repo)
        _assert_all_old_or_all_new(repo / "deploy", old, new)
        # the next build finishes the job and leaves nothing of pfgen's temporaries behind
        assert pfgen(repo, "build", "--exit-code", env=env).returncode in (0, 1)
        assert _state(repo / "deploy") == new
        assert sorted(p.name for p in (repo / "deploy").iterdir() if p.name.startswith(".pfgen")) == []
    else:
        pytest.fail("the build never completed")
    assert kills >= 15, f"only {kills} cut points: the fault hook is not reached"


def test_sigkill_at_random_moments(scenario):
    repo, saved, old, new = scenario
    rng = random.Random(4)
    env = dict(os.environ)
    for _ in range(8):
        _restore(repo, saved)
        proc = subprocess.Popen([sys.executable, "-m", "pfgen", "build", "--exit-code"], cwd=repo, env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.0, 0.8))
        proc.kill()
        proc.wait()
        _assert_all_old_or_all_new(repo / "deploy", old, new)
        assert pfgen(repo, "build", "--exit-code").returncode in (0, 1)
        assert _state(repo / "deploy") == new


def test_a_build_waits_for_the_lock(tmp_path):
    repo = make_repo(tmp_path / "repo", {"a": "train-a"})
    (repo / "deploy").mkdir()
    fd = os.open(repo / "deploy/.pfgen.lock", os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        proc = subprocess.Popen([sys.executable, "-m", "pfgen", "build", "--exit-code"], cwd=repo,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(2.0)
        waited = proc.poll() is None
        assert snapshot(repo / "deploy") == {".pfgen.lock": b""}  # nothing written while we hold the lock
    finally:
        os.close(fd)
    stdout, stderr = proc.communicate(timeout=120)
    assert waited
    assert proc.returncode == 1, stderr
    assert "deploy/train-a created" in stderr.splitlines()
    assert not (repo / "deploy/.pfgen.lock").exists()  # removed by the build that held it last


def test_concurrent_builds_into_one_output_run_one_after_the_other(tmp_path):
    repo = make_repo(tmp_path / "repo", {"a": "train-a", "b": "train-b"})
    for round_ in range(4):
        write_template(repo, "a", "train-a", command=f"python main.py --epochs {round_}")
        write_template(repo, "c", f"train-c{round_}")
        procs = [subprocess.Popen([sys.executable, "-m", "pfgen", "build", "--exit-code"], cwd=repo, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True) for _ in range(3)]
        outcomes = [(p.wait(timeout=120), p.stderr.read(), p.stdout.read()) for p in procs]
        for code, stderr, _ in outcomes:
            assert code in (0, 1), stderr
            assert "Traceback" not in stderr
        # one of them did the work, the others found it done
        assert sorted(code for code, _, _ in outcomes) == [0, 0, 1]
        check = pfgen(repo, "build", "--check")
        assert (check.returncode, check.stdout) == (0, "")
        assert [p.name for p in (repo / "deploy").iterdir() if p.name.startswith(".pfgen")] == []
