"""Rules about what a template's command needs from the pod: its code and its environment.

Both are warnings (the template compiles; the job would fail or misbehave on
the cluster), positioned at the place in the command where the need is
written, and each says what to add.

Workspace (docs/images.md): PeriFlow uploaded the code with ``pf job run -d
DIR`` and the job saw it at ``<workspace.mount_path>/<basename(DIR)>``. A
command that enters ``<mount_path>/<name>`` (``cd``, ``pushd``, or a script or
requirements file named by its absolute path) needs that code. When the
template names no workspace (``job_setting.workspace.path``) and the
directory ``<name>`` exists beside the template, pfgen uses it, as ``pf job
run -d ./<name>`` did (pfgen.yaml ``workspace: {infer: false}`` turns that
off); otherwise the command's need is a warning.

Environment (docs/runtime.md): a ``$VAR``/``${VAR}`` of the families the
Training Operator, torchrun or PeriFlow set (``PET_*``, ``MASTER_*``,
``RANK``, ``LOCAL_RANK``, ``WORLD_SIZE``, ``GROUP_RANK``, ``NODE_RANK``,
``CKPT_DIR``, ...) that the pod's ``pytorch`` container will not have, and that
the command does not set itself, is a warning. The pod's variables are read off
the compiled PyTorchJob (its container env, credentials included) plus what the
operator injects (pfgen/kube/operator.py, a model of kubeflow/trainer
``pkg/controller.v1/pytorch/envvar.go``) and the ``NODE_RANK`` pfgen's script
exports.
"""

from __future__ import annotations

import os
from pathlib import Path

from pfgen.realpaths import resolved
from pfgen.validate import shellscan

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Optional

    from pfgen.errors import Collector
    from pfgen.load.document import Document
    from pfgen.resolve.plan import JobPlan

COMMAND = ("job_setting", "docker", "command")
DEFAULT_MOUNT = "/workspace"  # PeriFlow's default workspace.mount_path for custom jobs

# Variables of the families the operator, torchrun and PeriFlow set; only these are checked
# (an image or a base shell may set anything else).
_TORCHRUN_CHILD = frozenset({"LOCAL_RANK", "GROUP_RANK", "ROLE_RANK", "LOCAL_WORLD_SIZE", "GROUP_WORLD_SIZE",
                             "ROLE_WORLD_SIZE", "ROLE_NAME"})
_PERIFLOW_PLATFORM = frozenset({"PERIFLOW_ENABLED", "PROCESSED_ITERS", "PARALLELISM_ORDER"})
_FAMILY = frozenset({"RANK", "WORLD_SIZE", "NODE_RANK", "NUM_NODES", "NPROC_PER_NODE", "NNODES", "CKPT_DIR",
                     "DP_DEGREE", "PP_DEGREE", "MP_DEGREE", "PYTHONUNBUFFERED"}) | _TORCHRUN_CHILD | _PERIFLOW_PLATFORM
_FAMILY_PREFIXES = ("PET_", "MASTER_", "TORCHELASTIC_")
_ELASTIC_ONLY = ("PET_RDZV_", "PET_MAX_RESTARTS", "PET_STANDALONE")


def in_family(name: str) -> bool:
    return name in _FAMILY or name.startswith(_FAMILY_PREFIXES)


def command_parts(doc: Document) -> list[tuple[tuple, str]]:
    """(path in the template, text) of the command's shell parts: the string, or setup and run."""
    command = doc.get(COMMAND)
    if isinstance(command, str):
        return [(COMMAND, command)]
    if isinstance(command, dict):
        return [(COMMAND + (key,), command[key]) for key in ("setup", "run") if isinstance(command.get(key), str)]
    return []


def position(doc: Document, path: tuple, text: str, offset: int, written: str) -> tuple[int, int]:
    """Where ``written`` (found at ``offset`` of the scalar ``text`` at ``path``) is in the file:
    its own line and column when the scalar's source shows it, else the scalar's start."""
    start = doc.pos(path)
    source = getattr(doc, "source", "")
    if not source:
        return start
    lines = source.split("\n")
    if start[0] > len(lines):
        return start
    base = sum(len(line) + 1 for line in lines[:start[0] - 1]) + start[1] - 1
    nth = text.count(written, 0, offset)  # the same text written earlier in the scalar
    index = base - 1
    for _ in range(nth + 1):
        index = source.find(written, index + 1)
        if index == -1:
            return start
    line = source.count("\n", 0, index) + 1
    return line, index - (source.rfind("\n", 0, index) + 1) + 1


