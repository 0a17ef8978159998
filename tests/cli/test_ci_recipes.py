"""The CI recipes in docs/ci.md are real YAML that GitHub's and GitLab's schemas accept.

The schemas are the ones check-jsonschema vendors (`--builtin-schema
vendor.github-workflows` / `vendor.gitlab-ci`), so this runs offline.
"""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
import yaml

from gitops_util import PROJECT

DOC = PROJECT / "docs" / "ci.md"
BLOCK = re.compile(r"<!-- file: (?P<name>[^ ]+) -->\n```yaml\n(?P<body>.*?)```", re.S)


def recipes() -> dict[str, str]:
    return {m.group("name"): m.group("body") for m in BLOCK.finditer(DOC.read_text())}


def test_docs_hold_a_github_and_a_gitlab_recipe():
    assert sorted(recipes()) == [".github/workflows/pfgen.yml", ".gitlab-ci.yml"]


@pytest.mark.parametrize("name, schema", [(".github/workflows/pfgen.yml", "vendor.github-workflows"),
                                          (".gitlab-ci.yml", "vendor.gitlab-ci")])
def test_recipe_validates_against_its_ci_schema(tmp_path, name, schema):
    path = tmp_path / name.replace("/", "_")
    path.write_text(recipes()[name])
    result = subprocess.run([sys.executable, "-m", "check_jsonschema", "--builtin-schema", schema, str(path)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def _commands(steps) -> str:
    return "\n".join(str(step.get("run", "")) for step in steps)


def test_github_recipe_checks_then_applies_on_main_only():
    workflow = yaml.safe_load(recipes()[".github/workflows/pfgen.yml"])
    check, apply = workflow["jobs"]["check"], workflow["jobs"]["apply"]
    assert "pip install" in _commands(check["steps"])
    assert "pfgen build --check" in _commands(check["steps"])
    assert apply["needs"] == "check"
    assert "refs/heads/main" in apply["if"]
    assert "kubectl apply -k deploy/" in _commands(apply["steps"])


def test_gitlab_recipe_checks_then_applies_on_the_default_branch_only():
    pipeline = yaml.safe_load(recipes()[".gitlab-ci.yml"])
    check, apply = pipeline["pfgen-check"], pipeline["pfgen-apply"]
    assert any("pip install" in line for line in check["script"])
    assert "pfgen build --check" in check["script"]
    assert apply["script"] == ["kubectl apply -k deploy/"]
    assert apply["rules"] == [{"if": "$CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH"}]
    assert pipeline["stages"].index(check["stage"]) < pipeline["stages"].index(apply["stage"])
