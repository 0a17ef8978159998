"""Helpers shared by the GitOps tests: throwaway repositories and running pfgen as users do."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Optional

FIXTURES = Path(__file__).parent / "fixtures" / "gitops"
PROJECT = Path(__file__).resolve().parent.parent


def template_text(name: str, command: str = "python main.py --epochs 1") -> str:
    text = (FIXTURES / "pf-template.yml").read_text()
    text = text.replace("name: train\n", f"name: {name}\n")
    return text.replace("command: python main.py --epochs 1\n", f"command: {command}\n")


def make_repo(root: Path, jobs: dict[str, str], *, git: bool = True) -> Path:
    """A repository with the fixture pfgen.yaml and jobs/<dir>/pf-template.yml per ``jobs`` (dir -> job name)."""
    root.mkdir(parents=True, exist_ok=True)
    shutil.copy(FIXTURES / "pfgen.yaml", root / "pfgen.yaml")
    for directory, name in jobs.items():
        write_template(root, directory, name)
    if git:
        run_git(root, "init", "-q", "-b", "main")
    return root


def write_template(root: Path, directory: str, name: str, command: str = "python main.py --epochs 1") -> Path:
    path = root / "jobs" / directory / "pf-template.yml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(template_text(name, command))
    return path


def run_git(cwd: Path, *args: str) -> str:
    env = dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@example.com",
               GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@example.com")
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True).stdout


def commit_all(cwd: Path, message: str = "change") -> None:
    run_git(cwd, "add", "-A")
    run_git(cwd, "commit", "-q", "--allow-empty", "-m", message)


def pfgen(cwd: Path, *args: str, env: Optional[dict] = None) -> subprocess.CompletedProcess:
    full_env = dict(os.environ)
    full_env.pop("PFGEN_FAULT_AFTER", None)
    full_env.pop("PFGEN_NO_EXCHANGE", None)
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "pfgen", *args], cwd=cwd, env=full_env,
                          capture_output=True, text=True)


def snapshot(directory: Path) -> dict[str, bytes]:
    """Every file below ``directory``: relative path -> bytes ({} when it does not exist)."""
    found = {}
    if not directory.exists():
        return found
    for path in sorted(directory.rglob("*")):
        if path.is_file() or path.is_symlink():
            found[path.relative_to(directory).as_posix()] = path.read_bytes()
    return found


def job_dirs(out: Path) -> dict[str, dict[str, bytes]]:
    """Snapshot per directory directly in ``out`` (leaving out pfgen's own temporaries)."""
    if not out.exists():
        return {}
    return {p.name: snapshot(p) for p in sorted(out.iterdir()) if p.is_dir() and not p.name.startswith(".pfgen")}
