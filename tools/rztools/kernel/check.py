"""The module's compile matrix and style check.

    python -m rztools.kernel.check [--kernel NAME ...] [--checkpatch | --no-checkpatch]
                                    [--json FILE] [--module DIR] [--out DIR]

Builds module/ with W=1 against each kernel of MATRIX (Debian headers for 5.10,
6.1 and 6.12, each at the oldest and the newest ABI the archive has; the newest
linux-source-* in the archive, prepared once and cached; arm64 and 32-bit ARM
cross builds against bookworm's 6.1) and fails on any warning.  Then runs the
newest source's checkpatch.pl --strict on every module/*.c and *.h.  Prints a
table; exits 0 only when everything passed.
NAME is a kernel (6.1: all its arches and ABIs), a row (6.1-oldest/aarch64) or "newest".
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..arches import ARCHES
from ..cache import BuildError
from ..image import debian
from ..progress import note, step
from . import trees as kernel_trees
from .trees import HeaderSpec, KernelTree

REPO = Path(__file__).resolve().parents[3]
MODULE = REPO / "module"
OUT = REPO / "out" / "check-kernels"
NEWEST = "newest"

_X86, _ARM64, _ARM = ARCHES["x86_64"], ARCHES["aarch64"], ARCHES["arm"]
# Debian's 5.10 headers name gcc-10, which bookworm does not have
_BULLSEYE_510 = (("bullseye",), r"5\.10\.0-\d+", ("CC=gcc",))
_BOOKWORM_61 = (("bookworm",), r"6\.1\.0-\d+")
_BOOKWORM_612 = (("bookworm", "bookworm-backports"), r"6\.12\.\d+\+deb12")
# A suite and its updates list several ABIs of a series, and boards run
# kernels of every sublevel: each series is built against the oldest ABI
# the archive has (row "<series>-oldest") as well as the newest.
HEADERS: dict[str, HeaderSpec] = {
    "5.10/x86_64": HeaderSpec("5.10", _X86, *_BULLSEYE_510),
    "5.10-oldest/x86_64": HeaderSpec("5.10", _X86, *_BULLSEYE_510, oldest=True),
    "6.1/x86_64": HeaderSpec("6.1", _X86, *_BOOKWORM_61),
    "6.1-oldest/x86_64": HeaderSpec("6.1", _X86, *_BOOKWORM_61, oldest=True),
    "6.1/aarch64": HeaderSpec("6.1", _ARM64, *_BOOKWORM_61),
    "6.1-oldest/aarch64": HeaderSpec("6.1", _ARM64, *_BOOKWORM_61, oldest=True),
    "6.1/arm": HeaderSpec("6.1", _ARM, *_BOOKWORM_61),
    "6.1-oldest/arm": HeaderSpec("6.1", _ARM, *_BOOKWORM_61, oldest=True),
    "6.12/x86_64": HeaderSpec("6.12", _X86, *_BOOKWORM_612),
    "6.12-oldest/x86_64": HeaderSpec("6.12", _X86, *_BOOKWORM_612, oldest=True),
}
# every row of the matrix, as kernel/arch
MATRIX: list[str] = [*HEADERS, f"{NEWEST}/{_X86.name}"]

WARNING_RE = re.compile(r"\b(warning|error):", re.IGNORECASE)
# what modpost says against a tree without Module.symvers (KBUILD_MODPOST_WARN=1)
NO_SYMVERS_RE = re.compile(r"WARNING: (\S*Module\.symvers is missing|"
                           r"modpost: .*symbol '\S+' undefined!|"
                           r"modpost: suppressed \d+ unresolved symbol warnings)")
SHOW_LINES = 12
# --strict, but for the two rules about testing the kernel's version, which are for code in
# the kernel's own tree: a module built out of tree for 5.10 to 7.x has to test it, and
# `LINUX_VERSION_CODE >= KERNEL_VERSION(...)` is the idiom, which CONSTANT_COMPARISON reads
# as a constant on the left.  module/Makefile's checkpatch target says the same.
CHECKPATCH_IGNORE = "LINUX_VERSION_CODE,CONSTANT_COMPARISON"
# The zstd library of 5.10 to 5.15 names its interface in CamelCase (ZSTD_initCCtx, cParams):
# calling it is no style choice of ours, so those names, and only those, are let through.
LIBRARY_CAMELCASE_RE = re.compile(r"CHECK:CAMELCASE: Avoid CamelCase: <(ZSTD_\w+|cParams)>")
CHECKPATCH_OPTS = ["--no-tree", "-f", "--strict", f"--ignore={CHECKPATCH_IGNORE}",
                   "--no-summary", "--terse", "--show-types", "--color=never"]


class CheckError(RuntimeError):
    """A bad request or a missing tool, said in one line."""


@dataclass
class Result:
    row: str                      # kernel/arch as in MATRIX
    kernel: str                   # 6.1, 7.3
    arch: str
    release: str = ""
    ok: bool = False
    built: bool = False           # make succeeded (ok unless it warned)
    warnings: int = 0
    seconds: float = 0.0
    problem: list[str] = field(default_factory=list)

    @property
    def verdict(self) -> str:
        if self.ok:
            return "ok"
        return "WARN" if self.built else "FAIL"


def select(names: list[str] | None) -> list[str]:
    """The MATRIX rows named by --kernel values (all rows when none)."""
    if not names:
        return list(MATRIX)
    rows: list[str] = []
    for name in names:
        hits = [r for r in MATRIX if name in (r, r.split("/")[0], r.split("/")[0].split("-")[0])]
        if not hits:
            kernels = sorted({r.split("/")[0] for r in MATRIX})
            raise CheckError(f"unknown kernel {name!r}; choose from {', '.join(kernels)} "
                             f"or one of {', '.join(MATRIX)}")
        rows += [r for r in hits if r not in rows]
    return rows


def tree_for(row: str) -> KernelTree:
    return kernel_trees.source() if row.startswith(f"{NEWEST}/") else \
        kernel_trees.headers(HEADERS[row])


def need_tools(tree: KernelTree) -> None:
    """The compiler (and pahole where the headers want it) must be installed."""
    cc = next((v.split("=", 1)[1] for v in tree.make_vars if v.startswith("CC=")),
              f"{tree.arch.cross}gcc")
    wanted = {cc: "run make deps"}
    config = tree.kdir / ".config"
    if config.exists() and "CONFIG_DEBUG_INFO_BTF=y" in config.read_text(errors="replace"):
        wanted["pahole"] = "install package dwarves"
    for tool, hint in wanted.items():
        if not shutil.which(tool):
            raise CheckError(f"{tool} not found: {hint}")


def warnings_in(output: str, has_symvers: bool) -> list[str]:
    """The warning and error lines of a build's output."""
    lines = [ln for ln in output.splitlines() if WARNING_RE.search(ln)]
    if not has_symvers:
        lines = [ln for ln in lines if not NO_SYMVERS_RE.search(ln)]
    return lines


