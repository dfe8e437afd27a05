"""Fixtures for ramzswap-setup host tests: a fake system, its fake kernel, a CLI runner."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from ramzswap_setup import cli
from rzsetup_fakes import FakeKernel, FakeSystem

REPO = Path(__file__).resolve().parents[3]


DAY = 86400
T0 = 1_750_000_000  # a fixed "now" for the fake clock


class Clock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class Result:
    def __init__(self, status: int, out: str, err: str) -> None:
        self.status = status
        self.out = out
        self.err = err

    def __repr__(self) -> str:
        return f"Result({self.status}, out={self.out!r}, err={self.err!r})"


@pytest.fixture
def system(tmp_path: Path) -> FakeSystem:
    return FakeSystem(tmp_path / "root")


@pytest.fixture
def kernel(system: FakeSystem) -> FakeKernel:
    return FakeKernel(system)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def run(system, kernel, clock, capsys):
    """run("plan", "--json") -> Result; --root points at the fake system."""

    def invoke(*args: str, root: bool = True, k: FakeKernel | None = None) -> Result:
        capsys.readouterr()
        argv = list(args)
        if root:
            argv[1:1] = ["--root", str(system.root)]
        status = cli.run(argv, kernel=k or kernel, clock=clock, page_size=4096)
        captured = capsys.readouterr()
        return Result(status, captured.out, captured.err)

    return invoke


@pytest.fixture
def plan(run, system):
    """plan("--backing", "/dev/vdb") -> the parsed `plan --json` (the ramzswap module present)."""
    system.module_available("ramzswap")

    def get(*args: str) -> dict:
        result = run("plan", "--json", *args)
        assert result.status == 0, result
        return json.loads(result.out)

    return get
