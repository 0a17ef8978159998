"""VM names resolve from the catalogue, the naming grammar or the project config."""

from __future__ import annotations

import pytest

from pfgen.resolve import vms
from pfgen.validate.config import PlacementConfig, ProjectConfig
from pfgen.resolve.plan import VM
from pfgen.resolve.job import nodes_and_procs, placement


def test_catalogue_entry_from_the_seed():
    vm = vms.resolve("azure-16gb-v100-4g-eastus-spot")
    assert (vm.cloud, vm.gpu, vm.gpu_memory_gb, vm.gpus, vm.region, vm.spot, vm.instance_type) == (
        "azure", "v100", 16, 4, "eastus", True, "Standard_NC24s_v3")


def test_old_form_without_memory_is_an_alias():
    assert vms.resolve("azure-v100-4g-eastus-spot") == vms.resolve("azure-16gb-v100-4g-eastus-spot")


@pytest.mark.parametrize("name,expected", [
    ("aws-80gb-a100-8g-us-west-2", ("aws", "a100", 80, 8, "us-west-2", False, "p4de.24xlarge")),
    ("gcp-40gb-a100-2g-us-central1-spot", ("gcp", "a100", 40, 2, "us-central1", True, "a2-highgpu-2g")),
    ("azure-t4-1g-koreacentral", ("azure", "t4", 16, 1, "koreacentral", False, "Standard_NC4as_T4_v3")),
    ("aws-24gb-a10g-3g-eu-west-1", ("aws", "a10g", 24, 3, "eu-west-1", False, None)),
])
def test_well_formed_names_resolve_by_grammar(name, expected):
    vm = vms.resolve(name)
    assert (vm.cloud, vm.gpu, vm.gpu_memory_gb, vm.gpus, vm.region, vm.spot, vm.instance_type) == expected
    assert vm.source == "grammar"


@pytest.mark.parametrize("name,message", [
    ("azure-16gb-v101-4g-eastus", "unknown GPU model 'v101'"),
    ("azure-24gb-v100-4g-eastus", "v100 GPUs come with 16gb, 32gb of memory, not 24gb"),
    ("aws-16gb-v100-8g-us-east-9", "unknown aws region 'us-east-9'"),
    ("lambda-a100-8g-us", "unknown cloud 'lambda'"),
    ("big-gpu-box", "unknown VM 'big-gpu-box'"),
])
def test_bad_names_say_why(name, message):
    with pytest.raises(vms.UnknownVM, match=message):
        vms.resolve(name)


def test_custom_vm_from_config_wins():
    custom = VM(name="dgx", cloud="custom", gpu="a100", gpus=8, source="config")
    assert vms.resolve("dgx", {"dgx": custom}) is custom


@pytest.mark.parametrize("devices,gpus,expected", [(8, 4, (2, 4)), (1, 4, (1, 1)), (4, 4, (1, 4)), (16, 4, (4, 4)), (6, 4, None), (2, 2, (1, 2))])
def test_num_devices_to_nodes_and_procs(devices, gpus, expected):
    assert nodes_and_procs(devices, VM(name="x", cloud="aws", gpu="v100", gpus=gpus)) == expected


def test_placement_follows_each_clouds_spot_conventions():
    aks = placement(vms.resolve("azure-16gb-v100-1g-eastus-spot"), ProjectConfig())
    assert ("kubernetes.azure.com/scalesetpriority", "spot") in aks.node_selector
    eks = placement(vms.resolve("aws-16gb-v100-8g-us-east-1-spot"), ProjectConfig())
    assert ("eks.amazonaws.com/capacityType", "SPOT") in eks.node_selector
    gke = placement(vms.resolve("gcp-16gb-v100-1g-us-central1-spot"), ProjectConfig())
    assert ("cloud.google.com/gke-accelerator", "nvidia-tesla-v100") in gke.node_selector
    assert ("cloud.google.com/gke-spot", "true") in gke.node_selector
    off = placement(vms.resolve("azure-16gb-v100-1g-eastus-spot"), ProjectConfig(placement=PlacementConfig(enabled=False)))
    assert off.node_selector == () and off.tolerations == ()
