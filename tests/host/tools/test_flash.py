"""rztools.board.flash and rztools.board.disks: safety decisions on fake trees, writes to files
and loops."""

import gzip
import hashlib
import io
import lzma
import os
import subprocess
import sys
from pathlib import Path

import pytest
from rztools.board import disks, flash
from rztools.board.disks import Disk, DiskError

REPO = Path(__file__).resolve().parents[3]
MIB = 1 << 20


# ---- a fake /sys and /proc ----


def add_disk(
    root: Path,
    name: str,
    size_mib: int = 64,
    removable: bool = True,
    partitions: tuple[str, ...] = (),
    devnums: tuple[int, int] = (8, 0),
    device: dict[str, str] | None = None,
) -> Path:
    sysdir = root / "sys/block" / name
    (sysdir / "device").mkdir(parents=True)
    (sysdir / "size").write_text(f"{size_mib * MIB // 512}\n")
    (sysdir / "removable").write_text("1\n" if removable else "0\n")
    for key, value in (device or {}).items():
        (sysdir / "device" / key).write_text(value + "\n")
    for i, part in enumerate(partitions, 1):
        (sysdir / part).mkdir()
        (sysdir / part / "partition").write_text(f"{i}\n")
        classdir = root / "sys/class/block" / part
        classdir.mkdir(parents=True)
        (classdir / "dev").write_text(f"{devnums[0]}:{devnums[1] + i}\n")
    classdir = root / "sys/class/block" / name
    classdir.mkdir(parents=True, exist_ok=True)
    (classdir / "dev").write_text(f"{devnums[0]}:{devnums[1]}\n")
    return sysdir


def set_proc(root: Path, mounts: str = "", swaps: str = "") -> None:
    (root / "proc").mkdir(exist_ok=True)
    (root / "proc/mounts").write_text(mounts)
    header = "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n"
    (root / "proc/swaps").write_text(header + swaps)


@pytest.fixture
def fake_root(tmp_path) -> Path:
    root = tmp_path / "root"
    ssd = {"vendor": "ATA", "model": "Samsung SSD"}
    add_disk(root, "sda", 256 * 1024, False, ("sda1", "sda2"), device=ssd)
    reader = {"vendor": "Generic", "model": "SD Card Reader"}
    add_disk(root, "sdb", 30436, True, ("sdb1", "sdb2"), (8, 16), device=reader)
    sd_card = {"type": "SD", "name": "SD16G"}
    add_disk(root, "mmcblk0", 15000, False, ("mmcblk0p1",), (179, 0), device=sd_card)
    add_disk(root, "mmcblk1", 7000, False, (), (179, 32), device={"type": "MMC"})
    set_proc(root, "/dev/sda2 / ext4 rw 0 0\nproc /proc proc rw 0 0\n")
    return root


# ---- rztools.board.disks ----


def test_read_disk(fake_root):
    sdb = disks.read_disk(fake_root, "sdb")
    assert sdb == Disk("sdb", 30436 * MIB, True, "Generic SD Card Reader", ("sdb1", "sdb2"))
    assert disks.describe(sdb) == "/dev/sdb: Generic SD Card Reader, 29.7 GiB, removable"
    assert disks.read_disk(fake_root, "mmcblk0").model == "SD16G"


def test_partition_or_unknown_is_not_a_disk(fake_root):
    with pytest.raises(DiskError, match="sdb1 is a partition of sdb: give the whole disk /dev/sdb"):
        disks.read_disk(fake_root, "sdb1")
    with pytest.raises(DiskError, match="not a block device"):
        disks.read_disk(fake_root, "sdz")


