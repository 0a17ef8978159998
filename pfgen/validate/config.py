"""Project config: ``pfgen.yaml`` in the nearest parent directory of a template.

It holds what a template cannot know about the cluster: namespace, registry,
storage, where datasets and checkpoints live, placement, on-prem VM types.
It is untrusted YAML like a template, checked by its own schema
(``schemas/pfgen-config.schema.json``) with the same positioned errors.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from pfgen.secrets.credentials import CredentialsConfig
from pfgen.errors import Collector, UserError, display_path
from pfgen.load.discover import CONFIG_NAMES
from pfgen.load.document import load_file
from pfgen.resolve.plan import VM, PodSettings, RunPolicy, TrainerRuntime

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Optional


@dataclass(frozen=True)
class Storage:
    """Storage sizes and class for the claims pfgen creates (pfgen.yaml `storage:`)."""

    storage_class: Optional[str] = None
    data_size: str = "100Gi"
    checkpoint_size: str = "100Gi"
    cache_size: str = "50Gi"


@dataclass(frozen=True)
class Datastore:
    """A named datastore of pfgen.yaml: an existing claim, or a claim pfgen creates. (Its ``credential``
    is read with the other credentials: pfgen.secrets.credentials, CredentialsConfig.datastores.)"""

    claim: Optional[str] = None
    sub_path: Optional[str] = None
    size: Optional[str] = None


@dataclass(frozen=True)
class CheckpointSource:
    """A named input checkpoint of pfgen.yaml: the claim (and sub-path) that holds it."""

    claim: str
    sub_path: Optional[str] = None


@dataclass(frozen=True)
class PlacementConfig:
    """pfgen.yaml `placement:`: whether and how jobs are pinned to GPU nodes."""

    enabled: bool = True
    node_selector: tuple[tuple[str, str], ...] = ()
    tolerations: tuple[tuple[tuple[str, str], ...], ...] = ()
    gpu_resource: str = "nvidia.com/gpu"


@dataclass(frozen=True)
class ResourcesConfig:
    """pfgen.yaml `resources:`: whether pods request cpu/memory, and what each node keeps free."""

    enabled: bool = True
    reserve_cpu: float = 1
    reserve_cpu_percent: float = 5
    reserve_memory_gib: float = 4
    reserve_memory_percent: float = 10


@dataclass(frozen=True)
class ProjectConfig:
    """Everything pfgen.yaml says, checked; the defaults when there is none."""

    path: Optional[Path] = None
    namespace: Optional[str] = None
    registry: Optional[str] = None
    storage: Storage = Storage()
    datastores: dict[str, Datastore] = field(default_factory=dict)
    checkpoints: dict[str, CheckpointSource] = field(default_factory=dict)
    placement: PlacementConfig = PlacementConfig()
    vms: dict[str, VM] = field(default_factory=dict)
    credentials: CredentialsConfig = CredentialsConfig()  # credentials:, secrets:, datastores.*.credential
    run_policy: RunPolicy = RunPolicy()
    resources: ResourcesConfig = ResourcesConfig()
    pod: PodSettings = PodSettings()
    queue: Optional[str] = None
    target: str = "pytorchjob"  # pytorchjob | trainjob (docs/trainjob.md)
    trainjob: TrainerRuntime = TrainerRuntime()
    # keys a TrainJob cannot carry, as written: (dotted key, line, col); pfgen/validate/target.py refuses them
    trainjob_refused: tuple[tuple[str, int, int], ...] = ()
    workspace_infer: bool = True  # workspace.infer: bake <template dir>/<name> when the command enters <mount>/<name>
    allow_onbuild: bool = False  # workspace.allow_onbuild: `image build` may use a base image with ONBUILD triggers
    base_digests: tuple[tuple[str, str], ...] = ()  # workspace.base_digests: docker.image -> sha256 digest


TRAINJOB_REFUSED = (("pod", "priority_class"), ("pod", "scheduler_name"), ("run_policy",))


def find_config(start: Path, memo: Optional[dict[str, Optional[Path]]] = None) -> Optional[Path]:
    """The nearest pfgen.yaml at or above ``start`` (a directory).

    ``memo`` (directory -> answer) spares a build that asks this of a thousand
    templates the same stat calls up the same parent directories; it is only
    valid while no pfgen.yaml is created or removed, i.e. within one build."""
    from pfgen.realpaths import real

    given = str(start)
    if memo is not None and given in memo and given.startswith("/"):
        return memo[given]
    directory = real(given)  # plain strings: this runs once per template
    visited = []
    found: Optional[Path] = None
    while True:
        if memo is not None and directory in memo:
            found = memo[directory]
            break
        visited.append(directory)
        candidates = [os.path.join(directory, name) for name in CONFIG_NAMES]
        # anything but a directory counts (a FIFO or a dangling link too), so that the loader
        # refuses it (pfgen.safefs) rather than the build silently running without it
        hit = next((c for c in candidates if os.path.lexists(c) and not os.path.isdir(c)), None)
        if hit is not None:
            found = Path(hit)
            break
        parent = os.path.dirname(directory)
        if parent == directory:
            break
        directory = parent
    if memo is not None:
        memo.update((d, found) for d in visited)
        if given.startswith("/"):
            memo[given] = found
    return found


def config_for(template: Path, memo: Optional[dict[str, Optional[Path]]] = None) -> ProjectConfig:
    """The project config governing ``template`` (``memo``: see :func:`find_config`)."""
    from pfgen.realpaths import real

    path = find_config(Path(os.path.dirname(real(template))), memo)
    return load_config(path) if path else ProjectConfig()


def _tolerations(items: list[dict]) -> tuple[tuple[tuple[str, str], ...], ...]:
    return tuple(tuple(sorted((k, str(v)) for k, v in item.items())) for item in items)


@lru_cache(maxsize=64)
def load_config(path: Path) -> ProjectConfig:
    from pfgen.secrets import credentials
    from pfgen.validate import plaintext
    from pfgen.validate import schema

    display = display_path(path)
    doc = load_file(path, display)
    issues = Collector(display)
    plaintext.check(doc, issues, where="pfgen.yaml")
    schema.check(doc, issues, schema.CONFIG_SCHEMA)
    issues.raise_if_errors()
    creds = credentials.parse_config(doc, issues)
    issues.raise_if_errors()
    data = doc.data
    storage = data.get("storage", {})
    placement = data.get("placement", {})
    vms = {}
    for name, spec in data.get("vms", {}).items():
        vms[name] = VM(
            name=name, cloud="custom", gpu=spec.get("gpu", "gpu"), gpus=spec["gpus"],
            gpu_memory_gb=spec.get("gpu_memory_gb"), source="config",
            node_selector=tuple(sorted(spec.get("node_selector", {}).items())),
            tolerations=_tolerations(spec.get("tolerations", [])),
            vcpus=spec.get("vcpus"), memory_gib=spec.get("memory_gib"),
        )
    run_policy = data.get("run_policy", {})
    resources = data.get("resources", {})
    reserve = resources.get("reserve", {})
    pod = data.get("pod", {})
    return ProjectConfig(
        path=path,
        namespace=data.get("namespace"),
        registry=data.get("registry"),
        storage=Storage(
            storage_class=storage.get("class"),
            data_size=storage.get("data_size", Storage.data_size),
            checkpoint_size=storage.get("checkpoint_size", Storage.checkpoint_size),
            cache_size=storage.get("cache_size", Storage.cache_size),
        ),
        datastores={k: Datastore(v.get("claim"), v.get("sub_path"), v.get("size")) for k, v in data.get("datastores", {}).items()},
        checkpoints={k: CheckpointSource(**v) for k, v in data.get("checkpoints", {}).items()},
        placement=PlacementConfig(
            enabled=placement.get("enabled", True),
            node_selector=tuple(sorted(placement.get("node_selector", {}).items())),
            tolerations=_tolerations(placement.get("tolerations", [])),
            gpu_resource=placement.get("gpu_resource", PlacementConfig.gpu_resource),
        ),
        vms=vms,
        credentials=creds,
        run_policy=RunPolicy(
            restart_policy=run_policy.get("restart_policy", RunPolicy.restart_policy),
            backoff_limit=run_policy.get("backoff_limit", RunPolicy.backoff_limit),
            clean_pod_policy=run_policy.get("clean_pod_policy", RunPolicy.clean_pod_policy),
        ),
        resources=ResourcesConfig(
            enabled=resources.get("enabled", True),
            reserve_cpu=reserve.get("cpu", ResourcesConfig.reserve_cpu),
            reserve_cpu_percent=reserve.get("cpu_percent", ResourcesConfig.reserve_cpu_percent),
            reserve_memory_gib=reserve.get("memory_gib", ResourcesConfig.reserve_memory_gib),
            reserve_memory_percent=reserve.get("memory_percent", ResourcesConfig.reserve_memory_percent),
        ),
        pod=PodSettings(
            annotations=tuple(sorted((k, str(v)) for k, v in pod.get("annotations", {}).items())),
            labels=tuple(sorted((k, str(v)) for k, v in pod.get("labels", {}).items())),
            priority_class=pod.get("priority_class"),
            service_account=pod.get("service_account"),
            scheduler_name=pod.get("scheduler_name"),
        ),
        queue=data.get("queue"),
        target=data.get("target", ProjectConfig.target),
        trainjob_refused=tuple((".".join(key), *doc.key_pos(key)) for key in TRAINJOB_REFUSED if doc.get(key) is not None),
        trainjob=TrainerRuntime(
            name=data.get("trainjob", {}).get("runtime", TrainerRuntime.name),
            kind=data.get("trainjob", {}).get("runtime_kind", TrainerRuntime.kind),
        ),
        workspace_infer=data.get("workspace", {}).get("infer", True),
        allow_onbuild=data.get("workspace", {}).get("allow_onbuild", False),
        base_digests=tuple(sorted(data.get("workspace", {}).get("base_digests", {}).items())),
    )


__all__ = ["ProjectConfig", "config_for", "find_config", "load_config", "UserError"]
