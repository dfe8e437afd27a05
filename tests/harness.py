"""Target-test plumbing that test files import by name: the booted guest (`Target`), the
booter of guests (`Booter`), the stash key under which a test names its guests for the
failure report (`TARGETS`), and the kernel-log check every target test ends with.

It lives here and not in tests/conftest.py because pytest imports each conftest.py as a
module called `conftest` (tests/ and tests/host/setup/ both have one): `from conftest
import ...` in a test file gets whichever was imported last.  tests/ is on sys.path (pytest
puts the rootdir's conftest directory there), so this is `import harness`.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
if str(REPO / "tools") not in sys.path:
    sys.path.insert(0, str(REPO / "tools"))

from rztools.target.guestproc import OOPS_RE  # noqa: E402
from rztools.target.qemu import Machine, Vm, backing_file, choose_accel  # noqa: E402
from rztools.target.shell import ConsoleShell  # noqa: E402

__all__ = ["LOGS", "OOPS_RE", "REPO", "TARGETS", "Booter", "Target", "watched"]

LOGS = REPO / "out" / "logs"
# the guests a test used; a failing test's report gets the tail of each one's console log
TARGETS = pytest.StashKey[list]()


class Target:
    """A shell on a booted system, with what the test needs to know about it."""

    def __init__(self, console: ConsoleShell, arch: str, vm: Vm | None = None) -> None:
        self.console = console
        self.arch = arch
        self.vm = vm

    def run(self, cmd: str, timeout: float = 60.0):  # -> Result
        return self.console.run(cmd, timeout)

    def check(self, cmd: str, timeout: float = 60.0) -> str:
        return self.console.check(cmd, timeout)

    def write_file(self, path: str, data: bytes | str, mode: str = "644") -> None:
        self.console.write_file(path, data, mode)

    @property
    def log_path(self) -> Path | None:
        return self.console.log_path

    def tail(self, lines: int = 40) -> str:
        return self.console.tail(lines)

    def disk_by_serial(self, serial: str) -> str:
        """/dev/vdX of the virtio disk QEMU gave this serial (e.g. rzbacking)."""
        out = self.check(f"grep -l '^{serial}$' /sys/block/vd*/serial")
        return "/dev/" + out.splitlines()[0].split("/")[3]

    def kernel_problems(self) -> list[str]:
        """Oops/BUG/WARNING lines the kernel logged since the last call."""
        out = self.run("dmesg -c", timeout=30).output
        return [line for line in out.splitlines() if OOPS_RE.search(line)]


class Booter:
    """Starts guests for tests; each is shut down at the end of its scope."""

    def __init__(self, config: pytest.Config, arch: str, name: str) -> None:
        self.config = config
        self.arch = arch
        self.name = re.sub(r"[^\w.-]+", "_", name)[:120]
        self.vms: list[Vm] = []
        self.targets: list[Target] = []
        self.scale = config.getoption("--timeout-scale")

    def machine(self, kernel: str) -> Machine:
        images = self.config.getoption("--images")
        if images:
            return Machine.from_buildroot(Path(images), self.arch)
        from rztools.image.build import build

        return Machine.from_manifest(build(self.arch, kernel))

    def boot(self, mem: str = "256M", smp: int = 2, backing: str | None = None,
             append: str = "", kernel: str = "6.1", blkdebug: Path | None = None) -> Target:
        if self.config.getoption("--console"):
            pytest.skip("this test needs a guest of its own; --console uses the board as it is")
        m = self.machine(kernel)
        m.mem, m.smp, m.append = mem, smp, append
        n = len(self.vms)
        if backing:
            m.backing = backing_file(backing, LOGS / self.name)
            m.backing_blkdebug = blkdebug
        m.accel = choose_accel(m, os.environ.get("ACCEL", "tcg"))
        vm = Vm(m, LOGS / self.name, f"{self.arch}-{n}", self.scale)
        self.vms.append(vm)
        console = vm.start()
        t = Target(console, self.arch, vm)
        self.targets.append(t)
        return t

    def attach(self) -> Target:
        url = self.config.getoption("--console")
        console = ConsoleShell.open(url, LOGS / self.name / "board.console.log", self.scale)
        console.wait_for_shell()
        t = Target(console, self.arch)
        self.targets.append(t)
        return t

    def close(self) -> None:
        for vm in self.vms:
            vm.poweroff(30)
        for t in self.targets:
            if t.vm is None:
                t.console.close()


def assert_no_kernel_problems(t: Target) -> None:
    problems = t.kernel_problems()
    assert not problems, "kernel reported problems:\n" + "\n".join(problems)


@contextmanager
def watched(request: pytest.FixtureRequest, t: Target) -> Iterator[Target]:
    """A test's use of guest t: named for the failure report, and failing if the kernel
    logged an oops, BUG or WARNING meanwhile."""
    request.node.stash[TARGETS] = [t]
    t.kernel_problems()  # start from a clean kernel log
    yield t
    assert_no_kernel_problems(t)
