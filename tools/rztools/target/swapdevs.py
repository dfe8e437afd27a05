"""Compressed swap devices, memory cgroups and rzscan in a guest, driven over its shell.

The benchmark and the reliability scenarios set ramzswap and in-kernel zram up the same
way, read their statistics under the same names, and run rzscan the same way.  The
functions building shell lines and parsing output are pure; the ones taking a `Shell`
talk to the guest (a `rztools.target.shell.Shell`: a ConsoleShell, or a test's Target).
"""

from __future__ import annotations

import json
import shlex
import time
from dataclasses import dataclass

# the module's stats file has one parser, the helper's, which ships with the module
from ramzswap_setup.procfs import stats_lines

from .shell import Shell

BACKENDS = ("ramzswap", "zram")
CGROOT = "/sys/fs/cgroup"

# zram's mm_stat and io_stat columns, in order (Documentation/admin-guide/blockdev/zram.rst)
ZRAM_MM_STAT = ("orig_data_size", "compr_data_size", "mem_used_total", "mem_limit",
                "mem_used_max", "same_pages", "pages_compacted", "huge_pages",
                "huge_pages_since")
ZRAM_IO_STAT = ("failed_reads", "failed_writes", "invalid_io", "notify_free")


class GuestError(RuntimeError):
    """The guest did not do what a setup step needed."""


@dataclass(frozen=True)
class SwapConfig:
    disksize: str                 # "256M"
    memlimit: str = "0"           # "128M"; 0 = none
    backing: str = ""             # ramzswap only: a block device path
    backing_write_limit: int = 0  # ramzswap only: pages, 0 = unlimited
    algorithm: str = "lz4"        # both: the compressor, at its default level


def sysdir(backend: str, n: int = 0) -> str:
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; one of {', '.join(BACKENDS)}")
    return f"/sys/block/{backend}{n}"


def setup_line(backend: str, cfg: SwapConfig) -> str:
    """One shell line: load the module, configure device 0, swap on it (busybox swapon:
    default priority, no discard; the kernel's slot-free notification frees slots)."""
    d = sysdir(backend)
    steps = [f"modprobe {backend}"]
    if backend == "zram":
        if cfg.backing or cfg.backing_write_limit:
            raise ValueError("the zram set-up here has no backing device")
        steps.append(f"echo {cfg.algorithm} > {d}/comp_algorithm")
        steps.append(f"echo {cfg.memlimit} > {d}/mem_limit")
    else:
        if cfg.backing:
            steps.append(f"echo {shlex.quote(cfg.backing)} > {d}/backing_swap")
        if cfg.algorithm != "lz4":  # a module without comp_algorithm is lz4-only
            steps.append(f"echo {cfg.algorithm} > {d}/comp_algorithm")
        steps.append(f"echo {cfg.memlimit} > {d}/memlimit")
        if cfg.backing_write_limit:
            steps.append(f"echo {cfg.backing_write_limit} > {d}/backing_write_limit")
    steps += [f"echo {cfg.disksize} > {d}/disksize",
              f"mkswap /dev/{backend}0 >/dev/null",
              f"swapon /dev/{backend}0"]
    return " && ".join(steps)


def teardown_line(backend: str) -> str:
    """Swap off and reset device 0; the module stays loaded."""
    d = sysdir(backend)
    return (f"if grep -q '^/dev/{backend}0 ' /proc/swaps; then swapoff /dev/{backend}0; fi"
            f" && if [ -e {d}/reset ]; then echo 1 > {d}/reset; fi")


def stats_line(backend: str) -> str:
    d = sysdir(backend)
    if backend == "zram":
        return f"echo mm_stat $(cat {d}/mm_stat); echo io_stat $(cat {d}/io_stat)"
    return f"cat {d}/stats"


def parse_zram_stats(text: str) -> dict[str, int]:
    """'mm_stat 1 2 3 ...' and 'io_stat ...' lines -> the columns by name."""
    out: dict[str, int] = {}
    for line in text.splitlines():
        head, *vals = line.split()
        names = {"mm_stat": ZRAM_MM_STAT, "io_stat": ZRAM_IO_STAT}.get(head, ())
        for name, val in zip(names, vals, strict=False):
            out[name] = int(val)
    if "orig_data_size" not in out:
        raise ValueError(f"no zram mm_stat in {text!r}")
    return out


def parse_stats(backend: str, text: str) -> dict[str, int]:
    """A device's statistics under the common names (orig_data_size, compr_data_size,
    mem_used_total, failed_writes, ...); ramzswap's stats file gives more."""
    if backend == "zram":
        return parse_zram_stats(text)
    st = stats_lines(text)
    if "orig_data_size" not in st:
        raise ValueError(f"no ramzswap stats in {text!r}")
    return st


def read_stats(sh: Shell, backend: str) -> dict[str, int]:
    return parse_stats(backend, sh.check(stats_line(backend)))


