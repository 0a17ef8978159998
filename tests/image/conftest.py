"""Fixtures for the workspace-image tests: one real daemon + registries per session."""

from __future__ import annotations

import warnings

import pytest

from infra.docker_env import CannotStart, DockerEnv  # tests/ is on sys.path (tests/image is a package)


@pytest.fixture(scope="session")
def docker_env():
    """A private dockerd and registries under a temp dir; skipped loudly if they cannot run."""
    env = DockerEnv()
    try:
        env.start()
    except CannotStart as err:
        message = f"DOCKER TESTS SKIPPED: the project's own Docker daemon/registry cannot start here: {err}"
        warnings.warn(message)
        pytest.skip(message)
    yield env
    env.stop()


@pytest.fixture
def docker_environ(docker_env, monkeypatch):
    """Point docker clients (the SDK and the CLI) at the private daemon, with an empty config."""
    for key, value in docker_env.env().items():
        monkeypatch.setenv(key, value)
    for key in ("PFGEN_REGISTRY_USERNAME", "PFGEN_REGISTRY_PASSWORD", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH"):
        monkeypatch.delenv(key, raising=False)
    return docker_env
