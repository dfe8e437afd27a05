"""The console and the shell protocol against fake serial peers: a scripted peer on a socket
pair (split markers, noise, login prompts, silence) and a real shell on a pty."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import socket
import subprocess
import termios
import threading
import time

import pytest
from harness import timeout_message
from rztools.target.console import Console, ConsoleTimeout
from rztools.target.shell import ConsoleShell

# the fake peers listen from the first byte: no need to wait as for a booting board
FAKE_SETTLE = 0.3


class SocketPort:
    """Enough of pyserial's interface over one end of a socket pair."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.timeout = 0.1

    @property
    def in_waiting(self) -> int:
        return 0

    def read(self, size: int = 1) -> bytes:
        r, _, _ = select.select([self.sock], [], [], self.timeout)
        return self.sock.recv(max(size, 4096)) if r else b""

    def write(self, data: bytes) -> int:
        self.sock.sendall(data)
        return len(data)

    def close(self) -> None:
        self.sock.close()


class FdPort(SocketPort):
    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.timeout = 0.1

    def read(self, size: int = 1) -> bytes:
        r, _, _ = select.select([self.fd], [], [], self.timeout)
        return os.read(self.fd, 4096) if r else b""

    def write(self, data: bytes) -> int:
        return os.write(self.fd, data)

    def close(self) -> None:
        os.close(self.fd)


CMD_RE = re.compile(r"printf '%s-B\\n' (\S+); (.*); printf '%s-E %d\\n' \S+ \$\?")


class ScriptedPeer(threading.Thread):
    """Plays a target: optional boot noise and login prompt, then answers each
    framed command from a table, dribbling bytes in small pieces."""

    def __init__(self, sock: socket.socket, answers: dict[str, tuple[str, int]],
                 login: bool = False, chunk: int = 3, noise: bytes = b"",
                 silent: set[str] | None = None) -> None:
        super().__init__(daemon=True)
        self.sock, self.answers, self.login = sock, answers, login
        self.chunk, self.noise, self.silent = chunk, noise, silent or set()
        self.logged_in = not login
        self.received = b""

    def send(self, data: bytes) -> None:
        for i in range(0, len(data), self.chunk):
            self.sock.sendall(data[i:i + self.chunk])
            time.sleep(0.001)

    def run(self) -> None:
        self.send(b"[    0.000000] Linux version 6.1.0\r\n" + self.noise)
        if self.login:
            self.send(b"\r\nWelcome\r\nramzswap-test login: ")
        else:
            self.send(b"\r\n~ # ")
        buf = b""
        try:
            while True:
                data = self.sock.recv(4096)
                if not data:
                    return
                self.received += data
                buf += data
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    self.handle(line.decode().strip())
        except OSError:
            return

    def handle(self, line: str) -> None:
        if not self.logged_in:
            if line == "root":
                self.logged_in = True
                self.send(b"\r\n~ # ")
            return
        probe = re.fullmatch(r"printf '%s-([RI])\\n' (\S+)", line)
        if probe:
            kind, marker = probe.groups()
            self.send(f"{line}\r\n{marker}-{kind}\r\n~ # ".encode())
            return
        m = CMD_RE.search(line)
        if not m:
            return
        marker, cmd = m.groups()
        if cmd in self.silent:
            self.send(f"{marker}-B\r\n".encode())
            return
        out, status = self.answers.get(cmd, ("", 0))
        body = "".join(f"{x}\r\n" for x in out.split("\n")) if out else ""
        # echo of the line first, as a terminal does, then the framed output
        self.send(f"{line}\r\n{marker}-B\r\n{body}{marker}-E {status}\r\n~ # ".encode())


def make(tmp_path, **kw) -> tuple[ConsoleShell, ScriptedPeer]:
    a, b = socket.socketpair()
    peer = ScriptedPeer(b, **kw)
    peer.start()
    con = ConsoleShell(Console(SocketPort(a), tmp_path / "console.log", timeout_scale=1.0),
                       settle=FAKE_SETTLE)
    return con, peer


def test_login_prompt_then_commands(tmp_path):
    con, peer = make(tmp_path, login=True, answers={"uname -m": ("aarch64", 0)})
    con.wait_for_shell(timeout=20)
    assert peer.logged_in
    assert b"root\n" in peer.received
    res = con.run("uname -m")
    assert (res.output, res.status) == ("aarch64", 0)


