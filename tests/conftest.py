"""pytest plumbing shared by host and target tests.

Target tests get a `target` (a booted guest's shell) for each arch in
TARGET_ARCHS (default "x86_64 aarch64"), or for whatever `--console URL`
points at (a board or a VM already running), or for a Buildroot output given
with `--images DIR`.  A failing target test prints its console log's path and
tail.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tools"))

from rztools.console import Console, ConsoleError  # noqa: E402
from rztools.qemu import Machine, Vm, backing_file, choose_accel  # noqa: E402

LOGS = REPO / "out" / "logs"
OOPS_RE = re.compile(r"BUG:|Oops|WARNING:|general protection|Call Trace|Kernel panic|"
                     r"sleeping function called from invalid context")


def pytest_addoption(parser: pytest.Parser) -> None:
    g = parser.getgroup("ramzswap target")
    g.addoption("--console", help="run target tests on a running board/VM at this URL "
                "(socket://HOST:PORT, /dev/ttyUSB0)")
    g.addoption("--images", help="boot a Buildroot images/ directory instead of the test image")
    g.addoption("--arch", help="arch of --images/--console (x86_64, aarch64, arm)")
    g.addoption("--timeout-scale", type=float,
                default=float(os.environ.get("RZ_TIMEOUT_SCALE", "1")),
                help="multiply every console timeout (slow boards, loaded hosts)")


def target_archs(config: pytest.Config) -> list[str]:
    if config.getoption("--console") or config.getoption("--images"):
        return [config.getoption("--arch") or "board"]
    return os.environ.get("TARGET_ARCHS", "x86_64 aarch64").split()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "arch" in metafunc.fixturenames:
        metafunc.parametrize("arch", target_archs(metafunc.config), scope="module")


class Target:
    """A shell on a booted system, with what the test needs to know about it."""

    def __init__(self, console: Console, arch: str, vm: Vm | None = None) -> None:
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
        from rztools.image import build

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
        console = Console.open(url, LOGS / self.name / "board.console.log", self.scale)
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


TARGETS = pytest.StashKey[list]()


@pytest.fixture(scope="module")
def module_target(request: pytest.FixtureRequest, arch: str) -> Iterator[Target]:
    """One default guest (256M, 2 vCPUs) shared by the tests of a module."""
    b = Booter(request.config, arch, f"{request.module.__name__}-{arch}")
    try:
        yield b.attach() if request.config.getoption("--console") else b.boot()
    finally:
        b.close()


@pytest.fixture
def target(request: pytest.FixtureRequest, module_target: Target) -> Iterator[Target]:
    """The module's guest; the test fails if the kernel logged an oops during it."""
    request.node.stash[TARGETS] = [module_target]
    module_target.kernel_problems()  # start from a clean kernel log
    yield module_target
    problems = module_target.kernel_problems()
    assert not problems, "kernel reported problems:\n" + "\n".join(problems)


@pytest.fixture
def boot(request: pytest.FixtureRequest, arch: str) -> Iterator:
    """A factory for guests of a test's own: boot(mem="128M", backing="64M", ...)."""
    b = Booter(request.config, arch, request.node.name)
    request.node.stash[TARGETS] = b.targets
    yield b.boot
    try:
        for t in b.targets:
            if t.vm and t.vm.proc and t.vm.proc.poll() is None:
                problems = t.kernel_problems()
                assert not problems, "kernel reported problems:\n" + "\n".join(problems)
    finally:
        b.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        for t in item.stash.get(TARGETS, []):
            try:
                text = t.tail(40)
            except ConsoleError:
                continue
            report.sections.append((f"console log ({t.arch})", text))
