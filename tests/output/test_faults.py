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
    # the root is old, new, or new listing staged directories (a multi-directory switch, pfgen/output/write.py)
    assert root in (old[1], new[1]) or (root is not None and _unstaged(root) == new[1]), root


def _unstaged(root: bytes) -> bytes:
    return b"".join(b"- " + line[len(b"- .pfgen-tmp-"):] if line.startswith(b"- .pfgen-tmp-") else line
                    for line in root.splitlines(True))


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


# -- the whole tree (issue 16): a claim moving between _shared/ and a job -----------------------

KUBECTL = shutil.which("kubectl")


def _kustomize(out):
    """`kubectl kustomize OUT` as a sorted list of objects (its text order is kustomize's, not ours)."""
    import yaml

    result = subprocess.run([KUBECTL, "kustomize", str(out)], capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    return sorted(yaml.safe_dump(doc, sort_keys=True) for doc in yaml.safe_load_all(result.stdout) if doc)


def _claims(objects):
    return sorted(o for o in objects if "kind: PersistentVolumeClaim" in o)


def _moving_claim(tmp_path, direction):
    """A built repository where the next build moves the shared datastore claim: into _shared/ when a
    second job starts using it ("to-shared"), out of it into the last job left ("from-shared")."""
    repo = make_repo(tmp_path / "repo", {"a": "train-a", "b": "train-b"} if direction == "from-shared" else {"a": "train-a"})
    assert pfgen(repo, "build").returncode == 0
    if direction == "from-shared":
        shutil.rmtree(repo / "jobs/b")
    else:
        write_template(repo, "b", "train-b")
    twin = tmp_path / "twin"
    shutil.copytree(repo, twin, symlinks=True)
    assert pfgen(twin, "build").returncode == 0
    saved = tmp_path / "old-deploy"
    shutil.copytree(repo / "deploy", saved, symlinks=True)
    return repo, saved, _kustomize(repo / "deploy"), _kustomize(twin / "deploy"), _state(repo / "deploy"), _state(twin / "deploy")


@pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed")
@pytest.mark.parametrize("direction", ["to-shared", "from-shared"])
@pytest.mark.parametrize("exchange", [True, False], ids=["renameat2-exchange", "two-renames"])
def test_kill_at_every_step_leaves_a_tree_kustomize_builds_with_every_claim(tmp_path, direction, exchange):
    """Cut at every mutation while the shared claim moves: `kubectl kustomize deploy` always builds the
    old or the new set of objects (never the claim twice, never without it), before recovery (with the
    atomic exchange) and after it (both strategies), and the next build completes the new tree."""
    repo, saved, old_objects, new_objects, old, new = _moving_claim(tmp_path, direction)
    assert old_objects != new_objects and _claims(old_objects) and len(_claims(new_objects)) == len(_claims(old_objects))
    env = {} if exchange else {"PFGEN_NO_EXCHANGE": "1"}
    kills = 0
    for step in range(500):
        _restore(repo, saved)
        result = pfgen(repo, "build", env={**env, "PFGEN_FAULT_AFTER": str(step)})
        if result.returncode != -signal.SIGKILL:
            assert result.returncode == 0, result.stderr
            assert _kustomize(repo / "deploy") == new_objects
            break
        kills += 1
        if exchange:
            assert _kustomize(repo / "deploy") in (old_objects, new_objects), f"cut at step {step}"
        _recover(repo)
        assert _kustomize(repo / "deploy") in (old_objects, new_objects), f"cut at step {step}, recovered"
        _assert_all_old_or_all_new(repo / "deploy", old, new)
        assert pfgen(repo, "build", env=env).returncode == 0
        assert _state(repo / "deploy") == new
        assert [p.name for p in (repo / "deploy").iterdir() if p.name.startswith(".pfgen")] == []
    else:
        pytest.fail("the build never completed")
    assert kills >= 10, f"only {kills} cut points"


@pytest.mark.parametrize("step", range(0, 40, 3))
def test_a_full_disk_at_any_step_is_an_error_that_leaves_no_staging_behind(scenario, step):
    """ENOSPC (injected at mutation N): exit 2 with `cannot write`, no traceback, no .pfgen-* left to keep
    the disk full, every directory old or new; the retry completes the build."""
    repo, saved, old, new = scenario
    _restore(repo, saved)
    result = pfgen(repo, "build", env={"PFGEN_FAULT_AFTER": str(step), "PFGEN_FAULT_ERRNO": "ENOSPC"})
    if result.returncode in (0, 1) and "cannot write" not in result.stderr:
        return  # this build has fewer mutations than ``step``: it completed
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == 2, result.stderr
    assert "cannot write the output: No space left on device" in result.stderr
    assert [p.name for p in (repo / "deploy").iterdir() if p.name.startswith(".pfgen")] == []
    _assert_all_old_or_all_new(repo / "deploy", old, new)
    # (a failure after the root switched is rolled forward by the clean-up: then nothing is left to do)
    assert pfgen(repo, "build", "--exit-code").returncode in (0, 1)
    assert _state(repo / "deploy") == new


@pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed")
def test_kill_at_every_step_of_a_first_build_leaves_no_root_or_the_whole_new_tree(tmp_path):
    """A build that only adds directories (here the first one: two jobs and _shared/) renames them
    in without the staging switch (pfgen/output/write.py): cut at every mutation, OUT has no root
    kustomization yet, or one that builds every new object; the next build completes the tree."""
    repo = make_repo(tmp_path / "repo", {"a": "train-a", "b": "train-b"})
    twin = tmp_path / "twin"
    shutil.copytree(repo, twin, symlinks=True)
    assert pfgen(twin, "build").returncode == 0
    new, new_objects = _state(twin / "deploy"), _kustomize(twin / "deploy")
    assert {"_shared", "train-a", "train-b"} <= set(new[0]) and _claims(new_objects)
    kills = 0
    for step in range(500):
        shutil.rmtree(repo / "deploy", ignore_errors=True)
        result = pfgen(repo, "build", env={"PFGEN_FAULT_AFTER": str(step)})
        if result.returncode != -signal.SIGKILL:
            assert result.returncode == 0, result.stderr
            break
        kills += 1
        if (repo / "deploy/kustomization.yaml").exists():
            assert _kustomize(repo / "deploy") == new_objects, f"cut at step {step}"
        for name, files in job_dirs(repo / "deploy").items():
            assert files == new[0].get(name), f"cut at step {step}: {name} is incomplete"
        assert pfgen(repo, "build").returncode == 0
        assert _state(repo / "deploy") == new
        assert [p.name for p in (repo / "deploy").iterdir() if p.name.startswith(".pfgen")] == []
    else:
        pytest.fail("the build never completed")
    assert _state(repo / "deploy") == new
    assert kills >= 6, f"only {kills} cut points"
