"""Host-side helpers of the module's target tests: drive /dev/ramzswapN and its sysfs
directory over the console, sample its stats while a workload runs, and check that the
stats agree with each other."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import rzmod_io
from harness import Booter, watched
from rztools.target import swapdevs as sd

PAGE = rzmod_io.PAGE
IO_SCRIPT = "/tmp/rzmod_io.py"
STAT_NAMES = [
    "num_reads", "num_writes", "failed_reads", "failed_writes", "invalid_io", "notify_free",
    "same_pages", "pages_stored", "pages_expand", "good_compress", "orig_data_size",
    "compr_data_size", "mem_used_total", "mem_used_max", "bdev_num_reads", "bdev_num_writes",
    "bdev_num_discards", "backing_write_limit_left", "bdev_wb_pages", "bdev_wb_skipped",
]
# lines of an initialised device's stats that name how its data is compressed
COMP_STATS = ("comp_algorithm", "comp_level")
# the line after the counters: what the backing device is doing (a word)
STATE_STATS = ("backing_state",)
# gauges may lag each other by what the CPUs are storing or freeing at the moment of reading
IN_FLIGHT = 8


def meminfo(t) -> dict[str, int]:
    """/proc/meminfo in bytes."""
    out = {}
    for line in t.check("cat /proc/meminfo").splitlines():
        name, value = line.split(":", 1)
        parts = value.split()
        out[name] = int(parts[0]) * (1024 if parts[1:] == ["kB"] else 1)
    return out


def vmstat(t) -> dict[str, int]:
    """/proc/vmstat's counters."""
    return {k: int(v) for k, v in (line.split() for line in
                                   t.check("cat /proc/vmstat").splitlines())}


def unload(t) -> None:
    """No swap and no module: whatever set it up (the init script, an earlier test)."""
    sd.clean_slate(t)


def load(t, params: str = "") -> None:
    t.check(f"modprobe ramzswap {params}")


def fresh(t, params: str = "") -> Rz:
    """The module just loaded (with params), whatever was there before; its ramzswap0."""
    unload(t)
    load(t, params)
    return Rz(t)


def assert_all_zero(stats: dict[str, int]) -> None:
    """Stats of a device before init or after reset."""
    rest = dict(stats)
    assert rest.pop("backing_write_limit_left") == -1, stats  # no limit set
    assert rest.pop("backing_state", "none") == "none", stats
    assert set(rest.values()) == {0}, stats


def ram_mib(t) -> int:
    return meminfo(t)["MemTotal"] >> 20


def backing_disk(t) -> str:
    return t.disk_by_serial("rzbacking")


def rzscan(t, scan: sd.Scan, group: str | None = None, timeout: float = 900) -> sd.ScanResult:
    """rzscan in the guest (in memory cgroup `group`, made with sd.memcg); its report must be
    there unless its time limit killed it."""
    res = sd.run_scan(t, scan, group, timeout)
    assert res.report is not None or res.status == 137, res.output
    return res


# -- guests of a test file's own ------------------------------------------------------------------
# RAM for guests that should swap a lot in little time: about the same MemTotal (50-55 MiB,
# ~30 MiB available after boot) on both arches, the x86_64 kernel keeping more of its RAM for
# itself.  Less leaves python3 (rzmod_io) little room, and x86_64 does not boot with 80M.
SMALL_GUEST = {"x86_64": "104M", "aarch64": "80M"}


def guest_fixtures(mem: str | dict[str, str] = "256M", **boot: object) -> tuple:
    """Fixtures for a test file whose tests share one guest booted with `boot`:

        file_guest, guest = guest_fixtures(mem=SMALL_GUEST, backing="1G")

    mem: the guest's RAM, or RAM by arch (128M for an arch not named).  `guest` is that
    guest for one test, which fails if the kernel logged an oops during it."""

    @pytest.fixture(scope="module")
    def file_guest(request: pytest.FixtureRequest, arch: str) -> Iterator:
        b = Booter(request.config, arch, f"{request.module.__name__}-{arch}")
        ram = mem if isinstance(mem, str) else mem.get(arch, "128M")
        try:
            yield b.boot(mem=ram, **boot)
        finally:
            b.close()

    @pytest.fixture
    def guest(request: pytest.FixtureRequest, file_guest) -> Iterator:
        with watched(request, file_guest) as t:
            yield t

    return file_guest, guest


