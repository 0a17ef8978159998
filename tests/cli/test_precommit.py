"""pfgen's pre-commit hooks, run by the real pre-commit (`pre-commit try-repo`) on throwaway repositories.

pre-commit installs the hook repository into a virtualenv of its own (from
PyPI); the hook repository is a committed copy of this working tree, shared
by the tests of a session together with PRE_COMMIT_HOME, so that happens once.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from gitops_util import FIXTURES, PROJECT, commit_all, make_repo, pfgen, run_git, snapshot, write_template

pytestmark = pytest.mark.slow

BAD = "jobs/bad/pf-template.yml:4:1: error: unknown key 'num_device'; did you mean 'num_devices'?"


@pytest.fixture(scope="session")
def hook_repo(tmp_path_factory) -> Path:
    """This working tree as it is now (tracked and new files, not ignored ones), committed to a fresh repository."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                            cwd=PROJECT, capture_output=True)
    if listed.returncode != 0:
        pytest.skip(f"the project at {PROJECT} is not a git work tree, so there is no hook repository to try")
    dest = tmp_path_factory.mktemp("hook-repo")
    for name in os.fsdecode(listed.stdout).split("\0"):
        source = PROJECT / name
        if name and source.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)
    run_git(dest, "init", "-q", "-b", "main")
    commit_all(dest, "pfgen under test")
    return dest


