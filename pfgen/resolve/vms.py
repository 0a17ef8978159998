"""The VM catalogue: PeriFlow VM type names -> what a node of that type is.

A name resolves, in order, from the project's own ``vms:`` (on-prem node
types), from the catalogue of names PeriFlow is known to have offered
(``vms.json``), or from the naming grammar
``<cloud>-[<mem>gb-]<gpu>-<N>g-<region>[-spot]`` for well-formed names the
catalogue does not list. Unknown clouds, GPU models and regions are errors
with a did-you-mean, so a typo never silently becomes a new VM type.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path

from pfgen.errors import distance, closest, did_you_mean
from pfgen.resolve.plan import VM

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Mapping

_GRAMMAR = re.compile(r"^(aws|azure|gcp)-(?:(\d+)gb-)?([a-z0-9]+)-(\d+)g-([a-z0-9-]+?)(-spot)?\Z")
_LOOSE = re.compile(r"^([a-z]+)-(?:(\d+)gb-)?([a-z0-9]+)-(\d+)g-([a-z0-9-]+?)(-spot)?\Z")


class UnknownVM(ValueError):
    """The name does not resolve; the message says why and what was meant."""

    def __init__(self, message: str, suggestion: str | None = None):
        super().__init__(message)
        self.suggestion = suggestion  # the whole name with the bad part corrected


def _fixed(name: str, part: str, choices) -> str | None:
    match = closest(part, choices)
    return name.replace(part, match, 1) if match else None


@lru_cache(maxsize=1)
def _data() -> dict:
    return json.loads((Path(__file__).parent / "vms.json").read_text(encoding="utf-8"))


def instance_size(instance_type: str | None) -> tuple[int | None, float | None]:
    """(vCPUs, memory in GiB) of a cloud instance type, from the catalogue's size table."""
    spec = _data()["instance_specs"].get(instance_type or "")
    return (spec["vcpus"], spec["memory_gib"]) if spec else (None, None)


@lru_cache(maxsize=1)
def catalogue() -> dict[str, VM]:
    vms = {}
    for entry in _data()["vms"]:
        vcpus, memory = instance_size(entry.get("instance_type"))
        vms[entry["name"]] = VM(**entry, vcpus=vcpus, memory_gib=memory)
    return vms


def known_names(custom: Mapping[str, VM] = {}) -> list[str]:
    return sorted({*catalogue(), *_data()["aliases"], *custom})


def gke_accelerator(vm: VM) -> str | None:
    table = _data()["gke_accelerators"]
    return table.get(f"{vm.gpu}-{vm.gpu_memory_gb}") or table.get(vm.gpu)


def resolve(name: str, custom: Mapping[str, VM] = {}) -> VM:
    """Resolve a VM name or raise :class:`UnknownVM` with a helpful message."""
    try:
        return _resolve(name, custom)
    except UnknownVM as exc:
        # A near miss of a known name is most likely a typo of it, unless
        # correcting the one bad part of the name is a smaller change.
        known = closest(name, known_names(custom))
        if known and distance(name, known) <= 2 and (
            exc.suggestion is None or distance(name, known) < distance(name, exc.suggestion)
        ):
            raise UnknownVM(f"unknown VM '{name}'; did you mean '{known}'?") from None
        raise


def _resolve(name: str, custom: Mapping[str, VM]) -> VM:
    if name in custom:
        return custom[name]
    data = _data()
    canonical = data["aliases"].get(name, name)
    if canonical in catalogue():
        return catalogue()[canonical]
    match = _GRAMMAR.match(name)
    if not match:
        loose = _LOOSE.match(name)
        if loose:
            clouds = ["aws", "azure", "gcp"]
            raise UnknownVM(f"unknown cloud '{loose.group(1)}' in VM '{name}'{did_you_mean(loose.group(1), clouds)}",
                            _fixed(name, loose.group(1), clouds))
        raise UnknownVM(
            f"unknown VM '{name}'{did_you_mean(name, known_names(custom))}"
            " (names look like <cloud>-<mem>gb-<gpu>-<N>g-<region>[-spot]; `pfgen vm list` shows the known ones)"
        )
    cloud, memory, gpu, count, region, spot = match.groups()
    known_gpus = data["gpu_memory_gb"]
    if gpu not in known_gpus:
        raise UnknownVM(f"unknown GPU model '{gpu}' in VM '{name}'{did_you_mean(gpu, known_gpus)}; known: {', '.join(sorted(known_gpus))}",
                        _fixed(name, f"-{gpu}-", [f"-{g}-" for g in known_gpus]))
    regions = data["regions"][cloud]
    if region not in regions:
        raise UnknownVM(f"unknown {cloud} region '{region}' in VM '{name}'{did_you_mean(region, regions)}",
                        _fixed(name, region, regions))
    gpus = int(count)
    if gpus < 1:
        raise UnknownVM(f"VM '{name}' has no GPUs; the <N>g part must be at least 1g")
    if memory is None:
        sizes = known_gpus[gpu]
        if len(sizes) != 1:
            # The pre-2022 form omitted memory; it meant the smallest model then offered.
            sizes = [min(sizes)]
        gpu_memory = sizes[0]
    else:
        gpu_memory = int(memory)
        if gpu_memory not in known_gpus[gpu]:
            choices = ", ".join(f"{m}gb" for m in known_gpus[gpu])
            raise UnknownVM(f"{gpu} GPUs come with {choices} of memory, not {gpu_memory}gb (VM '{name}')")
    instance = data["instance_types"][cloud].get(f"{gpu}-{gpu_memory}-{gpus}")
    vcpus, memory_gib = instance_size(instance)
    return VM(name=name, cloud=cloud, gpu=gpu, gpu_memory_gb=gpu_memory, gpus=gpus, region=region,
              spot=bool(spot), instance_type=instance, source="grammar", vcpus=vcpus, memory_gib=memory_gib)
