"""`pfgen image build`: build (and push) a job's workspace image with the Docker Engine API.

The build context is made here from exactly the files whose bytes the tag
hashes (pfgen.image.workspace.write_context), so the image behind
``<registry>/<job>:<tag>`` always holds what the tag says. Nothing is rebuilt
when the tag is already present (locally, or in the registry when pushing).
Every failure - daemon unreachable, authentication, a failed build step, an
error reported inside Docker's JSON stream - becomes an :class:`ImageError`
with a message for a person; the CLI prints it and exits non-zero.
"""

from __future__ import annotations

import os
import sys
import tempfile
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Optional, TextIO

from pfgen.resolve.plan import WorkspaceImage
from pfgen.image.workspace import write_context
from pfgen.resolve.workspace import DOCKERFILE_IN_CONTEXT, Workspace, WorkspaceChanged

USERNAME_ENV = "PFGEN_REGISTRY_USERNAME"
PASSWORD_ENV = "PFGEN_REGISTRY_PASSWORD"
_AUTH_WORDS = ("unauthorized", "authentication required", "no basic auth credentials", "denied", "401", "403")


class ImageError(Exception):
    """A build or push failed; the message says why and what to do."""


@dataclass
class Outcome:
    reference: str
    built: bool
    message: str


class Reporter:
    """Docker's progress for a person on a terminal, plain lines otherwise (CI, pipes)."""

    def __init__(self, out: TextIO = sys.stderr, interactive: Optional[bool] = None):
        self.out = out
        if interactive is None:
            interactive = out.isatty() and not os.environ.get("CI")
        self.interactive = interactive
        self._last_status: dict[str, str] = {}
        self._progress_line = False

    def line(self, text: str) -> None:
        self._end_progress()
        self.out.write(text.rstrip("\n") + "\n")
        self.out.flush()

    def build_chunk(self, chunk: dict) -> None:
        text = chunk.get("stream")
        if text:
            self._end_progress()
            self.out.write(text)
            self.out.flush()
        elif "status" in chunk:  # pulling the base image
            self.progress(chunk)

    def progress(self, chunk: dict) -> None:
        layer, status = chunk.get("id", ""), chunk.get("status", "")
        if self.interactive and chunk.get("progress"):
            self.out.write(f"\r\x1b[K{layer}: {status} {chunk['progress']}")
            self.out.flush()
            self._progress_line = True
            return
        if chunk.get("progressDetail") and not self.interactive:
            return  # byte counts: noise in a log
        if self._last_status.get(layer) != status:
            self._last_status[layer] = status
            self.line(f"{layer}: {status}" if layer else status)

    def _end_progress(self) -> None:
        if self._progress_line:
            self.out.write("\n")
            self._progress_line = False


def connect() -> Any:
    """A docker client for DOCKER_HOST (or the default socket), checked with a ping."""
    import docker

    host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    try:
        client = docker.from_env(timeout=600)
        client.ping()
    except docker.errors.DockerException as err:
        raise ImageError(
            f"cannot reach the Docker daemon at {host}: {_short(err)}\n"
            "  Is dockerd running, and may you use its socket? Set DOCKER_HOST to use another daemon."
        ) from None
    return client


def registry_auth() -> Optional[dict]:
    """Credentials from PFGEN_REGISTRY_USERNAME/PASSWORD; None lets docker use its config (docker login)."""
    user, password = os.environ.get(USERNAME_ENV), os.environ.get(PASSWORD_ENV)
    if user and password:
        return {"username": user, "password": password}
    return None


def _short(err: BaseException) -> str:
    text = str(getattr(err, "explanation", None) or err)
    return " ".join(text.split())[:500]


def _registry_of(reference: str) -> str:
    return reference.split("/", 1)[0]


def _auth_hint(reference: str) -> str:
    return (
        f"  Log in with `docker login {_registry_of(reference)}`, or set {USERNAME_ENV} and {PASSWORD_ENV}."
    )


def _is_auth_error(text: str) -> bool:
    lowered = text.lower()
    return any(word in lowered for word in _AUTH_WORDS)


def exists_locally(client: Any, reference: str) -> bool:
    import docker

    try:
        client.api.inspect_image(reference)
        return True
    except docker.errors.NotFound:
        return False


def exists_in_registry(client: Any, reference: str, auth: Optional[dict]) -> bool:
    import docker

    try:
        client.api.inspect_distribution(reference, auth_config=auth)
        return True
    except docker.errors.NotFound:
        return False
    except docker.errors.APIError as err:
        text = _short(err)
        if "manifest unknown" in text.lower() or "not found" in text.lower():
            return False
        if _is_auth_error(text) or err.status_code in (401, 403):
            raise ImageError(f"registry refused to show {reference}: {text}\n{_auth_hint(reference)}") from None
        raise ImageError(f"cannot ask the registry about {reference}: {text}") from None