def first_problem(output: str, warnings: list[str]) -> list[str]:
    """The first SHOW_LINES lines from the first warning on (or the output's tail)."""
    lines = output.splitlines()
    if warnings:
        start = lines.index(warnings[0])
        return lines[start:start + SHOW_LINES]
    return lines[-SHOW_LINES:]


def build(tree: KernelTree, row: str, module: Path = MODULE, out: Path = OUT) -> Result:
    """Build a fresh copy of module under out/ against tree with W=1."""
    res = Result(row, tree.series, tree.arch.name, tree.release)
    work = out / row.replace("/", "-")
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(module, work, ignore=shutil.ignore_patterns(
        "host", "*.o", "*.ko", ".*.cmd", "*.mod*", "Module.symvers", "modules.order"))
    cmd = ["make", "-C", str(work), "W=1", "-j2", *tree.make_args()]
    start = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True,
                          env={**os.environ, "LC_ALL": "C"})
    res.seconds = time.monotonic() - start
    output = proc.stdout + proc.stderr
    (work / "build.log").write_text(f"$ {' '.join(cmd)}\n{output}")
    found = warnings_in(output, tree.has_symvers)
    res.warnings = len(found)
    res.built = proc.returncode == 0 and (work / "ramzswap.ko").exists()
    res.ok = res.built and not found
    if not res.ok:
        res.problem = first_problem(output, found)
        if proc.returncode != 0:
            res.problem.insert(0, f"make exited with status {proc.returncode}")
    return res


