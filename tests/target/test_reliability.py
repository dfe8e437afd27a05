"""The reliability scenarios in their short form (`make reliability` runs the same
code at full size: rztools.bench.reliability.LONG).

Each scenario counts its own checks; a test fails on any failed check, with the
scenario's notes and measured facts in the message, and also asserts the facts that
show the scenario really did what it is about (the faults were injected, the limit
was reached, swap was used).
"""

import pytest
from rztools.bench import reliability as rel


@pytest.fixture
def size(arch):
    return rel.short_for(arch)


def test_backing_disk_failing_reads_and_writes(boot, tmp_path, size):
    out = rel.backing_eio(boot, size, tmp_path)
    assert out.failed == 0, str(out)
    # the direct writes and reads of the failing slots were refused and counted
    assert out.facts["direct"] == {"bdev_num_writes": 8, "failed_writes": 2,
                                   "failed_reads": 4}, str(out)
    # as swap: pages went to the disk, its failures were counted, and every worker
    # that lost a page died of SIGBUS instead of reading wrong data
    st = out.facts["swap_stats"]
    assert st["bdev_num_writes"] > 0 and st["failed_reads"] + st["failed_writes"] > 0
    assert out.facts["workers_killed_by_sigbus"] <= st["failed_reads"]


def test_memlimit_exhaustion_without_backing(target, size):
    out = rel.memlimit_exhaustion(target, size)
    assert out.failed == 0, str(out)
    assert out.facts["failed_writes"] > 0
    assert all(r["mem_used_max"] <= rel.MEMLIMIT for r in out.facts["runs"])


def test_memlimit_is_not_spent_on_copies_of_pages_in_ram(target, size):
    """A page read back is freed from the store at once (the device is synchronous for
    swap on every kernel), so under the same memlimit ramzswap fails no more writes
    than zram does; before 6940c34 it failed ~110000 of them on 6.1."""
    out = rel.memlimit_vs_zram(target, size)
    assert out.failed == 0, str(out)


def test_smp_stress_four_cpus_every_data_set(boot, size):
    out = rel.smp_stress(boot, size)
    assert out.failed == 0, str(out)
    datasets = {r["dataset"].split(":")[0] for r in out.facts["runs"]}
    assert datasets == {"zero", "same", "text", "random", "mixed", "file"}
    assert sum(r["pswpin"] for r in out.facts["runs"]) > 0


def test_soak_with_reset_between_rounds(target, size):
    out = rel.soak(target, size)
    assert out.failed == 0, str(out)
    assert out.facts["rounds"] >= 1 and out.facts["scans"] >= 1


def test_sysfs_fuzz_idle_and_while_swapping(boot, size):
    out = rel.sysfs_fuzz(boot(backing="64M", append="ramzswap=off"), size)
    assert out.failed == 0, str(out)
    for phase in ("idle", "active"):
        assert set(out.facts[phase]) == set(rel.FUZZED_ATTRS)
        # every attribute saw writes it had to refuse
        assert all(r["rejected"] > 0 for r in out.facts[phase].values()), out.facts[phase]
    # while the device is swap, only backing_write_limit may change
    assert out.facts["active"]["backing_write_limit"]["accepted"] > 0


def test_module_load_unload_cycles(target, size):
    out = rel.load_unload(target, size)
    assert out.failed == 0, str(out)
    # each cycle: load, device count, init, unload refused while swap, stats, reset, unload
    assert out.facts["cycles"] == size.cycles and out.tried >= 7 * size.cycles
