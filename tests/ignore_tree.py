"""Shared helper: materialise tests/fixtures/workspace/pfignore/tree.txt in a directory."""

from __future__ import annotations

import os
from pathlib import Path

CASES = Path(__file__).resolve().parent / "fixtures" / "workspace" / "pfignore"
PATTERN_FILES = sorted(CASES.glob("*.pfignore"))


def tree_paths() -> list[tuple[str, bool]]:
    paths = []
    for line in (CASES / "tree.txt").read_text(encoding="utf-8").split("\n"):
        if not line or line.startswith("# "):
            continue
        executable = line.endswith("*") and not line.endswith("\\*")
        paths.append((line[:-1] if executable else line, executable))
    return paths


def make_tree(root: Path) -> list[str]:
    names = []
    for rel, executable in tree_paths():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"content of {rel}\n", encoding="utf-8")
        if executable:
            os.chmod(path, 0o755)
        names.append(rel)
    return sorted(names)