def check_row(row: str, module: Path = MODULE, out: Path = OUT) -> Result:
    kernel, arch = row.split("/")
    start = time.monotonic()
    try:
        tree = tree_for(row)
        need_tools(tree)
        with step(f"building ramzswap.ko W=1 for {tree.series} {arch} ({tree.release})"):
            res = build(tree, row, module, out)
    except (BuildError, debian.AptError, CheckError) as e:
        res = Result(row, kernel, arch, problem=str(e).splitlines()[:SHOW_LINES])
    res.seconds = time.monotonic() - start
    return res


def kernel_sources(module: Path = MODULE) -> list[str]:
    """The module's C sources and headers, relative to it: the allocator's host build
    (host/) is user-space code and is not held to the kernel's style."""
    return sorted(str(p.relative_to(module)) for p in module.rglob("*")
                  if p.suffix in (".c", ".h") and "host" not in p.relative_to(module).parts)


def checkpatch(module: Path = MODULE) -> Result:
    """checkpatch.pl --strict (from the newest source tree) on module's *.c and *.h."""
    start = time.monotonic()
    res = Result("checkpatch", "checkpatch", "-")
    try:
        tree = kernel_trees.source()
        res.kernel, res.release = f"checkpatch {tree.series}", tree.release
        script = tree.kdir / "scripts" / "checkpatch.pl"
        if not script.exists():
            raise BuildError(f"{script} is missing")
        files = kernel_sources(module)
        with step(f"checkpatch.pl --strict on {len(files)} files of {module.name}/"):
            proc = subprocess.run(["perl", str(script), *CHECKPATCH_OPTS, *files],
                                  cwd=module, capture_output=True, text=True,
                                  env={**os.environ, "LC_ALL": "C"})
        # checkpatch leaves a cache of the CamelCase it has seen where it ran: not ours to keep
        for cache in module.glob(".checkpatch-camelcase.*"):
            cache.unlink()
        lines = [ln for ln in proc.stdout.splitlines() if ln.strip()]
        found = [ln for ln in lines if not LIBRARY_CAMELCASE_RE.search(ln)]
        res.warnings = len(found)
        # checkpatch exits 1 for the let-through lines too; anything else is a failure
        res.ok = not found and (proc.returncode == 0 or len(lines) > 0)
        if not res.ok:
            res.problem = found or (proc.stderr.strip().splitlines()[-SHOW_LINES:])
    except (BuildError, debian.AptError) as e:
        res.problem = str(e).splitlines()[:SHOW_LINES]
    res.seconds = time.monotonic() - start
    return res


def table(results: list[Result]) -> str:
    head = ("kernel", "arch", "release", "result", "warnings", "seconds")
    rows = [head] + [(r.kernel, r.arch, r.release or "-", r.verdict, str(r.warnings),
                      f"{r.seconds:.1f}") for r in results]
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
                     for row in rows)


def run_checks(rows: list[str], with_checkpatch: bool, module: Path = MODULE,
               out: Path = OUT) -> list[Result]:
    results = [check_row(r, module, out) for r in rows]
    if with_checkpatch:
        results.append(checkpatch(module))
    return results


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="rztools.kernel.check",
                                 description=__doc__.split("\n")[0])
    ap.add_argument("--kernel", action="append", metavar="NAME",
                    help=f"only this kernel or kernel/arch (repeatable): {', '.join(MATRIX)}")
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument("--checkpatch", action="store_true", help="only run checkpatch")
    mode.add_argument("--no-checkpatch", action="store_true", help="skip checkpatch")
    ap.add_argument("--json", type=Path, help="also write the results to this file")
    ap.add_argument("--module", type=Path, default=MODULE, help="module source (module/)")
    ap.add_argument("--out", type=Path, default=OUT,
                    help="scratch build directory (out/check-kernels)")
    args = ap.parse_args(argv)
    try:
        rows = [] if args.checkpatch else select(args.kernel)
    except CheckError as e:
        print(f"check-kernels: {e}", file=sys.stderr)
        return 2
    module = args.module.resolve()
    if not module.joinpath("Kbuild").exists():
        print(f"check-kernels: no module to build in {module}", file=sys.stderr)
        return 2
    results = run_checks(rows, not args.no_checkpatch, module, args.out.resolve())
    for r in results:
        if not r.ok:
            note(f"{r.row} {r.verdict}:")
            for line in r.problem:
                note(f"  {line}")
    print(table(results))
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in results], indent=2) + "\n")
    failed = [r.row for r in results if not r.ok]
    if failed:
        print(f"check-kernels: failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
