"""The QMP client against a fake QEMU on a unix socket: the handshake, a command's reply
among events, an error reply, and waiting for the event that says a device is gone."""

from __future__ import annotations

import json
import socket
import tempfile
import threading
from pathlib import Path

import pytest
from rztools.target import qmp


def fake_qemu(path: Path, script) -> threading.Thread:
    """A one-connection QMP server: the greeting, then script(recv, send)."""
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(str(path))
    srv.listen(1)

    def serve() -> None:
        conn, _ = srv.accept()
        f = conn.makefile("rwb")

        def send(obj: dict) -> None:
            f.write(json.dumps(obj).encode() + b"\n")
            f.flush()

        def recv() -> dict:
            return json.loads(f.readline())

        send({"QMP": {"version": {}, "capabilities": []}})
        assert recv() == {"execute": "qmp_capabilities"}
        send({"return": {}})
        script(recv, send)
        f.close()
        conn.close()
        srv.close()

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    return t


@pytest.fixture
def sock():
    # a unix socket's path must stay under 108 bytes: not pytest's tmp_path
    with tempfile.TemporaryDirectory(prefix="qmpt-") as d:
        yield Path(d) / "q.sock"


def test_unplug_sends_device_del_and_waits_for_the_device_to_go(sock):
    seen = []

    def script(recv, send):
        seen.append(recv())
        send({"event": "RESET", "data": {}})  # an event before the reply is kept aside
        send({"return": {}})
        send({"event": "DEVICE_DELETED", "data": {"path": "/machine/peripheral/other"}})
        send({"event": "DEVICE_DELETED", "data": {"device": "rzbacking", "path": "/x"}})

    t = fake_qemu(sock, script)
    qmp.unplug(sock, "rzbacking", timeout=10)
    t.join(5)
    assert seen == [{"execute": "device_del", "arguments": {"id": "rzbacking"}}]


def test_an_error_reply_and_a_missing_event_are_one_clear_error(sock):
    def script(recv, send):
        recv()
        send({"error": {"class": "DeviceNotFound", "desc": "Device 'nosuch' not found"}})

    t = fake_qemu(sock, script)
    with pytest.raises(qmp.QmpError, match="device_del: Device 'nosuch' not found"):
        qmp.unplug(sock, "nosuch", timeout=5)
    t.join(5)

    def silent(recv, send):
        recv()
        send({"return": {}})
        recv_done.wait(5)

    recv_done = threading.Event()
    sock.unlink()
    t = fake_qemu(sock, silent)
    with pytest.raises(qmp.QmpError, match="no DEVICE_DELETED event"):
        qmp.unplug(sock, "rzbacking", timeout=0.5)
    recv_done.set()
    t.join(5)


def test_no_qemu_behind_the_socket_is_one_clear_error(sock):
    with pytest.raises(qmp.QmpError, match="cannot connect"):
        qmp.Qmp(sock)
