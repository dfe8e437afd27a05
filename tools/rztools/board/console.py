"""Interactive serial console of a board (or of a VM's TCP serial port).

    python -m rztools.board.console /dev/ttyUSB0
    python -m rztools.board.console socket://127.0.0.1:4321 --log out/logs/qemu.log

115200 8N1 by default. What you type goes to the board, what the board sends
comes to the terminal, and every byte the board sends is also appended to a
log file (out/logs/board-console-<date>.log unless --log says otherwise).
Ctrl-] quits.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import select
import sys
import termios
import threading
import time
import tty
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from ..target.console import ConsoleError, Port, open_port

QUIT = b"\x1d"  # Ctrl-]
REPO = Path(__file__).resolve().parents[3]


def split_quit(data: bytes) -> tuple[bytes, bool]:
    """The bytes to send before a Ctrl-], and whether the user asked to quit."""
    before, sep, _ = data.partition(QUIT)
    return before, bool(sep)


def default_log(now: float) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now))
    return REPO / "out" / "logs" / f"board-console-{stamp}.log"


@contextlib.contextmanager
def raw_terminal(fd: int) -> Iterator[None]:
    """Keys reach the board one by one (Ctrl-C included) while the console runs."""
    if not os.isatty(fd):
        yield
        return
    saved = termios.tcgetattr(fd)
    tty.setraw(fd)
    try:
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


def pump_board(port: Port, out: BinaryIO, log: BinaryIO, stop: threading.Event) -> None:
    """Board -> terminal and log, until stop is set or the port fails."""
    while not stop.is_set():
        try:
            data = port.read(max(1, port.in_waiting))
        except Exception as e:  # pyserial raises its own types and OSError alike
            if not stop.is_set():
                os.write(2, f"\r\nboard_console: {e}\r\n".encode())
                stop.set()
            return
        if data:
            log.write(data)
            log.flush()
            out.write(data)
            out.flush()


def pump_keys(port: Port, stdin_fd: int, stop: threading.Event) -> None:
    """Terminal -> board, until Ctrl-], end of input, or the board side stops."""
    while not stop.is_set():
        ready, _, _ = select.select([stdin_fd], [], [], 0.2)
        if not ready:
            continue
        data = os.read(stdin_fd, 1024)
        if not data:
            break
        data, quit_now = split_quit(data)
        if data:
            port.write(data)
        if quit_now:
            break
    stop.set()


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m rztools.board.console",
        description="Serial terminal for a board; Ctrl-] quits.",
    )
    parser.add_argument("url", help="/dev/ttyUSB0, socket://HOST:PORT, rfc2217://HOST:PORT")
    parser.add_argument("--baud", type=int, default=115200, help="default 115200 (8N1)")
    parser.add_argument("--log", type=Path, help="log file (default out/logs/board-console-*.log)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    log_path = args.log or default_log(time.time())
    try:
        port = open_port(args.url, args.baud, connect_timeout=5.0)
    except ConsoleError as e:
        print(f"board_console: {e}", file=sys.stderr)
        return 2
    try:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(log_path, "ab")  # noqa: SIM115 (closed below, after the reader thread)
    except OSError as e:
        port.close()
        print(f"board_console: cannot write log {log_path}: {e.strerror}", file=sys.stderr)
        return 2
    print(
        f"board_console: {args.url} at {args.baud} 8N1, log {log_path}; Ctrl-] quits",
        file=sys.stderr,
    )
    stop = threading.Event()
    reader = threading.Thread(
        target=pump_board, args=(port, sys.stdout.buffer, log, stop), daemon=True
    )
    reader.start()
    try:
        with raw_terminal(sys.stdin.fileno()):
            pump_keys(port, sys.stdin.fileno(), stop)
    except KeyboardInterrupt:
        stop.set()
    finally:
        stop.set()
        reader.join(timeout=1.0)
        port.close()
        log.close()
    print("\r\nboard_console: closed", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
