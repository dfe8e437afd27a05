"""The reliability runner's own logic: the fault-injection rules, how checks are counted
and reported, and what counts as a verified or an acceptably killed workload."""

from __future__ import annotations

import pytest
from rztools.bench import reliability as rel
from rztools.target import swapdevs as sd
from rztools.target.qemu import InjectError, blkdebug_config


def test_blkdebug_rules_hit_the_backing_slots():
    text = blkdebug_config(rel.eio_rules())
    assert text.count("[inject-error]") == len(rel.EIO_READ_SLOTS) + len(rel.EIO_WRITE_SLOTS)
    assert f'sector = "{rel.EIO_READ_SLOTS[0] * 8}"' in text
    assert 'iotype = "write"' in text and 'event = "none"' in text
    assert not set(rel.EIO_READ_SLOTS) & set(rel.EIO_WRITE_SLOTS) & set(rel.DIRECT_GOOD)
    with pytest.raises(ValueError):
        blkdebug_config([InjectError("flush", 0)])


def test_a_blkdebug_rule_without_a_sector_fails_every_request_of_its_type():
    text = blkdebug_config([InjectError("write", None)])
    assert 'iotype = "write"' in text and "sector" not in text


def test_outcome_counts_checks_and_reports_failures():
    out = rel.Outcome("x")
    assert out.check(True, "fine") and not out.check(False, "page 3 came back wrong")
    assert out.summary() == {"scenario": "x", "tried": 2, "failed": 1,
                             "notes": "page 3 came back wrong"}
    md = rel.markdown("x86_64", rel.SHORT, [out])
    assert "| x | 2 | 1 |" in md and "page 3 came back wrong" in md


@pytest.mark.parametrize("status,report,killed_ok,ok", [
    (0, {"mismatches": 0}, False, True),
    (3, {"mismatches": 0}, False, False),
    (3, {"mismatches": 0}, True, True),      # a worker killed (SIGBUS, OOM)
    (137, None, True, True),                 # rzscan itself killed by its time limit
    (1, {"mismatches": 4}, True, False),     # wrong data is never acceptable
    (2, None, True, False),                  # a usage error is not a kill
])
def test_scan_verdicts(status, report, killed_ok, ok):
    out = rel.Outcome("s")
    assert rel.scan_ok(out, sd.ScanResult(status, report, ""), "run", killed_ok) is ok
    assert out.failed == (0 if ok else 1)


def test_every_scenario_is_named_in_scenarios():
    import inspect

    src = inspect.getsource(rel.run_all)
    assert all(f'("{name}",' in src for name in rel.SCENARIOS)
    assert src.count('        ("') == len(rel.SCENARIOS)
