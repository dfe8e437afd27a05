"""ctypes binding for the user-space build of xvmalloc (host tests, benchmarks).

`build(outdir)` compiles the library from this tree with `make` into `outdir`
and returns its path; `XvLib(path)` loads it; `XvLib.pool()` makes a pool.
"""

from __future__ import annotations

import ctypes
import errno
import os
import subprocess
from collections.abc import Callable
from pathlib import Path

HOST_DIR = Path(__file__).resolve().parent


def build(outdir: os.PathLike | str, page_shift: int | None = None, sanitize: bool = False) -> Path:
    """Build libxvmalloc into outdir (no-op if up to date); return its path."""
    outdir = Path(outdir)
    cmd = ["make", "-s", "-C", str(HOST_DIR), f"O={outdir}"]
    name = "libxvmalloc.so"
    if page_shift is not None:
        cmd.append(f"PAGE_SHIFT={page_shift}")
        name = f"libxvmalloc-p{page_shift}.so"
    if sanitize:
        cmd.append("SANITIZE=1")
    subprocess.run(cmd, check=True, capture_output=True, text=True)
    return outdir / name


class XvPoolStats(ctypes.Structure):
    _fields_ = [
        ("obj_pages", ctypes.c_ulong),
        ("raw_pages", ctypes.c_ulong),
        ("used_bytes", ctypes.c_ulong),
        ("nr_objs", ctypes.c_ulong),
        ("compact_moved", ctypes.c_ulong),
        ("compact_freed", ctypes.c_ulong),
        ("spare_pages", ctypes.c_ulong),
    ]


MOVE_FN = ctypes.CFUNCTYPE(
    ctypes.c_bool,
    ctypes.c_void_p,
    ctypes.c_uint32,
    ctypes.c_void_p,
    ctypes.c_uint32,
    ctypes.c_void_p,
    ctypes.c_uint32,
)

_SIGNATURES = {
    "xv_create_pool": (ctypes.c_void_p, []),
    "xv_destroy_pool": (None, [ctypes.c_void_p]),
    "xv_set_limit_pages": (None, [ctypes.c_void_p, ctypes.c_ulong]),
    "xv_malloc": (
        ctypes.c_int,
        [
            ctypes.c_void_p,
            ctypes.c_uint32,
            ctypes.c_uint32,
            ctypes.POINTER(ctypes.c_void_p),
            ctypes.POINTER(ctypes.c_uint32),
            ctypes.c_uint,
        ],
    ),
    "xv_free": (None, [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_uint32]),
    "xv_malloc_part": (ctypes.c_int, [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_uint32,
                                      ctypes.c_uint32, ctypes.POINTER(ctypes.c_void_p),
                                      ctypes.POINTER(ctypes.c_uint32),
                                      ctypes.POINTER(ctypes.c_uint32)]),
    "xv_alloc_raw": (
        ctypes.c_void_p,
        [ctypes.c_void_p, ctypes.c_uint, ctypes.POINTER(ctypes.c_int)],
    ),
    "xv_free_raw": (None, [ctypes.c_void_p, ctypes.c_void_p]),
    "xv_add_spare": (ctypes.c_int, [ctypes.c_void_p, ctypes.c_uint]),
    "xv_get_total_size_bytes": (ctypes.c_uint64, [ctypes.c_void_p]),
    "xv_get_stats": (None, [ctypes.c_void_p, ctypes.POINTER(XvPoolStats)]),
    "xv_object_capacity": (ctypes.c_uint32, [ctypes.c_void_p, ctypes.c_uint32]),
    "xv_copy_object": (
        None,
        [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_void_p, ctypes.c_uint32, ctypes.c_uint32],
    ),
    "xv_compact_wanted": (ctypes.c_bool, [ctypes.c_void_p]),
    "xv_compact": (ctypes.c_ulong, [ctypes.c_void_p, MOVE_FN, ctypes.c_void_p]),
    "xv_check_pool": (ctypes.c_int, [ctypes.c_void_p]),
    "xv_largest_free_block": (ctypes.c_ulong, [ctypes.c_void_p, ctypes.c_ulong]),
    "xvu_live_pages": (ctypes.c_ulong, []),
    "xvu_allocs_total": (ctypes.c_ulong, []),
    "xvu_live_page_serials": (ctypes.c_ulong, [ctypes.POINTER(ctypes.c_ulong), ctypes.c_ulong]),
    "xvu_page_serial": (ctypes.c_ulong, [ctypes.c_void_p]),
    "xvu_page_mem": (ctypes.c_void_p, [ctypes.c_void_p]),
    "xvu_fail_allocs": (None, [ctypes.c_ulong]),
    "xvu_warnings": (ctypes.c_ulong, []),
    "xvu_map_balance": (ctypes.c_long, []),
    "xvu_page_size": (ctypes.c_ulong, []),
    "xvu_hdr_size": (ctypes.c_ulong, []),
    "xvu_min_block": (ctypes.c_ulong, []),
    "xvu_align": (ctypes.c_ulong, []),
    "xvu_list_grain": (ctypes.c_ulong, []),
    "xvu_stats_size": (ctypes.c_ulong, []),
}

GFP_NOIO = 0x400


