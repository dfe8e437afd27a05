"""The offline image builder and QEMU runner: pure parts, and refusals."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from rztools.arches import ARCHES, UnknownTarget, abi_key, kbuild_package, lookup
from rztools.image import build as image
from rztools.image import kmods
from rztools.image.debian import AptError, sources_list
from rztools.target.qemu import Machine, command, parse_size

REPO = Path(__file__).resolve().parents[3]
DEP = """kernel/fs/ext4/ext4.ko: kernel/fs/jbd2/jbd2.ko kernel/fs/mbcache.ko kernel/lib/crc16.ko
kernel/fs/jbd2/jbd2.ko:
kernel/fs/mbcache.ko:
kernel/lib/crc16.ko:
kernel/drivers/block/virtio_blk.ko.xz: kernel/drivers/virtio/virtio.ko.xz
kernel/drivers/virtio/virtio.ko.xz:
"""


def test_load_order_puts_dependencies_first():
    order = kmods.load_order(kmods.parse_modules_dep(DEP), ["ext4", "virtio-blk", "builtin"])
    assert order.index("kernel/fs/jbd2/jbd2.ko") < order.index("kernel/fs/ext4/ext4.ko")
    assert order.index("kernel/drivers/virtio/virtio.ko.xz") < order.index(
        "kernel/drivers/block/virtio_blk.ko.xz")
    assert len(order) == len(set(order)) == 6


def test_unknown_arch_and_kernel_are_refused():
    with pytest.raises(UnknownTarget, match="unknown ARCH='mips'"):
        lookup("mips", "6.1")
    with pytest.raises(UnknownTarget, match="unknown KERNEL='4.19'"):
        lookup("x86_64", "4.19")


@pytest.mark.parametrize("args,message", [
    (["--arch", "mips"], "unknown ARCH='mips'"),
    (["--kernel", "9.9"], "unknown KERNEL='9.9'"),
])
def test_image_cli_refuses_in_one_line(args, message):
    res = subprocess.run([sys.executable, "-m", "rztools.image", *args], cwd=REPO,
                         capture_output=True, text=True, env={"PYTHONPATH": str(REPO / "tools")})
    assert res.returncode == 2
    assert message in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
    assert "Traceback" not in res.stderr


def test_run_cli_refuses_bad_mem_in_one_line():
    res = subprocess.run([sys.executable, "-m", "rztools.target.run", "--mem", "lots", "--print"],
                         cwd=REPO, capture_output=True, text=True,
                         env={"PYTHONPATH": str(REPO / "tools")})
    assert res.returncode == 2
    assert res.stderr.strip() == "run: bad size 'lots' (use e.g. 256M, 1G, 65536K)"


def test_abi_ordering_and_kbuild_names():
    assert max(["6.1.0-9", "6.1.0-56", "6.1.0-10"], key=abi_key) == "6.1.0-56"
    assert kbuild_package("6.1.0-56") == "linux-kbuild-6.1"
    assert kbuild_package("6.12.95+deb12") == "linux-kbuild-6.12.95+deb12"


def test_sources_list_is_private_and_signed():
    text = sources_list(["bookworm-backports"])
    assert text.startswith("deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg]")
    assert "bookworm-backports main" in text
    with pytest.raises(AptError):
        sources_list(["sid-experimental"])


def test_sizes():
    assert parse_size("256M") == 256 << 20
    assert parse_size("65536K") == 64 << 20
    assert parse_size("4096") == 4096
    for bad in ("", "12X", "-1M", "1.5G"):
        with pytest.raises(ValueError):
            parse_size(bad)


def test_qemu_command_lines(tmp_path):
    m = Machine(ARCHES["aarch64"], tmp_path / "vmlinuz", tmp_path / "rootfs.ext4",
                tmp_path / "initrd.img", mem="128M", smp=4, backing=tmp_path / "b.img")
    argv = command(m, "tcp:127.0.0.1:5555,server=on,wait=on")
    assert argv[0] == "qemu-system-aarch64"
    assert argv[argv.index("-m") + 1] == "128M"
    assert argv[argv.index("-smp") + 1] == "4"
    assert "tcg,thread=multi" in argv
    assert "console=ttyAMA0" in argv[argv.index("-append") + 1]
    assert any("serial=rzbacking" in a for a in argv)
    assert any("snapshot=on" in a for a in argv)  # the image is never modified
    images = tmp_path / "images"
    images.mkdir()
    (images / "bzImage").write_bytes(b"")
    (images / "rootfs.ext2").write_bytes(b"")
    m2 = Machine.from_buildroot(images, "x86_64")
    line = command(m2)[command(m2).index("-append") + 1]
    assert "root=/dev/vda" in line and "console=ttyS0" in line
    assert "-initrd" not in command(m2)


@pytest.mark.parametrize(("arch_name", "port"), [("x86_64", False), ("aarch64", True)])
def test_a_backing_disk_that_can_be_pulled_out(tmp_path, arch_name, port):
    """hotplug: the backing disk has an id for device_del, on a bus it can leave (a PCIe
    root port where the machine's bus is PCIe), and QEMU takes QMP on a unix socket."""
    m = Machine(ARCHES[arch_name], tmp_path / "k", tmp_path / "r", None, backing=tmp_path / "b.img",
                backing_hotplug=True, qmp=tmp_path / "qmp.sock")
    argv = command(m)
    (dev,) = [a for a in argv if "serial=rzbacking" in a]
    assert "id=rzbacking" in dev
    assert ("bus=rzport" in dev) == port
    assert ("pcie-root-port,id=rzport,chassis=1" in argv) == port
    assert argv[argv.index("-qmp") + 1] == f"unix:{tmp_path / 'qmp.sock'},server=on,wait=off"
    plain = command(Machine(ARCHES[arch_name], tmp_path / "k", tmp_path / "r", None,
                            backing=tmp_path / "b.img"))
    assert "-qmp" not in plain and not [a for a in plain if "rzport" in a]


@pytest.mark.slow
def test_make_run_settings_reach_the_qemu_command_line(tmp_path):
    """What `make run ARCH=aarch64 MEM=128M SMP=4 BACKING=64M` hands QEMU."""
    out = REPO / "out" / "aarch64-6.1"
    if not (out / "manifest.json").exists():
        from rztools.image.build import build

        build("aarch64", "6.1")
    res = subprocess.run([sys.executable, "-m", "rztools.target.run", "--arch", "aarch64", "--mem",
                          "128M", "--smp", "4", "--backing", "64M", "--accel", "tcg",
                          "--append", "ramzswap=off", "--print"],
                         cwd=REPO, capture_output=True, text=True,
                         env={"PYTHONPATH": str(REPO / "tools"), "PATH": os.environ["PATH"],
                              "HOME": os.environ.get("HOME", "/root")})
    assert res.returncode == 0, res.stderr
    argv = res.stdout.split()
    assert argv[0] == "qemu-system-aarch64"
    assert argv[argv.index("-m") + 1] == "128M"
    assert argv[argv.index("-smp") + 1] == "4"
    assert "tcg,thread=multi" in argv
    assert any("serial=rzbacking" in a for a in argv)
    backing = next(a for a in argv if a.startswith("file=") and "backing" in a)
    path = Path(backing.split(",")[0].removeprefix("file="))
    assert path.stat().st_size == 64 << 20
    assert "ramzswap=off" in res.stdout


@pytest.mark.parametrize("merged_usr", [True, False])
def test_applet_links_do_not_need_busybox_on_the_build_machine(tmp_path, merged_usr):
    """The image's links point at its own /bin/busybox; a new machine has none, so
    the links are made whether or not their target exists here."""
    root = tmp_path / "root"
    target = str(tmp_path / "no-such-busybox")  # on no machine, like /bin/busybox on a new one
    (root / "usr" / "bin").mkdir(parents=True)
    (root / "usr" / "sbin").mkdir()
    if merged_usr:
        (root / "bin").symlink_to("usr/bin")
        (root / "sbin").symlink_to("usr/sbin")
        applets = ["bin/sh", "usr/sbin/init", "usr/bin/lzcat", "sbin/halt"]
    else:
        applets = ["bin/sh", "sbin/init", "usr/bin/lzcat", "sbin/halt"]
    image.symlink_applets(root, applets, target)
    image.symlink_applets(root, applets, target)  # a second pass changes nothing
    init = root / "sbin" / "init"
    assert os.readlink(init) == target and not init.exists()
    for rel in applets:
        if not (merged_usr and (root / rel).parent.is_symlink()):
            assert os.readlink(root / rel) == target, rel
