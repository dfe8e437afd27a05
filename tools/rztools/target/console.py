"""Drive a Linux shell over a serial console: QEMU's TCP serial or a board's UART.

    con = Console.open("socket://127.0.0.1:4321", log_path="out/logs/x.log")
    con.wait_for_shell()
    res = con.run("uname -m")      # Result(output="x86_64", status=0)

Every byte read is written to the log.  Command results are framed by unique
markers that never appear literally in the echoed command line, so the output
and exit status are read exactly, never guessed from a prompt.  Every timeout
is multiplied by `timeout_scale` (slow emulation, slow boards).
"""

from __future__ import annotations

import base64
import re
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

LOGIN_RE = re.compile(rb"(?m)^[\w.-]* ?login: ?$")
PASSWORD_RE = re.compile(rb"(?m)Password: ?$")
MAX_LINE = 900  # busybox ash's line editor takes 1024 bytes per line


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


class CommandFailed(ConsoleError):
    """A command checked with `check` exited non-zero."""


@dataclass
class Result:
    command: str
    output: str
    status: int

    @property
    def ok(self) -> bool:
        return self.status == 0


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


ANSI_RE = re.compile(rb"\x1b\[[0-9;?]*[A-Za-z]")
PROMPT_END_RE = re.compile(rb"[#$>%] ?$")


def should_poke(tail: bytes, quiet_for: float, since_poke: float) -> bool:
    """Whether to type a probe while waiting for a shell: when the line has gone quiet
    after nothing at all or after something that ends like a prompt, or has been quiet
    for long (an unknown prompt); never more often than every 3 s."""
    if since_poke < 3.0 or quiet_for < 2.0:
        return False
    text = ANSI_RE.sub(b"", tail).rstrip(b"\r\n") if tail else b""
    return not tail or bool(PROMPT_END_RE.search(text)) or quiet_for > 20.0


class Console:
    def __init__(self, port: Port, log: BinaryIO | Path | str | None = None,
                 timeout_scale: float = 1.0, user: str = "root",
                 password: str | None = None) -> None:
        self.port = port
        self.timeout_scale = timeout_scale
        self.user, self.password = user, password
        self.log_path = Path(log) if isinstance(log, (str, Path)) else None
        if self.log_path:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            self._log: BinaryIO | None = open(self.log_path, "ab")  # noqa: SIM115
        else:
            self._log = log  # type: ignore[assignment]
        self.buf = bytearray()
        self.seen = bytearray()  # everything read, for error messages
        self._seq = 0
        self._tag = uuid.uuid4().hex[:6]

    @classmethod
    def open(cls, url: str, log: Path | str | None = None, timeout_scale: float = 1.0,
             baudrate: int = 115200, **kw: object) -> Console:
        return cls(open_port(url, baudrate, 30.0 * timeout_scale), log, timeout_scale, **kw)

    # -- bytes in and out -------------------------------------------------
    def close(self) -> None:
        try:
            self.port.close()
        finally:
            if self._log and self.log_path:
                self._log.close()

    def _read_some(self) -> bytes:
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
            self._read_some()

    # -- shell --------------------------------------------------------------
    def _marker(self) -> str:
        self._seq += 1
        return f"RZ{self._tag}x{self._seq}"

    def wait_for_shell(self, timeout: float = 120.0) -> None:
        """Wait for boot, log in when a login prompt appears, and make the shell quiet.

        Works on a fresh boot (login prompt) and on a console already at a shell.  Nothing
        is typed while the target is still talking: some UARTs (QEMU's PL011) lose input
        that arrives before the getty is listening."""
        limit = timeout * self.timeout_scale
        deadline = time.monotonic() + limit
        probe = self._marker()
        probe_re = re.compile(re.escape(f"{probe}-R").encode())
        last_rx = last_poke = time.monotonic()
        while True:
            for rx, action in ((LOGIN_RE, "login"), (PASSWORD_RE, "password"),
                               (probe_re, "shell")):
                m = rx.search(self.buf)
                if not m:
                    continue
                del self.buf[: m.end()]
                if action == "login":
                    time.sleep(0.2)
                    self.send(self.user + "\n")
                elif action == "password":
                    self.send((self.password or "") + "\n")
                else:
                    self._setup_shell()
                    return
                last_poke = time.monotonic()
            now = time.monotonic()
            if now > deadline:
                raise ConsoleTimeout(f"no shell within {limit:.0f}s\n{self.tail()}")
            if should_poke(bytes(self.seen[-200:]), now - last_rx, now - last_poke):
                # a prompt may already be there (board left logged in): ask the shell
                self.send(f"\nprintf '%s-R\\n' {probe}\n")
                last_poke = now
            if self._read_some():
                last_rx = time.monotonic()

    def _setup_shell(self) -> None:
        self.run("stty -echo -onlcr cols 400 2>/dev/null; export PS1='rz# ' PAGER=cat; "
                 "dmesg -n 1 2>/dev/null; true", timeout=30)

    def run(self, cmd: str, timeout: float = 60.0) -> Result:
        """Run one shell command line; return its output (without trailing newline) and
        exit status.  On timeout the command is interrupted with Ctrl-C and
        ConsoleTimeout is raised."""
        cmd = cmd.strip().rstrip(";").strip()
        if "\n" in cmd:
            raise ValueError("run() takes one command line; use write_file for scripts")
        mk = self._marker()
        sep = " " if cmd.endswith("&") else "; "
        line = f"printf '%s-B\\n' {mk}; {cmd}{sep}printf '%s-E %d\\n' {mk} $?"
        if len(line) > MAX_LINE + 100:
            raise ValueError(f"command line too long for the target shell ({len(line)} bytes)")
        begin = re.compile(rb"%s-B\r?\n" % re.escape(mk.encode()))
        end = re.compile(rb"%s-E (\d+)\r?\n" % re.escape(mk.encode()))
        self.buf.clear()
        self.send(line + "\n")
        try:
            self.expect([begin], timeout, what=f"start of {cmd!r}")
            _, m, out = self.expect([end], timeout, what=f"end of {cmd!r}")
        except ConsoleTimeout:
            self.interrupt()
            raise
        text = out.decode(errors="replace").replace("\r\n", "\n").replace("\r", "")
        return Result(cmd, text.removesuffix("\n"), int(m.group(1)))

    def check(self, cmd: str, timeout: float = 60.0) -> str:
        """Run a command that must succeed; return its output."""
        res = self.run(cmd, timeout)
        if res.status != 0:
            raise CommandFailed(f"{cmd!r} exited {res.status}:\n{res.output}\n{self.tail()}")
        return res.output

    def interrupt(self) -> None:
        """Send Ctrl-C and wait briefly until the shell answers again."""
        for _ in range(2):
            self.send("\x03")
            time.sleep(0.3)
            mk = self._marker()
            self.send(f"\nprintf '%s-I\\n' {mk}\n")
            try:
                self.expect([re.compile(re.escape(f"{mk}-I").encode())], 5, "shell after ^C")
                return
            except ConsoleTimeout:
                continue

    def write_file(self, path: str, data: bytes | str, mode: str = "644") -> None:
        """Put a file on the target through the shell (base64 in short lines)."""
        raw = data.encode() if isinstance(data, str) else data
        b64 = base64.b64encode(raw).decode()
        tmp = f"{path}.b64"
        self.check(f": > {tmp}")
        chunk = 700
        for i in range(0, len(b64), chunk):
            self.check(f"printf '%s' '{b64[i:i + chunk]}' >> {tmp}")
        self.check(f"base64 -d {tmp} > {path} && rm {tmp} && chmod {mode} {path}")
