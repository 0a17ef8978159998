"""Building many templates in bounded memory: compile job by job, keep only what crosses jobs.

``layout.build_trees`` used to hold every compiled job (plan, object trees,
document) until the end. This module compiles one template at a time and
keeps of each job only a :class:`Job` summary: its name and where the
template says it (job-name clashes), the identity and a digest of each
object (clashing and shared objects), its warnings, and the YAML text of each
object, dumped once. The layout rules are those of :mod:`pfgen.output.layout` (one
directory per job, identical objects of several jobs hoisted to
``_shared/``, the root kustomization); the file texts are exactly those of
``CompiledJob.files`` (``tests/output/test_stream.py`` compares them).

With the build cache (:mod:`pfgen.output.cache`), an unchanged template is not
compiled: its entry gives the summary without texts, and its directory is
left alone when it holds exactly the files recorded (the writer is told so
and neither compares nor prunes it). Anything else compiles the job.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from pfgen.output import dump
from pfgen.output.layout import SEALED_FILE, SECRETS_DIR, SHARED, group_templates
from pfgen.output.outdir import out_dir_for
from pfgen.realpaths import resolved as _resolved
from pfgen.emit import kustomization
from pfgen.errors import Diagnostic, UserError, display_path
from pfgen.load.document import load_file
from pfgen.pipeline import CompileOptions, compile_document
from pfgen.validate.config import config_for

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Container, Iterable, Optional

    from pfgen.output.cache import BuildCache
    from pfgen.pipeline import CompiledJob

Identity = tuple[str, str, str, str]


def _identity(obj: dict) -> Identity:
    api = str(obj.get("apiVersion", ""))
    meta = obj.get("metadata") or {}
    return (api.rsplit("/", 1)[0] if "/" in api else "", str(obj.get("kind", "")),
            str(meta.get("namespace") or ""), str(meta.get("name", "")))


def _ident_text(identity: Identity) -> str:
    return "\x1f".join(identity)


def object_digest(obj: dict) -> str:
    """Equal for objects that dump to the same YAML (canonical key order; 1, 1.0 and True differ)."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                                     default=repr).encode("utf-8", "surrogateescape")).hexdigest()


@dataclass
class Job:
    """What one job contributes to the steps that look at several jobs, and its texts while needed."""

    template: Path
    root: Path  # the OUT it goes to
    name: str
    display: str  # the template as named in messages
    pos: tuple[int, int]  # where the template gives its name
    objects: list[tuple[Identity, str, str]]  # identity, digest, file name (<kind>.yaml)
    warnings: list[Diagnostic]
    mode: str  # secrets mode
    texts: Optional[list[str]] = None  # each object's YAML (compiled jobs, until laid out)
    extra: dict[str, str] = field(default_factory=dict)  # Dockerfile, .dockerignore
    entry: Optional[dict] = None  # the cache entry it was served from
    secrets: Optional[Any] = None  # external secrets mode: the compiled job, needed across jobs
    prepared: Optional[tuple] = None  # cache key and dependency digests (compiled jobs)
    deps: Optional[list] = None  # [kind, path] of each dependency (pfgen/output/incremental.py: compiled or recorded)
    resolved: Optional[str] = None  # the template's real path, when known without looking it up
    source: Optional[str] = None  # the template as its directory's markers name it, when known
    row: Optional[list] = None  # the summary it was taken from (pfgen/output/incremental.py), while it holds


@dataclass
class Tree:
    """What one OUT should hold (see layout.OutTree), and the job directories known to hold it already.
    The job directories' texts carry pfgen's marker already (write_tree(headered=True)): each file
    is held once, as written, not once without and once with its marker (10,000 jobs: ~90 MB each)."""

    jobs: dict[str, dict[str, str]] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)
    root_files: dict[str, str] = field(default_factory=dict)
    unchanged: set[str] = field(default_factory=set)
    count: int = 0  # jobs (directories of templates) in this OUT


