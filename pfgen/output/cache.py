"""Incremental build: a template whose inputs are unchanged is not compiled again.

For every template ``pfgen build`` compiles, the cache keeps the compiled job
(its Kubernetes objects, plan, warnings, the file texts they dump to) under a
key over everything compiling it reads. The next build uses the stored job
only when

* the key is equal: the template's bytes and path, the governing pfgen.yaml
  (its path and bytes, or its absence), the working directory, the compile
  options, pfgen's version *and* a hash of pfgen's own source and data files
  (so an edited checkout never serves stale output), Python's and PyYAML's
  versions, plus whatever the :data:`EXTRA_KEY` hooks add; and
* every recorded dependency (the job's workspace directory, ``-d DIR``, and
  whatever the :data:`DEPENDENCIES` hooks add) has the digest recorded.

Everything after compiling (the layout of each OUT, shared objects, the root
kustomization, comparing with and writing to disk) runs as always on the
stored jobs, so a hand-edited or deleted output file is rewritten (and
``--check`` reports it) exactly as without the cache. Anything unexpected (an
unreadable or corrupt cache, another pfgen's cache) is a miss: the cache can
make a build faster, never different.

The cache lives outside the output tree, in ``$PFGEN_CACHE_DIR``, else
``$XDG_CACHE_HOME/pfgen``, else ``~/.cache/pfgen``: one file per working
directory, written atomically. It holds pickled pfgen objects, read back only
by the same pfgen source (the key covers it); like any file under your home
directory, it must not be writable by others. ``PFGEN_CACHE=off`` (or
``pfgen build --no-cache``) disables it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import stat
import pickle
import sys
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Iterable, Optional

import pfgen
from pfgen.pipeline import CompiledJob

FORMAT = 1
_PACKAGE = Path(pfgen.__file__).resolve().parent
_MAX_ENTRIES = 20_000  # entries kept per cache file; older templates are dropped first


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


def _read(path: Path) -> Optional[bytes]:
    try:
        with open(path, "rb") as handle:
            return handle.read()
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
        digest.update(label.encode() + b"\0" + (_read(path) or b"") + b"\0")
    return digest.hexdigest()


@lru_cache(maxsize=1)
def tool_key() -> str:
    """pfgen's version and source, Python's and the YAML dumper's versions."""
    import yaml

    parts = [f"format={FORMAT}", f"pfgen={pfgen.__version__}", f"source={source_hash()}",
             f"python={sys.version_info[:2]}", f"pyyaml={yaml.__version__}/{getattr(yaml, '__with_libyaml__', False)}"]
    return "\n".join(parts)


# Hooks other features extend (workspaces, issue 6): each returns strings that
# join the key, from the template and options alone (cheap, no parsing).
EXTRA_KEY: list[Callable[[Path, Any], Iterable[str]]] = []
# ... and each returns (kind, path) inputs recorded after a successful compile,
# re-digested before every reuse. Kinds are digested by DIGESTERS.
DEPENDENCIES: list[Callable[[Path, Any, Any], Iterable[tuple[str, str]]]] = []


def extra_key(template: Path, options: Any) -> list[str]:
    """Extra key material for a template: the compile options, then every EXTRA_KEY hook."""
    material = [f"options={_options_text(options)}"]
    for hook in EXTRA_KEY:
        material.extend(hook(template, options))
    return material


def dependencies(template: Path, job: Any, options: Any) -> list[tuple[str, str]]:
    """Files and directories (other than template and config) the compiled job read."""
    found: list[tuple[str, str]] = []
    workspace = getattr(options, "workspace_dir", None)
    if workspace is not None:
        found.append(("tree", os.path.abspath(workspace)))
    image = getattr(job.plan, "workspace_image", None)
    if image is not None:  # the image tag hashes the workspace's files (pfgen/image/workspace.py)
        found.append(("tree", os.path.abspath(image.workspace_dir)))
    for hook in DEPENDENCIES:
        found.extend(hook(template, job, options))
    return sorted(set(found))


def _options_text(options: Any) -> str:
    if options is None:
        return "-"
    values = getattr(options, "__dict__", None) or {}
    return json.dumps({k: str(Path(v).resolve()) if isinstance(v, Path) else repr(v) for k, v in sorted(values.items())},
                      sort_keys=True)


def digest_file(path: str) -> str:
    data = _read(Path(path))
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


DIGESTERS: dict[str, Callable[[str], str]] = {"file": digest_file, "tree": digest_tree}


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


# --- the cache file -------------------------------------------------------------

