"""Guests booted by the benchmark and the reliability runner (the target tests boot theirs
through tests/conftest.py): the test image under QEMU, each with its serial console."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import NoReturn

from ..arches import DEFAULT_ARCH, DEFAULT_KERNEL
from .qemu import Machine, Vm, backing_file, choose_accel
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


class Guests:
    """Boots guests of one image; all are powered off by close()."""

    def __init__(self, arch: str, kernel: str, logs: Path, manifest: Path | None = None) -> None:
        if manifest is None:
            from ..image.build import build

            manifest = build(arch, kernel)
        self.manifest = json.loads(manifest.read_text())
        self.machine = Machine.from_manifest(manifest)
        self.logs = logs
        self.vms: list[Vm] = []

    def boot(self, mem: str = "256M", smp: int = 2, backing: str | None = None,
             append: str = "", blkdebug: Path | None = None) -> ConsoleShell:
        """A booted guest's console (the keywords of the target tests' boot fixture)."""
        m = replace(self.machine, mem=mem, smp=smp, append=append, extra=[])
        if backing:
            m.backing = backing_file(backing, self.logs)
            m.backing_blkdebug = blkdebug
        m.accel = choose_accel(m, os.environ.get("ACCEL", "tcg"))
        vm = Vm(m, self.logs, f"{m.arch.name}-{len(self.vms)}",
                float(os.environ.get("RZ_TIMEOUT_SCALE", "1")))
        self.vms.append(vm)
        return vm.start()

    def close(self) -> None:
        for vm in self.vms:
            vm.poweroff(30)
        self.vms.clear()


@contextlib.contextmanager
def guests(arch: str, kernel: str, logs: Path, manifest: Path | None = None) -> Iterator[Guests]:
    g = Guests(arch, kernel, logs, manifest)
    try:
        yield g
    finally:
        g.close()
