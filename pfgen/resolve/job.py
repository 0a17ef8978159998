"""Stage 3: resolve a validated template and the project config into a JobPlan.

Everything the emitters need is decided here, once: the VM behind the name,
how many nodes and processes per node, the Kubernetes name, the volumes and
which claims pfgen must create, where the pods may be placed. What cannot be
resolved (an unknown VM, a device count that does not fit it) becomes a
positioned diagnostic.
"""

from __future__ import annotations

import re
from pathlib import Path

from pfgen.realpaths import resolved
from pfgen.resolve import vms
from pfgen.validate.config import ProjectConfig
from pfgen.errors import Collector, Diagnostic
from pfgen.load.document import Document
from pfgen.kube.names import DNS1035, LABEL_VALUE, is_dns1123_subdomain, k8s_name
from pfgen.kube.operator import DEFAULT_PORT as DEFAULT_MASTER_PORT
from pfgen.kube import resume as resume_rules
from pfgen.resolve.plan import VM, Claim, Dist, JobPlan, Mount, Placement, Resume, WorkspaceImage
from pfgen.validate.rules import HUGGINGFACE

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Optional

_MASTER_PORT = re.compile(r"--master[_-]port(?:=|\s+)['\"]?(\d+)")

SPOT = {
    "azure": ({"kubernetes.azure.com/scalesetpriority": "spot"},
              [{"key": "kubernetes.azure.com/scalesetpriority", "operator": "Equal", "value": "spot", "effect": "NoSchedule"}]),
    "aws": ({"eks.amazonaws.com/capacityType": "SPOT"}, []),
    "gcp": ({"cloud.google.com/gke-spot": "true"},
            [{"key": "cloud.google.com/gke-spot", "operator": "Equal", "value": "true", "effect": "NoSchedule"}]),
}
GPU_TOLERATION = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}


def _tol(item: dict) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(item.items()))


def job_name_source(doc: Document, template: Path) -> tuple[str, tuple, str]:
    """(raw name, path of the key it came from, what it is) for the job's name."""
    for key in ("name", "experiment"):
        if isinstance(doc.data.get(key), str):
            return doc.data[key], (key,), key
    return resolved(template).parent.name, (), "the template's directory name"


def label_value(text: str) -> str:
    return text if len(text) <= 63 and LABEL_VALUE.match(text) else (k8s_name(text, 63) or "unnamed")


def split_command(command: object) -> tuple[str, str]:
    if isinstance(command, dict):
        return command.get("setup", "") or "", command["run"]
    return "", str(command)


def master_port(doc: Document, issues: Collector, setup: str, run: str) -> int:
    # A port has at most 5 digits; longer digit runs (up to the argument's size) stay text, so
    # int() is never asked for more than Python's 4300-digit limit.
    ports = {int(p) if len(p.lstrip("0")) <= 6 else p.lstrip("0") for p in _MASTER_PORT.findall(setup + "\n" + run)}
    where = doc.pos(("job_setting", "docker", "command"))
    if len(ports) > 1:
        shown = [_short(p) for p in sorted(ports, key=lambda p: (len(str(p)), str(p)))]
        issues.error(where, f"job_setting.docker.command: names several master ports ({', '.join(shown)}); use one")
        return DEFAULT_MASTER_PORT
    if ports:
        port = ports.pop()
        if isinstance(port, str) or not 1 <= port <= 65535:
            issues.error(where, f"job_setting.docker.command: --master_port {_short(port)} is not a TCP port (1-65535)")
            return DEFAULT_MASTER_PORT
        return port
    return DEFAULT_MASTER_PORT


def _short(port: object) -> str:
    text = str(port)
    return text if len(text) <= 12 else f"{text[:8]}... ({len(text)} digits)"


def nodes_and_procs(devices: int, vm: VM) -> Optional[tuple[int, int]]:
    if devices <= vm.gpus:
        return 1, devices
    if devices % vm.gpus == 0:
        return devices // vm.gpus, vm.gpus
    return None


