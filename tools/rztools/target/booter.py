"""The one booter of guests, for the target tests (tests/conftest.py's fixtures) and for
`make bench` and `make reliability`: the test image (or a Buildroot output) under QEMU,
or a board or VM already running, each a Guest driven through its serial console's shell.

Also the command-line pieces the benchmark and the reliability runner share.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import NoReturn

from ..arches import DEFAULT_ARCH, DEFAULT_KERNEL
from ..image.build import build
from . import guestproc as gp
from . import qmp
from .qemu import BACKING_ID, Machine, Vm, backing_file, choose_accel
from .shell import ConsoleShell


def add_arguments(ap: argparse.ArgumentParser, out: Path) -> None:
    """--arch, --kernel (ARCH=, KERNEL=), --manifest and --out."""
    ap.add_argument("--arch", default=os.environ.get("ARCH") or DEFAULT_ARCH)
    ap.add_argument("--kernel", default=os.environ.get("KERNEL") or DEFAULT_KERNEL)
    ap.add_argument("--manifest", type=Path, help="boot this image's manifest.json instead "
                    "of building out/<arch>-<kernel>/")
    ap.add_argument("--out", type=Path, default=out, help=f"results (default {out})")


def parse_args(ap: argparse.ArgumentParser, argv: list[str] | None) -> argparse.Namespace:
    """Parse the command line; from then on SIGTERM exits through the finally blocks, so a
    terminated run still powers its guests off."""
    args = ap.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    return args


def refuse(prog: str, message: str) -> NoReturn:
    """Bad input: one line, exit status 2, before anything has been booted or written."""
    print(f"{prog}: {message}", file=sys.stderr)
    raise SystemExit(2)


def pick(prog: str, given: str, known: Sequence[str], what: str) -> tuple[str, ...]:
    """The comma-separated names in @given, each one of @known (empty: none given)."""
    names = tuple(x for x in given.split(",") if x)
    unknown = [x for x in names if x not in known]
    if unknown:
        refuse(prog, f"unknown {what} {unknown[0]!r} (known: {', '.join(known)})")
    return names


def at_least(prog: str, value: float, low: float, what: str) -> None:
    if not value >= low:
        refuse(prog, f"{what} must be at least {low:g}, not {value:g}")


class Guest(ConsoleShell):
    """A shell on a booted system, with what a test or a benchmark needs to know about it:
    its arch, its VM (None for a board) and the kernel's log."""

    def __init__(self, shell: ConsoleShell, arch: str, vm: Vm | None = None) -> None:
        # the same console, logged in already: only the markers are this object's own
        super().__init__(shell.console, shell.user, shell.password, shell.settle)
        self.arch = arch
        self.vm = vm

    def tail(self, lines: int = 40) -> str:
        return super().tail(lines)

    def disk_by_serial(self, serial: str) -> str:
        return gp.disk_by_serial(self, serial)

    def kernel_problems(self) -> list[str]:
        """Oops/BUG/WARNING lines the kernel logged since the last call (OOM-killer
        reports left out: see guestproc.kernel_problems)."""
        return gp.kernel_problems(gp.take_kernel_log(self))

    def unplug_backing(self, timeout: float = 60.0) -> None:
        """Pull the backing disk out of the running VM (booted with hotplug=True), as a
        card is pulled from a board, and wait until the guest has let it go."""
        m = self.vm.machine if self.vm else None
        if not m or not m.qmp or not m.backing_hotplug:
            raise qmp.QmpError("this guest was not booted with a backing disk to unplug")
        qmp.unplug(m.qmp, BACKING_ID, timeout * self.vm.timeout_scale)


