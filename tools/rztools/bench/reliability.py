"""The ways ramzswap can break, tried on purpose: `make reliability`, and in a short
form as target tests (tests/target/test_reliability.py).

    python -m rztools.bench.reliability --arch x86_64 [--soak-minutes 10]

Each scenario is one function taking what it needs (a booted shell, or a `boot`
factory for a guest of its own) and a `Size`; LONG is `make reliability`, SHORT is
what CI runs.  Each returns an Outcome: how many checks were tried, how many failed,
notes on the failures, and the measured facts tests assert on.

Scenarios: backing_eio (blkdebug fails reads and writes of the backing disk),
memlimit_exhaustion (no backing device), smp_stress (4 vCPUs, rzscan --workers 4 on
every data set), soak (mixed workloads, reset/re-init when idle), sysfs_fuzz (random
writes to every attribute, idle and while swap is active), load_unload (module
load/unload cycles with init/reset in between).

Writes out/reliability/summary.json (a list of {"scenario", "tried", "failed",
"notes"}) and summary.md.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from ..target import booter
from ..target import guestproc as gp
from ..target import swapdevs as sd
from ..target.console import ConsoleError
from ..target.guest.sysfsfuzz import ATTRS as FUZZED_ATTRS
from ..target.qemu import InjectError, QemuError, blkdebug_config

REPO = Path(__file__).resolve().parents[3]
OUT = REPO / "out" / "reliability"
GROUP = "rzrel"
DEV = sd.sysdir("ramzswap")
HEAP_FILE = "/root/heap.bin"
SIGBUS = 7
# what swapoff leaves stored: mkswap's header in page 0, which is not a swap slot
SWAP_HEADER_PAGES = 1


@dataclass(frozen=True)
class Size:
    name: str
    eio_mib: int            # random data pushed through the failing backing disk
    eio_rounds: int         # rzscan runs (different seeds) through it
    memlimit_rounds: int    # rounds of each data set against a small memlimit
    crawl_s: int            # time limit of a workload that crawls past memlimit
    smp_mib: int            # per data set, split over 4 workers
    smp_passes: int
    smp_once_all: bool      # use-once runs on every data set (else on mixed only)
    soak_s: float
    fuzz_writes: int        # per attribute and phase (idle, swap active)
    cycles: int             # module load/unload cycles
    heap_mib: int


SHORT = Size("short", eio_mib=24, eio_rounds=2, memlimit_rounds=1, crawl_s=20, smp_mib=32,
             smp_passes=1, smp_once_all=False, soak_s=45, fuzz_writes=60, cycles=10, heap_mib=8)
LONG = Size("long", eio_mib=96, eio_rounds=6, memlimit_rounds=3, crawl_s=60, smp_mib=120,
            smp_passes=3, smp_once_all=True, soak_s=600, fuzz_writes=1000, cycles=50, heap_mib=32)


def short_for(arch: str) -> Size:
    """The CI form for an arch: QEMU emulates arm guests about 3x slower than x86_64 ones
    here (4 vCPUs on a shared 2-core host most of all), so they get smaller workloads."""
    if arch in ("aarch64", "arm"):
        return replace(SHORT, eio_mib=16, smp_mib=16, soak_s=30)
    return SHORT


@dataclass
class Outcome:
    scenario: str
    tried: int = 0
    failed: int = 0
    notes: list[str] = field(default_factory=list)
    facts: dict = field(default_factory=dict)
    elapsed_s: float = 0.0

    def check(self, ok: bool, what: str) -> bool:
        """Count one check; a failed one is noted with what was expected."""
        self.tried += 1
        if not ok:
            self.failed += 1
            self.notes.append(what)
        return ok

    def note(self, text: str) -> None:
        self.notes.append(text)

    def summary(self) -> dict:
        return {"scenario": self.scenario, "tried": self.tried, "failed": self.failed,
                "notes": "; ".join(self.notes)}

    def __str__(self) -> str:
        return (f"{self.scenario}: {self.failed} of {self.tried} checks failed"
                + "".join(f"\n  - {n}" for n in self.notes)
                + f"\n  facts: {json.dumps(self.facts, default=str)[:2000]}")


BootFn = Callable[..., sd.Shell]


def no_kernel_problems(sh: sd.Shell, out: Outcome) -> None:
    """Reads (and clears) the kernel log: no oops, BUG or WARNING (OOM reports allowed)."""
    problems = gp.kernel_problems(gp.take_kernel_log(sh))
    out.check(not problems, "kernel problems: " + " | ".join(problems[:5]))


def scan_ok(out: Outcome, res: sd.ScanResult, what: str, killed_ok: bool = False) -> bool:
    """rzscan verified every page; with killed_ok, a worker or rzscan may also have been
    killed (OOM, SIGBUS), but a page that came back wrong always fails."""
    if res.mismatches or res.status == 1:
        return out.check(False, f"{what}: pages came back wrong: {res.output[-300:]}")
    if killed_ok:  # 3: a worker was killed; above 128: rzscan itself was (128 + signal)
        return out.check(res.status in (0, 3) or res.status > 128,
                         f"{what}: rzscan exited {res.status}: {res.output[-300:]}")
    return out.check(res.verified, f"{what}: rzscan exited {res.status}: {res.output[-300:]}")


def run(sh: sd.Shell, scan: sd.Scan) -> sd.ScanResult:
    """rzscan in the scenarios' memory cgroup; nothing of it is left running after."""
    res = sd.run_scan(sh, scan, GROUP)
    sd.empty_memcg(sh, GROUP)
    return res


