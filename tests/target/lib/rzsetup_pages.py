"""Seeded memory pages for the `estimate` target test: one source, run on both sides.

In the guest this file runs as a script: it fills an anonymous mapping with the pages of a
seed and sleeps, so `ramzswap-setup estimate --pid` has a process whose memory is known.
On the host the test imports it to make the same pages again and check that the estimate
really read them. Only the standard library, and nothing that differs between Python builds
(random.Random with an int seed is the same everywhere).
"""

from __future__ import annotations

import random

PAGE = 4096
# Text pages are runs of slices of this sentence list, like the strings of a real program.
CORPUS = (
    b"the quick brown fox jumps over the lazy dog; "
    b"error: could not open configuration file /etc/app.conf\n"
    b"<div class=\"item\"><span>price</span> 42.00 EUR</div>\n"
    b"GET /api/v1/items?page=3 HTTP/1.1 200 OK 1532 bytes\n"
    b"{\"id\": 7301, \"name\": \"sensor\", \"value\": 21.5, \"unit\": \"C\"}\n"
)


def page(rng: random.Random) -> bytes:
    """One page: 10 % zero, 10 % one repeated word, 25 % random, 55 % text."""
    kind = rng.random()
    if kind < 0.10:
        return bytes(PAGE)
    if kind < 0.20:
        return rng.randbytes(8) * (PAGE // 8)
    if kind < 0.45:
        return rng.randbytes(PAGE)
    parts = []
    size = 0
    while size < PAGE:
        start = rng.randrange(len(CORPUS))
        piece = CORPUS[start : start + rng.randrange(16, 200)]
        parts.append(piece)
        size += len(piece)
    return b"".join(parts)[:PAGE]


def pages(seed: int, count: int) -> list[bytes]:
    rng = random.Random(seed)
    return [page(rng) for _ in range(count)]


def _hold(seed: int, count: int) -> None:
    import mmap
    import os
    import time

    # a private anonymous mapping (mmap's default is shared, which is shmem, not anonymous
    # memory) is page-aligned, so each generated page is one page of memory
    held = mmap.mmap(-1, count * PAGE, flags=mmap.MAP_PRIVATE)
    rng = random.Random(seed)
    for _ in range(count):
        held.write(page(rng))
    print(f"ready {os.getpid()}", flush=True)
    time.sleep(3600)


if __name__ == "__main__":
    import sys

    _hold(int(sys.argv[1]), int(sys.argv[2]))