@dataclass
class Result:
    trees: dict[Path, Tree] = field(default_factory=dict)
    jobs: int = 0
    warnings: list[Diagnostic] = field(default_factory=list)
    inputs: Optional[Inputs] = None  # what the verdict depends on, when stats can vouch for all of it


@dataclass
class Inputs:
    """Every template of a build (resolved), the pfgen.yaml files and job dependencies it read
    (see pfgen/output/wholestamp.py)."""

    templates: list[str]
    configs: list[str]
    deps: list[list[str]]
    partial: Optional[dict] = None  # every job's summary and each _shared/'s texts (incremental.summaries)


def _inputs(jobs: list[Job], by_resolved: dict[Path, Path], cache: Optional[BuildCache]) -> Optional[Inputs]:
    """The Inputs of a build, or None when a job's dependencies are unknown (it was not cached) or a
    template is reached through a link (its path would not name the file stats were taken of)."""
    if cache is None or not cache.active:
        return None
    deps: dict[tuple[str, str], None] = {}
    for job in jobs:
        recorded = job.entry["deps"] if job.entry is not None else job.prepared[1] if job.prepared is not None else None
        if recorded is None:
            return None
        deps.update(((kind, path), None) for kind, path, _ in recorded)
    if any(os.path.abspath(given) != str(resolved) for resolved, given in by_resolved.items()):
        return None
    return Inputs(sorted(str(r) for r in by_resolved), sorted(str(c) for c in cache.configs_read()),
                  [[kind, path] for kind, path in sorted(deps)])


class Progress:
    """``compiling 1234/10000`` on a terminal's stderr, for builds that take a while; nothing otherwise."""

    def __init__(self, total: int, enabled: bool):
        self.total, self.done = total, 0
        self.enabled = enabled and total > 1
        self.start = time.monotonic()
        delay = os.environ.get("PFGEN_PROGRESS_DELAY", "")
        self.delay = float(delay) if delay.replace(".", "", 1).isdigit() else 0.5
        self.last = 0.0
        self.shown = False

    def step(self, what: str = "compiling") -> None:
        self.done += 1
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self.start >= self.delay and (now - self.last >= 0.1 or self.done == self.total):
            self.last = now
            sys.stderr.write(f"\rpfgen: {what} {self.done}/{self.total}")
            sys.stderr.flush()
            self.shown = True

    def close(self) -> None:
        if self.shown:
            sys.stderr.write("\r\x1b[K")
            sys.stderr.flush()
            self.shown = False


# --- one job -----------------------------------------------------------------------


def compile_one(template: Path, options: CompileOptions, root: Path, *, texts: bool,
                cache: Optional[BuildCache] = None, deps: bool = False, lookups: Optional[dict] = None) -> Job:
    """Compile ``template`` into a summary (raises UserError); with ``texts``, each object's YAML;
    with ``deps``, what it read besides the template and its pfgen.yaml (``Job.deps``). ``lookups``:
    the pfgen.yaml lookups of one command (config.find_config's memo)."""
    doc = load_file(template, display_path(template))
    job = compile_document(doc, template, config_for(template, lookups) if lookups is not None else None, options)
    return summarize(template, root, doc, job, texts=texts, cache=cache, options=options, deps=deps)


def summarize(template: Path, root: Path, doc: Any, job: CompiledJob, *, texts: bool,
              cache: Optional[BuildCache] = None, options: Any = None, deps: bool = False) -> Job:
    objects = [(_identity(o), object_digest(o), f"{o['kind'].lower()}.yaml") for o in job.objects]
    image = job.plan.workspace_image
    summary = Job(template, root, job.plan.name, doc.file,
                  doc.key_pos(("name",)) if "name" in doc.data else (1, 1), objects, list(job.diagnostics),
                  job.secrets_mode,
                  texts=[dump.to_yaml(o) for o in job.objects] if texts else None,
                  extra={"Dockerfile": image.dockerfile, ".dockerignore": image.dockerignore}
                  if image is not None and image.dockerfile is not None else {},
                  secrets=job if job.secret_objects else None)
    if cache is not None and not job.secret_objects:  # external secrets are merged across jobs: not cached
        summary.prepared = cache.prepare(template, options, job)
    if deps:
        from pfgen.output.cache import dependencies

        summary.deps = [[kind, path] for kind, path in dependencies(_resolved(template), job, options)]
    return summary


