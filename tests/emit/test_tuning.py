"""`tuning:` -> Katib Experiment: golden output, strict schema conformance, webhook rules."""

from __future__ import annotations

import json
import shutil
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from pfgen.output import dump
from pfgen.emit import katib, pytorchjob
from pfgen.errors import UserError
from pfgen.pipeline import compile_job, training_job

from strict_schema import errors, experiment_validator, pytorchjob_validator

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "tuning"
EXAMPLE = ROOT / "examples" / "mnist-katib" / "pf-template.yml"
SEED_004 = ROOT / "examples" / "mnist-katib-cpu" / "pf-template.yml"  # seed 004's Experiment as a template
GOOD = sorted((FIXTURES / "good").glob("*.yml")) + [EXAMPLE, SEED_004]
BAD = sorted((FIXTURES / "bad").glob("*.yml"))


def _id(path: Path) -> str:
    return path.parent.name if path in (EXAMPLE, SEED_004) else path.stem


def experiment_of(template: Path) -> dict:
    objects = compile_job(template).objects
    return next(o for o in objects if o["kind"] == "Experiment")


# --- golden ---------------------------------------------------------------


@pytest.mark.parametrize("template", GOOD, ids=_id)
def test_golden(template: Path) -> None:
    """The rendered objects equal the reviewed golden file byte for byte.

    Regenerate after a deliberate change with PFGEN_UPDATE_GOLDEN=1 and review the diff.
    """
    job = compile_job(template)
    text = dump.to_yaml_stream(job.objects)
    golden = FIXTURES / "golden" / f"{_id(template)}.yaml"
    if os.environ.get("PFGEN_UPDATE_GOLDEN"):
        golden.write_text(text, encoding="utf-8")
    assert text == golden.read_text(encoding="utf-8")
    assert "experiment.yaml" in job.files and "pytorchjob.yaml" not in job.files
    assert "- experiment.yaml" in job.files["kustomization.yaml"]


def test_output_is_stable_across_hash_seeds() -> None:
    code = (
        "import sys; from pathlib import Path; from pfgen.output import dump; from pfgen.pipeline import compile_job;"
        "sys.stdout.write(dump.to_yaml_stream(compile_job(Path(sys.argv[1])).objects))"
    )
    runs = {
        subprocess.run(
            [sys.executable, "-c", code, str(template)],
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True, text=True, check=True, cwd="/",
        ).stdout
        for seed in ("0", "1", "4242")
        for template in [GOOD[0]]
    }
    assert len(runs) == 1


# --- the trial template is the plain PyTorchJob ---------------------------


@pytest.mark.parametrize("template", GOOD, ids=_id)
def test_trial_spec_is_the_plain_pytorchjob(template: Path) -> None:
    job = compile_job(template)
    plain = training_job(job.plan)
    assert plain["metadata"] == pytorchjob.build(job.plan)["metadata"]
    experiment = next(o for o in job.objects if o["kind"] == "Experiment")
    trial = experiment["spec"]["trialTemplate"]["trialSpec"]
    expected = json.loads(json.dumps(plain))
    del expected["metadata"]["name"]
    expected["metadata"].pop("namespace", None)
    for replica in expected["spec"]["pytorchReplicaSpecs"].values():  # the one addition: out of the Istio mesh
        replica["template"]["metadata"]["annotations"] = {"sidecar.istio.io/inject": "false"}
    assert trial == expected
    assert experiment["metadata"]["name"] == plain["metadata"]["name"]
    assert experiment["metadata"].get("namespace") == plain["metadata"].get("namespace")
    # the same PVCs as a plain build
    others = [o for o in job.objects if o["kind"] != "Experiment"]
    assert all(o["kind"] == "PersistentVolumeClaim" for o in others)
    assert len(others) == len(job.plan.claims)


