"""Host microbenchmark of the xvmalloc allocator on compressed sizes recorded from the
benchmark's data sets.

    python -m rztools.bench.alloc --sizes out/bench/sizes.json [--out out/bench]

module/xvmalloc/host/xvbench.c, built by that folder's Makefile with the allocator's
own sources (module/xvmalloc/xvmalloc.c and its user-space page supply xv_host.c),
replays the driver's use of the pool: fill NSLOTS slots with sizes drawn from a data
set's histogram, churn (free and rewrite random slots), free a random half; compaction
runs when the pool asks for it, as the driver's worker does.  The C library's malloc
replays the same operations as a speed reference.  Figures per data set,
min/median/max over SEEDS runs:

- ops/s: allocations + frees per CPU second (compaction apart, and with it);
- efficiency (compressed bytes / allocator memory, the `stats` figure) after fill,
  churn and the half free; an ideal allocator (bytes packed end to end) scores 1.0, so
  the efficiency is also the fraction of the ideal;
- splits: objects above 3/8 of a page stored in two parts, as the driver does when no
  free block takes one whole (each costs a second allocation and a gather on read).

Writes alloc.json and alloc.md next to the sizes.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

from .figures import fmt, fmt_range, summarize

REPO = Path(__file__).resolve().parents[3]
HOST = REPO / "module" / "xvmalloc" / "host"
NSLOTS = 30000      # 117 MiB of pages: the benchmark's workload
CHURN = 90000
SEEDS = (1, 2, 3)
PHASES = ("fill", "churn", "half")


def build(out: Path) -> Path:
    """Compile the driver with the allocator's sources (make: no-op when up to date)."""
    subprocess.run(["make", "-s", "-C", str(HOST), f"O={out}", "xvbench"], check=True,
                   capture_output=True, text=True)
    return out / "xvbench"


def size_lines(hist: dict, page: int = 4096) -> str:
    """pagesizes.py's histogram -> xvbench's 'size count' lines (0 = same-filled,
    page = stored whole)."""
    lines = [f"0 {hist['same']}"] if hist.get("same") else []
    lines += [f"{size} {count}" for size, count in sorted(hist["sizes"].items(),
                                                           key=lambda kv: int(kv[0]))]
    if hist.get("raw"):
        lines.append(f"{page} {hist['raw']}")
    return "\n".join(lines) + "\n"


def allocates(hist: dict) -> bool:
    """Whether a data set makes any allocator objects (zero pages and random ones do not)."""
    return bool(hist["sizes"])


def figures(run: dict) -> dict[str, float]:
    """ops/s and efficiency per phase from one xvbench report."""
    last = run[PHASES[-1]]
    out = {
        "ops_per_s": last["ops"] / last["op_s"] if last["op_s"] else math.nan,
        "ops_per_s_with_compaction": last["ops"] / (last["op_s"] + last["compact_s"])
        if last["op_s"] + last["compact_s"] else math.nan,
        "compactions": last["compactions"],
        # large objects stored in two parts (fill, churn and half free together)
        "splits": last.get("splits", 0),
    }
    for ph in PHASES:
        out[f"efficiency_{ph}"] = run[ph]["stored"] / run[ph]["held"] if run[ph]["held"] else 0
    return out


def run_one(exe: Path, allocator: str, sizes_file: Path, seed: int, slots: int = NSLOTS,
            churn: int = CHURN) -> dict:
    res = subprocess.run([str(exe), allocator, str(sizes_file), str(slots), str(churn),
                          str(seed)], capture_output=True, text=True, timeout=600)
    if res.returncode != 0:
        raise RuntimeError(f"xvbench {allocator} {sizes_file.name} failed: {res.stderr}")
    return json.loads(res.stdout)


def mean_object(hist: dict) -> float:
    n = sum(hist["sizes"].values())
    return sum(int(k) * v for k, v in hist["sizes"].items()) / n if n else 0.0


