"""The ``tuning:`` section: hyperparameter search compiled to a Katib Experiment.

:func:`parse` reads the section of a schema-checked template into a
:class:`Tuning` and reports, as positioned diagnostics, everything Katib
v0.19's admission webhook (``pkg/webhook/v1beta1/experiment/validator``)
would reject, plus what the suggestion services reject later at run time
(grid needs steps and enough combinations, pbt needs its settings).
:func:`check_trial_spec` then checks the ``${trialParameters.NAME}``
references against the PyTorchJob that becomes the trial template: an
undeclared reference is an error, a declared but unused parameter a
warning (the parameter is then left out of the Experiment, since Katib
rejects trial parameters the template does not use).
"""

from __future__ import annotations

import json
import math
import posixpath
import re
from dataclasses import replace
from typing import Any, Iterable, Optional

from pfgen.errors import Collector, did_you_mean
from pfgen.kube.katib import ALGORITHMS, NAS_ALGORITHMS, TRIAL_PARAMETER
from pfgen.load.document import Document
from pfgen.resolve.plan import MetricsCollector, Parameter, Tuning

ROOT = ("tuning",)

# pkg/suggestion/v1beta1/pbt/service.py _REQUIRED_SETTINGS
PBT_REQUIRED = ("suggestion_trial_dir", "n_population", "truncation_threshold")
DEFAULT_ALGORITHM = "random"

OBJECTIVE_TYPES = ("maximize", "minimize")
PARAMETER_TYPES = ("double", "int", "categorical", "discrete")
COLLECTOR_FORMATS = ("text", "json", "periflow")

# The name part of Katib's default metrics filter, ([\w|-]+), in RE2 (ASCII \w).
METRIC_NAME = re.compile(r"^[A-Za-z0-9_|-]+\Z")
PARAMETER_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*\Z")

# Katib's experiment name limit. Trials are named <experiment>-<8 chars> and their
# pods/services <trial>-worker-<i>, which then stay within the 63-character DNS label.
MAX_EXPERIMENT_NAME = 40


def _a(word: str) -> str:
    return ("an " if word[0] in "aeiou" else "a ") + word


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return (_is_int(value) or isinstance(value, float)) and not isinstance(value, bool)


def number_text(value: Any, integral: bool = False) -> str:
    """A number as the string Katib's feasibleSpace wants."""
    if integral or _is_int(value):
        return str(int(value))
    return repr(float(value))


def _setting_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if _is_number(value):
        return number_text(value)
    return str(value)


def parse(doc: Document, issues: Collector) -> Optional[Tuning]:
    """The template's tuning section, or None when it has none. Problems go to ``issues``."""
    section = doc.get(ROOT)
    if section is None:
        return None
    if not isinstance(section, dict):
        issues.error(doc.pos(ROOT), "tuning must be a mapping")
        return None
    start = len(issues.diagnostics)
    objective_type, metric, goal, additional = _objective(doc, issues)
    algorithm, settings = _algorithm(doc, issues)
    counts = _counts(doc, issues)
    collector = _collector(doc, issues)
    parameters = _parameters(doc, issues)
    if not collector.filters and (collector.kind == "stdout" or collector.format in ("text", "periflow")):
        for path, name in [(ROOT + ("objective", "metric"), metric)] + [
            (ROOT + ("objective", "additional_metrics", i), m) for i, m in enumerate(additional)
        ]:
            if name and not METRIC_NAME.match(name):
                issues.error(
                    doc.pos(path),
                    f"metric name '{name}' can never match Katib's name=value filter ([\\w|-]+); "
                    "use letters, digits, '_', '-' or '|'",
                )
    _algorithm_needs(doc, issues, algorithm, settings, counts[0], parameters)
    if any(d.is_error for d in issues.diagnostics[start:]):
        return None
    return Tuning(
        objective_type=objective_type,
        metric=metric,
        goal=goal,
        additional_metrics=additional,
        algorithm=algorithm,
        algorithm_settings=settings,
        max_trials=counts[0],
        parallel_trials=counts[1],
        max_failed_trials=counts[2],
        collector=collector,
        parameters=parameters,
        retain=doc.get(ROOT + ("retain",)) is True,
    )