def placement(vm: VM, config: ProjectConfig) -> Placement:
    selector: dict[str, str] = {}
    tolerations: list[dict] = []
    settings = config.placement
    if settings.enabled:
        if vm.source == "config":
            selector.update(vm.node_selector)
            tolerations.extend(dict(t) for t in vm.tolerations)
        else:
            if vm.instance_type:
                selector["node.kubernetes.io/instance-type"] = vm.instance_type
            elif vm.cloud == "gcp" and vms.gke_accelerator(vm):
                selector["cloud.google.com/gke-accelerator"] = vms.gke_accelerator(vm)  # type: ignore[assignment]
            if vm.region:
                selector["topology.kubernetes.io/region"] = vm.region
            if vm.spot and vm.cloud in SPOT:
                spot_selector, spot_tolerations = SPOT[vm.cloud]
                selector.update(spot_selector)
                tolerations.extend(spot_tolerations)
        if vm.gpus > 0:  # a CPU-only node type has no GPU taint to tolerate
            tolerations.append(GPU_TOLERATION)
    selector.update(settings.node_selector)
    tolerations.extend(dict(t) for t in settings.tolerations)
    unique = sorted({_tol(t) for t in tolerations})
    return Placement(tuple(sorted(selector.items())), tuple(unique), settings.gpu_resource)


def cpu_layout(doc: Document, vm: VM, devices: int, issues: Collector) -> Optional[tuple[int, int]]:
    """A CPU-only job (num_devices: 0 on a VM type with gpus: 0): one node, one process.

    Both must say so: num_devices: 0 on a GPU VM would leave its GPUs idle, GPUs on a
    CPU-only type do not exist.
    """
    if devices == 0 and vm.gpus == 0:
        return 1, 1
    if devices == 0:
        issues.error(doc.pos(("num_devices",)),
                     f"num_devices: 0 runs on the CPU only, but {vm.name} has {vm.gpus} GPUs per node; use a "
                     "CPU-only VM type (`gpus: 0` under `vms:` in pfgen.yaml), or ask for GPUs")
    else:
        issues.error(doc.pos(("num_devices",)),
                     f"num_devices: {vm.name} has no GPUs (gpus: 0 in pfgen.yaml); a CPU-only job is "
                     "written num_devices: 0")
    return None


def vm_layout(doc: Document, config: ProjectConfig, issues: Collector) -> tuple[Optional[VM], Optional[tuple[int, int]]]:
    """Resolve ``vm`` and fit ``num_devices`` to it; tolerant of other keys being invalid."""
    name, devices = doc.data.get("vm"), doc.data.get("num_devices")
    if not isinstance(name, str):
        return None, None
    try:
        vm = vms.resolve(name, config.vms)
    except vms.UnknownVM as exc:
        issues.error(doc.pos(("vm",)), f"vm: {exc}")
        return None, None
    if not isinstance(devices, int) or isinstance(devices, bool) or devices < 0:
        return vm, None
    if devices == 0 or vm.gpus == 0:
        return vm, cpu_layout(doc, vm, devices, issues)
    layout = nodes_and_procs(devices, vm)
    if layout is None:
        lower = devices - devices % vm.gpus
        issues.error(doc.pos(("num_devices",)),
                     f"num_devices: {devices} GPUs do not fill whole {vm.name} VMs ({vm.gpus} GPUs each); "
                     f"use at most {vm.gpus} (one node) or a multiple of {vm.gpus}, e.g. {lower} or {lower + vm.gpus}")
    return vm, layout


