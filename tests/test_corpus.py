"""The 34 public PeriFlow SDK templates (tests/corpus/periflow-sdk, both of PeriFlow's file names), the
seed tutorials and the examples, as nobody here wrote them: they validate and render, each PyTorchJob
passes the strict CRD, the only warnings about the public ones are the code they need (their directories
were never published) and their ReadWriteMany claims on an unnamed StorageClass (none has a pfgen.yaml), and
no command-environment warning fires on any of them (no false positives)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import yaml

from conftest import ROOT, SHARED, crd_errors, load_stream, run_pfgen

CORPUS = ROOT / "tests" / "corpus" / "periflow-sdk"
TEMPLATES = sorted(p for p in CORPUS.glob("*/*") if p.name in ("pf-template.yml", "pf_config.yml"))
STORAGE_WARNING = "as ReadWriteMany"
ENV_WARNING = re.compile(r": warning: job_setting\.docker\.command(\.setup|\.run)?: \S+ is not set in the pod")


def test_the_corpus_is_all_34_with_both_names():
    assert len(TEMPLATES) == 34
    assert {p.name for p in TEMPLATES} == {"pf-template.yml", "pf_config.yml"}


def test_discovery_finds_every_corpus_template(tmp_path):
    import json

    # A copy whose jobs have distinct names: several public templates share one (cifar-job, ...), and
    # that clash, an error of the whole tree, would be all that validate reports about them.
    copy = tmp_path / "periflow-sdk"
    shutil.copytree(CORPUS, copy)
    for template in copy.glob("*/*"):
        if template.name in ("pf-template.yml", "pf_config.yml"):
            text = template.read_text(encoding="utf-8")
            template.write_text(re.sub(r"(?m)^name: .*$", f"name: {template.parent.name.lower()[:40]}", text),
                                encoding="utf-8")
    result = run_pfgen("validate", "--format", "json", "periflow-sdk", cwd=tmp_path)
    document = json.loads(result.stdout)
    assert document["summary"]["errors"] == 0, result.stdout
    files = {d["file"] for d in document["diagnostics"]}
    # every template is read: each gets its positioned diagnostics (the missing-workspace warning)
    assert files == {str(p.relative_to(CORPUS.parent)) for p in TEMPLATES}



@pytest.mark.parametrize("template", TEMPLATES, ids=[p.parent.name for p in TEMPLATES])
def test_public_template_validates_renders_and_passes_the_strict_crd(template: Path):
    shown = str(template.relative_to(ROOT))
    valid = run_pfgen("validate", shown, cwd=ROOT)
    assert valid.returncode == 0, valid.stderr
    warnings = [line for line in valid.stderr.splitlines() if ": warning: " in line]
    assert not [w for w in warnings if ENV_WARNING.search(w)], warnings
    # no pfgen.yaml names a StorageClass: one warning per ReadWriteMany claim pfgen creates, and no other
    # warning but the code the command enters, uploaded with `pf job run -d` and never published
    storage = [w for w in warnings if STORAGE_WARNING in w]
    others = [w for w in warnings if STORAGE_WARNING not in w]
    assert len(others) == 1 and "no workspace is baked into the image" in others[0], warnings
    rendered = run_pfgen("render", str(template.parent.relative_to(ROOT)), cwd=ROOT)
    assert rendered.returncode == 0, rendered.stderr
    objects = load_stream(rendered.stdout)
    jobs = [obj for obj in objects if obj["kind"] == "PyTorchJob"]
    assert len(jobs) == 1
    assert crd_errors(jobs[0]) == []
    shared = sorted(o["metadata"]["name"] for o in objects
                    if o["kind"] == "PersistentVolumeClaim" and o["spec"]["accessModes"] == ["ReadWriteMany"])
    assert sorted(re.search(r"claim '([^']+)'", w).group(1) for w in storage) == shared


def _seed_template(number: str) -> str:
    text = next(SHARED.glob(f"seeds/{number}_*.txt")).read_text(encoding="utf-8")
    return re.search(r"```yaml\n(.*?)```", text, re.S).group(1)


@pytest.mark.parametrize("number,code,example", [("001", "cifar", "cifar100"), ("002", "pth-lightning", "lightning-autoencoder")])
def test_seed_tutorial_as_a_folder_bakes_its_code_with_one_setting(tmp_path: Path, number: str, code: str, example: str):
    """The tutorial's template verbatim, its code directory beside it (as `pf job run -d ./<code>` took it)
    and a pfgen.yaml with one setting, the registry: the job's image holds the code where the command
    enters it, with the same tag as the committed example's (the example is this folder)."""
    folder = tmp_path / "seed"
    folder.mkdir()
    (folder / "pf-template.yml").write_text(_seed_template(number))
    shutil.copytree(ROOT / "examples" / example / code, folder / code)
    (folder / "pfgen.yaml").write_text("registry: registry.example.com/ml-team\n")
    result = run_pfgen("build", cwd=folder)
    assert result.returncode == 0, result.stderr
    # the only warnings: claims that need ReadWriteMany and a StorageClass the registry-only pfgen.yaml
    # does not name (001: the dataset and the 2-node job's checkpoints); the code is baked
    warnings = [line for line in result.stderr.splitlines() if ": warning: " in line]
    assert all(STORAGE_WARNING in w and "set storage.class in pfgen.yaml" in w for w in warnings), result.stderr
    job_dir = next(p for p in (folder / "deploy").iterdir() if p.is_dir())
    assert f'COPY [".", "/workspace/{code}/"]' in (job_dir / "Dockerfile").read_text()
    job = yaml.safe_load((job_dir / "pytorchjob.yaml").read_text())
    image = job["spec"]["pytorchReplicaSpecs"]["Master"]["template"]["spec"]["containers"][0]["image"]
    committed = yaml.safe_load((ROOT / "examples" / example / "deploy" / job_dir.name / "pytorchjob.yaml").read_text())
    assert image == committed["spec"]["pytorchReplicaSpecs"]["Master"]["template"]["spec"]["containers"][0]["image"]
    assert crd_errors(job) == []
    assert run_pfgen("build", "--check", cwd=folder).returncode == 0


