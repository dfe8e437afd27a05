"""A fake system under a directory (for --root) and a fake kernel that acts on it.

FakeSystem writes the /proc, /sys, /dev, /etc files ramzswap-setup reads. FakeKernel stands in
for what needs a real kernel: it loads "modules" by creating their sysfs directories, emulates
the ramzswap and zram attributes (EBUSY after initialisation, reset, comp_algorithm choice),
and keeps /proc/swaps up to date on swapon/swapoff. Errors can be injected.
"""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path

from ramzswap_setup.kernel import SWAP_FLAG_PRIO_MASK, Kernel

RELEASE = "6.1.0-test"
MIB = 1 << 20

# the module's stats names, in the order of the sysfs ABI
RAMZSWAP_STATS = [
    "num_reads",
    "num_writes",
    "failed_reads",
    "failed_writes",
    "invalid_io",
    "notify_free",
    "same_pages",
    "pages_stored",
    "pages_expand",
    "good_compress",
    "orig_data_size",
    "compr_data_size",
    "mem_used_total",
    "mem_used_max",
    "bdev_num_reads",
    "bdev_num_writes",
    "bdev_num_discards",
    "backing_write_limit_left",
    "bdev_wb_pages",
    "bdev_wb_skipped",
]


class FakeSystem:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.devices: dict[str, tuple[int, int]] = {}  # path on the fake system -> (major, minor)
        dirs = (
            "proc/self",
            "proc/sys/kernel",
            "sys/block",
            "sys/module",
            "sys/dev/block",
            "sys/class/block",
            "dev",
            "etc",
            "run",
            "var/lib",
            f"lib/modules/{RELEASE}",
        )
        for d in dirs:
            (root / d).mkdir(parents=True, exist_ok=True)
        self.write("/proc/sys/kernel/osrelease", RELEASE + "\n")
        self.write(f"/lib/modules/{RELEASE}/modules.dep", "")
        self.write("/dev/kmsg", "")
        self.meminfo(256 * MIB)
        self.cmdline("console=ttyS0 root=/dev/vda rootwait")
        self.write("/proc/swaps", "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n")
        self.write("/proc/self/mountinfo", "")
        self.block_device("vda", 1024 * MIB, (254, 0))
        self.mount((254, 0), "/", "/dev/root", "ext4")
        self.mount((0, 22), "/proc", "proc", "proc")

    # -- files ------------------------------------------------------------------------------
    def path(self, p: str) -> Path:
        return self.root / p.lstrip("/")

    def write(self, p: str, text: str | bytes) -> Path:
        path = self.path(p)
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text)
        return path

    def read(self, p: str) -> str:
        return self.path(p).read_text()

    def exists(self, p: str) -> bool:
        return self.path(p).exists()

    def meminfo(self, total: int) -> None:
        kb = total // 1024
        self.write("/proc/meminfo", f"MemTotal:       {kb} kB\nMemFree:        {kb // 2} kB\n")

    def cmdline(self, text: str) -> None:
        self.write("/proc/cmdline", text + "\n")

    def config(self, text: str) -> None:
        self.write("/etc/ramzswap.conf", text)

    def module_available(self, name: str, subdir: str = "updates") -> None:
        dep = self.path(f"/lib/modules/{RELEASE}/modules.dep")
        dep.write_text(dep.read_text() + f"{subdir}/{name}.ko:\n")

    def symlink(self, p: str, target: str) -> None:
        path = self.path(p)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.symlink_to(target)

    # -- block devices, mounts, swaps -------------------------------------------------------
    def block_device(
        self,
        name: str,
        size: int,
        dev: tuple[int, int],
        content: bytes = b"",
        parent: str | None = None,
        partlabel: str | None = None,
    ) -> str:
        """A disk (or a partition of `parent`) with its /dev node and sysfs entries."""
        base = "/sys/devices/virtual/blk"
        sysdir = f"{base}/{parent}/{name}" if parent else f"{base}/{name}"
        self.write(f"{sysdir}/size", f"{size // 512}\n")
        self.path(f"{sysdir}/holders").mkdir(parents=True, exist_ok=True)
        uevent = f"MAJOR={dev[0]}\nMINOR={dev[1]}\nDEVNAME={name}\n"
        uevent += f"DEVTYPE={'partition' if parent else 'disk'}\n"
        if partlabel:
            uevent += f"PARTNAME={partlabel}\n"
        self.write(f"{sysdir}/uevent", uevent)
        self.symlink(f"/sys/dev/block/{dev[0]}:{dev[1]}", "../../.." + sysdir)
        self.symlink(f"/sys/class/block/{name}", "../../.." + sysdir)
        if not parent:
            self.symlink(f"/sys/block/{name}", "../.." + sysdir)
        node = self.write(f"/dev/{name}", content)
        with open(node, "r+b") as f:
            f.truncate(max(size, len(content)))
        self.devices[f"/dev/{name}"] = dev
        return f"/dev/{name}"

    def hold(self, name: str, holder: str) -> None:
        target = os.path.realpath(self.path(f"/sys/class/block/{name}"))
        (Path(target) / "holders" / holder).mkdir(parents=True)

    def mount(self, dev: tuple[int, int], mountpoint: str, source: str, fstype: str) -> None:
        info = self.path("/proc/self/mountinfo")
        n = len(info.read_text().splitlines()) + 20
        line = f"{n} 1 {dev[0]}:{dev[1]} / {mountpoint} rw shared:1 - {fstype} {source} rw\n"
        info.write_text(info.read_text() + line)

    def add_swap(self, filename: str, size: int, used: int = 0, priority: int = -2) -> None:
        swaps = self.path("/proc/swaps")
        line = f"{filename}\t\tpartition\t{size // 1024}\t\t{used // 1024}\t\t{priority}\n"
        swaps.write_text(swaps.read_text() + line)

    def swaps(self) -> list[list[str]]:
        return [line.split() for line in self.read("/proc/swaps").splitlines()[1:]]

    def set_stats(self, device: str, **values: int | str) -> None:
        """Change lines of a ramzswap device's stats file (counters, or words such as
        backing_state)."""
        p = f"/sys/block/{device}/stats"
        stats = dict(line.split() for line in self.read(p).splitlines() if line.strip())
        stats.update({k: str(v) for k, v in values.items()})
        self.write(p, "".join(f"{k} {v}\n" for k, v in stats.items()))

    def kmsg(self) -> list[str]:
        return self.read("/dev/kmsg").splitlines()


