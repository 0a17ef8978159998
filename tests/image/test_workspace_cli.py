"""Workspace images through the CLI, offline: -d override, registry requirement, determinism."""

from __future__ import annotations

import shutil

from conftest import ROOT, run_pfgen


def copy_example(tmp_path, path: bool = False):
    """The cifar100 example (seed 001 verbatim: its workspace is the ./cifar its command enters);
    ``path``: with `workspace.path: cifar` written out."""
    project = tmp_path / "cifar100"
    shutil.copytree(ROOT / "examples" / "cifar100", project, ignore=shutil.ignore_patterns("deploy"))
    if path:
        template = project / "pf-template.yml"
        template.write_text(template.read_text().replace("    mount_path: /workspace\n", "    mount_path: /workspace\n    path: cifar\n"))
    return project


def image_line(deploy_job):
    return next(line.strip() for line in (deploy_job / "pytorchjob.yaml").read_text().splitlines() if "image:" in line)


def test_workspace_dir_override_selects_another_directory_for_render(tmp_path):
    project = copy_example(tmp_path)
    other = tmp_path / "elsewhere" / "cifar"
    shutil.copytree(project / "cifar", other)
    (other / "extra.py").write_text("x = 1\n")
    base = run_pfgen("render", ".", cwd=project)
    assert base.returncode == 0, base.stderr
    result = run_pfgen("render", ".", "-d", str(other), cwd=project)
    assert result.returncode == 0, result.stderr
    before, after = ([line.strip() for line in r.stdout.splitlines() if "image:" in line][0] for r in (base, result))
    assert before != after and after.startswith("image: registry.example.com/ml-team/cifar-job:sha-")


def test_build_with_a_workspace_dir_is_refused_with_the_fix(tmp_path):
    """`build -d` would write what `build --check` and the pre-commit hook (which do not see -d) cannot
    reproduce: the next check would report drift, the hook would drop the image."""
    project = copy_example(tmp_path)
    other = tmp_path / "elsewhere" / "cifar"
    shutil.copytree(project / "cifar", other)
    result = run_pfgen("build", ".", "-d", str(other), cwd=project)
    assert result.returncode == 2 and not (project / "deploy").exists()
    assert "the output must follow from the files alone" in result.stderr
    assert "path: <" in result.stderr and "under job_setting.workspace" in result.stderr
    built = run_pfgen("build", ".", cwd=project)
    assert built.returncode == 0, built.stderr
    check = run_pfgen("build", "--check", ".", cwd=project)
    assert check.returncode == 0, check.stdout + check.stderr


def test_workspace_path_without_mount_path_takes_the_default(tmp_path):
    project = copy_example(tmp_path)
    template = project / "pf-template.yml"
    template.write_text(template.read_text().replace("  workspace:\n    mount_path: /workspace\n", "  workspace:\n    path: cifar\n"))
    result = run_pfgen("build", ".", cwd=project)
    assert result.returncode == 0, result.stderr
    assert 'COPY [".", "/workspace/cifar/"]' in (project / "deploy" / "cifar-job" / "Dockerfile").read_text()
    assert (project / "deploy/cifar-job/pytorchjob.yaml").read_bytes() == \
        (ROOT / "examples/cifar100/deploy/cifar-job/pytorchjob.yaml").read_bytes()


def test_inferred_workspace_can_be_turned_off_and_then_warns(tmp_path):
    project = copy_example(tmp_path)
    config = project / "pfgen.yaml"
    config.write_text(config.read_text() + "workspace:\n  infer: false\n")
    result = run_pfgen("build", ".", cwd=project)
    assert result.returncode == 0, result.stderr
    assert not (project / "deploy/cifar-job/Dockerfile").exists()
    assert "pf-template.yml:33:10: warning: job_setting.docker.command: needs /workspace/cifar, but no workspace" in result.stderr
    assert "image: friendliai/periflow:sdk" in (project / "deploy/cifar-job/pytorchjob.yaml").read_text()


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
    for path, where in ((True, "48:11"), (False, "33:10")):  # at workspace.path, else where the command enters it
        project = copy_example(tmp_path / str(path), path=path)
        config = project / "pfgen.yaml"
        config.write_text("".join(line for line in config.read_text().splitlines(True) if not line.startswith("registry:")))
        result = run_pfgen("build", ".", cwd=project)
        assert result.returncode == 2
        assert f"pf-template.yml:{where}: error: workspace 'cifar' is built into an image, which needs a registry" in result.stderr
        assert not (project / "deploy").exists()


def test_missing_workspace_directory_is_a_positioned_error(tmp_path):
    project = copy_example(tmp_path, path=True)
    shutil.rmtree(project / "cifar")
    result = run_pfgen("render", "pf-template.yml", cwd=project)
    assert result.returncode == 2
    assert "pf-template.yml:48:11: error: workspace directory 'cifar' does not exist" in result.stderr


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
