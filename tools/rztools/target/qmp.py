"""QEMU's machine protocol (QMP) on a unix socket: what a test does to the hardware while
the guest runs, such as pulling a disk out (device_del).

QMP speaks one JSON object per line: a greeting, then, after qmp_capabilities, a reply
({"return": ...} or {"error": ...}) to each command, with asynchronous events
({"event": ...}) in between.
"""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path


class QmpError(RuntimeError):
    """QEMU refused a command, or did not answer in time."""


class Qmp:
    """One QMP connection; a context manager."""

    def __init__(self, path: Path, timeout: float = 30.0) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        try:
            self.sock.connect(str(path))
        except OSError as e:
            self.sock.close()
            raise QmpError(f"cannot connect to QEMU's QMP socket {path}: {e}") from None
        self.buf = b""
        self.events: list[dict] = []
        self.read()  # the greeting
        self.execute("qmp_capabilities")

    def read(self) -> dict:
        while b"\n" not in self.buf:
            try:
                chunk = self.sock.recv(65536)
            except TimeoutError:
                raise
            except OSError as e:
                raise QmpError(f"QMP: {e}") from None
            if not chunk:
                raise QmpError("QMP: QEMU closed the connection")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def execute(self, command: str, **arguments: object) -> object:
        msg: dict[str, object] = {"execute": command}
        if arguments:
            msg["arguments"] = arguments
        self.sock.sendall(json.dumps(msg).encode() + b"\n")
        while True:
            reply = self.read()
            if "event" in reply:
                self.events.append(reply)
            elif "error" in reply:
                raise QmpError(f"QMP {command}: {reply['error'].get('desc', reply['error'])}")
            elif "return" in reply:
                return reply["return"]

    def wait_event(self, name: str, timeout: float, **data: object) -> dict:
        """The first event @name whose data has the items @data (seen before or after)."""
        deadline = time.monotonic() + timeout
        while True:
            for ev in self.events:
                if ev["event"] == name and all(ev.get("data", {}).get(k) == v
                                               for k, v in data.items()):
                    return ev
            left = deadline - time.monotonic()
            if left <= 0:
                raise QmpError(f"QMP: no {name} event {data or ''} within {timeout:g} s")
            self.sock.settimeout(left)
            try:
                self.events.append(self.read())
            except TimeoutError:
                continue

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> Qmp:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def unplug(path: Path, device_id: str, timeout: float = 60.0) -> None:
    """Pull device @device_id out of the running machine and wait until it is gone: the
    guest is asked to let go (ACPI or PCIe hotplug) and QEMU says DEVICE_DELETED."""
    with Qmp(path) as q:
        q.execute("device_del", id=device_id)
        q.wait_event("DEVICE_DELETED", timeout, device=device_id)