def from_entry(template: Path, root: Path, entry: dict) -> Job:
    return Job(template, root, entry["name"], entry["display"], (entry["pos"][0], entry["pos"][1]),
               [((o[0], o[1], o[2], o[3]), o[4], o[5]) for o in entry["objects"]],
               [Diagnostic(w[0], w[1], w[2], w[3], w[4]) for w in entry["warnings"]], entry["mode"], entry=entry)


def collect(templates: list[Path], roots: dict[Path, Path], options: CompileOptions, *, texts: bool,
            cache: Optional[BuildCache] = None, progress: Optional[Progress] = None) -> tuple[list[Job], list[Diagnostic]]:
    """Every template's summary (from the cache when it has one); raises every error of every template."""
    from pfgen.output import parallel

    found: list[Any] = [None] * len(templates)  # each template's Job, or its errors
    misses = []
    for index, template in enumerate(templates):
        root = roots[_resolved(template)]
        entry = cache.lookup(template, options, root) if cache is not None else None
        if entry is not None:
            found[index] = job = from_entry(template, root, entry)
            if not texts:  # validate keeps of an entry only what its record needs (10,000 entries: ~30 MB)
                job.entry = {"deps": entry["deps"]}
            if progress:
                progress.step()
        else:
            misses.append((index, template, root))

    # the directories every template's pfgen.yaml lookup goes up (in each worker its own copy)
    lookups: dict = cache.lookups if cache is not None else {}

    def run(task: tuple[int, Path, Path]) -> tuple[int, Any]:
        index, template, root = task
        try:
            return index, compile_one(template, options, root, texts=texts, cache=cache, lookups=lookups)
        except UserError as exc:
            return index, exc.diagnostics

    for index, outcome in parallel.run_all(misses, run):
        found[index] = outcome
        if progress:
            progress.step()
    if cache is not None:  # (a no-op for those compiled here)
        for _, template, _ in misses:
            cache.compiled_elsewhere(template)
    jobs: list[Job] = []
    errors: list[Diagnostic] = []
    warnings: list[Diagnostic] = []
    for outcome in found:  # in the templates' order, however they were compiled
        if isinstance(outcome, Job):
            warnings.extend(outcome.warnings)
            jobs.append(outcome)
        else:
            errors.extend(outcome)
    if errors:
        raise UserError(errors + warnings)
    return jobs, warnings


# --- across jobs --------------------------------------------------------------------


def arrange(jobs: list[Job]) -> tuple[dict[str, Job], dict[Identity, list[Job]]]:
    """The jobs of one OUT by name and, for each object several of them emit identically, its
    sharers; raises the clashes (one job name twice, different objects with one identity),
    with the messages of layout's _arrange."""
    errors: list[Diagnostic] = []
    owners: dict[str, Job] = {}
    for job in jobs:
        if job.name in owners:
            other = owners[job.name]
            for d, partner in ((other, job), (job, other)):
                errors.append(Diagnostic(d.display, d.pos[0], d.pos[1],
                                         f"job name '{job.name}' is also produced by {display_path(partner.template)}; "
                                         "give one of them another `name`"))
            continue
        owners[job.name] = job
    if errors:
        raise UserError(errors)
    uses: dict[Identity, list[tuple[Job, str]]] = {}
    for job in owners.values():
        for identity, digest, _ in job.objects:
            uses.setdefault(identity, []).append((job, digest))
    shared: dict[Identity, list[Job]] = {}
    for identity, found in sorted(uses.items()):
        if len({id(job) for job, _ in found}) < 2:
            continue
        first, expected = found[0]
        clashes = [job for job, digest in found[1:] if digest != expected]
        group, kind, namespace, name = identity
        where = f" in namespace '{namespace}'" if namespace else ""
        for job in clashes:
            for d, partner in ((first, job), (job, first)):
                errors.append(Diagnostic(d.display, 1, 1,
                                         f"{kind} '{name}'{where} is also produced, with different contents, by "
                                         f"{display_path(partner.template)}; jobs that share it must describe it identically, "
                                         "or give one of them another name"))
        if not clashes:
            shared[identity] = [job for job, _ in found]
    if errors:
        raise UserError(errors)
    return owners, shared


