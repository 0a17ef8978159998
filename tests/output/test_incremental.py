"""A build after a few files changed, narrowed down by the whole-build record (pfgen/output/incremental.py),
writes and reports exactly what the per-job build writes and reports.

Each test makes the record (two builds), changes something, and runs the same command twice on the
same state: once with the record (the incremental path must have decided, or must have declined), once
with the records moved aside (the per-job path, with the build cache). Exit code, output and every
file of OUT must be the same.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from pfgen.cli.main import main
from pfgen.output import cache, incremental, stream, wholestamp
from pfgen.validate.config import load_config

from test_cache import _same_size_edit, assert_each_hostile_file, build, project, settled, snapshot  # noqa: F401  (fixtures)

RECORDS = ("whole-*.json", "part-*.json")


def records() -> list[Path]:
    return sorted(p for pattern in RECORDS for p in cache.cache_root().glob(pattern))


def invoke(*args: str):
    load_config.cache_clear()
    return CliRunner().invoke(main, list(args))


@pytest.fixture
def decided(monkeypatch):
    """What each incremental.rebuild answered in this test: True (it built), False (it declined)."""
    answers: list[bool] = []
    real = incremental.rebuild

    def spy(*args, **kwargs):
        result = real(*args, **kwargs)
        answers.append(result is not None)
        return result

    monkeypatch.setattr(incremental, "rebuild", spy)
    return answers


def made(project) -> None:
    build()
    build()
    assert len(records()) == 2, records()  # the record and its second file


def twice(project, tmp_path, decided, *args: str) -> bool:
    """Run ``pfgen args`` on a copy of the project (another working directory: no record, the per-job
    path), then on the project itself (its record); assert both did the same; return whether the
    incremental path built the second."""
    copy = tmp_path / f"per-job-{len(list(tmp_path.glob('per-job-*')))}" / project.name
    shutil.copytree(project, copy, symlinks=True)
    here = os.getcwd()
    os.chdir(copy)
    try:
        decided.clear()
        per_job = invoke(*args)
        assert decided == [], "another working directory: no record, no incremental build"
    finally:
        os.chdir(here)
    decided.clear()
    result = invoke(*args)
    assert (result.exit_code, result.output) == (per_job.exit_code, per_job.output), args
    assert snapshot(project) == snapshot(copy), args
    return decided == [True]


def _replace(path: Path, old: str, new: str) -> None:
    time.sleep(0.02)
    text = path.read_text()
    assert old in text, (path, old)
    path.write_text(text.replace(old, new, 1))


CHANGES = {
    # change -> whether the incremental path builds it (False: it declines, the per-job path decides)
    "edited template": True,
    "comment only": True,
    "renamed job": True,
    "no longer shared": True,
    "shared again": True,
    "warning gone (entered directory made)": True,
    "workspace file": True,
    "hand-edited output": True,
    "foreign file in a job directory": True,
    "template written anew and renamed over": True,
    "marker names the other template": True,
    "marker names a template discovery skips": False,
    "a job that shares nothing edited": True,
    "error": False,
    "name clash": False,
    "file added to OUT": False,
    "directory added to OUT": False,
    "output directory deleted": True,
    "pfgen.yaml": False,
}


@pytest.mark.parametrize("args", [["build", "--check"], ["build"], ["build", "-v"], ["build", "--format", "json"]],
                         ids=["check", "build", "verbose", "json"])
@pytest.mark.parametrize("change", list(CHANGES))
def test_incremental_build_writes_and_reports_what_the_per_job_build_does(project, settled, decided, tmp_path, change,
                                                                          args):
    b = project / "jobs" / "b" / "pf-template.yml"
    if change == "shared again":  # the record is made while b has its own dataset
        _replace(b, "name: my-cifar-100", "name: cifar-other")
    c = project / "jobs" / "c" / "pf-template.yml"
    if change == "a job that shares nothing edited":  # _shared/ is laid out from what the record holds
        c.parent.mkdir()
        c.write_text(b.read_text().replace("name: job-b", "name: job-c").replace("name: my-cifar-100", "name: c-data"))
    made(project)
    if change == "a job that shares nothing edited":
        _replace(c, "num_devices: 8", "num_devices: 4")
    elif change == "edited template":
        _replace(b, "num_devices: 8", "num_devices: 4")
    elif change == "comment only":
        with open(b, "a") as handle:
            handle.write("# edited\n")
    elif change == "renamed job":
        _replace(b, "name: job-b", "name: job-c")
    elif change == "no longer shared":
        _replace(b, "name: my-cifar-100", "name: cifar-other")
    elif change == "shared again":
        _replace(b, "name: cifar-other", "name: my-cifar-100")
    elif change == "warning gone (entered directory made)":
        shutil.copytree(project / "jobs" / "a" / "cifar", project / "jobs" / "b" / "cifar")
    elif change == "workspace file":
        _same_size_edit(next((project / "jobs" / "a" / "cifar").rglob("*.py")), b"import", b"imporT")
    elif change == "hand-edited output":
        _replace(project / "deploy" / "job-a" / "pytorchjob.yaml", "nvidia.com/gpu", "nvidia.com/gpus")
    elif change == "foreign file in a job directory":
        time.sleep(0.02)
        (project / "deploy" / "job-b" / "notes.txt").write_text("mine\n")
    elif change == "template written anew and renamed over":
        time.sleep(0.02)
        fresh = b.with_name(".pf-template.yml.swp")
        fresh.write_text(b.read_text().replace("num_devices: 8", "num_devices: 4"))
        os.replace(fresh, b)
    elif change == "marker names the other template":
        target = project / "deploy" / "job-b" / "kustomization.yaml"
        lines = target.read_text().split("\n")
        assert "jobs/b/pf-template.yml" in lines[0]
        lines[0] = lines[0].replace("jobs/b/pf-template.yml", "jobs/a/pf-template.yml")
        time.sleep(0.02)
        target.write_text("\n".join(lines))
    elif change == "marker names a template discovery skips":  # the per-job path reads it (group_templates)
        venv = project / "jobs" / "venv"
        venv.mkdir()
        (venv / "pyvenv.cfg").write_text("home = /usr/bin\n")
        (venv / "pf-template.yml").write_text(b.read_text().replace("name: job-b", "name: job-v"))
        target = project / "deploy" / "job-b" / "kustomization.yaml"
        lines = target.read_text().split("\n")
        lines[0] = lines[0].replace("jobs/b/pf-template.yml", "jobs/venv/pf-template.yml")
        target.write_text("\n".join(lines))
    elif change == "error":
        _replace(b, "num_devices: 8", "num_devices: 7")
    elif change == "name clash":
        _replace(b, "name: job-b", "name: job-a")
    elif change == "file added to OUT":
        time.sleep(0.02)
        (project / "deploy" / "README").write_text("mine\n")
    elif change == "directory added to OUT":  # as a copy of a job's directory: its markers name job a
        time.sleep(0.02)
        shutil.copytree(project / "deploy" / "job-a", project / "deploy" / "job-x")
    elif change == "output directory deleted":
        shutil.rmtree(project / "deploy" / "job-b")
    elif change == "pfgen.yaml":
        _replace(project / "pfgen.yaml", "namespace: ml-team", "namespace: ml-teax")
    assert twice(project, tmp_path, decided, *args) == CHANGES[change], (change, args, decided)
    twice(project, tmp_path, decided, "build")  # and the build after it (which records, or writes)
    twice(project, tmp_path, decided, "build", "--check")


def test_after_an_incremental_build_the_next_records_and_the_one_after_is_answered_by_the_record(project, settled,
                                                                                                 decided, monkeypatch):
    made(project)
    _replace(project / "jobs" / "b" / "pf-template.yml", "num_devices: 8", "num_devices: 4")
    with monkeypatch.context() as patch:
        patch.setattr(stream, "build", lambda *a, **k: pytest.fail("the build ran job by job"))
        first = invoke("build")  # writes job b's directory
        assert first.exit_code == 0 and "deploy/job-b configured" in first.output, first.output
        before = {p: p.stat().st_mtime_ns for p in records()}
        second = invoke("build")  # compiles job b again, writes nothing, records the new state
        assert second.exit_code == 0 and decided == [True, True]
        assert all(p.stat().st_mtime_ns != before.get(p) for p in records())
        third = invoke("build")
        assert third.exit_code == 0 and decided == [True, True], "answered by the record alone"
    assert 'nprocPerNode: "4"' in (project / "deploy" / "job-b" / "pytorchjob.yaml").read_text()


def test_many_changed_jobs_go_job_by_job(project, settled, decided, tmp_path, monkeypatch):
    monkeypatch.setattr(incremental, "MIN_DIRTY", 0)  # two jobs: more than a quarter of them changes
    made(project)
    _replace(project / "jobs" / "b" / "pf-template.yml", "num_devices: 8", "num_devices: 4")
    assert not twice(project, tmp_path, decided, "build")
    assert decided == [False] and 'nprocPerNode: "4"' in (project / "deploy" / "job-b" / "pytorchjob.yaml").read_text()


def test_hostile_or_foreign_second_files_send_the_build_job_by_job(project, settled, decided, tmp_path, monkeypatch):
    """The second file is checked as the record is: another secret, another record's, a forged or
    malformed one, junk, a link or a FIFO is the per-job path (which sees the edit), never a wrong output."""
    import hashlib
    import hmac

    made(project)
    part = next(p for p in records() if p.name.startswith("part-"))
    good = part.read_bytes()
    b = project / "jobs" / "b" / "pf-template.yml"
    _replace(b, "num_devices: 8", "num_devices: 4")
    assert twice(project, tmp_path, decided, "build", "--check")  # the genuine file: incremental

    def declined() -> bool:
        decided.clear()
        result = invoke("build", "--check")
        return decided == [False] and result.exit_code == 1 and "job-b/pytorchjob.yaml" in result.output

    # what Record.save MACs the second file under: "part", the record's context and its stamp
    made_records: list = []
    real_init = wholestamp.Record.__init__

    def spy(self, parts):
        real_init(self, parts)
        made_records.append(self)

    with monkeypatch.context() as patch:
        patch.setattr(wholestamp.Record, "__init__", spy)
        invoke("build", "--check")
    whole = next(p for p in records() if p.name.startswith("whole-"))
    stamp = json.loads(json.loads(whole.read_text())[1])["stamp"]
    prefix = "part\0" + made_records[-1].context + "\0" + stamp + "\0"
    mac, text = json.loads(good)
    secret = cache.secret()
    assert hmac.new(secret, (prefix + text).encode(), hashlib.sha256).hexdigest() == mac

    def reseal(change, key: bytes) -> bytes:
        changed = json.loads(text)
        change(changed)
        body = json.dumps(changed)
        return json.dumps([hmac.new(key, (prefix + body).encode(), hashlib.sha256).hexdigest(), body]).encode()

    cases = [
        reseal(lambda s: None, b"guessed"),  # another secret
        reseal(lambda s: s["jobs"][0][0].__setitem__(9, [10**6]), secret),  # a warning that is not reported
        reseal(lambda s: s["marks"].__setitem__(0, [0, "elsewhere", 0]), secret),
        reseal(lambda s: s.__setitem__("hashes", s["hashes"][:-16]), secret),
        reseal(lambda s: s["jobs"][0][0].__setitem__(7, "objects"), secret),
        reseal(lambda s: s["shared"].append({}), secret),
    ]
    for data in cases:
        part.write_bytes(data)
        assert declined(), data[:80]
    assert_each_hostile_file(part, declined)
    assert declined()  # missing
    part.write_bytes(good)  # the genuine one again, but for another record: the stamp binds it
    _replace(project / "jobs" / "a" / "pf-template.yml", "# The name of job", "# The name of the job")
    build()
    time.sleep(0.02)
    _replace(b, "num_devices: 4", "num_devices: 8")
    build()  # writes job b
    build()  # nothing to write: records the state of now, a new record and a new second file
    assert part.read_bytes() != good
    part.write_bytes(good)
    _replace(b, "num_devices: 8", "num_devices: 4")
    assert declined()


def test_a_file_made_beside_a_template_compiles_it_again(project, settled, decided, tmp_path, monkeypatch):
    """A directory between a template and its pfgen.yaml that changed (a file made, removed or renamed
    there) compiles again every template below it, as the per-job path would read them."""
    made(project)
    compiled: list = []
    real = stream.compile_one

    def spy(template, *args, **kwargs):
        compiled.append(template.parent.name)
        return real(template, *args, **kwargs)

    monkeypatch.setattr(stream, "compile_one", spy)
    time.sleep(0.02)
    (project / "jobs" / "b" / "notes.txt").write_text("mine\n")
    decided.clear()
    assert invoke("build", "--check").exit_code == 0
    assert decided == [True] and compiled == ["b"], (decided, compiled)
    twice(project, tmp_path, decided, "build", "--check")  # (answered by the record the check above made)


@pytest.mark.parametrize("change", ["same files", "a file added"])
def test_the_record_made_after_an_incremental_build_sees_every_output_file(project, settled, decided, change):
    """The build after an incremental one records the stats it took before reading anything when no
    directory of OUT lists other names than recorded (Record._as_served); a directory that gained a
    file is listed again, or an in-place edit of that file would go unseen by the next record."""
    made(project)
    job_b = project / "deploy" / "job-b"
    if change == "same files":
        _replace(project / "jobs" / "b" / "pf-template.yml", "num_devices: 8", "num_devices: 4")
        assert invoke("build").exit_code == 0  # writes deploy/job-b
        edited = job_b / "pytorchjob.yaml"
    else:  # a foreign file: the build leaves it, and it stays foreign until it starts with pfgen's marker
        time.sleep(0.02)
        edited = job_b / "notes.txt"
        edited.write_text("# " + "x" * 200 + "\n")
    assert invoke("build").exit_code == 0  # nothing to write: records the state of now
    decided.clear()
    assert invoke("build", "--check").exit_code == 0 and decided == [], "answered by the new record"
    if change == "same files":
        _same_size_edit(edited, b"nvidia.com/gpu", b"nvidia.com/gpX")
    else:  # in place: its directory's stat stays as it was
        marker = (job_b / "kustomization.yaml").read_text().split("\n")[0] + "\n"
        with open(edited, "r+") as handle:
            handle.write(marker)
    result = invoke("build", "--check")
    assert result.exit_code == 1 and f"job-b/{edited.name}" in result.output, result.output


@pytest.mark.parametrize("args", [["-o", "elsewhere"], ["jobs/b"], ["--strict"]], ids=["out", "subset", "strict"])
def test_incremental_build_with_other_command_lines(project, settled, decided, tmp_path, args):
    """The record is the command line's: an OUT given with -o, a subset of the templates (job a is then
    in the build because deploy/job-a's markers name it), --strict (job b has a warning: both refuse it)."""
    if args == ["jobs/b"]:
        invoke("build")
    for _ in range(2):
        invoke("build", *args)
    _replace(project / "jobs" / "a" / "pf-template.yml", "num_devices: 8", "num_devices: 4")
    built = twice(project, tmp_path, decided, "build", *args)
    assert built == (args != ["--strict"]), decided  # --strict: refused, so no record was ever made
    twice(project, tmp_path, decided, "build", *args)


