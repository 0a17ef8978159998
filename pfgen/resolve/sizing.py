"""CPU and memory requests per pod from the VM type's size (docs/vms.md, "Resources").

PeriFlow gave each node of a job the whole VM. On Kubernetes a pod gets what it
requests, so each pod (one per node) requests the node's vCPUs and memory minus
a reserve for the kubelet, the container runtime and the DaemonSets every node
runs (device plugin, CNI, kube-proxy, log and metric agents): the larger of an
absolute and a percentage figure, both configurable in pfgen.yaml `resources:`.
A job that uses only part of a VM's GPUs (num_devices below the VM's count)
requests the same share of its CPU and memory. Memory's limit equals its
request, so a pod is never OOM-killed for memory another pod was promised and
Kueue/quotas count what the job will really use; CPU gets no limit (a CFS quota
only throttles data loaders for nothing, the request already guarantees the share).
"""

from __future__ import annotations

import math

from pfgen.resolve.plan import VM, Resources

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Optional

    from pfgen.validate.config import ResourcesConfig


def node_allocatable(vm: VM, settings: ResourcesConfig) -> Optional[tuple[float, float]]:
    """(vCPUs, GiB) a pod may request on a whole node of ``vm``; None when its size is unknown."""
    if vm.vcpus is None or vm.memory_gib is None:
        return None
    cpu_reserve = max(settings.reserve_cpu, vm.vcpus * settings.reserve_cpu_percent / 100)
    memory_reserve = max(settings.reserve_memory_gib, vm.memory_gib * settings.reserve_memory_percent / 100)
    return vm.vcpus - cpu_reserve, vm.memory_gib - memory_reserve


def pod_resources(vm: VM, devices_per_node: int, settings: ResourcesConfig) -> tuple[Optional[Resources], Optional[str]]:
    """(requests of one pod, or None; a problem to report, or None).

    ``devices_per_node`` of the VM's ``vm.gpus`` GPUs are used by each pod; a
    CPU-only VM (``gpus == 0``) gives its one pod the whole node.
    """
    if not settings.enabled:
        return None, None
    allocatable = node_allocatable(vm, settings)
    if allocatable is None:
        return None, None
    share = 1.0 if vm.gpus == 0 else devices_per_node / vm.gpus
    cpu = math.floor(allocatable[0] * share + 1e-9)
    memory_mi = math.floor(allocatable[1] * share * 1024 + 1e-6)
    if cpu < 1 or memory_mi < 256:
        return None, (f"{vm.name} has {vm.vcpus} vCPUs and {vm.memory_gib:g} GiB; after the reserve for system "
                      f"daemons (pfgen.yaml resources.reserve) a pod would get {max(cpu, 0)} vCPUs and "
                      f"{max(memory_mi, 0)} MiB; lower the reserve or set resources.enabled: false")
    memory = f"{memory_mi // 1024}Gi" if memory_mi % 1024 == 0 else f"{memory_mi}Mi"
    return Resources(cpu=str(cpu), memory=memory), None
