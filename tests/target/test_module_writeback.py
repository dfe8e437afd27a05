"""ramzswap.ko on the target, every arch: idle writeback to the backing disk.

- `idle` marks what RAM holds; a read or a write of a slot clears its mark, and
  `writeback idle` moves only the slots still marked, at the same slot of the backing disk,
  within max_pages and backing_write_limit; `huge` moves the pages stored uncompressed;
  RAM falls by what stats says moved, and every page reads back right, from RAM or disk;
- bad requests are refused (EINVAL) and change nothing;
- writeback rounds while swap rewrites and frees the same slots: no page is lost or stale.

Each test boots its own guest: 256M, 2 vCPUs, a 512M backing disk, ramzswap=off.
"""

from __future__ import annotations

import shlex

from harness import assert_no_kernel_problems
from rzmod import ZERO_DIGEST, backing_disk, digests, fresh
from rztools.target import guestproc as gp
from rztools.target import swapdevs as sd
from test_module_backing import on_disk

HUGE = range(0, 64)          # random pages: stored whole once the write budget is spent
TEXT = range(1024, 2048)     # text pages: compressed in RAM
READ = range(1024, 1152)     # read after the mark: stay in RAM
REWRITTEN = range(1152, 1280)  # written after the mark: stay in RAM, new content


def test_writeback_moves_what_stayed_idle_and_every_page_reads_back(boot):
    t = boot(mem="256M", smp=2, backing="512M", append="ramzswap=off")
    disk = backing_disk(t)
    rz = fresh(t)
    # a write budget of one page: the first random page goes to the disk, the rest stay
    # in RAM whole (huge)
    rz.setup("64M", 0, backing=disk, write_limit=1)
    assert rz.io1(["write", HUGE[0], len(HUGE), "random", 1])["ok"] == len(HUGE)
    assert rz.io1(["write", TEXT[0], len(TEXT), "text", 2])["ok"] == len(TEXT)
    st = rz.stats()
    assert (st["bdev_num_writes"], st["pages_expand"]) == (1, len(HUGE) - 1), st
    assert st["pages_stored"] == len(HUGE) - 1 + len(TEXT)

    rz.set("idle", "all")
    assert len(rz.io1(["read", READ[0], len(READ)])["digests"]) == len(READ)
    assert rz.io1(["write", REWRITTEN[0], len(REWRITTEN), "text", 3])["ok"] == len(REWRITTEN)
    rz.set("backing_write_limit", 100000)
    before = rz.stats()

    # in slot order, at most max_pages: the idle huge pages, then idle text pages
    rz.set("writeback", "'idle max_pages=200'")
    st = rz.stats()
    assert st["bdev_wb_pages"] == 200 and st["bdev_wb_skipped"] == 0, st
    rz.set("writeback", "idle")
    st = rz.stats()
    idle = (len(HUGE) - 1) + (len(TEXT) - len(READ) - len(REWRITTEN))
    assert st["bdev_wb_pages"] == idle, st
    assert st["bdev_num_writes"] == 1 + idle
    assert st["backing_write_limit_left"] == 100000 - idle
    assert st["pages_stored"] == before["pages_stored"] - idle
    assert st["pages_expand"] == 0 and st["mem_used_total"] < before["mem_used_total"]
    # nothing idle is left; nothing huge either
    rz.set("writeback", "idle")
    rz.set("writeback", "huge")
    assert rz.stats()["bdev_wb_pages"] == idle

    # every page reads back right through the device, from RAM or from the disk
    want = {**dict(zip(HUGE, digests("random", 1, HUGE[0], len(HUGE)), strict=True)),
            **dict(zip(TEXT, digests("text", 2, TEXT[0], len(TEXT)), strict=True)),
            **dict(zip(REWRITTEN, digests("text", 3, REWRITTEN[0], len(REWRITTEN)),
                       strict=True))}
    for r in (HUGE, TEXT):
        assert rz.io1(["read", r[0], len(r)])["digests"] == [want[i] for i in r]
    # slot N lives at page N of the disk; a slot read or rewritten after the mark was not
    # written there
    assert on_disk(t, disk, 1300, 4) == [want[i] for i in range(1300, 1304)]
    assert on_disk(t, disk, READ[0], 4) == [ZERO_DIGEST] * 4
    assert on_disk(t, disk, REWRITTEN[0], 4) == [ZERO_DIGEST] * 4
    rz.reset()
    assert on_disk(t, disk, 1300, 4) == [ZERO_DIGEST] * 4
    assert_no_kernel_problems(t)


def test_bad_requests_are_refused_and_change_nothing(boot):
    t = boot(mem="256M", smp=2, backing="512M", append="ramzswap=off")
    rz = fresh(t)
    # not initialised, then initialised without a backing device
    for state in ("not initialised", "no backing device"):
        for attr, value in (("idle", "all"), ("writeback", "idle")):
            assert rz.io1(["sysfs", attr, value])["error"] == "EINVAL", (state, attr)
        if state == "not initialised":
            rz.setup("16M")
    rz.reset()
    rz.setup("16M", 0, backing=backing_disk(t))
    assert rz.io1(["write", 0, 64, "text", 1])["ok"] == 64
    rz.set("idle", "all")
    before = rz.stats()
    for attr, value in (("idle", "3600"), ("idle", "al"), ("writeback", "bogus"),
                        ("writeback", "idle max_pages=0"), ("writeback", "idle max_pages=-1"),
                        ("writeback", "idle max_pages=1x"), ("writeback", "idle  max_pages=1"),
                        ("writeback", "huge max_page=3")):
        assert rz.io1(["sysfs", attr, value])["error"] == "EINVAL", (attr, value)
    assert rz.stats() == before
    assert rz.io1(["read", 0, 64])["digests"] == digests("text", 1, 0, 64)
    assert_no_kernel_problems(t)


def test_writeback_beside_swap_loses_no_page(boot):
    """Rounds of idle + writeback while rzscan rewrites and re-reads its pages through
    swap: a slot written, read or freed while its copy is in flight stays right."""
    t = boot(mem="256M", smp=2, backing="512M", append="ramzswap=off")
    rz = fresh(t)
    rz.setup("256M", 0, backing=backing_disk(t))
    rz.swapon()
    t.check("echo 0 > /proc/sys/vm/page-cluster")
    sd.memcg(t, "rzwbtest", "16M")
    scan = sd.Scan("mixed", 64, passes=6, workers=2, rewrite=True, seed=4)
    line = sd.in_memcg("rzwbtest", scan.command()) + " >/tmp/wbscan.out 2>&1"
    pid = gp.start_background(t, f"sh -c {shlex.quote(line)}")
    rounds = 0
    while t.run(f"[ -e /proc/{pid} ]").status == 0 and rounds < 40:
        t.check(f"echo all > {rz.sys}/idle; echo 'idle max_pages=500' > {rz.sys}/writeback;"
                " sleep 0.5")
        rounds += 1
    t.check(f"while [ -e /proc/{pid} ]; do sleep 1; done", 900)
    res = sd.parse_rzscan(t.check("cat /tmp/wbscan.out"))
    st = rz.stats()
    assert res["mismatches"] == 0 and res["pages_scanned"] > 0, res
    assert rounds >= 1 and st["bdev_wb_pages"] > 0, (rounds, st)
    assert st["failed_reads"] == st["failed_writes"] == 0, st
    sd.empty_memcg(t, "rzwbtest")
    assert_no_kernel_problems(t)
