"""Emit the workspace image's Dockerfile from templates/Dockerfile.j2.

The image is ``FROM`` the template's ``docker.image`` with the workspace
copied to ``<mount_path>/<basename>``, where PeriFlow mounted it, and the
working directory set to ``mount_path`` (PeriFlow's commands ``cd`` into the
workspace themselves, e.g. ``cd /workspace/cifar && torchrun ...``).

Jinja runs sandboxed with StrictUndefined and no autoescaping; every value is
checked again here (:mod:`pfgen.kube.docker`'s rules, which validate/workspace.py
reports with positions) before it reaches the template, and paths go into
``COPY`` in JSON-array form, so no template value can add a line or an
instruction to the Dockerfile.
"""

from __future__ import annotations

import json
import posixpath
from functools import lru_cache

from pfgen.kube.docker import check_image, check_mount_path, check_workspace_name, destination

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
