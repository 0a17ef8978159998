"""Compiling in worker processes (pfgen/output/parallel.py) writes and reports exactly what one
process does: the same files, byte for byte, and the same messages in the same order."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from gitops_util import pfgen, snapshot
from pfgen.output import parallel

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))

import generate  # noqa: E402


def _env(tmp_path: Path, jobs: int, name: str) -> dict:
    return {"PFGEN_JOBS": str(jobs), "PFGEN_CACHE_DIR": str(tmp_path / f"cache-{name}"),
            "XDG_CONFIG_HOME": str(tmp_path / "config"), "PFGEN_CACHE": ""}


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="workers are forked on Linux only")
def test_workers_write_and_report_what_one_process_does(tmp_path):
    repo = tmp_path / "one"
    generate.generate(repo, 40, seed=5)
    twin = tmp_path / "two"
    shutil.copytree(repo, twin)
    alone = pfgen(repo, "build", env=_env(tmp_path, 1, "one"))
    spread = pfgen(twin, "build", env=_env(tmp_path, 2, "two"))
    assert alone.returncode == spread.returncode == 0, alone.stderr + spread.stderr
    assert (alone.stdout, alone.stderr) == (spread.stdout, spread.stderr)
    assert alone.stderr.count("warning:") > 5  # the generated jobs warn: their order is compared too
    assert snapshot(repo / "deploy") == snapshot(twin / "deploy") != {}


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="workers are forked on Linux only")
def test_errors_of_every_worker_are_reported_in_template_order(tmp_path):
    repo = tmp_path / "one"
    generate.generate(repo, 30, seed=2)
    templates = sorted(repo.rglob("pf-template.yml"))
    for path in templates[3::7]:  # broken templates spread over the workers' chunks
        path.write_text(path.read_text().replace("num_devices:", "num_devicez:", 1))
    twin = tmp_path / "two"
    shutil.copytree(repo, twin)
    alone = pfgen(repo, "build", env=_env(tmp_path, 1, "one"))
    spread = pfgen(twin, "validate", ".", env=_env(tmp_path, 3, "two"))
    again = pfgen(twin, "build", env=_env(tmp_path, 3, "three"))
    assert alone.returncode == spread.returncode == again.returncode == 2
    assert alone.stderr.count("error:") >= 4
    assert (again.stdout, again.stderr) == (alone.stdout, alone.stderr)
    assert [line for line in spread.stderr.splitlines() if "error:" in line] == \
        [line for line in alone.stderr.splitlines() if "error:" in line]
    assert "Traceback" not in alone.stderr + spread.stderr
    assert not (repo / "deploy").exists() and not (twin / "deploy").exists()


def test_how_many_workers(monkeypatch):
    monkeypatch.delenv("PFGEN_JOBS", raising=False)
    monkeypatch.setattr(parallel.os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    monkeypatch.setattr(parallel.sys, "platform", "linux")
    assert parallel.workers(parallel.MIN_TEMPLATES - 1) == 1  # small builds stay in this process
    assert parallel.workers(parallel.MIN_TEMPLATES) == 2
    monkeypatch.setattr(parallel.os, "sched_getaffinity", lambda pid: set(range(64)), raising=False)
    assert parallel.workers(10_000) == parallel.MAX_WORKERS
    monkeypatch.setenv("PFGEN_JOBS", "1")
    assert parallel.workers(10_000) == 1
    monkeypatch.setenv("PFGEN_JOBS", "3")
    assert parallel.workers(5) == 3 and parallel.workers(2) == 2 and parallel.workers(1) == 1
    monkeypatch.setenv("PFGEN_JOBS", "lots")  # not a number: as if unset
    assert parallel.workers(10_000) == parallel.MAX_WORKERS
    monkeypatch.setattr(parallel.sys, "platform", "darwin")
    monkeypatch.setenv("PFGEN_JOBS", "4")
    assert parallel.workers(10_000) == 1


def test_a_bug_in_a_worker_is_raised_here(monkeypatch):
    def run(task):
        if task == 3:
            raise ZeroDivisionError("a bug")
        return task * 2

    monkeypatch.setenv("PFGEN_JOBS", "2")
    with pytest.raises(ZeroDivisionError):
        list(parallel.run_all(list(range(8)), run))
    assert list(parallel.run_all(list(range(8)), lambda t: t + 1)) == list(range(1, 9))
