"""PyTorchJob (kubeflow.org/v1) for a JobPlan, with PeriFlow's runtime contract.

The Training Operator injects MASTER_ADDR, MASTER_PORT, WORLD_SIZE, RANK and
the PET_* variables into every container (docs/runtime.md has the table).
PeriFlow's variables are derived from those: NUM_NODES and NPROC_PER_NODE are
known at compile time and set as plain env; NODE_RANK differs per pod and is
exported by the script from PET_NODE_RANK; WORLD_SIZE is the operator's
replicas x nprocPerNode, which equals the total GPU count because
nprocPerNode is always an integer string here.
"""

from __future__ import annotations

import re

from pfgen.kube import shellwrap
from pfgen.resolve.plan import JobPlan

CONTAINER = "pytorch"  # the name the operator's webhook, port lookup and Katib require
PORT_NAME = "pytorchjob-port"

PRELUDE = 'export NODE_RANK="${PET_NODE_RANK}"\n'


def kubelet_literal(text: str) -> str:
    """``text`` escaped so that the kubelet's variable expansion gives it back unchanged.

    In a container's command, args and env values the kubelet replaces
    ``$(NAME)`` by the variable's value and ``$$`` by ``$``, so a template's
    ``echo $$`` or ``pa$$word`` would change meaning on the cluster. Doubling
    every ``$`` that is followed by ``$`` or ``(`` undoes exactly that (a lone
    ``$`` elsewhere is left alone by the kubelet, and here).
    """
    return re.sub(r"\$(?=[$(])", "$$", text)


def script(plan: JobPlan) -> str:
    """The ``bash -c`` script: prelude, setup (fail-fast), then the run command.

    The run command is wrapped in a brace group so that anything appended to
    the script (Katib appends a redirect and a completion marker) applies to
    the whole command, and its exit status is the job's.

    Each part is closed first (pfgen/shellwrap.py): a final line continuation, a lone final
    backslash or an unterminated here-document would otherwise swallow the text after it.
    """
    parts = [PRELUDE]
    if plan.setup.strip():
        parts.append("set -e\n" + shellwrap.close(plan.setup) + "set +e\n")
    parts.append("{\n" + shellwrap.close(plan.run, group=True) + "}")
    return "".join(parts)


def env(plan: JobPlan) -> list[dict]:
    values = [("NUM_NODES", str(plan.nodes)), ("NPROC_PER_NODE", str(plan.procs_per_node))]
    if plan.checkpoint_dir:
        values.append(("CKPT_DIR", plan.checkpoint_dir))
    if plan.dist:
        values += [("DP_DEGREE", str(plan.dist.dp)), ("PP_DEGREE", str(plan.dist.pp)), ("MP_DEGREE", str(plan.dist.mp))]
    values += list(plan.env)
    return [{"name": name, "value": kubelet_literal(value)} for name, value in values] + list(plan.extra.get("env_from_secrets", []))


def pod_template(plan: JobPlan) -> dict:
    gpus = {plan.placement.gpu_resource: plan.procs_per_node}
    mounts = [{"name": "dshm", "mountPath": "/dev/shm"}]
    volumes: list[dict] = [{"name": "dshm", "emptyDir": {"medium": "Memory"}}]
    for mount in plan.mounts:
        entry = {"name": mount.volume, "mountPath": mount.mount_path}
        if mount.read_only:
            entry["readOnly"] = True
        if mount.sub_path:
            entry["subPath"] = mount.sub_path
        mounts.append(entry)
        if mount.claim:
            source = {"claimName": mount.claim}
            if mount.read_only:
                source["readOnly"] = True
            volumes.append({"name": mount.volume, "persistentVolumeClaim": source})
    mounts += plan.extra.get("volume_mounts", [])
    volumes += plan.extra.get("volumes", [])
    container = {
        "name": CONTAINER,
        "image": plan.image,
        "command": ["bash", "-c", kubelet_literal(script(plan))],
        "env": env(plan),
        "ports": [{"name": PORT_NAME, "containerPort": plan.master_port, "protocol": "TCP"}],
        "resources": {"limits": dict(gpus), "requests": dict(gpus)},
        "volumeMounts": mounts,
    }
    spec: dict = {"containers": [container], "volumes": volumes}
    if plan.placement.node_selector:
        spec["nodeSelector"] = dict(plan.placement.node_selector)
    if plan.placement.tolerations:
        spec["tolerations"] = [dict(t) for t in plan.placement.tolerations]
    if plan.image_pull_secrets:
        spec["imagePullSecrets"] = [{"name": name} for name in plan.image_pull_secrets]
    return {"metadata": {"labels": dict(plan.labels)}, "spec": spec}


def metadata(plan: JobPlan) -> dict:
    meta: dict = {"name": plan.name, "labels": dict(plan.labels)}
    if plan.namespace:
        meta["namespace"] = plan.namespace
    return meta


def build(plan: JobPlan) -> dict:
    replicas = {"Master": {"replicas": 1, "restartPolicy": "OnFailure", "template": pod_template(plan)}}
    if plan.nodes > 1:
        # The webhook rejects Worker replicas: 0, so a one-node job has no Worker key.
        replicas["Worker"] = {"replicas": plan.nodes - 1, "restartPolicy": "OnFailure", "template": pod_template(plan)}
    return {
        "apiVersion": "kubeflow.org/v1",
        "kind": "PyTorchJob",
        "metadata": metadata(plan),
        "spec": {"nprocPerNode": str(plan.procs_per_node), "pytorchReplicaSpecs": replicas},
    }
