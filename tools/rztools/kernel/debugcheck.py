"""make check-debug: the module on a debug kernel (lockdep, KASAN, UBSAN, kmemleak,
fault injection), as kernel engineers test a driver before they trust it.

    python -m rztools.kernel.debugcheck [--arch x86_64,aarch64] [--skip-tests]

For each arch: builds the debug kernel (cached) and an image of the test image's
root with this kernel's modules and ramzswap.ko; runs the module's target tests
and the short reliability scenarios on it; then, in a guest of its own, aims
failslab and fail_page_alloc at the module's own allocations during swap (a stack
filter on the module's code) and fail_make_request at the backing disk, with a
verified workload each time; then asks kmemleak.  Every console log is read for
reports.  Writes out/check-debug/<arch>/summary.{json,md} and
out/check-debug/summary.{json,md}; exits 0 only when nothing was reported, every
test passed, every workload was verified and the counters agree with what fired.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

from ..arches import UnknownTarget, lookup
from ..cache import BuildError
from ..progress import note, step
from ..target import kreports, swapdevs
from ..target.booter import refuse
from ..target.console import ConsoleError
from ..target.qemu import Machine, QemuError, Vm, backing_file, choose_accel
from ..target.shell import Shell
from . import debug as debugkernel

REPO = Path(__file__).resolve().parents[3]
OUT = REPO / "out" / "check-debug"
# the debug kernel under TCG runs the same commands many times slower
DEFAULT_SCALE = 6.0
TESTS = ["tests/target/test_module_control.py", "tests/target/test_module_swap.py",
         "tests/target/test_module_smp.py", "tests/target/test_module_backing.py",
         "tests/target/test_module_writeback.py",
         "tests/target/test_reliability.py"]
# The tests' smallest guests (80M, 104M) never got past the firmware with this kernel:
# it is several times the size of a stock one, and KASAN keeps an eighth of RAM as its
# shadow.  Every guest gets at least this.
MIN_MEM = "256M"
DEBUGFS = "/sys/kernel/debug"
FAULT_TIMES = 3000
WORKLOAD = swapdevs.Scan("mixed", 96, passes=2, seed=7)
MEMCG, MEMCG_LIMIT = "debugcheck", "40M"


class CheckFailed(RuntimeError):
    pass


# ---- the target tests ----------------------------------------------------------------

def junit_counts(xml_text: str) -> dict:
    """passed/failed/skipped and the failed tests' names from pytest's junit XML."""
    root = ET.fromstring(xml_text)
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    passed = failed = skipped = 0
    names = []
    for suite in suites:
        for case in suite.iter("testcase"):
            if case.find("failure") is not None or case.find("error") is not None:
                failed += 1
                names.append(f"{case.get('classname')}::{case.get('name')}")
            elif case.find("skipped") is not None:
                skipped += 1
            else:
                passed += 1
    return {"passed": passed, "failed": failed, "skipped": skipped, "failed_names": names}


def run_tests(arch: str, images: Path, out: Path, scale: float) -> dict:
    junit = out / "junit.xml"
    junit.unlink(missing_ok=True)
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *TESTS,
           "--images", str(images), "--arch", arch, "--timeout-scale", str(scale),
           "--min-mem", MIN_MEM,
           f"--junitxml={junit}"]
    with step(f"module target tests on the {arch} debug kernel"):
        res = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True,
                             env={**os.environ, "PYTHONPATH": str(REPO / "tools")})
    (out / "pytest.log").write_text(res.stdout + res.stderr)
    if not junit.exists():
        tail = "\n".join((res.stdout + res.stderr).strip().splitlines()[-15:])
        raise CheckFailed(f"pytest left no junit report (exit {res.returncode}):\n{tail}")
    counts = junit_counts(junit.read_text())
    note(f"tests: {counts['passed']} passed, {counts['failed']} failed, "
         f"{counts['skipped']} skipped (log: {out / 'pytest.log'})")
    return counts


# ---- fault injection in a guest of our own ---------------------------------------------

def fault_lines(name: str, settings: dict[str, str | int]) -> str:
    """One shell line writing a fault_attr's debugfs settings, in the given order."""
    d = f"{DEBUGFS}/{name}"
    return " && ".join(f"echo {v} > {d}/{k}" for k, v in settings.items())