class Booter:
    """Boots guests of one image; all are powered off (attached consoles closed) by close().

    The image is out/<arch>-<kernel>/, built or brought up to date at the first boot, or
    the given manifest, or a Buildroot images/ directory."""

    def __init__(self, arch: str, logs: Path, kernel: str = DEFAULT_KERNEL,
                 manifest: Path | None = None, images: Path | None = None,
                 timeout_scale: float | None = None) -> None:
        self.arch, self.kernel = arch, kernel
        self.logs = logs
        self.manifest_path, self.images = manifest, images
        self.scale = (float(os.environ.get("RZ_TIMEOUT_SCALE", "1"))
                      if timeout_scale is None else timeout_scale)
        self.vms: list[Vm] = []
        self.guests: list[Guest] = []

    def machine(self, kernel: str | None = None) -> Machine:
        """The machine of the image for @kernel (default: the booter's)."""
        kernel = kernel or self.kernel
        if self.images:
            return Machine.from_buildroot(self.images, self.arch)
        if kernel != self.kernel:
            return Machine.from_manifest(build(self.arch, kernel))
        if self.manifest_path is None:
            self.manifest_path = build(self.arch, kernel)
        return Machine.from_manifest(self.manifest_path)

    @property
    def manifest(self) -> dict:
        """The booted image's manifest.json (after the first boot)."""
        return json.loads(self.manifest_path.read_text()) if self.manifest_path else {}

    def boot(self, mem: str = "256M", smp: int = 2, backing: str | None = None,
             append: str = "", blkdebug: Path | None = None,
             kernel: str | None = None, throttle: str = "", hotplug: bool = False,
             root: Path | None = None, features: str = "") -> Guest:
        """A booted guest (these keywords are the target tests' boot fixture's; throttle:
        QEMU's throttling options for the backing disk, "throttling.bps-write=...";
        hotplug: the backing disk can be pulled out, Guest.unplug_backing(); root: the
        guest writes its root disk to this copy of the image's, made at the first boot
        and booted again by the next, as a device boots from its flash; backing can be
        the path of the last boot's backing disk; features: the backing disk's virtio-blk
        properties, "write-zeroes=off,discard=off")."""
        m = self.machine(kernel)
        m.mem, m.smp, m.append = mem, smp, append
        if root:
            if not root.exists():  # sparse: the image is mostly empty
                subprocess.run(["cp", "--sparse=always", str(m.rootfs), str(root)], check=True)
            m.rootfs, m.root_writable = root, True
        if backing:
            m.backing = backing_file(backing, self.logs)
            m.backing_blkdebug = blkdebug
            m.backing_throttle = throttle
            m.backing_hotplug = hotplug
            m.backing_features = features
        if hotplug:
            # a unix socket's path has a 108-byte limit: not under the logs
            m.qmp = Path(tempfile.mkdtemp(prefix="rzqmp-")) / "qmp.sock"
        m.accel = choose_accel(m, os.environ.get("ACCEL", "tcg"))
        vm = Vm(m, self.logs, f"{self.arch}-{len(self.vms)}", self.scale)
        self.vms.append(vm)
        guest = Guest(vm.start(), self.arch, vm)
        self.guests.append(guest)
        return guest

    def attach(self, url: str) -> Guest:
        """The shell of a board or VM already running at url."""
        shell = ConsoleShell.open(url, self.logs / "board.console.log", self.scale)
        shell.wait_for_shell()
        guest = Guest(shell, self.arch)
        self.guests.append(guest)
        return guest

    def close(self) -> None:
        for vm in self.vms:
            vm.poweroff(30)
        self.vms.clear()
        for g in self.guests:  # kept: a failing test's report shows their logs' tails
            if g.vm is None:
                g.close()


def log_name(name: str) -> str:
    """A test's or a scenario's name as a directory name."""
    return re.sub(r"[^\w.-]+", "_", name)[:120]


@contextlib.contextmanager
def booted(arch: str, kernel: str, logs: Path, manifest: Path | None = None) -> Iterator[Booter]:
    b = Booter(arch, logs, kernel, manifest)
    try:
        yield b
    finally:
        b.close()