@pytest.mark.parametrize("template", GOOD, ids=_id)
def test_katib_defaults_written_out(template: Path) -> None:
    spec = experiment_of(template)["spec"]
    tt = spec["trialTemplate"]
    assert tt["primaryContainerName"] == "pytorch"
    assert tt["primaryPodLabels"] == {"training.kubeflow.org/job-role": "master"}
    assert tt["successCondition"] == 'status.conditions.#(type=="Succeeded")#|#(status=="True")#'
    assert tt["failureCondition"] == 'status.conditions.#(type=="Failed")#|#(status=="True")#'
    names = [p["name"] for p in spec["parameters"]]
    assert [p["name"] for p in tt["trialParameters"]] == names
    assert [p["reference"] for p in tt["trialParameters"]] == names
    assert all(p["description"] for p in tt["trialParameters"])
    for param in spec["parameters"]:
        space = param["feasibleSpace"]
        assert all(isinstance(v, str) for k, v in space.items() if k != "list")
        assert all(isinstance(v, str) for v in space.get("list", []))
    # every declared trial parameter appears in the template and nothing else does (Katib's webhook)
    text = json.dumps(tt["trialSpec"])
    for name in names:
        assert "${trialParameters.%s}" % name in text
    for name in names:
        text = text.replace("${trialParameters.%s}" % name, "x")
    assert "${trialParameters." not in text


def test_file_collectors() -> None:
    bert = experiment_of(FIXTURES / "good" / "json-file.yml")["spec"]["metricsCollectorSpec"]
    assert bert == {
        "collector": {"kind": "File"},
        "source": {"fileSystemPath": {"kind": "File", "path": "/var/log/bert/metrics.jsonl", "format": "JSON"}},
    }  # Katib: JSON format must not have a filter
    mnist = experiment_of(EXAMPLE)["spec"]["metricsCollectorSpec"]
    assert mnist["source"]["fileSystemPath"]["format"] == "TEXT"
    assert mnist["source"]["filter"] == {"metricsFormat": [katib.PERIFLOW_FILTER]}
    # Katib's webhook: a filter needs two top-level groups (name, value)
    assert re.fullmatch(r".*\(.*\).*\(.*\).*", katib.PERIFLOW_FILTER)
    grid = experiment_of(FIXTURES / "good" / "stdout-grid.yml")["spec"]["metricsCollectorSpec"]
    assert grid == {"collector": {"kind": "StdOut"}}


# --- strict conformance ---------------------------------------------------


@pytest.mark.parametrize("template", GOOD, ids=_id)
def test_experiment_conforms_to_katib_openapi(template: Path) -> None:
    assert errors(experiment_validator(), experiment_of(template)) == []


@pytest.mark.parametrize("template", GOOD, ids=_id)
def test_trial_spec_conforms_to_pytorchjob_crd(template: Path) -> None:
    trial = experiment_of(template)["spec"]["trialTemplate"]["trialSpec"]
    assert errors(pytorchjob_validator(), trial) == []


def test_strict_validators_reject_unknown_and_misplaced_fields() -> None:
    """The validators are really closed: a typo or a field at the wrong level fails."""
    experiment = experiment_of(EXAMPLE)
    bad = json.loads(json.dumps(experiment))
    bad["spec"]["trialTemplate"]["primaryContainer"] = "pytorch"
    bad["spec"]["parameters"][0]["feasibleSpace"]["minimum"] = "0"
    bad["spec"]["parallelTrialCount"] = "3"
    found = errors(experiment_validator(), bad)
    assert any("primaryContainer'" in e for e in found)
    assert any("'minimum'" in e for e in found)
    assert any(e.startswith("spec/parallelTrialCount") for e in found)
    trial = json.loads(json.dumps(experiment["spec"]["trialTemplate"]["trialSpec"]))
    trial["spec"]["pytorchReplicaSpecs"]["Master"]["template"]["spec"]["containers"][0]["volumeMount"] = []
    trial["spec"]["nprocPerNode"] = 1
    found = errors(pytorchjob_validator(), trial)
    assert any("'volumeMount'" in e for e in found)
    assert any(e.startswith("spec/nprocPerNode") for e in found)