def capture_heap(sh: sd.Shell, mib: int) -> None:
    script = gp.push_script(sh, "heapdump.py")
    sh.check(f"python3 {script} {HEAP_FILE} {mib}", timeout=1800)


# ---- backing device faults -----------------------------------------------------------

# backing slots (4 KiB pages) whose reads / writes the disk fails
EIO_READ_SLOTS = (40, 41, 300, 1100, 2100, 3500, 5000)
EIO_WRITE_SLOTS = (60, 700, 1600, 2600, 4200)
# slots written directly through the block device (not as swap)
DIRECT_GOOD = (10, 11, 500, 3000)


def eio_rules() -> list[InjectError]:
    return ([InjectError("read", s * 8) for s in EIO_READ_SLOTS]
            + [InjectError("write", s * 8) for s in EIO_WRITE_SLOTS])


def direct_io(sh: sd.Shell, out: Outcome) -> None:
    """Random pages written straight to ramzswap0's slots go to the backing disk; the
    failing slots answer EIO (never other data), the others read back intact."""
    slots = DIRECT_GOOD + EIO_READ_SLOTS[:2] + EIO_WRITE_SLOTS[:2]
    sh.check("mkdir -p /root/eio")
    before = sd.read_stats(sh, "ramzswap")
    wrote = {}
    for s in slots:
        sh.check(f"head -c 4096 /dev/urandom > /root/eio/{s}")
        res = sh.run(f"dd if=/root/eio/{s} of=/dev/ramzswap0 bs=4096 seek={s} count=1 "
                     "oflag=direct conv=notrunc 2>&1")
        wrote[s] = res.status == 0
    for s in slots:
        res = sh.run(f"dd if=/dev/ramzswap0 bs=4096 skip={s} count=1 iflag=direct 2>/dev/null "
                     f"| cmp -s - /root/eio/{s}")
        intact = res.status == 0
        if s in EIO_WRITE_SLOTS:
            out.check(not wrote[s], f"slot {s}: the backing write failed but dd succeeded")
            out.check(not intact, f"slot {s}: read back data whose write had failed")
        elif s in EIO_READ_SLOTS:
            out.check(wrote[s], f"slot {s}: write failed (only its reads should)")
            out.check(not intact, f"slot {s}: the backing read failed but data came back")
        else:
            out.check(wrote[s] and intact, f"slot {s}: a good slot did not read back intact")
    after = sd.read_stats(sh, "ramzswap")
    delta = {k: after[k] - before[k] for k in ("bdev_num_writes", "failed_writes",
                                               "failed_reads")}
    out.facts["direct"] = delta
    bad_writes = len([s for s in slots if s in EIO_WRITE_SLOTS])
    bad_reads = len([s for s in slots if s in EIO_READ_SLOTS]) + bad_writes
    out.check(delta["bdev_num_writes"] == len(slots),
              f"not every random page went to the backing disk: {delta}")
    out.check(delta["failed_writes"] == bad_writes,
              f"failed backing writes counted wrong ({bad_writes} expected): {delta}")
    # each failing slot read once, and each slot whose write had failed read once
    out.check(delta["failed_reads"] == bad_reads,
              f"failed backing reads counted wrong ({bad_reads} expected): {delta}")


