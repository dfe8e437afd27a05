"""ramzswap-setup on the target, every arch: what the init script, start, stop, status and
estimate really do to a running kernel.

Sizes are checked against the formula worked out here from the guest's own MemTotal, not
against what the helper prints. Swap traffic comes from processes confined to a small memory
cgroup, so a few MiB of workload swap whatever the guest's RAM, and quickly under TCG.
Guests of their own (boot) are few and each carries several checks: a boot costs ~10 s.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import lz4.block
import pytest
import rzsetup_pages
from ramzswap_setup.procfs import stats_lines
from rztools.target import guestproc as gp
from rztools.target import swapdevs as sd

PAGE = 4096
CGROUP = "/sys/fs/cgroup/rztest"
PAGES_SCRIPT = "/tmp/rzsetup_pages.py"
STATE = "/run/ramzswap/state"
FLASH = "/var/lib/ramzswap/flash"
RAMZSWAP = "/sys/block/ramzswap0"


# -- reading the guest ------------------------------------------------------------------------
def mem_total(t) -> int:
    return int(t.check("awk '/^MemTotal:/ {print $2}' /proc/meminfo")) * 1024


def round_page(n: int) -> int:
    return n // PAGE * PAGE


def swaps(t) -> dict[str, tuple[int, int, int]]:
    """/proc/swaps: device -> (size KiB, used KiB, priority)."""
    out = {}
    for line in t.check("cat /proc/swaps").splitlines()[1:]:
        name, _type, size, used, prio = line.split()
        out[name] = (int(size), int(used), int(prio))
    return out


def swap_kib(disksize: int) -> int:
    """What /proc/swaps says for a swap area of disksize bytes: the header page is not swap."""
    return (disksize - PAGE) // 1024


def sysfs(t, attr: str, device: str = RAMZSWAP) -> str:
    return t.check(f"cat {device}/{attr}")


def stats(t) -> dict[str, int]:
    """The module's numeric stats (the comp_algorithm line names, it does not count)."""
    return stats_lines(sysfs(t, "stats"))


def kv_file(t, path: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in t.check(f"cat {path}").splitlines())


def helper_json(t, args: str) -> dict:
    return json.loads(t.check(f"ramzswap-setup {args} --json"))


def boot_log(t) -> str:
    """The console output of this guest's boot, up to the login prompt, as the host logged
    it. The log file is appended to, and later `dmesg` output repeats the boot's lines."""
    text = t.log_path.read_text(errors="replace").replace("\r", "")
    end = text.rfind(" login:")
    return text[text.rfind("Linux version ", 0, end) : end]


def is_absent(t, path: str) -> bool:
    return t.run(f"test -e {path}").status == 1


# -- acting on the guest ----------------------------------------------------------------------
def confine(t, limit: str) -> str:
    """A memory cgroup of `limit`; returns the prefix that runs a command line inside it."""
    t.check(
        "grep -q '^cgroup2 /sys/fs/cgroup ' /proc/mounts || mount -t cgroup2 none /sys/fs/cgroup;"
        f" echo +memory > /sys/fs/cgroup/cgroup.subtree_control; mkdir -p {CGROUP};"
        f" echo {limit} > {CGROUP}/memory.max"
    )
    return f"echo $$ > {CGROUP}/cgroup.procs && exec"


def hold_pages(t, seed: int, count: int, limit: str) -> int:
    """Start a process holding the seeded pages, most of them swapped out; returns its pid."""
    t.write_file(PAGES_SCRIPT, Path(rzsetup_pages.__file__).read_text())
    prefix = confine(t, limit)
    out = f"/tmp/pages-{seed}.out"
    # started from a subshell, not as a job of the console's shell: BusyBox ash (1.35) exits
    # when a background job of its own running python3 is killed by a signal
    t.check(f"(sh -c '{prefix} python3 {PAGES_SCRIPT} {seed} {count}' </dev/null >{out} 2>&1 &)")
    t.check(f"for i in $(seq 240); do grep -q ready {out} && break; sleep 0.5; done", 150)
    return int(t.check(f"cat {out}").split()[1])


