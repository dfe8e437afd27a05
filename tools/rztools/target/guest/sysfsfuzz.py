"""Random writes to every sysfs attribute of a ramzswap device.

    python3 sysfsfuzz.py DEVDIR WRITES SEED PHASE [BACKING]

DEVDIR is /sys/block/ramzswapN; PHASE is "idle" (device not initialised) or "active"
(initialised and in use as swap); BACKING is a block device that may serve as backing
swap.  For each attribute, WRITES values are written: well-formed sizes and counts,
garbage, signs, bases, overflow, embedded NULs and newlines, long strings, and paths.
Around each write the device's settings are read back; a rejected write must leave them
exactly as they were.  In the idle phase an accepted write that initialised the device is
undone with a reset (so the fuzzing goes on against an idle device).

Prints one JSON line: per attribute the writes, accepted, rejected, the errno names of
the rejections and the first violations (rejected writes that changed a setting).
Standard library only.
"""

from __future__ import annotations

import errno
import json
import os
import random
import sys
from collections import Counter

ATTRS = ("disksize", "memlimit", "backing_swap", "backing_write_limit", "reset",
         "idle", "writeback", "initstate", "stats")
SETTINGS = ("disksize", "memlimit", "backing_swap", "backing_write_limit", "initstate")
SUFFIXES = ("", "", "K", "M", "G", "T", "k", "m", "g", "P", "KB", "Ki", "b")


def number(rng: random.Random) -> str:
    kind = rng.randrange(8)
    if kind == 0:
        return str(rng.randrange(10))
    if kind == 1:
        return str(rng.randrange(1 << 12, 1 << 30))
    if kind == 2:
        return str(rng.choice((2**32 - 1, 2**32, 2**63 - 1, 2**63, 2**64 - 1, 2**64,
                               10**30)))
    if kind == 3:
        return str(rng.randrange(1, 5000)) + rng.choice(SUFFIXES)
    if kind == 4:
        return rng.choice(("-1", "-0", "+5", "0x10", "010", "1e3", "1.5M", " 12", "12 ",
                           "1 2", "4096\n\n", "\t8M"))
    if kind == 5:
        return str(rng.randrange(1, 64)) + "M"
    if kind == 6:
        return rng.choice(("K", "M", "", "\n", "-", "+", "0", "0\n", "00000000000000004096"))
    return str(rng.randrange(1, 1 << 20) * 4096)


def garbage(rng: random.Random) -> bytes:
    kind = rng.randrange(5)
    if kind == 0:
        return bytes(rng.randrange(256) for _ in range(rng.randrange(1, 40)))
    if kind == 1:
        return rng.choice((b"1\x002", b"\x00", b"12\n34", b"\xff\xfe", b"1\r\n", b"\n1"))
    if kind == 2:
        return (b"9" * rng.randrange(20, 5000))
    if kind == 3:
        return "".join(rng.choice("abcXYZ/._-") for _ in range(rng.randrange(1, 30))).encode()
    return rng.choice((b"\n", b" ", b"\n\n", b"yes", b"true", b"on"))


def path(rng: random.Random, backing: str) -> str:
    return rng.choice((backing, backing, "/dev/null", "/dev/zero", "/nonexistent",
                       "relative/path", "/dev/ramzswap0", "/", "/dev/" + "x" * 300,
                       backing + "/", backing + "x", "/dev/vda", "/sys/block", ""))


def value(rng: random.Random, attr: str, backing: str) -> bytes:
    """A value to write to attr: well-formed or not, with or without a newline."""
    roll = rng.random()
    if roll < 0.25:
        raw = garbage(rng)
    elif attr == "backing_swap":
        raw = path(rng, backing).encode()
    elif attr == "reset":
        raw = rng.choice(("1", "1", "0", "2", "11", "-1", " 1", "1 ", "01")).encode()
    elif attr == "idle":
        raw = rng.choice(("all", "all", "ALL", "al", "all ", "1", "3600", "none")).encode()
    elif attr == "writeback":
        mode = rng.choice(("idle", "huge", "huge_idle", "Idle", "idle_huge", "", "all"))
        limit = rng.choice(("", "", " max_pages=" + number(rng), " max_pages=", " max_page=8",
                            "  max_pages=8", " max_pages=8 "))
        raw = (mode + limit).encode()
    else:
        raw = number(rng).encode()
    if (rng.random() < 0.5 or not raw) and not raw.endswith(b"\n"):
        raw += b"\n"  # a write of nothing would never reach the driver
    return raw


def read(devdir: str, attr: str) -> str:
    with open(f"{devdir}/{attr}") as f:
        return f.read()


def settings(devdir: str) -> dict[str, str]:
    return {a: read(devdir, a) for a in SETTINGS}


def write(devdir: str, attr: str, data: bytes) -> int:
    """0 if the write took all of data, else the errno of the failure."""
    try:
        fd = os.open(f"{devdir}/{attr}", os.O_WRONLY)
    except OSError as e:
        return e.errno or -1
    try:
        os.write(fd, data)
    except OSError as e:
        return e.errno or -1
    finally:
        os.close(fd)
    return 0


def fuzz(devdir: str, writes: int, seed: int, phase: str, backing: str) -> dict:
    rng = random.Random(seed)
    report = {}
    for attr in ATTRS:
        errnos: Counter[str] = Counter()
        accepted, violations = 0, []
        for _ in range(writes):
            data = value(rng, attr, backing)
            before = settings(devdir)
            err = write(devdir, attr, data)
            after = settings(devdir)
            if err:
                errnos[errno.errorcode.get(err, str(err))] += 1
                if after != before and len(violations) < 5:
                    changed = {k: (before[k], after[k]) for k in before if before[k] != after[k]}
                    violations.append({"value": data[:80].decode("latin-1"),
                                       "errno": errno.errorcode.get(err, str(err)),
                                       "changed": changed})
                continue
            accepted += 1
            if phase == "idle" and after["initstate"].strip() != "0":
                write(devdir, "reset", b"1")
        report[attr] = {"writes": writes, "accepted": accepted, "rejected": writes - accepted,
                        "errnos": dict(errnos), "violations": violations}
    return report


def main(argv: list[str]) -> int:
    if len(argv) not in (5, 6) or argv[4] not in ("idle", "active"):
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    backing = argv[5] if len(argv) == 6 else "/dev/vdb"
    print(json.dumps(fuzz(argv[1], int(argv[2]), int(argv[3]), argv[4], backing)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