def build(client: Any, image: WorkspaceImage, reporter: Reporter, network_mode: Optional[str] = None) -> str:
    """Build ``image`` from its workspace; returns the image id."""
    import docker

    workspace = Workspace(root=image.workspace_dir, name=image.workspace_name, files=image.files,
                          dockerignore=image.dockerignore)
    with tempfile.TemporaryFile() as context:
        try:
            tag = write_context(image.dockerfile, workspace, context)
        except (WorkspaceChanged, OSError) as err:
            raise ImageError(f"{err}") from None
        if tag != image.tag:
            raise ImageError(
                f"the workspace {image.workspace_dir} changed after it was scanned "
                f"(now {tag}, expected {image.tag}); run again"
            )
        context.seek(0)
        image_id = None
        try:
            stream = client.api.build(
                fileobj=context,
                custom_context=True,
                dockerfile=DOCKERFILE_IN_CONTEXT,
                tag=image.reference,
                rm=True,
                forcerm=True,
                decode=True,
                network_mode=network_mode,
            )
            for chunk in stream:
                error = _stream_error(chunk)
                if error:
                    raise ImageError(f"building {image.reference} failed: {error}" + _build_hint(error, image))
                reporter.build_chunk(chunk)
                aux = chunk.get("aux")
                if isinstance(aux, dict) and aux.get("ID"):
                    image_id = aux["ID"]
        except docker.errors.APIError as err:
            raise ImageError(f"building {image.reference} failed: {_short(err)}") from None
    if image_id is None:
        raise ImageError(f"building {image.reference} produced no image (the daemon's stream ended early)")
    return image_id


def _stream_error(chunk: dict) -> Optional[str]:
    if "error" in chunk or "errorDetail" in chunk:
        detail = chunk.get("errorDetail") or {}
        return " ".join(str(detail.get("message") or chunk.get("error") or "unknown error").split())
    return None


def _build_hint(error: str, image: WorkspaceImage) -> str:
    if _is_auth_error(error) or "pull access denied" in error or "manifest unknown" in error or "not found" in error:
        return (f"\n  The base image {image.base_image} (docker.image) could not be pulled: check its name, "
                f"or log in to its registry.")
    return ""


def push(client: Any, reference: str, auth: Optional[dict], reporter: Reporter) -> None:
    import docker

    repository, tag = reference.rsplit(":", 1)
    try:
        stream = client.api.push(repository, tag=tag, stream=True, decode=True, auth_config=auth)
        for chunk in stream:
            error = _stream_error(chunk)
            if error:
                hint = "\n" + _auth_hint(reference) if _is_auth_error(error) else ""
                raise ImageError(f"pushing {reference} failed: {error}{hint}")
            reporter.progress(chunk)
    except docker.errors.APIError as err:
        text = _short(err)
        hint = "\n" + _auth_hint(reference) if _is_auth_error(text) else ""
        raise ImageError(f"pushing {reference} failed: {text}{hint}") from None


def build_and_push(
    images: Iterable[WorkspaceImage],
    *,
    push_images: bool,
    reporter: Reporter,
    client_factory: Callable[[], Any] = connect,
    network_mode: Optional[str] = None,
) -> list[Outcome]:
    images = list(images)
    if not images:
        return []
    import docker
    import requests

    client = client_factory()
    try:
        return _build_and_push(client, images, push_images, reporter, network_mode)
    except (docker.errors.DockerException, requests.exceptions.RequestException) as err:
        # Anything the specific handlers did not turn into a message: the daemon went away, ...
        raise ImageError(f"the Docker daemon failed: {_short(err)}") from None


def _build_and_push(client: Any, images: list[WorkspaceImage], push_images: bool, reporter: Reporter,
                    network_mode: Optional[str]) -> list[Outcome]:
    auth = registry_auth() if push_images else None
    outcomes = []
    for image in images:
        ref = image.reference
        if push_images and exists_in_registry(client, ref, auth):
            outcomes.append(Outcome(ref, False, f"{ref}: already in the registry; nothing to do"))
            reporter.line(outcomes[-1].message)
            continue
        built = False
        if exists_locally(client, ref):
            reporter.line(f"{ref}: already built; skipping the build")
        else:
            reporter.line(f"{ref}: building from {image.workspace_dir} ({image.file_count} files, "
                          f"{image.total_bytes} bytes) on {image.base_image}")
            build(client, image, reporter, network_mode)
            built = True
        if push_images:
            reporter.line(f"{ref}: pushing")
            push(client, ref, auth, reporter)
        outcomes.append(Outcome(ref, built, f"{ref}: {'built' if built else 'present'}"
                                f"{' and pushed' if push_images else ''}"))
        reporter.line(outcomes[-1].message)
    return outcomes