def files_of(job: Job, hoisted: Iterable[Identity] = ()) -> dict[str, str]:
    """The job's directory (CompiledJob.files without the ``hoisted`` objects)."""
    assert job.texts is not None
    skip = set(hoisted)
    by_kind: dict[str, list[str]] = {}
    for (identity, _, name), text in zip(job.objects, job.texts):
        if identity not in skip:
            by_kind.setdefault(name, []).append(text)
    files = {name: texts[0] if len(texts) == 1 else "".join("---\n" + t for t in texts) for name, texts in by_kind.items()}
    files["kustomization.yaml"] = _kustomization(tuple(sorted(by_kind)))
    files.update(job.extra)
    return dict(sorted(files.items()))


_KUSTOMIZATIONS: dict[tuple[str, ...], str] = {}


def _kustomization(resources: tuple[str, ...]) -> str:
    text = _KUSTOMIZATIONS.get(resources)
    if text is None:
        text = _KUSTOMIZATIONS[resources] = dump.to_yaml(kustomization.build(resources))
    return text


def _with_markers(files: dict[str, str], source: str) -> dict[str, str]:
    """The files as written: each with pfgen's marker naming ``source``."""
    from pfgen.output.markers import add_header

    return {rel: add_header(rel, text, source) for rel, text in files.items()}


def final_digest(text: str) -> str:
    """SHA-256 of a file as written (its text with the marker)."""
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()


def holds(directory: Path, expected: dict[str, str]) -> bool:
    """Whether ``directory`` is a real directory holding exactly the ``expected`` files of pfgen's (by
    SHA-256 of their bytes, regular files, not links) and no other file of pfgen's: what the writer
    would leave as it is. Foreign files do not count. Anything unusual is "no" (the writer decides)."""
    import stat

    from pfgen.output.markers import has_marker

    try:
        if not stat.S_ISDIR(os.lstat(directory).st_mode):
            return False
    except OSError:
        return False
    found = 0

    def walk(path: str, prefix: str) -> bool:
        nonlocal found
        try:
            entries = list(os.scandir(path))
        except OSError:
            return False
        for entry in entries:
            rel = prefix + entry.name
            if entry.is_dir(follow_symlinks=False):
                if not walk(entry.path, rel + "/"):
                    return False
                continue
            digest = expected.get(rel)
            if entry.is_symlink():
                if digest is not None:
                    return False
                continue
            try:
                with open(entry.path, "rb") as handle:
                    data = handle.read()
            except OSError:
                return False
            if digest is not None:
                if hashlib.sha256(data).hexdigest() != digest:
                    return False
                found += 1
            elif has_marker(data.decode("utf-8", "surrogateescape")):
                return False  # a file of pfgen's it would remove
        return True

    return walk(str(directory), "") and found == len(expected)


def _unchanged(cache: Optional[BuildCache], template: Path, directory: Path, files: dict[str, str]) -> bool:
    """holds(), answered by the cache's stamp of the directory when it has a current one."""
    if cache is None:
        return holds(directory, files)
    return cache.output_unchanged(template, directory, lambda: holds(directory, files))


