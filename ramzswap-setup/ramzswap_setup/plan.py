"""What `start` would do here, and why: gathered from the system, touching nothing.

Order: read MemTotal and the kernel command line, merge the sources, pick the backend, check
the backing device and the flash budget, then size. A ConfigError raised here means nothing
has been changed yet.
"""

from . import config, policy, procfs
from .backends import INIT_PARAMS, LIMIT_UNIT, Backend, choose
from .env import Env
from .errors import SetupError
from .sizes import format_size

TYPE_CHECKING = False
if TYPE_CHECKING:
    from . import flash_budget as flash


class Plan:
    def __init__(self) -> None:
        self.config: config.Config = config.Config()
        self.enabled = True
        self.ram = 0
        self.backend: Backend | None = None
        self.backend_why = ""
        self.device: str | None = None
        self.disksize = 0
        self.disksize_why = ""
        self.memlimit = 0
        self.memlimit_why = ""
        self.backing: str | None = None  # canonical path when it will be used
        self.backing_why = ""
        self.backing_size: int | None = None
        self.limit_pages: int | None = None  # backing write limit to set (None = no budget)
        self.flash_record: flash.FlashRecord | None = None
        self.active = False  # the device is swap already: start changes nothing
        self.module_params: str | None = None  # the module set the device up itself
        self.warnings: list[str] = []
        self.notes: list[str] = []

    @property
    def priority(self) -> int:
        return self.config.get("priority")


def read_config(env: Env, options: dict[str, object], config_path: str | None) -> config.Config:
    args = procfs.kernel_args(env.root.read("/proc/cmdline") or "")
    path = config_path or config.DEFAULT_CONFIG
    host_path = config_path if config_path else env.root.host(config.DEFAULT_CONFIG)
    return config.merge(
        config.from_options(options),
        config.from_cmdline(args),
        config.from_file(path, host_path, required=config_path is not None),
    )


def mem_total(env: Env) -> int:
    try:
        return procfs.mem_total(env.root.read("/proc/meminfo") or "")
    except ValueError as e:
        raise SetupError(f"{env.root.host('/proc/meminfo')}: {e}") from None


def is_active_swap(env: Env, dev_path: str) -> bool:
    for entry in procfs.swaps(env.root.read("/proc/swaps") or ""):
        if entry.filename == dev_path or env.root.resolve(entry.filename) == dev_path:
            return True
    return False


def _budget_limit(env: Env, plan: Plan) -> None:
    """Work out the backing write limit from the budget and what this period already used."""
    budget = plan.config.get("backing_write_budget")
    if budget is None or plan.backing is None:
        return
    # only with a backing device and a budget: not at every boot
    from . import flash_budget as flash

    record = flash.load(env)
    flash.roll(record, int(env.now()), budget.period)
    plan.flash_record = record
    left = flash.remaining(record, budget.nbytes)
    plan.limit_pages = left // LIMIT_UNIT
    if plan.limit_pages == 0:
        plan.warnings.append(
            f"flash write budget {budget.text} is used up for this {budget.unit} "
            f"({format_size(record.period_bytes)} written): backing {plan.backing} not used"
        )
        plan.backing_why = "flash write budget used up"
        plan.backing = None
        plan.limit_pages = None


def _module_set_up(env: Env, plan: Plan) -> None:
    """Note when the module's own parameters set ramzswap0 up: start then takes it as it is."""
    assert plan.backend is not None
    if plan.backend.name != "ramzswap":
        return
    given = plan.backend.set_up_by_module(env)
    if given is None:
        args = procfs.kernel_args(env.root.read("/proc/cmdline") or "")
        names = tuple(f"ramzswap.{p}=" for p in INIT_PARAMS)
        given = " ".join(a[len("ramzswap.") :] for a in args if a.startswith(names)) or None
    if given:
        plan.module_params = given
        plan.notes.append(
            f"the module sets {plan.backend.device_name} up from its parameters ({given}): "
            "start only writes the swap header and turns it on; the sizes below are not used"
        )


