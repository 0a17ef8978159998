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
