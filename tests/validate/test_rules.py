"""One negative fixture per rule: the CLI reports the exact position and message.

Each file in fixtures/rules/ declares what it must produce in `# expect:` lines
(`line:col: message`, the message may be a prefix). The real CLI runs in a
subprocess, so the test also proves: exit 2, no traceback, nothing written.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from conftest import FIXTURES, ROOT, run_pfgen

CASES = sorted((FIXTURES / "rules").glob("*.yml"))
EXPECT = re.compile(r"^# expect: (\d+):(\d+): (.+)$")


def expectations(path: Path) -> list[tuple[int, int, str]]:
    found = []
    for line in path.read_text(encoding="utf-8").splitlines():
        match = EXPECT.match(line)
        if match:
            found.append((int(match.group(1)), int(match.group(2)), match.group(3)))
    assert found, f"{path.name} declares no expectation"
    return found


@pytest.mark.parametrize("case", CASES, ids=[c.stem for c in CASES])
def test_rule_reports_position_and_message(case: Path, tmp_path: Path):
    out = tmp_path / "out"
    shown = case.relative_to(ROOT)
    result = run_pfgen("build", str(shown), "-o", str(out), cwd=ROOT)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert not out.exists(), "nothing may be written on invalid input"
    lines = result.stderr.splitlines()
    for line, col, message in expectations(case):
        prefix = f"{shown}:{line}:{col}: error: {message}"
        assert any(l.startswith(prefix) for l in lines), f"missing {prefix!r} in:\n{result.stderr}"
    reported = [l for l in lines if ": error: " in l]
    assert len(reported) == len(expectations(case)), result.stderr


def test_every_rule_has_a_fixture():
    assert len(CASES) >= 25
