"""The module's compile matrix and checkpatch, run for real (`make check-kernels`).

One run of `python -m rztools.kernel.check` covers the whole matrix (Debian
headers for 5.10, 6.1 and 6.12, arm64 and armhf cross builds, the newest
linux-source) and checkpatch --strict; each row is then its own test so a
failure names the kernel and arch.  The first run downloads and prepares the
kernel trees (minutes); cached runs take about a minute.

The checker itself is shown to catch what it is for: a W=1 warning and a
checkpatch violation planted in a copy of the module make it fail.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from rztools.kernel import check as ck

REPO = Path(__file__).resolve().parents[3]


ENV = {**os.environ, "PYTHONPATH": str(REPO / "tools")}


def check_kernels(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "rztools.kernel.check", *args],
                          cwd=REPO, env=ENV, capture_output=True, text=True)


@pytest.fixture(scope="module")
def matrix(tmp_path_factory):
    """The whole matrix plus checkpatch: (exit status, stdout, results by row)."""
    tmp = tmp_path_factory.mktemp("check-kernels")
    report = tmp / "report.json"
    proc = check_kernels("--json", str(report), "--out", str(tmp / "build"))
    assert report.exists(), f"no report; stderr:\n{proc.stderr[-3000:]}"
    rows = {r["row"]: r for r in json.loads(report.read_text())}
    return proc.returncode, proc.stdout, rows


def explain(result: dict) -> str:
    return f"{result['row']} {result['release']}: " + "\n".join(result["problem"])


@pytest.mark.slow
@pytest.mark.parametrize("row", ck.MATRIX)
def test_builds_without_warnings(matrix, row):
    _, _, rows = matrix
    result = rows[row]
    assert result["ok"], explain(result)
    assert result["built"] and result["warnings"] == 0
    assert result["release"], "the row names the kernel it built against"


@pytest.mark.slow
def test_newest_source_is_a_7x_or_later_kernel(matrix):
    _, _, rows = matrix
    newest = rows[f"{ck.NEWEST}/x86_64"]
    major = int(newest["kernel"].split(".")[0])
    assert major >= 7, f"newest linux-source is {newest['kernel']}"


@pytest.mark.slow
def test_checkpatch_strict_clean(matrix):
    _, _, rows = matrix
    assert rows["checkpatch"]["ok"], explain(rows["checkpatch"])


@pytest.mark.slow
def test_table_and_exit_status(matrix):
    status, stdout, rows = matrix
    assert status == 0, "every row passed, so the run must succeed"
    lines = stdout.splitlines()
    assert lines[0].split() == ["kernel", "arch", "release", "result", "warnings", "seconds"]
    assert len(lines) == 1 + len(rows)
    for r in rows.values():
        assert any(r["release"] in ln and ln.split()[-3] == "ok" for ln in lines[1:]), r["row"]


def planted(tmp_path: Path, file: str, text: str) -> Path:
    """A copy of module/ with text appended to one of its files."""
    copy = tmp_path / "module"
    shutil.copytree(ck.MODULE, copy, ignore=shutil.ignore_patterns("host"))
    with open(copy / file, "a") as f:
        f.write(text)
    return copy


@pytest.mark.slow
def test_a_w1_warning_fails_the_build(tmp_path):
    # a global function without a prototype: -Wmissing-prototypes under W=1
    module = planted(tmp_path, "ramzswap_comp.c", "\nint rz_planted(void)\n{\n\treturn 1;\n}\n")
    proc = check_kernels("--kernel", "6.1/x86_64", "--no-checkpatch", "--module", str(module),
                         "--out", str(tmp_path / "build"))
    assert proc.returncode == 1
    row = next(ln for ln in proc.stdout.splitlines() if ln.startswith("6.1 "))
    assert row.split()[3:5] == ["WARN", "1"]
    assert "rz_planted" in proc.stderr and "warning:" in proc.stderr
    assert "failed: 6.1/x86_64" in proc.stderr


@pytest.mark.slow
def test_a_style_violation_fails_checkpatch(tmp_path):
    module = planted(tmp_path, "ramzswap_comp.c", "\nstatic int rz_planted(int x)\n{\n"
                     "\tif(x)\n\t\treturn 1;\n\treturn 0;\n}\n")
    result = ck.checkpatch(module)
    assert not result.ok
    assert any("ramzswap_comp.c" in p and "SPACING" in p for p in result.problem), result.problem


def test_checkpatch_reads_the_allocator_and_not_its_host_build():
    files = ck.kernel_sources()
    assert "xvmalloc/xvmalloc.c" in files and "ramzswap_drv.c" in files
    assert not [f for f in files if f.startswith("xvmalloc/host/")]


def test_only_the_zstd_librarys_own_camelcase_is_let_through():
    ok = "compat_zstd.h:90: CHECK:CAMELCASE: Avoid CamelCase: <ZSTD_initCCtx>"
    ours = "ramzswap_drv.c:12: CHECK:CAMELCASE: Avoid CamelCase: <rzSlotCount>"
    assert ck.LIBRARY_CAMELCASE_RE.search(ok)
    assert not ck.LIBRARY_CAMELCASE_RE.search(ours)


def test_modpost_noise_without_symvers_is_not_a_warning():
    out = ("WARNING: /k/Module.symvers is missing.\n"
           "WARNING: modpost: ramzswap.ko: symbol '_printk' undefined!\n"
           "WARNING: modpost: suppressed 63 unresolved symbol warnings because there were "
           "too many)\n"
           "x.c:1:2: warning: unused variable 'a' [-Wunused-variable]\n"
           "WARNING: modpost: missing MODULE_DESCRIPTION() in ramzswap.o\n")
    found = ck.warnings_in(out, has_symvers=False)
    assert found == [out.splitlines()[3], out.splitlines()[4]]
    assert len(ck.warnings_in(out, has_symvers=True)) == 5


def test_kernel_selection():
    assert ck.select(["6.1"]) == ["6.1/x86_64", "6.1-oldest/x86_64", "6.1/aarch64",
                                  "6.1-oldest/aarch64", "6.1/arm", "6.1-oldest/arm"]
    assert ck.select(["6.12", "6.1/arm", "6.12/x86_64"]) == ["6.12/x86_64",
                                                             "6.12-oldest/x86_64", "6.1/arm"]
    assert ck.select(["5.10-oldest/x86_64"]) == ["5.10-oldest/x86_64"]
    # every series of Debian headers is built at its oldest and its newest ABI
    for row, spec in ck.HEADERS.items():
        if not spec.oldest:
            assert ck.HEADERS[row.replace("/", "-oldest/", 1)].oldest, row
    assert ck.select(None) == ck.MATRIX
    proc = check_kernels("--kernel", "4.19")
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "unknown kernel '4.19'" in proc.stderr
    assert "Traceback" not in proc.stderr