class BuildCache:
    """Compiled jobs by template, read once per build and written back (atomically) at its end."""

    def __init__(self, path: Optional[Path]):
        self.path = path
        self.entries: dict[str, tuple[str, list, bytes]] = {}  # template -> (key, deps, pickled (job, doc, files))
        self.pending: dict[str, tuple[str, list, bytes]] = {}
        self.hits: list[Path] = []  # templates served from the cache in this build
        self.compiled: list[Path] = []  # templates compiled and recorded in this build
        self._configs: dict[Path, str] = {}  # pfgen.yaml -> its key material, read once per build
        self._found: dict = {}  # directory -> its pfgen.yaml, looked up once per build
        if path is not None:
            try:
                with open(path, "rb") as handle:
                    loaded = pickle.load(handle)
                if isinstance(loaded, dict) and loaded.get("format") == FORMAT and loaded.get("tool") == tool_key():
                    self.entries = dict(loaded["entries"])
                    _FILES_SEEN.update(loaded.get("files", {}))
            except Exception:  # missing, truncated, from another pfgen: a miss
                self.entries = {}

    @classmethod
    def open(cls, cwd: Optional[Path] = None) -> "BuildCache":
        """The cache for builds run from ``cwd``; a no-op cache when disabled."""
        if not enabled():
            return cls(None)
        where = str((cwd or Path.cwd()).resolve())
        return cls(cache_root() / f"build-{_sha(where.encode())[:24]}.pickle")

    @property
    def active(self) -> bool:
        return self.path is not None

    def lookup(self, template: Path, options: Any) -> Optional[tuple[Any, Any]]:
        """(job, document) as compiled last time, or None when anything it depends on changed."""
        if not self.active:
            return None
        resolved = Path(os.path.realpath(template))
        entry = self.entries.get(str(resolved))
        if entry is None:
            return None
        key, deps, blob = entry
        data = _read(template)
        if data is None or key != job_key(resolved, data, options, self._configs, self._found):
            return None
        for kind, path, digest in deps:
            if _digest(kind, path) != digest:
                return None
        try:
            job, doc, files = pickle.loads(blob)
        except Exception:
            return None
        self.hits.append(template)
        return _served(job, files), doc

    def record(self, template: Path, options: Any, job: Any, doc: Any) -> Any:
        """Remember a freshly compiled job; returns the job to use (one that remembers its dumps)."""
        if not self.active:
            return job
        resolved = Path(os.path.realpath(template))
        data = _read(template)
        if data is None:
            return job
        deps = []
        for kind, path in dependencies(resolved, job, options):
            digest = _digest(kind, path)
            if digest is None:
                return job  # an input nobody can digest: never cache this job
            deps.append((kind, path, digest))
        files = job.files
        try:
            blob = pickle.dumps((job, doc, files), protocol=pickle.HIGHEST_PROTOCOL)
        except Exception:  # something unpicklable in a plan: just do not cache it
            return job
        self.pending[str(resolved)] = (job_key(resolved, data, options, self._configs, self._found), deps, blob)
        self.compiled.append(template)
        return _served(job, files)

    def save(self) -> None:
        """Write the cache (atomically); failures to write only cost speed."""
        if not self.active or not (self.pending or _FILES_NEW):
            return
        entries = {k: v for k, v in self.entries.items() if k not in self.pending and os.path.exists(k)}
        entries.update(self.pending)
        if len(entries) > _MAX_ENTRIES:
            keep = set(self.pending) | set(sorted(entries)[: _MAX_ENTRIES - len(self.pending)])
            entries = {k: v for k, v in entries.items() if k in keep}
        assert self.path is not None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".build-", suffix=".tmp", dir=self.path.parent)
            try:
                with os.fdopen(fd, "wb") as handle:
                    pickle.dump({"format": FORMAT, "tool": tool_key(), "entries": entries, "files": dict(_FILES_USED)},
                                handle, protocol=pickle.HIGHEST_PROTOCOL)
                os.replace(tmp, self.path)
            except BaseException:
                os.unlink(tmp)
                raise
        except OSError:
            return
        self.entries, self.pending = entries, {}
        _FILES_NEW.clear()


@dataclasses.dataclass
class ServedJob(CompiledJob):
    """A job from the cache: answers ``files`` with the stored texts instead of dumping its objects again."""

    # Not an __init__ field: dataclasses.replace() (build.py hoisting shared objects out of a job)
    # then makes a job whose files are dumped afresh from its new objects.
    served_files: Optional[dict] = dataclasses.field(default=None, init=False, repr=False, compare=False)

    @property
    def files(self) -> dict[str, str]:
        if self.served_files is None:
            # Objects changed (shared ones hoisted out): dump them, or reuse last build's dump of
            # exactly these objects (keyed by their JSON, which is much cheaper than YAML).
            image = self.plan.workspace_image
            key = _sha(json.dumps([self.objects, image.dockerfile if image else None, image.dockerignore if image else None],
                                  sort_keys=True, default=lambda o: f"{type(o).__name__}:{o!r}").encode())
            files = _FILES_SEEN.get(key)
            if files is None:
                files = CompiledJob.files.fget(self)  # type: ignore[attr-defined]
                _FILES_NEW.add(key)
            _FILES_SEEN[key] = files
            _FILES_USED[key] = files
            self.served_files = files
        return dict(self.served_files)


# Dumps of jobs whose objects layout() changed, from the last build (loaded with the cache) and this one.
_FILES_SEEN: dict[str, dict[str, str]] = {}
_FILES_USED: dict[str, dict[str, str]] = {}
_FILES_NEW: set[str] = set()




def _served(job: Any, files: dict[str, str]) -> Any:
    served = ServedJob(**{f.name: getattr(job, f.name) for f in dataclasses.fields(CompiledJob) if f.init})
    served.served_files = files
    return served
