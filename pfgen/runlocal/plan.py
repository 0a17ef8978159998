"""`pfgen run --local`: run a compiled job on this machine as the cluster would.

The job is not re-interpreted from the template: this module reads the
PyTorchJob object that the compiler emits (or the trial template inside the
Katib Experiment) and starts one local process group per replica with

* the container's exact command (``bash -c SCRIPT``) and its own ``env``,
* the variables the Kubeflow Training Operator v1.9 appends after them
  (MASTER_ADDR/PORT, WORLD_SIZE, RANK, PET_*, PYTHONUNBUFFERED; see
  docs/run-local.md), with the master's headless Service replaced by 127.0.0.1,
* the container's absolute mount paths (workspace, data, checkpoints) mapped
  to directories under a run folder: rewritten in the command and env, or
  (``--isolate``, root) bind-mounted at the real paths in a mount namespace.

Two stages: :func:`plan_local` turns the object into a :class:`LocalPlan`
(it prepares the run folder but starts nothing of the job), :func:`launch`
runs a plan.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import os
import posixpath
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Iterable, Optional

from pfgen.kube import katib, operator
from pfgen.kube.names import CONTAINER
from pfgen.errors import Diagnostic, UserError, did_you_mean

MARKER = "PFGEN_LOCAL_RUN"  # inherited by every descendant; finds strays

# Operator-injected names (and torchrun's agent variables) that must not leak
# in from the environment pfgen itself runs in.
_INJECTED_PREFIXES = ("PET_", "TORCHELASTIC_")
_INJECTED = {"MASTER_ADDR", "MASTER_PORT", "WORLD_SIZE", "RANK", "LOCAL_RANK", "LOCAL_WORLD_SIZE",
             "GROUP_RANK", "ROLE_RANK", "NODE_RANK", "NUM_NODES", "NPROC_PER_NODE"}

# Top-level directories that exist on the host and must not be rewritten
# wholesale; a mount under them is mapped by its exact path only.
_SYSTEM_DIRS = {"bin", "boot", "dev", "etc", "home", "lib", "lib32", "lib64", "media", "mnt", "opt",
                "proc", "root", "run", "sbin", "srv", "sys", "tmp", "usr", "var"}

_META_REF = re.compile(r"^\$\{trialSpec\.(Name|Namespace|Kind|APIVersion|Annotations\[.+\]|Labels\[.+\])\}\Z")


class LocalRunError(UserError):
    """A problem with what `pfgen run --local` was asked to do."""

    def __init__(self, message: str, file: str = "pfgen run --local"):
        super().__init__([Diagnostic(file, 0, 0, message)])


def _fail(message: str) -> LocalRunError:
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


# --------------------------------------------------------------------------- the job object


def find_job(objects: Iterable[dict], params: dict[str, str], *, trial_name: str = "") -> tuple[dict, Optional[str]]:
    """The PyTorchJob to run, and the Katib objective metric when it is a trial.

    A plain job is taken as is. With a Katib Experiment, its trial template is
    instantiated the way Katib's manifest generator does it: plain string
    replacement of ``${trialParameters.NAME}`` on the JSON-serialised trialSpec.
    """
    objects = list(objects)
    experiment = next((o for o in objects if o.get("kind") == "Experiment"), None)
    job = next((o for o in objects if o.get("kind") in ("PyTorchJob", "TrainJob")), None)
    if experiment is not None:
        return _instantiate_trial(experiment, params, trial_name=trial_name)
    if job is None:
        raise _fail("the compiled job has no PyTorchJob or TrainJob object to run")
    if params:
        raise _fail(f"--param {next(iter(params))}=... given, but the template has no tuning section")
    return job, None


def _instantiate_trial(experiment: dict, params: dict[str, str], *, trial_name: str) -> tuple[dict, Optional[str]]:
    spec = experiment.get("spec", {})
    template = spec.get("trialTemplate", {})
    trial_spec = template.get("trialSpec")
    if not isinstance(trial_spec, dict) or trial_spec.get("kind") not in ("PyTorchJob", "TrainJob"):
        raise _fail("the Katib Experiment's trial template is not an inline PyTorchJob or TrainJob")
    exp_name = experiment.get("metadata", {}).get("name", "trial")
    name = trial_name or f"{exp_name}-local"
    namespace = experiment.get("metadata", {}).get("namespace", "default")
    declared = {p["name"]: p for p in spec.get("parameters", [])}
    values: dict[str, str] = {}
    wanted: list[str] = []
    by_reference: dict[str, str] = {}
    for tp in template.get("trialParameters", []):
        ref = str(tp.get("reference", ""))
        meta = _META_REF.match(ref)
        if meta:
            values[tp["name"]] = _meta_value(meta.group(1), name, namespace, trial_spec)
            continue
        wanted.append(tp["name"])
        by_reference[ref] = tp["name"]
    problems = []
    for key, value in params.items():
        # accept the trial parameter's name or the search-space parameter it references
        target = key if key in wanted else by_reference.get(key)
        if target is None:
            problems.append(f"--param {key}: no such tuning parameter"
                            + (did_you_mean(key, [*wanted, *by_reference]) or f" (known: {', '.join(wanted)})"))
            continue
        ref = next((r for r, n in by_reference.items() if n == target), target)
        problem = _check_value(declared.get(ref), key, value)
        if problem:
            problems.append(problem)
        values[target] = value
    missing = [n for n in wanted if n not in values]
    if missing:
        problems.append("a tuning run needs a value for every parameter; missing: "
                        + ", ".join(f"--param {n}=VALUE" for n in missing))
    if problems:
        raise LocalRunError("; ".join(problems))
    text = json.dumps(trial_spec)
    for tp_name, value in values.items():
        text = text.replace("${trialParameters.%s}" % tp_name, _json_inner(value))
    left = sorted(set(katib.TRIAL_PARAMETER.findall(text)))
    if left:
        raise _fail("the trial template uses undeclared parameters: " + ", ".join(left))
    job = json.loads(text)
    job.setdefault("metadata", {})["name"] = name
    job["metadata"].setdefault("namespace", namespace)
    objective = spec.get("objective", {}).get("objectiveMetricName")
    return job, objective


def _json_inner(value: str) -> str:
    """``value`` escaped to sit inside a JSON string (Katib's replacement assumes plain values)."""
    return json.dumps(value)[1:-1]


def _meta_value(key: str, name: str, namespace: str, trial_spec: dict) -> str:
    if key == "Name":
        return name
    if key == "Namespace":
        return namespace
    if key == "Kind":
        return trial_spec.get("kind", "")
    if key == "APIVersion":
        return trial_spec.get("apiVersion", "")
    section, _, rest = key.partition("[")
    return str(trial_spec.get("metadata", {}).get(section.lower(), {}).get(rest.rstrip("]"), ""))


def _check_value(parameter: Optional[dict], key: str, value: str) -> Optional[str]:
    if not parameter:
        return None
    kind = parameter.get("parameterType")
    space = parameter.get("feasibleSpace", {})
    try:
        if kind == "int":
            number = int(value)
        elif kind == "double":
            number = float(value)
        else:
            allowed = [str(v) for v in space.get("list", [])]
            if allowed and value not in allowed:
                return f"--param {key}={value}: not one of {', '.join(allowed)}"
            return None
    except ValueError:
        return f"--param {key}={value}: not a{'n' if kind == 'int' else ''} {kind}"
    low, high = space.get("min"), space.get("max")
    if low is not None and high is not None and not float(low) <= number <= float(high):
        return f"--param {key}={value}: outside the search space [{low}, {high}]"
    return None


def _container(replica_spec: dict) -> dict:
    containers = replica_spec.get("template", {}).get("spec", {}).get("containers", [])
    for container in containers:
        if container.get("name") == CONTAINER:
            return container
    if containers:
        return containers[0]
    raise _fail("a replica of the PyTorchJob has no container")


# --------------------------------------------------------------------------- paths


def _rewrite_roots(mount_paths: Iterable[str]) -> list[str]:
    """Container prefixes to rewrite: a mount's top-level directory, unless that is a system one."""
    roots = set()
    for path in mount_paths:
        parts = [p for p in path.split("/") if p]
        if not parts or parts == ["dev", "shm"]:
            continue
        roots.add("/" + parts[0] if parts[0] not in _SYSTEM_DIRS else "/" + "/".join(parts))
    return sorted(roots, key=len, reverse=True)


def path_rewriter(roots: list[str], stand_in: Path):
    """A function mapping container paths in free text to ``stand_in`` + path.

    A root matches only as a whole path: not inside a longer word or path
    (``/x/workspace``, ``/workspaces``) and not in a URL.
    """
    if not roots:
        return lambda text: text
    pattern = re.compile(r"(?<![\w.:/~-])(" + "|".join(re.escape(r) for r in roots) + r")(?=/|$|[^\w.-])")
    prefix = str(stand_in)
    return lambda text: pattern.sub(lambda m: prefix + m.group(1), text)


# --------------------------------------------------------------------------- ports and devices


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as TCPStore binds
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def _rewrite_port(script: str, old: int, new: int) -> tuple[str, int]:
    """Replace a hard-coded master port ``old`` in launcher flags; returns (script, count)."""
    pattern = re.compile(r"(--master[_-]port(?:=|\s+)['\"]?|\bMASTER_PORT=)%d\b" % old)
    return pattern.subn(lambda m: m.group(1) + str(new), script)


def _rewrite_flag(script: str, flags: tuple[str, ...], old: int, new: int) -> tuple[str, int]:
    alternatives = "|".join(re.escape(f) for f in flags)
    pattern = re.compile(r"(?<![\w-])((?:%s)(?:=|\s+))%d(?![\w.:])" % (alternatives, old))  # not 2:4 (elastic)
    return pattern.subn(lambda m: m.group(1) + str(new), script)


def count_gpus() -> int:
    """GPUs visible here: from CUDA_VISIBLE_DEVICES when set, else `nvidia-smi -L`."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return len([d for d in visible.split(",") if d.strip() and d.strip() != "-1"])
    smi = shutil.which("nvidia-smi")
    if not smi:
        return 0
    try:
        out = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.SubprocessError):
        return 0
    return sum(1 for line in out.splitlines() if line.startswith("GPU "))


def _gpu_ids() -> list[str]:
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return [d.strip() for d in visible.split(",") if d.strip() and d.strip() != "-1"]
    return [str(i) for i in range(count_gpus())]


# --------------------------------------------------------------------------- planning


def default_run_dir(job: str, base: Optional[Path] = None) -> Path:
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    return (base or Path.cwd()) / ".pfgen-runs" / f"{job}-{stamp}-{os.getpid()}"


def plan_local(job: dict, options: Options = Options(), *, objective: Optional[str] = None) -> LocalPlan:
    """Turn a PyTorchJob (or TrainJob) object into local replicas. Prepares the run folder; starts nothing of the job."""
    inject, failure = operator.injected_env, failure_notes
    if job.get("kind") == "TrainJob":  # Trainer v2: read in the PyTorchJob shape, Trainer's env (runlocal/trainjob.py)
        from pfgen.runlocal import trainjob

        job, inject, failure = trainjob.as_view(job), trainjob.injected_env, trainjob.failure_notes
    spec = job.get("spec", {})
    name = job.get("metadata", {}).get("name") or "job"
    replica_specs = spec.get("pytorchReplicaSpecs", {})
    master = replica_specs.get("Master")
    if master is None:
        raise _fail("the PyTorchJob has no Master replica; pfgen run --local needs one")
    if spec.get("elasticPolicy"):
        raise _fail("elastic PyTorchJobs (elasticPolicy) are not supported by pfgen run --local")
    worker = replica_specs.get("Worker")
    compiled_nodes = int(master.get("replicas", 1)) + (int(worker.get("replicas", 1)) if worker else 0)
    try:
        compiled_nproc = int(str(spec.get("nprocPerNode", "1")))
    except ValueError:
        raise _fail(f"nprocPerNode {spec.get('nprocPerNode')!r} is not an integer") from None
    nodes = options.nodes or compiled_nodes
    nproc = options.nproc or compiled_nproc
    if nodes < 1 or nproc < 1:
        raise _fail("--nodes and --nproc must be at least 1")
    notes: list[str] = []
    if (nodes, nproc) != (compiled_nodes, compiled_nproc):
        notes.append(f"shrunk from {compiled_nodes} node(s) x {compiled_nproc} process(es) "
                     f"to {nodes} x {nproc} (WORLD_SIZE {nodes * nproc})")

    notes += failure(job)
    master_container = _container(master)
    compiled_port = operator.master_port(job)

    # --- devices
    # pfgen writes GPU limits on every GPU job; a `resources` without any is a CPU-only VM type's
    wants_gpus = "resources" not in master_container or any(
        "gpu" in name for name in (master_container["resources"].get("limits") or {}))
    if options.cpu or not wants_gpus:
        device = "cpu"
        if not options.cpu:
            notes.append("the job requests no GPUs (a CPU-only VM type): its processes run on the CPU here too")
    else:
        available = options.gpus if options.gpus is not None else count_gpus()
        if available < nodes * nproc:
            raise _fail(f"the job needs {nodes * nproc} GPU(s) ({nodes} node(s) x {nproc}); this machine has "
                        f"{available}. Add --cpu to run the processes on the CPU (gloo), or shrink the job "
                        f"with --nodes/--nproc")
        device = "cuda"
    gpu_ids = _gpu_ids() if device == "cuda" and options.gpus is None else [str(i) for i in range(nodes * nproc)]

    # --- run folder and path mapping
    run_dir = (options.run_dir or default_run_dir(name)).resolve()
    if run_dir.exists() and any(run_dir.iterdir()):
        raise _fail(f"run folder {run_dir} already exists and is not empty")
    run_dir.mkdir(parents=True, exist_ok=True)
    stand_in = run_dir / "root"  # container "/" for the mapped paths
    paths: list[PathMap] = []
    volumes = {v.get("name"): v for v in master.get("template", {}).get("spec", {}).get("volumes", [])}
    user_mounts = {_norm(c): Path(l).resolve() for c, l in options.mounts}
    for mount in master_container.get("volumeMounts", []):
        mount_path = _norm(mount["mountPath"])
        if mount_path == "/dev/shm":
            continue  # the host's /dev/shm stands in for the dshm emptyDir
        volume = volumes.get(mount.get("name"), {})
        claim = volume.get("persistentVolumeClaim", {}).get("claimName", "")
        kind = "claim" if claim else ("emptyDir" if "emptyDir" in volume else "volume")
        local = stand_in / mount_path.lstrip("/")
        source = ""
        if mount_path in user_mounts:
            source = str(user_mounts.pop(mount_path))
        paths.append(PathMap(mount_path, local, kind, source or claim))
        if source:
            _link(local, Path(source))
        else:
            local.mkdir(parents=True, exist_ok=True)
            if mount.get("name") == "checkpoint-input":
                notes.append(f"the input checkpoint (claim {claim}) is an empty directory here; give its files "
                             f"with --mount {mount_path}=DIR")
    if options.workspace is not None:
        ws = options.workspace.resolve()
        if not ws.is_dir():
            raise _fail(f"workspace {ws} is not a directory")
        mount_root = _norm(options.workspace_mount or "/workspace")
        container_ws = f"{mount_root.rstrip('/')}/{ws.name}"
        paths.append(PathMap(container_ws, stand_in / container_ws.lstrip("/"), "workspace", str(ws)))
        if options.workspace_files:
            # As in the image: a copy of exactly the files .pfignore lets in, so the
            # run cannot write into the source tree.
            _copy_files(ws, options.workspace_files, stand_in / container_ws.lstrip("/"))
        else:
            _link(stand_in / container_ws.lstrip("/"), ws)
    for container_path, local in user_mounts.items():  # --mount for a path that is no volume
        if not local.exists():
            raise _fail(f"--mount {container_path}={local}: {local} does not exist")
        paths.append(PathMap(container_path, stand_in / container_path.lstrip("/"), "volume", str(local)))
        _link(stand_in / container_path.lstrip("/"), local)
    rewrite = path_rewriter(_rewrite_roots(p.container for p in paths), stand_in)

    env_base = operator.container_env(master_container)
    skipped = [e["name"] for e in master_container.get("env", []) if "value" not in e]
    if skipped:
        notes.append("env from Secrets/fields not set locally (taken from your environment if there): "
                     + ", ".join(skipped))
    ckpt = dict(env_base).get("CKPT_DIR")
    if ckpt and not any(_is_under(_norm(ckpt), p.container) for p in paths):
        local = stand_in / _norm(ckpt).lstrip("/")
        local.mkdir(parents=True, exist_ok=True)
        paths.append(PathMap(_norm(ckpt), local, "checkpoint-dir"))
        rewrite = path_rewriter(_rewrite_roots(p.container for p in paths), stand_in)
    if options.isolate:
        rewrite = _unchanged
        check_isolation(run_dir)

    # --- ports
    if port_is_free(compiled_port):
        port = compiled_port
    else:
        port = free_port()
        notes.append(f"port {compiled_port} (pytorchjob-port) is busy here; using {port} as MASTER_PORT "
                     f"and in hard-coded --master_port {compiled_port} flags")

    local_job = shrink(job, nodes, nproc)
    injected = {name for name, _ in inject(local_job, "Master", 0)}
    for name, _ in options.env:
        if name in injected:
            notes.append(f"--env {name}: the Training Operator's value is appended after it and wins, as in a pod")
    replicas: list[Replica] = []
    (run_dir / "logs").mkdir(exist_ok=True)
    run_id = uuid.uuid4().hex[:16]
    for node_rank in range(nodes):
        rtype, index = ("master", 0) if node_rank == 0 else ("worker", node_rank - 1)
        rspec = master if node_rank == 0 or worker is None else worker
        container = _container(rspec)
        command = list(container.get("command", [])) + list(container.get("args", []))
        if not command:
            raise _fail(f"the {rtype} container has no command; pfgen run --local runs the compiled command only")
        command = [rewrite(part) for part in command]
        if port != compiled_port:
            command = [_rewrite_port(part, compiled_port, port)[0] for part in command]
        for flags, old, new in ((("--nproc_per_node", "--nproc-per-node"), compiled_nproc, nproc),
                                (("--nnodes",), compiled_nodes, nodes)):
            if old != new:
                changed = [_rewrite_flag(part, flags, old, new) for part in command]
                if any(count for _, count in changed):
                    command = [part for part, _ in changed]
                    note = f"rewrote hard-coded {flags[0]} {old} to {new}"
                    if note not in notes:
                        notes.append(note)
        env = _container_env(container, nodes, nproc, rewrite, notes)
        env += list(options.env)
        # appended after the container's own, as the Training Operator does (the last one wins)
        env += inject(local_job, rtype.capitalize(), index, master_addr="127.0.0.1", port=port)
        if device == "cpu":
            env += [("CUDA_VISIBLE_DEVICES", "")]
        else:
            env += [("CUDA_VISIBLE_DEVICES", ",".join(gpu_ids[node_rank * nproc:(node_rank + 1) * nproc]))]
        env += [(MARKER, f"{run_id}/{rtype}-{index}")]
        # The kubelet expands $(VAR) and $$ in env values (against the variables before
        # each) and in the command (against them all); pfgen's emitter escapes for it.
        defined: dict[str, str] = {}
        expanded_env = []
        for env_name, env_value in env:
            defined[env_name] = operator.kubelet_expand(env_value, defined)
            expanded_env.append((env_name, defined[env_name]))
        env = expanded_env
        command = [operator.kubelet_expand(part, defined) for part in command]
        workdir = container.get("workingDir") or options.workdir
        cwd = run_dir
        if workdir and not options.isolate:
            cwd = stand_in / _norm(workdir).lstrip("/")
            cwd.mkdir(parents=True, exist_ok=True)
        if options.isolate:
            binds = [(p.container, p.local.resolve()) for p in paths]
            command = isolated_argv(run_dir / "ns" / f"{rtype}-{index}", binds, command, workdir or "/")
        replicas.append(Replica(f"{rtype}-{index}", node_rank, tuple(command), tuple(env), cwd,
                                run_dir / "logs" / f"{rtype}-{index}.log"))
    plan = LocalPlan(name, run_dir, run_id, nodes, nproc, port, device, replicas, paths, notes, objective,
                     options.grace)
    (run_dir / "launch.json").write_text(json.dumps(plan.describe(), indent=2, sort_keys=True) + "\n")
    return plan


def failure_notes(job: dict) -> list[str]:
    """How the job's restartPolicy and runPolicy map onto a local run (docs/run-local.md)."""
    spec = job.get("spec", {})
    policy = spec.get("pytorchReplicaSpecs", {}).get("Master", {}).get("restartPolicy", "Never")
    run_policy = spec.get("runPolicy", {})
    limit = run_policy.get("backoffLimit")
    bound = f"up to backoffLimit {limit}" if limit is not None else "with no backoffLimit: without end"
    if policy == "ExitCode":
        note = ("restartPolicy ExitCode: a replica exiting 1-127 fails the job at once, here as on the cluster; "
                f"an exit of 128 or more (a signal) would recreate that pod there ({bound}), here it ends the run")
    elif policy in ("OnFailure", "Always"):
        note = (f"restartPolicy {policy}: the cluster restarts a failed container ({bound}); "
                "here the first failure ends the run")
    else:
        note = "restartPolicy Never: the first failure fails the job, here as on the cluster"
    clean = run_policy.get("cleanPodPolicy", "None")
    if clean in ("Running", "All"):
        note += f"; cleanPodPolicy {clean}: replicas still running when the job ends are stopped"
    else:
        note += "; cleanPodPolicy None: on the cluster, replicas still running when the job ends keep running"
    return [note]


def _unchanged(text: str) -> str:
    return text


def host_mounts() -> list[str]:
    """Mount points other than / that a chroot into an overlay of / must re-bind (outermost only)."""
    points = []
    with open("/proc/self/mountinfo", encoding="utf-8") as fh:
        for line in fh:
            point = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), line.split()[4])
            if point != "/":
                points.append(point)
    outer = sorted(set(points), key=len)
    kept: list[str] = []
    for point in outer:
        if not any(_is_under(point, k) for k in kept):
            kept.append(point)
    return sorted(kept)


