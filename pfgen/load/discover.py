"""Find the job templates of a repository: explicit files, or every
pf-template.yml / .yaml and pf_config.yml / .yaml (PeriFlow's earlier name)
below a directory.

A directory is one job: a directory holding two of these names is an error
at each of them (which one PeriFlow's ``pf job run -f`` read was the user's
choice, pfgen cannot guess it). A directory holding none of them but a file
whose name is close to one (``pf-config.yml``, ``pf_template.yaml``,
``PF-Template.yml``) gets a warning at that file with a did-you-mean: it
would otherwise be skipped in silence.

Skipped while walking: ``.git`` (and other VCS dirs), virtualenvs (a
directory holding ``pyvenv.cfg``, or named ``.venv``, ``venv``,
``node_modules``, ``.tox``, ``.nox``), caches, the output directories
(for validate and build: ``-o``, else ./deploy and the deploy/ beside every
pfgen.yaml met on the way),
pfgen's own staging directories (``.pfgen-*``), and whatever git ignores.
Inside a git work tree the ignored paths come from one ``git ls-files
--others --ignored --exclude-standard --directory`` call per walked
directory, so ``.gitignore``, ``.git/info/exclude`` and the global excludes
file all count, exactly as ``git status`` sees them (a tracked file is never
ignored). Outside git, or without git installed, nothing more is skipped.
The result is sorted by resolved path, so the order never depends on the
file system.
"""

from __future__ import annotations

import os
from pathlib import Path

from pfgen.errors import WARNING, Diagnostic, display_path, distance

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Iterable, Optional

# PeriFlow's names for a job template: pf-template.yml in the SDK's later examples, pf_config.yml
# in the earlier ones (tests/corpus/periflow-sdk holds both); discovery looks for all four.
TEMPLATE_NAMES = ("pf-template.yml", "pf-template.yaml", "pf_config.yml", "pf_config.yaml")
CONFIG_NAMES = ("pfgen.yaml", "pfgen.yml")
DEFAULT_OUT = "deploy"  # a build's output directory, beside the governing pfgen.yaml (pfgen/output/layout.py)
SKIP_DIRS = frozenset({".git", ".hg", ".svn", ".venv", "venv", "node_modules", "__pycache__", ".tox", ".nox",
                       ".mypy_cache", ".pytest_cache"})


def git_ignored(root: Path) -> Optional[set[str]]:
    """Ignored paths below ``root``, relative to it, as git shows them (directories end
    with '/'); None outside a git work tree."""
    return git_answer(ask_git(root))


def ask_git(root: Path) -> object:
    """Start git's listing of the ignored paths below ``root`` (for :func:`git_answer`), so that
    it can run while something else is checked; None when git is not installed."""
    import subprocess

    try:
        return subprocess.Popen(
            ["git", "ls-files", "-z", "--others", "--ignored", "--exclude-standard", "--directory"],
            cwd=root, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        )
    except OSError:  # git is not installed
        return None


def git_answer(proc: object) -> Optional[set[str]]:
    """What :func:`git_ignored` returns, from the process :func:`ask_git` started."""
    if proc is None:
        return None
    out, _ = proc.communicate()  # type: ignore[attr-defined]
    if proc.returncode != 0:  # type: ignore[attr-defined]  # not a work tree
        return None
    return {os.fsdecode(item) for item in out.split(b"\0") if item}


class Trace:
    """What one discovery looked at, so that a record of it (pfgen/output/wholestamp.py) can answer
    the same question again by the stats of these directories instead of listing them: a
    directory's entries (their names, and so the inodes and types behind them) change only with
    its mtime and ctime."""

    __slots__ = ("dirs", "venvs", "exact", "ignored", "started")

    def __init__(self, ignored: Optional[dict] = None):
        import time

        self.started = time.time_ns()  # before anything is listed: a directory changed after it is too recent
        self.dirs: list[str] = []  # the real path of every directory listed, in order
        self.venvs: list[str] = []  # directories not entered because they hold a pyvenv.cfg
        self.exact = True  # False: the answer rests on something stats do not show (see _walk)
        self.ignored: dict = dict(ignored or {})  # str(root) -> git's ignored paths (None: not in git)


