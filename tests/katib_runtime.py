"""What Katib v0.19 and the Training Operator v1.9 do to a trial, re-enacted for tests.

The Training Operator's env is pfgen.kube.operator's model. Each function names the
upstream code it follows (see
/work/shared/reference/kubeflow-runtime.md for the facts):

* ``substitute``: pkg/controller.v1beta1/experiment/manifest/generator.go applyParameters,
  plain string replacement on the JSON-serialised trial template;
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
    """(replica type, index, pytorch container) for every pod of the job."""
    pods = []
    for kind in ("Master", "Worker"):
        spec = job["spec"]["pytorchReplicaSpecs"].get(kind)
        if spec:
            for index in range(spec["replicas"]):
                container = next(c for c in spec["template"]["spec"]["containers"] if c["name"] == "pytorch")
                pods.append((kind, index, container))
    return pods


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


def sample_values(experiment_spec: dict) -> dict[str, str]:
    """A value Katib could suggest for every parameter: the upper bound, or the last list entry."""
    values = {}
    for param in experiment_spec["parameters"]:
        space = param["feasibleSpace"]
        values[param["name"]] = space["list"][-1] if "list" in space else space["max"]
    return values


def trial_job(experiment: dict, suffix: str = "abcdefgh") -> dict:
    """The PyTorchJob of one trial, as Katib would create it."""
    spec = experiment["spec"]
    meta = experiment["metadata"]
    return substitute(spec["trialTemplate"]["trialSpec"], sample_values(spec), f"{meta['name']}-{suffix}",
                      meta.get("namespace", "default"))
