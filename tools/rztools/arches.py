"""What each target architecture and kernel of the offline test image is made of."""

from __future__ import annotations

import re
from dataclasses import dataclass


class UnknownTarget(ValueError):
    """An ARCH or KERNEL value we do not build."""


@dataclass(frozen=True)
class Arch:
    name: str             # our name: x86_64, aarch64, arm
    debian: str           # Debian architecture
    flavour: str          # Debian kernel flavour
    qemu: str             # qemu-system binary
    machine: list[str]    # -M/-cpu arguments
    console: str          # serial console device in the guest
    cross: str            # CROSS_COMPILE prefix ('' for native)
    kbuild_arch: str      # ARCH= for kbuild
    uname: str            # what `uname -m` says in the guest
    cmdline: str = ""     # kernel arguments this arch needs under emulation
    pcie: bool = False    # its machine's PCI bus is PCIe (hotplug needs a root port)


ARCHES: dict[str, Arch] = {
    "x86_64": Arch("x86_64", "amd64", "amd64", "qemu-system-x86_64", ["-M", "pc"],
                   "ttyS0", "", "x86", "x86_64",
                   # a loaded host makes TCG's timer look broken: "IO-APIC + timer
                   # doesn't work!" panics at boot without this
                   "no_timer_check"),
    "aarch64": Arch("aarch64", "arm64", "arm64", "qemu-system-aarch64",
                    ["-M", "virt", "-cpu", "cortex-a57"], "ttyAMA0",
                    "aarch64-linux-gnu-", "arm64", "aarch64", pcie=True),
    "arm": Arch("arm", "armhf", "armmp-lpae", "qemu-system-arm",
                ["-M", "virt,highmem=off", "-cpu", "cortex-a15"], "ttyAMA0",
                "arm-linux-gnueabihf-", "arm", "armv7l", pcie=True),
}


@dataclass(frozen=True)
class KernelSeries:
    name: str             # what the user types: 6.1, 6.12
    suites: tuple[str, ...]
    image_re: str         # full-match regex over package names, {flavour} substituted;
                          # group 1 is the ABI string that headers share


KERNELS: dict[str, KernelSeries] = {
    "6.1": KernelSeries("6.1", ("bookworm",), r"linux-image-(6\.1\.0-\d+)-{flavour}"),
    "6.12": KernelSeries("6.12", ("bookworm-backports",),
                         r"linux-image-(6\.12\.\d+\+deb12)-{flavour}"),
}

DEFAULT_ARCH = "x86_64"
DEFAULT_KERNEL = "6.1"


def lookup(arch: str, kernel: str) -> tuple[Arch, KernelSeries]:
    """Validate ARCH and KERNEL, with one clear message when either is unknown."""
    if arch not in ARCHES:
        raise UnknownTarget(f"unknown ARCH={arch!r}; choose one of {', '.join(ARCHES)}")
    if kernel not in KERNELS:
        raise UnknownTarget(f"unknown KERNEL={kernel!r}; choose one of {', '.join(KERNELS)}")
    return ARCHES[arch], KERNELS[kernel]


def abi_key(abi: str) -> tuple[int, ...]:
    """Sort key for kernel ABI strings like 6.1.0-56 or 6.12.95+deb12."""
    return tuple(int(x) for x in re.findall(r"\d+", abi))


def kbuild_package(abi: str) -> str:
    """Debian's linux-kbuild package for an ABI: linux-kbuild-6.1, linux-kbuild-6.12.95+deb12."""
    m = re.fullmatch(r"(\d+\.\d+)\.0-\d+", abi)
    return f"linux-kbuild-{m.group(1)}" if m else f"linux-kbuild-{abi}"
