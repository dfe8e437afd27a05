"""ramzswap against in-kernel zram, side by side in one guest: `make bench`.

    python -m rztools.bench.swap --arch x86_64 [--runs 3]

One boot (256M, 2 vCPUs, vm.page-cluster=0).  For each compressor (lz4, lz4hc,
lzo-rle, zstd, each at its default level in both drivers) and each data set (zero,
text, a heap captured from a real python3 process in the guest, random, mixed) the
two backends run as a pair, with the same algorithm, disksize and memlimit, the order
alternated from one pair to the next (A B, B A, ...).  Each run:

- timed: rzscan fills SCAN_MIB and scans it PASSES times, confined to a memory
  cgroup of WORKLOAD_MIB (a third of the data): pages/s = (pswpout + pswpin) / elapsed,
  microseconds per page, and the guest's system CPU seconds (/proc/stat); then the same
  with --rewrite (every page dirtied on every pass, so both backends swap every page
  out again: the same I/O for both, whatever the kernel keeps in its swap cache);
- churn: rzscan with two workers fills the same amount; once both are swapped out
  they are stopped and the device's stats give orig/compr and orig_data_size /
  mem_used_total; then one worker is killed (half the pages freed, scattered over
  the store), and compr_data_size / mem_used_total is read once the frees settled.

Speed on a shared machine is settled over pairs: the ratio ramzswap/zram of each pair,
their median and a distribution-free 95 % interval for it; a goal is met or not met
only when the interval lies on one side of its threshold, else it is unsettled (and
under 6 pairs there is no interval).  The host's load average is recorded beside the
figures.

Why a memory cgroup and not 3x the guest's RAM: a 256M guest cannot hold 768M of
text (2:1) or random data compressed in its RAM: the store alone would pass RAM and
the guest would OOM on those data sets.  The workload gets 3x the RAM it may use;
the guest keeps 256M for the store, like a device whose app has a memory budget.

Writes out/bench/: results.json (the issue's schema), ratios.json, runs.json (every
run, rewritten after each one: `--report out/bench/runs.json` makes the figures again
from it, of a run cut short too), sizes.json (compressed-size histograms of each data
set), results.md and results.png; a copy lands in out/bench/<arch>/.  Then runs the
allocator microbenchmark (rztools.bench.allocator) on the recorded sizes.
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

from ..target import booter
from ..target import guestproc as gp
from ..target import swapdevs as sd
from ..target.console import ConsoleError
from ..target.qemu import QemuError
from . import allocator
from .figures import FIGURE_INFO, fmt, fmt_range, host_load, median_interval, summarize, verdict
from .plan import GuestPlan

REPO = Path(__file__).resolve().parents[3]
OUT = REPO / "out" / "bench"
HEAP_FILE = "/root/heap.bin"
# the compressors both drivers offer, each at its default level (lz4: acceleration 1,
# lz4hc: 9, zstd: 3; lzo-rle has none)
ALGORITHMS = ("lz4", "lz4hc", "lzo-rle", "zstd")
# every data set rzscan offers; the goals are set on three of them, and a run takes
# those unless told otherwise (the other two are bounds: zero is the same-page path,
# random is what does not compress), since each data set adds a quarter hour per arch
DATASETS = ("zero", "text", "heap", "random", "mixed")
GOAL_DATASETS = ("text", "heap", "mixed")
GROUP = "rzbench"
# the figures (results.json), then ours (ratios.json, runs.json, results.md)
FIGURES = ("pages_per_s", "us_per_page", "ratio", "orig_per_mem_used",
           "compr_per_mem_used_after_churn", "sys_s")
EXTRA = ("elapsed_s", "pswpout", "pages_per_s_rewrite")
ALL_FIGURES = FIGURES + EXTRA
STORAGE_FIGURES = ("ratio", "orig_per_mem_used", "compr_per_mem_used_after_churn")
MIN_STORE = 1 << 20  # below this the storage ratios are those of a handful of stray pages


@dataclass(frozen=True)
class Plan(GuestPlan):
    runs: int = 6                   # pairs: 6 is the fewest with a 95 % interval
    rewrite_passes: int = 1         # the --rewrite run: every pass swaps every page out
    memlimit: str = "128M"
    heap_mib: int = 32
    size_sample_mib: int = 16       # pages per data set whose compressed sizes are recorded
    datasets: tuple[str, ...] = GOAL_DATASETS
    backends: tuple[str, ...] = sd.BACKENDS
    algorithms: tuple[str, ...] = ALGORITHMS

    def groups(self) -> list[tuple[str, str]]:
        """(algorithm, data set) in the order the report lists them."""
        return [(alg, ds) for alg in self.algorithms for ds in self.datasets]

    def order(self, run: int) -> tuple[str, ...]:
        """The backends of pair `run`, the order swapped from one pair to the next so
        that neither always runs first (after the other's frees, on a warmer cache)."""
        return self.backends if run % 2 == 0 else tuple(reversed(self.backends))

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


def spread(values: list[float | None]) -> dict:
    """min/median/max and the 95 % interval of the median (None under 6 values)."""
    out: dict = summarize(values)
    out["ci95"] = median_interval(values)
    return out


def of_group(runs: list[dict], alg: str, ds: str) -> list[dict]:
    return [r for r in runs if r.get("algorithm", "lz4") == alg and r["dataset"] == ds]


def records(runs: list[dict], plan: Plan,
            figures: tuple[str, ...] = FIGURES) -> list[dict]:
    """results.json: one record per algorithm, data set and backend."""
    out = []
    for alg, ds in plan.groups():
        for be in plan.backends:
            mine = [r for r in of_group(runs, alg, ds) if r["backend"] == be]
            rec: dict = {"algorithm": alg, "dataset": ds, "backend": be, "runs": len(mine)}
            for fig in figures:
                rec[fig] = spread([r["figures"][fig] for r in mine])
            out.append(rec)
    return out


def paired_ratios(runs: list[dict], plan: Plan, a: str = "ramzswap",
                  b: str = "zram") -> list[dict]:
    """ramzswap/zram of every figure, pair i against pair i (they ran back to back)."""
    out = []
    for alg, ds in plan.groups():
        rec: dict = {"algorithm": alg, "dataset": ds, "ratio_of": f"{a}/{b}"}
        by_run = {(r["backend"], r["run"]): r for r in of_group(runs, alg, ds)}
        pairs = [(by_run[(a, i)], by_run[(b, i)]) for i in range(plan.runs)
                 if (a, i) in by_run and (b, i) in by_run]
        rec["pairs"] = len(pairs)
        for fig in ALL_FIGURES:
            rec[fig] = spread([div(x["figures"][fig], y["figures"][fig]) for x, y in pairs])
        out.append(rec)
    return out


GOALS = (
    # (text, figure, data sets, threshold, compared with zram?)
    ("pages/s >= 1.0x zram", "pages_per_s", GOAL_DATASETS, 1.0, True),
    ("orig/mem_used >= 1.0x zram", "orig_per_mem_used", GOAL_DATASETS, 1.0, True),
    ("compr/mem_used >= 0.90 after churn", "compr_per_mem_used_after_churn", None, 0.90, False),
)


def goal_rows(recs: list[dict], ratios: list[dict]) -> list[dict]:
    """Each goal per algorithm and data set: the median, its 95 % interval, and the
    verdict on the interval (met, not met, unsettled)."""
    rows = []
    for text, fig, datasets, threshold, relative in GOALS:
        for group in ratios:
            alg, ds = group["algorithm"], group["dataset"]
            if datasets and ds not in datasets:
                continue
            if relative:
                s = group[fig]
            else:
                s = next(r[fig] for r in recs if r["algorithm"] == alg
                         and r["dataset"] == ds and r["backend"] == "ramzswap")
            if s["median"] is None:
                continue  # no meaning here (a store of same-filled pages only)
            rows.append({"goal": text, "algorithm": alg, "dataset": ds,
                         "value": s["median"], "ci95": s["ci95"],
                         "verdict": verdict(s["ci95"], threshold)})
    return rows


def fmt_ci(s: dict) -> str:
    """**median** [95 % interval], or the median alone where there are too few pairs."""
    if s["median"] is None:
        return "n/a"
    ci = s.get("ci95")
    tail = f" [{fmt(ci[0])}–{fmt(ci[1])}]" if ci else " [too few]"
    return f"**{fmt(s['median'])}**{tail}"


def fmt_load(load: dict | None) -> str:
    if not load:
        return "not recorded"
    parts = [f"{k} {' / '.join(fmt(v) for v in load[k])}" for k in ("start", "end")
             if load.get(k)]
    runs = load.get("per_run")
    if runs and runs.get("median") is not None:
        parts.append(f"1-min average at the start of each run: median {fmt(runs['median'])}, "
                     f"max {fmt(runs['max'])}")
    return "; ".join(parts)


def markdown(plan: Plan, recs: list[dict], ratios: list[dict], goals: list[dict],
             meta: dict) -> str:
    lines = [
        f"# ramzswap vs zram ({plan.arch}, Linux {meta.get('kernel_release', plan.kernel)})",
        "",
        f"One guest: {plan.mem} RAM, {plan.smp} vCPUs ({meta.get('accel', 'tcg')}), "
        f"vm.page-cluster=0; disksize {plan.disksize} and memlimit {plan.memlimit} for both, "
        f"the same compressor in both at its default level ({', '.join(plan.algorithms)}). "
        f"rzscan {plan.scan_mib} MiB, {plan.passes} passes, in a memory cgroup "
        f"of {plan.workload_mib} MiB: 3x the RAM the workload may use. {plan.runs} pairs "
        "per algorithm and data set, the order alternated (A B, B A, ...).",
        "",
        f"Host load average (1 / 5 / 15 min): {fmt_load(meta.get('load'))}.",
        "",
        "Why not 3x the guest's RAM: the compressed store lives in the same 256M; 768M of "
        "text (about 2:1) or random data cannot fit compressed in it and the guest would "
        "OOM on those data sets, so the workload's RAM is capped instead.",
        "",
        f"Wall time: {fmt(meta.get('elapsed_s'), 0)} s. Figures are ratios measured side by "
        "side; absolute times under emulation mean nothing.",
        "",
        "## Goals (verdict on the 95 % interval of the median over pairs; reported, "
        "not asserted)",
        "",
        "| goal | algorithm | data set | median [95 % interval] | verdict |",
        "| --- | --- | --- | --- | --- |",
    ]
    for g in goals:
        ci = f" [{fmt(g['ci95'][0])}–{fmt(g['ci95'][1])}]" if g["ci95"] else " [too few]"
        v = g["verdict"] if g["verdict"] != "not met" else "**not met**"
        lines.append(f"| {g['goal']} | {g['algorithm']} | {g['dataset']} | "
                     f"{fmt(g['value'])}{ci} | {v} |")
    lines += [
        "", "## ramzswap / zram (paired runs: **median** [95 % interval])", "",
        "| algorithm | data set | pairs | " + " | ".join(FIGURE_INFO[f][0] for f in ALL_FIGURES)
        + " |", "| --- | --- | --- |" + " --- |" * len(ALL_FIGURES),
    ]
    for r in ratios:
        lines.append(f"| {r['algorithm']} | {r['dataset']} | {r['pairs']} | "
                     + " | ".join(fmt_ci(r[f]) for f in ALL_FIGURES) + " |")
    lines += ["", "## Per backend (**median** (min–max))", "",
              "| algorithm | data set | backend | runs | "
              + " | ".join(FIGURE_INFO[f][0] for f in ALL_FIGURES)
              + " |", "| --- | --- | --- | --- |" + " --- |" * len(ALL_FIGURES)]
    for r in recs:
        lines.append(f"| {r['algorithm']} | {r['dataset']} | {r['backend']} | {r['runs']} | "
                     + " | ".join(fmt_range(r[f]) for f in ALL_FIGURES) + " |")
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
        tag = f"{r.get('algorithm', 'lz4')}/{r['dataset']}/{r['backend']} run {r['run']}"
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
    groups = plan.groups()
    labels = [ds if len(plan.algorithms) == 1 else f"{alg}\n{ds}" for alg, ds in groups]
    top = FIGURES + ("pages_per_s_rewrite",)
    width = 0.8 / len(top)
    for k, f in enumerate(top):
        label, higher = FIGURE_INFO[f]
        xs, ys, lo, hi = [], [], [], []
        for i, r in enumerate(ratios):
            s = r[f]
            if s["median"] is None:
                continue
            # whiskers: the 95 % interval where there is one, else min-max; "better for
            # ramzswap" always above 1: lower-is-better figures are inverted
            low, high = s["ci95"] or (s["min"], s["max"])
            med, mn, mx = ((s["median"], low, high) if higher else
                           (1 / s["median"], 1 / high, 1 / low))
            xs.append(i + (k - len(top) / 2 + 0.5) * width)
            ys.append(med)
            lo.append(med - mn)
            hi.append(mx - med)
        ax.bar(xs, ys, width, yerr=[lo, hi], capsize=2,
               label=label + ("" if higher else " (inverted)"))
    ax.axhline(1.0, color="black", lw=1)
    ax.set_xticks(range(len(groups)), labels, fontsize=7)
    ax.set_ylabel("ramzswap advantage (x zram)")
    ax.set_title(f"ramzswap vs zram on {plan.arch}: above 1.0 favours ramzswap "
                 f"(median, whiskers its 95 % interval over {plan.runs} pairs)")
    ax.legend(fontsize=8, ncol=3, loc="upper left")
    for k, f in enumerate(FIGURES):
        label, higher = FIGURE_INFO[f]
        a = fig.add_subplot(grid[1 + k // 3, k % 3])
        for j, be in enumerate(plan.backends):
            xs, ys, lo, hi = [], [], [], []
            for i, (alg, ds) in enumerate(groups):
                s = next(r[f] for r in recs if r["algorithm"] == alg and r["dataset"] == ds
                         and r["backend"] == be)
                if s["median"] is None:
                    continue
                xs.append(i + (j - 0.5) * 0.4)
                ys.append(s["median"])
                lo.append(s["median"] - s["min"])
                hi.append(s["max"] - s["median"])
            a.bar(xs, ys, 0.4, yerr=[lo, hi], capsize=2, color=colors.get(be), label=be)
        if f == "compr_per_mem_used_after_churn":
            a.axhline(0.90, color="green", ls="--", lw=1, label="goal 0.90")
        a.set_xticks(range(len(groups)), labels, fontsize=6)
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


def check_algorithms(sh: sd.Shell, plan: Plan) -> None:
    """Both drivers offer every algorithm of the plan, or the run stops before it starts."""
    for be in plan.backends:
        out = sh.check(f"modprobe {be} && cat {sd.sysdir(be)}/comp_algorithm; rmmod {be}")
        offered = out.replace("[", " ").replace("]", " ").split()
        missing = [a for a in plan.algorithms if a not in offered]
        if missing:
            raise sd.GuestError(f"{be} in this guest lacks {', '.join(missing)} "
                                f"(it offers {' '.join(offered)})")


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


def one_run(sh: sd.Shell, backend: str, plan: Plan, algorithm: str, dataset: str,
            run: int) -> dict:
    load = host_load()[0]
    sd.setup(sh, backend, sd.SwapConfig(plan.disksize, plan.memlimit, algorithm=algorithm))
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
        "algorithm": algorithm, "dataset": dataset, "backend": backend, "run": run,
        "host_load": load,
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
        check_algorithms(sh, self.plan)
        gp.take_kernel_log(sh)
        self.meta["load"] = {"start": host_load()}
        for run in range(self.plan.runs):
            for alg, ds in self.plan.groups():
                for be in self.plan.order(run):
                    r = one_run(sh, be, self.plan, alg, ds, run)
                    self.runs.append(r)
                    self.save_runs()
                    f = r["figures"]
                    log(f"pair {run} {alg:7s} {ds:6s} {be:8s} "
                        f"{fmt(f['pages_per_s'], 0):>7} pages/s  "
                        f"ratio {fmt(f['ratio'])}  orig/used {fmt(f['orig_per_mem_used'])}  "
                        f"churn compr/used {fmt(f['compr_per_mem_used_after_churn'])}  "
                        f"sys {fmt(f['sys_s'])} s  mismatches {r['mismatches']}")
        self.meta["load"].update(end=host_load(),
                                 per_run=summarize(r["host_load"] for r in self.runs))
        self.meta["kernel_problems"] = gp.kernel_problems(gp.take_kernel_log(sh))
        self.meta["elapsed_s"] = time.monotonic() - t0

    def cut_short(self) -> list[str]:
        planned = self.plan.runs * len(self.plan.groups()) * len(self.plan.backends)
        if len(self.runs) >= planned:
            return []
        return [f"cut short: {len(self.runs)} of the {planned} runs planned were done; "
                "the figures are those of the runs done"]

    def runs_json(self) -> str:
        return json.dumps({"plan": asdict(self.plan), "meta": self.meta, "runs": self.runs},
                          indent=2) + "\n"

    def save_runs(self) -> None:
        """runs.json as it stands, after every run: a run cut short (a timeout, a lost
        guest) keeps what it measured, and `--report` makes the figures from it.  Written
        aside and renamed, so that a kill mid-write leaves the last whole file."""
        self.out.mkdir(parents=True, exist_ok=True)
        part = self.out / "runs.json.part"
        part.write_text(self.runs_json())
        part.replace(self.out / "runs.json")

    @classmethod
    def from_runs(cls, path: Path, out: Path) -> Bench:
        """A bench whose runs were saved in @path (runs.json), to report on again."""
        saved = json.loads(path.read_text())
        fields = {k: tuple(v) if isinstance(v, list) else v for k, v in saved["plan"].items()}
        return cls(Plan(**fields), out, saved["runs"], saved["meta"])

    def write(self) -> list[Path]:
        recs = records(self.runs, self.plan)
        recs_all = records(self.runs, self.plan, ALL_FIGURES)
        ratios = paired_ratios(self.runs, self.plan)
        goals = goal_rows(recs, ratios)
        self.meta["notes"] = self.cut_short() + run_notes(self.runs) + [
            f"kernel problem: {p}" for p in self.meta.get("kernel_problems", [])]
        self.meta.setdefault("load", {}).setdefault(
            "per_run", summarize(r.get("host_load") for r in self.runs))
        self.out.mkdir(parents=True, exist_ok=True)
        files = {
            "results.json": json.dumps(recs, indent=2),
            "ratios.json": json.dumps(ratios, indent=2),
            "goals.json": json.dumps(goals, indent=2),
            "runs.json": self.runs_json(),
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
    ap.add_argument("--runs", type=int, default=os.environ.get("RUNS") or str(Plan.runs),
                    help="pairs per algorithm and data set (RUNS)")
    ap.add_argument("--datasets", default=os.environ.get("BENCH_DATASETS", ""),
                    help=f"comma-separated, of {','.join(DATASETS)}, or all "
                         f"(default: {','.join(GOAL_DATASETS)}; BENCH_DATASETS)")
    ap.add_argument("--algorithms", default=os.environ.get("BENCH_ALGOS", ""),
                    help=f"comma-separated subset of {','.join(ALGORITHMS)} "
                         "(default: all; BENCH_ALGOS)")
    ap.add_argument("--no-alloc", action="store_true", help="skip the allocator benchmark")
    ap.add_argument("--report", type=Path, metavar="RUNS_JSON",
                    help="boot nothing: the figures of the runs saved in RUNS_JSON")
    a = booter.parse_args(ap, argv)
    if a.report:
        return report(ap.prog, a.report, a.out, a.no_alloc)
    booter.at_least(ap.prog, a.runs, 1, "--runs (RUNS)")
    plan = Plan(arch=a.arch, kernel=a.kernel, runs=a.runs)
    datasets = (DATASETS if a.datasets == "all"
                else booter.pick(ap.prog, a.datasets, DATASETS, "data set"))
    if datasets:
        plan = replace(plan, datasets=datasets)
    algorithms = booter.pick(ap.prog, a.algorithms, plan.algorithms, "algorithm")
    if algorithms:
        plan = replace(plan, algorithms=algorithms)
    print(f"bench: {plan.arch}: rzscan {plan.scan_mib} MiB in a {plan.workload_mib} MiB "
          f"memory cgroup (3x the workload's RAM; the guest's {plan.mem} cannot hold 3x "
          f"its RAM of text or random data compressed), {plan.runs} pairs per algorithm "
          f"({', '.join(plan.algorithms)}) and data set ({', '.join(plan.datasets)})",
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
        if bench.runs:
            print(f"bench: the {len(bench.runs)} runs done are in {bench.out / 'runs.json'}; "
                  f"--report {bench.out / 'runs.json'} gives their figures", file=sys.stderr)
        return 1
    return finish(bench, a.no_alloc)


def finish(bench: Bench, no_alloc: bool) -> int:
    for p in bench.write():
        print(f"wrote {p}")
    print((bench.out / "results.md").read_text())
    if not no_alloc:
        return allocator.report(bench.out / "sizes.json", bench.out)
    return 0


def report(prog: str, path: Path, out: Path, no_alloc: bool) -> int:
    """The figures of a saved run (whole or cut short), booting nothing."""
    try:
        bench = Bench.from_runs(path, out)
    except (OSError, ValueError, KeyError, TypeError) as e:
        booter.refuse(prog, f"cannot read saved runs from {path}: {e}")
    if not bench.runs:
        booter.refuse(prog, f"{path} holds no runs")
    return finish(bench, no_alloc)


if __name__ == "__main__":
    sys.exit(main())
