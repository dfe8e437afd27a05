"""The actions that need the running kernel, behind one small interface.

The real implementation loads modules with modprobe, writes sysfs attributes, looks up device
numbers and calls swapon(2)/swapoff(2) through ctypes. The host tests hand the helper a fake
with the same methods that acts on a fake system under --root.
"""

from __future__ import annotations

import os

SWAP_FLAG_PREFER = 0x8000
SWAP_FLAG_PRIO_MASK = 0x7FFF
SWAP_FLAG_DISCARD = 0x10000


def swap_flags(priority: int, discard: bool) -> int:
    flags = SWAP_FLAG_PREFER | (priority & SWAP_FLAG_PRIO_MASK)
    return flags | SWAP_FLAG_DISCARD if discard else flags


class Kernel:
    """Acts on the running kernel. Paths are paths on this machine."""

    fake = False

    def load_module(self, name: str) -> int:
        """Run `modprobe name`; returns its exit status (its messages go to our stderr)."""
        return _run(["modprobe", name])

    def unload_module(self, name: str) -> int:
        """Run `modprobe -r -q name`. Quiet: kmod fails loudly when a dependency it would
        also remove (lz4_compress) is used by another module, though `name` itself is gone;
        the caller looks at /sys/module to tell."""
        return _run(["modprobe", "-r", "-q", name])

    def write_attr(self, path: str, value: str) -> None:
        """Write a sysfs attribute; raises OSError (EBUSY, EINVAL...) as the kernel says."""
        fd = os.open(path, os.O_WRONLY)
        try:
            os.write(fd, value.encode())
        finally:
            os.close(fd)

    def block_dev_id(self, path: str) -> tuple[int, int] | None:
        """(major, minor) when `path` is a block device, else None."""
        import stat

        try:
            st = os.stat(path)
        except OSError:
            return None
        if not stat.S_ISBLK(st.st_mode):
            return None
        return os.major(st.st_rdev), os.minor(st.st_rdev)

    def swapon(self, path: str, flags: int) -> None:
        _syscall("swapon", path, flags)

    def swapoff(self, path: str) -> None:
        _syscall("swapoff", path)


def _syscall(name: str, path: str, *args: int) -> None:
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    if getattr(libc, name)(os.fsencode(path), *args) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err), path)


def _run(argv: list[str]) -> int:
    """Run a program and wait for it, without the cost of importing subprocess."""
    try:
        pid = os.posix_spawnp(argv[0], argv, dict(os.environ))
    except OSError as e:
        import sys

        print(f"{argv[0]}: {e.strerror}", file=sys.stderr)
        return 127
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)
