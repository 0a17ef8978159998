"""No input makes pfgen crash (issue 16): a tested property over a generated corpus.

A seeded mutator takes the real templates and pfgen.yaml files (examples/, the 34 public PeriFlow
SDK templates, the credential fixtures) and damages them the way hostile or careless input
does: a value swapped for a float where an integer belongs, an integer past Python's digit
limit, a lone surrogate or a bidi control (as YAML escapes), a final line break, a
number-like string, a tag, a list or mapping where a scalar belongs, a deleted or duplicated
key, a truncated or byte-flipped file. Each mutant goes through validate, render, build, lint
(of a deploy/ tree holding mutated YAML) and secrets, in process (click's runner), and every
run must end in exit 0, 1 or 2 with no exception escaping: a user error, never a traceback.
"""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from pfgen.cli.main import main

ROOT = Path(__file__).resolve().parent.parent
HOSTILE_VALUES = [
    "4.0", "4e0", ".inf", "-.nan", "1e308", "9" * 4400, "0x" + "f" * 80, "-" + "1" * 70, "0_x1", "-_1", "+.5_", "yes", "~",
    '"\\ud800"', '"a\\udfff"', '"\\u202e"', '"x\\u2066y"', '"name\\n"', '"\\t"', '""', "[]", "{}", "[1, [2, {a: b}]]",
    "!!binary aGVsbG8=", "!!python/object/apply:os.system ['true']", "&a x", "*nope", "'it''s'", '"$(whoami)"',
    '"echo \'open"', '"cat <<EOF\\nx \\\\"', '"train.py \\\\"', '"--password hunter22"', '"https://u:p@h/x"',
    "2001-01-01", "null", "true", "-1", "0", "65536", "70000", '"' + "x" * 3000 + '"', '"a\\u0000b"', '"../../etc/passwd"',
    '"/proc/self/environ"', "'{{ 7*7 }}'", '"${trialParameters.nope}"', '"<<"',
]


SENSITIVE = {"num_devices", "dp_degree", "pp_degree", "mp_degree", "command", "run", "setup", "name", "id", "credential_id",
             "gpus", "gpu_memory_gb", "namespace", "image", "mount_path", "max_trials", "parallel_trials", "replicas",
             "containerPort", "nprocPerNode"}


def sources() -> list[tuple[str, str]]:
    """(kind, text) of every real input file: 'template' or 'config'."""
    found = []
    for path in sorted((ROOT / "examples").rglob("*")) + sorted((ROOT / "tests" / "corpus" / "periflow-sdk").rglob("*.yml")) \
            + sorted((ROOT / "tests" / "fixtures" / "credentials").rglob("*")):
        if path.name in ("pf-template.yml", "pf-template.yaml", "pf_config.yml") or (path.suffix == ".yml" and "periflow-sdk" in path.parts):
            found.append(("template", path.read_text(encoding="utf-8")))
        elif path.name == "pfgen.yaml":
            found.append(("config", path.read_text(encoding="utf-8")))
    return found


def mutate(text: str, rng: random.Random) -> str:
    lines = text.splitlines(keepends=True)
    values = [i for i, line in enumerate(lines) if ":" in line and not line.lstrip().startswith("#")]
    kind = rng.randrange(8)
    if kind <= 3 and values:  # swap a value, half the time one of the keys the issue found crashing
        sensitive = [i for i in values if lines[i].split(":", 1)[0].strip() in SENSITIVE]
        i = rng.choice(sensitive if sensitive and rng.random() < 0.5 else values)
        head = lines[i].split(":", 1)[0]
        lines[i] = f"{head}: {rng.choice(HOSTILE_VALUES)}\n"
    elif kind == 4 and values:  # delete a line (a key, or part of a block)
        del lines[rng.choice(values)]
    elif kind == 5 and values:  # duplicate a line
        i = rng.choice(values)
        lines.insert(i, lines[i])
    elif kind == 6:  # truncate
        return text[: rng.randrange(len(text) + 1)]
    else:  # damage one character
        if text:
            i = rng.randrange(len(text))
            return text[:i] + rng.choice(["\t", "\x00", "\x85", "\ufeff", "'", '"', "{", "[", ":", "\n", "&", "*", "!", "|"]) + text[i + 1:]
    return "".join(lines)


