"""Is the configured backing device safe to hand to the module? Flash is precious.

It must be a block device that is not mounted (nor any partition of it), does not hold the root
filesystem, is not swap already, is not claimed by another driver, and carries no filesystem
signature unless forced. Every answer is a reason in words, for the plan and the log.
"""

from __future__ import annotations

import os

from . import procfs, signatures
from .env import Env


class BackingCheck:
    __slots__ = ("spec", "path", "size", "ok", "reason", "notes")

    def __init__(self, spec: str) -> None:
        self.spec = spec
        self.path = spec  # canonical path on the looked-at system
        self.size = 0  # bytes
        self.ok = False
        self.reason = ""  # why it cannot be used
        self.notes: list[str] = []

    def fail(self, reason: str) -> BackingCheck:
        self.ok = False
        self.reason = f"backing {self.spec}: {reason}"
        return self


def _by_partlabel(env: Env, label: str) -> str | None:
    for name in env.root.listdir("/sys/class/block"):
        uevent = env.root.read(f"/sys/class/block/{name}/uevent") or ""
        fields = dict(line.partition("=")[::2] for line in uevent.splitlines())
        if fields.get("PARTNAME") == label:
            return "/dev/" + fields.get("DEVNAME", name)
    return None


def _sysfs_of(env: Env, dev: tuple[int, int]) -> str:
    return env.root.resolve(f"/sys/dev/block/{dev[0]}:{dev[1]}")


def check(env: Env, spec: str, force: bool) -> BackingCheck:
    result = BackingCheck(spec)
    path: str | None = spec
    if spec.startswith("PARTLABEL="):
        path = _by_partlabel(env, spec[len("PARTLABEL=") :])
        if path is None:
            return result.fail("no partition with that label")
    canon = env.root.resolve(path)
    result.path = canon
    if not env.root.exists(canon):
        return result.fail("missing")
    dev = env.kernel.block_dev_id(env.root.host(canon))
    if dev is None:
        return result.fail("not a block device")
    sysdir = _sysfs_of(env, dev)
    sectors = (env.root.read(sysdir + "/size") or "").strip()
    if not sectors.isdigit():
        return result.fail(f"no size in {sysdir}")
    result.size = int(sectors) * 512
    name = os.path.basename(sysdir)
    if name.startswith(("ramzswap", "zram")):
        return result.fail("is a compressed RAM device itself")
    holders = env.root.listdir(sysdir + "/holders")
    if holders:
        return result.fail(f"is in use by {', '.join(holders)}")

    for mount in procfs.mountinfo(env.root.read("/proc/self/mountinfo") or ""):
        if mount.dev == dev or env.root.resolve(mount.source) == canon:
            what = "itself"
        elif mount.dev and mount.dev[0] and _sysfs_of(env, mount.dev).startswith(sysdir + "/"):
            what = f"its partition {os.path.basename(_sysfs_of(env, mount.dev))}"
        else:
            continue
        if mount.mountpoint == "/":
            return result.fail(f"holds the root filesystem ({what})")
        return result.fail(f"is mounted on {mount.mountpoint} ({what})")

    for entry in procfs.swaps(env.root.read("/proc/swaps") or ""):
        same_path = env.root.resolve(entry.filename) == canon
        if same_path or env.kernel.block_dev_id(env.root.host(entry.filename)) == dev:
            return result.fail("is already in use as swap")

    try:
        with open(env.root.host(canon), "rb") as f:
            head = f.read(signatures.PROBE_BYTES)
    except OSError as e:
        return result.fail(f"cannot be read ({e.strerror})")
    found = signatures.filesystem(head)
    if found and not force:
        return result.fail(f"holds a {found} signature; not overwriting it (needs force)")
    if found:
        result.notes.append(f"backing {spec}: overwriting its {found} signature (forced)")
    result.ok = True
    return result
