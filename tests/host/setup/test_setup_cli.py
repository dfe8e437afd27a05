"""The command line itself: the cheap boot path, one-line errors, entry points."""

import subprocess
import sys
from pathlib import Path

import pytest
from ramzswap_setup import cli

HERE = Path(__file__).resolve().parent
PACKAGE_DIR = HERE.parents[2] / "ramzswap-setup"
HEAVY = {"click", "json", "tomllib", "typing", "dataclasses", "subprocess", "ctypes", "struct",
         "re", "pathlib", "enum", "lz4", "decimal", "fractions", "uuid", "datetime", "contextlib",
         "threading", "shutil", "tempfile", "logging", "argparse", "__future__"}  # fmt: skip
# what `start` loads at boot on a RAM-only device with the shipped config (the fake kernel
# stands in for kernel, modload and libc, whose imports the test below looks at)
START_MODULES = {"__init__", "cli", "invocation", "env", "kernel", "rootfs", "errors", "startstop",
                 "plan", "config", "sizes", "policy", "procfs", "backends", "state", "kvfile",
                 "swapheader"}  # fmt: skip


def test_start_path_modules_import_nothing_heavy(tmp_path):
    """What `ramzswap-setup start` loads at boot, in an interpreter without site-packages,
    down to the real kernel's swapoff(2) (through _ctypes, not ctypes)."""
    code = (
        f"import sys; sys.path.insert(0, {str(PACKAGE_DIR)!r}); "
        "before = set(sys.modules); "
        "import ramzswap_setup.cli, ramzswap_setup.startstop, ramzswap_setup.modload; "
        "from ramzswap_setup.kernel import Kernel\n"
        f"try: Kernel().swapoff({str(tmp_path / 'missing')!r})\n"
        "except OSError: pass\n"
        "print(' '.join(sorted(set(sys.modules) - before)))"
    )
    out = subprocess.run(
        [sys.executable, "-I", "-S", "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    assert {"ramzswap_setup.startstop", "ramzswap_setup.libc", "_ctypes"} <= set(out)
    assert not HEAVY & set(out), sorted(HEAVY & set(out))


def test_start_and_stop_at_boot_never_import_click_json_or_toml(system, tmp_path):
    """start as init runs it: nothing heavy, and no module for what a RAM-only start does not
    do (backing checks, flash accounting, status, the click commands)."""
    system.module_available("ramzswap")
    system.config((HERE.parents[2] / "ramzswap-setup/init/ramzswap.conf").read_text())
    code = f"""
import sys
sys.path[:0] = [{str(PACKAGE_DIR)!r}, {str(HERE)!r}]
from rzsetup_fakes import FakeKernel, FakeSystem
system = FakeSystem.__new__(FakeSystem)
system.root = __import__("pathlib").Path({str(system.root)!r})
system.devices = {{}}
before = set(sys.modules)
from ramzswap_setup import cli
kernel = FakeKernel(system)
for command in ("start", "stop"):
    assert cli.run([command], kernel=kernel, root=str(system.root), page_size=4096) == 0
    print(" ".join(sorted(set(sys.modules) - before)))
    print(" ".join(name for name in sys.modules if name.startswith("ramzswap_setup")))
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    _, ours_at_start, after_stop, _ = (set(line.split()) for line in result.stdout.splitlines())
    assert not HEAVY & after_stop, sorted(HEAVY & after_stop)
    ours = {name.partition(".")[2] or "__init__" for name in ours_at_start}
    assert ours == START_MODULES, (sorted(ours - START_MODULES), sorted(START_MODULES - ours))
    assert "started ramzswap0" in result.stderr and "stopped ramzswap0" in result.stderr


def test_usage_errors_are_one_line_with_status_2(run):
    for args in (["frobnicate"], ["plan", "--nope"], ["status", "--json", "extra"]):
        result = run(*args) if args[0] != "frobnicate" else run(*args, root=False)
        assert result.status == 2, (args, result)
        assert len(result.err.splitlines()) == 1, result.err
        assert result.err.startswith("ramzswap-setup: error: ")
        assert result.err.rstrip().endswith("(see 'ramzswap-setup --help')")
        assert "Traceback" not in result.err


def test_unexpected_failure_is_one_line_not_a_traceback(run, system, kernel, monkeypatch):
    system.module_available("ramzswap")

    def boom(name: str) -> int:
        raise RuntimeError("boom")

    monkeypatch.setattr(kernel, "load_module", boom)
    result = run("start")
    assert (result.status, result.err) == (
        1,
        "ramzswap-setup: error: internal error: RuntimeError: boom\n",
    )
    monkeypatch.setenv("RAMZSWAP_SETUP_DEBUG", "1")
    with pytest.raises(RuntimeError):
        run("start")


def test_missing_meminfo_under_root_is_a_runtime_error(run, system):
    system.path("/proc/meminfo").unlink()
    result = run("plan")
    assert result.status == 1
    assert result.err.startswith("ramzswap-setup: error: ") and "/proc/meminfo" in result.err


def test_root_may_be_given_before_the_command(system, capsys):
    system.module_available("ramzswap")
    status = cli.run(["--root", str(system.root), "plan", "--json"], page_size=4096)
    assert status == 0
    assert '"disksize": 67108864' in capsys.readouterr().out


def test_console_entry_point_and_module_exit_with_the_status(system):
    for argv in (["-m", "ramzswap_setup"], ["-c", "from ramzswap_setup.cli import main; main()"]):
        result = subprocess.run(
            [sys.executable, *argv, "plan", "--root", str(system.root), "--priority", "x"],
            capture_output=True, text=True, cwd=PACKAGE_DIR,
        )  # fmt: skip
        assert result.returncode == 2
        assert result.stderr.startswith("ramzswap-setup: error: option --priority")
    help_text = subprocess.run(
        [sys.executable, "-m", "ramzswap_setup", "--help"], capture_output=True, text=True,
        cwd=PACKAGE_DIR, check=True,
    ).stdout  # fmt: skip
    for command in ("plan", "start", "stop", "status", "estimate"):
        assert f"  {command} " in help_text


def test_boot_commands_exit_at_once_with_their_output_flushed():
    """start and stop as init runs them skip the interpreter's teardown (os._exit): what they
    printed must still get out, on a pipe too, and the status must be theirs."""
    code = (
        f"import sys; sys.path.insert(0, {str(PACKAGE_DIR)!r}); "
        "from ramzswap_setup import cli\n"
        "def fast(argv, injected):\n"
        "    print('said on stdout'); sys.stderr.write('and on stderr'); return 3\n"
        "cli._fast = fast; sys.argv[1:] = ['start']; cli.main()\n"
        "print('not reached')"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert (result.returncode, result.stdout, result.stderr) == (
        3,
        "said on stdout\n",
        "and on stderr",
    )
