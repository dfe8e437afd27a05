"""estimate on dump files and on a live process, checked against python-lz4 directly."""

import json
import random
import subprocess
import sys

import lz4.block
from ramzswap_setup.estimate import anon_regions, evenly

PAGE = 4096
CHILD = r"""
import mmap, random, sys
pages = int(sys.argv[1])
words = [b"swap", b"page", b"flash", b"ramzswap", b"compress", b"memory", b"kernel", b"lz4"]
buf = mmap.mmap(-1, pages * 4096, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
rng = random.Random(7)
for i in range(pages):
    body = b"RZPAGE%08d " % i + b" ".join(rng.choice(words) for _ in range(900))
    buf[i * 4096 : (i + 1) * 4096] = body[:4096]
print("ready", flush=True)
sys.stdin.read()
"""


def lz4_size(page: bytes) -> int:
    return len(lz4.block.compress(page, store_size=False))


def known_pages() -> list[bytes]:
    rng = random.Random(1)
    text = b"The quick brown fox jumps over the lazy dog. " * 100
    pages = [bytes(PAGE)] * 10  # zero pages
    pages += [b"\xab\xcd\xef\x01\x02\x03\x04\x05" * (PAGE // 8)] * 5  # same-filled
    pages += [rng.randbytes(PAGE) for _ in range(5)]  # incompressible
    pages += [text[i : i + PAGE] for i in range(20)]  # compressible text
    return pages


def test_estimate_on_a_dump_matches_lz4_directly(run, system, tmp_path):
    dump = tmp_path / "dump.bin"
    pages = known_pages()
    dump.write_bytes(b"".join(pages) + b"tail shorter than a page")
    result = run("estimate", "--file", str(dump), "--json")
    assert result.status == 0, result
    a = json.loads(result.out)["analysis"]
    total_lz4 = sum(lz4_size(p) for p in pages)
    stored = sum(lz4_size(p) for p in pages[20:])  # only the text pages cost their lz4 size
    stored += 5 * PAGE  # random pages are stored whole
    assert a["pages"] == 40 and a["bytes"] == 40 * PAGE
    assert (a["zero_pages"], a["same_pages"], a["incompressible_pages"]) == (10, 15, 5)
    assert (a["same_share"], a["incompressible_share"]) == (0.375, 0.125)
    assert a["lz4_bytes"] == total_lz4
    assert a["lz4_ratio"] == round(40 * PAGE / total_lz4, 3)
    assert a["stored_bytes"] == stored
    assert a["effective_ratio"] == round(40 * PAGE / stored, 3)
    r = json.loads(result.out)["recommendation"]
    memlimit = 64 * 1024 * 1024  # 25 % of the fake system's 256 MiB
    assert r == {
        "mem_total": 256 * 1024 * 1024,
        "memlimit": memlimit,
        "disksize": min(int(memlimit * a["effective_ratio"]) // PAGE * PAGE, 512 * 1024 * 1024),
    }


def test_estimate_text_output(run, tmp_path):
    dump = tmp_path / "dump.bin"
    dump.write_bytes(b"".join(known_pages()))
    out = run("estimate", "--file", str(dump)).out.splitlines()
    assert out[0] == f"sampled 40 pages (160 KiB) from {dump}"
    assert out[1] == "same-filled 37.5% (zero 10 pages), incompressible 12.5%"
    assert out[2].startswith("lz4 ratio ")
    assert out[3].startswith("effective ratio by algorithm: lz4 ")
    assert out[4].startswith("for 256 MiB RAM: memlimit 64 MiB (25% of RAM), disksize ")


def test_estimate_measures_every_algorithm_at_the_level_asked(run, tmp_path):
    """Each algorithm's ratio as the driver would store the pages: lz4hc and zstd measured
    with their own libraries, same-filled pages free, incompressible ones whole."""
    import zstandard

    dump = tmp_path / "dump.bin"
    pages = known_pages()
    dump.write_bytes(b"".join(pages))
    text = pages[20:]  # the compressible ones; 5 random pages are stored whole either way
    for level, zlevel, hclevel in ((0, 3, 9), (12, 12, 12)):
        args = ["estimate", "--file", str(dump), "--json", "--level", str(level)]
        by = json.loads(run(*args).out)["analysis"]["effective_ratio_by_algorithm"]
        zc = zstandard.ZstdCompressor(level=zlevel)
        zstd = 5 * PAGE + sum(len(zc.compress(p)) for p in text)
        hc = 5 * PAGE + sum(len(lz4.block.compress(p, mode="high_compression",
                                                    compression=hclevel, store_size=False))
                            for p in text)
        assert by["zstd"] == round(40 * PAGE / zstd, 3)
        assert by["lz4hc"] == round(40 * PAGE / hc, 3)
        assert by["zstd"] > by["lz4"], by


def test_estimate_without_zstandard_says_so(run, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "zstandard", None)
    dump = tmp_path / "dump.bin"
    dump.write_bytes(b"".join(known_pages()))
    result = run("estimate", "--file", str(dump))
    assert result.status == 0
    assert "note: zstd not estimated: python zstandard is not installed" in result.out
    assert "zstd" not in result.out.splitlines()[3]


def test_sampling_takes_evenly_spaced_pages(run, tmp_path):
    dump = tmp_path / "dump.bin"
    dump.write_bytes(b"".join(i.to_bytes(4, "little") * (PAGE // 4) for i in range(100)))
    saved = tmp_path / "saved.bin"
    result = run("estimate", "--file", str(dump), "--max-pages", "10", "--save", str(saved))
    assert result.status == 0
    data = saved.read_bytes()
    assert [int.from_bytes(data[i * PAGE : i * PAGE + 4], "little") for i in range(10)] == list(
        range(0, 100, 10)
    )
    assert evenly(7, 3) == [0, 2, 4] and evenly(3, 5) == [0, 1, 2]


def test_estimate_on_a_live_process_reads_its_real_pages(run, tmp_path):
    pages = 1024  # 4 MiB of known, page-aligned anonymous memory
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(pages)], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    try:
        assert child.stdout.readline() == b"ready\n"
        saved = tmp_path / "saved.bin"
        result = run(
            "estimate", "--pid", str(child.pid), "--json", "--save", str(saved),
            "--max-pages", "1000000", root=False,
        )  # fmt: skip
    finally:
        child.stdin.close()
        child.wait(timeout=30)
    assert result.status == 0, result
    info = json.loads(result.out)
    a = info["analysis"]
    assert len(info["sources"]) == 1 and info["sources"][0].startswith(f"pid {child.pid} (")
    data = saved.read_bytes()
    sampled = [data[i : i + PAGE] for i in range(0, len(data), PAGE)]
    # the report is about exactly the pages it read: compress them here and compare
    assert a["pages"] == len(sampled)
    assert a["lz4_bytes"] == sum(lz4_size(p) for p in sampled)
    # and those are the process's real pages: every page of its known buffer is there, intact
    found = {}
    for page in sampled:
        if page.startswith(b"RZPAGE"):
            found[int(page[6:14])] = page
    assert sorted(found) == list(range(pages))
    words = [b"swap", b"page", b"flash", b"ramzswap", b"compress", b"memory", b"kernel", b"lz4"]
    rng = random.Random(7)
    for i in range(pages):
        expected = b"RZPAGE%08d " % i + b" ".join(rng.choice(words) for _ in range(900))
        assert found[i] == expected[:PAGE]
    # the known buffer alone compresses like python-lz4 says; the process ratio is near it
    buffer_ratio = pages * PAGE / sum(lz4_size(p) for p in found.values())
    assert abs(a["lz4_ratio"] - buffer_ratio) / buffer_ratio < 0.1


def test_estimate_needs_a_source_and_a_process(run):
    result = run("estimate")
    assert result.status == 2
    assert result.err == (
        "ramzswap-setup: error: estimate needs --pid PID or --file DUMP "
        "(see 'ramzswap-setup --help')\n"
    )
    result = run("estimate", "--pid", "999999999")
    assert result.status == 1
    assert result.err.startswith("ramzswap-setup: error: pid 999999999: no such process")


def test_estimate_without_python_lz4_says_so_in_one_line(run, tmp_path, monkeypatch):
    dump = tmp_path / "dump.bin"
    dump.write_bytes(bytes(PAGE))
    monkeypatch.setitem(sys.modules, "lz4", None)
    monkeypatch.setitem(sys.modules, "lz4.block", None)
    result = run("estimate", "--file", str(dump))
    assert (result.status, result.out) == (1, "")
    message = "estimate needs python3-lz4, which is not installed"
    assert result.err == f"ramzswap-setup: error: {message}\n"


def test_anonymous_regions_are_the_ones_without_a_file():
    maps = """\
55d0c0a00000-55d0c0a21000 rw-p 00000000 00:00 0                          [heap]
7f10a0000000-7f10a0021000 rw-p 00000000 00:00 0
7f10b0000000-7f10b0010000 r--p 00000000 fe:01 131 /usr/lib/libc.so.6
7f10b1000000-7f10b1001000 rw-p 00020000 fe:01 131 /usr/lib/libc.so.6
7f10b2000000-7f10b2001000 ---p 00000000 00:00 0
7f10b3000000-7f10b3001000 rw-s 00000000 00:01 77 /dev/zero (deleted)
7f10b4000000-7f10b4004000 rw-p 00000000 00:00 0                          [anon:scudo]
7ffd10000000-7ffd10021000 rw-p 00000000 00:00 0                          [stack]
7ffd10100000-7ffd10102000 r--p 00000000 00:00 0                          [vvar]
7ffd10102000-7ffd10104000 r-xp 00000000 00:00 0                          [vdso]
"""
    assert anon_regions(maps) == [
        (0x55D0C0A00000, 0x55D0C0A21000),
        (0x7F10A0000000, 0x7F10A0021000),
        (0x7F10B4000000, 0x7F10B4004000),
        (0x7FFD10000000, 0x7FFD10021000),
    ]


def test_pid_must_be_a_number(run):
    result = run("estimate", "--pid", "self")
    assert result.status == 2
    assert "'self' is not a valid integer" in result.err
    assert len(result.err.splitlines()) == 1