def isolated_argv(state: Path, binds: list[tuple[str, Path]], command: list[str], workdir: str) -> list[str]:
    """Wrap ``command`` to run in a private mount namespace at the real container paths.

    An overlay of / (writes land in ``state``/upper, as in a container's
    writable layer), the host's other mounts re-bound, each volume and the
    workspace bind-mounted at its container path, then chroot. Needs root.
    """
    for path in (str(state), *(str(local) for _, local in binds)):
        if any(c in path for c in ",:\n"):
            raise _fail(f"--isolate cannot use a path containing ',' or ':': {path}")
    q = shlex.quote
    root = f"{state}/root"
    lines = ["set -e", f"mkdir -p {q(str(state))}/upper {q(str(state))}/work {q(root)}",
             f"mount -t overlay overlay -o lowerdir=/,upperdir={q(str(state))}/upper,workdir={q(str(state))}/work "
             f"{q(root)}"]
    for point in host_mounts():  # /proc, /sys, /dev and any other mount, shared with the host
        lines.append(f"mkdir -p {q(root + point)} 2>/dev/null || true; mount --rbind {q(point)} {q(root + point)}")
    for container_path, local in sorted(binds, key=lambda b: len(b[0])):
        lines.append(f"mkdir -p {q(root + container_path)}; mount --bind {q(str(local))} {q(root + container_path)}")
    lines.append(f"mkdir -p {q(root + _norm(workdir))}")
    # chroot itself changes to the new /; the image's WORKDIR is entered inside
    lines.append(f"exec chroot {q(root)} /bin/sh -c 'cd \"$0\" && exec \"$@\"' {q(_norm(workdir))} \"$@\"")
    return ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c", "\n".join(lines), "pfgen-isolate",
            *command]