def rzscan_confined(t, args: str, limit: str = "8M", timeout: float = 240) -> dict:
    prefix = confine(t, limit)
    res = t.run(f"sh -c '{prefix} rzscan {args}'", timeout)
    result = json.loads(res.output.splitlines()[-1])
    assert res.status == 0 and result["mismatches"] == 0, res.output
    return result


# -- the checks shared by the guests of every size ----------------------------------------------
def assert_default_sizes(t) -> int:
    """RAM-only swap on ramzswap0 with 25 % of MemTotal; returns that disksize."""
    ram = mem_total(t)
    disksize = round_page(ram * 25 // 100)
    assert int(sysfs(t, "disksize")) == disksize
    assert int(sysfs(t, "memlimit")) == 0
    assert sysfs(t, "backing_swap") == ""
    assert sysfs(t, "initstate") == "1"
    assert swaps(t) == {"/dev/ramzswap0": (swap_kib(disksize), 0, 100)}
    plan = helper_json(t, "plan")
    assert plan["mem_total"] == ram
    assert (plan["backend"], plan["device"], plan["already_active"]) == (
        "ramzswap",
        "/dev/ramzswap0",
        True,
    )
    assert (plan["disksize"], plan["memlimit"], plan["priority"]) == (disksize, 0, 100)
    assert plan["sources"]["disksize"] == "default"
    return disksize


# -- the module's guest (256M), started at boot by the init script ------------------------------
def test_init_script_started_swap_at_boot_with_the_formula_sizes(target):
    disksize = assert_default_sizes(target)
    state = kv_file(target, STATE)
    assert state["backend"] == "ramzswap" and state["device"] == "/dev/ramzswap0"
    assert state["module_loaded"] == "ramzswap"  # so stop unloads it
    assert int(state["disksize"]) == disksize
    if target.log_path and target.vm:  # a guest we booted: its boot is in the log
        log = boot_log(target)
        # the helper's line on stderr, and the same line through the kernel log
        said = "ramzswap-setup: started ramzswap0 (ramzswap): "
        assert re.search(rf"^{re.escape(said)}.*RAM-only, priority 100$", log, re.M), log
        assert re.search(rf"^\[ *\d+\.\d+\] {re.escape(said)}", log, re.M), log


def test_second_start_changes_nothing_and_says_so(target):
    state = target.check(f"cat {STATE}")
    writes = stats(target)["num_writes"]
    before = swaps(target)
    res = target.run("ramzswap-setup start")
    assert res.status == 0
    assert res.output == "ramzswap-setup: already started: /dev/ramzswap0 is swap; nothing changed"
    assert target.check(f"cat {STATE}") == state
    assert swaps(target) == before
    assert stats(target)["num_writes"] == writes  # not even the swap header was written again


def test_status_json_matches_the_module_stats(target):
    pid = hold_pages(target, seed=11, count=2048, limit="4M")
    try:
        for _ in range(3):  # compare only a quiet moment: the same stats before and after
            raw = target.check(
                f"cat {RAMZSWAP}/stats > /tmp/s1; ramzswap-setup status --json > /tmp/st.json;"
                f" cat {RAMZSWAP}/stats > /tmp/s2; cmp -s /tmp/s1 /tmp/s2 && echo quiet;"
                " cat /tmp/s1 /tmp/st.json"
            )
            if raw.startswith("quiet\n"):
                break
        else:
            pytest.fail("the module's stats never held still across a status")
        text = raw.removeprefix("quiet\n")
        brace = text.index("{")
        st = stats_lines(text[:brace])
        status = json.loads(text[brace:])
        swap = swaps(target)["/dev/ramzswap0"]
    finally:
        target.check(f"kill {pid}")
    (dev,) = [d for d in status["devices"] if d["name"] == "ramzswap0"]
    assert dev["stats"]["stats"] == st
    # the holder's 2048 pages, most of them swapped out: stored, same-filled and incompressible
    assert st["pages_stored"] > 1000 and st["same_pages"] > 100 and st["pages_expand"] > 100
    for key, raw_key in [
        ("pages_stored", "pages_stored"),
        ("orig_data_size", "orig_data_size"),
        ("compr_data_size", "compr_data_size"),
        ("mem_used_total", "mem_used_total"),
        ("mem_used_max", "mem_used_max"),
        ("same_pages", "same_pages"),
        ("incompressible_pages", "pages_expand"),
        ("num_reads", "num_reads"),
        ("num_writes", "num_writes"),
        ("failed_reads", "failed_reads"),
        ("failed_writes", "failed_writes"),
        ("notify_free", "notify_free"),
        ("bdev_reads", "bdev_num_reads"),
        ("bdev_writes", "bdev_num_writes"),
    ]:
        assert dev[key] == st[raw_key], key
    assert dev["compression_ratio"] == round(st["orig_data_size"] / st["compr_data_size"], 3)
    assert dev["effective_ratio"] == round(st["orig_data_size"] / st["mem_used_total"], 3)
    assert dev["backing"] is None and dev["backing_write_limit_left"] is None  # no limit set
    assert (dev["initialised"], dev["ours"], dev["swap_active"]) == (True, True, True)
    assert (dev["swap_size"] // 1024, dev["swap_used"] // 1024, dev["swap_priority"]) == swap
    assert dev["disksize"] == int(sysfs(target, "disksize"))


def test_zram_backend_gets_the_same_sizing_with_lz4(target):
    target.check("ramzswap-setup stop")
    try:
        res = target.run("ramzswap-setup start --backend zram")
        assert res.status == 0, res.output
        assert res.output.startswith("ramzswap-setup: started zram0 (zram): "), res.output
        disksize = round_page(mem_total(target) * 25 // 100)
        zram = "/sys/block/zram0"
        assert int(sysfs(target, "disksize", zram)) == disksize
        assert "[lz4]" in sysfs(target, "comp_algorithm", zram).split()
        assert sysfs(target, "initstate", zram) == "1"
        assert swaps(target) == {"/dev/zram0": (swap_kib(disksize), 0, 100)}
        assert kv_file(target, STATE)["module_loaded"] == "zram"
        rzscan_confined(target, "--data mixed --seed 5 16 1")
        (dev,) = [d for d in helper_json(target, "status")["devices"] if d["name"] == "zram0"]
        assert dev["backend"] == "zram" and dev["swap_active"] and dev["num_writes"] > 1000
        assert target.check("ramzswap-setup stop") == (
            "ramzswap-setup: stopped zram0: swap off, device reset, module zram unloaded"
        )
        assert swaps(target) == {}
        assert is_absent(target, "/sys/module/zram")
    finally:
        target.run("ramzswap-setup stop; ramzswap-setup start")
    assert_default_sizes(target)


def test_stop_leaves_no_swap_and_no_device_initialised(target):
    # start loaded the module: stop unloads it
    assert target.check("ramzswap-setup stop") == (
        "ramzswap-setup: stopped ramzswap0: swap off, device reset, module ramzswap unloaded"
    )
    assert swaps(target) == {}
    assert is_absent(target, "/sys/module/ramzswap") and is_absent(target, RAMZSWAP)
    assert is_absent(target, STATE)
    # the module was there before start: stop resets the device and leaves the module loaded
    target.check("modprobe ramzswap")
    try:
        target.check("ramzswap-setup start")
        assert kv_file(target, STATE)["module_loaded"] == ""
        assert target.check("ramzswap-setup stop") == (
            "ramzswap-setup: stopped ramzswap0: swap off, device reset"
        )
        assert swaps(target) == {}
        assert sysfs(target, "initstate") == "0"
        assert int(sysfs(target, "disksize")) == 0
        assert target.check("ramzswap-setup stop") == "ramzswap-setup: nothing to stop"
    finally:
        target.run("ramzswap-setup stop; modprobe -r ramzswap; ramzswap-setup start")
    assert_default_sizes(target)


def test_start_inserts_plain_modules_itself(target):
    """No modprobe on PATH: start loads ramzswap and lz4_compress itself (finit_module)."""
    target.check("ramzswap-setup stop")
    assert target.run("PATH=/usr/bin:/bin command -v modprobe").status != 0
    try:
        res = target.run("PATH=/usr/bin:/bin ramzswap-setup start")
        assert res.status == 0, res.output
        assert res.output.startswith("ramzswap-setup: started ramzswap0 (ramzswap): ")
        assert kv_file(target, STATE)["module_loaded"] == "ramzswap"
        assert_default_sizes(target)
    finally:
        target.run("ramzswap-setup stop; ramzswap-setup start")


def test_module_configured_for_modprobe_is_loaded_by_modprobe(target):
    """start inserts plain modules itself; a modprobe.d line about the module makes it leave
    the loading to modprobe, which applies the options (here: the module sets ramzswap0 up)."""
    conf = "/etc/modprobe.d/rztest.conf"
    target.check("ramzswap-setup stop")
    target.write_file(conf, "options ramzswap disksize_kb=16384\n")
    try:
        res = target.run("ramzswap-setup start")
        assert (res.status, res.output) == (0, (
            "ramzswap-setup: started ramzswap0 (ramzswap, set up by module parameters "
            "disksize_kb=16384): disksize 16 MiB, memlimit none, RAM-only, priority 100"
        ))  # fmt: skip
        assert swaps(target) == {"/dev/ramzswap0": (swap_kib(16 << 20), 0, 100)}
        assert kv_file(target, STATE)["module_loaded"] == "ramzswap"
    finally:
        target.run(f"rm -f {conf}; ramzswap-setup stop; ramzswap-setup start")
    assert_default_sizes(target)


# -- guests of their own ----------------------------------------------------------------------
def test_backing_disk_and_flash_budget_from_the_config_file(boot):
    """128M: RAM-only at boot; then backing and a flash budget in /etc/ramzswap.conf."""
    t = boot(mem="128M", backing="64M")
    assert_default_sizes(t)
    disk = t.disk_by_serial("rzbacking")
    disk_size = int(t.check(f"cat /sys/block/{disk[5:]}/size")) * 512
    budget = 256 << 20
    t.write_file("/etc/ramzswap.conf", f'backing = "{disk}"\nbacking_write_budget = "256M/day"\n')
    res = t.run("/etc/init.d/S11ramzswap-setup restart")
    assert res.status == 0, res.output
    limit = budget // PAGE  # nothing written to flash yet this period
    assert f"backing {disk} ({limit} pages of flash budget left), priority 100" in res.output

    disksize = round_page(disk_size)
    memlimit = min(round_page(mem_total(t) * 15 // 100), disksize)
    assert int(sysfs(t, "disksize")) == disksize
    assert int(sysfs(t, "memlimit")) == memlimit
    assert sysfs(t, "backing_swap") == disk
    assert int(sysfs(t, "backing_write_limit")) == limit
    assert swaps(t) == {"/dev/ramzswap0": (swap_kib(disksize), 0, 100)}
    plan = helper_json(t, "plan")
    assert (plan["backing"], plan["backing_size"]) == (disk, disk_size)
    assert (plan["disksize"], plan["memlimit"]) == (disksize, memlimit)
    assert plan["sources"]["backing"] == plan["sources"]["backing_write_budget"]
    assert plan["sources"]["backing"] == "/etc/ramzswap.conf"

    # random pages do not compress: they go to the disk, and must come back right
    rzscan_confined(t, "--data random --seed 9 24 1")
    st = stats(t)
    written = st["bdev_num_writes"]
    assert written > 1000 and st["bdev_num_reads"] > 1000 and st["failed_reads"] == 0
    assert st["backing_write_limit_left"] == limit - written

    flash = helper_json(t, "status")["flash"]
    assert (flash["today_bytes"], flash["lifetime_bytes"]) == (written * PAGE, written * PAGE)
    assert flash["budget_bytes"] == budget
    t.check("ramzswap-setup stop")
    saved = kv_file(t, FLASH)
    assert int(saved["period_bytes"]) == int(saved["lifetime_bytes"]) == written * PAGE
    # the next start grants what is left of the budget
    t.check("ramzswap-setup start")
    assert int(sysfs(t, "backing_write_limit")) == limit - written
    assert stats(t)["bdev_num_writes"] == 0  # a fresh device: the count lives in the file
    flash = helper_json(t, "status")["flash"]
    assert (flash["today_bytes"], flash["lifetime_bytes"]) == (written * PAGE, written * PAGE)


def test_missing_backing_warns_and_starts_ram_only(boot):
    """512M, backing on the kernel command line that does not exist."""
    t = boot(mem="512M", append="ramzswap.backing=/dev/rzmissing")
    warning = "ramzswap-setup: warning: backing /dev/rzmissing: missing: starting RAM-only"
    kernel_log = t.check("dmesg | grep 'ramzswap-setup: '")
    assert re.search(rf"\] {re.escape(warning)}$", kernel_log, re.M), kernel_log
    assert re.search(r"\] ramzswap-setup: started ramzswap0 .*RAM-only", kernel_log), kernel_log
    assert re.search(rf"^{re.escape(warning)}$", boot_log(t), re.M)  # the init script's stderr
    assert_default_sizes(t)
    plan = helper_json(t, "plan")
    assert plan["backing"] is None and "missing" in plan["backing_why"]
    assert plan["sources"]["backing"] == "kernel command line (ramzswap.backing=)"
    assert any("/dev/rzmissing" in w for w in plan["warnings"])
    # started by hand: the same warning on stderr alone, and the same RAM-only swap
    t.check("ramzswap-setup stop")
    res = t.run("ramzswap-setup start 2>/tmp/err >/dev/null; cat /tmp/err")
    assert res.status == 0
    assert res.output.splitlines()[0] == warning
    assert_default_sizes(t)


def test_module_parameters_on_the_kernel_command_line_reach_the_module(boot):
    """At boot start loads the module itself (no modprobe) and hands it its parameters from
    the kernel command line, as kmod would: the module sets ramzswap0 up, start formats it."""
    t = boot(mem="128M", append="ramzswap.disksize_kb=20480")
    said = (
        "ramzswap-setup: started ramzswap0 (ramzswap, set up by module parameters "
        "disksize_kb=20480): disksize 20 MiB, memlimit none, RAM-only, priority 100"
    )
    assert re.search(rf"\] {re.escape(said)}$", t.check("dmesg"), re.M)
    assert sysfs(t, "disksize") == str(20 << 20)
    assert swaps(t) == {"/dev/ramzswap0": (swap_kib(20 << 20), 0, 100)}
    assert t.check("cat /sys/module/ramzswap/parameters/disksize_kb") == "20480"
    # stop unloads what start loaded, the dependency included (kmod's modprobe -r)
    t.check("ramzswap-setup stop")
    assert is_absent(t, "/sys/module/ramzswap") and is_absent(t, "/sys/module/lz4_compress")
    # the parameters come from start itself, not from modprobe: there is none on this PATH
    res = t.run("PATH=/usr/bin:/bin ramzswap-setup start")
    assert (res.status, res.output) == (0, said)


def test_kernel_cmdline_off_starts_nothing(boot):
    t = boot(mem="128M", append="ramzswap=off")
    said = "ramzswap-setup: disabled by kernel command line (ramzswap=): nothing done"
    assert re.search(rf"\] {re.escape(said)}$", t.check("dmesg"), re.M)
    res = t.run("ramzswap-setup start")
    assert (res.status, res.output) == (0, said)
    assert swaps(t) == {}
    for path in ("/sys/module/ramzswap", "/sys/module/zram", RAMZSWAP, "/sys/block/zram0", STATE):
        assert is_absent(t, path), path
    plan = helper_json(t, "plan")
    assert plan["enabled"] is False and plan["disksize"] is None


def test_estimate_of_a_process_matches_lz4_on_the_host(boot):
    """A process holds seeded pages, most of them in compressed swap; the pages estimate
    sampled (--save) come to the host through a spare disk and are compressed here."""
    t = boot(mem="256M", backing="32M")
    seed, count = 7, 1024
    pid = hold_pages(t, seed, count, limit="2M")
    swapped_kib = int(t.check(f"awk '/^VmSwap:/ {{print $2}}' /proc/{pid}/status"))
    assert swapped_kib * 1024 > count * PAGE // 2
    est = helper_json(t, f"estimate --pid {pid} --save /tmp/sample")
    size = int(t.check("stat -c %s /tmp/sample"))
    disk = t.disk_by_serial("rzbacking")
    t.check(f"dd if=/tmp/sample of={disk} bs=1M conv=fsync 2>/dev/null")
    t.check(f"kill {pid}")

    a = est["analysis"]
    assert est["page_size"] == PAGE and size == a["pages"] * PAGE
    data = Path(t.vm.machine.backing).read_bytes()[:size]
    sample = [data[i : i + PAGE] for i in range(0, size, PAGE)]
    # it read the process's memory, swapped-out pages included: every seeded page is there
    held = set(sample)
    assert all(p in held for p in rzsetup_pages.pages(seed, count))

    lz4_bytes = stored = same = incompressible = 0
    for page in sample:
        n = len(lz4.block.compress(page, store_size=False))
        lz4_bytes += n
        if page[8:] == page[:-8]:  # one 8-byte word repeated: stored for free
            same += 1
        elif n > PAGE * 3 // 4:  # stored whole
            incompressible += 1
            stored += PAGE
        else:
            stored += n
    assert a["same_pages"] == same
    assert abs(a["incompressible_pages"] - incompressible) <= count // 100
    assert a["lz4_ratio"] == pytest.approx(size / lz4_bytes, rel=0.05)
    assert a["effective_ratio"] == pytest.approx(size / stored, rel=0.05)
    assert 1.5 < a["effective_ratio"] < 6  # the seeded mix: text, random, zero, same-filled


# -- idle writeback ----------------------------------------------------------------------
WB_STATE = "/var/lib/ramzswap/writeback"


def writeback_setup(t, disk: str, backend: str = "ramzswap", budget: str = "64M/day",
                    round_min: str = "1M", round_max: str = "8M") -> None:
    """The device again with the backing disk and a policy of seconds instead of hours."""
    t.check("ramzswap-setup stop")
    t.write_file("/etc/ramzswap.conf", f'backend = "{backend}"\nbacking = "{disk}"\n'
                 'writeback_idle_age = "3s"\nwriteback_interval = "1s"\n'
                 f'writeback_round_min = "{round_min}"\nwriteback_round_max = "{round_max}"\n'
                 f'writeback_budget = "{budget}"\n')
    t.check("ramzswap-setup start")


def device(t) -> dict:
    (dev,) = [d for d in helper_json(t, "status")["devices"] if d["ours"]]
    return dev


def idle_text_in_swap(t, mib: int = 24) -> tuple[int, int]:
    """rzscan fills @mib of text in an 8M cgroup, then is stopped with most of it swapped
    out; returns the pids of its shell and of its worker."""
    prefix = confine(t, "8M")
    scan = sd.Scan("text", mib, passes=3, seed=5)
    line = f"{prefix} {scan.command()} >/tmp/wb.out 2>&1"
    pid = gp.start_background(t, f"sh -c {shlex.quote(line)}")
    (worker,) = gp.wait_filled(t, pid, 1, gp.nearly(mib << 10))
    gp.kill(t, "STOP", [worker])
    return pid, worker


def first_rounds(t) -> tuple[dict, dict]:
    """The rounds up to the first that writes back: the first on a device counts the day
    as spent, so a day later, after a mark where the driver needs one.  Returns the
    device's status just before that round, and the round."""
    first = helper_json(t, "writeback")
    assert first["action"] == "rebuilt" and first["budget_left"] == 0, first
    t.check("date -s @$(( $(date +%s) + 86400 )) >/dev/null; sleep 4")
    dev = device(t)
    round_ = helper_json(t, "writeback")
    if round_["action"] == "marked":  # ramzswap, and zram before `idle <seconds>` (6.2)
        t.check("sleep 4")
        dev = device(t)
        round_ = helper_json(t, "writeback")
    return dev, round_


@pytest.mark.parametrize("backend", ["ramzswap", "zram"])
def test_writeback_round_moves_idle_pages_to_the_backing_disk(boot, backend):
    """256M and a 128M backing disk: a round writes back pages a stopped process left in
    the store, within the round's size, and the process then reads every one back."""
    t = boot(mem="256M", backing="128M")
    disk = t.disk_by_serial("rzbacking")
    writeback_setup(t, disk, backend, budget="64M/day", round_max="8M")
    assert device(t)["backing"] == disk and device(t)["backend"] == backend
    pid, worker = idle_text_in_swap(t)
    dev, round_ = first_rounds(t)
    held, sent = dev["compr_data_size"], dev["bdev_write_bytes"]
    assert round_["action"] == "wrote", round_
    written = round_["written_bytes"]
    assert 0 < written <= round_["round_bytes"] <= 8 << 20, round_
    dev = device(t)
    assert dev["bdev_write_bytes"] - sent == written, dev
    # what went to the disk left RAM: text compresses about 2:1 (zram's orig_data_size
    # still counts pages written back, so the compressed bytes are the measure)
    assert dev["compr_data_size"] <= held - written // 4, (held, dev)
    assert round_["budget_left"] == (64 << 20) - written
    status = t.check("ramzswap-setup status")
    assert "writeback: last round " in status and " of 64 MiB per day left" in status, status

    # every page comes back right, from RAM and from the disk
    gp.kill(t, "CONT", [worker])
    t.check(f"while [ -e /proc/{pid} ]; do sleep 1; done", 600)
    report = sd.parse_rzscan(t.check("cat /tmp/wb.out"))
    assert report["mismatches"] == 0 and report["pages_scanned"] > 0, report
    assert device(t)["bdev_reads"] > 0  # read back from the disk


def test_the_crontab_entry_runs_a_round_and_logs_it(boot):
    """What crond runs every ten minutes, run as cron runs it: nothing at all without a
    backing device; with one, a round whose lines reach syslog."""
    t = boot(mem="256M", backing="128M")
    (entry,) = [line for line in t.check("cat /etc/cron/crontabs/root").splitlines()
                if line.strip() and not line.startswith("#")]
    command = entry.split(None, 5)[5]
    t.check("syslogd -O /tmp/messages")
    # boot started the device from the default config: no backing device
    t.check(f"sh -c {shlex.quote(command)}")
    t.check("sleep 1")
    assert "ramzswap-setup" not in t.check("cat /tmp/messages")
    assert not t.run("test -e /var/lib/ramzswap/writeback").ok

    disk = t.disk_by_serial("rzbacking")
    t.check("ramzswap-setup stop")
    t.write_file("/etc/ramzswap.conf", f'backing = "{disk}"\n')
    t.check("ramzswap-setup start")
    t.check(f"sh -c {shlex.quote(command)}")
    t.check("sleep 1")
    log = t.check("grep ramzswap-setup /tmp/messages")
    assert "writeback: state rebuilt, nothing written" in log, log
    assert "budget left: 0 B of 1 GiB per day" in log, log
    assert helper_json(t, "status")["writeback"]["budget_left"] == 0


def test_the_budget_spent_stays_spent_across_a_reboot(boot, tmp_path):
    """One device booted twice from the same root and backing disk, as a board boots from
    its flash: what a round spent of the day's budget is still spent after the reboot,
    though the second boot's clock starts a day before the round."""
    root = tmp_path / "root.ext4"
    t = boot(mem="256M", backing="128M", root=root)
    disk = t.disk_by_serial("rzbacking")
    # rounds of exactly the budget: after one, less than a round is left
    writeback_setup(t, disk, budget="2M/day", round_min="2M", round_max="2M")
    _, worker = idle_text_in_swap(t)
    _, round_ = first_rounds(t)
    assert round_["action"] == "wrote" and 0 < round_["written_bytes"] <= 2 << 20, round_
    left = (2 << 20) - round_["written_bytes"]
    assert round_["budget_left"] == left
    gp.kill(t, "KILL", [worker])
    assert t.vm.poweroff(60)

    t = boot(mem="256M", backing=str(t.vm.machine.backing), root=root)
    assert device(t)["backing"] == disk  # the boot set the device up from the same config
    assert helper_json(t, "status")["writeback"]["budget_left"] == left
    sent = device(t)["bdev_write_bytes"]
    marked = helper_json(t, "writeback")  # a mark does not outlive its boot
    assert marked["action"] == "marked" and marked["budget_left"] == left, marked
    t.check("sleep 4")
    again = helper_json(t, "writeback")
    assert again["action"] == "nothing" and again["budget_left"] == left, again
    assert any("below a round's 2 MiB" in n for n in again["notes"]), again
    assert device(t)["bdev_write_bytes"] == sent


def test_qemu_killed_mid_round_leaves_a_state_the_next_boot_accepts(boot, tmp_path):
    """The power goes mid-round (QEMU killed while a round writes to a throttled disk):
    the next boot reads the state file back, and the round's whole size stays spent."""
    root = tmp_path / "root.ext4"
    # 256 KiB/s: an 8M round takes half a minute
    t = boot(mem="256M", backing="128M", root=root,
             throttle="throttling.bps-write=262144")
    disk = t.disk_by_serial("rzbacking")
    writeback_setup(t, disk, budget="64M/day", round_min="8M", round_max="8M")
    idle_text_in_swap(t)
    helper_json(t, "writeback")  # rebuilt: the day spent
    t.check("date -s @$(( $(date +%s) + 86400 )) >/dev/null; sleep 4")
    assert helper_json(t, "writeback")["action"] == "marked"
    t.check("sleep 4")
    gp.start_background(t, "sh -c 'ramzswap-setup writeback --json >/tmp/round.out 2>&1'")
    # the round is under way: reserved in the state file, pages on their way to the disk
    t.check(f"until grep -q '^reserved=8388608$' {WB_STATE}; do sleep 0.2; done", 60)
    t.check("until [ $(sed -n 's/^bdev_wb_pages *//p' /sys/block/ramzswap0/stats) -gt 0 ]; "
            "do sleep 0.2; done", 60)
    assert t.run("test -s /tmp/round.out").status != 0  # not finished
    t.vm.kill()

    t = boot(mem="256M", backing=str(t.vm.machine.backing), root=root)
    state = t.check(f"cat {WB_STATE}")
    assert "reserved=8388608" in state, state
    after = helper_json(t, "writeback")
    assert after["action"] == "marked", after  # accepted, not rebuilt
    assert after["last_round_bytes"] == 8 << 20
    assert after["budget_left"] == (64 << 20) - (8 << 20), after
    assert any("did not finish" in n for n in after["notes"]), after
    assert "reserved=0" in t.check(f"cat {WB_STATE}")