def layout(root: Path, jobs: list[Job], options: CompileOptions, *, texts: bool,
           cache: Optional[BuildCache] = None, vouched: Container[str] = (),
           known_shared: Optional[dict[str, str]] = None, partial: Optional[dict] = None) -> Tree:
    """The tree of one OUT, as layout.layout makes it; served jobs whose directory is as recorded are
    only named in ``unchanged``, the others are compiled again here. For pfgen/output/incremental.py:
    the served jobs named in ``vouched`` hold what their entry says without being looked at (the
    whole-build record's stats say so), ``known_shared`` gives the texts of objects ``_shared/``
    held then, and ``partial`` ({"jobs": [], "shared": []}, one item per OUT laid out) receives this
    OUT's summaries (``summary_of``: None for a job whose dependencies are unknown) and _shared/ texts."""
    owners, shared = arrange(jobs)
    hoisted = set(shared)
    tree = Tree(count=len(owners))
    shared_texts: dict[Identity, str] = {}
    summaries: list = []

    def need_texts(job: Job) -> Job:
        if job.texts is not None:
            return job
        fresh = compile_one(job.template, options, root, texts=True, cache=cache, deps=partial is not None)
        owners[job.name] = fresh
        if cache is not None:
            cache.forget(job.template)
        return fresh

    # the objects to hoist, from any sharer that has its texts (compiling one only when none has)
    for identity in sorted(hoisted):
        sharers = shared[identity]
        key = _ident_text(identity)
        stored = next((dict(owners[j.name].entry["shared"]).get(key) for j in sharers  # type: ignore[index]
                       if owners[j.name].texts is None and owners[j.name].entry is not None), None)
        if stored is None and known_shared is not None:
            stored = known_shared.get(key)  # every sharer is as recorded: so is the object (its digest)
        if stored is not None and not any(owners[j.name].texts is not None for j in sharers):
            shared_texts[identity] = stored
            continue
        holder = next((j for j in sharers if owners[j.name].texts is not None), sharers[0])
        holder = need_texts(owners[holder.name])
        index = next(i for i, o in enumerate(holder.objects) if o[0] == identity)
        shared_texts[identity] = holder.texts[index]  # type: ignore[index]

    for name in sorted(owners):
        job = owners[name]
        source = job.source if job.source is not None else os.path.relpath(_real_of(job), root / name)
        mine = sorted(_ident_text(i) for i, _, _ in job.objects if i in hoisted)
        entry = job.entry
        if entry is not None and job.texts is None and not texts and entry["hoisted"] == mine \
                and (name in vouched or _unchanged(cache, job.template, root / name, entry["files"])):
            tree.unchanged.add(name)
            tree.sources[name] = source
            if partial is not None:
                summaries.append(summary_of(job, mine, source))
            continue
        job = need_texts(job)
        files = _with_markers(files_of(job, hoisted), source)
        tree.jobs[name] = files
        tree.sources[name] = source
        if cache is not None and job.prepared is not None:
            cache.record(job.template, job.prepared, {
                "name": job.name, "display": job.display, "pos": list(job.pos), "mode": job.mode, "out": str(root),
                "objects": [[*i, d, f] for i, d, f in job.objects], "hoisted": mine,
                "shared": [[_ident_text(i), text] for (i, _, _), text in zip(job.objects, job.texts) if i in hoisted],
                "warnings": [[w.file, w.line, w.col, w.message, w.severity] for w in job.warnings],
                "files": {rel: final_digest(text) for rel, text in files.items()}})
        job.texts = None  # laid out: the tree holds its files now
        owners[name] = job
        if partial is not None:
            summaries.append(summary_of(job, mine, source))

    if hoisted:
        by_kind: dict[str, list[str]] = {}
        for identity in sorted(hoisted):
            by_kind.setdefault(f"{identity[1].lower()}.yaml", []).append(shared_texts[identity])
        files = {n: t[0] if len(t) == 1 else "".join("---\n" + x for x in t) for n, t in by_kind.items()}
        files["kustomization.yaml"] = _kustomization(tuple(sorted(by_kind)))
        templates = sorted({_real_of(j) for sharers in shared.values() for j in sharers})
        tree.sources[SHARED] = ", ".join(map(relative_to(str(root / SHARED)), templates))
        tree.jobs[SHARED] = _with_markers(dict(sorted(files.items())), tree.sources[SHARED])
    # in template order
    secret_jobs = [j.secrets for j in sorted((j for j in owners.values() if j.secrets is not None),
                                             key=_real_of)]
    if secret_jobs:
        from pfgen.output.layout import OutTree, add_shared_secrets

        extra = OutTree()
        add_shared_secrets(extra, secret_jobs)
        tree.jobs.update({name: _with_markers(files, extra.sources.get(name, name)) for name, files in extra.jobs.items()})
        tree.sources.update(extra.sources)
    resources = sorted(set(tree.jobs) | tree.unchanged)
    if any(j.mode == "sealed" for j in owners.values()) and (root / SEALED_FILE).is_file():
        resources.append(SEALED_FILE)
    if tree.jobs or tree.unchanged:
        tree.root_files["kustomization.yaml"] = dump.to_yaml(kustomization.build(resources))
    if partial is not None:
        partial["jobs"].append(summaries)
        partial["shared"].append({_ident_text(i): text for i, text in shared_texts.items()})
    return tree


