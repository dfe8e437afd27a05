"""ramzswap.ko on the target: the device is a synchronous swap device only while no backing
device is attached.

From 6.3 swap writes a page to a synchronous device with submit_bio_wait(): the reclaiming
task waits for the whole request, and a request forwarded to the backing device (a page
that compresses badly, or one over memlimit) is a flash write.  So with a backing device
the device must not say it is synchronous (6.3 and later); before 6.3 what makes it
synchronous is ->rw_page(), which refuses writes that need the backing device, and swap
then sends them as bios it does not wait for.

What a guest can see of it: a page swapped in from a synchronous device skips the swap
cache (its slot is freed at once), from any other device it stays there, counted in
SwapCached, until it is dirtied or reclaimed.
"""

from __future__ import annotations

import time

import pytest
from rzmod import Rz, backing_disk, meminfo, unload, vmstat
from rztools.target import guestproc as gp
from rztools.target import swapdevs as sd

GROUP = "rzsync"
WORKLOAD = "16M"   # the workload's memory.max
SCAN_MIB = 48      # 3x that: every pass swaps most of it out and in again
SWAPPED_IN = 4096  # pages read back before SwapCached is read (16 MiB)


def swap_cached_while_scanning(t, backing: str) -> int:
    """Bytes in the swap cache while rzscan reads its swapped-out text pages back."""
    rz = Rz(t)
    rz.swap_device(256 << 20, backing=backing)
    sd.memcg(t, GROUP, WORKLOAD)
    pid = gp.start_background(t, sd.in_memcg(GROUP, sd.Scan("text", SCAN_MIB, 100000)
                                             .command()))
    try:
        start = vmstat(t)["pswpin"]
        deadline = time.monotonic() + 600
        while vmstat(t)["pswpin"] - start < SWAPPED_IN:
            assert time.monotonic() < deadline, "rzscan swapped too little in"
            assert t.run(f"[ -e /proc/{pid} ]").status == 0, "rzscan exited"
            time.sleep(1)
        cached = meminfo(t)["SwapCached"]
    finally:
        gp.kill(t, "KILL", [pid] + gp.children(t, pid))
        sd.empty_memcg(t, GROUP)
    unload(t)
    return cached


@pytest.mark.parametrize("kernel", ["6.1", "6.12"])
def test_synchronous_only_without_a_backing_device(boot, kernel):
    t = boot(mem="256M", backing="512M", append="ramzswap=off", kernel=kernel)
    major, minor = (int(x) for x in t.check("uname -r").split(".")[:2])
    t.check("echo 0 > /proc/sys/vm/page-cluster")
    alone = swap_cached_while_scanning(t, "")
    backed = swap_cached_while_scanning(t, backing_disk(t))
    # synchronous: pages read back leave the swap cache at once
    assert alone < 2 << 20, (alone, backed)
    if (major, minor) >= (6, 3):
        # not synchronous: the workload's RAM is mostly pages read back, kept cached
        assert backed > 4 << 20, (alone, backed)
    else:
        assert backed < 2 << 20, (alone, backed)
