"""May this block device be flashed? Answers from /sys/block, /proc/mounts and /proc/swaps.

Every function reads through `root`, a directory standing for "/", so the
decisions can be tested on a fake tree. The rules, in `refusals`:
- the disk holding the root filesystem is never written;
- a disk that is mounted, used as swap or held by another device (LVM, RAID,
  dm-crypt), or that is not removable, is refused unless forced;
- a disk with no medium, or smaller than the image, is refused.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

SECTOR = 512


class DiskError(ValueError):
    """Not a disk that can be looked at (missing, or a partition)."""


@dataclass(frozen=True)
class Disk:
    name: str  # sdb, mmcblk0, loop3
    size: int  # bytes
    removable: bool
    model: str
    partitions: tuple[str, ...]

    @property
    def path(self) -> str:
        return f"/dev/{self.name}"


def _read(path: Path, default: str = "") -> str:
    try:
        return path.read_text().strip()
    except OSError:
        return default


def _unescape(field: str) -> str:
    """/proc/mounts writes spaces and the like as octal escapes (\\040)."""
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def disk_of(root: Path, name: str) -> str | None:
    """The whole disk a block device name belongs to (itself for a disk), None if unknown."""
    block = root / "sys/block"
    if (block / name).is_dir():
        return name
    if block.is_dir():
        for disk in sorted(block.iterdir()):
            if (disk / name / "partition").exists():
                return disk.name
    return None


def is_removable(root: Path, name: str) -> bool:
    """Removable media: the kernel says so, an SD card in an MMC slot, or a USB disk."""
    sysdir = root / "sys/block" / name
    if _read(sysdir / "removable") == "1":
        return True
    if _read(sysdir / "device/type") == "SD":
        return True
    return "/usb" in os.path.realpath(sysdir)


def read_disk(root: Path, name: str) -> Disk:
    sysdir = root / "sys/block" / name
    if not sysdir.is_dir():
        whole = disk_of(root, name)
        if whole:
            raise DiskError(f"{name} is a partition of {whole}: give the whole disk /dev/{whole}")
        raise DiskError(f"{name} is not a block device known to the kernel")
    sectors = _read(sysdir / "size", "0")
    vendor_model = (_read(sysdir / "device/vendor"), _read(sysdir / "device/model"))
    backing = _read(sysdir / "loop/backing_file")
    model = (
        " ".join(part for part in vendor_model if part)
        or _read(sysdir / "device/name")
        or (f"loop device on {backing}" if backing else "unknown model")
    )
    partitions = tuple(sorted(p.name for p in sysdir.iterdir() if (p / "partition").exists()))
    return Disk(
        name=name,
        size=int(sectors) * SECTOR if sectors.isdigit() else 0,
        removable=is_removable(root, name),
        model=model,
        partitions=partitions,
    )


def mounts(root: Path) -> list[tuple[str, str]]:
    """(device, mount point) of every mount."""
    out = []
    for line in _read(root / "proc/mounts").splitlines():
        fields = line.split()
        if len(fields) >= 2:
            out.append((_unescape(fields[0]), _unescape(fields[1])))
    return out


def swaps(root: Path) -> list[str]:
    lines = _read(root / "proc/swaps").splitlines()[1:]
    return [_unescape(line.split()[0]) for line in lines if line.split()]


def dev_name(device: str) -> str | None:
    """sdb1 for /dev/sdb1, dm-0 for /dev/dm-0; None for what is not a /dev node."""
    if not device.startswith("/dev/"):
        return None
    return os.path.basename(device)


def holders(root: Path, name: str, disk: str) -> list[str]:
    """Devices stacked on this one (dm, md), read from sysfs holders/."""
    base = root / "sys/block" / disk
    sysdir = base if name == disk else base / name
    held = sysdir / "holders"
    return sorted(h.name for h in held.iterdir()) if held.is_dir() else []


def uses(root: Path, disk: Disk) -> list[str]:
    """Why the disk is in use right now, one reason per use; empty when it is free."""
    names = (disk.name, *disk.partitions)
    # a mount through /dev/mapper or /dev/disk/by-* resolves to the node it names
    mounted = {}
    for device, point in mounts(root):
        name = dev_name(os.path.realpath(device) if device.startswith("/dev/") else device)
        if name:
            mounted.setdefault(name, point)
    reasons = []
    for name in names:
        if name in mounted:
            reasons.append(f"{name} is mounted on {mounted[name]}")
        if any(dev_name(s) == name for s in swaps(root)):
            reasons.append(f"{name} is in use as swap")
        for holder in holders(root, name, disk.name):
            reasons.append(f"{name} is held by {holder}")
    return reasons


def root_disk(root: Path, root_dev: tuple[int, int] | None) -> str | None:
    """The disk holding "/": from /proc/mounts, else from the device number of "/"."""
    for device, point in reversed(mounts(root)):
        if point == "/":
            name = dev_name(device)
            if name and name != "root":
                found = disk_of(root, name)
                if found:
                    return found
            break
    if root_dev is None:
        return None
    wanted = f"{root_dev[0]}:{root_dev[1]}"
    classdir = root / "sys/class/block"
    if classdir.is_dir():
        for entry in sorted(classdir.iterdir()):
            if _read(entry / "dev") == wanted:
                return disk_of(root, entry.name)
    return None


def refusals(disk: Disk, in_use: list[str], root_name: str | None, force: bool) -> list[str]:
    """Reasons not to write the disk; `force` lifts those a careful user may override."""
    if disk.name == root_name:
        return [f"{disk.path} holds the root filesystem of this machine"]
    if disk.size == 0:
        return [f"{disk.path} has no medium"]
    if force:
        return []
    reasons = [f"{disk.path}: {use} (unmount it first)" for use in in_use]
    if not disk.removable:
        reasons.append(f"{disk.path} is not a removable disk")
    return reasons


def describe(disk: Disk) -> str:
    kind = "removable" if disk.removable else "NOT removable"
    return f"{disk.path}: {disk.model}, {human(disk.size)}, {kind}"


def human(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"
