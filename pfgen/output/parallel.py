"""Compiling the templates a build cannot serve from its cache in worker processes.

Each template compiles on its own (stream.compile_one: read, check, resolve, emit, dump), so
the misses of a big build are spread over ``os.fork``-ed workers, one per CPU this process may
run on (``PFGEN_JOBS=N`` sets the number; ``PFGEN_JOBS=1`` compiles in the process itself).
Results come back in the order of the templates, so output and messages are the same bytes as
a build in one process (tests/output/test_parallel.py compares them). Workers inherit the
compiler's state by the fork (nothing is imported or read again) and return each job's
summary, or its errors; a bug in a worker is raised here with its traceback. What a worker
learns on the side stays in the worker: the build cache's lookups of each job's pfgen.yaml,
which the whole-build record stats, are made again here (``BuildCache.compiled_elsewhere``;
tests/output/test_cache.py has the build whose record would otherwise miss an edit of it).

Small builds do not pay for the processes: below :data:`MIN_TEMPLATES` misses, and where
``fork`` is not how processes start (macOS, Windows), everything compiles here.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any, Callable, Iterator, Optional

MIN_TEMPLATES = 200  # fewer misses compile in this process: forking and pickling cost more than they save
MAX_WORKERS = 8
_TASK: Optional[Callable[[Any], Any]] = None  # what a forked worker runs (set before the fork)


def workers(misses: int) -> int:
    """How many processes compile ``misses`` templates (1: this one)."""
    raw = os.environ.get("PFGEN_JOBS", "").strip()
    if raw.isdigit() and int(raw) >= 1:
        wanted = min(int(raw), MAX_WORKERS)
    else:
        try:
            wanted = min(len(os.sched_getaffinity(0)), MAX_WORKERS)
        except (AttributeError, OSError):
            wanted = min(os.cpu_count() or 1, MAX_WORKERS)
        if misses < MIN_TEMPLATES:
            return 1
    if wanted <= 1 or misses < 2 or not sys.platform.startswith("linux"):
        return 1
    return min(wanted, misses)


def _run(task: Any) -> Any:
    assert _TASK is not None
    return _TASK(task)


def run_all(tasks: list, run: Callable[[Any], Any]) -> Iterator[Any]:
    """``run(task)`` for each task, in order; in worker processes when there are enough of them."""
    count = workers(len(tasks))
    if count <= 1:
        for task in tasks:
            yield run(task)
        return
    import multiprocessing

    global _TASK
    _TASK = run
    try:
        with multiprocessing.get_context("fork").Pool(count) as pool:
            yield from pool.imap(_run, tasks, chunksize=max(1, min(32, len(tasks) // (count * 8))))
    finally:
        _TASK = None
