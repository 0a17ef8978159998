"""The job plan: the one resolved, typed view of a job that every emitter reads.

``resolve`` builds a :class:`JobPlan` from a validated template and the
project config; emitters turn it into Kubernetes objects and never look at
the template again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Optional


@dataclass(frozen=True)
class VM:
    """A VM type: what one node of the job looks like."""

    name: str
    cloud: str  # aws | azure | gcp | custom
    gpu: str  # e.g. v100, a100
    gpus: int  # GPUs per VM (= per node)
    gpu_memory_gb: Optional[int] = None
    region: Optional[str] = None
    spot: bool = False
    instance_type: Optional[str] = None
    source: str = "catalogue"  # catalogue | grammar | config
    node_selector: tuple[tuple[str, str], ...] = ()  # extra selector from project config
    tolerations: tuple[tuple[tuple[str, str], ...], ...] = ()
    vcpus: Optional[int] = None  # vCPUs of one node (the cloud's figure for instance_type)
    memory_gib: Optional[float] = None  # memory of one node in GiB


@dataclass(frozen=True)
class RunPolicy:
    """How a failing job ends and what is cleaned up (pfgen.yaml `run_policy:`; docs/template.md).

    ``restart_policy`` is every replica's restartPolicy: "ExitCode" (default: exit codes
    1-127 fail the job at once, 128 and above (signals: preemption, SIGKILL) recreate the
    pod), "OnFailure" or "Never". ``backoff_limit`` is runPolicy.backoffLimit.
    """

    restart_policy: str = "ExitCode"
    backoff_limit: Optional[int] = 3
    clean_pod_policy: str = "Running"


@dataclass(frozen=True)
class Resources:
    """CPU and memory one pod requests: the node's size minus the reserve for system daemons.

    Memory is also the limit (Guaranteed-like memory, no overcommit); CPU has no limit.
    """

    cpu: str  # a Kubernetes quantity, whole cores, e.g. "22"
    memory: str  # a Kubernetes quantity in Mi, e.g. "412876Mi"


@dataclass(frozen=True)
class PodSettings:
    """pfgen.yaml `pod:`: metadata and scheduling settings for every replica's (and trial's) pods."""

    annotations: tuple[tuple[str, str], ...] = ()
    labels: tuple[tuple[str, str], ...] = ()
    priority_class: Optional[str] = None
    service_account: Optional[str] = None
    scheduler_name: Optional[str] = None


@dataclass(frozen=True)
class Placement:
    """Where the pods may run: node selector, tolerations, GPU resource name."""

    node_selector: tuple[tuple[str, str], ...] = ()
    tolerations: tuple[tuple[tuple[str, str], ...], ...] = ()
    gpu_resource: str = "nvidia.com/gpu"


@dataclass(frozen=True)
class Mount:
    """A volume mounted into every replica's training container."""

    volume: str  # volume name inside the pod
    mount_path: str
    read_only: bool
    claim: Optional[str] = None  # PVC name; None for non-PVC volumes
    sub_path: Optional[str] = None


@dataclass(frozen=True)
class Claim:
    """A PersistentVolumeClaim that pfgen emits (as opposed to an existing one it only refers to)."""

    name: str
    size: str
    access_modes: tuple[str, ...]
    storage_class: Optional[str] = None
    purpose: str = ""  # data | checkpoint | cache, for labels and docs


@dataclass(frozen=True)
class Resume:
    """PeriFlow's resume pattern (checkpoint.input.mount_path = output_checkpoint_dir): see pfgen/kube/resume.py.

    The input claim is mounted read-only at ``source``; node rank 0 seeds ``target`` (the
    output claim) from it once, before the command.
    """

    source: str  # where the input claim is mounted
    target: str  # output_checkpoint_dir: the job's own output claim
    checkpoint: str  # checkpoint.input.id as written (messages and the marker)


@dataclass(frozen=True)
class CredentialUse:
    """A credential a job uses: the Kubernetes Secret that holds it and how the pod reads it.

    Never carries a secret value; see pfgen/secrets/credentials.py and docs/credentials.md.
    """

    id: str  # credential_id as written in the template or pfgen.yaml
    kind: str  # docker | s3 | azure-blob | gcs | wandb | slack
    secret_name: str  # the Secret in the job's namespace
    purpose: str = ""  # e.g. "image pull", "plugin.wandb", "datastore imagenet" (messages only)
    registries: tuple[str, ...] = ()  # docker: registry hosts to log in to
    remote_key: Optional[str] = None  # external mode: key at the secret store
    file: str = field(default="", compare=False)  # where it is referenced (for messages)
    pos: tuple[int, int] = field(default=(1, 1), compare=False)


@dataclass(frozen=True)
class Dist:
    """The template's ``dist:`` degrees (data, pipeline and model parallel)."""

    dp: int
    pp: int
    mp: int


