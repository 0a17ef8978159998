"""PersistentVolumeClaims that a JobPlan needs pfgen to create."""

from __future__ import annotations

from pfgen.resolve.plan import Claim, JobPlan

# A job's checkpoint claim outlives the job: renaming or deleting the template drops it
# from deploy/, and a pruning sync would then delete the checkpoints. These annotations make
# Argo CD (sync option Prune=false) and Flux's kustomize-controller (prune: disabled) leave
# the claim on the cluster; `kubectl apply --prune` honours neither (docs/gitops.md).
KEEP_ON_PRUNE = {
    "argocd.argoproj.io/sync-options": "Prune=false",
    "kustomize.toolkit.fluxcd.io/prune": "disabled",
}


def build_claim(claim: Claim, plan: JobPlan) -> dict:
    labels = {"app.kubernetes.io/managed-by": "pfgen", "app.kubernetes.io/component": claim.purpose or "storage"}
    if claim.purpose == "checkpoint":
        labels["app.kubernetes.io/name"] = plan.name
    meta: dict = {"name": claim.name, "labels": labels}
    if claim.purpose == "checkpoint":
        meta["annotations"] = dict(KEEP_ON_PRUNE)
    if plan.namespace:
        meta["namespace"] = plan.namespace
    spec: dict = {"accessModes": list(claim.access_modes), "resources": {"requests": {"storage": claim.size}}}
    if claim.storage_class:
        spec["storageClassName"] = claim.storage_class
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": meta, "spec": spec}


def build(plan: JobPlan) -> list[dict]:
    return [build_claim(claim, plan) for claim in sorted(plan.claims, key=lambda c: c.name)]
