"""The build's progress indicator shows on a terminal only (a real pty), never in a pipe or a log."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))

import generate  # noqa: E402


def _repo(tmp_path: Path) -> tuple[Path, dict]:
    root = tmp_path / "monorepo"
    generate.generate(root, 12, seed=1)
    env = {**os.environ, "PFGEN_CACHE": "off", "PFGEN_PROGRESS_DELAY": "0"}
    return root, env


def _on_a_pty(cmd: list[str], cwd: Path, env: dict) -> tuple[int, str]:
    master, slave = pty.openpty()
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=slave)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    return proc.wait(timeout=120), b"".join(chunks).decode("utf-8", "replace")


def test_progress_on_a_terminal(tmp_path):
    root, env = _repo(tmp_path)
    code, shown = _on_a_pty([sys.executable, "-m", "pfgen", "build"], root, env)
    assert code == 0, shown
    assert "\rpfgen: compiling 12/12" in shown and "\r\x1b[K" in shown  # updated in place, then erased
    assert "pfgen: deploy: 12 jobs: 12 created, 0 unchanged" in shown
    code, quiet = _on_a_pty([sys.executable, "-m", "pfgen", "build", "-q", "--exit-code"], root, env)
    # -q: nothing but errors and warnings (the generated jobs without src/ get the missing-workspace warning)
    assert code == 0, quiet
    lines = [line for line in quiet.replace("\r", "").splitlines() if line]
    assert all(": warning: " in line or line.startswith("pfgen: ") and "warning" in line for line in lines), quiet
    assert "compiling" not in quiet and "created" not in quiet and "\x1b" not in quiet


def test_no_progress_in_a_pipe(tmp_path):
    root, env = _repo(tmp_path)
    proc = subprocess.run([sys.executable, "-m", "pfgen", "build"], cwd=root, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "compiling" not in proc.stderr and "\r" not in proc.stderr and "\x1b" not in proc.stderr