def _objective(doc: Document, issues: Collector) -> tuple[str, str, Optional[float], tuple[str, ...]]:
    path = ROOT + ("objective",)
    kind = doc.get(path + ("type",))
    if kind not in OBJECTIVE_TYPES:
        issues.error(
            doc.pos(path + ("type",)),
            f"objective type '{kind}' must be maximize or minimize{did_you_mean(str(kind), OBJECTIVE_TYPES)}",
        )
    metric = doc.get(path + ("metric",))
    if not isinstance(metric, str) or not metric:
        issues.error(doc.pos(path + ("metric",)), "objective metric must be a non-empty string")
        metric = ""
    goal = doc.get(path + ("goal",))
    if goal is not None and (not _is_number(goal) or not math.isfinite(goal)):
        issues.error(doc.pos(path + ("goal",)), "objective goal must be a finite number")
        goal = None
    additional = doc.get(path + ("additional_metrics",)) or []
    seen: set[str] = set()
    for index, name in enumerate(additional):
        where = doc.pos(path + ("additional_metrics", index))
        if name == metric:
            issues.error(where, f"additional_metrics must not contain the objective metric '{metric}' (Katib rejects it)")
        elif name in seen:
            issues.error(where, f"additional metric '{name}' is listed twice")
        seen.add(name)
    return str(kind), metric, goal, tuple(str(m) for m in additional)


def _algorithm(doc: Document, issues: Collector) -> tuple[str, tuple[tuple[str, str], ...]]:
    path = ROOT + ("algorithm",)
    value = doc.get(path)
    settings: tuple[tuple[str, str], ...] = ()
    if value is None:
        return DEFAULT_ALGORITHM, settings
    if isinstance(value, dict):
        name_path = path + ("name",)
        name = value.get("name")
        settings = tuple((str(k), _setting_text(v)) for k, v in (value.get("settings") or {}).items())
    else:
        name_path, name = path, value
    if name in NAS_ALGORITHMS:
        issues.error(
            doc.pos(name_path),
            f"'{name}' is a neural-architecture-search algorithm; it needs Katib's nasConfig, "
            "which pfgen does not generate (use a hyperparameter algorithm such as random, tpe or bayesianoptimization)",
        )
    elif name not in ALGORITHMS:
        known = ", ".join(a for a in ALGORITHMS if a not in NAS_ALGORITHMS)
        issues.error(
            doc.pos(name_path),
            f"unknown algorithm '{name}' (Katib's default config has: {known})"
            + did_you_mean(str(name), ALGORITHMS),
        )
    return str(name), settings


def _counts(doc: Document, issues: Collector) -> tuple[int, int, Optional[int]]:
    values = {}
    for key, floor, katib in (
        ("max_trials", 1, "maxTrialCount"),
        ("parallel_trials", 1, "parallelTrialCount"),
        ("max_failed_trials", 0, "maxFailedTrialCount"),
    ):
        value = doc.get(ROOT + (key,))
        values[key] = value
        if value is None:
            continue
        if not _is_int(value):
            issues.error(doc.pos(ROOT + (key,)), f"{key} must be an integer")
            values[key] = None
        elif value < floor:
            need = "greater than 0" if floor else "0 or more"
            issues.error(doc.pos(ROOT + (key,)), f"{key} must be {need} (Katib {katib}), not {value}")
            values[key] = None
    most = values["max_trials"]
    for key in ("parallel_trials", "max_failed_trials"):
        if most is not None and values[key] is not None and values[key] > most:
            issues.error(
                doc.pos(ROOT + (key,)),
                f"{key} ({values[key]}) must not exceed max_trials ({most})",
            )
    return values["max_trials"] or 0, values["parallel_trials"] or 0, values["max_failed_trials"]


