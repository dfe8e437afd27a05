"""Backing device safety: every unsafe case falls back to RAM-only with a warning."""

import pytest
from rzsetup_fakes import MIB

SIZE = 256 * MIB


def head(system, device: str) -> bytes:
    with open(system.path(device), "rb") as f:
        return f.read(8192)


def ext4_head() -> bytes:
    head = bytearray(4096)
    head[1080:1082] = b"\x53\xef"
    return bytes(head)


def swap_head() -> bytes:
    head = bytearray(4096)
    head[4086:4096] = b"SWAPSPACE2"
    return bytes(head)


def _unsafe(plan, reason: str, *args: str) -> None:
    p = plan("--backing", "/dev/vdb", *args)
    assert p["backing"] is None
    assert p["backing_why"].startswith("backing /dev/vdb: "), p["backing_why"]
    assert reason in p["backing_why"]
    assert p["warnings"] == [p["backing_why"] + ": starting RAM-only"]
    assert p["disksize"] == 64 * MIB and p["memlimit"] == 0  # RAM-only sizing


def test_blank_partition_is_accepted(plan, system):
    system.block_device("vdb", SIZE, (254, 16))
    p = plan("--backing", "/dev/vdb")
    assert (p["backing"], p["backing_size"], p["warnings"]) == ("/dev/vdb", SIZE, [])


def test_missing_device(plan):
    _unsafe(plan, "missing")


def test_regular_file_is_not_a_block_device(plan, system):
    system.write("/dev/vdb", b"\0" * 8192)
    _unsafe(plan, "not a block device")


def test_mounted_device(plan, system):
    system.block_device("vdb", SIZE, (254, 16))
    system.mount((254, 16), "/data", "/dev/vdb", "ext4")
    _unsafe(plan, "is mounted on /data (itself)")


