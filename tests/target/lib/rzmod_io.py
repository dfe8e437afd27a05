"""Block and sysfs I/O on a ramzswap device, for the module's target tests: one source, run on
both sides.

In the guest this file runs as a script: it reads a JSON list of operations (argv[1], or the
file named by argv[1] when it starts with "@"), does them in order on a ramzswap device and
prints one JSON line with what each returned.  Block I/O is O_DIRECT, one page per system
call, so every page reaches the driver and every error is the driver's answer for that page.
On the host the tests import it to make the same pages again (and to know what LZ4 makes of
them).  Only the standard library, and nothing that differs between Python builds
(random.Random with an int seed is the same everywhere).

Operations (lists; the first item names the operation):
  ["write", first, count, kind, seed, unaligned]  pages first.. of page(kind, seed, i)
  ["read", first, count, unaligned]               digest of each page read
  ["discard", first, count] / ["zeroout", first, count]   BLKDISCARD / BLKZEROOUT ioctls
  ["pread", offset, length] / ["pwrite", offset, length]  raw O_DIRECT I/O at any offset
  ["sysfs", attr, value]                          one write to /sys/block/<dev>/<attr>
  ["state"]                                       every readable attribute, stats parsed
  ["cycles", n, disksize, pages]                  n x (init, write, verify, discard, reset)
Errors are reported as errno names (EINVAL, EBUSY, EIO, ...), never raised.
"""

from __future__ import annotations

import errno
import hashlib
import random

PAGE = 4096
BLKDISCARD, BLKZEROOUT = 0x1277, 0x127F  # _IO(0x12, 119), _IO(0x12, 127)
KINDS = ("zero", "same", "text", "mid", "random")
PHRASES = (
    b"error: could not open configuration file ", b"GET /api/v1/items?page=",
    b"<div class=\"item\"><span>price</span> ", b"{\"id\": ", b", \"name\": \"sensor\", ",
    b"the quick brown fox jumps over the lazy dog ", b"swap page written to device ",
    b"kernel: memory limit reached at ",
)


def _rng(kind: str, seed: int, index: int) -> random.Random:
    return random.Random((seed * 1_000_003 + index) * 8 + KINDS.index(kind))


def same_word(seed: int, index: int) -> bytes:
    """The 32-bit word a `same` page repeats: never zero, one machine word on every arch."""
    return (_rng("same", seed, index).getrandbits(32) | 1).to_bytes(4, "little")


