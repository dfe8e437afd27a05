"""The two kernel drivers the helper can set up, behind one interface.

`ramzswap` is this project's module (memlimit with overflow to a backing device at write time,
a backing write limit); `zram` is mainline's (mem_limit, optional backing_dev and
writeback_limit when the kernel has CONFIG_ZRAM_WRITEBACK). Both report the same
normalised statistics; whatever a kernel lacks is said, not ignored.
"""

import errno
import os

from . import procfs
from .env import Env

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Protocol

    class Options(Protocol):
        def get(self, key: str) -> Any: ...

    class Settings(Protocol):
        """What configure() reads of a plan, so that the arrow runs from plan to backends only."""

        config: Options
        disksize: int
        memlimit: int
        backing: "str | None"
        limit_pages: "int | None"


# ramzswap's own parameters that make it set up ramzswap0 when it loads (kmod passes
# `ramzswap.<param>=` from the kernel command line); start then only formats and swaps on
INIT_PARAMS = ("disksize_kb", "memlimit_kb", "backing_swap")
LIMIT_UNIT = 4096  # backing_write_limit (ramzswap) and writeback_limit (zram) count 4 KiB units

STAT_KEYS = (
    "pages_stored",
    "orig_data_size",
    "compr_data_size",
    "mem_used_total",
    "mem_used_max",
    "same_pages",
    "incompressible_pages",
    "num_reads",
    "num_writes",
    "failed_reads",
    "failed_writes",
    "notify_free",
    "bdev_reads",
    "bdev_writes",
    "bdev_write_bytes",
    "backing_write_limit_left",
)


class Backend:
    name = ""
    module = ""

    def __init__(self, index: int = 0) -> None:
        self.device_name = f"{self.name}{index}"
        self.dev_path = "/dev/" + self.device_name
        self.sysdir = "/sys/block/" + self.device_name

    # -- reading ------------------------------------------------------------------------
    def module_loaded(self, env: Env) -> bool:
        return env.root.exists(f"/sys/module/{self.module}")

    def available(self, env: Env) -> tuple[bool, str]:
        """Can this backend be used here, and why (not)."""
        if self.module_loaded(env) or env.root.exists(self.sysdir):
            return True, f"module {self.module} is loaded"
        release = (env.root.read("/proc/sys/kernel/osrelease") or "").strip()
        if not release and env.root.is_live:
            release = os.uname().release
        for index in ("modules.dep", "modules.builtin"):
            text = env.root.read(f"/lib/modules/{release}/{index}") or ""
            for line in text.splitlines():
                base = os.path.basename(line.partition(":")[0])
                if base.partition(".ko")[0].replace("-", "_") == self.module:
                    return True, f"module {self.module} is available ({index})"
        return False, f"no {self.module} module for kernel {release or '(unknown)'}"

    def attr(self, env: Env, name: str) -> str | None:
        text = env.root.read(f"{self.sysdir}/{name}")
        return None if text is None else text.strip()

    def has_attr(self, env: Env, name: str) -> bool:
        return env.root.exists(f"{self.sysdir}/{name}")

    def int_attr(self, env: Env, name: str) -> int | None:
        text = self.attr(env, name)
        return int(text) if text is not None and text.isdigit() else None

    def initialised(self, env: Env) -> bool:
        return self.attr(env, "initstate") == "1"

    def backing(self, env: Env) -> str | None:
        raise NotImplementedError

    def memlimit(self, env: Env) -> int | None:
        raise NotImplementedError

    def backing_state(self, env: Env) -> str | None:
        """ok, failed (given up after failed writes), removed, none; None where the
        driver does not say."""
        return None

    def stats(self, env: Env) -> tuple[dict[str, int | None], dict[str, dict[str, int]]]:
        """(normalised counters with None for what this kernel lacks, the raw files parsed)."""
        raise NotImplementedError

    def missing_features(self, env: Env, wants_backing: bool, wants_limit: bool) -> list[str]:
        """What the plan needs that this driver, as loaded, lacks (empty when unknown yet)."""
        return []

    def set_up_by_module(self, env: Env) -> str | None:
        """The module parameters that set this device up at load time, if any did."""
        return None

    def algorithms(self, env: Env) -> tuple[list[str], str | None]:
        """comp_algorithm: the algorithms this kernel offers, and the one set ("[zstd]")."""
        offered = (self.attr(env, "comp_algorithm") or "").split()
        current = next((a.strip("[]") for a in offered if a.startswith("[")), None)
        return [a.strip("[]") for a in offered], current

    def refuse_compression(self, env: Env, algorithm: str, level: int) -> str | None:
        """Why this driver, as loaded, cannot compress with @algorithm at @level (None: it
        can), said before anything is written."""
        names, _ = self.algorithms(env)
        if names and algorithm not in names:
            return (f"algorithm {algorithm}: this kernel's {self.name} offers "
                    f"{', '.join(names)}")
        return None

    # -- acting -------------------------------------------------------------------------
    def write(self, env: Env, name: str, value: object) -> None:
        env.kernel.write_attr(env.root.host(f"{self.sysdir}/{name}"), str(value))

    def configure(self, env: Env, plan: "Settings") -> list[str]:
        """Write the plan's settings, disksize last (it initialises). Returns notes."""
        raise NotImplementedError

    def set_write_limit(self, env: Env, pages: int) -> None:
        raise NotImplementedError

    def reset(self, env: Env) -> None:
        self.write(env, "reset", 1)

    # -- idle writeback ---------------------------------------------------------------------
    def writeback_missing(self, env: Env) -> str | None:
        """Why this driver, as loaded, cannot write idle pages back (None: it can)."""
        missing = [a for a in ("idle", "writeback") if not self.has_attr(env, a)]
        if missing:
            return f"this {self.name} has no idle writeback (no {' or '.join(missing)} attribute)"
        return None

    def mark_idle(self, env: Env, age: int | None = None) -> bool:
        """Mark stored pages idle: all of them, or those untouched for @age seconds.  False
        when the driver takes no age (then nothing was marked)."""
        if age is None:
            self.write(env, "idle", "all")
            return True
        return False

    def written_bytes(self, env: Env) -> int:
        """Bytes written to the backing device since init."""
        return self.stats(env)[0].get("bdev_write_bytes") or 0

    def writeback(self, env: Env, mode: str, nbytes: int) -> None:
        """Write pages of @mode (huge_idle, idle, huge) back, at most @nbytes."""
        raise NotImplementedError