def build(env: Env, options: dict[str, object], config_path: str | None = None) -> Plan:
    plan = Plan()
    cfg = plan.config = read_config(env, options, config_path)
    plan.ram = mem_total(env)
    plan.enabled = bool(cfg.get("enabled"))
    if not plan.enabled:
        return plan

    plan.backend, plan.backend_why = choose(env, cfg.get("backend"))
    if plan.backend is not None:
        plan.device = plan.backend.dev_path
        plan.active = is_active_swap(env, plan.device)
        _module_set_up(env, plan)

    spec = cfg.get("backing")
    disk_spec = cfg.get("disksize")
    if spec is None:
        where = cfg.source("backing")
        plan.backing_why = "not configured" if where == "default" else f"none ({where})"
    else:
        from . import backing_checks as backing_check  # only when a backing device is configured

        checked = backing_check.check(env, spec, bool(cfg.get("force")))
        plan.notes.extend(checked.notes)
        wanted = disk_spec.resolve(plan.ram) if disk_spec is not None else 0
        missing = []
        if plan.backend is not None:
            budget = cfg.get("backing_write_budget") is not None
            missing = plan.backend.missing_features(env, True, budget)
        if not checked.ok:
            reason = checked.reason
        elif checked.size < wanted:
            reason = (
                f"backing {spec}: {format_size(checked.size)} is smaller than disksize "
                f"{format_size(wanted)} ({cfg.source('disksize')})"
            )
        elif missing and missing[0].startswith("backing_dev"):
            reason = f"this kernel's zram has no {missing[0]}"
        else:
            reason = ""
            plan.backing, plan.backing_size = checked.path, checked.size
            plan.backing_why = f"{cfg.source('backing')}: {spec}"
            plan.notes.extend(f"this kernel's zram has no {m}" for m in missing)
        if reason:
            plan.warnings.append(f"{reason}: starting RAM-only")
            plan.backing_why = reason
    _budget_limit(env, plan)

    sizing = policy.size(
        plan.ram,
        disk_spec,
        cfg.source("disksize"),
        cfg.get("memlimit"),
        cfg.source("memlimit"),
        plan.backing_size if plan.backing else None,
        fallback=spec is not None and plan.backing is None,
    )
    plan.disksize, plan.disksize_why = sizing.disksize, sizing.disksize_why
    plan.memlimit, plan.memlimit_why = sizing.memlimit, sizing.memlimit_why
    plan.warnings.extend(sizing.warnings)
    return plan


def to_dict(plan: Plan) -> dict[str, object]:
    """The plan with stable keys, for --json."""
    cfg = plan.config
    budget = cfg.get("backing_write_budget")
    return {
        "enabled": plan.enabled,
        "backend": plan.backend.name if plan.backend else None,
        "backend_why": plan.backend_why,
        "device": plan.device,
        "already_active": plan.active,
        "module_params": plan.module_params,
        "mem_total": plan.ram,
        "disksize": plan.disksize if plan.enabled else None,
        "disksize_why": plan.disksize_why,
        "memlimit": plan.memlimit if plan.enabled else None,
        "memlimit_why": plan.memlimit_why,
        "backing": plan.backing,
        "backing_why": plan.backing_why,
        "backing_size": plan.backing_size if plan.backing else None,
        "priority": plan.priority,
        "discard": True,
        "backing_write_budget": budget.text if budget is not None else None,
        "backing_write_limit_pages": plan.limit_pages,
        "algorithm": cfg.get("algorithm"),
        "level": cfg.get("level"),
        "sources": dict(cfg.sources),
        "warnings": list(plan.warnings),
        "notes": list(plan.notes),
    }


def _row(name: str, value: str, why: str) -> str:
    return f"{name:<10} {value:<22} {why}".rstrip()


def format_plan(plan: Plan) -> str:
    cfg = plan.config
    lines = []
    if not plan.enabled:
        lines.append(f"disabled ({cfg.source('enabled')}): start does nothing")
        return "\n".join(lines) + "\n"
    backend = plan.backend.name if plan.backend else "none"
    lines.append(_row("backend", backend, plan.backend_why))
    lines.append(
        _row(
            "device",
            plan.device or "-",
            "swap already: start changes nothing" if plan.active else "",
        )
    )
    lines.append(_row("RAM", format_size(plan.ram), "MemTotal"))
    lines.append(_row("disksize", format_size(plan.disksize), plan.disksize_why))
    memlimit = format_size(plan.memlimit) if plan.memlimit else "none"
    lines.append(_row("memlimit", memlimit, plan.memlimit_why))
    lines.append(_row("backing", plan.backing or "none", plan.backing_why))
    lines.append(_row("priority", str(plan.priority), cfg.source("priority")))
    budget = cfg.get("backing_write_budget")
    if budget is not None:
        limit = "-" if plan.limit_pages is None else f"{plan.limit_pages} pages left"
        lines.append(_row("budget", budget.text, f"{cfg.source('backing_write_budget')}; {limit}"))
    level = cfg.get("level")
    algorithm = f"{cfg.get('algorithm')}{f' level {level}' if level else ''}"
    lines.append(_row("algorithm", algorithm, cfg.source("algorithm")))
    lines.extend(f"warning: {w}" for w in plan.warnings)
    lines.extend(f"note: {n}" for n in plan.notes)
    return "\n".join(lines) + "\n"