class FakeKernel(Kernel):
    fake = True

    def __init__(
        self,
        system: FakeSystem,
        zram_writeback: bool = True,
        zram_algorithms: tuple[str, ...] = ("lzo", "lzo-rle", "lz4", "zstd"),
        limit_after_init: bool = True,
        ramzswap_algorithms: tuple[str, ...] | None = ("lz4", "lz4hc", "lzo-rle", "lzo", "zstd"),
        zram_levels: bool = True,
        zram_idle_age: bool = True,
        ramzswap_writeback: bool = True,
    ) -> None:
        self.sys = system
        self.calls: list[tuple] = []
        self.zram_writeback = zram_writeback
        self.zram_algorithms = zram_algorithms
        # None: a module from before comp_algorithm; zram_levels: algorithm_params (6.12)
        self.ramzswap_algorithms = ramzswap_algorithms
        self.zram_levels = zram_levels
        # zram's `idle <seconds>` (6.2+); ramzswap_writeback False: a module from before
        # idle and writeback
        self.zram_idle_age = zram_idle_age
        self.ramzswap_writeback = ramzswap_writeback
        # pages each writeback mode finds, per device; a test fills them
        self.writeback_pages: dict[str, dict[str, int]] = {}
        # answer a writeback that wrote pages with this errno anyway (zram does)
        self.writeback_errno: int | None = None
        # the module accepts backing_write_limit at any time; False makes it answer EBUSY
        self.limit_after_init = limit_after_init
        self.modprobe_status = 0
        # `modprobe -r`: its exit status, and whether the module stays (in use) or goes
        self.unload_status = 0
        self.unload_keeps_module = False
        self.swapon_errors: list[int] = []  # errno for the next swapon calls
        self.swapoff_error: int | None = None
        self.write_errors: dict[str, int] = {}  # attribute name -> errno
        self.swapon_flags: list[int] = []

    def _rel(self, host_path: str) -> str:
        return "/" + os.path.relpath(host_path, self.sys.root)

    # -- modules ----------------------------------------------------------------------------
    def load_module(self, name: str) -> int:
        self.calls.append(("modprobe", name))
        dep = self.sys.read(f"/lib/modules/{RELEASE}/modules.dep")
        if self.modprobe_status or f"/{name}.ko" not in dep:
            return self.modprobe_status or 1
        self.sys.path(f"/sys/module/{name}").mkdir(parents=True)
        self._fresh_device(name)
        if name == "ramzswap":
            self._module_parameters()
        return 0

    def _module_parameters(self) -> None:
        """Like kmod: `ramzswap.<param>=` on the kernel command line goes to the module, and
        disksize_kb there makes the module initialise ramzswap0 itself."""
        params = {"num_devices": "1", "disksize_kb": "0", "memlimit_kb": "0",
                  "backing_swap": "(null)"}  # fmt: skip
        for arg in self.sys.read("/proc/cmdline").split():
            key, _, value = arg.partition("=")
            if key.startswith("ramzswap.") and key[len("ramzswap.") :] in params:
                params[key[len("ramzswap.") :]] = value
        for key, value in params.items():
            self.sys.write(f"/sys/module/ramzswap/parameters/{key}", value + "\n")
        if params["disksize_kb"] != "0":
            d = "/sys/block/ramzswap0"
            self.sys.write(f"{d}/memlimit", str(int(params["memlimit_kb"]) * 1024) + "\n")
            self.write_attr(
                str(self.sys.path(f"{d}/disksize")), str(int(params["disksize_kb"]) * 1024)
            )
            self.calls.pop()  # the module did that, not the helper

    def unload_module(self, name: str) -> int:
        self.calls.append(("modprobe -r", name))
        if self.unload_keeps_module:
            return self.unload_status or 1
        shutil.rmtree(self.sys.path(f"/sys/module/{name}"))
        shutil.rmtree(self.sys.path(f"/sys/block/{name}0"))
        self.sys.path(f"/dev/{name}0").unlink()
        return self.unload_status

    def _fresh_device(self, name: str) -> None:
        d = f"/sys/block/{name}0"
        self.sys.write(f"/dev/{name}0", b"")
        self.sys.devices[f"/dev/{name}0"] = (251 if name == "zram" else 252, 0)
        common = {"disksize": "0", "initstate": "0", "reset": ""}
        if name == "ramzswap":
            attrs = dict(common, memlimit="0", backing_swap="", backing_write_limit="0")
            attrs["stats"] = "".join(f"{k} 0\n" for k in RAMZSWAP_STATS)
            if self.ramzswap_algorithms is not None:
                attrs["comp_algorithm"] = self._offered("ramzswap", "lz4")
                attrs["comp_level"] = "0"
            if self.ramzswap_writeback:
                attrs.update(idle="", writeback="")
        else:
            attrs = dict(
                common,
                comp_algorithm=self._offered("zram", "lzo-rle"),
                mem_limit="",
                mm_stat="0 " * 9,
                io_stat="0 0 0 0",
                stat="0 " * 11,
            )
            if self.zram_levels:
                attrs["algorithm_params"] = ""
            if self.zram_writeback:
                attrs.update(
                    backing_dev="none",
                    writeback_limit_enable="0",
                    writeback_limit="0",
                    bd_stat="0 0 0",
                    idle="",
                    writeback="",
                )
        for attr, value in attrs.items():
            self.sys.write(
                f"{d}/{attr}", value if value.endswith("\n") or not value else value + "\n"
            )

    def _algorithms(self, driver: str) -> tuple[str, ...]:
        return (self.ramzswap_algorithms or ()) if driver == "ramzswap" else self.zram_algorithms

    def _offered(self, driver: str, current: str) -> str:
        return " ".join(f"[{a}]" if a == current else a for a in self._algorithms(driver))

    # -- sysfs ------------------------------------------------------------------------------
    def write_attr(self, path: str, value: str) -> None:
        rel = self._rel(path)
        self.calls.append(("write", rel, value))
        d, attr = os.path.split(rel)
        name = os.path.basename(d)
        if not self.sys.exists(rel):
            raise OSError(errno.ENOENT, "No such file or directory", path)
        if attr in self.write_errors:
            err = self.write_errors[attr]
            raise OSError(err, os.strerror(err), path)
        initialised = self.sys.read(f"{d}/initstate").strip() == "1"
        if attr == "reset":
            self._fresh_device(name.rstrip("0123456789"))
            return
        busy = {"memlimit", "backing_swap", "disksize", "comp_algorithm", "comp_level",
                "algorithm_params", "backing_dev"}
        if not self.limit_after_init:
            busy.add("backing_write_limit")
        if initialised and attr in busy:
            raise OSError(errno.EBUSY, "Device or resource busy", path)
        driver = name.rstrip("0123456789")
        if attr == "comp_algorithm":
            if value not in self._algorithms(driver):
                raise OSError(errno.EINVAL, "Invalid argument", path)
            self.sys.write(rel, self._offered(driver, value) + "\n")
            if driver == "ramzswap":  # an algorithm comes with its default level
                self.sys.write(f"{d}/comp_level", "0\n")
            return
        if attr == "idle":
            if value != "all" and not (driver == "zram" and self.zram_idle_age
                                       and value.isdigit()):
                raise OSError(errno.EINVAL, "Invalid argument", path)
            return
        if attr == "writeback":
            self._writeback(d, name, driver, value, path)
            return
        if attr == "mem_limit":
            mm = self.sys.read(f"{d}/mm_stat").split()
            mm[3] = str(int(value))
            self.sys.write(f"{d}/mm_stat", " ".join(mm) + "\n")
        self.sys.write(rel, value + "\n")
        if attr == "disksize":
            self.sys.write(f"{d}/initstate", "1\n")
            with open(self.sys.path(f"/dev/{name}"), "r+b") as f:
                f.truncate(int(value))

    def _writeback(self, d: str, name: str, driver: str, value: str, path: str) -> None:
        """Write back the pages the test put in writeback_pages[name][mode], within
        max_pages (ramzswap) or the enabled writeback_limit (zram)."""
        mode, _, rest = value.partition(" ")
        if mode not in ("idle", "huge", "huge_idle"):
            raise OSError(errno.EINVAL, "Invalid argument", path)
        pages = self.writeback_pages.setdefault(name, {})
        n = pages.get(mode, 0)
        if driver == "ramzswap":
            key, _, count = rest.partition("=")
            if key != "max_pages" or not count.isdigit():
                raise OSError(errno.EINVAL, "Invalid argument", path)
            n = min(n, int(count))
            self.sys.set_stats(name, bdev_num_writes=self._stat(name, "bdev_num_writes") + n)
        else:
            if self.sys.read(f"{d}/writeback_limit_enable").strip() == "1":
                limit = int(self.sys.read(f"{d}/writeback_limit"))
                n = min(n, limit)
                self.sys.write(f"{d}/writeback_limit", f"{limit - n}\n")
            bd = self.sys.read(f"{d}/bd_stat").split()
            bd[0], bd[2] = str(int(bd[0]) + n), str(int(bd[2]) + n)
            self.sys.write(f"{d}/bd_stat", " ".join(bd) + "\n")
        pages[mode] = pages.get(mode, 0) - n
        if self.writeback_errno is not None or not n:
            err = self.writeback_errno or errno.EIO
            raise OSError(err, os.strerror(err), path)

    def _stat(self, name: str, key: str) -> int:
        text = self.sys.read(f"/sys/block/{name}/stats")
        return int(dict(line.split() for line in text.splitlines())[key])

    def block_dev_id(self, path: str) -> tuple[int, int] | None:
        return self.sys.devices.get(self._rel(path))

    # -- swap -------------------------------------------------------------------------------
    def swapon(self, path: str, flags: int) -> None:
        rel = self._rel(path)
        self.calls.append(("swapon", rel, flags))
        self.swapon_flags.append(flags)
        if self.swapon_errors:
            err = self.swapon_errors.pop(0)
            raise OSError(err, os.strerror(err), path)
        with open(path, "rb") as f:
            page = f.read(4096)
        if page[-10:] != b"SWAPSPACE2":
            raise OSError(errno.EINVAL, "Invalid argument", path)
        size = os.path.getsize(path) - 4096
        self.sys.add_swap(rel, size, 0, flags & SWAP_FLAG_PRIO_MASK)

    def swapoff(self, path: str) -> None:
        rel = self._rel(path)
        self.calls.append(("swapoff", rel))
        if self.swapoff_error is not None:
            raise OSError(self.swapoff_error, os.strerror(self.swapoff_error), path)
        lines = self.sys.read("/proc/swaps").splitlines(keepends=True)
        kept = [line for line in lines if line.split()[0] != rel]
        if len(kept) == len(lines):
            raise OSError(errno.EINVAL, "Invalid argument", path)
        self.sys.write("/proc/swaps", "".join(kept))

    def actions(self) -> list[tuple]:
        """The calls that change something (everything but reads)."""
        return list(self.calls)
