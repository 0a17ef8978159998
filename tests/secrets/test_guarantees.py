"""No secret on disk: ambient credentials never reach anything pfgen writes."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CANARY = "pfgen-canary-9f3b2c71"


def _projects() -> list[Path]:
    found = sorted(p.parent for p in (ROOT / "examples").glob("*/pf-template.yml"))
    found += sorted(p.parent for p in (ROOT / "tests" / "golden").glob("*/pf-template.yml"))
    return found


@pytest.mark.parametrize("project", _projects(), ids=lambda p: str(p.relative_to(ROOT)))
def test_ambient_credentials_never_reach_the_output(project, tmp_path):
    home = tmp_path / "home"
    (home / ".docker").mkdir(parents=True)
    auth = base64.b64encode(f"user:{CANARY}".encode()).decode()
    (home / ".docker" / "config.json").write_text(json.dumps({"auths": {"registry.example.com": {"auth": auth}}}))
    (home / ".aws").mkdir()
    (home / ".aws" / "credentials").write_text(f"[default]\naws_secret_access_key = {CANARY}\n")
    env = {
        **os.environ,
        "HOME": str(home),
        "DOCKER_CONFIG": str(home / ".docker"),
        "AWS_SECRET_ACCESS_KEY": CANARY,
        "WANDB_API_KEY": CANARY,
        "SLACK_TOKEN": CANARY,
        "HF_TOKEN": CANARY,
        "GOOGLE_APPLICATION_CREDENTIALS": str(home / ".aws" / "credentials"),
    }
    work = tmp_path / "project"
    shutil.copytree(project, work, ignore=shutil.ignore_patterns("deploy", "expected"))
    out = tmp_path / "out"
    result = subprocess.run([sys.executable, "-m", "pfgen", "build", "-o", str(out), str(work)],
                            cwd=work, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    written = [p for p in out.rglob("*") if p.is_file()]
    assert written
    for path in written:
        text = path.read_bytes()
        assert CANARY.encode() not in text and auth.encode() not in text, path
    assert CANARY not in result.stdout + result.stderr