def test_removable(fake_root, tmp_path):
    assert disks.is_removable(fake_root, "sdb")
    assert disks.is_removable(fake_root, "mmcblk0")  # an SD card in a built-in slot
    assert not disks.is_removable(fake_root, "mmcblk1")  # soldered eMMC
    assert not disks.is_removable(fake_root, "sda")
    # a USB disk that reports removable=0 is still taken off the machine
    real = tmp_path / "devices/pci0000:00/usb2/2-1/host6/block/sdc"
    real.mkdir(parents=True)
    (real / "removable").write_text("0\n")
    (fake_root / "sys/block/sdc").symlink_to(real)
    assert disks.is_removable(fake_root, "sdc")


def test_free_disk_has_no_uses(fake_root):
    assert disks.uses(fake_root, disks.read_disk(fake_root, "sdb")) == []


def test_uses_mounts_swap_and_holders(fake_root):
    set_proc(
        fake_root,
        "/dev/sda2 / ext4 rw 0 0\n/dev/sdb1 /media/my\\040card vfat rw 0 0\n",
        "/dev/sdb2                               partition\t1048572\t\t0\t\t-2\n",
    )
    holders = fake_root / "sys/block/sdb/sdb1/holders"
    holders.mkdir()
    (holders / "dm-0").mkdir()
    assert disks.uses(fake_root, disks.read_disk(fake_root, "sdb")) == [
        "sdb1 is mounted on /media/my card",
        "sdb1 is held by dm-0",
        "sdb2 is in use as swap",
    ]


def test_root_disk_from_mounts_or_device_number(fake_root):
    assert disks.root_disk(fake_root, None) == "sda"
    set_proc(fake_root, "/dev/root / ext4 rw 0 0\n")
    assert disks.root_disk(fake_root, (179, 1)) == "mmcblk0"  # mmcblk0p1
    assert disks.root_disk(fake_root, (0, 33)) is None  # overlay, tmpfs


def test_refusals(fake_root):
    sda, sdb = disks.read_disk(fake_root, "sda"), disks.read_disk(fake_root, "sdb")
    mmc = disks.read_disk(fake_root, "mmcblk1")
    root_msg = ["/dev/sda holds the root filesystem of this machine"]
    assert disks.refusals(sda, [], "sda", force=False) == root_msg
    assert disks.refusals(sda, [], "sda", force=True) == root_msg  # never lifted
    assert disks.refusals(sdb, [], "sda", force=False) == []
    busy = ["sdb1 is mounted on /media/x"]
    assert disks.refusals(sdb, busy, "sda", force=False) == [
        "/dev/sdb: sdb1 is mounted on /media/x (unmount it first)"
    ]
    assert disks.refusals(sdb, busy, "sda", force=True) == []
    assert disks.refusals(mmc, [], "sda", force=False) == ["/dev/mmcblk1 is not a removable disk"]
    empty = Disk("sdc", 0, True, "Card reader", ())
    assert disks.refusals(empty, [], "sda", force=True) == ["/dev/sdc has no medium"]


# ---- bmap ----

BMAP = """<?xml version="1.0" ?>
<bmap version="2.0">
    <ImageSize> {size} </ImageSize>
    <BlockSize> 4096 </BlockSize>
    <BlocksCount> {blocks} </BlocksCount>
    <MappedBlocksCount> 3 </MappedBlocksCount>
    <ChecksumType> sha256 </ChecksumType>
    <BmapFileChecksum> 0 </BmapFileChecksum>
    <BlockMap>
{ranges}
    </BlockMap>
</bmap>
"""


def make_bmap(image: Path, ranges: list[tuple[int, int]]) -> Path:
    data = image.read_bytes()
    lines = []
    for first, last in ranges:
        digest = hashlib.sha256(data[first * 4096 : (last + 1) * 4096]).hexdigest()
        text = str(first) if first == last else f"{first}-{last}"
        lines.append(f'        <Range chksum="{digest}"> {text} </Range>')
    bmap = image.with_name(image.name + ".bmap")
    blocks = (len(data) + 4095) // 4096
    bmap.write_text(BMAP.format(size=len(data), blocks=blocks, ranges="\n".join(lines)))
    return bmap


