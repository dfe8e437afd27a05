"""make check-debug's pure parts: what counts as a report of each kind, the debug
kernel's config check, the fault-injection settings and the test counts."""

import pytest
from rztools.arches import ARCHES
from rztools.kernel import debug as debugkernel
from rztools.kernel import debugcheck as checkdebug
from rztools.target import kreports
from rztools.target.guestproc import kernel_problems

# reports as the debug kernel prints them on the console (timestamps included)
KASAN = """[   12.345678] ==================================================================
[   12.345679] BUG: KASAN: slab-use-after-free in rz_read_slot+0x1a4/0x3c0 [ramzswap]
[   12.345680] Read of size 8 at addr ffff888003a1c2c8 by task rzscan/123
[   12.345681] CPU: 1 UID: 0 PID: 123 Comm: rzscan Not tainted 6.12.95 #1
[   12.345682] Call Trace:
"""
LOCKDEP = """[   20.100000] ======================================================
[   20.100001] WARNING: possible circular locking dependency detected
[   20.100002] 6.12.95 #1 Not tainted
[   20.100003] ------------------------------------------------------
[   20.100004] sh/88 is trying to acquire lock:
"""
RCU = "[    9.000000] WARNING: suspicious RCU usage\n"
UBSAN = "[    5.000000] UBSAN: shift-out-of-bounds in xvmalloc.c:120:9\n"
KMEMLEAK = """unreferenced object 0xffff888004c8e000 (size 4096):
  comm "insmod", pid 150, jiffies 4294893000
  hex dump (first 32 bytes):
"""
SLEEP = ("[    3.200000] BUG: sleeping function called from invalid context at "
         "mm/slab.h:123\n")
WARN = """[    4.000000] ------------[ cut here ]------------
[    4.000001] WARNING: CPU: 1 PID: 200 at ramzswap_drv.c:123 rz_write+0x10/0x20 [ramzswap]
"""
OOPS = """[    6.000000] BUG: kernel NULL pointer dereference, address: 0000000000000008
[    6.000001] #PF: supervisor write access in kernel mode
[    6.000002] Oops: 0002 [#1] PREEMPT SMP KASAN
"""
OOM = """[    7.000000] rzscan invoked oom-killer: gfp_mask=0x140cca, order=0, oom_score_adj=0
[    7.000001] Call Trace:
[    7.000002] Memory cgroup out of memory: Killed process 99 (rzscan)
"""
QUIET = """[    1.000000] Linux version 6.12.95 (root@build) #1 SMP PREEMPT
[    1.500000] ramzswap: device 0 initialised, 65536 pages
[    2.000000] kmemleak: Kernel memory leak detector initialized (mem pool available: 39000)
[    2.100000] KASAN: enabled
"""


@pytest.mark.parametrize("text,kind", [
    (KASAN, "kasan"), (LOCKDEP, "lockdep"), (RCU, "lockdep"), (UBSAN, "ubsan"),
    (KMEMLEAK, "kmemleak"), (SLEEP, "might_sleep"), (WARN, "warn"), (OOPS, "bug"),
])
def test_each_report_is_counted_once_under_its_kind(text, kind):
    found = kreports.reports(QUIET + text + QUIET, "vm.console.log")
    assert [r.kind for r in found] == [kind]
    tally = kreports.tally(found)
    assert tally[kind]["count"] == 1 and not kreports.clean(tally)
    first = tally[kind]["first"][0]["lines"][0]
    assert kreports.kind_of(first) == kind and not first.startswith("[")
    assert sum(v["count"] for v in tally.values()) == 1


HUNG = """[  120.000000] INFO: task kworker/0:1:12 blocked for more than 120 seconds.
[  120.000001] Call Trace:
[  120.000002]  <TASK>
"""
LONG_WARN = WARN + "".join(f"[    4.{i:06d}] R{i:02d}: 0000000000000000\n" for i in range(20)) \
    + "[    4.100000] Call Trace:\n[    4.100001] ---[ end trace 0000000000000000 ]---\n"


@pytest.mark.parametrize("text", [QUIET, QUIET + OOM, KASAN, LOCKDEP, RCU, UBSAN, SLEEP, WARN,
                                  OOPS, HUNG, LONG_WARN, KASAN + WARN + OOM + UBSAN])
def test_clean_here_exactly_when_the_target_tests_check_finds_nothing(text):
    """One judge of kernel trouble: what the tests' check flags, this counts."""
    found = kreports.reports(text, "vm")
    assert kreports.clean(kreports.tally(found)) == (kernel_problems(text) == [])


def test_a_report_is_one_report_however_long():
    found = kreports.reports(LONG_WARN + QUIET + HUNG, "vm")
    assert [r.kind for r in found] == ["warn", "other"]


def test_a_quiet_log_and_the_oom_killer_are_clean():
    assert kreports.clean(kreports.tally(kreports.reports(QUIET + OOM, "vm")))


def test_a_report_keeps_its_first_lines_without_timestamps():
    (r,) = kreports.reports(KASAN, "vm")
    assert r.lines[0] == "BUG: KASAN: slab-use-after-free in rz_read_slot+0x1a4/0x3c0 [ramzswap]"
    assert r.lines[1].startswith("Read of size 8")


