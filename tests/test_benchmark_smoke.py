"""The benchmark suite runs end to end on a small monorepo, so it never rots.

Figures are printed, not asserted: no timing assertions here.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def test_benchmark_runs_with_small_n(tmp_path):
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "run.py"), "--n", "10,20", "--repeat", "1",
                           "--workdir", str(tmp_path)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    for label in ("python -c pass", "pfgen validate (1 template)", "pfgen render (1 template)", "load average",
                  "build, cold (empty cache, no deploy/)", "build again, nothing changed",
                  "build after editing 1 template", "build --check (cache warm)", "build --check --no-cache",
                  "validate (cache warm)", "validate (PFGEN_CACHE=off)", "N=10", "N=20", "per job (ms)"):
        assert label in out, out
    jobs = [p for p in (tmp_path / "n20" / "monorepo" / "deploy").glob("*/kustomization.yaml") if not p.parent.name.startswith("_")]
    assert len(jobs) == 20  # a PyTorchJob each, or a Katib Experiment for the tuned ones
