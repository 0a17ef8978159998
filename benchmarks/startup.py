"""Start-up of ``pfgen validate`` on one template, for two git refs, each installed as a user installs it.

    python benchmarks/startup.py [--before REF] [--after REF] [--runs 30] [--workdir DIR]

For each ref: ``git archive`` of the ref, ``pip wheel`` of it, a throwaway
virtualenv with the wheel installed (not editable: what ``pip install pfgen``
gives), and the venv byte-compiled with ``python -m compileall`` (this machine
sets PYTHONDONTWRITEBYTECODE, so nothing would write the ``.pyc`` files a
normal install has). Then ``<venv>/bin/pfgen validate TEMPLATE`` runs ``--runs``
times per template and ref, the two refs alternating so that the machine's
load falls on both alike, with an empty private build cache (PFGEN_CACHE_DIR:
every run compiles). The templates are those of the after ref's tree:
``examples/ddp-smoke`` (a workspace, pfgen.yaml) and the golden case
``tests/golden/huggingface-gcp-spot`` (neither). ``python -c pass`` of the same
interpreter is the floor.

Prints a table of median and minimum wall time per command and ref and the
after/before ratio of the medians. Exit status 0 whatever the figures (they
are measurements, not tests); 1 when a command fails.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TEMPLATES = ("examples/ddp-smoke", "tests/golden/huggingface-gcp-spot")


def sh(*args: str, cwd: Path | None = None) -> None:
    subprocess.run(args, cwd=cwd, check=True, stdout=subprocess.DEVNULL)


def install(ref: str, work: Path) -> tuple[Path, Path, str]:
    """(the venv's pfgen script, the ref's source tree, the commit) for ``ref``."""
    commit = subprocess.run(["git", "rev-parse", "--short", ref], cwd=REPO, check=True, capture_output=True,
                            text=True).stdout.strip()
    src, wheels, venv = work / f"src-{commit}", work / f"wheels-{commit}", work / f"venv-{commit}"
    for path in (src, wheels, venv):
        shutil.rmtree(path, ignore_errors=True)
    src.mkdir(parents=True)
    archive = subprocess.run(["git", "archive", "--format=tar", commit], cwd=REPO, check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(src)], input=archive, check=True)
    sh(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(wheels), str(src))
    sh(sys.executable, "-m", "venv", str(venv))
    python = venv / "bin" / "python"
    wheel = next(wheels.glob("pfgen-*.whl"))
    sh(str(python), "-m", "pip", "install", "-q", str(wheel))
    sh(str(python), "-m", "compileall", "-q", "-j", "0", str(venv / "lib"))
    return venv / "bin" / "pfgen", src, commit


def timed(argv: list[str], cwd: Path, env: dict[str, str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run(argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        sys.stderr.write(f"{' '.join(argv)} failed ({proc.returncode}):\n{proc.stderr.decode(errors='replace')}")
        sys.exit(1)
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", default="4026c68", help="the ref measured first (default: main before issue 17's CLI)")
    parser.add_argument("--after", default="HEAD")
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--workdir", type=Path, help="keep the venvs here (default: a temporary directory)")
    args = parser.parse_args()

    work = args.workdir or Path(tempfile.mkdtemp(prefix="pfgen-startup-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        refs = []
        for ref in (args.before, args.after):
            print(f"installing {ref} ...", file=sys.stderr)
            refs.append(install(ref, work))
        templates_root = refs[1][1]
        cache = work / "cache"
        env = {**os.environ, "PFGEN_CACHE_DIR": str(cache), "XDG_CONFIG_HOME": str(work / "config")}
        commands = [("python -c pass", [[sys.executable, "-c", "pass"]] * 2)]
        for template in TEMPLATES:
            commands.append((f"pfgen validate {template}", [[str(script), "validate", template] for script, _, _ in refs]))
        results: dict[str, list[list[float]]] = {label: [[], []] for label, _ in commands}
        for label, argvs in commands:  # one warm-up run each: the first start reads files into the page cache
            for argv in argvs:
                timed(argv, templates_root, env)
        load_before = os.getloadavg()[0]
        for _ in range(args.runs):
            for label, argvs in commands:
                for side, argv in enumerate(argvs):
                    shutil.rmtree(cache, ignore_errors=True)
                    results[label][side].append(timed(argv, templates_root, env))
        load_after = os.getloadavg()[0]
    finally:
        if args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)

    before, after = refs[0][2], refs[1][2]
    print(f"{args.runs} runs each, refs alternating; load average {load_before:.1f} before, {load_after:.1f} after "
          f"({os.cpu_count()} CPUs); {sys.executable} {sys.version.split()[0]}")
    print()
    print(f"| command | before {before}: median / min | after {after}: median / min | after/before (median) |")
    print("|---|---|---|---|")
    for label, (b, a) in results.items():
        ratio = statistics.median(a) / statistics.median(b)
        print(f"| {label} | {statistics.median(b) * 1000:.1f} / {min(b) * 1000:.1f} ms | "
              f"{statistics.median(a) * 1000:.1f} / {min(a) * 1000:.1f} ms | {ratio:.2f}x |")


if __name__ == "__main__":
    main()
