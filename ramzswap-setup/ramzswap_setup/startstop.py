"""`start` and `stop`: the only commands that change the running system.

start: plan (every check before any change), load the module if needed, write the settings and
disksize, write the swap header, swapon with priority and discard, remember what was done.
A failure part way undoes what was done. stop: bring the flash counters up to date, swapoff,
reset, unload the module if we loaded it.
"""

import errno

from . import plan as planner
from . import state, swapheader
from .backends import Backend
from .env import Env, require_live
from .errors import ConfigError, SetupError
from .kernel import swap_flags
from .sizes import format_size


def _undo(env: Env, backend: Backend, loaded: bool) -> None:
    try:
        if backend.initialised(env):
            backend.reset(env)
    except OSError:
        pass
    if loaded:
        env.kernel.unload_module(backend.module)


def _summary(
    backend: Backend,
    disksize: int,
    memlimit: int,
    backing: str | None,
    limit_pages: int | None,
    priority: int,
    how: str = "",
) -> str:
    memlimit_text = format_size(memlimit) if memlimit else "none"
    if backing:
        where = f"backing {backing}"
        if limit_pages is not None:
            where += f" ({limit_pages} pages of flash budget left)"
    else:
        where = "RAM-only"
    return (
        f"started {backend.device_name} ({backend.name}{how}): disksize {format_size(disksize)}, "
        f"memlimit {memlimit_text}, {where}, priority {priority}"
    )


def _remember(env: Env, backend: Backend, loaded: bool, values: dict[str, str]) -> list[str]:
    """Write the state file; returns a note when it could not be written."""
    values = {
        "backend": backend.name,
        "device": backend.dev_path,
        "module_loaded": backend.module if loaded else "",
        **values,
        "bdev_write_bytes_seen": "0",
        "started": str(int(env.now())),
    }
    try:
        state.save(env, values)
    except OSError as e:
        return [f"state not saved to {state.STATE_FILE}: {e.strerror}; stop cannot unload"]
    return []


def _swapon(env: Env, device: str, priority: int) -> list[str]:
    try:
        env.kernel.swapon(env.root.host(device), swap_flags(priority, True))
    except OSError as e:
        if e.errno != errno.EINVAL:
            raise
        env.kernel.swapon(env.root.host(device), swap_flags(priority, False))
        return ["swapon refused discard: freed slots are released only when overwritten"]
    return []


def start(env: Env, options: dict[str, object], config_path: str | None = None) -> None:
    require_live(env, "start")
    plan = planner.build(env, options, config_path)
    cfg = plan.config
    if not plan.enabled:
        env.log(f"disabled by {cfg.source('enabled')}: nothing done")
        return
    backend = plan.backend
    if backend is None:
        raise SetupError(f"no compressed swap driver: {plan.backend_why}")
    if plan.active:
        env.log(f"already started: {plan.device} is swap; nothing changed")
        return
    preset = backend.set_up_by_module(env)
    if env.root.exists(backend.sysdir) and backend.initialised(env) and not preset:
        raise SetupError(
            f"{plan.device} is initialised but not swap (used by something else, or left over): "
            "nothing changed; 'ramzswap-setup stop' resets a device this helper started"
        )

    loaded = False
    if not env.root.exists(backend.sysdir):
        status = env.kernel.load_module(backend.module)
        loaded = status == 0
        if status != 0 or not env.root.exists(backend.sysdir):
            _undo(env, backend, loaded)
            raise SetupError(f"modprobe {backend.module} failed (exit status {status})")
    if backend.initialised(env):
        _adopt(env, plan, backend, loaded)
        return
    if plan.backing and backend.missing_features(env, True, plan.limit_pages is not None):
        try:  # the driver's features are known now that it is loaded: plan again
            plan = planner.build(env, options, config_path)
        except (ConfigError, SetupError):
            _undo(env, backend, loaded)
            raise

    # an algorithm asked for and not offered is refused; the default one is only a wish
    # (configure keeps the driver's own and says so): no swap at boot would be worse
    refused = backend.refuse_compression(env, cfg.get("algorithm"), cfg.get("level"))
    asked = {cfg.source("algorithm"), cfg.source("level")} != {"default"}
    if refused and asked:
        _undo(env, backend, loaded)
        raise ConfigError(f"{cfg.source('algorithm')}: {refused}; nothing changed")

    for warning in plan.warnings:
        env.log(warning, "warning")
    step = "configure"
    try:
        notes = backend.configure(env, plan)
        step = "write the swap header to"
        swapheader.write(env.root.host(backend.dev_path), plan.disksize, env.page_size)
        step = "swapon"
        notes += _swapon(env, backend.dev_path, plan.priority)
    except OSError as e:
        _undo(env, backend, loaded)
        raise SetupError(
            f"could not {step} {backend.dev_path}: {e.strerror or e}; undone, no swap started"
        ) from None

    budget = cfg.get("backing_write_budget")
    granted = budget is not None and plan.backing is not None
    notes += _remember(
        env,
        backend,
        loaded,
        {
            "backing": plan.backing or "",
            "disksize": str(plan.disksize),
            "memlimit": str(plan.memlimit),
            "priority": str(plan.priority),
            "budget_bytes": str(budget.nbytes) if granted else "",
            "budget_period": str(budget.period) if granted else "",
            "period_start": str(plan.flash_record.period_start) if plan.flash_record else "",
        },
    )
    env.log(
        _summary(
            backend, plan.disksize, plan.memlimit, plan.backing, plan.limit_pages, plan.priority
        )
    )
    for note in plan.notes + notes:
        env.log(note, "note")