# --- negative fixtures: every webhook rule, with line and message ----------


@pytest.mark.parametrize("template", BAD, ids=lambda p: p.stem)
def test_bad_fixture(template: Path) -> None:
    expected = template.with_suffix(".expected").read_text(encoding="utf-8").splitlines()
    try:
        job = compile_job(template)
    except UserError as exc:
        diagnostics = exc.diagnostics
        assert any(d.is_error for d in diagnostics)
    else:
        diagnostics = job.diagnostics
        assert all(not d.is_error for d in diagnostics)
    shown = sorted(f"{d.line}:{d.col}: {d.severity}: {d.message}" for d in diagnostics)
    assert shown == sorted(expected)
    assert all(Path(d.file).name == template.name for d in diagnostics)


def test_bad_fixture_cli_exit_code(tmp_path: Path) -> None:
    template = FIXTURES / "bad" / "counts-exceed-max.yml"
    result = subprocess.run(
        [sys.executable, "-m", "pfgen", "build", "-o", str(tmp_path / "out"), str(template)],
        capture_output=True, text=True,
    )
    assert result.returncode == 2
    assert "parallel_trials (8) must not exceed max_trials (4)" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()


def test_unused_parameter_is_left_out() -> None:
    job = compile_job(FIXTURES / "bad" / "unused-parameter.yml")
    spec = next(o for o in job.objects if o["kind"] == "Experiment")["spec"]
    assert [p["name"] for p in spec["parameters"]] == ["lr"]
    assert [p["name"] for p in spec["trialTemplate"]["trialParameters"]] == ["lr"]
    assert errors(experiment_validator(), {"apiVersion": "kubeflow.org/v1beta1", "kind": "Experiment", "spec": spec}) == []


def test_every_rule_has_a_fixture() -> None:
    """Each Katib webhook rule pfgen mirrors is exercised by a negative fixture."""
    text = "\n".join(p.read_text() for p in (FIXTURES / "bad").glob("*.expected"))
    for fragment in (
        "refers to a parameter that tuning.parameters does not declare",
        "is declared but the command never uses",
        "is less than min",
        "must be greater than 0 (Katib maxTrialCount)",
        "must be greater than 0 (Katib parallelTrialCount)",
        "must be 0 or more (Katib maxFailedTrialCount)",
        "parallel_trials (8) must not exceed max_trials",
        "max_failed_trials (5) must not exceed max_trials",
        "did you mean 'random'",
        "neural-architecture-search",
        "is not one of maximize, minimize",
        "must not contain the objective metric",
        "at most 40",
        "must be absolute",
        "a double parameter needs max",
        "an int parameter takes min/max, not values",
        "takes values, not min/max/step",
        "needs a non-empty values list",
        "must be a whole number",
        "step must be greater than 0",
    ):
        assert fragment in text, fragment


def test_shared_checkpoint_claim_warns() -> None:
    job = compile_job(FIXTURES / "good" / "json-file.yml")
    assert [(d.line, d.severity) for d in job.diagnostics] == [(15, "warning")]
    assert "$CKPT_DIR/$KATIB_TRIAL_NAME" in job.diagnostics[0].message
    assert [d.severity for d in compile_job(EXAMPLE).diagnostics] == ["note"]  # its dataset claim starts empty


def test_a_per_trial_checkpoint_directory_is_not_warned_about(tmp_path: Path) -> None:
    text = (FIXTURES / "good" / "json-file.yml").read_text()
    assert "$KATIB_TRIAL_NAME" not in text
    shutil.copy(FIXTURES / "pfgen.yaml", tmp_path / "pfgen.yaml")
    (tmp_path / "pf-template.yml").write_text(text.replace("finetune.py", "finetune.py --save $CKPT_DIR/$KATIB_TRIAL_NAME", 1))
    assert "$KATIB_TRIAL_NAME" in (tmp_path / "pf-template.yml").read_text()
    assert compile_job(tmp_path / "pf-template.yml").diagnostics == []
