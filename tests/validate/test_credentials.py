"""Credential references: Secret names, types, datastore credentials, plaintext refusal."""

from __future__ import annotations

from pathlib import Path

import pytest

from pfgen.secrets import credentials
from pfgen.validate import plaintext
from pfgen.errors import Collector
from pfgen.load.document import load_file, load_text

FIXTURES = Path(__file__).parent.parent / "fixtures"


def _config(text: str):
    doc = load_text(text, "pfgen.yaml")
    issues = Collector("pfgen.yaml")
    return credentials.parse_config(doc, issues), issues


@pytest.mark.parametrize(
    "name",
    ["regcred", "3fa85f64-5717-4562-b3fc-2c963f66afa6", "a.b-c", "a" * 253, "x"],
)
def test_valid_secret_names_pass(name):
    assert credentials.dns1123_subdomain_problem(name) is None


@pytest.mark.parametrize(
    "name, fragment",
    [
        ("3FA85F64-5717-4562-B3FC-2C963F66AFA6", "use '3fa85f64-5717-4562-b3fc-2c963f66afa6'"),
        ("my_cred", "lower-case letters"),
        ("-lead", "starting and ending"),
        ("trail.", "starting and ending"),
        ("a" * 254, "at most 253"),
        ("", "must not be empty"),
    ],
)
def test_invalid_secret_names_say_why(name, fragment):
    assert fragment in credentials.dns1123_subdomain_problem(name)


@pytest.mark.parametrize(
    "image, host, key",
    [
        ("ubuntu", "docker.io", "https://index.docker.io/v1/"),
        ("acme/trainer:1.0", "docker.io", "https://index.docker.io/v1/"),
        ("docker.io/acme/trainer", "docker.io", "https://index.docker.io/v1/"),
        ("ghcr.io/acme/trainer:1.0", "ghcr.io", "ghcr.io"),
        ("localhost:5000/trainer", "localhost:5000", "localhost:5000"),
        ("registry:5000/trainer", "registry:5000", "registry:5000"),
        ("nvcr.io/nvidia/pytorch@sha256:" + "0" * 64, "nvcr.io", "nvcr.io"),
        ("localhost/trainer", "localhost", "localhost"),
    ],
)
def test_registry_of_an_image_is_what_docker_resolves(image, host, key):
    assert credentials.registry_host(image) == host
    assert credentials.auth_key(host) == key


def test_input_variable_names_are_upper_case_with_underscores():
    field = credentials.KINDS["s3"].fields[1]
    assert credentials.env_var("s3-main.prod", field) == "PFGEN_SECRET_S3_MAIN_PROD_AWS_SECRET_ACCESS_KEY"
    assert credentials.env_var("gcs-key", credentials.KINDS["gcs"].fields[0]) == "PFGEN_SECRET_GCS_KEY_KEY_JSON"


def test_template_references_resolve_to_secrets():
    doc = load_file(FIXTURES / "credentials" / "train" / "pf-template.yml", "pf-template.yml")
    config_doc = load_file(FIXTURES / "credentials" / "pfgen.yaml", "pfgen.yaml")
    issues = Collector("pf-template.yml")
    config = credentials.parse_config(config_doc, issues)
    uses, channel = credentials.resolve(
        doc, config, issues, image="ghcr.io/acme/trainer:1.0", datastores=["imagenet", "corpus", "laion", "other"]
    )
    assert not issues.diagnostics
    assert channel == "#training"
    by_kind = {use.kind: use for use in uses}
    assert sorted(by_kind) == ["azure-blob", "docker", "gcs", "s3", "slack", "wandb"]
    assert by_kind["docker"].registries == ("ghcr.io",)
    assert by_kind["wandb"].secret_name == "wandb"
    assert by_kind["s3"].secret_name == "aws-training"
    assert by_kind["s3"].purpose == "datastore imagenet"
    assert by_kind["azure-blob"].remote_key == "azure/blob-main"
    assert (by_kind["docker"].file, by_kind["docker"].pos) == ("pf-template.yml", (12, 20))
    assert (by_kind["s3"].file, by_kind["s3"].pos) == ("pfgen.yaml", (28, 17))


def test_bad_credential_id_is_a_positioned_error():
    doc = load_text(
        "job_setting:\n  docker:\n    image: acme/x\n    credential_id: My_Cred\nplugin:\n  wandb:\n    credential_id: ok\n",
        "t.yml",
    )
    issues = Collector("t.yml")
    uses, _ = credentials.resolve(doc, credentials.CredentialsConfig(), issues, image="acme/x")
    assert [str(d) for d in issues.diagnostics] == [
        "t.yml:4:20: error: credential_id 'My_Cred' is not a valid Kubernetes Secret name: use lower-case letters, "
        "digits, '-' and '.', starting and ending with a letter or digit"
    ]
    assert [u.id for u in uses] == ["ok"]


def test_credential_declared_with_another_type_is_refused():
    config, issues = _config("credentials:\n  team:\n    type: s3\n")
    doc = load_text("plugin:\n  wandb:\n    credential_id: team\n", "t.yml")
    credentials.resolve(doc, config, issues)
    assert any("declared in pfgen.yaml as type s3, but plugin.wandb needs a wandb credential" in d.message for d in issues.diagnostics)
    assert issues.diagnostics[0].line == 3