def resolve(doc: Document, config: ProjectConfig, template: Path, issues: Collector,
            workspace_dir: Optional[Path] = None, local: bool = False) -> Optional[JobPlan]:
    data = doc.data
    docker = data["job_setting"]["docker"]
    vm, layout = vm_layout(doc, config, issues)

    raw_name, name_path, name_origin = job_name_source(doc, template)
    name = k8s_name(raw_name)
    if name is None:
        pos = doc.pos(name_path) if name_path else (1, 1)
        issues.error(pos, f"cannot derive a Kubernetes name from {name_origin} '{raw_name}'; "
                          "set `name` to something with letters or digits")

    setup, run = split_command(docker["command"])
    port = master_port(doc, issues, setup, run)

    experiment = data.get("experiment")
    labels = {"app.kubernetes.io/name": name or "", "app.kubernetes.io/managed-by": "pfgen"}
    if experiment:
        labels["app.kubernetes.io/part-of"] = label_value(experiment)

    # the pods that mount the job's checkpoint claim at once: one unless the job has several nodes
    # or Katib runs trials of it in parallel (unknown until the layout resolves: assume several)
    sharers = None if layout is None else ("trials" if "tuning" in data else layout[0])
    mounts, claims, extra_env, resume = _volumes(doc, config, name or "job", issues, sharers, local)

    env: list[tuple[str, str]] = []
    for key, value in docker.get("env_var", {}).items():
        path = ("job_setting", "docker", "env_var", key)
        env.append((key, doc.raw.get(path, value) if not isinstance(value, str) else value))

    dist = data.get("dist")
    pull_secrets = tuple(s for s in (docker.get("credential_id"),) if s)
    image = None
    inferred = None
    if workspace_dir is None and doc.get(("job_setting", "workspace", "path")) is None and config.workspace_infer:
        from pfgen.validate.cmdrules import inferred_workspace

        inferred = inferred_workspace(doc, template)  # the directory `pf job run -d` would have uploaded
    if name is not None and (workspace_dir is not None or inferred is not None
                             or doc.get(("job_setting", "workspace", "path")) is not None):
        image = workspace_image(doc, config, template, name, workspace_dir, issues, inferred, local)
    if vm is None or layout is None or name is None or issues.has_errors:
        return None
    nodes, procs = layout
    from pfgen.resolve.sizing import pod_resources

    resources, problem = pod_resources(vm, procs, config.resources)
    if problem:
        issues.error(doc.pos(("vm",)), f"vm: {problem}")
        return None
    return JobPlan(
        name=name,
        template=template,
        namespace=config.namespace,
        experiment=experiment,
        image=image.reference if image else pinned_image(docker["image"], config),
        setup=setup,
        run=run,
        vm=vm,
        nodes=nodes,
        procs_per_node=procs,
        master_port=port,
        env=tuple(extra_env + env),
        mounts=tuple(mounts),
        claims=tuple(claims),
        placement=placement(vm, config),
        labels=tuple(sorted(labels.items())),
        dist=Dist(dist["dp_degree"], dist["pp_degree"], dist["mp_degree"]) if dist else None,
        checkpoint_dir=data.get("checkpoint", {}).get("output_checkpoint_dir"),
        image_pull_secrets=pull_secrets,
        workspace_image=image,
        run_policy=config.run_policy,
        resources=resources,
        pod=config.pod,
        queue=config.queue,
        master_port_given=bool(_MASTER_PORT.search(setup + "\n" + run)),
        target=config.target,
        runtime=config.trainjob,
        resume=resume,
    )


def pinned_image(image: str, config: ProjectConfig) -> str:
    """``image@<digest>`` when pfgen.yaml's workspace.base_digests pins ``image``, else ``image``."""
    digest = dict(config.base_digests).get(image)
    return f"{image}@{digest}" if digest and "@" not in image else image


LOCAL_REGISTRY = "pfgen.local"  # run --local without a registry: the image is built here, never pushed


def workspace_image(doc: Document, config: ProjectConfig, template: Path, job: str,
                    override: Optional[Path], issues: Collector,
                    inferred: Optional[tuple[Path, str, tuple[int, int]]] = None,
                    local: bool = False) -> Optional[WorkspaceImage]:
    """The job's own image when it has a workspace (template's workspace.path, -d DIR, or the
    directory beside the template that the command enters: cmdrules.inferred_workspace): its
    values checked (pfgen.validate.workspace) and its files scanned (pfgen.resolve.workspace),
    not yet tagged (pipeline.tag_image renders the Dockerfile and hashes the files)."""

    path_key = ("job_setting", "workspace", "path")
    written = doc.get(path_key)
    boundary = None  # -d DIR comes from the command line, not from the repository
    if override is not None:
        directory, display = override, str(override)
    elif inferred is not None:
        boundary = resolved(template).parent
        directory, display, _ = inferred
    else:
        boundary = resolved(template).parent
        directory = boundary / str(written).replace("\\", "/")
        display = str(written)
    if override is None and inferred is not None:
        where = inferred[2]  # where the command enters it
    else:
        where = doc.pos(path_key) if written is not None else doc.key_pos(("job_setting",))
    mount_key = ("job_setting", "workspace", "mount_path")
    image, diagnostics = workspace_image_for(
        job=job,
        base_image=pinned_image(doc.data["job_setting"]["docker"]["image"], config),
        mount_path=doc.get(mount_key) or "/workspace",  # PeriFlow's default for custom jobs
        workspace_dir=directory,
        registry=config.registry or (LOCAL_REGISTRY if local else None),
        file=doc.file,
        workspace_pos=where,
        image_pos=doc.pos(("job_setting", "docker", "image")),
        mount_pos=doc.pos(mount_key) if doc.get(mount_key) is not None else where,
        display=display,
        boundary=boundary,
    )
    issues.diagnostics.extend(diagnostics)
    if image is not None and config.allow_onbuild:
        from dataclasses import replace

        image = replace(image, allow_onbuild=True)
    return image


