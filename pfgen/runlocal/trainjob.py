"""``pfgen run --local`` for a TrainJob (target trainjob): its nodes as local processes.

The local runner (pfgen/runlocal/plan.py) plans replicas from a PyTorchJob's
shape. A TrainJob is read into that shape (a view: one pod template per node,
the ``node`` container's image, command, trainer env and the runtime patch's
mounts and volumes), and each node's injected environment is Trainer v2's, from
pfgen/kube/operator_v2.py: only PET_NNODES, PET_NPROC_PER_NODE, PET_NODE_RANK,
PET_MASTER_ADDR (here 127.0.0.1) and PET_MASTER_PORT. PeriFlow's variables come
from the script's own prelude (emit/trainjob.py), as in the pods.
"""

from __future__ import annotations

import copy
import re

from pfgen.kube import operator_v2
from pfgen.kube.names import CONTAINER, PORT_NAME

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Optional

_PORT_EXPORT = re.compile(r'^export MASTER_PORT=(\d+)$', re.M)  # the prelude's line for --master_port N


def master_port(job: dict) -> int:
    """The port the nodes meet on: the command's own --master_port N, else Trainer's 29500."""
    command = job["spec"]["trainer"].get("command") or []
    found = _PORT_EXPORT.search(command[-1]) if command else None
    return int(found.group(1)) if found else operator_v2.MASTER_PORT


def _pod(job: dict) -> dict:
    for patch in job["spec"].get("runtimePatches") or []:
        for replicated in patch.get("trainingRuntimeSpec", {}).get("template", {}).get("spec", {}).get("replicatedJobs", []):
            if replicated.get("name") == operator_v2.NODE:
                return replicated.get("template", {}).get("spec", {}).get("template", {})
    return {}


def as_view(job: dict) -> dict:
    """The TrainJob in the PyTorchJob shape the local planner reads (never written anywhere)."""
    trainer = job["spec"]["trainer"]
    pod = _pod(job)
    patched = next((c for c in pod.get("spec", {}).get("containers", []) if c.get("name") == operator_v2.NODE), {})
    container = {
        "name": CONTAINER,
        "image": trainer.get("image", ""),
        "command": list(trainer.get("command") or []),
        "env": copy.deepcopy(trainer.get("env") or []),
        "volumeMounts": copy.deepcopy(patched.get("volumeMounts") or []),
        "ports": [{"name": PORT_NAME, "containerPort": master_port(job)}],
    }
    template = {"spec": {"containers": [container], "volumes": copy.deepcopy(pod.get("spec", {}).get("volumes") or [])}}
    nodes = int(trainer.get("numNodes", 1))
    replicas = {"Master": {"replicas": 1, "template": template}}
    if nodes > 1:
        replicas["Worker"] = {"replicas": nodes - 1, "template": copy.deepcopy(template)}
    return {"apiVersion": job["apiVersion"], "kind": "TrainJob", "metadata": copy.deepcopy(job["metadata"]),
            "spec": {"nprocPerNode": operator_v2.nproc(job), "pytorchReplicaSpecs": replicas}}


def injected_env(view: dict, replica: str, index: int, *, master_addr: Optional[str] = None,
                 port: Optional[int] = None) -> list[tuple[str, str]]:
    """Trainer's variables for pod ``replica``-``index`` of the (possibly shrunk) view: node rank 0 for
    the first node, ``index + 1`` for the others."""
    specs = view["spec"]["pytorchReplicaSpecs"]
    nodes = sum(int(spec.get("replicas", 1)) for spec in specs.values())
    trainjob = {"metadata": view["metadata"],
                "spec": {"trainer": {"numNodes": nodes, "numProcPerNode": int(view["spec"]["nprocPerNode"])}}}
    rank = index + 1 if replica == "Worker" else 0
    return operator_v2.injected_env(trainjob, rank, master_addr_=master_addr, port=port)


def failure_notes(_view: dict) -> list[str]:
    return ["a TrainJob's restarts and failure are its runtime's (JobSet failurePolicy, the Jobs' backoffLimit, "
            "pod restartPolicy OnFailure by JobSet's default); here the first failure ends the run"]
