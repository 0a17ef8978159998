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

Two stages: :func:`plan_local` (and :func:`prepare`, from a template) turns the
object into a :class:`~pfgen.runlocal.model.LocalPlan` (it prepares the run folder
but starts nothing of the job); :func:`pfgen.runlocal.launch.launch` runs a plan.
The package's other modules: ``model`` (the data), ``trial`` (the object to run,
Katib trials), ``rewrite`` (paths and flags), ``host`` (ports, GPUs), ``isolate``
(mount namespaces), ``trainjob`` (a TrainJob read as a PyTorchJob).
"""

from __future__ import annotations

import copy
import dataclasses
import json
import os
import posixpath
import shutil
import time
import uuid
from pathlib import Path
from typing import Optional

from pfgen.kube import operator
from pfgen.kube.names import CONTAINER
from pfgen.runlocal.host import count_gpus, free_port, port_is_free, visible_gpu_ids
from pfgen.runlocal.isolate import check_isolation, isolated_argv
from pfgen.runlocal.model import MARKER, LocalPlan, Options, PathMap, Replica, fail, is_under, norm
from pfgen.runlocal.rewrite import path_rewriter, rewrite_flag, rewrite_port, rewrite_roots, unchanged
from pfgen.runlocal.trial import find_job


def _container(replica_spec: dict) -> dict:
    containers = replica_spec.get("template", {}).get("spec", {}).get("containers", [])
    for container in containers:
        if container.get("name") == CONTAINER:
            return container
    if containers:
        return containers[0]
    raise fail("a replica of the PyTorchJob has no container")


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
        raise fail("the PyTorchJob has no Master replica; pfgen run --local needs one")
    if spec.get("elasticPolicy"):
        raise fail("elastic PyTorchJobs (elasticPolicy) are not supported by pfgen run --local")
    worker = replica_specs.get("Worker")
    compiled_nodes = int(master.get("replicas", 1)) + (int(worker.get("replicas", 1)) if worker else 0)
    try:
        compiled_nproc = int(str(spec.get("nprocPerNode", "1")))
    except ValueError:
        raise fail(f"nprocPerNode {spec.get('nprocPerNode')!r} is not an integer") from None
    nodes = options.nodes or compiled_nodes
    nproc = options.nproc or compiled_nproc
    if nodes < 1 or nproc < 1:
        raise fail("--nodes and --nproc must be at least 1")
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
            raise fail(f"the job needs {nodes * nproc} GPU(s) ({nodes} node(s) x {nproc}); this machine has "
                        f"{available}. Add --cpu to run the processes on the CPU (gloo), or shrink the job "
                        f"with --nodes/--nproc")
        device = "cuda"
    gpu_ids = visible_gpu_ids() if device == "cuda" and options.gpus is None else [str(i) for i in range(nodes * nproc)]

    # --- run folder and path mapping
    run_dir = (options.run_dir or default_run_dir(name)).resolve()
    if run_dir.exists() and any(run_dir.iterdir()):
        raise fail(f"run folder {run_dir} already exists and is not empty")
    run_dir.mkdir(parents=True, exist_ok=True)
    stand_in = run_dir / "root"  # container "/" for the mapped paths
    paths: list[PathMap] = []
    volumes = {v.get("name"): v for v in master.get("template", {}).get("spec", {}).get("volumes", [])}
    user_mounts = {norm(c): Path(l).resolve() for c, l in options.mounts}
    for mount in master_container.get("volumeMounts", []):
        mount_path = norm(mount["mountPath"])
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
            raise fail(f"workspace {ws} is not a directory")
        mount_root = norm(options.workspace_mount or "/workspace")
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
            raise fail(f"--mount {container_path}={local}: {local} does not exist")
        paths.append(PathMap(container_path, stand_in / container_path.lstrip("/"), "volume", str(local)))
        _link(stand_in / container_path.lstrip("/"), local)
    rewrite = path_rewriter(rewrite_roots(p.container for p in paths), stand_in)

    env_base = operator.container_env(master_container)
    skipped = [e["name"] for e in master_container.get("env", []) if "value" not in e]
    if skipped:
        notes.append("env from Secrets/fields not set locally (taken from your environment if there): "
                     + ", ".join(skipped))
    ckpt = dict(env_base).get("CKPT_DIR")
    if ckpt and not any(is_under(norm(ckpt), p.container) for p in paths):
        local = stand_in / norm(ckpt).lstrip("/")
        local.mkdir(parents=True, exist_ok=True)
        paths.append(PathMap(norm(ckpt), local, "checkpoint-dir"))
        rewrite = path_rewriter(rewrite_roots(p.container for p in paths), stand_in)
    if options.isolate:
        rewrite = unchanged
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
            raise fail(f"the {rtype} container has no command; pfgen run --local runs the compiled command only")
        command = [rewrite(part) for part in command]
        if port != compiled_port:
            command = [rewrite_port(part, compiled_port, port)[0] for part in command]
        for flags, old, new in ((("--nproc_per_node", "--nproc-per-node"), compiled_nproc, nproc),
                                (("--nnodes",), compiled_nodes, nodes)):
            if old != new:
                changed = [rewrite_flag(part, flags, old, new) for part in command]
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
            cwd = stand_in / norm(workdir).lstrip("/")
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


def _copy_files(source: Path, files: tuple[str, ...], at: Path) -> None:
    if at.exists() or at.is_symlink():
        raise fail(f"two mounts map to {at}")
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
            raise fail(f"two mounts map to {at}")
    at.symlink_to(target, target_is_directory=True)


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


def _file_collector(plan: LocalPlan, experiment: Optional[dict]) -> None:
    """Where a Katib File collector's TEXT metrics file lands in this run, and the filters (File or StdOut)."""
    source = ((experiment or {}).get("spec", {}).get("metricsCollectorSpec") or {}).get("source") or {}
    plan.metrics_filters = tuple((source.get("filter") or {}).get("metricsFormat") or ())
    path = (source.get("fileSystemPath") or {}).get("path")
    if not path or (source.get("fileSystemPath") or {}).get("format", "TEXT") != "TEXT":
        return
    path = norm(path)
    mapped = [p for p in plan.paths if is_under(path, p.container)]
    if mapped:
        best = max(mapped, key=lambda p: len(p.container))
        plan.metrics_file = best.local / path[len(best.container):].lstrip("/")
    else:
        plan.metrics_file = Path(path)
        plan.notes.append(f"the metrics file {path} is not below a mapped path; the job writes it on this machine "
                          f"as {path} (e.g. --mount {posixpath.dirname(path)}=DIR keeps it in DIR)")
