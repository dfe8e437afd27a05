"""Target-test plumbing that test files import by name: the booted guest (`Target`), the
booter of guests bound to pytest's command line (`Booter`), the stash key under which a
test names its guests for the failure report (`TARGETS`), and the kernel-log check every
target test ends with.  Booting itself is rztools.target.booter's, shared with `make
bench` and `make reliability`.

It lives here and not in tests/conftest.py because pytest imports each conftest.py as a
module called `conftest` (tests/ and tests/host/setup/ both have one): `from conftest
import ...` in a test file gets whichever was imported last.  tests/ is on pytest's
pythonpath (pyproject.toml), so this is `import harness`.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from rztools.target import booter
from rztools.target.console import ConsoleTimeout
from rztools.target.guestproc import OOPS_RE
from rztools.target.qemu import parse_size
from rztools.target.shell import Shell

REPO = Path(__file__).resolve().parents[1]

__all__ = ["LOGS", "OOPS_RE", "REPO", "TARGETS", "Booter", "Target", "timeout_message",
           "watched"]

LOGS = REPO / "out" / "logs"
# the guests a test used; a failing test's report gets the tail of each one's console log
TARGETS = pytest.StashKey[list]()
Target = booter.Guest


class Booter(booter.Booter):
    """rztools' booter with --images, --console and --timeout-scale from pytest's command
    line; logs under out/logs/<name>/."""

    def __init__(self, config: pytest.Config, arch: str, name: str) -> None:
        images = config.getoption("--images")
        super().__init__(arch, LOGS / booter.log_name(name),
                         images=Path(images) if images else None,
                         timeout_scale=config.getoption("--timeout-scale"))
        self.config = config

    @property
    def targets(self) -> list[Target]:
        return self.guests

    def boot(self, mem: str = "256M", smp: int = 2, backing: str | None = None,
             append: str = "", kernel: str = "6.1", blkdebug: Path | None = None,
             hotplug: bool = False, throttle: str = "", root: Path | None = None,
             features: str = "") -> Target:
        if self.config.getoption("--console"):
            pytest.skip("this test needs a guest of its own; --console uses the board as it is")
        floor = self.config.getoption("--min-mem")
        if floor and parse_size(floor) > parse_size(mem):
            mem = floor
        return super().boot(mem, smp, backing, append, blkdebug, kernel, throttle=throttle,
                            hotplug=hotplug, root=root, features=features)

    def attach(self) -> Target:  # type: ignore[override]
        return super().attach(self.config.getoption("--console"))


def timeout_message(shell: Shell, cmd: str, timeout: float, within: float) -> str:
    """What a shell says when @cmd outlives @timeout: it must give up (raise
    ConsoleTimeout) within @within seconds, and its message is returned for the caller's
    checks (a console's timeout names its log and quotes its tail)."""
    t0 = time.monotonic()
    with pytest.raises(ConsoleTimeout) as exc:
        shell.run(cmd, timeout=timeout)
    assert time.monotonic() - t0 < within
    return str(exc.value)


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
