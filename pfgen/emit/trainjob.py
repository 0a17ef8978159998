"""TrainJob (trainer.kubeflow.org/v1alpha1, Kubeflow Trainer v2.3) for a JobPlan.

The same plan as the PyTorchJob (emit/pytorchjob.py), another emitter. The
TrainJob names a runtime (``spec.runtimeRef``, default the shipped
``torch-distributed`` ClusterTrainingRuntime) and fills its trainer: the
``node`` container's image, command, env and resources, and the node count.
Everything else a pod needs (volumes and mounts, /dev/shm, node selector,
tolerations, image pull secrets, service account, pod labels and annotations)
goes through the v2.2+ override mechanism, ``spec.runtimePatches``: one patch
owned by pfgen, strategic-merged by Trainer into the runtime's JobSet template
(kubeflow/trainer v2.3.0 ``pkg/runtime/core/trainingruntime.go`` ``mergeRuntimePatches``).

Trainer's torch plugin sets only PET_NNODES, PET_NPROC_PER_NODE, PET_NODE_RANK,
PET_MASTER_ADDR and PET_MASTER_PORT (pfgen/kube/operator_v2.py); the script's
first lines export PeriFlow's variables from them, so the template's command
runs unchanged. What a TrainJob cannot express was refused earlier, with its
position (pfgen/validate/target.py).
"""

from __future__ import annotations

from pfgen.emit import pytorchjob, secrets
from pfgen.kube import operator_v2
from pfgen.resolve.plan import JobPlan

CONTAINER = operator_v2.NODE  # the torch runtime's trainer container, and its replicated Job
PATCH_MANAGER = "pfgen.dev/pfgen"  # runtimePatches[].manager: a domain-prefixed path (Trainer's webhook)
MIN_TRAINER_ANNOTATION = "pfgen.dev/min-trainer"
MIN_TRAINER_VERSION = "v2.2.0"  # spec.runtimePatches is new in v2.2.0 (v2.1: podTemplateOverrides, v2.0: podSpecOverrides)


def prelude(plan: JobPlan) -> str:
    """The script's first lines: PeriFlow's variables from the torch plugin's PET_* ones."""
    lines = []
    for name, source in operator_v2.PERIFLOW_FROM_PET:
        if name == "MASTER_PORT" and plan.master_port_given:
            # the command's own --master_port N: torchrun listens there, and $MASTER_PORT says so
            lines.append(f'export MASTER_PORT={plan.master_port}\n')  # unquoted digits, as run --local rewrites them
        else:
            lines.append(f'export {name}="${{{source}}}"\n')
    lines.append('export WORLD_SIZE="$((PET_NNODES * PET_NPROC_PER_NODE))"\n')
    return "".join(lines)


def script(plan: JobPlan) -> str:
    """The ``bash -c`` script: the PyTorchJob's (emit/pytorchjob.py ``script``: setup fail-fast, the run
    command in a brace group, and whatever else it does before them), its first line replaced by this
    prelude. One script for both targets, so they cannot drift apart."""
    v1 = pytorchjob.script(plan)
    if not v1.startswith(pytorchjob.PRELUDE):
        raise AssertionError("emit/pytorchjob.py's script no longer starts with its PRELUDE")
    return prelude(plan) + v1[len(pytorchjob.PRELUDE):]


def env(plan: JobPlan) -> list[dict]:
    """spec.trainer.env: the PyTorchJob container's env (CKPT_DIR, the dist degrees, the template's
    env_var, ...) without NUM_NODES and NPROC_PER_NODE, which the script derives; then the credentials'."""
    derived = {name for name, _ in operator_v2.PERIFLOW_FROM_PET}
    return [item for item in pytorchjob.env(plan) if item["name"] not in derived] + secrets.env(plan)


def pod_patch(plan: JobPlan) -> dict:
    """The pod template patch for the runtime's ``node`` Job: what the PyTorchJob's pods carry
    beyond the container's image, command, env and resources."""
    template = pytorchjob.pod_template(plan)  # volumes, mounts, placement, pod settings: one source
    pod, container = template["spec"], template["spec"]["containers"][0]
    spec: dict = {}
    mounts = container.get("volumeMounts", []) + secrets.volume_mounts(plan)
    spec["containers"] = [{"name": CONTAINER, "volumeMounts": mounts}]
    pull = secrets.image_pull_secrets(plan)
    if pull:
        spec["imagePullSecrets"] = pull
    for key in ("nodeSelector", "tolerations", "serviceAccountName"):
        if key in pod:
            spec[key] = pod[key]
    spec["volumes"] = pod.get("volumes", []) + secrets.volumes(plan)
    return {"metadata": template["metadata"], "spec": dict(sorted(spec.items()))}


def runtime_patches(plan: JobPlan) -> list[dict]:
    job_patch = {"name": CONTAINER, "template": {"spec": {"template": pod_patch(plan)}}}
    return [{
        "manager": PATCH_MANAGER,
        "trainingRuntimeSpec": {"template": {"spec": {"replicatedJobs": [job_patch]}}},
    }]


def metadata(plan: JobPlan) -> dict:
    """The PyTorchJob's metadata (name, namespace, labels with the Kueue queue), annotated with the Trainer it needs."""
    meta = pytorchjob.metadata(plan)
    meta["annotations"] = {MIN_TRAINER_ANNOTATION: MIN_TRAINER_VERSION}
    return meta


def trainer(plan: JobPlan) -> dict:
    out: dict = {
        "image": plan.image,
        "command": ["bash", "-c", pytorchjob.kubelet_literal(script(plan))],
        "numNodes": plan.nodes,
        "numProcPerNode": plan.procs_per_node,
    }
    variables = env(plan)
    if variables:
        out["env"] = variables
    resources = pytorchjob.resources(plan)
    if resources:
        out["resourcesPerNode"] = resources
    return out


def build(plan: JobPlan) -> dict:
    """The TrainJob, credentials wired in. No ``suspend``: as for the PyTorchJob, Kueue's webhook
    suspends a job with the queue label on creation (docs/trainjob.md)."""
    return {
        "apiVersion": operator_v2.API_VERSION,
        "kind": operator_v2.KIND,
        "metadata": metadata(plan),
        "spec": {
            "runtimeRef": {"apiGroup": "trainer.kubeflow.org", "kind": plan.runtime.kind, "name": plan.runtime.name},
            "runtimePatches": runtime_patches(plan),
            "trainer": trainer(plan),
        },
    }
