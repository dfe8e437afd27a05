"""status from the driver's stats, and the flash budget kept across reboots."""

import json
import shutil

import pytest
from conftest import DAY, T0
from rzsetup_fakes import MIB, RAMZSWAP_STATS, FakeKernel

FLASH = "/var/lib/ramzswap/flash"
BUDGET = 64 * MIB  # 16384 pages a day


@pytest.fixture
def backed(system):
    system.module_available("ramzswap")
    system.block_device("vdb", 256 * MIB, (254, 16))
    system.config('backing = "/dev/vdb"\nbacking_write_budget = "64M/day"\n')


def flash_file(system) -> dict[str, int]:
    return {k: int(v) for k, v in (line.split("=") for line in system.read(FLASH).splitlines())}


def limit_written(kernel) -> list[str]:
    return [c[2] for c in kernel.calls if c[0] == "write" and c[1].endswith("backing_write_limit")]


def reboot(system, kernel) -> None:
    """What a power cycle does to the fake: /run is emptied, the module is gone."""
    shutil.rmtree(system.path("/run"))
    system.path("/run").mkdir()
    for name in ("ramzswap", "zram"):
        if system.exists(f"/sys/module/{name}"):
            kernel.unload_module(name)
    system.write("/proc/swaps", system.read("/proc/swaps").splitlines()[0] + "\n")
    kernel.calls.clear()


def test_status_json_matches_the_driver_stats(run, system, kernel, backed):
    assert run("start").status == 0
    values = {name: (i + 1) * 1000 for i, name in enumerate(RAMZSWAP_STATS)}
    values.update(orig_data_size=40 * MIB, compr_data_size=10 * MIB, mem_used_total=12 * MIB)
    system.set_stats("ramzswap0", **values)
    result = run("status", "--json")
    assert result.status == 0, result
    info = json.loads(result.out)
    (dev,) = info["devices"]
    assert dev["stats"] == {"stats": values}
    assert dev["name"] == "ramzswap0" and dev["backend"] == "ramzswap" and dev["ours"] is True
    assert dev["swap_active"] is True and dev["swap_priority"] == 100
    assert dev["disksize"] == 256 * MIB and dev["memlimit"] == 40263680
    assert dev["backing"] == "/dev/vdb" and dev["algorithm"] == "lz4"
    same_names = ["pages_stored", "orig_data_size", "compr_data_size", "mem_used_total",
                  "mem_used_max", "same_pages", "num_reads", "num_writes", "failed_reads",
                  "failed_writes", "notify_free", "backing_write_limit_left"]  # fmt: skip
    for name in same_names:
        assert dev[name] == values[name], name
    assert dev["incompressible_pages"] == values["pages_expand"]
    assert dev["bdev_reads"] == values["bdev_num_reads"]
    assert dev["bdev_writes"] == values["bdev_num_writes"]
    assert dev["bdev_write_bytes"] == values["bdev_num_writes"] * 4096
    assert dev["compression_ratio"] == 4.0
    assert dev["effective_ratio"] == round(40 / 12, 3)
    assert dev["memlimit_used"] == round(12 * MIB / 40263680, 3)
    flash = info["flash"]
    assert flash["today_bytes"] == flash["lifetime_bytes"] == values["bdev_num_writes"] * 4096
    assert flash["budget_bytes"] == BUDGET and flash["period_seconds"] == DAY


def test_status_text(run, system, backed):
    run("start")
    system.set_stats(
        "ramzswap0", pages_stored=2560, orig_data_size=10 * MIB, compr_data_size=2 * MIB,
        mem_used_total=3 * MIB, mem_used_max=4 * MIB, same_pages=100, pages_expand=7,
        bdev_num_reads=5, bdev_num_writes=256, backing_write_limit_left=16128,
    )  # fmt: skip
    out = run("status").out.splitlines()
    assert out == [
        "ramzswap0 (ramzswap): swap on, priority 100",
        "  disksize 256 MiB, memlimit 38.4 MiB, backing /dev/vdb",
        "  stored 2560 pages (10 MiB) in 2 MiB with lz4: ratio 5.0",
        "  memory used 3 MiB (max 4 MiB), 7.8% of memlimit",
        "  same-filled 100 pages, incompressible 7 pages",
        "  backing: 5 reads, 256 writes, 16128 pages of write limit left",
        "flash: 1 MiB written this period of 64 MiB budget, 1 MiB lifetime",
    ]


