"""`plan` on fake systems: the sizing table, where every value comes from, and every refusal."""

import json

import pytest
from rzsetup_fakes import MIB

GIB = 1 << 30
BACKING = 512 * MIB

# MemTotal (kB) -> (disksize RAM-only, memlimit with a 512 MiB backing device), in bytes.
# RAM-only: disksize = 25 % of MemTotal, no memlimit. With backing: disksize = 512 MiB,
# memlimit = min(15 % of MemTotal, disksize). All rounded down to 4 KiB.
TABLE = [
    (32 * 1024, 8388608, 5029888),
    (64 * 1024, 16777216, 10063872),
    (120344, 30806016, 18481152),  # what a 128M QEMU guest may report
    (128 * 1024, 33554432, 20131840),
    (256 * 1024, 67108864, 40263680),
    (512 * 1024, 134217728, 80527360),
    (1024 * 1024, 268435456, 161058816),
    (2048 * 1024, 536870912, 322121728),
    (4096 * 1024, 1073741824, 536870912),  # 15 % is more than the disk: capped at disksize
    (8192 * 1024, 2147483648, 536870912),
]


@pytest.mark.parametrize(("mem_kb", "ram_only_disksize", "backed_memlimit"), TABLE)
def test_sizing_table_ram_only(plan, system, mem_kb, ram_only_disksize, backed_memlimit):
    system.meminfo(mem_kb * 1024)
    p = plan()
    assert p["mem_total"] == mem_kb * 1024
    assert (p["disksize"], p["memlimit"], p["backing"]) == (ram_only_disksize, 0, None)
    assert p["sources"]["disksize"] == "default"


@pytest.mark.parametrize(("mem_kb", "ram_only_disksize", "backed_memlimit"), TABLE)
def test_sizing_table_with_backing(plan, system, mem_kb, ram_only_disksize, backed_memlimit):
    system.meminfo(mem_kb * 1024)
    system.block_device("vdb", BACKING, (254, 16))
    system.config('backing = "/dev/vdb"\n')
    p = plan()
    assert (p["disksize"], p["memlimit"], p["backing"]) == (BACKING, backed_memlimit, "/dev/vdb")
    assert p["backing_size"] == BACKING
    assert p["disksize_why"] == "default: size of the backing device"
    assert p["warnings"] == []


def test_plan_text_names_every_value_and_its_source(run, system):
    system.module_available("ramzswap")
    system.config('priority = 50\ndisksize = "40%"\n')
    system.cmdline("quiet ramzswap.memlimit=32M")
    out = run("plan", "--backend", "ramzswap").out
    rows = {line.split()[0]: line for line in out.splitlines()}
    assert "option --backend" not in rows["backend"]  # the why says which module was found
    assert "ramzswap" in rows["backend"]
    assert "102.4 MiB" in rows["disksize"] and "/etc/ramzswap.conf: 40% of RAM" in rows["disksize"]
    assert "32 MiB" in rows["memlimit"] and "kernel command line" in rows["memlimit"]
    assert rows["priority"].split()[1:] == ["50", "/etc/ramzswap.conf"]
    assert "not configured" in rows["backing"]


# -- precedence: option > kernel command line > config file > default ---------------------

PRECEDENCE = [
    ("disksize", "--disksize", "ramzswap.disksize", 'disksize = "{}"', ["48M", "40M", "32M"]),
    ("memlimit", "--memlimit", "ramzswap.memlimit", 'memlimit = "{}"', ["24M", "20M", "16M"]),
    ("priority", "--priority", "ramzswap.priority", "priority = {}", ["7", "8", "9"]),
    ("backend", "--backend", "ramzswap.backend", 'backend = "{}"', ["zram", "ramzswap", "zram"]),
]


@pytest.mark.parametrize(("key", "option", "kernel_key", "toml", "values"), PRECEDENCE)
def test_every_source_overrides_the_ones_below(plan, system, key, option, kernel_key, toml, values):
    system.module_available("zram")
    opt, kern, conf = values

    def parsed(text: str) -> object:
        if key in ("disksize", "memlimit"):
            return int(text[:-1]) * MIB
        return int(text) if key == "priority" else text

    assert plan()["sources"][key] == "default"
    system.config(toml.format(conf) + "\n")
    p = plan()
    assert (p[key], p["sources"][key]) == (parsed(conf), "/etc/ramzswap.conf")
    system.cmdline(f"console=ttyS0 {kernel_key}={kern} rootwait")
    p = plan()
    assert (p[key], p["sources"][key]) == (parsed(kern), f"kernel command line ({kernel_key}=)")
    p = plan(option, opt)
    assert (p[key], p["sources"][key]) == (parsed(opt), f"option {option}")


def test_backing_and_budget_follow_the_same_order(plan, system):
    system.block_device("vdb", BACKING, (254, 16))
    system.block_device("vdc", BACKING, (254, 32))
    system.config('backing = "/dev/vdb"\nbacking_write_budget = "1G/week"\n')
    assert plan()["backing"] == "/dev/vdb"
    system.cmdline("ramzswap.backing=/dev/vdc ramzswap.backing_write_budget=64M/day")
    p = plan()
    assert (p["backing"], p["backing_write_budget"]) == ("/dev/vdc", "64M/day")
    p = plan("--backing", "none", "--backing-write-budget", "8M/hour")
    assert (p["backing"], p["backing_why"]) == (None, "none (option --backing)")
    assert p["backing_write_budget"] == "8M/hour"


