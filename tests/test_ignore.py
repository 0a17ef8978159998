""".pfignore keeps git's meaning: checked against real git on a real tree."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from ignore_tree import PATTERN_FILES, make_tree
from pfgen.ignore import DockerIgnore, GitIgnore, parse_gitignore, to_dockerignore

needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


def git(root, *args, stdin=None):
    return subprocess.run(
        ["git", "-C", str(root), *args], input=stdin, capture_output=True, check=False
    )


def git_kept_files(root, patterns: str) -> set[str]:
    """Files git leaves untracked-and-not-ignored with ``patterns`` as the exclude file."""
    git(root, "init", "-q")
    (root / ".git" / "info").mkdir(parents=True, exist_ok=True)
    (root / ".git" / "info" / "exclude").write_text(patterns, encoding="utf-8")
    out = git(root, "-c", "core.quotepath=off", "ls-files", "-z", "--others", "--exclude-standard").stdout
    return {p.decode() for p in out.split(b"\0") if p}


def git_check_ignore(root, paths: list[str]) -> set[str]:
    out = git(root, "check-ignore", "-z", "--stdin", stdin="\0".join(paths).encode() + b"\0").stdout
    return {p.decode() for p in out.split(b"\0") if p}


@needs_git
@pytest.mark.parametrize("patterns", PATTERN_FILES, ids=lambda p: p.stem)
def test_gitignore_semantics_match_git(tmp_path, patterns):
    files = make_tree(tmp_path)
    text = patterns.read_text(encoding="utf-8")
    kept_by_git = git_kept_files(tmp_path, text)
    ignored_by_git = git_check_ignore(tmp_path, files)
    ours = GitIgnore.parse(text)
    kept_by_us = {f for f in files if not ours.excluded(f)}
    assert kept_by_us == kept_by_git
    assert {f for f in files if ours.excluded(f)} == ignored_by_git


@needs_git
@pytest.mark.parametrize("patterns", PATTERN_FILES, ids=lambda p: p.stem)
def test_dockerignore_translation_keeps_what_git_keeps(tmp_path, patterns):
    files = make_tree(tmp_path)
    text = patterns.read_text(encoding="utf-8")
    dockerignore, kept = to_dockerignore(text, files)
    assert kept == git_kept_files(tmp_path, text)
    assert DockerIgnore.parse(dockerignore).sent(files) == kept


def test_pfignore_and_dockerignore_are_never_sent():
    files = [".pfignore", ".dockerignore", "main.py", "sub/.pfignore"]
    text, kept = to_dockerignore("", files)
    assert kept == {"main.py", "sub/.pfignore"}  # only the workspace's own .pfignore is special
    assert DockerIgnore.parse(text).sent(files) == kept


def test_reinclude_below_excluded_directory_gets_an_exact_correction():
    text, kept = to_dockerignore("build/\n!build/keep.txt\n", ["build/keep.txt", "main.py"])
    assert kept == {"main.py"}
    assert text.rstrip().endswith("/build/keep.txt")


@pytest.mark.parametrize(
    "line, problem",
    [("/", "matches nothing"), ("!", "matches nothing"), ("[abc", "unclosed")],
)
def test_malformed_patterns_are_reported_with_their_line(line, problem):
    rules, problems = parse_gitignore(f"ok.txt\n{line}\n")
    assert [p.line for p in problems] == [2]
    assert problem in problems[0].message


@pytest.mark.parametrize(
    "pattern, path, excluded",
    [
        ("*.py", "a/b/c.py", True),
        ("/*.py", "a/c.py", False),
        ("a/*.py", "a/b/c.py", False),
        ("a/**/c.py", "a/c.py", True),
        ("**/c.py", "x/y/c.py", True),
        ("a**b", "axyb", True),
        ("a**b", "ax/yb", False),
        ("logs/", "logs", False),
        ("trailing\\ ", "trailing ", True),
        ("[!a]x", "bx", True),
        ("[!a]x", "ax", False),
    ],
)
def test_git_rules(pattern, path, excluded):
    assert GitIgnore.parse(pattern).excluded(path) is excluded
