"""The schemas ``pfgen lint`` checks objects against: the shipped CRD and Kubernetes
schemas (``schemas/crds``, ``schemas/k8s``) read strictly, as Draft 2020-12 validators
(pfgen/kube/verify.py says what strictly means), and the CRDs' CEL rules.

jsonschema, referencing and cel-python are imported only inside the functions."""

from __future__ import annotations

import base64
import binascii
import json
from functools import lru_cache
from typing import Any, Callable, Iterator

KUBERNETES_VERSION = "1.36.0"
_CORE_DIR = f"k8s/v{KUBERNETES_VERSION}-local-strict"
_CORE_DEFS_ID = "https://kubernetes.io/api/_definitions.json"
_OBJECT_META = f"{_CORE_DEFS_ID}#/$defs/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
# apiVersion, kind -> (loader, shipped file under schemas/)
_CRD, _OPENAPI, _CORE = "crd", "openapi", "core"
SCHEMAS: dict[tuple[str, str], tuple[str, str]] = {
    ("kubeflow.org/v1", "PyTorchJob"): (_CRD, "crds/kubeflow.org_pytorchjobs.v1.json"),
    ("trainer.kubeflow.org/v1alpha1", "TrainJob"): (_CRD, "crds/trainer.kubeflow.org_trainjobs.v1alpha1.json"),
    ("kubeflow.org/v1beta1", "Experiment"): (_OPENAPI, "crds/kubeflow.org_experiments.v1beta1.openapi.json"),
    ("external-secrets.io/v1", "ExternalSecret"): (_CRD, "crds/external-secrets.io_externalsecrets.v1.json"),
    ("bitnami.com/v1alpha1", "SealedSecret"): (_CRD, "crds/bitnami.com_sealedsecrets.v1alpha1.json"),
    ("v1", "ConfigMap"): (_CORE, f"{_CORE_DIR}/configmap-v1.json"),
    ("v1", "Namespace"): (_CORE, f"{_CORE_DIR}/namespace-v1.json"),
    ("v1", "PersistentVolumeClaim"): (_CORE, f"{_CORE_DIR}/persistentvolumeclaim-v1.json"),
    ("v1", "Secret"): (_CORE, f"{_CORE_DIR}/secret-v1.json"),
    ("v1", "ServiceAccount"): (_CORE, f"{_CORE_DIR}/serviceaccount-v1.json"),
}


