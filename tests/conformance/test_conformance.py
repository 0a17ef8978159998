"""Every object pfgen produces is accepted by the real schemas, read strictly."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conformance_support import (
    REPO,
    documents,
    good_templates,
    is_core,
    kubectl_kustomize,
    kubernetes_validate,
    kubernetes_validate_versions,
    output_dirs,
    output_files,
    shared_crds,
)
from pfgen.errors import ERROR
from pfgen.kube.schemas import SCHEMAS
from pfgen.kube.verify import KUSTOMIZATION, verify_files, verify_tree


def _ids(paths: list[Path]) -> list[str]:
    return [str(p.relative_to(REPO)) for p in paths]


def _errors(diagnostics):
    return [str(d) for d in diagnostics if d.severity == ERROR]


def test_the_suite_has_something_to_check():
    assert output_dirs(), "no generated trees (examples/*/deploy) found: the conformance suite would check nothing"
    assert output_files()
    assert good_templates()


@pytest.mark.parametrize("path", output_files(), ids=_ids(output_files()))
def test_committed_output_verifies_strictly(path):
    assert _errors(verify_tree(path)) == []


@pytest.mark.parametrize("path", output_files(), ids=_ids(output_files()))
def test_every_committed_object_has_a_validator(path):
    for obj in documents(path):
        key = (obj.get("apiVersion"), obj.get("kind"))
        assert key in SCHEMAS or key == KUSTOMIZATION, f"{path}: no schema covers {key}"


_CORE_FILES = [p for p in output_files() if any(is_core(obj) for obj in documents(p))]


def test_some_committed_output_has_core_objects():
    assert _CORE_FILES, "kubernetes-validate would check nothing"


@pytest.mark.parametrize("version", kubernetes_validate_versions())
@pytest.mark.parametrize("path", _CORE_FILES, ids=_ids(_CORE_FILES))
def test_core_objects_pass_kubernetes_validate_strict(path, version, tmp_path):
    core = [obj for obj in documents(path) if is_core(obj)]
    only_core = tmp_path / path.name
    only_core.write_text(yaml.safe_dump_all(core), encoding="utf-8")
    assert kubernetes_validate(only_core, version) == []


@pytest.mark.parametrize("directory", output_dirs(), ids=_ids(output_dirs()))
def test_kubectl_kustomize_builds_committed_output(directory):
    result = kubectl_kustomize(directory)
    assert result.returncode == 0, result.stderr
    built = [doc for doc in yaml.safe_load_all(result.stdout) if doc]
    expected = [
        obj
        for path in directory.rglob("*.yaml")
        if path.name != "kustomization.yaml"
        for obj in documents(path)
    ]
    assert sorted((o["kind"], o["metadata"]["name"]) for o in built) == sorted(
        (o["kind"], o["metadata"]["name"]) for o in expected
    )


@pytest.mark.parametrize("template", good_templates(), ids=_ids(good_templates()))
def test_good_template_compiles_to_verified_objects(template, tmp_path):
    from pfgen.pipeline import compile_job

    job = compile_job(template)
    assert job.objects
    assert _errors(verify_files(job.files, str(template.parent))) == []
    core = [obj for obj in job.objects if is_core(obj)]
    if core:
        path = tmp_path / "core.yaml"
        path.write_text(yaml.safe_dump_all(core), encoding="utf-8")
        for version in kubernetes_validate_versions():
            assert kubernetes_validate(path, version) == []


@pytest.mark.parametrize("template", good_templates(), ids=_ids(good_templates()))
def test_good_template_compiles_to_a_verified_trainjob(template):
    """Target trainjob: the TrainJob (or the Experiment whose trials are TrainJobs) passes the v2.3.0
    CRD strictly and its CEL rules (cel-python)."""
    from pfgen.pipeline import CompileOptions, compile_job

    job = compile_job(template, options=CompileOptions(target="trainjob"))
    first = job.objects[0]
    assert first["kind"] == "TrainJob" or first["spec"]["trialTemplate"]["trialSpec"]["kind"] == "TrainJob"
    assert _errors(verify_files(job.files, str(template.parent))) == []


@pytest.mark.parametrize("template", good_templates(), ids=_ids(good_templates()))
def test_build_verify_and_lint_accept_a_fresh_build(template, tmp_path):
    out = tmp_path / "out"
    pfgen = [sys.executable, "-m", "pfgen"]
    build = subprocess.run([*pfgen, "build", "--verify", "-o", str(out), str(template)],
                           capture_output=True, text=True, cwd=template.parent, timeout=120, check=False)
    assert build.returncode == 0, build.stderr
    lint = subprocess.run([*pfgen, "lint", str(out)], capture_output=True, text=True, timeout=120, check=False)
    assert lint.returncode == 0, lint.stderr
    assert "all objects verified" in lint.stderr
    kustomized = kubectl_kustomize(out)
    assert kustomized.returncode == 0, kustomized.stderr


CREDENTIALS = REPO / "tests" / "fixtures" / "credentials"


@pytest.mark.skipif(not CREDENTIALS.is_dir(), reason="no credentials fixtures")
@pytest.mark.parametrize("mode", ["env", "external", "sealed"])
def test_every_secrets_mode_builds_verified_output(mode, tmp_path):
    out = tmp_path / "out"
    build = subprocess.run([sys.executable, "-m", "pfgen", "build", "--verify", "--secrets-mode", mode, "-o", str(out), str(CREDENTIALS)],
                           capture_output=True, text=True, cwd=CREDENTIALS, timeout=120, check=False)
    assert build.returncode == 0, build.stderr
    kinds = {obj["kind"] for path in out.rglob("*.yaml") for obj in documents(path)}
    assert "PyTorchJob" in kinds
    if mode == "external":
        assert "ExternalSecret" in kinds
    lint = subprocess.run([sys.executable, "-m", "pfgen", "lint", str(out)], capture_output=True, text=True, timeout=120, check=False)
    assert lint.returncode == 0, lint.stderr
    assert kubectl_kustomize(out).returncode == 0


def _extract_module():
    spec = importlib.util.spec_from_file_location("extract_schemas", REPO / "tools" / "extract_schemas.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_shipped_crd_schemas_are_the_upstream_ones():
    crds = shared_crds()
    if crds is None:
        pytest.skip("shared/crds (the upstream CRD copies) is not beside this checkout")
    extract = _extract_module()
    shipped = REPO / "schemas" / "crds"
    for crd in ("kubeflow.org_pytorchjobs.yaml", extract.TRAINJOB_CRD):
        for name, text in extract.crd_files(crds / crd).items():
            assert (shipped / name).read_text(encoding="utf-8") == text, name
    for name, text in extract.katib_file(crds / "katib-openapi" / "swagger.json").items():
        assert (shipped / name).read_text(encoding="utf-8") == text, name


RECORDED_CRDS = REPO / "tests" / "conformance" / "schemas"


@pytest.mark.skipif(not RECORDED_CRDS.is_dir(), reason="no recorded upstream CRDs")
def test_shipped_secret_crd_schemas_are_the_recorded_upstream_ones():
    extract = _extract_module()
    checked = 0
    for crd in sorted(RECORDED_CRDS.glob("*.yaml")):
        for name, text in extract.crd_files(crd).items():
            assert (REPO / "schemas" / "crds" / name).read_text(encoding="utf-8") == text, name
            checked += 1
    assert checked >= 2


SHIPPED_FROM_KUBERNETES_VALIDATE = "1.37.0"  # schemas/k8s/SOURCES.md


def test_shipped_core_schemas_are_kubernetes_validates():
    from kubernetes_validate.version import __version__

    if __version__ != SHIPPED_FROM_KUBERNETES_VALIDATE:
        pytest.skip(f"schemas/k8s was extracted from kubernetes-validate {SHIPPED_FROM_KUBERNETES_VALIDATE}; {__version__} is installed")
    extract = _extract_module()
    shipped = REPO / "schemas" / "k8s" / f"v{extract.K8S_VERSION}-local-strict"
    for name, text in extract.core_files().items():
        assert (shipped / name).read_text(encoding="utf-8") == text, name
