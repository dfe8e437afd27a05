"""The init integration in ramzswap-setup/init/: BusyBox init script and systemd unit, and the
schedule of idle writeback rounds (root crontab, systemd timer)."""

import configparser
import os
import re
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
INIT = REPO / "ramzswap-setup" / "init"
OVERLAY = REPO / "overlay"
SCRIPTS = sorted(INIT.glob("S??ramzswap-setup"))


@pytest.fixture
def script() -> Path:
    assert len(SCRIPTS) == 1, SCRIPTS
    return SCRIPTS[0]


def test_script_follows_buildroots_init_script_rules(script):
    """What Buildroot's check-package asks of init scripts (lib_sysv), checked here."""
    text = script.read_text()
    assert os.access(script, os.X_OK)
    assert text.startswith("#!/bin/sh\n")
    daemons = re.findall(r"^DAEMON=[\"']?([^\"'\n]*)", text, re.MULTILINE)
    assert daemons == ["ramzswap-setup"]
    assert re.fullmatch(r"S\d\d" + re.escape(daemons[0]), script.name)
    for n, line in enumerate(text.splitlines(), 1):
        assert not re.match(r"^\t* ", line), f"line {n} indented with spaces"
        assert line == line.rstrip(), f"line {n} has trailing space"
    assert text.endswith("\n") and not text.endswith("\n\n")
    assert "\n\n\n" not in text


def test_script_is_shellcheck_clean(script):
    result = subprocess.run(["shellcheck", "-s", "sh", str(script)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


@pytest.fixture
def fake_helper(tmp_path: Path):
    """A ramzswap-setup on PATH that records its arguments and exits with $FAKE_STATUS."""
    log = tmp_path / "calls"
    helper = tmp_path / "bin/ramzswap-setup"
    helper.parent.mkdir()
    helper.write_text(f'#!/bin/sh\necho "$*" >> {log}\nexit "${{FAKE_STATUS:-0}}"\n')
    helper.chmod(0o755)

    def run(script: Path, *args: str, status: int = 0) -> tuple[int, list[str], str]:
        env = {"PATH": f"{helper.parent}:/usr/bin:/bin", "FAKE_STATUS": str(status)}
        result = subprocess.run(["sh", str(script), *args], env=env, capture_output=True, text=True)
        calls = log.read_text().splitlines() if log.exists() else []
        log.unlink(missing_ok=True)
        return result.returncode, calls, result.stdout

    return run


def test_script_runs_the_helper_exactly_as_the_boot_path_expects(script, fake_helper):
    assert fake_helper(script, "start")[:2] == (0, ["start"])  # no options: click is not loaded
    assert fake_helper(script, "stop")[:2] == (0, ["stop"])
    assert fake_helper(script, "restart")[:2] == (0, ["stop", "start"])
    assert fake_helper(script, "status")[:2] == (0, ["status"])


def test_script_passes_failures_on(script, fake_helper):
    assert fake_helper(script, "start", status=2)[0] == 2
    assert fake_helper(script, "stop", status=1)[0] == 1


def test_script_usage(script, fake_helper):
    status, calls, out = fake_helper(script, "frobnicate")
    assert (status, calls) == (1, [])
    assert out.startswith("Usage: ")


def read_unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    parser.optionxform = str  # keys are case-sensitive in systemd units
    parser.read_string((INIT / name).read_text())
    return parser


def test_systemd_unit_starts_early_and_stops_at_shutdown():
    parser = read_unit("ramzswap-setup.service")
    service = parser["Service"]
    assert service["Type"] == "oneshot" and service["RemainAfterExit"] == "yes"
    assert service["ExecStart"] == "/usr/bin/ramzswap-setup start"
    assert service["ExecStop"] == "/usr/bin/ramzswap-setup stop"
    assert parser["Unit"]["DefaultDependencies"] == "no"
    assert "swap.target" in parser["Unit"]["Before"].split()
    assert parser["Install"]["WantedBy"] == "swap.target"
    wants = OVERLAY / "etc/systemd/system/swap.target.wants/ramzswap-setup.service"
    assert os.readlink(wants) == "/usr/lib/systemd/system/ramzswap-setup.service"


# -- the schedule of writeback rounds ---------------------------------------------------
ROUND = "/usr/bin/ramzswap-setup writeback --scheduled"


def interval_default() -> int:
    from ramzswap_setup.config import SCHEMA

    return SCHEMA["writeback_interval"][1]


def crontab_entries() -> list[str]:
    lines = (INIT / "crontab").read_text().splitlines()
    return [line for line in lines if line.strip() and not line.lstrip().startswith("#")]


def test_crontab_offers_a_round_every_writeback_interval():
    (entry,) = crontab_entries()
    minute, hour, day, month, weekday, command = entry.split(None, 5)
    assert (hour, day, month, weekday) == ("*", "*", "*", "*")
    assert minute == f"*/{interval_default() // 60}"
    # cron keeps no output without sendmail: the round's line goes to syslog
    assert command == f"{ROUND} 2>&1 | /usr/bin/logger -t ramzswap-setup"
    assert subprocess.run(["sh", "-n", "-c", command]).returncode == 0


def test_systemd_timer_offers_the_same_round():
    timer, service = read_unit("ramzswap-writeback.timer"), read_unit("ramzswap-writeback.service")
    every = f"{interval_default() // 60}min"
    assert timer["Timer"]["OnUnitActiveSec"] == timer["Timer"]["OnBootSec"] == every
    assert timer["Install"]["WantedBy"] == "timers.target"  # preset-all enables it
    assert service["Service"]["Type"] == "oneshot"
    assert service["Service"]["ExecStart"] == ROUND
    assert "ramzswap-setup.service" in service["Unit"]["After"].split()
    assert not service.has_section("Install")  # started by the timer only


def test_every_init_file_is_installed_by_the_package_and_the_test_image():
    from rztools.image.build import INIT_FILES

    recipe = (REPO / "package/python-ramzswap-setup/python-ramzswap-setup.mk").read_text()
    installed = dict(re.findall(r"\$\(PYTHON_RAMZSWAP_SETUP_INIT\)/(\S+) \\\n\s+"
                                r"\$\(TARGET_DIR\)/(\S+)\n", recipe))
    names = sorted(p.name for p in INIT.iterdir())
    assert sorted(installed) == names
    assert {name: dest for name, dest, _ in INIT_FILES} == installed