def backing_state(sh: sd.Shell) -> str:
    """The word on the `backing_state` line of ramzswap0's stats."""
    for line in sh.check(f"cat {DEV}/stats").splitlines():
        name, _, value = line.partition(" ")
        if name == "backing_state":
            return value.strip()
    return "missing"


def backing_eio(boot: BootFn, size: Size, workdir: Path) -> Outcome:
    out = Outcome("backing_eio")
    workdir.mkdir(parents=True, exist_ok=True)
    conf = workdir / "blkdebug.conf"
    conf.write_text(blkdebug_config(eio_rules()))
    # swap holds everything the memory cgroup (a third of the workload) cannot, and more:
    # a full swap would OOM-kill workers for a reason that has nothing to do with faults
    disk = f"{max(64, 2 * size.eio_mib)}M"
    sh = boot(mem="256M", smp=2, backing=disk, append="ramzswap=off", blkdebug=conf)
    sd.clean_slate(sh)
    gp.take_kernel_log(sh)
    backing = gp.disk_by_serial(sh, "rzbacking")
    cfg = sd.SwapConfig(disk, "8M", backing=backing)
    # 1. the block device itself
    sh.check(f"modprobe ramzswap && echo {backing} > {DEV}/backing_swap && "
             f"echo 8M > {DEV}/memlimit && echo {disk} > {DEV}/disksize")
    direct_io(sh, out)
    sh.check(f"echo 1 > {DEV}/reset")
    # 2. as swap: random pages go to the backing disk, some slots fail
    sd.setup(sh, "ramzswap", cfg)
    sh.check("echo 0 > /proc/sys/vm/page-cluster")
    sd.memcg(sh, GROUP, f"{max(8, size.eio_mib // 3)}M")
    killed = 0
    for seed in range(1, size.eio_rounds + 1):
        # a time limit: a given-up disk leaves swap retrying writes that cannot succeed
        res = run(sh, sd.Scan("random", size.eio_mib, 3, workers=4, seed=seed,
                              time_limit=600))
        scan_ok(out, res, f"random through failing backing disk (seed {seed})", killed_ok=True)
        killed += res.output.count(f"killed by signal {SIGBUS}")
    st = sd.read_stats(sh, "ramzswap")
    failed_reads = st["failed_reads"]
    state = backing_state(sh)
    out.facts.update(swap_stats=st, workers_killed_by_sigbus=killed, backing_state=state)
    # a handful of bad slots, failing again each time swap reuses them, must not give
    # up a backing disk whose other slots work
    out.check(state == "ok", f"{len(EIO_WRITE_SLOTS)} bad slots gave the backing disk up: "
                             f"backing_state {state}")
    out.check(st["bdev_num_writes"] > 0, "no page went to the backing disk")
    out.check(failed_reads > 0 or st["failed_writes"] > 0,
              "no backing I/O failure happened: the injection did not hit")
    out.check(killed <= failed_reads,
              f"{killed} workers killed by SIGBUS but only {failed_reads} failed reads")
    # 3. the device keeps serving: same-filled pages never reach the disk and must all
    # come back; pages that do (text past memlimit or above half a page) come back right
    # or their worker dies of a failed read, never of wrong data
    res = run(sh, sd.Scan("same", size.eio_mib, 2, workers=2, seed=7))
    scan_ok(out, res, "same-filled pages after the failures")
    for seed, data in ((8, "text"), (9, "mixed")):
        before = sd.read_stats(sh, "ramzswap")["failed_reads"]
        res = run(sh, sd.Scan(data, size.eio_mib, 2, workers=4, seed=seed))
        scan_ok(out, res, f"{data} after the failures", killed_ok=True)
        bus = res.output.count(f"killed by signal {SIGBUS}")
        new_failed = sd.read_stats(sh, "ramzswap")["failed_reads"] - before
        out.check(bus <= new_failed, f"{data}: {bus} workers killed by SIGBUS but only "
                                     f"{new_failed} failed reads")
    log = gp.take_kernel_log(sh)
    out.facts["kernel_read_errors"] = log.count("Read-error on swap-device")
    out.facts["kernel_write_errors"] = log.count("Write-error on swap-device")
    problems = gp.kernel_problems(log)
    out.check(not problems, "kernel problems: " + " | ".join(problems[:5]))
    sd.teardown(sh, "ramzswap")
    return out


