"""ramzswap against in-kernel zram, side by side in one guest: `make bench`.

    python -m rztools.bench.swap --arch x86_64 [--runs 3]

One boot (256M, 2 vCPUs, vm.page-cluster=0).  For each data set (zero, text, a
heap captured from a real python3 process in the guest, random, mixed) the two
backends run alternately, A B A B, with the same disksize and memlimit.  Each run:

- timed: rzscan fills SCAN_MIB and scans it PASSES times, confined to a memory
  cgroup of WORKLOAD_MIB (a third of the data): pages/s = (pswpout + pswpin) / elapsed,
  microseconds per page, and the guest's system CPU seconds (/proc/stat); then the same
  with --rewrite (every page dirtied on every pass, so both backends swap every page
  out again: the same I/O for both, whatever the kernel keeps in its swap cache);
- churn: rzscan with two workers fills the same amount; once both are swapped out
  they are stopped and the device's stats give orig/compr and orig_data_size /
  mem_used_total; then one worker is killed (half the pages freed, scattered over
  the store), and compr_data_size / mem_used_total is read once the frees settled.

Why a memory cgroup and not 3x the guest's RAM: a 256M guest cannot hold 768M of
text (2:1) or random data compressed in its RAM: the store alone would pass RAM and
the guest would OOM on those data sets.  The workload gets 3x the RAM it may use;
the guest keeps 256M for the store, like a device whose app has a memory budget.

Writes out/bench/: results.json (the issue's schema), ratios.json, runs.json (every
run), sizes.json (compressed-size histograms of each data set), results.md and
results.png; a copy lands in out/bench/<arch>/.  Then runs the allocator
microbenchmark (rztools.bench.allocator) on the recorded sizes.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from ..arches import DEFAULT_ARCH, DEFAULT_KERNEL
from ..target import booter
from ..target import guestproc as gp
from ..target import swapdevs as sd
from ..target.console import ConsoleError
from ..target.qemu import QemuError
from . import allocator
from .figures import fmt, fmt_range, summarize

REPO = Path(__file__).resolve().parents[3]
OUT = REPO / "out" / "bench"
HEAP_FILE = "/root/heap.bin"
GROUP = "rzbench"
# the figures (results.json), then ours (ratios.json, runs.json, results.md)
FIGURES = ("pages_per_s", "us_per_page", "ratio", "orig_per_mem_used",
           "compr_per_mem_used_after_churn", "sys_s")
EXTRA = ("elapsed_s", "pswpout", "pages_per_s_rewrite")
ALL_FIGURES = FIGURES + EXTRA
STORAGE_FIGURES = ("ratio", "orig_per_mem_used", "compr_per_mem_used_after_churn")
MIN_STORE = 1 << 20  # below this the storage ratios are those of a handful of stray pages
# what each figure is, and whether more is better
FIGURE_INFO = {
    "pages_per_s": ("pages/s (swap-out + swap-in)", True),
    "us_per_page": ("µs per page", False),
    "ratio": ("compression ratio orig/compr", True),
    "orig_per_mem_used": ("orig_data_size / mem_used_total", True),
    "compr_per_mem_used_after_churn": ("compr_data_size / mem_used_total after churn", True),
    "sys_s": ("system CPU seconds (guest)", False),
    "elapsed_s": ("workload seconds", False),
    "pswpout": ("swap-outs (pages)", False),
    "pages_per_s_rewrite": ("pages/s, every page rewritten (--rewrite)", True),
}


@dataclass(frozen=True)
class Plan:
    arch: str = DEFAULT_ARCH
    kernel: str = DEFAULT_KERNEL
    mem: str = "256M"
    smp: int = 2
    runs: int = 3
    workload_mib: int = 40          # the rzscan memory cgroup's memory.max
    scan_mib: int = 120             # 3x the workload's RAM
    passes: int = 3
    rewrite_passes: int = 2         # the --rewrite run: every pass swaps every page out
    disksize: str = "256M"          # the same for both backends
    memlimit: str = "128M"
    heap_mib: int = 32
    size_sample_mib: int = 16       # pages per data set whose compressed sizes are recorded
    datasets: tuple[str, ...] = ("zero", "text", "heap", "random", "mixed")
    backends: tuple[str, ...] = sd.BACKENDS

    def scan_data(self, dataset: str) -> str:
        return f"file:{HEAP_FILE}" if dataset == "heap" else dataset


# ---- pure: figures and summaries ----------------------------------------------------

def div(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def swap_rate(report: dict) -> float | None:
    """Pages swapped out plus in per second of an rzscan run."""
    return div(report["pswpin"] + report["pswpout"], report["elapsed_s"])


def run_figures(report: dict, rewrite: dict, sys_s: float, full: dict[str, int],
                churned: dict[str, int]) -> dict[str, float | None]:
    """The figures of one run, from rzscan's reports (the plain cyclic run and the
    --rewrite one) and the device's stats with the store full and after half the pages
    were freed.  The storage ratios of a store under MIN_STORE are left undefined: with
    same-filled data only the workload's few other pages are stored."""
    pps = swap_rate(report)
    figs: dict[str, float | None] = {
        "pages_per_s": pps,
        "us_per_page": div(1e6, pps),
        "ratio": div(full["orig_data_size"], full["compr_data_size"]),
        "orig_per_mem_used": div(full["orig_data_size"], full["mem_used_total"]),
        "compr_per_mem_used_after_churn": div(churned["compr_data_size"],
                                              churned["mem_used_total"]),
        "sys_s": sys_s,
        "elapsed_s": report["elapsed_s"],
        "pswpout": report["pswpout"],
        "pages_per_s_rewrite": swap_rate(rewrite),
    }
    if full["mem_used_total"] < MIN_STORE:
        for f in STORAGE_FIGURES:
            figs[f] = None
    return figs


