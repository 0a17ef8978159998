"""Output is a pure function of the input: byte-identical across runs, working
directories and hash seeds."""

from __future__ import annotations

import shutil
from pathlib import Path

from conftest import ROOT, run_pfgen


def snapshot(tree: Path) -> dict[str, bytes]:
    return {str(p.relative_to(tree)): p.read_bytes() for p in sorted(tree.rglob("*")) if p.is_file()}


def test_build_is_identical_across_cwd_and_hash_seeds(tmp_path: Path):
    results = []
    for attempt, (seed, cwd) in enumerate((("0", ROOT), ("12345", tmp_path), ("random", Path("/")))):
        work = tmp_path / f"copy{attempt}"
        shutil.copytree(ROOT / "tests" / "golden" / "aws-dist", work, ignore=shutil.ignore_patterns("expected"))
        out = work / "expected"
        result = run_pfgen("build", str(work), "-o", str(out), cwd=cwd, env={"PYTHONHASHSEED": seed})
        assert result.returncode == 0, result.stderr
        results.append(snapshot(out))
    assert results[0] == results[1] == results[2]
    assert results[0] == snapshot(ROOT / "tests" / "golden" / "aws-dist" / "expected")


def test_render_is_identical_across_hash_seeds():
    outputs = {run_pfgen("render", "examples/cifar100/pf-template.yml", "-o", output, cwd=ROOT, env={"PYTHONHASHSEED": seed}).stdout
               for seed in ("1", "2", "3") for output in ("yaml",)}
    assert len(outputs) == 1 and outputs.pop().startswith("---\napiVersion: kubeflow.org/v1\n")
