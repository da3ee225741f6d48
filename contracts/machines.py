"""GKE node shapes and what one pod can request on them, so that a config whose requests could
never schedule fails validation instead of leaving the pod Pending on the cluster.

A pod fits when its requests are at most the node's allocatable (capacity minus what GKE
reserves for the kubelet, the container runtime and eviction) minus the requests of GKE's own
DaemonSets on every node. Reservations follow GKE's documented formula for Standard clusters
(https://cloud.google.com/kubernetes-engine/docs/concepts/plan-node-sizes#memory_and_cpu_reservations).
"""

from __future__ import annotations

import re

MIB = 2**20
GIB = 2**30

# vCPUs and memory in GiB (Compute Engine's "GB" are 2**30 bytes: memoryMb 16384 for g2-standard-4).
MACHINES: dict[str, tuple[int, float]] = {
    "g2-standard-4": (4, 16),
    "g2-standard-8": (8, 32),
    "g2-standard-12": (12, 48),
    "g2-standard-16": (16, 64),
    "g2-standard-24": (24, 96),
    "g2-standard-32": (32, 128),
    "n1-standard-4": (4, 15),
    "n1-standard-8": (8, 30),
    "n1-standard-16": (16, 60),
    "e2-standard-4": (4, 16),
    "e2-standard-8": (8, 32),
    "n2-standard-4": (4, 16),
    "n2-standard-8": (8, 32),
}

# The machine a GPU task lands on when the config names none: the smallest that carries the GPU
# (and the default of the project's Terraform GPU node pool).
DEFAULT_GPU_MACHINE = {"NVIDIA_L4": "g2-standard-4"}

# Headroom for the requests of GKE's own per-node DaemonSets (kube-proxy, the logging and
# metrics agents, the GKE metadata server, the CSI node driver and, on GPU nodes, the NVIDIA
# device plugin): together a few hundred millicores and MiB on recent GKE versions. They come
# out of the same allocatable as the Trainer's pod. `kubectl describe node` lists the real ones.
DAEMONSET_CPU = 0.4
DAEMONSET_MEMORY = 500 * MIB

# (size of the tier, share reserved): CPU tiers in cores, memory tiers in GiB.
_CPU_TIERS = ((1, 0.06), (1, 0.01), (2, 0.005), (float("inf"), 0.0025))
_MEMORY_TIERS = ((4, 0.25), (4, 0.20), (8, 0.10), (112, 0.06), (float("inf"), 0.02))
EVICTION_THRESHOLD = 100 * MIB

_MEMORY_UNITS = {
    "K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12,
    "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40,
}  # fmt: skip


def _tiered(amount: float, tiers: tuple[tuple[float, float], ...]) -> float:
    reserved = 0.0
    for size, share in tiers:
        part = min(amount, size)
        reserved += part * share
        amount -= part
        if amount <= 0:
            break
    return reserved


def allocatable(machine: str) -> tuple[float, int]:
    """(CPU cores, memory bytes) that GKE leaves to pods on a node of this machine type."""
    cores, gib = MACHINES[machine]
    memory_reserved = 255 * MIB if gib < 1 else _tiered(gib, _MEMORY_TIERS) * GIB
    return cores - _tiered(cores, _CPU_TIERS), int(gib * GIB - memory_reserved - EVICTION_THRESHOLD)


def schedulable(machine: str) -> tuple[float, int]:
    """(CPU cores, memory bytes) one pod can request: allocatable minus the DaemonSet headroom."""
    cpu, memory = allocatable(machine)
    return cpu - DAEMONSET_CPU, memory - DAEMONSET_MEMORY


def cpu_cores(quantity: str) -> float:
    """A Kubernetes CPU quantity ("3", "3.5", "3500m") in cores."""
    return int(quantity[:-1]) / 1000 if quantity.endswith("m") else float(quantity)


def memory_bytes(quantity: str) -> int:
    """A Kubernetes memory quantity ("12G" = 12e9, "12Gi" = 12 * 2**30) in bytes."""
    number, unit = re.fullmatch(r"([0-9]+(?:\.[0-9]+)?)([KMGT]i?)", quantity).groups()
    return int(float(number) * _MEMORY_UNITS[unit])


def misfit(machine: str, cpu: str, memory: str) -> str:
    """Why a pod requesting `cpu` and `memory` cannot schedule on `machine`; "" when it can,
    or when the machine is not in MACHINES (nothing to check against)."""
    if machine not in MACHINES:
        return ""
    max_cpu, max_memory = schedulable(machine)
    if cpu_cores(cpu) <= max_cpu and memory_bytes(memory) <= max_memory:
        return ""
    alloc_cpu, alloc_memory = allocatable(machine)
    family, cores = machine.split("-")[0], MACHINES[machine][0]
    bigger = [m for m, (c, _) in MACHINES.items() if m.split("-")[0] == family and c > cores]
    return (
        f"requests cpu {cpu} / memory {memory} do not fit a {machine} node: GKE leaves "
        f"{alloc_cpu:.2f} CPU / {alloc_memory / GIB:.2f} GiB allocatable, and after "
        f"{DAEMONSET_CPU:g} CPU / {DAEMONSET_MEMORY // MIB} MiB for GKE's own DaemonSets a pod can "
        f"request at most {max_cpu:.2f} CPU / {max_memory / GIB:.2f} GiB ({max_memory / 1e9:.2f}G), "
        f"so the pod would stay Pending. Fix: request at most that"
        + (
            f", or run it on a node pool of a bigger machine and set machine_type to that machine ({', '.join(bigger)})"
            if bigger
            else ""
        )
    )
