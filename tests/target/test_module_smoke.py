"""Smoke tests of ramzswap.ko where the other target tests do not go: Linux 6.12 on x86_64, and
32-bit ARM (armhf, Debian's armmp-lpae kernel on qemu-system-arm -M virt) with 1G of RAM, a
quarter of it highmem, which the pool's pages come from first.

Each boots with the init script's swap on ramzswap0, swaps a workload through it with every
page verified, checks the stats, then unloads the module and drives a device through sysfs
and O_DIRECT block I/O.  They pick their own arch and kernel, so they run once whatever
TARGET_ARCHS says.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from harness import TARGETS, Booter, assert_no_kernel_problems
from rzmod import (
    PAGE,
    ZERO_DIGEST,
    Rz,
    check_consistent,
    digests,
    fresh,
    meminfo,
    rzscan,
)
from rztools.arches import ARCHES
from rztools.target import swapdevs as sd

SMOKES = {"x86_64-6.12": ("x86_64", "6.12", "256M"), "arm-6.1": ("arm", "6.1", "1G")}


@pytest.fixture(params=list(SMOKES))
def smoke(request: pytest.FixtureRequest) -> Iterator:
    arch, kernel, mem = SMOKES[request.param]
    if request.config.getoption("--images"):
        pytest.skip("boots the test image of its own arch and kernel, not a Buildroot one")
    b = Booter(request.config, arch, request.node.name)
    request.node.stash[TARGETS] = b.targets
    try:
        t = b.boot(mem=mem, kernel=kernel)
        t.kernel_problems()
        yield t, kernel
        assert_no_kernel_problems(t)
    finally:
        b.close()


def test_boot_swap_and_unload(smoke):
    t, kernel = smoke
    assert t.check("uname -m") == ARCHES[t.arch].uname
    assert t.check("uname -r").startswith(kernel + ".")
    if t.arch == "arm":
        assert meminfo(t)["HighTotal"] > 128 << 20  # the pool gets highmem pages
    # the init script's swap
    rz = Rz(t)
    assert "/dev/ramzswap0" in t.check("cat /proc/swaps")
    disksize = int(rz.get("disksize"))
    assert disksize == meminfo(t)["MemTotal"] // 4 // PAGE * PAGE

    # a workload in a 16M memory cgroup swaps most of its 48M whatever the guest's RAM, and
    # --rewrite swaps each page out again once it was read back and checked
    sd.memcg(t, "rzsmoke", "16M")
    pages = (48 << 20) // PAGE
    before = rz.stats()
    res = rzscan(t, sd.Scan("mixed", 48, rewrite=True), "rzsmoke", 600)
    after = rz.stats()
    assert res.verified, res.output
    assert after["num_writes"] - before["num_writes"] > pages
    assert after["num_reads"] - before["num_reads"] > pages // 2
    assert check_consistent(after, disksize) == []
    # its slots were released when it exited
    assert after["notify_free"] - before["notify_free"] > pages // 2
    assert after["pages_stored"] < 1024

    t.check("swapoff /dev/ramzswap0")
    rz = fresh(t)  # unloads, loads
    rz.setup("16M")
    res = rz.io(["write", 0, 8, "text", 1], ["write", 8, 8, "random", 1, True],
                ["write", 16, 8, "same", 1], ["read", 0, 32], ["discard", 0, 8],
                ["read", 0, 8], ["state"])
    assert res[3]["digests"] == (digests("text", 1, 0, 8) + digests("random", 1, 8, 8)
                                 + digests("same", 1, 16, 8) + [ZERO_DIGEST] * 8)
    assert res[4]["error"] is None and res[5]["digests"] == [ZERO_DIGEST] * 8
    st = res[6]["stats"]
    assert check_consistent(st, 16 << 20, slack=0) == []
    assert (st["pages_stored"], st["same_pages"], st["pages_expand"]) == (16, 8, 8)
    rz.reset()
    t.check("rmmod ramzswap")
