"""Running a :class:`~pfgen.runlocal.model.LocalPlan`: one process group per replica, their
output merged with a prefix, supervision as the Training Operator's success and failure
rules, stopping (SIGTERM, grace, SIGKILL, stray processes by the run's marker) and the
objective metric Katib's collector would read."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO, Optional

from pfgen.kube import katib
from pfgen.runlocal.model import MARKER, LocalPlan


# Operator-injected names (and torchrun's agent variables) that must not leak
# in from the environment pfgen itself runs in.
_INJECTED_PREFIXES = ("PET_", "TORCHELASTIC_")
_INJECTED = {"MASTER_ADDR", "MASTER_PORT", "WORLD_SIZE", "RANK", "LOCAL_RANK", "LOCAL_WORLD_SIZE",
             "GROUP_RANK", "ROLE_RANK", "NODE_RANK", "NUM_NODES", "NPROC_PER_NODE"}


def _base_environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in _INJECTED and not k.startswith(_INJECTED_PREFIXES) and k != MARKER}
    return env


def marked_processes(run_id: str) -> list[int]:
    """PIDs of live processes whose environment carries this run's marker (any depth, any session)."""
    needle = f"{MARKER}={run_id}/".encode()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as fh:
                if needle in fh.read():
                    found.append(int(entry))
        except OSError:
            continue
    return found


class _Output:
    """Merges the replicas' output onto one stream, line by line, with a prefix."""

    def __init__(self, stream: IO[str], combined: Path, width: int):
        self.stream = stream
        self.lock = threading.Lock()
        self.combined = combined.open("w", encoding="utf-8")
        self.width = width

    def pump(self, name: str, pipe: IO[bytes], log: Path) -> None:
        prefix = f"[{name}]".ljust(self.width + 2) + " "
        with log.open("wb") as raw:
            for line in iter(pipe.readline, b""):
                raw.write(line)
                raw.flush()
                text = line.decode("utf-8", "replace").rstrip("\n")
                with self.lock:
                    self.combined.write(prefix + text + "\n")
                    self.combined.flush()
                    try:
                        self.stream.write(prefix + text + "\n")
                        self.stream.flush()
                    except (OSError, ValueError):
                        pass
        pipe.close()

    def say(self, text: str) -> None:
        with self.lock:
            self.combined.write(f"pfgen: {text}\n")
            self.combined.flush()
            try:
                self.stream.write(f"pfgen: {text}\n")
                self.stream.flush()
            except (OSError, ValueError):
                pass

    def close(self) -> None:
        self.combined.close()


def _exit_code(returncode: int) -> int:
    return 128 - returncode if returncode < 0 else returncode


