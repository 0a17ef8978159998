"""PeriFlow's resume pattern: ``checkpoint.input.mount_path`` equal to ``output_checkpoint_dir``.

On PeriFlow the job then started with the input checkpoint's files in that
directory and its new checkpoints were uploaded from it. pfgen keeps those
semantics with two claims (docs/template.md, "Resuming into the same directory"):

* the input claim is mounted read-only at :func:`source_path` (a hidden sibling
  of the directory), the job's own output claim at the directory itself;
* node rank 0 (the Master pod), before the setup and the run command, copies the
  input's files into the output claim once: into a staging directory on the
  claim first, then each top-level entry renamed into place unless an entry of
  that name is already there (never overwriting what a run wrote), and last the
  marker file :data:`MARKER`, written after everything is in place;
* the marker and staging names are never copied from the input (an input that was
  itself a resumed job's output carries a marker of its own);
* a restarted pod (or a later run on the same claim) finds the marker and copies
  nothing; the other nodes (the claim is one ReadWriteMany volume shared by every
  replica) wait for the marker before their setup and torchrun, so no rank reads
  a half-copied checkpoint.
"""

from __future__ import annotations

import posixpath
import shlex

MARKER = ".pfgen-resumed"  # in the output directory; holds the input checkpoint's id
STAGING = ".pfgen-resume-staging"  # in the output directory while the copy runs
WAIT_REPORT_SECONDS = 60  # how often a waiting node says that it waits


def source_path(output_dir: str) -> str:
    """Where the input claim is mounted when it resumes into ``output_dir``: a hidden sibling.

    ``/workspace/ckpt`` -> ``/workspace/.pfgen-resume-ckpt``. A sibling (not a fixed
    path) keeps it under the same top-level directory as the checkpoints, which
    is where ``pfgen run --local`` and the tests already map container paths.
    """
    normal = posixpath.normpath(output_dir)
    parent, name = posixpath.split(normal)
    return posixpath.join(parent, f".pfgen-resume-{name}")


def is_resume(input_mount: object, output_dir: object) -> bool:
    return (isinstance(input_mount, str) and isinstance(output_dir, str)
            and posixpath.normpath(input_mount) == posixpath.normpath(output_dir))


def script(source: str, target: str, checkpoint: str) -> str:
    """The shell text (bash -c, before the template's setup) that seeds ``target`` from ``source``.

    Fail-fast (``set -e``): a copy that fails ends the pod with cp's status, which
    the operator treats like any other failure of the command (ExitCode: 1 fails
    the job; a signal recreates the pod, and the copy starts again from an empty
    staging directory, the marker not being there yet).
    """
    q = shlex.quote
    dst = q(target.rstrip("/") or "/")
    src = q(source.rstrip("/") or "/")
    marker, staging = q(posixpath.join(target, MARKER)), q(posixpath.join(target, STAGING))
    ident = q(checkpoint)
    return (
        "set -e\n"
        "# pfgen: resume: seed the output checkpoint directory once (docs/template.md)\n"
        'if [ "${PET_NODE_RANK:-0}" = 0 ]; then\n'
        f"  if [ -e {marker} ]; then\n"
        f'    echo "pfgen: resume: "{dst}" already holds checkpoint $(cat {marker}); not copying it again"\n'
        "  else\n"
        f'    echo "pfgen: resume: copying checkpoint "{ident}" into "{dst}\n'
        f"    rm -rf {staging}\n"
        f"    mkdir {staging}\n"
        f"    cp -Rp {src}/. {staging}/\n"
        f"    for pfgen_entry in {staging}/* {staging}/.[!.]* {staging}/..?*; do\n"
        '      [ -e "$pfgen_entry" ] || [ -L "$pfgen_entry" ] || continue\n'
        f'      case "${{pfgen_entry##*/}}" in {MARKER}|{MARKER}.tmp|{STAGING}) continue ;; esac\n'
        f'      pfgen_name={dst}/"${{pfgen_entry##*/}}"\n'
        '      if [ -e "$pfgen_name" ] || [ -L "$pfgen_name" ]; then\n'
        '        echo "pfgen: resume: keeping $pfgen_name (already there)"\n'
        "      else\n"
        f'        mv "$pfgen_entry" {dst}/\n'
        "      fi\n"
        "    done\n"
        "    unset pfgen_entry pfgen_name\n"
        f"    rm -rf {staging}\n"
        f"    printf '%s\\n' {ident} > {marker}.tmp\n"
        f"    mv {marker}.tmp {marker}\n"
        "  fi\n"
        "else\n"
        "  pfgen_waited=0\n"
        f"  until [ -e {marker} ]; do\n"
        f"    if [ $((pfgen_waited % {WAIT_REPORT_SECONDS})) = 0 ]; then\n"
        f'      echo "pfgen: resume: waiting for node rank 0 to copy checkpoint "{ident}" into "{dst}\n'
        "    fi\n"
        "    sleep 2\n"
        "    pfgen_waited=$((pfgen_waited + 2))\n"
        "  done\n"
        "  unset pfgen_waited\n"
        "fi\n"
        "set +e\n"
    )
