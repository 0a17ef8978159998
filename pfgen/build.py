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
from typing import TYPE_CHECKING, Optional

from pfgen import dump
from pfgen.config import config_for
from pfgen.emit import kustomization
from pfgen.errors import Diagnostic, UserError
from pfgen.load import Document, load_file
from pfgen.pipeline import CompiledJob, CompileOptions, compile_document, display_path
from pfgen.write import header

if TYPE_CHECKING:
    from pfgen.cache import BuildCache, Hit

DEFAULT_OUT = "deploy"


@dataclass
class BuildResult:
    trees: dict[Path, dict[Path, str]] = field(default_factory=dict)  # OUT -> absolute path -> text
    jobs: list[CompiledJob] = field(default_factory=list)
    warnings: list[Diagnostic] = field(default_factory=list)
    cached: list[Path] = field(default_factory=list)  # templates whose output came from the build cache

    @property
    def job_count(self) -> int:
        return len(self.jobs) + len(self.cached)


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


def build_trees(templates: list[Path], out: Optional[Path], options: CompileOptions = CompileOptions(),
                cache: Optional["BuildCache"] = None) -> BuildResult:
    """Compile ``templates`` into output trees; with a ``cache``, unchanged jobs are served from it (see cache.py)."""
    by_dir: dict[Path, Path] = {}  # template directory -> OUT (one config lookup per directory)
    roots = {t: by_dir[t.parent] if t.parent in by_dir else by_dir.setdefault(t.parent, out_dir_for(t, out)) for t in templates}
    hits: dict[Path, Hit] = {}
    if cache is not None and cache.active:
        for template in templates:
            hit = cache.lookup(template, roots[template], options)
            if hit is not None:
                hits[template] = hit
    compiled, _ = compile_all([t for t in templates if t not in hits], options)
    fresh = {template: (job, doc) for template, job, doc in compiled}
    result = BuildResult()
    owners: dict[tuple[Path, str], tuple[Path, Optional[Document]]] = {}
    errors: list[Diagnostic] = []
    for template in templates:
        root = roots[template]
        if template in hits:
            hit, job, doc = hits[template], None, None
            name = hit.name
            result.warnings.extend(Diagnostic(display_path(template), *w) for w in hit.warnings)
        else:
            job, doc = fresh[template]
            name = job.plan.name
            result.warnings.extend(job.diagnostics)
        key = (root, name)
        if key in owners:
            other, other_doc = owners[key]
            for path, d in ((template, doc), (other, other_doc)):
                d = d or load_file(path, display_path(path))
                pos = d.pos(("name",)) if "name" in d.data else (1, 1)
                partner = other if path == template else template
                errors.append(Diagnostic(d.file, pos[0], pos[1],
                                         f"job name '{name}' is also produced by {display_path(partner)}; give one of them another `name`"))
            continue
        owners[key] = (template, doc)
        tree = result.trees.setdefault(root, {})
        if job is None:
            tree.update(hits[template].files)
            result.cached.append(template)
            continue
        source = os.path.relpath(template.resolve(), root / name)
        files = {root / name / file: header(source) + text for file, text in job.files.items()}
        tree.update(files)
        result.jobs.append(job)
        if cache is not None:
            cache.record(template, root, options, job, files)
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
    if cache is not None:
        cache.save()
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
