"""Golden warnings: each case in fixtures/warnings/ is a directory whose `pfgen validate` prints exactly
its expected.txt on stderr (positions included) and exits 0; with --strict it exits 2 and the same
warnings are the reason. Regenerate with PFGEN_REGEN_GOLDEN=1 and read the diff."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from conftest import FIXTURES, ROOT, run_pfgen

CASES = sorted(p for p in (FIXTURES / "warnings").iterdir() if p.is_dir())


def _validate(case: Path, *extra: str):
    return run_pfgen("validate", str(case.relative_to(ROOT)), *extra, cwd=ROOT, env={"PFGEN_CACHE": "off"})


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_warning_golden(case: Path):
    result = _validate(case)
    expected = case / "expected.txt"
    if os.environ.get("PFGEN_REGEN_GOLDEN"):
        expected.write_text(result.stderr)
    assert result.returncode == 0, result.stderr
    assert result.stderr == expected.read_text()
    warnings = [line for line in result.stderr.splitlines() if ": warning: " in line]
    assert warnings and result.stderr.splitlines()[-1].endswith(f", {len(warnings)} warning{'s' if len(warnings) > 1 else ''}")
    strict = _validate(case, "--strict")
    assert strict.returncode == 2
    assert strict.stderr.splitlines()[:-1] == warnings
    assert "(--strict: warnings fail); nothing written" in strict.stderr.splitlines()[-1]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_warning_in_json_and_github_reports(case: Path):
    text = [line for line in (case / "expected.txt").read_text().splitlines() if ": warning: " in line]
    document = json.loads(_validate(case, "--format", "json").stdout)
    assert document["summary"] == {"errors": 0, "warnings": len(text)}
    assert [f"{d['file']}:{d['line']}:{d['col']}: {d['severity']}: {d['message']}" for d in document["diagnostics"]] == text
    github = _validate(case, "--format", "github").stdout.splitlines()
    assert len(github) == len(text) and all(line.startswith("::warning file=") for line in github)
    first = document["diagnostics"][0]
    assert github[0].startswith(f"::warning file={first['file']},line={first['line']},col={first['col']}::")


def test_build_and_render_show_the_same_warnings(tmp_path: Path):
    case = FIXTURES / "warnings" / "env-missing"
    warnings = [l for l in (case / "expected.txt").read_text().splitlines() if ": warning: " in l]
    built = run_pfgen("build", str(case.relative_to(ROOT)), "-o", str(tmp_path / "out"), cwd=ROOT, env={"PFGEN_CACHE": "off"})
    assert built.returncode == 0 and built.stderr.splitlines()[:len(warnings)] == warnings, built.stderr
    assert built.stderr.splitlines()[-1] == f"pfgen: {len(warnings)} warnings"
    rendered = run_pfgen("render", str((case / "pf-template.yml").relative_to(ROOT)), cwd=ROOT)
    assert rendered.returncode == 0 and rendered.stderr.splitlines() == warnings
    strict = run_pfgen("render", "--strict", str((case / "pf-template.yml").relative_to(ROOT)), cwd=ROOT)
    assert strict.returncode == 2 and strict.stdout == ""
    strict_build = run_pfgen("build", "--strict", str(case.relative_to(ROOT)), "-o", str(tmp_path / "strict"), cwd=ROOT)
    assert strict_build.returncode == 2 and not (tmp_path / "strict").exists()


def test_every_warning_kind_has_a_golden():
    text = "".join((c / "expected.txt").read_text() for c in CASES)
    for needle in ("is not a name pfgen reads", "no workspace is baked into the image", "drop `workspace: {infer: false}`",
                   "but the workspace 'code' appears at", "only for elastic jobs", "torchrun sets LOCAL_RANK",
                   "CKPT_DIR only with", "only when the template has `dist`", "PeriFlow's platform set",
                   "neither the Training Operator nor pfgen sets it", "symbolic link", "own .dockerignore", "unclosed '['"):
        assert needle in text, needle