def bench(sizes: dict[str, dict], out: Path, slots: int = NSLOTS, churn: int = CHURN,
          seeds: tuple[int, ...] = SEEDS) -> list[dict]:
    exe = build(out / "xvbench-build")
    rows = []
    for ds, hist in sizes.items():
        if not allocates(hist):
            continue
        f = out / "xvbench-build" / f"{ds}.sizes"
        f.write_text(size_lines(hist))
        row: dict = {"dataset": ds, "pages": hist["pages"], "same": hist["same"],
                     "raw": hist["raw"], "mean_object": mean_object(hist)}
        for allocator in ("xv", "malloc"):
            figs = [figures(run_one(exe, allocator, f, seed, slots, churn)) for seed in seeds]
            row[allocator] = {k: summarize(x[k] for x in figs) for k in figs[0]}
        row["speed_vs_malloc"] = (row["xv"]["ops_per_s"]["median"]
                                  / row["malloc"]["ops_per_s"]["median"])
        rows.append(row)
    return rows


def markdown(rows: list[dict], slots: int = NSLOTS, churn: int = CHURN,
             seeds: int = len(SEEDS)) -> str:
    lines = [
        "# xvmalloc microbenchmark (user-space build, host CPU time)",
        "",
        f"{slots} slots filled from each data set's recorded compressed sizes, {churn} "
        "random rewrites, then a random half freed; compaction when the pool asks for it. "
        f"Median (min–max) over {seeds} seeds. Efficiency = compressed bytes / "
        "allocator memory (an ideal allocator packing bytes end to end scores 1.00); "
        "glibc malloc never gives the freed half back, so its efficiency after the half "
        "free is shown for reference only.",
        "",
        "| data set | mean object (B) | xv ops/s | xv ops/s incl. compaction | malloc ops/s "
        "| xv/malloc speed | xv eff. fill | xv eff. churn | xv eff. half freed "
        "| malloc eff. half freed | compactions | splits |",
        "| --- |" + " --- |" * 11,
    ]
    for r in rows:
        xv, ml = r["xv"], r["malloc"]
        lines.append(
            f"| {r['dataset']} | {r['mean_object']:.0f} | {fmt_range(xv['ops_per_s'])} | "
            f"{fmt_range(xv['ops_per_s_with_compaction'])} | {fmt_range(ml['ops_per_s'])} | "
            f"{fmt(r['speed_vs_malloc'])} | {fmt_range(xv['efficiency_fill'])} | "
            f"{fmt_range(xv['efficiency_churn'])} | "
            f"{fmt_range(xv['efficiency_half'])} | {fmt_range(ml['efficiency_half'])} | "
            f"{fmt(xv['compactions']['median'], 0)} | {fmt(xv['splits']['median'], 0)} |")
    goal = [r for r in rows if (r["xv"]["efficiency_half"]["min"] or 0) < 0.90]
    lines += ["", "Goal: compr/mem_used >= 0.90 after churn: "
              + ("met on every data set." if not goal else
                 "**not met** on " + ", ".join(r["dataset"] for r in goal) + ".")]
    return "\n".join(lines) + "\n"


def report(sizes: Path, out: Path, slots: int = NSLOTS, churn: int = CHURN,
           seeds: tuple[int, ...] = SEEDS) -> int:
    """Run the benchmark on sizes.json, write alloc.json and alloc.md to @out: exit status."""
    try:
        rows = bench(json.loads(sizes.read_text()), out, slots, churn, seeds)
    except (OSError, ValueError, RuntimeError, subprocess.CalledProcessError) as e:
        detail = getattr(e, "stderr", "") or ""
        print(f"allocbench: FAILED: {e}\n{detail}", file=sys.stderr)
        return 1
    (out / "alloc.json").write_text(json.dumps(rows, indent=2) + "\n")
    md = markdown(rows, slots, churn, len(seeds))
    (out / "alloc.md").write_text(md)
    print(md)
    print(f"wrote {out / 'alloc.json'} and {out / 'alloc.md'}")
    return 0
