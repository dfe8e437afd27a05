"""Boot cost of `ramzswap-setup start`: a benchmark, not a test.

    make bench-setup ARCH=aarch64        (or: python -m rztools.bench.setup_cost --arch aarch64)

Boots the test image (built or brought up to date first, as for the target tests), runs
ramzswap-setup/bench_start.sh in the guest (ROUNDS fresh starts, each after a stop, against
`python3 -c pass`) and prints its figures: the medians, and the ratio of `start` to
`python3 -c pass`, whose goal is at most 2.
Exit status 0 when the benchmark ran, whatever the ratio; 1 when it could not run.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from ..arches import DEFAULT_ARCH, DEFAULT_KERNEL, UnknownTarget, lookup
from ..cache import BuildError
from ..image.build import build
from ..image.debian import AptError
from ..target.console import ConsoleError
from ..target.qemu import Machine, QemuError, Vm

REPO = Path(__file__).resolve().parents[3]
SCRIPT = REPO / "ramzswap-setup" / "bench_start.sh"
GOAL = 2.0


class BenchFailed(RuntimeError):
    pass


def bench(arch_name: str, kernel: str, mem: str, rounds: int) -> dict:
    arch, series = lookup(arch_name, kernel)
    m = Machine.from_manifest(build(arch.name, series.name))  # as the target tests do
    m.mem = mem
    logs = REPO / "out" / "logs" / "bench-setup"
    print(f"booting {arch.name} Linux {series.name} with {mem} under QEMU "
          f"(console log: {logs}/{arch.name}.console.log)", flush=True)
    with Vm(m, logs, arch.name, float(os.environ.get("RZ_TIMEOUT_SCALE", "1"))) as vm:
        con = vm.start()
        con.write_file("/tmp/bench_start.sh", SCRIPT.read_bytes(), "755")
        res = con.run(f"/tmp/bench_start.sh {rounds}", timeout=60 + 30 * rounds)
        if res.status != 0:
            raise BenchFailed(f"bench_start.sh exited {res.status}:\n{res.output}")
        lines = res.output.splitlines()
        print(f"{arch.name}: {lines[0]}", flush=True)
        vm.poweroff(60)
    return json.loads(lines[-1])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="rztools.bench.setup_cost",
                                 description=__doc__.split("\n")[0])
    ap.add_argument("--arch", default=os.environ.get("ARCH") or DEFAULT_ARCH)
    ap.add_argument("--kernel", default=os.environ.get("KERNEL") or DEFAULT_KERNEL)
    ap.add_argument("--mem", default="256M")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--json", action="store_true", help="also print the figures as JSON")
    a = ap.parse_args(argv)
    try:
        figures = bench(a.arch, a.kernel, a.mem, a.rounds)
    except (BenchFailed, BuildError, AptError, UnknownTarget, QemuError, ConsoleError,
            ValueError) as e:
        print(f"bench-setup: FAILED: {e}", file=sys.stderr)
        return 1
    verdict = "met" if figures["ratio"] <= GOAL else "missed"
    print(f"{a.arch}: start / python3 -c pass = {figures['ratio']:.3f} "
          f"(goal <= {GOAL:g}: {verdict})", flush=True)
    if a.json:
        print(json.dumps({"arch": a.arch, **figures}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
