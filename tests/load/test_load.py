"""The loader treats YAML as untrusted: positions kept, nothing executed, limits enforced."""

from __future__ import annotations

import time

import pytest

from pfgen.errors import UserError
from pfgen.load.document import MAX_BYTES, decode, load_text


def error_of(text: str) -> str:
    with pytest.raises(UserError) as info:
        load_text(text, "t.yml")
    return str(info.value)


def test_positions_of_keys_and_values_are_one_based():
    doc = load_text("a:\n  b: [1, {c: x}]\n", "t.yml")
    assert doc.pos(("a", "b", 1, "c")) == (2, 14)
    assert doc.key_pos(("a", "b")) == (2, 3)
    assert doc.pos(("a", "missing")) == (2, 3)


def test_scalars_follow_yaml_1_2_and_keep_their_source_text():
    doc = load_text("a: yes\nb: 0x1F\nc: 1e3\nd: ~\ne: 2024-01-01\nf: TRUE\ng: 0o17\n", "t.yml")
    assert doc.data == {"a": "yes", "b": 31, "c": 1000.0, "d": None, "e": "2024-01-01", "f": True, "g": 15}
    assert doc.raw[("c",)] == "1e3"


def test_python_tags_are_rejected_and_never_run(tmp_path):
    marker = tmp_path / "pwned"
    text = f"a: !!python/object/apply:os.system ['touch {marker}']\n"
    assert "tag '!!python/object/apply:os.system' is not allowed" in error_of(text)
    assert not marker.exists()
    assert "tag '!custom' is not allowed" in error_of("a: !custom x\n")


def test_alias_bomb_is_bounded_and_fast():
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join('*' + chr(97 + i) for _ in range(9))}]\n" for i in range(8))
    started = time.perf_counter()
    assert "document has more than" in error_of(bomb)
    assert time.perf_counter() - started < 5  # generous: the point is that it ends


def test_merge_keys_expand_and_explicit_keys_win():
    doc = load_text("base: &b {x: 1, y: 2}\nc:\n  <<: *b\n  y: 3\n", "t.yml")
    assert doc.data["c"] == {"x": 1, "y": 3}


@pytest.mark.parametrize("text,message", [
    ("a: 1\na: 2\n", "2:1: error: duplicate key 'a' (first defined on line 1)"),
    ("a:\n\tb: 1\n", "2:1: error: tab character in indentation"),
    ("", "1:1: error: file is empty"),
    ("# only a comment\n", "1:1: error: file is empty"),
    ("- a\n- b\n", "1:1: error: top level is a list"),
    ("a: [1, 2\n", "YAML syntax error"),
    ("a: 1\n---\nb: 2\n", "more than one YAML document"),
    ("[" * 5000, "nested too deeply"),
    ("a: b\x00c\n", "NUL byte"),
    ("? [a, b]\n: c\n", "mapping keys must be plain strings"),
])
def test_bad_input_is_a_positioned_error(text, message):
    assert message in error_of(text)


def test_non_utf8_and_oversized_input():
    with pytest.raises(UserError, match=r"t.yml:2:4: error: invalid UTF-8 byte 0xff"):
        decode(b"a: 1\nb: \xff\n", "t.yml")
    with pytest.raises(UserError, match="larger than"):
        decode(b"a" * (MAX_BYTES + 1), "t.yml")
    assert decode("\ufeffa: 1\n".encode("utf-8"), "t.yml") == "a: 1\n"


def test_a_redefined_anchor_is_plain_yaml_and_prints_no_python_warning(tmp_path):
    import subprocess
    import sys

    path = tmp_path / "reuse.yml"
    path.write_text("a: &x 1\nb: &x 2\nc: *x\nd: [\n")  # the syntax error sends it through ruamel
    result = subprocess.run([sys.executable, "-m", "pfgen", "validate", str(path)], capture_output=True, text=True)
    assert result.returncode == 2
    assert "Warning" not in result.stderr and "never closed" in result.stderr
    doc = load_text("a: &x 1\nb: &x 2\nc: *x\n", "t.yml")
    assert doc.data == {"a": 1, "b": 2, "c": 2}
