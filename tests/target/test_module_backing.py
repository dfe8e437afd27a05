"""ramzswap.ko on the target, every arch: a backing partition that wears out or is pulled
out while the device swaps to it.

- every write to the backing disk fails (QEMU blkdebug): after two of the disk's largest
  requests' worth of writes failing in a row (plus 16) the module gives the disk up, keeps
  pages in RAM within memlimit, says so once, and the workload finishes with every page
  verified;
- pages freed on the device are trimmed on the backing disk within a second, and reset
  clears every page the device wrote there: swapped data does not stay on the partition;
- the backing disk is hot-unplugged (QMP device_del) mid-workload: no hang and no oops;
  pages that were on it fail their reads (the workers that needed them die of SIGBUS,
  counted in failed_reads), none comes back wrong, and what is swapped after it is kept
  in RAM and verified.

Each test boots its own guest: 256M (384M for the failing disk), 2 vCPUs, a 512M backing
disk, ramzswap=off.
"""

from __future__ import annotations

import json

import pytest
from harness import assert_no_kernel_problems
from rzmod import IO_SCRIPT, ZERO_DIGEST, Rz, backing_disk, digests, fresh, install_io, rzscan
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


def fail_limit(t) -> int:
    """Forwarded writes failing in a row that give the backing disk up: two of its
    largest requests (a bad block fails every page merged with it) and 16 pages."""
    name = backing_disk(t).rsplit("/", 1)[-1]
    max_kb = int(t.check(f"cat /sys/block/{name}/queue/max_sectors_kb"))
    return 16 + 2 * (max_kb // 4)


def test_a_backing_disk_failing_every_write_is_given_up(boot, tmp_path):
    """memlimit 200M, every backing write failing: before, each retry of a
    failed slot was forwarded again (millions of failed writes in seconds, the workload
    killed); now failures in a row give the disk up and RAM takes the pages."""
    conf = tmp_path / "blkdebug.conf"
    conf.write_text(blkdebug_config([InjectError("write", None)]))
    # 384M: RAM holds the 40M the workload swaps, raw, beside the kernel's own objects,
    # and on the debug kernel those (debug objects, KASAN's quarantine of failed bios)
    # take 70M of the 123M a 256M guest leaves it; memory pressure comes from the cgroup
    t = boot(mem="384M", smp=2, backing="512M", append="ramzswap=off", blkdebug=conf)
    rz = swap_with_backing(t)
    assert rz.backing_state() == "ok"
    limit = fail_limit(t)

    # random pages do not compress: each one is meant for the backing disk
    res = rzscan(t, sd.Scan("random", 64, passes=2, workers=2, seed=3), GROUP)
    assert res.verified, res.output

    st = rz.stats()
    assert rz.backing_state() == "failed", st
    assert st["failed_writes"] >= limit, (limit, st)
    # a failed slot is never forwarded again: at most one write per slot of the device
    # (65536), all of them failed, against millions, one per retry, before; how many
    # were on their way when the last failure came back depends on the machine's speed
    # (27 on a stock kernel, 3571 on the debug kernel)
    assert st["bdev_num_writes"] == st["failed_writes"] <= (256 << 20) // 4096, st
    # RAM held the pages instead (gone again now that the workload has exited), within
    # memlimit
    assert 16 << 20 <= st["mem_used_max"] <= 200 << 20, st
    log = take_kernel_log(t)
    assert log.count(GIVEN_UP) == 1, log
    assert f"failed {limit} writes in a row" in log, log

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

    # a workload in the background; once pages are going to the disk, pull it out.  It
    # is detached from the console's shell (a double fork): busybox's line editor takes
    # the SIGCHLD of a job that ends while it waits at the prompt for end of input, and
    # the login shell would exit
    scan = sd.Scan("random", 64, passes=4, workers=2, seed=5)
    t.check(f"( ( {sd.scan_line(scan, GROUP)} > /tmp/scan.out; echo $? > /tmp/scan.rc ) & )")
    t.check("i=0; while [ $(awk '/^bdev_num_writes/ {print $2}' "
            f"{rz.sys}/stats) -lt 200 ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done",
            timeout=120)
    assert rz.stats()["bdev_num_writes"] >= 200, "the workload sent nothing to the disk"
    t.unplug_backing()
    t.check(f"i=0; while [ -e {disk} ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done")
    assert t.run(f"test -e {disk}").status != 0, f"{disk} is still there"

    t.check("i=0; while [ ! -e /tmp/scan.rc ] && [ $i -lt 9000 ]; do sleep 0.1; "
            "i=$((i+1)); done; cat /tmp/scan.rc", timeout=960)
    out = t.check("cat /tmp/scan.out")
    report = sd.parse_rzscan(out) if "{" in out else None
    st = rz.stats()
    # no page came back wrong; a worker whose page was on the pulled disk died of its
    # failed read, and each such death is a counted failed read
    assert report is not None and report["mismatches"] == 0, out
    killed = out.count(f"killed by signal {SIGBUS}")
    assert killed <= st["failed_reads"], (out, st)

    # after it: the next page meant for the disk finds it gone; every page stays in RAM
    # and comes back right
    writes = st["bdev_num_writes"]
    res = rzscan(t, sd.Scan("random", 48, passes=2, workers=2, seed=6), GROUP)
    assert res.verified, res.output
    st = rz.stats()
    assert st["bdev_num_writes"] == writes, st
    assert rz.backing_state() == "removed", st
    log = take_kernel_log(t)
    assert log.count(GIVEN_UP) == 1 and "was removed" in log, log
    # nothing more is sent to the disk that is gone, reads and trims included: at most a
    # request per vCPU that was on its way when the module found out
    after = log.split(GIVEN_UP)[1]
    assert after.count("beyond end of device") <= 2, log
    assert "kworker" not in after, log
    assert_no_kernel_problems(t)


def on_disk(t, disk: str, first: int, count: int) -> list[str]:
    """Digests of pages first.. of the backing disk, read with O_DIRECT."""
    install_io(t)
    out = t.check(f"python3 {IO_SCRIPT} {disk} '[[\"read\",{first},{count}]]'")
    return json.loads(out.splitlines()[-1])[0]["digests"]


def test_freed_pages_are_trimmed_and_reset_clears_the_backing_disk(boot):
    t = boot(mem="256M", smp=2, backing="512M", append="ramzswap=off")
    disk = backing_disk(t)
    rz = fresh(t)
    rz.setup("64M", "8M", backing=disk)
    n = 256
    # random pages do not compress: all go to the disk, slot N of the device at page N
    assert rz.io1(["write", 0, n, "random", 1]) == {"ok": n, "errors": {}}
    want = digests("random", 1, 0, n)
    assert rz.stats()["bdev_num_writes"] == n
    assert on_disk(t, disk, 0, n) == want

    # freed (discarded) on the device: trimmed there, in runs, within a second
    assert rz.io1(["discard", 0, n // 2]) == {"error": None}
    t.check("i=0; while [ $(awk '/^bdev_num_discards/ {print $2}' "
            f"{rz.sys}/stats) -lt {n // 2} ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done")
    st = rz.stats()
    assert st["bdev_num_discards"] == n // 2, st
    got = on_disk(t, disk, 0, n)
    assert got[: n // 2] == [ZERO_DIGEST] * (n // 2)  # QEMU made holes of the trimmed pages
    assert got[n // 2 :] == want[n // 2 :]
    # the pages still there read back right through the device
    assert rz.io1(["read", n // 2, n // 2])["digests"] == want[n // 2 :]

    # a page freed and written again in RAM is trimmed; one forwarded again is not
    assert rz.io1(["write", n // 2, 1, "text", 2]) == {"ok": 1, "errors": {}}
    assert rz.io1(["write", n // 2 + 1, 1, "random", 3]) == {"ok": 1, "errors": {}}
    t.check("sleep 1")
    got = on_disk(t, disk, n // 2, 2)
    assert got == [ZERO_DIGEST, digests("random", 3, n // 2 + 1, 1)[0]]

    # reset: nothing the device wrote stays readable on the partition
    rz.reset()
    assert on_disk(t, disk, 0, n) == [ZERO_DIGEST] * n


@pytest.mark.parametrize("features", ["", "write-zeroes=off", "write-zeroes=off,discard=off"],
                         ids=["write-zeroes", "discard-only", "neither"])
def test_reset_clears_scattered_pages_whatever_the_disk_offers(boot, features):
    """Pages forwarded to every other slot leave as many runs on the backing disk as
    pages: reset clears them all, by write-zeroes, by a discard or by zeros written out,
    whichever the disk has, and says nothing in the kernel log."""
    t = boot(mem="256M", smp=2, backing="256M", append="ramzswap=off", features=features)
    disk = backing_disk(t)
    name = disk.rsplit("/", 1)[-1]
    limits = {f: int(t.check(f"cat /sys/block/{name}/queue/{f}_max_bytes"))
              for f in ("write_zeroes", "discard")}
    assert (limits["write_zeroes"] > 0, limits["discard"] > 0) == {
        "": (True, True), "write-zeroes=off": (False, True),
        "write-zeroes=off,discard=off": (False, False)}[features], limits
    rz = fresh(t)
    rz.setup("64M", "8M", backing=disk)
    n = 512
    ops = [["write", i, 1, "random" if i % 2 == 0 else "text", i] for i in range(n)]
    assert rz.io(*ops) == [{"ok": 1, "errors": {}}] * n
    assert rz.stats()["bdev_num_writes"] == n // 2
    got = on_disk(t, disk, 0, n)
    assert all(d != ZERO_DIGEST for d in got[0::2]) and set(got[1::2]) == {ZERO_DIGEST}

    t.check("dmesg -c > /dev/null")
    rz.reset()
    assert on_disk(t, disk, 0, n) == [ZERO_DIGEST] * n
    assert "could not clear" not in t.check("dmesg")
