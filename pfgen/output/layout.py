"""Compile many templates and lay out the output trees.

Each job goes to ``OUT/<job>/``. OUT is ``-o`` when given, else ``deploy/``
next to the project config (pfgen.yaml) that governs the template, else
``deploy/`` in the current directory. Every OUT gets a root
kustomization.yaml listing its job directories, so ``kubectl apply -k OUT``
applies all of them.

An OUT is always the output of *all* its templates, never of some: besides
the templates a build was given, it recompiles the templates that the
directories already in OUT name in their markers (when they still exist and
still belong to that OUT). So ``pfgen build jobs/a`` updates job a, leaves job
b as it is, and still removes the directory of a job whose template was
deleted or renamed.

Objects that several jobs of one OUT emit identically (a shared datastore
claim) would make kustomize fail with duplicate IDs; they move to
``OUT/_shared/`` (``_`` cannot start a job name), listed once in the root
kustomization. Two *different* objects with the same group, kind, namespace
and name are an error naming both templates.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path

from pfgen.output import dump
from pfgen.output.outdir import checked_out, out_dir_for
from pfgen.emit import kustomization
from pfgen.errors import Diagnostic, UserError
from pfgen.errors import display_path
from pfgen.load.discover import TEMPLATE_NAMES
from pfgen.load.document import Document, load_file
from pfgen.pipeline import CompiledJob, CompileOptions, compile_document, files_for
from pfgen.realpaths import real

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Iterable, Optional

    from pfgen.output.cache import BuildCache

SHARED = "_shared"
SECRETS_DIR = "_secrets"  # not a DNS-1035 label, so never a job's directory
SEALED_FILE = "sealed-secrets.yaml"  # sealed mode: listed by the root kustomization when present

Compiled = tuple[Path, CompiledJob, Document]
Identity = tuple[str, str, str, str]  # API group, kind, namespace, name: kustomize's notion of "the same object"


@dataclass
class OutTree:
    """What one OUT should hold: directory -> {file -> text} (without markers), and where each came from."""

    jobs: dict[str, dict[str, str]] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)  # directory -> template(s), relative to the directory
    root_files: dict[str, str] = field(default_factory=dict)


@dataclass
class BuildResult:
    """The trees of every OUT a build touches, the jobs compiled, their warnings."""

    trees: dict[Path, OutTree] = field(default_factory=dict)  # resolved OUT -> its tree
    jobs: list[CompiledJob] = field(default_factory=list)
    warnings: list[Diagnostic] = field(default_factory=list)


def _resolved(path: Path) -> Path:
    """``path.resolve()``: a build asks it of every template several times, and each answer
    costs a walk of the path's links; pfgen/realpaths.py remembers them per component."""
    from pfgen.realpaths import resolved

    return resolved(path)


def compile_all(templates: list[Path], options: CompileOptions = CompileOptions(),
                cache: Optional["BuildCache"] = None) -> tuple[list[Compiled], list[Diagnostic]]:
    """Compile every template; collect all errors from all of them. With a ``cache``
    (pfgen/output/cache.py), a template whose inputs are unchanged is not compiled again."""
    compiled = []
    errors: list[Diagnostic] = []
    warnings: list[Diagnostic] = []
    for template in templates:
        hit = cache.lookup(template, options) if cache is not None else None
        if hit is not None:
            job, doc = hit
        else:
            try:
                doc = load_file(template, display_path(template))
                job = compile_document(doc, template, None, options)
            except UserError as exc:
                errors.extend(exc.diagnostics)
                continue
            if cache is not None:
                job = cache.record(template, options, job, doc)
        warnings.extend(job.diagnostics)
        compiled.append((template, job, doc))
    if errors:
        raise UserError(errors + warnings)
    return compiled, warnings


def group_templates(templates: list[Path], out: Optional[Path], extra_roots: Iterable[Path],
                    memo: Optional[dict] = None) -> dict[Path, list[Path]]:
    """Templates by OUT, completed with the templates that OUT's directories name. ``memo``: the
    command's pfgen.yaml lookups (config.find_config), if it keeps them."""
    from pfgen.output.write import recorded_sources

    groups: dict[Path, list[Path]] = {}
    errors: list[Diagnostic] = []
    seen = {real(t) for t in templates}
    memo = {} if memo is None else memo
    for template in templates:
        try:
            groups.setdefault(out_dir_for(template, out, memo), []).append(template)
        except UserError as exc:  # a broken pfgen.yaml
            errors.extend(exc.diagnostics)
    try:
        explicit = {checked_out(Path(os.path.abspath(out)))} if out is not None else set()
    except UserError as exc:
        errors.extend(exc.diagnostics)
        explicit = set()
    roots = set(groups) | {Path(r).resolve() for r in extra_roots} | explicit
    boundaries: dict[Path, Path] = {}  # OUT's parent -> its repository, looked up once per OUT
    for root in sorted(roots):
        groups.setdefault(root, [])
        if not root.is_dir():
            continue
        for name, source in recorded_sources(root).items():
            if name.startswith("_"):
                continue  # _shared/, _secrets/: made from several templates, not one job's
            problem = marker_problem(root, source, boundaries)
            if problem:
                errors.append(Diagnostic(display_path(root / name), 1, 1, problem))
                continue
            if real(source) in seen or not source.is_file():
                continue
            try:
                belongs = out_dir_for(source, out, memo) == root
            except UserError as exc:
                errors.extend(exc.diagnostics)
                continue
            if belongs:
                seen.add(real(source))
                groups[root].append(source)
    if errors:
        raise UserError(errors)
    return groups


