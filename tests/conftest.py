"""Shared test helpers: run the real CLI, compile fixtures, strict CRD validation."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
# CI clones the repository with shared/ beside it; PFGEN_SHARED points elsewhere.
SHARED = Path(os.environ.get("PFGEN_SHARED") or ROOT.parent / "shared")
CRDS = SHARED / "crds"
FIXTURES = Path(__file__).resolve().parent / "fixtures"


def run_pfgen(*args: str, cwd: Path | None = None, env: dict | None = None, stdin: str | None = None) -> subprocess.CompletedProcess:
    """Run the installed CLI exactly as a user would, in a subprocess."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "pfgen", *args], cwd=cwd, env=full_env, input=stdin,
                          capture_output=True, text=True, timeout=120)


def strictify(schema):
    """Forbid unknown fields wherever a schema lists properties: pfgen.kube.schemas' strict reading."""
    from pfgen.kube.schemas import strict_schema

    return strict_schema(schema)


def crd_errors(obj: dict) -> list[str]:
    """PyTorchJob violations against the upstream CRD in shared/, unknown fields forbidden."""
    from strict_schema import errors, pytorchjob_validator

    return errors(pytorchjob_validator(), obj)


def load_stream(text: str) -> list[dict]:
    return [doc for doc in yaml.safe_load_all(text) if doc is not None]


@pytest.fixture
def pfgen():
    return run_pfgen


def _untracked() -> set[str]:
    try:
        out = subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"], cwd=ROOT,
                             capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return set()
    return set(out.stdout.splitlines()) if out.returncode == 0 else set()


def pytest_sessionstart(session):
    session.config._pfgen_tree_before = _untracked()


def pytest_sessionfinish(session, exitstatus):
    """Tests work on copies: a test that writes into the repository fails the run."""
    before = getattr(session.config, "_pfgen_tree_before", None)
    if before is None:
        return
    added = sorted(_untracked() - before)
    if added:
        print("\nTests changed the repository's tree (they must work on copies):\n  " + "\n  ".join(added))
        session.exitstatus = 1