def test_no_backing_write_limit_is_none_not_minus_one(run, system, kernel):
    """The module says -1 when no backing write limit is set; status says none, in both forms."""
    system.module_available("ramzswap")
    system.block_device("vdb", 256 * MIB, (254, 16))
    assert run("start", "--backing", "/dev/vdb").status == 0
    system.set_stats("ramzswap0", bdev_num_writes=3, backing_write_limit_left=-1)
    (dev,) = json.loads(run("status", "--json").out)["devices"]
    assert dev["backing_write_limit_left"] is None
    assert dev["stats"]["stats"]["backing_write_limit_left"] == -1  # the raw file as it is
    assert "  backing: 0 reads, 3 writes" in run("status").out.splitlines()


def test_status_without_devices(run):
    assert run("status").out == "no ramzswap or zram devices\n"
    assert json.loads(run("status", "--json").out) == {"devices": [], "flash": None,
                                                      "writeback": None, "notes": []}


def test_zram_status_maps_mm_io_and_bd_stat(run, system, kernel):
    system.module_available("zram")
    run("start", "--backend", "zram")
    d = "/sys/block/zram0"
    system.write(f"{d}/mm_stat", f"{8 * MIB} {2 * MIB} {3 * MIB} 0 {4 * MIB} 11 0 13 0\n")
    system.write(f"{d}/io_stat", "1 2 3 4\n")
    system.write(f"{d}/stat", "100 0 800 5 200 0 1600 9 0 0 0\n")
    (dev,) = json.loads(run("status", "--json").out)["devices"]
    assert dev["pages_stored"] == 8 * MIB // 4096
    assert (dev["compr_data_size"], dev["mem_used_total"], dev["mem_used_max"]) == (
        2 * MIB, 3 * MIB, 4 * MIB,
    )  # fmt: skip
    assert (dev["same_pages"], dev["incompressible_pages"]) == (11, 13)
    assert (dev["failed_reads"], dev["failed_writes"], dev["notify_free"]) == (1, 2, 4)
    assert (dev["num_reads"], dev["num_writes"]) == (100, 200)
    assert dev["compression_ratio"] == 4.0 and dev["algorithm"] == "lz4"  # what start set
    assert dev["memlimit"] == 0 and dev["memlimit_used"] is None
    assert dev["stats"]["io_stat"] == {
        "failed_reads": 1, "failed_writes": 2, "invalid_io": 3, "notify_free": 4,
    }  # fmt: skip


def test_flash_budget_survives_reboots(run, system, kernel, clock, backed):
    assert run("start").status == 0
    assert limit_written(kernel) == ["16384"]
    system.set_stats("ramzswap0", bdev_num_writes=1000)
    run("status")
    assert flash_file(system) == {
        "lifetime_bytes": 1000 * 4096, "period_start": T0, "period_bytes": 1000 * 4096,
    }  # fmt: skip
    system.set_stats("ramzswap0", bdev_num_writes=1500)
    clock.now += 3600
    assert run("stop").status == 0
    assert flash_file(system)["period_bytes"] == 1500 * 4096

    reboot(system, kernel)
    clock.now += 3600
    assert run("start").status == 0
    assert limit_written(kernel) == [str(16384 - 1500)]
    system.set_stats("ramzswap0", bdev_num_writes=16384 - 1500)
    run("stop")

    reboot(system, kernel)
    clock.now += 3600
    result = run("start")
    assert result.status == 0
    assert result.err.splitlines()[0] == (
        "ramzswap-setup: warning: flash write budget 64M/day is used up for this day "
        "(64 MiB written): backing /dev/vdb not used"
    )
    assert "RAM-only" in result.err
    assert limit_written(kernel) == []
    assert system.read("/sys/block/ramzswap0/backing_swap") == ""
    run("stop")

    reboot(system, kernel)
    clock.now = T0 + DAY + 60  # the next day: a fresh budget, the lifetime total kept
    assert run("start").status == 0
    assert limit_written(kernel) == ["16384"]
    info = json.loads(run("status", "--json").out)["flash"]
    assert (info["today_bytes"], info["lifetime_bytes"]) == (0, BUDGET)
    assert flash_file(system) == {
        "lifetime_bytes": BUDGET, "period_start": T0 + DAY, "period_bytes": 0,
    }  # fmt: skip


