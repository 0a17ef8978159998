"""Strict validators built straight from the upstream files in shared/crds:
Katib's OpenAPI document (v1beta1.Experiment) and the PyTorchJob CRD, read by
pfgen.kube.schemas.strict_schema (unknown fields forbidden wherever properties are
listed). The shipped copies pfgen's --verify uses are checked equal to these
in tests/conformance."""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

import pytest
import yaml

from conftest import CRDS
from pfgen.kube.schemas import strict_schema


def _require(path):
    if not path.is_file():
        pytest.skip(f"upstream schema {path} not found (shared/ comes beside the repository in CI)")
    return path


@lru_cache(maxsize=None)
def experiment_validator() -> Any:
    from jsonschema import Draft202012Validator

    document = json.loads(_require(CRDS / "katib-openapi" / "swagger.json").read_text())
    components = {name: strict_schema(schema) for name, schema in document["components"]["schemas"].items()}
    return Draft202012Validator({"$ref": "#/components/schemas/v1beta1.Experiment", "components": {"schemas": components}})


@lru_cache(maxsize=None)
def pytorchjob_validator() -> Any:
    from jsonschema import Draft202012Validator

    crd = yaml.safe_load(_require(CRDS / "kubeflow.org_pytorchjobs.yaml").read_text())
    version = next(v for v in crd["spec"]["versions"] if v["name"] == "v1")
    return Draft202012Validator(strict_schema(version["schema"]["openAPIV3Schema"]))


def errors(validator: Any, obj: dict) -> list[str]:
    """Every violation as 'path: message', sorted (empty when valid)."""
    return sorted(f"{'/'.join(str(p) for p in e.absolute_path) or '(root)'}: {e.message}" for e in validator.iter_errors(obj))
