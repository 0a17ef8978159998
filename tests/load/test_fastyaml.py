"""libyaml composition (pfgen/load/fastyaml.py) agrees with ruamel's, which it replaces for speed.

Whatever load_text returns through the fast path (data, every key and value
position, raw scalar text) or reports (the diagnostics) must be what the
ruamel path returns for the same text.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ruamel.yaml.nodes import ScalarNode
from ruamel.yaml.resolver import VersionedResolver

from pfgen.load import fastyaml
from pfgen.load import document as load
from pfgen.errors import UserError

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(not fastyaml.available(), reason="PyYAML built without libyaml: the fast path is off")

_RUAMEL = VersionedResolver(version=(1, 2))


def ruamel_tag(value: str) -> str:
    return str(_RUAMEL.resolve(ScalarNode, value, (True, False)))


def outcome(text: str, fast: bool) -> tuple:
    with pytest.MonkeyPatch.context() as patch:
        if not fast:
            patch.setattr(load, "_compose_fast", lambda text: None)
        try:
            doc = load.load_text(text, "t.yml")
        except UserError as exc:
            return ("error", [str(d) for d in exc.diagnostics])
        except RecursionError:
            return ("recursion",)
    return ("ok", repr(doc.data), doc.values, doc.keys, doc.raw)


def assert_same(text: str) -> None:
    assert outcome(text, True) == outcome(text, False), text


TRICKY = [
    "yes", "no", "on", "off", "y", "n", "Yes", "NO", "true", "True", "TRUE", "false", "null", "Null", "~", "",
    "0", "-0", "+1", "017", "0o17", "0o8", "0x1F", "0xG", "0b101", "1_000", "1__0", "1e3", "1E+3", "1.5e-3", ".5",
    "-.5e+3", "1.", "._5", ".inf", "-.Inf", "+.INF", ".nan", ".NaN", "nan", "inf", "1:20", "1:20:30.5",
    "2001-12-14", "2001-12-14t21:59:43.10-05:00", "2001-12-14 21:59:43.10 -5", "2001-1-1", "=", "<<", "< <",
    "0.1.2", "1e", "e3", "-", "+", ".", "12abc", "0x", "0o", "0b", "TRUE!", "nulls", "Nothing", "\u0661\u0662",
]


@pytest.mark.parametrize("value", TRICKY)
def test_plain_scalar_tags_match_ruamel(value):
    assert fastyaml.resolve_plain(value) == ruamel_tag(value)


@settings(max_examples=3000, deadline=None)
@given(st.text(alphabet="0123456789+-._:eExXoObBtTfFnNuUlaLsAIiyY~<= \t", max_size=12))
def test_generated_plain_scalar_tags_match_ruamel(value):
    assert fastyaml.resolve_plain(value) == ruamel_tag(value)


DOCUMENTS = [
    "a: 1\nb: [1, 2, {c: d}]\n",
    "a: &x {k: v, n: 1}\nb: *x\nc:\n  <<: *x\n  k: override\n",
    "base: &b\n  x: 1\nother:\n  <<: [*b, {y: 2}]\n",
    "a: !!str 12\nb: !!int '7'\nc: !custom x\nd: !!python/object:os.system x\n",
    "a: |\n  line 1\n  line 2\nb: >-\n  folded\n  text\nc: 'single ''quoted'''\nd: \"esc\\taped\\u00e9\"\n",
    "\u00e9t\u00e9: caf\u00e9\n\u6f22\u5b57: [\u3042, \u3044]\nemoji: \U0001F600 x\n",
    "key: value # comment\n# full line\nlist:\n- a\n-   b\n- - nested\n  - seq\n",
    "a: 1\na: 2\n",
    "? complex\n: key\n? [a, b]\n: flow key\n",
    "a: b: c\n",
    "a: [1, 2\n",
    "- top\n- level\n- list\n",
    "just a scalar\n",
    "---\na: 1\n---\nb: 2\n",
    "%YAML 1.1\n---\na: yes\n",
    "%TAG !e! tag:example.com,2000:\n---\na: !e!foo x\n",
    "a: *undefined\n",
    "a: =\nb: <<\nc: 2001-12-14\nd: 0o17\ne: 0x1f\nf: 1_000\ng: .inf\nh: 017\n",
    "a: 'x'\n? b\n",
    "a:\n  - b\n  -\n  - ~\nc:\n",
    "a: {b: {c: {d: {e: [[[[1]]]]}}}}\n",
    "{a: 1, b: 2}\n",
    "a: 1\r\nb: 2\r\n",
    "a:    spaced    \nb: \"\"\nc: ''\n",
    "a: !!binary aGVsbG8=\nb: !!set {x}\nc: !!omap [a: 1]\n",
    "a: @reserved\n",
    "a: `x`\n",
    "\ufeffa: bom\n",
    "a: 1\n...\n",
    "a: x\n  b: y\n",
    "x: &a [*a]\n",
]


@pytest.mark.parametrize("text", DOCUMENTS)
def test_documents_load_the_same(text):
    assert_same(text)


def _files() -> list[Path]:
    found = sorted(ROOT.glob("examples/**/*.y*ml")) + sorted(ROOT.glob("tests/**/*.y*ml"))
    return [p for p in found if "deploy" not in p.parts]


def test_repository_yaml_files_load_the_same():
    files = _files()
    assert files
    for path in files:
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue  # rejected before composition (fixtures of bad encodings)
        assert_same(text)


def test_generated_monorepo_templates_load_the_same(tmp_path):
    from test_benchmark_smoke import load_generator

    paths = load_generator().generate(tmp_path / "repo", 150, seed=7)
    for path in paths + [tmp_path / "repo" / "pfgen.yaml"]:
        assert_same(path.read_text(encoding="utf-8"))


_scalar_text = st.one_of(
    st.sampled_from(TRICKY),
    st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=10),
)
_key = st.text(alphabet="abcxyz_-. 019:#&*!|>'\"{}[],?", min_size=1, max_size=6)


def _render(value, indent: int = 0) -> str:
    """YAML-ish text, deliberately loose: half the outputs are invalid YAML, which both paths must reject alike."""
    pad = " " * indent
    if isinstance(value, dict):
        if not value:
            return "{}\n"
        lines = []
        for key, item in value.items():
            if isinstance(item, (dict, list)) and item:
                lines.append(f"{pad}{key}:\n{_render(item, indent + 2)}")
            else:
                lines.append(f"{pad}{key}: {_render(item, indent + 2).strip()}\n")
        return "".join(lines)
    if isinstance(value, list):
        if not value:
            return "[]\n"
        return "".join(f"{pad}- {_render(item, indent + 2).lstrip()}" if not isinstance(item, dict) or not item
                       else f"{pad}-\n{_render(item, indent + 2)}" for item in value)
    return f"{value}\n"


_tree = st.recursive(_scalar_text, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(_key, inner, max_size=3)), max_leaves=10)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tree=st.dictionaries(_key, _tree, min_size=1, max_size=4))
def test_generated_documents_load_the_same(tree):
    assert_same(_render(tree))


def test_the_fast_path_is_really_taken(monkeypatch):
    calls = []
    monkeypatch.setattr(load, "_compose_ruamel", lambda text, file: calls.append(text))
    doc = load.load_text("a: 1\nb: yes\n", "t.yml")
    assert doc.data == {"a": 1, "b": "yes"} and calls == []


def _lines(alphabet: str):
    line = st.builds(lambda indent, body: " " * indent + body, st.integers(0, 6), st.text(alphabet=alphabet, max_size=14))
    return st.lists(line, min_size=1, max_size=6).map(lambda lines: "\n".join(lines) + "\n")


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=_lines("ab1 :-?,[]{}#'\"|>.\\e~n&*!%@`=<+0x"))
def test_fuzzed_yaml_syntax_loads_the_same(text):
    assert_same(text)


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=_lines("ab1 :-?,[]{}#\"|>.e~\r\x85\u2028\ufeff\x7f\x01\xe9\U0001F600\u00a0-\t"))
def test_fuzzed_odd_characters_load_the_same(text):
    assert_same(text)
