"""One stamp for a whole command: serving an unchanged repository without any per-job work.

The per-job stamps of :mod:`pfgen.output.cache` spare reading files, but a
build still spends about a millisecond of Python per job (decoding its entry,
finding its OUT and config, the markers of its directory, the writer's
scan). When a ``build`` or ``build --check`` ends with nothing to change (or
a ``validate`` with no error), this module records, under a key over what
the command was asked (pfgen's source, the working directory, the paths, the
output directory, the options, and the templates discovery found), the
``lstat`` of every file and directory the verdict depends on, and the report
(warnings, job counts):

* every template of the build (the discovered ones, and those OUT's markers
  named), and every directory from each template's up to the one holding its
  pfgen.yaml (to ``/`` when there is none): creating, removing or renaming
  anything in such a directory (a pfgen.yaml nearer the template, the
  directory a command enters) changes its mtime and ctime;
* every pfgen.yaml read, and every file and directory below each recorded
  dependency of a job (workspaces; see ``cache.dependencies``);
* for ``validate``, each OUT itself (``check_out`` refuses one that is a link out of the
  repository or a file) and the directories above it up to its repository's root;
* for ``build``, every OUT and everything below it, links not followed
  (hand edits, deleted and foreign files, an interrupted build's staging
  directories), and the directories above it up to its repository's root.
  The OUT is listed when the record is made; the next command takes the
  stats of the entries recorded then, without listing any directory again
  (:func:`_replay`): while a directory's own stat is the same, so are its
  entries (creating, removing or renaming one changes its mtime and ctime).

pfgen's own source and data files and PyYAML's are covered by their stats too (what
``cache.tool_key`` hashes, without reading or importing them). The next identical command checks those stats, in the same order, against
the recorded stamp (an HMAC under the cache secret, as every entry is) and,
when every one is the same, reports the recorded result without compiling,
decoding or comparing anything. Discovery's answer (with git's ignore rules)
is part of the key; it has a record of its own (:class:`Discovery`): the stats
of every directory it listed, git asked again and its answer compared. Any difference, or a link
where a directory or template is expected (then the path would not be the
file), is a miss and the command runs as without this record. Stats of
files changed less than ``cache.RACY_NS`` before the command started are
never recorded (see "Stamps" in cache.py), and a file changed while the
command ran has a ctime after its start, so the record is only ever made of
stats taken of the files the command itself read.

Each record is one JSON file (data only) in the cache directory, named by
the working directory and the key's MAC, authenticated, bounded in size; at
most :data:`MAX_RECORDS` per working directory are kept (the oldest go
first). Anything malformed, oversized, a link or a special file is a miss.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import stat
import sys

from pfgen.output import cache

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Iterable, Optional

FORMAT = 3  # 2: the OUTs' listings recorded (_replay), and the discovery record; 3: a build's second section
MAX_RECORDS = 8  # per working directory (build, build of a subtree, validate, ...): the newest are kept
MAX_FILE_BYTES = 32 << 20  # one record
_CONFIGS = ("pfgen.yaml", "pfgen.yml")


def _file(name: str, kind: str = "whole") -> str:
    """The record file of the key named ``name`` (a MAC, or a hash) in the current working directory."""
    from pfgen.output.cachedir import records_prefix

    return f"{records_prefix(kind)}{name[:32]}.json"


class Unstampable(Exception):
    """Something the stats cannot vouch for (a link, a volatile workspace): never record or serve."""


def _ancestors(start: str, stops: set, found: dict, stats: cache.Stats) -> None:
    """lstat ``start`` and its parents, up to (and with) the first directory in ``stops`` or already
    seen; the directories above that are only checked to be directories, not links (their other
    entries do not matter, but a link would make the path name another file)."""
    directory = start
    stamped = True
    while found.get(directory, -1) < stamped:
        st = os.lstat(directory)
        if not stat.S_ISDIR(st.st_mode):
            raise Unstampable(directory)
        found[directory] = stamped
        if stamped:
            stats.add("A " + directory, st)
        if directory in stops:
            stamped = False
        parent = os.path.dirname(directory)
        if parent == directory:
            return
        directory = parent


def _walk(root: str, stats: cache.Stats, label: str, skip: str = "", listed: Optional[list] = None) -> None:
    """lstat ``root`` and every entry below it (but directories named ``skip``), links not followed,
    in name order; a missing ``root`` counts as missing (making it changes its parent, stamped too).
    With ``listed``, [directory, its entries' names] is appended to it for each directory listed, in
    the order they were listed (what :func:`_replay` needs)."""
    try:
        top = os.lstat(root)
    except FileNotFoundError:
        stats.parts.append(f"M\0{label}{root}")
        return
    if not stat.S_ISDIR(top.st_mode):
        raise Unstampable(root)
    stats.add(label + root, top)
    stack = [root]
    while stack:
        path = stack.pop()
        with os.scandir(path) as listing:
            entries = sorted(listing, key=lambda e: e.name)
        if listed is not None:
            listed.append([path, [e.name for e in entries if e.name != skip]])
        for entry in entries:
            if entry.name == skip:
                continue
            st = entry.stat(follow_symlinks=False)
            stats.add(entry.path, st)
            if stat.S_ISDIR(st.st_mode):
                stack.append(entry.path)


def _replay(root: str, stats: cache.Stats, label: str, listed: list) -> None:
    """The stats :func:`_walk` takes, in the same order, without listing a directory again: the
    entries of each directory are the ones ``listed`` recorded. While a directory's own stat is
    as recorded (taken with its parent's entries, or first for ``root``), so are its entries (their
    names, and the inodes behind them: creating, removing or renaming one changes the directory's
    mtime and ctime); an entry gone is a part of its own (``G``, no stat: never a recorded one),
    anything else changed is another stat."""
    try:
        top = os.lstat(root)
    except FileNotFoundError:
        if listed:
            raise
        stats.parts.append(f"M\0{label}{root}")
        return
    if not stat.S_ISDIR(top.st_mode):
        raise Unstampable(root)
    stats.add(label + root, top)
    add, lstat, parts = stats.add, os.lstat, stats.parts
    for path, names in listed:
        prefix = path if path.endswith("/") else path + "/"  # as os.path.join, and so scandir's entry.path
        for name in names:
            entry = prefix + name
            try:
                st = lstat(entry)
            except FileNotFoundError:  # gone: a stat that differs (removing it changed its directory's too)
                parts.append(f"G\0{entry}")
                continue
            add(entry, st)


def _tool(stats: cache.Stats) -> None:
    """What cache.tool_key hashes, by its stats: every file of pfgen's package and shipped data (as
    cache.source_hash reads them) and of PyYAML (its version and libyaml binding), without reading
    or importing any of them."""
    import importlib.util

    import pfgen
    from pfgen.resources import data_dir

    roots = [os.path.dirname(os.path.realpath(pfgen.__file__))]
    for name in ("schemas", "templates"):
        try:
            roots.append(os.path.realpath(data_dir(name)))
        except FileNotFoundError:
            stats.parts.append(f"N\0{name}")
    for module in ("yaml", "_yaml"):
        spec = importlib.util.find_spec(module)
        if spec is None or not spec.submodule_search_locations:
            stats.parts.append(f"N\0{module}\0{spec.origin if spec is not None else ''}")
        else:
            roots.extend(os.path.realpath(p) for p in spec.submodule_search_locations)
    for root in roots:
        _walk(root, stats, "S ", skip="__pycache__")


def _git_root(start: str) -> set:
    """The nearest directory at or above ``start`` holding .git (safefs.repository_root), as a stop."""
    directory = start
    while True:
        if os.path.lexists(os.path.join(directory, ".git")):
            return {directory}
        parent = os.path.dirname(directory)
        if parent == directory:
            return set()
        directory = parent


def collect(templates: Iterable[str], configs: Iterable[str], deps: Iterable[list], roots: Iterable[str],
            tops: Iterable[str] = (), listings: Optional[list] = None, replay: bool = False,
            marks: Optional[list] = None) -> cache.Stats:
    """The stats a record covers (see the module's docstring); raises Unstampable or OSError. With
    ``listings`` (a list), what each OUT's walk listed is appended to it, one list per root; with
    ``replay`` too, those recorded lists are the entries, and no OUT is listed (:func:`_replay`).
    With ``marks`` (a list), [index of its first stat, kind, n] is appended to it for each thing
    covered, in order (kinds: tool, config, template, dep, out, above, top; n: its place among the
    configs, templates, deps, roots or tops given): what a stat that differs stands for
    (pfgen/output/incremental.py)."""
    from pfgen import safefs
    from pfgen.realpaths import real

    stats = cache.Stats()

    def mark(kind: str, n: int) -> None:
        if marks is not None:
            marks.append([len(stats.parts), kind, n])

    mark("tool", 0)
    _tool(stats)
    configs = list(configs)
    stops = {os.path.dirname(c) for c in configs}
    for n, config in enumerate(configs):
        mark("config", n)
        st = os.lstat(config)
        if not stat.S_ISREG(st.st_mode):
            raise Unstampable(config)
        stats.add("C " + config, st)
    seen: dict = {}
    for n, template in enumerate(templates):
        mark("template", n)  # its stat, then those of the directories above it not covered yet
        st = os.lstat(template)
        if not stat.S_ISREG(st.st_mode):
            raise Unstampable(template)
        stats.add("T " + template, st)
        _ancestors(os.path.dirname(template), stops, seen, stats)
    for n, (kind, path) in enumerate(deps):
        mark("dep", n)
        if kind == "isdir":
            stats.parts.append(f"D\0{path}\0{cache.digest_isdir(path)}")
        elif kind == "tree":
            if os.path.islink(path) or not os.path.isdir(path):
                raise Unstampable(path)
            stats.parts.append(f"R\0{path}\0{real(path)}")
            for rel, st in safefs.walk(path):
                stats.add(f"F {path}/{rel}", st)
        else:
            raise Unstampable(kind)
    for n, root in enumerate(roots):
        mark("out", n)  # the OUT's own stat, then every entry below it
        if replay:
            assert listings is not None
            _replay(root, stats, "O ", listings[n])
        else:
            listed: Optional[list] = None
            if listings is not None:
                listed = []
                listings.append(listed)
            _walk(root, stats, "O ", listed=listed)
        mark("above", n)
        _ancestors(os.path.dirname(root), _git_root(os.path.dirname(root)), seen, stats)
    for n, top in enumerate(tops):  # an OUT whose files do not matter (validate), only what it is and where
        mark("top", n)
        try:
            st = os.lstat(top)
        except FileNotFoundError:
            stats.parts.append(f"M\0{top}")
        else:
            if not stat.S_ISDIR(st.st_mode):
                raise Unstampable(top)
            stats.add("P " + top, st)
        _ancestors(os.path.dirname(top), _git_root(os.path.dirname(top)), seen, stats)
    return stats


class Record:
    """The record file of the working directory, and the one record of this command's key.

    A build's record has a second file beside it, separately authenticated and bound to the record
    by its stamp, read only when the stats differ: what :mod:`pfgen.output.incremental` needs to
    rebuild the few jobs that changed (where each stat came from, a hash of each, every job's
    summary, the texts in each ``_shared/``)."""

    def __init__(self, parts: list[str]):
        self.key = cache.secret() if cache.enabled() else None
        self.context = "\n".join([f"format={FORMAT}", f"cache={cache.FORMAT}", f"python={sys.version}",
                                  f"cwd={os.getcwd()}", *parts])  # pfgen's own files: by their stats (_tool)
        name = self._mac(self.context) if self.key is not None else None
        self.path = _file(name) if name is not None else None
        self.part_path = _file(name, "part") if name is not None else None
        self.near: Optional[tuple[dict, cache.Stats, list]] = None  # a record whose stats differ (see serve)
        self.changed: Optional[list[int]] = None  # which of near's stats differ (set by incremental.rebuild)

    def _mac(self, text: str) -> str:
        assert self.key is not None
        return hmac.new(self.key, text.encode("utf-8", "surrogateescape"), hashlib.sha256).hexdigest()

    def serve(self) -> Optional[dict]:
        """The recorded report when every stat is as recorded; None otherwise. When the stats could be
        taken but some differ, ``near`` keeps (the record, the stats of now, their marks) for
        :func:`pfgen.output.incremental.rebuild`."""
        from pfgen import safefs

        if self.path is None:
            return None
        record = _unseal(_read(self.path), self._mac, "record", self.context)
        if not _valid(record):
            return None
        marks: list = []
        try:
            stats = collect(record["templates"], record["configs"], record["deps"], record["roots"], record["tops"],
                            record["listings"], replay=True, marks=marks)
        except (OSError, Unstampable, ValueError, safefs.Refused):
            return None
        if not hmac.compare_digest(record["stamp"], self._mac("stats\0" + self.context + "\0" + stats.text())):
            self.near = (record, stats, marks)
            return None
        return record["report"]

    def section(self) -> Any:
        """The second file of the record ``near`` holds, as JSON data (None: missing, hostile, not this
        record's, or not JSON)."""
        if self.near is None or self.part_path is None:
            return None
        return _unseal(_read(self.part_path), self._mac, "part", self.context + "\0" + self.near[0]["stamp"])

    def save(self, templates: list[str], configs: list[str], deps: list[list], roots: list[str], report: dict,
             tops: list[str] = (), partial: Optional[dict] = None) -> bool:
        """Record ``report`` with the stats of now; False (nothing written) when any of them is too recent
        to be trusted or cannot be covered. ``partial``: the jobs' summaries (their warnings as
        found in ``report``) and ``_shared/`` texts of a build (see :mod:`pfgen.output.incremental`),
        recorded in the second file with the marks and a hash of each stat."""
        from pfgen import safefs

        if self.path is None or (self.near is not None and self.near[1].fresh):
            return False  # (a file this command found changed too recently is one of those the record covers)
        marks: Optional[list] = [] if partial is not None else None
        tops = list(tops)
        reused = self._as_served(templates, configs, deps, roots, tops)
        if reused is not None:
            stats, listings, marks = reused
        else:
            try:
                listings = []
                stats = collect(templates, configs, deps, roots, tops, listings, marks=marks)
            except (OSError, Unstampable, ValueError, safefs.Refused):
                return False
        if stats.fresh:
            return False
        record = {"templates": templates, "configs": configs, "deps": deps, "roots": roots, "tops": tops,
                  "listings": listings, "report": report,
                  "stamp": self._mac("stats\0" + self.context + "\0" + stats.text())}
        data = _seal(self._mac, "record", self.context, record)
        if data is None:
            return False
        if partial is not None and self.part_path is not None:
            jobs = _by_index(partial["jobs"], report["warnings"])
            second = None if jobs is None else _seal(
                self._mac, "part", self.context + "\0" + record["stamp"],
                {"jobs": jobs, "shared": partial["shared"], "marks": marks, "hashes": part_hashes(stats.parts)})
            if second is not None:
                _write(self.part_path, second)  # first: a record is never newer than its second file
        return _write(self.path, data)

    def _as_served(self, templates: list[str], configs: list[str], deps: list[list], roots: list[str],
                   tops: list[str]) -> Optional[tuple[cache.Stats, list, list]]:
        """The stats :meth:`serve` took (before this command read anything), its listings and marks,
        when they are what :func:`collect` would take now: the same things covered, and every
        directory below an OUT whose stat differs from the record still holds the names recorded
        (while a directory's stat is the same, so are its entries). A build that wrote has changes
        and saves no record; one that did not spares listing the OUT again."""
        if self.near is None or self.changed is None:
            return None
        record, stats, marks = self.near
        if (templates, configs, deps, roots, tops) != (record["templates"], record["configs"], record["deps"],
                                                     record["roots"], record["tops"]):
            return None
        listed = {path: names for listing in record["listings"] for path, names in listing}
        for i in self.changed:
            label = stats.parts[i].split("\0", 1)[0]
            if label == "G":
                return None  # an entry gone: its directory lists other names
            path = label[2:] if label.startswith("O ") else label
            names = listed.get(path)
            if names is None:
                continue  # a file, or a directory above the OUTs (its entries are not recorded)
            try:
                if sorted(os.listdir(path)) != names:
                    return None
            except OSError:
                return None
        return stats, record["listings"], marks


def _by_index(jobs: list[list], warnings: list[list]) -> Optional[list]:
    """The jobs' summaries with each warning as its index in the report's ``warnings`` (which holds every
    job's: a job's summary would otherwise repeat each message); None if one is not there."""
    index = {(w[0], w[1], w[2], w[3], w[4]): i for i, w in enumerate(warnings)}
    out = []
    try:
        for rows in jobs:
            out.append([[*row[:3], "" if row[3] == row[0] else row[3], *row[4:9],
                         [index[(w[0], w[1], w[2], w[3], w[4])] for w in row[9]], *row[10:]] for row in rows])
    except KeyError:
        return None
    return out


def part_hashes(parts: list[str]) -> str:
    """A 16-hex-digit hash of each stat, concatenated (where a record's stats differ from those of now)."""
    blake2b = hashlib.blake2b
    return "".join([blake2b(p.encode("utf-8", "surrogateescape"), digest_size=8).hexdigest() for p in parts])


class Discovery:
    """The record of one discovery (``discover.find_jobs``): its answer (templates, output
    directories, what it found wrong) and the stats of every directory it listed, of every
    virtualenv it left out (and its pyvenv.cfg) and of pfgen's own files; git's answer (the
    ignored paths below each directory walked) is compared, not recorded: git is asked again,
    in a process running while the stats are taken. Same stats and same git answer, the same
    walk would find the same (see ``discover.Trace``); anything else is a miss and discovery
    runs. The file is named by a hash of the question (so that looking for it needs no secret);
    its text and its stamp are authenticated as a :class:`Record`'s."""

    def __init__(self, paths: list, outputs: Optional[str], skip: list, known: Optional[dict] = None,
                 asking: bool = True):
        """``known``: context -> git's answers, taken in this command by a record of the same question
        that did not hold (see :meth:`confirm`); the one for this question is taken out of it. Without
        ``asking``, git is not started (a record only to be saved, with the answers its walk took)."""
        from pfgen.load.discover import ask_git

        self.paths, self.outputs, self.skip = list(paths), outputs, list(skip)
        roots = [[str(p), p.is_dir(), os.path.realpath(p)] for p in self.paths]
        self.context = json.dumps({"format": FORMAT, "python": sys.version, "cwd": os.getcwd(), "outputs": outputs,
                                   "skip": [os.path.realpath(p) for p in self.skip], "roots": roots},
                                  ensure_ascii=True)
        self.walked = sorted({str(p) for p in self.paths if p.is_dir()})
        self.ignored: dict = (known or {}).pop(self.context, {})  # else git runs while the record is checked
        self.asked = {} if self.ignored or not asking else {root: ask_git(root) for root in self.walked}
        name = hashlib.sha256(self.context.encode("utf-8", "surrogateescape")).hexdigest()
        self.path = _file(name, "found")
        self.key: Optional[bytes] = None  # read only when a record is there to check, or one is written
        self.pending: Optional[tuple[str, cache.Stats]] = None

    def _mac(self, text: str) -> str:
        assert self.key is not None
        return hmac.new(self.key, text.encode("utf-8", "surrogateescape"), hashlib.sha256).hexdigest()

    def _answers(self) -> dict:
        """git's answer for each directory walked (waiting for it), kept for a discovery that runs after."""
        from pfgen.load.discover import git_answer

        if not self.ignored:
            self.ignored = {root: git_answer(proc) for root, proc in self.asked.items()}
        return self.ignored

    def serve(self, wait: bool = True) -> Optional[tuple[list, list, list]]:
        """(templates, output directories, diagnostics) as recorded, when every stat and git's answer
        are as recorded; None otherwise. With ``wait`` false, git's answer is not waited for: the
        answer holds only if :meth:`confirm` says so, which must be asked before it is used."""
        from pathlib import Path

        from pfgen.errors import Diagnostic

        raw = _read(self.path)
        if raw is not None:
            self.key = cache.secret()
        record = _unseal(raw, self._mac, "found", self.context) if self.key is not None else None
        stats = None
        if _found_valid(record):
            try:
                stats = _found_stats(record["dirs"], record["venvs"])
            except (OSError, Unstampable):
                stats = None
        if stats is None:
            self._answers()  # for the walk that follows
            return None
        self.pending = (record["stamp"], stats)
        if wait and not self.confirm():
            return None
        return ([Path(t) for t in record["templates"]], [Path(d) for d in record["output_dirs"]],
                [Diagnostic(w[0], w[1], w[2], w[3], w[4]) for w in record["problems"]])

    def confirm(self) -> bool:
        """Whether the answer :meth:`serve` gave holds: git's answers (waited for now) and the stats
        taken then are the recorded ones (git's answers stay in ``ignored``, for the walk that follows)."""
        if self.pending is None:
            return False
        stamp, stats = self.pending
        self.pending = None
        answers = self._answers()
        stats.parts.extend(f"G\0{root}\0{_digest_ignored(answers[root])}" for root in self.walked)
        return hmac.compare_digest(stamp, self._mac("found-stats\0" + self.context + "\0" + stats.text()))

    def save(self, trace: Any, templates: list, output_dirs: list, problems: list,
             started: Optional[int] = None) -> bool:
        """Record this answer of discovery with the stats of now; False (nothing written) when the walk
        was small, not exact (see ``discover.Trace``) or any stat is too recent to be trusted (changed
        less than cache.RACY_NS before the cache's clock, or before ``started`` when the walk began
        before the cache was imported)."""
        from pfgen.output.cachedir import FOUND_MIN_DIRS

        if not trace.exact or len(trace.dirs) < FOUND_MIN_DIRS:
            return False
        self.key = self.key or cache.secret()
        if self.key is None:
            return False
        if sorted(trace.ignored) != self.walked:
            return False
        try:
            stats = _found_stats(trace.dirs, trace.venvs, started)
        except (OSError, Unstampable):
            return False
        if stats.fresh:
            return False
        stats.parts.extend(f"G\0{root}\0{_digest_ignored(trace.ignored[root])}" for root in self.walked)
        record = {"dirs": trace.dirs, "venvs": trace.venvs, "templates": [str(t) for t in templates],
                  "output_dirs": [str(d) for d in output_dirs], "problems": warning_rows(problems),
                  "stamp": self._mac("found-stats\0" + self.context + "\0" + stats.text())}
        data = _seal(self._mac, "found", self.context, record)
        return data is not None and _write(self.path, data)


def _digest_ignored(answer: Optional[set]) -> str:
    if answer is None:
        return "none"
    return hashlib.sha256("\0".join(sorted(answer)).encode("utf-8", "surrogateescape")).hexdigest()


def _found_stats(dirs: list, venvs: list, started: Optional[int] = None) -> cache.Stats:
    """The stats a discovery record covers: pfgen's own files, each directory listed, each virtualenv
    left out and its pyvenv.cfg (a regular file: a link could come to point nowhere). ``started``:
    when the walk began (time.time_ns()), if that was before the cache's clock (cache._START_NS,
    set when the cache is imported): a directory changed less than cache.RACY_NS before it is
    fresh too."""
    stats = cache.Stats()
    _tool(stats)
    add = stats.add
    lstat = os.lstat
    isdir = stat.S_ISDIR
    newest = 0
    for directory in dirs:
        st = lstat(directory)
        if not isdir(st.st_mode):
            raise Unstampable(directory)
        add(directory, st)
        newest = max(newest, st.st_mtime_ns, st.st_ctime_ns)
    if started is not None and newest >= started - cache.RACY_NS:
        stats.fresh = True
    for directory in venvs:
        st = lstat(directory)
        marker = lstat(os.path.join(directory, "pyvenv.cfg"))
        if not (isdir(st.st_mode) and stat.S_ISREG(marker.st_mode)):
            raise Unstampable(directory)
        add("V " + directory, st)
        add("V " + directory, marker)
    return stats


def _found_valid(record: Any) -> bool:
    """The shape :meth:`Discovery.save` writes."""
    return (isinstance(record, dict) and _strs(record.get("dirs")) and _strs(record.get("venvs"))
            and _strs(record.get("templates")) and _strs(record.get("output_dirs"))
            and isinstance(record.get("stamp"), str) and isinstance(record.get("problems"), list)
            and all(isinstance(w, list) and len(w) == 5 and isinstance(w[0], str) and type(w[1]) is int
                    and type(w[2]) is int and isinstance(w[3], str) and isinstance(w[4], str)
                    for w in record["problems"]))


def _seal(mac: Callable[[str], str], label: str, context: str, record: dict) -> Optional[str]:
    """The text of a record file: [its MAC, the record as JSON text]; None when it would be over the bound."""
    text = json.dumps(record, separators=(",", ":"), ensure_ascii=True)
    data = json.dumps([mac(label + "\0" + context + "\0" + text), text], ensure_ascii=True)
    return data if len(data) <= MAX_FILE_BYTES else None


def _unseal(raw: Any, mac: Callable[[str], str], label: str, context: str) -> Any:
    """The record in a record file's JSON value ``raw`` (see :func:`_seal`), or None: not that shape,
    another MAC (another secret, another key, tampered), not JSON."""
    if not (isinstance(raw, list) and len(raw) == 2 and all(isinstance(v, str) for v in raw)):
        return None
    given, text = raw
    if not hmac.compare_digest(given, mac(label + "\0" + context + "\0" + text)):
        return None
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return None


def _read(path: str) -> Any:
    """The JSON value of the record file ``path``, or None (missing, hostile, oversized)."""
    from pfgen.safefs import read_bounded

    try:
        data = read_bounded(path, MAX_FILE_BYTES)
        if data is None or len(data) > MAX_FILE_BYTES:
            return None
        return json.loads(data)
    except (OSError, ValueError, RecursionError, UnicodeDecodeError):
        return None


def _write(path: str, data: str) -> bool:
    """Replace the record file ``path`` with ``data`` atomically, and prune its neighbours."""
    import tempfile

    directory = os.path.dirname(path)
    try:
        os.makedirs(directory, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".whole-", suffix=".tmp", dir=directory)
        try:
            with os.fdopen(fd, "w", encoding="ascii") as handle:
                handle.write(data)
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise
    except OSError:
        return False
    _prune(path)
    return True


def _prune(kept: str) -> None:
    """Keep the MAX_RECORDS newest records of this working directory (``kept`` among them)."""
    directory, name = os.path.split(kept)
    prefix = name.rsplit("-", 1)[0] + "-"
    try:
        with os.scandir(directory) as listing:
            mine = [(e.stat(follow_symlinks=False).st_mtime_ns, e.path) for e in listing
                    if e.name.startswith(prefix) and e.name.endswith(".json") and e.path != kept]
        for _, path in sorted(mine)[:max(0, len(mine) - (MAX_RECORDS - 1))]:
            os.unlink(path)
    except OSError:
        pass


def _strs(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _valid(record: Any) -> bool:
    """The shape :meth:`Record.save` writes (anything else is a miss, even with a valid MAC)."""
    if not isinstance(record, dict):
        return False
    report = record.get("report")
    return (_strs(record.get("templates")) and _strs(record.get("configs")) and _strs(record.get("roots"))
            and _strs(record.get("tops"))
            and isinstance(record.get("listings"), list) and len(record["listings"]) == len(record["roots"])
            and all(isinstance(listed, list) and all(isinstance(d, list) and len(d) == 2 and isinstance(d[0], str)
                                                     and _strs(d[1]) for d in listed) for listed in record["listings"])
            and isinstance(record.get("deps"), list)
            and all(isinstance(d, list) and len(d) == 2 and _strs(d) for d in record["deps"])
            and isinstance(record.get("stamp"), str) and isinstance(report, dict)
            and type(report.get("jobs")) is int
            and isinstance(report.get("warnings"), list)
            and all(isinstance(w, list) and len(w) == 5 and isinstance(w[0], str) and type(w[1]) is int
                    and type(w[2]) is int and isinstance(w[3], str) and isinstance(w[4], str) for w in report["warnings"])
            and isinstance(report.get("roots"), list)
            and all(isinstance(r, list) and len(r) == 2 and isinstance(r[0], str) and type(r[1]) is int
                    for r in report["roots"]))


class _Tree:
    """An OUT as a served build reports it: up to date, with its number of jobs (see stream.Tree)."""

    def __init__(self, count: int):
        self.count = count
        self.sources: dict = {}
        self.jobs: dict = {}
        self.unchanged: set = set()


class Served:
    """A build's result as recorded (the shape of output.build.Trees the command reports from)."""

    empty = False
    inputs = None

    def __init__(self, report: dict):
        from pathlib import Path

        self.trees = [(Path(root), _Tree(count)) for root, count in report["roots"]]
        self.jobs: int = report["jobs"]
        self.warnings = warnings_of(report)


def warnings_of(report: dict) -> list:
    from pfgen.errors import Diagnostic

    return [Diagnostic(w[0], w[1], w[2], w[3], w[4]) for w in report["warnings"]]


def warning_rows(warnings: Iterable[Any]) -> list[list]:
    return [[w.file, w.line, w.col, w.message, w.severity] for w in warnings]
