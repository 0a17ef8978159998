"""What Kubeflow Trainer v2 (v2.3) gives the training container of a TrainJob.

A model of the torch plugin's ``EnforceMLPolicy`` (kubeflow/trainer v2.3.0,
``pkg/runtime/framework/plugins/torch/torch.go``, constants in
``pkg/constants/constants.go``) and of the JobSet plugin's ``trainer`` update
(``pkg/runtime/framework/plugins/jobset/builder.go``), for a TrainJob on a
torch runtime such as the shipped ``torch-distributed`` ClusterTrainingRuntime
(one replicated Job ``node``, container ``node``); docs/runtime.md has the table.

The pods are made by JobSet (sigs.k8s.io/jobset v0.12.0, the version Trainer
v2.3.0 requires): the trainer Job is ``<trainjob>-node-0``, an Indexed Job of
``numNodes`` pods; pod *i*'s hostname is ``<trainjob>-node-0-<i>``
(``pkg/util/placement/placement.go`` ``GenPodName``) in the subdomain
``<trainjob>`` (DNS hostnames are on by default: ``pkg/webhooks/jobset_webhook.go``,
``GetSubdomain`` in ``pkg/controllers/jobset_controller.go``).

Unlike the v1 Training Operator (pfgen/kube/operator.py), the torch plugin sets
only the five ``PET_*`` variables: no ``MASTER_ADDR``, ``MASTER_PORT``,
``WORLD_SIZE``, ``RANK`` or ``PYTHONUNBUFFERED``; the master port is fixed at
29500. Used by the runtime-contract tests and ``pfgen run --local --target trainjob``.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Optional

API_VERSION = "trainer.kubeflow.org/v1alpha1"
KIND = "TrainJob"
NODE = "node"  # constants.Node: the trainer replicated Job and its container
MASTER_PORT = 29500  # constants.ContainerTrainerPort
# constants.TorchRunReservedEnvNames: the torch plugin's webhook refuses these in spec.trainer.env
RESERVED_ENV = ("PET_NNODES", "PET_NPROC_PER_NODE", "PET_NODE_RANK", "PET_MASTER_ADDR", "PET_MASTER_PORT")
# constants.JobCompletionIndexFieldPath: PET_NODE_RANK's fieldRef (the Indexed Job's completion index)
NODE_RANK_FIELD = "metadata.annotations['batch.kubernetes.io/job-completion-index']"


# PeriFlow's variables that pfgen's script exports from the torch plugin's (emit/trainjob.py PRELUDE).
# WORLD_SIZE is PET_NNODES x PET_NPROC_PER_NODE (= total GPUs: numProcPerNode is always set);
# MASTER_PORT is the command's own --master_port N when it names one.
PERIFLOW_FROM_PET = (
    ("NUM_NODES", "PET_NNODES"),
    ("NODE_RANK", "PET_NODE_RANK"),
    ("NPROC_PER_NODE", "PET_NPROC_PER_NODE"),
    ("MASTER_ADDR", "PET_MASTER_ADDR"),
    ("MASTER_PORT", "PET_MASTER_PORT"),
)
SCRIPT_EXPORTS = tuple(name for name, _ in PERIFLOW_FROM_PET) + ("WORLD_SIZE",)


def pod_name(job_name: str, index: int) -> str:
    """Hostname of node ``index`` (JobSet ``GenPodName(jobset, "node", "0", index)``)."""
    return f"{job_name}-{NODE}-0-{index}"


def master_addr(job_name: str) -> str:
    """PET_MASTER_ADDR: node 0's DNS name in the JobSet's subdomain (torch.go ``masterEnvVars``)."""
    return f"{pod_name(job_name, 0)}.{job_name}"


def longest_pod_name(job_name: str, nodes: int) -> str:
    """The name JobSet's webhook checks against the 63-character DNS-1035 limit (+ 5-char pod suffix)."""
    return pod_name(job_name, nodes - 1) + "-abcde"


def _trainer(job: dict) -> dict:
    return job.get("spec", {}).get("trainer") or {}


def num_nodes(job: dict, runtime_nodes: int = 1) -> int:
    """PET_NNODES: trainer.numNodes, else the runtime's mlPolicy.numNodes (1 in torch-distributed)."""
    value = _trainer(job).get("numNodes")
    return int(value) if value is not None else runtime_nodes


def _cpu_count(quantity: object) -> int:
    text = str(quantity)
    if text.endswith("m"):
        return int(text[:-1]) // 1000  # resource.Quantity.Value() rounds up; whole cores are all pfgen writes
    return int(float(text))


def nproc(job: dict) -> str:
    """PET_NPROC_PER_NODE: numProcPerNode; unset, "auto" unless the node has no GPU, then its CPU count (at least 1)."""
    trainer = _trainer(job)
    if trainer.get("numProcPerNode") is not None:
        return str(int(trainer["numProcPerNode"]))
    resources = trainer.get("resourcesPerNode") or {}
    limits, requests = resources.get("limits") or {}, resources.get("requests") or {}
    gpus = limits.get("nvidia.com/gpu") or requests.get("nvidia.com/gpu") or 0  # runtime.GetNumGPUPerNode
    if int(gpus):
        return "auto"
    cpu = requests.get("cpu") or limits.get("cpu")
    return str(max(1, _cpu_count(cpu) if cpu else 0))


def injected_env(job: dict, index: int, *, master_addr_: Optional[str] = None,
                 port: Optional[int] = None, runtime_nodes: int = 1) -> list[tuple[str, str]]:
    """The variables the torch plugin upserts into the ``node`` container of node ``index``.

    ``PET_NODE_RANK`` is a fieldRef to the pod's Job completion index, which is
    ``index``; ``master_addr_`` and ``port`` stand in for node 0's DNS name and
    29500 outside a cluster.
    """
    name = job["metadata"]["name"]
    return [
        ("PET_NNODES", str(num_nodes(job, runtime_nodes))),
        ("PET_NPROC_PER_NODE", nproc(job)),
        ("PET_NODE_RANK", str(index)),
        ("PET_MASTER_ADDR", master_addr_ or master_addr(name)),
        ("PET_MASTER_PORT", str(MASTER_PORT if port is None else port)),
    ]


def container_env(job: dict) -> list[tuple[str, str]]:
    """spec.trainer.env's literal entries (valueFrom entries are skipped)."""
    return [(item["name"], item["value"]) for item in _trainer(job).get("env", []) if "value" in item]


def pod_env(job: dict, index: int, **stand_ins) -> dict[str, str]:
    """The final environment of node ``index``'s ``node`` container.

    torch-distributed's container has no env of its own; the JobSet plugin
    upserts spec.trainer.env, then the torch plugin upserts the PET_* variables
    (``apply.UpsertEnvVars``: a name already present is replaced in place).
    """
    env: dict[str, str] = {}
    for name, value in container_env(job) + injected_env(job, index, **stand_ins):
        env[name] = value
    return env


def command(job: dict) -> list[str]:
    """The ``node`` container's command: spec.trainer.command replaces the runtime's."""
    return list(_trainer(job)["command"])


def pod_variables(job: dict) -> set[str]:
    """Names the ``node`` container starts with beyond its image's (literal and valueFrom env, PET_*)."""
    names = {item["name"] for item in _trainer(job).get("env", [])}
    return names | set(RESERVED_ENV)