def _collector(doc: Document, issues: Collector) -> MetricsCollector:
    path = ROOT + ("metrics_collector",)
    value = doc.get(path)
    if value is None or value == "stdout":
        return MetricsCollector()
    if isinstance(value, str):
        issues.error(
            doc.pos(path),
            f"metrics_collector '{value}' must be stdout or {{kind: file, path, format}}{did_you_mean(value, ['stdout', 'file'])}",
        )
        return MetricsCollector()
    if not isinstance(value, dict) or value.get("kind") not in ("file", "stdout"):
        issues.error(doc.pos(path), "metrics_collector must be stdout, {kind: stdout, filter} or {kind: file, path, format}")
        return MetricsCollector()
    if value["kind"] == "stdout":
        for key in ("path", "format"):
            if key in value:
                issues.error(doc.key_pos(path + (key,)),
                             f"metrics_collector.{key}: Katib's StdOut collector reads the master's standard output "
                             f"as text, so it takes no {key}; use {{kind: file, path, format}} for a metrics file")
        return MetricsCollector("stdout", None, "text", _filters(doc, issues, path, "text"))
    if "path" not in value:
        issues.error(doc.key_pos(path),
                     "tuning.metrics_collector: missing required key 'path' (kind file: the absolute path of the metrics "
                     "file the training code writes)")
        return MetricsCollector()
    fmt = value.get("format", "text")
    if fmt not in COLLECTOR_FORMATS:
        issues.error(
            doc.pos(path + ("format",)),
            f"metrics file format '{fmt}' must be one of {', '.join(COLLECTOR_FORMATS)}{did_you_mean(str(fmt), COLLECTOR_FORMATS)}",
        )
    file = value.get("path")
    if not isinstance(file, str) or not posixpath.isabs(file):
        issues.error(doc.pos(path + ("path",)), f"metrics file path '{file}' must be absolute (Katib requires it)")
    elif file.endswith("/") or posixpath.dirname(posixpath.normpath(file)) == "/":
        issues.error(
            doc.pos(path + ("path",)),
            f"metrics file path '{file}' must be a file inside a dedicated directory: Katib mounts an empty "
            "directory over the file's parent directory (e.g. use /var/log/metrics/metrics.log)",
        )
    else:
        file = posixpath.normpath(file)
    filters = _filters(doc, issues, path, str(fmt))
    return MetricsCollector("file", file if isinstance(file, str) else None, str(fmt), filters)


# Katib's webhook check that a metricsFormat has two groups (validator.go validateMetricsCollector).
KATIB_TWO_GROUPS = re.compile(r".*\(.*\).*\(.*\).*", re.DOTALL)
# RE2 syntax that Python's re does not read; a filter using it is checked as Katib's webhook checks it.
_RE2_ONLY = re.compile(r"\\[pPQC]|\[\[:|\(\?<[A-Za-z]")


def _not_re2(tree) -> Optional[str]:
    """What in Python's parse of a regex Go's RE2 (Katib's regexp) has no syntax for, or None."""
    names = {
        "ASSERT": "lookahead/lookbehind", "ASSERT_NOT": "negative lookahead/lookbehind",
        "GROUPREF": "a backreference", "GROUPREF_EXISTS": "a conditional (?(1)...)",
        "ATOMIC_GROUP": "an atomic group (?>...)", "POSSESSIVE_REPEAT": "a possessive quantifier",
    }
    stack = [tree]
    while stack:
        node = stack.pop()
        for op, argument in node:
            name = str(op)
            if name in names:
                return names[name]
            for part in (argument if isinstance(argument, (tuple, list)) else (argument,)):
                if hasattr(part, "data"):  # a SubPattern
                    stack.append(part)
                elif isinstance(part, (tuple, list)):
                    stack.extend(p for p in part if hasattr(p, "data"))
    return None


def filter_problem(text: str) -> Optional[str]:
    """Why Katib v0.19 would reject the metricsFormat ``text``, or never read a metric with it, or None.

    The webhook (kubeflow/katib pkg/webhook/v1beta1/experiment/validator/validator.go
    ``validateMetricsCollector``) compiles it with Go's regexp and requires it to match
    ``.*\\(.*\\).*\\(.*\\).*``; the text parser
    (pkg/metricscollector/v1beta1/file-metricscollector/file-metricscollector.go
    ``parseLogsInTextFormat``) takes capture group 1 as the metric name and group 2 as its
    value and skips matches with fewer groups, so two real capture groups are needed
    (``\\(a\\)\\(b\\)`` passes the webhook and never yields a metric).
    """
    if ";" in text:
        # the pod webhook passes every filter to the collector joined with ';', which splits them again
        # (kubeflow/katib cmd/metricscollector/v1beta1/file-metricscollector/main.go)
        return ("contains ';', which Katib's metrics collector uses to separate filters: it would become two "
                "broken regexes; match the ';' with \\x3b instead")
    if not KATIB_TWO_GROUPS.match(text):
        return ("does not have two capture groups; Katib takes the metric name from group 1 and its value "
                "from group 2, e.g. ([\\w|-]+)=([+-]?\\d*(\\.\\d+)?)")
    try:
        from re import _parser  # type: ignore[attr-defined]  # Python 3.11+
    except ImportError:  # Python 3.10
        import sre_parse as _parser  # type: ignore[no-redef]

    python = re.sub(r"(?<!\\)((?:\\\\)*)\\z", r"\1\\Z", text)  # RE2's end of text is Python's \Z
    try:
        tree = _parser.parse(python)
    except re.error as exc:
        if _RE2_ONLY.search(text):
            return None  # RE2 syntax Python cannot read (\pL, \Q...\E, [[:alpha:]]): Katib's own check passed
        return f"is not a valid regular expression: {exc}"
    except (RecursionError, OverflowError, ValueError):
        return "is not a valid regular expression"
    if "\\Z" in text.replace("\\\\", ""):
        return "uses \\Z, which Go's RE2 (Katib's regexp) does not support; write \\z"
    unsupported = _not_re2(tree)
    if unsupported:
        return f"uses {unsupported}, which Go's RE2 (Katib's regexp) does not support"
    groups = tree.state.groups - 1
    if groups < 2:
        have = "no capture group" if groups == 0 else "one capture group"
        return (f"has {have}; Katib takes the metric name from capture group 1 and its value from group 2, "
                "e.g. ([\\w|-]+)=([+-]?\\d*(\\.\\d+)?)")
    return None