def _adopt(env: Env, plan: planner.Plan, backend: Backend, loaded: bool) -> None:
    """The module set the device up from its own parameters: format it and swap on."""
    preset = backend.set_up_by_module(env) or "?"
    disksize = backend.int_attr(env, "disksize") or 0
    memlimit = backend.memlimit(env) or 0
    backing = backend.backing(env)
    try:
        swapheader.write(env.root.host(backend.dev_path), disksize, env.page_size)
        notes = _swapon(env, backend.dev_path, plan.priority)
    except (OSError, ValueError) as e:
        if loaded:
            env.kernel.unload_module(backend.module)
        reason = e.strerror if isinstance(e, OSError) else str(e)
        raise SetupError(
            f"could not swap on {backend.dev_path}: {reason}; no swap started"
        ) from None
    notes += _remember(
        env,
        backend,
        loaded,
        {
            "backing": backing or "",
            "disksize": str(disksize),
            "memlimit": str(memlimit),
            "priority": str(plan.priority),
        },
    )
    if plan.config.get("backing_write_budget") is not None:
        notes.append("flash write budget not applied: the module parameters set the device up")
    env.log(
        _summary(
            backend,
            disksize,
            memlimit,
            backing,
            None,
            plan.priority,
            f", set up by module parameters {preset}",
        )
    )
    for note in notes:
        env.log(note, "note")


def _ours(env: Env, values: dict[str, str]) -> list[Backend]:
    """The device start recorded, and any ramzswap device that is swap (zram may be others')."""
    from .backends import Ramzswap, all_devices

    found = []
    recorded = state.backend_of(values)
    if recorded is not None:
        found.append(recorded)
    for device in all_devices(env):
        is_ours = recorded is not None and device.dev_path == recorded.dev_path
        if (
            isinstance(device, Ramzswap)
            and not is_ours
            and planner.is_active_swap(env, device.dev_path)
        ):
            found.append(device)
    return found


def stop(env: Env) -> None:
    require_live(env, "stop")
    values = state.load(env)
    devices = _ours(env, values)
    if not devices:
        env.log("nothing to stop")
        return
    update = state.update_flash(env, values, refresh_limit=False)
    if update.problem:
        env.log(update.problem, "warning")
    for backend in devices:
        if planner.is_active_swap(env, backend.dev_path):
            try:
                env.kernel.swapoff(env.root.host(backend.dev_path))
            except OSError as e:
                if e.errno == errno.ENOMEM:
                    used = _swap_used(env, backend.dev_path)
                    raise SetupError(
                        f"swapoff {backend.dev_path}: not enough free memory to take back "
                        f"{used}; swap left on"
                    ) from None
                raise SetupError(
                    f"swapoff {backend.dev_path}: {e.strerror}; swap left on"
                ) from None
        if env.root.exists(backend.sysdir) and backend.initialised(env):
            try:
                backend.reset(env)
            except OSError as e:
                raise SetupError(f"reset {backend.dev_path}: {e.strerror}") from None
    unloaded = ""
    module = values.get("module_loaded")
    if module:
        status = env.kernel.unload_module(module)
        # a non-zero status with the module gone: a dependency stayed in use by another module
        if status == 0 or not env.root.exists(f"/sys/module/{module}"):
            unloaded = f", module {module} unloaded"
        else:
            env.log(f"module {module} could not be unloaded", "warning")
    state.remove(env)
    names = ", ".join(b.device_name for b in devices)
    env.log(f"stopped {names}: swap off, device reset{unloaded}")


def _swap_used(env: Env, device: str) -> str:
    from . import procfs

    for entry in procfs.swaps(env.root.read("/proc/swaps") or ""):
        if entry.filename == device:
            return f"{format_size(entry.used)} of swapped-out pages"
    return "the swapped-out pages"