def setup(sh: Shell, backend: str, cfg: SwapConfig) -> None:
    res = sh.run(setup_line(backend, cfg), timeout=120)
    if res.status != 0:
        raise GuestError(f"setting up {backend} failed ({res.status}): {res.output}")


def teardown(sh: Shell, backend: str) -> None:
    res = sh.run(teardown_line(backend), timeout=600)
    if res.status != 0:
        raise GuestError(f"taking {backend} down failed ({res.status}): {res.output}")


def clean_slate(sh: Shell) -> None:
    """No swap and neither module loaded: whatever the guest booted with."""
    sh.run("swapoff -a", timeout=600)
    for backend in BACKENDS:
        sh.run(f"if [ -d /sys/module/{backend} ]; then rmmod {backend}; fi", timeout=120)
    out = sh.check("cat /proc/swaps; ls -d /sys/module/ramzswap /sys/module/zram 2>/dev/null;"
                   " true")
    if len(out.splitlines()) > 1:
        raise GuestError(f"could not clear swap and the modules:\n{out}")


# ---- memory cgroups: the workload's RAM ------------------------------------------

def memcg_line(name: str, limit: str) -> str:
    """Mount cgroup v2 if needed and make group `name` with memory.max = limit."""
    g = f"{CGROOT}/{name}"
    return (f"{{ [ -e {CGROOT}/cgroup.controllers ] || mount -t cgroup2 none {CGROOT}; }}"
            f" && echo +memory > {CGROOT}/cgroup.subtree_control"
            f" && mkdir -p {g} && echo {limit} > {g}/memory.max"
            f" && echo max > {g}/memory.swap.max")


def in_memcg(name: str | None, cmd: str) -> str:
    """A shell line running cmd inside memory cgroup `name` (None: where the shell is)."""
    if not name:
        return cmd
    inner = f"echo $$ > {CGROOT}/{name}/cgroup.procs && exec {cmd}"
    return f"sh -c {shlex.quote(inner)}"


def memcg(sh: Shell, name: str, limit: str) -> None:
    sh.check(memcg_line(name, limit))


def empty_memcg(sh: Shell, name: str, timeout: float = 300.0) -> None:
    """Kill what is left in group `name` and wait until it is gone: a workload killed in a
    thrashing group takes a while to exit, and until then swapoff cannot take its pages
    back (ENOMEM)."""
    g = f"{CGROOT}/{name}"
    deadline = time.monotonic() + timeout
    while sh.check(f"cat {g}/cgroup.procs").strip():
        if time.monotonic() > deadline:
            raise GuestError(f"processes of {g} did not exit")
        sh.run(f"echo 1 > {g}/cgroup.kill")
        time.sleep(0.5)


# ---- rzscan ------------------------------------------------------------------------

@dataclass(frozen=True)
class Scan:
    data: str          # zero, same, text, random, mixed, file:PATH
    mib: int
    passes: int = 1
    workers: int = 1
    mode: str = "cyclic"
    rewrite: bool = False
    seed: int = 1
    time_limit: int = 0   # seconds; then the guest kills it (status 137)
    random_pct: int = 0   # this % of the pages random instead, whatever the data set

    def command(self) -> str:
        args = ["rzscan", "--data", self.data, "--mode", self.mode,
                "--workers", str(self.workers), "--seed", str(self.seed)]
        if self.random_pct:
            args += ["--random-pct", str(self.random_pct)]
        if self.rewrite:
            args.append("--rewrite")
        args += [str(self.mib), str(self.passes)]
        return shlex.join(args)


def parse_rzscan(output: str) -> dict:
    """rzscan's JSON line (the last line that is one); its stderr lines may come first."""
    for line in reversed(output.splitlines()):
        line = line.strip()
        if line.startswith("{"):
            return json.loads(line)
    raise ValueError(f"no rzscan report in {output!r}")


@dataclass
class ScanResult:
    status: int
    report: dict | None        # None when rzscan printed none (killed, usage error)
    output: str

    @property
    def mismatches(self) -> int:
        return int(self.report["mismatches"]) if self.report else 0

    @property
    def verified(self) -> bool:
        return self.status == 0 and self.report is not None and self.mismatches == 0


def scan_line(scan: Scan, group: str | None = None) -> str:
    """The shell line running rzscan in memory cgroup `group`.  Its time limit is kept
    outside the group: a `timeout` whose pages are swapped out in a thrashing group
    takes minutes to deliver its signal."""
    line = in_memcg(group, scan.command())
    if scan.time_limit:
        line = f"timeout -s KILL {scan.time_limit} {line}"
    return line + " 2>&1"


def run_scan(sh: Shell, scan: Scan, group: str | None = None,
             timeout: float = 1800.0) -> ScanResult:
    res = sh.run(scan_line(scan, group), timeout=timeout + scan.time_limit)
    try:
        report = parse_rzscan(res.output)
    except ValueError:
        report = None
    return ScanResult(res.status, report, res.output)