def marker_problem(out: Path, source: Path, boundaries: Optional[dict] = None) -> Optional[str]:
    """Why the template a directory's markers name in OUT must not be read (None when it may be):
    it is not named like a template, or it is outside the repository OUT is in (a marker is text
    anyone can commit; following it out would read any file as a template)."""
    from pfgen import safefs

    if source.name not in TEMPLATE_NAMES:
        return (f"its pfgen markers name {str(source)!r} as the template, which is not a "
                f"{' or '.join(TEMPLATE_NAMES)}; pfgen does not read it (move the directory away)")
    boundary = boundaries.get(out.parent) if boundaries is not None else None
    if boundary is None:
        boundary = safefs.repository_root(out.parent)
        if boundaries is not None:
            boundaries[out.parent] = boundary
    if _plainly_inside(source, boundary):
        return None
    if not safefs.inside(source, boundary) or safefs.escaping_link(source, boundary) is not None:
        return (f"its pfgen markers name a template outside the repository ({safefs.shown(source)!r}); "
                "pfgen does not read it (move the directory away)")
    return None


def _plainly_inside(path: Path, boundary: Path) -> bool:
    """Whether ``path`` is below ``boundary``'s real path with no symbolic link anywhere on its way:
    then it is inside and no link leads it out (safefs.inside, safefs.escaping_link), and the
    answer comes from the real paths the build already looked up, one ``lstat`` per new directory
    (every job of a no-op or one-edit rebuild asks this of its directory's marker)."""
    full = os.path.abspath(path)
    if real(full) != full:
        return False  # a link somewhere (the boundary's own links too): the careful check decides
    base = real(boundary)
    return full.startswith(base.rstrip("/") + "/")


def build_trees(templates: list[Path], out: Optional[Path], options: CompileOptions = CompileOptions(),
                extra_roots: Iterable[Path] = (), cache: Optional["BuildCache"] = None) -> BuildResult:
    """Compile ``templates`` (and the rest of each OUT's templates) into one tree per OUT.

    ``extra_roots`` are OUT directories to bring up to date even when no
    template is found for them any more (their jobs are then removed).
    With a ``cache``, unchanged templates are served from it (pfgen/output/cache.py).
    """
    groups = group_templates(templates, out, extra_roots)
    everything = sorted({t for group in groups.values() for t in group}, key=lambda p: str(_resolved(p)))
    compiled, warnings = compile_all(everything, options, cache)
    by_template = {_resolved(template): (template, job, doc) for template, job, doc in compiled}
    result = BuildResult(warnings=warnings, jobs=[job for _, job, _ in compiled])
    errors: list[Diagnostic] = []
    for root in sorted(groups):
        entries = [by_template[_resolved(t)] for t in sorted(groups[root], key=lambda p: str(_resolved(p)))]
        try:
            result.trees[root] = layout(root, entries)
        except UserError as exc:
            errors.extend(exc.diagnostics)
    if cache is not None:
        cache.save()  # after layout: it may have dumped jobs the cache remembers too
    if errors:
        raise UserError(errors)
    return result


def check_clashes(compiled: list[Compiled]) -> None:
    """Raise the layout errors (clashing job names or objects) among ``compiled``, as validate reports them."""
    groups: dict[Path, list[Compiled]] = {}
    memo: dict = {}
    for entry in compiled:
        groups.setdefault(out_dir_for(entry[0], None, memo), []).append(entry)
    errors: list[Diagnostic] = []
    for _, entries in sorted(groups.items()):
        try:
            _arrange(entries)  # the checks of layout(), without dumping any file
        except UserError as exc:
            errors.extend(exc.diagnostics)
    if errors:
        raise UserError(errors)


