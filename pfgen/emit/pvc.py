"""PersistentVolumeClaims that a JobPlan needs pfgen to create."""

from __future__ import annotations

from pfgen.resolve.plan import Claim, JobPlan


def build_claim(claim: Claim, plan: JobPlan) -> dict:
    labels = {"app.kubernetes.io/managed-by": "pfgen", "app.kubernetes.io/component": claim.purpose or "storage"}
    if claim.purpose == "checkpoint":
        labels["app.kubernetes.io/name"] = plan.name
    meta: dict = {"name": claim.name, "labels": labels}
    if plan.namespace:
        meta["namespace"] = plan.namespace
    spec: dict = {"accessModes": list(claim.access_modes), "resources": {"requests": {"storage": claim.size}}}
    if claim.storage_class:
        spec["storageClassName"] = claim.storage_class
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": meta, "spec": spec}


def build(plan: JobPlan) -> list[dict]:
    return [build_claim(claim, plan) for claim in sorted(plan.claims, key=lambda c: c.name)]
