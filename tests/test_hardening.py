"""Issue 16 (part B): inputs that used to end in a traceback, or compiled to the wrong type, are
positioned user errors now (exit 2, `path:line:col: error:`, or `pfgen: error:` for the
environment). Each case runs the real CLI in a subprocess."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent
CREDENTIALS = HERE / "fixtures" / "credentials"
TEMPLATE = """name: demo
vm: azure-16gb-v100-4g-eastus-spot
num_devices: {devices}
job_setting:
  type: custom
  docker:
    image: pytorch/pytorch:2.1
    command: {command}
data:
  name: my-data
  mount_path: /data
"""


def pfgen(*args: str, cwd: Path, env: dict | None = None, prelude: str = "pass") -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("PFGEN_SECRET_")}
    environ.update(env or {})
    code = f"import sys; {prelude}; sys.argv = ['pfgen', *sys.argv[1:]]; from pfgen.cli.main import main; main()"
    return subprocess.run([sys.executable, "-c", code, *args], cwd=cwd, env=environ, capture_output=True, timeout=120)


def refused(result: subprocess.CompletedProcess, prefix: str, message: str) -> None:
    err = result.stderr.decode("utf-8", "backslashreplace")
    assert "Traceback" not in err, err
    assert result.returncode == 2, err
    assert any(line.startswith(prefix) and message in line for line in err.splitlines()), err
    assert result.stdout == b""


def write(tmp_path: Path, devices: str = "4", command: str = "torchrun --nproc_per_node 4 train.py", extra: str = "") -> Path:
    (tmp_path / "pf-template.yml").write_text(TEMPLATE.format(devices=devices, command=command) + extra, encoding="utf-8")
    return tmp_path


@pytest.mark.parametrize("command", [["validate"], ["build", "-o", "out"], ["render", "pf-template.yml"]])
@pytest.mark.parametrize("devices, shown, hint", [("4.0", "4.0", "; write 4"), ("4e0", "4e0", "; write 4"),
                                                  ("4.5", "4.5", ""), (".inf", ".inf", "")])
def test_a_float_where_an_integer_belongs_is_an_error(tmp_path, command, devices, shown, hint):
    result = pfgen(*command, cwd=write(tmp_path, devices))
    refused(result, "pf-template.yml:3:14: error: ", f"num_devices: expected an integer, got {shown}{hint}")
    assert not (tmp_path / "out").exists()


def test_dist_degrees_are_integers(tmp_path):
    extra = "dist:\n  dp_degree: 2.0\n  pp_degree: 2\n  mp_degree: 1\n"
    refused(pfgen("build", "-o", "out", cwd=write(tmp_path, extra=extra)),
            "pf-template.yml:13:14: error: ", "dist.dp_degree: expected an integer, got 2.0; write 2")
    assert not (tmp_path / "out").exists()


def test_config_integers_are_integers(tmp_path):
    write(tmp_path).joinpath("pf-template.yml").write_text(
        TEMPLATE.format(devices="4", command="train").replace("azure-16gb-v100-4g-eastus-spot", "box"), encoding="utf-8")
    (tmp_path / "pfgen.yaml").write_text("vms:\n  box:\n    gpus: 4.0\n    gpu_memory_gb: 8e1\n", encoding="utf-8")
    result = pfgen("validate", cwd=tmp_path)
    refused(result, "pfgen.yaml:3:11: error: ", "vms.box.gpus: expected an integer, got 4.0; write 4")
    refused(result, "pfgen.yaml:4:20: error: ", "vms.box.gpu_memory_gb: expected an integer, got 8e1; write 80")


@pytest.mark.parametrize("digits", ["9" * 5000, "0x" + "f" * 6000, "-" + "1" * 4301])
def test_integers_beyond_pythons_digit_limit_are_an_error(tmp_path, digits):
    refused(pfgen("validate", cwd=write(tmp_path, digits)), "pf-template.yml:3:14: error: ", "digits, more than 64")


@pytest.mark.parametrize("port", ["9" * 5000, "0" * 5000 + "1" * 7])
def test_a_master_port_beyond_the_digit_limit_is_an_error(tmp_path, port):
    result = pfgen("build", "-o", "out", cwd=write(tmp_path, command=f"torchrun --master_port {port} train.py"))
    refused(result, "pf-template.yml:8:14: error: ", "is not a TCP port (1-65535)")
    assert not (tmp_path / "out").exists()


def test_a_port_with_leading_zeros_is_still_a_port(tmp_path):
    result = pfgen("render", "pf-template.yml", cwd=write(tmp_path, command="torchrun --master_port 0006000 train.py"))
    assert result.returncode == 0, result.stderr
    assert b"containerPort: 6000" in result.stdout


@pytest.mark.parametrize("escape, code", [("\\ud800", "D800"), ("\\udfff", "DFFF"), ("\\u202e", "202E"), ("\\u2066", "2066")])
def test_lone_surrogates_and_bidi_controls_are_refused(tmp_path, escape, code):
    for command in (["validate"], ["build", "-o", "out"], ["render", "pf-template.yml"]):
        result = pfgen(*command, cwd=write(tmp_path, command=f'"echo {escape} ok"'))
        refused(result, "pf-template.yml:8:14: error: ", f"string contains U+{code}")
    assert not (tmp_path / "out").exists()


def test_a_raw_bidi_override_in_a_key_or_env_value_is_refused(tmp_path):
    extra = "    env_var:\n      MODE: \"fast\u202e\"\n"
    text = TEMPLATE.format(devices="4", command="train").replace("data:\n", extra + "data:\n", 1)
    (tmp_path / "pf-template.yml").write_text(text, encoding="utf-8")
    refused(pfgen("validate", cwd=tmp_path), "pf-template.yml:10:13: error: ", "string contains U+202E, a bidirectional control")


@pytest.fixture()
def project(tmp_path: Path) -> Path:
    target = tmp_path / "project"
    shutil.copytree(CREDENTIALS, target)
    return target


def test_seal_without_cryptography_is_an_environment_error(project, tmp_path):
    cert = tmp_path / "cert.pem"
    cert.write_text("-----BEGIN CERTIFICATE-----\n", encoding="utf-8")
    result = pfgen("secrets", "--seal", "--cert", str(cert), "gcs-job", cwd=project,
                   prelude="sys.modules['cryptography'] = None")
    refused(result, "pfgen: error: ", "needs the Python package 'cryptography', which is not installed")
    assert "pfgen[seal]" in result.stderr.decode()


def test_a_secret_value_that_is_not_utf8_is_an_error_that_does_not_show_it(project):
    sys.path.insert(0, str(HERE / "secrets"))
    from test_secrets import VALUES

    env = {k.encode(): v.encode() for k, v in VALUES.items()}
    env[b"PFGEN_SECRET_WANDB_TEAM_API_KEY"] = b"key-\xff\xfe-tail"
    environ = {k.encode(): v.encode() for k, v in os.environ.items() if not k.startswith("PFGEN_SECRET_")}
    environ.update(env)
    result = subprocess.run([sys.executable, "-m", "pfgen", "secrets"], cwd=project, env=environ, capture_output=True, timeout=120)
    refused(result, "", "environment variable PFGEN_SECRET_WANDB_TEAM_API_KEY is not valid UTF-8 text")
    assert b"key-" not in result.stderr


# --- values with a final line break pass no `$`-anchored check (Python's `$` matches before it) ---

NEWLINE_CASES = [
    ("    credential_id: \"my-pull\\n\"\n", "", "pf-template.yml:9:20: error: ", "job_setting.docker.credential_id: 'my-pull\\n' is not a valid Kubernetes Secret name"),
    ("    env_var:\n      \"FOO\\n\": x\n", "", "pf-template.yml:10:7: error: ", "env_var: 'FOO\\n' is not a valid variable name"),
    ("", "checkpoint:\n  input:\n    id: \"ckpt\\n\"\n    mount_path: /ckpt\n", "pf-template.yml:14:9: error: ", "checkpoint.input.id: 'ckpt\\n' is not a PersistentVolumeClaim name"),
]


@pytest.mark.parametrize("docker, tail, prefix, message", NEWLINE_CASES)
def test_a_final_line_break_is_not_a_valid_name(tmp_path, docker, tail, prefix, message):
    text = TEMPLATE.format(devices="4", command="train").replace("data:\n", docker + "data:\n", 1) + tail
    (tmp_path / "pf-template.yml").write_text(text, encoding="utf-8")
    for command in (["validate"], ["build", "-o", "out"]):
        refused(pfgen(*command, cwd=tmp_path), prefix, message)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("config, prefix, message", [
    ('namespace: "ml\\n"\n', "pfgen.yaml:1:12: error: ", "namespace: 'ml\\n' must be a DNS-1123 label"),
    ('placement:\n  gpu_resource: "nvidia.com/gpu\\n"\n', "pfgen.yaml:2:17: error: ", "placement.gpu_resource: 'nvidia.com/gpu\\n' is not an extended resource name"),
    ('placement:\n  node_selector:\n    "<<": x\n', "pfgen.yaml:3:5: error: ", "placement.node_selector: '<<' is not a Kubernetes label key"),
    ('placement:\n  node_selector:\n    pool: "gpu\\n"\n', "pfgen.yaml:3:11: error: ", "placement.node_selector.pool: 'gpu\\n' is not a Kubernetes label value"),
    ('vms:\n  box:\n    gpus: 4\n    node_selector:\n      "pool\\n": a\n', "pfgen.yaml:5:7: error: ", "vms.box.node_selector: 'pool\\n' is not a Kubernetes label key"),
])
def test_pfgen_yaml_values_with_a_final_line_break_are_refused(tmp_path, config, prefix, message):
    write(tmp_path)
    (tmp_path / "pfgen.yaml").write_text(config, encoding="utf-8")
    refused(pfgen("validate", cwd=tmp_path), prefix, message)


def test_names_and_patterns_use_the_end_of_input():
    from pfgen.kube import names
    from pfgen.validate import rules
    from pfgen.validate.fastschema import ecma_regex

    assert names.k8s_name("abc\n") != "abc\n" and names.is_dns1123_subdomain("a.b") and not names.is_dns1123_subdomain("a.b\n")
    assert not rules.ENV_NAME.match("FOO\n")
    assert ecma_regex("^[a-z]+$").search("abc") and not ecma_regex("^[a-z]+$").search("abc\n")
    assert ecma_regex(r"^[$]\$$").search("$$") and ecma_regex(r"^[]$]$").search("$")


def test_bounded_reads_return_what_one_read_of_the_bound_does(tmp_path):
    """safefs.read_at_most asks for the file's size (by fstat) and one byte, not for the whole bound
    (a buffered read allocates what it is asked for); a file that grew since, or a size that is
    wrong, still reads as ``read(limit + 1)`` would."""
    import random

    from pfgen.safefs import read_at_most

    rng = random.Random(5)
    path = tmp_path / "f"
    for _ in range(300):
        limit = rng.choice([0, 1, 7, 64, 1000])
        length = rng.randint(0, 2 * limit + 2)
        path.write_bytes(bytes(rng.randrange(256) for _ in range(length)))
        size = rng.choice([0, length, max(0, length - 1), length // 2, limit, limit + 5])  # the fstat, or a stale one
        fd = os.open(path, os.O_RDONLY)
        try:
            got = read_at_most(fd, limit, size)
        finally:
            os.close(fd)
        with open(path, "rb") as handle:
            assert got == handle.read(limit + 1), (limit, length, size)
