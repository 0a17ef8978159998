"""The one policy for every path pfgen reads or writes (docs/guarantees.md, "Paths").

Every file in a repository is untrusted input, symbolic links included. So:

* a file pfgen reads (`.pfignore`, a workspace file, a manifest for `lint`, a
  marker-named template) is opened without following a final symbolic link
  (``O_NOFOLLOW``), without blocking (``O_NONBLOCK``: a FIFO cannot hang the
  open) and is refused unless ``fstat`` says it is a regular file: no
  ``/proc`` files, devices, FIFOs or sockets, whatever their name;
* every read is bounded in bytes;
* a directory pfgen walks or writes into is reached either through no
  symbolic link at all, or through links whose targets stay inside a boundary
  (the template's directory for workspaces, the repository for output trees
  and markers); :func:`escaping_link` names the first link that leaves it;
* walks are bounded in entries, depth and time (:class:`WalkLimits`).

A refusal is a :class:`Refused` exception with a sentence that names the link
or file; callers turn it into a positioned diagnostic.
"""

from __future__ import annotations

import os
import stat
import time
from dataclasses import dataclass
from pathlib import Path

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Callable, Iterator, Optional

_READ_FLAGS = os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW | os.O_NONBLOCK
_DIR_FLAGS = os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW | os.O_DIRECTORY
_CHUNK = 1 << 20


class Refused(Exception):
    """pfgen will not read or write this path; the message says why and names it."""


def kind(mode: int) -> str:
    """What a non-regular file is, in words."""
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a regular file"


def shown(path: "str | os.PathLike[str]") -> str:
    """How a path is named in messages: relative to the current directory when below it,
    without resolving links (the link itself is what the message is about)."""
    full = os.path.abspath(path)
    rel = os.path.relpath(full, os.path.abspath(os.getcwd()))
    return full if rel.startswith("..") else rel


def _link_text(path: str) -> str:
    try:
        return f" to {os.readlink(path)!r}"
    except OSError:
        return ""


def open_regular(path: "str | os.PathLike[str]", *, dir_fd: "Optional[int]" = None, shown: "Optional[str]" = None) -> int:
    """A read-only descriptor on ``path`` if it is a regular file, not reached through a final
    symbolic link; :class:`Refused` otherwise (FileNotFoundError passes through)."""
    shown = shown or os.fspath(path)
    try:
        fd = os.open(path, _READ_FLAGS, dir_fd=dir_fd)
    except OSError as err:
        if err.errno == 40:  # ELOOP: the final component is a symbolic link
            target = _link_text(path) if dir_fd is None else ""
            raise Refused(f"{shown!r} is a symbolic link{target}; pfgen does not follow links") from None
        if isinstance(err, FileNotFoundError):
            raise
        raise Refused(f"cannot read {shown!r}: {err.strerror}") from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise Refused(f"{shown!r} is {kind(mode)}, not a regular file; pfgen reads only regular files")
    os.set_blocking(fd, True)
    return fd


def read_regular(path: "str | os.PathLike[str]", limit: int, *, shown: "Optional[str]" = None,
                 dir_fd: "Optional[int]" = None) -> bytes:
    """The bytes of a regular file (see :func:`open_regular`), at most ``limit`` of them:
    a longer file is :class:`Refused`."""
    shown = shown or os.fspath(path)
    fd = open_regular(path, dir_fd=dir_fd, shown=shown)
    try:
        data = read_at_most(fd, limit, os.fstat(fd).st_size)
    finally:
        os.close(fd)
    if len(data) > limit:
        raise Refused(f"{shown!r} is larger than {_size(limit)}")
    return data


def read_bounded(path: "str | os.PathLike[str]", limit: int) -> "Optional[bytes]":
    """The first ``limit + 1`` bytes of ``path`` (all of it when shorter) if it is a regular file
    reached without a final symbolic link; None when it is missing, a link, or anything but a
    regular file (a FIFO or device is opened without blocking and never read). Other errors
    (permissions, I/O) are raised. For pfgen's own files: the output, the cache, its records."""
    try:
        fd = os.open(path, _READ_FLAGS)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as err:
        if err.errno == 40:  # ELOOP: the final component is a symbolic link
            return None
        raise
    try:
        st = os.fstat(fd)
        return read_at_most(fd, limit, st.st_size) if stat.S_ISREG(st.st_mode) else None
    finally:
        os.close(fd)


def read_at_most(fd: int, limit: int, size: int) -> bytes:
    """The first ``limit + 1`` bytes of the regular file open at ``fd`` (all of it when shorter), read
    with ``os.read``: ``size`` (its size by fstat) and one more byte asked for first, then, only if
    it grew since, the rest up to the bound. A read of n bytes allocates n (a buffered
    ``read(limit + 1)`` took 8 MiB for each few-KiB file of an OUT), and a file object costs an
    ``ioctl`` and an ``lseek`` per file; a short read of a regular file is its end."""
    chunks = []
    total = 0
    asked = min(size, limit) + 1
    while total <= limit:
        chunk = os.read(fd, asked)
        chunks.append(chunk)
        total += len(chunk)
        if len(chunk) < asked or not chunk:
            break
        asked = min(1 << 20, limit + 1 - total)  # it grew: read on, in pieces, to the bound
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _size(n: int) -> str:
    if n >= 1 << 20 and n % (1 << 20) == 0:
        return f"{n >> 20} MiB"
    if n >= 1 << 10 and n % (1 << 10) == 0:
        return f"{n >> 10} KiB"
    return f"{n} bytes"