def _filters(doc: Document, issues: Collector, path: tuple, fmt: str) -> tuple[str, ...]:
    value = doc.get(path + ("filter",))
    if value is None:
        return ()
    entries = [(path + ("filter",), value)] if isinstance(value, str) else \
        [(path + ("filter", i), v) for i, v in enumerate(value) if isinstance(v, str)]
    if fmt != "text":
        why = ("Katib rejects a filter on a JSON metrics file" if fmt == "json"
               else "format periflow brings its own filter for the SDK's log")
        issues.error(doc.pos(path + ("filter",)), f"metrics_collector.filter: {why}; use format: text with a filter")
        return ()
    result = []
    for where, text in entries:
        problem = filter_problem(text)
        if problem:
            issues.error(doc.pos(where), f"metrics_collector.filter: '{text}' {problem}")
        else:
            result.append(text)
    return tuple(result)


def _parameters(doc: Document, issues: Collector) -> tuple[Parameter, ...]:
    path = ROOT + ("parameters",)
    table = doc.get(path)
    if not isinstance(table, dict) or not table:
        issues.error(doc.pos(path), "tuning needs at least one parameter")
        return ()
    result = []
    for name, spec in table.items():
        where = path + (name,)
        if not PARAMETER_NAME.match(name):
            issues.error(
                doc.key_pos(where),
                f"parameter name '{name}' must start with a letter or '_' and contain only letters, digits, '_' and '-'",
            )
            continue
        if not isinstance(spec, dict):
            issues.error(doc.pos(where), f"parameter '{name}' must be a mapping with a type")
            continue
        kind = spec.get("type")
        if kind in ("double", "int"):
            param = _range_parameter(doc, issues, name, spec, where)
        elif kind in ("categorical", "discrete"):
            param = _list_parameter(doc, issues, name, spec, where)
        else:
            issues.error(
                doc.pos(where + ("type",)),
                f"parameter '{name}': type '{kind}' must be one of {', '.join(PARAMETER_TYPES)}"
                f"{did_you_mean(str(kind), PARAMETER_TYPES)}",
            )
            param = None
        if param is not None:
            result.append(param)
    return tuple(result)


def _range_parameter(doc: Document, issues: Collector, name: str, spec: dict, where: tuple) -> Optional[Parameter]:
    kind = spec["type"]
    ok = True
    if "values" in spec:
        issues.error(doc.key_pos(where + ("values",)), f"parameter '{name}': {_a(kind)} parameter takes min/max, not values")
        ok = False
    bounds = {}
    for key in ("min", "max", "step"):
        value = spec.get(key)
        if value is None:
            if key != "step":
                issues.error(doc.pos(where), f"parameter '{name}': {_a(kind)} parameter needs {key}")
                ok = False
            continue
        if not _is_number(value) or not math.isfinite(value):
            issues.error(doc.pos(where + (key,)), f"parameter '{name}': {key} must be a finite number")
            ok = False
        elif kind == "int" and float(value) != int(value):
            issues.error(doc.pos(where + (key,)), f"parameter '{name}': {key} of an int parameter must be a whole number, not {value}")
            ok = False
        else:
            bounds[key] = value
    if "min" in bounds and "max" in bounds and bounds["min"] > bounds["max"]:
        issues.error(doc.pos(where + ("max",)), f"parameter '{name}': max ({bounds['max']}) is less than min ({bounds['min']})")
        ok = False
    if "step" in bounds and bounds["step"] <= 0:
        issues.error(doc.pos(where + ("step",)), f"parameter '{name}': step must be greater than 0, not {bounds['step']}")
        ok = False
    if not ok:
        return None
    integral = kind == "int"
    return Parameter(
        name,
        kind,
        number_text(bounds["min"], integral),
        number_text(bounds["max"], integral),
        number_text(bounds["step"], integral) if "step" in bounds else None,
    )


