"""The build cache: a data-only index from what a job's compile reads to what it wrote.

For every template ``pfgen build`` compiles, the cache records, under a key
over everything compiling it reads, the little that the cross-job steps and
the comparison with the disk need: the job's name (and where the template
says it), its warnings, the identity and a digest of each Kubernetes object
(to find clashing and shared objects), and the SHA-256 of every file the job
wrote into its directory. The next build uses an entry only when

* the key is equal: the template's bytes and path, the governing pfgen.yaml
  (its path and bytes, or its absence), the working directory, the compile
  options, pfgen's version *and* a hash of pfgen's own source and data files
  (so an edited checkout never serves stale output), Python's and PyYAML's
  versions; and
* every recorded dependency (the job's workspace directory, ``-d DIR``, the
  directories a command without a workspace enters) has the digest recorded.

A served job is not compiled. Its directory is left alone when it holds
exactly the recorded files (same bytes; foreign files aside) for the same
output directory and the same set of objects moved to ``_shared/``; anything
else (a hand-edited or deleted file, a neighbour's change that moves an
object to or from ``_shared/``) compiles the job again, so the output and
``--check`` are exactly those of a build without the cache.

The index is one JSON file per working directory (no pickle: nothing in it is
ever executed), in ``$PFGEN_CACHE_DIR``, else ``$XDG_CACHE_HOME/pfgen``, else
``~/.cache/pfgen``. Each entry is a JSON text, decoded only when its template
is looked up, and authenticated with HMAC-SHA256 under a secret that is *not*
in the cache directory: ``$PFGEN_CACHE_SECRET`` when set, else a random key
made on first use in ``$XDG_CONFIG_HOME/pfgen/cache-key`` (``~/.config``). So
a cache restored from somewhere else (a CI cache from another branch) cannot
forge an entry: entries made under another secret, and anything malformed,
oversized or corrupt, are misses, and the job is compiled. The file is bounded
(:data:`MAX_ENTRIES` entries, :data:`MAX_BYTES` bytes: least recently used
entries and those of deleted templates go first) and written atomically.
``PFGEN_CACHE=off`` (or ``pfgen build --no-cache``) disables it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import stat
import sys
import tempfile
import time
from functools import lru_cache
from pathlib import Path

import pfgen
from pfgen.output.cachedir import cache_root, enabled  # noqa: F401  (cache.enabled, cache.cache_root: where they were)
from pfgen.realpaths import real

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Iterable, Optional

FORMAT = 3
_PACKAGE = Path(pfgen.__file__).resolve().parent
MAX_ENTRIES = 50_000  # entries kept per index; least recently used go first
MAX_BYTES = 64 << 20  # an index file larger than this is not read (and never written)
MAX_ENTRY_BYTES = 1 << 20  # one entry's JSON text
RACY_NS = 2_000_000_000  # a file changed less than this before the command started is never trusted by its stat
_START_NS = time.time_ns()


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _read(path: Path, limit: Optional[int] = None) -> Optional[bytes]:
    """A template's or config's bytes as the loader reads them (pfgen.safefs: regular files only, no
    link out of the repository, bounded); None for anything else, which is never served."""
    from pfgen import safefs
    from pfgen.load.document import MAX_BYTES

    try:
        return safefs.read_input(path, limit or MAX_BYTES)
    except (OSError, safefs.Refused):
        return None


# --- the secret that authenticates entries ----------------------------------------

def _key_file() -> Path:
    xdg = os.environ.get("XDG_CONFIG_HOME")
    return (Path(xdg) if xdg else Path.home() / ".config") / "pfgen" / "cache-key"


def secret() -> Optional[bytes]:
    """The HMAC key: $PFGEN_CACHE_SECRET, else the per-user key file (made on first use);
    None when neither is available (then the cache is off)."""
    given = os.environ.get("PFGEN_CACHE_SECRET")
    if given:
        return given.encode("utf-8", "surrogateescape")
    path = _key_file()
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        with os.fdopen(fd, "rb") as handle:
            data = handle.read(256)
        if len(data) >= 32:
            return data
    except OSError:
        pass
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        data = os.urandom(32).hex().encode()
        fd, tmp = tempfile.mkstemp(prefix=".cache-key-", dir=path.parent)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        try:
            os.link(tmp, path)  # never replaces a key another pfgen made meanwhile
        except FileExistsError:
            os.unlink(tmp)
            return secret()
        os.unlink(tmp)
        return data
    except OSError:
        return None


# --- what the output depends on -------------------------------------------------

def _source_files() -> list[tuple[str, Path]]:
    """(label, path) of every file of pfgen's package and shipped data."""
    from pfgen.resources import data_dir

    roots = [("pfgen", _PACKAGE)]
    for name in ("schemas", "templates"):
        try:
            roots.append((name, data_dir(name)))
        except FileNotFoundError:
            pass
    files = []
    for label, root in roots:
        for directory, dirs, names in os.walk(root):
            dirs[:] = sorted(d for d in dirs if d != "__pycache__" and not d.startswith("."))
            for name in sorted(names):
                if not name.endswith((".pyc", ".pyo")):
                    path = Path(directory) / name
                    files.append((f"{label}/{path.relative_to(root).as_posix()}", path))
    return files