def aim_at_module(lo: int, hi: int, times: int) -> dict[str, dict[str, str | int]]:
    """failslab and fail_page_alloc settings failing only allocations whose call stack
    passes through the module's code, sleeping or not, highmem or not."""
    common: dict[str, str | int] = {
        "interval": 1, "verbose": 0, "space": 0,
        "task-filter": "N", "stacktrace-depth": 32,
        "require-start": lo, "require-end": hi, "reject-start": 0, "reject-end": 0,
        "ignore-gfp-wait": "N"}
    # armed last, once the filter is in place
    arm: dict[str, str | int] = {"times": times, "probability": 10}
    slab = {**common, "cache-filter": "N", **arm}
    page = {**common, "ignore-gfp-highmem": "N", "min-order": 0, **arm}
    return {"failslab": slab, "fail_page_alloc": page}


def fired(sh: Shell, name: str, times: int) -> int:
    left = int(sh.check(f"cat {DEBUGFS}/{name}/times").strip())
    return times - max(left, 0)


def disarm(sh: Shell, name: str) -> None:
    sh.run(f"echo 0 > {DEBUGFS}/{name}/probability; echo 0 > {DEBUGFS}/{name}/times")


def workload(sh: Shell, scale: float) -> swapdevs.ScanResult:
    swapdevs.memcg(sh, MEMCG, MEMCG_LIMIT)
    res = swapdevs.run_scan(sh, WORKLOAD, MEMCG, timeout=1800 * scale)
    swapdevs.empty_memcg(sh, MEMCG)
    return res


def alloc_faults(sh: Shell, scale: float) -> dict:
    """The module's own allocations fail at random while it swaps."""
    swapdevs.clean_slate(sh)
    swapdevs.setup(sh, "ramzswap", swapdevs.SwapConfig("256M"))
    # only the module's lines: all of kallsyms is a hundred thousand lines of console
    lo, hi = debugkernel.module_text_range(sh.check("grep -F '[ramzswap]' /proc/kallsyms"))
    plan = aim_at_module(lo, hi, FAULT_TIMES)
    for name, settings in plan.items():
        sh.check(fault_lines(name, settings))
    try:
        res = workload(sh, scale)
    finally:
        counts = {name: fired(sh, name, FAULT_TIMES) for name in plan}
        for name in plan:
            disarm(sh, name)
    st = swapdevs.read_stats(sh, "ramzswap")
    swapdevs.teardown(sh, "ramzswap")
    verified = res.verified
    # every write the module failed is explained by an allocation that was made to fail
    agree = st["failed_writes"] <= sum(counts.values()) and st["failed_reads"] == 0
    return {"failslab": counts["failslab"], "fail_page_alloc": counts["fail_page_alloc"],
            "verified": verified, "agree": agree and sum(counts.values()) > 0,
            "stats": {k: st[k] for k in ("num_writes", "failed_writes", "failed_reads",
                                         "pages_stored")},
            "scan": res.report}


def backing_faults(sh: Shell, disk: str, scale: float) -> dict:
    """Requests to the backing disk fail at random (fail_make_request) while the
    module forwards incompressible pages to it."""
    swapdevs.clean_slate(sh)
    swapdevs.setup(sh, "ramzswap", swapdevs.SwapConfig("128M", memlimit="8M", backing=disk))
    name = disk.removeprefix("/dev/")
    sh.check(f"echo 1 > /sys/block/{name}/make-it-fail")
    sh.check(fault_lines("fail_make_request", {
        "interval": 1, "verbose": 0, "space": 0, "task-filter": "N",
        "times": FAULT_TIMES, "probability": 5}))
    scan = swapdevs.Scan("random", 64, passes=2, seed=11)
    try:
        swapdevs.memcg(sh, MEMCG, MEMCG_LIMIT)
        res = swapdevs.run_scan(sh, scan, MEMCG, timeout=1800 * scale)
        swapdevs.empty_memcg(sh, MEMCG)
    finally:
        count = fired(sh, "fail_make_request", FAULT_TIMES)
        disarm(sh, "fail_make_request")
        sh.run(f"echo 0 > /sys/block/{name}/make-it-fail")
    st = swapdevs.read_stats(sh, "ramzswap")
    swapdevs.teardown(sh, "ramzswap")
    verified, agree = backing_verdict(res, st, count)
    return {"fail_make_request": count, "verified": verified, "agree": agree,
            "stats": {k: st[k] for k in ("bdev_num_writes", "bdev_num_reads",
                                         "failed_writes", "failed_reads")},
            "scan": res.report, "status": res.status}


