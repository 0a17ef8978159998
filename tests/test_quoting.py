"""The dumper's plain scalars read back as the strings they are (issue 16).

Generated strings (number-, bool-, null- and timestamp-like, with go-yaml's underscore rule in
mind) are dumped by pfgen's one dumper as values and as keys of one object, and that file is read
back by the real `kubectl kustomize` (go-yaml v3 in, sigs.k8s.io/yaml through JSON out, the same
resolution `kubectl apply` uses), in one run for all of them. Kustomize writes back through JSON:
a value it took for a number, boolean or null comes out as that JSON value (`1`, `0.5`, `true`),
a string comes out as a string (quoted where go-yaml would misread it). Each must come back as
the same string. PyYAML (YAML 1.1) and ruamel (YAML 1.2) must read our output back the same too.
"""

from __future__ import annotations

import random
import re
import shutil
import subprocess

import pytest
import yaml

from pfgen.output import dump

ALPHABET = "0123456789_+-.:eExXoObBaAfFiInNtTyYlLsSuU~=<> "
SEEDS = [
    "0_x1", "0_b1", "0_o7", "-_1", "+.5_", ".5_", "1_000", "0x_1", "_1", "1_", "-0_b1", "+0_o_7", "0o7", "0b1",
    "0x1F", "1e5", "1E+5", "-1.5e-3", "1:20", "1_0:3_0", ".inf", "+.INF", "-.Inf", ".NaN", "~", "null", "Null",
    "yes", "No", "on", "OFF", "y", "n", "true", "FALSE", "<<", "=", "2001-01-01", "2001-1-1", "2001-12-14t21:59:43.10-05:00",
    "2001-12-14 21:59:43.10", "08", "09.5", "0_8", "1.2.3", "v1", "1a", "0x", "0xg", "-", "+", "_", ".", "..", "-.", "+_",
    "6000", "0", "-0", "+0", "00", "0.", "1.", "9" * 30, "0x" + "f" * 20, "1__2", "_._", "4.0", "4e0",
]


def generated(count: int = 3000, seed: int = 16) -> list[str]:
    rng = random.Random(seed)
    values = set(SEEDS)
    while len(values) < count:
        text = "".join(rng.choice(ALPHABET) for _ in range(rng.randint(1, 7))).strip()
        if text and not text.startswith(("#", "- ", "? ", ": ")) and ": " not in text and " #" not in text:
            values.add(text)
    return sorted(values)


# What kustomize (sigs.k8s.io/yaml's JSON->YAML) writes plain for a JSON number, boolean or null.
_JSON_SCALAR = re.compile(r"-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?|true|false|null")


def _document(values: list[str]) -> dict:
    return {
        "apiVersion": "example.com/v1", "kind": "Probe", "metadata": {"name": "quoting"},
        # "<<" is left out of the keys: kustomize (kyaml) takes even a quoted "<<" key for a merge
        # key and drops it, so no quoting can carry it; pfgen never emits one (validated names only).
        "spec": {"values": values, "keys": {value: "k" for value in values if value != "<<"}},
    }


def _strings_as_read(text: str) -> tuple[list[object], list[object]]:
    """spec.values and spec.keys of kustomize's output, each item as the type kustomize wrote it."""
    root = yaml.compose(text)

    def child(node, key):
        return next(v for k, v in node.value if k.value == key)

    def typed(node):
        if node.style in ("'", '"') or not _JSON_SCALAR.fullmatch(node.value):
            return node.value
        return ("non-string", node.value)

    spec = child(root, "spec")
    return [typed(n) for n in child(spec, "values").value], [typed(k) for k, _ in child(spec, "keys").value]


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed (CI has it)")
def test_generated_strings_survive_kubectl_kustomize(tmp_path):
    values = generated()
    (tmp_path / "probe.yaml").write_text(dump.to_yaml(_document(values)), encoding="utf-8")
    (tmp_path / "kustomization.yaml").write_text("resources:\n- probe.yaml\n", encoding="utf-8")
    result = subprocess.run(["kubectl", "kustomize", str(tmp_path)], capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    read_values, read_keys = _strings_as_read(result.stdout)
    changed = [(v, r) for v, r in zip(values, read_values) if v != r]
    assert not changed, f"{len(changed)} values changed type or text in kustomize, e.g. {changed[:10]}"
    changed_keys = sorted(set(read_keys) ^ (set(values) - {"<<"}), key=str)
    assert not changed_keys, f"keys changed in kustomize: {changed_keys[:10]}"
    assert len(read_values) == len(values)


def test_the_oracle_sees_a_type_change(tmp_path):
    """Written plain on purpose, the underscore cases do come back as numbers: the test above can fail."""
    if shutil.which("kubectl") is None:
        pytest.skip("kubectl is not installed (CI has it)")
    plain = "apiVersion: example.com/v1\nkind: Probe\nmetadata:\n  name: quoting\nspec:\n  values:\n" + \
        "".join(f"  - {v}\n" for v in ["0_x1", "0_b1", "0_o7", "-_1", "+.5_", "abc"]) + "  keys:\n    x: k\n"
    (tmp_path / "probe.yaml").write_text(plain, encoding="utf-8")
    (tmp_path / "kustomization.yaml").write_text("resources:\n- probe.yaml\n", encoding="utf-8")
    out = subprocess.run(["kubectl", "kustomize", str(tmp_path)], capture_output=True, text=True, timeout=120, check=True).stdout
    values, _ = _strings_as_read(out)
    assert values[:5] == [("non-string", "1"), ("non-string", "1"), ("non-string", "7"), ("non-string", "-1"), ("non-string", "0.5")]
    assert values[5] == "abc"


def test_generated_strings_read_back_under_yaml_1_1_and_1_2():
    from ruamel.yaml import YAML

    values = generated()
    text = dump.to_yaml(_document(values))
    assert yaml.safe_load(text)["spec"]["values"] == values
    assert list(yaml.safe_load(text)["spec"]["keys"]) == [v for v in values if v != "<<"]
    assert YAML(typ="safe", pure=True).load(text)["spec"]["values"] == values


@pytest.mark.parametrize("text", ["abc", "v1", "1a", "0xg", "_1", "-", "my-data", "pytorch/pytorch:2.1", "1.2.3-rc", "1_a"])
def test_plain_stays_plain_where_nothing_misreads_it(text):
    assert not dump.needs_quotes(text)


@pytest.mark.parametrize("text", ["0_x1", "0_b1", "0_o7", "-_1", "+.5_", ".5_", "1_0:3_0", "4e0", "0x"])
def test_number_like_strings_are_quoted(text):
    assert dump.needs_quotes(text)
    assert dump.to_yaml({"v": text}) == f'v: "{text}"\n'

