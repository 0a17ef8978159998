"""Stage 2b: semantic rules the JSON Schema cannot express.

Runs only on documents that passed the schema, so shapes and types can be
trusted here. Every rule adds positioned diagnostics; none stops the others.
Rules that need the VM catalogue or the project config live in ``resolve``.
"""

from __future__ import annotations

import posixpath
import re

from pfgen.errors import Collector
from pfgen.load.document import Document
from pfgen.kube import resume
from pfgen.kube.names import has_control_chars

ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\Z")
# Set by the Training Operator (appended after the container's own env, so
# the operator's value would silently win) or by pfgen's runtime contract.
RESERVED_ENV = {
    "MASTER_ADDR", "MASTER_PORT", "WORLD_SIZE", "RANK", "PYTHONUNBUFFERED",
    "NUM_NODES", "NODE_RANK", "NPROC_PER_NODE", "CKPT_DIR", "DP_DEGREE", "PP_DEGREE", "MP_DEGREE",
}
RESERVED_ENV_PREFIXES = ("PET_",)
HUGGINGFACE = "huggingface:"


def check(doc: Document, issues: Collector) -> None:
    data = doc.data
    job = data.get("job_setting", {})
    _check_type(doc, issues, job)
    for key in ("experiment", "name"):
        value = data.get(key)
        if isinstance(value, str) and has_control_chars(value):
            issues.error(doc.pos((key,)), f"{key}: contains a control character or line break")
    _check_dist(doc, issues)
    _check_paths(doc, issues)
    _check_env(doc, issues, job.get("docker", {}).get("env_var", {}))
    _check_command(doc, issues, job.get("docker", {}))
    _check_credentials(doc, issues)
    _check_data(doc, issues)


def check_despite_schema_errors(doc: Document, issues: Collector) -> None:
    """The rules that check their own input's shape, for a document the schema rejected: so that a typo
    elsewhere does not hide a device count that dist does not multiply to, or a relative mount path
    (all reported at once). Each skips what is not of the type it checks; the schema reported that."""
    _check_dist(doc, issues)
    _check_paths(doc, issues)
    docker = doc.get(("job_setting", "docker"))
    env = docker.get("env_var") if isinstance(docker, dict) else None
    if isinstance(env, dict):
        _check_env(doc, issues, env)


def _check_type(doc: Document, issues: Collector, job: dict) -> None:
    if job.get("type") == "predefined":
        issues.error(doc.pos(("job_setting", "type")),
                     "job_setting.type: 'predefined' jobs ran PeriFlow's server-side model templates and cannot be "
                     "compiled; write a 'custom' job with your own image and command")
        return
    for key in ("template_id", "model_config"):
        if key in job:
            issues.error(doc.key_pos(("job_setting", key)), f"job_setting.{key}: only predefined jobs take this key")
    for key in ("vm", "num_devices"):
        if key not in doc.data:
            issues.error((1, 1), f"missing required key '{key}' (custom jobs need vm, num_devices and job_setting.docker)")
    if "docker" not in job:
        issues.error(doc.key_pos(("job_setting",)), "job_setting: missing required key 'docker' (custom jobs need an image and a command)")


def _check_dist(doc: Document, issues: Collector) -> None:
    dist = doc.data.get("dist")
    devices = doc.data.get("num_devices")
    if not isinstance(dist, dict) or not isinstance(devices, int) or isinstance(devices, bool):
        return
    if not all(isinstance(dist.get(k), int) and not isinstance(dist.get(k), bool) for k in ("dp_degree", "pp_degree", "mp_degree")):
        return
    product = dist["dp_degree"] * dist["pp_degree"] * dist["mp_degree"]
    if product != devices:
        issues.error(doc.key_pos(("dist",)),
                     f"dist: dp_degree x pp_degree x mp_degree = {dist['dp_degree']} x {dist['pp_degree']} x "
                     f"{dist['mp_degree']} = {product}, but num_devices is {devices}; they must be equal")


def container_path_problem(value: str) -> str | None:
    """Why ``value`` is not a usable absolute container path, or None."""
    if has_control_chars(value):
        return "contains a control character or line break"
    if not value.startswith("/"):
        return f"'{value}' is not an absolute path (it must start with /)"
    if ".." in value.split("/"):
        return f"'{value}' contains '..'; write the path without parent references"
    if posixpath.normpath(value) == "/":
        return "cannot be / (the container's root)"
    if posixpath.normpath(value).startswith("/dev/shm"):
        return "/dev/shm is pfgen's shared-memory volume; choose another path"
    return None