def backing_verdict(res: swapdevs.ScanResult, st: dict[str, int],
                    fired_count: int) -> tuple[bool, bool]:
    """(verified, agree) for the failing backing disk.

    Verified: rzscan never saw wrong data, and a worker it lost was killed (SIGBUS) for
    a page whose read from the backing disk failed, never for anything else.  Agree:
    every request that fail_make_request failed was counted once by the module, as a
    failed write or a failed read: nothing else sends requests to that disk."""
    report = res.report or {}
    lost = int(report.get("failed_workers", 0))
    verified = bool(res.report) and res.mismatches == 0 and (
        res.status == 0 or 0 < lost <= st["failed_reads"])
    failures = st["failed_reads"] + st["failed_writes"]
    agree = fired_count > 0 and failures == fired_count and st["bdev_num_writes"] > 0
    return verified, agree


def leaks(sh: Shell) -> str:
    """kmemleak's findings after the module was used and unloaded: two scans (an object
    must stay unreferenced across a scan to be reported), then read."""
    swapdevs.clean_slate(sh)
    sh.run(f"echo scan > {DEBUGFS}/kmemleak", timeout=600)
    time.sleep(6)
    sh.run(f"echo scan > {DEBUGFS}/kmemleak", timeout=600)
    return sh.run(f"cat {DEBUGFS}/kmemleak", timeout=120).output


def run_faults(arch: str, images: Path, out: Path, scale: float) -> tuple[dict, dict]:
    m = Machine.from_buildroot(images, arch)
    m.mem, m.smp = "512M", 2
    logs = out / "logs"
    m.backing = backing_file("256M", logs)
    m.accel = choose_accel(m, os.environ.get("ACCEL", "tcg"))
    injected: dict[str, dict] = {}
    checks: dict[str, bool] = {}
    with Vm(m, logs, f"{arch}-faults", scale) as vm:
        sh = vm.start(boot_timeout=600)
        # leaks before the module's first unload and re-load are the kernel's own
        sh.run(f"echo clear > {DEBUGFS}/kmemleak")
        disk = "/dev/" + sh.check("grep -l '^rzbacking$' /sys/block/vd*/serial"
                                  ).splitlines()[0].split("/")[3]
        with step("failslab and fail_page_alloc on the module's allocations while swapping"):
            a = alloc_faults(sh, scale)
        injected["failslab"] = {"fired": a["failslab"],
                                "notes": "stack filter: only calls from ramzswap's code"}
        injected["fail_page_alloc"] = {"fired": a["fail_page_alloc"],
                                       "notes": f"module stats {a['stats']}"}
        checks["alloc_faults_verified"] = a["verified"]
        checks["alloc_faults_agree"] = a["agree"]
        with step("fail_make_request on the backing disk while forwarding"):
            b = backing_faults(sh, disk, scale)
        injected["fail_make_request"] = {"fired": b["fail_make_request"],
                                         "notes": f"module stats {b['stats']}"}
        checks["backing_faults_verified"] = b["verified"]
        checks["backing_faults_agree"] = b["agree"]
        with step("kmemleak scan after unloading the module"):
            found = leaks(sh)
        (out / "kmemleak.txt").write_text(found)
        vm.poweroff(120)
    (out / "faults.json").write_text(json.dumps({"alloc": a, "backing": b}, indent=2) + "\n")
    return injected, checks


# ---- one arch, and the whole run -------------------------------------------------------

def console_logs(since: float) -> list[Path]:
    """The console logs the run's guests wrote."""
    return sorted(p for p in (REPO / "out").rglob("*.console.log")
                  if p.stat().st_mtime >= since)