# ---- memlimit without backing ----------------------------------------------------------

MEMLIMIT = 4 << 20


def memlimit_exhaustion(sh: sd.Shell, size: Size) -> Outcome:
    """memlimit 4M, no backing device, workloads that need more: writes past the limit
    fail and are counted, the store never passes the limit, no page comes back wrong.

    When swap writes fail the kernel keeps the pages and retries; a memory cgroup does
    not go OOM on that, the workload just crawls (zram does the same), so each run has a
    time limit and may end killed (status 137)."""
    out = Outcome("memlimit_exhaustion")
    sd.clean_slate(sh)
    gp.take_kernel_log(sh)
    sh.check("echo 0 > /proc/sys/vm/page-cluster")
    sd.memcg(sh, GROUP, "16M")
    failed_writes = 0
    for rnd in range(size.memlimit_rounds):
        for scan in (sd.Scan("mixed", 32, 1, workers=2, seed=rnd + 1, time_limit=size.crawl_s),
                     sd.Scan("text", 28, 1, seed=rnd + 1, time_limit=size.crawl_s),
                     sd.Scan("random", 24, 1, seed=rnd + 1, time_limit=size.crawl_s)):
            sd.setup(sh, "ramzswap", sd.SwapConfig("64M", str(MEMLIMIT)))
            res = run(sh, scan)
            scan_ok(out, res, f"{scan.data} past memlimit (round {rnd})", killed_ok=True)
            st = sd.read_stats(sh, "ramzswap")
            failed_writes += st["failed_writes"]
            out.check(st["mem_used_max"] <= MEMLIMIT,
                      f"{scan.data}: mem_used_max {st['mem_used_max']} passed memlimit")
            out.check(st["compr_data_size"] <= MEMLIMIT,
                      f"{scan.data}: compr_data_size {st['compr_data_size']} passed memlimit")
            sd.teardown(sh, "ramzswap")
            out.facts.setdefault("runs", []).append(
                {"data": scan.data, "status": res.status, "failed_writes": st["failed_writes"],
                 "mem_used_max": st["mem_used_max"]})
            if size.memlimit_rounds == 1 and scan.data == "text":
                break  # the short form: one run that completes, one that crawls
    out.facts["failed_writes"] = failed_writes
    out.check(failed_writes > 0, "the workloads never hit memlimit: no failed writes")
    no_kernel_problems(sh, out)
    return out


def memlimit_vs_zram(sh: sd.Shell, size: Size) -> Outcome:
    """The same workload under the same memlimit on ramzswap and on zram: a store that
    frees what swap no longer needs fails no more writes than zram does.

    This needs the device to be synchronous for swap (->rw_page before 6.3,
    QUEUE_FLAG_SYNCHRONOUS 6.3-6.10, BLK_FEAT_SYNCHRONOUS from 6.11): otherwise the
    kernel keeps the swap-cache copy of every page read back, its slot and its
    compressed object, until swap is half full; the store fills with copies of pages
    that are in RAM, and writes fail where zram's succeed."""
    out = Outcome("memlimit_vs_zram")
    sd.clean_slate(sh)
    gp.take_kernel_log(sh)
    sh.check("echo 0 > /proc/sys/vm/page-cluster")
    sd.memcg(sh, GROUP, "24M")
    failed = {}
    for backend in sd.BACKENDS:
        sd.setup(sh, backend, sd.SwapConfig("128M", "8M"))
        res = run(sh, sd.Scan("text", 36, 3, time_limit=300))
        scan_ok(out, res, f"text under memlimit 8M on {backend}")
        st = sd.read_stats(sh, backend)
        failed[backend] = st["failed_writes"]
        out.facts[backend] = {"failed_writes": st["failed_writes"],
                              "pswpout": (res.report or {}).get("pswpout"),
                              "elapsed_s": (res.report or {}).get("elapsed_s")}
        sd.teardown(sh, backend)
    writes = out.facts["ramzswap"]["pswpout"] or 1
    out.check(failed["ramzswap"] <= failed["zram"] + writes // 100,
              f"ramzswap failed {failed['ramzswap']} writes where zram failed "
              f"{failed['zram']} (same workload, same memlimit)")
    no_kernel_problems(sh, out)
    return out


# ---- SMP stress ----------------------------------------------------------------------

