"""The writer's filesystem primitives: durable file writes, one ``syncfs`` for many files,
``renameat2(RENAME_EXCHANGE)`` to swap two directories atomically (both through ctypes, Linux),
and the fault injection that cuts a build before any mutation (tests only: see
pfgen/output/write.py's docstring). No knowledge of what pfgen writes or owns."""

from __future__ import annotations

import errno
import os
import shutil
import stat
from pathlib import Path
from typing import Optional


class Faults:
    """Counts filesystem mutations; SIGKILLs the process at the configured one (tests only)."""

    def __init__(self) -> None:
        raw = os.environ.get("PFGEN_FAULT_AFTER", "")
        self.limit = int(raw) if raw.strip().isdigit() else None
        self.errno = getattr(errno, os.environ.get("PFGEN_FAULT_ERRNO", ""), None)  # e.g. ENOSPC: fail, don't die
        self.count = 0

    def tick(self) -> None:
        if self.limit is not None and self.count >= self.limit:
            if self.errno is not None:
                self.limit = None  # one failure; the clean-up after it runs unhindered
                raise OSError(self.errno, os.strerror(self.errno))
            import signal

            os.kill(os.getpid(), signal.SIGKILL)
        self.count += 1


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_file(path: Path, text: str, faults: Faults, *, sync: bool = True) -> None:
    faults.tick()
    data = text.encode("utf-8", errors="surrogateescape")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC | os.O_NOFOLLOW, 0o644)
    try:
        os.fchmod(fd, 0o644)  # whatever the umask: output is reviewed, committed and applied by others
        view = memoryview(data)
        while view:  # (no file object: its ioctl and lseek cost more than the write of a few KiB)
            view = view[os.write(fd, view):]
        if sync:
            os.fsync(fd)
    finally:
        os.close(fd)


def syncfs(path: Path) -> bool:
    """Flush the whole file system holding ``path`` to disk (Linux ``syncfs``), waiting for it;
    False where that call is not available."""
    import ctypes

    try:
        syncfs = ctypes.CDLL(None, use_errno=True).syncfs
    except (OSError, AttributeError):
        return False
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        if syncfs(fd) != 0:
            err = ctypes.get_errno()
            if err in (errno.ENOSYS, errno.EINVAL):
                return False
            raise OSError(err, os.strerror(err), str(path))
    finally:
        os.close(fd)
    return True


def make_durable(out: Path, stages: list[Path]) -> None:
    """Make the staged directories' files and entries durable before any of them is swapped in:
    one ``syncfs`` of OUT's file system (a build stages a thousand directories; an fsync per file
    costs more than all the rest of the writing), else an fsync of every staged file and directory."""
    if not stages or syncfs(out):
        return
    for stage in stages:
        for current, _, names in os.walk(stage):
            for name in names:
                path = os.path.join(current, name)
                if not os.path.islink(path):
                    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
                    try:
                        os.fsync(fd)
                    finally:
                        os.close(fd)
            fsync_dir(Path(current))


def carry_over(source: Path, target: Path, faults: Faults) -> None:
    faults.tick()
    if not target.parent.is_dir():
        target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target, follow_symlinks=False)
    except OSError:
        if source.is_symlink():
            os.symlink(os.readlink(source), target)
        else:
            shutil.copy2(source, target)
_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths; False when the system cannot."""
    if os.environ.get("PFGEN_NO_EXCHANGE") == "1":
        return False
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP):
        return False
    raise OSError(err, os.strerror(err), str(a))


def mkdir(path: Path, mode: int = 0o755) -> None:
    os.mkdir(path)
    os.chmod(path, mode)  # not left to the umask


def makedirs(stage: Path, rel: str, mode: Optional[int] = None) -> None:
    """Create stage/rel and its missing parents: pfgen's own at 0755, a foreign one (``mode``) as it was."""
    parts = rel.split("/")
    for depth in range(1, len(parts) + 1):
        path = stage.joinpath(*parts[:depth])
        if not os.path.isdir(path):
            mkdir(path, 0o755)
    if mode is not None:
        os.chmod(stage / rel, stat.S_IMODE(mode))
