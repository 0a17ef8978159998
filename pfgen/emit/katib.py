"""Emit the Katib v1beta1 Experiment for a job with a ``tuning:`` section.

The trial template is the PyTorchJob that :func:`pfgen.emit.pytorchjob.build`
emits for the same plan, minus ``metadata.name``/``namespace`` (Katib names
each trial's job itself and rejects templates that set them). The
``${trialParameters.NAME}`` references stay in its command verbatim; Katib
replaces them per trial by plain string replacement on the JSON-serialised
template. Everything Katib's mutating webhook would default for a Kubeflow
job kind is written out explicitly, so the object in Git is the object that
runs.
"""

from __future__ import annotations

from pfgen.emit import tree_copy
from pfgen.kube.names import CONTAINER, QUEUE_LABEL
from pfgen.resolve.plan import Tuning

API_VERSION = "kubeflow.org/v1beta1"
PRIMARY_CONTAINER = CONTAINER
# Katib v0.19 pkg/apis/controller/experiments/v1beta1/experiment_defaults.go, for KubeflowJobKinds.
PRIMARY_POD_LABELS = {"training.kubeflow.org/job-role": "master"}
SUCCESS_CONDITION = 'status.conditions.#(type=="Succeeded")#|#(status=="True")#'
FAILURE_CONDITION = 'status.conditions.#(type=="Failed")#|#(status=="True")#'
# The PeriFlow SDK's local metric log is json.dumps(dict) per line, numbers unquoted:
# {"accuracy": 0.98, "loss": 0.05}. Katib's JSON parser only takes string values, so the
# log is read as TEXT with this filter: "name": value, the value optionally quoted.
PERIFLOW_FILTER = r'"([\w|-]+)"\s*:\s*"?([+-]?\d*(\.\d+)?([Ee][+-]?\d+)?)"?'


# Trial pods are kept out of the Istio mesh unless pfgen.yaml pod.annotations says otherwise:
# a Kubeflow profile namespace enables injection, and an istio-proxy in a trial pod intercepts
# the rendezvous and the metrics collector's traffic and outlives the training container
# (seed 004 sets it by hand; docs/tuning.md).
ISTIO_INJECT = "sidecar.istio.io/inject"


def trial_spec(job: dict) -> dict:
    """The PyTorchJob as a trial template: without metadata.name and metadata.namespace, and
    with every replica's pods annotated ``sidecar.istio.io/inject: "false"`` unless the pod
    settings already set that annotation."""
    spec = tree_copy(job)
    metadata = spec.get("metadata", {})
    metadata.pop("name", None)
    metadata.pop("namespace", None)
    if not metadata:
        spec.pop("metadata", None)
    for replica in (spec.get("spec", {}).get("pytorchReplicaSpecs") or {}).values():
        pod_meta = replica.setdefault("template", {}).setdefault("metadata", {})
        annotations = dict(pod_meta.get("annotations") or {})
        annotations.setdefault(ISTIO_INJECT, "false")
        pod_meta["annotations"] = dict(sorted(annotations.items()))
    return spec


def _metrics_collector(tuning: Tuning) -> dict:
    collector = tuning.collector
    if collector.kind == "stdout":
        if collector.filters:
            return {"collector": {"kind": "StdOut"}, "source": {"filter": {"metricsFormat": list(collector.filters)}}}
        return {"collector": {"kind": "StdOut"}}
    source: dict = {
        "fileSystemPath": {
            "kind": "File",
            "path": collector.path,
            "format": "JSON" if collector.format == "json" else "TEXT",
        }
    }
    if collector.format == "periflow":
        source["filter"] = {"metricsFormat": [PERIFLOW_FILTER]}
    elif collector.filters:
        source["filter"] = {"metricsFormat": list(collector.filters)}
    return {"collector": {"kind": "File"}, "source": source}


def _parameters(tuning: Tuning) -> list[dict]:
    result = []
    for param in tuning.used_parameters:
        if param.type in ("double", "int"):
            space = {"min": param.min, "max": param.max}
            if param.step:
                space["step"] = param.step
        else:
            space = {"list": list(param.values)}
        result.append({"name": param.name, "parameterType": param.type, "feasibleSpace": space})
    return result


def build_experiment(job: dict, tuning: Tuning) -> dict:
    """The Experiment around ``job`` (a PyTorchJob object as the spine emits it)."""
    metadata = job.get("metadata", {})
    objective: dict = {"type": tuning.objective_type, "objectiveMetricName": tuning.metric}
    if tuning.goal is not None:
        objective["goal"] = tuning.goal
    if tuning.additional_metrics:
        objective["additionalMetricNames"] = list(tuning.additional_metrics)
    algorithm: dict = {"algorithmName": tuning.algorithm}
    if tuning.algorithm_settings:
        algorithm["algorithmSettings"] = [{"name": k, "value": v} for k, v in tuning.algorithm_settings]
    spec: dict = {
        "objective": objective,
        "algorithm": algorithm,
        "maxTrialCount": tuning.max_trials,
        "parallelTrialCount": tuning.parallel_trials,
        "parameters": _parameters(tuning),
        "metricsCollectorSpec": _metrics_collector(tuning),
        "trialTemplate": {
            **({"retain": True} if tuning.retain else {}),
            "primaryContainerName": PRIMARY_CONTAINER,
            "primaryPodLabels": dict(PRIMARY_POD_LABELS),
            "successCondition": SUCCESS_CONDITION,
            "failureCondition": FAILURE_CONDITION,
            "trialParameters": [
                {"name": p.name, "reference": p.name, "description": p.description}
                for p in tuning.used_parameters
            ],
            "trialSpec": trial_spec(job),
        },
    }
    if tuning.max_failed_trials is not None:
        spec["maxFailedTrialCount"] = tuning.max_failed_trials
    meta: dict = {"name": metadata["name"]}
    if metadata.get("namespace"):
        meta["namespace"] = metadata["namespace"]
    labels = {k: v for k, v in metadata.get("labels", {}).items() if k != QUEUE_LABEL}
    if labels:
        meta["labels"] = labels  # Kueue admits the trials' jobs, not the Experiment
    return {"apiVersion": API_VERSION, "kind": "Experiment", "metadata": meta, "spec": spec}


def build(plan, job: dict) -> dict:
    """The Experiment for ``plan`` (which must carry ``plan.tuning``) around its training ``job``
    (``pfgen.pipeline.training_job``: the PyTorchJob with credentials wired in)."""
    if plan.tuning is None:
        raise ValueError("plan has no tuning section")
    return build_experiment(job, plan.tuning)