def complete(partial: Optional[dict]) -> bool:
    """Whether every job's summary in ``partial`` (see layout) is known."""
    return partial is not None and all(row is not None for rows in partial["jobs"] for row in rows)


def relative_to(base: str) -> Any:
    """``lambda path: os.path.relpath(path, base)`` for absolute, normalised paths (real paths), by
    their components: thousands of sharers' templates are named in one _shared/ marker."""
    if not base.startswith("/") or os.path.normpath(base) != base:
        return lambda path: os.path.relpath(path, base)
    above = [p for p in base.split("/") if p]

    def rel(path: str) -> str:
        if not path.startswith("/") or os.path.normpath(path) != path:
            return os.path.relpath(path, base)
        parts = [p for p in path.split("/") if p]
        n = 0
        for mine, theirs in zip(parts, above):
            if mine != theirs:
                break
            n += 1
        return "/".join([".."] * (len(above) - n) + parts[n:]) or "."

    return rel


def _has_directories(out: Path) -> bool:
    """Whether OUT holds a directory (not a hidden one: a lock or staging): one it wrote before, mostly."""
    try:
        with os.scandir(out) as listing:
            return any(not e.name.startswith(".") and e.is_dir(follow_symlinks=False) for e in listing)
    except OSError:
        return False


def _real_of(job: Job) -> str:
    return job.resolved if job.resolved is not None else str(_resolved(job.template))


def summary_of(job: Job, hoisted: list[str], source: str) -> Optional[list]:
    """What pfgen/output/incremental.py needs of a laid-out job to lay it out again without it:
    [template as given, its real path, name, display, line, col, secrets mode, objects, hoisted,
    warnings, dependencies, source]; None when its dependencies are not known."""
    if job.row is not None and job.row[8] == hoisted and job.row[11] == source:
        return job.row
    if job.deps is not None:
        deps = job.deps
    elif job.entry is not None and "deps" in job.entry:
        deps = [[kind, path] for kind, path, _ in job.entry["deps"]]
    elif job.prepared is not None:
        deps = [[kind, path] for kind, path, _ in job.prepared[1]]
    else:
        return None
    return [str(job.template), _real_of(job), job.name, job.display, job.pos[0], job.pos[1], job.mode,
            [[*i, d, f] for i, d, f in job.objects], hoisted,
            [[w.file, w.line, w.col, w.message, w.severity] for w in job.warnings], deps, source]