@lru_cache(maxsize=1)
def source_hash() -> str:
    """Hash of pfgen's own code and data (schemas, templates, VM catalogue)."""
    digest = hashlib.sha256()
    for label, path in _source_files():
        digest.update(label.encode() + b"\0" + path.read_bytes() + b"\0")  # pfgen's own files, not input
    return digest.hexdigest()


@lru_cache(maxsize=1)
def tool_key() -> str:
    """pfgen's version and source, Python's and the YAML dumper's versions."""
    import yaml

    parts = [f"format={FORMAT}", f"pfgen={pfgen.__version__}", f"source={source_hash()}",
             f"python={sys.version_info[:2]}", f"pyyaml={yaml.__version__}/{getattr(yaml, '__with_libyaml__', False)}"]
    return "\n".join(parts)


def extra_key(template: Path, options: Any) -> list[str]:
    """Extra key material for a template: the compile options."""
    return [f"options={options_text(options)}"]


def dependencies(template: Path, job: Any, options: Any) -> list[tuple[str, str]]:
    """Files and directories (other than template and config) the compiled job read."""
    found: list[tuple[str, str]] = []
    workspace = getattr(options, "workspace_dir", None)
    if workspace is not None:
        found.append(("tree", os.path.abspath(workspace)))
    image = getattr(job.plan, "workspace_image", None)
    if image is not None:  # the image tag hashes the workspace's files (pfgen/resolve/workspace.py)
        found.append(("tree", os.path.abspath(image.workspace_dir)))
    else:  # creating the directory the command enters would make it the workspace (cmdrules.inferred_workspace)
        from pfgen.validate.shellscan import entered_paths

        here = os.path.dirname(os.path.abspath(job.plan.template))
        for written, _ in entered_paths(job.plan.setup + "\n" + job.plan.run):
            for part in written.split("/"):
                if part not in ("", ".", "..") and "$" not in part:
                    found.append(("isdir", os.path.join(here, part)))
    return sorted(set(found))


def options_text(options: Any) -> str:
    if options is None:
        return "-"
    values = {k: v for k, v in (getattr(options, "__dict__", None) or {}).items() if k != "tag_images"}  # validate's lookups find build's entries
    return json.dumps({k: str(Path(v).resolve()) if isinstance(v, Path) else repr(v) for k, v in sorted(values.items())},
                      sort_keys=True)


def digest_file(path: str) -> str:
    data = _read(Path(path), limit=64 << 20)
    return "missing" if data is None else _sha(data)


