"""``--isolate``: each replica in a private mount namespace (an overlay of /, the volumes
bind-mounted at their real container paths, then chroot), instead of rewriting paths."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path

from pfgen.runlocal.model import fail, is_under, norm


def host_mounts() -> list[str]:
    """Mount points other than / that a chroot into an overlay of / must re-bind (outermost only)."""
    points = []
    with open("/proc/self/mountinfo", encoding="utf-8") as fh:
        for line in fh:
            point = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), line.split()[4])
            if point != "/":
                points.append(point)
    outer = sorted(set(points), key=len)
    kept: list[str] = []
    for point in outer:
        if not any(is_under(point, k) for k in kept):
            kept.append(point)
    return sorted(kept)


def isolated_argv(state: Path, binds: list[tuple[str, Path]], command: list[str], workdir: str) -> list[str]:
    """Wrap ``command`` to run in a private mount namespace at the real container paths.

    An overlay of / (writes land in ``state``/upper, as in a container's
    writable layer), the host's other mounts re-bound, each volume and the
    workspace bind-mounted at its container path, then chroot. Needs root.
    """
    for path in (str(state), *(str(local) for _, local in binds)):
        if any(c in path for c in ",:\n"):
            raise fail(f"--isolate cannot use a path containing ',' or ':': {path}")
    q = shlex.quote
    root = f"{state}/root"
    lines = ["set -e", f"mkdir -p {q(str(state))}/upper {q(str(state))}/work {q(root)}",
             f"mount -t overlay overlay -o lowerdir=/,upperdir={q(str(state))}/upper,workdir={q(str(state))}/work "
             f"{q(root)}"]
    for point in host_mounts():  # /proc, /sys, /dev and any other mount, shared with the host
        lines.append(f"mkdir -p {q(root + point)} 2>/dev/null || true; mount --rbind {q(point)} {q(root + point)}")
    for container_path, local in sorted(binds, key=lambda b: len(b[0])):
        lines.append(f"mkdir -p {q(root + container_path)}; mount --bind {q(str(local))} {q(root + container_path)}")
    lines.append(f"mkdir -p {q(root + norm(workdir))}")
    # chroot itself changes to the new /; the image's WORKDIR is entered inside
    lines.append(f"exec chroot {q(root)} /bin/sh -c 'cd \"$0\" && exec \"$@\"' {q(norm(workdir))} \"$@\"")
    return ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c", "\n".join(lines), "pfgen-isolate",
            *command]


def check_isolation(run_dir: Path) -> None:
    """Fail early, with the reason, where a mount namespace with an overlay of / cannot be set up."""
    if os.geteuid() != 0 or not shutil.which("unshare"):
        raise fail("--isolate needs root and util-linux unshare; without it, pfgen rewrites container paths "
                    "(the default)")
    probe = run_dir / "ns" / "probe"
    argv = isolated_argv(probe, [], ["true"], "/")
    result = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    shutil.rmtree(probe, ignore_errors=True)
    if result.returncode != 0:
        raise fail("--isolate: cannot set up a mount namespace with an overlay of / here: "
                    + (result.stderr.strip().splitlines() or ["unknown error"])[-1])