def _list_parameter(doc: Document, issues: Collector, name: str, spec: dict, where: tuple) -> Optional[Parameter]:
    kind = spec["type"]
    ok = True
    for key in ("min", "max", "step"):
        if key in spec:
            issues.error(
                doc.key_pos(where + (key,)),
                f"parameter '{name}': {_a(kind)} parameter takes values, not min/max/step (Katib rejects {key})",
            )
            ok = False
    values = spec.get("values")
    if not isinstance(values, list) or not values:
        issues.error(doc.pos(where + ("values",)), f"parameter '{name}': {_a(kind)} parameter needs a non-empty values list")
        return None
    texts: list[str] = []
    for index, value in enumerate(values):
        at = doc.pos(where + ("values", index))
        if kind == "discrete":
            if not _is_number(value) or not math.isfinite(value):
                issues.error(at, f"parameter '{name}': discrete values must be numbers; use categorical for strings")
                ok = False
                continue
            text = number_text(value)
        else:
            if isinstance(value, bool) or not isinstance(value, (str, int, float)):
                issues.error(at, f"parameter '{name}': categorical values must be strings")
                ok = False
                continue
            text = _setting_text(value)
            if json.dumps(text)[1:-1] != text:
                issues.error(
                    at,
                    f"parameter '{name}': value {text!r} contains a quote, backslash or control character; "
                    "Katib splices values into the JSON trial template verbatim, which would corrupt it",
                )
                ok = False
                continue
            if re.search(r"[\s'`$;&|<>(){}*?!#~\[\]]", text):
                issues.warning(
                    at,
                    f"parameter '{name}': value {text!r} contains whitespace or shell characters and is spliced "
                    "verbatim into the bash command; quote the ${trialParameters...} reference",
                )
        if text in texts:
            issues.error(at, f"parameter '{name}': value {text!r} is listed twice")
            ok = False
            continue
        texts.append(text)
    if not ok:
        return None
    return Parameter(name, kind, values=tuple(texts))


def _grid_size(param: Parameter) -> int:
    if param.type == "int":
        step = int(param.step) if param.step else 1
        return len(range(int(param.min or 0), int(param.max or 0) + 1, step))
    if param.type == "double":
        low, high, step = float(param.min or 0), float(param.max or 0), float(param.step or 1)
        return int(math.floor((high - low) / step + 1e-9)) + 1
    return len(param.values)


def _algorithm_needs(
    doc: Document,
    issues: Collector,
    algorithm: str,
    settings: tuple[tuple[str, str], ...],
    max_trials: int,
    parameters: tuple[Parameter, ...],
) -> None:
    """What the suggestion services reject when the experiment starts (not the webhook)."""
    if algorithm == "grid":
        missing = [p for p in parameters if p.type == "double" and not p.step]
        for param in missing:
            issues.error(
                doc.pos(ROOT + ("parameters", param.name)),
                f"parameter '{param.name}': the grid algorithm needs a step for double parameters",
            )
        if not missing and parameters and max_trials:
            combinations = math.prod(_grid_size(p) for p in parameters)
            if max_trials > combinations:
                issues.error(
                    doc.pos(ROOT + ("max_trials",)),
                    f"max_trials ({max_trials}) exceeds the {combinations} combinations of the grid; "
                    "Katib's grid suggestion rejects that",
                )
    if algorithm == "pbt":
        names = {name for name, _ in settings}
        absent = [s for s in PBT_REQUIRED if s not in names]
        if absent:
            issues.error(
                doc.pos(ROOT + ("algorithm",)),
                f"algorithm pbt needs the settings {', '.join(absent)}",
            )


# ---------------------------------------------------------------------------
# Checks against the trial template (the PyTorchJob) and the job


def placeholders(text: str) -> list[str]:
    """Names referenced as ${trialParameters.NAME}, in order, as Katib's regex finds them."""
    return TRIAL_PARAMETER.findall(text)


def _strings(value: Any, path: tuple = ()) -> Iterable[tuple[tuple, str]]:
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(item, path + (key,))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _strings(item, path + (index,))


