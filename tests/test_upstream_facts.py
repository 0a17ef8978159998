"""Upstream facts are defined once, in their home module, and nowhere else in pfgen.

A fact is a public upper-case constant of a home module (``HOMES``): a string (a name
such as the container ``pytorch``, a regex's text), a compiled regex, or a tuple of
strings (Katib's algorithms, the sealing scopes). Any other pfgen module that writes
the same string literal, the same regex (also with its character classes spelt in
another order, or other anchors), or a literal tuple/list/set of the same strings,
defines it again and fails here: import it from its home instead.
"""

from __future__ import annotations

import ast
import re
import warnings
from pathlib import Path

import pytest

import pfgen
from pfgen.kube import katib, names
from pfgen.secrets import seal

PACKAGE = Path(pfgen.__file__).resolve().parent

# home module -> the constants it owns (None: every public upper-case constant it assigns)
HOMES = {
    names: None,
    katib: None,
    seal: ("SCOPES",),
}

_CLASS = re.compile(r"\[(\^?)((?:\\.|[^\]\\])+)\]")
_PRINTABLE = [chr(c) for c in range(32, 127)]


def _canonical(text: str) -> str:
    """The text with each character class written as the sorted ASCII it matches, without ^/\\Z/$ anchors."""
    def members(match: re.Match) -> str:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FutureWarning)  # text that only looks like a class
                chars = [c for c in _PRINTABLE if re.fullmatch(match.group(0), c)]
        except re.error:
            return match.group(0)
        return "[" + "".join(chars) + "]"

    text = _CLASS.sub(members, text)
    text = text.removeprefix("^")
    for end in ("\\Z", "$"):
        text = text.removesuffix(end)
    return text


def _assigned(tree: ast.Module) -> list[str]:
    found = []
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
        found += [t.id for t in targets if isinstance(t, ast.Name) and t.id.isupper() and not t.id.startswith("_")]
    return found


def _facts() -> dict:
    """canonical value (str) or frozenset of strings -> (home file, constant name)."""
    facts: dict = {}
    for module, owned in HOMES.items():
        path = Path(module.__file__).resolve()
        for name in owned or _assigned(ast.parse(path.read_text(encoding="utf-8"))):
            value = getattr(module, name)
            if isinstance(value, re.Pattern):
                facts[_canonical(value.pattern)] = (path, name)
            elif isinstance(value, str):
                facts[_canonical(value)] = (path, name)
            elif isinstance(value, tuple) and value and all(isinstance(v, str) for v in value):
                facts[frozenset(value)] = (path, name)
    return facts


def redefinitions(source: str, facts: dict, home: Path | None = None) -> list[tuple[int, str]]:
    """(line, constant) for each literal in ``source`` that is a fact whose home is not ``home``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        key = None
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            key = _canonical(node.value)
        elif isinstance(node, (ast.Tuple, ast.List, ast.Set)) and node.elts \
                and all(isinstance(e, ast.Constant) and isinstance(e.value, str) for e in node.elts):
            key = frozenset(e.value for e in node.elts)
        if key in facts and facts[key][0] != home:
            found.append((node.lineno, facts[key][1]))
    return found


def test_facts_are_found():
    facts = _facts()
    owners = {name for _, name in facts.values()}
    assert {"CONTAINER", "PORT_NAME", "DNS1123_LABEL", "DNS1123_SUBDOMAIN", "DNS1035", "LABEL_VALUE",
            "ALGORITHMS", "TRIAL_PARAMETER", "DEFAULT_FILTER", "SCOPES"} <= owners


def test_no_fact_is_defined_outside_its_home():
    facts = _facts()
    broken = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for line, name in redefinitions(path.read_text(encoding="utf-8"), facts, path.resolve()):
            home = next(p for p, n in facts.values() if n == name)
            broken.append(f"  {path.relative_to(PACKAGE.parent)}:{line}: {name} (defined in "
                          f"{home.relative_to(PACKAGE.parent)}; import it)")
    assert not broken, "upstream facts defined again:\n" + "\n".join(broken)


@pytest.mark.parametrize("source, name", [
    ('CONTAINER = "pytorch"', "CONTAINER"),
    ('if c["name"] == "pytorchjob-port": pass', "PORT_NAME"),
    (r'LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?\Z")', "DNS1123_LABEL"),
    (r'PORT = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$")', "DNS1123_LABEL"),  # another spelling, same rule
    (r'REF = re.compile(r"\$\{trialParameters\.(.+?)\}")', "TRIAL_PARAMETER"),
    ('KNOWN = ("random", "tpe", "grid", "hyperband", "bayesianoptimization", "cmaes", "sobol",'
     ' "multivariate-tpe", "enas", "darts", "pbt")', "ALGORITHMS"),
    ('SCOPES = ["cluster-wide", "strict", "namespace-wide"]', "SCOPES"),
])
def test_a_redefinition_is_caught(source, name):
    assert [n for _, n in redefinitions(source, _facts())] == [name]


def test_other_literals_pass():
    source = 'x = ("random", "tpe")\ny = "pytorch/pytorch:2.3.1"\nz = re.compile(r"^[a-z]+\\Z")\n'
    assert redefinitions(source, _facts()) == []
