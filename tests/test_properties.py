"""Property tests: arbitrary text in a template keeps its meaning through compile -> YAML -> cluster.

A value can never add a key, a document or a shell command: what the pod
finally sees (after YAML parsing by a YAML 1.1 reader like kubectl's and after
the kubelet's $(VAR) expansion) equals what the template said.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pfgen.errors import UserError
from pfgen.kube.names import k8s_name
from pfgen.kube.operator import kubelet_expand
from pfgen.pipeline import compile_text
from pfgen.kube.rules import dns1035_label

WORK = Path(tempfile.mkdtemp(prefix="pfgen-properties-"))
TEMPLATE = WORK / "pf-template.yml"
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Text as hostile as the YAML and shell layers allow: every code point except
# surrogates (not encodable) and NUL (rejected by the rules, never part of argv/env).
TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=60)
TRICKY = st.sampled_from(
    ["$$", "$(NUM_NODES)", "$(", "${HOME}", "'", '"', "\\", "\n", "\r\n", "\t", " ", "\u2028", "\x85", "#", ": ", "- ",
     "---", "...", "&a", "*a", "!!python/object:x", "{", "}", "[", "]", "|", ">", "%", "@", "`", "yes", "no", "~",
     "null", "0x1F", "1e3", "\ufeff", "\x1b[31m", "}; rm -rf / #", "\n}\necho injected\n{", "EOF"]
)
HOSTILE = st.lists(st.one_of(TEXT, TRICKY), min_size=1, max_size=6).map("".join)


def template(**overrides) -> dict:
    data = {
        "name": "demo",
        "vm": "azure-16gb-v100-4g-eastus-spot",
        "num_devices": 4,
        "job_setting": {"type": "custom", "docker": {"image": "pytorch/pytorch:2.1", "command": "train"}},
    }
    docker = data["job_setting"]["docker"]
    for key, value in overrides.items():
        if key in ("command", "env_var"):
            docker[key] = value
        else:
            data[key] = value
    return data


def compile_data(data: dict):
    # The template text is produced by a serializer (which escapes what YAML cannot hold raw), never by formatting.
    return compile_text(_yaml_text(data), TEMPLATE, "pf-template.yml")


def _yaml_text(data: dict) -> str:
    """JSON is YAML 1.2 (what pfgen reads), except that YAML escapes a character beyond
    U+FFFF as one \\U escape rather than a surrogate pair."""
    def astral(match: "re.Match[str]") -> str:
        high, low = int(match.group(1), 16), int(match.group(2), 16)
        return f"\\U{0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00):08x}"

    return re.sub(r"\\u(d[89ab][0-9a-f]{2})\\u(d[c-f][0-9a-f]{2})", astral, json.dumps(data, ensure_ascii=True))


def parsed_job(job) -> dict:
    """The PyTorchJob as kubectl reads the written file (YAML 1.1), checked to be the only document."""
    documents = [d for d in yaml.safe_load_all(job.files["pytorchjob.yaml"]) if d is not None]
    assert len(documents) == 1
    assert set(documents[0]) == {"apiVersion", "kind", "metadata", "spec"}
    return documents[0]


def pod_container(job: dict) -> dict:
    return job["spec"]["pytorchReplicaSpecs"]["Master"]["template"]["spec"]["containers"][0]


def container_env(container: dict) -> dict[str, str]:
    """Env as the kubelet builds it: in order, each value expanded against the ones before it."""
    env: dict[str, str] = {}
    for item in container["env"]:
        env[item["name"]] = kubelet_expand(item["value"], env)
    return env


def test_kubelet_expansion_model():
    assert kubelet_expand("a$$b", {}) == "a$b"
    assert kubelet_expand("$(X)-$(Y)", {"X": "1"}) == "1-$(Y)"
    assert kubelet_expand("$x $( $", {}) == "$x $( $"


@SETTINGS
@given(value=HOSTILE)
def test_env_value_reaches_the_pod_unchanged(value):
    job = parsed_job(compile_data(template(env_var={"MY_VALUE": value, "AFTER": "x"})))
    env = container_env(pod_container(job))
    assert env["MY_VALUE"] == value
    assert env["AFTER"] == "x"
    user = [item["name"] for item in pod_container(job)["env"]][-2:]
    assert user == ["MY_VALUE", "AFTER"]


def _script(job: dict) -> str:
    container = pod_container(job)
    assert container["command"][:2] == ["bash", "-c"] and len(container["command"]) == 3
    assert "args" not in container
    return kubelet_expand(container["command"][2], container_env(container))


@SETTINGS
@given(run=HOSTILE)
def test_run_command_appears_verbatim_in_the_script(run):
    from pfgen.kube import shellwrap

    if not run.strip():
        return  # a blank command is a user error (covered by the hostile corpus)
    if shellwrap.problem(run):
        with pytest.raises(UserError):  # an unclosed quote or substitution: refused, positioned
            compile_data(template(command=run))
        return
    try:
        job = parsed_job(compile_data(template(command=run)))
    except UserError as exc:
        pytest.fail(f"valid command rejected: {exc}")
    script = _script(job)
    end = shellwrap.scan(run)
    assert script.endswith("{\n" + shellwrap.close(run, group=True) + "}")
    if not (end.heredocs or end.continuation or end.trailing_backslash or end.heredoc_continuation) and end.has_command:
        assert script.endswith("\n" + run.rstrip("\n") + "\n}")  # verbatim (tests/test_shellwrap.py runs the rest)


FAKE_TORCHRUN = '#!/bin/sh\nexec "$PYTHON" -c \'import json, sys; print(json.dumps(sys.argv[1:]))\' "$@"\n'
ARG = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=20) | TRICKY


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(args=st.lists(ARG, max_size=5), setup=st.lists(ARG, max_size=2))
def test_executed_script_passes_torchrun_the_same_argv(args, setup):
    bin_dir = WORK / "bin"
    bin_dir.mkdir(exist_ok=True)
    fake = bin_dir / "torchrun"
    fake.write_text(FAKE_TORCHRUN, encoding="utf-8")
    fake.chmod(0o755)
    command = {"setup": "true " + shlex.join(setup), "run": "torchrun " + shlex.join(args)}
    job = parsed_job(compile_data(template(command=command)))
    env = {"PATH": f"{bin_dir}:{os.environ['PATH']}", "PYTHON": sys.executable, "PET_NODE_RANK": "0",
           **container_env(pod_container(job))}
    result = subprocess.run(["bash", "-c", _script(job)], env=env, capture_output=True, timeout=30, check=False)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == args


@SETTINGS
@given(name=HOSTILE)
def test_a_name_becomes_a_dns1035_label_or_a_clean_error(name):
    try:
        job = parsed_job(compile_data(template(name=name)))
    except UserError as exc:
        assert all(d.line == 1 for d in exc.diagnostics), str(exc)
        return
    generated = job["metadata"]["name"]
    assert dns1035_label(generated) is None, generated
    assert len(generated) <= 48
    labels = job["metadata"]["labels"]
    assert labels["app.kubernetes.io/name"] == generated


@SETTINGS
@given(names=st.lists(HOSTILE, min_size=2, max_size=8, unique=True))
def test_distinct_names_give_distinct_kubernetes_names(names):
    generated = {}
    for name in names:
        result = k8s_name(name)
        if result is None:
            continue
        assert dns1035_label(result) is None, (name, result)
        assert result not in generated, f"{name!r} and {generated.get(result)!r} both become {result!r}"
        generated[result] = name


@SETTINGS
@given(path=HOSTILE)
def test_mount_paths_reach_the_pod_unchanged_or_are_refused(path):
    mount = "/" + path
    data = template(checkpoint={"output_checkpoint_dir": mount})
    try:
        job = parsed_job(compile_data(data))
    except UserError as exc:
        assert all(d.line >= 1 for d in exc.diagnostics)
        return
    container = pod_container(job)
    assert container_env(container)["CKPT_DIR"] == mount


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(env=st.dictionaries(st.from_regex(r"[A-Z][A-Z0-9_]{0,8}", fullmatch=True).filter(lambda k: not k.startswith(("PET_", "KATIB"))),
                           HOSTILE, max_size=8))
def test_output_is_identical_across_runs_and_hash_seeds(env):
    from pfgen.validate.rules import RESERVED_ENV

    env = {k: v for k, v in env.items() if k not in RESERVED_ENV}
    text = _yaml_text(template(env_var=env))
    outputs = set()
    for seed in ("0", "1", "4242"):
        result = subprocess.run(
            [sys.executable, "-m", "pfgen", "render", "-"], input=text.encode("utf-8"), cwd=WORK,
            env={**os.environ, "PYTHONHASHSEED": seed}, capture_output=True, timeout=60, check=False,
        )
        assert result.returncode == 0, result.stderr.decode()
        outputs.add(result.stdout)
    in_process = {compile_text(text, TEMPLATE, "pf-template.yml").files["pytorchjob.yaml"] for _ in range(2)}
    assert len(outputs) == 1 and len(in_process) == 1
    assert re.sub(r"^---\n", "", outputs.pop().decode("utf-8")) == in_process.pop()
