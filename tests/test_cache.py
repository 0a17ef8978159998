"""The build cache (pfgen/cache.py) can make a build faster, never different.

Every test builds a real project twice through the same code the CLI runs
(build_trees + write.sync) and checks which jobs were compiled afresh
(``result.jobs``) and which were served from the cache (``result.cached``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import pfgen
from pfgen import build as build_mod
from pfgen import cache
from pfgen.build import build_trees
from pfgen.cache import BuildCache
from pfgen.config import load_config
from pfgen.discover import find_templates
from pfgen.errors import Diagnostic, UserError
from pfgen.pipeline import CompileOptions
from pfgen.write import sync

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "cifar100"


@pytest.fixture
def project(tmp_path, monkeypatch):
    """Two jobs under one pfgen.yaml, a private cache dir, cwd at the project."""
    root = tmp_path / "repo"
    for job in ("a", "b"):
        (root / "jobs" / job).mkdir(parents=True)
        text = (EXAMPLE / "pf-template.yml").read_text().replace("name: cifar-job", f"name: job-{job}")
        (root / "jobs" / job / "pf-template.yml").write_text(text)
    shutil.copy(EXAMPLE / "pfgen.yaml", root / "pfgen.yaml")
    monkeypatch.setenv("PFGEN_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("PFGEN_CACHE", raising=False)
    monkeypatch.chdir(root)
    cache.tool_key.cache_clear()
    yield root
    cache.tool_key.cache_clear()


def build(root: Path, options: CompileOptions = CompileOptions(), check: bool = False):
    load_config.cache_clear()  # as in a fresh `pfgen build` process
    templates = find_templates([root])
    result = build_trees(templates, None, options, cache=BuildCache.open())
    changed = False
    for out, tree in result.trees.items():
        changed |= sync(out, tree, check=check).any
    return result, changed


def names(result) -> tuple[list[str], list[str]]:
    return sorted(j.plan.name for j in result.jobs), sorted(p.parent.name for p in result.cached)


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted((root / "deploy").rglob("*")) if p.is_file()}


def test_unchanged_project_is_served_from_cache_with_identical_output(project):
    first, changed = build(project)
    assert names(first) == (["job-a", "job-b"], []) and changed
    before = snapshot(project)
    second, changed = build(project)
    assert names(second) == ([], ["a", "b"]) and not changed
    assert second.job_count == 2
    assert snapshot(project) == before
    # The served tree is byte for byte the tree a full compile produces.
    fresh = build_trees(find_templates([project]), None, CompileOptions())
    assert second.trees == fresh.trees


def test_changed_template_rebuilds_only_that_job(project):
    build(project)
    template = project / "jobs" / "a" / "pf-template.yml"
    template.write_text(template.read_text().replace("num_devices: 8", "num_devices: 4"))
    result, changed = build(project)
    assert names(result) == (["job-a"], ["b"]) and changed
    assert '"4"' in (project / "deploy" / "job-a" / "pytorchjob.yaml").read_text()


def test_comment_only_edit_recompiles_but_writes_nothing(project):
    build(project)
    with open(project / "jobs" / "a" / "pf-template.yml", "a") as handle:
        handle.write("# a comment\n")
    result, changed = build(project)
    assert names(result) == (["job-a"], ["b"]) and not changed


def test_changed_config_rebuilds_every_job(project):
    build(project)
    config = project / "pfgen.yaml"
    config.write_text(config.read_text().replace("namespace: ml-team", "namespace: other-team"))
    result, changed = build(project)
    assert names(result) == (["job-a", "job-b"], []) and changed
    assert "namespace: other-team" in (project / "deploy" / "job-a" / "pytorchjob.yaml").read_text()


def test_a_nearer_config_appearing_rebuilds(project):
    build(project)
    nearer = project / "jobs" / "a" / "pfgen.yaml"
    nearer.write_text("namespace: team-a\n")
    result, _ = build(project)
    assert "job-a" in names(result)[0] and "a" not in names(result)[1]
    nearer.unlink()
    result, _ = build(project)
    assert "job-a" in names(result)[0]


def test_new_pfgen_version_rebuilds(project, monkeypatch):
    build(project)
    monkeypatch.setattr(pfgen, "__version__", "99.0.0")
    cache.tool_key.cache_clear()
    result, changed = build(project)
    assert names(result) == (["job-a", "job-b"], []) and not changed


def test_edited_pfgen_source_rebuilds(project, monkeypatch):
    build(project)
    monkeypatch.setattr(cache, "source_hash", lambda: "an edited checkout")
    cache.tool_key.cache_clear()
    result, _ = build(project)
    assert names(result) == (["job-a", "job-b"], [])


def test_source_hash_covers_every_source_and_data_file(tmp_path, monkeypatch):
    package = tmp_path / "pfgen"
    shutil.copytree(Path(pfgen.__file__).parent, package, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(cache, "_PACKAGE", package)
    labels = [label for label, _ in cache._source_files()]
    assert "pfgen/build.py" in labels and "pfgen/vms.json" in labels and "pfgen/emit/pytorchjob.py" in labels
    assert "schemas/pf-template.schema.json" in labels
    cache.source_hash.cache_clear()
    before = cache.source_hash()
    with open(package / "emit" / "pytorchjob.py", "a") as handle:
        handle.write("\n# edited\n")
    cache.source_hash.cache_clear()
    try:
        assert cache.source_hash() != before
    finally:
        monkeypatch.undo()
        cache.source_hash.cache_clear()


def test_deleted_output_file_is_rebuilt(project):
    build(project)
    target = project / "deploy" / "job-a" / "pytorchjob.yaml"
    expected = target.read_bytes()
    target.unlink()
    result, changed = build(project)
    assert names(result) == (["job-a"], ["b"]) and changed
    assert target.read_bytes() == expected


def test_hand_edited_output_file_is_rebuilt_and_check_sees_it(project):
    build(project)
    target = project / "deploy" / "job-b" / "persistentvolumeclaim.yaml"
    expected = target.read_bytes()
    target.write_bytes(expected.replace(b"storage: 1Gi", b"storage: 2Gi"))
    result, drift = build(project, check=True)
    assert names(result) == (["job-b"], ["a"]) and drift
    result, changed = build(project)
    assert changed and target.read_bytes() == expected


def test_extra_key_hook_rebuilds_when_its_material_changes(project, monkeypatch):
    """The hook workspaces (issue 6) extend: key material from outside the template."""
    tag = project / "tag-input.txt"
    tag.write_text("one")
    monkeypatch.setattr(cache, "EXTRA_KEY", [lambda template, options: [f"tag={tag.read_text()}"]])
    build(project)
    assert names(build(project)[0]) == ([], ["a", "b"])
    tag.write_text("two")
    assert names(build(project)[0]) == (["job-a", "job-b"], [])


def test_dependency_hook_rebuilds_when_a_workspace_file_changes(project, monkeypatch):
    workspace = project / "jobs" / "a" / "cifar"
    workspace.mkdir()
    (workspace / "main.py").write_text("print(1)\n")

    def workspace_dirs(template, job, options):
        candidate = template.parent / "cifar"
        return [("tree", str(candidate))] if candidate.is_dir() else []

    monkeypatch.setattr(cache, "DEPENDENCIES", [workspace_dirs])
    build(project)
    assert names(build(project)[0]) == ([], ["a", "b"])
    (workspace / "main.py").write_text("print(2)\n")
    assert names(build(project)[0]) == (["job-a"], ["b"])
    (workspace / "data.csv").write_text("x\n")
    assert names(build(project)[0]) == (["job-a"], ["b"])
    os.chmod(workspace / "data.csv", 0o755)
    assert names(build(project)[0]) == (["job-a"], ["b"])
    assert names(build(project)[0]) == ([], ["a", "b"])


def test_workspace_dir_option_is_a_dependency(project, tmp_path):
    workspace = tmp_path / "ws"
    workspace.mkdir()
    (workspace / "train.py").write_text("v1\n")
    options = CompileOptions(workspace_dir=workspace)
    build(project, options)
    assert names(build(project, options)[0]) == ([], ["a", "b"])
    assert names(build(project)[0]) == (["job-a", "job-b"], [])  # other options: other key
    (workspace / "train.py").write_text("v2\n")
    assert names(build(project, options)[0]) == (["job-a", "job-b"], [])


def test_warnings_are_reported_again_when_served_from_cache(project, monkeypatch):
    real = build_mod.compile_document

    def with_warning(doc, template, config=None, options=CompileOptions()):
        job = real(doc, template, config, options)
        job.diagnostics.append(Diagnostic(doc.file, 3, 1, "something to think about", "warning"))
        return job

    monkeypatch.setattr(build_mod, "compile_document", with_warning)
    first, _ = build(project)
    second, _ = build(project)
    assert names(second) == ([], ["a", "b"])
    assert [str(w) for w in second.warnings] == [str(w) for w in first.warnings] != []


def test_corrupt_or_foreign_cache_file_is_a_miss(project):
    build(project)
    path = BuildCache.open().path
    for junk in ("{not json", json.dumps({"format": 0, "entries": {}}), json.dumps([1, 2])):
        path.write_text(junk)
        assert names(build(project)[0]) == (["job-a", "job-b"], [])


def test_cache_off_and_cache_file_outside_output_tree(project, monkeypatch, tmp_path):
    build(project)
    assert BuildCache.open().path.is_relative_to(tmp_path / "cache")
    assert not [p for p in (project / "deploy").rglob("*") if "cache" in p.name]
    monkeypatch.setenv("PFGEN_CACHE", "off")
    assert names(build(project)[0]) == (["job-a", "job-b"], [])


def test_cache_file_is_deterministic(project):
    build(project)
    path = BuildCache.open().path
    first = path.read_bytes()
    path.unlink()
    (project / "deploy").joinpath("job-a", "pytorchjob.yaml").unlink()
    build(project)  # job-a recompiled, job-b... recompiled too: the cache file is gone
    assert path.read_bytes() == first


def test_cli_no_cache_and_check(project, tmp_path):
    env = {**os.environ, "PFGEN_CACHE_DIR": str(tmp_path / "cache")}

    def pfgen_cli(*args):
        return subprocess.run([sys.executable, "-m", "pfgen", *args], cwd=project, env=env, capture_output=True, text=True, timeout=120)

    assert pfgen_cli("build").returncode == 0
    checked = pfgen_cli("build", "--check")
    assert checked.returncode == 0 and "2 jobs up to date" in checked.stderr
    (project / "deploy" / "job-a" / "kustomization.yaml").write_text("# Generated by pfgen from x\nresources: []\n")
    for flags in (("--check",), ("--check", "--no-cache")):
        drift = pfgen_cli("build", *flags)
        assert drift.returncode == 1 and "job-a/kustomization.yaml" in drift.stdout


def test_name_clash_with_a_cached_job_is_still_reported_with_positions(project):
    build(project)
    template = project / "jobs" / "b" / "pf-template.yml"
    template.write_text(template.read_text().replace("name: job-b", "name: job-a"))
    with pytest.raises(UserError) as caught:
        build(project)
    messages = [str(d) for d in caught.value.diagnostics]
    assert len(messages) == 2 and all("job name 'job-a' is also produced by" in m for m in messages)
    assert any(m.startswith("jobs/a/pf-template.yml:") for m in messages)
    assert all(":1:1:" not in m for m in messages)  # real positions of `name`, from the cached job's template too
