"""Golden warnings: each case in fixtures/warnings/ is a directory whose `pfgen validate` prints exactly
its expected.txt on stderr (positions included) and exits 0; with --strict it exits 2 and the same
warnings are the reason. Regenerate with PFGEN_REGEN_GOLDEN=1 and read the diff."""

from __future__ import annotations

import json
import os
import shutil
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
                   "neither the Training Operator nor pfgen sets it", "symbolic link", "own .dockerignore", "unclosed '['",
                   "as ReadWriteMany (the job's 2 nodes", "as ReadWriteMany (every job that loads",
                   "as ReadWriteMany (Katib's parallel trials", "as ReadWriteMany (every job that reads"):
        assert needle in text, needle


def test_warnings_are_reported_with_an_error_of_the_whole_tree(tmp_path: Path):
    """A clash between two jobs (an error of the tree, found after every template compiled) does not
    hide the templates' own warnings: validate and build report both, and write nothing."""
    template = (FIXTURES / "warnings" / "env-missing" / "pf-template.yml").read_text()
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "pf-template.yml").write_text(template)  # one job name twice
    expected_warnings = sum(": warning: " in l for l in (FIXTURES / "warnings" / "env-missing" / "expected.txt").read_text().splitlines())
    for command in (["validate", "."], ["build", ".", "-o", "out"]):
        result = run_pfgen(*command, cwd=tmp_path, env={"PFGEN_CACHE": "off"})
        assert result.returncode == 2, result.stderr
        lines = result.stderr.splitlines()
        assert [l for l in lines if ": error: " in l and "env-missing" in l], result.stderr
        assert sum(": warning: " in l for l in lines) == 2 * expected_warnings, result.stderr
    assert not (tmp_path / "out").exists()


NOTE_TEMPLATE = """\
name: reads-imagenet
vm: azure-16gb-v100-4g-eastus-spot
num_devices: 4
job_setting: {type: custom, docker: {image: busybox, command: "ls /data"}}
data: {name: imagenet-1k, mount_path: /data}
"""


def test_build_notes_once_that_a_dataset_claim_it_creates_starts_empty(tmp_path: Path):
    """A note, not a warning: told by the build that creates the job (text: `note:`, github: ::notice;
    also when the job is served from the build cache), never by validate, render or --check, never
    counted, and --strict does not fail on it."""
    (tmp_path / "pfgen.yaml").write_text("storage: {class: azurefile-csi-premium}\n")
    (tmp_path / "pf-template.yml").write_text(NOTE_TEMPLATE)
    env = {"PFGEN_CACHE_DIR": str(tmp_path / "cache"), "XDG_CONFIG_HOME": str(tmp_path / "config")}
    first = run_pfgen("build", "--strict", cwd=tmp_path, env=env)
    assert first.returncode == 0, first.stderr
    lines = first.stderr.splitlines()
    assert lines[0].startswith("pf-template.yml:5:14: note: data.name: claim 'imagenet-1k', which pfgen creates for "
                               "the dataset, starts empty and the job reads it at /data: fill it once"), first.stderr
    assert "`datastores: {imagenet-1k: {claim: NAME}}`" in lines[0] and "docs/template.md#volumes-and-claims" in lines[0]
    assert lines[1:] == ["deploy/kustomization.yaml created", "deploy/reads-imagenet created",
                         "pfgen: deploy: 1 job: 1 created, 0 unchanged"]
    again = run_pfgen("build", cwd=tmp_path, env=env)  # the job exists: nothing to tell
    assert again.returncode == 0 and "note:" not in again.stderr, again.stderr
    for command in (["validate"], ["render", "pf-template.yml"], ["build", "--check"]):
        result = run_pfgen(*command, cwd=tmp_path, env=env)
        assert result.returncode == 0 and "note" not in result.stderr and "warning" not in result.stderr, result.stderr
    shutil.rmtree(tmp_path / "deploy")  # the job is created again, from the build cache: told again
    github = run_pfgen("build", "--format", "github", cwd=tmp_path, env=env)
    assert github.stdout.splitlines()[0].startswith("::notice file=pf-template.yml,line=5,col=14::data.name: claim 'imagenet-1k'")
    shutil.rmtree(tmp_path / "deploy")
    document = json.loads(run_pfgen("build", "--format", "json", cwd=tmp_path, env=env).stdout)
    assert document["diagnostics"] == [] and document["summary"] == {"errors": 0, "warnings": 0}
    # a dataset mapped to a claim that holds it: pfgen creates nothing, and has nothing to tell
    shutil.rmtree(tmp_path / "deploy")
    (tmp_path / "pfgen.yaml").write_text("datastores: {imagenet-1k: {claim: imagenet-ro}}\n")
    mapped = run_pfgen("build", cwd=tmp_path, env=env)
    assert mapped.returncode == 0 and "note" not in mapped.stderr and "warning" not in mapped.stderr, mapped.stderr
