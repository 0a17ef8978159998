"""What Katib v0.19 and the Training Operator v1.9 do to a trial, re-enacted for tests.

Each function names the upstream code it follows (see
/work/shared/reference/kubeflow-runtime.md for the facts):

* ``substitute``: pkg/controller.v1beta1/experiment/manifest/generator.go applyParameters,
  plain string replacement on the JSON-serialised trial template;
* ``operator_env``: training-operator pkg/controller.v1/pytorch/envvar.go + master.go;
* ``katib_wrap``: pkg/webhook/v1beta1/pod/utils.go wrapWorkerContainer;
* ``parse_text`` / ``parse_json``: pkg/metricscollector/v1beta1/file-metricscollector.
"""

from __future__ import annotations

import json
import re
from typing import Iterable

DEFAULT_FILTER = r"([\w|-]+)\s*=\s*([+-]?\d*(\.\d+)?([Ee][+-]?\d+)?)"


def substitute(trial_spec: dict, values: dict[str, str], trial_name: str, namespace: str) -> dict:
    text = json.dumps(trial_spec)
    for name, value in values.items():
        text = text.replace("${trialParameters.%s}" % name, value)
    assert not re.search(r"\$\{trialParameters\..+?\}", text), "an undeclared parameter was left in the template"
    job = json.loads(text)
    job.setdefault("metadata", {})
    job["metadata"]["name"] = trial_name
    job["metadata"]["namespace"] = namespace
    return job


def replicas(job: dict) -> list[tuple[str, int, dict]]:
    """(replica type, index, container) for every pod of the job."""
    pods = []
    for kind in ("Master", "Worker"):
        spec = job["spec"]["pytorchReplicaSpecs"].get(kind)
        if spec:
            for index in range(spec["replicas"]):
                container = next(c for c in spec["template"]["spec"]["containers"] if c["name"] == "pytorch")
                pods.append((kind, index, container))
    return pods


def operator_env(job: dict, kind: str, index: int, master_addr: str | None = None) -> dict[str, str]:
    """The variables the Training Operator appends to every container (non-elastic, with a Master)."""
    specs = job["spec"]["pytorchReplicaSpecs"]
    total = sum(spec["replicas"] for spec in specs.values())
    nproc_text = job["spec"]["nprocPerNode"]
    nproc = int(nproc_text) if nproc_text.isdigit() else 1
    master = next(c for c in specs["Master"]["template"]["spec"]["containers"] if c["name"] == "pytorch")
    port = next(p["containerPort"] for p in master["ports"] if p["name"] == "pytorchjob-port")
    rank = index + 1 if kind == "Worker" else index
    addr = master_addr or f"{job['metadata']['name']}-master-0"
    return {
        "PYTHONUNBUFFERED": "1",
        "MASTER_PORT": str(port),
        "PET_MASTER_PORT": str(port),
        "MASTER_ADDR": addr,
        "PET_MASTER_ADDR": addr,
        "WORLD_SIZE": str(total * nproc),
        "RANK": str(rank),
        "PET_NODE_RANK": str(rank),
        "PET_NPROC_PER_NODE": nproc_text,
        "PET_NNODES": str(total),
    }


def container_env(container: dict) -> dict[str, str]:
    return {e["name"]: e["value"] for e in container.get("env", []) if "value" in e}


def katib_wrap(command: list[str], collector_kind: str, metrics_file: str) -> list[str]:
    """The primary container's command after Katib's pod webhook (no early stopping).

    The kubelet turns the webhook's ``$$$$`` into ``$$``, which is what is returned here.
    """
    args = list(command)
    wrapped = ["sh", "-c"]
    if args[0] in ("sh", "bash") and args[1] == "-c":
        wrapped, args = args[:2], args[2:]
    if collector_kind == "StdOut":
        args.append(f"1>{metrics_file} 2>&1")
    directory = metrics_file.rsplit("/", 1)[0]
    args += ["&&", f"echo completed > {directory}/$$.pid"]
    return wrapped + [" ".join(args)]


def parse_text(lines: Iterable[str], metrics: list[str], filters: list[str] | None = None) -> list[tuple[str, str]]:
    regexes = [re.compile(f, re.ASCII) for f in (filters or [DEFAULT_FILTER])]
    found = []
    for line in lines:
        if not any(m in line for m in metrics):
            continue
        for regex in regexes:
            for match in regex.finditer(line):
                if len(match.groups()) < 2:
                    continue
                name, value = match.group(1).strip(), (match.group(2) or "").strip()
                if name in metrics:
                    found.append((name, value))
    return found


def parse_json(lines: Iterable[str], metrics: list[str]) -> list[tuple[str, str]]:
    found = []
    for line in lines:
        if not line:
            continue
        obj = json.loads(line)  # Katib fails the whole collection on a non-JSON line
        for name in metrics:
            if isinstance(obj.get(name), str):  # jsonObj[m].(string): numbers are skipped
                found.append((name, obj[name]))
    return found
