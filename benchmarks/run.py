"""pfgen's speed figures, measured against their targets.

    python benchmarks/run.py [--n 1000] [--repeat 5] [--workdir DIR] [--markdown]

Generates a monorepo of N templates (benchmarks/generate.py), then runs each
command as a user would (the ``pfgen`` console script next to this Python,
``check-jsonschema`` likewise) in a child process, ``--repeat`` times, and
prints min and median wall time, CPU time (user+sys of the child) and peak
RSS of the child (os.wait4), next to the target. Ratios matter more than
absolute times on a shared 2-core machine; CPU time is the steadier figure
when other work competes for the cores. Exit status is 0 whatever the
figures: they are measurements, not tests (a command that *fails* exits 1).

The build cache goes to a private PFGEN_CACHE_DIR under the work directory.
pfgen's modules are byte-compiled first, as installing a package does (see
byte_compile). A cold build writes into an output directory that does not
exist yet; the previous one is moved aside and deleted at the end (see clean).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

import generate  # noqa: E402


@dataclass
class Sample:
    wall: float
    cpu: float
    rss_mb: float


@dataclass
class Figure:
    label: str
    samples: list[Sample] = field(default_factory=list)

    def stat(self, attr: str, fn: Callable) -> float:
        return fn([getattr(s, attr) for s in self.samples]) if self.samples else float("nan")

    @property
    def wall(self) -> float:
        return self.stat("wall", statistics.median)

    @property
    def wall_min(self) -> float:
        return self.stat("wall", min)

    @property
    def cpu(self) -> float:
        return self.stat("cpu", statistics.median)

    @property
    def rss(self) -> float:
        return self.stat("rss_mb", max)


def tool(name: str) -> Optional[list[str]]:
    """The console script ``name`` next to this interpreter, else on PATH."""
    local = Path(sys.executable).parent / name
    if local.exists():
        return [str(local)]
    found = shutil.which(name)
    return [found] if found else None


def run(cmd: list[str], cwd: Path, env: dict[str, str], expect: tuple[int, ...] = (0,)) -> Sample:
    with tempfile.TemporaryFile() as err:
        start = _now()
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = _now() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode not in expect:
            err.seek(0)
            sys.stderr.write(err.read().decode("utf-8", "replace")[-4000:])
            raise SystemExit(f"benchmark command failed (exit {proc.returncode}): {' '.join(cmd)}")
    return Sample(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024)


def _now() -> float:
    import time

    return time.perf_counter()


def byte_compile(env: dict[str, str]) -> None:
    """Byte-compile pfgen's modules first, as ``pip install`` does for an installed package.

    An editable install (a checkout) has no ``.pyc`` files until Python writes them on first
    import, and it never does where ``PYTHONDONTWRITEBYTECODE`` is set (this project's machine
    sets it): then every run compiles pfgen's ~30 modules from source again, ~30 ms that no
    installed pfgen pays. Python still reads ``.pyc`` files with that variable set."""
    code = "import compileall, os, pfgen; compileall.compile_dir(os.path.dirname(pfgen.__file__), quiet=1)"
    subprocess.run([sys.executable, "-c", code], env=env, check=True, stdout=subprocess.DEVNULL)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description="Measure pfgen's speed figures against their targets.")
    parser.add_argument("--n", type=int, default=1000, help="templates in the generated monorepo (default 1000)")
    parser.add_argument("--repeat", type=int, default=5, help="runs per figure (default 5)")
    parser.add_argument("--workdir", type=Path, help="where to generate the monorepo (default: a temporary directory, removed after)")
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown (for docs/performance.md)")
    args = parser.parse_args(argv)

    pfgen = tool("pfgen") or [sys.executable, "-m", "pfgen"]
    cjs = tool("check-jsonschema")
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="pfgen-bench-"))
    root = workdir / "monorepo"
    cache = workdir / "cache"
    env = {**os.environ, "PFGEN_CACHE_DIR": str(cache)}
    env.pop("PFGEN_CACHE", None)
    try:
        templates = generate.generate(root, args.n)
        byte_compile(env)
        one = templates[0].relative_to(root)
        deploy = root / "deploy"
        schema = REPO / "schemas" / "pf-template.schema.json"
        figures: dict[str, Figure] = {}

        def measure(key: str, label: str, cmd: list[str], before: Optional[Callable[[], None]] = None,
                    expect: tuple[int, ...] = (0,)) -> None:
            figure = figures.setdefault(key, Figure(label))
            if before:
                before()
            figure.samples.append(run(cmd, root, env, expect))

        trash = workdir / "trash"

        def clean() -> None:
            # Moved aside, deleted at the end: on this machine's ext4 (mounted with `discard`),
            # deleting the previous ~4000 files slows every file creation down for seconds
            # afterwards (measured: a build into a never-used directory staged its files in
            # 0.37 s, the same build right after deleting the previous tree in 1.7 s). That cost
            # is the benchmark's clean-up, not the build's; a real cold build (a fresh clone, a
            # CI checkout) has no mass deletion just before it.
            for path in (deploy, cache):
                if path.exists():
                    trash.mkdir(exist_ok=True)
                    path.rename(trash / f"{path.name}-{len(list(trash.iterdir()))}")

        def edit_one() -> None:
            with open(templates[len(templates) // 2], "a", encoding="utf-8") as handle:
                handle.write("# edited\n")

        for _ in range(args.repeat):
            # (1) and (2): one template, paired with the interpreter floor and check-jsonschema.
            measure("pass", "python -c pass", [sys.executable, "-c", "pass"])
            measure("validate", "pfgen validate (1 template)", [*pfgen, "validate", str(one)])
            if cjs:
                measure("cjs", "check-jsonschema (same file)", [*cjs, "--schemafile", str(schema), str(one)])
            measure("render", "pfgen render (1 template)", [*pfgen, "render", str(one)])
            # (3) cold build, (4) rebuilds, (5) --check.
            measure("cold", f"pfgen build, {args.n} templates, cold", [*pfgen, "build", "."], before=clean)
            measure("warm", "pfgen build again, nothing changed", [*pfgen, "build", "."])
            measure("edit", "pfgen build after editing 1 template", [*pfgen, "build", "."], before=edit_one)
            measure("check", f"pfgen build --check --no-cache, {args.n} templates", [*pfgen, "build", "--check", "--no-cache", "."])
            measure("check-warm", "pfgen build --check (cache warm)", [*pfgen, "build", "--check", "."])

        report(figures, args.n, args.repeat, args.markdown)
        shutil.rmtree(trash, ignore_errors=True)
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


def report(figures: dict[str, Figure], n: int, repeat: int, markdown: bool) -> None:
    # Verdicts use the minimum: the run least disturbed by other work on the machine.
    floor = figures["pass"].wall_min
    cjs = figures.get("cjs")
    cold = figures["cold"]
    rate = n / cold.wall_min if cold.wall_min else float("inf")

    def verdict(ok: bool) -> str:
        return "ok" if ok else "MISSED"

    rows: list[tuple[str, str, str, str, str, str]] = []

    def row(key: str, target: str, ok: Optional[bool], extra: str = "") -> None:
        f = figures[key]
        rows.append((f.label, ms(f.wall_min) + extra, ms(f.wall), ms(f.cpu), target, "" if ok is None else verdict(ok)))

    row("pass", "(the floor)", None)
    validate = figures["validate"]
    if cjs:
        row("cjs", "", None)
    target_1 = f"<= check-jsonschema and <= 4x floor ({ms(4 * floor)})"
    ok_1 = validate.wall_min <= 4 * floor and (cjs is None or validate.wall_min <= cjs.wall_min)
    row("validate", target_1, ok_1, f" ({validate.wall_min / floor:.1f}x)")
    render = figures["render"]
    row("render", f"<= 4x floor ({ms(4 * floor)})", render.wall_min <= 4 * floor, f" ({render.wall_min / floor:.1f}x)")
    row("cold", ">= 300 templates/s", rate >= 300, f" ({rate:.0f}/s)")
    row("warm", "< 1 s", figures["warm"].wall_min < 1)
    row("edit", "< 1 s", figures["edit"].wall_min < 1)
    check = figures["check"]
    row("check", f"as fast as the cold build ({ms(cold.wall_min)})", check.wall_min <= cold.wall_min * 1.05)
    row("check-warm", "", None)
    peak = cold.rss
    rows.append(("peak RSS of the cold build", f"{peak:.0f} MB", "", "", "< 250 MB", verdict(peak < 250)))

    header = ("figure", "wall min", "wall median", "CPU median", "target (on wall min)", "")
    print(f"pfgen benchmarks: {n} templates, {repeat} run(s) each, Python {sys.version.split()[0]}, {os.cpu_count()} CPUs")
    if markdown:
        print("| " + " | ".join(header) + " |")
        print("|" + "|".join("---" for _ in header) + "|")
        for r in rows:
            print("| " + " | ".join(r) + " |")
        return
    widths = [max(len(r[i]) for r in rows + [header]) for i in range(len(header))]
    for r in [header] + rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip())


if __name__ == "__main__":
    sys.exit(main())
