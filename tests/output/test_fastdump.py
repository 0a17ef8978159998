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


@settings(max_examples=1500, deadline=None)
@given(tree=_trees)
def test_direct_nodes_write_what_the_representer_writes(tree):
    assert dump.to_yaml(tree) == dump._represented(dump.canonical(tree))


def test_unusual_values_take_the_reference_path():
    obj = {"spec": {"ratio": 0.5, "inf": float("inf"), "t": (1, 2)}}
    assert dump.to_yaml(obj) == dump._represented(dump.canonical(obj))
    assert "ratio: 0.5" in dump.to_yaml(obj)