@dataclass
class Rz:
    """ramzswapN of a guest."""

    t: object
    n: int = 0
    dev: str = field(init=False)
    sys: str = field(init=False)

    def __post_init__(self) -> None:
        self.dev = f"/dev/ramzswap{self.n}"
        self.sys = f"/sys/block/ramzswap{self.n}"

    # -- sysfs through the shell
    def get(self, attr: str) -> str:
        return self.t.check(f"cat {self.sys}/{attr}")

    def set(self, attr: str, value: str | int) -> None:
        self.t.check(f"echo {value} > {self.sys}/{attr}")

    def stats(self) -> dict[str, int]:
        """The counters of `stats` (the algorithm's lines: comp(); the backing device's
        state: backing_state())."""
        lines = dict(line.split() for line in self.get("stats").splitlines())
        out = {k: int(v) for k, v in lines.items() if k not in COMP_STATS + STATE_STATS}
        assert list(out) == STAT_NAMES
        return out

    def backing_state(self) -> str:
        """none, ok, failed or removed: the `backing_state` line of `stats`."""
        lines = dict(line.split() for line in self.get("stats").splitlines())
        return lines["backing_state"]

    def comp(self) -> tuple[str, int] | None:
        """The algorithm and level that hold the data, from `stats`; None before init."""
        lines = dict(line.split() for line in self.get("stats").splitlines())
        if "comp_algorithm" not in lines:
            return None
        return lines["comp_algorithm"], int(lines["comp_level"])

    def algorithms(self) -> tuple[list[str], str]:
        """comp_algorithm: what the kernel offers, and the one set (in brackets)."""
        names = self.get("comp_algorithm").split()
        current = [n.strip("[]") for n in names if n.startswith("[")]
        assert len(current) == 1, names
        return [n.strip("[]") for n in names], current[0]

    def setup(self, disksize: str | int, memlimit: str | int = 0, backing: str = "",
              write_limit: int = 0) -> None:
        """Settings, then disksize (which initialises the device)."""
        cmds = [f"echo {memlimit} > {self.sys}/memlimit",
                f"echo {write_limit} > {self.sys}/backing_write_limit"]
        if backing:
            cmds.append(f"echo {backing} > {self.sys}/backing_swap")
        cmds.append(f"echo {disksize} > {self.sys}/disksize")
        self.t.check(" && ".join(cmds))
        assert self.get("initstate") == "1"

    def swapon(self) -> None:
        self.t.check(f"mkswap {self.dev} >/dev/null && swapon -d {self.dev}")

    def reset(self) -> None:
        self.set("reset", 1)
        assert self.get("initstate") == "0"

    def swap_device(self, disksize: int, memlimit: int = 0, backing: str = "") -> None:
        """Unload whatever there was, load the module, set ramzswapN up and swap on it."""
        unload(self.t)
        load(self.t, f"num_devices={self.n + 1}")
        self.setup(disksize, memlimit=memlimit, backing=backing)
        self.swapon()

    # -- rzmod_io in the guest: O_DIRECT block I/O and raw sysfs writes
    def io(self, *ops: list, timeout: float = 120) -> list:
        install_io(self.t)
        spec = json.dumps(list(ops), separators=(",", ":"))
        if len(spec) > 600 or "'" in spec:
            self.t.write_file("/tmp/rzmod_ops.json", spec)
            spec = "@/tmp/rzmod_ops.json"
        out = self.t.check(f"python3 {IO_SCRIPT} {self.dev} '{spec}'", timeout)
        return json.loads(out.splitlines()[-1])

    def io1(self, op: list, timeout: float = 120):  # -> one result
        return self.io(op, timeout=timeout)[0]


