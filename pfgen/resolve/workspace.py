"""A job's workspace: which files go into its image (the scan), and the image's tag.

PeriFlow uploaded every regular file under the workspace directory minus
those matched by its `.pfignore` (gitignore syntax), and the job saw them at
``<workspace.mount_path>/<basename(DIR)>``. pfgen bakes the same files into an
image built ``FROM`` the template's ``docker.image``. The tag is a content
hash computed here, in pure Python and without a daemon, over the rendered
Dockerfile and the included files' relative paths, executable bits and bytes:
the same tree gives the same tag on any machine and checkout (no mtimes,
owners or absolute paths are hashed), and a file left out by `.pfignore`
never changes it. The values of the Dockerfile are checked by
validate/workspace.py; the build context that holds these files is
image/workspace.py's.
"""

from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Optional

from pfgen import safefs
from pfgen.errors import WARNING, Diagnostic, display_path
from pfgen.resolve.gitignore import parse_gitignore
from pfgen.resolve.ignore import to_dockerignore

PFIGNORE = ".pfignore"
SIZE_LIMIT = 100 * 1024 * 1024  # PeriFlow's workspace limit: 104,857,600 bytes
TAG_PREFIX = "sha-"
TAG_HEX = 16
DOCKERFILE_IN_CONTEXT = ".pfgen.Dockerfile"  # the Dockerfile's name inside pfgen's build context
_CHUNK = 1 << 20
PFIGNORE_MAX_BYTES = 64 * 1024  # a real .pfignore is a few hundred bytes
PFIGNORE_MAX_RULES = 200
WALK_LIMITS = safefs.WalkLimits(entries=200_000, depth=64, seconds=30.0)


@dataclass(frozen=True)
class WorkspaceFile:
    """One file of a workspace, as it goes into the image."""

    path: str  # relative to the workspace root, '/'-separated
    executable: bool
    size: int


@dataclass(frozen=True)
class Workspace:
    """A workspace directory: the files baked into the job's image, after .pfignore."""

    root: Path
    name: str  # basename(DIR): the directory the files appear under in the image
    files: tuple[WorkspaceFile, ...]  # included files, sorted by their UTF-8 path bytes
    dockerignore: str  # .dockerignore text with the same meaning as .pfignore on this tree

    @property
    def total_bytes(self) -> int:
        return sum(f.size for f in self.files)


def _where(file: str, pos: tuple[int, int]):
    def diag(message: str, severity: str = "error") -> Diagnostic:
        return Diagnostic(file, pos[0], pos[1], message, severity)

    return diag


def scan(root: Path, *, file: str, pos: tuple[int, int], display: Optional[str] = None,
         boundary: Optional[Path] = None) -> tuple[
    Optional[Workspace], list[Diagnostic]
]:
    """Walk the workspace and apply `.pfignore`.

    Diagnostics about the directory are reported at ``file:pos`` (the
    template's ``workspace.path`` or the command line); `.pfignore` problems at
    their own line. Returns (None, diagnostics) when there is an error.

    With ``boundary`` (the template's directory), a workspace reached through a
    symbolic link that leads outside it is refused. Nothing below ``root`` is
    followed: links are listed (and not copied), `.pfignore` must be a regular
    file, and the walk is bounded (:data:`WALK_LIMITS`).
    """
    diag = _where(file, pos)
    shown = display or str(root)
    if boundary is not None:
        link = safefs.escaping_link(root, boundary)
        if link is not None:
            return None, [diag(f"workspace {shown!r} leads outside the template's directory through the symbolic "
                               f"link {safefs.shown(link[0])!r} (to {link[1]!r}); pfgen does not follow links "
                               "out of the template's directory: copy the files in or point workspace.path inside it")]
    if not root.is_dir():
        what = "does not exist" if not os.path.lexists(root) else "is not a directory"
        return None, [diag(f"workspace directory {shown!r} {what}")]
    diagnostics: list[Diagnostic] = []
    pfignore_path = root / PFIGNORE
    pfignore_text = ""
    try:
        data = safefs.read_regular(pfignore_path, PFIGNORE_MAX_BYTES, shown=safefs.shown(pfignore_path))
    except FileNotFoundError:
        data = None
    except safefs.Refused as err:
        return None, [diag(f"workspace {shown!r}: {err}; .pfignore must be a regular file in the workspace")]
    if data is not None:
        try:
            pfignore_text = data.decode("utf-8")
        except UnicodeDecodeError as err:
            return None, [Diagnostic(display_path(pfignore_path), 1, 1, f"cannot read .pfignore: {err}")]
        rules, problems = parse_gitignore(pfignore_text)
        if len(rules) > PFIGNORE_MAX_RULES:
            return None, [Diagnostic(display_path(pfignore_path), rules[PFIGNORE_MAX_RULES].line, 1,
                                     f".pfignore has more than {PFIGNORE_MAX_RULES} patterns; a workspace needs a few")]
        for problem in problems:
            diagnostics.append(Diagnostic(display_path(pfignore_path), problem.line, 1, problem.message, WARNING))

    try:
        entries = list(safefs.walk(root, WALK_LIMITS))
    except safefs.Refused as err:
        return None, diagnostics + [diag(f"workspace {shown!r} {err}" if isinstance(err, safefs.WalkTooLarge)
                                         else f"workspace {shown!r}: {err}")]
    for rel, _ in entries:
        try:
            rel.encode("utf-8")
        except UnicodeEncodeError:
            diagnostics.append(diag(f"workspace file name {rel.encode('utf-8', 'surrogateescape')!r} is not UTF-8; rename it"))
            continue
        if "\n" in rel or "\r" in rel:
            diagnostics.append(diag(f"workspace file name {rel!r} contains a line break; rename it"))
    if any(d.is_error for d in diagnostics):
        return None, diagnostics

    special = sorted(rel for rel, st in entries if not stat.S_ISREG(st.st_mode))
    all_paths = [rel for rel, _ in entries]
    dockerignore, kept = to_dockerignore(
        pfignore_text, all_paths, not_copied=special, header=_DOCKERIGNORE_HEADER
    )
    by_path = dict(entries)
    files = tuple(
        WorkspaceFile(rel, bool(by_path[rel].st_mode & stat.S_IXUSR), by_path[rel].st_size)
        for rel in sorted(kept, key=lambda p: p.encode("utf-8"))
    )
    skipped_links = [rel for rel in special if stat.S_ISLNK(by_path[rel].st_mode)]
    if skipped_links:
        diagnostics.append(
            diag(
                f"workspace {shown!r}: {len(skipped_links)} symbolic link(s) are not copied into the image "
                f"(first: {skipped_links[0]!r}); copy the target instead or list it in .pfignore",
                WARNING,
            )
        )
    if (root / ".dockerignore").exists():
        diagnostics.append(
            diag(
                f"workspace {shown!r} has its own .dockerignore: it is not copied and not used; "
                "pfgen writes one from .pfignore",
                WARNING,
            )
        )
    git_files = sum(1 for f in files if f.path.startswith(".git/"))
    if git_files:
        diagnostics.append(
            diag(
                f"workspace {shown!r} includes .git/ ({git_files} files) in the image, as PeriFlow would "
                "have uploaded it; add '.git/' to .pfignore",
                WARNING,
            )
        )
    if any(f.path == DOCKERFILE_IN_CONTEXT for f in files):
        diagnostics.append(diag(f"workspace file name {DOCKERFILE_IN_CONTEXT!r} is reserved by pfgen; rename it"))
        return None, diagnostics
    if not files:
        why = " after applying .pfignore" if pfignore_text else ""
        diagnostics.append(diag(f"workspace {shown!r} has no files to copy{why}; PeriFlow rejected an empty workspace"))
        return None, diagnostics
    workspace = Workspace(root=root, name=root.resolve().name, files=files, dockerignore=dockerignore)
    if workspace.total_bytes > SIZE_LIMIT:
        diagnostics.append(
            diag(
                f"workspace {shown!r} is {_mib(workspace.total_bytes)} after .pfignore, over PeriFlow's "
                f"100 MiB limit; large files belong in a data volume (list them in .pfignore)",
                WARNING,
            )
        )
    return workspace, diagnostics