def check_isolation(run_dir: Path) -> None:
    """Fail early, with the reason, where a mount namespace with an overlay of / cannot be set up."""
    if os.geteuid() != 0 or not shutil.which("unshare"):
        raise _fail("--isolate needs root and util-linux unshare; without it, pfgen rewrites container paths "
                    "(the default)")
    probe = run_dir / "ns" / "probe"
    argv = isolated_argv(probe, [], ["true"], "/")
    result = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    shutil.rmtree(probe, ignore_errors=True)
    if result.returncode != 0:
        raise _fail("--isolate: cannot set up a mount namespace with an overlay of / here: "
                    + (result.stderr.strip().splitlines() or ["unknown error"])[-1])


def shrink(job: dict, nodes: int, nproc: int) -> dict:
    """The job as if compiled for ``nodes`` x ``nproc``: what the operator's env is computed from."""
    job = copy.deepcopy(job)
    spec = job["spec"]
    spec["nprocPerNode"] = str(nproc)
    specs = spec["pytorchReplicaSpecs"]
    specs["Master"]["replicas"] = 1
    if nodes > 1:
        specs.setdefault("Worker", copy.deepcopy(specs["Master"]))["replicas"] = nodes - 1
    else:
        specs.pop("Worker", None)
    return job


def _container_env(container: dict, nodes: int, nproc: int, rewrite, notes: list[str]) -> list[tuple[str, str]]:
    env = operator.container_env(container)
    values = dict(env)
    world = nodes * nproc
    degrees = {k: int(values[k]) for k in ("DP_DEGREE", "PP_DEGREE", "MP_DEGREE") if values.get(k, "").isdigit()}
    if len(degrees) == 3 and degrees["DP_DEGREE"] * degrees["PP_DEGREE"] * degrees["MP_DEGREE"] != world:
        inner = degrees["PP_DEGREE"] * degrees["MP_DEGREE"]
        if world % inner == 0:
            degrees["DP_DEGREE"] = world // inner
        else:
            degrees = {"DP_DEGREE": world, "PP_DEGREE": 1, "MP_DEGREE": 1}
        note = "dist degrees shrunk to " + " ".join(f"{k}={v}" for k, v in degrees.items())
        if note not in notes:
            notes.append(note)
    else:
        degrees = {}
    out = []
    for key, value in env:
        if key == "NUM_NODES":
            value = str(nodes)
        elif key == "NPROC_PER_NODE":
            value = str(nproc)
        elif key in degrees:
            value = str(degrees[key])
        out.append((key, rewrite(value)))
    return out


