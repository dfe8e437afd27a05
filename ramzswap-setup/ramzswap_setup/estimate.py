"""`estimate`: how well this device's own memory would compress, and the sizes that follow.

Pages come from the anonymous memory of running processes (the mappings without a file in
/proc/PID/maps; only pages that are resident or swapped, per /proc/PID/pagemap, read through
/proc/PID/mem) or from a dump file. Each page is checked for a repeated 8-byte word
(same-filled: the driver stores those for free) and compressed with LZ4 (python-lz4, imported
only here), and with lz4hc and zstd (python-zstandard, when installed) for a ratio per
algorithm, so that a user sees what each would save before choosing. Sampling takes evenly
spaced pages when there are more than --max-pages.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

from .env import Env
from .errors import SetupError
from .sizes import format_size, round_page

_SPECIAL = ("[vvar]", "[vdso]", "[vsyscall]", "[vvar_vclock]", "[uprobes]")
_PRESENT = 1 << 63
_SWAPPED = 1 << 62
ESTIMATE_MEMLIMIT_PERCENT = 25


def load_compressor() -> Callable[[bytes], int]:
    """len(LZ4 block) for a page; SetupError in one line when python-lz4 is missing."""
    try:
        import lz4.block
    except ImportError:
        raise SetupError("estimate needs python3-lz4, which is not installed") from None

    def compressed_size(page: bytes) -> int:
        return len(lz4.block.compress(page, store_size=False))

    return compressed_size


# the levels the module and zram use when none is set
DEFAULT_LEVELS = {"lz4": 1, "lz4hc": 9, "zstd": 3}


def load_others(level: int) -> tuple[dict[str, Callable[[bytes], int]], list[str]]:
    """Compressed size functions of the other algorithms at `level` (0: each one's
    default), and notes on those that cannot be measured here."""
    import lz4.block

    def lvl(name: str) -> int:
        return level or DEFAULT_LEVELS[name]

    out: dict[str, Callable[[bytes], int]] = {
        "lz4hc": lambda page: len(lz4.block.compress(
            page, mode="high_compression", compression=lvl("lz4hc"), store_size=False)),
    }
    notes = []
    try:
        import zstandard
    except ImportError:
        notes.append("zstd not estimated: python zstandard is not installed")
    else:
        zc = zstandard.ZstdCompressor(level=lvl("zstd"))
        out["zstd"] = lambda page: len(zc.compress(page))
    return out, notes


def anon_regions(maps: str) -> list[tuple[int, int]]:
    """(start, end) of readable mappings that no file backs, from /proc/PID/maps text."""
    regions = []
    for line in maps.splitlines():
        fields = line.split(maxsplit=5)
        if len(fields) < 5 or not fields[1].startswith("r"):
            continue
        name = fields[5].strip() if len(fields) == 6 else ""
        if fields[4] != "0" or name in _SPECIAL:
            continue
        if name and not name.startswith(("[heap]", "[stack", "[anon")):
            continue
        start, _, end = fields[0].partition("-")
        regions.append((int(start, 16), int(end, 16)))
    return regions


def evenly(n: int, k: int) -> list[int]:
    """k indices spread evenly over range(n) (all of them when n <= k)."""
    if n <= k:
        return list(range(n))
    return [i * n // k for i in range(k)]


def _in_use(pagemap_fd: int, start: int, end: int, page_size: int) -> list[int]:
    """Addresses of the pages of [start, end) that are resident or swapped."""
    found = []
    chunk = 1 << 16
    for first in range(start // page_size, end // page_size, chunk):
        count = min(chunk, end // page_size - first)
        data = os.pread(pagemap_fd, count * 8, first * 8)
        for i in range(len(data) // 8):
            entry = int.from_bytes(data[i * 8 : i * 8 + 8], "little")
            if entry & (_PRESENT | _SWAPPED):
                found.append((first + i) * page_size)
    return found


def process_addresses(env: Env, pid: int, page_size: int) -> tuple[list[int], str]:
    """Addresses of the process's anonymous pages in use, and how they were chosen."""
    proc = f"/proc/{pid}"
    maps = env.root.read(proc + "/maps")
    if maps is None:
        raise SetupError(f"pid {pid}: no such process (or {proc}/maps unreadable)")
    addresses: list[int] = []
    try:
        fd = os.open(env.root.host(proc + "/pagemap"), os.O_RDONLY)
    except OSError:
        for start, end in anon_regions(maps):
            addresses += range(start, end, page_size)
        return addresses, "every mapped page (pagemap unreadable: untouched pages read as zero)"
    try:
        for start, end in anon_regions(maps):
            addresses += _in_use(fd, start, end, page_size)
    finally:
        os.close(fd)
    return addresses, "resident and swapped pages"


def process_pages(
    env: Env, pid: int, addresses: list[int], page_size: int, max_pages: int
) -> Iterator[bytes]:
    """The sampled pages of a process, read through /proc/PID/mem."""
    try:
        mem = os.open(env.root.host(f"/proc/{pid}/mem"), os.O_RDONLY)
    except OSError as e:
        raise SetupError(f"pid {pid}: cannot read its memory ({e.strerror})") from None
    try:
        for index in evenly(len(addresses), max_pages):
            try:
                page = os.pread(mem, page_size, addresses[index])
            except OSError:
                continue  # unmapped since maps was read, or a guard page
            if len(page) == page_size:
                yield page
    finally:
        os.close(mem)


