"""Boot the test image with its serial console on this terminal (Ctrl-A X quits): `make run`.

    python -m rztools.target.run --arch aarch64 --mem 256M --smp 2 --backing 64M
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

from ..arches import DEFAULT_ARCH, DEFAULT_KERNEL, UnknownTarget, lookup
from .qemu import REPO, Machine, QemuError, backing_file, choose_accel, command, parse_size


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="rztools.target.run", description="Boot the test image "
                                 "with its serial console on this terminal (Ctrl-A X quits).")
    ap.add_argument("--arch", default=os.environ.get("ARCH") or DEFAULT_ARCH)
    ap.add_argument("--kernel", default=os.environ.get("KERNEL") or DEFAULT_KERNEL)
    ap.add_argument("--mem", default=os.environ.get("MEM") or "256M")
    ap.add_argument("--smp", default=os.environ.get("SMP") or "2")
    ap.add_argument("--backing", default=os.environ.get("BACKING") or "",
                    help="extra virtio disk for backing swap: a size (64M) or a file")
    ap.add_argument("--append", default=os.environ.get("APPEND") or "",
                    help="extra kernel command line")
    ap.add_argument("--accel", default=os.environ.get("ACCEL") or "auto",
                    choices=["auto", "tcg", "kvm"])
    ap.add_argument("--images", help="boot a Buildroot images/ directory instead")
    ap.add_argument("--print", action="store_true", help="print the command line only")
    a = ap.parse_args(argv)
    try:
        parse_size(a.mem)
        if not a.smp.isdigit() or not 1 <= int(a.smp) <= 8:
            raise ValueError(f"bad SMP={a.smp!r} (1 to 8)")
        arch, series = lookup(a.arch, a.kernel)
        if a.images:
            m = Machine.from_buildroot(Path(a.images), arch.name)
        else:
            manifest = REPO / "out" / f"{arch.name}-{series.name}" / "manifest.json"
            if not manifest.exists():
                raise QemuError(f"no image at {manifest.parent}; run: make image ARCH={a.arch}")
            m = Machine.from_manifest(manifest)
        m = replace(m, mem=a.mem, smp=int(a.smp), append=a.append)
        if a.backing:
            m.backing = backing_file(a.backing, REPO / "out" / "run")
        m.accel = choose_accel(m, a.accel)
    except (ValueError, UnknownTarget, QemuError) as e:
        print(f"run: {e}", file=sys.stderr)
        return 2
    argv_q = command(m)
    if a.print:
        print(shlex.join(argv_q))
        return 0
    print(f"booting {m.kernel} ({m.accel}, {m.mem}, {m.smp} vCPU); Ctrl-A X quits",
          file=sys.stderr)
    return subprocess.call(argv_q)


if __name__ == "__main__":
    sys.exit(main())
