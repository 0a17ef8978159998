"""Compile many templates and lay out the output tree.

Each job goes to ``OUT/<job>/``. OUT is ``-o`` when given, else ``deploy/``
next to the project config (pfgen.yaml) that governs the template, else
``deploy/`` in the current directory. Every OUT gets a root
kustomization.yaml listing its jobs, so ``kubectl apply -k OUT`` applies all.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from pfgen import dump
from pfgen.config import config_for
from pfgen.emit import kustomization
from pfgen.errors import Diagnostic, UserError
from pfgen.load import Document, load_file
from pfgen.pipeline import CompiledJob, CompileOptions, compile_document, display_path
from pfgen.write import header

DEFAULT_OUT = "deploy"


@dataclass
class BuildResult:
    trees: dict[Path, dict[Path, str]] = field(default_factory=dict)  # OUT -> absolute path -> text
    jobs: list[CompiledJob] = field(default_factory=list)
    warnings: list[Diagnostic] = field(default_factory=list)


def out_dir_for(template: Path, out: Optional[Path]) -> Path:
    if out is not None:
        return out.resolve()
    config = config_for(template)
    root = config.path.parent if config.path else Path.cwd()
    return (root / DEFAULT_OUT).resolve()


def compile_all(templates: list[Path], options: CompileOptions = CompileOptions()) -> tuple[list[tuple[Path, CompiledJob, Document]], list[Diagnostic]]:
    """Compile every template; collect all errors from all of them."""
    compiled = []
    errors: list[Diagnostic] = []
    warnings: list[Diagnostic] = []
    for template in templates:
        try:
            doc = load_file(template, display_path(template))
            job = compile_document(doc, template, None, options)
        except UserError as exc:
            errors.extend(exc.diagnostics)
            continue
        warnings.extend(job.diagnostics)
        compiled.append((template, job, doc))
    if errors:
        raise UserError(errors + warnings)
    return compiled, warnings


def build_trees(templates: list[Path], out: Optional[Path], options: CompileOptions = CompileOptions()) -> BuildResult:
    compiled, warnings = compile_all(templates, options)
    result = BuildResult(warnings=warnings)
    owners: dict[tuple[Path, str], tuple[Path, Document]] = {}
    errors: list[Diagnostic] = []
    for template, job, doc in compiled:
        root = out_dir_for(template, out)
        key = (root, job.plan.name)
        if key in owners:
            other, other_doc = owners[key]
            for path, d in ((template, doc), (other, other_doc)):
                pos = d.pos(("name",)) if "name" in d.data else (1, 1)
                partner = other if path == template else template
                errors.append(Diagnostic(d.file, pos[0], pos[1],
                                         f"job name '{job.plan.name}' is also produced by {display_path(partner)}; give one of them another `name`"))
            continue
        owners[key] = (template, doc)
        tree = result.trees.setdefault(root, {})
        source = os.path.relpath(template.resolve(), root / job.plan.name)
        for name, text in job.files.items():
            tree[root / job.plan.name / name] = header(source) + text
        result.jobs.append(job)
    if errors:
        raise UserError(errors)
    _add_shared_secrets(result)
    sealed_roots = {root for root in result.trees for job in result.jobs
                    if job.secrets_mode == "sealed" and root / job.plan.name / "kustomization.yaml" in result.trees[root]}
    for root, tree in result.trees.items():
        jobs = sorted({path.relative_to(root).parts[0] for path in tree})
        if root in sealed_roots and (root / SEALED_FILE).is_file():
            jobs.append(SEALED_FILE)  # kept by the user, made by `pfgen secrets --seal -o`
        tree[root / "kustomization.yaml"] = header("all jobs below") + dump.to_yaml(kustomization.build(jobs))
    return result


SECRETS_DIR = "_secrets"  # not a DNS-1035 label, so never a job's directory
SEALED_FILE = "sealed-secrets.yaml"  # sealed mode: listed by the root kustomization when present


def _add_shared_secrets(result: BuildResult) -> None:
    """External secrets mode: one ExternalSecret per Secret in OUT/_secrets/, merged across the jobs
    (jobs sharing a credential share its Secret; a docker Secret logs in to every job's registry)."""
    from pfgen.emit import secrets

    by_root: dict[Path, list[CompiledJob]] = {}
    for job in result.jobs:
        if job.secret_objects:
            root = next(root for root, tree in result.trees.items() if root / job.plan.name / "kustomization.yaml" in tree)
            by_root.setdefault(root, []).append(job)
    for root, jobs in by_root.items():
        objects = secrets.shared_external_secrets([(job.plan.namespace, job.plan.credentials, job.secrets_settings) for job in jobs])
        tree = result.trees[root]
        tree[root / SECRETS_DIR / "externalsecret.yaml"] = header("the credentials of all jobs below") + dump.to_yaml_stream(objects)
        tree[root / SECRETS_DIR / "kustomization.yaml"] = header("the credentials of all jobs below") + dump.to_yaml(
            kustomization.build(["externalsecret.yaml"]))
