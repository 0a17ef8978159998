"""A build after a few files changed: the whole-build record names them, only their jobs are compiled.

When an unchanged repository's build is answered by its record
(:mod:`pfgen.output.wholestamp`), one edited template still used to cost the
whole per-job path: finding every OUT's markers, looking up and checking the
cache entry and the output directory of every job. Here, when the record's
stats can still be taken (no recorded input is gone) but some differ, the record's second section says
what each differing stat stands for (``wholestamp.collect``'s marks, and a
hash of each recorded stat):

* a template's own stat: that template is compiled again;
* a directory between a template and its pfgen.yaml: every template below it is;
* a job dependency (a workspace, a directory a command enters): every job
  that recorded it is;
* anything inside a job's output directory (a hand edit, a file added): that
  job is compiled again, and the writer compares its directory as always; the
  template its markers name must be one the build already has (else the
  per-job path decides, as it would read it);
* an entry of OUT gone (a job renamed or its directory deleted: ``G`` in
  ``wholestamp._replay``): the job whose directory it was; the OUT's own stat:
  every entry it has that the record did not list must be the directory of a
  job compiled again (a renamed job's new one), its markers naming a template
  of the build;
* a root file of the OUT or ``_shared/``: the writer compares those on every build anyway.

Anything else (pfgen's own files, a pfgen.yaml, a directory above an OUT, a
job that moved to another OUT, now has errors or external secrets, more than
a quarter of the jobs) is the per-job path, which decides as without the
record. Every other job is laid out from its recorded summary, without
looking at its template or directory: the record's stats vouch that neither
changed. What crosses jobs is then done as on the per-job path
(``stream.layout``: name and object clashes, which objects go to
``_shared/``, a job whose objects stop being shared is compiled again and
rewritten, the root kustomization), and the writer compares and writes what
changed, so the output is the per-job path's byte for byte
(tests/output/test_incremental.py compares the two after each kind of
change). The build cache is neither read nor written here (a later per-job
build compiles the changed templates again); a build with nothing to write
records the new state, so the next one is answered by the record alone.
"""

from __future__ import annotations

import bisect
import os
from pathlib import Path

from pfgen.errors import Diagnostic, UserError, ordered

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Iterable, Optional

    from pfgen.output.build import Trees
    from pfgen.output.wholestamp import Record
    from pfgen.pipeline import CompileOptions

MIN_DIRTY = 64  # a rebuild compiles at most max(MIN_DIRTY, a quarter of the jobs); more go job by job
_HASH = 16  # hex digits of each stat's hash (wholestamp.part_hashes)


def rebuild(record: Record, options: CompileOptions, out: Optional[Path], found_warnings: list,
            found: Iterable[Path] = ()) -> Optional[Trees]:
    """The build's trees, compiling only what the record's differing stats name; None when the
    per-job path must decide (see the module's docstring). ``found``: the templates discovery found
    (their Path objects are reused for the jobs laid out from their summaries)."""
    from pfgen.output.build import Trees
    from pfgen.output.stream import Inputs

    if record.near is None:
        return None
    recorded, stats, marks = record.near
    section = record.section()
    if not _valid(section, recorded) or section["marks"] != marks:
        return None
    changed = _changed(stats.parts, section["hashes"])
    answer = _dirty(stats.parts, changed, marks, section, recorded) if changed is not None else None
    if answer is None:
        return None
    dirty, added = answer
    built = _lay_out(dirty, added, section, recorded, options, out, {str(t): t for t in found})
    if built is None:
        return None
    record.changed = changed  # (a record of the new state may be made of the stats taken: Record.save)
    trees, jobs, partial = built
    warnings = ordered([*found_warnings, *(w for job in jobs for w in job.warnings)])
    deps = sorted({(kind, path) for rows in partial["jobs"] for row in rows for kind, path in row[10]})
    inputs = Inputs(list(recorded["templates"]), list(recorded["configs"]), [[kind, path] for kind, path in deps],
                    partial=partial)
    return Trees(trees, len(jobs), warnings, inputs)


def _changed(parts: list[str], hashes: str) -> Optional[list[int]]:
    """The indices of the stats whose hash is not the recorded one (None: not the same stats)."""
    from pfgen.output.wholestamp import part_hashes

    now = part_hashes(parts)
    if len(now) != len(hashes):
        return None
    if now == hashes:
        return []
    return [i for i in range(len(parts)) if now[i * _HASH:(i + 1) * _HASH] != hashes[i * _HASH:(i + 1) * _HASH]]


