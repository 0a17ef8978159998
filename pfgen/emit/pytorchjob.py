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

from pfgen.kube import resume, shellwrap
from pfgen.kube.names import CONTAINER, MIN_OPERATOR_ANNOTATION, MIN_OPERATOR_VERSION, PORT_NAME, QUEUE_LABEL
from pfgen.resolve.plan import JobPlan


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
    """The ``bash -c`` script: prelude, resume seeding, setup (both fail-fast), then the run command.

    The run command is wrapped in a brace group so that anything appended to
    the script (Katib appends a redirect and a completion marker) applies to
    the whole command, and its exit status is the job's.

    Each part is closed first (pfgen/shellwrap.py): a final line continuation, a lone final
    backslash or an unterminated here-document would otherwise swallow the text after it.
    """
    parts = [PRELUDE]
    if plan.resume is not None:
        parts.append(resume.script(plan.resume.source, plan.resume.target, plan.resume.checkpoint))
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
    return [{"name": name, "value": kubelet_literal(value)} for name, value in values]


def resources(plan: JobPlan) -> dict:
    """requests: GPUs, cpu, memory; limits: GPUs and memory (= request). See pfgen/resolve/sizing.py."""
    requests: dict = {}
    limits: dict = {}
    if plan.vm.gpus > 0:
        requests[plan.placement.gpu_resource] = limits[plan.placement.gpu_resource] = plan.procs_per_node
    if plan.resources is not None:
        requests["cpu"] = plan.resources.cpu
        requests["memory"] = limits["memory"] = plan.resources.memory
    result = {}
    if limits:
        result["limits"] = dict(sorted(limits.items()))
    if requests:
        result["requests"] = dict(sorted(requests.items()))
    return result


def pod_template(plan: JobPlan) -> dict:
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
    container = {
        "name": CONTAINER,
        "image": plan.image,
        "command": ["bash", "-c", kubelet_literal(script(plan))],
        "env": env(plan),
        "ports": [{"name": PORT_NAME, "containerPort": plan.master_port, "protocol": "TCP"}],
        "resources": resources(plan),
        "volumeMounts": mounts,
    }
    spec: dict = {"containers": [container], "volumes": volumes}
    if plan.placement.node_selector:
        spec["nodeSelector"] = dict(plan.placement.node_selector)
    if plan.placement.tolerations:
        spec["tolerations"] = [dict(t) for t in plan.placement.tolerations]
    if plan.image_pull_secrets:
        spec["imagePullSecrets"] = [{"name": name} for name in plan.image_pull_secrets]
    pod = plan.pod
    if pod.priority_class:
        spec["priorityClassName"] = pod.priority_class
    if pod.service_account:
        spec["serviceAccountName"] = pod.service_account
    if pod.scheduler_name:
        spec["schedulerName"] = pod.scheduler_name
    labels = dict(pod.labels)
    labels.update(plan.labels)  # pfgen's own labels win: the job's selectors rely on them
    meta: dict = {"labels": dict(sorted(labels.items()))}
    if pod.annotations:
        meta["annotations"] = dict(pod.annotations)
    return {"metadata": meta, "spec": spec}


def metadata(plan: JobPlan) -> dict:
    labels = dict(plan.labels)
    if plan.queue:
        labels[QUEUE_LABEL] = plan.queue
    meta: dict = {"name": plan.name, "labels": dict(sorted(labels.items())),
                  "annotations": {MIN_OPERATOR_ANNOTATION: MIN_OPERATOR_VERSION}}
    if plan.namespace:
        meta["namespace"] = plan.namespace
    return meta


def run_policy(plan: JobPlan) -> dict:
    """spec.runPolicy: the job ends (Failed) instead of restarting forever; see docs/template.md.

    Without backoffLimit the operator's PastBackoffLimit is always false
    (pkg/core/job.go), so an OnFailure job that crashes never fails; cleanPodPolicy
    Running deletes Workers still running (e.g. hung in a collective) when the job ends.
    """
    policy: dict = {"cleanPodPolicy": plan.run_policy.clean_pod_policy}
    if plan.run_policy.backoff_limit is not None:
        policy["backoffLimit"] = plan.run_policy.backoff_limit
    return dict(sorted(policy.items()))


def build(plan: JobPlan) -> dict:
    restart = plan.run_policy.restart_policy
    replicas = {"Master": {"replicas": 1, "restartPolicy": restart, "template": pod_template(plan)}}
    if plan.nodes > 1:
        # The webhook rejects Worker replicas: 0, so a one-node job has no Worker key.
        replicas["Worker"] = {"replicas": plan.nodes - 1, "restartPolicy": restart, "template": pod_template(plan)}
    return {
        "apiVersion": "kubeflow.org/v1",
        "kind": "PyTorchJob",
        "metadata": metadata(plan),
        "spec": {"nprocPerNode": str(plan.procs_per_node), "pytorchReplicaSpecs": replicas,
                 "runPolicy": run_policy(plan)},
    }