def smp_stress(boot: BootFn, size: Size) -> Outcome:
    """4 vCPUs, rzscan --workers 4 on every data set, cyclic with rewrites and use-once."""
    out = Outcome("smp_stress")
    sh = boot(mem="256M", smp=4, append="ramzswap=off")
    sd.clean_slate(sh)
    capture_heap(sh, size.heap_mib)
    gp.take_kernel_log(sh)
    out.check(sh.check("nproc").strip() == "4", "the guest does not have 4 CPUs")
    sh.check("echo 0 > /proc/sys/vm/page-cluster")
    sd.memcg(sh, GROUP, f"{size.smp_mib // 3}M")
    sd.setup(sh, "ramzswap", sd.SwapConfig("256M", "160M"))
    runs = []
    for data in ("zero", "same", "text", "random", "mixed", f"file:{HEAP_FILE}"):
        modes = [("cyclic", True)]
        if size.smp_once_all or data == "mixed":
            modes.append(("once", False))
        for mode, rewrite in modes:
            scan = sd.Scan(data, size.smp_mib, size.smp_passes, workers=4, mode=mode,
                           rewrite=rewrite)
            res = run(sh, scan)
            scan_ok(out, res, f"{data} {mode}{' rewrite' if rewrite else ''}")
            if res.report:
                runs.append({k: res.report[k] for k in ("dataset", "mode", "pswpin", "pswpout",
                                                       "mismatches", "elapsed_s")})
    out.facts["runs"] = runs
    out.check(sum(r["pswpout"] for r in runs) > 0, "nothing was swapped out")
    sd.teardown(sh, "ramzswap")
    no_kernel_problems(sh, out)
    return out


# ---- soak -----------------------------------------------------------------------------

SOAK_DATA = ("zero", "same", "text", "random", "mixed")


def soak(sh: sd.Shell, size: Size, seed: int = 1) -> Outcome:
    """Mixed workloads until the time is up; between rounds (idle) swap off, reset and
    init again: every page verified, nothing left stored after swapoff, mem_used_total
    0 after each reset."""
    out = Outcome("soak")
    rng = random.Random(seed)
    sd.clean_slate(sh)
    gp.take_kernel_log(sh)
    sh.check("echo 0 > /proc/sys/vm/page-cluster")
    sd.memcg(sh, GROUP, "32M")
    avail0 = int(sh.check("awk '/^MemAvailable/ {print $2}' /proc/meminfo"))
    deadline = time.monotonic() + size.soak_s
    rounds = scans = 0
    while time.monotonic() < deadline or rounds == 0:
        # memlimit never reached here: the soak looks for corruption and leaks, not OOM
        disksize = rng.choice(("128M", "256M"))
        cfg = sd.SwapConfig(disksize, rng.choice(("0", "120M" if disksize == "128M" else "160M")))
        sd.setup(sh, "ramzswap", cfg)
        for _ in range(rng.randrange(1, 4)):
            mode = rng.choice(("cyclic", "cyclic", "once"))
            scan = sd.Scan(rng.choice(SOAK_DATA), rng.choice((48, 64, 96)),
                           rng.randrange(1, 4), workers=rng.choice((1, 2, 3)), mode=mode,
                           rewrite=mode == "cyclic" and rng.random() < 0.4,
                           seed=rng.randrange(1000))
            res = run(sh, scan)
            scan_ok(out, res, f"soak {scan.command()}")
            scans += 1
        sh.check("swapoff /dev/ramzswap0", timeout=600)
        st = sd.read_stats(sh, "ramzswap")
        out.check(st["pages_stored"] <= SWAP_HEADER_PAGES,
                  f"round {rounds}: {st['pages_stored']} pages still stored after swapoff")
        sh.check(f"echo 1 > {DEV}/reset")
        out.check(sh.check(f"cat {DEV}/initstate").strip() == "0", "reset left it initialised")
        sh.check(f"echo {cfg.disksize} > {DEV}/disksize")
        st = sd.read_stats(sh, "ramzswap")
        out.check(st["mem_used_total"] == 0 and st["pages_stored"] == 0,
                  f"round {rounds}: after reset and init: mem_used_total "
                  f"{st['mem_used_total']}, pages_stored {st['pages_stored']}")
        sh.check(f"echo 1 > {DEV}/reset")
        rounds += 1
    sh.check("sync; echo 3 > /proc/sys/vm/drop_caches")
    avail1 = int(sh.check("awk '/^MemAvailable/ {print $2}' /proc/meminfo"))
    out.facts.update(rounds=rounds, scans=scans, mem_available_kib=(avail0, avail1))
    out.check(avail0 - avail1 < 16 << 10,
              f"MemAvailable fell by {(avail0 - avail1) >> 10} MiB over the soak")
    no_kernel_problems(sh, out)
    return out


