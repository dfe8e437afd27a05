"""start and stop end to end on a fake system with a fake kernel."""

import errno
import sys

import pytest
from ramzswap_setup import cli
from ramzswap_setup.kernel import SWAP_FLAG_DISCARD, SWAP_FLAG_PREFER
from rzsetup_fakes import MIB, FakeKernel

STATE = "/run/ramzswap/state"


@pytest.fixture(autouse=True)
def _ramzswap(system):
    system.module_available("ramzswap")


def header(system, device: str = "/dev/ramzswap0") -> bytes:
    with open(system.path(device), "rb") as f:
        return f.read(4096)


def test_start_loads_configures_writes_header_and_swaps_on(run, system, kernel):
    system.block_device("vdb", 128 * MIB, (254, 16))
    result = run("start", "--backing", "/dev/vdb", "--priority", "123")
    assert result.status == 0, result
    assert result.err == (
        "ramzswap-setup: started ramzswap0 (ramzswap): disksize 128 MiB, memlimit 38.4 MiB, "
        "backing /dev/vdb, priority 123\n"
    )
    d = "/sys/block/ramzswap0"
    assert kernel.calls == [
        ("modprobe", "ramzswap"),
        ("write", f"{d}/memlimit", "40263680"),
        ("write", f"{d}/backing_swap", "/dev/vdb"),
        ("write", f"{d}/backing_write_limit", "0"),
        ("write", f"{d}/disksize", str(128 * MIB)),  # last: it initialises the device
        ("swapon", "/dev/ramzswap0", SWAP_FLAG_PREFER | SWAP_FLAG_DISCARD | 123),
    ]
    page = header(system)
    order = sys.byteorder
    assert page[-10:] == b"SWAPSPACE2"
    assert int.from_bytes(page[1024:1028], order) == 1  # version
    assert int.from_bytes(page[1028:1032], order) == 128 * MIB // 4096 - 1  # last page
    assert page[1052:1061] == b"ramzswap\0"  # label
    assert page[:1024] == bytes(1024)
    assert system.swaps() == [["/dev/ramzswap0", "partition", str(128 * 1024 - 4), "0", "123"]]
    state = dict(line.split("=", 1) for line in system.read(STATE).splitlines())
    assert state["module_loaded"] == "ramzswap" and state["backing"] == "/dev/vdb"
    assert state["device"] == "/dev/ramzswap0" and state["disksize"] == str(128 * MIB)


def test_second_start_changes_nothing_and_says_so(run, system, kernel):
    assert run("start").status == 0
    calls = list(kernel.calls)
    swaps = system.read("/proc/swaps")
    result = run("start")
    assert result.status == 0
    assert result.err == (
        "ramzswap-setup: already started: /dev/ramzswap0 is swap; nothing changed\n"
    )
    assert kernel.calls == calls
    assert system.read("/proc/swaps") == swaps
    plan = run("plan")
    assert "swap already: start changes nothing" in plan.out


def test_start_with_module_already_loaded_does_not_unload_it_at_stop(run, system, kernel):
    kernel.load_module("ramzswap")
    kernel.calls.clear()
    assert run("start").status == 0
    assert ("modprobe", "ramzswap") not in kernel.calls
    assert run("stop").status == 0
    assert not any(call[0] == "modprobe -r" for call in kernel.calls)
    assert system.exists("/sys/module/ramzswap")
    assert system.read("/sys/block/ramzswap0/initstate").strip() == "0"


def test_stop_swaps_off_resets_and_unloads(run, system, kernel):
    run("start")
    kernel.calls.clear()
    result = run("stop")
    assert result.status == 0, result
    assert result.err == (
        "ramzswap-setup: stopped ramzswap0: swap off, device reset, module ramzswap unloaded\n"
    )
    assert kernel.calls == [
        ("swapoff", "/dev/ramzswap0"),
        ("write", "/sys/block/ramzswap0/reset", "1"),
        ("modprobe -r", "ramzswap"),
    ]
    assert system.swaps() == []
    assert not system.exists(STATE)
    assert run("stop").err == "ramzswap-setup: nothing to stop\n"


def test_stop_counts_the_module_unloaded_when_only_a_dependency_stayed(run, system, kernel):
    """kmod's modprobe -r exits 1 when a dependency (lz4_compress) is still used by another
    module (zram's lz4), after it removed the module itself: that is a clean stop."""
    run("start")
    kernel.unload_status = 1
    result = run("stop")
    assert result.status == 0, result
    assert result.err == (
        "ramzswap-setup: stopped ramzswap0: swap off, device reset, module ramzswap unloaded\n"
    )


