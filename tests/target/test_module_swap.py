"""ramzswap.ko as swap on the target, every arch: the backing device, rzscan at three times
the guest's RAM on every data set, and a memory limit with no backing device to forward to.

One guest for the whole file (50-55 MiB MemTotal, a fresh 1G virtio disk as backing device,
booted with ramzswap=off so the tests set the module up themselves): a small guest swaps a
lot in little time.  It has one vCPU: under TCG every TLB flush of an arm64 guest stops all
its vCPUs, which made 3x RAM of swap 3-10 times slower with two (test_module_smp.py has
four).  While a workload runs, the device's stats are sampled in the guest twice a second;
every sample must be consistent (rzmod.check_consistent).
"""

from __future__ import annotations

from dataclasses import dataclass

from rzmod import (
    PAGE,
    SMALL_GUEST,
    ZERO_DIGEST,
    Rz,
    Sampler,
    backing_disk,
    check_consistent,
    digests,
    guest_fixtures,
    load,
    ram_mib,
    rzscan,
    unload,
    vmstat,
)
from rztools.target import guestproc as gp
from rztools.target import swapdevs as sd

MEMLIMIT = 12 << 20  # of 50-55 MiB of RAM
DISKSIZE = 512 << 20  # room for 3x RAM of swap, within the 1G backing disk


file_guest, guest = guest_fixtures(mem=SMALL_GUEST, smp=1, backing="1G", append="ramzswap=off")


def delta(after: dict[str, int], before: dict[str, int], name: str) -> int:
    return after[name] - before[name]


# -- the backing device, page by page ----------------------------------------------------------
def test_backing_device_takes_what_ram_should_not(guest):
    t = guest
    vdb = backing_disk(t)
    unload(t)
    load(t, "num_devices=2")
    rz, other = Rz(t), Rz(t, 1)
    limit = 32 * PAGE
    rz.set("memlimit", limit)
    rz.set("backing_swap", vdb)
    assert rz.get("backing_swap") == vdb
    # a device bigger than its backing device is refused; the settings stay
    assert rz.io1(["sysfs", "disksize", "2G"])["error"] == "EINVAL"
    assert (rz.get("initstate"), rz.get("backing_swap")) == ("0", vdb)
    # the backing device is held exclusively
    assert other.io1(["sysfs", "backing_swap", vdb])["error"] == "EBUSY"
    # (nothing of the device is on it yet, so a swap signature may go there for a moment)
    res = t.run(f"mkswap {vdb} >/dev/null && swapon {vdb}")
    assert res.status != 0 and "busy" in res.output.lower(), res.output
    rz.set("disksize", "64M")

    # incompressible, and more than half a page after LZ4: straight to the backing device
    res = rz.io(["write", 0, 16, "random", 1], ["write", 16, 8, "mid", 1], ["state"],
                ["read", 0, 24], ["read", 24, 8], ["state"])
    assert res[0]["errors"] == {} and res[1]["errors"] == {}
    st = res[2]["stats"]
    assert (st["bdev_num_writes"], st["pages_stored"], st["mem_used_total"]) == (24, 0, 0)
    want = digests("random", 1, 0, 16) + digests("mid", 1, 16, 8)
    assert res[3]["digests"] == want and res[4]["digests"] == [ZERO_DIGEST] * 8
    assert res[5]["stats"]["bdev_num_reads"] == 24
    # real block I/O, slot N of the device at slot N of the disk
    on_disk = Rz(t)
    on_disk.dev = vdb
    assert on_disk.io1(["read", 0, 24])["digests"] == want

    # compressible pages stay in RAM until memlimit, then go to the backing device
    res = rz.io(["write", 100, 200, "text", 2], ["state"], ["read", 100, 200])
    assert res[0]["errors"] == {}
    st = res[1]["stats"]
    assert check_consistent(st, 64 << 20, limit, slack=0) == []
    kept, sent = st["pages_stored"], st["bdev_num_writes"] - 24
    assert kept + sent == 200 and kept >= 60 and sent >= 60, st
    assert st["good_compress"] == kept and st["failed_writes"] == 0
    assert st["mem_used_total"] > limit - 4 * PAGE  # it was full when forwarding began
    assert res[2]["digests"] == digests("text", 2, 100, 200)
    assert on_disk.io1(["read", 299, 1])["digests"] == digests("text", 2, 299, 1)
    # a full pool still takes same-filled pages: they need no memory
    res = rz.io(["write", 400, 16, "same", 2], ["state"])
    assert res[0]["errors"] == {}
    assert res[1]["stats"]["same_pages"] == 16
    assert res[1]["stats"]["bdev_num_writes"] == st["bdev_num_writes"]

    # a write budget: forwarding stops at the limit, and with RAM full the writes fail
    rz.set("backing_write_limit", 10)
    res = rz.io(["write", 500, 20, "random", 3], ["state"], ["read", 500, 20])
    st2 = res[1]["stats"]
    assert res[0]["ok"] == 10 and sorted(map(int, res[0]["errors"])) == list(range(510, 520))
    assert delta(st2, st, "bdev_num_writes") == 10
    assert st2["backing_write_limit_left"] == 0 and st2["failed_writes"] == 10
    assert res[2]["digests"] == digests("random", 3, 500, 10) + [ZERO_DIGEST] * 10
    # with room in RAM again, pages the budget does not let out are kept there
    res = rz.io(["discard", 100, 200], ["write", 600, 8, "random", 4], ["write", 608, 8, "mid", 4],
                ["state"], ["read", 600, 16])
    assert res[1]["errors"] == {} and res[2]["errors"] == {}
    st3 = res[3]["stats"]
    assert check_consistent(st3, 64 << 20, limit, slack=0) == []
    assert st3["bdev_num_writes"] == st2["bdev_num_writes"]
    assert st3["pages_expand"] == 8 and st3["pages_stored"] == 16 + 16
    assert res[4]["digests"] == digests("random", 4, 600, 8) + digests("mid", 4, 608, 8)
    # a new budget restarts the count
    rz.set("backing_write_limit", 2)
    res = rz.io(["write", 700, 2, "random", 5], ["state"])
    assert res[0]["errors"] == {}
    assert res[1]["stats"]["bdev_num_writes"] == st3["bdev_num_writes"] + 2
    assert res[1]["stats"]["backing_write_limit_left"] == 0

    rz.reset()
    # reset let go of the backing device
    assert other.io1(["sysfs", "backing_swap", vdb])["error"] is None
    other.set("backing_swap", "")
    t.check("rmmod ramzswap")


