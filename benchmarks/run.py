"""pfgen's speed figures, measured against their targets.

    python benchmarks/run.py [--n 100,1000,10000] [--repeat 5] [--repeat-large 2] [--workdir DIR] [--markdown]

For each size N, generates a monorepo of N templates (benchmarks/generate.py), then runs each
command as a user would (the ``pfgen`` console script next to this Python,
``check-jsonschema`` likewise) in a child process, ``--repeat`` times, and
prints min and median wall time, CPU time (user+sys of the child) and peak
RSS of the child (os.wait4), next to the target. Ratios matter more than
absolute times on a shared 2-core machine; CPU time is the steadier figure
when other work competes for the cores. Exit status is 0 whatever the
figures: they are measurements, not tests (a command that *fails* exits 1).

The build cache goes to a private PFGEN_CACHE_DIR under the work directory
(and its secret to a private XDG_CONFIG_HOME); a cold build starts with that
directory removed, so "cold" means an empty cache. Each figure is printed per
N with the time per job, so growth that is not linear shows; the load average
before and after says how busy the machine was.
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


def _sleep(seconds: float) -> None:
    import time

    time.sleep(seconds)


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
    parser.add_argument("--n", default="100,1000,10000",
                        help="comma-separated monorepo sizes (default 100,1000,10000)")
    parser.add_argument("--repeat", type=int, default=5, help="runs per figure (default 5)")
    parser.add_argument("--repeat-large", type=int, default=2,
                        help="runs per figure for sizes of 5000 templates and more (default 2)")
    parser.add_argument("--workdir", type=Path, help="where to generate the monorepos (default: a temporary directory, removed after)")
    parser.add_argument("--markdown", action="store_true", help="print the tables as Markdown (for README.md and docs/performance.md)")
    args = parser.parse_args(argv)
    sizes = [int(n) for n in str(args.n).split(",") if n.strip()]

    pfgen = tool("pfgen") or [sys.executable, "-m", "pfgen"]
    cjs = tool("check-jsonschema")
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="pfgen-bench-"))
    load_before = os.getloadavg()
    results: dict[int, dict[str, Figure]] = {}
    single: dict[str, Figure] = {}
    try:
        byte_compile(dict(os.environ))
        for n in sizes:
            repeat = args.repeat_large if n >= 5000 else args.repeat
            results[n] = measure_size(n, repeat, workdir / f"n{n}", pfgen, cjs, single if n == sizes[0] else None,
                                      args.repeat, keep=args.workdir is not None)
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    report(results, single, args.repeat, args.repeat_large, load_before, os.getloadavg(), args.markdown)
    return 0


SIZE_FIGURES = [
    # key, label, target text, verdict on (wall min, peak MB, n) or None
    ("cold", "build, cold (empty cache, no deploy/)", None),
    ("warm", "build again, nothing changed", None),
    ("warm-again", "build again, nothing changed, 2.5 s later (stats trusted)", None),
    ("warm-record", "build again, nothing changed, 2.5 s after that (one record)", None),
    ("check-record", "build --check right after that (one record)", None),
    ("edit", "build after editing 1 template", None),
    ("check-warm", "build --check (cache warm)", None),
    ("check", "build --check --no-cache", None),
    ("validate", "validate (cache warm)", None),
    ("validate-cold", "validate (PFGEN_CACHE=off)", None),
    ("validate-record", "validate again, 2.5 s later (its record)", None),
]


def measure_size(n: int, repeat: int, base: Path, pfgen: list[str], cjs: Optional[list[str]],
                 single: Optional[dict[str, Figure]], single_repeat: int, keep: bool = False) -> dict[str, Figure]:
    """Every figure on a monorepo of ``n`` templates; with ``single``, also the one-template figures."""
    root = base / "monorepo"
    cache = base / "cache"
    config = base / "config"  # where the cache's secret goes: private too
    env = {**os.environ, "PFGEN_CACHE_DIR": str(cache), "XDG_CONFIG_HOME": str(config)}
    for name in ("PFGEN_CACHE", "PFGEN_CACHE_SECRET"):
        env.pop(name, None)
    templates = generate.generate(root, n)
    one = templates[0].relative_to(root)
    deploy = root / "deploy"
    schema = REPO / "schemas" / "pf-template.schema.json"
    figures: dict[str, Figure] = {}
    trash = base / "trash"

    def measure(into: dict[str, Figure], key: str, label: str, cmd: list[str], before: Optional[Callable[[], None]] = None,
                expect: tuple[int, ...] = (0,), extra_env: Optional[dict[str, str]] = None) -> None:
        figure = into.setdefault(key, Figure(label))
        if before:
            before()
        figure.samples.append(run(cmd, root, {**env, **(extra_env or {})}, expect))

    def clean() -> None:
        # Moved aside, deleted at the end: on this machine's ext4 (mounted with `discard`),
        # deleting the previous tree slows every file creation down for seconds afterwards.
        # That cost is the benchmark's clean-up, not the build's; a real cold build (a fresh
        # clone, a CI checkout) has no mass deletion just before it. The cache directory goes
        # too: a cold build starts with an empty one.
        for path in (deploy, cache):
            if path.exists():
                trash.mkdir(exist_ok=True)
                path.rename(trash / f"{path.name}-{len(list(trash.iterdir()))}")
        assert not cache.exists()

    def edit_one() -> None:
        with open(templates[len(templates) // 2], "a", encoding="utf-8") as handle:
            handle.write("# edited\n")

    if single is not None:
        for _ in range(single_repeat):
            measure(single, "pass", "python -c pass", [sys.executable, "-c", "pass"])
            measure(single, "validate", "pfgen validate (1 template)", [*pfgen, "validate", str(one)])
            if cjs:
                measure(single, "cjs", "check-jsonschema (same file)", [*cjs, "--schemafile", str(schema), str(one)])
            measure(single, "render", "pfgen render (1 template)", [*pfgen, "render", str(one)])
    for _ in range(repeat):
        measure(figures, "cold", "", [*pfgen, "build", "."], before=clean)
        measure(figures, "warm", "", [*pfgen, "build", "."])
        # A stat is trusted only for files that changed RACY_NS (2 s) before the command started
        # (pfgen/output/cache.py): the no-op right after a build still reads what it wrote.
        measure(figures, "warm-again", "", [*pfgen, "build", "."], before=lambda: _sleep(2.5))
        # That build, with nothing to write and every stat older than 2 s, made the whole-build record
        # (pfgen/output/wholestamp.py): from here on an unchanged repository is answered by it, as every
        # pre-commit run after the first is.
        measure(figures, "warm-record", "", [*pfgen, "build", "."], before=lambda: _sleep(2.5))
        measure(figures, "check-record", "", [*pfgen, "build", "--check", "."])
        measure(figures, "edit", "", [*pfgen, "build", "."], before=edit_one)
        measure(figures, "check-warm", "", [*pfgen, "build", "--check", "."])
        measure(figures, "check", "", [*pfgen, "build", "--check", "--no-cache", "."])
        measure(figures, "validate", "", [*pfgen, "validate", "."])
        measure(figures, "validate-cold", "", [*pfgen, "validate", "."], extra_env={"PFGEN_CACHE": "off"})
        measure(figures, "validate-record", "", [*pfgen, "validate", "."], before=lambda: _sleep(2.5))
    try:
        figures["cache"] = Figure("cache size")
        figures["cache"].samples.append(Sample(0, 0, sum(p.stat().st_size for p in cache.iterdir()) / 1e6))
    except OSError:
        pass
    shutil.rmtree(trash, ignore_errors=True)
    if not keep:  # the next size's monorepo needs the room
        shutil.rmtree(base, ignore_errors=True)
    return figures


def _targets(n: int) -> dict[str, tuple[str, Callable[[Figure], bool]]]:
    """The targets of issue 19, per size (wall min, peak RSS)."""
    found: dict[str, tuple[str, Callable[[Figure], bool]]] = {}
    if n == 10000:
        found["cold"] = (">= 600/s, peak < 250 MB (stretch 150)", lambda f: n / f.wall_min >= 600 and f.rss < 250)
        found["warm"] = ("< 1.5 s", lambda f: f.wall_min < 1.5)
        found["warm-again"] = ("< 1.5 s", lambda f: f.wall_min < 1.5)
        found["warm-record"] = ("< 1.5 s", lambda f: f.wall_min < 1.5)
        found["check-record"] = ("< 1.5 s", lambda f: f.wall_min < 1.5)
        found["validate-record"] = ("< 3 s, < 150 MB", lambda f: f.wall_min < 3 and f.rss < 150)
        found["edit"] = ("< 1.5 s", lambda f: f.wall_min < 1.5)
        found["check-warm"] = ("< 1.5 s", lambda f: f.wall_min < 1.5)
        found["validate"] = ("< 3 s, < 150 MB", lambda f: f.wall_min < 3 and f.rss < 150)
        found["validate-cold"] = ("(< 3 s, < 150 MB: with the cache)", lambda f: f.wall_min < 3 and f.rss < 150)
    if n == 1000:
        found["cold"] = (">= 600/s, peak < 100 MB", lambda f: n / f.wall_min >= 600 and f.rss < 100)
        found["warm"] = ("< 0.3 s", lambda f: f.wall_min < 0.3)
        found["warm-again"] = ("< 0.3 s", lambda f: f.wall_min < 0.3)
        found["warm-record"] = ("< 0.3 s", lambda f: f.wall_min < 0.3)
    return found


def report(results: dict[int, dict[str, Figure]], single: dict[str, Figure], repeat: int, repeat_large: int,
           load_before: tuple[float, float, float], load_after: tuple[float, float, float], markdown: bool) -> None:
    def verdict(ok: bool) -> str:
        return "ok" if ok else "MISSED"

    print(f"pfgen benchmarks: sizes {', '.join(str(n) for n in results)}; {repeat} run(s) per figure "
          f"({repeat_large} from 5000 templates); Python {sys.version.split()[0]}, {os.cpu_count()} CPUs; "
          f"load average before {load_before[0]:.1f}/{load_before[1]:.1f}/{load_before[2]:.1f}, "
          f"after {load_after[0]:.1f}/{load_after[1]:.1f}/{load_after[2]:.1f} (1/5/15 min)")
    print()
    rows: list[tuple[str, ...]] = []
    floor = single["pass"].wall_min if "pass" in single else float("nan")
    cjs = single.get("cjs")
    for key in ("pass", "cjs", "validate", "render"):
        if key not in single:
            continue
        f = single[key]
        target, ok = "", ""
        if key == "validate" and cjs is not None:
            ratio = f.wall_min / cjs.wall_min
            target, ok = f"<= 0.35x check-jsonschema ({ratio:.2f}x)", verdict(ratio <= 0.35)
        elif key in ("validate", "render"):
            target = f"{f.wall_min / floor:.1f}x python -c pass"
        rows.append((f.label, ms(f.wall_min), ms(f.wall), ms(f.cpu), f"{f.rss:.0f} MB", target, ok))
    _table(("one template", "wall min", "wall median", "CPU median", "peak RSS", "target", ""), rows, markdown)
    print()
    sizes = list(results)
    header = ["figure"] + [f"N={n}" for n in sizes] + ["per job (ms)"] + ["target", ""]
    rows = []
    for key, label, _ in SIZE_FIGURES:
        cells = [label]
        per_job = []
        verdicts = []
        for n in sizes:
            f = results[n].get(key)
            if f is None or not f.samples:
                cells.append("-")
                continue
            rate = f" ({n / f.wall_min:.0f}/s)" if key == "cold" else ""
            cells.append(f"{f.wall_min:.2f} s{rate}, {f.rss:.0f} MB")
            per_job.append(f"{f.wall_min / n * 1000:.2f}")
            target = _targets(n).get(key)
            if target is not None:
                verdicts.append((n, target[0], verdict(target[1](f))))
        cells.append(" / ".join(per_job))
        cells.append("; ".join(f"N={n}: {t}" for n, t, _ in verdicts))
        cells.append("; ".join(v for _, _, v in verdicts))
        rows.append(tuple(cells))
    rows.append(("cache size after the runs", *[f"{results[n]['cache'].rss:.1f} MB" if "cache" in results[n] else "-"
                                                for n in sizes], "", "", ""))
    _table(tuple(header), rows, markdown)


def _table(header: tuple[str, ...], rows: list[tuple[str, ...]], markdown: bool) -> None:
    if markdown:
        print("| " + " | ".join(header) + " |")
        print("|" + "|".join("---" for _ in header) + "|")
        for r in rows:
            print("| " + " | ".join(r) + " |")
        return
    widths = [max(len(r[i]) for r in list(rows) + [header]) for i in range(len(header))]
    for r in [header] + list(rows):
        print("  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip())


if __name__ == "__main__":
    sys.exit(main())