def records(runs: list[dict], plan: Plan,
            figures: tuple[str, ...] = FIGURES) -> list[dict]:
    """results.json: one record per data set and backend (the issue's figures)."""
    out = []
    for ds in plan.datasets:
        for be in plan.backends:
            mine = [r for r in runs if r["dataset"] == ds and r["backend"] == be]
            rec: dict = {"dataset": ds, "backend": be, "runs": len(mine)}
            for fig in figures:
                rec[fig] = summarize(r["figures"][fig] for r in mine)
            out.append(rec)
    return out


def paired_ratios(runs: list[dict], plan: Plan, a: str = "ramzswap",
                  b: str = "zram") -> list[dict]:
    """ramzswap/zram of every figure, run i against run i (they ran back to back)."""
    out = []
    for ds in plan.datasets:
        rec: dict = {"dataset": ds, "ratio_of": f"{a}/{b}"}
        by_run = {(r["backend"], r["run"]): r for r in runs if r["dataset"] == ds}
        pairs = [(by_run[(a, i)], by_run[(b, i)]) for i in range(plan.runs)
                 if (a, i) in by_run and (b, i) in by_run]
        rec["pairs"] = len(pairs)
        for fig in ALL_FIGURES:
            rec[fig] = summarize(div(x["figures"][fig], y["figures"][fig]) for x, y in pairs)
        out.append(rec)
    return out


GOALS = (
    # (text, figure, data sets, threshold, compared with zram?)
    ("pages/s >= 1.0x zram on text and heap data", "pages_per_s", ("text", "heap"), 1.0, True),
    ("orig/mem_used >= 1.0x zram", "orig_per_mem_used", None, 1.0, True),
    ("compr/mem_used >= 0.90 after churn", "compr_per_mem_used_after_churn", None, 0.90, False),
)


def goal_rows(recs: list[dict], ratios: list[dict]) -> list[dict]:
    """Each goal of the issue per data set, on the medians: value and whether it is met."""
    rows = []
    for text, fig, datasets, threshold, relative in GOALS:
        for ds_rec in ratios:
            ds = ds_rec["dataset"]
            if datasets and ds not in datasets:
                continue
            if relative:
                value = ds_rec[fig]["median"]
            else:
                value = next(r[fig]["median"] for r in recs
                             if r["dataset"] == ds and r["backend"] == "ramzswap")
            rows.append({"goal": text, "dataset": ds, "value": value,
                         "met": None if value is None else value >= threshold})
    return rows