# ---- sysfs fuzz -----------------------------------------------------------------------

# the errors the ABI (module/Documentation/ABI/testing/sysfs-block-ramzswap) gives each
# attribute; backing_swap also passes on whatever opening the path returned
FUZZ_ERRNOS = {
    "disksize": {"EINVAL", "EBUSY", "ENOMEM"},
    "memlimit": {"EINVAL", "EBUSY"},
    "backing_swap": None,
    "backing_write_limit": {"EINVAL"},
    "reset": {"EINVAL", "EBUSY"},
    "initstate": {"EACCES", "EPERM", "EIO"},
    "stats": {"EACCES", "EPERM", "EIO"},
}


def fuzz_phase(sh: sd.Shell, out: Outcome, script: str, size: Size, seed: int, phase: str,
               backing: str) -> None:
    res = sh.check(f"python3 {script} {DEV} {size.fuzz_writes} {seed} {phase} {backing}",
                   timeout=3600)
    report = json.loads(res.splitlines()[-1])
    out.check(set(report) == set(FUZZED_ATTRS), f"{phase}: attributes fuzzed: {sorted(report)}")
    out.facts[phase] = {a: {k: v for k, v in r.items() if k != "violations"}
                        for a, r in report.items()}
    for attr, r in report.items():
        out.tried += r["writes"]
        allowed = FUZZ_ERRNOS.get(attr)
        odd = {e: n for e, n in r["errnos"].items() if allowed is not None and e not in allowed}
        if odd:
            out.failed += sum(odd.values())
            out.note(f"{phase} {attr}: errors the ABI does not give: {odd}")
        if r["violations"]:
            out.failed += len(r["violations"])
            out.note(f"{phase} {attr}: rejected writes changed state: {r['violations'][:2]}")
        if attr in ("initstate", "stats") and r["accepted"]:
            out.failed += r["accepted"]
            out.note(f"{phase} {attr}: read-only, but {r['accepted']} writes were accepted")
        if phase == "active" and attr in ("disksize", "memlimit", "backing_swap", "reset") \
                and r["accepted"]:
            out.failed += r["accepted"]
            out.note(f"active {attr}: {r['accepted']} writes accepted while swap was on")


def self_backing_refused(sh: sd.Shell, out: Outcome, wait_s: float = 10.0) -> bool:
    """Writing the device's own node to its backing_swap must be refused, not hang; False
    (and the writer's kernel stack in the notes) when the writer never comes back: the
    device is then unusable and the fuzzing cannot go on."""
    pid = gp.start_background(sh, f"sh -c 'echo /dev/ramzswap0 > {DEV}/backing_swap'")
    deadline = time.monotonic() + wait_s
    while sh.run(f"[ -e /proc/{pid} ]").status == 0:
        if time.monotonic() > deadline:
            stack = sh.run(f"awk '{{print $3}}' /proc/{pid}/stat; cat /proc/{pid}/stack").output
            out.check(False, f"echo /dev/ramzswap0 > backing_swap of ramzswap0 never returned "
                             f"(state and kernel stack: {' '.join(stack.split())})")
            return False
        time.sleep(0.5)
    out.check(sh.check(f"cat {DEV}/backing_swap").strip() == "",
              "ramzswap0 took itself as its backing device")
    return True


