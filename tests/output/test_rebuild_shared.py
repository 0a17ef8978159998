"""A second build of an OUT with a _shared/ directory (objects several jobs emit identically)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_rebuilding_with_shared_objects_works(tmp_path):
    """_shared/'s marker names several templates; it is not one job to recompile (this used to crash)."""
    example = (ROOT / "examples" / "cifar100" / "pf-template.yml").read_text().replace("    path: cifar\n", "")
    for index in range(150):  # their joined paths in _shared/'s marker exceed PATH_MAX
        job = tmp_path / "jobs" / f"a-rather-long-directory-name-for-job-number-{index:04d}"
        job.mkdir(parents=True)
        (job / "pf-template.yml").write_text(example.replace("name: cifar-job", f"name: job-{index}"))
    (tmp_path / "pfgen.yaml").write_text((ROOT / "examples" / "cifar100" / "pfgen.yaml").read_text())
    env = {**os.environ, "PFGEN_CACHE": "off"}
    for _ in range(2):
        proc = subprocess.run([sys.executable, "-m", "pfgen", "build"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "deploy" / "_shared" / "persistentvolumeclaim.yaml").is_file()
    check = subprocess.run([sys.executable, "-m", "pfgen", "build", "--check"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert check.returncode == 0, check.stdout + check.stderr