def test_stop_warns_when_the_module_stays_loaded(run, system, kernel):
    run("start")
    kernel.unload_keeps_module = True
    result = run("stop")
    assert result.status == 0, result
    assert result.err == (
        "ramzswap-setup: warning: module ramzswap could not be unloaded\n"
        "ramzswap-setup: stopped ramzswap0: swap off, device reset\n"
    )
    assert system.exists("/sys/module/ramzswap")


def test_stop_reports_swapoff_enomem_and_leaves_swap_on(run, system, kernel):
    run("start")
    lines = system.read("/proc/swaps").splitlines()
    fields = lines[1].split()
    fields[3] = str(48 * 1024)  # 48 MiB used
    system.write("/proc/swaps", lines[0] + "\n" + "\t".join(fields) + "\n")
    kernel.swapoff_error = errno.ENOMEM
    kernel.calls.clear()
    result = run("stop")
    assert result.status == 1
    assert result.err == (
        "ramzswap-setup: error: swapoff /dev/ramzswap0: not enough free memory to take back "
        "48 MiB of swapped-out pages; swap left on\n"
    )
    assert system.kmsg()[-1].startswith("<3>ramzswap-setup: error: swapoff /dev/ramzswap0")
    assert kernel.calls == [("swapoff", "/dev/ramzswap0")]  # no reset, no unload
    assert system.swaps()[0][0] == "/dev/ramzswap0"
    assert system.exists(STATE)
    kernel.swapoff_error = None
    assert run("stop").status == 0  # a later stop, with memory back, succeeds


def test_stop_also_takes_down_a_ramzswap_swap_started_by_hand(run, system, kernel):
    kernel.load_module("ramzswap")
    kernel.write_attr(str(system.path("/sys/block/ramzswap0/disksize")), str(16 * MIB))
    system.add_swap("/dev/ramzswap0", 16 * MIB)
    result = run("stop")
    assert result.status == 0
    assert "stopped ramzswap0: swap off, device reset" in result.err
    assert "unloaded" not in result.err  # we did not load it
    assert system.swaps() == []


def test_stop_leaves_someone_elses_zram_alone(run, system, kernel):
    system.module_available("zram")
    kernel.load_module("zram")
    kernel.write_attr(str(system.path("/sys/block/zram0/disksize")), str(16 * MIB))
    system.add_swap("/dev/zram0", 16 * MIB)
    kernel.calls.clear()
    assert run("stop").err == "ramzswap-setup: nothing to stop\n"
    assert kernel.calls == []


def test_failed_swapon_undoes_everything(run, system, kernel):
    kernel.swapon_errors = [errno.EPERM]
    result = run("start")
    assert result.status == 1
    assert result.err == (
        "ramzswap-setup: error: could not swapon /dev/ramzswap0: Operation not permitted; "
        "undone, no swap started\n"
    )
    assert kernel.calls[-2:] == [
        ("write", "/sys/block/ramzswap0/reset", "1"),
        ("modprobe -r", "ramzswap"),
    ]
    assert not system.exists("/sys/module/ramzswap")
    assert not system.exists(STATE)


def test_swapon_without_discard_support_retries_without_it(run, system, kernel):
    kernel.swapon_errors = [errno.EINVAL]
    result = run("start")
    assert result.status == 0
    assert kernel.swapon_flags == [
        SWAP_FLAG_PREFER | SWAP_FLAG_DISCARD | 100,
        SWAP_FLAG_PREFER | 100,
    ]
    assert "note: swapon refused discard" in result.err


def test_driver_refusing_a_setting_undoes_and_fails(run, system, kernel):
    kernel.write_errors["memlimit"] = errno.EINVAL
    result = run("start", "--memlimit", "8M")
    assert result.status == 1
    assert "could not configure /dev/ramzswap0: Invalid argument; undone" in result.err
    assert not system.exists("/sys/module/ramzswap")


def test_modprobe_failure_is_a_runtime_error(run, system, kernel):
    kernel.modprobe_status = 1
    result = run("start")
    assert (result.status, result.err) == (
        1,
        "ramzswap-setup: error: modprobe ramzswap failed (exit status 1)\n",
    )
    assert system.swaps() == []


def test_no_driver_at_all(run, system):
    system.write("/lib/modules/6.1.0-test/modules.dep", "kernel/fs/ext4/ext4.ko:\n")
    result = run("start")
    assert result.status == 1
    assert result.err == (
        "ramzswap-setup: error: no compressed swap driver: auto: no ramzswap module for kernel "
        "6.1.0-test; no zram module for kernel 6.1.0-test\n"
    )