def launch(plan: LocalPlan, *, stream: Optional[IO[str]] = None, master_wait: float = 30.0) -> int:
    """Run every replica; return the job's exit status.

    The job succeeds when the master exits 0 (the operator's rule; workers still
    running get ``master_wait`` seconds to finish). The first replica that
    fails ends the job: every replica's process group gets SIGTERM, then
    SIGKILL after the grace period, and any process still carrying the run's
    marker in its environment (torchrun puts its workers in sessions of their
    own) is killed too. SIGINT/SIGTERM to pfgen do the same.
    """
    stream = stream or sys.stdout
    grace = plan.grace
    out = _Output(stream, plan.run_dir / "output.log", max(len(r.name) for r in plan.replicas))
    for note in plan.notes:
        out.say(note)
    out.say(f"run folder {plan.run_dir}; {plan.nodes} node(s) x {plan.nproc} process(es) on "
            f"{plan.device}, MASTER_ADDR=127.0.0.1 MASTER_PORT={plan.master_port}")
    signals_seen: list[int] = []

    def on_signal(signum, _frame):
        signals_seen.append(signum)

    previous = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            previous[sig] = signal.signal(sig, on_signal)
    procs: dict[str, subprocess.Popen] = {}
    pumps: list[threading.Thread] = []
    base = _base_environment()
    try:
        for replica in plan.replicas:
            env = dict(base)
            env.update(replica.env)
            proc = subprocess.Popen(list(replica.argv), env=env, cwd=replica.cwd, stdin=subprocess.DEVNULL,
                                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
            procs[replica.name] = proc
            pump = threading.Thread(target=out.pump, args=(replica.name, proc.stdout, replica.log), daemon=True)
            pump.start()
            pumps.append(pump)
        status = _supervise(plan, procs, out, signals_seen, master_wait)
        _stop(plan, procs, out, grace, signals_seen)
        for pump in pumps:
            pump.join(timeout=5)
        for name, proc in procs.items():
            code = proc.poll()
            out.say(f"{name} exited {_describe(code)}")
        out.say(f"job {'succeeded' if status == 0 else 'failed'} (exit {status}); logs in {plan.run_dir}")
        if plan.objective:
            _report_metric(plan, out)
        return status
    finally:
        for proc in procs.values():  # only reached with live children after a bug or KeyboardInterrupt
            if proc.poll() is None:
                _signal_group(proc, signal.SIGKILL)
        for pid in marked_processes(plan.run_id):
            _kill(pid, signal.SIGKILL)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        out.close()


def _supervise(plan, procs, out, signals_seen, master_wait) -> int:
    master_done_at: Optional[float] = None
    while True:
        if signals_seen:
            sig = signals_seen[0]
            out.say(f"received {signal.Signals(sig).name}; stopping every replica")
            return 128 + sig
        codes = {name: proc.poll() for name, proc in procs.items()}
        failed = [name for name, code in codes.items() if code not in (None, 0)]
        if failed:
            name = failed[0]
            out.say(f"{name} failed ({_describe(codes[name])}); stopping the other replicas")
            return _exit_code(codes[name])
        master = plan.replicas[0].name
        if codes[master] == 0:
            if all(code == 0 for code in codes.values()):
                return 0
            if master_done_at is None:
                master_done_at = time.monotonic()
            elif time.monotonic() - master_done_at > master_wait:
                out.say(f"master succeeded; workers still running after {master_wait:.0f}s are stopped")
                return 0
        time.sleep(0.05)


def _stop(plan, procs, out, grace, signals_seen) -> None:
    live = [p for p in procs.values() if p.poll() is None]
    strays = marked_processes(plan.run_id)
    if not live and not strays:
        return
    for proc in live:
        _signal_group(proc, signal.SIGTERM)
    for pid in strays:
        _kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    count = len(signals_seen)
    while time.monotonic() < deadline and len(signals_seen) <= count:
        if all(p.poll() is not None for p in procs.values()) and not marked_processes(plan.run_id):
            return
        time.sleep(0.05)
    out.say("grace period over; sending SIGKILL" if len(signals_seen) <= count else "second signal; SIGKILL")
    for proc in procs.values():
        if proc.poll() is None:
            _signal_group(proc, signal.SIGKILL)
    for _ in range(3):
        pids = marked_processes(plan.run_id)
        if not pids:
            break
        for pid in pids:
            _kill(pid, signal.SIGKILL)
        time.sleep(0.1)
    for proc in procs.values():
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass


def _signal_group(proc: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _kill(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _describe(code: Optional[int]) -> str:
    if code is None:
        return "(still running)"
    if code < 0:
        return f"by signal {signal.Signals(-code).name}"
    return str(code)


_METRIC = re.compile(katib.DEFAULT_FILTER)


def _report_metric(plan: LocalPlan, out: _Output) -> None:
    """Tell which objective value Katib's collector would take: from the master's output (StdOut),
    or from the File collector's text file with its filters (as file-metricscollector.go parses it:
    a line naming the metric, capture group 1 the name, group 2 the value)."""
    values = []
    source = "on the master"
    try:
        regexes = [re.compile(f) for f in plan.metrics_filters] or [_METRIC]
        if plan.metrics_file is not None:
            source = f"in {plan.metrics_file}"
            text = plan.metrics_file.read_text("utf-8", "replace")
        else:
            text = plan.replicas[0].log.read_text("utf-8", "replace")
    except (OSError, re.error):
        text, regexes = "", [_METRIC]
    for line in text.splitlines():
        if plan.objective not in line:
            continue
        for regex in regexes:
            values += [m.group(2).strip() for m in regex.finditer(line)
                       if regex.groups >= 2 and (m.group(1) or "").strip() == plan.objective and m.group(2)]
    if values:
        out.say(f"objective {plan.objective}: {len(values)} value(s) {source}, last {values[-1]}")
    elif plan.metrics_file is not None or plan.metrics_filters:
        out.say(f"objective {plan.objective}: no value {source} that the filter reads; Katib would record 'unavailable'")
    else:
        out.say(f"objective {plan.objective}: no '{plan.objective}=<number>' line on the master; "
                f"Katib would record 'unavailable'")