@pytest.fixture(scope="session")
def pre_commit_home(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("pre-commit-home")


def try_repo(repo: Path, hook_repo: Path, home: Path, hook: str) -> subprocess.CompletedProcess:
    run_git(repo, "add", "-A")
    env = dict(os.environ, PRE_COMMIT_HOME=str(home), PRE_COMMIT_COLOR="never", NO_COLOR="1")
    for name in ("PFGEN_FAULT_AFTER", "PFGEN_NO_EXCHANGE", "VIRTUAL_ENV"):
        env.pop(name, None)
    result = subprocess.run([sys.executable, "-m", "pre_commit", "try-repo", str(hook_repo), hook, "--all-files",
                             "--verbose"], cwd=repo, env=env, capture_output=True, text=True, timeout=1200)
    result.output = result.stdout + result.stderr  # type: ignore[attr-defined]
    return result


def test_a_bad_template_fails_both_hooks_with_the_positioned_message(tmp_path, hook_repo, pre_commit_home):
    repo = make_repo(tmp_path / "repo", {"a": "train-a"})
    (repo / "jobs/bad").mkdir()
    shutil.copy(FIXTURES / "bad" / "pf-template.yml", repo / "jobs/bad/pf-template.yml")
    for hook in ("pfgen-validate", "pfgen-build"):
        result = try_repo(repo, hook_repo, pre_commit_home, hook)
        assert result.returncode == 1, result.output
        assert BAD in result.output
        assert "Failed" in result.output
    assert not (repo / "deploy").exists()


def test_stale_output_fails_the_build_hook_and_is_regenerated(tmp_path, hook_repo, pre_commit_home):
    repo = make_repo(tmp_path / "repo", {"a": "train-a", "b": "train-b"})
    assert pfgen(repo, "build", "--exit-code").returncode == 1
    commit_all(repo, "jobs and their manifests")
    write_template(repo, "a", "train-a", command="python main.py --epochs 7")  # edited
    shutil.rmtree(repo / "jobs/b")  # deleted
    write_template(repo, "c", "train-c")  # added
    result = try_repo(repo, hook_repo, pre_commit_home, "pfgen-build")
    assert result.returncode == 1, result.output
    assert "deploy/train-a configured" in result.output  # one line per job, like kubectl apply
    assert "deploy/train-c created" in result.output
    assert "deploy/train-b deleted" in result.output
    assert b"--epochs 7" in (repo / "deploy/train-a/pytorchjob.yaml").read_bytes()
    assert not (repo / "deploy/train-b").exists()
    regenerated = snapshot(repo / "deploy")
    # what the hook wrote is what pfgen writes here, and now the hook passes
    assert pfgen(repo, "build", "--check").returncode == 0
    again = try_repo(repo, hook_repo, pre_commit_home, "pfgen-build")
    assert again.returncode == 0, again.output
    assert snapshot(repo / "deploy") == regenerated


def test_a_clean_tree_passes_both_hooks(tmp_path, hook_repo, pre_commit_home):
    repo = make_repo(tmp_path / "repo", {"a": "train-a", "b": "train-b"})
    assert pfgen(repo, "build", "--exit-code").returncode == 1
    commit_all(repo, "clean")
    for hook in ("pfgen-validate", "pfgen-build"):
        result = try_repo(repo, hook_repo, pre_commit_home, hook)
        assert result.returncode == 0, result.output
        assert "Passed" in result.output
    assert run_git(repo, "status", "--porcelain") == ""


def test_the_hooks_run_for_a_repository_of_pf_config_templates(tmp_path, hook_repo, pre_commit_home):
    """No pfgen.yaml and no pf-template.yml: only PeriFlow's earlier name, which the hooks' `files` must match."""
    repo = make_repo(tmp_path / "repo", {})
    (repo / "pfgen.yaml").unlink()
    write_template(repo, "a", "train-a").rename(repo / "jobs/a/pf_config.yml")
    result = try_repo(repo, hook_repo, pre_commit_home, "pfgen-build")
    assert result.returncode == 1, result.output
    assert "deploy/train-a created" in result.output and (repo / "deploy/train-a/pytorchjob.yaml").is_file()
    commit_all(repo, "built")
    (repo / "jobs/a/pf_config.yml").write_text(
        (repo / "jobs/a/pf_config.yml").read_text().replace("--epochs 1", "--epochs 3"))
    again = try_repo(repo, hook_repo, pre_commit_home, "pfgen-build")
    assert again.returncode == 1 and "deploy/train-a configured" in again.output, again.output
    valid = try_repo(repo, hook_repo, pre_commit_home, "pfgen-validate")
    assert valid.returncode == 0 and "pfgen: 1 template valid" in valid.output, valid.output


def test_workspace_code_edits_reach_the_manifests_and_hook_and_check_agree(tmp_path, hook_repo, pre_commit_home):
    """A job whose code is the directory its command enters (no workspace.path): the image tag is the code's
    hash, so a commit touching only the code changes deploy/. The build hook runs for it (always_run), and
    the hook and `build --check` never disagree: after either one, the other finds nothing to do."""
    repo = make_repo(tmp_path / "repo", {})
    (repo / "pfgen.yaml").write_text((repo / "pfgen.yaml").read_text() + "registry: registry.example.com/ml-team\n")
    write_template(repo, "a", "train-a", command="cd /workspace/code && python main.py")
    (repo / "jobs/a/code").mkdir()
    (repo / "jobs/a/code/main.py").write_text("print('v1')\n")
    first = try_repo(repo, hook_repo, pre_commit_home, "pfgen-build")
    assert first.returncode == 1 and "deploy/train-a created" in first.output, first.output
    assert (repo / "deploy/train-a/Dockerfile").is_file()
    assert pfgen(repo, "build", "--check").returncode == 0
    commit_all(repo, "v1")
    assert try_repo(repo, hook_repo, pre_commit_home, "pfgen-build").returncode == 0
    before = (repo / "deploy/train-a/pytorchjob.yaml").read_text()
    (repo / "jobs/a/code/main.py").write_text("print('v2')\n")  # only the code changes
    stale = pfgen(repo, "build", "--check")
    assert stale.returncode == 1 and "registry.example.com/ml-team/train-a:sha-" in stale.stdout
    hook = try_repo(repo, hook_repo, pre_commit_home, "pfgen-build")
    assert hook.returncode == 1 and "deploy/train-a configured" in hook.output, hook.output
    assert (repo / "deploy/train-a/pytorchjob.yaml").read_text() != before
    assert pfgen(repo, "build", "--check").returncode == 0
    again = try_repo(repo, hook_repo, pre_commit_home, "pfgen-build")
    assert again.returncode == 0, again.output
    assert run_git(repo, "status", "--porcelain", "deploy").strip() != ""  # the hook's update, to be committed
    commit_all(repo, "v2")
    assert pfgen(repo, "build", "--check").returncode == 0
    assert try_repo(repo, hook_repo, pre_commit_home, "pfgen-build").returncode == 0


def test_the_hooks_manifest_is_valid():
    result = subprocess.run([sys.executable, "-m", "pre_commit", "validate-manifest",
                             str(PROJECT / ".pre-commit-hooks.yaml")], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    import yaml

    hooks = {hook["id"]: hook for hook in yaml.safe_load((PROJECT / ".pre-commit-hooks.yaml").read_text())}
    assert set(hooks) == {"pfgen-validate", "pfgen-build"}
    import re

    for hook in hooks.values():
        assert hook["pass_filenames"] is False
        pattern = re.compile(hook["files"])
        for name in ("pf-template.yml", "jobs/a/pf-template.yaml", "pfgen.yaml", "sub/pfgen.yml", "a/pf_config.yml",
                     "pf_config.yaml", "a/pf-config.yml", "pf_template.yaml"):  # the last two: near-miss warnings
            assert pattern.search(name), name
        for name in ("my-pf-template.yml", "pfgen.yaml.bak", "deploy/a/pytorchjob.yaml"):
            assert not pattern.search(name), name
