"""The scripts the benchmark and the reliability scenarios run inside the guest, run here
on the host: heap capture, compressed-size recording and the sysfs fuzzer."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import textwrap

import lz4.block
import pytest
from rztools.target.guest import heapdump, pagesizes, sysfsfuzz

PAGE = 4096


def compress(p: bytes) -> bytes:
    return lz4.block.compress(p, store_size=False)


def test_stored_size_follows_the_driver_rules():
    assert pagesizes.stored_size(bytes(PAGE), compress) == 0
    assert pagesizes.stored_size(b"\x01\x02\x03\x04\x05\x06\x07\x08" * 512, compress) == 0
    assert pagesizes.stored_size(os.urandom(PAGE), compress) == PAGE
    text = (b"the quick brown fox jumps over the lazy dog " * 100)[:PAGE]
    assert 0 < pagesizes.stored_size(text, compress) < 300
    h = pagesizes.histogram([0, 0, PAGE, 100, 100, 1500])
    assert h == {"pages": 6, "same": 2, "raw": 1, "sizes": {"100": 2, "1500": 1}}


def test_file_pages_pad_the_last_page(tmp_path):
    f = tmp_path / "f"
    f.write_bytes(b"x" * (PAGE + 10))
    pages = list(pagesizes.file_pages(str(f)))
    assert len(pages) == 2 and pages[1] == b"x" * 10 + bytes(PAGE - 10)


def test_pages_of_a_running_process_mapping(tmp_path):
    # a child with a private anonymous mapping like rzscan's region (3 MiB): a third zero
    # pages, the rest random pages
    child = subprocess.Popen([sys.executable, "-c", textwrap.dedent("""
        import mmap, os, sys, time
        m = mmap.mmap(-1, 3 << 20, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
        m.madvise(mmap.MADV_NOHUGEPAGE)  # as rzscan does: the mapping stays its own
        for i in range(256, 768):
            m[i * 4096:(i + 1) * 4096] = os.urandom(4096)
        print("ready", flush=True)
        time.sleep(60)
        """)], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "ready"
        h = pagesizes.histogram(pagesizes.stored_size(p, compress)
                                for p in pagesizes.process_pages(child.pid, 3))
    finally:
        child.kill()
        child.wait()
    assert h == {"pages": 768, "same": 256, "raw": 512, "sizes": {}}


def test_heapdump_captures_a_compressible_heap(tmp_path):
    out = tmp_path / "heap.bin"
    res = subprocess.run([sys.executable, heapdump.__file__, str(out), "4", "3"],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    summary = json.loads(res.stdout)
    data = out.read_bytes()
    assert summary["pages"] * PAGE == len(data) and summary["pages"] >= 1024
    assert summary["child_rss_kib"] >= 4096
    sizes = [pagesizes.stored_size(data[i:i + PAGE], compress)
             for i in range(0, len(data), PAGE)]
    stored = sum(s for s in sizes if s)
    ratio = len([s for s in sizes if s]) * PAGE / stored
    # objects, not noise: a Python heap compresses 2-4x under LZ4
    assert 1.8 < ratio < 6, ratio


def test_heap_state_is_made_of_real_objects():
    state = heapdump.build_state(1, seed=5)
    assert len(state["users"]) >= 500 and state["sessions"]
    user = next(iter(state["users"].values()))
    assert {"name", "email", "tags", "address"} <= set(user)
    assert isinstance(state["sessions"][0], heapdump.Session)


class FakeDevice:
    """A ramzswap device's attributes as the ABI describes them, optionally with a bug:
    a rejected memlimit write that still changes the setting."""

    def __init__(self, buggy: bool = False) -> None:
        self.buggy = buggy
        self.s = {"disksize": 0, "memlimit": 0, "backing_swap": "", "backing_write_limit": 0,
                  "initstate": 0}

    def read(self, _devdir: str, attr: str) -> str:
        return f"{self.s[attr]}\n"

    def write(self, _devdir: str, attr: str, data: bytes) -> int:
        text = data.decode("latin-1")
        text = text[:-1] if text.endswith("\n") else text
        if attr in ("initstate", "stats"):
            return 13  # EACCES
        if attr == "reset":
            if text != "1":
                return 22
            self.s.update(disksize=0, memlimit=0, backing_swap="", initstate=0)
            return 0
        if attr == "backing_swap":
            if text and not text.startswith("/"):
                return 22
            self.s[attr] = text
            return 0
        if not text.isdigit() or len(text) > 20 or int(text) >= 1 << 64:
            if self.buggy and attr == "memlimit":
                self.s["memlimit"] = 12345
            return 22
        if attr in ("disksize", "memlimit") and self.s["initstate"]:
            return 16  # EBUSY
        self.s[attr] = int(text)
        if attr == "disksize":
            self.s["initstate"] = 1
        return 0


@pytest.mark.parametrize("buggy", [False, True])
def test_sysfs_fuzz_finds_rejected_writes_that_change_state(monkeypatch, buggy):
    dev = FakeDevice(buggy)
    monkeypatch.setattr(sysfsfuzz, "read", dev.read)
    monkeypatch.setattr(sysfsfuzz, "write", dev.write)
    report = sysfsfuzz.fuzz("/sys/block/ramzswap0", 300, 4, "idle", "/dev/vdb")
    assert set(report) == set(sysfsfuzz.ATTRS)
    for attr, r in report.items():
        assert r["writes"] == 300 and r["accepted"] + r["rejected"] == 300
        assert r["rejected"] > 0, attr
    assert report["stats"]["errnos"] == {"EACCES": 300}
    assert report["disksize"]["accepted"] > 0
    assert dev.s["initstate"] == 0  # the idle phase resets what it initialised
    violations = report["memlimit"]["violations"]
    if buggy:
        assert violations and violations[0]["changed"]["memlimit"][1] == "12345\n"
    else:
        assert all(not r["violations"] for r in report.values())


def test_fuzz_values_cover_the_nasty_cases():
    rng = random.Random(1)
    values = [sysfsfuzz.value(rng, a, "/dev/vdb") for a in sysfsfuzz.ATTRS for _ in range(400)]
    joined = b"|".join(values)
    for nasty in (b"\x00", b"-1", b"18446744073709551616", b"/dev/vdb", b"/nonexistent",
                  b"0x10", b"999999999999"):
        assert nasty in joined, nasty
    assert any(len(v) > 4096 for v in values)
    assert any(not v.endswith(b"\n") for v in values) and any(v.endswith(b"\n") for v in values)
    assert all(values)  # a write of nothing never reaches the driver: it proves nothing
