"""A template cannot make pfgen use more than a small fixed amount of memory or CPU time.

The CLI runs under hard limits set in the child before exec: 256 MiB of
address space (pfgen itself needs under 100 MiB) and 20 s of CPU time. The
heaviest inputs (alias and merge-key bombs, the size cap, the widest and the
deepest documents, and the largest template pfgen accepts) must end with the
expected result rather than a MemoryError, a kill by SIGXCPU or a traceback.
`build --verify` is left out: it runs kubectl, a Go program that reserves far
more address space than it uses.
"""

from __future__ import annotations

import resource
import subprocess
import sys

import pytest

from test_hostile_input import BAD, CASES, materialize

ADDRESS_SPACE = 256 * 1024 * 1024
CPU_SECONDS = 20
HEAVY = ["yaml-alias-bomb.yml", "config-alias-bomb.yml", "yaml-merge-key-bomb.yml", "yaml-deep-flow-nesting.yml", "yaml-deep-block-nesting.yml",
         "oversize.yml", "wide-flow.yml", "many-values.yml", "long-command.yml"]


def _limits() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))
    resource.setrlimit(resource.RLIMIT_CPU, (CPU_SECONDS, CPU_SECONDS))


def _run_limited(args: list[str], cwd) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pfgen", *args], cwd=cwd, preexec_fn=_limits,
                          capture_output=True, text=True, timeout=120, check=False)


def _largest_valid_template() -> str:
    """Just under the loader's value limit: about 2,400 environment variables."""
    head = (BAD / "yaml-duplicate-top-key.yml").read_text(encoding="utf-8").replace("name: again\n", "")
    return head + "    env_var:\n" + "".join(f"      V{i}: '{i}'\n" for i in range(2400))


def test_the_heavy_cases_exist():
    assert set(HEAVY) <= set(CASES)


@pytest.mark.parametrize("command", ["validate", "build"])
@pytest.mark.parametrize("name", HEAVY)
def test_heavy_input_is_refused_within_fixed_limits(name, command, tmp_path):
    case = CASES[name]
    materialize(name, tmp_path)
    args = ["validate", "pf-template.yml"] if command == "validate" else ["build", "-o", "out", "pf-template.yml"]
    result = _run_limited(args, tmp_path)
    assert result.returncode == 2, result.stderr[-2000:]
    assert f"{case.get('file', 'pf-template.yml')}:{case['at']}: error: " in result.stderr
    assert "MemoryError" not in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()


def test_largest_accepted_template_builds_within_fixed_limits(tmp_path):
    (tmp_path / "pf-template.yml").write_text(_largest_valid_template(), encoding="utf-8")
    validate = _run_limited(["validate", "pf-template.yml"], tmp_path)
    assert validate.returncode == 0, validate.stderr[-2000:]
    build = _run_limited(["build", "-o", "out", "pf-template.yml"], tmp_path)
    assert build.returncode == 0, build.stderr[-2000:]
    assert (tmp_path / "out" / "demo" / "pytorchjob.yaml").read_text(encoding="utf-8").count("name: V") == 2400


def test_the_limits_bite(tmp_path):
    """The same limits do stop a process that needs more (so the tests above measure something)."""
    hog = subprocess.run([sys.executable, "-c", "x = bytearray(512 * 1024 * 1024)"], preexec_fn=_limits,
                         capture_output=True, text=True, timeout=60, check=False)
    assert hog.returncode != 0 and "MemoryError" in hog.stderr
