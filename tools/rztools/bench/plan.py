"""What every swap benchmark runs on: one guest, and an rzscan workload in a memory cgroup.

The benchmarks extend it with their own settings; the fields here mean the same in each.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..arches import DEFAULT_ARCH, DEFAULT_KERNEL


@dataclass(frozen=True)
class GuestPlan:
    arch: str = DEFAULT_ARCH
    kernel: str = DEFAULT_KERNEL
    mem: str = "256M"
    smp: int = 2
    runs: int = 3
    workload_mib: int = 24          # the rzscan memory cgroup's memory.max
    scan_mib: int = 72              # 3x the workload's RAM
    passes: int = 2
    disksize: str = "256M"          # the swap device's, the same for every backend
