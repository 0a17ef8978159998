"""Emit the workspace image's Dockerfile from templates/Dockerfile.j2.

The image is ``FROM`` the template's ``docker.image`` with the workspace
copied to ``<mount_path>/<basename>``, where PeriFlow mounted it, and the
working directory set to ``mount_path`` (PeriFlow's commands ``cd`` into the
workspace themselves, e.g. ``cd /workspace/cifar && torchrun ...``).

Jinja runs sandboxed with StrictUndefined and no autoescaping; every value is
checked here before it reaches the template (:func:`check_values`) and paths
go into ``COPY`` in JSON-array form, so no template value can add a line or
an instruction to the Dockerfile.
"""

from __future__ import annotations

import json
import posixpath
import re
from functools import lru_cache
from typing import Optional

# A Docker image reference: [registry[:port]/]path[:tag][@digest], lower-case path.
_IMAGE = re.compile(
    r"^(?:[A-Za-z0-9.-]+(?::[0-9]+)?/)?[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
    r"(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?"
    r"(?:@[a-z0-9]+(?:[+._-][a-z0-9]+)*:[0-9a-fA-F]{32,})?$"
)
# Characters a Dockerfile would interpret in a path: variables, escapes, quotes, line breaks.
_UNSAFE_PATH = re.compile(r"[$\\\"'`\x00-\x1f\x7f]")


def check_image(image: str) -> Optional[str]:
    """None if ``image`` is a valid Docker image reference, else the problem."""
    if not isinstance(image, str) or not _IMAGE.match(image):
        return f"docker.image {image!r} is not a valid image reference (e.g. 'pytorch/pytorch:2.1.0-cuda12.1-cudnn8-runtime')"
    return None


def check_mount_path(path: str) -> Optional[str]:
    if not isinstance(path, str) or not path.startswith("/"):
        return f"workspace.mount_path {path!r} must be an absolute path"
    if _UNSAFE_PATH.search(path) or any(c.isspace() for c in path):
        return f"workspace.mount_path {path!r} contains a character a Dockerfile would interpret ($, \\, quotes, spaces, control characters)"
    if ".." in path.split("/"):
        return f"workspace.mount_path {path!r} must not contain '..'"
    return None


def check_workspace_name(name: str) -> Optional[str]:
    if _UNSAFE_PATH.search(name) or name in ("", ".", ".."):
        return f"workspace directory name {name!r} cannot be used in a Dockerfile path; rename the directory"
    return None


def destination(mount_path: str, workspace_name: str) -> str:
    return posixpath.join(posixpath.normpath(mount_path), workspace_name)


@lru_cache(maxsize=1)
def _environment():
    from jinja2 import FileSystemLoader, StrictUndefined
    from jinja2.sandbox import SandboxedEnvironment

    from pfgen.resources import data_dir

    env = SandboxedEnvironment(
        loader=FileSystemLoader(str(data_dir("templates"))),
        undefined=StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
    )
    env.filters["dockerjson"] = lambda value: json.dumps(value, ensure_ascii=False)
    return env


def render(*, base_image: str, mount_path: str, workspace_name: str) -> str:
    """The Dockerfile text. Callers check the values first (check_* above)."""
    for problem in (check_image(base_image), check_mount_path(mount_path), check_workspace_name(workspace_name)):
        if problem:
            raise ValueError(problem)
    workdir = posixpath.normpath(mount_path)
    return _environment().get_template("Dockerfile.j2").render(
        base_image=base_image,
        copy=[".", destination(mount_path, workspace_name) + "/"],
        workdir=workdir,
    )
