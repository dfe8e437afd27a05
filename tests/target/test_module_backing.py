"""ramzswap.ko on the target, every arch: a backing partition that wears out or is pulled
out while the device swaps to it.

- every write to the backing disk fails (QEMU blkdebug): after failed writes on 16 slots
  the module gives the disk up, keeps pages in RAM within memlimit, says so once, and the
  workload finishes with every page verified;
- the backing disk is hot-unplugged (QMP device_del) mid-workload: no hang and no oops;
  pages that were on it fail their reads (the workers that needed them die of SIGBUS,
  counted in failed_reads), none comes back wrong, and what is swapped after it is kept
  in RAM and verified.

Each test boots its own guest: 256M, 2 vCPUs, a 512M backing disk, ramzswap=off.
"""

from __future__ import annotations

from harness import assert_no_kernel_problems
from rzmod import Rz, backing_disk, fresh, rzscan
from rztools.target import swapdevs as sd
from rztools.target.guestproc import take_kernel_log
from rztools.target.qemu import InjectError, blkdebug_config

GROUP = "rzbackingtest"
GIVEN_UP = "no more pages go to it"
SIGBUS = 7


def swap_with_backing(t, memlimit: str = "200M") -> Rz:
    """ramzswap0 as swap: 256M, memlimit @memlimit, the backing disk behind it."""
    rz = fresh(t)
    rz.setup("256M", memlimit, backing=backing_disk(t))
    rz.swapon()
    t.check("echo 0 > /proc/sys/vm/page-cluster")
    sd.memcg(t, GROUP, "24M")
    take_kernel_log(t)
    return rz


def test_a_backing_disk_failing_every_write_is_given_up(boot, tmp_path):
    """256M guest, memlimit 200M, every backing write failing: before, each retry of a
    failed slot was forwarded again (millions of failed writes in seconds, the workload
    killed); now 16 slots' failures give the disk up and RAM takes the pages."""
    conf = tmp_path / "blkdebug.conf"
    conf.write_text(blkdebug_config([InjectError("write", None)]))
    t = boot(mem="256M", smp=2, backing="512M", append="ramzswap=off", blkdebug=conf)
    rz = swap_with_backing(t)
    assert rz.backing_state() == "ok"

    # random pages do not compress: each one is meant for the backing disk
    res = rzscan(t, sd.Scan("random", 64, passes=2, workers=2, seed=3), GROUP)
    assert res.verified, res.output

    st = rz.stats()
    assert rz.backing_state() == "failed", st
    assert st["failed_writes"] >= 16, st
    # the writes sent before the failures came back, and no more: not one per retry
    assert st["bdev_num_writes"] < 16 + 256, st
    assert st["pages_expand"] > 0 and st["mem_used_total"] <= 200 << 20, st
    log = take_kernel_log(t)
    assert log.count(GIVEN_UP) == 1, log
    assert "failed writes to 16 slots" in log

    # given up, it stays so: another workload never touches the disk
    res = rzscan(t, sd.Scan("random", 48, passes=2, workers=2, seed=4), GROUP)
    assert res.verified, res.output
    assert rz.stats()["bdev_num_writes"] == st["bdev_num_writes"]
    assert GIVEN_UP not in take_kernel_log(t)
    assert_no_kernel_problems(t)

    # reset forgets it: the device starts again without a backing disk
    sd.clean_slate(t)
    rz = fresh(t)
    assert rz.backing_state() == "none"


def test_a_backing_disk_pulled_out_mid_workload(boot):
    t = boot(mem="256M", smp=2, backing="512M", append="ramzswap=off", hotplug=True)
    rz = swap_with_backing(t)
    disk = backing_disk(t)

    # a workload in the background; once pages are going to the disk, pull it out
    scan = sd.Scan("random", 64, passes=4, workers=2, seed=5)
    t.check(f"({sd.scan_line(scan, GROUP)}) > /tmp/scan.out & echo $! > /tmp/scan.pid")
    t.check("i=0; while [ $(awk '/^bdev_num_writes/ {print $2}' "
            f"{rz.sys}/stats) -lt 200 ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done",
            timeout=120)
    assert rz.stats()["bdev_num_writes"] >= 200, "the workload sent nothing to the disk"
    t.unplug_backing()
    t.check(f"i=0; while [ -e {disk} ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done")
    assert t.run(f"test -e {disk}").status != 0, f"{disk} is still there"

    res = t.run("wait $(cat /tmp/scan.pid); echo status $?", timeout=900)
    out = t.check("cat /tmp/scan.out")
    report = sd.parse_rzscan(out) if "{" in out else None
    st = rz.stats()
    # no page came back wrong; a worker whose page was on the pulled disk died of its
    # failed read, and each such death is a counted failed read
    assert report is None or report["mismatches"] == 0, out
    killed = out.count(f"killed by signal {SIGBUS}")
    assert killed <= st["failed_reads"], (out, st)
    assert "status" in res.output
    assert rz.backing_state() == "removed", st
    log = take_kernel_log(t)
    assert log.count(GIVEN_UP) == 1 and "was removed" in log, log

    # after it: every page stays in RAM and comes back right
    writes = st["bdev_num_writes"]
    res = rzscan(t, sd.Scan("random", 48, passes=2, workers=2, seed=6), GROUP)
    assert res.verified, res.output
    assert rz.stats()["bdev_num_writes"] == writes
    assert_no_kernel_problems(t)