def _is_virtualenv(path: str) -> bool:
    return os.path.isfile(os.path.join(path, "pyvenv.cfg"))


def _squash(name: str) -> str:
    return "".join(ch for ch in name.lower() if ch.isalnum())


_SQUASHED = {_squash(n): n for n in TEMPLATE_NAMES}


def near_miss(name: str) -> Optional[str]:
    """The template name ``name`` was probably meant to be (``pf-config.yml`` -> ``pf_config.yml``),
    or None. Only YAML file names starting with "pf" and within two edits of a template name
    once case, '-', '_' and '.' are ignored; pfgen.yaml is never one."""
    if name in TEMPLATE_NAMES or name in CONFIG_NAMES or not name.lower().startswith("pf"):
        return None
    if not name.lower().endswith((".yml", ".yaml")):
        return None
    squashed = _squash(name)
    best = min(_SQUASHED, key=lambda known: (distance(squashed, known), known))
    if distance(squashed, best) > 2:
        return None
    wanted = _SQUASHED[best]
    # keep the writer's extension: pf-config.yaml -> pf_config.yaml
    stem = wanted.rsplit(".", 1)[0]
    return stem + (".yaml" if name.lower().endswith(".yaml") else ".yml")


def _walk(root: Path, names: frozenset[str], skip: set[str], outputs: Optional[str] = None,
          found_outputs: Optional[list[tuple[str, Path]]] = None,
          problems: Optional[list[Diagnostic]] = None, trace: Optional[Trace] = None) -> list[tuple[str, Path]]:
    """(real path, path) of the files called one of ``names`` below ``root``.

    Directories whose real path is in ``skip`` are not entered. With ``outputs``
    (an output directory's name), a directory holding a project config gets its
    ``outputs`` subdirectory added to ``skip`` before its subdirectories are
    walked, and (the config's real path, that subdirectory) to ``found_outputs``:
    the walk finds the configs and leaves their output trees out in one pass.

    Plain strings and scandir's entry types: a monorepo has thousands of
    directories. Symlinked directories are never entered, so a directory's real
    path is its parent's real path plus its name; only symlinked files are
    resolved one by one.

    With ``trace``, every directory listed and every virtualenv left out is noted in it, and git's
    answer taken from it when it has one for ``root`` (else stored there); ``trace.exact`` is
    cleared when the answer rests on more than the entries of those directories: a listing that
    failed, or a link whose name counts (a template's, a config's, a near miss's, pyvenv.cfg: what
    it points to can change without any directory changing).
    """
    if trace is not None and str(root) in trace.ignored:
        ignored = trace.ignored[str(root)] or set()
    else:
        answer = git_ignored(root)
        if trace is not None:
            trace.ignored[str(root)] = answer
        ignored = answer or set()
    found: list[tuple[str, Path]] = []

    def visit(path: str, real: str, prefix: str) -> None:
        try:
            with os.scandir(path) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError:  # vanished or unreadable: skipped, as os.walk does
            if trace is not None:
                trace.exact = False
            return
        if trace is not None:
            trace.dirs.append(real)
            if any(e.is_symlink() and _counts(e.name, names) for e in entries):
                trace.exact = False
        files = [e for e in entries if not _is_dir(e)]
        configs = [e.name for e in files if e.name in CONFIG_NAMES] if outputs is not None else []
        if configs:
            skip.add(os.path.join(real, outputs))
            if found_outputs is not None:
                found_outputs.extend((os.path.join(real, name), Path(path) / outputs) for name in configs)
        here = [e for e in files if e.name in names and prefix + e.name not in ignored]
        for entry in here:
            resolved = os.path.realpath(entry.path) if entry.is_symlink() else os.path.join(real, entry.name)
            found.append((resolved, Path(entry.path)))
        if problems is not None:
            if len(here) > 1:
                problems.extend(_clash(here))
            elif not here:
                problems.extend(_near_misses(files, prefix, ignored))
        for entry in entries:
            name = entry.name
            if (not _is_dir(entry) or entry.is_symlink() or name in SKIP_DIRS or name.startswith(".pfgen-")
                    or prefix + name + "/" in ignored or os.path.join(real, name) in skip):
                continue
            if _is_virtualenv(entry.path):
                if trace is not None:
                    trace.venvs.append(os.path.join(real, name))
                continue
            visit(entry.path, os.path.join(real, name), prefix + name + "/")

    visit(str(root), os.path.realpath(root), "")
    return found