_DOCKERIGNORE_HEADER = """\
# Translated from the workspace's .pfignore; the build context is the
# workspace directory (docs/images.md). Git's ignore rules differ from
# Docker's, so each .pfignore line is rewritten with the same meaning, and any
# path where they would still differ on this tree is listed at the end."""


def _mib(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MiB"


# -- the content hash ----------------------------------------------------------


class Hasher:
    """Frames each input so that no two different trees hash alike."""

    def __init__(self, dockerfile: str):
        self.h = hashlib.sha256(b"pfgen-workspace-image/v1\0")
        data = dockerfile.encode("utf-8")
        self.h.update(b"dockerfile\0%d\0" % len(data) + data)

    def file(self, f: WorkspaceFile) -> None:
        self.h.update(b"file\0" + f.path.encode("utf-8") + b"\0" + (b"x" if f.executable else b"-"))
        self.h.update(b"\0%d\0" % f.size)

    def tag(self) -> str:
        return TAG_PREFIX + self.h.hexdigest()[:TAG_HEX]


def image_tag(dockerfile: str, workspace: Workspace) -> str:
    """The content-addressed tag of the image built from ``dockerfile`` and ``workspace``."""
    hasher = Hasher(dockerfile)
    _read_files(workspace, hasher)
    return hasher.tag()


def check_readable(workspace: Workspace) -> None:
    """Read every included file as :func:`image_tag` does, with the same errors, hashing nothing:
    what ``pfgen validate`` does, which renders no Dockerfile (nothing is written, so no tag is needed)."""
    _read_files(workspace, None)


def _read_files(workspace: Workspace, hasher: Optional[Hasher]) -> None:
    for f in workspace.files:
        if hasher is not None:
            hasher.file(f)
        size = 0
        for chunk in read_file(workspace.root, f.path, f.size):
            if hasher is not None:
                hasher.h.update(chunk)
            size += len(chunk)
        if size != f.size:
            raise WorkspaceChanged(f.path)


class WorkspaceChanged(Exception):
    """A file changed between the scan and reading it."""

    def __init__(self, path: str, why: str = ""):
        super().__init__(f"workspace file {path!r} changed while pfgen was reading it{': ' + why if why else ''}; run again")
        self.path = path


def read_file(root: Path, rel: str, size: Optional[int] = None) -> Iterator[bytes]:
    """The bytes of workspace file ``rel``, in chunks, opened below ``root`` as the scan saw it.
    ``size`` (the scan's): the first read asks for that and one more byte, not for a whole chunk
    (a read of n bytes allocates n; most workspace files are a few KiB); a short read of a regular
    file is its end (the caller compares the bytes read with the scan's size)."""
    try:
        fd = safefs.open_below(root, rel)
    except safefs.Refused as err:
        raise WorkspaceChanged(rel, str(err)) from None
    try:
        asked = _CHUNK if size is None else min(_CHUNK, size + 1)
        while True:
            chunk = os.read(fd, asked)
            if chunk:
                yield chunk
            if len(chunk) < asked:
                return
            asked = _CHUNK
    finally:
        os.close(fd)
