"""The command scanner behind the environment and workspace warnings (pfgen/shellscan.py): what it
counts as expanded, defined and needed, on the shell forms real templates use."""

from __future__ import annotations

import pytest

from pfgen.validate.shellscan import defined, entered_paths, references


def names(text: str) -> list[str]:
    return [r.name for r in references(text)]


@pytest.mark.parametrize("text,expected", [
    ("torchrun --nnodes $NUM_NODES --node_rank ${NODE_RANK}", ["NUM_NODES", "NODE_RANK"]),
    ("echo '$LOCAL_RANK' \\$RANK # $WORLD_SIZE", []),  # single quotes, escape, comment
    ('echo "$LOCAL_RANK and \'$RANK\'"', ["LOCAL_RANK", "RANK"]),  # single quotes inside double quotes expand
    ("echo $((NODE_RANK * NPROC_PER_NODE + 1))", ["NODE_RANK", "NPROC_PER_NODE"]),
    ("echo $(hostname) ${trialParameters.lr} $1 $@ $$", ["trialParameters"]),
    ("echo a#$RANK", ["RANK"]),  # '#' inside a word is not a comment
    ("echo ${ARR[0]} ${#RANK}", []),
])
def test_references(text, expected):
    assert names(text) == expected


def test_defaults_and_offsets():
    found = references('x ${A:-1} ${B-2} ${C:=3} ${D:+4} ${E:?no} ${F}')
    assert [(r.name, r.has_default) for r in found] == [("A", True), ("B", True), ("C", True), ("D", True),
                                                          ("E", False), ("F", False)]
    assert found[-1].text == "${F}" and 'x ${A:-1} ${B-2} ${C:=3} ${D:+4} ${E:?no} ${F}'[found[-1].offset:].startswith("${F}")


@pytest.mark.parametrize("text,expected", [
    ("export LOCAL_RANK=0; X=1 python a.py", {"LOCAL_RANK", "X"}),
    ("for RANK in 0 1; do echo $RANK; done", {"RANK"}),
    ("read -r A B < f; declare -x C=1 D; local E", {"A", "B", "C", "D", "E"}),
    ("mapfile -t LINES < f; getopts ab OPT", {"LINES", "OPT"}),
    ("python a.py --lr=3 --x==y", set()),  # option values are not assignments
])
def test_defined(text, expected):
    assert defined(text) == expected


def test_entered_paths():
    text = ("cd /workspace/cifar && pip install -r /workspace/cifar/requirements.txt && python /opt/x/run.py "
            "--data /workspace/data --out /workspace/runs; pushd \"/workspace/b\"")
    assert [p for p, _ in entered_paths(text)] == ["/workspace/cifar", "/workspace/cifar/requirements.txt",
                                                    "/opt/x/run.py", "/workspace/b"]


def _dollars_one_by_one(text: str) -> list[int]:
    """The scanner as it was: every character in turn (the reference _expanded_dollars must agree with)."""
    found, i, n, double = [], 0, len(text), False
    while i < n:
        ch = text[i]
        if ch == "\\":
            i += 2
            continue
        if not double and ch == "'":
            end = text.find("'", i + 1)
            i = n if end == -1 else end + 1
            continue
        if not double and ch == "#" and (i == 0 or text[i - 1] in " \t\n;&|("):
            end = text.find("\n", i)
            i = n if end == -1 else end
            continue
        if ch == '"':
            double = not double
        elif ch == "$":
            found.append(i)
        i += 1
    return found


@pytest.mark.parametrize("seed", range(4))
def test_the_scanner_jumping_to_what_matters_finds_every_dollar_the_old_one_did(seed):
    import random

    from pfgen.validate.shellscan import _expanded_dollars

    rng = random.Random(seed)
    pieces = ["$", "$A", "${B}", "'", '"', "\\", "#", " #", "\n", ";", "(", "x", " ", "\t", "$((C+1))", "&", "|"]
    texts = ["".join(rng.choice(pieces) for _ in range(rng.randint(0, 20))) for _ in range(5000)]
    assert sum(bool(_dollars_one_by_one(t)) for t in texts) > 2000
    for text in texts:
        assert list(_expanded_dollars(text)) == _dollars_one_by_one(text), repr(text)
