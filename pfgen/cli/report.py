"""Reporters: how ``validate`` and ``build`` tell a person, a program or GitHub what happened.

``--format text`` (default)
    Diagnostics on stderr as ``path:line:col: severity: message``. ``build``
    lists the files it changed on stdout (``created deploy/a/pytorchjob.yaml``);
    ``build --check`` prints the unified diff on stdout and a one-line summary
    on stderr.

``--format json``
    Exactly one JSON document on stdout, nothing else::

        {
          "version": 1,
          "diagnostics": [
            {"file": "jobs/a/pf-template.yml", "line": 3, "col": 5,
             "severity": "error", "message": "..."}
          ],
          "changed": [
            {"path": "deploy/a/pytorchjob.yaml", "status": "updated"}
          ],
          "summary": {"errors": 0, "warnings": 1}
        }

    ``version`` changes only when a field is removed or changes meaning
    (fields may be added). ``diagnostics`` are sorted by file, line, column;
    ``severity`` is ``error`` or ``warning``. ``changed`` lists, sorted by
    path, the files ``build`` wrote or (with ``--check``) would write;
    ``status`` is ``created``, ``updated`` or ``removed``; ``validate``
    always gives ``[]``. ``summary`` counts the diagnostics by severity
    (with ``--strict`` a warning fails the command although it stays a
    ``warning`` here).

``--format github``
    GitHub Actions workflow commands on stdout, so that problems show on the
    pull request diff: ``::error file=F,line=L,col=C::message`` (``::warning``
    for warnings). Property values escape ``%``, CR, LF, ``:`` and ``,``;
    messages escape ``%``, CR and LF (the rules of actions/toolkit's
    ``command.ts``). ``build --check`` adds one ``::error`` per out-of-date
    file and prints the diff inside a ``::group::``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from pfgen.errors import Diagnostic

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Sequence, TextIO

JSON_VERSION = 1


@dataclass
class Report:
    """What a command has to tell: diagnostics, changed files and remarks."""

    diagnostics: Sequence[Diagnostic] = ()
    changes: Sequence = ()  # pfgen.output.write.Change: .path, .status, .diff()
    check: bool = False
    out_dir: str = ""  # as shown, for the summary line
    notes: list[str] = field(default_factory=list)  # plain-text remarks, text format only


def escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def github_command(command: str, message: str, **properties: object) -> str:
    props = ",".join(f"{key}={escape_property(str(value))}" for key, value in properties.items() if value is not None)
    return f"::{command}{' ' + props if props else ''}::{escape_data(message)}"


def to_json(report: Report) -> str:
    document = {
        "version": JSON_VERSION,
        "diagnostics": [
            {"file": d.file, "line": d.line, "col": d.col, "severity": d.severity, "message": d.message}
            for d in sorted(report.diagnostics)
        ],
        "changed": [{"path": c.path, "status": c.status} for c in sorted(report.changes, key=lambda c: c.path)],
        "summary": {"errors": sum(1 for d in report.diagnostics if d.is_error),
                    "warnings": sum(1 for d in report.diagnostics if not d.is_error)},
    }
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def to_github(report: Report) -> str:
    lines = []
    for d in sorted(report.diagnostics):
        lines.append(github_command(d.severity, d.message, file=d.file, line=d.line, col=d.col))
    changes = sorted(report.changes, key=lambda c: c.path)
    if changes and report.check:
        lines.append("::group::pfgen build --check: diff")
        lines.append("".join(c.diff() for c in changes).rstrip("\n"))
        lines.append("::endgroup::")
        for c in changes:
            lines.append(github_command("error", f"{c.path} is out of date ({_would(c.status)}); run `pfgen build` and commit the result", file=c.path))
    elif changes:
        for c in changes:
            lines.append(github_command("notice", f"pfgen {c.status} {c.path}", file=c.path))
    return "".join(line + "\n" for line in lines)


def _would(status: str) -> str:
    return {"created": "would be created", "updated": "would be updated", "removed": "would be removed"}[status]


def emit(fmt: str, report: Report, *, stdout: TextIO, stderr: TextIO) -> None:
    if fmt == "json":
        stdout.write(to_json(report))
        return
    if fmt == "github":
        stdout.write(to_github(report))
        return
    for d in sorted(report.diagnostics):
        stderr.write(f"{d}\n")
    changes = sorted(report.changes, key=lambda c: c.path)
    if report.check:
        stdout.write("".join(c.diff() for c in changes))
        if changes:
            where = f" in {report.out_dir}" if report.out_dir else ""
            stderr.write(f"pfgen: {len(changes)} file(s){where} out of date; run `pfgen build` and commit the result\n")
    else:
        for c in changes:
            stderr.write(f"pfgen: {c.status} {c.path}\n")
    for note in report.notes:
        stderr.write(f"pfgen: {note}\n")


def created_units(base: str, changes: Sequence) -> dict[str, str]:
    """Each directory (or root file, with a trailing NUL) of one OUT that ``changes`` touch, and
    whether it was created, configured or deleted. ``base``: the OUT as the changes show it."""
    statuses: dict[str, set[str]] = {}
    for change in changes:
        rel = change.path[len(base) + 1:] if base and change.path.startswith(base + "/") else change.path
        head, sep, _ = rel.partition("/")
        statuses.setdefault(head if sep else rel + "\0", set()).add(change.status)
    return {unit: "created" if found == {"created"} else "deleted" if found == {"removed"} else "configured"
            for unit, found in statuses.items()}


def notes_of_created_jobs(notes: Sequence[Diagnostic], trees: Sequence[tuple]) -> list[Diagnostic]:
    """The notes of the templates whose job directory this build created (a note is told once, when
    its job appears). ``trees``: (OUT, its job directories' templates relative to each directory, its
    changes)."""
    if not notes:
        return []
    import os

    from pfgen.errors import display_path

    new: set[str] = set()
    for root, sources, changes in trees:
        units = created_units(display_path(root).rstrip("/") if display_path(root) not in (".", "./") else "", changes)
        for unit, state in units.items():
            if state == "created" and unit in sources and not unit.startswith("_"):
                new.add(os.path.realpath(os.path.join(root, unit, sources[unit])))
    if not new:  # nothing created (a no-op build): no real path of every note's file to take
        return []
    return sorted(d for d in notes if os.path.realpath(d.file) in new)


def job_lines(roots: Sequence[tuple[str, Sequence, int]]) -> list[str]:
    """``build``'s default text output, like kubectl apply's: one line per directory (or root file)
    that changed, ``deploy/job-a created|configured|deleted``, then one summary line per output
    directory with the number of jobs in each state. ``roots``: (OUT as shown, its changes, its
    number of jobs)."""
    lines: list[str] = []
    for display, changes, count in roots:
        base = "" if display in (".", "./") else display.rstrip("/")
        units = created_units(base, changes)
        tally = {"created": 0, "configured": 0, "deleted": 0}
        for unit in sorted(units):
            state = units[unit]
            name = unit.rstrip("\0")
            lines.append(f"{base + '/' if base else ''}{name} {state}")
            if not unit.endswith("\0") and not name.startswith("_"):
                tally[state] += 1
        unchanged = max(count - tally["created"] - tally["configured"], 0)
        where = base or "."
        parts = [f"{n} {state}" for state, n in tally.items() if n] + [f"{unchanged} unchanged"]
        lines.append(f"pfgen: {where}: {count} job{'s' if count != 1 else ''}: " + ", ".join(parts))
    return lines
