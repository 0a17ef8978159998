"""The checks on a workspace image's values: the Dockerfile's inputs, the registry, the image name.

The scan of the workspace's files (and its own diagnostics) is
pfgen.resolve.workspace's; resolve.job.workspace_image runs these checks
around it, in this order: :func:`check_values` (docker.image, mount_path, a
registry to push to), the scan, then :func:`check_names` (the directory's name
in a Dockerfile path, the image name the registry makes).
"""

from __future__ import annotations

from pfgen.errors import Diagnostic
from pfgen.kube.docker import check_image, check_mount_path, check_workspace_name

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Optional


def check_values(*, base_image: str, mount_path: str, registry: Optional[str], shown: str, file: str,
                 image_pos: tuple[int, int], mount_pos: tuple[int, int],
                 workspace_pos: tuple[int, int]) -> list[Diagnostic]:
    """docker.image and workspace.mount_path as a Dockerfile takes them, and a registry to push to."""
    diagnostics: list[Diagnostic] = []
    for problem, pos in ((check_image(base_image), image_pos), (check_mount_path(mount_path), mount_pos)):
        if problem:
            diagnostics.append(Diagnostic(file, pos[0], pos[1], problem))
    if not registry:
        diagnostics.append(
            Diagnostic(
                file,
                *workspace_pos,
                f"workspace {shown!r} is built into an image, which needs a registry to push to: "
                "set 'registry:' in pfgen.yaml (e.g. 'registry: registry.example.com/team')",
            )
        )
    return diagnostics


def repository(registry: Optional[str], job: str) -> str:
    """The image repository of a job's workspace image: <registry>/<job> ('' without a registry)."""
    return f"{registry.rstrip('/')}/{job}" if registry else ""


def check_names(workspace_name: Optional[str], registry: Optional[str], job: str, *, file: str,
                workspace_pos: tuple[int, int]) -> list[Diagnostic]:
    """The scanned directory's name (None: the scan failed) in the image's paths, and the image name."""
    diagnostics: list[Diagnostic] = []
    if workspace_name is not None:
        problem = check_workspace_name(workspace_name)
        if problem:
            diagnostics.append(Diagnostic(file, workspace_pos[0], workspace_pos[1], problem))
    name = repository(registry, job)
    if registry and check_image(name):
        diagnostics.append(
            Diagnostic(file, *workspace_pos, f"registry {registry!r} from pfgen.yaml does not make a valid image name: {name!r}")
        )
    return diagnostics