def workspace_image_for(*, job: str, base_image: str, mount_path: str, workspace_dir: Path, registry: Optional[str],
                        file: str, workspace_pos: tuple[int, int], image_pos: tuple[int, int],
                        mount_pos: tuple[int, int], display: Optional[str] = None,
                        boundary: Optional[Path] = None) -> tuple[Optional[WorkspaceImage], list[Diagnostic]]:
    """The untagged image of a workspace and every problem with it. ``file`` and the ``*_pos``
    positions say where to report (the template's ``workspace.path``, ``docker.image`` and
    ``mount_path``); ``boundary`` is the directory the workspace must not lead out of (see
    pfgen.resolve.workspace.scan)."""
    from pfgen.resolve.workspace import scan
    from pfgen.validate import workspace as checks

    shown = display or str(workspace_dir)
    diagnostics = checks.check_values(base_image=base_image, mount_path=mount_path, registry=registry, shown=shown,
                                      file=file, image_pos=image_pos, mount_pos=mount_pos, workspace_pos=workspace_pos)
    workspace, found = scan(workspace_dir, file=file, pos=workspace_pos, display=shown, boundary=boundary)
    diagnostics += found
    diagnostics += checks.check_names(workspace.name if workspace is not None else None, registry, job,
                                      file=file, workspace_pos=workspace_pos)
    if workspace is None or any(d.is_error for d in diagnostics):
        return None, diagnostics
    return WorkspaceImage(
        base_image=base_image,
        workspace_dir=workspace.root,
        workspace_name=workspace.name,
        mount_path=mount_path,
        repository=checks.repository(registry, job),
        tag=None,
        dockerfile=None,
        dockerignore=workspace.dockerignore,
        file_count=len(workspace.files),
        total_bytes=workspace.total_bytes,
        files=workspace.files,
        pos=workspace_pos,
    ), diagnostics


