"""Strict JSON Schema validators for Katib's OpenAPI document and the PyTorchJob CRD.

Both sources are OpenAPI 3 flavoured; this converts them to JSON Schema 2020-12
and forces ``additionalProperties: false`` wherever a schema lists properties
(unless it explicitly allows more, or is marked x-kubernetes-preserve-unknown-fields),
so a misspelt or misplaced field fails instead of being silently dropped by the
API server. (To be folded into pfgen/verify.py once the shared strict validator
from issue 5 lands on main.)
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

# shared/ sits beside the main checkout; worktrees under /work/wt/ reach it at /work/shared.
CRDS = next(
    (p / "crds" for p in (Path(__file__).resolve().parents[2] / "shared", Path("/work/shared")) if (p / "crds").is_dir()),
    Path("/work/shared/crds"),
)
SWAGGER = CRDS / "katib-openapi" / "swagger.json"
PYTORCHJOB_CRD = CRDS / "kubeflow.org_pytorchjobs.yaml"

_SUBSCHEMA_LISTS = ("allOf", "anyOf", "oneOf")
_DROP = ("nullable", "discriminator")


def strict(node: Any, ref_prefix: str = "#/components/schemas/") -> Any:
    """OpenAPI 3 schema -> JSON Schema with closed objects."""
    if not isinstance(node, dict):
        return node
    out: dict = {}
    for key, value in node.items():
        if key == "properties":
            out[key] = {name: strict(sub, ref_prefix) for name, sub in value.items()}
        elif key in ("items", "additionalProperties", "not") and isinstance(value, dict):
            out[key] = strict(value, ref_prefix)
        elif key in _SUBSCHEMA_LISTS:
            out[key] = [strict(sub, ref_prefix) for sub in value]
        elif key == "$ref":
            out[key] = "#/$defs/" + value[len(ref_prefix):] if value.startswith(ref_prefix) else value
        elif key.startswith("x-") or key in _DROP:
            continue
        else:
            out[key] = value
    if node.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out.setdefault("anyOf", [{"type": "integer"}, {"type": "string"}])
    if node.get("nullable") and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    if "properties" in out and "additionalProperties" not in out and not node.get("x-kubernetes-preserve-unknown-fields"):
        out["additionalProperties"] = False
    return out


@lru_cache(maxsize=None)
def _swagger_defs() -> dict:
    schemas = json.loads(SWAGGER.read_text())["components"]["schemas"]
    return {name: strict(schema) for name, schema in schemas.items()}


@lru_cache(maxsize=None)
def experiment_validator() -> Any:
    from jsonschema import Draft202012Validator

    schema = {"$ref": "#/$defs/v1beta1.Experiment", "$defs": _swagger_defs()}
    return Draft202012Validator(schema)


@lru_cache(maxsize=None)
def pytorchjob_validator() -> Any:
    from jsonschema import Draft202012Validator

    crd = yaml.safe_load(PYTORCHJOB_CRD.read_text())
    version = next(v for v in crd["spec"]["versions"] if v["name"] == "v1")
    return Draft202012Validator(strict(version["schema"]["openAPIV3Schema"]))


def errors(validator: Any, obj: dict) -> list[str]:
    """Every violation as 'path: message', sorted (empty when valid)."""
    found = []
    for error in validator.iter_errors(obj):
        path = "/".join(str(p) for p in error.absolute_path) or "(root)"
        found.append(f"{path}: {error.message}")
    return sorted(found)
