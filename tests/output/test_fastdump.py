"""dump.to_yaml builds YAML nodes directly (for speed); it must write exactly what
PyYAML's representer (dump._represented, the reference) writes."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from pfgen.output import dump

_scalars = (st.none() | st.booleans() | st.integers(-10**12, 10**12)
            | st.sampled_from(["", "yes", "no", "on", "true", "null", "~", "1", "0x1f", "1e3", "2024-01-01", "=", "<<",
                               "a: b", "- x", "#c", "multi\nline\n", "trailing \nspace", "tab\there", "é ü 漢字", "\x85", "'q'"])
            | st.text(max_size=12))
_keys = st.sampled_from(["apiVersion", "kind", "metadata", "name", "spec", "y", "n", "true", "a b", "1"]) | st.text(max_size=6)
_trees = st.recursive(_scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_keys, inner, max_size=4),
                      max_leaves=15)
# Scripts: the multi-line strings that become literal blocks (or cannot), keys that cannot be simple keys.
_lines = st.text(alphabet=" \t#:-|>'\"\\ab{}[]é\x85\u2028", max_size=8)
_scripts = st.lists(_lines, min_size=1, max_size=5).map("\n".join) | st.sampled_from([
    "set -e\npython train.py\n", "\n\nlead\n", "  indented\nnext\n", "end\n\n\n", "no newline\nat end",
    "\n", "a\n\nb\n", "#!/bin/bash\n  x\n", "x\n \n"])
_long_keys = st.sampled_from(["k" * 99, "k" * 100, "k" * 101, "é" * 51, "a\nb", "- x", "? q", ""])
_script_trees = st.recursive(_scalars | _scripts,
                             lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_keys | _long_keys, inner, max_size=4),
                             max_leaves=12)


@settings(max_examples=1500, deadline=None)
@given(tree=_trees)
def test_direct_nodes_write_what_the_representer_writes(tree):
    assert dump.to_yaml(tree) == dump._represented(dump.canonical(tree))


@settings(max_examples=1500, deadline=None)
@given(tree=_script_trees)
def test_the_direct_writer_writes_scripts_and_odd_keys_as_libyaml_does(tree):
    """dump.to_yaml writes the block structure itself and each scalar as libyaml writes it."""
    assert dump.to_yaml(tree) == dump._represented(dump.canonical(tree))


def test_every_shipped_manifest_is_written_as_libyaml_writes_it():
    """The goldens and examples round-trip: read back, written directly, byte for byte libyaml's."""
    import yaml
    from pathlib import Path

    repo = Path(__file__).resolve().parents[2]
    checked = total = 0
    for path in sorted(repo.glob("tests/golden/**/*.yaml")) + sorted(repo.glob("examples/**/deploy*/**/*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if isinstance(doc, dict) and doc:
                data = dump.canonical(doc)
                total += 1
                assert dump.to_yaml(doc) == dump._represented(data), path
                try:
                    dump._written(data)
                    checked += 1
                except dump._Unusual:  # a float (a Katib goal): PyYAML's representer writes those
                    pass
    assert checked > 50 and checked > 0.8 * total, (checked, total)  # most written directly, not by the fallbacks


def test_unusual_values_take_the_reference_path():
    obj = {"spec": {"ratio": 0.5, "inf": float("inf"), "t": (1, 2)}}
    assert dump.to_yaml(obj) == dump._represented(dump.canonical(obj))
    assert "ratio: 0.5" in dump.to_yaml(obj)


def test_scalars_near_the_width_take_the_fallback():
    """libyaml folds a long plain scalar at its width, counted from the scalar's column."""
    long = "x" * 65_529 + " " + "y" * 9  # fits the probe's line, not the line 8 columns further in
    tree = {"a": {"b": [{"c": {"e": long}}]}}
    assert dump.to_yaml(tree) == dump._represented(dump.canonical(tree))


_names = st.from_regex(r"[a-z][a-z0-9-]{0,62}", fullmatch=True) | st.sampled_from(
    ["yes", "no", "on", "off", "y", "n", "true", "false", "null", "e", "inf", "nan", "a-", "x--y", "job-00094", "a" * 63])


@settings(max_examples=3000, deadline=None)
@given(text=_names, kind=st.sampled_from(["key", "value"]))
def test_names_are_written_as_libyaml_writes_them(text, kind):
    """The shortcut for name-like scalars (dump._NAMELIKE) gives libyaml's own answer."""
    dump._SCALARS.clear()
    assert dump._scalar(kind, text) == dump._probe(kind, text)