def test_clock_going_back_keeps_what_was_spent(run, system, kernel, clock, backed):
    run("start")
    system.set_stats("ramzswap0", bdev_num_writes=4000)
    run("stop")
    reboot(system, kernel)
    clock.now = 1000  # a board without an RTC boots in 1970
    run("start")
    assert limit_written(kernel) == [str(16384 - 4000)]
    assert flash_file(system)["period_start"] == T0  # start saves nothing; stop/status do
    run("status")
    assert flash_file(system) == {
        "lifetime_bytes": 4000 * 4096, "period_start": 1000, "period_bytes": 4000 * 4096,
    }  # fmt: skip


def test_counter_reset_under_us_is_not_lost(run, system, backed):
    run("start")
    system.set_stats("ramzswap0", bdev_num_writes=300)
    run("status")
    system.set_stats("ramzswap0", bdev_num_writes=50)  # the driver's counters went back to 0
    run("status")
    assert flash_file(system)["lifetime_bytes"] == 350 * 4096


def test_new_period_refreshes_the_limit_when_the_driver_allows(run, system, clock, backed):
    k = FakeKernel(system)
    run("start", k=k)
    system.set_stats("ramzswap0", bdev_num_writes=16000)
    run("status", k=k)
    clock.now += DAY
    result = run("status", k=k)
    assert "note: new flash budget period: backing write limit 16384 pages" in result.out
    assert limit_written(k) == ["16384", "16384"]
    assert run("status", k=k).out.count("new flash budget period") == 0  # only once


def test_new_period_with_a_driver_that_refuses_says_when_it_applies(run, system, clock, backed):
    k = FakeKernel(system, limit_after_init=False)
    run("start", k=k)
    clock.now += DAY
    out = run("status", k=k).out
    assert "the driver refused a new write limit (Device or resource busy)" in out
    assert "granted again at the next start" in out


def test_read_only_flash_is_reported_not_fatal(run, system, backed):
    run("start")
    system.set_stats("ramzswap0", bdev_num_writes=10)
    system.path("/var/lib").chmod(0o500)
    system.write("/var/lib/ramzswap", "not a directory")  # makes saving fail even for root
    result = run("status")
    assert result.status == 0
    assert "note: flash counters not saved to /var/lib/ramzswap/flash" in result.out


def test_status_names_the_compressor_that_holds_the_data(run, system, kernel):
    system.module_available("ramzswap")
    assert run("start", "--algorithm", "zstd").status == 0
    (dev,) = json.loads(run("status", "--json").out)["devices"]
    assert dev["algorithm"] == "zstd"
    assert " with zstd: ratio " in run("status").out


@pytest.mark.parametrize("state", ["failed", "removed"])
def test_status_says_when_the_module_has_given_the_backing_device_up(run, system, state):
    """The module stops forwarding to a backing device whose writes fail or whose disk went
    away (stats: backing_state); status says so in both forms, and ok says nothing."""
    system.module_available("ramzswap")
    system.block_device("vdb", 256 * MIB, (254, 16))
    assert run("start", "--backing", "/dev/vdb").status == 0
    system.set_stats("ramzswap0", bdev_num_writes=40, failed_writes=16, backing_state="ok")
    (dev,) = json.loads(run("status", "--json").out)["devices"]
    assert dev["backing_state"] == "ok"
    assert not [ln for ln in run("status").out.splitlines() if "given up" in ln]
    system.set_stats("ramzswap0", backing_state=state)
    (dev,) = json.loads(run("status", "--json").out)["devices"]
    assert dev["backing_state"] == state
    assert dev["failed_writes"] == 16
    assert (f"  backing {state}: given up, pages stay in RAM within memlimit "
            "(reset or restart to use it again)") in run("status").out.splitlines()


def test_a_module_that_does_not_say_has_no_backing_state(run, system):
    system.module_available("ramzswap")
    system.block_device("vdb", 256 * MIB, (254, 16))
    assert run("start", "--backing", "/dev/vdb").status == 0
    (dev,) = json.loads(run("status", "--json").out)["devices"]
    assert dev["backing_state"] is None