class XvLib:
    def __init__(self, path: os.PathLike | str):
        self.lib = ctypes.CDLL(str(path))
        for name, (res, args) in _SIGNATURES.items():
            fn = getattr(self.lib, name)
            fn.restype = res
            fn.argtypes = args
        if self.lib.xvu_stats_size() != ctypes.sizeof(XvPoolStats):
            raise RuntimeError("struct xv_pool_stats layout differs from the binding")
        self.page_size = self.lib.xvu_page_size()
        self.hdr_size = self.lib.xvu_hdr_size()
        self.min_block = self.lib.xvu_min_block()
        self.align = self.lib.xvu_align()
        self.list_grain = self.lib.xvu_list_grain()
        self.max_alloc = self.page_size - self.hdr_size

    def pool(self) -> Pool:
        return Pool(self)

    def live_pages(self) -> int:
        return self.lib.xvu_live_pages()

    def live_page_serials(self) -> set[int]:
        n = self.live_pages() + 16
        buf = (ctypes.c_ulong * n)()
        got = self.lib.xvu_live_page_serials(buf, n)
        return set(buf[:got])

    def serial(self, page: int) -> int:
        return self.lib.xvu_page_serial(page)

    def fail_allocs(self, n: int) -> None:
        self.lib.xvu_fail_allocs(n)

    def warnings(self) -> int:
        return self.lib.xvu_warnings()

    def map_balance(self) -> int:
        return self.lib.xvu_map_balance()

    def read(self, page: int, off: int, n: int) -> bytes:
        return ctypes.string_at(self.lib.xvu_page_mem(page) + off, n)

    def write(self, page: int, off: int, data: bytes) -> None:
        ctypes.memmove(self.lib.xvu_page_mem(page) + off, data, len(data))


class Pool:
    def __init__(self, xv: XvLib):
        self.xv = xv
        self.lib = xv.lib
        self.handle = self.lib.xv_create_pool()
        if not self.handle:
            raise MemoryError("xv_create_pool")

    def destroy(self) -> None:
        if self.handle:
            self.lib.xv_destroy_pool(self.handle)
            self.handle = None

    def malloc(self, size: int, tag: int = 0, gfp: int = GFP_NOIO) -> tuple[int, int, int]:
        """Returns (err, page, offset); err is 0 or a negative errno."""
        page = ctypes.c_void_p()
        off = ctypes.c_uint32()
        err = self.lib.xv_malloc(self.handle, size, tag, ctypes.byref(page), ctypes.byref(off), gfp)
        return err, (page.value or 0), off.value

    def malloc_part(self, lo: int, hi: int, tag: int = 0) -> tuple[int, int, int, int]:
        """Returns (err, page, offset, size) for a piece of lo..hi bytes, no new page."""
        page = ctypes.c_void_p()
        off = ctypes.c_uint32()
        size = ctypes.c_uint32()
        err = self.lib.xv_malloc_part(self.handle, lo, hi, tag, ctypes.byref(page),
                                      ctypes.byref(off), ctypes.byref(size))
        return err, (page.value or 0), off.value, size.value

    def free(self, page: int, off: int) -> None:
        self.lib.xv_free(self.handle, page, off)

    def alloc_raw(self) -> tuple[int, int]:
        err = ctypes.c_int()
        page = self.lib.xv_alloc_raw(self.handle, GFP_NOIO, ctypes.byref(err))
        return err.value, (page or 0)

    def free_raw(self, page: int) -> None:
        self.lib.xv_free_raw(self.handle, page)

    def add_spare(self) -> int:
        return self.lib.xv_add_spare(self.handle, GFP_NOIO)

    def set_limit(self, pages: int) -> None:
        self.lib.xv_set_limit_pages(self.handle, pages)

    def total_bytes(self) -> int:
        return self.lib.xv_get_total_size_bytes(self.handle)

    def stats(self) -> XvPoolStats:
        st = XvPoolStats()
        self.lib.xv_get_stats(self.handle, ctypes.byref(st))
        return st

    def capacity(self, page: int, off: int) -> int:
        return self.lib.xv_object_capacity(page, off)

    def copy(self, dst_page: int, dst_off: int, src_page: int, src_off: int, n: int) -> None:
        self.lib.xv_copy_object(dst_page, dst_off, src_page, src_off, n)

    def check(self) -> int:
        return self.lib.xv_check_pool(self.handle)

    def largest_free_block(self, upto: int = 1 << 30) -> int:
        """Size of the largest free block (header included) not above upto."""
        return self.lib.xv_largest_free_block(self.handle, upto)

    def compact_wanted(self) -> bool:
        return self.lib.xv_compact_wanted(self.handle)

    def compact(self, move: Callable[[int, int, int, int, int], bool]) -> int:
        """move(tag, src_page, src_off, dst_page, dst_off) -> bool."""

        def _cb(_ctx, tag, sp, so, dp, do):  # noqa: ANN001, ANN202
            return bool(move(tag, sp or 0, so, dp or 0, do))

        return self.lib.xv_compact(self.handle, MOVE_FN(_cb), None)


ENOSPC = -errno.ENOSPC
ENOMEM = -errno.ENOMEM
EINVAL = -errno.EINVAL
