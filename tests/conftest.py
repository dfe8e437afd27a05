"""pytest plumbing shared by host and target tests.

Target tests get a `target` (a booted guest's shell) for each arch in
TARGET_ARCHS (default "x86_64 aarch64"), or for whatever `--console URL`
points at (a board or a VM already running), or for a Buildroot output given
with `--images DIR`.  A failing target test prints its console log's path and
tail.  What test files import (Target, Booter, TARGETS, OOPS_RE) is in tests/harness.py:
never `from conftest import`, tests/host/setup/ has a conftest too.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import hypothesis
import pytest
from harness import TARGETS, Booter, Target, assert_no_kernel_problems, watched
from rztools.target.console import ConsoleError

# `make test-quick` runs the property tests with few examples (--hypothesis-profile=quick):
# a first answer in seconds; `make test` runs them in full.
hypothesis.settings.register_profile("quick", max_examples=10)


def pytest_addoption(parser: pytest.Parser) -> None:
    g = parser.getgroup("ramzswap target")
    g.addoption("--console", help="run target tests on a running board/VM at this URL "
                "(socket://HOST:PORT, /dev/ttyUSB0)")
    g.addoption("--images", help="boot a Buildroot images/ directory instead of the test image")
    g.addoption("--arch", help="arch of --images/--console (x86_64, aarch64, arm)")
    g.addoption("--timeout-scale", type=float,
                default=float(os.environ.get("RZ_TIMEOUT_SCALE", "1")),
                help="multiply every console timeout (slow boards, loaded hosts)")
    g.addoption("--min-mem", default="",
                help="boot every guest with at least this RAM (256M for a KASAN kernel)")


def target_archs(config: pytest.Config) -> list[str]:
    if config.getoption("--console") or config.getoption("--images"):
        return [config.getoption("--arch") or "board"]
    return os.environ.get("TARGET_ARCHS", "x86_64 aarch64").split()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "arch" in metafunc.fixturenames:
        metafunc.parametrize("arch", target_archs(metafunc.config), scope="module")


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
    with watched(request, module_target) as t:
        yield t


@pytest.fixture
def boot(request: pytest.FixtureRequest, arch: str) -> Iterator:
    """A factory for guests of a test's own: boot(mem="128M", backing="64M", ...)."""
    b = Booter(request.config, arch, request.node.name)
    request.node.stash[TARGETS] = b.targets
    yield b.boot
    try:
        for t in b.targets:
            if t.vm and t.vm.proc and t.vm.proc.poll() is None:
                assert_no_kernel_problems(t)
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
