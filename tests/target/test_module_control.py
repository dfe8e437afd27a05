"""ramzswap.ko on the target, every arch: loading and unloading, the device count, the sysfs
interface (what it accepts, and that every bad write is refused with nothing changed), init
and reset, and block I/O straight to /dev/ramzswapN (O_DIRECT, so every page reaches the
driver): zeros where nothing was written, data back as written, freeing, limits.

All of it runs on the module's guest (256M, 2 vCPUs), which the init script booted with
ramzswap0 as swap: the first test takes that down, and each test after it loads the module
as it needs.  Block I/O goes through tests/target/lib/rzmod_io.py, run in the guest.
"""

from __future__ import annotations

import re

import lz4.block
import rzmod_io
from rzmod import (
    PAGE,
    ZERO_DIGEST,
    Rz,
    assert_all_zero,
    check_consistent,
    digests,
    fresh,
    load,
    meminfo,
    unload,
)


def lz4_len(kind: str, seed: int, first: int, count: int) -> int:
    """Bytes LZ4 makes of these pages (the kernel's LZ4 may differ by a few bytes)."""
    return sum(len(lz4.block.compress(rzmod_io.page(kind, seed, i), store_size=False))
               for i in range(first, first + count))


def devices(t) -> list[str]:
    return sorted(t.check("ls /sys/block").split(), key=lambda d: (len(d), d))


def module_loaded(t) -> bool:
    return t.run("grep -q '^ramzswap ' /proc/modules").status == 0