def test_incremental_builds_of_the_periflow_sdk_examples(tmp_path, monkeypatch, settled, decided):
    """Real templates nobody here wrote (tests/corpus/periflow-sdk: the SDK's examples across its
    history, each job given its own name): after each edit, the incremental build writes and reports
    what the per-job build does, and the no-op after it records the new state."""
    import re

    corpus = Path(__file__).resolve().parents[1] / "corpus" / "periflow-sdk"
    root = tmp_path / "sdk"
    shutil.copytree(corpus, root)
    shutil.copy(Path(__file__).resolve().parents[2] / "examples" / "cifar100" / "pfgen.yaml", root / "pfgen.yaml")
    templates = sorted([*root.glob("*/pf-template.yml"), *root.glob("*/pf_config.yml")])
    assert len(templates) >= 30
    for template in templates:
        suffix = template.parent.name.rsplit("-", 1)[-1]
        template.write_text(re.sub(r"(?m)^name: *(.*)$", lambda m: f"name: {m.group(1)}-{suffix}",
                                   template.read_text(), count=1))
    monkeypatch.setenv("PFGEN_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.delenv("PFGEN_CACHE", raising=False)
    monkeypatch.chdir(root)
    for _ in range(3):
        assert invoke("build", "-q").exit_code == 0
    edits = [("\n# edited\n", None), ("image:", "image: "), ("\nname: ", "\nname: renamed-")]
    for n, (old, new) in enumerate(edits):
        template = templates[(7 * n + 3) % len(templates)]
        time.sleep(0.02)
        text = template.read_text()
        template.write_text(text + old if new is None else text.replace(old, new, 1))
        assert twice(root, tmp_path, decided, "build", "--check"), template
        twice(root, tmp_path, decided, "build", "-v")  # (answered by the record the check made, if it changed nothing)
        invoke("build", "-q")  # records the new state (after a rename: job by job, an OUT entry is gone)


@pytest.mark.parametrize("change", ["renamed", "directory deleted"])
def test_the_build_after_one_that_renamed_or_lost_a_job_directory_is_incremental(project, settled, decided,
                                                                                  tmp_path, change):
    """The record names an OUT entry that is gone (wholestamp._replay: a part of its own) and OUT holds
    one it did not list: both must be the directories of the jobs compiled again."""
    made(project)
    b = project / "jobs" / "b" / "pf-template.yml"
    if change == "renamed":
        _replace(b, "name: job-b", "name: job-c")
        assert twice(project, tmp_path, decided, "build")  # writes deploy/job-c, removes deploy/job-b
        assert (project / "deploy" / "job-c").is_dir() and not (project / "deploy" / "job-b").exists()
    else:
        shutil.rmtree(project / "deploy" / "job-b")
    assert twice(project, tmp_path, decided, "build", "--check")  # incremental again
    # renamed: nothing to write, so the check recorded and the build is answered by the record alone;
    # deleted: the build writes the directory again, incrementally
    assert twice(project, tmp_path, decided, "build") is (change == "directory deleted")
    _replace(project / "jobs" / "a" / "pf-template.yml", "num_devices: 8", "num_devices: 4")
    assert twice(project, tmp_path, decided, "build")


def test_a_build_that_compiled_every_job_into_an_existing_out_records_summaries(project, settled, decided, tmp_path):
    """After a pfgen upgrade every job is compiled again (the build cache's keys changed) and nothing
    may change: that build keeps the summaries too, so the first edit after it is incremental. A cold
    build into an empty OUT does not (its peak memory)."""
    build()
    assert not [p for p in records() if p.name.startswith("part-")]  # cold: no second file
    for path in cache.cache_root().glob("*.json"):  # as after an upgrade: no entry, no record holds
        path.unlink()
    build()  # compiles both jobs, writes nothing: records, with the second file
    assert [p for p in records() if p.name.startswith("part-")]
    _replace(project / "jobs" / "b" / "pf-template.yml", "num_devices: 8", "num_devices: 4")
    assert twice(project, tmp_path, decided, "build")
