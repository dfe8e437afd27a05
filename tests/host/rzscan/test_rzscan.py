"""rzscan, the workload: build it, run every data set small, break it on purpose."""

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import lz4.block
import pytest

REPO = Path(__file__).resolve().parents[3]
SRC = REPO / "rzscan"
PAGE = os.sysconf("SC_PAGE_SIZE")
DATASETS = ["zero", "same", "text", "random", "mixed"]


def build(out: Path, *make_args: str) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        ["make", "-C", str(SRC), f"O={out}", "CFLAGS=-O2 -Werror", *make_args],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "warning" not in proc.stderr.lower(), proc.stderr
    return proc


@pytest.fixture(scope="session")
def rzscan(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("rzscan-build")
    build(out)
    return out / "rzscan"


def run(binary: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items() if k != "RZSCAN_CORRUPT_PAGE"}
    full_env.update(env or {})
    return subprocess.run(
        [str(binary), *args], capture_output=True, text=True, env=full_env, timeout=120
    )


def report(proc: subprocess.CompletedProcess) -> dict:
    lines = proc.stdout.splitlines()
    assert len(lines) == 1, proc.stdout
    return json.loads(lines[0])


def elf_header(path: Path) -> bytes:
    return path.read_bytes()[:64]


def test_static_by_default(rzscan):
    text = subprocess.run(["file", str(rzscan)], capture_output=True, text=True).stdout
    assert "statically linked" in text


@pytest.mark.parametrize(
    ("cc", "machine"), [("aarch64-linux-gnu-gcc", 183), ("arm-linux-gnueabihf-gcc", 40)]
)
def test_cross_builds_static(tmp_path, cc, machine):
    build(tmp_path, f"CC={cc}")
    header = elf_header(tmp_path / "rzscan")
    assert header[:4] == b"\x7fELF"
    assert int.from_bytes(header[18:20], "little") == machine
    text = subprocess.run(["file", str(tmp_path / "rzscan")], capture_output=True, text=True)
    assert "statically linked" in text.stdout


def test_install_honours_destdir_and_prefix(tmp_path):
    build(tmp_path / "b", "STATIC=", "install", f"DESTDIR={tmp_path}/root", "PREFIX=/opt/rz")
    installed = tmp_path / "root/opt/rz/bin/rzscan"
    assert installed.is_file()
    assert os.access(installed, os.X_OK)


@pytest.mark.parametrize("dataset", DATASETS)
@pytest.mark.parametrize("mode", ["cyclic", "once"])
def test_each_dataset_verifies(rzscan, dataset, mode):
    proc = run(rzscan, "--data", dataset, "--mode", mode, "4", "3")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    r = report(proc)
    pages = 4 * 1024 * 1024 // PAGE
    assert r["dataset"] == dataset
    assert r["mode"] == mode
    assert (r["mib"], r["passes"], r["workers"], r["page_size"]) == (4, 3, 1, PAGE)
    assert r["pages"] == pages
    assert r["pages_scanned"] == 3 * pages
    assert r["mismatches"] == 0
    assert r["first_mismatch_page"] is None
    assert r["failed_workers"] == 0
    assert r["elapsed_s"] > 0
    assert isinstance(r["pswpin"], int) and r["pswpin"] >= 0
    assert isinstance(r["pswpout"], int) and r["pswpout"] >= 0


def test_workers_sum_their_regions(rzscan):
    proc = run(rzscan, "--workers", "3", "--rewrite", "--data", "mixed", "5", "2")
    assert proc.returncode == 0, proc.stderr
    r = report(proc)
    assert r["workers"] == 3
    assert r["rewrite"] is True
    assert r["pages_scanned"] == 2 * 5 * 1024 * 1024 // PAGE


def test_file_dataset(rzscan, tmp_path):
    data = tmp_path / "heap.bin"
    data.write_bytes(os.urandom(3 * PAGE + 100))
    proc = run(rzscan, "--data", f"file:{data}", "--mode", "once", "1", "2")
    assert proc.returncode == 0, proc.stderr
    r = report(proc)
    assert r["dataset"] == f"file:{data}"
    assert r["mismatches"] == 0


def test_dataset_name_is_json_escaped(rzscan, tmp_path):
    data = tmp_path / 'we"ird\\name'
    data.write_bytes(b"x" * PAGE)
    proc = run(rzscan, "--data", f"file:{data}", "1")
    assert proc.returncode == 0, proc.stderr
    assert report(proc)["dataset"] == f"file:{data}"


@pytest.mark.parametrize(
    ("args", "page", "mismatches"),
    [
        (["--data", "zero", "2", "3"], 5, 3),  # read back wrong on every pass
        (["--data", "text", "--rewrite", "2", "3"], 7, 1),  # rewritten after the check
        (["--data", "random", "--mode", "once", "2", "3"], 9, 1),  # refilled every pass
        (["--data", "same", "--workers", "2", "2", "2"], 300, 2),  # second worker's region
    ],
)
def test_corrupted_page_is_detected(rzscan, args, page, mismatches):
    proc = run(rzscan, *args, env={"RZSCAN_CORRUPT_PAGE": str(page)})
    assert proc.returncode == 1
    r = report(proc)
    assert r["mismatches"] == mismatches
    assert r["first_mismatch_page"] == page
    assert f"mismatch at page {page} " in proc.stderr


def test_killed_worker_fails_the_run(rzscan):
    proc = subprocess.Popen(
        [str(rzscan), "--workers", "2", "--data", "zero", "8", "1000000"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    children_file = Path(f"/proc/{proc.pid}/task/{proc.pid}/children")
    deadline = time.monotonic() + 10
    children: list[str] = []
    while len(children) < 2 and time.monotonic() < deadline:
        children = children_file.read_text().split()
        time.sleep(0.05)
    assert len(children) == 2
    os.kill(int(children[1]), signal.SIGKILL)
    os.kill(int(children[0]), signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 3
    r = json.loads(out)
    assert r["failed_workers"] == 2
    assert "worker 1 killed by signal 9" in err
    assert "worker 0 killed by signal 15" in err


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["--bogus", "4"],
        ["-x", "4"],
        ["--data", "nonsense", "4"],
        ["--data", "file:", "4"],
        ["--data", "file:/nonexistent/rzscan-data", "4"],
        ["--data", "file:/proc/self"],
        ["--mode", "sideways", "4"],
        ["--mode", "once", "--rewrite", "4"],
        ["--workers", "0", "4"],
        ["--workers", "-1", "4"],
        ["--workers", "1025", "4"],
        ["--workers"],
        ["--seed", "1x", "4"],
        ["--seed", "18446744073709551616", "4"],
        ["0"],
        ["-4"],
        ["4x"],
        ["99999999999999999999999"],
        ["4", "0"],
        ["4", "two"],
        ["4", "2", "extra"],
    ],
)
def test_bad_usage_exits_2_with_one_line(rzscan, args):
    proc = run(rzscan, *args)
    assert proc.returncode == 2
    assert proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("rzscan: ")
    assert "usage: rzscan" in lines[0]


def test_empty_data_file_is_refused(rzscan, tmp_path):
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    proc = run(rzscan, "--data", f"file:{empty}", "1")
    assert proc.returncode == 2
    assert "is empty" in proc.stderr


def test_bad_corrupt_hook_value_is_refused(rzscan):
    proc = run(rzscan, "1", env={"RZSCAN_CORRUPT_PAGE": str(1024 * 1024 // PAGE)})
    assert proc.returncode == 2
    assert "RZSCAN_CORRUPT_PAGE" in proc.stderr


def test_more_workers_than_pages_is_refused(rzscan):
    pages = 1024 * 1024 // PAGE
    assert run(rzscan, "--workers", str(pages), "1").returncode == 0
    proc = run(rzscan, "--workers", str(pages + 1), "1")
    assert proc.returncode == 2
    assert "workers for" in proc.stderr


def test_help_goes_to_stdout(rzscan):
    proc = run(rzscan, "--help")
    assert proc.returncode == 0
    assert proc.stdout.startswith("usage: rzscan")
    assert "--workers" in proc.stdout


# ---- the generated data, seen through a harness built from the same source ----

HARNESS = r"""
#define main rzscan_main
#include "rzscan.c"
#undef main
int main(int argc, char **argv)
{
	struct config cfg = { .page_size = 4096, .seed = 1, .file_fd = -1 };
	unsigned long n = strtoul(argv[2], NULL, 10), i;
	unsigned char buf[4096];

	(void)argc;
	parse_dataset(&cfg, argv[1]);
	for (i = 0; i < n; i++) {
		generate_page(&cfg, buf, i, strtoul(argv[3], NULL, 10));
		fwrite(buf, 1, sizeof(buf), stdout);
	}
	return 0;
}
"""


@pytest.fixture(scope="session")
def dump(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("rzscan-dump")
    (out / "dump.c").write_text(HARNESS)
    subprocess.run(
        ["cc", "-O2", "-I", str(SRC), "-o", str(out / "dump"), str(out / "dump.c")],
        check=True,
    )
    return out / "dump"


def pages_of(dump: Path, dataset: str, count: int = 400, gen: int = 0) -> list[bytes]:
    raw = subprocess.run(
        [str(dump), dataset, str(count), str(gen)], capture_output=True, check=True
    ).stdout
    return [raw[i : i + 4096] for i in range(0, len(raw), 4096)]


def lz4_ratio(pages: list[bytes]) -> float:
    compressed = sum(len(lz4.block.compress(p, store_size=False)) for p in pages)
    return sum(map(len, pages)) / compressed


def is_same_filled(page: bytes) -> bool:
    word = page[:8]
    return page == word * (len(page) // 8)


def test_zero_pages_are_zero(dump):
    assert all(p == bytes(4096) for p in pages_of(dump, "zero"))


def test_same_pages_repeat_one_word_that_varies_by_page(dump):
    pages = pages_of(dump, "same")
    assert all(is_same_filled(p) and p != bytes(4096) for p in pages)
    assert len({p[:8] for p in pages}) == len(pages)


def test_text_is_text_like_about_two_to_one(dump):
    pages = pages_of(dump, "text")
    assert all(all(32 <= b < 127 or b == 10 for b in p) for p in pages)
    assert 1.8 <= lz4_ratio(pages) <= 2.5


def test_random_does_not_compress(dump):
    assert lz4_ratio(pages_of(dump, "random")) < 1.01


def test_mixed_holds_every_kind(dump):
    pages = pages_of(dump, "mixed")
    zero = sum(p == bytes(4096) for p in pages)
    same = sum(is_same_filled(p) and p != bytes(4096) for p in pages)
    random = sum(lz4_ratio([p]) < 1.01 for p in pages)
    text = len(pages) - zero - same - random
    for kind in (zero, same, random, text):
        assert kind >= len(pages) // 20


def test_content_is_reproducible_and_changes_with_generation(dump):
    assert pages_of(dump, "mixed", 50) == pages_of(dump, "mixed", 50)
    assert pages_of(dump, "text", 50, gen=1) != pages_of(dump, "text", 50, gen=0)


def test_random_pct_and_worst_page_time_are_reported(rzscan):
    r = report(run(rzscan, "--data", "text", "--random-pct", "20", "4", "2"))
    assert r["random_pct"] == 20 and r["mismatches"] == 0
    assert r["worst_page_ms"] > 0 and r["worst_page_ms"] <= r["elapsed_s"] * 1000
    assert report(run(rzscan, "--data", "text", "4"))["random_pct"] == 0
    bad = run(rzscan, "--random-pct", "101", "4")
    assert bad.returncode == 2 and "random percentage" in bad.stderr
