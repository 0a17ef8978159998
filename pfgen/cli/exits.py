"""pfgen's exit codes: the one table that the commands, ``pfgen --help`` and docs/ci.md show.

``pfgen run --local`` is the exception: once the replicas have started it exits
with the job's own status (docs/run-local.md).
"""

from __future__ import annotations

OK = 0
CHANGED = 1
INVALID = 2
IMAGE_FAILED = 3

TABLE = (
    (OK, "success"),
    (CHANGED, "output out of date (build --check) or files written (build --exit-code)"),
    (INVALID, "invalid input or usage, and nothing is written; with --strict, also any warning"),
    (IMAGE_FAILED, "an image build or push failed (image build)"),
)


def help_text() -> str:
    """The table as ``pfgen --help`` prints it (one line per code)."""
    lines = [f"  {code}  {meaning}" for code, meaning in TABLE]
    return "\n".join(lines + ["  run --local exits with the job's own status once its replicas started"])


def markdown() -> str:
    """The table as docs/ci.md shows it (a test keeps the two equal)."""
    rows = ["| exit | meaning |", "|---|---|"]
    rows += [f"| {code} | {meaning} |" for code, meaning in TABLE]
    return "\n".join(rows)