def _check_paths(doc: Document, issues: Collector) -> None:
    candidates = [
        ("job_setting", "workspace", "mount_path"),
        ("data", "mount_path"),
        ("checkpoint", "input", "mount_path"),
        ("checkpoint", "output_checkpoint_dir"),
    ]
    seen: dict[str, tuple] = {}
    for path in candidates:
        value = doc.get(path)
        if not isinstance(value, str):
            continue  # absent, or not a string (the schema's error)
        where = ".".join(path)
        problem = container_path_problem(value)
        if problem:
            issues.error(doc.pos(path), f"{where}: {problem}")
            continue
        if path[-1] == "mount_path" and path[0] == "job_setting":
            continue  # the workspace is baked into the image, not a volume
        normal = posixpath.normpath(value)
        if path == ("checkpoint", "output_checkpoint_dir") and seen.get(normal) == ("checkpoint", "input", "mount_path"):
            # PeriFlow's resume pattern: the input is mounted beside the directory and copied into
            # the output claim once (pfgen/kube/resume.py); that place must be free too
            hidden = resume.source_path(value)
            if hidden in seen:
                issues.error(doc.pos(seen[hidden]),
                             f"{'.'.join(seen[hidden])}: '{hidden}' is where pfgen mounts the input checkpoint to resume "
                             f"into {value} (checkpoint.input.mount_path = output_checkpoint_dir); choose another path")
            seen[hidden] = ("checkpoint", "input", "mount_path")
            seen[normal] = path
            continue
        if normal in seen:
            issues.error(doc.pos(path), f"{where}: '{value}' is also used by {'.'.join(seen[normal])}; two volumes cannot share a mount path")
        seen[normal] = path
    workspace = doc.get(("job_setting", "workspace", "path"))
    if isinstance(workspace, str):
        where = "job_setting.workspace.path"
        if has_control_chars(workspace):
            issues.error(doc.pos(("job_setting", "workspace", "path")), f"{where}: contains a control character or line break")
        elif workspace.startswith("/") or re.match(r"^[A-Za-z]:[\\/]", workspace):
            issues.error(doc.pos(("job_setting", "workspace", "path")), f"{where}: '{workspace}' must be relative to the template's directory")
        elif posixpath.normpath(workspace.replace("\\", "/")).split("/")[0] == "..":
            issues.error(doc.pos(("job_setting", "workspace", "path")), f"{where}: '{workspace}' escapes the template's directory; keep the workspace inside it")
    checkpoint = doc.data.get("checkpoint")
    if isinstance(checkpoint, dict) and isinstance(checkpoint.get("input"), dict) and "mount_path" not in checkpoint["input"]:
        issues.error(doc.key_pos(("checkpoint", "input")), "checkpoint.input: missing required key 'mount_path'")


def _check_env(doc: Document, issues: Collector, env: dict) -> None:
    for name, value in env.items():
        path = ("job_setting", "docker", "env_var", name)
        if not isinstance(name, str):
            continue
        if not ENV_NAME.match(name):
            shown = name.encode("unicode_escape").decode("ascii")
            issues.error(doc.key_pos(path), f"env_var: '{shown}' is not a valid variable name (letters, digits and _, not starting with a digit)")
        elif name in RESERVED_ENV or name.startswith(RESERVED_ENV_PREFIXES):
            issues.error(doc.key_pos(path), f"env_var: {name} is set by pfgen or the Training Operator at run time and cannot be overridden")
        if isinstance(value, str) and "\x00" in value:
            issues.error(doc.pos(path), f"env_var.{name}: contains a NUL character")


# The command becomes one argv string of `bash -c`; execve refuses a string over
# MAX_ARG_STRLEN (128 KiB). Leave room for pfgen's prelude and Katib's suffix.
MAX_SCRIPT_BYTES = 120 * 1024


def _check_command(doc: Document, issues: Collector, docker: dict) -> None:
    command = docker.get("command")
    parts = {"command": command} if isinstance(command, str) else (command or {})
    for key, text in parts.items():
        path = ("job_setting", "docker", "command") + (() if key == "command" else (key,))
        if "\x00" in text:
            issues.error(doc.pos(path), f"{'.'.join(path)}: contains a NUL character")
        elif key != "setup" and not text.strip():
            issues.error(doc.pos(path), f"{'.'.join(path)}: is blank; give the command to run")
        else:
            from pfgen.kube import shellwrap

            why = shellwrap.problem(text)
            if why:
                issues.error(doc.pos(path), f"{'.'.join(path)}: {why}")
    size = sum(len(text.encode("utf-8")) for text in parts.values() if isinstance(text, str))
    if size > MAX_SCRIPT_BYTES:
        issues.error(doc.pos(("job_setting", "docker", "command")),
                     f"job_setting.docker.command: is {size} bytes; the container's script must stay under "
                     f"{MAX_SCRIPT_BYTES // 1024} KiB (Linux limits one argument to 128 KiB); put long scripts in a file")
    image = docker.get("image")
    if isinstance(image, str) and has_control_chars(image):
        issues.error(doc.pos(("job_setting", "docker", "image")), "job_setting.docker.image: contains a control character")


def _check_credentials(doc: Document, issues: Collector) -> None:
    from pfgen.secrets.credentials import dns1123_subdomain_problem

    for path in (("job_setting", "docker", "credential_id"), ("plugin", "wandb", "credential_id"), ("plugin", "slack", "credential_id")):
        value = doc.get(path)
        problem = dns1123_subdomain_problem(value) if isinstance(value, str) else None
        if problem:
            shown = value.encode("unicode_escape").decode("ascii")
            issues.error(doc.pos(path), f"{'.'.join(path)}: '{shown}' {problem}")


def _check_data(doc: Document, issues: Collector) -> None:
    data = doc.data.get("data")
    if not data:
        return
    name = data["name"]
    if has_control_chars(name):
        issues.error(doc.pos(("data", "name")), "data.name: contains a control character or line break")
    elif name.startswith(HUGGINGFACE) and not name[len(HUGGINGFACE):].strip():
        issues.error(doc.pos(("data", "name")), "data.name: 'huggingface:' must be followed by a dataset name, e.g. huggingface:glue")
    if "mount_path" not in data:
        issues.error(doc.key_pos(("data",)), "data: missing required key 'mount_path'")
