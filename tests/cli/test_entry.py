"""pfgen.cli.entry, the console script: validate and render without click, exactly as click runs them.

Every command line runs twice in a subprocess, once through pfgen.cli.entry (the
console script and ``python -m pfgen``) and once through pfgen.cli.main (click
alone), both as the console script would (program name ``pfgen``): stdout,
stderr and the exit status must be the same bytes. A second test checks that
validate and render of a plain template import none of the heavy packages.
Nothing here measures time.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT

from pfgen.cli import entry

# As the generated console script runs it (argv[0] names the program in click's messages).
SCRIPT = "import sys; sys.argv[0] = 'pfgen'; from {module} import main; sys.exit(main())"

GOOD = "good/pf-template.yml"
BAD = "bad/pf-template.yml"
TUNING = "tuning/good/stdout-grid.yml"  # warnings, a pull secret, pfgen.yaml
ESCAPE = "escape/pf-template.yml"  # an ESC in a key: escaped in the message
ANSI = "ansi/pf-template.yml"  # valid, with an ANSI colour sequence in an env value
PLAIN = "plain/pf-template.yml"  # no pfgen.yaml, credentials, workspace or tuning

# (argv, whether pfgen.cli.entry answers it itself rather than handing it to click)
CASES = [
    (["validate", GOOD], True),
    (["validate", BAD], True),
    (["validate", GOOD, BAD, TUNING], True),
    (["validate"], True),  # the current directory: every template below it
    (["validate", "good"], True),
    (["validate", "tuning"], True),
    (["validate", "empty"], True),  # a directory without templates
    (["validate", "missing.yml"], True),
    (["validate", "missing.yml", "--format", "json"], True),
    (["validate", "-"], True),  # not stdin for validate: a path that does not exist
    (["validate", ESCAPE], True),
    (["validate", ANSI], True),
    (["validate", "--format", "json", GOOD], True),
    (["validate", BAD, "--format", "json"], True),
    (["validate", BAD, "--format=json"], True),
    (["validate", BAD, TUNING, "--format", "github"], True),
    (["validate", TUNING, "--format=github"], True),
    (["validate", TUNING, "--format", "text"], True),
    (["validate", ESCAPE, "--format", "json"], True),
    (["render", GOOD], True),
    (["render", PLAIN], True),
    (["validate", PLAIN, "--format", "github"], True),
    (["render", GOOD, "-o", "json"], True),
    (["render", "-o", "json", GOOD], True),
    (["render", GOOD, "-ojson"], True),
    (["render", GOOD, "--output", "yaml"], True),
    (["render", GOOD, "--output=json"], True),
    (["render", TUNING], True),
    (["render", BAD], True),
    (["render", ESCAPE], True),
    (["render", ANSI], True),
    (["render", ANSI, "-o", "json"], True),
    (["render", "missing.yml"], True),
    (["render", "-"], True),
    (["render", "-", "-o", "json"], True),
    # click's: help, usage errors, other commands and options
    ([], False),
    (["-h"], False),
    (["--help"], False),
    (["--version"], False),
    (["validate", "-h"], False),
    (["validate", GOOD, "--help"], False),
    (["render", "--help"], False),
    (["validate", "--bogus"], False),
    (["validate", "--form", "json", GOOD], False),
    (["validate", "--format", "yaml", GOOD], False),
    (["validate", "--format", "JSON", GOOD], False),
    (["validate", "--format=", GOOD], False),
    (["validate", GOOD, "--format"], False),
    (["validate", "--format", "json", "--format", "text", GOOD], False),
    (["validate", "--", GOOD], False),
    (["validate", "-x", GOOD], False),
    (["render"], False),
    (["render", GOOD, BAD], False),
    (["render", "good"], False),  # a directory
    (["render", GOOD, "-o", "xml"], False),
    (["render", GOOD, "-o=json"], False),
    (["render", GOOD, "-o"], False),
    (["render", GOOD, "--format", "json"], False),
    (["render", GOOD, "--secrets-mode", "external"], False),
    (["render", GOOD, "-d", "good"], False),
    (["schema"], False),
    (["vm", "show", "azure-v100-4g-eastus-spot"], False),
    (["valid", GOOD], False),
]

STDIN = {
    ("render", "-"): "vm: nope\nnum_devices: 1\njob_setting: {type: custom}\n",
    ("render", "-", "-o", "json"): "GOOD",
}


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("entry")
    (root / "good").mkdir()
    shutil.copy(ROOT / "tests/golden/huggingface-gcp-spot/pf-template.yml", root / GOOD)
    (root / "bad").mkdir()
    (root / BAD).write_text("vm: nope\nnum_devices: 1\njob_setting: {type: custom}\nnmae: x\n")
    shutil.copytree(ROOT / "tests/fixtures/tuning", root / "tuning")
    shutil.rmtree(root / "tuning/bad")
    (root / "escape").mkdir()
    shutil.copy(ROOT / "tests/fixtures/bad/encoding-raw-escape-in-key.yml", root / ESCAPE)
    (root / "ansi").mkdir()
    text = (ROOT / "tests/golden/huggingface-gcp-spot/pf-template.yml").read_text()
    (root / "plain").mkdir()
    (root / PLAIN).write_text(text.split("plugin:")[0])
    text = text.replace("    command:", '    env_var:\n      COLOR: "\\e[31mred\\e[0m"\n    command:')
    (root / ANSI).write_text(text)
    (root / "empty").mkdir()
    return root


def run(module: str, argv: list[str], cwd: Path, stdin: str = "", env: dict | None = None, **kwargs):
    return subprocess.run([sys.executable, "-c", SCRIPT.format(module=module), *argv], cwd=cwd, input=stdin.encode(),
                          capture_output=True, timeout=120, env={**os.environ, **(env or {})}, **kwargs)


def same(argv: list[str], cwd: Path, stdin: str = "", env: dict | None = None) -> subprocess.CompletedProcess:
    fast = run("pfgen.cli.entry", argv, cwd, stdin, env)
    slow = run("pfgen.cli.main", argv, cwd, stdin, env)
    assert (fast.returncode, fast.stdout.decode(errors="replace"), fast.stderr.decode(errors="replace")) == \
           (slow.returncode, slow.stdout.decode(errors="replace"), slow.stderr.decode(errors="replace"))
    assert (fast.stdout, fast.stderr) == (slow.stdout, slow.stderr)
    return fast


@pytest.mark.parametrize("argv, fast", CASES, ids=[" ".join(argv) or "(none)" for argv, _ in CASES])
def test_entry_and_click_print_the_same(tree, monkeypatch, argv, fast):
    monkeypatch.chdir(tree)  # parse() looks at the paths as click's Path type does
    assert (entry.parse(argv) is not None) == fast
    stdin = STDIN.get(tuple(argv), "")
    if stdin == "GOOD":
        stdin = (tree / GOOD).read_text()
    result = same(argv, tree, stdin)
    assert b"Traceback" not in result.stderr


def test_the_cases_cover_success_and_failure(tree):
    codes = {same(argv, tree).returncode for argv in (["validate", GOOD], ["validate", BAD], ["render", "-o", "xml", GOOD])}
    assert codes == {0, 2}


def test_python_m_pfgen_is_the_entry(tree):
    module = subprocess.run([sys.executable, "-m", "pfgen", "render", GOOD, "-o", "json"], cwd=tree, capture_output=True)
    script = run("pfgen.cli.main", ["render", GOOD, "-o", "json"], tree)
    assert (module.returncode, module.stdout, module.stderr) == (script.returncode, script.stdout, script.stderr)
    assert json.loads(module.stdout)["kind"] == "List"


@pytest.mark.parametrize("argv", [["render", GOOD], ["validate", BAD], ["validate", BAD, "--format", "json"]])
def test_a_closed_pipe_ends_both_alike(tree, argv):
    # stdout (and stderr) are pipes nobody reads: the first write fails with EPIPE.
    results = []
    for module in ("pfgen.cli.entry", "pfgen.cli.main"):
        out_r, out_w = os.pipe()
        os.close(out_r)
        err_r, err_w = os.pipe()
        with os.fdopen(err_r, "rb") as err:
            proc = subprocess.Popen([sys.executable, "-c", SCRIPT.format(module=module), *argv], cwd=tree,
                                    stdin=subprocess.DEVNULL, stdout=out_w, stderr=err_w)
            os.close(out_w)
            os.close(err_w)
            stderr = err.read()
        results.append((proc.wait(timeout=120), stderr))
    assert results[0] == results[1]


@pytest.mark.parametrize("env", [{"PYTHONIOENCODING": "ascii"}, {"_PFGEN_COMPLETE": "bash_source"}])
def test_unusual_environments_go_to_click(tree, env):
    for argv in (["validate", ESCAPE], ["render", GOOD]):
        same(argv, tree, env=env)


def test_unreadable_template_goes_to_click(tree):
    unreadable = tree / "unreadable.yml"
    shutil.copy(tree / GOOD, unreadable)
    unreadable.chmod(0)
    try:
        assert (entry.parse(["render", str(unreadable)]) is None) == (not os.access(unreadable, os.R_OK))
        same(["render", str(unreadable)], tree)
        same(["validate", str(unreadable)], tree)
    finally:
        unreadable.chmod(0o644)
        unreadable.unlink()


HEAVY = ("click", "jinja2", "ruamel", "jsonschema", "docker", "pfgen.cli.main")

PROBE = """
import json, sys
out = sys.argv.pop(1)
sys.argv[0] = "pfgen"
from pfgen.cli.entry import main
try:
    main()
finally:
    with open(out, "w") as handle:
        json.dump(sorted(sys.modules), handle)
"""


@pytest.mark.parametrize("argv", [["validate", PLAIN], ["render", PLAIN], ["render", PLAIN, "-o", "json"],
                                  ["validate", "plain", "--format", "json"]])
def test_validate_and_render_of_a_plain_template_import_nothing_heavy(tree, tmp_path, argv):
    modules_file = tmp_path / "modules.json"
    result = subprocess.run([sys.executable, "-c", PROBE, str(modules_file), *argv], cwd=tree, capture_output=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    modules = json.loads(modules_file.read_text())
    assert "pfgen.cli.commands" in modules
    heavy = [m for m in modules if m.split(".")[0] in HEAVY or m in HEAVY]
    assert heavy == []