def markdown(plan: Plan, recs: list[dict], ratios: list[dict], goals: list[dict],
             meta: dict) -> str:
    lines = [
        f"# ramzswap vs zram ({plan.arch}, Linux {meta.get('kernel_release', plan.kernel)})",
        "",
        f"One guest: {plan.mem} RAM, {plan.smp} vCPUs ({meta.get('accel', 'tcg')}), "
        f"vm.page-cluster=0; disksize {plan.disksize} and memlimit {plan.memlimit} for both "
        f"(zram: lz4). rzscan {plan.scan_mib} MiB, {plan.passes} passes, in a memory cgroup "
        f"of {plan.workload_mib} MiB: 3x the RAM the workload may use. Backends alternate "
        f"A B A B, {plan.runs} runs each. Cells: **median** (min–max).",
        "",
        "Why not 3x the guest's RAM: the compressed store lives in the same 256M; 768M of "
        "text (about 2:1) or random data cannot fit compressed in it and the guest would "
        "OOM on those data sets, so the workload's RAM is capped instead.",
        "",
        f"Wall time: {fmt(meta.get('elapsed_s'), 0)} s. Figures are ratios measured side by "
        "side; absolute times under emulation mean nothing.",
        "",
        "## ramzswap / zram (paired runs)",
        "",
        "| data set | " + " | ".join(FIGURE_INFO[f][0] for f in ALL_FIGURES) + " |",
        "| --- |" + " --- |" * len(ALL_FIGURES),
    ]
    for r in ratios:
        lines.append(f"| {r['dataset']} | "
                     + " | ".join(fmt_range(r[f]) for f in ALL_FIGURES) + " |")
    lines += ["", "## Per backend", "",
              "| data set | backend | runs | " + " | ".join(FIGURE_INFO[f][0] for f in ALL_FIGURES)
              + " |", "| --- | --- | --- |" + " --- |" * len(ALL_FIGURES)]
    for r in recs:
        lines.append(f"| {r['dataset']} | {r['backend']} | {r['runs']} | "
                     + " | ".join(fmt_range(r[f]) for f in ALL_FIGURES) + " |")
    lines += ["", "## Goals (issue 6; medians; reported, not asserted)", "",
              "| goal | data set | value | met |", "| --- | --- | --- | --- |"]
    for g in goals:
        met = {True: "yes", False: "**no**", None: "n/a"}[g["met"]]
        lines.append(f"| {g['goal']} | {g['dataset']} | {fmt(g['value'])} | {met} |")
    notes = meta.get("notes") or []
    if notes:
        lines += ["", "## Notes", ""] + [f"- {n}" for n in notes]
    return "\n".join(lines) + "\n"


SWAP_CACHE_NOTE = (
    "Why the swap-outs differ: the kernel frees a slot when the page is read back only for "
    "a synchronous swap device (->rw_page before 6.3, QUEUE_FLAG_SYNCHRONOUS 6.3-6.10, "
    "BLK_FEAT_SYNCHRONOUS from 6.11); both drivers declare it, so a difference means one "
    "of them was not treated as synchronous (a page read back then stays in the swap cache "
    "with its slot and compressed copy, and evicting it again costs no write). The plain "
    "runs then do different work: compare 'workload seconds' for the same work, and the "
    "--rewrite rate for the drivers on equal traffic.")


def run_notes(runs: list[dict]) -> list[str]:
    """Things a reader of the figures must know: failed writes, mismatches, swap traffic."""
    notes = []
    for r in runs:
        tag = f"{r['dataset']}/{r['backend']} run {r['run']}"
        if r["mismatches"]:
            notes.append(f"{tag}: rzscan found {r['mismatches']} mismatching pages")
        if r["status"]:
            notes.append(f"{tag}: rzscan exited {r['status']}")
        if r["failed_writes"]:
            notes.append(f"{tag}: {r['failed_writes']} failed writes (memlimit reached)")
    differ = False
    for ds in sorted({r["dataset"] for r in runs}):
        outs = {be: statistics.median(r["pswpout"] for r in runs
                                      if r["dataset"] == ds and r["backend"] == be)
                for be in sd.BACKENDS if any(r["backend"] == be and r["dataset"] == ds
                                             for r in runs)}
        if len(outs) == 2 and outs["zram"] and abs(outs["ramzswap"] / outs["zram"] - 1) > 0.2:
            differ = True
            notes.append(f"{ds}: swap-outs per run differ: ramzswap {outs['ramzswap']:.0f}, "
                         f"zram {outs['zram']:.0f} (median pswpout)")
    if differ:
        notes.append(SWAP_CACHE_NOTE)
    return notes