def test_disk_with_a_mounted_partition(plan, system):
    system.block_device("vdb", SIZE, (254, 16))
    system.block_device("vdb1", SIZE // 2, (254, 17), parent="vdb")
    system.mount((254, 17), "/media/card", "/dev/vdb1", "vfat")
    _unsafe(plan, "is mounted on /media/card (its partition vdb1)")


def test_disk_holding_the_root_filesystem(plan, system):
    system.symlink("/dev/vdb", "vda")  # /dev/vdb is a link to the root disk
    p = plan("--backing", "/dev/vdb")
    assert p["backing"] is None
    assert "holds the root filesystem" in p["backing_why"]


def test_partition_of_the_root_disk_holding_root(plan, system):
    system.block_device("mmcblk0", SIZE, (179, 0))
    system.block_device("mmcblk0p2", SIZE // 2, (179, 2), parent="mmcblk0")
    system.mount((179, 2), "/", "/dev/root", "ext4")
    p = plan("--backing", "/dev/mmcblk0")
    assert "holds the root filesystem (its partition mmcblk0p2)" in p["backing_why"]
    p = plan("--backing", "/dev/mmcblk0p2")
    assert "holds the root filesystem (itself)" in p["backing_why"]


def test_free_partition_next_to_root_is_fine(plan, system):
    system.block_device("mmcblk0", SIZE, (179, 0))
    system.block_device("mmcblk0p2", SIZE // 2, (179, 2), parent="mmcblk0")
    system.block_device("mmcblk0p3", SIZE // 4, (179, 3), parent="mmcblk0")
    system.mount((179, 2), "/", "/dev/root", "ext4")
    p = plan("--backing", "/dev/mmcblk0p3")
    assert (p["backing"], p["disksize"]) == ("/dev/mmcblk0p3", SIZE // 4)


def test_device_already_swap(plan, system):
    system.block_device("vdb", SIZE, (254, 16))
    system.add_swap("/dev/vdb", SIZE)
    _unsafe(plan, "already in use as swap")


def test_device_claimed_by_another_driver(plan, system):
    system.block_device("vdb", SIZE, (254, 16))
    system.hold("vdb", "dm-0")
    _unsafe(plan, "is in use by dm-0")


def test_compressed_ram_device_cannot_back_itself(plan, system):
    system.block_device("zram1", SIZE, (251, 1))
    p = plan("--backing", "/dev/zram1")
    assert "is a compressed RAM device itself" in p["backing_why"]


@pytest.mark.parametrize(
    ("offset", "magic", "name"),
    [
        (1080, b"\x53\xef", "ext2/3/4"),
        (0, b"XFSB", "xfs"),
        (65536 + 64, b"_BHRfS_M", "btrfs"),
        (1024, b"\x10\x20\xf5\xf2", "f2fs"),
        (0, b"hsqs", "squashfs"),
        (0, b"UBI#", "UBI"),
        (512, b"EFI PART", "GPT partition table"),
        (82, b"FAT32", "FAT32"),
        (0, b"LUKS\xba\xbe", "LUKS"),
    ],
)
def test_filesystem_signature_refused_unless_forced(plan, system, offset, magic, name):
    head = bytearray(70 * 1024)
    head[offset : offset + len(magic)] = magic
    system.block_device("vdb", SIZE, (254, 16), content=bytes(head))
    _unsafe(plan, f"holds a {name} signature; not overwriting it (needs force)")
    p = plan("--backing", "/dev/vdb", "--force")
    assert p["backing"] == "/dev/vdb"
    assert p["notes"] == [f"backing /dev/vdb: overwriting its {name} signature (forced)"]


def test_force_from_the_config_file(plan, system):
    system.block_device("vdb", SIZE, (254, 16), content=ext4_head())
    system.config('backing = "/dev/vdb"\nforce = true\n')
    assert plan()["backing"] == "/dev/vdb"


def test_old_swap_signature_is_not_a_filesystem(plan, system):
    system.block_device("vdb", SIZE, (254, 16), content=swap_head())
    assert plan("--backing", "/dev/vdb")["backing"] == "/dev/vdb"


def test_backing_smaller_than_configured_disksize(plan, system):
    system.block_device("vdb", 32 * MIB, (254, 16))
    p = plan("--backing", "/dev/vdb", "--disksize", "48M")
    assert p["backing"] is None
    assert "32 MiB is smaller than disksize 48 MiB (option --disksize)" in p["backing_why"]
    assert p["disksize"] == 48 * MIB


def test_configured_disksize_within_backing(plan, system):
    system.block_device("vdb", SIZE, (254, 16))
    p = plan("--backing", "/dev/vdb", "--disksize", "100M")
    assert (p["backing"], p["disksize"]) == ("/dev/vdb", 100 * MIB)
    assert p["memlimit"] == 40263680  # min(15 % of 256 MiB, 100 MiB)


def test_symlink_and_partlabel_resolve_to_the_kernel_name(plan, system):
    system.block_device("mmcblk0", SIZE, (179, 0))
    system.block_device("mmcblk0p3", SIZE // 2, (179, 3), parent="mmcblk0", partlabel="swap")
    system.symlink("/dev/disk/by-partlabel/swap", "../../mmcblk0p3")
    assert plan("--backing", "/dev/disk/by-partlabel/swap")["backing"] == "/dev/mmcblk0p3"
    assert plan("--backing", "PARTLABEL=swap")["backing"] == "/dev/mmcblk0p3"
    p = plan("--backing", "PARTLABEL=data")
    assert p["backing_why"] == "backing PARTLABEL=data: no partition with that label"


def test_memlimit_for_backing_is_cut_when_running_ram_only(plan, system):
    system.config('backing = "/dev/vdb"\nmemlimit = "30%"\n')  # /dev/vdb is missing
    p = plan()
    assert p["backing"] is None
    assert p["memlimit"] == p["disksize"] == 64 * MIB
    assert any("cut to disksize" in w for w in p["warnings"])


def test_start_with_missing_backing_warns_and_runs_ram_only(run, system, kernel):
    system.module_available("ramzswap")
    system.cmdline("ramzswap.backing=/dev/sda3")
    result = run("start")
    assert result.status == 0, result
    lines = result.err.splitlines()
    assert lines == [
        "ramzswap-setup: warning: backing /dev/sda3: missing: starting RAM-only",
        "ramzswap-setup: started ramzswap0 (ramzswap): disksize 64 MiB, memlimit none, "
        "RAM-only, priority 100",
    ]
    assert system.kmsg() == [
        "<4>ramzswap-setup: warning: backing /dev/sda3: missing: starting RAM-only",
        "<5>" + lines[1],
    ]
    written = {call[1] for call in kernel.calls if call[0] == "write"}
    assert "/sys/block/ramzswap0/backing_swap" not in written
    assert system.swaps()[0][0] == "/dev/ramzswap0"


def test_start_with_unsafe_backing_leaves_its_data_alone(run, system, kernel):
    system.module_available("ramzswap")
    system.block_device("vdb", SIZE, (254, 16), content=ext4_head())
    before = head(system, "/dev/vdb")
    result = run("start", "--backing", "/dev/vdb")
    assert result.status == 0
    assert "holds a ext2/3/4 signature" in result.err
    assert system.read("/sys/block/ramzswap0/backing_swap") == ""
    assert head(system, "/dev/vdb") == before
