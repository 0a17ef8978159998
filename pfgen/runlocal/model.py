"""What a local run is, as data: the options asked for, the planned replicas and path
mappings (:class:`LocalPlan`), and the error every stage of `pfgen run --local` raises."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from pfgen.errors import Diagnostic, UserError


MARKER = "PFGEN_LOCAL_RUN"  # inherited by every descendant; finds strays


class LocalRunError(UserError):
    """A problem with what `pfgen run --local` was asked to do."""

    def __init__(self, message: str, file: str = "pfgen run --local"):
        super().__init__([Diagnostic(file, 0, 0, message)])


def fail(message: str) -> LocalRunError:
    return LocalRunError(message)


@dataclass(frozen=True)
class Options:
    """What the user asked for on the command line."""

    nodes: Optional[int] = None  # shrink to this many replicas (master + workers)
    nproc: Optional[int] = None  # processes per node
    cpu: bool = False
    params: tuple[tuple[str, str], ...] = ()  # --param NAME=VALUE (tuning trials)
    env: tuple[tuple[str, str], ...] = ()  # --env NAME=VALUE, added to the container env
    mounts: tuple[tuple[str, Path], ...] = ()  # --mount CONTAINER_PATH=LOCAL_DIR
    workspace: Optional[Path] = None  # local workspace directory
    workspace_mount: Optional[str] = None  # where it appears in the container
    workspace_files: tuple[str, ...] = ()  # the image's files (relative paths): copied, not linked
    workdir: Optional[str] = None  # the image's WORKDIR (container path), when known
    run_dir: Optional[Path] = None
    grace: float = 10.0  # seconds between SIGTERM and SIGKILL
    gpus: Optional[int] = None  # GPUs on this machine; None = detect
    isolate: bool = False  # container paths via a mount namespace instead of rewriting
    target: Optional[str] = None  # --target: pytorchjob | trainjob (default pfgen.yaml's)


@dataclass(frozen=True)
class Replica:
    """One local stand-in for a pod: a process group running the container command."""

    name: str  # master-0, worker-0, ...
    node_rank: int
    argv: tuple[str, ...]
    env: tuple[tuple[str, str], ...]  # container env then operator env, paths mapped
    cwd: Path
    log: Path


@dataclass(frozen=True)
class PathMap:
    container: str
    local: Path
    kind: str  # workspace | claim | emptyDir | volume | checkpoint-dir
    source: str = ""  # claim name, or the local directory given with --mount


@dataclass
class LocalPlan:
    job: str
    run_dir: Path
    run_id: str
    nodes: int
    nproc: int
    master_port: int
    device: str  # cpu | cuda
    replicas: list[Replica]
    paths: list[PathMap]
    notes: list[str] = field(default_factory=list)
    objective: Optional[str] = None  # Katib objective metric name, for the summary
    grace: float = 10.0  # seconds between SIGTERM and SIGKILL
    metrics_file: Optional[Path] = None  # a Katib File collector's TEXT file, where it lands locally
    metrics_filters: tuple[str, ...] = ()  # its metricsFormat (empty: Katib's default name=value)

    @property
    def world_size(self) -> int:
        return self.nodes * self.nproc

    def describe(self) -> dict:
        """What was launched, as data (written to launch.json; no host environment)."""
        return {
            "job": self.job,
            "run_id": self.run_id,
            "nodes": self.nodes,
            "nproc_per_node": self.nproc,
            "world_size": self.world_size,
            "master_port": self.master_port,
            "device": self.device,
            "paths": [{"container": p.container, "local": str(p.local), "kind": p.kind, "source": p.source}
                      for p in self.paths],
            "replicas": [{"name": r.name, "node_rank": r.node_rank, "argv": list(r.argv),
                          "env": dict(r.env), "cwd": str(r.cwd), "log": str(r.log)} for r in self.replicas],
            "notes": list(self.notes),
        }


def norm(path: str) -> str:
    return "/" + "/".join(p for p in str(path).split("/") if p)


def is_under(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")
