"""Processes and counters in a guest, over its shell: background jobs, their children,
their memory, signals, CPU time, the kernel log, and pushing the guest scripts."""

from __future__ import annotations

import re
import time
from pathlib import Path

from .shell import Shell
from .swapdevs import GuestError

GUEST_SCRIPTS = Path(__file__).resolve().parent / "guest"
USER_HZ = 100  # the kernel's /proc/stat unit on every arch Debian builds

# what a kernel says when it is in trouble (the target tests' own check)
OOPS_RE = re.compile(r"BUG:|Oops|WARNING:|general protection|Call Trace|Kernel panic|"
                     r"sleeping function called from invalid context|UBSAN:")
OOM_START_RE = re.compile(r"invoked oom-killer:")
OOM_END_RE = re.compile(r"(Out of memory|Memory cgroup out of memory): Killed process|"
                        r"oom_reaper: reaped process")


def push_script(sh: Shell, name: str, dest_dir: str = "/root") -> str:
    """Copy tools/rztools/guest/<name> into the guest; return its path there."""
    dest = f"{dest_dir}/{name}"
    sh.write_file(dest, (GUEST_SCRIPTS / name).read_bytes(), "755")
    return dest


def start_background(sh: Shell, cmd: str) -> int:
    """Start a shell line in the background (output discarded); return its pid.

    Started from a subshell, the job is init's child, not one of the login shell's jobs:
    the shell's job control never sees it stop, die or print a notice."""
    out = sh.check(f"({cmd} </dev/null >/dev/null 2>&1 & echo $!)")
    return int(out.split()[-1])


def children(sh: Shell, pid: int) -> list[int]:
    out = sh.run(f"cat /proc/{pid}/task/*/children 2>/dev/null").output
    return [int(p) for p in out.split()]


def touched_kib(sh: Shell, pids: list[int]) -> list[int]:
    """Anonymous memory each process has touched, resident or swapped (KiB)."""
    if not pids:
        return []
    out = sh.check("for p in " + " ".join(map(str, pids)) + "; do awk "
                   "'/^(RssAnon|VmSwap):/ {s+=$2} END {print s+0}' /proc/$p/status "
                   "2>/dev/null || echo 0; done")
    return [int(v) for v in out.split()]


def kill(sh: Shell, sig: str, pids: list[int]) -> None:
    if pids:
        sh.run(f"kill -{sig} " + " ".join(map(str, pids)) + " 2>/dev/null")


def wait_gone(sh: Shell, pids: list[int], timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while pids:
        alive = sh.run("for p in " + " ".join(map(str, pids)) +
                       "; do [ -e /proc/$p ] && echo $p; done; true").output.split()
        pids = [int(p) for p in alive]
        if pids and time.monotonic() > deadline:
            raise GuestError(f"processes {pids} did not exit")
        if pids:
            time.sleep(0.5)


def nearly(kib: int) -> int:
    """What a process that touched kib KiB may show: the kernel's per-thread RSS
    counters (6.1 and older) are synchronised only every 64 events."""
    return kib * 98 // 100


def wait_filled(sh: Shell, pid: int, nworkers: int, kib_each: int,
                timeout: float = 900.0) -> list[int]:
    """Wait until each of pid's nworkers children has touched kib_each KiB; their pids."""
    deadline = time.monotonic() + timeout
    while True:
        kids = children(sh, pid)
        if len(kids) == nworkers and all(k >= kib_each for k in touched_kib(sh, kids)):
            return kids
        if time.monotonic() > deadline:
            raise GuestError(f"workers of {pid} did not fill {kib_each} KiB each in time")
        if sh.run(f"[ -e /proc/{pid} ]").status != 0:
            raise GuestError(f"process {pid} exited before its workers filled their memory")
        time.sleep(0.5)


def cpu_line(sh: Shell) -> str:
    return sh.check("head -n 1 /proc/stat")


def system_seconds(before: str, after: str, hz: int = USER_HZ) -> float:
    """CPU seconds spent in the kernel (system, irq, softirq) between two 'cpu ...' lines
    of /proc/stat, over all CPUs."""
    def ticks(line: str) -> int:
        f = line.split()
        if f[0] != "cpu":
            raise ValueError(f"not the /proc/stat cpu line: {line!r}")
        return int(f[3]) + int(f[6]) + int(f[7])
    return (ticks(after) - ticks(before)) / hz


def kernel_problems(log: str) -> list[str]:
    """Oops/BUG/WARNING lines of a kernel log, leaving out OOM-killer reports (the OOM
    killer prints a call trace of the task that hit the limit: expected, not a bug)."""
    problems, in_oom = [], False
    for line in log.splitlines():
        if OOM_START_RE.search(line):
            in_oom = True
        if not in_oom and OOPS_RE.search(line):
            problems.append(line)
        if in_oom and OOM_END_RE.search(line):
            in_oom = False
    return problems


def take_kernel_log(sh: Shell) -> str:
    """The kernel log since the last call (cleared as it is read)."""
    return sh.run("dmesg -c", timeout=60).output


def disk_by_serial(sh: Shell, serial: str) -> str:
    """/dev/vdX of the virtio disk QEMU gave this serial (e.g. rzbacking)."""
    out = sh.check(f"grep -l '^{serial}$' /sys/block/vd*/serial")
    return "/dev/" + out.splitlines()[0].split("/")[3]
