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


def _claims_and_warnings(tmp_path, template: str, config: str = ""):
    load_config.cache_clear()
    if config:
        (tmp_path / "pfgen.yaml").write_text(config)
    (tmp_path / "pf-template.yml").write_text(template)
    job = compile_job(tmp_path / "pf-template.yml")
    modes = {o["metadata"]["name"]: o["spec"]["accessModes"] for o in job.objects if o["kind"] == "PersistentVolumeClaim"}
    return modes, [(d.line, d.col, d.message) for d in job.diagnostics if d.severity == "warning"]


def test_access_modes_follow_how_many_pods_mount_the_claim(tmp_path):
    config = "storage: {class: azurefile-csi-premium}\n"
    modes, warnings = _claims_and_warnings(tmp_path, TEMPLATE, config)
    assert modes == {"imagenet-1k": ["ReadWriteMany"], "storage-check-ckpt": ["ReadWriteMany"]}  # 2 nodes
    assert warnings == []  # a class is named: pfgen cannot know it lacks RWX, and says nothing
    single = TEMPLATE.replace("num_devices: 8", "num_devices: 4")
    modes, _ = _claims_and_warnings(tmp_path, single, config)
    # one Master pod: ReadWriteOnce, which every default class provides; a dataset claim is
    # shared by every job reading it, so it stays ReadWriteMany
    assert modes == {"imagenet-1k": ["ReadWriteMany"], "storage-check-ckpt": ["ReadWriteOnce"]}


def test_rwx_claims_on_the_default_class_warn_at_their_key(tmp_path):
    modes, warnings = _claims_and_warnings(tmp_path, TEMPLATE)
    assert [(line, col) for line, col, _ in warnings] == [(5, 14), (8, 26)]  # data.name, output_checkpoint_dir
    assert "claim 'imagenet-1k' as ReadWriteMany" in warnings[0][2] and "`datastores:`" in warnings[0][2]
    assert "claim 'storage-check-ckpt' as ReadWriteMany (the job's 2 nodes mount it at once)" in warnings[1][2]
    assert all("set storage.class in pfgen.yaml" in w[2] for w in warnings)
    single = TEMPLATE.replace("num_devices: 8", "num_devices: 4")
    _, warnings = _claims_and_warnings(tmp_path, single)
    assert [(line, col) for line, col, _ in warnings] == [(5, 14)]  # the ReadWriteOnce checkpoint claim is fine
    # a dataset mapped to an existing claim is not created, so not warned about
    existing = "datastores: {imagenet-1k: {claim: imagenet-ro}}\n"
    _, warnings = _claims_and_warnings(tmp_path, single, existing)
    assert warnings == []
