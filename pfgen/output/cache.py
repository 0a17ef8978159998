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
from functools import lru_cache
from pathlib import Path

import pfgen
from pfgen.realpaths import real

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Iterable, Optional

FORMAT = 2
_PACKAGE = Path(pfgen.__file__).resolve().parent
MAX_ENTRIES = 50_000  # entries kept per index; least recently used go first
MAX_BYTES = 64 << 20  # an index file larger than this is not read (and never written)
MAX_ENTRY_BYTES = 1 << 20  # one entry's JSON text


def enabled() -> bool:
    return os.environ.get("PFGEN_CACHE", "").lower() not in ("0", "off", "no", "false")


def cache_root() -> Path:
    explicit = os.environ.get("PFGEN_CACHE_DIR")
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "pfgen"


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
    return [f"options={_options_text(options)}"]


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


def _options_text(options: Any) -> str:
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
        self._found: dict = {}  # directory -> its pfgen.yaml, looked up once per build

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
        if self._raw is None:
            self._raw = {}
            try:
                assert self.path is not None
                fd = os.open(self.path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
                with os.fdopen(fd, "rb") as handle:
                    if not _regular(handle.fileno()):
                        raise OSError("not a regular file")
                    data = handle.read(MAX_BYTES + 1)
                if len(data) > MAX_BYTES:
                    raise ValueError("oversized")
                loaded = json.loads(data)
                if isinstance(loaded, dict) and loaded.get("format") == FORMAT and loaded.get("tool") == _sha(tool_key().encode()):
                    serial, entries = loaded.get("serial"), loaded.get("entries")
                    if type(serial) is int and isinstance(entries, dict):
                        self._serial = serial
                        self._raw = entries
            except (OSError, ValueError, RecursionError, UnicodeDecodeError):  # missing, corrupt, hostile: all misses
                self._raw = {}
        return self._raw

    def lookup(self, template: Path, options: Any, out: Path) -> Optional[dict]:
        """The entry of ``template`` as recorded last time, or None when anything it depends on changed
        (or the entry is not one this pfgen wrote under this secret)."""
        if not self.active:
            return None
        resolved = real(template)
        raw = self._index().get(resolved)
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
        data = _read(template)
        if data is None or entry["key"] != job_key(Path(resolved), data, options, self._configs, self._found):
            return None
        for kind, path, digest in entry["deps"]:
            if _digest(kind, path) != digest:
                return None
        self.used.add(resolved)
        self.hits.append(template)
        return entry

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
        return job_key(resolved, data, options, self._configs, self._found), deps

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

    def forget(self, template: Path) -> None:
        """Drop a served entry that turned out not to describe the disk (it is recorded again once compiled)."""
        self.used.discard(real(template))

    def save(self) -> None:
        """Write the index (atomically) when this build recorded anything; failures only cost speed."""
        if not self.active or not self.pending:
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
        size = sum(len(name) + len(raw[0]) + len(raw[1]) + 32 for name, raw in entries.items())
        while order and (len(entries) > MAX_ENTRIES or size > MAX_BYTES - (1 << 16)):
            name = order.pop(0)
            size -= len(name) + len(entries[name][0]) + len(entries[name][1]) + 32
            del entries[name]
        assert self.path is not None
        text = json.dumps({"format": FORMAT, "tool": _sha(tool_key().encode()), "serial": serial, "entries": entries},
                          separators=(",", ":"), ensure_ascii=True)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".build-", suffix=".tmp", dir=self.path.parent)
            try:
                with os.fdopen(fd, "w", encoding="ascii") as handle:
                    handle.write(text)
                os.replace(tmp, self.path)
            except BaseException:
                os.unlink(tmp)
                raise
        except OSError:
            return
        self._raw, self._serial, self.pending = entries, serial, {}


def _regular(fd: int) -> bool:
    import stat

    return stat.S_ISREG(os.fstat(fd).st_mode)