class Ramzswap(Backend):
    name = "ramzswap"
    module = "ramzswap"

    def backing(self, env: Env) -> str | None:
        return self.attr(env, "backing_swap") or None

    def memlimit(self, env: Env) -> int | None:
        return self.int_attr(env, "memlimit")

    def backing_state(self, env: Env) -> str | None:
        return procfs.stats_words(self.attr(env, "stats") or "").get("backing_state")

    def set_up_by_module(self, env: Env) -> str | None:
        if self.device_name != "ramzswap0" or not self.module_loaded(env):
            return None
        found = []
        for name in INIT_PARAMS:
            value = (env.root.read(f"/sys/module/ramzswap/parameters/{name}") or "").strip()
            if value not in ("", "0", "(null)"):
                found.append(f"{name}={value}")
        return " ".join(found) or None

    def configure(self, env: Env, plan: "Settings") -> list[str]:
        notes = []
        self.write(env, "memlimit", plan.memlimit)
        if plan.backing:
            self.write(env, "backing_swap", plan.backing)
            self.write(env, "backing_write_limit", plan.limit_pages or 0)
        algorithm, level = plan.config.get("algorithm"), plan.config.get("level")
        if self.has_attr(env, "comp_algorithm"):
            # the algorithm first: setting it sets its default level
            if algorithm != self.algorithms(env)[1]:
                self.write(env, "comp_algorithm", algorithm)
            if level != self.int_attr(env, "comp_level"):
                self.write(env, "comp_level", level)
        elif (algorithm, level) != ("lz4", 0):
            notes.append(f"this ramzswap module always uses lz4 (not {algorithm})")
        self.write(env, "disksize", plan.disksize)
        return notes

    def set_write_limit(self, env: Env, pages: int) -> None:
        self.write(env, "backing_write_limit", pages)

    def writeback(self, env: Env, mode: str, nbytes: int) -> None:
        # the module also spends backing_write_limit on these pages
        self.write(env, "writeback", f"{mode} max_pages={nbytes // env.page_size}")

    def stats(self, env: Env) -> tuple[dict[str, int | None], dict[str, dict[str, int]]]:
        raw = procfs.stats_lines(self.attr(env, "stats") or "")
        renamed = {
            "incompressible_pages": "pages_expand",
            "bdev_reads": "bdev_num_reads",
            "bdev_writes": "bdev_num_writes",
        }
        out: dict[str, int | None] = {k: raw.get(renamed.get(k, k)) for k in STAT_KEYS}
        writes = out["bdev_writes"]
        out["bdev_write_bytes"] = None if writes is None else writes * env.page_size
        left = out["backing_write_limit_left"]
        if left is not None and left < 0:  # the module's -1: no backing write limit is set
            out["backing_write_limit_left"] = None
        return out, {"stats": raw}