@pytest.mark.parametrize("number", ["001", "002"])
def test_no_environment_false_positive_on_the_seed_templates(tmp_path: Path, number: str):
    (tmp_path / "pf-template.yml").write_text(_seed_template(number))
    result = run_pfgen("validate", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert not [l for l in result.stderr.splitlines() if ENV_WARNING.search(l)], result.stderr


def test_seed_003_command_gets_exactly_the_elastic_rendezvous_warnings(tmp_path: Path):
    """Seed 003's PyTorchJob args, as a template's command: PET_NNODES and PET_NPROC_PER_NODE are set by
    the operator for a non-elastic job (envvar.go); PET_RDZV_ID/BACKEND/ENDPOINT are not."""
    text = next(SHARED.glob("seeds/003_*.txt")).read_text(encoding="utf-8")
    args = re.search(r"> - >\n((?:>   .*\n)+)", text).group(1)
    command = "".join(line[4:] + "\n" for line in args.splitlines())
    assert "${PET_RDZV_ENDPOINT}" in command
    template = (ROOT / "tests/fixtures/gitops/pf-template.yml").read_text().replace(
        "    command: python main.py --epochs 1\n",
        "    command: |\n" + "".join("      " + line + "\n" for line in command.splitlines()))
    (tmp_path / "pf-template.yml").write_text(template)
    result = run_pfgen("validate", "pf-template.yml", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    found = [l.split(": warning: ")[0] + " " + l.split(" is not set")[0].rsplit(" ", 1)[1]
             for l in result.stderr.splitlines() if ENV_WARNING.search(l)]
    line = 1 + template.splitlines().index(next(l for l in template.splitlines() if "--rdzv_id" in l))
    assert [f.split(":", 1)[1].split(":")[0] for f in found] == [str(line)] * 3
    assert [f.rsplit(" ", 1)[1] for f in found] == ["${PET_RDZV_ID}", "${PET_RDZV_BACKEND}", "${PET_RDZV_ENDPOINT}"]


def test_no_environment_warning_on_the_examples_and_goldens():
    result = run_pfgen("validate", "examples", "tests/golden", cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert not [l for l in result.stderr.splitlines() if ENV_WARNING.search(l)], result.stderr