def _norm(path: str) -> str:
    return "/" + "/".join(p for p in str(path).split("/") if p)


def _is_under(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


def _copy_files(source: Path, files: tuple[str, ...], at: Path) -> None:
    if at.exists() or at.is_symlink():
        raise _fail(f"two mounts map to {at}")
    for relative in files:
        target = at / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source / relative, target)


def _link(at: Path, target: Path) -> None:
    at.parent.mkdir(parents=True, exist_ok=True)
    if at.is_symlink() or at.exists():
        if at.is_dir() and not at.is_symlink() and not any(at.iterdir()):
            at.rmdir()
        else:
            raise _fail(f"two mounts map to {at}")
    at.symlink_to(target, target_is_directory=True)


# --------------------------------------------------------------------------- from a template


def prepare(template: Path, options: Options = Options(), *, workspace_dir: Optional[Path] = None,
            report=None) -> LocalPlan:
    """Compile ``template`` with the spine and plan its local run (nothing started yet)."""
    from pfgen.pipeline import CompileOptions, compile_job

    # local: a workspace image is never pushed from here, so pfgen.yaml needs no registry
    compiled = compile_job(template, options=CompileOptions(workspace_dir=workspace_dir, local=True,
                                                            target=options.target))
    for diagnostic in compiled.diagnostics:
        if report and diagnostic.severity != "note":  # notes speak of the claims a build creates
            report(str(diagnostic))
    job, objective = find_job(compiled.objects, dict(options.params))
    # The workspace is baked into the job's image, so no volume in the object
    # describes it; the plan knows where the image puts it.
    image = compiled.plan.workspace_image
    if options.workspace is None and image is not None:
        # pfgen's Dockerfile sets WORKDIR to the mount path, so that is where the command starts
        options = dataclasses.replace(options, workspace=image.workspace_dir, workspace_mount=image.mount_path,
                                      workspace_files=tuple(f.path for f in image.files),
                                      workdir=options.workdir or image.mount_path)
    plan = plan_local(job, options, objective=objective)
    _file_collector(plan, next((o for o in compiled.objects if o.get("kind") == "Experiment"), None))
    if options.workspace is None:
        plan.notes.append("no workspace directory (job_setting.workspace.path or -d): nothing of the image's "
                          "code is mapped into the run")
    return plan