def page(kind: str, seed: int, index: int) -> bytes:
    """Page `index` of a data set.

    zero: all zero.  same: one 32-bit word repeated (a repeated machine word on 32 and 64 bit).
    text: words and numbers, LZ4 makes it well under half a page.  mid: 2400 random bytes then
    zeros, LZ4 makes it more than half a page and less than three quarters.  random: random.
    """
    if kind == "zero":
        return bytes(PAGE)
    if kind == "same":
        return same_word(seed, index) * (PAGE // 4)
    rng = _rng(kind, seed, index)
    if kind == "random":
        return rng.randbytes(PAGE)
    if kind == "mid":
        return rng.randbytes(2400) + bytes(PAGE - 2400)
    if kind == "text":
        out = bytearray()
        while len(out) < PAGE:
            out += rng.choice(PHRASES) + str(rng.randrange(1000000)).encode() + b"\n"
        return bytes(out[:PAGE])
    raise ValueError(f"unknown page kind {kind!r}")


def digest(data: bytes) -> str:
    return hashlib.sha1(data).hexdigest()[:16]


def errname(e: OSError) -> str:
    return errno.errorcode.get(e.errno, str(e.errno))


# -- the guest side ----------------------------------------------------------------------------
class Device:
    def __init__(self, dev: str) -> None:
        import mmap

        self.dev = dev
        self.sys = "/sys/block/" + dev.rsplit("/", 1)[1]
        # page-aligned buffers for O_DIRECT; the unaligned one starts 512 bytes into a page,
        # so each page of I/O spans two memory pages (two bio segments)
        self.buf = mmap.mmap(-1, 2 * PAGE)
        self.view = memoryview(self.buf)

    def _fd(self, write: bool) -> int:
        import os

        return os.open(self.dev, (os.O_RDWR if write else os.O_RDONLY) | os.O_DIRECT)

    def _slice(self, unaligned: bool) -> memoryview:
        start = 512 if unaligned else 0
        return self.view[start : start + PAGE]

    def write(self, first: int, count: int, kind: str, seed: int,
              unaligned: bool = False) -> dict:
        import os

        ok, errors = 0, {}
        fd = self._fd(True)
        try:
            mv = self._slice(unaligned)
            for i in range(first, first + count):
                mv[:] = page(kind, seed, i)
                try:
                    n = os.pwritev(fd, [mv], i * PAGE)
                    ok += n == PAGE
                except OSError as e:
                    errors[i] = errname(e)
        finally:
            os.close(fd)
        return {"ok": ok, "errors": errors}

    def read(self, first: int, count: int, unaligned: bool = False) -> dict:
        import os

        digests, errors = [], {}
        fd = self._fd(False)
        try:
            mv = self._slice(unaligned)
            for i in range(first, first + count):
                mv[:] = b"\xa5" * PAGE  # stale bytes must not survive a read
                try:
                    n = os.preadv(fd, [mv], i * PAGE)
                    digests.append(digest(bytes(mv[:n])) if n == PAGE else f"short:{n}")
                except OSError as e:
                    digests.append(None)
                    errors[i] = errname(e)
        finally:
            os.close(fd)
        return {"digests": digests, "errors": errors}

    def ioctl_range(self, request: int, first: int, count: int) -> dict:
        import fcntl
        import os
        import struct

        fd = self._fd(True)
        try:
            fcntl.ioctl(fd, request, struct.pack("QQ", first * PAGE, count * PAGE))
            return {"error": None}
        except OSError as e:
            return {"error": errname(e)}
        finally:
            os.close(fd)

    def raw(self, write: bool, offset: int, length: int) -> dict:
        """O_DIRECT I/O of length bytes at offset, from/to a page-aligned buffer."""
        import mmap
        import os

        buf = mmap.mmap(-1, max(PAGE, -(-length // PAGE) * PAGE))
        mv = memoryview(buf)[:length]
        fd = self._fd(write)
        try:
            n = os.pwritev(fd, [mv], offset) if write else os.preadv(fd, [mv], offset)
            return {"n": n, "error": None}
        except OSError as e:
            return {"n": None, "error": errname(e)}
        finally:
            mv.release()
            os.close(fd)
            buf.close()

    def sysfs(self, attr: str, value: str) -> dict:
        import os

        try:
            fd = os.open(f"{self.sys}/{attr}", os.O_WRONLY)
        except OSError as e:
            return {"error": errname(e), "at": "open"}
        try:
            n = os.write(fd, value.encode("utf-8", "surrogateescape"))
            return {"error": None, "n": n}
        except OSError as e:
            return {"error": errname(e), "at": "write"}
        finally:
            os.close(fd)

    def state(self) -> dict:
        out: dict = {}
        for attr in ("disksize", "memlimit", "backing_swap", "backing_write_limit", "initstate",
                     "stats"):
            with open(f"{self.sys}/{attr}") as f:
                text = f.read()
            if attr == "stats":
                # counters, and the algorithm that holds the data as a word
                out[attr] = {k: int(v) if v.lstrip("-").isdigit() else v
                             for k, v in (line.split() for line in text.splitlines())}
            else:
                out[attr] = text.rstrip("\n")
        return out

    def cycles(self, n: int, disksize: int, pages: int) -> dict:
        """n times: init with disksize, write pages of one kind and as many random ones, read
        them back, discard them all, reset."""
        rounds = []
        for c in range(n):
            init = self.sysfs("disksize", str(disksize))
            kind = KINDS[c % len(KINDS)]
            wrote = self.write(0, pages, kind, c)
            # random pages after them, so every round holds pages in the pool
            mixed = self.write(pages, pages, "random", c)
            back = self.read(0, 2 * pages)
            want = [digest(page(kind, c, i)) for i in range(pages)]
            want += [digest(page("random", c, i)) for i in range(pages, 2 * pages)]
            full = self.state()["stats"]
            discard = self.ioctl_range(BLKDISCARD, 0, 2 * pages)
            empty = self.state()["stats"]
            reset = self.sysfs("reset", "1")
            after = self.state()
            rounds.append({
                "init": init["error"], "discard": discard["error"], "reset": reset["error"],
                "write_errors": len(wrote["errors"]) + len(mixed["errors"]),
                "verified": back["digests"] == want, "full": full, "empty": empty,
                "after": after,
            })
        return {"rounds": rounds}

    def do(self, op: list) -> object:
        name, args = op[0], op[1:]
        if name == "write":
            return self.write(*args)
        if name == "read":
            return self.read(*args)
        if name == "discard":
            return self.ioctl_range(BLKDISCARD, *args)
        if name == "zeroout":
            return self.ioctl_range(BLKZEROOUT, *args)
        if name == "pread":
            return self.raw(False, *args)
        if name == "pwrite":
            return self.raw(True, *args)
        if name == "sysfs":
            return self.sysfs(*args)
        if name == "state":
            return self.state()
        if name == "cycles":
            return self.cycles(*args)
        raise ValueError(f"unknown operation {name!r}")


def main(argv: list[str]) -> None:
    import json

    spec = argv[2]
    if spec.startswith("@"):
        with open(spec[1:]) as f:
            spec = f.read()
    dev = Device(argv[1])
    print(json.dumps([dev.do(op) for op in json.loads(spec)]), flush=True)


if __name__ == "__main__":
    import sys

    main(sys.argv)
