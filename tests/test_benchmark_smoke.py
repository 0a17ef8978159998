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
                  "validate (cache warm)", "validate (PFGEN_CACHE=off)", "N=10", "N=20", "per job (ms)",
                  "build again, nothing changed, 2.5 s after that (one record)",
                  "build --check right after that (one record)", "validate again, 2.5 s later (its record)"):
        assert label in out, out
    jobs = [p for p in (tmp_path / "n20" / "monorepo" / "deploy").glob("*/kustomization.yaml") if not p.parent.name.startswith("_")]
    assert len(jobs) == 20  # a PyTorchJob each, or a Katib Experiment for the tuned ones

def load_generator():
    """benchmarks/generate.py as a module (benchmarks/ is not a package)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("pfgen_bench_generate", ROOT / "benchmarks" / "generate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_generator_is_deterministic_and_varied(tmp_path):
    generate = load_generator()
    first = generate.generate(tmp_path / "one", 200, seed=3)
    second = generate.generate(tmp_path / "two", 200, seed=3)
    assert [p.read_bytes() for p in first] == [p.read_bytes() for p in second]
    docs = [yaml.safe_load(p.read_text()) for p in first]
    vms = {d["vm"] for d in docs}
    assert len(vms) > 10 and any(v in generate.ONPREM for v in vms)
    assert any("dist" in d for d in docs) and any("data" in d for d in docs) and any("checkpoint" in d for d in docs)
    assert any(d["data"]["name"].startswith("huggingface:") for d in docs if "data" in d)
    assert any(isinstance(d["job_setting"]["docker"]["command"], dict) for d in docs)
    assert any("env_var" in d["job_setting"]["docker"] for d in docs)
    assert any("tuning" in d for d in docs) and any("path" in d["job_setting"]["workspace"] for d in docs)
    assert (tmp_path / "one" / "pfgen.yaml").is_file()
