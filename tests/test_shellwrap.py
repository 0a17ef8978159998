"""The brace-group wrapper keeps `bash -c CMD` semantics (issue 16), checked by running real bash.

For each command of a corpus of tricky endings (continuations, lone backslashes, unterminated
here-documents, comments, quotes, arithmetic shifts, nested substitutions) and of random
combinations of them: either pfgen refuses it (shellwrap.problem, a positioned error in
validate), or the script pfgen builds around it prints the same and exits the same as
`bash -c CMD`, also with Katib's suffix appended to the group and with a setup before it.
Every command bash -n accepts is wrapped, not refused, except the one case bash itself
garbles (an unterminated here-document ending in an escaping backslash).
"""

from __future__ import annotations

import random
import shutil
import subprocess

import pytest

from pfgen.kube import shellwrap
from pfgen.emit.pytorchjob import PRELUDE, script

pytestmark = pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not installed")

FRAGMENTS = [
    "echo a", "echo a \\", "echo a \\\n", "echo a\\\\", "echo a\\\\\\", "echo 'q \\'", 'echo "d \\\\"',
    "cat <<EOF\nx", "cat <<EOF\nx\n", "cat <<'EOF'\nx\\", "cat <<\"E F\"\nbody", "cat <<-EOF\n\tx\n\tEOF",
    "cat <<A <<B\na\nA\nb", "cat <<A; echo after\nbody\nA", "cat <<\\EOF\n$HOME\n", "cat << EOF\n  indented",
    "echo '#' \\", "# comment \\", "echo a # trailing comment \\", "echo x#y", "echo ${#HOME} >/dev/null; echo len",
    "echo $((1<<2))", "(( 1 << 2 )) && echo shift", "echo $(echo 'a)' )", "echo $( (echo sub) )", "x=${y:-#}; echo $x",
    'echo "a\nb" \\\n', "case a in a) echo A;; esac", "echo $(case a in a) echo A;; esac)", "f() { echo f; }; f",
    "echo `echo b` \\", "printf '%s\\n' $'a\\'b'", "cat <<< here", "cat <<< 'x' \\", "echo }", "echo '}'", "true",
    "false", "exit 3", "echo a; exit 0", "echo $'tab\\there'", "echo done\n\n", "echo a \\\n\n", "echo a\\\n\\\n",
    "if true; then\n  echo in-if\nfi", "for i in 1 2; do echo $i; done \\", "echo one; \\\n echo two",
    "echo \"${HOME:+set}\"", "cat <<EOF\n$(echo inner)\n", "cat <<EOF\n`echo tick`", "echo <<EOF", "echo a |\n  tr a b",
]
ENDINGS = ["", "\n", "\n\n", "\\", "\\\n", " \\\n", "\n\\\n", " # c", " # c \\"]


ENV = {"PATH": "/usr/bin:/bin", "HOME": "/h"}


def corpus(count: int = 160, seed: int = 16) -> list[str]:
    rng = random.Random(seed)
    texts = list(FRAGMENTS) + [f + end for f in FRAGMENTS[:20] for end in ENDINGS[1:]]
    while len(texts) < len(FRAGMENTS) + 20 * (len(ENDINGS) - 1) + count:
        parts = rng.sample(FRAGMENTS, rng.randint(1, 3))
        texts.append("\n".join(parts) + rng.choice(ENDINGS))
    return texts


def bash(text: str) -> tuple[bytes, int]:
    result = subprocess.run(["bash", "-c", text], capture_output=True, timeout=20, check=False, env=ENV)
    return result.stdout, result.returncode


def accepted(text: str) -> bool:
    return subprocess.run(["bash", "-n", "-c", text], capture_output=True, timeout=20, check=False).returncode == 0


class _Stub:
    """What script() reads of a JobPlan: the run command, the setup, no resume."""

    def __init__(self, run: str, setup: str):
        self.run, self.setup, self.resume = run, setup, None


@pytest.mark.parametrize("chunk", range(4))
def test_wrapped_commands_behave_as_bash_c(chunk):
    texts = corpus()[chunk::4]
    checked = refused = 0
    for text in texts:
        why = shellwrap.problem(text)
        if why is not None:
            refused += 1
            # The only refusals of what bash -n accepts: two here-document endings bash itself garbles.
            assert not accepted(text) or "here-document" in why, f"refused a command bash -n accepts: {text!r}: {why}"
            continue
        if not accepted(text):
            continue  # bash -c runs the lines before a syntax error; a brace group runs none: no promise there
        wrapped = script(_Stub(text, ""))
        assert wrapped.startswith(PRELUDE)
        expected, code = bash(text)
        assert bash(wrapped) == (expected, code), f"wrapping changed {text!r}:\n{wrapped}"
        katib = bash(wrapped + " && echo __completed__")
        assert "exit" in text or katib == (expected + (b"__completed__\n" if code == 0 else b""), code), f"the suffix did not apply to {text!r}"
        checked += 1
    assert checked > len(texts) // 2


@pytest.mark.parametrize("chunk", range(2))
def test_a_setup_is_closed_before_set_plus_e(chunk):
    rng = random.Random(1600 + chunk)
    setups = [t for t in corpus()[chunk::2] if shellwrap.problem(t) is None and accepted(t) and "exit" not in t]
    for setup in rng.sample(setups, 40):
        if not setup.strip():
            continue
        reference = subprocess.run(["bash", "-e", "-c", setup], capture_output=True, timeout=20, check=False, env=ENV)
        alone, code = reference.stdout, reference.returncode
        out, rc = bash(script(_Stub("echo __run__", setup)))
        if code == 0:
            assert (out, rc) == (alone + b"__run__\n", 0), f"setup {setup!r} changed the script"
        else:
            assert rc == code and b"__run__" not in out, f"a failing setup {setup!r} did not stop the job"


@pytest.mark.parametrize("text, why", [
    ("echo 'open", "a single quote"), ('echo "open', "a double quote"), ("echo $(date", "a $( substitution"),
    ("echo `date", "a backquote"), ("cat <<EOF\nline \\", "here-document whose last line ends in '\\'"),
    ("echo ${HOME", "a ${ expansion"), ("echo $((1+", "arithmetic"),
])
def test_what_cannot_be_wrapped_is_refused(text, why):
    assert why in (shellwrap.problem(text) or "")


def test_the_three_endings_the_issue_found():
    assert script(_Stub("train.py \\\n", "")).endswith("{\ntrain.py \\\n\n}")
    assert script(_Stub("echo a \\", "")).endswith("{\necho a \\\\\n}")
    assert script(_Stub("cat <<EOF\nhello", "")).endswith("{\ncat <<EOF\nhello\nEOF\n}")
    assert "pip install x \\\n\nset +e\n" in script(_Stub("run", "pip install x \\\n"))
    assert bash(script(_Stub("echo a \\\n", "echo s \\\n"))) == (b"s\na\n", 0)
