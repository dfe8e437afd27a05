"""`status`: every compressed swap device with its sizes and counters, and the flash totals.

Numbers come from the driver's own statistics; `stats` in each device's JSON holds the raw
files as parsed, so a test can check the summary against the source. Reading status also
brings the persistent flash counters up to date.
"""

from __future__ import annotations

from typing import Any

from . import procfs, state
from .backends import all_devices
from .env import Env
from .sizes import format_size


def _ratio(a: int | None, b: int | None) -> float | None:
    return round(a / b, 3) if a is not None and b else None


def gather(env: Env) -> dict[str, Any]:
    values = state.load(env)
    ours = state.backend_of(values)
    notes: list[str] = []
    flash_info: dict[str, object] | None = None
    if ours is not None:
        update = state.update_flash(env, values, refresh_limit=True)
        notes.extend(update.notes)
        if update.problem:
            notes.append(update.problem)
        budget = int(values["budget_bytes"]) if values.get("budget_bytes") else None
        flash_info = {
            "backing": values.get("backing") or None,
            "today_bytes": update.record.period_bytes,
            "lifetime_bytes": update.record.lifetime_bytes,
            "period_start": update.record.period_start,
            "period_seconds": int(values.get("budget_period") or state.DEFAULT_PERIOD),
            "budget_bytes": budget,
            "saved": update.problem is None,
        }
    swaps = {e.filename: e for e in procfs.swaps(env.root.read("/proc/swaps") or "")}
    devices = []
    for backend in all_devices(env):
        counters, raw = backend.stats(env)
        swap = swaps.get(backend.dev_path)
        memlimit = backend.memlimit(env)
        used = counters["mem_used_total"]
        device: dict[str, object] = {
            "name": backend.device_name,
            "backend": backend.name,
            "device": backend.dev_path,
            "initialised": backend.initialised(env),
            "ours": ours is not None and ours.dev_path == backend.dev_path,
            "swap_active": swap is not None,
            "swap_priority": swap.priority if swap else None,
            "swap_size": swap.size if swap else None,
            "swap_used": swap.used if swap else None,
            "disksize": backend.int_attr(env, "disksize"),
            "memlimit": memlimit,
            "backing": backend.backing(env),
            # failed or removed: the module no longer writes to it (None: not said)
            "backing_state": backend.backing_state(env),
            # what holds the data; None where the driver does not say (lz4-only modules)
            "algorithm": backend.algorithms(env)[1],
        }
        device.update(counters)
        device["compression_ratio"] = _ratio(
            counters["orig_data_size"], counters["compr_data_size"]
        )
        device["effective_ratio"] = _ratio(counters["orig_data_size"], used)
        device["memlimit_used"] = _ratio(used, memlimit)
        device["stats"] = raw
        devices.append(device)
    return {"devices": devices, "flash": flash_info, "writeback": _writeback(env, notes),
            "notes": notes}


def _writeback(env: Env, notes: list[str]) -> dict[str, object] | None:
    from . import writeback
    from .errors import ConfigError

    try:
        return writeback.status(env)
    except ConfigError as e:
        notes.append(f"writeback: {e}")
        return None


def _size(n: object) -> str:
    return format_size(n) if isinstance(n, int) else "?"


def format_status(info: dict[str, Any]) -> str:
    lines = []
    devices: list[dict[str, Any]] = info["devices"]
    if not devices:
        lines.append("no ramzswap or zram devices")
    for d in devices:
        head = f"{d['name']} ({d['backend']})"
        if not d["initialised"]:
            lines.append(f"{head}: not initialised")
            continue
        swap = f"swap on, priority {d['swap_priority']}" if d["swap_active"] else "not swap"
        lines.append(f"{head}: {swap}")
        memlimit = _size(d["memlimit"]) if d["memlimit"] else "none"
        lines.append(
            f"  disksize {_size(d['disksize'])}, memlimit {memlimit}, "
            f"backing {d['backing'] or 'none'}"
        )
        ratio = d["compression_ratio"]
        lines.append(
            f"  stored {d['pages_stored']} pages ({_size(d['orig_data_size'])}) in "
            f"{_size(d['compr_data_size'])} with {d['algorithm'] or 'lz4'}: "
            f"ratio {ratio if ratio is not None else '-'}"
        )
        used = f"  memory used {_size(d['mem_used_total'])} (max {_size(d['mem_used_max'])})"
        if d["memlimit_used"] is not None:
            used += f", {d['memlimit_used'] * 100:.1f}% of memlimit"
        lines.append(used)
        lines.append(
            f"  same-filled {d['same_pages']} pages, incompressible "
            f"{d['incompressible_pages']} pages"
        )
        if d["backing"]:
            left = d["backing_write_limit_left"]
            lines.append(
                f"  backing: {d['bdev_reads']} reads, {d['bdev_writes']} writes"
                + (f", {left} pages of write limit left" if left is not None else "")
            )
            if d["backing_state"] in ("failed", "removed"):
                lines.append(
                    f"  backing {d['backing_state']}: given up, pages stay in RAM "
                    "within memlimit (reset or restart to use it again)"
                )
    flash_info: dict[str, Any] | None = info["flash"]
    if flash_info and flash_info["backing"]:
        budget = flash_info["budget_bytes"]
        of = f" of {_size(budget)} budget" if budget else ""
        lines.append(
            f"flash: {_size(flash_info['today_bytes'])} written this period{of}, "
            f"{_size(flash_info['lifetime_bytes'])} lifetime"
        )
    wb: dict[str, Any] | None = info.get("writeback")
    if wb:
        from .writeback import when

        last = when(wb["last_round"])
        if wb["last_round"]:
            last += f" ({_size(wb['last_round_bytes'])})"
        lines.append(
            f"writeback: last round {last}, next from {when(wb['next_round'])}, "
            f"{_size(wb['budget_left'])} of {_size(wb['budget_bytes'])} per "
            f"{wb['budget_period']} left"
        )
    lines.extend(f"note: {n}" for n in info["notes"])
    return "\n".join(lines) + "\n"
