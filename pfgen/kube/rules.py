"""Rules the schemas do not encode: the API server's validation (object names, label keys
and values, env names, ports, volumes) and the admission webhooks of the Training Operator
(PyTorchJob), Trainer v2 (TrainJob) and Katib (Experiment). :func:`object_rules` gives
one object's findings as (path, at_key, message)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Optional

from pfgen.errors import did_you_mean
from pfgen.kube import katib
from pfgen.kube.names import CONTAINER, DNS1035, DNS1123_LABEL, DNS1123_SUBDOMAIN, LABEL_VALUE, QUALIFIED_NAME

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


def object_rules(obj: dict, path: tuple, embedded: bool) -> list:
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