def file_pages(path: str, page_size: int, max_pages: int) -> Iterator[bytes]:
    """The sampled whole pages of a dump file."""
    try:
        f = open(path, "rb")  # noqa: SIM115 - closed below, after the last page is yielded
    except OSError as e:
        raise SetupError(f"{path}: {e.strerror}") from None
    with f:
        total = os.fstat(f.fileno()).st_size // page_size
        for index in evenly(total, max_pages):
            f.seek(index * page_size)
            yield f.read(page_size)


def _saving(pages: Iterator[bytes], path: str | None) -> Iterator[bytes]:
    if path is None:
        yield from pages
        return
    with open(path, "wb") as out:
        for page in pages:
            out.write(page)
            yield page


def run(
    env: Env, pids: list[int], dump: str | None, max_pages: int, save: str | None = None,
    level: int = 0,
) -> dict[str, Any]:
    """Sample, analyse and recommend; `save` keeps the sampled pages for comparison."""
    from itertools import chain

    from .plan import mem_total

    compressed_size = load_compressor()
    others, other_notes = load_others(level)
    ram = mem_total(env)
    page_size = env.page_size
    sources, notes, streams = [], [], []
    for pid in pids:
        addresses, note = process_addresses(env, pid, page_size)
        comm = (env.root.read(f"/proc/{pid}/comm") or "?").strip()
        sources.append(f"pid {pid} ({comm})")
        notes.append(f"pid {pid}: {len(addresses)} anonymous pages, {note}")
        streams.append(process_pages(env, pid, addresses, page_size, max_pages))
    if dump is not None:
        sources.append(dump)
        streams.append(file_pages(dump, page_size, max_pages))
    analysis = analyse(_saving(chain(*streams), save), compressed_size, page_size, others)
    notes.extend(other_notes)
    return {
        "sources": sources,
        "page_size": page_size,
        "analysis": analysis,
        "recommendation": recommend(ram, analysis["effective_ratio"]),
        "notes": notes,
    }


def is_same_filled(page: bytes) -> bool:
    """One 8-byte word repeated over the whole page (zero pages included)."""
    return page[8:] == page[:-8]


def analyse(
    pages: Iterator[bytes] | list[bytes], compressed_size: Callable[[bytes], int], page_size: int,
    others: dict[str, Callable[[bytes], int]] | None = None,
) -> dict[str, Any]:
    """Counts and ratios for a set of pages, as the driver would store them: with lz4, and
    with each of `others` (an effective ratio per algorithm)."""
    n = zero = same = incompressible = 0
    lz4_bytes = stored = 0
    others = others or {}
    other_stored = dict.fromkeys(others, 0)
    threshold = page_size * 3 // 4  # bigger than this is stored uncompressed
    for page in pages:
        n += 1
        size = compressed_size(page)
        lz4_bytes += size
        if is_same_filled(page):
            same += 1
            zero += not any(page[:8])
            continue
        if size > threshold:
            incompressible += 1
            stored += page_size
        else:
            stored += size
        for name, size_of in others.items():
            other = size_of(page)
            other_stored[name] += page_size if other > threshold else other
    orig = n * page_size
    by_algorithm = {"lz4": round(orig / stored, 3) if stored else None}
    by_algorithm.update({name: round(orig / s, 3) if s else None
                         for name, s in other_stored.items()})
    return {
        "pages": n,
        "bytes": orig,
        "zero_pages": zero,
        "same_pages": same,
        "incompressible_pages": incompressible,
        "same_share": round(same / n, 4) if n else None,
        "incompressible_share": round(incompressible / n, 4) if n else None,
        "lz4_bytes": lz4_bytes,
        "lz4_ratio": round(orig / lz4_bytes, 3) if lz4_bytes else None,
        "stored_bytes": stored,
        "effective_ratio": round(orig / stored, 3) if stored else None,
        "effective_ratio_by_algorithm": by_algorithm,
    }


def recommend(ram: int, effective_ratio: float | None) -> dict[str, Any]:
    """Sizes for this RAM: the store may take 25 % of RAM; disksize is what fits in it."""
    memlimit = round_page(ram * ESTIMATE_MEMLIMIT_PERCENT // 100)
    most = round_page(2 * ram)
    if effective_ratio is None:  # nothing but same-filled pages
        disksize = most
    else:
        disksize = min(round_page(int(memlimit * effective_ratio)), most)
    return {"mem_total": ram, "memlimit": memlimit, "disksize": max(disksize, memlimit)}


def format_estimate(result: dict[str, Any]) -> str:
    a, r = result["analysis"], result["recommendation"]
    if not a["pages"]:
        return "no pages sampled\n"
    lines = [
        f"sampled {a['pages']} pages ({format_size(a['bytes'])}) from "
        + ", ".join(result["sources"]),
        f"same-filled {a['same_share'] * 100:.1f}% (zero {a['zero_pages']} pages), "
        f"incompressible {a['incompressible_share'] * 100:.1f}%",
        f"lz4 ratio {a['lz4_ratio']} (every sampled page), effective ratio "
        f"{a['effective_ratio']} (same-filled stored free, incompressible stored whole)",
        "effective ratio by algorithm: " + ", ".join(
            f"{name} {ratio}" for name, ratio in a["effective_ratio_by_algorithm"].items()),
        f"for {format_size(r['mem_total'])} RAM: memlimit {format_size(r['memlimit'])} "
        f"({ESTIMATE_MEMLIMIT_PERCENT}% of RAM), disksize {format_size(r['disksize'])} "
        "(what fits in memlimit at the effective ratio, at most 2 x RAM)",
    ]
    lines.extend(f"note: {n}" for n in result["notes"])
    if a["effective_ratio"] is not None and a["effective_ratio"] < 1.5:
        lines.append("note: this memory compresses poorly: compressed swap gains little")
    return "\n".join(lines) + "\n"