def _identity(obj: dict) -> Identity:
    api = str(obj.get("apiVersion", ""))
    meta = obj.get("metadata") or {}
    return (api.rsplit("/", 1)[0] if "/" in api else "", str(obj.get("kind", "")),
            str(meta.get("namespace") or ""), str(meta.get("name", "")))


def _name_pos(doc: Document) -> tuple[int, int]:
    return doc.key_pos(("name",)) if "name" in doc.data else (1, 1)


def _arrange(entries: list[Compiled]) -> tuple[dict[str, Compiled], dict[Identity, dict], dict[Identity, list[Path]]]:
    """The jobs of one OUT by name, the objects several of them share (to hoist) and the templates
    sharing each; raises the clashes (one job name twice, different objects with one identity)."""
    errors: list[Diagnostic] = []
    owners: dict[str, Compiled] = {}
    for entry in entries:
        template, job, doc = entry
        name = job.plan.name
        if name in owners:
            other, _, other_doc = owners[name]
            for path, d, partner in ((other, other_doc, template), (template, doc, other)):
                line, col = _name_pos(d)
                errors.append(Diagnostic(d.file, line, col,
                                         f"job name '{name}' is also produced by {display_path(partner)}; "
                                         "give one of them another `name`"))
            continue
        owners[name] = entry
    if errors:
        raise UserError(errors)

    uses: dict[Identity, list[tuple[Compiled, dict]]] = {}
    for entry in owners.values():
        for obj in entry[1].objects:
            uses.setdefault(_identity(obj), []).append((entry, obj))
    hoisted: dict[Identity, dict] = {}
    sharers: dict[Identity, list[Path]] = {}
    for identity, found in sorted(uses.items()):
        if len({id(entry) for entry, _ in found}) < 2:
            continue
        (first, first_obj), expected = found[0], dump.canonical(found[0][1])
        clashes = [(e, o) for e, o in found[1:] if dump.canonical(o) != expected]
        group, kind, namespace, name = identity
        where = f" in namespace '{namespace}'" if namespace else ""
        for entry, _ in clashes:
            for d, partner in ((first[2], entry[0]), (entry[2], first[0])):
                errors.append(Diagnostic(d.file, 1, 1,
                                         f"{kind} '{name}'{where} is also produced, with different contents, by "
                                         f"{display_path(partner)}; jobs that share it must describe it identically, "
                                         "or give one of them another name"))
        if not clashes:
            hoisted[identity] = first_obj
            sharers[identity] = [entry[0] for entry, _ in found]
    if errors:
        raise UserError(errors)
    return owners, hoisted, sharers


def layout(root: Path, entries: list[Compiled]) -> OutTree:
    """The tree of one OUT: a directory per job, shared objects hoisted, the root kustomization."""
    owners, hoisted, sharers = _arrange(entries)
    tree = OutTree()
    for name, (template, job, _) in sorted(owners.items()):
        if any(_identity(obj) in hoisted for obj in job.objects):
            job = dataclasses.replace(job, objects=[o for o in job.objects if _identity(o) not in hoisted])
        tree.jobs[name] = job.files
        tree.sources[name] = os.path.relpath(_resolved(template), root / name)
    if hoisted:
        tree.jobs[SHARED] = files_for([hoisted[identity] for identity in sorted(hoisted)])
        templates = sorted({_resolved(t) for paths in sharers.values() for t in paths}, key=str)
        tree.sources[SHARED] = ", ".join(os.path.relpath(t, root / SHARED) for t in templates)
    jobs = [job for _, job, _ in owners.values()]  # in template order
    add_shared_secrets(tree, jobs)
    resources = sorted(tree.jobs)
    if any(job.secrets_mode == "sealed" for job in jobs) and (root / SEALED_FILE).is_file():
        resources.append(SEALED_FILE)  # kept by the user, made by `pfgen secrets --seal -o`
    if tree.jobs:
        tree.root_files["kustomization.yaml"] = dump.to_yaml(kustomization.build(resources))
    return tree


def add_shared_secrets(tree: OutTree, jobs: list[CompiledJob]) -> None:
    """External secrets mode: one ExternalSecret per Secret in OUT/_secrets/, merged across the jobs
    (jobs sharing a credential share its Secret; a docker Secret logs in to every job's registry)."""
    jobs = [job for job in jobs if job.secret_objects]
    if not jobs:
        return
    from pfgen.secrets.objects import shared_external_secrets

    objects = shared_external_secrets([(job.plan.namespace, job.plan.credentials, job.secrets_settings) for job in jobs])
    tree.jobs[SECRETS_DIR] = {"externalsecret.yaml": dump.to_yaml_stream(objects),
                              "kustomization.yaml": dump.to_yaml(kustomization.build(["externalsecret.yaml"]))}
    tree.sources[SECRETS_DIR] = "the credentials of all jobs below"
