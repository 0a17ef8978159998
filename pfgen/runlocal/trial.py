"""The object to run: a plain job as compiled, or a Katib trial instantiated the way Katib's
manifest generator does it (``${trialParameters.NAME}`` replaced in the JSON-serialised
trialSpec, ``${trialSpec.*}`` metadata references filled in)."""

from __future__ import annotations

import json
import re
from typing import Iterable, Optional

from pfgen.errors import did_you_mean
from pfgen.kube import katib
from pfgen.runlocal.model import LocalRunError, fail


_META_REF = re.compile(r"^\$\{trialSpec\.(Name|Namespace|Kind|APIVersion|Annotations\[.+\]|Labels\[.+\])\}\Z")


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
        raise fail("the compiled job has no PyTorchJob or TrainJob object to run")
    if params:
        raise fail(f"--param {next(iter(params))}=... given, but the template has no tuning section")
    return job, None


def _instantiate_trial(experiment: dict, params: dict[str, str], *, trial_name: str) -> tuple[dict, Optional[str]]:
    spec = experiment.get("spec", {})
    template = spec.get("trialTemplate", {})
    trial_spec = template.get("trialSpec")
    if not isinstance(trial_spec, dict) or trial_spec.get("kind") not in ("PyTorchJob", "TrainJob"):
        raise fail("the Katib Experiment's trial template is not an inline PyTorchJob or TrainJob")
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
        raise fail("the trial template uses undeclared parameters: " + ", ".join(left))
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