# --------------------------------------------------------------------------- running


def _base_environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in _INJECTED and not k.startswith(_INJECTED_PREFIXES) and k != MARKER}
    return env


def marked_processes(run_id: str) -> list[int]:
    """PIDs of live processes whose environment carries this run's marker (any depth, any session)."""
    needle = f"{MARKER}={run_id}/".encode()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as fh:
                if needle in fh.read():
                    found.append(int(entry))
        except OSError:
            continue
    return found


class _Output:
    """Merges the replicas' output onto one stream, line by line, with a prefix."""

    def __init__(self, stream: IO[str], combined: Path, width: int):
        self.stream = stream
        self.lock = threading.Lock()
        self.combined = combined.open("w", encoding="utf-8")
        self.width = width

    def pump(self, name: str, pipe: IO[bytes], log: Path) -> None:
        prefix = f"[{name}]".ljust(self.width + 2) + " "
        with log.open("wb") as raw:
            for line in iter(pipe.readline, b""):
                raw.write(line)
                raw.flush()
                text = line.decode("utf-8", "replace").rstrip("\n")
                with self.lock:
                    self.combined.write(prefix + text + "\n")
                    self.combined.flush()
                    try:
                        self.stream.write(prefix + text + "\n")
                        self.stream.flush()
                    except (OSError, ValueError):
                        pass
        pipe.close()

    def say(self, text: str) -> None:
        with self.lock:
            self.combined.write(f"pfgen: {text}\n")
            self.combined.flush()
            try:
                self.stream.write(f"pfgen: {text}\n")
                self.stream.flush()
            except (OSError, ValueError):
                pass

    def close(self) -> None:
        self.combined.close()


