"""The real kernel interface, exercised where that is harmless on the host."""

import errno
import os

import pytest
from ramzswap_setup import swapheader
from ramzswap_setup.kernel import Kernel, _run, swap_flags


def test_swap_flags():
    assert swap_flags(100, True) == 0x8000 | 100 | 0x10000
    assert swap_flags(32767, False) == 0x8000 | 0x7FFF
    assert swap_flags(0, False) == 0x8000  # priority 0 is a real priority, not the default


def test_programs_run_and_report_their_status(capfd):
    assert _run(["true"]) == 0
    assert _run(["sh", "-c", "exit 3"]) == 3
    assert _run(["no-such-program-here"]) == 127
    assert "no-such-program-here:" in capfd.readouterr().err


def test_modules_load_with_modprobe_and_unload_quietly(monkeypatch):
    """When modload cannot tell what modprobe would insert (see test_setup_modload). Quiet
    unload: kmod would print a FATAL line for a dependency still in use by another module
    even though the module itself went; stop checks /sys/module instead."""
    from ramzswap_setup import kernel as kernel_module
    from ramzswap_setup import modload

    ran = []
    monkeypatch.setattr(kernel_module, "_run", lambda argv: ran.append(argv) or 0)
    monkeypatch.setattr(modload, "plan", lambda root, release, name: None)
    Kernel().load_module("ramzswap")
    Kernel().unload_module("ramzswap")
    assert ran == [["modprobe", "ramzswap"], ["modprobe", "-r", "-q", "ramzswap"]]


def test_block_device_numbers(tmp_path):
    kernel = Kernel()
    assert kernel.block_dev_id("/dev/null") is None  # a character device
    assert kernel.block_dev_id(str(tmp_path)) is None
    assert kernel.block_dev_id(str(tmp_path / "missing")) is None
    for name in os.listdir("/sys/dev/block")[:3]:  # whatever block devices this host has
        major, minor = (int(n) for n in name.split(":"))
        node = tmp_path / f"b{major}-{minor}"
        try:
            os.mknod(node, 0o600 | 0o060000, os.makedev(major, minor))
        except PermissionError:
            continue
        assert kernel.block_dev_id(str(node)) == (major, minor)


def test_attribute_writes_go_to_the_file_in_one_write(tmp_path):
    attr = tmp_path / "disksize"
    attr.write_text("0\n")
    Kernel().write_attr(str(attr), "67108864")
    assert attr.read_text() == "67108864"
    with pytest.raises(FileNotFoundError):
        Kernel().write_attr(str(tmp_path / "nope"), "1")


def test_swapoff_and_swapon_report_the_kernels_errno(tmp_path):
    """A file that is not swap: the kernel refuses, and the errno reaches us with the path."""
    kernel = Kernel()
    with pytest.raises(OSError) as caught:
        kernel.swapoff(str(tmp_path / "missing"))
    assert caught.value.errno in (errno.ENOENT, errno.EPERM)
    assert caught.value.filename == str(tmp_path / "missing")
    not_swap = tmp_path / "not-swap"
    not_swap.write_bytes(bytes(64 * 1024))  # no swap signature: swapon must refuse it
    with pytest.raises(OSError) as caught:
        kernel.swapon(str(not_swap), swap_flags(1, False))
    assert caught.value.errno in (errno.EINVAL, errno.EPERM, errno.ENOSYS)


def test_header_is_written_to_the_start_and_refuses_tiny_areas(tmp_path):
    dev = tmp_path / "dev"
    dev.write_bytes(b"\xff" * 65536)
    swapheader.write(str(dev), 65536, 4096)
    data = dev.read_bytes()
    assert data[4086:4096] == b"SWAPSPACE2" and data[:1024] == bytes(1024)
    assert data[4096:] == b"\xff" * (65536 - 4096)  # nothing past the first page
    uuid = data[1036:1052]
    assert uuid[6] >> 4 == 4 and uuid[8] >> 6 == 2  # a random (version 4) UUID
    assert swapheader.build(10 * 16384, 16384)[16384 - 10 :] == b"SWAPSPACE2"
    with pytest.raises(ValueError):
        swapheader.build(9 * 4096, 4096)


def test_finit_module_answers_with_the_errno(tmp_path, monkeypatch):
    """Not a module: the kernel refuses it (or this process may not load modules at all); an
    architecture whose syscall number is not known here answers ENOSYS, so modprobe loads."""
    from ramzswap_setup import libc

    bogus = tmp_path / "bogus.ko"
    bogus.write_bytes(b"not a module")
    fd = os.open(bogus, os.O_RDONLY)
    try:
        assert libc.finit_module(fd, "") in (
            errno.ENOEXEC, errno.EINVAL, errno.EPERM, errno.ENOSYS, errno.EKEYREJECTED,
        )  # fmt: skip
        monkeypatch.setattr(libc, "FINIT_MODULE", {})
        monkeypatch.setattr(libc, "FINIT_MODULE_ARM", 0)
        assert libc.finit_module(fd, "") == errno.ENOSYS
    finally:
        os.close(fd)
