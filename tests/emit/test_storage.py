"""Storage (issue 15): checkpoint claims that Argo CD and Flux never prune (docs/gitops.md)."""

from __future__ import annotations

from conftest import ROOT
from pfgen.emit.pvc import KEEP_ON_PRUNE
from pfgen.pipeline import compile_job
from pfgen.validate.config import load_config

TEMPLATE = """\
name: storage-check
vm: azure-16gb-v100-4g-eastus-spot
num_devices: 8
job_setting: {type: custom, docker: {image: busybox, command: "true"}}
data: {name: imagenet-1k, mount_path: /data}
checkpoint:
  input: {id: pretrain-ckpt, mount_path: /init}
  output_checkpoint_dir: /ckpt
"""


def test_only_checkpoint_claims_carry_the_keep_annotations(tmp_path):
    load_config.cache_clear()
    (tmp_path / "pfgen.yaml").write_text("storage: {class: azurefile-csi-premium}\n")
    (tmp_path / "pf-template.yml").write_text(TEMPLATE)
    objects = compile_job(tmp_path / "pf-template.yml").objects
    claims = {o["metadata"]["name"]: o for o in objects if o["kind"] == "PersistentVolumeClaim"}
    assert set(claims) == {"imagenet-1k", "storage-check-ckpt"}
    assert claims["storage-check-ckpt"]["metadata"]["annotations"] == {
        "argocd.argoproj.io/sync-options": "Prune=false", "kustomize.toolkit.fluxcd.io/prune": "disabled"}
    assert claims["storage-check-ckpt"]["metadata"]["labels"]["app.kubernetes.io/component"] == "checkpoint"
    assert "annotations" not in claims["imagenet-1k"]["metadata"]
    assert KEEP_ON_PRUNE == claims["storage-check-ckpt"]["metadata"]["annotations"]


def test_the_committed_examples_checkpoint_claims_are_annotated():
    text = (ROOT / "examples" / "cifar100" / "deploy" / "cifar-job" / "persistentvolumeclaim.yaml").read_text()
    assert "argocd.argoproj.io/sync-options: Prune=false" in text
    assert "kustomize.toolkit.fluxcd.io/prune: disabled" in text