def chart(plan: Plan, recs: list[dict], ratios: list[dict], path: Path) -> None:
    """Top: ramzswap/zram of each figure per data set against the 1.0 line (right of
    it favours ramzswap).  Below: the absolute figures of both backends."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colors = {"ramzswap": "#1f77b4", "zram": "#ff7f0e"}
    fig = plt.figure(figsize=(15, 10), constrained_layout=True)
    grid = fig.add_gridspec(3, 3)
    ax = fig.add_subplot(grid[0, :])
    datasets = list(plan.datasets)
    top = FIGURES + ("pages_per_s_rewrite",)
    width = 0.8 / len(top)
    for k, f in enumerate(top):
        label, higher = FIGURE_INFO[f]
        xs, ys, lo, hi = [], [], [], []
        for i, r in enumerate(ratios):
            s = r[f]
            if s["median"] is None:
                continue
            # show "better for ramzswap" always above 1: invert lower-is-better figures
            med, mn, mx = ((s["median"], s["min"], s["max"]) if higher else
                           (1 / s["median"], 1 / s["max"], 1 / s["min"]))
            xs.append(i + (k - len(top) / 2 + 0.5) * width)
            ys.append(med)
            lo.append(med - mn)
            hi.append(mx - med)
        ax.bar(xs, ys, width, yerr=[lo, hi], capsize=2,
               label=label + ("" if higher else " (inverted)"))
    ax.axhline(1.0, color="black", lw=1)
    ax.set_xticks(range(len(datasets)), datasets)
    ax.set_ylabel("ramzswap advantage (x zram)")
    ax.set_title(f"ramzswap vs zram on {plan.arch}: above 1.0 favours ramzswap "
                 f"(median, whiskers min–max over {plan.runs} paired runs)")
    ax.legend(fontsize=8, ncol=3, loc="upper left")
    for k, f in enumerate(FIGURES):
        label, higher = FIGURE_INFO[f]
        a = fig.add_subplot(grid[1 + k // 3, k % 3])
        for j, be in enumerate(plan.backends):
            xs, ys, lo, hi = [], [], [], []
            for i, ds in enumerate(datasets):
                s = next(r[f] for r in recs if r["dataset"] == ds and r["backend"] == be)
                if s["median"] is None:
                    continue
                xs.append(i + (j - 0.5) * 0.4)
                ys.append(s["median"])
                lo.append(s["median"] - s["min"])
                hi.append(s["max"] - s["median"])
            a.bar(xs, ys, 0.4, yerr=[lo, hi], capsize=2, color=colors.get(be), label=be)
        if f == "compr_per_mem_used_after_churn":
            a.axhline(0.90, color="green", ls="--", lw=1, label="goal 0.90")
        a.set_xticks(range(len(datasets)), datasets, fontsize=8)
        a.set_title(label + (" — higher is better" if higher else " — lower is better"),
                    fontsize=9)
        a.legend(fontsize=7)
    fig.savefig(path, dpi=90)
    plt.close(fig)


# ---- guest side ---------------------------------------------------------------------

def prepare_guest(sh: sd.Shell, plan: Plan) -> dict:
    """No swap, both modules unloaded, page-cluster 0, the workload's cgroup, the heap
    data set captured from a real process."""
    sd.clean_slate(sh)
    sh.check("echo 0 > /proc/sys/vm/page-cluster")
    sd.memcg(sh, GROUP, f"{plan.workload_mib}M")
    script = gp.push_script(sh, "heapdump.py")
    out = sh.check(f"python3 {script} {HEAP_FILE} {plan.heap_mib}", timeout=1800)
    return json.loads(out.splitlines()[-1])


def record_sizes(sh: sd.Shell, plan: Plan) -> dict[str, dict]:
    """Compressed-size histogram of each data set (no swap active while recording)."""
    script = gp.push_script(sh, "pagesizes.py")
    sizes = {}
    for ds in plan.datasets:
        if ds == "heap":
            out = sh.check(f"python3 {script} file {HEAP_FILE}", timeout=1800)
        else:
            scan = sd.Scan(plan.scan_data(ds), plan.size_sample_mib, passes=100000)
            pid = gp.start_background(sh, scan.command())
            try:
                (worker,) = gp.wait_filled(sh, pid, 1, gp.nearly(plan.size_sample_mib << 10))
                gp.kill(sh, "STOP", [worker])
                out = sh.check(f"python3 {script} pid {worker} {plan.size_sample_mib}",
                               timeout=1800)
            finally:
                gp.kill(sh, "KILL", [pid] + gp.children(sh, pid))
                gp.wait_gone(sh, [pid])
        sizes[ds] = json.loads(out.splitlines()[-1])
    return sizes


def settle(sh: sd.Shell, backend: str, key: str, quiet_s: float = 1.0,
           timeout: float = 300.0) -> dict[str, int]:
    """Stats once `key` stopped changing for quiet_s."""
    deadline = time.monotonic() + timeout
    last = sd.read_stats(sh, backend)
    while True:
        time.sleep(quiet_s)
        now = sd.read_stats(sh, backend)
        if now[key] == last[key] or time.monotonic() > deadline:
            return now
        last = now


def churn_phase(sh: sd.Shell, backend: str, plan: Plan, dataset: str) -> tuple[dict, dict]:
    """(stats with the store full, stats after one of two workers freed its half)."""
    scan = sd.Scan(plan.scan_data(dataset), plan.scan_mib, passes=100000, workers=2)
    pid = gp.start_background(sh, sd.in_memcg(GROUP, scan.command()))
    try:
        workers = gp.wait_filled(sh, pid, 2, gp.nearly((plan.scan_mib << 10) // 2))
        gp.kill(sh, "STOP", workers)
        full = settle(sh, backend, "compr_data_size")
        gp.kill(sh, "KILL", workers[:1])
        gp.wait_gone(sh, workers[:1])
        settle(sh, backend, "compr_data_size")
        time.sleep(2.0)  # compaction, where the backend has it, runs in the background
        churned = sd.read_stats(sh, backend)
    finally:
        gp.kill(sh, "KILL", [pid] + gp.children(sh, pid))
        gp.wait_gone(sh, [pid])
    return full, churned


def one_run(sh: sd.Shell, backend: str, plan: Plan, dataset: str, run: int) -> dict:
    sd.setup(sh, backend, sd.SwapConfig(plan.disksize, plan.memlimit))
    try:
        sh.check("sync; echo 3 > /proc/sys/vm/drop_caches")
        if dataset == "heap":  # its page cache belongs to the root group, not the workload's
            sh.check(f"cat {HEAP_FILE} > /dev/null")
        before = gp.cpu_line(sh)
        res = sd.run_scan(sh, sd.Scan(plan.scan_data(dataset), plan.scan_mib, plan.passes),
                          GROUP)
        after = gp.cpu_line(sh)
        rewrite = sd.run_scan(sh, sd.Scan(plan.scan_data(dataset), plan.scan_mib,
                                          plan.rewrite_passes, rewrite=True), GROUP)
        for r in (res, rewrite):
            if r.report is None:
                raise sd.GuestError(f"rzscan gave no report ({r.status}): {r.output}")
        sys_s = gp.system_seconds(before, after)
        after_scan = sd.read_stats(sh, backend)
        full, churned = churn_phase(sh, backend, plan, dataset)
    finally:
        sd.teardown(sh, backend)
    rep = res.report
    return {
        "dataset": dataset, "backend": backend, "run": run,
        "status": max(res.status, rewrite.status),
        "mismatches": res.mismatches + rewrite.mismatches, "elapsed_s": rep["elapsed_s"],
        "pswpin": rep["pswpin"], "pswpout": rep["pswpout"], "rzscan_sys_s": rep["sys_s"],
        "failed_writes": after_scan.get("failed_writes", 0),
        "figures": run_figures(rep, rewrite.report, sys_s, full, churned),
        "rewrite": rewrite.report, "stats_full": full, "stats_churned": churned,
    }


@dataclass
class Bench:
    plan: Plan
    out: Path = OUT
    runs: list[dict] = field(default_factory=list)
    meta: dict = field(default_factory=dict)

    def run(self, sh: sd.Shell, log: Callable[[str], None] = print) -> None:
        t0 = time.monotonic()
        self.meta["heap"] = prepare_guest(sh, self.plan)
        log(f"heap data set: {self.meta['heap']}")
        self.meta["sizes"] = record_sizes(sh, self.plan)
        gp.take_kernel_log(sh)
        for run in range(self.plan.runs):
            for ds in self.plan.datasets:
                for be in self.plan.backends:
                    r = one_run(sh, be, self.plan, ds, run)
                    self.runs.append(r)
                    f = r["figures"]
                    log(f"run {run} {ds:6s} {be:8s} {fmt(f['pages_per_s'], 0):>7} pages/s  "
                        f"ratio {fmt(f['ratio'])}  orig/used {fmt(f['orig_per_mem_used'])}  "
                        f"churn compr/used {fmt(f['compr_per_mem_used_after_churn'])}  "
                        f"sys {fmt(f['sys_s'])} s  mismatches {r['mismatches']}")
        self.meta["kernel_problems"] = gp.kernel_problems(gp.take_kernel_log(sh))
        self.meta["elapsed_s"] = time.monotonic() - t0

    def write(self) -> list[Path]:
        recs = records(self.runs, self.plan)
        recs_all = records(self.runs, self.plan, ALL_FIGURES)
        ratios = paired_ratios(self.runs, self.plan)
        goals = goal_rows(recs, ratios)
        self.meta["notes"] = run_notes(self.runs) + [
            f"kernel problem: {p}" for p in self.meta.get("kernel_problems", [])]
        self.out.mkdir(parents=True, exist_ok=True)
        files = {
            "results.json": json.dumps(recs, indent=2),
            "ratios.json": json.dumps(ratios, indent=2),
            "goals.json": json.dumps(goals, indent=2),
            "runs.json": json.dumps({"plan": asdict(self.plan), "meta": self.meta,
                                     "runs": self.runs}, indent=2),
            "sizes.json": json.dumps(self.meta.get("sizes", {}), indent=2),
            "results.md": markdown(self.plan, recs_all, ratios, goals, self.meta),
        }
        paths = []
        for name, text in files.items():
            (self.out / name).write_text(text + ("" if text.endswith("\n") else "\n"))
            paths.append(self.out / name)
        chart(self.plan, recs, ratios, self.out / "results.png")
        paths.append(self.out / "results.png")
        copy = self.out / self.plan.arch
        copy.mkdir(exist_ok=True)
        for p in paths:
            shutil.copy2(p, copy / p.name)
        return paths


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="rztools.bench.swap", description=__doc__.split("\n")[0])
    booter.add_arguments(ap, OUT)
    ap.add_argument("--runs", type=int, default=os.environ.get("RUNS") or "3")
    ap.add_argument("--datasets", default="", help="comma-separated subset (default: all)")
    ap.add_argument("--no-alloc", action="store_true", help="skip the allocator benchmark")
    a = booter.parse_args(ap, argv)
    booter.at_least(ap.prog, a.runs, 1, "--runs (RUNS)")
    plan = Plan(arch=a.arch, kernel=a.kernel, runs=a.runs)
    datasets = booter.pick(ap.prog, a.datasets, plan.datasets, "data set")
    if datasets:
        plan = replace(plan, datasets=datasets)
    print(f"bench: {plan.arch}: rzscan {plan.scan_mib} MiB in a {plan.workload_mib} MiB "
          f"memory cgroup (3x the workload's RAM; the guest's {plan.mem} cannot hold 3x "
          f"its RAM of text or random data compressed), {plan.runs} runs per backend",
          flush=True)
    bench = Bench(plan, a.out)
    try:
        with booter.booted(plan.arch, plan.kernel, REPO / "out" / "logs" / "bench",
                           a.manifest) as g:
            con = g.boot(plan.mem, plan.smp, append="ramzswap=off")
            bench.meta.update(kernel_release=g.manifest.get("kernel_release"),
                              accel=g.vms[0].machine.accel)
            bench.run(con, lambda s: print(s, flush=True))
    except (ConsoleError, QemuError, sd.GuestError) as e:
        print(f"bench: FAILED: {e}", file=sys.stderr)
        return 1
    for p in bench.write():
        print(f"wrote {p}")
    print((bench.out / "results.md").read_text())
    if not a.no_alloc:
        return allocator.report(bench.out / "sizes.json", bench.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
