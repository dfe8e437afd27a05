"""What a compressed swap device stores for each page of a data set.

    python3 pagesizes.py file PATH          the pages of a file
    python3 pagesizes.py pid PID MIB        the MIB MiB anonymous mapping of a process

Each page is classified the way the ramzswap driver does: one machine word repeated
(nothing allocated), LZ4 output above 3/4 of a page (stored whole), or compressed
(an allocator object of the LZ4 size).  Prints one JSON line: pages, same, raw and
sizes ({compressed size: count} of the rest).

Needs python3-lz4 (in the test image); the LZ4 library may differ from the kernel's
copy by a few bytes on some pages.
"""

from __future__ import annotations

import json
import struct
import sys
from collections import Counter
from collections.abc import Iterable, Iterator

PAGE = 4096
WORD = struct.calcsize("P")


def stored_size(page: bytes, compress: object) -> int:
    """0: same-filled; len(page): stored whole; else the compressed size."""
    if page == page[:WORD] * (len(page) // WORD):
        return 0
    n = len(compress(page))  # type: ignore[operator]
    return len(page) if n > len(page) * 3 // 4 else n


def histogram(sizes: Iterable[int], page: int = PAGE) -> dict:
    sizes = list(sizes)
    counts = Counter(s for s in sizes if 0 < s < page)
    return {"pages": len(sizes), "same": sizes.count(0), "raw": sizes.count(page),
            "sizes": {str(k): v for k, v in sorted(counts.items())}}


def file_pages(path: str) -> Iterator[bytes]:
    with open(path, "rb") as f:
        while True:
            data = f.read(PAGE)
            if len(data) < PAGE:
                if data:
                    yield data + bytes(PAGE - len(data))
                return
            yield data


def process_pages(pid: int, mib: int) -> Iterator[bytes]:
    """The pages of pid's anonymous mapping of exactly mib MiB: rzscan's region, which
    its MADV_NOHUGEPAGE keeps from merging with the mappings around it."""
    want = mib << 20
    with open(f"/proc/{pid}/maps") as f:
        spans = [tuple(int(v, 16) for v in line.split()[0].split("-"))
                 for line in f if len(line.split()) == 5]
    region = [s for s in spans if s[1] - s[0] == want]
    if not region:
        raise SystemExit(f"process {pid} has no anonymous mapping of {mib} MiB")
    lo, hi = region[0]
    with open(f"/proc/{pid}/mem", "rb", 0) as mem:
        for addr in range(lo, hi, PAGE):
            mem.seek(addr)
            yield mem.read(PAGE)


def main(argv: list[str]) -> int:
    import lz4.block

    def compress(p: bytes) -> bytes:
        return lz4.block.compress(p, store_size=False)

    if len(argv) == 3 and argv[1] == "file":
        pages = file_pages(argv[2])
    elif len(argv) == 4 and argv[1] == "pid":
        pages = process_pages(int(argv[2]), int(argv[3]))
    else:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    print(json.dumps(histogram(stored_size(p, compress) for p in pages)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
