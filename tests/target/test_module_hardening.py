"""ramzswap.ko on the target, every arch: what a device with a flash backing partition meets
in the field and a plain swap test does not.

- unloading the module while sysfs writes keep setting the device up leaves nothing
  allocated and the backing device free;
- a disksize whose failed-slot bitmap is larger than any contiguous allocation initialises;
- the queue, /proc/diskstats and sysfs say what the device does (write zeroes, I/O
  accounting, stats readable by root only).

One guest for most of the file (256M, 2 vCPUs, a fresh 1G virtio disk as backing device,
booted with ramzswap=off so the tests set the module up themselves).
"""

from __future__ import annotations

from rzmod import (
    PAGE,
    ZERO_DIGEST,
    Rz,
    backing_disk,
    digests,
    fresh,
    guest_fixtures,
    load,
    meminfo,
    unload,
)

file_guest, guest = guest_fixtures(mem="256M", backing="1G", append="ramzswap=off")

# In the guest: load and unload the module `rounds` times while a shell loop keeps writing
# backing_swap and disksize; after each unload the backing disk must open exclusively (no
# holder left).  Prints the round that found it held, or "free <rounds>".
UNLOAD_RACE = r"""
import os, subprocess, sys, time
disk, rounds = sys.argv[1], int(sys.argv[2])
d = "/sys/block/ramzswap0"
loop = subprocess.Popen(["sh", "-c", f"while :; do echo {disk} > {d}/backing_swap;"
                         f" echo 16M > {d}/disksize; done 2>/dev/null"])
try:
    for i in range(rounds):
        subprocess.run(["modprobe", "ramzswap"], check=True)
        time.sleep(0.05 * (i % 4))
        subprocess.run(["rmmod", "ramzswap"], check=True)
        try:
            os.close(os.open(disk, os.O_RDWR | os.O_EXCL))
        except OSError as e:
            print("held", i, e.strerror)
            break
    else:
        print("free", rounds)
finally:
    loop.kill()
    loop.wait()
"""


def test_unload_while_sysfs_writes_set_the_device_up(guest):
    t = guest
    vdb = backing_disk(t)
    unload(t)
    t.write_file("/tmp/unload_race.py", UNLOAD_RACE)
    out = t.check(f"python3 /tmp/unload_race.py {vdb} 60", timeout=900)
    assert out.splitlines()[-1] == "free 60", out
    # and the disk is still usable as a backing device of a new module instance
    rz = fresh(t)
    rz.setup("16M", backing=vdb)
    assert rz.get("backing_swap") == vdb
    rz.reset()
    unload(t)


def test_queue_says_write_zeroes_and_zeroes_are_written(guest):
    t = guest
    rz = fresh(t)
    rz.setup("16M")
    q = f"{rz.sys}/queue"
    assert int(t.check(f"cat {q}/write_zeroes_max_bytes")) >= PAGE
    res = rz.io(["write", 0, 8, "text", 1], ["zeroout", 2, 4], ["read", 0, 8], ["state"])
    assert res[0]["errors"] == {} and res[1]["error"] is None
    want = digests("text", 1, 0, 8)
    want[2:6] = [ZERO_DIGEST] * 4
    assert res[2]["digests"] == want
    # zeroed slots are emptied, not written with zero pages
    assert res[3]["stats"]["pages_stored"] == 4
    rz.reset()
    unload(t)


def diskstats(t, name: str) -> list[int]:
    """The counters of /proc/diskstats for one disk (reads, merged, sectors, ms, writes...)."""
    for line in t.check("cat /proc/diskstats").splitlines():
        f = line.split()
        if f[2] == name:
            return [int(x) for x in f[3:]]
    raise AssertionError(f"{name} not in /proc/diskstats")


def test_io_is_accounted_in_diskstats(guest):
    t = guest
    rz = fresh(t)
    rz.setup("16M")
    before = diskstats(t, "ramzswap0")
    res = rz.io(["write", 0, 16, "text", 2], ["read", 0, 16])
    assert res[0]["errors"] == {} and res[1]["digests"] == digests("text", 2, 0, 16)
    after = diskstats(t, "ramzswap0")
    reads, read_sectors = after[0] - before[0], after[2] - before[2]
    writes, write_sectors = after[4] - before[4], after[6] - before[6]
    assert reads >= 1 and writes >= 1, (before, after)
    assert read_sectors == write_sectors == 16 * PAGE // 512, (before, after)
    assert after[8] == 0  # nothing in flight once the I/O is done
    rz.reset()
    unload(t)


def test_stats_are_readable_by_root_only(guest):
    t = guest
    rz = fresh(t)
    assert t.check(f"stat -c %a {rz.sys}/stats") == "400"
    assert t.check(f"stat -c %a {rz.sys}/disksize") == "644"
    unload(t)


def test_a_disksize_with_a_bitmap_beyond_contiguous_memory_initialises(boot):
    """With a backing device, a bitmap of one bit per slot records failed backing writes.
    Above 128 GiB of disksize it is more than 4 MiB, the most one contiguous allocation of
    the page allocator gives; the slot table (16 bytes a slot, at most a quarter of RAM)
    lets such a disksize be set only in a guest of more than 2 GiB."""
    t = boot(mem="2560M", backing="160G", append="ramzswap=off")
    vdb = backing_disk(t)
    disksize = 136 << 30  # a bitmap of 4.25 MiB
    assert meminfo(t)["MemTotal"] // 4 // 16 * PAGE > disksize
    unload(t)
    load(t)
    rz = Rz(t)
    rz.set("memlimit", "64M")
    rz.set("backing_swap", vdb)
    rz.set("disksize", disksize)
    assert rz.get("initstate") == "1"
    assert rz.get("disksize") == str(disksize)
    # the top of the device works: a page written there reads back
    last = disksize // PAGE - 8
    res = rz.io(["write", last, 8, "random", 4], ["read", last, 8])
    assert res[0]["errors"] == {} and res[1]["digests"] == digests("random", 4, last, 8)
    rz.reset()
    t.check("rmmod ramzswap")
