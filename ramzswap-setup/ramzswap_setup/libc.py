"""The system calls the os module lacks: swapon(2), swapoff(2) and finit_module(2).

They go through _ctypes, the C half of ctypes, set up here the way ctypes.CDLL(None) would for
functions returning int: `import ctypes` also builds a hundred type classes and loads struct,
which under QEMU costs as much again as loading _ctypes, and `start` runs at boot.
"""

import _ctypes
import errno
import os

# finit_module(2) has no libc wrapper: it goes through syscall(2), with its number on the
# architectures whose number is known here (32-bit ARM: "armv7l" and the like)
FINIT_MODULE = {"x86_64": 313, "aarch64": 273, "riscv64": 273, "i686": 350, "i586": 350}
FINIT_MODULE_ARM = 379


class _Int(_ctypes._SimpleCData):  # ctypes.c_int
    _type_ = "i"


class _Long(_ctypes._SimpleCData):  # ctypes.c_long
    _type_ = "l"


class _Function(_ctypes.CFuncPtr):
    """A libc function returning int, with errno saved for get_errno()."""

    _flags_ = _ctypes.FUNCFLAG_CDECL | _ctypes.FUNCFLAG_USE_ERRNO
    _restype_ = _Int


class _Process:
    """What _Function((name, library)) looks names up in: this process's symbols (libc's)."""

    _handle = _ctypes.dlopen(None, _ctypes.RTLD_LOCAL)


def _call(name: str, *args: object) -> int:
    """Call libc's `name`; returns 0, or the errno it failed with."""
    if _Function((name, _Process))(*args) == 0:
        return 0
    return _ctypes.get_errno()


def _check(err: int, path: str) -> None:
    if err:
        raise OSError(err, os.strerror(err), path)


def swapon(path: str, flags: int) -> None:
    """swapon(2); raises OSError with the kernel's errno and the path."""
    _check(_call("swapon", os.fsencode(path), flags), path)


def swapoff(path: str) -> None:
    _check(_call("swapoff", os.fsencode(path)), path)


def finit_module(fd: int, params: str) -> int:
    """finit_module(2) of an open module file (as kmod loads a plain .ko); returns 0 or the
    errno: EEXIST when it is loaded already, ENOSYS on an architecture not known here."""
    machine = os.uname().machine
    number = FINIT_MODULE.get(machine, FINIT_MODULE_ARM if machine.startswith("arm") else 0)
    if not number:
        return errno.ENOSYS
    return _call("syscall", _Long(number), _Long(fd), params.encode(), _Long(0))
