"""`writeback`: one round of idle writeback on the device `start` set up (cron runs it).

writeback_policy decides; this module reads the device and the state file, acts, and saves
the state file around every step that spends budget (kvfile: write, fsync, rename).
/var/lib/ramzswap/writeback holds the budget and the rounds, so they survive reboots.
"""

import time

from . import flash_budget as flash
from . import kvfile, state
from . import plan as planner
from . import writeback_policy as policy
from .env import LIB_DIR, Env, require_live
from .errors import SetupError
from .sizes import format_size

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .backends import Backend
    from .config import Config

WRITEBACK_FILE = LIB_DIR + "/writeback"
BOOT_ID = "/proc/sys/kernel/random/boot_id"


def when(t: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(t)) if t else "never"


def load(env: Env) -> "tuple[policy.WritebackState | None, str | None]":
    try:
        values = kvfile.load(env.root.host(WRITEBACK_FILE))
    except (OSError, UnicodeDecodeError) as e:
        return None, f"cannot be read ({getattr(e, 'strerror', None) or e})"
    return policy.parse_state(values)


def save(env: Env, st: policy.WritebackState) -> None:
    try:
        kvfile.save(env.root.host(WRITEBACK_FILE), st.to_values())
    except OSError as e:
        raise SetupError(f"{WRITEBACK_FILE}: not saved: {e.strerror}") from None


class NothingToWriteBack(SetupError):
    """No device this boot, or one without a backing device: nowhere for pages to go."""


def _device(env: Env) -> "tuple[Backend, dict[str, str]]":
    values = state.load(env)
    backend = state.backend_of(values)
    if backend is None:
        raise NothingToWriteBack(
            "writeback: no device set up by `ramzswap-setup start` this boot")
    if not backend.backing(env):
        raise NothingToWriteBack(f"writeback: {backend.dev_path} has no backing device")
    missing = backend.writeback_missing(env)
    if missing:
        raise SetupError(f"writeback: {missing}")
    return backend, values


def _left(env: Env, st: policy.WritebackState, cfg: "Config", values: dict[str, str]) -> int:
    """What is left of the writeback budget, and of the flash budget where start set one."""
    left = policy.budget_left(st, cfg.get("writeback_budget").nbytes)
    if values.get("budget_bytes"):
        update = state.update_flash(env, values, refresh_limit=False)
        left = min(left, flash.remaining(update.record, int(values["budget_bytes"])))
    return left