@pytest.fixture
def sparse_image(tmp_path) -> Path:
    """A 1 MiB image with data in blocks 0 and 100-101 and a short last block."""
    image = tmp_path / "sdcard.img"
    data = bytearray(MIB - 1000)
    data[0:4096] = os.urandom(4096)
    data[100 * 4096 : 102 * 4096] = os.urandom(8192)
    data[-10:] = b"0123456789"
    image.write_bytes(bytes(data))
    make_bmap(image, [(0, 0), (100, 101), (255, 255)])
    return image


def test_parse_bmap(sparse_image):
    bmap = flash.parse_bmap(sparse_image.with_name("sdcard.img.bmap").read_text())
    assert (bmap.image_size, bmap.block_size, bmap.checksum) == (MIB - 1000, 4096, "sha256")
    assert [r[:2] for r in bmap.ranges] == [(0, 0), (100, 101), (255, 255)]
    assert bmap.mapped_bytes == 3 * 4096 + (4096 - 1000)


def test_old_bmap_format_uses_sha1():
    text = '<bmap version="1.4"><ImageSize>8192</ImageSize><BlockSize>4096</BlockSize>'
    text += '<BlockMap><Range sha1="x">0-1</Range></BlockMap></bmap>'
    assert flash.parse_bmap(text).checksum == "sha1"


@pytest.mark.parametrize("text", ["<bmap", "<bmap><BlockSize>4096</BlockSize></bmap>", "junk"])
def test_bad_bmap(text):
    with pytest.raises(flash.FlashError, match="bad bmap file"):
        flash.parse_bmap(text)


def test_find_bmap(tmp_path):
    img = tmp_path / "sdcard.img"
    assert flash.find_bmap(img) is None
    (tmp_path / "sdcard.img.bmap").write_text("")
    assert flash.find_bmap(img) == tmp_path / "sdcard.img.bmap"
    assert flash.find_bmap(tmp_path / "sdcard.img.xz") == tmp_path / "sdcard.img.bmap"


def test_verify_ranges_checks_mapped_blocks_only(sparse_image, tmp_path):
    bmap = flash.parse_bmap(sparse_image.with_name("sdcard.img.bmap").read_text())
    disk = tmp_path / "disk.bin"
    disk.write_bytes(sparse_image.read_bytes() + bytes(MIB))
    out = io.StringIO()
    flash.verify_ranges(str(disk), bmap, out)
    last = out.getvalue().splitlines()[-1]
    assert "verifying: 15.0 KiB of 15.0 KiB (100%)" in last and last.endswith(", done")
    with open(disk, "r+b") as f:  # outside every mapped range: not the image's business
        f.seek(50 * 4096)
        f.write(b"x")
    flash.verify_ranges(str(disk), bmap, io.StringIO())
    with open(disk, "r+b") as f:
        f.seek(101 * 4096 + 7)
        f.write(b"x")
    with pytest.raises(flash.WriteError, match="blocks 100-101 read back differ"):
        flash.verify_ranges(str(disk), bmap, io.StringIO())


def test_progress_in_a_log():
    out = io.StringIO()
    progress = flash.Progress("writing", 100, out)
    for _ in range(10):
        progress.add(10)
    progress.finish()
    lines = out.getvalue().splitlines()
    assert [line.split(": ")[1].split(",")[0] for line in lines] == [
        f"{n} B of 100 B ({n}%)" for n in range(10, 101, 10)
    ]
    assert lines[-1].endswith(", done")


# ---- the command ----


def run_flash(*args: str, answer: str | None = None, env: dict | None = None):
    full_env = {**os.environ, "PYTHONPATH": str(REPO / "tools"), **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "rztools.board.flash", *args],
        input=answer if answer is not None else "",
        capture_output=True,
        text=True,
        env=full_env,
    )


