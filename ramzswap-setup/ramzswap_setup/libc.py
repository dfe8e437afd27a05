"""The three libc calls the os module lacks: swapon(2), swapoff(2) and init_module(2).

They go through _ctypes, the C half of ctypes, set up here the way ctypes.CDLL(None) would for
functions returning int: `import ctypes` also builds a hundred type classes and loads struct,
which under QEMU costs as much again as loading _ctypes, and `start` runs at boot.
"""

import _ctypes
import os


class _Int(_ctypes._SimpleCData):  # ctypes.c_int
    _type_ = "i"


class _ULong(_ctypes._SimpleCData):  # ctypes.c_ulong
    _type_ = "L"


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


def init_module(image: bytes, params: str) -> int:
    """init_module(2) of a module's contents; returns 0 or the errno (EEXIST: loaded already)."""
    return _call("init_module", image, _ULong(len(image)), params.encode())