# -- rzscan at 3x RAM --------------------------------------------------------------------------
# Each run fills 3x RAM, then reads every page back and checks it.  Use-once frees each page
# once checked (what was read back is not swapped out again: half the work); cyclic keeps
# them.  One test per data set, not parametrized: a parameter of the test next to the
# module-scoped arch makes pytest interleave the arches, booting the guest again and again.
@dataclass
class Scan3x:
    """A run of rzscan at 3x RAM: its size, the device's stats before and after it, and the
    stats sampled while it ran."""

    pages: int
    before: dict[str, int]
    after: dict[str, int]
    samples: list[dict[str, int]]
    # zero-filled pages swap itself kept (6.12 and later note them in a bitmap of its
    # own and never write them to the device); None where the kernel does not
    kept_zero: int | None

    def grew(self, name: str) -> int:
        return self.after[name] - self.before[name]

    def peak(self, name: str) -> int:
        return max(s[name] for s in self.samples)


def scan_3x_ram(t, data: str, mode: str) -> Scan3x:
    """rzscan over 3x the guest's RAM on a fresh swap device with memlimit and the backing
    disk; checks what holds for every data set: every page read back right, most of them
    went through swap, every stats sample consistent, and the slots freed afterwards."""
    rz = Rz(t)
    rz.swap_device(DISKSIZE, MEMLIMIT, backing_disk(t))
    mib = 3 * ram_mib(t)
    pages = mib << 20 >> 12
    before, vm_before = rz.stats(), vmstat(t)
    sampler = Sampler(rz, every=0.2)
    res = rzscan(t, sd.Scan(data, mib, mode=mode))
    samples = sampler.stop()
    after, vm_after = rz.stats(), vmstat(t)
    kept_zero = (vm_after["swpout_zero"] - vm_before["swpout_zero"]
                 if "swpout_zero" in vm_after else None)
    run = Scan3x(pages, before, after, samples, kept_zero)
    out = res.report
    assert (res.status, out["mismatches"], out["pages_scanned"]) == (0, 0, pages), out
    # most of it really went to swap (or was kept by swap as zero-filled)
    assert out["pswpout"] + (kept_zero or 0) > pages // 2, (out, kept_zero)
    # the checks on the samples mean something only over samples taken while rzscan ran
    # (how many there are depends on the machine's speed: same-filled pages go fast)
    during = [s for s in samples if before["num_writes"] < s["num_writes"] < after["num_writes"]]
    assert during, samples
    bad = [p for s in [*samples, after] for p in check_consistent(s, DISKSIZE, MEMLIMIT)]
    assert not bad, "\n".join(bad[:5])
    # the slots rzscan had are free again: notify/discard brought pages_stored back near 0
    assert after["pages_stored"] < min(1024, pages // 50), after
    # (of what reached the device: where swap kept the zero-filled pages, few did)
    reached = pages if kept_zero is None else after["num_writes"] - before["num_writes"]
    assert run.grew("notify_free") > reached // 2, after
    t.check("swapoff /dev/ramzswap0")
    st = rz.stats()
    # all that is left is mkswap's header page
    assert (st["pages_stored"], st["failed_reads"], st["failed_writes"]) == (1, 0, 0), st
    rz.reset()
    return run


def test_rzscan_3x_ram_zero(guest):
    run = scan_3x_ram(guest, "zero", "once")
    # counted, and nothing allocated for them: more than half the workload held as
    # same-filled pages at once, in a pool that never grew past a few MiB (the other
    # processes' pages that went to swap meanwhile), and nothing for the backing disk.
    # Where swap keeps zero-filled pages itself, they never reach the device.
    if run.kept_zero is None:
        assert run.peak("same_pages") > run.pages // 2, run.samples
    else:
        assert run.kept_zero > run.pages // 2, run.kept_zero
        assert run.grew("num_writes") < run.pages // 50, run.after
    assert run.peak("mem_used_total") < 4 << 20, run.samples
    assert run.grew("bdev_num_writes") < run.pages // 50, run.after


def test_rzscan_3x_ram_same(guest):
    run = scan_3x_ram(guest, "same", "once")
    assert run.peak("same_pages") > run.pages // 2, run.samples
    assert run.peak("mem_used_total") < 4 << 20, run.samples
    assert run.grew("bdev_num_writes") < run.pages // 50, run.after


def test_rzscan_3x_ram_text(guest):
    run = scan_3x_ram(guest, "text", "once")
    # well compressed pages fill RAM up to memlimit, the rest is forwarded
    assert run.peak("good_compress") > (MEMLIMIT // PAGE) * 2, run.samples
    assert run.peak("mem_used_total") > MEMLIMIT * 3 // 4, run.samples
    assert run.grew("bdev_num_writes") > run.pages // 10, run.after


def test_rzscan_3x_ram_random(guest):
    run = scan_3x_ram(guest, "random", "once")
    # incompressible: forwarded, never kept whole
    assert run.grew("bdev_num_writes") > run.pages // 2, run.after
    assert run.peak("pages_expand") == 0, run.samples


def test_rzscan_3x_ram_mixed(guest):
    # cyclic: pages read back are swapped out again, over slots freed on the way in
    run = scan_3x_ram(guest, "mixed", "cyclic")
    assert run.peak("same_pages") > 0 and run.peak("good_compress") > 0, run.samples
    assert run.grew("bdev_num_writes") > 0, run.after
    assert run.grew("num_writes") > run.pages, run.after


def test_rzscan_3x_ram_file(guest):
    elf = guest.check("readlink -f $(command -v python3)")
    run = scan_3x_ram(guest, f"file:{elf}", "once")
    assert run.peak("good_compress") > 0, run.samples


# -- memlimit and no backing device --------------------------------------------------------
def test_memlimit_without_backing_fails_writes_cleanly(guest):
    """Last on this guest: the workload may be killed by the OOM killer."""
    t = guest
    limit = 4 << 20
    rz = Rz(t)
    rz.swap_device(DISKSIZE, limit)
    # once the pool is full the workload's pages cannot be swapped out: the cgroup's OOM
    # killer may end it, or reclaim may retry the failing writes for ever, so it gets 20 s
    # at most (SIGKILL)
    sd.memcg(t, "rzmod", "12M")
    sampler = Sampler(rz)
    res = rzscan(t, sd.Scan("text", 64, time_limit=20), "rzmod")
    samples = sampler.stop()
    sd.empty_memcg(t, "rzmod")
    st = rz.stats()
    # finished, killed by the OOM killer (3) or stopped (137); never a page read back wrong
    assert res.status in (0, 3, 137), res.output
    # rzscan names each page that read back wrong on stderr as it finds it
    assert "rzscan: mismatch" not in res.output and "further mismatches" not in res.output
    assert res.mismatches == 0, res.output
    # writes past the limit were refused and counted; the pool kept to its limit, full
    assert st["failed_writes"] > 0, st
    bad = [p for s in [*samples, st] for p in check_consistent(s, DISKSIZE, limit)]
    assert not bad, "\n".join(bad[:5])
    assert limit - 4 * PAGE <= max(s["mem_used_total"] for s in samples) <= limit, samples

    # the kernel logged the failed swap writes and perhaps an OOM kill, nothing worse
    log = gp.take_kernel_log(t)
    assert gp.kernel_problems(log) == []
    assert "Write-error on swap-device" in log, "no swap write ever failed?"

    # its slots were freed when it went; a workload that fits runs clean on the same device
    assert rz.stats()["pages_stored"] < 1024
    res = rzscan(t, sd.Scan("mixed", 16), "rzmod", 300)
    assert res.verified, res.output
    st = rz.stats()
    assert check_consistent(st, DISKSIZE, limit) == []
    t.check("swapoff /dev/ramzswap0", 300)
    rz.reset()
    t.check("rmmod ramzswap")
