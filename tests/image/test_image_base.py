"""The base image under `pfgen image build`: ONBUILD triggers and digest pins, on a real daemon and registry."""

from __future__ import annotations

import io

import pytest

from .test_image_build import cifar_project, manifest_image, pfgen  # noqa: F401 (the fixture)

pytestmark = pytest.mark.docker


def _onbuild_base(docker_environ, reference: str) -> None:
    """``reference``: the session's base image plus an ONBUILD trigger that leaves a mark in every child."""
    dockerfile = f"FROM {docker_environ.base_image}\nONBUILD RUN echo triggered > /onbuild-ran\n".encode()
    client = docker_environ.client()
    for _ in client.api.build(fileobj=io.BytesIO(dockerfile), tag=reference, rm=True, decode=True):
        pass
    assert client.api.inspect_image(reference)["Config"]["OnBuild"]


def _set_workspace(project, text: str) -> None:
    config = project / "pfgen.yaml"
    config.write_text(config.read_text() + "workspace:\n" + text)


def test_onbuild_base_is_refused_without_the_setting(docker_environ, cifar_project):
    _onbuild_base(docker_environ, "friendliai/periflow:sdk")
    result = pfgen("image", "build", ".", cwd=cifar_project, env=docker_environ.env())
    assert result.returncode == 3, result.stderr
    assert "Traceback" not in result.stderr
    assert ("pfgen: error: the base image friendliai/periflow:sdk has 1 ONBUILD trigger(s), which would run inside "
            "this build with the workspace as context: RUN echo triggered > /onbuild-ran") in result.stderr
    assert "allow_onbuild: true" in result.stderr
    assert result.stdout == ""
    built = [tag for image in docker_environ.client().images.list() for tag in image.tags if "/ml/cifar-job:" in tag]
    assert built == []


def test_onbuild_base_builds_when_allowed(docker_environ, cifar_project):
    _onbuild_base(docker_environ, "friendliai/periflow:sdk")
    _set_workspace(cifar_project, "  allow_onbuild: true\n")
    result = pfgen("image", "build", ".", cwd=cifar_project, env=docker_environ.env())
    assert result.returncode == 0, result.stderr
    assert "running the base image's ONBUILD triggers (workspace.allow_onbuild)" in result.stderr
    assert docker_environ.run(result.stdout.strip(), "cat", "/onbuild-ran") == "triggered\n"


def _pushed_base(docker_environ) -> tuple[str, str]:
    """The session's base image pushed to the test registry: (reference, digest), the local copy removed."""
    client = docker_environ.client()
    reference = f"{docker_environ.registry.host}/base/periflow:sdk"
    client.api.tag(docker_environ.base_image, f"{docker_environ.registry.host}/base/periflow", "sdk")
    for _ in client.api.push(f"{docker_environ.registry.host}/base/periflow", tag="sdk", stream=True, decode=True):
        pass
    digest = client.api.inspect_image(reference)["RepoDigests"][0].split("@", 1)[1]
    client.api.remove_image(reference)
    return reference, digest


def _use_base(project, reference: str) -> None:
    template = project / "pf-template.yml"
    template.write_text(template.read_text().replace("image: friendliai/periflow:sdk", f"image: {reference}"))


def test_a_digest_pin_goes_into_from_and_the_tag(docker_environ, cifar_project):
    env = docker_environ.env()
    reference, digest = _pushed_base(docker_environ)
    _use_base(cifar_project, reference)
    unpinned = pfgen("build", ".", "-q", cwd=cifar_project, env=env)
    assert unpinned.returncode == 0, unpinned.stderr
    unpinned_image = manifest_image(cifar_project / "deploy" / "cifar-job")

    _set_workspace(cifar_project, f"  base_digests:\n    {reference}: {digest}\n")
    pinned = pfgen("build", ".", "-q", cwd=cifar_project, env=env)
    assert pinned.returncode == 0, pinned.stderr
    job_dir = cifar_project / "deploy" / "cifar-job"
    assert f"FROM {reference}@{digest}\n" in (job_dir / "Dockerfile").read_text()
    pinned_image = manifest_image(job_dir)
    assert pinned_image != unpinned_image  # the content tag hashes the FROM line

    built = pfgen("image", "build", ".", cwd=cifar_project, env=env)
    assert built.returncode == 0, built.stderr
    assert built.stdout.strip() == pinned_image
    assert f"{reference}@{digest}: pulling the base image" in built.stderr
    assert "main.py" in docker_environ.run(pinned_image, "ls", "/workspace/cifar")


def test_a_wrong_digest_pin_fails_the_pull(docker_environ, cifar_project):
    reference, _ = _pushed_base(docker_environ)
    _use_base(cifar_project, reference)
    wrong = "sha256:" + "0" * 64
    _set_workspace(cifar_project, f"  base_digests:\n    {reference}: '{wrong}'\n")
    result = pfgen("image", "build", ".", cwd=cifar_project, env=docker_environ.env())
    assert result.returncode == 3, result.stderr
    assert "Traceback" not in result.stderr
    assert "pfgen: error: building" in result.stderr
    assert (f"The base image {reference}@{wrong} (docker.image) could not be pulled: check its name (and its digest "
            "in pfgen.yaml workspace.base_digests)") in result.stderr


def test_a_malformed_digest_is_a_positioned_error(docker_environ, cifar_project):
    _set_workspace(cifar_project, "  base_digests:\n    friendliai/periflow:sdk: sha256:abc\n")
    result = pfgen("validate", ".", cwd=cifar_project, env=docker_environ.env())
    assert result.returncode == 2
    line = len((cifar_project / "pfgen.yaml").read_text().splitlines())
    assert f"pfgen.yaml:{line}:" in result.stderr and "sha256:abc" in result.stderr, result.stderr
