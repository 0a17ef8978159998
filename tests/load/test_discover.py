"""Template discovery on its own: git's view of ignored files, and the fallback without git."""

from __future__ import annotations

from pathlib import Path

from gitops_util import commit_all, run_git

from pfgen.load.discover import find_templates, git_ignored


def _touch(root: Path, *names: str) -> None:
    for name in names:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text("")


def test_a_tracked_template_counts_even_where_git_would_ignore_it(tmp_path):
    _touch(tmp_path, "a/pf-template.yml", "build/pf-template.yml", "build/keep/pf-template.yaml", "z/pf-template.yaml")
    run_git(tmp_path, "init", "-q")
    (tmp_path / ".gitignore").write_text("build/\n")
    run_git(tmp_path, "add", "-f", "build/keep/pf-template.yaml")
    commit_all(tmp_path)
    found = [p.relative_to(tmp_path).as_posix() for p in find_templates([tmp_path])]
    assert found == ["a/pf-template.yml", "build/keep/pf-template.yaml", "z/pf-template.yaml"]


def test_outside_git_nothing_is_ignored_and_order_is_by_path(tmp_path, monkeypatch):
    _touch(tmp_path, "b/pf-template.yml", "a/c/pf-template.yml", "a/pf-template.yaml", "skip/pyvenv.cfg",
           "skip/pf-template.yml", "a/node_modules/pf-template.yml")
    (tmp_path / ".gitignore").write_text("b/\n")  # not a repository: means nothing
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))
    assert git_ignored(tmp_path) is None
    found = [p.relative_to(tmp_path).as_posix() for p in find_templates([tmp_path])]
    assert found == ["a/c/pf-template.yml", "a/pf-template.yaml", "b/pf-template.yml"]


def test_without_git_installed_discovery_still_works(tmp_path, monkeypatch):
    _touch(tmp_path, "a/pf-template.yml")
    monkeypatch.setenv("PATH", str(tmp_path / "no-binaries-here"))
    assert git_ignored(tmp_path) is None
    assert find_templates([tmp_path]) == [tmp_path / "a/pf-template.yml"]


def test_explicit_files_are_taken_as_given(tmp_path):
    _touch(tmp_path, "x/custom-name.yml", "x/pf-template.yml")
    found = find_templates([tmp_path / "x/custom-name.yml", tmp_path / "x", tmp_path / "x/pf-template.yml"])
    assert found == [tmp_path / "x/custom-name.yml", tmp_path / "x/pf-template.yml"]
