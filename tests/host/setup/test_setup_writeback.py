"""Idle writeback: the policy's arithmetic, and `writeback` rounds on a fake zram and ramzswap.

A round marks, waits, writes back what stayed idle, within a budget that survives reboots
and power cuts.
"""

import json
import shutil

import pytest
from conftest import DAY, T0
from ramzswap_setup import writeback_policy as policy
from rzsetup_fakes import MIB

STATE = "/var/lib/ramzswap/writeback"
HOUR = 3600
BOOT = "/proc/sys/kernel/random/boot_id"


# -- the policy, pure ----------------------------------------------------------------------
@pytest.mark.parametrize(("used", "allowed", "left", "size"), [
    (0, 100 * MIB, 1 << 30, 5 * MIB),                 # empty device: the minimum
    (100 * MIB, 100 * MIB, 1 << 30, 300 * MIB),       # full: the maximum
    (200 * MIB, 100 * MIB, 1 << 30, 300 * MIB),       # over full: still the maximum
    (50 * MIB, 100 * MIB, 1 << 30, 5 * MIB + 295 * MIB // 2 // 4096 * 4096),
    (100 * MIB, 100 * MIB, 20 * MIB + 100, 20 * MIB),  # what is left, in pages
    (100 * MIB, 100 * MIB, 5 * MIB - 4096, 0),         # below a round's minimum: none
    (0, 0, 1 << 30, 300 * MIB),                        # nothing known: as if full
])
def test_round_size_scales_with_fullness_within_the_budget(used, allowed, left, size):
    assert policy.round_size(used, allowed, 5 * MIB, 300 * MIB, left) == size


def test_decide_marks_waits_for_the_age_then_writes_back():
    st = policy.WritebackState()
    age, interval = 20 * HOUR, 600
    assert policy.decide(st, T0, "boot1", age, interval) == ("mark", 0)
    st.mark_time, st.mark_boot = T0, "boot1"
    assert policy.decide(st, T0 + HOUR, "boot1", age, interval) == ("wait", T0 + age)
    assert policy.decide(st, T0 + age, "boot1", age, interval) == ("writeback", 0)
    # a mark lives in the kernel: another boot has none
    assert policy.decide(st, T0 + age, "boot2", age, interval) == ("mark", 0)
    # a clock gone back before the mark cannot tell its age: mark again
    assert policy.decide(st, T0 - DAY, "boot1", age, interval) == ("mark", 0)
    st.last_round = T0 + age
    assert policy.decide(st, T0 + age + 60, "boot1", age, interval) == ("wait",
                                                                       T0 + age + interval)


def test_reserve_settle_and_recover_never_count_less_than_written():
    st = policy.WritebackState(period_start=T0, period_bytes=10 * MIB)
    policy.reserve(st, T0, 50 * MIB)
    assert (st.period_bytes, st.reserved, st.last_round) == (60 * MIB, 50 * MIB, T0)
    recovered = policy.WritebackState(**st.to_values())
    policy.settle(st, 30 * MIB)
    assert (st.period_bytes, st.reserved, st.last_bytes) == (40 * MIB, 0, 30 * MIB)
    # a power cut before settle: the whole reservation stays spent
    assert policy.recover(recovered) is True
    assert (recovered.period_bytes, recovered.reserved) == (60 * MIB, 0)
    assert policy.recover(recovered) is False


def test_state_parsing_refuses_what_it_cannot_trust():
    good = {k: str(v) for k, v in policy.WritebackState(period_start=T0).to_values().items()}
    st, why = policy.parse_state(good)
    assert why is None and st.period_start == T0
    assert policy.parse_state(None) == (None, "no writeback state yet")
    assert policy.parse_state({**good, "period_bytes": "12x"})[1] == \
        "period_bytes: '12x' is not a number"
    del good["reserved"]
    assert policy.parse_state(good)[1] == "reserved is missing"


# -- rounds on a fake device ---------------------------------------------------------------
@pytest.fixture
def zram(system, kernel):
    system.module_available("zram")
    system.block_device("vdb", 1024 * MIB, (254, 16))
    system.write(BOOT, "boot-1\n")
    system.config('backend = "zram"\nbacking = "/dev/vdb"\nwriteback_budget = "64M/day"\n'
                  'writeback_round_min = "1M"\nwriteback_round_max = "32M"\n')


def state_file(system) -> dict[str, str]:
    return dict(line.split("=", 1) for line in system.read(STATE).splitlines())


def wb(run) -> dict:
    result = run("writeback", "--json")
    assert result.status == 0, result
    return json.loads(result.out)


def test_first_round_counts_the_budget_spent_then_a_day_later_writes_back(
        run, system, kernel, clock, zram):
    assert run("start").status == 0
    kernel.writeback_pages["zram0"] = {"huge_idle": 100, "idle": 100000, "huge": 50}
    first = wb(run)
    assert first["action"] == "rebuilt" and first["budget_left"] == 0
    assert not any(c[1].endswith("/writeback") for c in kernel.calls if c[0] == "write")
    clock.now += DAY
    # zram here marks by age: the round writes back at once, huge_idle first
    done = wb(run)
    assert done["action"] == "wrote", done
    assert ("write", "/sys/block/zram0/idle", str(20 * HOUR)) in kernel.calls
    # an empty device: the round's minimum, 1M = 256 pages of 4 KiB
    assert done["by_mode"] == {"huge_idle": 100 * 4096, "idle": 156 * 4096}
    assert done["written_bytes"] == 1 * MIB
    assert system.read("/sys/block/zram0/bd_stat").split()[2] == "256"
    # zram's own limit is left as it was: off
    assert system.read("/sys/block/zram0/writeback_limit_enable").strip() == "0"
    st = state_file(system)
    assert (st["reserved"], st["period_bytes"], st["last_bytes"]) == ("0", str(MIB), str(MIB))
    assert done["budget_left"] == 63 * MIB
    # ten minutes apart at least
    clock.now += 60
    waiting = wb(run)
    assert waiting["action"] == "waiting" and waiting["next_round"] == T0 + DAY + 600
    assert system.read("/sys/block/zram0/bd_stat").split()[2] == "256"


def test_without_marks_by_age_a_round_marks_and_a_later_one_writes_back(
        run, system, kernel, clock, zram):
    kernel.zram_idle_age = False
    assert run("start").status == 0
    kernel.writeback_pages["zram0"] = {"idle": 100000}
    wb(run)
    clock.now += DAY
    marked = wb(run)
    assert marked["action"] == "marked"
    assert ("write", "/sys/block/zram0/idle", "all") in kernel.calls
    assert marked["next_round"] == T0 + DAY + 20 * HOUR
    clock.now += HOUR
    assert wb(run)["action"] == "waiting"
    clock.now += 19 * HOUR
    done = wb(run)
    assert done["action"] == "wrote" and done["written_bytes"] == MIB
    # and marks again for the next one
    assert state_file(system)["mark_time"] == str(int(clock.now))


def test_the_budget_stops_a_round_and_a_reboot_does_not_refill_it(
        run, system, kernel, clock, zram):
    system.config('backend = "zram"\nbacking = "/dev/vdb"\nwriteback_budget = "3M/day"\n'
                  'writeback_round_min = "1M"\nwriteback_round_max = "32M"\n'
                  'writeback_interval = "1m"\n')
    assert run("start").status == 0
    kernel.writeback_pages["zram0"] = {"idle": 100000}
    system.write("/sys/block/zram0/mm_stat", f"0 0 {200 * MIB} 0 0 0 0 0 0\n")  # full
    wb(run)
    clock.now += DAY
    # the whole budget, not the 32M a full device would get
    assert wb(run)["written_bytes"] == 3 * MIB
    clock.now += HOUR
    spent = wb(run)
    assert spent["action"] == "nothing" and spent["budget_left"] == 0
    # a power cycle: /run and the kernel's counters are gone, /var/lib is not
    assert run("stop").status == 0
    shutil.rmtree(system.path("/run"))
    system.path("/run").mkdir()
    system.write(BOOT, "boot-2\n")
    assert run("start").status == 0
    kernel.writeback_pages["zram0"] = {"idle": 100000}
    system.write("/sys/block/zram0/mm_stat", f"0 0 {200 * MIB} 0 0 0 0 0 0\n")
    clock.now += HOUR
    again = wb(run)
    assert again["action"] == "nothing" and again["budget_left"] == 0
    assert system.read("/sys/block/zram0/bd_stat").split()[2] == "0"
    clock.now += DAY
    assert wb(run)["written_bytes"] == 3 * MIB


def test_a_round_cut_short_keeps_its_budget_spent(run, system, kernel, clock, zram):
    assert run("start").status == 0
    wb(run)
    clock.now += DAY
    # what a power cut mid-round leaves: the round reserved, never settled
    st = policy.WritebackState(period_start=int(clock.now), period_bytes=40 * MIB,
                               reserved=40 * MIB, last_round=int(clock.now))
    system.write(STATE, "".join(f"{k}={v}\n" for k, v in st.to_values().items()))
    clock.now += HOUR
    kernel.writeback_pages["zram0"] = {"idle": 100000}
    after = wb(run)
    assert any("did not finish" in n for n in after["notes"]), after
    assert after["budget_left"] == 64 * MIB - 40 * MIB - after["written_bytes"]


def test_a_corrupt_state_file_is_refused_in_one_line_and_rebuilt(run, system, kernel, clock,
                                                                  zram):
    assert run("start").status == 0
    system.write(STATE, "period_start=yesterday\n")
    kernel.calls.clear()
    result = run("writeback")
    assert result.status == 1 and result.out == ""
    lines = result.err.strip().splitlines()
    assert len(lines) == 1 and "writeback: period_start is missing" not in lines[0], lines
    assert lines[0].startswith(f"ramzswap-setup: error: {STATE}: "), lines
    assert "rebuilt, budget counted as spent until" in lines[0]
    assert not any(c[1].endswith("/writeback") for c in kernel.calls if c[0] == "write")
    st = state_file(system)
    assert st["period_bytes"] == str(64 * MIB) and st["period_start"] == str(T0)


def test_zram_answering_an_error_is_judged_by_bd_stat(run, system, kernel, clock, zram):
    assert run("start").status == 0
    wb(run)
    clock.now += DAY
    kernel.writeback_pages["zram0"] = {"idle": 100000}
    kernel.writeback_errno = 5  # EIO, with pages written
    done = wb(run)
    assert done["written_bytes"] == MIB and done["by_mode"]["idle"] == MIB


def test_a_flash_budget_caps_the_round_too(run, system, kernel, clock, zram):
    system.config('backend = "zram"\nbacking = "/dev/vdb"\nwriteback_budget = "64M/day"\n'
                  'backing_write_budget = "2M/day"\nwriteback_round_min = "1M"\n')
    assert run("start").status == 0
    wb(run)
    clock.now += DAY
    kernel.writeback_pages["zram0"] = {"idle": 100000}
    system.write("/sys/block/zram0/mm_stat", f"0 0 {200 * MIB} 0 0 0 0 0 0\n")
    done = wb(run)
    assert done["written_bytes"] == 2 * MIB
    # zram's writeback_limit is the flash budget's: lowered for the round, then less what it wrote
    assert system.read("/sys/block/zram0/writeback_limit_enable").strip() == "1"
    assert system.read("/sys/block/zram0/writeback_limit").strip() == "0"


def test_status_shows_the_last_round_the_next_and_the_budget(run, system, kernel, clock, zram):
    assert run("start").status == 0
    wb(run)
    clock.now += DAY
    kernel.writeback_pages["zram0"] = {"idle": 100000}
    wb(run)
    info = json.loads(run("status", "--json").out)
    assert info["writeback"]["last_round"] == T0 + DAY
    assert info["writeback"]["last_round_bytes"] == MIB
    assert info["writeback"]["budget_left"] == 63 * MIB
    text = run("status").out
    assert "writeback: last round 2025-06-16 15:06:40 UTC (1 MiB), next from " in text, text
    assert "63 MiB of 64 MiB per day left" in text


# --scheduled too: an old module is something to report, not nothing to do
@pytest.mark.parametrize("args", [(), ("--scheduled",)])
def test_ramzswap_without_writeback_is_refused_before_anything_changes(run, system, args):
    from rzsetup_fakes import FakeKernel

    old = FakeKernel(system, ramzswap_writeback=False)  # a module from before writeback
    system.module_available("ramzswap")
    system.block_device("vdb", 256 * MIB, (254, 16))
    system.config('backing = "/dev/vdb"\n')
    assert run("start", k=old).status == 0
    old.calls.clear()
    result = run("writeback", *args, k=old)
    assert result.status == 1
    assert result.err.strip() == ("ramzswap-setup: error: writeback: this ramzswap has no idle "
                                  "writeback (no idle or writeback attribute)")
    assert old.calls == [] and not system.exists(STATE)


def test_ramzswap_rounds_ask_the_module_for_max_pages(run, system, clock, kernel):
    k = kernel
    system.module_available("ramzswap")
    system.block_device("vdb", 256 * MIB, (254, 16))
    system.write(BOOT, "boot-1\n")
    system.config('backing = "/dev/vdb"\nwriteback_round_min = "1M"\n')
    assert run("start", k=k).status == 0
    run("writeback", k=k)
    clock.now += DAY
    k.writeback_pages["ramzswap0"] = {"huge_idle": 10, "idle": 100000}
    assert run("writeback", k=k).status == 0  # marks: the module takes no age
    assert ("write", "/sys/block/ramzswap0/idle", "all") in k.calls
    clock.now += 20 * HOUR
    result = run("writeback", "--json", k=k)
    done = json.loads(result.out)
    assert done["written_bytes"] == MIB, result
    writes = [c[2] for c in k.calls if c[0] == "write" and c[1].endswith("/writeback")]
    assert writes == ["huge_idle max_pages=256", "idle max_pages=246"]


def test_no_device_of_ours_is_one_line(run, system):
    result = run("writeback")
    assert result.status == 1
    assert result.err.strip().splitlines() == [
        "ramzswap-setup: error: writeback: no device set up by `ramzswap-setup start` this boot"]


def test_a_scheduled_round_with_nowhere_to_write_is_quiet(run, system, kernel):
    # cron and the timer run on every image: without a device, or without a backing
    # device, there is nothing to do and nothing to report every ten minutes
    assert run("writeback", "--scheduled").status == 0
    system.module_available("ramzswap")
    assert run("start", k=kernel).status == 0
    kernel.calls.clear()
    plain = run("writeback", k=kernel)
    assert plain.status == 1
    assert plain.err.strip() == ("ramzswap-setup: error: writeback: /dev/ramzswap0 has no "
                                 "backing device")
    quiet = run("writeback", "--scheduled", k=kernel)
    assert (quiet.status, quiet.out, quiet.err) == (0, "", "")
    assert kernel.calls == [] and not system.exists(STATE)

