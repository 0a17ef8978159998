"""libyaml's node count (first_node_over) finds the limit where the pure-Python bounded composer does.

`pfgen lint` checks the value limit with libyaml's parser first, because ruamel's pure-Python
composer takes seconds to reach 20,000 values; both must stop at the same node, with the same
position, or the message would move.
"""

from __future__ import annotations

import random

import pytest
from ruamel.yaml import YAML

from pfgen.load.document import Limit, bounded_composer, first_limit, first_node_over

PIECES = [
    "a: 1\n", "b: [1, 2, 3]\n", "c: {x: 1, y: [2, 3]}\n", "d: &anchor [1, 2]\n", "e: *anchor\n",
    "f:\n  - 1\n  - two\n  - {z: 3}\n", "g: |\n  text\n", "---\n", "h: !!str 5\n", "i: null\n", "j:\n",
    "k: 'quoted'\n", "l: [[1, [2, [3]]]]\n",
]


def _ruamel_limit(text: str, limit: int, depth: int = 64):
    yaml = YAML(typ="safe", pure=True)
    yaml.Composer = bounded_composer(limit, depth)
    try:
        list(yaml.compose_all(text))
    except Limit as exc:
        return exc.pos, exc.message
    return None


def _ruamel_over(text: str, limit: int):
    found = _ruamel_limit(text, limit)
    return found[0] if found else None


def _documents(count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    texts = []
    for _ in range(count):
        text = "".join(rng.choice(PIECES) for _ in range(rng.randint(1, 8)))
        if "*anchor" in text and "&anchor" not in text.split("*anchor")[0]:
            text = PIECES[3] + text  # an alias needs its anchor before it
        texts.append(text.replace("---\n", "---\nm: 0\n"))  # every document a mapping, keys unique per document
    return texts


@pytest.mark.parametrize("limit", [6, 10, 16, 24])
def test_same_node_same_position(limit):
    compared = over = 0
    for text in _documents(400, limit):
        try:
            expected = _ruamel_over(text, limit)
        except Exception:  # noqa: BLE001 - not YAML ruamel composes (duplicate keys are fine for composing)
            continue
        assert first_node_over(text, limit) == expected, text
        compared += 1
        over += expected is not None
    assert compared > 300 and 0 < over < compared  # both answers are exercised


@pytest.mark.parametrize("depth", [1, 2, 3])
def test_same_limit_with_depth(depth):
    compared = deep = 0
    for text in _documents(400, 100 + depth):
        try:
            expected = _ruamel_limit(text, 12, depth)
        except Exception:  # noqa: BLE001
            continue
        found = first_limit(text, 12, depth)
        assert (found and (found.pos, found.message)) == (expected or None), text
        compared += 1
        deep += bool(expected and "deeply" in expected[1])
    assert compared > 300 and deep > 20


def test_the_lint_limit_on_a_deep_flow_sequence():
    text = "[" * 100 + "]" * 100
    found = first_limit(text, 20_000, 64)
    assert (found.pos, found.message) == ((1, 66), "document is nested too deeply (more than 64 levels)")
    assert first_limit("[" * 20_000, 20_000, 64) is None  # past libyaml's own 1,000 levels: left to the composer


def test_the_lint_limit_on_a_wide_flow_sequence():
    text = "name: [" + ",".join(["1"] * 30_000) + "]\n"
    assert first_node_over(text, 20_000) == _ruamel_over(text, 20_000) == (1, 40_002)


def test_text_libyaml_rejects_is_left_to_the_composer():
    assert first_node_over("a: [1, 2\n", 100) is None
