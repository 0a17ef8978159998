""".pfignore keeps git's meaning: checked against real git on a real tree."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from ignore_tree import PATTERN_FILES, make_tree
from pfgen.resolve.dockerignore import DockerIgnore
from pfgen.resolve.gitignore import GitIgnore, parse_gitignore
from pfgen.resolve.ignore import to_dockerignore

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


@pytest.mark.parametrize("pfignore", ["", "!**\n", "*\n!.*\n"])
def test_pfignore_and_dockerignore_are_never_sent(pfignore):
    files = [".pfignore", ".dockerignore", "main.py", "sub/.pfignore"]
    text, kept = to_dockerignore(pfignore, files)
    assert not kept & {".pfignore", ".dockerignore"}
    if not pfignore:
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


# -- random patterns against real git ---------------------------------------------

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_NAMES = ["a", "b", "ab", "a.py", "b.log", "x y", "[c]", "build", "d*"]
_TREE = sorted({"/".join(p) for p in [
    ("a",), ("a.py",), ("b", "a.py"), ("b", "b.log"), ("build", "a"), ("build", "b", "a.py"),
    ("ab", "build", "x y"), ("x y", "[c]"), ("d*", "a"), ("b", "ab", "a", "b.log"), ("ab", "a.py"),
]})
_atoms = st.sampled_from(["a", "b", "ab", "*", "?", "**", "[ab]", "[!a]", ".py", ".log", "build", "x\\ y", "\\[c]", "d\\*"])
_segment = st.lists(_atoms, min_size=1, max_size=3).map("".join)
_pattern = st.builds(
    lambda neg, lead, segs, trail: ("!" if neg else "") + ("/" if lead else "") + "/".join(segs) + ("/" if trail else ""),
    st.booleans(), st.booleans(), st.lists(_segment, min_size=1, max_size=3), st.booleans(),
)


@pytest.fixture(scope="module")
def random_tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("random-tree")
    for rel in _TREE:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(rel)
    git(root, "init", "-q")
    (root / ".git" / "info").mkdir(parents=True, exist_ok=True)
    return root


@needs_git
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(patterns=st.lists(_pattern, min_size=1, max_size=5))
def test_random_patterns_agree_with_git_and_translate_exactly(random_tree, patterns):
    text = "\n".join(patterns) + "\n"
    (random_tree / ".git" / "info" / "exclude").write_text(text, encoding="utf-8")
    out = git(random_tree, "ls-files", "-z", "--others", "--exclude-standard").stdout
    kept_by_git = {p.decode() for p in out.split(b"\0") if p}
    ours = GitIgnore.parse(text)
    assert {f for f in _TREE if not ours.excluded(f)} == kept_by_git
    dockerignore, kept = to_dockerignore(text, _TREE)
    assert kept == kept_by_git and DockerIgnore.parse(dockerignore).sent(_TREE) == kept


@pytest.mark.parametrize("name", ["end ", "tab\t", "nbsp\u00a0", " lead", "#hash", "!bang", "a\\b", "c^d", "[x]"])
def test_awkward_names_are_excluded_and_reincluded_exactly(name):
    files = [name, f"dir/{name}", "other"]
    for pfignore in ("*\n!other\n", f"other\n"):
        text, kept = to_dockerignore(pfignore, files)
        assert DockerIgnore.parse(text).sent(files) == kept


# -- reversed ranges and linear-time matching (issue 16) ----------------------------


@needs_git
@pytest.mark.parametrize("pattern", ["[z-a]", "[z-ab]x", "[b-a]*", "x[!z-a]"])
def test_reversed_ranges_match_what_git_matches(tmp_path, pattern):
    """git's wildmatch: a reversed range z-a adds nothing to 'z' (a regex would refuse to compile it)."""
    names = ["a", "b", "z", "ax", "bx", "zx", "xa", "xz", "b.log"]
    for name in names:
        (tmp_path / name).write_text(name)
    kept = git_kept_files(tmp_path, pattern + "\n")
    assert {n for n in names if not GitIgnore.parse(pattern + "\n").excluded(n)} == kept
    text, keep = to_dockerignore(pattern + "\n", names)
    assert DockerIgnore.parse(text).sent(names) == keep


_glob_atoms = st.sampled_from(["*", "**", "a", "b", "/", "?", "[ab]", "[!a]", "\\*", "[a-b]"])


@settings(max_examples=400, deadline=None)
@given(atoms=st.lists(_glob_atoms, min_size=1, max_size=8), anchored=st.booleans(),
       paths=st.lists(st.text("ab/*", max_size=12), min_size=1, max_size=10))
def test_linear_time_regexes_mean_what_the_plain_ones_mean(atoms, anchored, paths):
    """Runs of '*' are compiled with atomic groups (leftmost placement, no backtracking into them);
    on any pattern and path they agree with the plain translation, for git's and Docker's matcher.
    (How fast they are is measured by benchmarks/hostile_input.py, case pfignore-glob-backtracking.)"""
    from pfgen.resolve import dockerignore, gitignore, linearglob

    pattern = "".join(atoms)
    fast_git, fast_docker = gitignore.compile_git(pattern, anchored), dockerignore.compile_docker("/" + pattern)
    with pytest.MonkeyPatch.context() as m:
        m.setattr(linearglob, "linear", "".join)
        plain_git, plain_docker = gitignore.compile_git(pattern, anchored), dockerignore.compile_docker("/" + pattern)
    for path in paths:
        if fast_git is not None:
            assert bool(fast_git.fullmatch(path)) == bool(plain_git.fullmatch(path)), (pattern, path, fast_git.pattern)
        assert fast_docker.match(path) == plain_docker.match(path), (pattern, path)