def strict_schema(schema: Any) -> Any:
    """Read an OpenAPI v3 (CRD or components) schema the way the API server does, but strictly."""
    if not isinstance(schema, dict):
        return schema
    out = dict(schema)
    for key in ("properties", "patternProperties"):
        if isinstance(out.get(key), dict):
            out[key] = {name: strict_schema(sub) for name, sub in out[key].items()}
    for key in ("items", "additionalProperties", "not"):
        if isinstance(out.get(key), dict):
            out[key] = strict_schema(out[key])
    for key in ("allOf", "anyOf", "oneOf"):
        if isinstance(out.get(key), list):
            out[key] = [strict_schema(sub) for sub in out[key]]
    if out.get("x-kubernetes-int-or-string") or out.get("format") == "int-or-string":
        out.pop("type", None)
        out.pop("format", None)
        if "anyOf" not in out and "oneOf" not in out:
            out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if out.pop("nullable", False) and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    if (
        "properties" in out
        and "additionalProperties" not in out
        and not out.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    return out


def _int_range(bits: int) -> Callable[[Any], bool]:
    low, high = -(1 << (bits - 1)), (1 << (bits - 1)) - 1

    def check(value: Any) -> bool:
        return not isinstance(value, int) or isinstance(value, bool) or low <= value <= high

    return check


def _base64(value: Any) -> bool:
    if not isinstance(value, str):
        return True
    try:
        base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return False
    return True


@lru_cache(maxsize=1)
def _format_checker() -> Any:
    from jsonschema import FormatChecker

    checker = FormatChecker(formats=())
    checker.checks("int32")(_int_range(32))
    checker.checks("int64")(_int_range(64))
    checker.checks("byte")(_base64)
    return checker


def _list_type(validator: Any, list_type: Any, instance: Any, schema: dict) -> Iterator[Any]:
    """``x-kubernetes-list-type``: set items and map keys must be unique (the API server rejects duplicates)."""
    from jsonschema import ValidationError

    if not isinstance(instance, list) or list_type not in ("set", "map"):
        return
    seen: dict[str, int] = {}
    keys = schema.get("x-kubernetes-list-map-keys") or []
    for index, item in enumerate(instance):
        if list_type == "map":
            if not isinstance(item, dict):
                continue
            ident = json.dumps([item.get(key) for key in keys])
            shown = ", ".join(f"{key}={item.get(key)!r}" for key in keys)
        else:
            ident = json.dumps(item, sort_keys=True)
            shown = repr(item)
        if ident in seen:
            error = ValidationError(f"duplicate entry ({shown}); entry {seen[ident]} has the same key")
            error.path.append(index)  # type: ignore[attr-defined]
            yield error
        else:
            seen[ident] = index


@lru_cache(maxsize=1)
def _validator_class() -> Any:
    from jsonschema import Draft202012Validator, validators

    return validators.extend(Draft202012Validator, {"x-kubernetes-list-type": _list_type})


def _read_json(relative: str) -> Any:
    from pfgen.resources import schema_path

    with open(schema_path(relative), encoding="utf-8") as handle:
        return json.load(handle)


@lru_cache(maxsize=1)
def _core_registry() -> Any:
    from referencing import Registry, Resource

    definitions = _read_json(f"{_CORE_DIR}/_definitions.json")
    return Registry().with_resource(_CORE_DEFS_ID, Resource.from_contents(definitions))


@lru_cache(maxsize=None)
def validator_for(api_version: str, kind: str) -> Any:
    """A strict validator for objects of this apiVersion/kind, or None when none is shipped."""
    entry = SCHEMAS.get((api_version, kind))
    if entry is None:
        return None
    loader, relative = entry
    data = _read_json(relative)
    registry = _core_registry()
    if loader == _CORE:
        from referencing import Resource

        schema = data
        registry = registry.with_resource(schema["$id"], Resource.from_contents(schema))
    elif loader == _CRD:
        schema = strict_schema(data["openAPIV3Schema"])
        schema["properties"]["metadata"] = {"$ref": _OBJECT_META}
        schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    else:  # OpenAPI 3 components document (Katib)
        components = {name: strict_schema(sub) for name, sub in data["components"]["schemas"].items()}
        trial_template = components.get("v1beta1.TrialTemplate", {}).get("properties", {})
        if "trialSpec" in trial_template:
            # Checked on its own against its kind's schema (see _embedded).
            trial_template["trialSpec"] = {"type": "object"}
        schema = {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$ref": f"#/components/schemas/{data['root']}",
            "components": {"schemas": components},
        }
    return _validator_class()(schema, registry=registry, format_checker=_format_checker())


@lru_cache(maxsize=None)
def _cel_schema(api_version: str, kind: str) -> Any:
    """The raw openAPIV3Schema of a CRD kind whose CEL rules must be evaluated, else None."""
    entry = SCHEMAS.get((api_version, kind))
    if entry is None or entry[0] != _CRD:
        return None
    from pfgen.kube import cel

    schema = _read_json(entry[1])["openAPIV3Schema"]
    return schema if cel.needs_evaluation(schema) else None


def cel_findings(obj: dict, path: tuple) -> list[tuple[tuple, bool, str]]:
    schema = _cel_schema(obj["apiVersion"], obj["kind"])
    if schema is None:
        return []
    from pfgen.kube import cel

    try:
        return [(path + sub, False, message) for sub, message in cel.walk(schema, obj)]
    except cel.Unavailable as exc:
        return [(path, False, f"its CRD's CEL rules (x-kubernetes-validations) are not evaluated: {exc}; not verified")]