def test_kernel_command_line_off_disables(run, system, kernel):
    system.module_available("ramzswap")
    system.cmdline('console=ttyS0 ramzswap=off init="/sbin/init x"')
    p = json.loads(run("plan", "--json").out)
    assert p["enabled"] is False and p["sources"]["enabled"] == "kernel command line (ramzswap=)"
    assert "disabled (kernel command line (ramzswap=))" in run("plan").out
    result = run("start")
    assert result.status == 0
    assert "disabled by kernel command line" in result.err
    assert kernel.calls == []
    assert system.swaps() == []


def test_kernel_command_line_quotes_dashes_and_module_params(plan, system):
    system.cmdline(
        '"ramzswap.disksize=20M" ramzswap.num_devices=2 ramzswap.backing-write-budget=1G/day'
    )
    p = plan()
    assert p["disksize"] == 20 * MIB
    assert p["sources"]["backing_write_budget"].startswith("kernel command line")


# -- every validation error: one line, exit 2, nothing changed ------------------------------

KCL = "kernel command line"
CONF = "/etc/ramzswap.conf"
ERRORS = [
    ("cmdline", "ramzswap.disksize=lots", f"{KCL} (ramzswap.disksize=): disksize: 'lots' is not"),
    ("cmdline", "ramzswap.sizedisk=64M", f"{KCL} (ramzswap.sizedisk=): unknown key 'sizedisk'"),
    ("cmdline", "ramzswap=maybe", f"{KCL} (ramzswap=): enabled: 'maybe' is not on or off"),
    ("cmdline", "ramzswap.priority=-1", f"{KCL} (ramzswap.priority=): priority: '-1' is not"),
    ("cmdline", "ramzswap.enabled=0", f"{KCL} (ramzswap.enabled=): unknown key"),
    ("config", "disksze = '64M'", f"{CONF}: unknown key 'disksze'"),
    ("config", "disksize = 0", f"{CONF}: disksize: disksize cannot be 0"),
    ("config", "priority = 40000", f"{CONF}: priority: 40000 is not a swap priority"),
    ("config", "priority = true", f"{CONF}: priority: True is not a priority"),
    ("config", "backend = 'zswap'", f"{CONF}: backend: 'zswap' is not one of auto, ramzswap, zram"),
    ("config", "backing = 'vdb'", f"{CONF}: backing: 'vdb' is not an absolute device path"),
    ("config", "backing_write_budget = '1G/month'", f"{CONF}: backing_write_budget: '1G/month'"),
    ("config", "force = 'sure'", f"{CONF}: force: 'sure' is not yes/no"),
    ("config", "algorithm = 'lz4;rm'", f"{CONF}: algorithm: 'lz4;rm' is not a compressor name"),
    ("config", "writeback_idle_age = 'soon'", f"{CONF}: writeback_idle_age: 'soon' is not a"),
    ("config", "writeback_budget = 'none'", f"{CONF}: writeback_budget: 'none': writeback needs"),
    ("config", "writeback_round_max = '10%'", f"{CONF}: writeback_round_max: '10%': a round is"),
    ("config", "[ramzswap]\ndisksize = '1G'", f"{CONF}: unknown key 'ramzswap'"),
    ("config", "disksize = ", f"{CONF}: not valid TOML: Invalid value (at line 1, column 12)"),
    ("args", "--disksize 600M", "option --disksize: disksize: 600 MiB is more than 2 x RAM"),
    ("args", "--disksize 201%", "option --disksize: disksize: 514.6 MiB is more than 2 x RAM"),
    ("args", "--memlimit 65M", "option --memlimit: memlimit: 65 MiB is more than disksize 64 MiB"),
    ("args", "--disksize 32K", "option --disksize: disksize: 32 KiB is too small for a swap"),
    ("args", "--priority high", "option --priority: priority: 'high' is not a swap priority"),
    ("args", "--config /nonexistent.toml", "/nonexistent.toml: no such config file"),
]


@pytest.mark.parametrize(("where", "what", "message"), ERRORS)
@pytest.mark.parametrize("command", ["plan", "start"])
def test_validation_errors_are_one_line_exit_2_and_change_nothing(
    run, system, kernel, where, what, message, command
):
    system.module_available("ramzswap")
    if where == "cmdline":
        system.cmdline("console=ttyS0 " + what)
    if where == "config":
        system.config(what + "\n")
    result = run(command, *(what.split() if where == "args" else []))
    assert result.status == 2, result
    assert result.out == ""
    lines = result.err.splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("ramzswap-setup: error: " + message), lines[0]
    assert kernel.calls == []
    assert not system.exists("/run/ramzswap") and not system.exists("/var/lib/ramzswap")


def test_memlimit_above_half_of_ram_warns_but_plans(plan, system):
    p = plan("--disksize", "200M", "--memlimit", "150M")
    assert p["memlimit"] == 150 * MIB
    assert p["warnings"] == [
        "memlimit 150 MiB is more than half of RAM (256 MiB): "
        "the compressed store may crowd out everything else"
    ]


def test_shipped_config_file_is_valid_and_changes_no_default(plan, system):
    from pathlib import Path

    shipped = Path(__file__).resolve().parents[3] / "ramzswap-setup/init/ramzswap.conf"
    system.config(shipped.read_text())
    p = plan()
    assert set(p["sources"].values()) == {"default"}
    # every key the file documents, uncommented, is a key the helper knows and accepts
    keys = [
        line.lstrip("# ").split("=")[0].strip()
        for line in shipped.read_text().splitlines()
        if line.startswith("# ") and " = " in line
    ]
    assert {"disksize", "memlimit", "backing", "priority", "backing_write_budget"} <= set(keys)
    import tomllib

    lines = shipped.read_text().splitlines()
    uncommented = "\n".join(line[2:] for line in lines if line.startswith("# ") and " = " in line)
    assert set(tomllib.loads(uncommented)) == set(keys)
    system.config(uncommented)
    assert plan()["sources"]["priority"] == "/etc/ramzswap.conf"
