"""The translated .dockerignore makes the real `docker build` send what git keeps."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import tarfile

import pytest
from ignore_tree import PATTERN_FILES, make_tree

from pfgen.resolve.ignore import to_dockerignore

pytestmark = pytest.mark.docker


def files_in_image(client, image: str, under: str) -> set[str]:
    container = client.containers.create(image, ["/nothing"], network_disabled=True)
    try:
        data = b"".join(container.export())
    finally:
        container.remove()
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        prefix = under.strip("/") + "/"
        return {m.name[len(prefix):] for m in tar.getmembers() if m.name.startswith(prefix) and not m.isdir()}


@pytest.mark.parametrize("patterns", PATTERN_FILES, ids=lambda p: p.stem)
def test_docker_cli_build_context_matches_gitignore_semantics(docker_environ, tmp_path, patterns):
    context = tmp_path / "ctx"
    files = make_tree(context)
    text = patterns.read_text(encoding="utf-8")
    (context / ".pfignore").write_text(text, encoding="utf-8")
    dockerignore, kept = to_dockerignore(text, files + [".pfignore"])
    (context / ".dockerignore").write_text(dockerignore, encoding="utf-8")
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text('FROM scratch\nCOPY [".", "/ctx/"]\n')
    tag = f"pfgen-test/ctx-{patterns.stem}:1"
    result = subprocess.run(
        [shutil.which("docker") or "docker", "build", "-q", "-f", str(dockerfile), "-t", tag, str(context)],
        capture_output=True, text=True, env={**os.environ, **docker_environ.env()},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert files_in_image(docker_environ.client(), tag, "/ctx") == kept
