"""The actions that need the running kernel, behind one small interface.

The real implementation loads modules (itself when modprobe would only insert plain .ko files,
else with modprobe), writes sysfs attributes, looks up device numbers and calls swapon(2) and
swapoff(2) through libc. The host tests hand the helper a fake with the same methods that acts
on a fake system under --root.
"""

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
        """Load a module and what it depends on, as `modprobe name` would; returns 0 or
        modprobe's exit status (its messages go to our stderr).

        Inserted here when modload can tell what modprobe would insert; modprobe runs when it
        cannot, and when an insertion fails, so a failure is kmod's to explain."""
        from . import modload
        from .rootfs import Root

        steps = modload.plan(Root("/"), os.uname().release, name)
        if steps is not None and _insert(steps):
            return 0
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
        from . import libc

        libc.swapon(path, flags)

    def swapoff(self, path: str) -> None:
        from . import libc

        libc.swapoff(path)


def _insert(steps: list[tuple[str, str]]) -> bool:
    """finit_module(2) each (path, parameters) in turn; False at the first that fails."""
    import errno

    from . import libc

    for path, params in steps:
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError:
            return False
        try:
            err = libc.finit_module(fd, params)
        finally:
            os.close(fd)
        if err not in (0, errno.EEXIST):
            return False
    return True


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
