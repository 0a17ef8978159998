"""Hostile templates (tests/fixtures/bad, listed in cases.yaml) are refused cleanly by the real CLI.

Each case runs `pfgen validate` and `pfgen build -o OUT` in a subprocess, in an
empty directory holding only the template: exit 2, the positioned message, no
traceback, nothing written, nothing executed.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

BAD = Path(__file__).parent.parent / "fixtures" / "bad"
CASES: dict = yaml.safe_load((BAD / "cases.yaml").read_text(encoding="utf-8"))
MARKER = "pfgen-code-ran"  # what the tag-python-* cases try to create
HANG_GUARD_SECONDS = 30
# The valid template beside the pfgen.yaml cases (`as: pfgen.yaml`).
CONFIG_TEMPLATE = """name: demo
vm: azure-16gb-v100-4g-eastus-spot
num_devices: 4
job_setting:
  type: custom
  docker:
    image: pytorch/pytorch:2.1
    command: torchrun --nproc_per_node 4 train.py
data:
  name: my-data
  mount_path: /data
"""
ONE_LINE = re.compile(r"^(\S+:\d+:\d+: (error|warning): |pfgen: )")


def _oversize() -> bytes:
    from pfgen.load.document import MAX_BYTES

    line = b"# " + b"x" * 77 + b"\n"
    return b"name: demo\n" + line * (MAX_BYTES // len(line) + 2)


def _long_command() -> bytes:
    head = (BAD / "yaml-duplicate-top-key.yml").read_text(encoding="utf-8").replace("name: again\n", "")
    return head.replace("command: torchrun --nproc_per_node 4 train.py", "command: echo " + "x" * (125 * 1024)).encode()


def _many_values() -> bytes:
    head = (BAD / "yaml-duplicate-top-key.yml").read_text(encoding="utf-8").replace("name: again\n", "")
    return (head + "    env_var:\n" + "".join(f"      V{i}: '{i}'\n" for i in range(6000))).encode()


def _wide_flow() -> bytes:
    return ("name: [" + ",".join(["1"] * 100_000) + "]\n").encode()


GENERATORS = {"oversize": _oversize, "long-command": _long_command, "many-values": _many_values, "wide-flow": _wide_flow}


def materialize(name: str, work: Path) -> None:
    """Lay out case ``name`` in the empty directory ``work`` (pf-template.yml, and pfgen.yaml for config cases)."""
    case = CASES[name]
    target = work / case.get("as", "pf-template.yml")
    if target.name != "pf-template.yml":
        (work / "pf-template.yml").write_text(CONFIG_TEMPLATE, encoding="utf-8")
    if "generate" in case:
        target.write_bytes(GENERATORS[case["generate"]]())
    else:
        shutil.copyfile(BAD / name, target)


def _snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_corpus_is_large_and_every_file_has_a_case():
    files = {p.name for p in BAD.iterdir() if p.name != "cases.yaml"}
    listed = {name for name, case in CASES.items() if "generate" not in case}
    assert files == listed, f"files without a case: {files - listed}; cases without a file: {listed - files}"
    assert len(CASES) >= 40
    for name, case in CASES.items():
        line, col = case["at"].split(":")
        assert int(line) >= 1 and int(col) >= 1, name
        assert case["message"], name


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    return subprocess.run(
        [sys.executable, "-m", "pfgen", *args],
        cwd=cwd, capture_output=True, text=True, env=env, timeout=HANG_GUARD_SECONDS, check=False,
    )


@pytest.mark.parametrize("command", ["validate", "build"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_hostile_template_is_refused_cleanly(name, command, tmp_path):
    case = CASES[name]
    work = tmp_path / "project"
    work.mkdir()
    materialize(name, work)
    before = _snapshot(tmp_path)
    out = tmp_path / "out"
    args = ["validate", "pf-template.yml"] if command == "validate" else ["build", "-o", str(out), "pf-template.yml"]

    result = _run(args, work)

    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == 2, result.stderr
    expected = f"{case.get('file', 'pf-template.yml')}:{case['at']}: error: "
    lines = result.stderr.splitlines()
    assert all(ONE_LINE.match(line) for line in lines), f"a diagnostic spans lines:\n{result.stderr}"
    assert any(line.startswith(expected) and case["message"] in line for line in lines), (
        f"expected {expected}...{case['message']}... in:\n{result.stderr}"
    )
    assert result.stdout == ""
    assert not out.exists()
    assert _snapshot(tmp_path) == before, "something was written"
    assert not (Path.cwd() / MARKER).exists()


def test_code_executing_tags_would_have_run_under_an_unsafe_loader(tmp_path):
    """The tag-python-* cases are real exploits: PyYAML's unsafe loader runs them (so the test above means something)."""
    text = (BAD / "tag-python-object-apply.yml").read_text(encoding="utf-8")
    subprocess.run(
        [sys.executable, "-c", "import sys, yaml; yaml.load(sys.stdin.read(), Loader=yaml.UnsafeLoader)"],
        input=text, cwd=tmp_path, capture_output=True, text=True, timeout=HANG_GUARD_SECONDS, check=False,
    )
    assert (tmp_path / MARKER).exists()
