"""--min-mem: every guest a test boots gets at least that RAM (a KASAN kernel needs it)."""

from __future__ import annotations

import harness
import pytest
from rztools.target import booter


class Config:
    def __init__(self, **options: object) -> None:
        self.options = {"--images": None, "--timeout-scale": 1.0, "--console": None,
                        "--min-mem": "", **options}

    def getoption(self, name: str) -> object:
        return self.options[name]


@pytest.mark.parametrize(("asked", "floor", "booted"), [
    ("104M", "", "104M"),
    ("104M", "256M", "256M"),
    ("2560M", "256M", "2560M"),   # more than the floor: as asked
    ("1G", "256M", "1G"),
])
def test_a_guest_gets_at_least_the_floor(monkeypatch, tmp_path, asked, floor, booted):
    seen = []
    monkeypatch.setattr(booter.Booter, "boot", lambda self, mem, *a, **k: seen.append(mem))
    monkeypatch.setattr(harness, "LOGS", tmp_path)
    b = harness.Booter(Config(**{"--min-mem": floor}), "x86_64", "t")
    b.boot(mem=asked)
    assert seen == [booted]
