"""The streaming build (pfgen/output/stream.py) lays out exactly what layout.layout lays out from whole jobs,
and serves from the cache exactly what it would compile."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pfgen.load.discover import find_templates
from pfgen.output import layout as build_mod
from pfgen.output import stream
from pfgen.output.cache import BuildCache
from pfgen.validate.config import load_config
from pfgen.errors import UserError
from pfgen.pipeline import CompileOptions

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))

import generate  # noqa: E402


@pytest.fixture
def monorepo(tmp_path, monkeypatch):
    root = tmp_path / "monorepo"
    generate.generate(root, 60, seed=3)
    monkeypatch.chdir(root)
    monkeypatch.setenv("PFGEN_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.delenv("PFGEN_CACHE", raising=False)
    load_config.cache_clear()
    yield root
    load_config.cache_clear()


def _old_trees(templates):
    """The whole-job layout's trees, with the markers the streaming build's trees carry (Tree)."""
    from pfgen.output.markers import add_header

    result = build_mod.build_trees(templates, None, CompileOptions())
    return {root: ({name: {rel: add_header(rel, text, tree.sources.get(name, name)) for rel, text in files.items()}
                    for name, files in tree.jobs.items()}, tree.sources, tree.root_files)
            for root, tree in result.trees.items()}


def test_same_trees_as_the_whole_job_layout(monorepo):
    templates = find_templates([Path(".")])
    expected = _old_trees(templates)
    result = stream.build(templates, None, CompileOptions())
    got = {root: (tree.jobs, tree.sources, tree.root_files) for root, tree in result.trees.items()}
    assert got == expected
    assert any("_shared" in jobs for jobs, _, _ in got.values())  # the monorepo shares claims


def test_files_of_a_summary_are_the_compiled_jobs_files():
    templates = find_templates([ROOT / "examples", ROOT / "tests" / "corpus" / "periflow-sdk"])
    compared = 0
    for template in templates:
        try:
            job = build_mod.compile_all([template])[0][0][1]
        except UserError:  # a public template pfgen refuses is not this test's business
            continue
        summary = stream.compile_one(template, CompileOptions(), Path("deploy"), texts=True)
        assert stream.files_of(summary) == job.files, template
        compared += 1
    assert compared >= 15


def test_served_jobs_give_the_same_trees_and_leave_directories_alone(monorepo):
    from pfgen.output.write import write_tree

    templates = find_templates([Path(".")])
    expected = _old_trees(templates)
    first = stream.build(templates, None, CompileOptions(), cache=BuildCache.open())
    for root, tree in first.trees.items():
        write_tree(root, tree.jobs, check=False, sources=tree.sources, root_files=tree.root_files, unchanged=tree.unchanged,
                   headered=True)
    warm = BuildCache.open()
    second = stream.build(templates, None, CompileOptions(), cache=warm)
    assert len(warm.hits) == len(templates) and not warm.compiled
    for root, tree in second.trees.items():
        jobs, sources, root_files = expected[root]
        assert tree.unchanged == {name for name in jobs if not name.startswith("_")}
        assert tree.root_files == root_files and {k: v for k, v in sources.items()} == tree.sources
        assert write_tree(root, tree.jobs, check=True, sources=tree.sources, root_files=tree.root_files,
                          unchanged=tree.unchanged, headered=True).changes == []
    # an edited output file: that job is compiled again and its directory rewritten, the rest stays served
    root = next(iter(second.trees))
    victim = sorted(second.trees[root].unchanged)[0]
    path = root / victim / "kustomization.yaml"
    path.write_text(path.read_text() + "# hand edit\n")
    third_cache = BuildCache.open()
    third = stream.build(templates, None, CompileOptions(), cache=third_cache)
    assert victim not in third.trees[root].unchanged and victim in third.trees[root].jobs
    assert third.trees[root].jobs[victim] == expected[root][0][victim]
    assert len(third_cache.compiled) == 1


def test_validate_from_the_cache_reports_the_same(monorepo):
    templates = find_templates([Path(".")])
    count, warnings = stream.validate(templates)
    stream.build(templates, None, CompileOptions(), cache=BuildCache.open())
    warm = BuildCache.open()
    assert stream.validate(templates, warm) == (count, warnings)
    assert len(warm.hits) == len(templates) and count == 60


_components = st.lists(st.sampled_from(["a", "b", "..", ".", "", "c d", "é"]), max_size=5)


@settings(max_examples=500, deadline=None)
@given(base=_components, path=_components)
def test_relative_to_is_relpath(base, path):
    """stream.relative_to (the _shared/ marker's list of templates) answers as os.path.relpath."""
    from pfgen.output.stream import relative_to

    base_text, path_text = "/" + "/".join(base), "/" + "/".join(path)
    assert relative_to(base_text)(path_text) == os.path.relpath(path_text, base_text)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["b.yml", "a.yml", "a"]), st.integers(1, 3), st.integers(1, 3),
                          st.sampled_from(["x", "y", ""]), st.sampled_from(["warning", "note", "error"])), max_size=30))
def test_ordered_diagnostics_are_sorted_diagnostics(rows):
    from pfgen.errors import Diagnostic, ordered

    diagnostics = [Diagnostic(*row) for row in rows]
    assert ordered(diagnostics) == sorted(set(diagnostics))