def check_arch(arch_name: str, scale: float, skip_tests: bool) -> dict:
    arch, _ = lookup(arch_name, "6.1")
    out = OUT / arch.name
    out.mkdir(parents=True, exist_ok=True)
    start = time.time()
    kernel = debugkernel.build_kernel(arch)
    images = debugkernel.build_image(kernel, out)
    wanted = [f"CONFIG_{o}" for o in debugkernel.wanted_options(arch)]
    debug_opts = [o for o in wanted if o in {f"CONFIG_{x}" for x in DEBUG_OPTIONS}]
    options = kreports.config_options(kernel.config.read_text(), debug_opts)
    tests = ({"passed": 0, "failed": 0, "skipped": 0, "failed_names": [], "not_run": True}
             if skip_tests else run_tests(arch.name, images, out, scale))
    injected, checks = run_faults(arch.name, images, out, scale)
    logs = console_logs(start)
    found = [r for log in logs
             for r in kreports.reports(log.read_text(errors="replace"), log.name)]
    found += kreports.reports((out / "kmemleak.txt").read_text(), "kmemleak")
    reports = kreports.tally(found)
    ok = (kreports.clean(reports) and tests["failed"] == 0 and all(checks.values())
          and (skip_tests or tests["passed"] > 0))
    summary = {"ok": ok,
               "kernel": {"release": kernel.release, "arch": arch.name, "options": options},
               "tests": tests, "injected": injected, "checks": checks, "reports": reports,
               "logs": [str(p.relative_to(REPO)) for p in logs]}
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    (out / "summary.md").write_text(kreports.markdown(summary))
    return summary


DEBUG_OPTIONS = ("PREEMPT", "DEBUG_PREEMPT", "PROVE_LOCKING", "DEBUG_ATOMIC_SLEEP",
                 "PROVE_RCU", "DEBUG_OBJECTS_RCU_HEAD", "SLUB_DEBUG_ON", "DEBUG_PAGEALLOC",
                 "KASAN", "KASAN_GENERIC", "UBSAN", "DEBUG_KMEMLEAK", "FAULT_INJECTION",
                 "FAILSLAB", "FAIL_PAGE_ALLOC", "FAIL_MAKE_REQUEST",
                 "FAULT_INJECTION_STACKTRACE_FILTER")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="rztools.kernel.debugcheck",
                                 description=__doc__.split("\n")[0])
    ap.add_argument("--arch", default=os.environ.get("DEBUG_ARCHS") or "x86_64,aarch64",
                    help="comma-separated: x86_64, aarch64 (default both)")
    ap.add_argument("--skip-tests", action="store_true",
                    help="only the fault injection and kmemleak (quicker)")
    ap.add_argument("--timeout-scale", type=float,
                    default=float(os.environ.get("RZ_TIMEOUT_SCALE") or DEFAULT_SCALE))
    a = ap.parse_args(argv)
    arches = [x for x in a.arch.split(",") if x]
    for name in arches:
        if name not in debugkernel.BOARD:
            refuse("check-debug", f"no debug kernel for {name!r} "
                   f"(choose from {', '.join(debugkernel.BOARD)})")
    if not a.timeout_scale > 0:
        refuse("check-debug", f"timeout scale must be positive, not {a.timeout_scale:g}")
    OUT.mkdir(parents=True, exist_ok=True)
    runs = []
    try:
        for name in arches:
            runs.append(check_arch(name, a.timeout_scale, a.skip_tests))
    except (BuildError, CheckFailed, QemuError, ConsoleError, UnknownTarget,
            swapdevs.GuestError) as e:
        print(f"check-debug: FAILED: {e}", file=sys.stderr)
        return 1
    ok = all(r["ok"] for r in runs)
    (OUT / "summary.json").write_text(json.dumps({"ok": ok, "runs": runs}, indent=2) + "\n")
    (OUT / "summary.md").write_text("\n".join(kreports.markdown(r) for r in runs))
    for r in runs:
        counts = ", ".join(f"{k} {v['count']}" for k, v in r["reports"].items())
        fired_ = ", ".join(f"{k} {v['fired']}" for k, v in r["injected"].items())
        k, t = r["kernel"], r["tests"]
        print(f"check-debug: {k['arch']} {k['release']}: tests {t['passed']} passed, "
              f"{t['failed']} failed; injected {fired_}; reports: {counts}; "
              f"{'clean' if r['ok'] else 'NOT clean'}", file=sys.stderr)
    print(f"check-debug: {'OK' if ok else 'FAILED'} (summary: {OUT / 'summary.md'})",
          file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