def test_initialised_device_that_is_not_swap_is_left_alone(run, system, kernel):
    kernel.load_module("ramzswap")
    kernel.write_attr(str(system.path("/sys/block/ramzswap0/disksize")), str(16 * MIB))
    kernel.calls.clear()
    result = run("start")
    assert result.status == 1
    assert "/dev/ramzswap0 is initialised but not swap" in result.err
    assert kernel.calls == []


def test_start_and_stop_refuse_another_root_with_the_real_kernel(system, capsys):
    for command in ("start", "stop"):
        status = cli.run([command, "--root", str(system.root)])
        err = capsys.readouterr().err
        assert status == 2
        assert err == (
            f"ramzswap-setup: error: {command} acts on the running kernel: --root is only for "
            "plan, status and estimate\n"
        )


def test_init_path_start_and_stop_need_no_options(system, kernel, clock, capsys):
    status = cli.run(["start"], kernel=kernel, clock=clock, page_size=4096, root=str(system.root))
    assert status == 0
    assert system.swaps()[0][0] == "/dev/ramzswap0"
    status = cli.run(["stop"], kernel=kernel, clock=clock, page_size=4096, root=str(system.root))
    assert status == 0
    assert system.swaps() == []
    err = capsys.readouterr().err.splitlines()
    assert [line.split(":")[1].split()[0] for line in err] == ["started", "stopped"]


def test_zram_lacking_lz4_and_writeback_is_reported_not_ignored(run, system, kernel_factory):
    system.write("/lib/modules/6.1.0-test/modules.dep", "kernel/drivers/block/zram/zram.ko:\n")
    system.block_device("vdb", 128 * MIB, (254, 16))
    k = kernel_factory(zram_writeback=False, zram_algorithms=("lzo", "lzo-rle"))
    result = run("start", "--backing", "/dev/vdb", k=k)
    assert result.status == 0, result
    lines = result.err.splitlines()
    assert lines == [
        "ramzswap-setup: warning: this kernel's zram has no backing_dev (kernel built without "
        "CONFIG_ZRAM_WRITEBACK): starting RAM-only",
        "ramzswap-setup: started zram0 (zram): disksize 64 MiB, memlimit none, RAM-only, "
        "priority 100",
        "ramzswap-setup: note: zram here has no lz4 compressor (has: lzo lzo-rle); keeping lzo-rle",
    ]
    assert ("write", "/sys/block/zram0/comp_algorithm", "lz4") not in k.calls


