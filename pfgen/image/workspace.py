"""The build context of a workspace image: the scanned files, the Dockerfile and a .dockerignore, as a tar.

The files and the tag are pfgen.resolve.workspace's (the scan, the content
hash); this module streams exactly the hashed bytes to the Docker daemon for
``pfgen image build``.
"""

from __future__ import annotations

import io
import os
import tarfile
from typing import IO

from pfgen import safefs
from pfgen.resolve.workspace import DOCKERFILE_IN_CONTEXT, Hasher, Workspace, WorkspaceChanged


def write_context(dockerfile: str, workspace: Workspace, out: IO[bytes]) -> str:
    """Write the build context as a tar to ``out`` and return its tag.

    The tar holds exactly the hashed bytes (each file is read once, for both),
    with fixed owners, modes (0755/0644) and mtimes, plus the Dockerfile and a
    `.dockerignore` that drops those two from what ``COPY .`` sees.
    """
    hasher = Hasher(dockerfile)
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        _add_bytes(tar, DOCKERFILE_IN_CONTEXT, dockerfile.encode("utf-8"), 0o644)
        ignore = f"/.dockerignore\n/{DOCKERFILE_IN_CONTEXT}\n".encode()
        _add_bytes(tar, ".dockerignore", ignore, 0o644)
        made_dirs: set[str] = set()
        for f in workspace.files:
            parts = f.path.split("/")[:-1]
            for depth in range(1, len(parts) + 1):
                directory = "/".join(parts[:depth])
                if directory not in made_dirs:
                    made_dirs.add(directory)
                    info = _info(directory, 0o755)
                    info.type = tarfile.DIRTYPE
                    tar.addfile(info)
            hasher.file(f)
            info = _info(f.path, 0o755 if f.executable else 0o644)
            info.size = f.size
            try:
                fd = safefs.open_below(workspace.root, f.path)
            except safefs.Refused as err:
                raise WorkspaceChanged(f.path, str(err)) from None
            with os.fdopen(fd, "rb") as handle:
                reader = _HashingReader(handle, hasher.h)
                try:
                    tar.addfile(info, reader)  # type: ignore[arg-type]
                except OSError as err:  # shorter than scanned
                    raise WorkspaceChanged(f.path) from err
                if reader.count != f.size or handle.read(1):
                    raise WorkspaceChanged(f.path)
    return hasher.tag()


class _HashingReader:
    def __init__(self, handle: IO[bytes], h: "hashlib._Hash"):
        self.handle, self.h, self.count = handle, h, 0

    def read(self, size: int = -1) -> bytes:
        data = self.handle.read(size)
        self.h.update(data)
        self.count += len(data)
        return data


def _info(name: str, mode: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.mode, info.mtime, info.uid, info.gid, info.uname, info.gname = mode, 0, 0, 0, "", ""
    return info


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes, mode: int) -> None:
    info = _info(name, mode)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))