def build(templates: list[Path], out: Optional[Path], options: CompileOptions = CompileOptions(),
          extra_roots: Iterable[Path] = (), cache: Optional[BuildCache] = None, *, texts: bool = False,
          progress: bool = False) -> Result:
    """Compile ``templates`` (and the rest of each OUT's templates) into one tree per OUT, job by job.
    ``texts``: every job's files in the trees (for --verify), none left to the cache."""
    from pfgen import realpaths

    realpaths.clear()
    groups = group_templates(templates, out, extra_roots, cache.lookups if cache is not None else None)
    roots = {_resolved(t): root for root, group in groups.items() for t in group}
    everything = sorted(roots, key=str)
    by_resolved = {_resolved(t): t for group in groups.values() for t in group}
    meter = Progress(len(everything), progress)
    try:
        jobs, warnings = collect([by_resolved[r] for r in everything], roots, options, texts=True,
                                 cache=cache, progress=meter)
    finally:
        meter.close()
    result = Result(jobs=len(jobs), warnings=warnings)
    by_root: dict[Path, list[Job]] = {root: [] for root in groups}
    for job in jobs:
        by_root[job.root].append(job)
    errors: list[Diagnostic] = []
    # the summaries for the record's second file (pfgen/output/incremental.py), held to the end: when
    # most jobs came from the cache, or an OUT holds job directories already (a build after a pfgen
    # upgrade compiles every job and may write nothing); not in a cold build into an empty OUT, which
    # writes every job (its record is made by the next build): its peak memory does not grow
    partial: Optional[dict] = {"jobs": [], "shared": []} if cache is not None and cache.active and not texts \
        and (2 * sum(1 for job in jobs if job.entry is not None) >= len(jobs)
             or any(_has_directories(root) for root in by_root)) else None  # by OUT, in path order (the record's roots)
    for root in sorted(by_root):
        try:
            result.trees[root] = layout(root, by_root[root], options, texts=texts, cache=cache, partial=partial)
        except UserError as exc:
            errors.extend(exc.diagnostics)
    if cache is not None and not errors:
        cache.save()
        result.inputs = _inputs(jobs, by_resolved, cache)
        if result.inputs is not None and complete(partial):
            result.inputs.partial = partial
    if errors:
        raise UserError(errors + result.warnings)  # the templates' warnings too: every problem at once
    return result


def validate(templates: list[Path], cache: Optional[BuildCache] = None,
             inputs: Optional[list] = None) -> tuple[int, list[Diagnostic]]:
    """Compile every template (or take its summary from the build cache) and check the layout
    clashes among them; returns the number of templates and their warnings, raises the errors.
    ``inputs``, when given, receives the Inputs and the OUTs (a whole-command record's, see
    pfgen/output/wholestamp.py) when stats can vouch for them."""
    memo: dict = {}
    roots: dict[Path, Path] = {}
    errors: list[Diagnostic] = []
    for template in templates:
        try:
            roots[_resolved(template)] = out_dir_for(template, None, memo)
        except UserError as exc:
            errors.extend(exc.diagnostics)
    if errors:
        raise UserError(errors)
    jobs, warnings = collect(templates, roots, CompileOptions(tag_images=False), texts=False, cache=cache)
    by_root: dict[Path, list[Job]] = {}
    for job in jobs:
        by_root.setdefault(job.root, []).append(job)
    for _, group in sorted(by_root.items()):
        try:
            arrange(group)
        except UserError as exc:
            errors.extend(exc.diagnostics)
    if errors:
        raise UserError(errors + warnings)
    if inputs is not None:
        found = _inputs(jobs, {_resolved(t): t for t in templates}, cache)
        if found is not None:
            inputs.extend([found, sorted({str(job.root) for job in jobs})])
    return len(jobs), warnings
