#!/usr/bin/env python3
"""How long pfgen takes to refuse each hostile template (tests/fixtures/bad).

The tests assert what pfgen says about each case, not how fast; the promise
that every case is refused in under one second is measured here, because
wall-clock time depends on the machine and on what else it is doing.

    python benchmarks/hostile_input.py [--repeat 3] [--budget 1.0] [--json out.json]

Runs each case's first command line (`pfgen validate` unless the case says
otherwise) in a fresh directory, the best of
--repeat runs per case (a whole CLI start-up included), prints a table
sorted by time, and exits 1 if any case's best time exceeds --budget seconds.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "cli"))

from test_hostile_input import CASES, commands, materialize, outside_dir  # noqa: E402


def measure(name: str, repeat: int) -> tuple[float, int]:
    best, code = float("inf"), -1
    with tempfile.TemporaryDirectory(prefix="pfgen-bench-") as tmp:
        work = Path(tmp) / "project"
        work.mkdir()
        materialize(name, work)
        outside_dir(work)
        args = [arg.format(out=Path(tmp) / "out", outside=Path(tmp) / "outside") for arg in commands(name)[0]]
        for _ in range(repeat):
            started = time.perf_counter()
            result = subprocess.run([sys.executable, "-m", "pfgen", *args],
                                    cwd=work, capture_output=True, timeout=60, check=False)
            best = min(best, time.perf_counter() - started)
            code = result.returncode
    return best, code


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--budget", type=float, default=1.0, help="seconds allowed per case (best of --repeat)")
    parser.add_argument("--json", type=Path, help="also write the timings here")
    args = parser.parse_args()

    timings = {name: measure(name, args.repeat) for name in sorted(CASES)}
    over = {name: t for name, (t, _) in timings.items() if t > args.budget}
    wrong = {name: code for name, (_, code) in timings.items() if code != CASES[name].get("exit", 2)}
    for name, (seconds, code) in sorted(timings.items(), key=lambda item: -item[1][0]):
        flag = "  OVER BUDGET" if name in over else ""
        print(f"{seconds:7.3f} s  exit {code}  {name}{flag}")
    worst = max(t for t, _ in timings.values())
    print(f"{len(timings)} cases, worst {worst:.3f} s, budget {args.budget:.3f} s, {len(over)} over, {len(wrong)} with the wrong exit code")
    if args.json:
        args.json.write_text(json.dumps({n: {"seconds": t, "exit": c} for n, (t, c) in timings.items()}, indent=2) + "\n")
    return 1 if over or wrong else 0


if __name__ == "__main__":
    sys.exit(main())
