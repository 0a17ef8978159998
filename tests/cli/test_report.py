"""The json and github reporters, checked against their exact formats."""

from __future__ import annotations

import io
import json
import shutil

from gitops_util import FIXTURES, make_repo, pfgen, write_template

from pfgen.errors import Diagnostic
from pfgen.cli.report import Report, emit, escape_data, escape_property, github_command
from pfgen.output.write import Change

BAD_MESSAGE = "unknown key 'num_device'; did you mean 'num_devices'?"


def _bad_repo(tmp_path):
    repo = make_repo(tmp_path / "repo", {"a": "train-a"})
    (repo / "jobs/bad").mkdir()
    shutil.copy(FIXTURES / "bad" / "pf-template.yml", repo / "jobs/bad/pf-template.yml")
    return repo


def test_json_report_of_an_invalid_template(tmp_path):
    repo = _bad_repo(tmp_path)
    for command in ("validate", "build"):
        result = pfgen(repo, command, "--format", "json")
        assert result.returncode == 2
        assert result.stderr == ""
        assert result.stdout == (
            '{\n'
            '  "version": 1,\n'
            '  "diagnostics": [\n'
            '    {\n'
            '      "file": "jobs/bad/pf-template.yml",\n'
            '      "line": 4,\n'
            '      "col": 1,\n'
            '      "severity": "error",\n'
            f'      "message": "{BAD_MESSAGE}"\n'
            '    }\n'
            '  ],\n'
            '  "changed": [],\n'
            '  "summary": {\n'
            '    "errors": 1,\n'
            '    "warnings": 0\n'
            '  }\n'
            '}\n'
        )


def test_json_report_of_a_build_lists_changes(tmp_path):
    repo = make_repo(tmp_path / "repo", {"a": "train-a"})
    pfgen(repo, "build", "--exit-code")
    write_template(repo, "a", "train-a", command="python main.py --epochs 5")
    result = pfgen(repo, "build", "--check", "--format", "json")
    assert result.returncode == 1
    assert json.loads(result.stdout) == {
        "version": 1, "diagnostics": [],
        "changed": [{"path": "deploy/train-a/pytorchjob.yaml", "status": "updated"}],
        "summary": {"errors": 0, "warnings": 0},
    }
    result = pfgen(repo, "validate", "--format", "json")
    assert (result.returncode, json.loads(result.stdout)) == (0, {"version": 1, "diagnostics": [], "changed": [],
                                                                  "summary": {"errors": 0, "warnings": 0}})


def test_github_report_of_an_invalid_template(tmp_path):
    repo = _bad_repo(tmp_path)
    for command in ("validate", "build"):
        result = pfgen(repo, command, "--format", "github")
        assert result.returncode == 2
        assert result.stdout == f"::error file=jobs/bad/pf-template.yml,line=4,col=1::{BAD_MESSAGE}\n"


def test_github_report_of_drift(tmp_path):
    repo = make_repo(tmp_path / "repo", {"a": "train-a"})
    pfgen(repo, "build", "--exit-code")
    (repo / "deploy/train-a/kustomization.yaml").write_text(
        (repo / "deploy/train-a/kustomization.yaml").read_text() + "# hand edit\n")
    result = pfgen(repo, "build", "--check", "--format", "github")
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        "::group::pfgen build --check: diff",
        "--- a/deploy/train-a/kustomization.yaml",
        "+++ b/deploy/train-a/kustomization.yaml",
        "@@ -4,4 +4,3 @@",
        " resources:",
        " - persistentvolumeclaim.yaml",
        " - pytorchjob.yaml",
        "-# hand edit",
        "::endgroup::",
        "::error file=deploy/train-a/kustomization.yaml::deploy/train-a/kustomization.yaml is out of date "
        "(would be updated); run `pfgen build` and commit the result",
    ]


def test_github_escaping_follows_the_actions_toolkit_rules():
    assert escape_data("50% done\r\nnext: a,b") == "50%25 done%0D%0Anext: a,b"
    assert escape_property("dir:one,two%\n") == "dir%3Aone%2Ctwo%25%0A"
    assert github_command("warning", "m", file="a,b:c.yml", line=3, col=None) == "::warning file=a%2Cb%3Ac.yml,line=3::m"
    diagnostics = [
        Diagnostic("jobs/x,y/pf-template.yml", 7, 3, "bad value '100%'\nsecond line: here"),
        Diagnostic("a.yml", 1, 2, "heads up, maybe", "warning"),
    ]
    out, err = io.StringIO(), io.StringIO()
    emit("github", Report(diagnostics), stdout=out, stderr=err)
    assert out.getvalue() == (
        "::warning file=a.yml,line=1,col=2::heads up, maybe\n"
        "::error file=jobs/x%2Cy/pf-template.yml,line=7,col=3::bad value '100%25'%0Asecond line: here\n"
    )
    assert err.getvalue() == ""


def test_text_report_of_a_build():
    out, err = io.StringIO(), io.StringIO()
    changes = [Change("deploy/b.yaml", "removed", "x\n", None), Change("deploy/a.yaml", "created", None, "y\n")]
    emit("text", Report([Diagnostic("t.yml", 2, 3, "careful", "warning")], changes), stdout=out, stderr=err)
    assert out.getvalue() == ""
    assert err.getvalue() == "t.yml:2:3: warning: careful\npfgen: created deploy/a.yaml\npfgen: removed deploy/b.yaml\n"
