"""Figures of a benchmark: min/median/max of repeated runs, and how the reports print them.

Shared by every benchmark so that their tables read the same.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable


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
