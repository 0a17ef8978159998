"""What pfgen emits is accepted by the cluster: every PyTorchJob validates against
the upstream CRD schema with unknown fields forbidden, passes the Training
Operator webhook's rules, and every output directory builds with kubectl kustomize."""

from __future__ import annotations

import copy
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from conftest import ROOT, crd_errors, load_stream

TREES = sorted([*ROOT.glob("examples/*/deploy"), *ROOT.glob("tests/golden/*/expected")])


def pytorchjobs() -> list[tuple[str, dict]]:
    """Every emitted PyTorchJob, including each Katib Experiment's trial job (with sample values substituted)."""
    from katib_runtime import trial_job

    found = []
    for path in sorted([*ROOT.glob("examples/*/deploy/*/pytorchjob.yaml"), *ROOT.glob("tests/golden/*/expected/*/pytorchjob.yaml")]):
        for doc in load_stream(path.read_text()):
            found.append((str(path.relative_to(ROOT)), doc))
    for path in sorted(ROOT.glob("examples/*/deploy/*/experiment.yaml")):
        for doc in load_stream(path.read_text()):
            found.append((f"{path.relative_to(ROOT)}#trial", trial_job(doc)))
    return found


JOBS = pytorchjobs()


def test_there_are_jobs_to_check():
    assert len(JOBS) >= 6


@pytest.mark.parametrize("where,job", JOBS, ids=[w for w, _ in JOBS])
def test_pytorchjob_matches_upstream_crd_strictly(where, job):
    assert crd_errors(job) == []


@pytest.mark.parametrize("where,job", JOBS, ids=[w for w, _ in JOBS])
def test_pytorchjob_passes_training_operator_webhook_rules(where, job):
    # pkg/webhooks/pytorch/pytorchjob_webhook.go (v1.9): DNS-1035 name, Master/Worker keys,
    # Master replicas exactly 1 and explicit, Worker >= 1, a container named pytorch with an image.
    assert re.fullmatch(r"[a-z]([-a-z0-9]*[a-z0-9])?", job["metadata"]["name"]) and len(job["metadata"]["name"]) <= 63
    specs = job["spec"]["pytorchReplicaSpecs"]
    assert set(specs) <= {"Master", "Worker"} and specs["Master"]["replicas"] == 1
    assert specs.get("Worker", {"replicas": 1})["replicas"] >= 1
    assert int(job["spec"]["nprocPerNode"]) >= 1
    for spec in specs.values():
        containers = spec["template"]["spec"]["containers"]
        assert any(c["name"] == "pytorch" and c.get("image") for c in containers)
        names = [e["name"] for c in containers for e in c.get("env", [])]
        assert not {"MASTER_ADDR", "MASTER_PORT", "WORLD_SIZE", "RANK"} & set(names)
        longest_pod = f"{job['metadata']['name']}-worker-{max(0, specs.get('Worker', {}).get('replicas', 1) - 1)}"
        assert len(longest_pod) <= 63


def test_strict_validation_rejects_a_misspelled_field():
    where, job = JOBS[0]
    bad = copy.deepcopy(job)
    bad["spec"]["pytorchReplicaSpecs"]["Master"]["template"]["spec"]["containers"][0]["imagePullPolicyy"] = "Always"
    assert any("imagePullPolicyy" in e for e in crd_errors(bad))
    bad = copy.deepcopy(job)
    bad["spec"]["nprocPerNode"] = 4  # must be a string
    assert crd_errors(bad)


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed: cannot run kubectl kustomize")
@pytest.mark.parametrize("tree", TREES, ids=[str(t.relative_to(ROOT)) for t in TREES])
def test_kubectl_kustomize_builds_every_output_tree(tree: Path):
    result = subprocess.run(["kubectl", "kustomize", str(tree)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    kinds = sorted(doc["kind"] for doc in yaml.safe_load_all(result.stdout) if doc)
    expected = sorted(doc["kind"] for f in tree.glob("*/*.yaml") if f.name != "kustomization.yaml"
                      for doc in load_stream(f.read_text()))
    assert kinds == expected
