"""`pfgen validate` of one template (pfgen/cli/validate.py's ``_one``, which skips the stream, the
layout and the cache to start fast) says exactly what the many-template path
(pfgen.output.stream.validate) says of that template: the same errors, warnings
and positions, for every template file the fixtures, goldens and examples hold."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import ROOT

from pfgen.cli.validate import _one
from pfgen.errors import UserError, without_notes
from pfgen.output import stream

TEMPLATES = sorted({*ROOT.glob("tests/fixtures/**/*.yml"), *ROOT.glob("tests/golden/*/pf-template.yml"),
                    *ROOT.glob("examples/*/pf-template.yml")} - set(ROOT.glob("tests/fixtures/**/pfgen.y*ml"))
                   - set(ROOT.glob("tests/fixtures/**/cases.yaml")))


def _outcome(check) -> tuple[str, list[str]]:
    try:
        return "valid", sorted(str(d) for d in without_notes(check()))
    except UserError as exc:
        return "invalid", [str(d) for d in exc.diagnostics]


def test_there_are_templates_of_both_kinds():
    outcomes = [_outcome(lambda t=t: _one(t))[0] for t in TEMPLATES[::7]]
    assert len(TEMPLATES) > 200 and {"valid", "invalid"} <= set(outcomes)


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda p: str(p.relative_to(ROOT)))
def test_one_template_is_judged_as_among_many(template: Path, monkeypatch):
    monkeypatch.chdir(ROOT)
    relative = template.relative_to(ROOT)
    assert _outcome(lambda: _one(relative)) == _outcome(lambda: stream.validate([relative])[1])


@pytest.mark.parametrize("how", ["link", "file"])
def test_an_output_directory_pfgen_could_not_write_is_refused_by_validate_of_one(tmp_path, monkeypatch, how):
    repo, outside = tmp_path / "repo", tmp_path / "outside"
    outside.mkdir()
    (repo / ".git").mkdir(parents=True)
    (repo / "pf-template.yml").write_text((ROOT / "tests/golden/huggingface-gcp-spot/pf-template.yml").read_text())
    if how == "link":
        (repo / "deploy").symlink_to(outside)
    else:
        (repo / "deploy").write_text("not a directory\n")
    monkeypatch.chdir(repo)
    one = _outcome(lambda: _one(Path("pf-template.yml")))
    assert one == _outcome(lambda: stream.validate([Path("pf-template.yml")])[1])
    assert one[0] == "invalid"
    assert ("leads out of the repository" if how == "link" else "is a file, not a directory") in one[1][0]