_MM_STAT = (
    "orig_data_size",
    "compr_data_size",
    "mem_used_total",
    "mem_limit",
    "mem_used_max",
    "same_pages",
    "pages_compacted",
    "huge_pages",
    "huge_pages_since",
)
_IO_STAT = ("failed_reads", "failed_writes", "invalid_io", "notify_free")
_BD_STAT = ("bd_count", "bd_reads", "bd_writes")
_BLOCK_STAT = ("read_ios", "read_merges", "read_sectors", "read_ticks", "write_ios")


class Zram(Backend):
    name = "zram"
    module = "zram"

    def backing(self, env: Env) -> str | None:
        value = self.attr(env, "backing_dev")
        return None if value in (None, "", "none") else value

    def memlimit(self, env: Env) -> int | None:
        # mem_limit cannot be read back; mm_stat carries it
        return procfs.columns(self.attr(env, "mm_stat") or "", _MM_STAT).get("mem_limit")

    def missing_features(self, env: Env, wants_backing: bool, wants_limit: bool) -> list[str]:
        if not env.root.exists(self.sysdir):
            return []
        missing = []
        if wants_backing and not self.has_attr(env, "backing_dev"):
            missing.append("backing_dev (kernel built without CONFIG_ZRAM_WRITEBACK)")
        if wants_backing and wants_limit and not self.has_attr(env, "writeback_limit"):
            missing.append("writeback_limit (flash budget cannot be enforced)")
        return missing

    def refuse_compression(self, env: Env, algorithm: str, level: int) -> str | None:
        why = super().refuse_compression(env, algorithm, level)
        if why is None and level and not self.has_attr(env, "algorithm_params"):
            why = f"level {level}: this kernel's zram takes no level (algorithm_params, 6.12)"
        return why

    def configure(self, env: Env, plan: "Settings") -> list[str]:
        notes = []
        algorithm, level = plan.config.get("algorithm"), plan.config.get("level")
        names, current = self.algorithms(env)
        if algorithm in names:
            if algorithm != current:
                self.write(env, "comp_algorithm", algorithm)
            if level and self.has_attr(env, "algorithm_params"):
                self.write(env, "algorithm_params", f"algo={algorithm} level={level}")
        else:  # the default, not offered (start refuses one asked for)
            notes.append(
                f"zram here has no {algorithm} compressor (has: {' '.join(names) or 'none'}); "
                f"keeping {current}"
            )
        if plan.backing:
            self.write(env, "backing_dev", plan.backing)
            if plan.limit_pages and self.has_attr(env, "writeback_limit"):
                self.write(env, "writeback_limit_enable", 1)
                self.write(env, "writeback_limit", plan.limit_pages)
            notes.append("zram writes to its backing device only when asked (writeback)")
        self.write(env, "mem_limit", plan.memlimit)
        self.write(env, "disksize", plan.disksize)
        return notes

    def set_write_limit(self, env: Env, pages: int) -> None:
        self.write(env, "writeback_limit", pages)

    def mark_idle(self, env: Env, age: int | None = None) -> bool:
        if age is None:
            return super().mark_idle(env)
        try:  # by age from 6.2, with CONFIG_ZRAM_MEMORY_TRACKING; EINVAL before
            self.write(env, "idle", age)
        except OSError as e:
            if e.errno != errno.EINVAL:
                raise
            return False
        return True

    def writeback(self, env: Env, mode: str, nbytes: int) -> None:
        """zram has no size per request: writeback_limit bounds it, lowered for the round
        and then put back to what it was, less what the round wrote.  zram's answer is
        not the measure (it fails a request that wrote some pages, and succeeds one that
        wrote none): bd_stat is."""
        enabled = self.attr(env, "writeback_limit_enable") == "1"
        before = self.int_attr(env, "writeback_limit") or 0
        units = nbytes // LIMIT_UNIT
        self.write(env, "writeback_limit_enable", 1)
        self.write(env, "writeback_limit", min(units, before) if enabled else units)
        start = self.written_bytes(env)
        try:
            self.write(env, "writeback", mode)
        except OSError as e:
            if e.errno not in (errno.EINVAL, errno.EIO, errno.ENOSPC, errno.EAGAIN):
                raise
        finally:
            spent = (self.written_bytes(env) - start) // LIMIT_UNIT
            if enabled:
                self.write(env, "writeback_limit", max(0, before - spent))
            else:
                self.write(env, "writeback_limit_enable", 0)

    def stats(self, env: Env) -> tuple[dict[str, int | None], dict[str, dict[str, int]]]:
        raw = {
            "mm_stat": procfs.columns(self.attr(env, "mm_stat") or "", _MM_STAT),
            "io_stat": procfs.columns(self.attr(env, "io_stat") or "", _IO_STAT),
            "bd_stat": procfs.columns(self.attr(env, "bd_stat") or "", _BD_STAT),
            "stat": procfs.columns(self.attr(env, "stat") or "", _BLOCK_STAT),
        }
        mm, io, bd, blk = raw["mm_stat"], raw["io_stat"], raw["bd_stat"], raw["stat"]
        orig = mm.get("orig_data_size")
        limit_on = self.attr(env, "writeback_limit_enable") == "1"
        out: dict[str, int | None] = {
            "pages_stored": None if orig is None else orig // env.page_size,
            "orig_data_size": orig,
            "compr_data_size": mm.get("compr_data_size"),
            "mem_used_total": mm.get("mem_used_total"),
            "mem_used_max": mm.get("mem_used_max"),
            "same_pages": mm.get("same_pages"),
            "incompressible_pages": mm.get("huge_pages"),
            "num_reads": blk.get("read_ios"),
            "num_writes": blk.get("write_ios"),
            "failed_reads": io.get("failed_reads"),
            "failed_writes": io.get("failed_writes"),
            "notify_free": io.get("notify_free"),
            "bdev_reads": bd.get("bd_reads"),
            "bdev_writes": bd.get("bd_writes"),
            "bdev_write_bytes": None if "bd_writes" not in bd else bd["bd_writes"] * LIMIT_UNIT,
            "backing_write_limit_left": self.int_attr(env, "writeback_limit") if limit_on else None,
        }
        return out, raw


BACKENDS = {"ramzswap": Ramzswap, "zram": Zram}


def choose(env: Env, wanted: str) -> tuple[Backend | None, str]:
    """The backend to use for `wanted` (auto, ramzswap, zram) and why."""
    if wanted != "auto":
        backend = BACKENDS[wanted]()
        ok, why = backend.available(env)
        return (backend if ok else None), why
    reasons = []
    for cls in (Ramzswap, Zram):
        backend = cls()
        ok, why = backend.available(env)
        if ok:
            return backend, f"auto: {why}"
        reasons.append(why)
    return None, "auto: " + "; ".join(reasons)


def all_devices(env: Env) -> list[Backend]:
    """Every ramzswapN and zramN device present in /sys/block."""
    found = []
    for entry in env.root.listdir("/sys/block"):
        for cls in (Ramzswap, Zram):
            suffix = entry[len(cls.name) :]
            if entry.startswith(cls.name) and suffix.isdigit():
                found.append(cls(int(suffix)))
    return found
