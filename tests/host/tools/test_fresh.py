"""make check-fresh: its pure parts, and its refusals (which must leave nothing mounted)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from rztools.image import fresh as cleanroom
from rztools.image.fresh import (
    cert_paths,
    inner_env,
    mounts_under,
    outside_writes,
    preflight,
    progress_line,
)

REPO = Path(__file__).resolve().parents[3]
GIB = 1 << 30


def test_preflight_asks_for_root_then_mmdebstrap_then_disk():
    assert "root" in preflight(1000, "/usr/bin/mmdebstrap", 100 * GIB, 12 * GIB)
    assert "mmdebstrap not found" in preflight(0, None, 100 * GIB, 12 * GIB)
    why = preflight(0, "/usr/bin/mmdebstrap", 3 * GIB, 12 * GIB)
    assert "needs 12 GiB free" in why and "has 3.0 GiB" in why
    assert preflight(0, "/usr/bin/mmdebstrap", 12 * GIB, 12 * GIB) is None


def test_mounts_under_finds_only_the_root_deepest_first():
    mounts = (
        "proc /srv/cr/root/proc proc rw 0 0\n"
        "udev /srv/cr/root/dev devtmpfs rw 0 0\n"
        "devpts /srv/cr/root/dev/pts devpts rw 0 0\n"
        "sysfs /srv/cr/root2/sys sysfs rw 0 0\n"
        "tmpfs /srv/cr/root/tmp/with\\040space tmpfs rw 0 0\n"
        "/dev/vda / ext4 rw 0 0\n")
    assert mounts_under(Path("/srv/cr/root"), mounts) == [
        "/srv/cr/root/dev/pts", "/srv/cr/root/tmp/with space",
        "/srv/cr/root/dev", "/srv/cr/root/proc"]


def test_only_registry_settings_cross_into_the_root():
    env = {"PIP_CERT": "/etc/ssl/certs/ca.crt", "PIP_INDEX_URL": "https://idx/simple",
           "HOME": "/home/dev", "RAMZSWAP_CACHE": "/warm/cache", "PATH": "/opt/bin",
           "http_proxy": "x", "PYTHONPATH": "/work/tools", "CI": "true"}
    inner = inner_env(env)
    assert inner["PIP_CERT"] == "/etc/ssl/certs/ca.crt"
    assert inner["PIP_INDEX_URL"] == "https://idx/simple"
    assert inner["HOME"] == "/root" and "/opt/bin" not in inner["PATH"]
    assert not {"RAMZSWAP_CACHE", "PYTHONPATH", "http_proxy", "CI"} & set(inner)


def test_ca_bundles_named_by_pip_settings_are_carried():
    paths = cert_paths({"PIP_CERT": "/etc/pki/a.pem"},
                       ["[global]\ncert = /etc/ssl/b.pem\n", "[global]\nindex = x\n"])
    assert paths == [Path("/etc/ssl/certs/ca-certificates.crt"), Path("/etc/pki/a.pem"),
                     Path("/etc/ssl/b.pem")]


def test_writes_outside_the_clone_and_caches_are_found():
    new = ["root/ramzswap/out/x86_64-6.1/rootfs.ext4", "root/.cache/ramzswap/debs/a.deb",
           "root/.cache/pip/http/1", "usr/bin/qemu-system-x86_64", "var/lib/dpkg/status",
           "root/.ramzswap-state", "tmp/rz-build/a.o", "var/tmp/x", "home/u/y"]
    assert outside_writes(new) == ["home/u/y", "root/.ramzswap-state", "tmp/rz-build/a.o",
                                   "var/tmp/x"]


def test_progress_shows_steps_and_verdicts_not_apt_chatter():
    assert progress_line("==> building ramzswap.ko for 6.1.0-57-amd64\n")
    assert progress_line("demo: OK\n")
    assert not progress_line("Setting up gcc (4:12.2.0-3) ...\n")


def our_mounts() -> list[str]:
    return mounts_under(cleanroom.WORK, Path("/proc/mounts").read_text())


def run_check(*args: str, unshare: bool = False, path: str | None = None):
    env = {**os.environ, "PYTHONPATH": str(REPO / "tools")}
    if path is not None:
        env["PATH"] = path
    cmd = [sys.executable, "-m", "rztools.image.fresh", *args]
    if unshare:  # a user namespace: the same files, but the tool is not root there
        cmd = ["unshare", "--user", *cmd]
    return subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, env=env,
                          stdin=subprocess.DEVNULL, timeout=60)


@pytest.mark.parametrize("case,args,message", [
    ("not root", ["--need", "1G"], "check-fresh: must run as root"),
    ("no mmdebstrap", ["--need", "1G"], "check-fresh: mmdebstrap not found"),
    ("too little disk", ["--need", "1000000G"], "check-fresh: needs 1000000 GiB free"),
    ("bad size", ["--need", "lots"], "check-fresh: bad size 'lots'"),
])
def test_refusals_are_one_line_exit_2_and_leave_no_mounts(case, args, message, tmp_path):
    if os.geteuid() != 0 and case != "not root":
        pytest.fail("the refusals past the root check are shown as root (CI runs as root)")
    existed, mounted = cleanroom.WORK.exists(), our_mounts()
    res = run_check(*args, unshare=case == "not root",
                    path=str(tmp_path) if case == "no mmdebstrap" else None)
    assert res.returncode == 2, res.stderr
    assert res.stderr.startswith(message), res.stderr
    assert len(res.stderr.strip().splitlines()) == 1 and "Traceback" not in res.stderr
    assert res.stdout == ""
    assert our_mounts() == mounted, "a refusal left mounts behind"
    assert cleanroom.WORK.exists() == existed, "a refusal created the work directory"