def _dirty(parts: list[str], changed: list[int], marks: list, section: dict,
           recorded: dict) -> Optional[tuple[set[str], dict[int, set[str]]]]:
    """The real paths of the templates to compile again, and the entries each OUT (by its index)
    has that its record did not list (each must be the directory of a job compiled again: checked
    once they are compiled); None when the per-job path decides."""
    from pfgen.output.layout import SHARED

    roots: list[str] = recorded["roots"]
    templates: list[str] = recorded["templates"]
    names = [{row[2]: row for row in rows} for rows in section["jobs"]]
    starts = [m[0] for m in marks]
    dirty: set[str] = set()
    dirs: set[str] = set()
    deps: set[str] = set()
    outputs: list[tuple[int, str]] = []
    added: dict[int, set[str]] = {}
    for i in changed:
        start, kind, n = marks[bisect.bisect_right(starts, i) - 1]
        label, _, rest = parts[i].partition("\0")
        gone = label == "G"  # (wholestamp._replay: an entry of OUT it recorded is not there any more)
        if gone:
            label = rest
        if kind == "template":
            if label == "T " + templates[n]:
                dirty.add(templates[n])
            elif label.startswith("A "):
                dirs.add(label[2:])
            else:
                return None
        elif kind == "dep":
            deps.add(recorded["deps"][n][1])
        elif kind == "out":
            path = roots[n]
            if i == start:  # the OUT's own stat: an entry renamed in, or one added or removed
                new = _added(path, recorded["listings"][n]) if label == "O " + path else None
                if new is None:
                    return None
                added[n] = new
                continue
            if not label.startswith(path + "/"):
                return None
            rel = label[len(path) + 1:]
            name, _, below = rel.partition("/")
            if name in names[n]:
                outputs.append((n, name))
            elif (name == SHARED and not gone) or (not below and _regular(label)):
                continue  # compared by the writer on every build
            else:
                return None  # a directory of no job's (it could come to hold pfgen's markers)
        else:
            return None
    known = set(templates)
    for n, name in outputs:
        if not _marker_known(Path(roots[n]), name, known):
            return None
        dirty.add(names[n][name][1])
    if dirs or deps:
        for rows in section["jobs"]:
            for row in rows:
                if any(row[1].startswith(d.rstrip("/") + "/") for d in dirs) or any(p in deps for _, p in row[10]):
                    dirty.add(row[1])
    total = sum(len(rows) for rows in section["jobs"])
    if len(dirty) > max(MIN_DIRTY, total // 4):
        return None
    for n, new in added.items():
        if not all(_marker_known(Path(roots[n]), name, known) for name in new):
            return None
    return dirty, added


def _added(root: str, listed: list) -> Optional[set[str]]:
    """The entries OUT ``root`` holds that its record did not list (the first directory listed is
    OUT); None when that cannot be told. (An entry it listed that is gone shows as a part of its own,
    ``G``, which the rules of :func:`_dirty` take as any other.)"""
    if not listed or listed[0][0] != root:
        return None
    try:
        return set(os.listdir(root)) - set(listed[0][1])
    except OSError:
        return None


def _regular(path: str) -> bool:
    import stat

    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False


def _marker_known(root: Path, name: str, templates: set[str]) -> bool:
    """Whether the template the markers of OUT/``name`` name is one of the build's (or none, or no file):
    otherwise the per-job path reads it (layout.group_templates), or refuses it."""
    from pfgen.output.layout import marker_problem
    from pfgen.output.write import recorded_source
    from pfgen.realpaths import real

    directory = root / name
    named = recorded_source(directory) if directory.is_dir() and not directory.is_symlink() else None
    if named is None:
        return True
    if marker_problem(root, named) is not None:
        return False
    return real(named) in templates or not named.is_file()


def _lay_out(dirty: set[str], added: dict[int, set[str]], section: dict, recorded: dict, options: CompileOptions,
             out: Optional[Path], paths: dict) -> Optional[tuple[list, list, dict]]:
    """(the trees, every job, the new second section's summaries), or None (also when an entry
    added to an OUT is not the directory of a job compiled here)."""
    from pfgen import realpaths
    from pfgen.output.outdir import out_dir_for
    from pfgen.output.stream import compile_one, complete, layout
    from pfgen.validate.config import find_config

    realpaths.clear()
    configs = set(recorded["configs"])
    warnings = recorded["report"]["warnings"]
    memo: dict = {}
    trees = []
    everything = []
    partial: dict = {"jobs": [], "shared": []}
    for n, rows in enumerate(section["jobs"]):
        root = Path(recorded["roots"][n])
        jobs = []
        vouched = set()
        for row in sorted(rows, key=lambda row: row[1]):  # template order, as stream.build's
            if row[1] not in dirty:
                jobs.append(_from_summary(row, root, warnings, paths))
                vouched.add(row[2])
                continue
            template = Path(row[0])
            try:
                if out_dir_for(template, out, memo) != root:
                    return None  # it moved to another OUT
                job = compile_one(template, options, root, texts=True, deps=True, lookups=memo)
            except UserError:
                return None  # the per-job path reports every error at once
            config = find_config(Path(row[1]).parent, memo)
            if job.secrets is not None or (config is not None and str(config) not in configs):
                return None
            jobs.append(job)
        if not added.get(n, set()) <= {job.name for job in jobs if job.texts is not None}:
            return None
        try:
            trees.append((root, layout(root, jobs, options, texts=False, vouched=vouched,
                                       known_shared=section["shared"][n], partial=partial)))
        except UserError:
            return None
        everything.extend(jobs)
    return (trees, everything, partial) if complete(partial) else None


def _from_summary(row: list, root: Path, reported: list, paths: dict) -> Any:
    """A laid-out job as its summary (stream.summary_of) recorded it; ``row`` is made one again (its
    display, its warnings as in ``reported``, the record's report: Record.save wrote their indices)."""
    from pfgen.output.stream import Job

    given, resolved, name, display, line, col, mode, objects, hoisted, indices, deps, source = row
    row[3] = display = display or given
    row[9] = warnings = [reported[i] for i in indices]
    template = paths.get(given)
    return Job(template if template is not None else Path(given), root, name, display, (line, col), [((o[0], o[1], o[2], o[3]), o[4], o[5]) for o in objects],
               [Diagnostic(w[0], w[1], w[2], w[3], w[4]) for w in warnings], mode,
               entry={"hoisted": hoisted, "shared": []}, deps=deps, resolved=resolved, source=source, row=row)


def _valid(section: Any, recorded: dict) -> bool:
    """The shape Record.save writes (anything else is the per-job path, even with a valid MAC)."""
    if not isinstance(section, dict):
        return False
    roots = len(recorded["roots"])
    marks, hashes, jobs, shared = (section.get(k) for k in ("marks", "hashes", "jobs", "shared"))
    if not (isinstance(marks, list) and isinstance(hashes, str) and isinstance(jobs, list) and isinstance(shared, list)
            and len(jobs) == roots and len(shared) == roots):
        return False
    bounds = {"tool": 1, "config": len(recorded["configs"]), "template": len(recorded["templates"]),
              "dep": len(recorded["deps"]), "out": roots, "above": roots, "top": len(recorded["tops"])}
    if not all(isinstance(m, list) and len(m) == 3 and type(m[0]) is int and isinstance(m[1], str)
               and type(m[2]) is int and 0 <= m[2] < bounds.get(m[1], 0) for m in marks):
        return False
    if any(b[0] < a[0] for a, b in zip(marks, marks[1:])) or (marks and marks[0][0] != 0):
        return False
    if not all(isinstance(texts, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in texts.items())
               for texts in shared):
        return False
    reported = len(recorded["report"]["warnings"])
    return all(isinstance(rows, list) and all(_row(row, reported) for row in rows) for rows in jobs)


def _row(row: Any, reported: int) -> bool:
    """A job's summary (stream.summary_of), checked field by field: plain loops (10,000 of them)."""
    if type(row) is not list or len(row) != 12:
        return False
    given, resolved, name, display, line, col, mode, objects, hoisted, warnings, deps, source = row
    if not (type(given) is str and type(resolved) is str and resolved[:1] == "/" and type(name) is str
            and type(display) is str and type(line) is int and type(col) is int and type(mode) is str
            and type(source) is str and type(objects) is list and type(hoisted) is list
            and type(deps) is list and type(warnings) is list):
        return False
    for o in objects:
        if type(o) is not list or len(o) != 6:
            return False
        for v in o:
            if type(v) is not str:
                return False
    for h in hoisted:
        if type(h) is not str:
            return False
    for d in deps:
        if type(d) is not list or len(d) != 2 or type(d[0]) is not str or type(d[1]) is not str:
            return False
    for w in warnings:  # indices into the record's report (Record.save)
        if type(w) is not int or not 0 <= w < reported:
            return False
    return True