def test_zram_with_writeback_gets_backing_limit_and_lz4(run, system, kernel):
    system.write("/lib/modules/6.1.0-test/modules.dep", "kernel/drivers/block/zram/zram.ko:\n")
    system.block_device("vdb", 128 * MIB, (254, 16))
    result = run("start", "--backing", "/dev/vdb", "--backing-write-budget", "64M/day")
    assert result.status == 0, result
    d = "/sys/block/zram0"
    assert kernel.calls[1:] == [
        ("write", f"{d}/comp_algorithm", "lz4"),
        ("write", f"{d}/backing_dev", "/dev/vdb"),
        ("write", f"{d}/writeback_limit_enable", "1"),
        ("write", f"{d}/writeback_limit", str(64 * MIB // 4096)),
        ("write", f"{d}/mem_limit", "40263680"),
        ("write", f"{d}/disksize", str(128 * MIB)),
        ("swapon", "/dev/zram0", SWAP_FLAG_PREFER | SWAP_FLAG_DISCARD | 100),
    ]
    assert "note: zram writes to its backing device only when asked" in result.err
    assert run("stop").status == 0
    assert not system.exists("/sys/module/zram")


@pytest.fixture
def kernel_factory(system):
    def make(**kwargs) -> FakeKernel:
        return FakeKernel(system, **kwargs)

    return make


def test_device_set_up_by_module_parameters_is_formatted_and_swapped_on(run, system, kernel):
    system.cmdline("console=ttyS0 ramzswap.disksize_kb=32768 ramzswap.num_devices=1")
    plan = run("plan")
    assert "note: the module sets ramzswap0 up from its parameters (disksize_kb=32768)" in plan.out
    result = run("start")
    assert result.status == 0, result
    assert result.err == (
        "ramzswap-setup: started ramzswap0 (ramzswap, set up by module parameters "
        "disksize_kb=32768): disksize 32 MiB, memlimit none, RAM-only, priority 100\n"
    )
    assert kernel.calls == [
        ("modprobe", "ramzswap"),
        ("swapon", "/dev/ramzswap0", SWAP_FLAG_PREFER | SWAP_FLAG_DISCARD | 100),
    ]
    assert header(system)[1028:1032] == (32 * MIB // 4096 - 1).to_bytes(4, sys.byteorder)
    assert run("start").err.endswith("nothing changed\n")
    assert run("stop").status == 0
    assert kernel.calls[-1] == ("modprobe -r", "ramzswap")


def test_module_already_set_up_by_its_parameters_is_taken_as_it_is(run, system, kernel):
    system.cmdline("ramzswap.disksize_kb=16384 ramzswap.memlimit_kb=4096")
    kernel.load_module("ramzswap")
    kernel.calls.clear()
    result = run("start")
    assert result.status == 0, result
    assert "disksize 16 MiB, memlimit 4 MiB, RAM-only" in result.err
    assert [c[0] for c in kernel.calls] == ["swapon"]
    assert "unloaded" not in run("stop").err


# -- the compression algorithm ----------------------------------------------------------------


def test_start_sets_algorithm_and_level_before_disksize(run, system, kernel):
    result = run("start", "--algorithm", "zstd", "--level", "9")
    assert result.status == 0, result
    d = "/sys/block/ramzswap0"
    writes = [c[1:] for c in kernel.calls if c[0] == "write"]
    assert writes[-3:] == [(f"{d}/comp_algorithm", "zstd"), (f"{d}/comp_level", "9"),
                           (f"{d}/disksize", str(64 * MIB))]
    assert system.read(f"{d}/comp_algorithm").split() == ["lz4", "lz4hc", "lzo-rle", "lzo",
                                                          "[zstd]"]


def test_the_kernel_command_line_chooses_the_algorithm(run, system, kernel):
    system.write("/proc/cmdline", "root=/dev/vda ramzswap.algorithm=lz4hc ramzswap.level=12\n")
    assert run("start").status == 0
    d = "/sys/block/ramzswap0"
    assert ("write", f"{d}/comp_algorithm", "lz4hc") in kernel.calls
    assert ("write", f"{d}/comp_level", "12") in kernel.calls


@pytest.mark.parametrize("driver", ["ramzswap", "zram"])
def test_an_algorithm_the_kernel_lacks_is_refused_before_anything_changes(
    run, system, kernel, driver
):
    if driver == "zram":
        system.write("/lib/modules/6.1.0-test/modules.dep", "kernel/drivers/block/zram/zram.ko:\n")
    result = run("start", "--algorithm", "deflate")
    offered = {"ramzswap": "lz4, lz4hc, lzo-rle, lzo, zstd",
               "zram": "lzo, lzo-rle, lz4, zstd"}[driver]
    assert (result.status, result.out) == (2, "")
    assert result.err == (
        f"ramzswap-setup: error: option --algorithm: algorithm deflate: this kernel's {driver} "
        f"offers {offered}; nothing changed\n"
    )
    assert [c for c in kernel.calls if c[0] not in ("modprobe", "modprobe -r")] == []
    assert not system.exists(f"/sys/module/{driver}")  # loaded for the question, unloaded
    assert system.swaps() == []


def test_zram_takes_the_level_as_algorithm_params(run, system, kernel):
    system.write("/lib/modules/6.1.0-test/modules.dep", "kernel/drivers/block/zram/zram.ko:\n")
    assert run("start", "--algorithm", "zstd", "--level", "5").status == 0
    d = "/sys/block/zram0"
    assert ("write", f"{d}/comp_algorithm", "zstd") in kernel.calls
    assert ("write", f"{d}/algorithm_params", "algo=zstd level=5") in kernel.calls


def test_a_level_for_a_zram_without_levels_is_refused(run, system, kernel_factory):
    system.write("/lib/modules/6.1.0-test/modules.dep", "kernel/drivers/block/zram/zram.ko:\n")
    k = kernel_factory(zram_levels=False)
    result = run("start", "--algorithm", "zstd", "--level", "5", k=k)
    assert result.status == 2
    assert "level 5: this kernel's zram takes no level (algorithm_params, 6.12)" in result.err
    assert result.err.count("\n") == 1
    assert [c for c in k.calls if c[0] == "write"] == []


def test_a_module_without_comp_algorithm_says_it_keeps_lz4(run, system, kernel_factory):
    k = kernel_factory(ramzswap_algorithms=None)
    result = run("start", "--algorithm", "zstd", k=k)
    assert result.status == 0, result
    assert "note: this ramzswap module always uses lz4 (not zstd)" in result.err


def test_plan_shows_the_algorithm_and_where_it_came_from(run, system):
    out = run("plan", "--algorithm", "zstd", "--level", "3").out
    assert "algorithm  zstd level 3" in out and "option --algorithm" in out
    bad = run("plan", "--level", "x")
    assert bad.status == 2 and bad.err.count("\n") == 1