def sysfs_fuzz(sh: sd.Shell, size: Size, seed: int = 1, backing: str = "/dev/vdb") -> Outcome:
    """Random writes to every attribute of an idle device, then of one in use as swap
    while rzscan runs: a rejected write changes nothing, nothing oopses, and the device
    works afterwards."""
    out = Outcome("sysfs_fuzz")
    sd.clean_slate(sh)
    gp.take_kernel_log(sh)
    script = gp.push_script(sh, "sysfsfuzz.py")
    sh.check("modprobe ramzswap")
    if not self_backing_refused(sh, out):
        return out
    fuzz_phase(sh, out, script, size, seed, "idle", backing)
    sh.check(f"echo 1 > {DEV}/reset")
    sh.check("echo 0 > /proc/sys/vm/page-cluster")
    sd.memcg(sh, GROUP, "24M")
    sd.setup(sh, "ramzswap", sd.SwapConfig("128M", "64M"))
    pid = gp.start_background(sh, sd.in_memcg(GROUP, sd.Scan("mixed", 64, 100000).command()))
    try:
        fuzz_phase(sh, out, script, size, seed + 1, "active", backing)
        out.check(sh.run(f"[ -e /proc/{pid} ]").status == 0,
                  "rzscan died while the attributes were fuzzed")
        out.check(int(sh.check("awk 'NR>1 {print $4}' /proc/swaps").split()[0]) > 0,
                  "swap was not in use during the fuzzing")
    finally:
        gp.kill(sh, "KILL", [pid] + gp.children(sh, pid))
        gp.wait_gone(sh, [pid])
        sd.empty_memcg(sh, GROUP)
    sd.teardown(sh, "ramzswap")
    sd.setup(sh, "ramzswap", sd.SwapConfig("128M", "64M"))
    scan_ok(out, run(sh, sd.Scan("mixed", 64, 2)), "mixed after the fuzzing")
    sd.teardown(sh, "ramzswap")
    no_kernel_problems(sh, out)
    return out


# ---- load/unload cycles ---------------------------------------------------------------

def load_unload(sh: sd.Shell, size: Size) -> Outcome:
    """Load with 1-4 devices (or device 0 set up by parameters), init, swap on a device,
    unload refused while it is swap, swap off, reset, unload; no memory left behind."""
    out = Outcome("load_unload")
    sd.clean_slate(sh)
    gp.take_kernel_log(sh)
    sd.memcg(sh, GROUP, "16M")
    sh.check("sync; echo 3 > /proc/sys/vm/drop_caches")
    avail0 = int(sh.check("awk '/^MemAvailable/ {print $2}' /proc/meminfo"))
    for i in range(size.cycles):
        n = 1 + i % 4
        by_params = i % 5 == 4
        params = f"num_devices={n}" + (" disksize_kb=65536 memlimit_kb=16384" if by_params
                                       else "")
        if not out.check(sh.run(f"modprobe ramzswap {params}").status == 0,
                         f"cycle {i}: modprobe ramzswap {params} failed"):
            continue
        devs = sh.check("ls -d /sys/block/ramzswap* | wc -l").strip()
        out.check(devs == str(n), f"cycle {i}: {devs} devices, not {n}")
        d = i % n
        ddir = sd.sysdir("ramzswap", d)
        if by_params:
            d, ddir = 0, sd.sysdir("ramzswap", 0)
            out.check(sh.check(f"cat {ddir}/initstate").strip() == "1",
                      f"cycle {i}: module parameters did not initialise ramzswap0")
        else:
            sh.check(f"echo 16M > {ddir}/memlimit && echo 64M > {ddir}/disksize")
        sh.check(f"mkswap /dev/ramzswap{d} >/dev/null && swapon /dev/ramzswap{d}")
        out.check(sh.run("rmmod ramzswap").status != 0,
                  f"cycle {i}: rmmod succeeded while ramzswap{d} was swap")
        if i % 3 == 0:
            res = run(sh, sd.Scan("mixed", 40, 1, seed=i))
            scan_ok(out, res, f"cycle {i}: mixed")
        sh.check(f"swapoff /dev/ramzswap{d}", timeout=600)
        st = sd.parse_stats("ramzswap", sh.check(f"cat {ddir}/stats"))
        out.check(st["pages_stored"] <= SWAP_HEADER_PAGES,
                  f"cycle {i}: {st['pages_stored']} pages stored after swapoff")
        sh.check(f"echo 1 > {ddir}/reset")
        out.check(sh.check(f"cat {ddir}/initstate").strip() == "0",
                  f"cycle {i}: still initialised after reset")
        out.check(sh.run("rmmod ramzswap").status == 0, f"cycle {i}: rmmod failed")
        out.check(sh.run("[ -e /sys/module/ramzswap ]").status != 0,
                  f"cycle {i}: the module is still there")
    sh.check("sync; echo 3 > /proc/sys/vm/drop_caches")
    avail1 = int(sh.check("awk '/^MemAvailable/ {print $2}' /proc/meminfo"))
    out.facts.update(cycles=size.cycles, mem_available_kib=(avail0, avail1))
    out.check(avail0 - avail1 < 8 << 10,
              f"MemAvailable fell by {(avail0 - avail1) >> 10} MiB over the cycles")
    no_kernel_problems(sh, out)
    return out


