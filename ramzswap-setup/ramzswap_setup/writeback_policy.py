"""Idle writeback: what one round may do, and the budget it spends. Pure: values in, values out.

A round moves pages that stayed idle for `writeback_idle_age` from RAM to the backing device.
Where the driver cannot mark pages by age, a round marks every page idle and the round after
`writeback_idle_age` writes back those not touched since (a mark lives in the kernel, so a
reboot loses it: the state file remembers the boot it was made in). Rounds are at least
`writeback_interval` apart; each writes between `writeback_round_min` and
`writeback_round_max`, more the fuller the device, never more than what is left of
`writeback_budget` this period (nor of the flash budget, where one is set). Less than the
minimum is not worth a round: many small writes wear flash more than a few large ones.

The budget survives reboots and power cuts: before a round its whole size is counted as spent
and saved; after it, what it really wrote replaces that. A power cut mid-round leaves the
round's size spent, never less than what it wrote. A state file that is missing or cannot be
read back is rebuilt as if this period's budget were spent.
"""

from . import flash_budget as flash

ORDER = ("huge_idle", "idle", "huge")
_FIELDS = ("period_start", "period_bytes", "reserved", "last_round", "last_bytes",
           "mark_time", "mark_boot")  # fmt: skip


class WritebackState:
    """The state file's values; times are seconds since the epoch, 0 for never."""

    __slots__ = _FIELDS

    def __init__(self, **values: object) -> None:
        for name in _FIELDS:
            setattr(self, name, values.get(name, "" if name == "mark_boot" else 0))

    def to_values(self) -> dict[str, object]:
        return {name: getattr(self, name) for name in _FIELDS}


def parse_state(values: "dict[str, str] | None") -> "tuple[WritebackState | None, str | None]":
    """(state, None), or (None, why) for a missing or unreadable file."""
    if values is None:
        return None, "no writeback state yet"
    out = {}
    for name in _FIELDS:
        raw = values.get(name)
        if raw is None:
            return None, f"{name} is missing"
        if name == "mark_boot":
            out[name] = raw
        elif raw.isdigit() and raw.isascii():
            out[name] = int(raw)
        else:
            return None, f"{name}: {raw!r} is not a number"
    return WritebackState(**out), None


def conservative(now: int, budget_bytes: int) -> WritebackState:
    """What a lost state file is rebuilt as: this period's budget spent, from now."""
    return WritebackState(period_start=now, period_bytes=budget_bytes)


def roll(state: WritebackState, now: int, period: int) -> None:
    """Into the period that holds `now` (flash_budget's rule: a clock that goes backwards
    re-anchors the period and keeps what it spent)."""
    record = flash.FlashRecord(0, state.period_start, state.period_bytes)
    flash.roll(record, now, period)
    state.period_start, state.period_bytes = record.period_start, record.period_bytes


def budget_left(state: WritebackState, budget_bytes: int) -> int:
    return max(0, budget_bytes - state.period_bytes)


def round_size(used: int, allowed: int, round_min: int, round_max: int, left: int,
               page: int = 4096) -> int:
    """Bytes this round may write: from round_min (an empty device) to round_max (a full
    one), at most `left`; 0 when that is below round_min."""
    fullness = min(1.0, used / allowed) if allowed > 0 else 1.0
    target = round_min + int((max(round_max, round_min) - round_min) * fullness)
    size = min(target, left)
    size -= size % page
    return size if size >= round_min else 0


def next_round(state: WritebackState, interval: int) -> int:
    return state.last_round + interval if state.last_round else 0


def decide(state: WritebackState, now: int, boot_id: str, idle_age: int,
           interval: int) -> "tuple[str, int]":
    """("wait", until), ("mark", 0): no mark of this boot (a driver that marks by age
    writes back at once), or ("writeback", 0): the mark is idle_age old."""
    if state.last_round and state.last_round <= now < state.last_round + interval:
        return "wait", state.last_round + interval
    if not state.mark_time or state.mark_boot != boot_id or state.mark_time > now:
        return "mark", 0
    if now < state.mark_time + idle_age:
        return "wait", state.mark_time + idle_age
    return "writeback", 0


def reserve(state: WritebackState, now: int, nbytes: int) -> None:
    """Count a round as spent before it starts."""
    state.period_bytes += nbytes
    state.reserved = nbytes
    state.last_round = now


def settle(state: WritebackState, written: int) -> None:
    """What the round wrote replaces what it reserved (never below what it wrote)."""
    state.period_bytes += written - state.reserved
    state.reserved = 0
    state.last_bytes = written


def recover(state: WritebackState) -> bool:
    """A round that did not settle (a power cut): its reservation stays spent. True if so."""
    if not state.reserved:
        return False
    state.last_bytes = state.reserved
    state.reserved = 0
    return True