def test_markers_split_across_reads(tmp_path):
    con, _ = make(tmp_path, chunk=1, answers={"cat f": ("line one\nline two", 3)})
    con.wait_for_shell(timeout=20)
    res = con.run("cat f")
    assert res.output == "line one\nline two"
    assert res.status == 3


def test_noise_before_the_command_is_ignored(tmp_path):
    noise = b"[   12.3] random: crng init done\r\nRZfake-E 9\r\n" * 3
    con, _ = make(tmp_path, noise=noise, answers={"echo hi": ("hi", 0)})
    con.wait_for_shell(timeout=20)
    assert con.run("echo hi").output == "hi"


def test_every_byte_is_logged(tmp_path):
    con, _ = make(tmp_path, answers={"echo hi": ("hi", 0)})
    con.wait_for_shell(timeout=20)
    con.run("echo hi")
    log = (tmp_path / "console.log").read_bytes()
    assert b"Linux version 6.1.0" in log
    assert b"-E 0" in log


def test_timeout_carries_the_log_tail(tmp_path):
    con, _ = make(tmp_path, answers={}, silent={"sleep 600"})
    con.wait_for_shell(timeout=20)
    text = timeout_message(con, "sleep 600", timeout=0.5, within=20)
    assert "timed out" in text
    assert str(tmp_path / "console.log") in text
    assert "Linux version" in text


def test_timeout_scale_multiplies_timeouts(tmp_path):
    con, _ = make(tmp_path, answers={}, silent={"sleep 600"})
    con.wait_for_shell(timeout=20)
    con.console.timeout_scale = 4.0
    t0 = time.monotonic()
    with pytest.raises(ConsoleTimeout):
        con.run("sleep 600", timeout=0.5)
    assert time.monotonic() - t0 >= 2.0


def test_no_shell_at_all_times_out(tmp_path):
    a, b = socket.socketpair()
    con = ConsoleShell(Console(SocketPort(a), tmp_path / "c.log"), settle=FAKE_SETTLE)
    with pytest.raises(ConsoleTimeout) as exc:
        con.wait_for_shell(timeout=1)
    assert "no shell" in str(exc.value)
    b.close()


@pytest.fixture
def pty_shell(tmp_path):
    """A real /bin/sh on a pseudo-terminal: echo on, prompts, job control."""
    master, slave = pty.openpty()

    def controlling_tty() -> None:  # so ^C reaches the foreground job, as on a console
        os.setsid()
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    proc = subprocess.Popen(["/bin/sh", "-i"], stdin=slave, stdout=slave, stderr=slave,
                            preexec_fn=controlling_tty,
                            env={"PS1": "$ ", "PATH": os.environ["PATH"]})
    os.close(slave)
    con = ConsoleShell(Console(FdPort(master), tmp_path / "pty.log"), settle=FAKE_SETTLE)
    yield con
    proc.kill()
    proc.wait()


def test_real_shell_on_a_pty(pty_shell):
    con = pty_shell
    con.wait_for_shell(timeout=20)
    assert con.run("echo hello; false").status == 1
    assert con.run("printf 'x\\ny\\n'").output == "x\ny"
    assert con.run("exit_code() { return 42; }; exit_code").status == 42


def test_real_shell_survives_a_timeout(pty_shell, tmp_path):
    con = pty_shell
    con.wait_for_shell(timeout=20)
    with pytest.raises(ConsoleTimeout):
        con.run("sleep 30", timeout=0.5)
    assert con.check("echo back") == "back"


def test_write_file_round_trips(pty_shell, tmp_path):
    con = pty_shell
    con.wait_for_shell(timeout=20)
    data = bytes(range(256)) * 20
    dest = tmp_path / "copy.bin"
    con.write_file(str(dest), data)
    assert dest.read_bytes() == data


def test_no_typing_while_the_target_is_still_booting():
    from rztools.target.shell import should_poke

    assert not should_poke(b"[    2.1] virtio_blk virtio1: [vda]\r\n", 2.5, 10)  # mid-boot
    assert not should_poke(b"~ # ", 1.0, 10)  # still talking
    assert not should_poke(b"~ # ", 5.0, 1.0)  # just poked
    assert should_poke(b"", 2.5, 10)  # silent line: a board waiting at a prompt
    assert should_poke(b"\r\n~ # \x1b[6n", 2.5, 10)  # busybox prompt + cursor query
    assert should_poke(b"some banner\r\n", 25.0, 10)  # unknown prompt, long quiet
