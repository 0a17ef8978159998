"""The stage boundaries of docs/architecture.md, read from pfgen's import graph.

Every ``import``/``from ... import`` in pfgen (module level, inside functions and
under TYPE_CHECKING alike) is an edge. The rules:

* each stage package imports only the packages its row of ``ALLOWED`` names;
* nothing but pfgen.__main__ and pfgen.cli imports pfgen.cli;
* no module imports another module's ``_private`` name.

``KNOWN`` lists the edges that still break a rule, each with what removes it; the
test fails when one disappears, so the list only shrinks.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pfgen

PACKAGE = Path(pfgen.__file__).resolve().parent

# stage -> what its modules may import (a package, or one module of another package)
ALLOWED = {
    "load": {"load", "errors", "safefs"},
    "validate": {"validate", "load", "errors", "resources", "kube", "secrets", "resolve.plan", "resolve.vms", "realpaths"},
    "resolve": {"resolve", "load", "validate", "errors", "kube", "secrets", "safefs", "realpaths"},
    "emit": {"emit", "resolve.plan", "kube", "resources", "secrets.credentials"},
    "kube": {"kube", "errors", "resources", "load", "safefs"},
    "output": {"output", "pipeline", "load", "validate", "emit", "resolve.plan", "errors", "resources", "kube", "safefs",
               "realpaths", "secrets.objects"},
    "secrets": {"secrets", "load", "validate", "resolve.plan", "emit", "output", "errors", "kube"},
    "image": {"image", "resolve.plan", "resolve.workspace", "errors", "safefs"},
    "runlocal": {"runlocal", "pipeline", "kube", "errors"},
    "pipeline": {"load", "validate", "resolve", "emit", "secrets", "output.dump", "errors"},
    "errors": {"realpaths"},
    "safefs": set(),
    "realpaths": set(),
    "resources": set(),
}

# (importer, imported) edges that break a rule today, and what removes them
KNOWN = {
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _edges() -> list[tuple[str, str, str, int]]:
    """(importer, imported module, imported name or '', line) for every pfgen import."""
    edges = []
    for path in sorted(PACKAGE.rglob("*.py")):
        importer = _module_name(path)
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                edges += [(importer, a.name, "", node.lineno) for a in node.names if a.name.split(".")[0] == "pfgen"]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module \
                    and node.module.split(".")[0] == "pfgen":
                for alias in node.names:
                    if node.module == "pfgen" or f"{node.module}.{alias.name}" in _modules():
                        edges.append((importer, f"{node.module}.{alias.name}", "", node.lineno))  # a submodule
                    else:
                        edges.append((importer, node.module, alias.name, node.lineno))
    return edges


def _modules() -> set[str]:
    return {_module_name(p) for p in PACKAGE.rglob("*.py")}


def _stage(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _allowed(importer: str, imported: str) -> bool:
    stage = _stage(importer)
    if stage not in ALLOWED or imported in ("pfgen", "pfgen.__version__"):  # the package: its version, its path
        return True
    target = imported.removeprefix("pfgen.")
    return any(target == a or target.startswith(a + ".") for a in ALLOWED[stage])


def test_every_stage_has_a_row():
    stages = {_stage(m) for m in _modules()} - {"", "__main__", "cli"}
    assert stages <= set(ALLOWED), f"add {sorted(stages - set(ALLOWED))} to ALLOWED (and docs/architecture.md)"


def test_stages_import_only_what_they_may():
    broken = sorted({(i, m) for i, m, _, _ in _edges() if not _allowed(i, m)})
    new = [edge for edge in broken if edge not in KNOWN]
    assert not new, "imports that cross a stage boundary (docs/architecture.md):\n" + "\n".join(
        f"  {i} -> {m}" for i, m in new)
    gone = sorted(set(KNOWN) - set(broken))
    assert not gone, f"fixed, remove from KNOWN: {gone}"


def test_only_main_imports_the_cli():
    offenders = sorted({(i, m) for i, m, _, _ in _edges()
                        if _stage(m) == "cli" and _stage(i) not in ("cli", "__main__")})
    assert not offenders, offenders


def test_no_module_imports_another_modules_private_names():
    private = sorted({(i, f"{m}.{n}", line) for i, m, n, line in _edges()
                      if n.startswith("_") and not n.startswith("__") and m != i})
    private += sorted({(i, m, line) for i, m, _, line in _edges() if m.rsplit(".", 1)[-1].startswith("_")
                       and not m.rsplit(".", 1)[-1].startswith("__")})
    assert not private, private


def test_the_rules_see_the_edges_they_are_about():
    """The graph is read at all: known edges of each kind are found."""
    edges = {(i, m) for i, m, _, _ in _edges()}
    assert ("pfgen.emit.pytorchjob", "pfgen.resolve.plan") in edges
    assert ("pfgen.pipeline", "pfgen.validate.schema") in edges  # `from pfgen.validate import schema`
    assert ("pfgen.__main__", "pfgen.cli.main") in edges
    assert not _allowed("pfgen.emit.katib", "pfgen.validate.tuning")
    assert not _allowed("pfgen.load.discover", "pfgen.pipeline")