def test_config_errors_are_positioned():
    config, issues = _config(
        "secrets:\n  mode: plain\ncredentials:\n  Bad_Id:\n    type: s3\n  good:\n    type: dockerr\n"
        "  ok:\n    type: wandb\ndatastores:\n  imagenet:\n    credential: missing\n  corpus:\n    credential: ok\n"
    )
    messages = [str(d) for d in issues.diagnostics]
    assert "pfgen.yaml:2:9: error: unknown secrets mode 'plain'; use one of env, external, sealed" in messages
    assert any(m.startswith("pfgen.yaml:4:3: error: credential id 'Bad_Id'") for m in messages)
    assert any(m.startswith("pfgen.yaml:7:11: error: unknown credential type 'dockerr'") and "did you mean 'docker'" in m for m in messages)
    assert any(m.startswith("pfgen.yaml:12:17: error: datastore 'imagenet' names credential 'missing'") for m in messages)
    assert any(m.startswith("pfgen.yaml:14:17: error: credential 'ok' is of type wandb") for m in messages)


def test_two_credentials_of_one_storage_kind_in_one_job_are_refused():
    config, issues = _config(
        "credentials:\n  a:\n    type: s3\n  b:\n    type: s3\n"
        "datastores:\n  one:\n    credential: a\n  two:\n    credential: b\n  three:\n    credential: a\n"
    )
    doc = load_text("name: x\n", "t.yml")
    uses, _ = credentials.resolve(doc, config, issues, datastores=["one", "two", "three"])
    assert [u.id for u in uses] == ["a"]
    [problem] = issues.diagnostics
    assert (problem.line, problem.col) == (10, 17)
    assert "two s3 credentials ('a' for datastore one and 'b' for datastore two)" in problem.message


def test_slack_needs_a_channel():
    doc = load_text("plugin:\n  slack:\n    credential_id: bot\n", "t.yml")
    issues = Collector("t.yml")
    credentials.resolve(doc, credentials.CredentialsConfig(), issues)
    assert [str(d) for d in issues.diagnostics] == [
        "t.yml:3:5: error: plugin.slack needs a 'channel' (the channel name, e.g. '#training')"
    ]


# --- plaintext -------------------------------------------------------------------------------


def _plaintext_findings(file: str, where: str) -> dict[tuple[int, int], str]:
    doc = load_file(FIXTURES / "plaintext" / file, file)
    issues = Collector(file)
    plaintext.check(doc, issues, where=where)
    return {(d.line, d.col): d.message for d in issues.diagnostics}


def test_plaintext_secrets_in_a_template_are_refused_where_they_are():
    found = _plaintext_findings("pf-template.yml", "a template")
    assert sorted(found) == [(10, 12), (12, 15), (16, 17), (17, 21)]
    assert "contains a value assigned to WANDB_API_KEY" in found[(10, 12)]
    assert found[(12, 15)].startswith("'password' holds what looks like a secret; secrets never go in a template")
    assert "docs/credentials.md" in found[(12, 15)] and "credential_id" in found[(12, 15)]
    assert "'HF_TOKEN' holds" in found[(16, 17)]
    assert "an AWS access key id" in found[(17, 21)]


def test_plaintext_secrets_in_the_project_config_are_refused():
    found = _plaintext_findings("pfgen.yaml", "pfgen.yaml")
    assert sorted(found) == [(5, 28), (8, 10)]
    assert "'aws_secret_access_key' holds" in found[(5, 28)]
    assert "a PEM private key" in found[(8, 10)]


def test_references_and_ordinary_settings_are_not_secrets():
    doc = load_file(FIXTURES / "credentials" / "pfgen.yaml", "pfgen.yaml")
    issues = Collector("pfgen.yaml")
    plaintext.check(doc, issues, where="pfgen.yaml")
    for template in sorted((FIXTURES / "credentials").glob("*/pf-template.yml")):
        plaintext.check(load_file(template), issues)
    doc = load_text(
        "job_setting:\n  docker:\n    env_var:\n      MAX_TOKENS: '2048'\n      TOKENIZER_PATH: /tok\n"
        "      GOOGLE_APPLICATION_CREDENTIALS: /var/run/key.json\n      SECRET_NAME: x\n"
        "    command: 'python train.py --lr=0.001 --token-budget $BUDGET KEY=$WANDB_API_KEY'\n",
        "t.yml",
    )
    plaintext.check(doc, issues)
    assert issues.diagnostics == []


@pytest.mark.parametrize(
    "text",
    [
        "ghp_" + "a" * 36,
        "xoxb-1234567890-abcdefghij",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
        "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=abcdefghijklmnopqrstuvwxyz0123456789",
        "A" * 86 + "==",
        "--password=supersecretvalue",
    ],
)
def test_credential_shaped_values_are_recognised(text):
    if text.startswith("--"):
        assert plaintext.looks_like_secret("PASSWORD=supersecretvalue")
    else:
        assert plaintext.looks_like_secret(text)
