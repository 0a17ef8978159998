"""Which files are templates: PeriFlow's two names (pf-template.y(a)ml, pf_config.y(a)ml), one per
directory, and a did-you-mean for a file that was probably meant to be one (pfgen/discover.py).
Also what the commands make of it: validate, build, render of a directory, the summary lines."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import FIXTURES, run_pfgen

TEMPLATE = (FIXTURES / "gitops" / "pf-template.yml").read_text()


def _job(root: Path, rel: str, name: str) -> Path:
    if not (root / "pfgen.yaml").exists():  # the GitOps fixtures' project: a StorageClass for the dataset claim
        (root / "pfgen.yaml").write_text((FIXTURES / "gitops" / "pfgen.yaml").read_text())
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(TEMPLATE.replace("name: train\n", f"name: {name}\n"))
    return path


@pytest.mark.parametrize("filename", ["pf-template.yml", "pf-template.yaml", "pf_config.yml", "pf_config.yaml"])
def test_each_periflow_name_is_discovered_and_built(tmp_path: Path, filename: str):
    _job(tmp_path, f"jobs/a/{filename}", "train-a")
    result = run_pfgen("validate", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stderr == "pfgen: 1 template valid\n"
    built = run_pfgen("build", cwd=tmp_path)
    assert built.returncode == 0, built.stderr
    marker = (tmp_path / "deploy/train-a/pytorchjob.yaml").read_text().splitlines()[0]
    assert f" from ../../jobs/a/{filename}. " in marker, marker


def test_two_template_names_in_one_directory_is_an_error_at_each(tmp_path: Path):
    _job(tmp_path, "jobs/a/pf-template.yml", "train-a")
    _job(tmp_path, "jobs/a/pf_config.yml", "train-b")
    _job(tmp_path, "jobs/ok/pf-template.yml", "train-ok")
    for command in (["validate"], ["build"], ["render", "jobs/a"]):
        result = run_pfgen(*command, cwd=tmp_path)
        assert result.returncode == 2, (command, result.stderr)
        assert result.stderr.splitlines()[:2] == [
            "jobs/a/pf-template.yml:1:1: error: this directory also holds pf_config.yml; a directory is one job: "
            "keep one template here and move or delete the other",
            "jobs/a/pf_config.yml:1:1: error: this directory also holds pf-template.yml; a directory is one job: "
            "keep one template here and move or delete the other",
        ], result.stderr
    assert not (tmp_path / "deploy").exists()


@pytest.mark.parametrize("written,meant", [
    ("pf-config.yml", "pf_config.yml"), ("pf_template.yaml", "pf-template.yaml"), ("PF-Template.yml", "pf-template.yml"),
    ("pf-templete.yml", "pf-template.yml"), ("pfconfig.yaml", "pf_config.yaml"),
])
def test_a_near_miss_name_gets_a_positioned_did_you_mean(tmp_path: Path, written: str, meant: str):
    _job(tmp_path, "jobs/ok/pf-template.yml", "train-ok")
    _job(tmp_path, f"jobs/typo/{written}", "train-typo")
    expected = (f"jobs/typo/{written}:1:1: warning: '{written}' is not a name pfgen reads, so this file is skipped; "
                f"did you mean '{meant}'? (templates are named pf-template.yml, pf-template.yaml, pf_config.yml, "
                "pf_config.yaml)")
    result = run_pfgen("validate", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == [expected, "pfgen: 1 template valid, 1 warning"]
    strict = run_pfgen("validate", "--strict", cwd=tmp_path)
    assert strict.returncode == 2
    assert strict.stderr.splitlines() == [expected, "pfgen: 1 warning (--strict: warnings fail); nothing written"]
    built = run_pfgen("build", "--strict", cwd=tmp_path)
    assert built.returncode == 2 and not (tmp_path / "deploy").exists(), built.stderr


def test_only_a_near_miss_is_reported_with_the_none_found_error(tmp_path: Path):
    _job(tmp_path, "job/pf-config.yml", "train")
    result = run_pfgen("validate", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        ".:1:1: error: no pf-template.yml, pf-template.yaml, pf_config.yml or pf_config.yaml found here",
        "job/pf-config.yml:1:1: warning: 'pf-config.yml' is not a name pfgen reads, so this file is skipped; "
        "did you mean 'pf_config.yml'? (templates are named pf-template.yml, pf-template.yaml, pf_config.yml, "
        "pf_config.yaml)",
        "pfgen: 1 error, 1 warning; nothing written",
    ]


@pytest.mark.parametrize("name", ["pfgen.yaml", "pf.yml", "pf-train.yaml", "pf-template.yml.orig", "other.yml",
                                  "pytorchjob.yaml"])
def test_unrelated_names_are_not_near_misses(tmp_path: Path, name: str):
    _job(tmp_path, "jobs/ok/pf-template.yml", "train-ok")
    (tmp_path / "jobs/x").mkdir(parents=True)
    (tmp_path / "jobs/x" / name).write_text("namespace: ml\n" if name == "pfgen.yaml" else "a: 1\n")
    result = run_pfgen("validate", cwd=tmp_path)
    assert result.returncode == 0 and "warning" not in result.stderr, result.stderr


def test_a_near_miss_beside_a_template_is_not_reported(tmp_path: Path):
    _job(tmp_path, "jobs/a/pf-template.yml", "train-a")
    _job(tmp_path, "jobs/a/pf-config.yml", "old")
    result = run_pfgen("validate", cwd=tmp_path)
    assert result.returncode == 0 and "warning" not in result.stderr, result.stderr


def test_render_of_a_directory(tmp_path: Path):
    _job(tmp_path, "jobs/a/pf_config.yml", "train-a")
    by_file = run_pfgen("render", "jobs/a/pf_config.yml", cwd=tmp_path)
    assert by_file.returncode == 0, by_file.stderr
    for where, cwd in (("jobs/a", tmp_path), (".", tmp_path / "jobs/a"), (".", tmp_path)):
        result = run_pfgen("render", where, cwd=cwd)
        assert result.returncode == 0, result.stderr
        assert result.stdout == by_file.stdout
    _job(tmp_path, "jobs/b/pf-template.yml", "train-b")
    several = run_pfgen("render", ".", cwd=tmp_path)
    assert several.returncode == 2 and several.stdout == ""
    assert several.stderr.startswith(".:1:1: error: 2 templates below this directory (jobs/a/pf_config.yml, "
                                     "jobs/b/pf-template.yml); render names one template"), several.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    none = run_pfgen("render", "empty", cwd=tmp_path)
    assert none.returncode == 2
    assert none.stderr.startswith("empty:1:1: error: no pf-template.yml, pf-template.yaml, pf_config.yml or "
                                  "pf_config.yaml found here"), none.stderr


def test_json_and_github_reporters_count_and_show_warnings(tmp_path: Path):
    _job(tmp_path, "jobs/ok/pf-template.yml", "train-ok")
    _job(tmp_path, "jobs/typo/pf-config.yml", "train-typo")
    result = run_pfgen("validate", "--format", "json", cwd=tmp_path)
    assert result.returncode == 0 and result.stderr == ""
    document = json.loads(result.stdout)
    assert document["summary"] == {"errors": 0, "warnings": 1}
    assert [(d["file"], d["line"], d["col"], d["severity"]) for d in document["diagnostics"]] == [
        ("jobs/typo/pf-config.yml", 1, 1, "warning")]
    strict = run_pfgen("validate", "--format", "json", "--strict", cwd=tmp_path)
    assert strict.returncode == 2 and json.loads(strict.stdout)["summary"] == {"errors": 0, "warnings": 1}
    github = run_pfgen("build", "--format", "github", "--check", cwd=tmp_path)
    assert github.stdout.startswith("::warning file=jobs/typo/pf-config.yml,line=1,col=1::'pf-config.yml' is not a "
                                    "name pfgen reads"), github.stdout


def test_build_counts_warnings_in_its_summary(tmp_path: Path):
    _job(tmp_path, "jobs/ok/pf-template.yml", "train-ok")
    _job(tmp_path, "jobs/typo/pf-config.yml", "train-typo")
    result = run_pfgen("build", cwd=tmp_path)
    assert result.returncode == 0
    assert result.stderr.splitlines()[-1] == "pfgen: 1 warning", result.stderr
    check = run_pfgen("build", "--check", cwd=tmp_path)
    assert check.returncode == 0
    assert check.stderr.splitlines()[-2:] == ["pfgen: 1 job up to date", "pfgen: 1 warning"], check.stderr
