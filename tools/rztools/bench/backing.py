"""Swap with a slow backing disk: does reclaim wait on it?  Part of `make bench`.

    python -m rztools.bench.backing --arch x86_64 --kernel 6.12 [--runs 3]

One boot (256M, 2 vCPUs, vm.page-cluster=0) with a backing disk that QEMU throttles
like slow flash (THROTTLE).  ramzswap gets the backing device and no memlimit, so only
pages that compress badly go to the disk.  rzscan runs confined to a memory cgroup of a
third of its data, alternately A B A B:

- compressible: text pages (about 2:1, all kept in RAM);
- some incompressible: the same, with RANDOM_PCT % of the pages random (forwarded to
  the backing disk).

Figures of each run: swap-outs per second, and the worst time one page took in rzscan
(the fill, a check or a rewrite: a fault waiting for swap-in or for reclaim).  The goal:
neither may get worse when some pages are incompressible, i.e. the ratio B/A of
swap-outs/s stays near 1 and that of the worst page time does not grow.  A device that
tells swap it is synchronous (6.3 and later) has every forwarded page written inside
reclaim with submit_bio_wait(); one that does not lets reclaim go on.

Writes out/bench/backing.json (every run and the paired ratios) and backing.md, and a
copy into out/bench/<arch>/.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from ..target import booter
from ..target import swapdevs as sd
from ..target.console import ConsoleError
from ..target.qemu import QemuError
from .figures import FIGURE_INFO, fmt, fmt_range, summarize
from .plan import GuestPlan

REPO = Path(__file__).resolve().parents[3]
OUT = REPO / "out" / "bench"
GROUP = "rzbacking"
# slow flash: 8 MiB/s and 1000 writes/s, with QEMU's default burst.  Above what the
# workload forwards on average (about 2000 pages in 15-20 s), so that what is measured
# is whether reclaim waits for each write, not the disk's capacity; --throttle
# "throttling.bps-write=2097152,throttling.iops-write=200" saturates the disk instead.
THROTTLE = "throttling.bps-write=8388608,throttling.iops-write=1000"
VARIANTS = ("compressible", "some_incompressible")
FIGURES = ("swapout_per_s", "worst_page_ms", "elapsed_s", "bdev_num_writes")


@dataclass(frozen=True)
class Plan(GuestPlan):
    kernel: str = "6.12"            # the kernels where it matters are 6.3 and later
    random_pct: int = 10
    backing: str = "512M"
    throttle: str = THROTTLE

    def scan(self, variant: str) -> sd.Scan:
        pct = self.random_pct if variant == "some_incompressible" else 0
        return sd.Scan("text", self.scan_mib, self.passes, random_pct=pct)


def run_figures(report: dict, stats: dict[str, int]) -> dict[str, float | None]:
    elapsed = report["elapsed_s"]
    return {
        "swapout_per_s": report["pswpout"] / elapsed if elapsed else None,
        "worst_page_ms": report.get("worst_page_ms"),
        "elapsed_s": elapsed,
        "bdev_num_writes": stats.get("bdev_num_writes"),
    }


def one_run(sh: sd.Shell, plan: Plan, vdb: str, variant: str, run: int) -> dict:
    sd.setup(sh, "ramzswap", sd.SwapConfig(plan.disksize, backing=vdb))
    try:
        sh.check("sync; echo 3 > /proc/sys/vm/drop_caches")
        res = sd.run_scan(sh, plan.scan(variant), GROUP, timeout=3600)
        report = res.report
        if report is None:
            raise sd.GuestError(f"rzscan gave no report ({res.status}): {res.output}")
        stats = sd.read_stats(sh, "ramzswap")
    finally:
        sd.teardown(sh, "ramzswap")
    return {"variant": variant, "run": run, "status": res.status,
            "mismatches": res.mismatches, "report": report, "stats": stats,
            "figures": run_figures(report, stats)}


def paired(runs: list[dict], plan: Plan) -> dict:
    """some_incompressible / compressible of each figure, run i against run i."""
    by = {(r["variant"], r["run"]): r["figures"] for r in runs}
    out = {}
    for fig in FIGURES:
        vals = []
        for i in range(plan.runs):
            a, b = by.get(("compressible", i)), by.get(("some_incompressible", i))
            if a and b and a[fig] and b[fig] is not None:
                vals.append(b[fig] / a[fig])
        out[fig] = summarize(vals)
    return out


def per_variant(runs: list[dict]) -> dict:
    return {v: {fig: summarize(r["figures"][fig] for r in runs if r["variant"] == v)
                for fig in FIGURES} for v in VARIANTS}


def markdown(plan: Plan, meta: dict, variants: dict, ratios: dict) -> str:
    figs = list(FIGURES)
    lines = [
        f"# Swap with a throttled backing disk ({plan.arch}, Linux "
        f"{meta.get('kernel_release', plan.kernel)}, module {meta.get('module', '?')})",
        "",
        f"One guest: {plan.mem} RAM, {plan.smp} vCPUs ({meta.get('accel', 'tcg')}), "
        f"vm.page-cluster=0. ramzswap {plan.disksize}, no memlimit, a {plan.backing} backing "
        f"disk throttled by QEMU ({plan.throttle}). rzscan text {plan.scan_mib} MiB, "
        f"{plan.passes} passes, in a memory cgroup of {plan.workload_mib} MiB; "
        f"'some incompressible': {plan.random_pct} % of its pages random. Variants alternate "
        f"A B A B, {plan.runs} runs each. Cells: **median** (min–max).",
        "",
        "Goal: swap-outs/s and the worst page time of the workload do not get worse when "
        "some of its pages are incompressible (ratio of swap-outs/s near 1, of the worst "
        "page time not above 1 by much). Ratios are measured side by side in one guest; "
        "absolute times under emulation mean nothing.",
        "",
        "## some incompressible / compressible (paired runs)",
        "",
        "| " + " | ".join(FIGURE_INFO[f][0] for f in figs) + " |",
        "|" + " --- |" * len(figs),
        "| " + " | ".join(fmt_range(ratios[f]) for f in figs) + " |",
        "",
        "## Per variant",
        "",
        "| variant | " + " | ".join(FIGURE_INFO[f][0] for f in figs) + " |",
        "| --- |" + " --- |" * len(figs),
    ]
    for v in VARIANTS:
        lines.append(f"| {v} | " + " | ".join(fmt_range(variants[v][f]) for f in figs) + " |")
    notes = meta.get("notes") or []
    if notes:
        lines += ["", "## Notes", ""] + [f"- {n}" for n in notes]
    lines += ["", f"Wall time: {fmt(meta.get('elapsed_s'), 0)} s."]
    return "\n".join(lines) + "\n"


def run(sh: sd.Shell, plan: Plan,
        log: Callable[[str], None] = print) -> tuple[list[dict], list[str]]:
    sd.clean_slate(sh)
    sh.check("echo 0 > /proc/sys/vm/page-cluster")
    sd.memcg(sh, GROUP, f"{plan.workload_mib}M")
    vdb = sh.disk_by_serial("rzbacking")
    runs, notes = [], []
    for i in range(plan.runs):
        for v in VARIANTS:
            r = one_run(sh, plan, vdb, v, i)
            runs.append(r)
            f = r["figures"]
            log(f"run {i} {v:20s} {fmt(f['swapout_per_s'], 0):>7} swap-outs/s  worst page "
                f"{fmt(f['worst_page_ms'])} ms  backing writes {f['bdev_num_writes']}  "
                f"mismatches {r['mismatches']}")
            if r["mismatches"] or r["status"]:
                notes.append(f"{v} run {i}: rzscan exited {r['status']}, "
                             f"{r['mismatches']} mismatches")
    return runs, notes


def write(plan: Plan, out: Path, runs: list[dict], meta: dict) -> list[Path]:
    variants, ratios = per_variant(runs), paired(runs, plan)
    out.mkdir(parents=True, exist_ok=True)
    data = {"plan": asdict(plan), "meta": meta, "ratios": ratios, "variants": variants,
            "runs": runs}
    paths = [out / "backing.json", out / "backing.md"]
    paths[0].write_text(json.dumps(data, indent=2) + "\n")
    paths[1].write_text(markdown(plan, meta, variants, ratios))
    copy = out / plan.arch
    copy.mkdir(exist_ok=True)
    for p in paths:
        shutil.copy2(p, copy / p.name)
    return paths


def module_version() -> str:
    """The commit of module/ the image was built from (and whether it was changed)."""
    import subprocess

    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(REPO), *args], capture_output=True,
                              text=True, check=False).stdout.strip()

    head = git("log", "-1", "--format=%h", "--", "module")
    dirty = git("status", "--porcelain", "--", "module")
    return head + ("+changes" if dirty else "")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="rztools.bench.backing", description=__doc__.split("\n")[0])
    booter.add_arguments(ap, OUT)
    ap.add_argument("--runs", type=int, default=os.environ.get("RUNS") or "3")
    ap.add_argument("--throttle", default=THROTTLE,
                    help=f"QEMU throttling options of the backing disk (default {THROTTLE})")
    a = booter.parse_args(ap, argv)
    booter.at_least(ap.prog, a.runs, 1, "--runs (RUNS)")
    plan = Plan(arch=a.arch, kernel=a.kernel, runs=a.runs, throttle=a.throttle)
    meta: dict = {"module": module_version()}
    t0 = time.monotonic()
    try:
        with booter.booted(plan.arch, plan.kernel, REPO / "out" / "logs" / "bench-backing",
                           a.manifest) as g:
            con = g.boot(plan.mem, plan.smp, backing=plan.backing, append="ramzswap=off",
                         throttle=plan.throttle)
            meta.update(kernel_release=g.manifest.get("kernel_release"),
                        accel=g.vms[0].machine.accel)
            runs, meta["notes"] = run(con, plan, lambda s: print(s, flush=True))
            meta["notes"] += [f"kernel problem: {p}" for p in con.kernel_problems()]
    except (ConsoleError, QemuError, sd.GuestError) as e:
        print(f"bench-backing: FAILED: {e}", file=sys.stderr)
        return 1
    meta["elapsed_s"] = time.monotonic() - t0
    for p in write(plan, a.out, runs, meta):
        print(f"wrote {p}")
    print((a.out / "backing.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