def _exit_code(returncode: int) -> int:
    return 128 - returncode if returncode < 0 else returncode


def launch(plan: LocalPlan, *, stream: Optional[IO[str]] = None, master_wait: float = 30.0) -> int:
    """Run every replica; return the job's exit status.

    The job succeeds when the master exits 0 (the operator's rule; workers still
    running get ``master_wait`` seconds to finish). The first replica that
    fails ends the job: every replica's process group gets SIGTERM, then
    SIGKILL after the grace period, and any process still carrying the run's
    marker in its environment (torchrun puts its workers in sessions of their
    own) is killed too. SIGINT/SIGTERM to pfgen do the same.
    """
    stream = stream or sys.stdout
    grace = plan.grace
    out = _Output(stream, plan.run_dir / "output.log", max(len(r.name) for r in plan.replicas))
    for note in plan.notes:
        out.say(note)
    out.say(f"run folder {plan.run_dir}; {plan.nodes} node(s) x {plan.nproc} process(es) on "
            f"{plan.device}, MASTER_ADDR=127.0.0.1 MASTER_PORT={plan.master_port}")
    signals_seen: list[int] = []

    def on_signal(signum, _frame):
        signals_seen.append(signum)

    previous = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            previous[sig] = signal.signal(sig, on_signal)
    procs: dict[str, subprocess.Popen] = {}
    pumps: list[threading.Thread] = []
    base = _base_environment()
    try:
        for replica in plan.replicas:
            env = dict(base)
            env.update(replica.env)
            proc = subprocess.Popen(list(replica.argv), env=env, cwd=replica.cwd, stdin=subprocess.DEVNULL,
                                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
            procs[replica.name] = proc
            pump = threading.Thread(target=out.pump, args=(replica.name, proc.stdout, replica.log), daemon=True)
            pump.start()
            pumps.append(pump)
        status = _supervise(plan, procs, out, signals_seen, master_wait)
        _stop(plan, procs, out, grace, signals_seen)
        for pump in pumps:
            pump.join(timeout=5)
        for name, proc in procs.items():
            code = proc.poll()
            out.say(f"{name} exited {_describe(code)}")
        out.say(f"job {'succeeded' if status == 0 else 'failed'} (exit {status}); logs in {plan.run_dir}")
        if plan.objective:
            _report_metric(plan, out)
        return status
    finally:
        for proc in procs.values():  # only reached with live children after a bug or KeyboardInterrupt
            if proc.poll() is None:
                _signal_group(proc, signal.SIGKILL)
        for pid in marked_processes(plan.run_id):
            _kill(pid, signal.SIGKILL)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        out.close()


def _supervise(plan, procs, out, signals_seen, master_wait) -> int:
    master_done_at: Optional[float] = None
    while True:
        if signals_seen:
            sig = signals_seen[0]
            out.say(f"received {signal.Signals(sig).name}; stopping every replica")
            return 128 + sig
        codes = {name: proc.poll() for name, proc in procs.items()}
        failed = [name for name, code in codes.items() if code not in (None, 0)]
        if failed:
            name = failed[0]
            out.say(f"{name} failed ({_describe(codes[name])}); stopping the other replicas")
            return _exit_code(codes[name])
        master = plan.replicas[0].name
        if codes[master] == 0:
            if all(code == 0 for code in codes.values()):
                return 0
            if master_done_at is None:
                master_done_at = time.monotonic()
            elif time.monotonic() - master_done_at > master_wait:
                out.say(f"master succeeded; workers still running after {master_wait:.0f}s are stopped")
                return 0
        time.sleep(0.05)


def _stop(plan, procs, out, grace, signals_seen) -> None:
    live = [p for p in procs.values() if p.poll() is None]
    strays = marked_processes(plan.run_id)
    if not live and not strays:
        return
    for proc in live:
        _signal_group(proc, signal.SIGTERM)
    for pid in strays:
        _kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    count = len(signals_seen)
    while time.monotonic() < deadline and len(signals_seen) <= count:
        if all(p.poll() is not None for p in procs.values()) and not marked_processes(plan.run_id):
            return
        time.sleep(0.05)
    out.say("grace period over; sending SIGKILL" if len(signals_seen) <= count else "second signal; SIGKILL")
    for proc in procs.values():
        if proc.poll() is None:
            _signal_group(proc, signal.SIGKILL)
    for _ in range(3):
        pids = marked_processes(plan.run_id)
        if not pids:
            break
        for pid in pids:
            _kill(pid, signal.SIGKILL)
        time.sleep(0.1)
    for proc in procs.values():
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass


def _signal_group(proc: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _kill(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _describe(code: Optional[int]) -> str:
    if code is None:
        return "(still running)"
    if code < 0:
        return f"by signal {signal.Signals(-code).name}"
    return str(code)


def _file_collector(plan: LocalPlan, experiment: Optional[dict]) -> None:
    """Where a Katib File collector's TEXT metrics file lands in this run, and the filters (File or StdOut)."""
    source = ((experiment or {}).get("spec", {}).get("metricsCollectorSpec") or {}).get("source") or {}
    plan.metrics_filters = tuple((source.get("filter") or {}).get("metricsFormat") or ())
    path = (source.get("fileSystemPath") or {}).get("path")
    if not path or (source.get("fileSystemPath") or {}).get("format", "TEXT") != "TEXT":
        return
    path = _norm(path)
    mapped = [p for p in plan.paths if _is_under(path, p.container)]
    if mapped:
        best = max(mapped, key=lambda p: len(p.container))
        plan.metrics_file = best.local / path[len(best.container):].lstrip("/")
    else:
        plan.metrics_file = Path(path)
        plan.notes.append(f"the metrics file {path} is not below a mapped path; the job writes it on this machine "
                          f"as {path} (e.g. --mount {posixpath.dirname(path)}=DIR keeps it in DIR)")


_METRIC = re.compile(katib.DEFAULT_FILTER)


def _report_metric(plan: LocalPlan, out: _Output) -> None:
    """Tell which objective value Katib's collector would take: from the master's output (StdOut),
    or from the File collector's text file with its filters (as file-metricscollector.go parses it:
    a line naming the metric, capture group 1 the name, group 2 the value)."""
    values = []
    source = "on the master"
    try:
        regexes = [re.compile(f) for f in plan.metrics_filters] or [_METRIC]
        if plan.metrics_file is not None:
            source = f"in {plan.metrics_file}"
            text = plan.metrics_file.read_text("utf-8", "replace")
        else:
            text = plan.replicas[0].log.read_text("utf-8", "replace")
    except (OSError, re.error):
        text, regexes = "", [_METRIC]
    for line in text.splitlines():
        if plan.objective not in line:
            continue
        for regex in regexes:
            values += [m.group(2).strip() for m in regex.finditer(line)
                       if regex.groups >= 2 and (m.group(1) or "").strip() == plan.objective and m.group(2)]
    if values:
        out.say(f"objective {plan.objective}: {len(values)} value(s) {source}, last {values[-1]}")
    elif plan.metrics_file is not None or plan.metrics_filters:
        out.say(f"objective {plan.objective}: no value {source} that the filter reads; Katib would record 'unavailable'")
    else:
        out.say(f"objective {plan.objective}: no '{plan.objective}=<number>' line on the master; "
                f"Katib would record 'unavailable'")
