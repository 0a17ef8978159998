"""The command line as a user meets it."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import ROOT, run_pfgen

CIFAR = "examples/cifar100/pf-template.yml"


def test_schema_prints_a_valid_2020_12_schema_with_descriptions_everywhere():
    from jsonschema import Draft202012Validator

    result = run_pfgen("schema")
    assert result.returncode == 0
    schema = json.loads(result.stdout)
    Draft202012Validator.check_schema(schema)

    def walk(node, path):
        if isinstance(node, dict):
            for key, sub in node.get("properties", {}).items():
                assert "description" in sub, f"{path}.{key} has no description"
                walk(sub, f"{path}.{key}")
            for key in ("items", "additionalProperties"):
                if isinstance(node.get(key), dict):
                    walk(node[key], f"{path}[{key}]")
            for branch in node.get("oneOf", []):
                walk(branch, path)
            if node.get("type") == "object" and "properties" in node:
                assert node.get("additionalProperties") is not True and "additionalProperties" in node, path

    walk(schema, "")
    config = json.loads(run_pfgen("schema", "--config").stdout)
    Draft202012Validator.check_schema(config)
    walk(config, "config")


@pytest.mark.skipif(shutil.which("check-jsonschema") is None and not (Path(sys.executable).parent / "check-jsonschema").exists(),
                    reason="check-jsonschema (a test dependency) is not installed")
def test_check_jsonschema_accepts_the_examples_with_the_printed_schema(tmp_path):
    schema = tmp_path / "pf-template.schema.json"
    schema.write_text(run_pfgen("schema").stdout)
    exe = shutil.which("check-jsonschema") or str(Path(sys.executable).parent / "check-jsonschema")
    templates = [str(p) for p in sorted(ROOT.glob("examples/*/pf-template.yml"))]
    result = subprocess.run([exe, "--schemafile", str(schema), *templates], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_render_yaml_round_trips_to_the_build_objects():
    result = run_pfgen("render", CIFAR, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    docs = list(yaml.safe_load_all(result.stdout))
    assert [d["kind"] for d in docs] == ["PyTorchJob", "PersistentVolumeClaim", "PersistentVolumeClaim"]
    on_disk = yaml.safe_load((ROOT / "examples/cifar100/deploy/cifar-job/pytorchjob.yaml").read_text())
    assert docs[0] == on_disk


def test_render_json_is_a_kubernetes_list():
    result = run_pfgen("render", CIFAR, "-o", "json", cwd=ROOT)
    document = json.loads(result.stdout)
    assert document["kind"] == "List" and document["items"][0]["kind"] == "PyTorchJob"


def test_render_reads_stdin_and_reports_errors_against_stdin():
    good = (ROOT / "tests/golden/huggingface-gcp-spot/pf-template.yml").read_text()
    assert run_pfgen("render", "-", stdin=good).returncode == 0
    bad = run_pfgen("render", "-", stdin="vm: nope\n")
    assert bad.returncode == 2 and bad.stderr.startswith("<stdin>:")


def test_validate_reports_all_templates_and_counts(tmp_path):
    result = run_pfgen("validate", "examples", cwd=ROOT)
    count = len(list(ROOT.glob("examples/*/pf-template.yml")))
    assert count >= 2 and result.returncode == 0 and f"{count} templates valid" in result.stderr
    bad_dir = tmp_path / "bad"
    bad_dir.mkdir()
    for name in ("a", "b"):
        (bad_dir / name).mkdir()
        (bad_dir / name / "pf-template.yml").write_text("vm: nope\nnum_devices: 1\njob_setting: {type: custom}\n")
    result = run_pfgen("validate", str(bad_dir))
    assert result.returncode == 2
    assert result.stderr.count("error: vm: unknown VM 'nope'") == 2, result.stderr


def test_missing_path_and_no_templates_are_usage_errors(tmp_path):
    assert run_pfgen("validate", str(tmp_path / "nope")).returncode == 2
    empty = run_pfgen("build", str(tmp_path))
    assert empty.returncode == 2 and "no pf-template.yml" in empty.stderr


def test_vm_list_and_show():
    table = run_pfgen("vm", "list")
    assert table.returncode == 0 and "azure-16gb-v100-4g-eastus-spot" in table.stdout and "Standard_NC24s_v3" in table.stdout
    listing = json.loads(run_pfgen("vm", "list", "--format", "json").stdout)
    assert {v["name"] for v in listing} >= {"aws-16gb-v100-8g-us-east-2", "azure-40gb-a100-8g-westus2"}
    shown = run_pfgen("vm", "show", "azure-v100-4g-eastus-spot")
    assert shown.returncode == 0 and "4 x v100 (16 GiB each)" in shown.stdout and "kubernetes.azure.com/scalesetpriority: spot" in shown.stdout
    unknown = run_pfgen("vm", "show", "azure-16gb-v100-4g-eastus-spto")
    assert unknown.returncode == 2 and "did you mean 'azure-16gb-v100-4g-eastus-spot'" in unknown.stderr


def test_vm_list_json_shows_the_placement_vm_show_shows(tmp_path):
    (tmp_path / "pfgen.yaml").write_text(
        "placement:\n  node_selector: {pool: gpu}\nvms:\n  lab-a100:\n    gpus: 8\n    node_selector: {rack: r1}\n")
    listing = {v["name"]: v for v in json.loads(run_pfgen("vm", "list", "--format", "json", cwd=tmp_path).stdout)}
    for name in ("azure-16gb-v100-4g-eastus-spot", "aws-16gb-v100-8g-us-east-2", "lab-a100"):
        shown = run_pfgen("vm", "show", name, cwd=tmp_path).stdout
        block = shown.split("node selector:", 1)[1].split("tolerations:", 1)[0]
        selector = dict(line.strip().split(": ", 1) for line in block.strip().splitlines() if line.strip() != "-")
        assert listing[name]["node_selector"] == selector, (name, shown)
        assert listing[name]["node_selector"], name
        tolerations = [line.strip() for line in shown.split("tolerations:", 1)[1].strip().splitlines()]
        assert [", ".join(f"{k}={v}" for k, v in sorted(t.items())) for t in listing[name]["tolerations"]] == tolerations
    assert listing["lab-a100"]["node_selector"] == {"pool": "gpu", "rack": "r1"}
    assert listing["azure-16gb-v100-4g-eastus-spot"]["node_selector"]["kubernetes.azure.com/scalesetpriority"] == "spot"


def test_help_teaches_the_commands():
    result = run_pfgen("--help")
    for word in ("build", "validate", "render", "schema", "vm", "Exit codes", "pf_config.yml"):
        assert word in result.stdout
    assert "3 an image build or push failed" in " ".join(result.stdout.split())
    assert "--check" in run_pfgen("build", "--help").stdout


def test_build_prunes_files_it_owns_and_keeps_hand_written_ones(tmp_path):
    project = tmp_path / "repo"
    shutil.copytree(ROOT / "tests/golden/checkpoint-resume", project, ignore=shutil.ignore_patterns("expected"))
    out = project / "deploy"
    assert run_pfgen("build", str(project), "-o", str(out)).returncode == 0
    (out / "NOTES.md").write_text("hand-written\n")
    (out / "extra.yaml").write_text("kind: ConfigMap\n")
    template = project / "pf-template.yml"
    template.write_text(template.read_text().replace("  output_checkpoint_dir: /workspace/ckpt\n", ""))
    result = run_pfgen("build", str(project), "-o", str(out), "-v")
    assert result.returncode == 0, result.stderr
    assert not (out / "resnet-resume" / "persistentvolumeclaim.yaml").exists()
    assert "removed" in result.stderr
    assert (out / "NOTES.md").read_text() == "hand-written\n" and (out / "extra.yaml").exists()
    kustomization = yaml.safe_load((out / "resnet-resume" / "kustomization.yaml").read_text())
    assert kustomization["resources"] == ["pytorchjob.yaml"]


def test_bad_project_config_is_reported_once_with_position(tmp_path):
    (tmp_path / "pfgen.yaml").write_text("namespace: ml-team\nstorage:\n  clas: fast\n  data_size: lots\n")
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "pf-template.yml").write_text(
            "vm: azure-16gb-v100-1g-eastus-spot\nnum_devices: 1\njob_setting: {type: custom, docker: {image: x, command: 'true'}}\n")
    result = run_pfgen("validate", ".", cwd=tmp_path)
    assert result.returncode == 2
    lines = [l for l in result.stderr.splitlines() if ": error: " in l]
    assert lines == [
        "pfgen.yaml:3:3: error: unknown key 'clas' in storage; did you mean 'class'?",
        "pfgen.yaml:4:14: error: storage.data_size: 'lots' must be a Kubernetes quantity such as 100Gi or 500Mi",
    ], result.stderr


def test_lint_a_source_tree_checks_only_its_manifests():
    # Templates and pfgen.yaml sit beside the deploy/ trees; lint must skip them, not call them bad manifests.
    result = run_pfgen("lint", "examples", cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert "all objects verified" in result.stderr
