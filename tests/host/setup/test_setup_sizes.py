"""Size and budget parsing, and the pure sizing rules."""

import pytest
from hypothesis import given
from hypothesis import strategies as st
from ramzswap_setup import policy
from ramzswap_setup.errors import ConfigError
from ramzswap_setup.sizes import format_size, parse_budget, parse_size

MIB = 1 << 20
GIB = 1 << 30


@pytest.mark.parametrize(
    ("text", "ram", "expected"),
    [
        ("64M", 0, 64 * MIB),
        ("64MiB", 0, 64 * MIB),
        ("65536K", 0, 64 * MIB),
        ("65536k", 0, 64 * MIB),
        ("1G", 0, GIB),
        ("1.5G", 0, GIB + GIB // 2),
        ("67108864", 0, 64 * MIB),
        ("67108865", 0, 64 * MIB),  # rounded down to 4 KiB
        (" 8m ", 0, 8 * MIB),
        ("25%", 256 * MIB, 64 * MIB),
        ("12.5%", 256 * MIB, 32 * MIB),
        ("15%", 100_000_000, 14_999_552),  # 15 000 000 rounded down to 4 KiB
        ("100%", 8 * GIB, 8 * GIB),
        (4096 * 3 + 1, 0, 4096 * 3),  # a TOML integer: bytes
    ],
)
def test_sizes_resolve_to_bytes_rounded_down_to_4k(text, ram, expected):
    assert parse_size(text).resolve(ram) == expected


@pytest.mark.parametrize(
    "text", ["", "M", "64MB", "64 megabytes", "-5", "5.5", "1e6", "x%", "%", "12..5%", "١٢M", True]
)
def test_bad_sizes_are_refused(text):
    with pytest.raises(ValueError):
        parse_size(text)


@given(st.integers(min_value=0, max_value=1 << 44), st.sampled_from(["", "K", "M", "G"]))
def test_any_whole_size_parses_and_is_page_aligned(n, unit):
    scale = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}[unit]
    value = parse_size(f"{n}{unit}").resolve(0)
    assert value % 4096 == 0
    assert n * scale - 4096 < value <= n * scale


@given(st.integers(min_value=0, max_value=10000), st.integers(min_value=1, max_value=1 << 36))
def test_percent_never_exceeds_its_share(tenths, ram):
    value = parse_size(f"{tenths // 10}.{tenths % 10}%").resolve(ram)
    assert value % 4096 == 0
    assert value * 1000 <= ram * tenths


@pytest.mark.parametrize(
    ("n", "text"),
    [(512, "512 B"), (4096, "4 KiB"), (64 * MIB, "64 MiB"), (GIB + GIB // 2, "1.5 GiB")],
)
def test_format_size(n, text):
    assert format_size(n) == text


def test_budget_parses_amount_and_period():
    budget = parse_budget("512M/day")
    assert (budget.nbytes, budget.period, budget.unit) == (512 * MIB, 86400, "day")
    assert parse_budget("1G/week").period == 7 * 86400
    assert parse_budget("64M / hour").period == 3600
    for none in ("none", "unlimited", "", 0):
        assert parse_budget(none) is None


@pytest.mark.parametrize("text", ["512M", "512M/month", "10%/day", "1K/day", "abc/day", 5])
def test_bad_budgets_are_refused(text):
    with pytest.raises(ValueError):
        parse_budget(text)


def _size(ram, disk=None, mem=None, backing=None, fallback=False):
    return policy.size(
        ram,
        parse_size(disk) if disk else None,
        "opt-d",
        parse_size(mem) if mem else None,
        "opt-m",
        backing,
        fallback=fallback,
    )


def test_policy_refuses_configured_disksize_above_twice_ram():
    assert _size(256 * MIB, disk="512M").disksize == 512 * MIB
    with pytest.raises(ConfigError, match=r"^opt-d: disksize: 516 MiB is more than 2 x RAM"):
        _size(256 * MIB, disk="516M")


def test_policy_lets_backing_size_exceed_twice_ram():
    sizing = _size(32 * MIB, backing=4 * GIB)
    assert sizing.disksize == 4 * GIB
    assert sizing.memlimit == 5029888


def test_policy_refuses_memlimit_above_disksize_and_tiny_disks():
    with pytest.raises(ConfigError, match=r"^opt-m: memlimit: 65 MiB is more than disksize 64 MiB"):
        _size(256 * MIB, mem="65M")
    with pytest.raises(ConfigError, match="too small for a swap area"):
        _size(256 * MIB, disk="36K")


def test_policy_cuts_memlimit_instead_of_refusing_when_backing_fell_away():
    sizing = _size(256 * MIB, mem="30%", fallback=True)
    assert sizing.memlimit == sizing.disksize == 64 * MIB
    assert any("cut to disksize" in w for w in sizing.warnings)


def test_policy_warns_above_half_of_ram():
    assert _size(256 * MIB, disk="200M", mem="128M").warnings == []
    warnings = _size(256 * MIB, disk="200M", mem="129M").warnings
    assert len(warnings) == 1 and "more than half of RAM" in warnings[0]
