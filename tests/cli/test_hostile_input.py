"""Hostile templates (tests/fixtures/bad, listed in cases.yaml) are refused cleanly by the real CLI.

Each case runs `pfgen validate` and `pfgen build -o OUT` in a subprocess, in an
empty directory holding only the template: exit 2, the positioned message, no
traceback, nothing written, nothing executed.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path
from typing import Optional

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


def _packed_options() -> bytes:
    """`--password=.` 8,000 times in one word: each option's value runs to the word's end (was quadratic)."""
    return _long_command().replace(b"echo " + b"x" * (125 * 1024), b"echo " + b"--password=." * 8000 + b"'")


def _packed_jwt_headers() -> bytes:
    """8,000 `eyJ` header starts inside one run, then a real token (the JWT regex was quadratic)."""
    return _long_command().replace(
        b"echo " + b"x" * (125 * 1024),
        b"echo " + b"eyJaaaaaaaaa-" * 8000 + b" eyJhbGciOiJ.eyJzdWIiOiJ.SflKxwRJ")


def _wide_flow() -> bytes:
    return ("name: [" + ",".join(["1"] * 100_000) + "]\n").encode()


def _big_pfignore() -> bytes:
    return b"".join(b"generated-%06d.tmp\n" % i for i in range(4000))  # 76 KB


def _many_rules_pfignore() -> bytes:
    return b"".join(b"rule-%d/\n" % i for i in range(300))


GENERATORS = {"oversize": _oversize, "long-command": _long_command, "many-values": _many_values, "wide-flow": _wide_flow,
              "packed-options": _packed_options, "packed-jwt-headers": _packed_jwt_headers,
              "big-pfignore": _big_pfignore, "many-rules-pfignore": _many_rules_pfignore}


def materialize(name: str, work: Path) -> None:
    """Lay out case ``name`` in the empty directory ``work`` (pf-template.yml, and pfgen.yaml for config cases).

    A ``tree:`` case is a directory of this corpus copied as the whole project, then completed with
    what git cannot hold or should not: ``links`` (path -> target, ``{outside}`` being the directory
    :func:`outside_dir` makes beside ``work``), ``fifos``, ``dirs`` (empty directories) and
    ``generate`` (path -> generator)."""
    case = CASES[name]
    if case.get("tree"):
        shutil.copytree(BAD / name, work, dirs_exist_ok=True, symlinks=True)
        outside = outside_dir(work)
        for rel in case.get("dirs", ()):
            (work / rel).mkdir(parents=True, exist_ok=True)
        for rel, generator in case.get("generate_files", {}).items():
            (work / rel).parent.mkdir(parents=True, exist_ok=True)
            (work / rel).write_bytes(GENERATORS[generator]())
        for rel in case.get("fifos", ()):
            (work / rel).parent.mkdir(parents=True, exist_ok=True)
            os.mkfifo(work / rel)
        for rel, target in case.get("links", {}).items():
            (work / rel).parent.mkdir(parents=True, exist_ok=True)
            os.symlink(target.format(outside=outside), work / rel)
        return
    target = work / case.get("as", "pf-template.yml")
    if target.name != "pf-template.yml":
        (work / "pf-template.yml").write_text(CONFIG_TEMPLATE, encoding="utf-8")
    if "generate" in case:
        target.write_bytes(GENERATORS[case["generate"]]())
    else:
        shutil.copyfile(BAD / name, target)


CANARY = "pfgen-canary-0f9d8e7c"  # in every file outside the project, and in the environment of every run
CANARY_ENV = "PFGEN_HOSTILE_CANARY"


def outside_dir(work: Path) -> Path:
    """A directory beside the project, outside it: what links in the tree cases point at. Each of its
    files holds :data:`CANARY`, so reading one shows up in output or messages."""
    outside = work.parent / "outside"
    if not outside.exists():
        outside.mkdir()
        (outside / "id_rsa").write_text(f"-----BEGIN OPENSSH PRIVATE KEY-----\n{CANARY}\n", encoding="utf-8")
        (outside / "secret.yaml").write_text(f"apiVersion: v1\nkind: Secret\nmetadata:\n  name: {CANARY}\n", encoding="utf-8")
        (outside / "pf-template.yml").write_text(CONFIG_TEMPLATE.replace("name: demo", f"name: {CANARY}"), encoding="utf-8")
        (outside / "train.py").write_text(f"print('{CANARY}')\n", encoding="utf-8")
    return outside


def commands(name: str) -> list[list[str]]:
    """The command lines a case runs (``{out}`` is a fresh directory beside the project)."""
    return CASES[name].get("run", [["validate", "pf-template.yml"], ["build", "-o", "{out}", "pf-template.yml"]])


def _snapshot(root: Path) -> dict[str, object]:
    """Every entry below ``root`` by its relative path: a file's bytes, a link's target, a directory's mode;
    never following a link and never opening a special file."""
    found: dict[str, object] = {}
    for directory, dirs, files in os.walk(root):
        for name in dirs + files:
            path = os.path.join(directory, name)
            st = os.lstat(path)
            rel = os.path.relpath(path, root)
            if stat.S_ISLNK(st.st_mode):
                found[rel] = ("link", os.readlink(path))
            elif stat.S_ISREG(st.st_mode):
                with open(path, "rb") as handle:
                    found[rel] = handle.read()
            else:
                found[rel] = ("mode", st.st_mode)
    return found


def test_corpus_is_large_and_every_file_has_a_case():
    files = {p.name for p in BAD.iterdir() if p.name != "cases.yaml"}
    listed = {name for name, case in CASES.items() if "generate" not in case}
    assert all((BAD / name).is_dir() == bool(case.get("tree")) for name, case in CASES.items() if name in files)
    assert files == listed, f"files without a case: {files - listed}; cases without a file: {listed - files}"
    assert len(CASES) >= 40
    for name, case in CASES.items():
        line, col = case["at"].split(":")
        assert int(line) >= 1 and int(col) >= 1, name
        assert case["message"], name


def _run(args: list[str], cwd: Path, cache: Optional[Path] = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1", **{CANARY_ENV: CANARY})
    if cache is not None:
        env["PFGEN_CACHE_DIR"] = str(cache)
    return subprocess.run(
        [sys.executable, "-m", "pfgen", *args],
        cwd=cwd, capture_output=True, text=True, env=env, timeout=HANG_GUARD_SECONDS, check=False,
    )


RUNS = [(name, k) for name in sorted(CASES) for k in range(len(commands(name)))]


@pytest.mark.parametrize("name,run", RUNS, ids=[f"{name}-{' '.join(commands(name)[k][:1])}" for name, k in RUNS])
def test_hostile_input_is_refused_cleanly(name, run, tmp_path):
    case = CASES[name]
    work = tmp_path / "project"
    work.mkdir()
    materialize(name, work)
    outside_dir(work)
    cache = tmp_path / "cache"
    before = _snapshot(tmp_path)
    out = tmp_path / "out"
    args = [arg.format(out=out, outside=tmp_path / "outside") for arg in commands(name)[run]]

    result = _run(args, work, cache)

    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == case.get("exit", 2), result.stderr
    expected = f"{case.get('file', 'pf-template.yml')}:{case['at']}: {case.get('severity', 'error')}: "
    lines = result.stderr.splitlines()
    assert all(ONE_LINE.match(line) for line in lines), f"a diagnostic spans lines:\n{result.stderr}"
    assert any(line.startswith(expected) and case["message"] in line for line in lines), (
        f"expected {expected}...{case['message']}... in:\n{result.stderr}"
    )
    if case.get("exit", 2) == 2:
        assert result.stdout == ""
        assert not out.exists()
        # (the build cache may remember templates that compiled; it is checked for canaries below)
        written = {k: v for k, v in _snapshot(tmp_path).items() if k != "cache" and not k.startswith("cache/")}
        assert written == before, "something was written"
    assert not (Path.cwd() / MARKER).exists()
    # Nothing outside the project was read, and no environment value reached the disk or the messages.
    assert CANARY not in result.stdout + result.stderr
    after = _snapshot(tmp_path)
    for rel, content in after.items():
        if not rel.startswith("outside") and isinstance(content, bytes):
            assert CANARY.encode() not in content, f"{rel} holds what pfgen read outside the project or in its environment"


def test_code_executing_tags_would_have_run_under_an_unsafe_loader(tmp_path):
    """The tag-python-* cases are real exploits: PyYAML's unsafe loader runs them (so the test above means something)."""
    text = (BAD / "tag-python-object-apply.yml").read_text(encoding="utf-8")
    subprocess.run(
        [sys.executable, "-c", "import sys, yaml; yaml.load(sys.stdin.read(), Loader=yaml.UnsafeLoader)"],
        input=text, cwd=tmp_path, capture_output=True, text=True, timeout=HANG_GUARD_SECONDS, check=False,
    )
    assert (tmp_path / MARKER).exists()
