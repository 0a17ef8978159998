"""`pfgen image build --push` against a real daemon and a real registry, as a user runs it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.docker

ROOT = Path(__file__).resolve().parents[2]


def pfgen(*args: str, cwd: Path, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pfgen", *args], cwd=cwd, env={**os.environ, **env},
                          capture_output=True, text=True, timeout=600)


def manifest_image(deploy_job: Path) -> str:
    docs = list(yaml.safe_load_all((deploy_job / "pytorchjob.yaml").read_text()))
    specs = docs[0]["spec"]["pytorchReplicaSpecs"]
    images = {c["image"] for spec in specs.values() for c in spec["template"]["spec"]["containers"]}
    assert len(images) == 1
    return images.pop()


@pytest.fixture
def cifar_project(docker_environ, tmp_path):
    """examples/cifar100 pointed at the test registry, its base image made locally, plus ignored files."""
    project = tmp_path / "cifar100"
    shutil.copytree(ROOT / "examples" / "cifar100", project, ignore=shutil.ignore_patterns("deploy"))
    config = project / "pfgen.yaml"
    config.write_text(config.read_text().replace("registry.example.com/ml-team", f"{docker_environ.registry.host}/ml"))
    workspace = project / "cifar"
    (workspace / "data").mkdir()
    (workspace / "data" / "cifar-100-python.tar.gz").write_bytes(b"\x1f\x8b not really")
    (workspace / "__pycache__").mkdir()
    (workspace / "__pycache__" / "main.cpython-311.pyc").write_bytes(b"\0")
    (workspace / "model.pt").write_bytes(b"weights")
    (workspace / "utils").mkdir()
    (workspace / "utils" / "train.sh").write_text("#!/bin/sh\necho train\n")
    os.chmod(workspace / "utils" / "train.sh", 0o755)
    client = docker_environ.client()
    client.api.tag(docker_environ.base_image, "friendliai/periflow", "sdk")  # the template's docker.image
    return project


def test_build_push_pull_back_by_the_manifest_tag(docker_environ, cifar_project):
    env = docker_environ.env()
    built = pfgen("build", ".", cwd=cifar_project, env=env)
    assert built.returncode == 0, built.stderr
    job_dir = cifar_project / "deploy" / "cifar-job"
    assert (job_dir / "Dockerfile").is_file() and (job_dir / ".dockerignore").is_file()
    reference = manifest_image(job_dir)
    assert reference.startswith(f"{docker_environ.registry.host}/ml/cifar-job:sha-")

    pushed = pfgen("image", "build", "pf-template.yml", "--push", cwd=cifar_project, env=env)
    assert pushed.returncode == 0, pushed.stderr
    assert pushed.stdout.splitlines() == [reference]

    client = docker_environ.client()
    client.api.remove_image(reference, force=True)
    client.images.pull(reference)
    listing = docker_environ.run(reference, "sh", "-c", "pwd; cd /workspace/cifar && find . -type f | sort")
    lines = listing.splitlines()
    assert lines[0] == "/workspace"  # WORKDIR: mount_path, as PeriFlow's commands expect
    shipped = sorted(f"./{p.relative_to(ROOT / 'examples/cifar100/cifar').as_posix()}"
                     for p in (ROOT / "examples/cifar100/cifar").rglob("*.py") if "__pycache__" not in p.parts)
    assert "./main.py" in shipped
    assert lines[1:] == sorted([*shipped, "./utils/train.sh"])  # no .pfignore, data/, __pycache__/, *.pt
    assert docker_environ.run(reference, "sh", "-c", "test -x /workspace/cifar/utils/train.sh && echo x") == "x\n"
    assert docker_environ.run(reference, "cat", "/workspace/cifar/main.py") == (cifar_project / "cifar" / "main.py").read_text()

    again = pfgen("image", "build", "deploy/cifar-job", "--push", cwd=cifar_project, env=env)  # the output dir
    assert again.returncode == 0, again.stderr
    assert "already in the registry; nothing to do" in again.stderr
    assert again.stdout.splitlines() == [reference]


def test_changed_workspace_gets_a_new_tag_and_image(docker_environ, cifar_project):
    env = docker_environ.env()
    first = pfgen("image", "build", ".", cwd=cifar_project, env=env)
    assert first.returncode == 0, first.stderr
    (cifar_project / "cifar" / "model.pt").write_bytes(b"other weights")  # ignored: same tag
    same = pfgen("image", "build", ".", cwd=cifar_project, env=env)
    assert same.stdout == first.stdout and "already built; skipping the build" in same.stderr
    (cifar_project / "cifar" / "main.py").write_text("print('changed')\n")
    changed = pfgen("image", "build", ".", cwd=cifar_project, env=env)
    assert changed.returncode == 0, changed.stderr
    assert changed.stdout != first.stdout
    assert docker_environ.run(changed.stdout.strip(), "cat", "/workspace/cifar/main.py") == "print('changed')\n"


def test_daemon_down_is_a_clear_error(docker_environ, cifar_project, tmp_path):
    env = {**docker_environ.env(), "DOCKER_HOST": f"unix://{tmp_path}/no-such.sock"}
    result = pfgen("image", "build", ".", cwd=cifar_project, env=env)
    assert result.returncode == 3
    assert f"pfgen: error: cannot reach the Docker daemon at unix://{tmp_path}/no-such.sock" in result.stderr
    assert "Traceback" not in result.stderr


def test_push_without_credentials_is_an_auth_error(docker_environ, cifar_project):
    config = cifar_project / "pfgen.yaml"
    config.write_text(config.read_text().replace(docker_environ.registry.host, docker_environ.auth_registry.host))
    result = pfgen("image", "build", ".", "--push", cwd=cifar_project, env=docker_environ.env())
    assert result.returncode == 3
    assert "pfgen: error:" in result.stderr and f"docker login {docker_environ.auth_registry.host}" in result.stderr
    assert "PFGEN_REGISTRY_USERNAME" in result.stderr and "Traceback" not in result.stderr


def test_wrong_password_is_an_auth_error_and_the_right_one_pushes(docker_environ, cifar_project):
    config = cifar_project / "pfgen.yaml"
    config.write_text(config.read_text().replace(docker_environ.registry.host, docker_environ.auth_registry.host))
    user = docker_environ.auth_registry.user
    wrong = {**docker_environ.env(), "PFGEN_REGISTRY_USERNAME": user, "PFGEN_REGISTRY_PASSWORD": "wrong"}
    result = pfgen("image", "build", ".", "--push", cwd=cifar_project, env=wrong)
    assert result.returncode == 3 and "docker login" in result.stderr, result.stderr
    right = {**wrong, "PFGEN_REGISTRY_PASSWORD": docker_environ.auth_registry.password}
    result = pfgen("image", "build", ".", "--push", cwd=cifar_project, env=right)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"{docker_environ.auth_registry.host}/ml/cifar-job:sha-")


def test_credentials_from_docker_config(docker_environ, cifar_project, tmp_path):
    import base64
    import json

    config = cifar_project / "pfgen.yaml"
    config.write_text(config.read_text().replace(docker_environ.registry.host, docker_environ.auth_registry.host))
    registry = docker_environ.auth_registry
    docker_config = tmp_path / "docker-config"
    docker_config.mkdir()
    token = base64.b64encode(f"{registry.user}:{registry.password}".encode()).decode()
    (docker_config / "config.json").write_text(json.dumps({"auths": {registry.host: {"auth": token}}}))
    env = {**docker_environ.env(), "DOCKER_CONFIG": str(docker_config)}
    result = pfgen("image", "build", ".", "--push", cwd=cifar_project, env=env)
    assert result.returncode == 0, result.stderr


def test_build_failure_from_the_stream_is_a_clear_error(docker_environ, cifar_project):
    template = cifar_project / "pf-template.yml"
    missing = f"{docker_environ.registry.host}/nobody/missing-base:1"
    template.write_text(template.read_text().replace("image: friendliai/periflow:sdk", f"image: {missing}"))
    result = pfgen("image", "build", ".", cwd=cifar_project, env=docker_environ.env())
    assert result.returncode == 3
    assert "pfgen: error: building" in result.stderr and "failed:" in result.stderr
    assert f"The base image {missing} (docker.image) could not be pulled" in result.stderr
    assert "Traceback" not in result.stderr


def test_job_without_workspace_has_no_dockerfile_and_no_image_to_build(docker_environ, cifar_project):
    config = cifar_project / "pfgen.yaml"  # the example's workspace is the ./cifar its command enters: not here
    config.write_text(config.read_text() + "workspace:\n  infer: false\n")
    built = pfgen("build", ".", cwd=cifar_project, env=docker_environ.env())
    assert built.returncode == 0, built.stderr
    job_dir = cifar_project / "deploy" / "cifar-job"
    assert not (job_dir / "Dockerfile").exists() and not (job_dir / ".dockerignore").exists()
    assert manifest_image(job_dir) == "friendliai/periflow:sdk"
    result = pfgen("image", "build", ".", cwd=cifar_project, env=docker_environ.env())
    assert result.returncode == 0 and "no workspace; it runs friendliai/periflow:sdk as is" in result.stderr


def test_push_error_inside_the_stream_is_a_clear_error(docker_environ, cifar_project):
    """A read-only registry accepts the connection and fails the upload inside Docker's JSON stream."""
    config = cifar_project / "pfgen.yaml"
    config.write_text(config.read_text().replace(docker_environ.registry.host, docker_environ.readonly_registry.host))
    result = pfgen("image", "build", ".", "--push", cwd=cifar_project, env=docker_environ.env())
    assert result.returncode == 3, result.stderr
    assert f"pfgen: error: pushing {docker_environ.readonly_registry.host}/ml/cifar-job:sha-" in result.stderr
    assert "Traceback" not in result.stderr


