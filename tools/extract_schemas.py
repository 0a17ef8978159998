#!/usr/bin/env python3
"""Regenerate the schema data that ``pfgen verify`` ships (schemas/crds, schemas/k8s).

Maintainer tool, not part of pfgen. It copies schemas out of their sources
without changing them (the strict reading is applied when pfgen loads them,
see pfgen/kube/verify.py), so that each shipped file can be compared with its
upstream original. Sources and their commits are listed in
schemas/crds/SOURCES.md and schemas/k8s/SOURCES.md.

    python tools/extract_schemas.py --shared ../shared \\
        --crd external-secrets.io_externalsecrets.yaml --crd bitnami.com_sealedsecrets.yaml

``--check`` compares instead of writing (exit 1 on a difference).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
K8S_VERSION = "1.36.0"
# Core kinds pfgen may emit; their kubernetes-validate schemas and the closure
# of definitions they refer to are shipped.
CORE_KINDS = ("configmap-v1", "namespace-v1", "persistentvolumeclaim-v1", "secret-v1", "serviceaccount-v1")
# Definitions that verify.py uses on its own (metadata of custom resources).
CORE_EXTRA_DEFS = ("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta",)
KATIB_ROOT = "v1beta1.Experiment"
TRAINJOB_CRD = "trainer-v2.3.0/trainer.kubeflow.org_trainjobs.yaml"  # Kubeflow Trainer v2.3.0


def dump(value: Any) -> str:
    return json.dumps(value, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def crd_files(crd_path: Path) -> dict[str, str]:
    """One file per served version: {group, version, kind, openAPIV3Schema} exactly as in the CRD."""
    crd = yaml.safe_load(crd_path.read_text(encoding="utf-8"))
    spec = crd["spec"]
    out = {}
    for version in spec["versions"]:
        if not version.get("served"):
            continue
        name = f"{spec['group']}_{spec['names']['plural']}.{version['name']}.json"
        out[name] = dump(
            {
                "group": spec["group"],
                "version": version["name"],
                "kind": spec["names"]["kind"],
                "source": crd_path.name,
                "openAPIV3Schema": version["schema"]["openAPIV3Schema"],
            }
        )
    return out


def _refs(value: Any, prefix: str) -> set[str]:
    """Names that ``$ref``s ending in ``<prefix><name>`` point at."""
    found: set[str] = set()
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "$ref" and isinstance(item, str) and prefix in item:
                found.add(item.split(prefix, 1)[1])
            else:
                found |= _refs(item, prefix)
    elif isinstance(value, list):
        for item in value:
            found |= _refs(item, prefix)
    return found


def closure(defs: dict[str, Any], roots: set[str], prefix: str) -> dict[str, Any]:
    todo, seen = list(roots), set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        todo.extend(_refs(defs[name], prefix) - seen)
    return {name: defs[name] for name in sorted(seen)}


def katib_file(swagger_path: Path) -> dict[str, str]:
    swagger = json.loads(swagger_path.read_text(encoding="utf-8"))
    schemas = swagger["components"]["schemas"]
    prefix = "#/components/schemas/"
    return {
        "kubeflow.org_experiments.v1beta1.openapi.json": dump(
            {
                "group": "kubeflow.org",
                "version": "v1beta1",
                "kind": "Experiment",
                "root": KATIB_ROOT,
                "source": f"{swagger_path.name} (components.schemas reachable from {KATIB_ROOT})",
                "openapi": swagger["openapi"],
                "components": {"schemas": closure(schemas, {KATIB_ROOT}, prefix)},
            }
        )
    }


def core_files() -> dict[str, str]:
    import kubernetes_validate

    base = Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema" / f"v{K8S_VERSION}-local-strict"
    definitions = json.loads((base / "_definitions.json").read_text(encoding="utf-8"))
    prefix = "/api/_definitions.json#/$defs/"
    out, roots = {}, set(CORE_EXTRA_DEFS)
    for kind in CORE_KINDS:
        text = (base / f"{kind}.json").read_text(encoding="utf-8")
        out[f"{kind}.json"] = text
        roots |= _refs(json.loads(text), prefix)
    trimmed = dict(definitions)
    trimmed["$defs"] = closure(definitions["$defs"], roots, "#/$defs/")
    out["_definitions.json"] = dump(trimmed)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared", help="the shared/ folder with crds/")
    parser.add_argument("--crd", type=Path, action="append", default=[], help="another upstream CRD file to ship")
    parser.add_argument("--check", action="store_true", help="compare with the shipped files instead of writing")
    args = parser.parse_args()

    wanted: dict[Path, str] = {}
    crds = ROOT / "schemas" / "crds"
    for path in [args.shared / "crds" / "kubeflow.org_pytorchjobs.yaml", args.shared / "crds" / TRAINJOB_CRD, *args.crd]:
        for name, text in crd_files(path).items():
            wanted[crds / name] = text
    for name, text in katib_file(args.shared / "crds" / "katib-openapi" / "swagger.json").items():
        wanted[crds / name] = text
    for name, text in core_files().items():
        wanted[ROOT / "schemas" / "k8s" / f"v{K8S_VERSION}-local-strict" / name] = text

    differ = 0
    for path, text in sorted(wanted.items()):
        if args.check:
            if not path.is_file() or path.read_text(encoding="utf-8") != text:
                print(f"differs: {path.relative_to(ROOT)}")
                differ = 1
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path.relative_to(ROOT)}")
    return differ


if __name__ == "__main__":
    sys.exit(main())