def digest_tree(path: str) -> str:
    """Names, executable bits and bytes of every file below ``path`` (what a workspace image hashes, and
    more), read as the workspace scan reads them (pfgen.safefs): no link below ``path`` is followed, a
    link counts by its target's text, a special file by its kind and is never opened. The real path
    of ``path`` is part of the digest, so pointing a workspace link elsewhere is seen."""
    from pfgen import safefs

    root = Path(path)
    if not root.is_dir():
        return "missing" if not os.path.lexists(root) else "not-a-directory"
    digest = hashlib.sha256(f"R {os.path.realpath(root)}\0".encode())
    try:
        for rel, st in safefs.walk(root):
            full = os.path.join(path, rel)
            if stat.S_ISLNK(st.st_mode):
                digest.update(f"L {rel} ".encode() + os.fsencode(os.readlink(full)) + b"\0")
                continue
            if not stat.S_ISREG(st.st_mode):
                digest.update(f"S {rel} {stat.S_IFMT(st.st_mode)}\0".encode())
                continue
            try:
                with os.fdopen(safefs.open_regular(full), "rb") as handle:
                    data: Optional[bytes] = handle.read()
            except (OSError, safefs.Refused):
                data = None
            mode = "x" if st.st_mode & stat.S_IXUSR else "-"
            digest.update(f"F {rel} {mode} ".encode() + (_sha(data).encode() if data is not None else b"?") + b"\0")
    except (OSError, safefs.Refused):
        return "volatile:" + os.urandom(16).hex()  # cannot be read the same way twice: always compile again
    return digest.hexdigest()


def digest_isdir(path: str) -> str:
    return "dir" if os.path.isdir(path) else "none"


DIGESTERS: dict[str, Callable[[str], str]] = {"file": digest_file, "tree": digest_tree, "isdir": digest_isdir}


def _digest(kind: str, path: str) -> Optional[str]:
    digester = DIGESTERS.get(kind)
    return digester(path) if digester else None


# --- stamps: trusting a file's metadata instead of reading it ------------------------
#
# Reading every template, workspace file and output file to prove nothing changed is most of
# a no-op build. A *stamp* records, once a job's inputs (or its output directory) have been
# proven unchanged by their bytes, the lstat of every file involved: mode, size, mtime and
# ctime in nanoseconds, inode and device. While all of them are the same, the bytes are taken
# to be the same, as git's index, make and ninja assume. A write changes mtime and ctime; a
# process can set mtime back (``touch -d``, ``utime``) but not ctime, which the kernel sets
# to the time of every change; a file replaced by a rename has another inode and ctime. What
# metadata cannot show is a change within the file system's timestamp granularity of the
# moment the stat was taken (git's "racy" case): so a stat is never recorded while the file
# changed less than RACY_NS before the command started, and its bytes are read instead. The
# assumption that remains, as for make: the clock does not go back and the file system's
# timestamps do not run ahead of this machine's clock by more than RACY_NS. A stamp is an
# HMAC under the cache secret over the entry's MAC and all those stats, so a restored
# cache can no more forge a stamp than an entry.


class Stats:
    """The lstat records a stamp covers, in the order they were taken."""

    __slots__ = ("parts", "fresh")

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.fresh = False  # some file changed too recently for its stat to be trusted

    def add(self, label: str, st: os.stat_result) -> None:
        self.parts.append(f"{label}\0{st.st_mode:o} {st.st_size} {st.st_mtime_ns} {st.st_ctime_ns} {st.st_ino} {st.st_dev}")
        if max(st.st_mtime_ns, st.st_ctime_ns) >= _START_NS - RACY_NS:
            self.fresh = True

    def text(self) -> str:
        return "\n".join(self.parts)


