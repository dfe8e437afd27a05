"""The shell protocol over any console: log in, then run command lines and read back
their output and exit status exactly.

    sh = ConsoleShell(Console.open("socket://127.0.0.1:4321", log="out/logs/x.log"))
    sh.wait_for_shell()
    res = sh.run("uname -m")      # Result(output="x86_64", status=0)

Command results are framed by unique markers that never appear literally in the echoed
command line, so the output and exit status are read exactly, never guessed from a
prompt.  `Shell` is the interface the rest of the tools drive a guest through (this
class, or a test's Target); the bytes underneath are rztools.target.console's.
"""

from __future__ import annotations

import base64
import re
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from .console import Console, ConsoleError, ConsoleTimeout

LOGIN_RE = re.compile(rb"(?m)^[\w.-]* ?login: ?$")
PASSWORD_RE = re.compile(rb"(?m)Password: ?$")
MAX_LINE = 900  # busybox ash's line editor takes 1024 bytes per line



class ShellResult(Protocol):
    output: str
    status: int


class Shell(Protocol):
    """What drives a guest: one command line at a time, and files put through the shell."""

    def run(self, cmd: str, timeout: float = 60.0) -> ShellResult: ...
    def check(self, cmd: str, timeout: float = 60.0) -> str: ...
    def write_file(self, path: str, data: bytes | str, mode: str = "644") -> None: ...


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


ANSI_RE = re.compile(rb"\x1b\[[0-9;?]*[A-Za-z]")
PROMPT_END_RE = re.compile(rb"[#$>%] ?$")


# How long the line must be quiet before anything is typed at a booting target.
SETTLE = 2.0


def should_poke(tail: bytes, quiet_for: float, since_poke: float,
                settle: float = SETTLE) -> bool:
    """Whether to type a probe while waiting for a shell: when the line has been quiet for
    @settle seconds after nothing at all or after something that ends like a prompt, or
    for long (an unknown prompt); never more often than every @settle + 1 s."""
    if since_poke < settle + 1.0 or quiet_for < settle:
        return False
    text = ANSI_RE.sub(b"", tail).rstrip(b"\r\n") if tail else b""
    return not tail or bool(PROMPT_END_RE.search(text)) or quiet_for > 20.0


class ConsoleShell:
    """A Shell over a Console: busybox ash or any POSIX shell on the far end."""

    def __init__(self, console: Console, user: str = "root",
                 password: str | None = None, settle: float = SETTLE) -> None:
        self.console = console
        self.user, self.password = user, password
        # quiet seconds before typing at a booting target: some UARTs (QEMU's PL011)
        # lose what arrives before the getty listens; a peer that is known to be
        # listening (a test's fake) may say less
        self.settle = settle
        self._seq = 0
        self._tag = uuid.uuid4().hex[:6]

    @classmethod
    def open(cls, url: str, log: Path | str | None = None, timeout_scale: float = 1.0,
             baudrate: int = 115200, user: str = "root",
             password: str | None = None) -> ConsoleShell:
        return cls(Console.open(url, log, timeout_scale, baudrate), user, password)

    @property
    def log_path(self) -> Path | None:
        return self.console.log_path

    def tail(self, lines: int = 30) -> str:
        return self.console.tail(lines)

    def send(self, text: str) -> None:
        self.console.send(text)

    def close(self) -> None:
        self.console.close()

    def _marker(self) -> str:
        self._seq += 1
        return f"RZ{self._tag}x{self._seq}"

    def wait_for_shell(self, timeout: float = 120.0) -> None:
        """Wait for boot, log in when a login prompt appears, and make the shell quiet.

        Works on a fresh boot (login prompt) and on a console already at a shell.  Nothing
        is typed while the target is still talking: some UARTs (QEMU's PL011) lose input
        that arrives before the getty is listening."""
        limit = timeout * self.console.timeout_scale
        deadline = time.monotonic() + limit
        probe = self._marker()
        probe_re = re.compile(re.escape(f"{probe}-R").encode())
        last_rx = last_poke = time.monotonic()
        while True:
            for rx, action in ((LOGIN_RE, "login"), (PASSWORD_RE, "password"),
                               (probe_re, "shell")):
                m = rx.search(self.console.buf)
                if not m:
                    continue
                del self.console.buf[: m.end()]
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
            if should_poke(bytes(self.console.seen[-200:]), now - last_rx, now - last_poke,
                           self.settle):
                # a prompt may already be there (board left logged in): ask the shell
                self.send(f"\nprintf '%s-R\\n' {probe}\n")
                last_poke = now
            if self.console.read_some():
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
        self.console.buf.clear()
        self.send(line + "\n")
        try:
            self.console.expect([begin], timeout, what=f"start of {cmd!r}")
            _, m, out = self.console.expect([end], timeout, what=f"end of {cmd!r}")
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
                self.console.expect([re.compile(re.escape(f"{mk}-I").encode())], 5,
                                    "shell after ^C")
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