def install_io(t) -> None:
    source = Path(rzmod_io.__file__).read_bytes()
    want = hashlib.md5(source).hexdigest()
    if t.run(f"md5sum {IO_SCRIPT} 2>/dev/null").output.split()[:1] != [want]:
        t.write_file(IO_SCRIPT, source)


def digests(kind: str, seed: int, first: int, count: int) -> list[str]:
    """What rzmod_io's read reports for pages first.. of a data set."""
    return [rzmod_io.digest(rzmod_io.page(kind, seed, i)) for i in range(first, first + count)]


ZERO_DIGEST = rzmod_io.digest(bytes(PAGE))


# -- stats ----------------------------------------------------------------------------------
def check_consistent(s: dict[str, int], disksize: int, memlimit: int = 0,
                     slack: int | None = None) -> list[str]:
    """What is wrong with one stats reading (empty if nothing).

    The counters are read one after the other while pages come and go, so a reading taken
    while swap is busy may find them a little apart: `slack` pages.  None (the default) is
    for such readings: IN_FLIGHT plus 2 % of pages_stored, as a vCPU may be held up by the
    host between two reads while the others go on.  0 is for a device at rest.  The limits
    that one counter alone must keep (memlimit, disksize) get no slack."""
    if slack is None:
        slack = IN_FLIGHT + s["pages_stored"] // 50
    bad = []

    def need(ok: bool, what: str) -> None:
        if not ok:
            bad.append(f"{what}: {s}")

    stored, same, expand, good = (s["pages_stored"], s["same_pages"], s["pages_expand"],
                                  s["good_compress"])
    need(s["orig_data_size"] == stored * PAGE, "orig_data_size != pages_stored x PAGE_SIZE")
    need(0 <= stored <= disksize // PAGE, "pages_stored outside 0..disksize")
    need(min(same, expand, good, s["compr_data_size"]) >= 0, "a gauge below zero")
    need(same + expand + good <= stored + slack,
         "same_pages + pages_expand + good_compress > pages_stored")
    # compressed data: every expanded page whole, at most a page for every other stored page
    need(s["compr_data_size"] >= (expand - slack) * PAGE, "compr_data_size < expanded pages")
    need(s["compr_data_size"] <= (stored - same + slack) * PAGE,
         "compr_data_size > PAGE_SIZE x (pages held in the pool)")
    # the pool holds the compressed bytes; same-filled pages take nothing from it
    need(s["mem_used_total"] + slack * PAGE >= s["compr_data_size"],
         "mem_used_total < compr_data_size")
    need(s["mem_used_max"] >= s["mem_used_total"], "mem_used_max < mem_used_total")
    if memlimit:
        need(s["mem_used_max"] <= memlimit, "mem_used_max above memlimit")
        need(s["compr_data_size"] <= memlimit, "compr_data_size above memlimit")
    need(s["notify_free"] <= s["num_writes"], "more slots freed than written")
    need(stored <= s["num_writes"] - s["failed_writes"] + slack,
         "more pages stored than written")
    need(s["failed_reads"] == 0, "failed reads")
    need(s["invalid_io"] == 0, "invalid I/O from swap")
    return bad


class Sampler:
    """Reads a device's stats in the guest every `every` seconds, in the background."""

    def __init__(self, rz: Rz, every: float = 0.5, path: str = "/tmp/rzstats.samples") -> None:
        self.rz, self.path = rz, path
        # the counters only: they come first, the algorithm's lines after them
        loop = (f"while :; do awk 'NR <= {len(STAT_NAMES)} {{printf \"%s \", $2}} "
                f"END {{print \"\"}}' {rz.sys}/stats; sleep {every}; done")
        self.pid = int(rz.t.check(f"( {loop} ) > {path} 2>/dev/null & echo $!"))

    def stop(self) -> list[dict[str, int]]:
        t = self.rz.t
        t.check(f"kill {self.pid}; wait {self.pid} 2>/dev/null; true")
        out = []
        for line in t.check(f"cat {self.path}").splitlines():
            values = line.split()
            if len(values) == len(STAT_NAMES):  # the last line may be cut by the kill
                out.append(dict(zip(STAT_NAMES, map(int, values), strict=True)))
        return out