def _counts(name: str, names: frozenset[str]) -> bool:
    """A name whose entry's type matters to discovery (is it a file?), not only its presence."""
    return name in names or name in CONFIG_NAMES or name == "pyvenv.cfg" or near_miss(name) is not None


def _clash(entries: list[os.DirEntry]) -> list[Diagnostic]:
    """One directory, several template names: an error at each of them."""
    names = [e.name for e in entries]
    diagnostics = []
    for entry in entries:
        others = ", ".join(n for n in names if n != entry.name)
        diagnostics.append(Diagnostic(
            display_path(Path(entry.path)), 1, 1,
            f"this directory also holds {others}; a directory is one job: keep one template here "
            "and move or delete the other"))
    return diagnostics


def _near_misses(files: list[os.DirEntry], prefix: str, ignored: set[str]) -> list[Diagnostic]:
    found = []
    for entry in files:
        wanted = near_miss(entry.name)
        if wanted is not None and prefix + entry.name not in ignored:
            found.append(Diagnostic(
                display_path(Path(entry.path)), 1, 1,
                f"'{entry.name}' is not a name pfgen reads, so this file is skipped; did you mean '{wanted}'? "
                f"(templates are named {', '.join(TEMPLATE_NAMES)})", WARNING))
    return found


def _is_dir(entry: os.DirEntry) -> bool:
    try:
        return entry.is_dir()  # follows symlinks, as os.walk sorts entries into dirs and files
    except OSError:
        return False


def _by_real_path(found: Iterable[tuple[str, Path]]) -> list[Path]:
    unique: dict[str, Path] = {}
    for real, path in found:
        unique.setdefault(real, path)
    return [unique[real] for real in sorted(unique)]


def find_templates(paths: Iterable[Path], problems: Optional[list[Diagnostic]] = None) -> list[Path]:
    """Templates named by ``paths``: a file is taken as given, a directory is searched."""
    return find_jobs(paths, None, (), problems)[0]


def find_jobs(paths: Iterable[Path], outputs: Optional[str], skip: Iterable[Path],
              problems: Optional[list[Diagnostic]] = None,
              trace: Optional[Trace] = None) -> tuple[list[Path], list[Path]]:
    """Templates named by ``paths`` (as :func:`find_templates`), leaving out ``skip`` and the
    ``outputs`` directory beside every project config found on the way; and those output
    directories, in the order of their configs' real paths. One walk instead of a walk
    for the configs and another for the templates.

    With ``problems``, what the walk found wrong is appended to it: an error for each
    template of a directory holding several, a warning for each near-miss file name. With
    ``trace``, what the walk looked at is noted there (see :func:`_walk`)."""
    skipped = {os.path.realpath(p) for p in skip}
    found: list[tuple[str, Path]] = []
    configs: list[tuple[str, Path]] = []  # (a config's real path, the output directory beside it)
    for path in paths:
        if path.is_dir():
            found.extend(_walk(path, frozenset(TEMPLATE_NAMES), skipped, outputs, configs, problems, trace))
        else:
            found.append((os.path.realpath(path), path))
    return _by_real_path(found), _by_real_path(configs)
