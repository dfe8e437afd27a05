"""A serial console's bytes: QEMU's TCP serial or a board's UART, opened by URL.

    con = Console.open("socket://127.0.0.1:4321", log="out/logs/x.log")
    con.send("uname -m\n"); con.expect([re.compile(rb"x86_64")], 10)

Every byte read is written to the log and kept for error messages (`tail`); every
timeout is multiplied by `timeout_scale` (slow emulation, slow boards).  The shell
protocol on top of it (login, markers, run, check, write_file) is rztools.target.shell.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import BinaryIO, Protocol


class Port(Protocol):
    timeout: float | None

    def read(self, size: int = 1) -> bytes: ...
    def write(self, data: bytes) -> int | None: ...
    def close(self) -> None: ...
    @property
    def in_waiting(self) -> int: ...


class ConsoleError(Exception):
    """The target did not do what was asked; carries the console log's tail."""


class ConsoleTimeout(ConsoleError):
    """Nothing matching arrived in time."""


def open_port(url: str, baudrate: int = 115200, connect_timeout: float = 30.0) -> Port:
    """Open a console by URL (socket://host:port, rfc2217://..., /dev/ttyUSB0) at 8N1.

    A TCP peer that is not listening yet (QEMU still starting) is retried."""
    import serial  # pyserial; imported here so pure users of this module do not need it

    deadline = time.monotonic() + connect_timeout
    while True:
        try:
            return serial.serial_for_url(url, baudrate=baudrate, bytesize=8, parity="N",
                                         stopbits=1, timeout=0.1)
        except (serial.SerialException, OSError) as e:
            if not url.startswith("socket://") or time.monotonic() > deadline:
                raise ConsoleError(f"cannot open console {url}: {e}") from None
            time.sleep(0.2)


class Console:
    def __init__(self, port: Port, log: BinaryIO | Path | str | None = None,
                 timeout_scale: float = 1.0) -> None:
        self.port = port
        self.timeout_scale = timeout_scale
        self.log_path = Path(log) if isinstance(log, (str, Path)) else None
        if self.log_path:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            self._log: BinaryIO | None = open(self.log_path, "ab")  # noqa: SIM115
        else:
            self._log = log  # type: ignore[assignment]
        self.buf = bytearray()
        self.seen = bytearray()  # everything read, for error messages

    @classmethod
    def open(cls, url: str, log: Path | str | None = None, timeout_scale: float = 1.0,
             baudrate: int = 115200) -> Console:
        return cls(open_port(url, baudrate, 30.0 * timeout_scale), log, timeout_scale)

    def close(self) -> None:
        try:
            self.port.close()
        finally:
            if self._log and self.log_path:
                self._log.close()

    def read_some(self) -> bytes:
        try:
            waiting = self.port.in_waiting
        except (OSError, AttributeError):
            waiting = 0
        try:
            data = self.port.read(max(1, waiting))
        except Exception as e:  # pyserial raises its own types for a closed peer
            raise ConsoleError(f"console read failed: {e}\n{self.tail()}") from None
        if data:
            self.buf += data
            self.seen += data
            if len(self.seen) > 1 << 20:
                del self.seen[: len(self.seen) - (1 << 19)]
            if self._log:
                self._log.write(data)
                self._log.flush()
        return data

    def send(self, text: str) -> None:
        self.port.write(text.encode())

    def tail(self, lines: int = 30) -> str:
        text = self.seen.decode(errors="replace").replace("\r", "")
        body = "\n".join(text.splitlines()[-lines:])
        where = f"console log: {self.log_path}\n" if self.log_path else ""
        return f"{where}--- last {lines} lines ---\n{body}"

    def expect(self, patterns: list[re.Pattern[bytes]], timeout: float,
               what: str = "output") -> tuple[int, re.Match[bytes], bytes]:
        """Wait until one of the patterns matches the unread bytes; consume through it.

        Returns the pattern's index, the match and the bytes that came before it."""
        limit = timeout * self.timeout_scale
        deadline = time.monotonic() + limit
        while True:
            snapshot = bytes(self.buf)  # matches must not see the buffer change under them
            for i, rx in enumerate(patterns):
                m = rx.search(snapshot)
                if m:
                    before = snapshot[: m.start()]
                    del self.buf[: m.end()]
                    return i, m, before
            if time.monotonic() > deadline:
                raise ConsoleTimeout(f"timed out after {limit:.0f}s waiting for {what}\n"
                                     f"{self.tail()}")
            self.read_some()