@pytest.fixture
def image(tmp_path) -> Path:
    path = tmp_path / "img" / "sdcard.img"
    path.parent.mkdir()
    path.write_bytes(os.urandom(3 * MIB + 123))
    return path


@pytest.fixture
def disk_file(tmp_path) -> Path:
    path = tmp_path / "disk.bin"
    path.write_bytes(b"\xee" * (8 * MIB))
    return path


def compress(image: Path, suffix: str) -> Path:
    """The image as a release ships it; the fastest level, as the tool reads any."""
    out = image.with_name(image.name + suffix)
    data = image.read_bytes()
    packed = gzip.compress(data, 1) if suffix == ".gz" else lzma.compress(data, preset=0)
    out.write_bytes(packed)
    return out


@pytest.mark.parametrize("suffix", ["", ".gz", ".xz"])
def test_write_and_verify_to_a_file(image, disk_file, suffix):
    source = compress(image, suffix) if suffix else image
    proc = run_flash(str(source), str(disk_file), "--allow-file", "--yes")
    assert proc.returncode == 0, proc.stderr
    assert "written and verified" in proc.stdout
    data = disk_file.read_bytes()
    assert data[: image.stat().st_size] == image.read_bytes()
    assert data[image.stat().st_size :] == b"\xee" * (8 * MIB - image.stat().st_size)


def test_asks_first_and_stops_without_yes(image, disk_file):
    before = disk_file.read_bytes()
    proc = run_flash(str(image), str(disk_file), "--allow-file", answer="no\n")
    assert proc.returncode == 1
    assert "a regular file, 8.0 MiB" in proc.stdout
    assert "Type 'yes'" in proc.stdout and "aborted, nothing written" in proc.stdout
    assert disk_file.read_bytes() == before
    proc = run_flash(str(image), str(disk_file), "--allow-file", answer="yes\n")
    assert proc.returncode == 0
    assert disk_file.read_bytes()[:100] == image.read_bytes()[:100]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["{image}", "{disk}"], "is a regular file, not a disk"),
        (["{image}.missing", "{disk}", "--allow-file"], "no image"),
        (["{image}", "/nonexistent/disk", "--allow-file"], "No such file"),
        (["{image}", "/dev/null", "--yes"], "is not a block device"),
        (["{image}"], "the following arguments are required"),
        (["{image}", "{disk}", "--bogus"], "unrecognized arguments"),
    ],
)
def test_refusals_change_nothing(image, disk_file, args, message):
    before = disk_file.read_bytes()
    proc = run_flash(*[a.format(image=image, disk=disk_file) for a in args])
    assert proc.returncode == 2
    assert message in proc.stderr
    assert proc.stderr.count("\n") == 1
    assert disk_file.read_bytes() == before


def test_image_larger_than_the_disk(image, tmp_path):
    small = tmp_path / "small.bin"
    small.write_bytes(bytes(MIB))
    proc = run_flash(str(image), str(small), "--allow-file", "--yes")
    assert proc.returncode == 2
    assert "does not fit" in proc.stderr
    assert small.read_bytes() == bytes(MIB)