@dataclass(frozen=True)
class WorkspaceImage:
    """A job's own image: its workspace baked onto ``docker.image`` (docs/images.md)."""

    base_image: str  # the template's docker.image: the Dockerfile's FROM
    workspace_dir: Path  # the build context
    workspace_name: str  # basename(workspace_dir)
    mount_path: str  # workspace.mount_path; files land in <mount_path>/<workspace_name>
    repository: str  # <registry>/<job>
    tag: Optional[str]  # content hash of the Dockerfile and the included files (None until pipeline.tag_image)
    dockerfile: Optional[str]  # None exactly when tag is None
    dockerignore: str
    file_count: int = 0
    total_bytes: int = 0
    files: tuple = field(default=(), compare=False, repr=False)  # pfgen.resolve.workspace.WorkspaceFile, for the build context
    pos: tuple[int, int] = field(default=(1, 1), compare=False, repr=False)  # where the template gives the workspace
    allow_onbuild: bool = False  # pfgen.yaml workspace.allow_onbuild: the base image's ONBUILD triggers may run

    @property
    def reference(self) -> str:
        return f"{self.repository}:{self.tag}" if self.tag is not None else self.repository


@dataclass(frozen=True)
class Parameter:
    """One ``tuning.parameters`` entry: a Katib feasible space."""

    name: str
    type: str  # double | int | categorical | discrete
    min: Optional[str] = None
    max: Optional[str] = None
    step: Optional[str] = None
    values: tuple[str, ...] = ()

    @property
    def description(self) -> str:
        if self.type in ("double", "int"):
            text = f"{self.type} in [{self.min}, {self.max}]"
            return text + (f" step {self.step}" if self.step else "")
        return f"{self.type}, one of: {', '.join(self.values)}"


@dataclass(frozen=True)
class MetricsCollector:
    """Where Katib reads the trial's metrics: stdout or a file, and in which format."""

    kind: str = "stdout"  # stdout | file
    path: Optional[str] = None
    format: str = "text"  # text | json | periflow
    filters: tuple[str, ...] = ()  # Katib metricsFormat (text files only); () = Katib's default name=value


@dataclass(frozen=True)
class Tuning:
    """A checked ``tuning:`` section: the Katib Experiment's settings."""

    objective_type: str
    metric: str
    goal: Optional[float]
    additional_metrics: tuple[str, ...]
    algorithm: str
    algorithm_settings: tuple[tuple[str, str], ...]
    max_trials: int
    parallel_trials: int
    max_failed_trials: Optional[int]
    collector: MetricsCollector
    parameters: tuple[Parameter, ...]
    unused: tuple[str, ...] = ()  # declared parameters the trial template never references
    retain: bool = False  # trialTemplate.retain: keep each trial's job and pods

    @property
    def used_parameters(self) -> tuple[Parameter, ...]:
        return tuple(p for p in self.parameters if p.name not in self.unused)


@dataclass(frozen=True)
class TrainerRuntime:
    """pfgen.yaml `trainjob:`: the Trainer v2 runtime a TrainJob refers to (spec.runtimeRef)."""

    name: str = "torch-distributed"
    kind: str = "ClusterTrainingRuntime"  # or TrainingRuntime (namespaced)


TARGETS = ("pytorchjob", "trainjob")


@dataclass(frozen=True)
class JobPlan:
    """Everything the emitters need to know about one job, resolved from template and config."""

    name: str  # Kubernetes object name (DNS-1035 label)
    template: Path  # the source template
    namespace: Optional[str]
    experiment: Optional[str]
    image: str
    setup: str  # shell run before `run`, fail-fast; may be ""
    run: str
    vm: VM
    nodes: int
    procs_per_node: int
    master_port: int
    env: tuple[tuple[str, str], ...]  # user env (docker.env_var), in template order
    mounts: tuple[Mount, ...]
    claims: tuple[Claim, ...]
    placement: Placement
    labels: tuple[tuple[str, str], ...]
    dist: Optional[Dist] = None
    checkpoint_dir: Optional[str] = None
    image_pull_secrets: tuple[str, ...] = ()
    workspace_image: Optional[WorkspaceImage] = None  # set when the job has a workspace: `image` is its reference
    credentials: tuple[CredentialUse, ...] = ()  # see pfgen/secrets/credentials.py
    slack_channel: Optional[str] = None  # plugin.slack.channel (not a secret: plain env)
    tuning: Optional[Tuning] = None  # when the template has `tuning:` (checked by pfgen.validate.tuning)
    run_policy: RunPolicy = RunPolicy()
    resources: Optional[Resources] = None  # None: the VM's size is unknown (no cpu/memory requests)
    pod: PodSettings = PodSettings()
    queue: Optional[str] = None  # Kueue LocalQueue (label kueue.x-k8s.io/queue-name on the job)
    master_port_given: bool = False  # the command names its port (--master_port N): master_port is that N
    target: str = "pytorchjob"  # pytorchjob (Training Operator v1) | trainjob (Trainer v2): which emitter
    runtime: TrainerRuntime = TrainerRuntime()  # target trainjob: spec.runtimeRef
    resume: Optional[Resume] = None  # checkpoint.input.mount_path = output_checkpoint_dir

    @property
    def world_size(self) -> int:
        return self.nodes * self.procs_per_node