def _input_stats(resolved: str, deps: list) -> Optional[Stats]:
    """The stats of the (resolved) template and of every recorded dependency, taken before
    their bytes are read; None when a dependency cannot be covered by stats."""
    from pfgen import safefs

    found = Stats()
    try:
        found.add("T", os.lstat(resolved))
        for kind, path, _ in deps:
            if kind == "isdir":
                found.parts.append(f"D\0{path}\0{digest_isdir(path)}")
            elif kind == "tree":
                if not os.path.isdir(path) or os.path.islink(path):
                    return None
                found.parts.append(f"R\0{path}\0{os.path.realpath(path)}")
                for rel, st in safefs.walk(path):
                    found.add(f"F {rel}", st)
            else:
                return None
    except (OSError, safefs.Refused):
        return None
    return found


def _output_stats(directory: str) -> Optional[Stats]:
    """The stats of a job's output directory and of everything below it (links not followed)."""
    found = Stats()
    try:
        top = os.lstat(directory)
        if not stat.S_ISDIR(top.st_mode):
            return None
        found.add(".", top)
        stack = [(directory, "")]
        while stack:
            path, prefix = stack.pop()
            with os.scandir(path) as listing:
                entries = sorted(listing, key=lambda e: e.name)
            for entry in entries:
                st = entry.stat(follow_symlinks=False)
                found.add(prefix + entry.name, st)
                if stat.S_ISDIR(st.st_mode):
                    stack.append((entry.path, prefix + entry.name + "/"))
    except OSError:
        return None
    return found


def _config_material(directory: Path, seen: dict, found: Optional[dict] = None) -> str:
    """Which pfgen.yaml governs ``directory``, and its hash (each config read once per build, via
    ``seen``; ``found`` memoises the lookups within the build, see config.find_config)."""
    from pfgen.validate.config import find_config

    path = find_config(directory, found)
    if path is None:
        return "config=none"
    if path not in seen:
        data = _read(path)
        seen[path] = f"config={path}:{_sha(data) if data is not None else 'unreadable'}"
    return seen[path]


def _context(template: Path, options: Any, configs: dict, found: dict) -> str:
    """What the key of a job covers but the template's bytes (which a stamp covers by their stat)."""
    return "\n".join([tool_key(), f"cwd={os.getcwd()}", f"template={template}",
                      _config_material(template.parent, configs, found), *extra_key(template, options)])


def job_key(template: Path, template_bytes: bytes, options: Any, configs: Optional[dict] = None,
            found: Optional[dict] = None) -> str:
    """The key of a job; ``template`` is resolved (absolute, no symlinks). ``configs`` memoises
    each config's hash, and ``found`` the config lookups, within one build."""
    parts = [tool_key(), f"cwd={os.getcwd()}", f"template={template}:{_sha(template_bytes)}",
             _config_material(template.parent, {} if configs is None else configs, found), *extra_key(template, options)]
    return _sha("\n".join(parts).encode())


# --- entries ----------------------------------------------------------------------

def _valid_entry(entry: Any) -> bool:
    """The shape :meth:`BuildCache.record` writes; anything else is a miss (never trusted, even
    with a valid MAC: a bug of an older writer must not become a wrong output)."""
    def strs(value: Any, n: int) -> bool:
        return isinstance(value, list) and len(value) == n and all(isinstance(v, str) for v in value)

    try:
        return (isinstance(entry, dict) and isinstance(entry.get("key"), str) and isinstance(entry.get("name"), str)
                and isinstance(entry.get("display"), str) and isinstance(entry.get("mode"), str)
                and isinstance(entry.get("out"), str)
                and isinstance(entry.get("pos"), list) and len(entry["pos"]) == 2
                and all(type(v) is int for v in entry["pos"])
                and isinstance(entry.get("deps"), list) and all(strs(d, 3) for d in entry["deps"])
                and isinstance(entry.get("objects"), list) and all(strs(o, 6) for o in entry["objects"])
                and isinstance(entry.get("hoisted"), list) and all(isinstance(h, str) for h in entry["hoisted"])
                and isinstance(entry.get("shared"), list) and all(strs(x, 2) for x in entry["shared"])
                and isinstance(entry.get("files"), dict)
                and all(isinstance(k, str) and isinstance(v, str) for k, v in entry["files"].items())
                and isinstance(entry.get("warnings"), list)
                and all(isinstance(w, list) and len(w) == 5 and isinstance(w[0], str) and type(w[1]) is int
                        and type(w[2]) is int and isinstance(w[3], str) and w[4] in ("warning", "note")
                        for w in entry["warnings"]))
    except (TypeError, AttributeError):
        return False