def test_corrupt_compressed_image_fails_the_write(image, disk_file):
    xz = compress(image, ".xz")
    data = bytearray(xz.read_bytes())
    data[len(data) // 2] ^= 0xFF
    xz.write_bytes(bytes(data))
    proc = run_flash(str(xz), str(disk_file), "--allow-file", "--yes")
    assert proc.returncode == 1
    assert proc.stderr.startswith("flash: writing") and proc.stderr.count("\n") == 1


@pytest.fixture
def fake_bmaptool(tmp_path) -> Path:
    """bmaptool copy --bmap B IMAGE DEST, as a whole-file copy; logs its arguments."""
    bindir = tmp_path / "fakebin"
    bindir.mkdir()
    tool = bindir / "bmaptool"
    tool.write_text(
        '#!/bin/sh\necho "$@" >"$(dirname "$0")/args"\n'
        '[ -n "$FAIL" ] && exit 1\n'
        'dd if="$4" of="$5" conv=notrunc status=none\n'
    )
    tool.chmod(0o755)
    return bindir


def test_bmap_goes_through_bmaptool_then_ranges_are_read_back(
    sparse_image, disk_file, fake_bmaptool
):
    env = {"PATH": f"{fake_bmaptool}:{os.environ['PATH']}"}
    proc = run_flash(str(sparse_image), str(disk_file), "--allow-file", "--yes", env=env)
    assert proc.returncode == 0, proc.stderr
    assert "bmap: 15.0 KiB of 1023.0 KiB mapped" in proc.stdout
    bmap = sparse_image.with_name("sdcard.img.bmap")
    assert (fake_bmaptool / "args").read_text().split() == [
        "copy",
        "--bmap",
        str(bmap),
        str(sparse_image),
        str(disk_file),
    ]
    assert "verifying: 15.0 KiB of 15.0 KiB (100%)" in proc.stdout


def test_failing_bmaptool_fails_the_flash(sparse_image, disk_file, fake_bmaptool):
    env = {"PATH": f"{fake_bmaptool}:{os.environ['PATH']}", "FAIL": "1"}
    proc = run_flash(str(sparse_image), str(disk_file), "--allow-file", "--yes", env=env)
    assert proc.returncode == 1
    assert "bmaptool failed" in proc.stderr


def test_no_bmap_writes_the_whole_image(sparse_image, disk_file, fake_bmaptool):
    env = {"PATH": f"{fake_bmaptool}:{os.environ['PATH']}"}
    proc = run_flash(
        str(sparse_image), str(disk_file), "--allow-file", "--yes", "--no-bmap", env=env
    )
    assert proc.returncode == 0
    assert not (fake_bmaptool / "args").exists()
    assert disk_file.read_bytes()[: MIB - 1000] == sparse_image.read_bytes()


# ---- a real block device: a loop device over a file ----


@pytest.fixture
def loop(tmp_path):
    backing = tmp_path / "loop.bin"
    backing.write_bytes(bytes(8 * MIB))
    dev = subprocess.run(
        ["losetup", "--find", "--show", str(backing)], capture_output=True, text=True, check=True
    ).stdout.strip()
    try:
        yield dev
    finally:
        subprocess.run(["losetup", "--detach", dev], check=True)


def test_loop_device_is_not_removable_unless_forced(image, loop):
    proc = run_flash(str(image), loop, "--yes")
    assert proc.returncode == 2
    assert f"{loop} is not a removable disk (--force to write it anyway)" in proc.stderr
    with open(loop, "rb") as f:
        assert f.read(MIB) == bytes(MIB)
    proc = run_flash(str(compress(image, ".gz")), loop, "--yes", "--force")
    assert proc.returncode == 0, proc.stderr
    assert f"target: {loop}: loop device on " in proc.stdout
    with open(loop, "rb") as f:
        assert f.read(image.stat().st_size) == image.read_bytes()


def test_mounted_loop_device_is_refused(image, loop, tmp_path):
    """The decisions read /sys and /proc under --root: here they say the loop is in use."""
    name = os.path.basename(loop)
    root = tmp_path / "sysroot"
    add_disk(root, name, 8, removable=True, partitions=(f"{name}p1",), devnums=(7, 0))
    set_proc(root, f"/dev/vda / ext4 rw 0 0\n/dev/{name}p1 /mnt ext4 rw 0 0\n")
    proc = run_flash(str(image), loop, "--yes", "--root", str(root))
    assert proc.returncode == 2
    assert f"{name}p1 is mounted on /mnt (unmount it first)" in proc.stderr
    set_proc(root, f"/dev/{name}p1 / ext4 rw 0 0\n")
    proc = run_flash(str(image), loop, "--yes", "--force", "--root", str(root))
    assert proc.returncode == 2
    assert "holds the root filesystem" in proc.stderr