def run_round(env: Env, config_path: str | None = None) -> dict[str, object]:
    """One round; returns what it did.  SetupError for what stops it (one line)."""
    require_live(env, "writeback")
    backend, values = _device(env)
    cfg = planner.read_config(env, {}, config_path)
    budget = cfg.get("writeback_budget")
    now = int(env.now())
    boot = (env.root.read(BOOT_ID) or "").strip()
    result: dict[str, object] = {"device": backend.dev_path, "action": "", "written_bytes": 0,
                                 "by_mode": {}, "notes": []}  # fmt: skip
    notes: list[str] = result["notes"]  # type: ignore[assignment]

    st, problem = load(env)
    if st is None:
        st = policy.conservative(now, budget.nbytes)
        save(env, st)
        rebuilt = f"budget counted as spent until {when(now + budget.period)}"
        if problem != "no writeback state yet":
            raise SetupError(f"{WRITEBACK_FILE}: {problem}: rebuilt, {rebuilt}")
        notes.append(f"{problem}: {rebuilt}")
        result["action"] = "rebuilt"
        return _finish(result, st, cfg, now)
    policy.roll(st, now, budget.period)
    if policy.recover(st):
        notes.append(f"the round of {when(st.last_round)} did not finish: "
                     f"its {format_size(st.last_bytes)} stay spent")
        save(env, st)

    age = cfg.get("writeback_idle_age")
    action, until = policy.decide(st, now, boot, age, cfg.get("writeback_interval"))
    by_age = action == "mark" and backend.mark_idle(env, age)
    if by_age:
        action = "writeback"  # the driver marked what stayed idle that long itself
    elif action == "mark":
        backend.mark_idle(env)
        st.mark_time, st.mark_boot = now, boot
        save(env, st)
        result["action"] = "marked"
        return _finish(result, st, cfg, now)
    if action == "wait":
        result["action"] = "waiting"
        result["next_round"] = until
        return _finish(result, st, cfg, now)

    counters = backend.stats(env)[0]
    used = counters.get("mem_used_total") or 0
    allowed = backend.memlimit(env) or backend.int_attr(env, "disksize") or 0
    left = _left(env, st, cfg, values)
    size = policy.round_size(used, allowed, cfg.get("writeback_round_min"),
                             cfg.get("writeback_round_max"), left)
    if not size:
        notes.append(f"{format_size(left)} of budget left, below a round's "
                     f"{format_size(cfg.get('writeback_round_min'))}")
        result["action"] = "nothing"
        return _finish(result, st, cfg, now)

    policy.reserve(st, now, size)
    save(env, st)
    written = 0
    for mode in policy.ORDER:
        if written >= size:
            break
        start = backend.written_bytes(env)
        backend.writeback(env, mode, size - written)
        done = backend.written_bytes(env) - start
        result["by_mode"][mode] = done  # type: ignore[index]
        written += done
    policy.settle(st, written)
    # the next round writes back what stays untouched from now on
    if by_age:
        st.mark_time, st.mark_boot = 0, ""
    else:
        backend.mark_idle(env)
        st.mark_time, st.mark_boot = int(env.now()), boot
    save(env, st)
    gone = backend.backing_state(env)
    if gone in ("failed", "removed"):
        notes.append(f"the backing device was given up ({gone}): nothing more goes there")
    result["action"] = "wrote"
    result["written_bytes"] = written
    result["round_bytes"] = size
    return _finish(result, st, cfg, now)


def _finish(result: dict[str, object], st: policy.WritebackState, cfg: "Config",
            now: int) -> dict[str, object]:
    result.update(summary(st, cfg, now))
    return result


def summary(st: policy.WritebackState, cfg: "Config", now: int) -> dict[str, object]:
    """The state as status shows it: the last round, the next allowed one, the budget."""
    budget = cfg.get("writeback_budget")
    interval = cfg.get("writeback_interval")
    nxt = max(policy.next_round(st, interval), now)
    if st.mark_time and st.mark_time <= now:
        nxt = max(nxt, st.mark_time + cfg.get("writeback_idle_age"))
    return {"last_round": st.last_round, "last_round_bytes": st.last_bytes,
            "next_round": nxt, "budget_bytes": budget.nbytes, "budget_period": budget.unit,
            "budget_left": policy.budget_left(st, budget.nbytes)}  # fmt: skip


def status(env: Env) -> "dict[str, object] | None":
    """The writeback state for `status` (None where no round ever ran)."""
    st, _ = load(env)
    if st is None:
        return None
    cfg = planner.read_config(env, {}, None)
    policy.roll(st, int(env.now()), cfg.get("writeback_budget").period)
    return summary(st, cfg, int(env.now()))


def format_round(result: dict[str, object]) -> str:
    action = result["action"]
    head = {
        "rebuilt": "writeback: state rebuilt, nothing written",
        "marked": f"writeback: pages marked idle; those still idle from "
                  f"{when(result['next_round'])} (UTC) are written back",
        "waiting": f"writeback: next round from {when(result['next_round'])}",
        "nothing": "writeback: nothing written",
        "wrote": f"writeback: {format_size(result['written_bytes'])} written back "
                 f"({', '.join(f'{m} {format_size(n)}' for m, n in result['by_mode'].items())})",
    }[action]
    lines = [head, f"budget left: {format_size(result['budget_left'])} of "
                   f"{format_size(result['budget_bytes'])} per {result['budget_period']}"]
    lines += [f"note: {n}" for n in result["notes"]]
    return "\n".join(lines) + "\n"