def index_path(cwd: Optional[Path] = None) -> Path:
    """The index of builds run from ``cwd``."""
    where = str((cwd or Path.cwd()).resolve())
    return cache_root() / f"build-{_sha(where.encode())[:24]}.json"


class BuildCache:
    """The index of one working directory: read on the first lookup, written back (atomically) at
    the end of a build that changed it."""

    def __init__(self, path: Optional[Path], key: Optional[bytes] = None):
        self.path = path if key is not None or path is None else None
        self._key = key
        self._raw: Optional[dict] = None  # template -> [mac, entry text, last used]
        self._serial = 0  # builds so far (for least-recently-used eviction)
        self.pending: dict[str, list] = {}  # template -> [mac, entry text, serial], written by save()
        self.used: set[str] = set()  # templates whose entries this build served
        self.hits: list[Path] = []  # templates served from the cache in this build
        self.compiled: list[Path] = []  # templates compiled and recorded in this build
        self._configs: dict[Path, str] = {}  # pfgen.yaml -> its key material, read once per build
        self.lookups: dict = {}  # directory -> its pfgen.yaml, looked up once per build (config.find_config)
        self._old_stamps: dict = {}  # template -> [input stamp, output stamp] as read (see Stats)
        self.stamps: dict[str, list[str]] = {}  # stamps made in this build, written by save()
        self._served: dict[str, str] = {}  # template -> the MAC of the entry it was served from
        self.trusted = 0  # lookups and output checks answered by a stamp (for tests and figures)
        self.read_only = False  # validate: an entry's text is dropped once looked up, and save() refuses

    @classmethod
    def open(cls, cwd: Optional[Path] = None) -> "BuildCache":
        """The cache for builds run from ``cwd``; a no-op cache when disabled."""
        if not enabled():
            return cls(None)
        key = secret()
        if key is None:
            return cls(None)
        return cls(index_path(cwd), key)

    @property
    def active(self) -> bool:
        return self.path is not None

    def _mac(self, text: str) -> str:
        assert self._key is not None
        return hmac.new(self._key, text.encode("utf-8", "surrogateescape"), hashlib.sha256).hexdigest()

    def _index(self) -> dict:
        """The index file's entries, still encoded (each is decoded when looked up)."""
        from pfgen.safefs import read_bounded

        if self._raw is None:
            self._raw = {}
            try:
                assert self.path is not None
                data = read_bounded(self.path, MAX_BYTES)
                if data is None or len(data) > MAX_BYTES:
                    raise ValueError("missing, not a regular file, or oversized")
                loaded = json.loads(data)
                if isinstance(loaded, dict) and loaded.get("format") == FORMAT and loaded.get("tool") == _sha(tool_key().encode()):
                    serial, entries, stamps = loaded.get("serial"), loaded.get("entries"), loaded.get("stamps")
                    if type(serial) is int and isinstance(entries, dict) and isinstance(stamps, dict):
                        self._serial = serial
                        self._raw = entries
                        self._old_stamps = stamps
            except (OSError, ValueError, RecursionError, UnicodeDecodeError):  # missing, corrupt, hostile: all misses
                self._raw = {}
        return self._raw

    def lookup(self, template: Path, options: Any, out: Path) -> Optional[dict]:
        """The entry of ``template`` as recorded last time, or None when anything it depends on changed
        (or the entry is not one this pfgen wrote under this secret)."""
        if not self.active:
            return None
        resolved = real(template)
        index = self._index()
        raw = index.pop(resolved, None) if self.read_only else index.get(resolved)  # read only: looked up once
        if not (isinstance(raw, list) and len(raw) == 3 and isinstance(raw[0], str) and isinstance(raw[1], str)):
            return None
        mac, text = raw[0], raw[1]
        if len(text) > MAX_ENTRY_BYTES or not hmac.compare_digest(mac, self._mac(text)):
            return None
        try:
            entry = json.loads(text)
        except (ValueError, RecursionError):
            return None
        if not _valid_entry(entry) or entry["out"] != str(out):
            return None
        context = _context(Path(resolved), options, self._configs, self.lookups)
        stats = None if os.path.islink(template) else _input_stats(resolved, entry["deps"])  # before any read
        if stats is not None and self._stamped(resolved, 0, self._stamp("in", mac, context, stats)):
            self.trusted += 1
        else:
            data = _read(template)
            if data is None or entry["key"] != job_key(Path(resolved), data, options, self._configs, self.lookups):
                return None
            for kind, path, digest in entry["deps"]:
                if _digest(kind, path) != digest:
                    return None
            if stats is not None and not stats.fresh:
                self._new_stamp(resolved, 0, self._stamp("in", mac, context, stats))
        self._served[resolved] = mac
        self.used.add(resolved)
        self.hits.append(template)
        return entry

    def output_unchanged(self, template: Path, directory: Path, check: Callable[[], bool]) -> bool:
        """Whether the output directory of a served ``template`` holds what its entry records: by its
        stamp when every stat below it is as when that was last proven, else by ``check()`` (which
        reads the files; a stamp is made when it says yes)."""
        resolved = real(template)
        mac = self._served.get(resolved)
        stats = _output_stats(str(directory)) if mac is not None else None  # before check() reads
        if stats is not None and mac is not None:
            stamp = self._stamp("out", mac, str(directory), stats)
            if self._stamped(resolved, 1, stamp):
                self.trusted += 1
                return True
        if not check():
            return False
        if stats is not None and mac is not None and not stats.fresh:
            self._new_stamp(resolved, 1, self._stamp("out", mac, str(directory), stats))
        return True

    def _stamp(self, side: str, mac: str, context: str, stats: Stats) -> str:
        return self._mac(f"stamp:{side}\0{mac}\0{context}\0{stats.text()}")

    def _stamped(self, resolved: str, side: int, stamp: str) -> bool:
        old = self._old_stamps.get(resolved)
        return (isinstance(old, list) and len(old) == 2 and isinstance(old[side], str)
                and hmac.compare_digest(old[side], stamp))

    def _new_stamp(self, resolved: str, side: int, stamp: str) -> None:
        current = self.stamps.get(resolved)
        if current is None:
            old = self._old_stamps.get(resolved)
            current = [v if isinstance(v, str) else "" for v in old] if isinstance(old, list) and len(old) == 2 else ["", ""]
            self.stamps[resolved] = current
        current[side] = stamp

    def _key_of(self, template: Path, options: Any, job: Any) -> Optional[tuple[str, list]]:
        resolved = Path(real(template))
        data = _read(template)
        if data is None:
            return None
        deps = []
        for kind, path in (dependencies(resolved, job, options) if job is not None else []):
            digest = _digest(kind, path)
            if digest is None:
                return None
            deps.append([kind, path, digest])
        return job_key(resolved, data, options, self._configs, self.lookups), deps

    def prepare(self, template: Path, options: Any, job: Any) -> Optional[tuple[str, list]]:
        """Digest what compiling ``job`` read, right after compiling it (before anything is written)."""
        if not self.active:
            return None
        return self._key_of(template, options, job)

    def record(self, template: Path, prepared: Optional[tuple[str, list]], entry: dict) -> None:
        """Remember what ``template`` compiled and wrote (``entry``: see _valid_entry, without key and deps)."""
        if not self.active or prepared is None:
            return
        key, deps = prepared
        text = json.dumps({**entry, "key": key, "deps": deps}, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
        if len(text) > MAX_ENTRY_BYTES:
            return
        resolved = real(template)
        self.pending[resolved] = [self._mac(text), text, 0]
        self.compiled.append(template)

    def compiled_elsewhere(self, template: Path) -> None:
        """``template`` was compiled in a worker process (pfgen/output/parallel.py), whose prepare()
        looked up and hashed its pfgen.yaml there: do it here too, so configs_read() names it."""
        if self.active:
            _config_material(Path(real(template)).parent, self._configs, self.lookups)

    def configs_read(self) -> list[Path]:
        """The pfgen.yaml files this build's keys covered."""
        return list(self._configs)

    def forget(self, template: Path) -> None:
        """Drop a served entry that turned out not to describe the disk (it is recorded again once compiled)."""
        self.used.discard(real(template))

    def save(self) -> None:
        """Write the index (atomically) when this build recorded an entry or a stamp; failures only cost speed."""
        if self.read_only:
            raise RuntimeError("a read-only build cache has dropped the entries it served: it cannot be saved")
        if not self.active or not (self.pending or self.stamps):
            return
        serial = self._serial + 1
        entries: dict[str, list] = {}
        for name, raw in self._index().items():
            if name in self.pending or not isinstance(raw, list) or len(raw) != 3:
                continue
            last = serial if name in self.used else raw[2]
            if type(last) is int and isinstance(raw[0], str) and isinstance(raw[1], str) and os.path.exists(name):
                entries[name] = [raw[0], raw[1], last]
        for name, raw in self.pending.items():
            entries[name] = [raw[0], raw[1], serial]
        # least recently used first out, until the index fits its bounds
        order = sorted(entries, key=lambda name: (entries[name][2], name in self.pending, name))
        size = sum(len(name) + len(raw[0]) + len(raw[1]) + 32 + (len(name) + 140) for name, raw in entries.items())  # and its stamps
        while order and (len(entries) > MAX_ENTRIES or size > MAX_BYTES - (1 << 16)):
            name = order.pop(0)
            size -= len(name) + len(entries[name][0]) + len(entries[name][1]) + 32 + (len(name) + 140)
            del entries[name]
        stamps = {}  # those of entries kept and not recorded again (a new entry has a new MAC)
        for name in entries:
            if name in self.pending:
                continue
            value = self.stamps.get(name) or self._old_stamps.get(name)
            if isinstance(value, list) and len(value) == 2 and all(isinstance(v, str) and len(v) <= 64 for v in value):
                stamps[name] = value
        assert self.path is not None
        head = json.dumps({"format": FORMAT, "tool": _sha(tool_key().encode()), "serial": serial},
                          separators=(",", ":"), ensure_ascii=True)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".build-", suffix=".tmp", dir=self.path.parent)
            try:
                with os.fdopen(fd, "w", encoding="ascii") as handle:  # item by item: no copy of the whole index
                    handle.write(head[:-1])
                    for label, table in (("entries", entries), ("stamps", stamps)):
                        handle.write(f',"{label}":{{')
                        for i, (name, value) in enumerate(table.items()):
                            handle.write(("," if i else "") + json.dumps(name, ensure_ascii=True) + ":"
                                         + json.dumps(value, separators=(",", ":"), ensure_ascii=True))
                        handle.write("}")
                    handle.write("}")
                os.replace(tmp, self.path)
            except BaseException:
                os.unlink(tmp)
                raise
        except OSError:
            return
        self._raw, self._serial, self.pending = entries, serial, {}
        self._old_stamps, self.stamps = stamps, {}


