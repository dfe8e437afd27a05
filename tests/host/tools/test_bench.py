"""The benchmark's host side: parsing the devices' stats, the figures, results.json's
schema, the report and chart, and the allocator microbenchmark's driver."""

from __future__ import annotations

import json
import struct
import subprocess
from pathlib import Path

import pytest
from rztools.bench import alloc
from rztools.bench import allocator as allocbench
from rztools.bench import swap as bench
from rztools.target import guestproc as gp
from rztools.target import swapdevs as sd

RAMZSWAP_STATS = """num_reads 73891
num_writes 58521
failed_reads 0
failed_writes 3
invalid_io 0
notify_free 58496
same_pages 2
pages_stored 25
pages_expand 0
good_compress 25
orig_data_size 102400
compr_data_size 36230
mem_used_total 45056
mem_used_max 67461120
bdev_num_reads 0
bdev_num_writes 0
backing_write_limit_left -1"""
# what stats_line("zram") prints: mm_stat's and io_stat's columns after their names
ZRAM_STATS = ("mm_stat 8073216 3752275 4194304 4194304 4210688 5 0 7 7\n"
              "io_stat 0 757391 0 0")


def test_ramzswap_and_zram_stats_come_out_under_the_same_names():
    rz = sd.parse_stats("ramzswap", RAMZSWAP_STATS)
    zr = sd.parse_stats("zram", ZRAM_STATS)
    for key in ("orig_data_size", "compr_data_size", "mem_used_total", "mem_used_max",
                "same_pages", "failed_writes", "failed_reads", "notify_free"):
        assert key in rz and key in zr, key
    assert rz["backing_write_limit_left"] == -1
    assert (zr["orig_data_size"], zr["compr_data_size"], zr["mem_used_total"]) == (
        8073216, 3752275, 4194304)
    assert zr["failed_writes"] == 757391 and zr["huge_pages"] == 7


def test_stats_that_are_not_stats_are_refused():
    with pytest.raises(ValueError):
        sd.parse_stats("zram", "io_stat 0 0 0 0")
    with pytest.raises(ValueError):
        sd.parse_stats("ramzswap", "cat: can't open '/sys/block/ramzswap0/stats'")
    with pytest.raises(ValueError):
        sd.sysdir("zswap")


def test_setup_lines_configure_each_backend_its_own_way():
    cfg = sd.SwapConfig("256M", "128M")
    z = sd.setup_line("zram", cfg)
    assert "echo lz4 > /sys/block/zram0/comp_algorithm" in z
    assert "echo 128M > /sys/block/zram0/mem_limit" in z
    assert z.index("mem_limit") < z.index("disksize") < z.index("mkswap") < z.index("swapon")
    r = sd.setup_line("ramzswap", sd.SwapConfig("64M", "8M", backing="/dev/vdb",
                                                backing_write_limit=100))
    assert r.index("backing_swap") < r.index("memlimit") < r.index("disksize")
    assert "echo 100 > /sys/block/ramzswap0/backing_write_limit" in r
    with pytest.raises(ValueError):
        sd.setup_line("zram", sd.SwapConfig("64M", backing="/dev/vdb"))


