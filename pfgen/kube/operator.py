"""What the Kubeflow Training Operator (v1.9) adds to a PyTorchJob's pods.

A model of ``setPodEnv`` in kubeflow/trainer ``pkg/controller.v1/pytorch``
(envvar.go, master.go; docs/runtime.md has the table), used wherever pfgen
must reproduce the pods' environment without a cluster: the runtime-contract
tests and ``pfgen run --local``. Non-elastic jobs with a Master only, which is
all pfgen emits.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Optional

from pfgen.kube.names import CONTAINER, PORT_NAME

DEFAULT_PORT = 23456  # PytorchJobDefaultPort


def replica_counts(job: dict) -> dict[str, int]:
    specs = job["spec"]["pytorchReplicaSpecs"]
    return {kind: int(spec.get("replicas", 1)) for kind, spec in specs.items()}


def master_port(job: dict) -> int:
    master = job["spec"]["pytorchReplicaSpecs"]["Master"]["template"]["spec"]
    for container in master["containers"]:
        if container["name"] == CONTAINER:
            for port in container.get("ports", []):
                if port.get("name") == PORT_NAME:
                    return int(port["containerPort"])
    return DEFAULT_PORT


def nproc(job: dict) -> int:
    value = job["spec"].get("nprocPerNode", "auto")
    try:
        return int(value)
    except (TypeError, ValueError):
        return 1  # the operator's fallback for "auto", "gpu", "cpu"


def injected_env(job: dict, replica: str, index: int, *, master_addr: Optional[str] = None,
                 port: Optional[int] = None) -> list[tuple[str, str]]:
    """The variables the operator appends to every container of pod ``<replica>-<index>``.

    ``replica`` is "Master" or "Worker"; ``master_addr`` and ``port`` stand in
    for the master Service name and port when running outside a cluster.
    """
    total = sum(replica_counts(job).values())
    address = master_addr or f"{job['metadata']['name']}-master-0"
    port = master_port(job) if port is None else port
    rank = index + 1 if replica == "Worker" else 0
    env = [
        ("PYTHONUNBUFFERED", "1"),
        ("MASTER_PORT", str(port)),
        ("PET_MASTER_PORT", str(port)),
        ("MASTER_ADDR", address),
        ("PET_MASTER_ADDR", address),
        ("WORLD_SIZE", str(total * nproc(job))),
        ("RANK", str(rank)),
        ("PET_NODE_RANK", str(rank)),
    ]
    if job["spec"].get("nprocPerNode") is not None:
        env.append(("PET_NPROC_PER_NODE", str(job["spec"]["nprocPerNode"])))
    env.append(("PET_NNODES", str(total)))
    return env


def container_env(container: dict) -> list[tuple[str, str]]:
    """The container's own literal env (valueFrom entries are skipped)."""
    return [(item["name"], item["value"]) for item in container.get("env", []) if "value" in item]


def pod_env(job: dict, replica: str, index: int, **stand_ins) -> dict[str, str]:
    """The final environment of the ``pytorch`` container: later entries win, as in the kubelet."""
    spec = job["spec"]["pytorchReplicaSpecs"][replica]["template"]["spec"]
    container = next(c for c in spec["containers"] if c["name"] == CONTAINER)
    env: dict[str, str] = {}
    for name, value in container_env(container) + injected_env(job, replica, index, **stand_ins):
        env[name] = value
    return env


def kubelet_expand(text: str, env: dict[str, str]) -> str:
    """The kubelet's expansion of ``$(NAME)`` in a container's command, args and env values.

    A model of Kubernetes' ``third_party/forked/golang/expansion``: ``$$``
    becomes ``$``; ``$(NAME)`` becomes NAME's value when defined and stays as
    written otherwise; any other ``$`` is kept. (pfgen escapes what it emits
    with ``emit.pytorchjob.kubelet_literal`` so that this gives back the template's text.)
    """
    out, index = [], 0
    while index < len(text):
        char = text[index]
        if char == "$" and index + 1 < len(text):
            following = text[index + 1]
            if following == "$":
                out.append("$")
                index += 2
                continue
            if following == "(":
                close = text.find(")", index + 2)
                if close != -1:
                    name = text[index + 2:close]
                    out.append(env.get(name, f"$({name})"))
                    index = close + 1
                    continue
            out.append("$" + following)
            index += 2
            continue
        out.append(char)
        index += 1
    return "".join(out)


def after_exit(job: dict, replica: str, exit_code: int) -> str:
    """What the operator (v1.9) does when replica ``replica``'s ``pytorch`` container exits non-zero.

    A model of ``ReconcilePods`` in kubeflow/trainer ``pkg/controller.v1/common/pod.go``
    with ``SetRestartPolicy`` (``pkg/core/pod.go``) and ``IsRetryableExitCode``
    (``pkg/util/train/train_util.go``, ``code >= 128``):

    - "job-failed": the Failed condition is set now (ExitCode with a code below 128;
      Never, through ``UpdateJobStatus``);
    - "pod-recreated": the failed pod is deleted and made again (ExitCode, 128+),
      bounded by runPolicy.backoffLimit;
    - "container-restarted": the kubelet restarts the container in place
      (OnFailure, Always), bounded by runPolicy.backoffLimit.
    """
    if exit_code == 0:
        raise ValueError("after_exit models failures only")
    policy = job["spec"]["pytorchReplicaSpecs"][replica].get("restartPolicy", "Never")
    if policy == "ExitCode":
        return "pod-recreated" if exit_code >= 128 else "job-failed"
    if policy in ("OnFailure", "Always"):
        return "container-restarted"
    return "job-failed"
