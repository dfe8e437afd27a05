"""What `start` did this boot (/run/ramzswap/state), and bringing the flash counters up to date.

The state file says which device is ours, whether we loaded the module (so `stop` unloads it
only then), the backing device, the budget granted, and how many backing bytes are already in
the persistent flash counters. /run is emptied at boot, like the driver's own counters.
"""

from . import kvfile
from .backends import BACKENDS, LIMIT_UNIT, Backend
from .env import RUN_DIR, Env

TYPE_CHECKING = False
if TYPE_CHECKING:
    from . import flash_budget as flash

STATE_FILE = RUN_DIR + "/state"
DEFAULT_PERIOD = 86400  # "today" when no budget period is configured


def load(env: Env) -> dict[str, str]:
    return kvfile.load(env.root.host(STATE_FILE)) or {}


def save(env: Env, values: dict[str, str]) -> None:
    kvfile.save(env.root.host(STATE_FILE), dict(values))


def remove(env: Env) -> None:
    kvfile.remove(env.root.host(STATE_FILE))


def backend_of(values: dict[str, str]) -> Backend | None:
    cls = BACKENDS.get(values.get("backend", ""))
    device = values.get("device", "")
    if cls is None or not device.startswith("/dev/" + cls.name):
        return None
    index = device[len("/dev/" + cls.name) :]
    return cls(int(index)) if index.isdigit() else None


class FlashUpdate:
    __slots__ = ("record", "problem", "notes")

    def __init__(self, record: "flash.FlashRecord") -> None:
        self.record = record
        self.problem: str | None = None
        self.notes: list[str] = []


def update_flash(env: Env, values: dict[str, str], refresh_limit: bool) -> FlashUpdate:
    """Add the backing bytes written since the last update to the persistent counters.

    With `refresh_limit`, a budget period that rolled over since `start` gets a fresh backing
    write limit when the driver accepts one on a running device.
    """
    from . import flash_budget as flash  # stop and status, not start

    record = flash.load(env)
    update = FlashUpdate(record)
    backend = backend_of(values)
    period = kvfile.as_int(values, "budget_period") or DEFAULT_PERIOD
    flash.roll(record, int(env.now()), period)
    if backend is None or not values.get("backing"):
        return update
    written = backend.stats(env)[0].get("bdev_write_bytes") or 0
    seen = kvfile.as_int(values, "bdev_write_bytes_seen")
    flash.account(record, written - seen if written >= seen else written)
    update.problem = flash.save(env, record)
    if update.problem is None:
        values["bdev_write_bytes_seen"] = str(written)
    budget = kvfile.as_int(values, "budget_bytes")
    granted = kvfile.as_int(values, "period_start")
    pages = flash.remaining(record, budget) // LIMIT_UNIT
    # 0 would mean "unlimited" to the driver: a spent budget is left to run out instead
    if refresh_limit and budget and granted != record.period_start and pages > 0:
        try:
            backend.set_write_limit(env, pages)
        except OSError as e:
            update.notes.append(
                f"new flash budget period: the driver refused a new write limit "
                f"({e.strerror}); the budget is granted again at the next start"
            )
        else:
            values["period_start"] = str(record.period_start)
            update.notes.append(f"new flash budget period: backing write limit {pages} pages")
    try:
        save(env, values)
    except OSError as e:
        update.problem = update.problem or f"state not saved to {STATE_FILE}: {e.strerror}"
    return update
