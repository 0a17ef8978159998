"""Incremental build: skip a job whose inputs and outputs are exactly as last time.

For every template ``pfgen build`` compiles, it records an entry: a key over
everything the job's output depends on, and the SHA-256 of each output file
it produced. The next build serves a template from the cache only when

* the key is equal: the template's bytes and path, the governing pfgen.yaml
  (its path and bytes, or its absence), the output directory, the compile
  options, pfgen's version *and* a hash of pfgen's own source and data files
  (so an edited checkout never serves stale output), the YAML dumper's version,
  plus whatever :func:`extra_key` adds (e.g. workspace tag inputs);
* every recorded dependency (:func:`dependencies`; e.g. a workspace directory)
  still has the digest recorded; and
* every output file is on disk with the recorded hash (a hand-edited or
  deleted output is rebuilt).

A served job's files are read back from disk, so the rest of the build (the
writer, ``--check``) sees exactly what a full compile would have produced.
Anything unexpected (unreadable or corrupt cache, a missing file) is a miss:
the cache can make a build faster, never different.

The cache lives outside the output tree, in ``$PFGEN_CACHE_DIR``, else
``$XDG_CACHE_HOME/pfgen``, else ``~/.cache/pfgen``: one JSON file per working
directory. ``PFGEN_CACHE=off`` (or ``pfgen build --no-cache``) disables it.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Iterable, Optional

import pfgen

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
        found.append(("tree", str(Path(workspace).resolve())))
    for hook in DEPENDENCIES:
        found.extend(hook(template, job, options))
    return sorted(set(found))


def cacheable(job: Any) -> bool:
    """Whether a job's output is its own files only. Jobs that feed outputs shared across jobs
    (external-mode ExternalSecrets merged into OUT/_secrets/, sealed mode's root listing) are
    compiled every time, so the shared files always see every contribution."""
    return not getattr(job, "secret_objects", None) and getattr(job, "secrets_mode", "env") == "env"


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
    """Names, modes and bytes of every file below ``path`` (symlinks by target)."""
    root = Path(path)
    if not root.is_dir():
        return "missing" if not root.exists() else "file:" + digest_file(path)
    digest = hashlib.sha256()
    for directory, dirs, names in os.walk(root):
        dirs.sort()
        for name in sorted(names):
            full = Path(directory) / name
            rel = full.relative_to(root).as_posix()
            if full.is_symlink():
                digest.update(f"L {rel} {os.readlink(full)}\0".encode())
                continue
            data = _read(full)
            mode = "x" if os.access(full, os.X_OK) else "-"
            digest.update(f"F {rel} {mode} ".encode() + (_sha(data).encode() if data is not None else b"?") + b"\0")
    return digest.hexdigest()


DIGESTERS: dict[str, Callable[[str], str]] = {"file": digest_file, "tree": digest_tree}


def _digest(kind: str, path: str) -> Optional[str]:
    digester = DIGESTERS.get(kind)
    return digester(path) if digester else None


def _config_material(directory: Path) -> str:
    from pfgen.config import find_config

    path = find_config(directory)
    if path is None:
        return "config=none"
    data = _read(path)
    return f"config={path}:{_sha(data) if data is not None else 'unreadable'}"


def job_key(template: Path, template_bytes: bytes, out_root: Path, options: Any) -> str:
    """The key of a job; ``template`` is resolved (absolute, no symlinks)."""
    parts = [tool_key(), f"template={template}:{_sha(template_bytes)}", _config_material(template.parent),
             f"out={out_root}", *extra_key(template, options)]
    return _sha("\n".join(parts).encode())


# --- the cache file -------------------------------------------------------------

@dataclass
class Hit:
    """A job served from the cache: its output files (path -> text) and warnings."""

    name: str
    files: dict[Path, str]
    warnings: list[tuple[int, int, str, str]] = field(default_factory=list)


class BuildCache:
    def __init__(self, path: Optional[Path]):
        self.path = path
        self.entries: dict[str, dict] = {}
        self.pending: dict[str, dict] = {}
        self._bytes: dict[Path, tuple[Path, Optional[bytes]]] = {}
        if path is not None:
            try:
                loaded = json.loads(path.read_text(encoding="utf-8"))
                if loaded.get("format") == FORMAT and isinstance(loaded.get("entries"), dict):
                    self.entries = loaded["entries"]
            except (OSError, ValueError, AttributeError):
                self.entries = {}

    @classmethod
    def open(cls, cwd: Optional[Path] = None) -> "BuildCache":
        """The cache for builds run from ``cwd``; a no-op cache when disabled."""
        if not enabled():
            return cls(None)
        where = str((cwd or Path.cwd()).resolve())
        return cls(cache_root() / f"build-{_sha(where.encode())[:24]}.json")

    @property
    def active(self) -> bool:
        return self.path is not None

    def _resolved(self, template: Path) -> tuple[Path, Optional[bytes]]:
        """The template's resolved path and bytes, read once per build."""
        if template not in self._bytes:
            self._bytes[template] = (template.resolve(), _read(template))
        return self._bytes[template]

    def lookup(self, template: Path, out_root: Path, options: Any) -> Optional[Hit]:
        if not self.active:
            return None
        resolved, data = self._resolved(template)
        entry = self.entries.get(str(resolved))
        if entry is None or data is None or entry.get("key") != job_key(resolved, data, out_root, options):
            return None
        for kind, path, digest in entry.get("deps", []):
            if _digest(kind, path) != digest:
                return None
        files: dict[Path, str] = {}
        for rel, digest in entry.get("files", {}).items():
            path = out_root / rel
            content = _read(path)
            if content is None or _sha(content) != digest:
                return None
            try:
                files[path] = content.decode("utf-8")
            except UnicodeDecodeError:
                return None
        warnings = [tuple(w) for w in entry.get("warnings", [])]
        return Hit(entry["job"], files, warnings)  # type: ignore[arg-type]

    def record(self, template: Path, out_root: Path, options: Any, job: Any, files: dict[Path, str]) -> None:
        """Remember a freshly compiled job whose output is ``files`` (absolute path -> text)."""
        if not self.active or not cacheable(job):
            return
        resolved, data = self._resolved(template)
        if data is None:
            return
        deps = []
        for kind, path in dependencies(template, job, options):
            digest = _digest(kind, path)
            if digest is None:
                return  # an input nobody can digest: never cache this job
            deps.append([kind, path, digest])
        self.pending[str(resolved)] = {
            "key": job_key(resolved, data, out_root, options),
            "job": job.plan.name,
            "files": {path.relative_to(out_root).as_posix(): _sha(text.encode("utf-8")) for path, text in sorted(files.items())},
            "warnings": [[d.line, d.col, d.message, d.severity] for d in job.diagnostics],
            "deps": deps,
        }

    def save(self) -> None:
        """Write the cache (atomically); failures to write only cost speed."""
        if not self.active or not self.pending:
            return
        entries = {k: v for k, v in self.entries.items() if k not in self.pending and Path(k).exists()}
        entries.update(self.pending)
        if len(entries) > _MAX_ENTRIES:
            keep = set(self.pending) | set(sorted(entries)[: _MAX_ENTRIES - len(self.pending)])
            entries = {k: v for k, v in entries.items() if k in keep}
        text = json.dumps({"format": FORMAT, "entries": entries}, sort_keys=True, separators=(",", ":"))
        assert self.path is not None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".build-", suffix=".tmp", dir=self.path.parent)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
            os.replace(tmp, self.path)
        except OSError:
            return
        self.entries, self.pending = entries, {}
