"""What the conformance suite checks, and with what.

Objects come from every generated tree in the repository (examples/*/deploy,
tests/golden/**) and from compiling every good template (examples and
tests/fixtures/good). Each object is checked by pfgen's strict verifier
(shipped schemas) and, for core kinds, independently by
``kubernetes-validate --strict``; every kustomization by ``kubectl kustomize``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import yaml

REPO = Path(__file__).resolve().parents[2]
# CI clones the repository with shared/ beside it; developers' worktrees sit deeper.
SHARED_CANDIDATES = [Path(os.environ["PFGEN_SHARED"])] if os.environ.get("PFGEN_SHARED") else []
SHARED_CANDIDATES += [REPO.parent / "shared", REPO.parent.parent / "shared", Path("/work/shared")]
TEMPLATE_NAMES = ("pf-template.yml", "pf-template.yaml")
# kubernetes-validate versions the core kinds are checked against: the one
# pfgen ships schemas for, and the newest the installed package knows.
CORE_API_GROUPS = ("v1", "apps/v1", "batch/v1", "rbac.authorization.k8s.io/v1", "networking.k8s.io/v1")


def shared_crds() -> Path | None:
    for candidate in SHARED_CANDIDATES:
        if (candidate / "crds" / "kubeflow.org_pytorchjobs.yaml").is_file():
            return candidate / "crds"
    return None


def output_dirs() -> list[Path]:
    """Generated trees committed to the repository."""
    dirs = sorted(p for p in [*(REPO / "examples").glob("*/deploy"), *(REPO / "examples").glob("*/deploy-trainjob")]
                  if p.is_dir())
    golden = REPO / "tests" / "golden"
    if golden.is_dir():
        dirs += sorted({p.parent for p in golden.rglob("kustomization.yaml")})
    return dirs


def output_files() -> list[Path]:
    files: set[Path] = set()
    for directory in output_dirs():
        files |= {p for p in directory.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file()}
    golden = REPO / "tests" / "golden"
    if golden.is_dir():
        files |= {p for p in golden.rglob("*.yaml") if p.is_file() and p.name not in TEMPLATE_NAMES and p.name != "pfgen.yaml"}
    return sorted(files)


def good_templates() -> list[Path]:
    found: set[Path] = set()
    for root in (REPO / "examples", REPO / "tests" / "fixtures" / "good", REPO / "tests" / "golden"):
        if root.is_dir():
            for name in TEMPLATE_NAMES:
                found |= set(root.rglob(name))
    return sorted(found)


def documents(path: Path) -> Iterator[dict]:
    for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
        if doc is not None:
            yield doc


def is_core(obj: dict) -> bool:
    return obj.get("apiVersion") in CORE_API_GROUPS


def kubernetes_validate(path: Path, version: str) -> list[str]:
    """Problems ``kubernetes-validate --strict`` reports; a warning (e.g. unknown kind) counts as one."""
    binary = shutil.which("kubernetes-validate", path=str(Path(sys.executable).parent)) or shutil.which("kubernetes-validate")
    assert binary, "kubernetes-validate is a test dependency (pip install -e '.[test]')"
    result = subprocess.run(
        [binary, "--strict", "-k", version, str(path)], capture_output=True, text=True, timeout=120, check=False
    )
    lines = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
    problems = [line for line in lines if not line.startswith("INFO ")]
    if result.returncode != 0 and not problems:
        problems.append(f"exit {result.returncode}")
    if not lines:
        problems.append("kubernetes-validate printed nothing: nothing was validated")
    return problems


def kubernetes_validate_versions() -> list[str]:
    from kubernetes_validate.utils import latest_version

    from pfgen.kube.schemas import KUBERNETES_VERSION

    return sorted({KUBERNETES_VERSION, latest_version()})


def kubectl_kustomize(directory: Path) -> subprocess.CompletedProcess:
    binary = shutil.which("kubectl")
    assert binary, "kubectl is needed (see .ci/setup.d/50-kubectl.sh)"
    env = {k: v for k, v in os.environ.items() if not k.startswith("KUBE")}
    return subprocess.run([binary, "kustomize", str(directory)], capture_output=True, text=True, env=env, timeout=120, check=False)
