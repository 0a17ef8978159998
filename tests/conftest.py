"""Shared test helpers: run the real CLI, compile fixtures, strict CRD validation."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from functools import lru_cache
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
CRDS = SHARED / "crds"
FIXTURES = Path(__file__).resolve().parent / "fixtures"


def run_pfgen(*args: str, cwd: Path | None = None, env: dict | None = None, stdin: str | None = None) -> subprocess.CompletedProcess:
    """Run the installed CLI exactly as a user would, in a subprocess."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "pfgen", *args], cwd=cwd, env=full_env, input=stdin,
                          capture_output=True, text=True, timeout=120)


def strictify(schema):
    """Forbid unknown fields wherever a schema lists properties: pfgen.verify's strict reading."""
    from pfgen.verify import strict_schema

    return strict_schema(schema)


@lru_cache(maxsize=1)
def pytorchjob_validator():
    from jsonschema import Draft7Validator

    if not (CRDS / "kubeflow.org_pytorchjobs.yaml").is_file():
        pytest.skip(f"upstream CRDs not found at {CRDS} (they come with shared/ beside the repo)")
    crd = yaml.safe_load((CRDS / "kubeflow.org_pytorchjobs.yaml").read_text())
    version = next(v for v in crd["spec"]["versions"] if v["name"] == "v1")
    return Draft7Validator(strictify(version["schema"]["openAPIV3Schema"]))


def crd_errors(obj: dict) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in pytorchjob_validator().iter_errors(obj)]


def load_stream(text: str) -> list[dict]:
    return [doc for doc in yaml.safe_load_all(text) if doc is not None]


@pytest.fixture
def pfgen():
    return run_pfgen
