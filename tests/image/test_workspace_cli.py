"""Workspace images through the CLI, offline: -d override, registry requirement, determinism."""

from __future__ import annotations

import shutil

from conftest import ROOT, run_pfgen


def copy_example(tmp_path):
    project = tmp_path / "cifar100"
    shutil.copytree(ROOT / "examples" / "cifar100", project, ignore=shutil.ignore_patterns("deploy"))
    return project


def image_line(deploy_job):
    return next(line.strip() for line in (deploy_job / "pytorchjob.yaml").read_text().splitlines() if "image:" in line)


def test_workspace_dir_override_selects_another_directory(tmp_path):
    project = copy_example(tmp_path)
    other = tmp_path / "elsewhere" / "cifar"
    shutil.copytree(project / "cifar", other)
    (other / "extra.py").write_text("x = 1\n")
    base = run_pfgen("build", ".", cwd=project)
    assert base.returncode == 0, base.stderr
    before = image_line(project / "deploy" / "cifar-job")
    result = run_pfgen("build", ".", "-d", str(other), cwd=project)
    assert result.returncode == 0, result.stderr
    after = image_line(project / "deploy" / "cifar-job")
    assert before != after and after.startswith("image: registry.example.com/ml-team/cifar-job:sha-")
    assert 'COPY [".", "/workspace/cifar/"]' in (project / "deploy" / "cifar-job" / "Dockerfile").read_text()


def test_same_example_in_two_places_gives_byte_identical_output(tmp_path):
    outputs = []
    for name in ("a", "b"):
        project = copy_example(tmp_path / name)
        result = run_pfgen("build", ".", cwd=project)
        assert result.returncode == 0, result.stderr
        job = project / "deploy" / "cifar-job"
        outputs.append({p.name: p.read_bytes() for p in sorted(job.iterdir())})
    assert outputs[0] == outputs[1]
    assert outputs[0][".dockerignore"] == (ROOT / "examples/cifar100/deploy/cifar-job/.dockerignore").read_bytes()


def test_workspace_without_registry_is_a_positioned_error(tmp_path):
    project = copy_example(tmp_path)
    config = project / "pfgen.yaml"
    config.write_text("".join(line for line in config.read_text().splitlines(True) if not line.startswith("registry:")))
    result = run_pfgen("build", ".", cwd=project)
    assert result.returncode == 2
    assert "pf-template.yml:46:11: error: workspace 'cifar' is built into an image, which needs a registry" in result.stderr
    assert not (project / "deploy").exists()


def test_missing_workspace_directory_is_a_positioned_error(tmp_path):
    project = copy_example(tmp_path)
    shutil.rmtree(project / "cifar")
    result = run_pfgen("render", "pf-template.yml", cwd=project)
    assert result.returncode == 2
    assert "pf-template.yml:46:11: error: workspace directory 'cifar' does not exist" in result.stderr


def test_pull_secret_logs_in_to_the_registry_the_pods_pull_from(tmp_path):
    from pfgen.pipeline import compile_job

    project = copy_example(tmp_path)
    template = project / "pf-template.yml"
    text = template.read_text()
    template.write_text(text.replace("    image: friendliai/periflow:sdk\n",
                                     "    image: friendliai/periflow:sdk\n    credential_id: regcred\n"))
    plan = compile_job(template).plan
    assert plan.image.startswith("registry.example.com/ml-team/cifar-job:sha-")
    docker = [use for use in plan.credentials if use.kind == "docker"]
    assert [use.registries for use in docker] == [("registry.example.com",)]
    assert plan.image_pull_secrets == ("regcred",)
