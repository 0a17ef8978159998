"""Golden outputs: the committed examples/*/deploy and tests/golden/*/expected trees
are exactly what the current code produces (`pfgen build --check` exits 0).

Each is also compiled for target trainjob (docs/trainjob.md): examples/*/deploy-trainjob and
tests/golden/*/expected-trainjob (mnist-katib's: an Experiment whose trials are TrainJobs).

Regenerate after an intended change with:
    pfgen build examples
    for c in tests/golden/*/; do pfgen build "$c" -o "$c/expected"; done
    for e in examples/*/; do e=$(basename $e); pfgen build --target trainjob examples/$e -o examples/$e/deploy-trainjob; done
    for c in tests/golden/*/; do pfgen build --target trainjob "$c" -o "$c/expected-trainjob"; done
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from conftest import ROOT, run_pfgen

GOLDEN = sorted(p for p in (ROOT / "tests" / "golden").iterdir() if (p / "pf-template.yml").is_file())
EXAMPLES = sorted(p for p in (ROOT / "examples").iterdir() if (p / "pf-template.yml").is_file())
TRAINJOB_EXAMPLES = [p for p in EXAMPLES if (p / "deploy-trainjob").is_dir()]


def build_check(source: Path, out: Path | None = None, target: str | None = None) -> None:
    """`pfgen build --check [--target T] SOURCE [-o OUT]`, run from the repository root, exits 0."""
    argv = ["build", "--check", *(["--target", target] if target else []), str(source.relative_to(ROOT))]
    if out is not None:
        argv += ["-o", str(out.relative_to(ROOT))]
    result = run_pfgen(*argv, cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr


def test_examples_are_up_to_date():
    build_check(ROOT / "examples")


@pytest.mark.parametrize("case", GOLDEN, ids=[c.name for c in GOLDEN])
def test_golden_case_is_up_to_date(case: Path):
    build_check(case, case / "expected")


def test_every_example_has_a_trainjob_tree():
    assert EXAMPLES and TRAINJOB_EXAMPLES == EXAMPLES


@pytest.mark.parametrize("example", TRAINJOB_EXAMPLES, ids=[e.name for e in TRAINJOB_EXAMPLES])
def test_example_trainjob_tree_is_up_to_date(example: Path):
    out = example / "deploy-trainjob"
    build_check(example, out, "trainjob")
    assert list(out.glob("*/trainjob.yaml")) or list(out.glob("*/experiment.yaml"))
    assert not list(out.glob("*/pytorchjob.yaml"))


@pytest.mark.parametrize("case", GOLDEN, ids=[c.name for c in GOLDEN])
def test_golden_case_trainjob_is_up_to_date(case: Path):
    out = case / "expected-trainjob"
    build_check(case, out, "trainjob")
    assert list(out.glob("*/trainjob.yaml"))


def test_check_reports_drift_as_a_diff_and_exit_1(tmp_path: Path):
    case = tmp_path / "case"
    shutil.copytree(GOLDEN[0], case)
    job_file = next((case / "expected").glob("*/pytorchjob.yaml"))
    job_file.write_text(job_file.read_text().replace("restartPolicy: ExitCode", "restartPolicy: Never", 1))
    result = run_pfgen("build", "--check", str(case), "-o", str(case / "expected"))
    assert result.returncode == 1
    assert "-      restartPolicy: Never" in result.stdout and "+      restartPolicy: ExitCode" in result.stdout
    assert "out of date" in result.stderr
    assert "restartPolicy: Never" in job_file.read_text(), "--check must not write"