# -- workspace --------------------------------------------------------------------


def mount_path(doc: Document) -> str:
    written = doc.get(("job_setting", "workspace", "mount_path"))
    return written.rstrip("/") or "/" if isinstance(written, str) and written else DEFAULT_MOUNT


def _volume_paths(doc: Document) -> list[str]:
    paths = [doc.get(("data", "mount_path")), doc.get(("checkpoint", "input", "mount_path")),
             doc.get(("checkpoint", "output_checkpoint_dir")), "/dev/shm"]
    return [p.rstrip("/") for p in paths if isinstance(p, str) and p.startswith("/")]


def _under(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


def workspace_needs(doc: Document) -> list[tuple[str, tuple, str, int, str]]:
    """(top directory name, part path, part text, offset, path as written) for each path the command
    needs below the workspace mount path, leaving out the volumes mounted there and paths built
    from variables."""
    mount = mount_path(doc)
    volumes = _volume_paths(doc)
    found = []
    for part, text in command_parts(doc):
        for written, offset in shellscan.entered_paths(text):
            path = os.path.normpath(written) if written.startswith("/") else ""
            if "$" in written or not path or path == mount or not _under(path, mount):
                continue
            if any(_under(path, v) for v in volumes):
                continue  # a volume's files (a volume below the path, e.g. <dir>/data, brings no code)
            name = path[len(mount.rstrip("/")) + 1:].split("/", 1)[0]
            found.append((name, part, text, offset, written))
    return found


def inferred_workspace(doc: Document, template: Path) -> Optional[tuple[Path, str, tuple[int, int]]]:
    """The directory beside ``template`` that the command enters below the mount path, as PeriFlow's
    ``pf job run -d ./<name>`` would have uploaded it (directory, name, where the command names it),
    or None."""
    here = resolved(template).parent
    candidates: dict[str, tuple[int, int]] = {}
    for name, part, text, offset, written in workspace_needs(doc):
        if (name not in candidates and not name.startswith(".") and (here / name).is_dir()
                and not (here / name).is_symlink()):  # a link may lead out of the repository (safefs.py)
            candidates[name] = position(doc, part, text, offset, written)
    if len(candidates) != 1:
        return None  # none, or several: which one PeriFlow got is not written anywhere
    (name, pos), = candidates.items()
    return here / name, name, pos


def check_workspace(doc: Document, plan: JobPlan, issues: Collector, infer: bool, template: Path) -> None:
    """Warn when the command needs code below the mount path that the image will not have."""
    needs = workspace_needs(doc)
    if not needs:
        return
    image = plan.workspace_image
    mount = mount_path(doc)
    reported = set()
    for name, part, text, offset, written in needs:
        if name in reported:
            continue
        if image is not None and name == image.workspace_name:
            continue
        reported.add(name)
        where = position(doc, part, text, offset, written)
        field = ".".join(part)
        if image is not None:
            issues.warning(where, f"{field}: needs {written}, but the workspace '{image.workspace_name}' appears at "
                                  f"{mount}/{image.workspace_name}; nothing else is baked below {mount}: "
                                  f"point job_setting.workspace.path at the directory called '{name}'")
            continue
        beside = resolved(template).parent / name
        if beside.is_dir() and not infer:
            fix = (f"add `path: {name}` under job_setting.workspace (the directory '{name}' beside this template), "
                   "or drop `workspace: {infer: false}` from pfgen.yaml so pfgen uses it")
        elif beside.is_dir():
            fix = (f"the command also needs another directory below {mount}, so pfgen cannot tell which one "
                   f"is the workspace: add `path: {name}` under job_setting.workspace")
        else:
            fix = (f"put the code in a directory '{name}' beside this template (pfgen bakes it into the job's "
                   f"image, as `pf job run -d ./{name}` uploaded it) or set job_setting.workspace.path to it; "
                   f"or use a docker.image that already holds {mount}/{name}")
        issues.warning(where, f"{field}: needs {written}, but no workspace is baked into the image, so the pod "
                              f"would fail there; {fix} (docs/images.md)")


# -- environment ------------------------------------------------------------------


def pod_variables(job: dict) -> set[str]:
    """Every variable the training container of ``job`` (a PyTorchJob or a TrainJob) starts with, beyond its image's."""
    from pfgen.kube import operator

    if job.get("kind") == "TrainJob":
        from pfgen.kube import operator_v2

        # Trainer's PET_* and the trainer env, and what the script's first lines export from them
        return operator_v2.pod_variables(job) | set(operator_v2.SCRIPT_EXPORTS)

    names = {"NODE_RANK"}  # the script's first line exports it (emit/pytorchjob.py PRELUDE)
    for replica in job["spec"]["pytorchReplicaSpecs"]:
        spec = job["spec"]["pytorchReplicaSpecs"][replica]["template"]["spec"]
        for container in spec["containers"]:  # one: the training container
            names |= {item["name"] for item in container.get("env", [])}
        names |= {name for name, _ in operator.injected_env(job, replica, 0)}
    return names


def _missing_why(name: str, doc: Document, kind: str = "PyTorchJob") -> str:
    if kind == "TrainJob" and (name.startswith(_ELASTIC_ONLY) or name in ("RANK", "PYTHONUNBUFFERED")
                               or name.startswith(("PET_", "MASTER_"))):
        return ("Kubeflow Trainer's torch runtime sets only PET_NNODES, PET_NPROC_PER_NODE, PET_NODE_RANK, "
                "PET_MASTER_ADDR and PET_MASTER_PORT (pfgen derives NUM_NODES, NODE_RANK, NPROC_PER_NODE, "
                "MASTER_ADDR, MASTER_PORT and WORLD_SIZE from them; docs/runtime.md): use those, or set it "
                "under job_setting.docker.env_var")
    if name.startswith(_ELASTIC_ONLY):
        return ("the Training Operator sets PET_RDZV_* and the other rendezvous variables only for elastic jobs "
                "(elasticPolicy), and pfgen's jobs are not elastic; torchrun reads PET_NNODES, PET_NODE_RANK, "
                "PET_MASTER_ADDR and PET_MASTER_PORT, which are set: drop the flag, or pass "
                "`--master_addr $MASTER_ADDR --master_port $MASTER_PORT`")
    if name in _TORCHRUN_CHILD or name.startswith("TORCHELASTIC_"):
        return (f"torchrun sets {name} in the environment of each process it starts, not in this shell, where it "
                f"expands to nothing: read it in the script (os.environ['{name}'])")
    if name == "CKPT_DIR":
        return "pfgen sets CKPT_DIR only with checkpoint.output_checkpoint_dir"
    if name in ("DP_DEGREE", "PP_DEGREE", "MP_DEGREE"):
        return f"pfgen sets {name} only when the template has `dist`"
    if name in _PERIFLOW_PLATFORM:
        return f"PeriFlow's platform set {name}; on Kubernetes nothing does: set it under job_setting.docker.env_var"
    return ("neither the Training Operator nor pfgen sets it (docs/runtime.md lists what the pod has): "
            "set it under job_setting.docker.env_var or in the command")


def check_environment(doc: Document, job: dict, issues: Collector) -> None:
    """Warn about ``$VAR`` references of the operator/torchrun/PeriFlow families the pod will not have."""
    available = pod_variables(job)
    parts = command_parts(doc)
    own = set().union(*(shellscan.defined(text) for _, text in parts)) if parts else set()
    reported = set()
    for part, text in parts:
        for ref in shellscan.references(text):
            name = ref.name
            if (name in reported or not in_family(name) or name in available or name in own
                    or ref.has_default):
                continue
            reported.add(name)
            where = position(doc, part, text, ref.offset, ref.text)
            issues.warning(where, f"{'.'.join(part)}: {ref.text} is not set in the pod: "
                                  f"{_missing_why(name, doc, job.get('kind', 'PyTorchJob'))}")
