"""Docker's rules for the values pfgen puts into a Dockerfile: image references and paths.

The image reference grammar is that of the distribution project's reference
package ([registry[:port]/]path[:tag][@digest], lower-case path components); a
path in ``COPY``/``WORKDIR`` must not hold what a Dockerfile would interpret.
validate/workspace.py reports these with positions; emit/dockerfile.py checks
them again before rendering.
"""

from __future__ import annotations

import posixpath
import re
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