def _where(doc: Document, token: str) -> tuple[int, int]:
    """Position of the first template value (outside tuning:) containing ``token``."""
    for path, text in _strings({k: v for k, v in doc.data.items() if k != "tuning"}):
        if token in text:
            return doc.pos(path)
    return doc.key_pos(ROOT)


def check_trial_spec(doc: Document, tuning: Tuning, trial_spec: dict, job_name: str, issues: Collector) -> Tuning:
    """Check references, names and paths against the trial's PyTorchJob.

    Returns the tuning with ``unused`` filled in.
    """
    text = json.dumps(trial_spec, sort_keys=True)
    declared = {p.name for p in tuning.parameters}
    referenced = placeholders(text)
    reported: set[str] = set()
    for name in referenced:
        if name in declared or name in reported:
            continue
        reported.add(name)
        token = "${trialParameters." + name + "}"
        issues.error(
            _where(doc, token),
            f"{token} refers to a parameter that tuning.parameters does not declare"
            + did_you_mean(name, declared),
        )
    unused = []
    for param in tuning.parameters:
        if param.name not in referenced:
            unused.append(param.name)
            issues.warning(
                doc.key_pos(ROOT + ("parameters", param.name)),
                f"parameter '{param.name}' is declared but the command never uses ${{trialParameters.{param.name}}}; "
                "it is left out of the Experiment",
            )
    if len(unused) == len(tuning.parameters) and tuning.parameters:
        issues.error(
            doc.key_pos(ROOT + ("parameters",)),
            "no tuning parameter is used in the command; write ${trialParameters.NAME} where the value goes",
        )
    if len(job_name) > MAX_EXPERIMENT_NAME:
        source = next((k for k in ("name", "experiment") if isinstance(doc.data.get(k), str)), None)
        where = doc.pos((source,)) if source else doc.key_pos(ROOT)
        issues.error(
            where,
            f"job name '{job_name}' is {len(job_name)} characters; a Katib experiment name may have at most "
            f"{MAX_EXPERIMENT_NAME} (its trials are named <name>-<8 chars> and their pods <trial>-worker-<i>)",
        )
    command = doc.get(("job_setting", "docker", "command"))
    command_text = " ".join(str(v) for v in command.values()) if isinstance(command, dict) else str(command)
    if isinstance(doc.get(("checkpoint", "output_checkpoint_dir")), str) and "KATIB_TRIAL_NAME" not in command_text:
        issues.warning(
            doc.pos(("checkpoint", "output_checkpoint_dir")),
            "every trial mounts the same checkpoint claim at this path, and parallel trials would overwrite "
            "each other's checkpoints; save under a per-trial directory such as $CKPT_DIR/$KATIB_TRIAL_NAME "
            "(Katib sets KATIB_TRIAL_NAME in every trial pod)",
        )
    if tuning.collector.kind == "file" and tuning.collector.path:
        directory = posixpath.dirname(tuning.collector.path)
        workspace = doc.get(("job_setting", "workspace", "mount_path"), "/workspace")
        hidden = [(m, "the volume mounted at") for m in _mount_paths(trial_spec)]
        if isinstance(workspace, str):
            hidden.append((workspace, "the workspace (code in the image) at"))
        for mount, what in hidden:
            mount = posixpath.normpath(mount)
            if mount == directory or mount.startswith(directory.rstrip("/") + "/"):
                issues.error(
                    doc.pos(ROOT + ("metrics_collector", "path")),
                    f"metrics file directory '{directory}' would hide {what} '{mount}': Katib mounts "
                    "an empty directory over it; put the metrics file in a directory of its own",
                )
                break
    return replace(tuning, unused=tuple(unused))


def _mount_paths(trial_spec: dict) -> list[str]:
    paths = []
    pods = [replica.get("template", {}) for replica in (trial_spec.get("spec", {}).get("pytorchReplicaSpecs") or {}).values()]
    for patch in trial_spec.get("spec", {}).get("runtimePatches") or []:  # a TrainJob (emit/trainjob.py)
        for job in patch.get("trainingRuntimeSpec", {}).get("template", {}).get("spec", {}).get("replicatedJobs", []):
            pods.append(job.get("template", {}).get("spec", {}).get("template", {}))
    for pod in pods:
        for container in pod.get("spec", {}).get("containers", []):
            paths.extend(m.get("mountPath", "") for m in container.get("volumeMounts", []))
    return sorted(set(p for p in paths if p))
