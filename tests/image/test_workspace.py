"""Workspace scanning, the content-addressed tag and the Dockerfile."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from ignore_tree import make_tree
from pfgen.emit.dockerfile import render
from pfgen.image.workspace import write_context
from pfgen.pipeline import tagged_image
from pfgen.resolve.job import workspace_image_for
from pfgen.resolve.workspace import SIZE_LIMIT, image_tag, scan

PFIGNORE = "__pycache__/\n*.pyc\nbuild/\n!build/keep.txt\n*.log\n!important.log\n/data\nckpt/*.pt\n"
DOCKERFILE = render(base_image="pytorch/pytorch:2.1.0", mount_path="/workspace", workspace_name="cifar")


def workspace(root: Path) -> Path:
    make_tree(root)
    (root / ".pfignore").write_text(PFIGNORE)
    return root


def tag_of(root: Path, dockerfile: str = DOCKERFILE) -> str:
    ws, diagnostics = scan(root, file="pf-template.yml", pos=(3, 5))
    assert ws is not None, diagnostics
    return image_tag(dockerfile, ws)


def plan(root: Path, **overrides):
    args = dict(
        job="cifar", base_image="pytorch/pytorch:2.1.0", mount_path="/workspace", workspace_dir=root,
        registry="registry.example.com/team", file="pf-template.yml",
        workspace_pos=(9, 11), image_pos=(4, 12), mount_pos=(10, 17),
    )  # fmt: skip
    args.update(overrides)
    image, diagnostics = workspace_image_for(**args)  # checked and scanned, then tagged as the pipeline does
    return (tagged_image(image) if image is not None else None), diagnostics


# -- tag stability -------------------------------------------------------------


def test_same_tree_in_two_git_checkouts_has_the_same_tag(tmp_path):
    source = workspace(tmp_path / "src" / "cifar")
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "init", "-q", str(source)], check=True)
    subprocess.run([*git, "-C", str(source), "add", "-f", "."], check=True)
    subprocess.run([*git, "-C", str(source), "commit", "-qm", "tree"], check=True)
    tags = []
    for name in ("one", "two"):
        checkout = tmp_path / name / "cifar"
        subprocess.run(["git", "clone", "-q", str(source), str(checkout)], check=True)
        shutil.rmtree(checkout / ".git")
        tags.append(tag_of(checkout))
    assert tags[0] == tags[1]
    assert tags[0].startswith("sha-") and len(tags[0]) == len("sha-") + 16


def test_mtimes_owners_and_location_do_not_change_the_tag(tmp_path):
    a = workspace(tmp_path / "a" / "cifar")
    b = tmp_path / "elsewhere" / "deeper" / "cifar"
    shutil.copytree(a, b, copy_function=shutil.copyfile)  # fresh mtimes
    for path in b.rglob("*"):
        os.utime(path, (1_000_000, 1_000_000), follow_symlinks=False)
        os.chown(path, 1234, 5678, follow_symlinks=False) if os.geteuid() == 0 else None
    os.chmod(b / "run.sh", 0o755)
    assert tag_of(a) == tag_of(b)


def test_changing_any_included_byte_changes_the_tag(tmp_path):
    root = workspace(tmp_path / "cifar")
    before = tag_of(root)
    path = root / "src" / "m.py"
    data = bytearray(path.read_bytes())
    data[3] ^= 1
    path.write_bytes(bytes(data))
    assert tag_of(root) != before


@pytest.mark.parametrize(
    "change",
    [
        lambda r: os.chmod(r / "main.py", 0o755),  # the exec bit is content
        lambda r: (r / "main.py").rename(r / "main2.py"),
        lambda r: (r / "new.txt").write_text(""),  # even an empty new file
        lambda r: (r / "logs" / "important.log").write_text("changed\n"),  # re-included by '!'
    ],
    ids=["exec-bit", "rename", "new-empty-file", "reincluded-file"],
)
def test_included_changes_change_the_tag(tmp_path, change):
    root = workspace(tmp_path / "cifar")
    before = tag_of(root)
    change(root)
    assert tag_of(root) != before


@pytest.mark.parametrize(
    "change",
    [
        lambda r: (r / "debug.log").write_text("other log\n"),
        lambda r: (r / "build" / "out.o").write_bytes(b"\0" * 10),
        lambda r: (r / "build" / "keep.txt").write_text("x"),  # '!' cannot re-include below build/
        lambda r: (r / "data" / "more.bin").write_bytes(b"x"),
        lambda r: (r / "src" / "__pycache__" / "new.pyc").write_bytes(b"y"),
        lambda r: (r / ".pfignore").write_text(PFIGNORE + "# a comment\n*.tmp\n"),  # same files kept
    ],
    ids=["ignored-log", "ignored-dir-file", "not-reincludable", "ignored-root-dir", "new-ignored-file", "pfignore-edit"],
)
def test_ignored_changes_keep_the_tag(tmp_path, change):
    root = workspace(tmp_path / "cifar")
    before = tag_of(root)
    change(root)
    assert tag_of(root) == before


def test_dockerfile_is_part_of_the_tag(tmp_path):
    root = workspace(tmp_path / "cifar")
    other = render(base_image="pytorch/pytorch:2.2.0", mount_path="/workspace", workspace_name="cifar")
    assert tag_of(root) != tag_of(root, other)


def test_build_context_tar_holds_exactly_the_hashed_files(tmp_path):
    root = workspace(tmp_path / "cifar")
    ws, _ = scan(root, file="t", pos=(1, 1))
    out = io.BytesIO()
    assert write_context(DOCKERFILE, ws, out) == image_tag(DOCKERFILE, ws)
    with tarfile.open(fileobj=io.BytesIO(out.getvalue())) as tar:
        members = {m.name: m for m in tar.getmembers() if m.isfile()}
    assert set(members) == {f.path for f in ws.files} | {".pfgen.Dockerfile", ".dockerignore"}
    assert members["run.sh"].mode == 0o755 and members["main.py"].mode == 0o644
    assert {m.mtime for m in members.values()} == {0}


# -- scanning diagnostics ------------------------------------------------------


def test_empty_workspace_is_an_error_at_workspace_path(tmp_path):
    (tmp_path / "cifar").mkdir()
    image, diagnostics = plan(tmp_path / "cifar")
    assert image is None
    assert [str(d) for d in diagnostics] == [
        f"pf-template.yml:9:11: error: workspace '{tmp_path / 'cifar'}' has no files to copy; "
        "PeriFlow rejected an empty workspace"
    ]


def test_everything_ignored_is_an_error(tmp_path):
    root = tmp_path / "cifar"
    root.mkdir()
    (root / "a.log").write_text("x")
    (root / ".pfignore").write_text("*.log\n")
    image, diagnostics = plan(root)
    assert image is None and "no files to copy after applying .pfignore" in diagnostics[0].message


def test_missing_workspace_is_an_error(tmp_path):
    image, diagnostics = plan(tmp_path / "nope", display="./nope")
    assert image is None
    assert [(d.line, d.col, d.message) for d in diagnostics] == [(9, 11, "workspace directory './nope' does not exist")]


def test_over_100_mib_is_a_warning(tmp_path):
    root = tmp_path / "cifar"
    root.mkdir()
    with open(root / "weights.bin", "wb") as handle:
        handle.truncate(SIZE_LIMIT + 1)  # sparse: cheap on disk
    image, diagnostics = plan(root)
    assert image is not None
    assert [d.severity for d in diagnostics] == ["warning"]
    assert "over PeriFlow's 100 MiB limit" in diagnostics[0].message


def test_exactly_100_mib_is_fine(tmp_path):
    root = tmp_path / "cifar"
    root.mkdir()
    with open(root / "weights.bin", "wb") as handle:
        handle.truncate(SIZE_LIMIT)
    image, diagnostics = plan(root)
    assert image is not None and diagnostics == []


def test_no_registry_is_a_positioned_error(tmp_path):
    root = workspace(tmp_path / "cifar")
    image, diagnostics = plan(root, registry=None)
    assert image is None
    assert (diagnostics[0].line, diagnostics[0].col) == (9, 11)
    assert "set 'registry:' in pfgen.yaml" in diagnostics[0].message


def test_symlinks_are_not_copied_and_warned_about(tmp_path):
    root = workspace(tmp_path / "cifar")
    (root / "link.py").symlink_to("main.py")
    image, diagnostics = plan(root)
    assert image is not None
    assert [d.severity for d in diagnostics] == ["warning"] and "symbolic link" in diagnostics[0].message
    assert "/link.py" in image.dockerignore.splitlines()


def test_bad_pfignore_line_is_a_warning_at_its_line(tmp_path):
    root = workspace(tmp_path / "cifar")
    (root / ".pfignore").write_text("*.log\n[oops\n")
    image, diagnostics = plan(root)
    assert image is not None
    assert [(d.file, d.line, d.severity) for d in diagnostics] == [(str(root / ".pfignore"), 2, "warning")]


def test_image_reference_is_registry_job_and_tag(tmp_path):
    root = workspace(tmp_path / "cifar")
    image, diagnostics = plan(root, registry="127.0.0.1:5000/team/")
    assert diagnostics == []
    assert image.reference == f"127.0.0.1:5000/team/cifar:{image.tag}"
    assert image.file_count == 43 and image.total_bytes > 0


# -- the Dockerfile --------------------------------------------------------------


def test_dockerfile_copies_the_workspace_where_periflow_mounted_it():
    text = render(base_image="friendliai/periflow:sdk", mount_path="/workspace/", workspace_name="my cifar")
    lines = [line for line in text.splitlines() if not line.startswith("#")]
    assert lines == ["FROM friendliai/periflow:sdk", 'COPY [".", "/workspace/my cifar/"]', "WORKDIR /workspace"]


@pytest.mark.parametrize(
    "field, value, pos",
    [
        ("base_image", "ubuntu\nRUN rm -rf /", (4, 12)),
        ("base_image", "Ubuntu:22.04", (4, 12)),
        ("mount_path", "/work$HOME", (10, 17)),
        ("mount_path", "relative", (10, 17)),
        ("mount_path", "/a b", (10, 17)),
    ],
)
def test_values_that_would_change_the_dockerfile_are_errors(tmp_path, field, value, pos):
    root = workspace(tmp_path / "cifar")
    image, diagnostics = plan(root, **{field: value})
    assert image is None
    assert [(d.line, d.col) for d in diagnostics if d.is_error] == [pos]


def test_workspace_name_with_a_dollar_is_an_error(tmp_path):
    root = workspace(tmp_path / "ci$far")
    image, diagnostics = plan(root)
    assert image is None and "cannot be used in a Dockerfile path" in diagnostics[0].message


@pytest.mark.parametrize("length", [0, 1, 4096, (1 << 20) - 1, 1 << 20, (1 << 20) + 1, 3 * (1 << 20) + 7])
def test_a_workspace_file_reads_whole_whatever_its_size_and_the_size_the_scan_saw(tmp_path, length):
    """read_file asks for the scan's size and one byte first (not a 1 MiB chunk): the file reads
    whole whether the scan's size is right, too small (it grew) or too large (it shrank)."""
    from pfgen.resolve.workspace import read_file

    data = os.urandom(length)
    (tmp_path / "f.bin").write_bytes(data)
    for seen in {length, max(0, length - 1), length + 1, 0, None}:
        assert b"".join(read_file(tmp_path, "f.bin", seen)) == data, seen