# ---- the runner -------------------------------------------------------------------------

SCENARIOS = ("backing_eio", "memlimit_exhaustion", "memlimit_vs_zram", "smp_stress", "soak",
             "sysfs_fuzz", "load_unload")


def run_all(arch: str, kernel: str, size: Size, logs: Path,
            log: Callable[[str], None] = print, manifest: Path | None = None,
            only: tuple[str, ...] = ()) -> list[Outcome]:
    """Every scenario, each in guests of its own (a crashed scenario counts as failed)."""
    plan: list[tuple[str, Callable[[booter.Booter], Outcome]]] = [
        ("backing_eio", lambda g: backing_eio(g.boot, size, logs / "eio")),
        ("memlimit_exhaustion", lambda g: memlimit_exhaustion(
            g.boot(append="ramzswap=off"), size)),
        ("memlimit_vs_zram", lambda g: memlimit_vs_zram(g.boot(append="ramzswap=off"), size)),
        ("smp_stress", lambda g: smp_stress(g.boot, size)),
        ("soak", lambda g: soak(g.boot(append="ramzswap=off"), size)),
        ("sysfs_fuzz", lambda g: sysfs_fuzz(g.boot(backing="64M", append="ramzswap=off"),
                                             size)),
        ("load_unload", lambda g: load_unload(g.boot(append="ramzswap=off"), size)),
    ]
    outcomes = []
    for name, fn in plan:
        if only and name not in only:
            continue
        t0 = time.monotonic()
        log(f"== {name} ({size.name})")
        try:
            with booter.booted(arch, kernel, logs / name, manifest) as g:
                o = fn(g)
        except (ConsoleError, QemuError, sd.GuestError, ValueError, KeyError) as e:
            o = Outcome(name)
            o.check(False, f"the scenario could not run to its end: {type(e).__name__}: "
                           f"{str(e)[:500]}")
        o.elapsed_s = time.monotonic() - t0
        log(f"{o}\n   ({o.elapsed_s:.0f} s)")
        outcomes.append(o)
    return outcomes


def markdown(arch: str, size: Size, outcomes: list[Outcome]) -> str:
    lines = [f"# Reliability ({arch}, {size.name} form: soak {size.soak_s / 60:.0f} min, "
             f"{size.fuzz_writes} fuzz writes per attribute and phase, {size.cycles} "
             "load/unload cycles)", "",
             "| scenario | tried | failed | time (s) | notes |", "| --- | --- | --- | --- | --- |"]
    for o in outcomes:
        notes = "; ".join(o.notes).replace("|", "\\|").replace("\n", " ") or "—"
        lines.append(f"| {o.scenario} | {o.tried} | {o.failed} | {o.elapsed_s:.0f} | "
                     f"{notes[:600]} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="rztools.bench.reliability",
                                 description=__doc__.split("\n")[0])
    booter.add_arguments(ap, OUT)
    ap.add_argument("--soak-minutes", type=float, default=os.environ.get("SOAK") or "10")
    ap.add_argument("--short", action="store_true", help="the sizes of the target tests")
    ap.add_argument("--only", default="", help="comma-separated scenarios (default: all)")
    a = booter.parse_args(ap, argv)
    only = booter.pick(ap.prog, a.only, SCENARIOS, "scenario")
    booter.at_least(ap.prog, a.soak_minutes, 0.5, "--soak-minutes (SOAK)")
    size = short_for(a.arch) if a.short else replace(LONG, soak_s=a.soak_minutes * 60)
    outcomes = run_all(a.arch, a.kernel, size, REPO / "out" / "logs" / "reliability",
                       lambda s: print(s, flush=True), a.manifest, only)
    a.out.mkdir(parents=True, exist_ok=True)
    (a.out / "summary.json").write_text(json.dumps([o.summary() for o in outcomes],
                                                   indent=2) + "\n")
    (a.out / "facts.json").write_text(json.dumps({o.scenario: o.facts for o in outcomes},
                                                 indent=2, default=str) + "\n")
    md = markdown(a.arch, size, outcomes)
    (a.out / "summary.md").write_text(md)
    print(md)
    return 1 if any(o.failed for o in outcomes) else 0


if __name__ == "__main__":
    sys.exit(main())
