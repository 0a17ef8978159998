"""The public corpus under target trainjob (docs/trainjob.md): each of the 34 PeriFlow SDK templates
renders to a TrainJob that passes the Trainer v2.3.0 CRD strictly and its CEL rules, with no
command-environment warning (PeriFlow's variables are all derived on v2 too)."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import ROOT, load_stream, run_pfgen
from pfgen.kube.verify import check_object
from test_corpus import ENV_WARNING, TEMPLATES


@pytest.mark.parametrize("template", TEMPLATES, ids=[p.parent.name for p in TEMPLATES])
def test_public_template_renders_to_a_trainjob_that_verifies_with_cel(template: Path):
    rendered = run_pfgen("render", "--target", "trainjob", str(template.parent.relative_to(ROOT)), cwd=ROOT)
    assert rendered.returncode == 0, rendered.stderr
    assert not [line for line in rendered.stderr.splitlines() if ENV_WARNING.search(line)], rendered.stderr
    jobs = [obj for obj in load_stream(rendered.stdout) if obj["kind"] == "TrainJob"]
    assert len(jobs) == 1 and not [obj for obj in load_stream(rendered.stdout) if obj["kind"] == "PyTorchJob"]
    assert check_object(jobs[0]) == []  # strict schema, CEL rules, Trainer/JobSet admission rules


def test_the_corpus_checks_cel_for_real():
    """check_object above evaluates CEL: a corpus TrainJob with a bad name fails on the CRD's CEL rule."""
    template = TEMPLATES[0]
    rendered = run_pfgen("render", "--target", "trainjob", str(template.parent.relative_to(ROOT)), cwd=ROOT)
    job = next(obj for obj in load_stream(rendered.stdout) if obj["kind"] == "TrainJob")
    job["metadata"]["name"] = "-" + job["metadata"]["name"]
    assert any("[CEL: " in message for _, _, message in check_object(job))