def test_the_data_sets_fall_where_the_tests_expect():
    """The page kinds of rzmod_io straddle the write path's thresholds (on the host)."""
    sizes = {k: [len(lz4.block.compress(rzmod_io.page(k, 3, i), store_size=False))
                 for i in range(64)] for k in rzmod_io.KINDS}
    assert max(sizes["text"]) < PAGE // 2 - 256  # good compression, kept in RAM
    assert min(sizes["mid"]) > PAGE // 2 + 256 and max(sizes["mid"]) < PAGE * 3 // 4 - 256
    assert min(sizes["random"]) > PAGE  # incompressible
    same = rzmod_io.page("same", 3, 5)
    assert same == same[:4] * (PAGE // 4) and same != rzmod_io.page("same", 3, 6)
    assert len({rzmod_io.page("random", 3, i) for i in range(64)}) == 64


def test_unload_is_refused_while_swap_is_active(target):
    t = target
    rz = Rz(t)
    if "/dev/ramzswap0" not in t.check("cat /proc/swaps"):  # the init script normally did it
        unload(t)
        load(t)
        rz.setup("32M")
        rz.swapon()
    before = rz.stats()
    res = t.run("rmmod ramzswap")
    assert res.status != 0
    assert re.search(r"in use|busy|unavailable", res.output, re.I), res.output
    assert module_loaded(t)
    # nor can the device be reset or resized under swap
    assert rz.io1(["sysfs", "reset", "1"])["error"] == "EBUSY"
    assert rz.io1(["sysfs", "disksize", "64M"])["error"] == "EBUSY"
    assert rz.get("initstate") == "1"
    assert "/dev/ramzswap0" in t.check("cat /proc/swaps")
    assert rz.stats()["num_writes"] >= before["num_writes"] > 0  # swap wrote its header

    t.check("swapoff /dev/ramzswap0")
    t.check("rmmod ramzswap")
    assert not module_loaded(t)
    assert t.run("test -e /sys/block/ramzswap0 || test -e /dev/ramzswap0").status == 1
    assert "ramzswap" not in t.check("cat /proc/devices")


def test_load_unload_and_four_devices(target):
    t = target
    unload(t)
    for _ in range(3):
        load(t)
        assert [d for d in devices(t) if d.startswith("ramzswap")] == ["ramzswap0"]
        t.check("rmmod ramzswap")
        assert "ramzswap" not in t.check("ls /sys/block")

    load(t, "num_devices=4")
    names = [f"ramzswap{i}" for i in range(4)]
    assert [d for d in devices(t) if d.startswith("ramzswap")] == names
    major = int(t.check("awk '$2 == \"ramzswap\" {print $1}' /proc/devices"))
    for i, name in enumerate(names):
        rz = Rz(t, i)
        # a block device node for each, one minor each
        assert t.check(f"stat -c '%F %t:%T' /dev/{name}") == f"block special file {major:x}:{i:x}"
        q = f"/sys/block/{name}/queue"
        assert t.check(f"cat {q}/logical_block_size {q}/physical_block_size {q}/rotational"
                       ).split() == ["4096", "4096", "0"]
        assert int(t.check(f"cat {q}/discard_max_bytes")) > 0
        assert [rz.get(a) for a in ("initstate", "disksize", "memlimit", "backing_swap",
                                    "backing_write_limit", "size")] == ["0", "0", "0", "", "0",
                                                                        "0"]
        assert_all_zero(rz.stats())
    # each device on its own
    r2 = Rz(t, 2)
    r2.setup("8M")
    assert r2.get("size") == str(8 << 20 >> 9)
    assert [Rz(t, i).get("initstate") for i in range(4)] == ["0", "0", "1", "0"]
    assert r2.io1(["write", 0, 4, "text", 1])["errors"] == {}
    assert Rz(t, 1).stats()["num_writes"] == 0
    # an initialised device that nobody holds does not keep the module
    t.check("rmmod ramzswap")
    assert not [d for d in devices(t) if d.startswith("ramzswap")]

    for bad in ("0", "33"):
        t.check("dmesg -c > /dev/null")
        res = t.run(f"modprobe ramzswap num_devices={bad}")
        assert res.status != 0, res.output
        assert not module_loaded(t)
        assert "num_devices must be 1-32" in t.check("dmesg")
    load(t, "num_devices=32")
    assert len([d for d in devices(t) if d.startswith("ramzswap")]) == 32
    t.check("rmmod ramzswap")


def test_module_parameters_initialise_device_0(target):
    t = target
    rz = fresh(t, "disksize_kb=8192 memlimit_kb=1024 num_devices=2")
    assert [rz.get(a) for a in ("initstate", "disksize", "memlimit", "backing_swap")] == [
        "1", str(8 << 20), str(1 << 20), ""]
    assert Rz(t, 1).get("initstate") == "0"
    # the parameters set device 0 up like sysfs would: swap works on it
    rz.swapon()
    assert "/dev/ramzswap0" in t.check("cat /proc/swaps")
    t.check("swapoff /dev/ramzswap0")
    t.check("rmmod ramzswap")
    # a memlimit above the disk size is refused like through sysfs: the module does not load
    res = t.run("modprobe ramzswap disksize_kb=1024 memlimit_kb=8192")
    assert res.status != 0
    assert not module_loaded(t)


# -- sysfs -------------------------------------------------------------------------------------
GARBAGE = ["abc", "\n", "12abc", "0x1000", "1.5M", "4096 ", " 4096", "+4096", "4096\n\n",
           "40\x0096", "M", "4 M", "1" * 40]
NEGATIVE = ["-1", "-4096", "-1M"]
OVERFLOW = ["18446744073709551616", "99999999999999999999999", "17179869184G",
            "16777216T", "18446744073709551615K"]
SIZE_BAD = GARBAGE + NEGATIVE + OVERFLOW


def refused(results: list, cases: list[tuple[str, str, str]]) -> list[str]:
    """Given [state, write, state, write, state...] results for cases, what went wrong."""
    bad = []
    for i, (attr, value, error) in enumerate(cases):
        before, res, after = results[2 * i], results[2 * i + 1], results[2 * i + 2]
        if res["error"] != error:
            bad.append(f"{attr} <- {value!r}: {res} (want {error})")
        if after != before:
            bad.append(f"{attr} <- {value!r} changed the state:\n  {before}\n  {after}")
    return bad


def try_writes(rz: Rz, cases: list[tuple[str, str, str]]) -> list[str]:
    """Each write of cases (attribute, value, the errno it must fail with) on its own, the
    device's whole state read before and after it."""
    ops: list[list] = [["state"]]
    for attr, value, _ in cases:
        ops += [["sysfs", attr, value], ["state"]]
    return refused(rz.io(*ops), cases)


def test_sysfs_accepts_sizes_in_bytes_and_suffixes(target):
    t = target
    rz = fresh(t)
    res = rz.io(["sysfs", "memlimit", "1m"], ["sysfs", "backing_write_limit", "12\n"],
                ["sysfs", "disksize", "2G\n"], ["state"], ["sysfs", "reset", "1\n"],
                ["sysfs", "memlimit", "4096"], ["sysfs", "disksize", "16384k"], ["state"],
                ["sysfs", "reset", "1"], ["sysfs", "disksize", "12345678"], ["state"],
                ["sysfs", "reset", "1"], ["state"])
    assert [r["error"] for r in res if "error" in r] == [None] * 9
    pick = ("disksize", "memlimit", "backing_write_limit", "initstate")
    assert [res[3][a] for a in pick] == [str(2 << 30), str(1 << 20), "12", "1"]
    assert res[3]["stats"]["backing_write_limit_left"] == 12
    assert [res[7][a] for a in pick] == [str(16 << 20), "4096", "0", "1"]
    assert res[10]["disksize"] == str(12345678 // PAGE * PAGE)  # whole pages
    # reset forgets the settings too
    assert [res[12][a] for a in pick] == ["0", "0", "0", "0"]
    t.check("rmmod ramzswap")


def test_sysfs_refuses_bad_writes_and_changes_nothing(target):
    t = target
    rz = fresh(t, "num_devices=2")
    # the root disk is mounted: nobody may have it exclusively
    root = "/dev/" + t.check("grep -l '^rzroot$' /sys/block/vd*/serial").split("/")[3]
    # more slots than a quarter of RAM may hold (16 bytes each)
    big = str(meminfo(t)["MemTotal"] * 128)
    uninit = (
        [("disksize", v, "EINVAL") for v in [*SIZE_BAD, "0", "4095", big]]
        + [("memlimit", v, "EINVAL") for v in [*SIZE_BAD, "1", "4095", big]]
        + [("backing_write_limit", v, "EINVAL")
           for v in [*GARBAGE, *NEGATIVE, *OVERFLOW, "4K", "9223372036854775808"]]
        + [("backing_swap", v, "EINVAL") for v in ["relative/path", "dev/vdb", "/dev/vd\x00b",
                                                   "/dev/vdb\n\n", " /dev/vdb", "-1"]]
        # sysfs hands the driver a page at most: no room for the terminating NUL of a path
        + [("backing_swap", "/" + "x" * 5000, "EINVAL")]
        # the open's own errors, as they are
        + [("backing_swap", "/nonexistent", "ENOENT"),
           ("backing_swap", "/" + "x" * 300, "ENAMETOOLONG"),
           ("backing_swap", "/etc/passwd", "ENOTBLK"),
           ("backing_swap", root, "EBUSY"),
           ("backing_swap", "/dev/ramzswap1", "EINVAL")]  # never ramzswap on ramzswap
        + [("reset", v, "EINVAL")
           for v in ["0", "2", "yes", "11", "-1", "1 ", "\n", "abc", "01", OVERFLOW[0]]]
        + [(a, v, "EACCES") for a in ("initstate", "stats") for v in ("1", "0")]
    )
    bad = try_writes(rz, uninit)
    # out of order: a memlimit above the disk size makes init fail, and nothing else changes
    rz.set("memlimit", "8M")
    bad += try_writes(rz, [("disksize", "4M", "EINVAL")])
    rz.set("memlimit", "0")

    # initialised, with data in it: settings are fixed until reset
    rz.setup("16M", write_limit=5)
    assert rz.io1(["write", 0, 16, "text", 2])["errors"] == {}
    init = (
        [("disksize", v, "EBUSY") for v in ["16M", "32M", "4096", "0"]]
        + [("disksize", v, "EINVAL") for v in ["abc", "-1"]]  # parsed before anything else
        + [("memlimit", v, "EBUSY") for v in ["0", "1M", "8M"]]
        + [("memlimit", v, "EINVAL") for v in ["1.5M", "-1"]]
        + [("backing_swap", v, "EBUSY") for v in ["\n", "/dev/ramzswap1", "/nonexistent"]]
        + [("backing_write_limit", v, "EINVAL") for v in [*GARBAGE, *NEGATIVE, *OVERFLOW]]
        + [("reset", v, "EINVAL") for v in ["0", "2", "yes"]]
    )
    bad += try_writes(rz, init)
    # while anybody has the device open, reset is refused
    t.check(f"sleep 300 < {rz.dev} & echo $! > /tmp/holder")
    bad += try_writes(rz, [("reset", "1", "EBUSY")])
    t.check("kill $(cat /tmp/holder); wait $(cat /tmp/holder) 2>/dev/null; true")
    assert not bad, "\n".join(bad)

    # what is right is still taken: a new write budget at any time, and reset
    assert rz.io1(["sysfs", "backing_write_limit", "7"])["error"] is None
    assert rz.stats()["backing_write_limit_left"] == 7
    rz.reset()
    assert rz.stats()["pages_stored"] == 0
    t.check("rmmod ramzswap")


# -- init and reset ----------------------------------------------------------------------------
def test_100_init_reset_cycles_free_everything(target):
    t = target
    rz = fresh(t)
    # warm up once so the first round's one-time allocations are not counted as a leak
    rz.io1(["cycles", 2, 16 << 20, 16])
    t.check("sync; echo 3 > /proc/sys/vm/drop_caches")
    before = meminfo(t)
    pages, disksize = 16, 64 << 20
    rounds = rz.io1(["cycles", 100, disksize, pages], timeout=600)["rounds"]
    t.check("sync; echo 3 > /proc/sys/vm/drop_caches")
    after = meminfo(t)
    assert len(rounds) == 100
    for r in rounds:
        assert (r["init"], r["write_errors"], r["verified"], r["discard"], r["reset"]) == (
            None, 0, True, None, None), r
        full, empty = r["full"], r["empty"]
        assert check_consistent(full, disksize, slack=0) == []
        # the random half is kept whole: a page of pool each
        assert full["pages_stored"] == 2 * pages and full["mem_used_total"] >= pages * PAGE, r
        # discarding every page empties the pool: nothing held, not even spare pages
        assert [empty[k] for k in ("pages_stored", "same_pages", "compr_data_size",
                                   "mem_used_total", "notify_free")] == [0, 0, 0, 0, 2 * pages], r
        assert empty["mem_used_max"] == full["mem_used_max"]
        assert_all_zero(r["after"]["stats"])
        assert [r["after"][a] for a in ("initstate", "disksize", "memlimit")] == ["0", "0", "0"]
    # each round held >= 64 KiB of pool pages and a 256 KiB slot table: 100 rounds' worth
    # would be 31 MiB; allow a few MiB of noise in the kernel's own use
    for k in ("MemFree", "MemAvailable"):
        assert before[k] - after[k] < 6 << 20, (k, before[k], after[k])
    assert after["VmallocUsed"] - before["VmallocUsed"] < 2 << 20
    t.check("rmmod ramzswap")


# -- block I/O ---------------------------------------------------------------------------------
def test_block_io_reads_writes_overwrites_and_frees(target):
    t = target
    rz = fresh(t)
    rz.setup("16M")
    size = 16 << 20
    last = size // PAGE - 1
    # never written: zeros, and nothing stored
    res = rz.io(["read", 0, 8, False], ["read", last - 3, 4, True], ["state"])
    assert res[0]["digests"] == [ZERO_DIGEST] * 8 and res[1]["digests"] == [ZERO_DIGEST] * 4
    assert res[2]["stats"]["num_reads"] == 12 and res[2]["stats"]["pages_stored"] == 0

    layout = [("zero", 0, False), ("same", 8, False), ("text", 16, False), ("mid", 24, False),
              ("random", 32, False), ("text", 40, True), ("random", 48, True),
              ("same", 56, True)]
    ops: list[list] = [["write", first, 8, kind, 1, unaligned] for kind, first, unaligned in layout]
    ops += [["read", 0, 64, False], ["read", 0, 64, True], ["state"]]
    res = rz.io(*ops)
    assert [r["errors"] for r in res[:8]] == [{}] * 8
    want = [d for kind, first, _ in layout for d in digests(kind, 1, first, 8)]
    assert res[8]["digests"] == want and res[9]["digests"] == want
    st = res[10]["stats"]
    assert check_consistent(st, size, slack=0) == []
    assert (st["num_writes"], st["pages_stored"], st["same_pages"], st["pages_expand"],
            st["good_compress"]) == (64, 64, 24, 16, 16)
    comp = lz4_len("text", 1, 16, 8) + lz4_len("mid", 1, 24, 8) + lz4_len("text", 1, 40, 8)
    assert abs(st["compr_data_size"] - 16 * PAGE - comp) < comp * 0.03
    used = st["mem_used_total"]
    assert 16 * PAGE + comp <= used <= 16 * PAGE + comp + 8 * PAGE

    # overwriting frees the old object: the text pages become same-filled
    res = rz.io(["write", 16, 8, "same", 2], ["read", 16, 8], ["state"])
    assert res[1]["digests"] == digests("same", 2, 16, 8)
    st2 = res[2]["stats"]
    assert check_consistent(st2, size, slack=0) == []
    assert (st2["pages_stored"], st2["same_pages"], st2["good_compress"]) == (64, 32, 8)
    assert abs(st["compr_data_size"] - st2["compr_data_size"] - lz4_len("text", 1, 16, 8)) < 400

    # discard frees the random and text pages, which then read as zeros; so does zeroout with
    # the mid pages (the device takes write-zeroes, which empty the slots: no zero pages stored)
    res = rz.io(["discard", 32, 16], ["zeroout", 24, 8], ["read", 24, 24], ["read", 40, 8, True],
                ["state"])
    assert res[0]["error"] is None and res[1]["error"] is None
    assert res[2]["digests"] == [ZERO_DIGEST] * 24 and res[3]["digests"] == [ZERO_DIGEST] * 8
    st3 = res[4]["stats"]
    assert check_consistent(st3, size, slack=0) == []
    assert (st3["pages_stored"], st3["same_pages"], st3["pages_expand"], st3["good_compress"],
            st3["notify_free"], st3["num_writes"]) == (40, 32, 8, 0, 24, 72), st3
    assert st3["mem_used_total"] < used - 16 * PAGE  # the pool gave pages back

    # outside the disk, or not in whole 4 KiB blocks (the device's logical block size): the
    # block layer refuses them, so they never reach the driver and its invalid_io stays 0
    res = rz.io(["pread", size, PAGE], ["pread", size - PAGE, 2 * PAGE], ["pwrite", size, PAGE],
                ["pread", 512, PAGE], ["pwrite", 512, PAGE], ["pread", 0, 512],
                ["pwrite", 0, 1024], ["pwrite", size + (1 << 30), PAGE],
                ["discard", last, 2], ["zeroout", last + 1, 1], ["state"])
    assert res[0] == {"n": 0, "error": None}  # end of device
    assert res[1] == {"n": PAGE, "error": None}  # cut at the end
    assert res[2]["error"] == "ENOSPC" and res[7]["error"] == "ENOSPC"
    assert [r["error"] for r in res[3:7]] == ["EINVAL"] * 4
    assert res[8]["error"] == "EINVAL" and res[9]["error"] == "EINVAL"
    st4 = res[10]["stats"]
    assert st4["num_writes"] == st3["num_writes"]
    assert st4["num_reads"] == st3["num_reads"] + 1
    assert st4["pages_stored"] == st3["pages_stored"]  # nor was the last page discarded
    assert st4["invalid_io"] == 0 and st4["failed_reads"] == 0 and st4["failed_writes"] == 0

    # after reset and a new init nothing of the old data is readable
    rz.reset()
    rz.setup("16M")
    res = rz.io(["read", 0, 64], ["state"])
    assert res[0]["digests"] == [ZERO_DIGEST] * 64
    assert res[1]["stats"]["pages_stored"] == 0
    rz.reset()
    t.check("rmmod ramzswap")


def test_memlimit_fails_writes_and_keeps_what_the_slot_held(target):
    t = target
    rz = fresh(t)
    limit = 16 * PAGE
    rz.setup("16M", memlimit=limit)
    # incompressible pages are stored whole, a pool page each: the 17th cannot be
    res = rz.io(["write", 0, 32, "random", 1], ["state"])
    ok, errors = res[0]["ok"], res[0]["errors"]
    assert ok == 16 and len(errors) == 16
    assert set(errors.values()) == {"EIO"}
    assert sorted(map(int, errors)) == list(range(ok, 32))  # the first ones went in
    st = res[1]["stats"]
    assert check_consistent(st, 16 << 20, limit, slack=0) == []
    assert st["failed_writes"] == 32 - ok and st["pages_stored"] == ok
    assert st["mem_used_total"] == st["mem_used_max"] == limit

    # overwriting a stored page fails too, and the old page is still there; pages that the
    # failed writes were for still read as never written
    res = rz.io(["write", 0, 4, "random", 2], ["read", 0, 32], ["state"])
    assert len(res[0]["errors"]) == 4
    assert res[1]["digests"] == digests("random", 1, 0, ok) + [ZERO_DIGEST] * (32 - ok)
    # same-filled pages take no pool memory: they still go in
    res = rz.io(["write", 100, 64, "same", 3], ["write", 200, 64, "zero", 3], ["read", 100, 64],
                ["state"])
    assert res[0]["errors"] == {} and res[1]["errors"] == {}
    assert res[2]["digests"] == digests("same", 3, 100, 64)
    st = res[3]["stats"]
    assert check_consistent(st, 16 << 20, limit, slack=0) == []
    assert st["same_pages"] == 128 and st["failed_writes"] == 32 - ok + 4
    # freeing makes room again
    res = rz.io(["discard", 0, ok], ["write", 0, 4, "random", 4], ["read", 0, 4])
    assert res[1]["errors"] == {} and res[2]["digests"] == digests("random", 4, 0, 4)
    rz.reset()
    t.check("rmmod ramzswap")


def finishes(t, cmd: str, seconds: int = 15) -> str:
    """Run cmd in the background, wait for it up to `seconds`: its output and a status= line,
    or "" if it still runs.  It is waited for within the same command line: a background job
    that ends while the console's busybox shell waits for input makes that shell exit."""
    assert "'" not in cmd
    return t.check(f"sh -c '{cmd}; echo status=$?' > /tmp/bg.out 2>&1 & pid=$!; i=0;"
                   f" while [ $i -lt {seconds * 2} ] && ! grep -q status= /tmp/bg.out; do"
                   " sleep 0.5; i=$((i + 1)); done;"
                   " if grep -q status= /tmp/bg.out; then wait $pid; cat /tmp/bg.out; fi",
                   seconds + 30)


def test_a_device_cannot_back_itself(target):
    """Last on this guest: were this to hang, the device's lock would be lost for good."""
    t = target
    rz = fresh(t)
    out = finishes(t, f"echo /dev/ramzswap0 > {rz.sys}/backing_swap")
    assert out, "writing its own path to backing_swap hung (a deadlock)"
    assert "status=1" in out and "Invalid argument" in out, out
    assert rz.get("backing_swap") == ""
    rz.setup("8M")
    rz.reset()
    t.check("rmmod ramzswap")
    # nor through the module parameters, where device 0 is just being made
    out = finishes(t, "modprobe ramzswap backing_swap=/dev/ramzswap0")
    assert out, "modprobe with backing_swap=/dev/ramzswap0 hung (a deadlock)"
    assert "status=0" not in out, out
    assert not module_loaded(t)
    assert "cannot use /dev/ramzswap0 as backing swap: -22" in t.check("dmesg")
