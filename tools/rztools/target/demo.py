"""The main job: boot the test image and show compressed swap at work.

    python -m rztools.target.demo --arch x86_64

Boots the image built by `make image`, lets the init script bring ramzswap up,
pushes a workload larger than RAM through it, prints the device's stats and
powers the guest off.  Exits 0 only if every one of those happened.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from ramzswap_setup.procfs import stats_lines

from ..arches import DEFAULT_ARCH, DEFAULT_KERNEL, UnknownTarget, lookup
from .console import ConsoleError
from .qemu import Machine, QemuError, Vm

REPO = Path(__file__).resolve().parents[3]


class DemoFailed(RuntimeError):
    pass


def show(console, cmd: str, timeout: float = 120.0) -> str:  # noqa: ANN001
    print(f"\n# {cmd}", flush=True)
    res = console.run(cmd, timeout)
    if res.output:
        print(res.output, flush=True)
    if res.status != 0:
        raise DemoFailed(f"{cmd!r} exited {res.status}")
    return res.output


def demo(arch_name: str, kernel: str, mem: str, workload_mib: int) -> None:
    arch, series = lookup(arch_name, kernel)
    manifest = REPO / "out" / f"{arch.name}-{series.name}" / "manifest.json"
    if not manifest.exists():
        raise DemoFailed(f"no image at {manifest.parent}; run: make image ARCH={arch.name}")
    m = Machine.from_manifest(manifest)
    m.mem = mem
    # the default (25 % of RAM, as the original) leaves little room for a show;
    # size it on the kernel command line, as a product would for its workload
    m.append = "ramzswap.disksize=150%"
    logs = REPO / "out" / "logs" / "demo"
    print(f"booting {arch.name} Linux {series.name} with {mem} of RAM under QEMU "
          f"(console log: {logs}/{arch.name}.console.log)", flush=True)
    with Vm(m, logs, arch.name, float(os.environ.get("RZ_TIMEOUT_SCALE", "1"))) as vm:
        con = vm.start()
        show(con, "uname -rm")
        show(con, "dmesg | grep -i 'ramzswap' | tail -n 5")
        swaps = show(con, "cat /proc/swaps")
        if "ramzswap0" not in swaps:
            raise DemoFailed("the init script did not put /dev/ramzswap0 in /proc/swaps")
        show(con, "ramzswap-setup status")
        show(con, "free -m")
        if not workload_mib:
            total_kib = int(show(con, "awk '/^MemTotal/ {print $2}' /proc/meminfo"))
            workload_mib = total_kib * 6 // 5 // 1024  # 1.2 x RAM: it must go through swap
        out = show(con, f"rzscan --data mixed --mode cyclic {workload_mib} 2", timeout=1800)
        result = json.loads(out.strip().splitlines()[-1])
        show(con, "free -m")
        st = stats_lines(show(con, "cat /sys/block/ramzswap0/stats"))
        show(con, "ramzswap-setup status")
        if result.get("mismatches", 1) != 0:
            raise DemoFailed("rzscan found pages that came back wrong")
        if result.get("pswpout", 0) <= 0 or st.get("num_writes", 0) <= 0:
            raise DemoFailed("nothing was swapped out to ramzswap")
        if st.get("num_reads", 0) <= 0:
            raise DemoFailed("nothing was swapped back in from ramzswap")
        ratio = st["orig_data_size"] / st["compr_data_size"] if st.get("compr_data_size") else 0
        print(f"\nswapped out {result['pswpout']} pages and in {result['pswpin']}; "
              f"ramzswap0 holds {st['pages_stored']} pages, "
              f"{st['orig_data_size'] >> 10} KiB in {st['mem_used_total'] >> 10} KiB of RAM "
              f"(compression {ratio:.2f}:1), every page verified", flush=True)
        if not vm.poweroff(60):
            raise DemoFailed("the guest did not power off")
    print("demo: OK", flush=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="rztools.target.demo", description=__doc__.split("\n")[0])
    ap.add_argument("--arch", default=DEFAULT_ARCH)
    ap.add_argument("--kernel", default=DEFAULT_KERNEL)
    ap.add_argument("--mem", default="256M")
    ap.add_argument("--workload-mib", type=int, default=0,
                    help="anonymous memory rzscan fills and scans (default 1.2 x MemTotal)")
    a = ap.parse_args(argv)
    try:
        demo(a.arch, a.kernel, a.mem, a.workload_mib)
    except (DemoFailed, UnknownTarget, QemuError, ConsoleError, ValueError) as e:
        print(f"demo: FAILED: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