def test_the_config_check_names_each_option_not_as_asked():
    wanted = {"KASAN": "y", "NR_CPUS": "8", "ZSWAP": "n", "CMDLINE": "a b"}
    config = 'CONFIG_NR_CPUS=4\nCONFIG_CMDLINE="a b"\n# CONFIG_ZSWAP is not set\n'
    assert debugkernel.not_as_asked(wanted, config) == ["CONFIG_KASAN=y (got n)",
                                                        "CONFIG_NR_CPUS=8 (got 4)"]
    assert debugkernel.not_as_asked(wanted, config + "CONFIG_KASAN=y\nCONFIG_NR_CPUS=8\n") \
        == []


def test_the_fragments_ask_for_every_submit_checklist_option():
    for arch in ("x86_64", "aarch64"):
        wanted = debugkernel.wanted_options(ARCHES[arch])
        for option in checkdebug.DEBUG_OPTIONS:
            assert wanted.get(option) == "y", (arch, option)


def test_faults_are_aimed_at_the_module_text_only():
    kallsyms = ("ffffffff81000000 T _text\n"
                "ffffffffc0002000 t rz_write\t[ramzswap]\n"
                "ffffffffc0001000 T rz_init\t[ramzswap]\n"
                "ffffffffc0009000 d rz_data\t[ramzswap]\n"
                "ffffffffc0100000 t other\t[virtio_blk]\n")
    lo, hi = debugkernel.module_text_range(kallsyms)
    assert (lo, hi) == (0xFFFFFFFFC0001000, 0xFFFFFFFFC0002000 + 4096)
    plan = checkdebug.aim_at_module(lo, hi, 100)
    for name in ("failslab", "fail_page_alloc"):
        s = plan[name]
        assert (s["require-start"], s["require-end"]) == (lo, hi)
        assert s["ignore-gfp-wait"] == "N" and s["times"] == 100 and s["probability"] > 0
        line = checkdebug.fault_lines(name, s)
        # times and probability are written last: the filter is in place before it fires
        assert line.index("require-end") < line.index("probability") > line.index("times")
    assert plan["fail_page_alloc"]["ignore-gfp-highmem"] == "N"
    with pytest.raises(debugkernel.BuildError):
        debugkernel.module_text_range("0000000000000000 t rz_write\t[ramzswap]\n")


def test_junit_counts():
    xml = ("<testsuites><testsuite name='pytest'>"
           "<testcase classname='a' name='t1'/>"
           "<testcase classname='a' name='t2'><failure message='x'/></testcase>"
           "<testcase classname='b' name='t3'><skipped/></testcase>"
           "<testcase classname='b' name='t4'><error message='y'/></testcase>"
           "</testsuite></testsuites>")
    assert checkdebug.junit_counts(xml) == {"passed": 1, "failed": 2, "skipped": 1,
                                            "failed_names": ["a::t2", "b::t4"]}


def test_summary_markdown_names_kernel_tests_faults_and_reports():
    found = kreports.reports(UBSAN, "x86_64-faults.console.log")
    summary = {"ok": False,
               "kernel": {"release": "6.12.95", "arch": "x86_64", "options": {"CONFIG_KASAN": "y"}},
               "tests": {"passed": 3, "failed": 0, "failed_names": []},
               "injected": {"failslab": {"fired": 12, "notes": "stack filter"}},
               "reports": kreports.tally(found)}
    md = kreports.markdown(summary)
    assert "NOT clean" in md and "`CONFIG_KASAN=y`" in md and "| failslab | 12 |" in md
    assert "| ubsan | 1 |" in md and "UBSAN: shift-out-of-bounds" in md


def test_the_debug_kernel_takes_the_modules_needs_from_its_package():
    from rztools.kernel.fragments import fragment_text, package_fixups, parse_fragment
    mk = ("define RAMZSWAP_LINUX_CONFIG_FIXUPS\n"
          "\t$(call KCONFIG_ENABLE_OPT,CONFIG_SWAP)\n"
          "\t$(call KCONFIG_DISABLE_OPT,CONFIG_ZSWAP)\n"
          "\t$(call KCONFIG_SET_OPT,CONFIG_NR_CPUS,8)\n"
          "endef\n")
    wanted = package_fixups(mk)
    assert wanted == {"SWAP": "y", "ZSWAP": "n", "NR_CPUS": "8"}
    assert parse_fragment(fragment_text(wanted)) == wanted
    for arch in ("x86_64", "aarch64"):
        merged = debugkernel.wanted_options(ARCHES[arch])
        for option in ("MODULES", "MODULE_UNLOAD", "SWAP", "CRYPTO_LZ4"):
            assert merged[option] == "y", (arch, option)


def test_a_failing_backing_disk_is_judged_by_what_rzscan_and_the_module_say():
    from rztools.target.swapdevs import ScanResult
    st = {"failed_reads": 1, "failed_writes": 334, "bdev_num_writes": 6836}
    lost_one = ScanResult(3, {"mismatches": 0, "failed_workers": 1}, "")
    assert checkdebug.backing_verdict(lost_one, st, 335) == (True, True)
    # a count that does not add up, a worker lost without a failed read, wrong data
    assert checkdebug.backing_verdict(lost_one, st, 336) == (True, False)
    assert checkdebug.backing_verdict(lost_one, {**st, "failed_reads": 0}, 334)[0] is False
    wrong = ScanResult(1, {"mismatches": 2, "failed_workers": 0}, "")
    assert checkdebug.backing_verdict(wrong, st, 335)[0] is False
    assert checkdebug.backing_verdict(ScanResult(137, None, ""), st, 335)[0] is False
