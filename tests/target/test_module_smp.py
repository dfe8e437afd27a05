"""ramzswap.ko with four CPUs swapping at once, on the target, every arch.

A guest of its own: 4 vCPUs, 50-55 MiB MemTotal, a 1G virtio backing disk, booted with
ramzswap=off.  The workers run in a memory cgroup, so they swap whatever the guest's RAM.
"""

from __future__ import annotations

from rzmod import (
    SMALL_GUEST,
    Rz,
    Sampler,
    backing_disk,
    check_consistent,
    guest_fixtures,
    rzscan,
)
from rztools.target import swapdevs as sd

DISKSIZE = 512 << 20


file_guest, guest = guest_fixtures(mem=SMALL_GUEST, smp=4, backing="1G", append="ramzswap=off")


def test_four_cpus_swapping_at_once(guest):
    t = guest
    assert t.check("nproc") == "4"
    rz = Rz(t)
    memlimit = 2 << 20  # less than the workload's text pages take: some are forwarded
    rz.swap_device(DISKSIZE, memlimit, backing_disk(t))
    # four workers in a 12M memory cgroup: each reclaims (swaps out) for itself, on its CPU,
    # and --rewrite swaps every page out a second time
    sd.memcg(t, "rzworkers", "12M")
    mib = 32
    sampler = Sampler(rz)
    res = rzscan(t, sd.Scan("mixed", mib, workers=4, rewrite=True), "rzworkers")
    samples = sampler.stop()
    out = res.report
    assert (res.status, out["mismatches"], out["failed_workers"]) == (0, 0, 0), out
    assert out["pages_scanned"] == mib << 20 >> 12
    assert out["pswpout"] > (mib << 20 >> 12) // 2
    st = rz.stats()
    bad = [p for s in [*samples, st] for p in check_consistent(s, DISKSIZE, memlimit)]
    assert not bad, "\n".join(bad[:5])
    assert max(s["mem_used_total"] for s in samples) > memlimit * 3 // 4  # RAM did its share
    assert st["bdev_num_writes"] > 0 and st["bdev_num_reads"] > 0
    assert (st["failed_reads"], st["failed_writes"]) == (0, 0)
    t.check("swapoff /dev/ramzswap0")
    rz.reset()
