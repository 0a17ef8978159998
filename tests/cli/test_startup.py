"""The console script: one click layer, lazy subcommands, one exit-code table.

``pfgen`` (the console script) and ``python -m pfgen`` run :func:`pfgen.cli.main.main`.
Its subcommands are imported only when invoked, and ``pfgen validate`` (the
pre-commit hook) must stay cheap to start: click is loaded, but none of the
heavy packages (jinja2, jsonschema, docker, ruamel) nor the modules of the
other commands. Every example has a workspace, so the probe goes through the
workspace checks, which must not render the Dockerfile (Jinja) on validate.
Nothing here measures time: benchmarks/startup.py does.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT

from pfgen.cli import exits
from pfgen.cli.main import COMMANDS, main

HEAVY = ("jinja2", "markupsafe", "jsonschema", "docker", "ruamel", "cryptography")
# what a build needs and a validate of one template does not (the layout, the writer, the dumper,
# the build cache and its whole-command record): pfgen/cli/validate.py's _one
BUILD_ONLY = ("pfgen.output.stream", "pfgen.output.layout", "pfgen.output.write", "pfgen.output.dump",
              "pfgen.output.cache", "pfgen.output.wholestamp", "pfgen.output.parallel", "tempfile")
OTHER_COMMANDS = tuple(f"pfgen.cli.{name}" for name in COMMANDS if name != "validate")

PROBE = """
import json, sys
out = sys.argv.pop(1)
sys.argv[0] = "pfgen"
from pfgen.cli.main import main
try:
    main()
finally:
    with open(out, "w") as handle:
        json.dump(sorted(sys.modules), handle)
"""

EXAMPLES = sorted(p.name for p in (ROOT / "examples").iterdir() if (p / "pf-template.yml").is_file())
PLAIN = "plain/pf-template.yml"  # no pfgen.yaml, credentials, workspace or tuning


def _probe(argv: list[str], cwd: Path, tmp_path: Path) -> list[str]:
    modules_file = tmp_path / "modules.json"
    env = {**os.environ, "PFGEN_CACHE": "off"}  # compile, never serve from a cache
    result = subprocess.run([sys.executable, "-c", PROBE, str(modules_file), *argv], cwd=cwd, capture_output=True,
                            timeout=120, env=env)
    assert result.returncode == 0, result.stderr
    return json.loads(modules_file.read_text())


@pytest.mark.parametrize("example", EXAMPLES)
def test_validate_of_a_workspace_template_imports_nothing_heavy(tmp_path, example):
    modules = _probe(["validate", f"examples/{example}"], ROOT, tmp_path)
    assert "click" in modules and "pfgen.cli.validate" in modules
    assert "pfgen.resolve.workspace" in modules  # the template has a workspace, and it was scanned
    heavy = [m for m in modules if m.split(".")[0] in HEAVY]
    assert heavy == []
    assert [m for m in modules if m in OTHER_COMMANDS] == []
    assert [m for m in modules if m in BUILD_ONLY] == []


@pytest.fixture(scope="module")
def plain(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("plain")
    (root / "plain").mkdir()
    text = (ROOT / "tests/golden/huggingface-gcp-spot/pf-template.yml").read_text()
    (root / PLAIN).write_text(text.split("plugin:")[0])
    return root


@pytest.mark.parametrize("argv", [["validate", PLAIN], ["render", PLAIN], ["render", PLAIN, "-o", "json"],
                                  ["validate", "plain", "--format", "json"]])
def test_validate_and_render_of_a_plain_template_import_nothing_heavy(plain, tmp_path, argv):
    modules = _probe(argv, plain, tmp_path)
    assert [m for m in modules if m.split(".")[0] in HEAVY] == []
    if argv[0] == "validate":
        assert [m for m in modules if m in BUILD_ONLY] == []


def test_render_of_a_workspace_template_renders_the_dockerfile_with_jinja(tmp_path):
    # the other side of the probe above: output that names the image needs its tag, hence the Dockerfile
    modules = _probe(["render", "examples/ddp-smoke"], ROOT, tmp_path)
    assert "jinja2" in modules


def test_python_m_pfgen_is_the_console_script(plain):
    module = subprocess.run([sys.executable, "-m", "pfgen", "render", PLAIN, "-o", "json"], cwd=plain,
                            capture_output=True, timeout=120)
    script = subprocess.run([shutil.which("pfgen", path=os.path.dirname(sys.executable)) or "pfgen",
                             "render", PLAIN, "-o", "json"], cwd=plain, capture_output=True, timeout=120)
    assert (module.returncode, module.stdout, module.stderr) == (script.returncode, script.stdout, script.stderr)
    assert json.loads(module.stdout)["kind"] == "List"


def test_every_command_is_listed_and_loads_under_its_name():
    from click.testing import CliRunner

    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    listed = re.findall(r"^  (\w[\w-]*)  ", result.output.split("Commands:")[1].split("Exit codes:")[0], re.M)
    assert listed == sorted(COMMANDS)
    for name in COMMANDS:
        assert CliRunner().invoke(main, [name, "--help"]).exit_code == 0, name


def test_help_shows_the_exit_code_table():
    from click.testing import CliRunner

    output = CliRunner().invoke(main, ["--help"]).output
    for code, meaning in exits.TABLE:
        assert re.search(rf"^ +{code}  {re.escape(meaning)}$", output, re.M), (code, output)


def test_docs_show_the_same_exit_code_table():
    assert exits.markdown() in (ROOT / "docs/ci.md").read_text(encoding="utf-8")


def test_the_table_is_the_codes_the_commands_use():
    assert [code for code, _ in exits.TABLE] == [exits.OK, exits.CHANGED, exits.INVALID, exits.IMAGE_FAILED] == [0, 1, 2, 3]
    sources = "".join(p.read_text(encoding="utf-8") for p in (ROOT / "pfgen/cli").glob("*.py"))
    assert re.findall(r"sys\.exit\((\d)", sources) == []  # every status is a name from pfgen.cli.exits
