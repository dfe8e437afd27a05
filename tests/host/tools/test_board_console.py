"""rztools.board.console against a fake board: the far end of a pseudo-terminal."""

import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest
from rztools.board import console as board_console

REPO = Path(__file__).resolve().parents[3]


def test_split_quit():
    assert board_console.split_quit(b"ls\r") == (b"ls\r", False)
    assert board_console.split_quit(b"ab\x1dcd") == (b"ab", True)
    assert board_console.split_quit(b"\x1d") == (b"", True)


def test_default_log_is_under_out_logs():
    path = board_console.default_log(0.0)
    assert path.parent == REPO / "out" / "logs"
    assert path.name.startswith("board-console-") and path.suffix == ".log"


def read_until(fd: int, wanted: bytes, timeout: float = 10.0) -> bytes:
    got = b""
    deadline = time.monotonic() + timeout
    while wanted not in got:
        left = deadline - time.monotonic()
        assert left > 0, f"never saw {wanted!r}, got {got!r}"
        if select.select([fd], [], [], left)[0]:
            got += os.read(fd, 1024)
    return got


@pytest.fixture
def board():
    """(board side fd, console side path): a pty stands in for the board's UART."""
    board_fd, console_fd = pty.openpty()
    try:
        yield board_fd, os.ttyname(console_fd)
    finally:
        os.close(board_fd)
        os.close(console_fd)


def start(*args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "rztools.board.console", *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(REPO / "tools")},
    )


def test_keys_go_to_the_board_and_its_bytes_to_terminal_and_log(board, tmp_path):
    board_fd, port = board
    log = tmp_path / "logs" / "board.log"
    proc = start(port, "--log", str(log))
    proc.stdin.write(b"root\r")
    proc.stdin.flush()
    assert b"root" in read_until(board_fd, b"root")
    os.write(board_fd, b"Welcome to ramzswap\r\n# ")
    deadline = time.monotonic() + 10
    while b"# " not in (log.read_bytes() if log.exists() else b""):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    proc.stdin.write(b"\x1d")  # Ctrl-]
    proc.stdin.flush()
    out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0
    assert b"Welcome to ramzswap\r\n# " in out
    assert log.read_bytes().endswith(b"Welcome to ramzswap\r\n# ")
    assert b"Ctrl-] quits" in err and b"closed" in err


def test_nothing_after_ctrl_bracket_is_sent(board, tmp_path):
    board_fd, port = board
    proc = start(port, "--log", str(tmp_path / "x.log"))
    proc.stdin.write(b"ok\x1dreboot\r")
    proc.stdin.close()
    proc.wait(timeout=10)
    assert proc.returncode == 0
    got = read_until(board_fd, b"ok", timeout=5)
    time.sleep(0.2)
    if select.select([board_fd], [], [], 0)[0]:
        got += os.read(board_fd, 1024)
    assert b"reboot" not in got


def test_missing_port_is_one_line_exit_2(tmp_path):
    proc = start("/dev/ttyNOPE", "--log", str(tmp_path / "x.log"))
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 2
    assert err.decode().count("\n") == 1 and err.startswith(b"board_console: cannot open")
    assert not (tmp_path / "x.log").exists()
