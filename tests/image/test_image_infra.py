"""The test infrastructure itself: a real daemon, a real registry, an offline base image."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.docker


def test_base_image_runs_without_network(docker_env):
    assert docker_env.run(docker_env.base_image, "sh", "-c", "echo hello from busybox") == "hello from busybox\n"


def test_open_registry_round_trip(docker_env):
    client = docker_env.client()
    ref = f"{docker_env.registry.host}/infra/base"
    client.api.tag(docker_env.base_image, ref, "rt")
    errors = [line for line in client.api.push(ref, tag="rt", stream=True, decode=True) if "error" in line]
    assert errors == []
    client.api.remove_image(f"{ref}:rt")
    client.images.pull(ref, tag="rt")
    assert docker_env.run(f"{ref}:rt", "cat", "/bin/busybox") != ""


def test_auth_registry_rejects_anonymous_push(docker_env):
    client = docker_env.client()
    ref = f"{docker_env.auth_registry.host}/infra/base"
    client.api.tag(docker_env.base_image, ref, "anon")
    lines = list(client.api.push(ref, tag="anon", stream=True, decode=True, auth_config={}))
    assert any("error" in line for line in lines)
