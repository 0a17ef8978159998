"""The build cache (pfgen/output/cache.py) can make a build faster, never different.

Every test runs `pfgen build` (in-process, through click) on a real project
and checks which templates were compiled afresh and which were served from
the cache, and that the output is what a build without cache writes.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import pickle
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

import pfgen
from pfgen.cli.main import main
from pfgen.output import cache, cachedir, stream, wholestamp
from pfgen.output.cache import BuildCache
from pfgen.validate.config import load_config
from pfgen.errors import Diagnostic

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "cifar100"


@pytest.fixture
def project(tmp_path, monkeypatch):
    """Two jobs under one pfgen.yaml (job a with a workspace), a private cache dir, cwd at the project."""
    root = tmp_path / "repo"
    for job in ("a", "b"):
        (root / "jobs" / job).mkdir(parents=True)
        text = (EXAMPLE / "pf-template.yml").read_text().replace("name: cifar-job", f"name: job-{job}")
        if job == "a":  # named, not found from the command: the workspace may be a link inside the job's directory
            text = text.replace("    mount_path: /workspace\n", "    mount_path: /workspace\n    path: cifar\n")
        (root / "jobs" / job / "pf-template.yml").write_text(text)
    shutil.copytree(EXAMPLE / "cifar", root / "jobs" / "a" / "cifar")
    shutil.copy(EXAMPLE / "pfgen.yaml", root / "pfgen.yaml")
    monkeypatch.setenv("PFGEN_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))  # where the cache's secret goes
    monkeypatch.delenv("PFGEN_CACHE", raising=False)
    monkeypatch.delenv("PFGEN_CACHE_SECRET", raising=False)
    monkeypatch.chdir(root)
    cache.tool_key.cache_clear()
    yield root
    cache.tool_key.cache_clear()


class Run:
    def __init__(self, cache_used: BuildCache, exit_code: int, output: str):
        self.cache, self.exit_code, self.output = cache_used, exit_code, output

    @property
    def compiled(self) -> list[str]:
        return sorted(p.parent.name for p in self.cache.compiled)

    @property
    def served(self) -> list[str]:
        return sorted(p.parent.name for p in self.cache.hits)

    @property
    def wrote(self) -> bool:
        return self.exit_code == 1


def build(*args: str) -> Run:
    """`pfgen build --exit-code ARGS` as a fresh process would run it; exit 1 means files were written."""
    load_config.cache_clear()
    opened: list[BuildCache] = []
    real_open = BuildCache.open.__func__  # type: ignore[attr-defined]

    def spy(cls, cwd=None):
        opened.append(real_open(cls, cwd))
        return opened[-1]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(BuildCache, "open", classmethod(spy))
        result = CliRunner().invoke(main, ["build", "--exit-code", *args])
    assert result.exit_code in (0, 1, 2), result.output
    return Run(opened[0] if opened else BuildCache(None), result.exit_code, result.output)


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted((root / "deploy").rglob("*")) if p.is_file()}


def test_unchanged_project_is_served_from_cache_with_identical_output(project):
    first = build()
    assert (first.compiled, first.served, first.wrote) == (["a", "b"], [], True)
    before = snapshot(project)
    second = build()
    assert (second.compiled, second.served, second.wrote) == ([], ["a", "b"], False)
    assert snapshot(project) == before
    shutil.rmtree(project / "deploy")
    uncached = build("--no-cache")
    assert uncached.cache.path is None and snapshot(project) == before


def test_changed_template_recompiles_only_that_job(project):
    build()
    template = project / "jobs" / "b" / "pf-template.yml"
    template.write_text(template.read_text().replace("num_devices: 8", "num_devices: 4"))
    run = build()
    assert (run.compiled, run.served, run.wrote) == (["b"], ["a"], True), run.output
    assert 'nprocPerNode: "4"' in (project / "deploy" / "job-b" / "pytorchjob.yaml").read_text()


def test_comment_only_edit_recompiles_but_writes_nothing(project):
    build()
    with open(project / "jobs" / "a" / "pf-template.yml", "a") as handle:
        handle.write("# a comment\n")
    run = build()
    assert (run.compiled, run.served, run.wrote) == (["a"], ["b"], False)


def test_changed_config_recompiles_every_job(project):
    build()
    config = project / "pfgen.yaml"
    config.write_text(config.read_text().replace("namespace: ml-team", "namespace: other-team"))
    run = build()
    assert (run.compiled, run.served, run.wrote) == (["a", "b"], [], True)
    assert "namespace: other-team" in (project / "deploy" / "job-a" / "pytorchjob.yaml").read_text()


def test_a_nearer_config_appearing_or_going_recompiles(project):
    build()
    nearer = project / "jobs" / "b" / "pfgen.yaml"
    nearer.write_text("namespace: team-b\n")
    assert "b" in build("jobs/b").compiled
    nearer.unlink()
    assert "b" in build().compiled


def test_new_pfgen_version_recompiles(project, monkeypatch):
    build()
    monkeypatch.setattr(pfgen, "__version__", "99.0.0")
    cache.tool_key.cache_clear()
    run = build()
    assert (run.compiled, run.served, run.wrote) == (["a", "b"], [], False)


def test_edited_pfgen_source_recompiles(project, monkeypatch):
    build()
    monkeypatch.setattr(cache, "source_hash", lambda: "an edited checkout")
    cache.tool_key.cache_clear()
    assert build().compiled == ["a", "b"]


def test_source_hash_covers_every_source_and_data_file(tmp_path, monkeypatch):
    package = tmp_path / "pfgen"
    shutil.copytree(Path(pfgen.__file__).parent, package, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(cache, "_PACKAGE", package)
    labels = [label for label, _ in cache._source_files()]
    assert "pfgen/output/layout.py" in labels and "pfgen/resolve/vms.json" in labels and "pfgen/emit/pytorchjob.py" in labels
    assert "schemas/pf-template.schema.json" in labels
    cache.source_hash.cache_clear()
    before = cache.source_hash()
    with open(package / "emit" / "pytorchjob.py", "a") as handle:
        handle.write("\n# edited\n")
    cache.source_hash.cache_clear()
    try:
        assert cache.source_hash() != before
    finally:
        monkeypatch.undo()
        cache.source_hash.cache_clear()


def test_changed_workspace_file_recompiles_and_retags(project):
    build()
    manifest = project / "deploy" / "job-a" / "pytorchjob.yaml"
    before = manifest.read_text()
    main_py = next((project / "jobs" / "a" / "cifar").rglob("*.py"))
    main_py.write_text(main_py.read_text() + "\n# changed\n")
    run = build()
    assert (run.compiled, run.served, run.wrote) == (["a"], ["b"], True)
    assert manifest.read_text() != before  # a new image tag
    (project / "jobs" / "a" / "cifar" / "new.txt").write_text("x\n")
    assert build().compiled == ["a"]
    os.chmod(project / "jobs" / "a" / "cifar" / "new.txt", 0o755)
    assert build().compiled == ["a"]
    assert build().compiled == []


def test_creating_the_directory_the_command_enters_is_a_dependency(project):
    """Job b's command enters /workspace/cifar and has no workspace: once jobs/b/cifar exists, it is the
    workspace (cmdrules.inferred_workspace), so the cached compile without it must not be served."""
    build()
    assert build().compiled == []
    shutil.copytree(EXAMPLE / "cifar", project / "jobs" / "b" / "cifar")
    assert build().compiled == ["b"]
    assert "image: registry.example.com/ml-team/job-b:sha-" in (project / "deploy/job-b/pytorchjob.yaml").read_text()
    assert build().compiled == []


def test_deleted_or_hand_edited_output_is_rewritten(project):
    build()
    target = project / "deploy" / "job-a" / "pytorchjob.yaml"
    expected = target.read_bytes()
    target.unlink()
    run = build()
    assert run.served == ["a", "b"] and run.wrote and target.read_bytes() == expected
    target.write_bytes(expected.replace(b"nvidia.com/gpu", b"nvidia.com/gpus"))
    check = CliRunner().invoke(main, ["build", "--check"])
    assert check.exit_code == 1 and "job-a/pytorchjob.yaml" in check.output
    run = build()
    assert run.wrote and target.read_bytes() == expected


def test_a_link_in_a_workspace_counts_by_its_target_text_and_is_never_followed(project, tmp_path):
    """Links below a workspace are not copied into the image (pfgen.safefs), so what they point
    at is not read, by the scan or by the cache key; retargeting one is a change."""
    outside = tmp_path / "outside"
    outside.mkdir()
    link = project / "jobs" / "a" / "cifar" / "link"
    link.symlink_to(outside, target_is_directory=True)
    build()
    assert build().compiled == []
    (outside / "secret").write_text("not read")
    assert build().compiled == []
    link.unlink()
    link.symlink_to(tmp_path, target_is_directory=True)
    assert build().compiled == ["a"]


def test_retargeting_a_workspace_link_inside_the_template_directory_is_seen(project):
    job = project / "jobs" / "a"
    (job / "cifar").rename(job / "real")
    (job / "other").mkdir()
    for f in (job / "real").iterdir():
        (job / "other" / f.name).write_bytes(f.read_bytes() + b"# other\n")
    (job / "cifar").symlink_to("real", target_is_directory=True)
    build()
    assert build().compiled == []
    (job / "cifar").unlink()
    (job / "cifar").symlink_to("other", target_is_directory=True)
    assert build().compiled == ["a"]


def test_warnings_are_reported_again_when_served_from_cache(project, monkeypatch):
    real = stream.compile_document

    def with_warning(doc, template, config=None, options=pfgen.pipeline.CompileOptions()):
        job = real(doc, template, config, options)
        job.diagnostics.append(Diagnostic(doc.file, 3, 1, "something to think about", "warning"))
        return job

    monkeypatch.setattr(stream, "compile_document", with_warning)
    first = build()
    second = build()
    assert second.served == ["a", "b"]
    assert first.output.count("something to think about") == second.output.count("something to think about") == 2


def test_corrupt_or_foreign_cache_file_is_a_miss(project):
    build()
    path = BuildCache.open().path
    for junk in (b"not json", b"", b"[" * 100_000, json.dumps({"format": 1, "entries": {}}).encode(),
                 json.dumps({"format": cache.FORMAT, "tool": "another pfgen", "serial": 1, "entries": {}}).encode(),
                 b"\xff\xfe{}"):
        path.write_bytes(junk)
        assert build().compiled == ["a", "b"]


def test_hostile_cache_files_never_execute_code(project, tmp_path):
    """A pickle that would run code when unpickled, a huge file, a link to a device, a FIFO:
    all misses, nothing executed, the build as without a cache."""
    build()
    path = BuildCache.open().path
    before = snapshot(project)
    marker = tmp_path / "pwned"

    class Exploit:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    path.write_bytes(pickle.dumps({"format": 1, "entries": Exploit()}))
    assert build().compiled == ["a", "b"] and not marker.exists()
    path.unlink()
    with open(path, "wb") as handle:  # larger than the bound: not even read
        handle.truncate(cache.MAX_BYTES + 1)
    assert build().compiled == ["a", "b"]
    path.unlink()
    path.symlink_to("/dev/zero")
    assert build().compiled == ["a", "b"]
    path.unlink()
    os.mkfifo(path)
    assert build().compiled == ["a", "b"]
    assert snapshot(project) == before


def _forge(path: Path, template: str, change, key: bytes) -> None:
    index = json.loads(path.read_text())
    for name, raw in index["entries"].items():
        if name.endswith(template):
            entry = json.loads(raw[1])
            change(entry)
            raw[1] = json.dumps(entry, sort_keys=True, separators=(",", ":"))
            raw[0] = hmac.new(key, raw[1].encode(), hashlib.sha256).hexdigest()
    path.write_text(json.dumps(index))


def test_forged_entry_cannot_hide_a_hand_edited_output(project, monkeypatch):
    """A cache restored from elsewhere claims that job-a's directory holds the hand-edited file: without
    the secret the entry is a miss and --check reports the edit. (With the secret, the same forgery would
    pass: the secret is what keeps it out.)"""
    build()
    path = BuildCache.open().path
    target = project / "deploy" / "job-a" / "pytorchjob.yaml"
    target.write_bytes(target.read_bytes().replace(b"nvidia.com/gpu", b"nvidia.com/gpus"))
    edited = hashlib.sha256(target.read_bytes()).hexdigest()

    def claim(entry):
        entry["files"]["pytorchjob.yaml"] = edited

    for key in (b"guessed", os.urandom(32)):
        _forge(path, "jobs/a/pf-template.yml", claim, key)
        check = CliRunner().invoke(main, ["build", "--check"])
        assert check.exit_code == 1 and "job-a/pytorchjob.yaml" in check.output
    _forge(path, "jobs/a/pf-template.yml", claim, cache.secret())
    assert CliRunner().invoke(main, ["build", "--check"]).exit_code == 0  # the forgery itself works
    monkeypatch.setenv("PFGEN_CACHE_SECRET", "another secret, e.g. CI's")
    check = CliRunner().invoke(main, ["build", "--check"])
    assert check.exit_code == 1 and "job-a/pytorchjob.yaml" in check.output


def test_well_signed_entry_of_the_wrong_shape_is_a_miss(project):
    build()
    path = BuildCache.open().path
    for change in (lambda e: e.pop("files"), lambda e: e.update(pos=["1", 2]), lambda e: e.update(objects=[["x"]]),
                   lambda e: e.update(warnings=[["f", 1, 1, "m", "fatal"]])):
        _forge(path, "jobs/b/pf-template.yml", change, cache.secret())
        assert build().compiled == ["b"]


def test_index_is_json_and_bounded(project, monkeypatch):
    build()
    path = BuildCache.open().path
    index = json.loads(path.read_text())
    assert index["format"] == cache.FORMAT and len(index["entries"]) == 2
    monkeypatch.setattr(cache, "MAX_ENTRIES", 1)
    (project / "jobs" / "b" / "pf-template.yml").write_text((project / "jobs" / "b" / "pf-template.yml").read_text() + "# edit\n")
    build()
    kept = json.loads(path.read_text())["entries"]
    assert [Path(name).parent.name for name in kept] == ["b"]  # the least recently used goes first; ties: the one just compiled stays
    shutil.rmtree(project / "jobs" / "b")
    build()
    assert [Path(name).parent.name for name in json.loads(path.read_text())["entries"]] == ["a"]


def test_cache_off_and_cache_file_outside_output_tree(project, monkeypatch, tmp_path):
    build()
    assert BuildCache.open().path.parent == tmp_path / "cache"
    assert not [p for p in (project / "deploy").rglob("*") if "cache" in p.name or "pickle" in p.name]
    monkeypatch.setenv("PFGEN_CACHE", "off")
    run = build()
    assert run.cache.path is None and run.served == []


def test_name_clash_with_a_cached_job_is_still_reported_with_positions(project):
    build()
    template = project / "jobs" / "b" / "pf-template.yml"
    template.write_text(template.read_text().replace("name: job-b", "name: job-a"))
    run = build()
    assert run.exit_code == 2 and run.served == ["a"]
    clash = [line for line in run.output.splitlines() if "job name 'job-a' is also produced by" in line]
    assert len(clash) == 2 and any(line.startswith("jobs/a/pf-template.yml:") for line in clash)
    assert all(":1:1:" not in line for line in clash)


def test_real_cli_process_uses_the_cache(project, tmp_path):
    env = {**os.environ, "PFGEN_CACHE_DIR": str(tmp_path / "cache")}

    def pfgen_cli(*args):
        return subprocess.run([sys.executable, "-m", "pfgen", *args], cwd=project, env=env, capture_output=True, text=True, timeout=120)

    assert pfgen_cli("build").returncode == 0
    assert any((tmp_path / "cache").iterdir())
    checked = pfgen_cli("build", "--check")
    assert checked.returncode == 0 and "2 jobs up to date" in checked.stderr
    with open(project / "deploy" / "job-b" / "kustomization.yaml", "a") as handle:
        handle.write("# hand edit\n")
    for flags in (("--check",), ("--check", "--no-cache")):
        drift = pfgen_cli("build", *flags)
        assert drift.returncode == 1 and "job-b/kustomization.yaml" in drift.stdout + drift.stderr


def test_jobs_with_hoisted_shared_objects_are_not_compiled_or_dumped_again(project, monkeypatch):
    """Both jobs use the same dataset claim, which layout moves to _shared/; a warm build takes its text
    from the cache instead of compiling a job again, and dumps nothing but the root kustomization."""
    build()
    assert (project / "deploy" / "_shared" / "persistentvolumeclaim.yaml").is_file()
    before = snapshot(project)
    monkeypatch.setattr(stream, "compile_document", lambda *a, **k: pytest.fail("compiled again"))
    run = build()
    assert (run.served, run.wrote) == (["a", "b"], False) and snapshot(project) == before


# --- stamps: unchanged stats stand for unchanged bytes (see cache.Stats) ----------------


def _same_size_edit(path: Path, old: bytes, new: bytes) -> None:
    """Rewrite ``path`` with one same-length change and put its mtime back: only ctime shows it."""
    assert len(old) == len(new)
    before = path.stat()
    time.sleep(0.05)  # past the file system's timestamp granularity
    path.write_bytes(path.read_bytes().replace(old, new, 1))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = path.stat()
    assert (after.st_size, after.st_mtime_ns) == (before.st_size, before.st_mtime_ns) and after.st_ctime_ns != before.st_ctime_ns


@pytest.fixture
def settled(monkeypatch):
    """As if the command started an hour from now: every file is old enough for its stat to be trusted."""
    monkeypatch.setattr(cache, "_START_NS", time.time_ns() + 3600 * 10**9)


def test_unchanged_stats_are_trusted_after_one_build_proved_the_bytes(project, settled):
    build()
    proving = build()  # served, bytes read and compared: stamps made
    assert proving.served == ["a", "b"] and proving.cache.trusted == 0 and not proving.wrote
    assert sorted(Path(name).parent.name for name in json.loads(proving.cache.path.read_text())["stamps"]) == ["a", "b"]
    forget_whole()  # else the whole-build record answers (see the tests of wholestamp below)
    again = build()
    assert again.served == ["a", "b"] and again.cache.trusted == 4 and not again.wrote  # 2 inputs, 2 output dirs


def test_same_size_rewrite_with_mtime_put_back_is_seen_by_ctime(project, settled):
    build()
    build()
    expected = snapshot(project)
    target = project / "deploy" / "job-a" / "pytorchjob.yaml"
    _same_size_edit(target, b"nvidia.com/gpu", b"nvidia.com/gpX")
    check = CliRunner().invoke(main, ["build", "--check"])
    assert check.exit_code == 1 and "job-a/pytorchjob.yaml" in check.output
    run = build()
    assert run.wrote and snapshot(project) == expected
    _same_size_edit(project / "jobs" / "b" / "pf-template.yml", b"name: job-b", b"name: job-c")
    forget_whole()  # the per-job cache decides (else the whole-build record names job b: incremental.py)
    run = build()
    assert run.compiled == ["b"] and run.wrote and (project / "deploy" / "job-c").is_dir()
    main_py = project / "jobs" / "a" / "cifar" / "main.py"
    _same_size_edit(main_py, b"import", b"imporT")
    forget_whole()
    run = build()
    assert "a" in run.compiled  # the workspace's bytes changed: its image tag does


def test_stats_of_files_changed_just_before_the_command_are_never_recorded(project, monkeypatch):
    monkeypatch.setattr(cache, "_START_NS", time.time_ns())  # the files were all written just now
    build()
    run = build()
    assert run.served == ["a", "b"] and run.cache.trusted == 0
    assert json.loads(run.cache.path.read_text())["stamps"] == {}


def test_hostile_stamps_are_ignored(project, settled):
    build()
    build()
    path = BuildCache.open().path
    expected = snapshot(project)
    target = project / "deploy" / "job-a" / "pytorchjob.yaml"
    target.write_bytes(target.read_bytes().replace(b"nvidia.com/gpu", b"nvidia.com/gpus"))
    index = json.loads(path.read_text())
    for bad in ({name: [1, None] for name in index["stamps"]}, {name: "x" * 100 for name in index["stamps"]},
                {name: ["0" * 64, "f" * 64] for name in index["stamps"]}, []):
        index["stamps"] = bad
        path.write_text(json.dumps(index))
        check = CliRunner().invoke(main, ["build", "--check"])
        assert check.exit_code == 1 and "job-a/pytorchjob.yaml" in check.output
    build()
    assert snapshot(project) == expected


def test_a_stamp_made_without_the_secret_cannot_hide_a_hand_edited_output(project, settled):
    build()
    build()
    path = BuildCache.open().path
    target = project / "deploy" / "job-a" / "pytorchjob.yaml"
    target.write_bytes(target.read_bytes().replace(b"nvidia.com/gpu", b"nvidia.com/gpus"))
    index = json.loads(path.read_text())
    resolved = str((project / "jobs" / "a" / "pf-template.yml").resolve())
    directory = str((project / "deploy" / "job-a").resolve())
    stats = cache._output_stats(directory)
    for key, hidden in ((b"guessed", False), (cache.secret(), True)):
        forged = BuildCache(path, key)._stamp("out", index["entries"][resolved][0], directory, stats)
        index["stamps"][resolved] = [index["stamps"][resolved][0], forged]
        path.write_text(json.dumps(index))
        forget_whole()  # the per-job stamps decide
        check = CliRunner().invoke(main, ["build", "--check"])
        assert check.exit_code == (0 if hidden else 1), check.output  # with the secret the forgery works


# --- the whole-build record (pfgen/output/wholestamp.py): one stamp for an unchanged repository ---


def forget_whole() -> None:
    for path in cache.cache_root().glob("whole-*.json"):
        path.unlink()


def whole_file() -> Path:
    """The one whole-build record made so far."""
    found = list(cache.cache_root().glob("whole-*.json"))
    assert len(found) == 1, found
    return found[0]


def check(*args: str):
    """`pfgen build --check` in-process, as a fresh process would run it (no config remembered)."""
    load_config.cache_clear()
    return CliRunner().invoke(main, ["build", "--check", *args])


def proven(project) -> dict[str, bytes]:
    """Build until a whole-build record is made (the second build proves by bytes and records)."""
    build()
    build()
    assert whole_file().is_file()
    return snapshot(project)


def test_unchanged_repository_is_served_by_one_record_with_the_same_report(project, settled, monkeypatch):
    before = proven(project)
    expected = {args: CliRunner().invoke(main, list(args)) for args in
                [("build",), ("build", "--check"), ("build", "-v"), ("build", "--format", "json")]}
    with monkeypatch.context() as patch:
        patch.setattr(stream, "build", lambda *a, **k: pytest.fail("the build ran job by job"))
        for args, unserved in expected.items():
            served = CliRunner().invoke(main, list(args))
            assert (served.exit_code, served.output) == (unserved.exit_code, unserved.output), args
    assert snapshot(project) == before
    forget_whole()  # the same report without the record
    for args, unserved in expected.items():
        again = CliRunner().invoke(main, list(args))
        assert (again.exit_code, again.output) == (unserved.exit_code, unserved.output), args


def test_whole_record_sees_a_hand_edited_output_file_by_its_ctime(project, settled, monkeypatch):
    proven(project)
    with monkeypatch.context() as patch:
        patch.setattr(stream, "build", lambda *a, **k: pytest.fail("the build ran job by job"))
        assert check().exit_code == 0  # served by the record
    target = project / "deploy" / "job-a" / "pytorchjob.yaml"
    _same_size_edit(target, b"nvidia.com/gpu", b"nvidia.com/gpX")
    result = check()  # the record must miss: the build runs job by job and sees the edit
    assert result.exit_code == 1 and "job-a/pytorchjob.yaml" in result.output


@pytest.mark.parametrize("where", ["deploy/job-b/notes.txt", "deploy/job-b/sub/notes.txt", "deploy/notes.txt"])
def test_whole_record_sees_a_file_added_to_an_output_directory(project, settled, monkeypatch, where):
    """The record does not list the OUT again: it takes the stats of the entries it recorded. A file
    added (foreign: the build leaves it) shows only in its directory's own stat, which must be taken:
    then the build runs job by job (a file added to OUT itself), or compiles job b again and compares
    its directory (pfgen/output/incremental.py)."""
    proven(project)
    ran: list = []
    real_compile, real_build = stream.compile_one, stream.build

    def compile_spy(template, *args, **kwargs):
        ran.append(template.parent.name)
        return real_compile(template, *args, **kwargs)

    def build_spy(*args, **kwargs):
        ran.append("job by job")
        return real_build(*args, **kwargs)

    monkeypatch.setattr(stream, "compile_one", compile_spy)
    monkeypatch.setattr(stream, "build", build_spy)
    assert check().exit_code == 0 and not ran  # served by the record
    time.sleep(0.05)  # past the file system's timestamp granularity
    (project / where).parent.mkdir(exist_ok=True)
    (project / where).write_text("mine\n")
    assert check().exit_code == 0  # a foreign file: left alone
    assert ran == (["job by job"] if where == "deploy/notes.txt" else ["b"]), ran


@pytest.mark.parametrize("change", ["deleted output", "foreign file in the way", "new template", "deleted template",
                                    "edited template", "workspace file", "pfgen.yaml", "nearer pfgen.yaml",
                                    "entered directory", "staging directory"])
def test_whole_record_misses_on_every_change_the_build_would_see(project, settled, change):
    """Each change below is one the per-job build reacts to; with a record made just before it, the next
    build must not be answered by the record (it runs, and writes or refuses, as without one)."""
    before = proven(project)
    jobs = project / "jobs"
    if change == "deleted output":
        (project / "deploy" / "job-b" / "kustomization.yaml").unlink()
    elif change == "foreign file in the way":
        (project / "deploy" / "job-b" / "kustomization.yaml").write_text("mine\n")
    elif change == "new template":
        (jobs / "c").mkdir()
        (jobs / "c" / "pf-template.yml").write_text((jobs / "b" / "pf-template.yml").read_text().replace("name: job-b", "name: job-c"))
    elif change == "deleted template":
        shutil.rmtree(jobs / "b")
    elif change == "edited template":
        _same_size_edit(jobs / "b" / "pf-template.yml", b"num_devices: 8", b"num_devices: 4")
    elif change == "workspace file":
        _same_size_edit(next((jobs / "a" / "cifar").rglob("*.py")), b"import", b"imporT")
    elif change == "pfgen.yaml":
        _same_size_edit(project / "pfgen.yaml", b"namespace: ml-team", b"namespace: ml-teax")
    elif change == "nearer pfgen.yaml":
        (jobs / "b" / "pfgen.yaml").write_text((project / "pfgen.yaml").read_text().replace("ml-team", "ml-other"))
    elif change == "entered directory":
        shutil.copytree(EXAMPLE / "cifar", jobs / "b" / "cifar")
    elif change == "staging directory":
        (project / "deploy" / ".pfgen-tmp-job-b").mkdir()
    result = check()
    if change == "staging directory":  # not a change of the output, but one the writer recovers from
        assert result.exit_code == 0
        return
    assert result.exit_code in (1, 2), (change, result.output)
    run = build()
    if change == "foreign file in the way":
        assert run.exit_code == 2 and "was not generated by pfgen" in run.output
        return
    assert run.wrote and (snapshot(project) == before) == (change == "deleted output"), (change, result.output, run.output)
    if change == "new template":
        assert (project / "deploy" / "job-c").is_dir()
    if change == "deleted template":
        assert not (project / "deploy" / "job-b").exists()
    if change == "edited template":
        assert 'nprocPerNode: "4"' in (project / "deploy" / "job-b" / "pytorchjob.yaml").read_text()
    if change == "pfgen.yaml":
        assert "namespace: ml-teax\n" in (project / "deploy" / "job-b" / "pytorchjob.yaml").read_text()
    if change == "nearer pfgen.yaml":  # job b now has its own project, and its own deploy/
        assert "namespace: ml-other\n" in (jobs / "b" / "deploy" / "job-b" / "pytorchjob.yaml").read_text()
    if change == "entered directory":
        assert "image: registry.example.com/ml-team/job-b:sha-" in (project / "deploy/job-b/pytorchjob.yaml").read_text()


def test_whole_record_is_never_made_of_stats_changed_just_before_the_command(project, monkeypatch):
    monkeypatch.setattr(cache, "_START_NS", time.time_ns())  # every file was written just now
    build()
    build()
    assert not list(cache.cache_root().glob("whole-*.json"))


def test_whole_record_is_not_made_when_a_template_is_reached_through_a_link(project, settled):
    (project / "linked").symlink_to(project / "jobs" / "b", target_is_directory=True)
    build("linked/pf-template.yml")
    build("linked/pf-template.yml")
    assert not list(cache.cache_root().glob("whole-*.json"))


def test_forged_or_hostile_whole_records_are_misses(project, settled, monkeypatch):
    """A record restored from elsewhere claims that the hand-edited output is up to date: its stamp made
    over the stats of now, signed with a guessed key, is a miss and --check reports the edit (signed with
    the real secret the same forgery passes: the secret is what keeps it out). Well-signed records of the
    wrong shape and hostile files are misses too."""
    made: list = []
    real_init = wholestamp.Record.__init__

    def spy(self, parts):
        real_init(self, parts)
        made.append(self)

    monkeypatch.setattr(wholestamp.Record, "__init__", spy)
    proven(project)
    context = made[-1].context
    path = whole_file()
    good = json.loads(path.read_text())
    target = project / "deploy" / "job-a" / "pytorchjob.yaml"
    target.write_bytes(target.read_bytes().replace(b"nvidia.com/gpu", b"nvidia.com/gpus"))

    def reported() -> bool:
        result = check()
        return result.exit_code == 1 and "job-a/pytorchjob.yaml" in result.output

    def forge(key: bytes, change=lambda record: None) -> None:
        def mac(text: str) -> str:
            return hmac.new(key, text.encode(), hashlib.sha256).hexdigest()

        record = json.loads(good[1])
        stats = wholestamp.collect(record["templates"], record["configs"], record["deps"], record["roots"], record["tops"])
        record["stamp"] = mac("stats\0" + context + "\0" + stats.text())
        change(record)
        text = json.dumps(record)
        path.write_text(json.dumps([mac("record\0" + context + "\0" + text), text]))

    assert reported()  # the record itself does not hide it: the stats differ
    for key in (b"guessed", os.urandom(32)):
        forge(key)
        assert reported()
    forge(cache.secret())
    assert check().exit_code == 0  # the forgery itself works, with the secret
    for change in (lambda r: r["report"].update(jobs="many"), lambda r: r.pop("tops"),
                   lambda r: r["deps"].append(["file", "/etc/passwd"])):
        forge(cache.secret(), change)
        assert reported()
    assert_each_hostile_file(path, reported)


def assert_each_hostile_file(path: Path, holds) -> None:
    """Put junk, a FIFO, a link to /dev/zero and an oversized file where the record file ``path`` is;
    ``holds()`` must be true after each (the command runs as without the record)."""
    for junk in (b"not json", b"[" * 100_000, b'["a", "b"]', b"\xff"):
        path.write_bytes(junk)
        assert holds(), junk
    path.unlink()
    os.mkfifo(path)
    assert holds()
    path.unlink()
    path.symlink_to("/dev/zero")
    assert holds()
    path.unlink()
    with open(path, "wb") as handle:  # larger than the bound: not read
        handle.truncate(wholestamp.MAX_FILE_BYTES + 1)
    assert holds()
    path.unlink()


def test_at_most_a_few_whole_records_are_kept_per_working_directory(project, settled, monkeypatch):
    monkeypatch.setattr(wholestamp, "MAX_RECORDS", 2)
    for paths in (["jobs/a"], ["jobs/b"], ["jobs"], []):
        build(*paths)
        build(*paths)
    assert len(list(cache.cache_root().glob("whole-*.json"))) == 2


def test_validate_is_served_by_its_record_and_sees_an_edit(project, settled, monkeypatch):
    from pfgen.cli import validate as validate_cli

    monkeypatch.setattr(validate_cli, "WHOLE_MIN", 1)
    build()
    build()
    first = CliRunner().invoke(main, ["validate"])
    second = CliRunner().invoke(main, ["validate"])  # records (first: the index decided) or served
    with monkeypatch.context() as patch:
        patch.setattr(stream, "validate", lambda *a, **k: pytest.fail("validated job by job"))
        served = CliRunner().invoke(main, ["validate"])
    assert first.output == second.output == served.output and served.exit_code == 0
    template = project / "jobs" / "b" / "pf-template.yml"
    _same_size_edit(template, b"num_devices: 8", b"num_devices: X")
    edited = CliRunner().invoke(main, ["validate"])
    assert edited.exit_code == 2 and "num_devices" in edited.output


def test_whole_record_sees_a_pfgen_yaml_made_above_the_paths_it_was_given(project, settled):
    """Discovery of `build jobs/b` never looks at jobs/; a pfgen.yaml made there governs job b: the stats
    of the directories between the template and its old config show it."""
    build("jobs/b")
    build("jobs/b")
    assert whole_file().is_file() and check("jobs/b").exit_code == 0
    (project / "jobs" / "pfgen.yaml").write_text((project / "pfgen.yaml").read_text().replace("ml-team", "ml-other"))
    assert check("jobs/b").exit_code == 1
    assert build("jobs/b").wrote and "namespace: ml-other\n" in (project / "jobs/deploy/job-b/pytorchjob.yaml").read_text()


def test_whole_record_of_a_build_compiled_in_workers_covers_its_pfgen_yaml(project, settled, monkeypatch):
    """Jobs compiled in worker processes (pfgen/output/parallel.py) read pfgen.yaml there; the record the
    parent makes must still stat it, or an edit of pfgen.yaml would be answered "unchanged"."""
    first = build()
    first.cache.path.unlink()  # the cache lost (a CI cache not restored), deploy/ as built
    forget_whole()
    monkeypatch.setenv("PFGEN_JOBS", "2")
    again = build()
    assert again.compiled == ["a", "b"] and not again.wrote
    assert whole_file().is_file()
    _same_size_edit(project / "pfgen.yaml", b"namespace: ml-team", b"namespace: ml-teax")
    result = check()
    assert result.exit_code == 1 and "namespace: ml-teax" in result.output


# --- the discovery record (wholestamp.Discovery): the templates found, by the stats of the directories listed ---


@pytest.fixture
def recorded(monkeypatch):
    """Discovery recorded even for the few directories of the test project."""
    monkeypatch.setattr(cachedir, "FOUND_MIN_DIRS", 1)


def found(monkeypatch, cached: bool = True) -> tuple[bool, tuple]:
    """(answered by the record, what `pfgen build` discovers: templates, output directories, warnings)."""
    from pfgen.cli import commands
    from pfgen.load import discover

    walks = []
    real = discover.find_jobs

    def spy(*args, **kwargs):
        walks.append(args)
        return real(*args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(discover, "find_jobs", spy)
        answer = commands.jobs((), None, allow_none=True, cached=cached)
    return not walks, answer


def walked(monkeypatch) -> tuple:
    """What discovery finds by walking (no record read or written)."""
    return found(monkeypatch, cached=False)[1]


def git(project: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args], cwd=project, check=True,
                   capture_output=True)


def test_discovery_is_answered_by_its_record_while_no_directory_changes(project, settled, recorded, monkeypatch):
    (project / "jobs" / "c").mkdir()
    (project / "jobs" / "c" / "pf-config.yml").write_text("x: 1\n")  # a near miss: a warning discovery gives
    assert found(monkeypatch)[0] is False  # walked, and recorded
    assert len(list(cache.cache_root().glob("found-*.json"))) == 1
    served, answer = found(monkeypatch)
    assert served and answer == walked(monkeypatch) and len(answer[0]) == 2 and len(answer[2]) == 1
    build()  # makes deploy/: the directory listed first changed, the next discovery walks and records
    before = snapshot(project)
    assert not build().wrote and found(monkeypatch)[0] and not build().wrote  # builds on a served discovery
    assert not build("--no-cache").wrote and snapshot(project) == before


def test_discovery_of_a_small_repository_is_not_recorded(project, settled, monkeypatch):
    found(monkeypatch)
    assert found(monkeypatch)[0] is False and not list(cache.cache_root().glob("found-*.json"))


@pytest.mark.parametrize("change", ["template in a new directory", "deleted template", "renamed directory",
                                    "near miss renamed", "nearer pfgen.yaml", "virtualenv made", "virtualenv unmade",
                                    "gitignore edited", "git exclude edited", "ignored file tracked"])
def test_discovery_record_misses_on_every_change_a_walk_would_see(project, settled, recorded, monkeypatch, change):
    """Each change makes discovery find something else; after it the record must not answer, and what is
    found is what a walk finds. The git changes leave every directory as it was (only git's answer shows
    them), so git is asked on every use of the record."""
    jobs = project / "jobs"
    (jobs / "old-venv").mkdir()
    (jobs / "old-venv" / "pyvenv.cfg").write_text("home = /usr\n")
    (jobs / "old-venv" / "j").mkdir()
    (jobs / "old-venv" / "j" / "pf-template.yml").write_text((jobs / "b" / "pf-template.yml").read_text())
    if change.startswith(("git", "ignored")):
        (project / ".gitignore").write_text("# nothing yet:\n#jobs/b/\n")
        git(project, "init", "-q")
        git(project, "add", "pfgen.yaml", ".gitignore")
        git(project, "commit", "-qm", "x")
        if change == "ignored file tracked":
            (project / ".gitignore").write_text("jobs/b/\n#######\n")
    assert found(monkeypatch)[0] is False
    served, before = found(monkeypatch)
    assert served and before == walked(monkeypatch)
    time.sleep(0.05)  # past the file system's timestamp granularity
    if change == "template in a new directory":
        (jobs / "c" / "deeper").mkdir(parents=True)
        shutil.copy(jobs / "b" / "pf-template.yml", jobs / "c" / "deeper" / "pf-template.yml")
    elif change == "deleted template":
        (jobs / "b" / "pf-template.yml").unlink()
    elif change == "renamed directory":
        (jobs / "b").rename(jobs / "c")
    elif change == "near miss renamed":
        (jobs / "b" / "pf-template.yml").rename(jobs / "b" / "pf-config.yml")
    elif change == "nearer pfgen.yaml":
        shutil.copy(project / "pfgen.yaml", jobs / "b" / "pfgen.yaml")
    elif change == "virtualenv made":
        (jobs / "b" / "pyvenv.cfg").write_text("home = /usr\n")
    elif change == "virtualenv unmade":
        (jobs / "old-venv" / "pyvenv.cfg").unlink()
    elif change == "gitignore edited":
        _same_size_edit(project / ".gitignore", b"#jobs/b/", b"/jobs/b/")
    elif change == "git exclude edited":
        with open(project / ".git" / "info" / "exclude", "a") as handle:
            handle.write("jobs/a/\n")
    elif change == "ignored file tracked":
        git(project, "add", "-f", "jobs/b/pf-template.yml")
    served, after = found(monkeypatch)
    assert not served and after == walked(monkeypatch) and after != before, change


def test_discovery_is_not_recorded_when_a_link_s_target_decides(project, settled, recorded, monkeypatch, tmp_path):
    """A link named pf-template.yml to a directory is no template; what it points to can become a file
    without any directory discovery lists changing: such a discovery is never recorded."""
    outside = tmp_path / "outside"
    (outside / "thing").mkdir(parents=True)
    (project / "jobs" / "c").mkdir()
    (project / "jobs" / "c" / "pf-template.yml").symlink_to(outside / "thing")
    found(monkeypatch)
    served, before = found(monkeypatch)
    assert not served and not list(cache.cache_root().glob("found-*.json"))
    (outside / "thing").rmdir()
    shutil.copy(project / "jobs" / "b" / "pf-template.yml", outside / "thing")
    served, after = found(monkeypatch)
    assert not served and len(after[0]) == len(before[0]) + 1


def test_forged_or_hostile_discovery_records_are_misses(project, settled, recorded, monkeypatch):
    """A record that leaves template b out, signed with a guessed key, is a miss (with the secret the same
    forgery is served: the secret is what keeps it out); so are junk and a tampered text."""
    made: list = []
    real_init = wholestamp.Discovery.__init__

    def spy(self, *args, **kwargs):
        real_init(self, *args, **kwargs)
        made.append(self)

    monkeypatch.setattr(wholestamp.Discovery, "__init__", spy)
    found(monkeypatch)
    context = made[-1].context
    path = next(cache.cache_root().glob("found-*.json"))
    good = json.loads(path.read_text())
    truth = walked(monkeypatch)

    def forge(key: bytes) -> None:
        def mac(text: str) -> str:
            return hmac.new(key, text.encode(), hashlib.sha256).hexdigest()

        record = json.loads(good[1])
        record["templates"] = [t for t in record["templates"] if "/b/" not in t]
        text = json.dumps(record)
        path.write_text(json.dumps([mac("found\0" + context + "\0" + text), text]))

    for key in (b"guessed", os.urandom(32)):
        forge(key)
        assert found(monkeypatch) == (False, truth)
    forge(cache.secret())
    served, answer = found(monkeypatch)
    assert served and len(answer[0]) == 1  # the forgery itself works, with the secret
    record = json.loads(good[1])
    record["templates"] = record["templates"][:1]
    path.write_text(json.dumps([good[0], json.dumps(record)]))  # the text changed under its MAC
    assert found(monkeypatch) == (False, truth)
    for junk in (b"not json", b"[" * 100_000, b'["a", "b"]', b"\xff"):
        path.write_bytes(junk)
        assert found(monkeypatch) == (False, truth)


def test_build_sees_a_gitignore_edit_that_leaves_every_directory_as_it_was(project, settled, recorded, monkeypatch):
    """A build takes discovery's record without waiting for git (git runs while the whole-build record is
    checked); a .gitignore rewritten so that it no longer hides job b must still be seen: both records
    are set aside and job b is built."""
    (project / ".gitignore").write_text("/jobs/b/\n")
    git(project, "init", "-q")
    build()
    proven(project)
    assert found(monkeypatch)[0] and not (project / "deploy" / "job-b").exists()  # discovery's record answers
    _same_size_edit(project / ".gitignore", b"/jobs/b/", b"#jobs/b/")
    result = check()
    assert result.exit_code == 1 and "job-b" in result.output
    assert build().wrote and (project / "deploy" / "job-b").is_dir()
    assert check().exit_code == 0


def test_a_recorded_discovery_error_fails_a_build_only_if_git_still_agrees(project, settled, recorded, monkeypatch):
    """Two templates in one directory is an error discovery gives; once .gitignore hides one of them (no
    directory changed), the build must not fail on the recorded error."""
    (project / "jobs" / "b" / "pf_config.yml").write_text((project / "jobs" / "b" / "pf-template.yml").read_text())
    (project / ".gitignore").write_text("#jobs/b/pf_config.yml\n")
    git(project, "init", "-q")
    assert build().exit_code == 2 and list(cache.cache_root().glob("found-*.json"))
    from pfgen.load import discover

    with monkeypatch.context() as patch:
        patch.setattr(discover, "find_jobs", lambda *a, **k: pytest.fail("walked"))
        assert build().exit_code == 2  # the error, from discovery's record
    _same_size_edit(project / ".gitignore", b"#jobs/b/", b"/jobs/b/")
    assert build().wrote and (project / "deploy" / "job-b").is_dir()


def test_validate_serves_from_the_index_read_only_and_keeps_only_what_its_record_needs(project, monkeypatch):
    """validate reads the build cache and never writes it: each entry's text is dropped once looked up
    and its job keeps only the dependencies (10,000 entries held ~30 MB). The verdict is the one the
    compiled templates give, the index file is not touched, and a save would be refused."""
    from pfgen.cli import validate as validate_cli

    build()
    opened: list = []
    real_open = validate_cli._validate_cache

    def spy(templates: int):
        found = real_open(templates)
        opened.append(found)
        return found

    monkeypatch.setattr(validate_cli, "_validate_cache", spy)
    monkeypatch.setattr(validate_cli, "WHOLE_MIN", 10**6)  # job by job, as after an edit
    index = cache.index_path()
    before = index.read_bytes()
    served = CliRunner().invoke(main, ["validate"])
    monkeypatch.setenv("PFGEN_CACHE", "off")
    compiled = CliRunner().invoke(main, ["validate"])
    assert served.exit_code == compiled.exit_code == 0 and served.output == compiled.output
    assert index.read_bytes() == before
    used = opened[0]
    assert used is not None and used.read_only and used.hits  # served from the index, not compiled
    assert all(used._raw.get(str(t.resolve())) is None for t in used.hits)
    with pytest.raises(RuntimeError, match="read-only"):
        used.save()
    monkeypatch.delenv("PFGEN_CACHE")
    fresh = BuildCache.open()
    fresh.read_only = True
    templates = sorted(used.hits)
    from pfgen.output.outdir import out_dir_for
    from pfgen.realpaths import resolved

    roots = {resolved(t): out_dir_for(t, None) for t in templates}
    jobs, _ = stream.collect(templates, roots, stream.CompileOptions(tag_images=False), texts=False, cache=fresh)
    assert len(fresh.hits) == len(jobs) == len(templates)
    assert all(job.entry is not None and set(job.entry) == {"deps"} for job in jobs)