def test_a_command_runs_inside_the_memory_cgroup(tmp_path, monkeypatch):
    # the same shell line, against a directory standing in for /sys/fs/cgroup
    monkeypatch.setattr(sd, "CGROOT", str(tmp_path))
    (tmp_path / "grp").mkdir()
    scan = sd.Scan("file:/a b", 8, 2, workers=3, rewrite=True, time_limit=5)
    line = sd.scan_line(scan, "grp").replace("exec rzscan", "exec echo rzscan")
    assert line.startswith("timeout -s KILL 5 sh -c ")  # the timer stays out of the group
    out = subprocess.run(["sh", "-c", line], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["rzscan", "--data", "file:/a", "b", "--mode", "cyclic",
                                  "--workers", "3", "--seed", "1", "--rewrite", "8", "2"]
    assert (tmp_path / "grp" / "cgroup.procs").read_text().strip().isdigit()
    assert sd.in_memcg(None, "true") == "true"


def test_rzscan_report_is_found_after_its_stderr():
    out = ('rzscan: worker 3 killed by signal 7\n{"dataset":"random","mismatches":0,'
           '"pswpin":5,"pswpout":7,"elapsed_s":1.5}')
    assert sd.parse_rzscan(out)["pswpout"] == 7
    with pytest.raises(ValueError):
        sd.parse_rzscan("Killed")
    assert not sd.ScanResult(137, None, "Killed").verified
    assert sd.ScanResult(0, {"mismatches": 0}, "").verified
    assert not sd.ScanResult(0, {"mismatches": 2}, "").verified


def test_system_seconds_count_system_irq_and_softirq_ticks():
    before = "cpu  136 0 664 796 4 0 21 0 0 0"
    after = "cpu  364 0 1699 1979 4 10 44 0 0 0"
    assert gp.system_seconds(before, after) == pytest.approx((1035 + 10 + 23) / 100)
    with pytest.raises(ValueError):
        gp.system_seconds("cpu0 1 2 3 4 5 6 7", after)


OOM_REPORT = """[  106.70] rzscan invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=0
[  106.70] CPU: 1 PID: 135 Comm: rzscan Not tainted 6.1.0-56-amd64 #1  Debian 6.1.192-2
[  106.70] Call Trace:
[  106.70]  <TASK>
[  106.70]  dump_stack_lvl+0x44/0x5c
[  106.70]  dump_header+0x4a/0x211
[  106.79] Memory cgroup out of memory: Killed process 135 (rzscan) total-vm:75004kB
[  110.01] oom_reaper: reaped process 135 (rzscan), now anon-rss:0kB"""


def test_kernel_problems_leave_out_oom_reports_but_not_what_follows():
    assert gp.kernel_problems(OOM_REPORT) == []
    oops = "[  120.00] BUG: unable to handle page fault for address: 0000000000001234"
    warn = "[  121.00] WARNING: CPU: 0 PID: 9 at mm/page_alloc.c:5525"
    assert gp.kernel_problems(OOM_REPORT + "\n" + oops + "\n" + warn) == [oops, warn]
    assert gp.kernel_problems(warn + "\n" + OOM_REPORT) == [warn]


def stats(orig: int, compr: int, used: int) -> dict[str, int]:
    return {"orig_data_size": orig, "compr_data_size": compr, "mem_used_total": used}


def a_run(ds: str, be: str, run: int, pps: float, used: int = 64 << 20,
          alg: str = "lz4") -> dict:
    report = {"pswpin": int(pps * 5), "pswpout": int(pps * 5), "elapsed_s": 10.0}
    figs = bench.run_figures(report, report, 2.0 + run, stats(2 * used, used, used),
                             stats(used, used * 19 // 20, used))
    return {"algorithm": alg, "dataset": ds, "backend": be, "run": run, "figures": figs,
            "pswpout": 100,
            "mismatches": 0, "status": 0, "failed_writes": 0}


def test_run_figures():
    f = a_run("text", "zram", 0, 1000)["figures"]
    assert f["pages_per_s"] == pytest.approx(1000) and f["us_per_page"] == pytest.approx(1000)
    assert f["ratio"] == 2 and f["orig_per_mem_used"] == 2
    assert f["compr_per_mem_used_after_churn"] == pytest.approx(0.95)
    # a store of same-filled pages only: its ratios are those of a few stray pages
    tiny = a_run("zero", "zram", 0, 1000, used=8192)["figures"]
    assert tiny["ratio"] is tiny["orig_per_mem_used"] is None
    assert tiny["pages_per_s"] == pytest.approx(1000)


def test_results_json_has_exactly_the_issue_schema_and_pairs_runs():
    plan = bench.Plan(runs=3, datasets=("text", "zero"), algorithms=("lz4",))
    runs = [a_run(ds, be, i, pps, used=8192 if ds == "zero" else 64 << 20)
            for i in range(3) for ds in plan.datasets
            for be, pps in (("ramzswap", 2000 + 100 * i), ("zram", 1000))]
    recs = bench.records(runs, plan)
    assert len(recs) == 4
    for rec in recs:
        assert set(rec) == {"algorithm", "dataset", "backend", "runs", "pages_per_s",
                            "us_per_page",
                            "ratio", "orig_per_mem_used", "compr_per_mem_used_after_churn",
                            "sys_s"}
        assert rec["runs"] == 3
        for fig in bench.FIGURES:
            assert set(rec[fig]) == {"min", "median", "max", "ci95"}
    rz_text = recs[0]
    assert (rz_text["dataset"], rz_text["backend"]) == ("text", "ramzswap")
    assert rz_text["pages_per_s"]["min"] == pytest.approx(2000)
    assert rz_text["pages_per_s"]["median"] == pytest.approx(2100)
    assert rz_text["sys_s"] == {"min": 2.0, "median": 3.0, "max": 4.0, "ci95": None}
    assert recs[2]["ratio"] == {"min": None, "median": None, "max": None, "ci95": None}
    json.dumps(recs)  # no inf or nan
    ratios = bench.paired_ratios(runs, plan)
    assert ratios[0]["pairs"] == 3
    assert ratios[0]["pages_per_s"]["median"] == pytest.approx(2.1)
    assert ratios[0]["us_per_page"]["max"] == pytest.approx(0.5)
    goals = bench.goal_rows(recs, ratios)
    speed = [g for g in goals if g["goal"].startswith("pages/s")]
    # three pairs give no 95 % interval: 2.1x over three pairs is not yet a finding
    assert [(g["dataset"], g["verdict"]) for g in speed] == [("text", "unsettled")]
    churn = [g for g in goals if "after churn" in g["goal"]]
    assert [(g["dataset"], g["verdict"]) for g in churn] == [("text", "unsettled")]


def test_report_and_chart(tmp_path):
    plan = bench.Plan(runs=2, datasets=("heap", "random"), algorithms=("lz4",))
    runs = [a_run(ds, be, i, pps) for i in range(2) for ds in plan.datasets
            for be, pps in (("ramzswap", 900), ("zram", 1000))]
    recs = bench.records(runs, plan, bench.ALL_FIGURES)
    ratios = bench.paired_ratios(runs, plan)
    md = bench.markdown(plan, recs, ratios, bench.goal_rows(bench.records(runs, plan), ratios),
                        {"kernel_release": "6.1.0-56-amd64", "elapsed_s": 12.0,
                         "notes": ["heap: something to know"]})
    assert "| lz4 | heap | 2 | **0.90** [too few] |" in md
    assert "| pages/s >= 1.0x zram | lz4 | heap | 0.90 [too few] | unsettled |" in md
    assert "- heap: something to know" in md
    png = tmp_path / "r.png"
    bench.chart(plan, recs, ratios, png)
    head = png.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", head[16:24])
    assert width >= 1000 and height >= 600


def test_run_notes_flag_what_changes_a_reading():
    runs = [a_run("text", "ramzswap", 0, 1000), a_run("text", "zram", 0, 1000)]
    runs[0].update(failed_writes=12, mismatches=1, status=1, pswpout=30000)
    runs[1]["pswpout"] = 110000
    notes = bench.run_notes(runs)
    assert any("12 failed writes" in n for n in notes)
    assert any("1 mismatching pages" in n for n in notes)
    assert any("swap-outs per run differ" in n for n in notes)


# ---- allocator microbenchmark -----------------------------------------------------------

HIST = {"pages": 10, "same": 2, "raw": 1, "sizes": {"1200": 3, "100": 4}}


def test_size_lines_keep_same_filled_and_raw_pages():
    assert allocbench.size_lines(HIST) == "0 2\n100 4\n1200 3\n4096 1\n"
    assert allocbench.allocates(HIST)
    assert not allocbench.allocates({"pages": 5, "same": 5, "raw": 0, "sizes": {}})
    assert allocbench.mean_object(HIST) == pytest.approx((1200 * 3 + 100 * 4) / 7)


def test_xvbench_replays_one_trace_on_both_allocators(tmp_path):
    exe = allocbench.build(tmp_path)
    sizes = tmp_path / "s.sizes"
    sizes.write_text("0 10\n300 40\n1500 40\n2900 9\n4096 1\n")
    xv = allocbench.run_one(exe, "xv", sizes, 7)
    ml = allocbench.run_one(exe, "malloc", sizes, 7)
    for phase in allocbench.PHASES:
        assert xv[phase]["stored"] == ml[phase]["stored"] > 0
        assert xv[phase]["ops"] == ml[phase]["ops"]
        # an allocator never holds less than what is stored in it
        assert xv[phase]["held"] >= xv[phase]["stored"]
    # half of the slots freed: a pool that gives empty pages back shrinks
    assert xv["half"]["held"] < xv["churn"]["held"]
    f = allocbench.figures(xv)
    assert 0.5 < f["efficiency_half"] <= 1.0 and f["ops_per_s"] > 0
    bad = subprocess.run([str(exe), "xv", str(tmp_path / "none"), "10", "10", "1"],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and "no sizes" in bad.stderr


def test_allocbench_report(tmp_path):
    sizes = tmp_path / "sizes.json"
    sizes.write_text(json.dumps({"heap": {"pages": 100, "same": 5, "raw": 0,
                                          "sizes": {"900": 50, "1700": 45}},
                                 "zero": {"pages": 10, "same": 10, "raw": 0, "sizes": {}}}))
    assert alloc.main(["--sizes", str(sizes), "--slots", "3000", "--churn", "6000",
                            "--seeds", "2"]) == 0
    rows = json.loads((tmp_path / "alloc.json").read_text())
    assert [r["dataset"] for r in rows] == ["heap"]
    md = (tmp_path / "alloc.md").read_text()
    assert "| heap | 1279 |" in md and "3000 slots" in md and "over 2 seeds" in md


def test_bench_plan_scales_the_workload_to_three_times_its_ram():
    plan = bench.Plan()
    assert plan.scan_mib == 3 * plan.workload_mib
    assert plan.scan_data("heap") == f"file:{bench.HEAP_FILE}"
    # the goals' data sets by default; the bounds (zero, random) when asked for
    assert plan.datasets == ("text", "heap", "mixed") == bench.GOAL_DATASETS
    assert set(bench.DATASETS) == {"zero", "text", "heap", "random", "mixed"}
    assert Path(gp.GUEST_SCRIPTS / "heapdump.py").exists()


@pytest.mark.parametrize(("tool", "args", "env", "says"), [
    ("bench.swap", ["--datasets", "text,nosuch"], {}, "unknown data set 'nosuch'"),
    ("bench.swap", ["--runs", "0"], {}, "--runs (RUNS) must be at least 1, not 0"),
    ("bench.swap", ["--algorithms", "zstd,brotli"], {}, "unknown algorithm 'brotli'"),
    ("bench.swap", [], {"RUNS": "many"}, "invalid int value: 'many'"),
    ("bench.swap", ["--report", "/nonexistent/runs.json"], {}, "cannot read saved runs"),
    ("bench.reliability", ["--only", "soak,nosuch"], {}, "unknown scenario 'nosuch'"),
    ("bench.reliability", [], {"SOAK": "0"}, "must be at least 0.5, not 0"),
    ("bench.reliability", [], {"SOAK": "long"}, "invalid float value: 'long'"),
])
def test_bad_input_is_refused_before_anything_boots(tmp_path, tool, args, env, says):
    """One line (argparse adds its usage line), exit status 2, nothing written."""
    import os
    import sys

    repo = Path(__file__).resolve().parents[3]
    out = tmp_path / "out"
    res = subprocess.run([sys.executable, "-m", f"rztools.{tool}", "--out", str(out), *args],
                         cwd=repo / "tools", capture_output=True, text=True, timeout=60,
                         env={**os.environ, "RUNS": "", "SOAK": "", **env})
    assert res.returncode == 2, res.stderr
    assert says in res.stderr
    assert "Traceback" not in res.stderr and not res.stdout
    assert [ln for ln in res.stderr.splitlines() if not ln.startswith("usage:")
            and not ln.startswith("  ")] == [ln for ln in res.stderr.splitlines()
                                            if says in ln]
    assert not out.exists()


# ---- settling speed on a shared machine: pairs, a median and its interval ---------------

def test_the_median_interval_is_the_sign_test_one():
    """n values: the k-th smallest and k-th largest, k from the binomial(n, 1/2) tail."""
    assert bench.median_interval([1.0, 2.0, 3.0, 4.0, 5.0]) is None  # 2/32 > 5 %
    assert bench.median_interval([float(v) for v in range(1, 7)]) == (1.0, 6.0)
    assert bench.median_interval([float(v) for v in range(10, 0, -1)]) == (2.0, 9.0)
    assert bench.median_interval([float(v) for v in range(1, 21)]) == (6.0, 15.0)
    assert bench.median_interval([1.0, None, 2.0, 3.0, 4.0, 5.0, 6.0]) == (1.0, 6.0)


@pytest.mark.parametrize(("interval", "says"), [
    ((1.02, 1.30), "met"), ((1.0, 1.1), "met"), ((0.70, 0.98), "not met"),
    ((0.81, 1.20), "unsettled"), (None, "unsettled"),
])
def test_a_goal_is_decided_only_when_the_interval_is_on_one_side(interval, says):
    assert bench.verdict(interval, 1.0) == says


def test_pairs_alternate_their_order_and_each_algorithm_is_judged_alone(tmp_path):
    plan = bench.Plan(runs=6, datasets=("text",), algorithms=("lz4", "zstd"))
    assert [plan.order(i)[0] for i in range(4)] == ["ramzswap", "zram", "ramzswap", "zram"]
    # lz4: ramzswap faster in every pair; zstd: one pair each way of a noisy 1.0
    runs = []
    for i in range(6):
        runs += [a_run("text", "ramzswap", i, 1200, alg="lz4"),
                 a_run("text", "zram", i, 1000, alg="lz4"),
                 a_run("text", "ramzswap", i, 1000 + (150 if i % 2 else -150), alg="zstd"),
                 a_run("text", "zram", i, 1000, alg="zstd")]
    recs = bench.records(runs, plan)
    ratios = bench.paired_ratios(runs, plan)
    assert [(r["algorithm"], r["pairs"]) for r in ratios] == [("lz4", 6), ("zstd", 6)]
    assert ratios[0]["pages_per_s"]["ci95"] == pytest.approx((1.2, 1.2))
    goals = {(g["goal"], g["algorithm"]): g["verdict"] for g in bench.goal_rows(recs, ratios)}
    assert goals[("pages/s >= 1.0x zram", "lz4")] == "met"
    assert goals[("pages/s >= 1.0x zram", "zstd")] == "unsettled"
    meta = {"load": {"start": (1.5, 1.2, 0.9), "end": (2.0, 1.5, 1.0),
                     "per_run": {"min": 1.0, "median": 1.5, "max": 2.5}}}
    md = bench.markdown(plan, bench.records(runs, plan, bench.ALL_FIGURES), ratios,
                        bench.goal_rows(recs, ratios), meta)
    assert "Host load average (1 / 5 / 15 min): start 1.50 / 1.20 / 0.90; end 2.00" in md
    assert "| pages/s >= 1.0x zram | lz4 | text | 1.20 [1.20–1.20] | met |" in md
    assert "| zstd | text | 6 |" in md
    bench.chart(plan, recs, ratios, tmp_path / "r.png")
    assert (tmp_path / "r.png").stat().st_size > 10000


def test_each_backend_is_set_to_the_algorithm_before_its_disksize():
    for be in sd.BACKENDS:
        line = sd.setup_line(be, sd.SwapConfig("64M", algorithm="zstd"))
        assert f"echo zstd > /sys/block/{be}0/comp_algorithm" in line
        assert line.index("comp_algorithm") < line.index("disksize")


# ---- a run cut short keeps what it measured ----------------------------------------------

def test_runs_are_saved_after_each_one_and_reported_again_from_the_file(tmp_path, capsys):
    """A bench killed after 3 of its 4 runs has them in runs.json; --report makes the
    figures from that file alone, and says the run was cut short."""
    plan = bench.Plan(runs=2, datasets=("text",), algorithms=("lz4",))
    b = bench.Bench(plan, tmp_path / "b", meta={"kernel_release": "6.1.0-x"})
    for i, be in [(0, "ramzswap"), (0, "zram"), (1, "zram")]:
        b.runs.append(a_run("text", be, i, 1100 if be == "ramzswap" else 1000))
        b.save_runs()
        saved = json.loads((tmp_path / "b" / "runs.json").read_text())
        assert len(saved["runs"]) == len(b.runs)
    assert not (tmp_path / "b" / "runs.json.part").exists()
    assert saved["plan"]["datasets"] == ["text"]

    out = tmp_path / "again"
    assert bench.main(["--report", str(tmp_path / "b" / "runs.json"), "--out", str(out),
                       "--no-alloc"]) == 0
    md = (out / "results.md").read_text()
    assert "cut short: 3 of the 4 runs planned were done" in md
    assert "Linux 6.1.0-x" in md
    ratios = json.loads((out / "ratios.json").read_text())
    assert [(r["algorithm"], r["dataset"], r["pairs"]) for r in ratios] == [("lz4", "text", 1)]
    assert ratios[0]["pages_per_s"]["median"] == pytest.approx(1.1)
    assert "wrote" in capsys.readouterr().out


def test_a_whole_run_is_not_called_cut_short(tmp_path):
    plan = bench.Plan(runs=1, datasets=("text",), algorithms=("lz4",))
    b = bench.Bench(plan, tmp_path, [a_run("text", be, 0, 1000) for be in plan.backends])
    b.write()
    assert "cut short" not in (tmp_path / "results.md").read_text()


def test_a_saved_file_without_runs_is_refused_in_one_line(tmp_path, capsys):
    empty = bench.Bench(bench.Plan(), tmp_path / "e")
    empty.save_runs()
    with pytest.raises(SystemExit) as e:
        bench.main(["--report", str(tmp_path / "e" / "runs.json"), "--out", str(tmp_path / "o")])
    assert e.value.code == 2
    assert "holds no runs" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