def _volumes(doc: Document, config: ProjectConfig, job: str, issues: Collector,
             sharers: "int | str | None" = None, local: bool = False):
    mounts: list[Mount] = []
    claims: list[Claim] = []
    env: list[tuple[str, str]] = []
    storage = config.storage
    data = doc.data.get("data")
    if data and "mount_path" in data:
        name = data["name"]
        if name.startswith(HUGGINGFACE):
            dataset = name[len(HUGGINGFACE):].strip()
            claim = k8s_name("hf-" + dataset, 63) or "hf-dataset"
            claims.append(Claim(claim, storage.cache_size, ("ReadWriteMany",), storage.storage_class, "cache"))
            mounts.append(Mount("data", data["mount_path"], False, claim))
            env += [("HF_DATASETS_CACHE", data["mount_path"]), ("PFGEN_HF_DATASET", dataset)]
        else:
            store = config.datastores.get(name)
            if store and store.claim:
                if not is_dns1123_subdomain(store.claim):
                    issues.error(doc.pos(("data", "name")), f"data.name: pfgen.yaml maps '{name}' to claim '{store.claim}', which is not a valid claim name")
                mounts.append(Mount("data", data["mount_path"], True, store.claim, store.sub_path))
            else:
                claim = name if (DNS1035.match(name) and len(name) <= 63) else (k8s_name(name, 63) or "dataset")
                size = (store.size if store and store.size else None) or storage.data_size
                claims.append(Claim(claim, size, ("ReadWriteMany",), storage.storage_class, "data"))
                mounts.append(Mount("data", data["mount_path"], True, claim, store.sub_path if store else None))
                if not local:
                    issues.note(doc.pos(("data", "name")), (
                        f"data.name: claim '{claim}', which pfgen creates for the dataset, starts empty and the job "
                        f"reads it at {data['mount_path']}: fill it once before the first run (a pod that mounts it "
                        "and copies the data in: docs/template.md#volumes-and-claims), or name a claim that holds "
                        f"the data in pfgen.yaml (`datastores: {{{name}: {{claim: NAME}}}}`)"))
    checkpoint = doc.data.get("checkpoint", {})
    source = checkpoint.get("input")
    output = checkpoint.get("output_checkpoint_dir")
    resume = None
    if source and "mount_path" in source:
        ident = source["id"]
        at = source["mount_path"]
        if resume_rules.is_resume(at, output):
            # PeriFlow's resume: the input goes beside the directory, the output claim into it,
            # and node rank 0 seeds one from the other (pfgen/kube/resume.py)
            at = resume_rules.source_path(output)
            resume = Resume(at, output, str(ident))
        mapped = config.checkpoints.get(ident)
        if mapped:
            mounts.append(Mount("checkpoint-input", at, True, mapped.claim, mapped.sub_path))
        elif is_dns1123_subdomain(ident):
            mounts.append(Mount("checkpoint-input", at, True, ident))
        else:
            issues.error(doc.pos(("checkpoint", "input", "id")),
                         f"checkpoint.input.id: '{ident}' is not a PersistentVolumeClaim name; name the claim, "
                         "or map the id to one under `checkpoints:` in pfgen.yaml")
    if output:
        claim = f"{job}-ckpt"
        # One pod (a single-node job's Master) needs only ReadWriteOnce, which every default
        # StorageClass provides; several pods on several nodes need ReadWriteMany.
        mode = "ReadWriteOnce" if sharers == 1 else "ReadWriteMany"
        claims.append(Claim(claim, storage.checkpoint_size, (mode,), storage.storage_class, "checkpoint"))
        mounts.append(Mount("checkpoint-output", output, False, claim))
    if not local and storage.storage_class is None:
        _warn_default_class(doc, claims, sharers, issues)
    return mounts, claims, env, resume


# Default StorageClasses of the managed clusters, none of which provisions ReadWriteMany volumes:
# AKS managed-csi (Azure Disk), EKS gp2/gp3 (EBS), GKE standard-rwo (Persistent Disk).
_WHY_SHARED = {
    "data": "every job that reads the dataset mounts it",
    "cache": "every job that loads the dataset shares its cache",
}


def _warn_default_class(doc: Document, claims: list[Claim], sharers: "int | str | None", issues: Collector) -> None:
    """A claim asking for ReadWriteMany with no storage.class goes to the cluster's default
    StorageClass; on the common managed defaults it stays Pending and the job never starts."""
    for claim in claims:
        if "ReadWriteMany" not in claim.access_modes:
            continue
        if claim.purpose == "checkpoint":
            where = ("checkpoint", "output_checkpoint_dir")
            why = ("Katib's parallel trials mount it at once" if sharers == "trials"
                   else f"the job's {sharers} nodes mount it at once" if isinstance(sharers, int)
                   else "several pods mount it at once")
        else:
            where = ("data", "name")
            why = _WHY_SHARED[claim.purpose]
        issues.warning(doc.pos(where), (
            f"{'.'.join(where)}: pfgen creates claim '{claim.name}' as ReadWriteMany ({why}) and no pfgen.yaml "
            "sets storage.class, so the cluster's default StorageClass provisions it; the common defaults "
            "(AKS managed-csi, EKS gp2/gp3, GKE standard-rwo) cannot, and the claim would stay Pending: set "
            "storage.class in pfgen.yaml to a class that can (Azure Files, EFS, Filestore, NFS)"
            + (", or map the dataset to an existing claim under `datastores:`" if claim.purpose == "data" else "")))
