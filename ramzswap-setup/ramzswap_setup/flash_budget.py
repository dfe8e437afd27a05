"""Flash bytes written to the backing device: per budget period and over the device's life.

Kept in /var/lib/ramzswap/flash so they survive reboots. The period is a window of observed
wall-clock time. A clock that goes backwards (a board without an RTC boots in 1970) re-anchors
the window without forgetting what was written in it, so a budget is never handed out again
before a whole period has really passed.
"""

from __future__ import annotations

from . import kvfile
from .env import LIB_DIR, Env

FLASH_FILE = LIB_DIR + "/flash"


class FlashRecord:
    __slots__ = ("lifetime_bytes", "period_start", "period_bytes")

    def __init__(self, lifetime_bytes: int = 0, period_start: int = 0, period_bytes: int = 0):
        self.lifetime_bytes = lifetime_bytes
        self.period_start = period_start
        self.period_bytes = period_bytes


def roll(record: FlashRecord, now: int, period: int) -> bool:
    """Move to the period that holds `now`; True when a new period (a fresh budget) began."""
    if record.period_start == 0 or now < record.period_start:
        record.period_start = now
        return False
    if now >= record.period_start + period:
        record.period_start += (now - record.period_start) // period * period
        record.period_bytes = 0
        return True
    return False


def account(record: FlashRecord, nbytes: int) -> None:
    record.lifetime_bytes += nbytes
    record.period_bytes += nbytes


def remaining(record: FlashRecord, budget_bytes: int) -> int:
    return max(0, budget_bytes - record.period_bytes)


def load(env: Env) -> FlashRecord:
    values = kvfile.load(env.root.host(FLASH_FILE)) or {}
    return FlashRecord(
        kvfile.as_int(values, "lifetime_bytes"),
        kvfile.as_int(values, "period_start"),
        kvfile.as_int(values, "period_bytes"),
    )


def save(env: Env, record: FlashRecord) -> str | None:
    """Persist; returns a one-line problem (read-only flash, permissions) or None."""
    try:
        kvfile.save(
            env.root.host(FLASH_FILE),
            {
                "lifetime_bytes": record.lifetime_bytes,
                "period_start": record.period_start,
                "period_bytes": record.period_bytes,
            },
        )
    except OSError as e:
        return f"flash counters not saved to {FLASH_FILE}: {e.strerror}"
    return None