def test_stale_manifests_are_warned_about(docker_environ, cifar_project):
    env = docker_environ.env()
    assert pfgen("build", ".", cwd=cifar_project, env=env).returncode == 0
    (cifar_project / "cifar" / "main.py").write_text("print('new')\n")
    result = pfgen("image", "build", ".", cwd=cifar_project, env=env)
    assert result.returncode == 0, result.stderr
    assert "pfgen: warning: deploy/cifar-job/pytorchjob.yaml does not use" in result.stderr
    assert pfgen("build", ".", cwd=cifar_project, env=env).returncode == 0
    again = pfgen("image", "build", ".", cwd=cifar_project, env=env)
    assert "warning" not in again.stderr


def test_progress_on_a_terminal_and_plain_lines_in_ci(docker_environ, cifar_project):
    """Run as a person would, in a pseudo-terminal: live progress; with CI set: plain lines."""
    import pty

    env = {**docker_environ.env(), "CI": ""}
    (cifar_project / "cifar" / "main.py").write_text("print('on a terminal')\n")  # a tag no other test pushed
    pid, fd = pty.fork()
    if pid == 0:  # child: the CLI on a terminal
        os.chdir(cifar_project)
        os.execvpe(sys.executable, [sys.executable, "-m", "pfgen", "image", "build", ".", "--push"], {**os.environ, **env})
    output = b""
    while True:
        try:
            data = os.read(fd, 65536)
        except OSError:
            break
        if not data:
            break
        output += data
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, output.decode(errors="replace")
    assert b"\r\x1b[K" in output  # progress redrawn in place

    (cifar_project / "cifar" / "main.py").write_text("print('ci')\n")
    plain = pfgen("image", "build", ".", "--push", cwd=cifar_project, env={**docker_environ.env(), "CI": "true"})
    assert plain.returncode == 0, plain.stderr
    assert "\r" not in plain.stderr and "\x1b[" not in plain.stderr
    assert ": Pushed" in plain.stderr
