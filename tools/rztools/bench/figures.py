"""Figures of a benchmark: min/median/max of repeated runs, and how the reports print them.

Shared by every benchmark so that their tables read the same.
"""

from __future__ import annotations

import math
import os
import statistics
from collections.abc import Iterable

# Every figure a benchmark reports, under one name wherever it appears: what it is, and
# whether more is better.  First what the workload cost, then where its pages went.
COST_FIGURES = {
    "pages_per_s": ("pages/s (swap-out + swap-in)", True),
    "pages_per_s_rewrite": ("pages/s, every page rewritten (--rewrite)", True),
    "us_per_page": ("µs per page", False),
    "swapout_per_s": ("swap-outs/s", True),
    "worst_page_ms": ("worst page time (ms)", False),
    "elapsed_s": ("workload seconds", False),
    "sys_s": ("system CPU seconds (guest)", False),
    "pswpout": ("swap-outs (pages)", False),
}
STORE_FIGURES = {
    "ratio": ("compression ratio orig/compr", True),
    "orig_per_mem_used": ("orig_data_size / mem_used_total", True),
    "compr_per_mem_used_after_churn": ("compr_data_size / mem_used_total after churn", True),
    "bdev_num_writes": ("pages written to the backing disk", False),
}
FIGURE_INFO = {**COST_FIGURES, **STORE_FIGURES}


def summarize(values: Iterable[float | None]) -> dict[str, float | None]:
    """min/median/max of the defined values (None where a figure has no meaning, e.g.
    the compression ratio of a store holding only same-filled pages)."""
    vals = [v for v in values if v is not None]
    if not vals:
        return {"min": None, "median": None, "max": None}
    return {"min": min(vals), "median": statistics.median(vals), "max": max(vals)}


def fmt(v: float | None, digits: int = 2) -> str:
    if v is None:
        return "n/a"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    return f"{v:.{digits}f}"


def fmt_range(s: dict[str, float | None]) -> str:
    if s["median"] is None:
        return "n/a"
    return f"**{fmt(s['median'])}** ({fmt(s['min'])}–{fmt(s['max'])})"


def median_interval(values: Iterable[float | None],
                    confidence: float = 0.95) -> tuple[float, float] | None:
    """A distribution-free interval for the median: the k-th smallest and k-th largest of n
    values, with k the largest for which the median lies outside with probability at most
    1 - confidence (a sign test: each value falls below the median with probability 1/2).
    None when n is too small for any such k (under 6 values at 95 %)."""
    vals = sorted(v for v in values if v is not None)
    n = len(vals)
    alpha = (1 - confidence) / 2
    below, k = 0.0, 0     # below: P(fewer than k+1 of n values lie under the median)
    while k < n // 2:
        below += math.comb(n, k) / 2 ** n
        if below > alpha:
            break
        k += 1
    return None if k == 0 else (vals[k - 1], vals[n - k])


def verdict(interval: tuple[float, float] | None, threshold: float) -> str:
    """"met" only when the whole interval is at or above the threshold, "not met" when it
    is below; "unsettled" when it straddles the threshold or there is no interval."""
    if interval is None:
        return "unsettled"
    lo, hi = interval
    if lo >= threshold:
        return "met"
    if hi < threshold:
        return "not met"
    return "unsettled"


def host_load() -> tuple[float, float, float]:
    """The build machine's load averages (1, 5, 15 min): what the figures shared it with."""
    return os.getloadavg()