def mutants(count: int, seed: int) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    pool = sources()
    out = []
    for _ in range(count):
        kind, text = rng.choice(pool)
        for _ in range(rng.randint(1, 3)):
            text = mutate(text, rng)
        out.append((kind, text))
    return out


BASE_TEMPLATE = (ROOT / "tests" / "fixtures" / "credentials" / "train" / "pf-template.yml")


def lay_out(tmp: Path, kind: str, text: str) -> Path:
    project = tmp / "project"
    if project.exists():
        shutil.rmtree(project)
    project.mkdir()
    if kind == "template":
        (project / "pf-template.yml").write_text(text, encoding="utf-8", errors="surrogatepass")
    else:
        shutil.copyfile(BASE_TEMPLATE, project / "pf-template.yml")
        (project / "pfgen.yaml").write_text(text, encoding="utf-8", errors="surrogatepass")
    return project


def run(args: list[str], cwd: Path, monkeypatch) -> None:
    monkeypatch.chdir(cwd)
    result = CliRunner().invoke(main, args, catch_exceptions=True)
    crashed = result.exception is not None and not isinstance(result.exception, SystemExit)
    assert not crashed, f"pfgen {' '.join(args)} raised {result.exception!r}:\n{cwd / 'pf-template.yml'}"
    assert result.exit_code in (0, 1, 2), (args, result.exit_code, result.output)
    assert "Traceback" not in result.output


COUNT, CHUNKS = 240, 6


@pytest.mark.parametrize("chunk", range(CHUNKS))
def test_no_mutant_crashes_validate_render_build_secrets(chunk, tmp_path, monkeypatch):
    monkeypatch.setenv("PFGEN_CACHE_DIR", str(tmp_path / "cache"))
    for key in [k for k in __import__("os").environ if k.startswith("PFGEN_SECRET_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("PFGEN_SECRET_WANDB_TEAM_API_KEY", "k\udcff")  # a non-UTF-8 value as os.environ holds it
    for kind, text in mutants(COUNT, 16)[chunk::CHUNKS]:
        project = lay_out(tmp_path, kind, text)
        run(["validate"], project, monkeypatch)
        run(["render", "pf-template.yml"], project, monkeypatch)
        run(["build", "-o", str(tmp_path / "out")], project, monkeypatch)
        run(["secrets"], project, monkeypatch)


@pytest.mark.parametrize("chunk", range(2))
def test_no_mutated_manifest_crashes_lint(chunk, tmp_path, monkeypatch):
    golden = sorted((ROOT / "examples").rglob("deploy/*/*.yaml"))
    assert golden
    rng = random.Random(1600 + chunk)
    for _ in range(60):
        deploy = tmp_path / "deploy"
        if deploy.exists():
            shutil.rmtree(deploy)
        (deploy / "job").mkdir(parents=True)
        text = rng.choice(golden).read_text(encoding="utf-8")
        for _ in range(rng.randint(1, 3)):
            text = mutate(text, rng)
        (deploy / "job" / "pytorchjob.yaml").write_text(text, encoding="utf-8", errors="surrogatepass")
        run(["lint", str(deploy)], tmp_path, monkeypatch)


def test_the_mutants_are_hostile():
    """The corpus is not a rubber stamp: the mutants differ, and the issue's inputs occur in them."""
    texts = mutants(COUNT, 16)
    assert len({t for _, t in texts}) > COUNT * 0.9
    assert sum("4.0" in t or "4e0" in t for _, t in texts) >= 3
    assert sum("\\ud800" in t or "\\u202e" in t for _, t in texts) >= 3
    assert {k for k, _ in texts} == {"template", "config"}