def open_below(root: "str | os.PathLike[str]", rel: str) -> int:
    """Open the regular file ``root/rel`` following no symbolic link below ``root`` (each
    directory is opened with ``O_NOFOLLOW`` relative to the one above it), so a directory
    swapped for a link after a scan cannot lead outside. :class:`Refused` otherwise."""
    parts = rel.split("/")
    fd = os.open(root, _DIR_FLAGS & ~os.O_NOFOLLOW)
    try:
        for k, part in enumerate(parts[:-1]):
            try:
                child = os.open(part, _DIR_FLAGS, dir_fd=fd)
            except OSError as err:
                raise Refused(f"{'/'.join(parts[:k + 1])!r} is not a directory pfgen can enter "
                              f"(it changed or is a symbolic link: {err.strerror})") from None
            os.close(fd)
            fd = child
        return open_regular(parts[-1], dir_fd=fd, shown=rel)
    finally:
        os.close(fd)


def inside(path: "str | os.PathLike[str]", boundary: "str | os.PathLike[str]") -> bool:
    """Whether the real path of ``path`` is ``boundary``'s real path or below it."""
    real = os.path.realpath(path)
    base = os.path.realpath(boundary)
    return real == base or real.startswith(base.rstrip("/") + "/")


def escaping_link(path: "str | os.PathLike[str]", boundary: "str | os.PathLike[str]") -> "Optional[tuple[str, str]]":
    """The first symbolic link on the way from ``boundary`` down to ``path`` (``path``
    itself included) whose target leads outside ``boundary``, as (link, target); None when
    every link stays inside or ``path`` is not below ``boundary`` lexically."""
    base = os.path.abspath(boundary)
    full = os.path.abspath(path)
    rel = os.path.relpath(full, base)
    if rel == "." or rel.startswith(".."):
        return None
    current = base
    for part in rel.split(os.sep):
        current = os.path.join(current, part)
        if os.path.islink(current) and not inside(current, base):
            return current, os.readlink(current)
    return None


def repository_root(start: "str | os.PathLike[str]") -> Path:
    """The repository ``start`` is in: the nearest directory above it (itself included)
    holding ``.git``; without one, the current directory when ``start`` is below it, else
    ``start`` itself (made absolute, links not resolved)."""
    here = Path(os.path.abspath(start))
    for directory in (here, *here.parents):
        if os.path.lexists(directory / ".git"):
            return directory
    cwd = Path(os.path.abspath(os.getcwd()))
    return cwd if here == cwd or cwd in here.parents else here


@dataclass(frozen=True)
class WalkLimits:
    """Bounds on one walk: entries seen, directory depth, seconds."""

    entries: int = 200_000
    depth: int = 64
    seconds: float = 60.0


class WalkTooLarge(Refused):
    pass


def walk(root: "str | os.PathLike[str]", limits: WalkLimits = WalkLimits(),
         skip_dir: "Optional[Callable[[str], bool]]" = None) -> "Iterator[tuple[str, os.stat_result]]":
    """(relative '/'-separated path, lstat) of every non-directory below ``root``, in a fixed
    order, following no symbolic link (links are reported as links). Raises
    :class:`WalkTooLarge` past ``limits`` and :class:`Refused` on an unreadable directory.
    ``skip_dir(name)`` true: that directory is not entered."""
    deadline = time.monotonic() + limits.seconds
    count = 0
    stack: list[tuple[str, str, int]] = [("", os.fspath(root), 0)]
    while stack:
        prefix, directory, depth = stack.pop()
        try:
            with os.scandir(directory) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as err:
            raise Refused(f"cannot list {(prefix.rstrip('/') or '.')!r}: {err.strerror}") from None
        count += len(entries)
        if count > limits.entries:
            raise WalkTooLarge(f"has more than {limits.entries:,} files and directories")
        if time.monotonic() > deadline:
            raise WalkTooLarge(f"took more than {limits.seconds:g} s to list")
        subdirs = []
        for entry in entries:
            rel = prefix + entry.name
            if entry.is_dir(follow_symlinks=False):
                if skip_dir is not None and skip_dir(entry.name):
                    continue
                if depth + 1 > limits.depth:
                    raise WalkTooLarge(f"is nested more than {limits.depth} directories deep (at {rel!r})")
                subdirs.append((rel + "/", entry.path, depth + 1))
            else:
                try:
                    yield rel, entry.stat(follow_symlinks=False)
                except FileNotFoundError:
                    continue  # gone since the listing
        stack.extend(reversed(subdirs))


def read_input(path: "str | os.PathLike[str]", limit: int, *, shown: "Optional[str]" = None) -> bytes:
    """The bytes of an input file named by the user or found in the repository (a template,
    `pfgen.yaml`, a manifest for `lint`): a regular file, at most ``limit`` bytes (a longer file
    is :class:`Refused`). It may be a symbolic link only to a file inside the repository it is in
    (:func:`repository_root` of its directory); FileNotFoundError and IsADirectoryError pass through."""
    shown = shown or os.fspath(path)
    if os.path.islink(path):
        boundary = repository_root(os.path.dirname(os.path.abspath(path)))
        if not inside(path, boundary):
            raise Refused(f"{shown!r} is a symbolic link{_link_text(os.fspath(path))} out of the repository "
                          f"({shown_dir(boundary)!r}); pfgen does not follow links out of it")
        path = os.path.realpath(path)
    if os.path.isdir(path):
        raise IsADirectoryError(os.fspath(path))
    return read_regular(path, limit, shown=shown)


def shown_dir(path: "str | os.PathLike[str]") -> str:
    text = shown(path)
    return "." if text == "." else text
