"""The clean-room check: the README's main command on a machine that has nothing
but a minimal Debian 12 with make and git, as a new user's machine has.

    python -m rztools.image.fresh [--need 8G] [--keep]

A bookworm minbase root is built once with mmdebstrap and cached, keyed by what
goes into it.  Every run copies it afresh to out/check-fresh/root, carries in the
host's package-registry configuration (and nothing else of the host), puts a clean
clone of HEAD in /root/ramzswap with an empty download cache, and runs `make demo`
there in a chroot with /proc, /sys and /dev mounted.  It passes only if the demo
says OK and nothing was written outside the clone and the caches.  The mounts are
taken down again whatever happens.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from ..cache import cache_dir
from ..progress import note, step
from ..target.qemu import parse_size
from . import debian

REPO = Path(__file__).resolve().parents[3]
WORK = REPO / "out" / "check-fresh"
SUITE = "bookworm"
# what a new machine has: minbase, the two tools the README asks for, and the
# archive keyring every Debian install carries (the apt sources name it)
PACKAGES = ("make", "git", "debian-archive-keyring")
COMMAND = "make demo"
CLONE = Path("root/ramzswap")
# the demo's root, kernels, QEMU and cross compilers installed in the chroot
DEFAULT_NEED = "8G"
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
OK_LINE = "demo: OK"
LOCAL_CAS = Path("/usr/local/share/ca-certificates")
# where a user's own files go on a machine; the install step may write the system's
# directories (usr/, etc/, var/lib/ ...), but nothing of ours may land here except
# the clone and the caches
WATCHED = ("root/", "home/", "tmp/", "var/tmp/", "opt/", "srv/", "mnt/")
ALLOWED = (f"{CLONE}/", "root/.cache/")


class Refused(RuntimeError):
    """The check cannot start here; nothing was changed."""


class Failed(RuntimeError):
    """The check ran and did not pass."""


# ---- pure parts -----------------------------------------------------------------

def preflight(uid: int, mmdebstrap: str | None, free: int, need: int) -> str | None:
    """Why the check cannot run here, or None.  Asked before anything is touched."""
    if uid != 0:
        return "must run as root (it builds a root filesystem and mounts /proc, /sys, /dev)"
    if not mmdebstrap:
        return "mmdebstrap not found (apt-get install mmdebstrap, or run make deps)"
    if free < need:
        return (f"needs {need >> 30} GiB free under {WORK.parent}, "
                f"has {free / (1 << 30):.1f} GiB")
    return None


def pip_conf_files(home: Path) -> list[Path]:
    """The pip configuration files a new machine's pip reads for root."""
    return [Path("/etc/pip.conf"), home / ".config" / "pip" / "pip.conf"]


def cert_paths(env: Mapping[str, str], pip_confs: Iterable[str]) -> list[Path]:
    """CA bundles that the registry configuration names: apt's transport and pip
    need the same bundle inside the root that they use outside it."""
    found = [Path("/etc/ssl/certs/ca-certificates.crt")]
    if env.get("PIP_CERT"):
        found.append(Path(env["PIP_CERT"]))
    for text in pip_confs:
        found += [Path(m) for m in re.findall(r"(?m)^\s*cert\s*=\s*(\S+)", text)]
    return list(dict.fromkeys(found))


def inner_env(env: Mapping[str, str]) -> dict[str, str]:
    """The environment of the command in the root: a login's basics and the host's
    PIP_* settings, nothing else of the host's."""
    out = {"HOME": "/root", "PATH": PATH, "LANG": "C.UTF-8", "TERM": "dumb",
           "DEBIAN_FRONTEND": "noninteractive"}
    out.update({k: v for k, v in env.items() if k.startswith("PIP_")})
    if env.get("RZ_TIMEOUT_SCALE"):
        out["RZ_TIMEOUT_SCALE"] = env["RZ_TIMEOUT_SCALE"]
    return out


def root_key(version: str, mirror: str) -> str:
    """What the cached root is made of."""
    return f"{version}|{SUITE}|minbase|{','.join(PACKAGES)}|{mirror}"


def unescape_mount(field: str) -> str:
    """/proc/mounts writes space, tab, newline and backslash as octal escapes."""
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def mounts_under(top: Path, mounts: str) -> list[str]:
    """Mount points at or below top, deepest first (the order to unmount them)."""
    prefix = str(top).rstrip("/")
    points = []
    for line in mounts.splitlines():
        fields = line.split()
        if len(fields) < 2:
            continue
        point = unescape_mount(fields[1])
        if point == prefix or point.startswith(prefix + "/"):
            points.append(point)
    return sorted(set(points), key=lambda p: (-p.count("/"), p))


def outside_writes(new_files: Iterable[str]) -> list[str]:
    """Files a run created that are neither in the clone, nor in a cache, nor the
    installed system's own."""
    return sorted(f for f in new_files if f.startswith(WATCHED) and not f.startswith(ALLOWED))


def progress_line(line: str) -> bool:
    """The inner lines worth showing live: steps, installs, the demo's verdicts."""
    return line.startswith(("==> ", "install-deps:", "demo:", "booting ", "swapped out",
                            "image:", "make: ***"))


# ---- the host side ---------------------------------------------------------------

def mmdebstrap_version(binary: str) -> str:
    res = subprocess.run([binary, "--version"], capture_output=True, text=True)
    return res.stdout.strip() or "unknown"


def cached_root(binary: str) -> Path:
    """The minbase root, built once per key; never modified after it is done."""
    key = root_key(mmdebstrap_version(binary), debian.MIRROR)
    digest = hashlib.sha256(key.encode()).hexdigest()[:12]
    path = cache_dir() / "cleanroom" / f"{SUITE}-{digest}"
    stamp = path / ".stamp"
    if stamp.exists() and stamp.read_text() == key:
        note(f"minbase root cached: {path}")
        return path / "root"
    with step(f"building a {SUITE} minbase root with {', '.join(PACKAGES)} (mmdebstrap)"):
        if path.exists():
            shutil.rmtree(path)
        path.mkdir(parents=True)
        cmd = [binary, "--quiet", "--variant=minbase", f"--include={','.join(PACKAGES)}",
               SUITE, str(path / "root"),
               f"deb [signed-by={debian.KEYRING}] {debian.MIRROR} {SUITE} main"]

        def attempt() -> subprocess.CompletedProcess:
            shutil.rmtree(path / "root", ignore_errors=True)
            return subprocess.run(cmd, capture_output=True, text=True,
                                  stdin=subprocess.DEVNULL)
        debian.retry("mmdebstrap", attempt, tries=3)
        stamp.write_text(key)
    return path / "root"


def read_mounts() -> str:
    return Path("/proc/mounts").read_text()


def unmount_all(top: Path) -> None:
    """Unmount everything at or below top; lazily if a busy mount will not go."""
    for point in mounts_under(top, read_mounts()):
        res = subprocess.run(["umount", point], capture_output=True, text=True)
        if res.returncode != 0:
            subprocess.run(["umount", "--lazy", point], capture_output=True, text=True)
    left = mounts_under(top, read_mounts())
    if left:
        raise Failed(f"could not unmount {', '.join(left)}")


def kill_inside(root: Path) -> None:
    """End every process whose root directory is inside root (a QEMU left running)."""
    target = str(root.resolve())
    for _ in range(2):
        victims = []
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit():
                continue
            try:
                link = os.readlink(proc / "root")
            except OSError:
                continue
            if link == target or link.startswith(target + "/"):
                victims.append(int(proc.name))
        if not victims:
            return
        for pid in victims:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(1)


def remove_root(root: Path) -> None:
    """Delete a previous run's root, never crossing into a mount left behind."""
    if not root.exists():
        return
    kill_inside(root)
    unmount_all(root)
    subprocess.run(["rm", "-rf", "--one-file-system", str(root)], check=True)


def carry_config(root: Path, env: Mapping[str, str], home: Path) -> list[str]:
    """Copy in the host's registry configuration: /etc/apt, pip's files, their CA
    bundles.  Returns what was carried."""
    carried = []
    shutil.rmtree(root / "etc" / "apt")
    shutil.copytree("/etc/apt", root / "etc" / "apt", symlinks=True)
    carried.append("/etc/apt")
    confs = [p for p in pip_conf_files(home) if p.is_file()]
    for conf in confs:
        dest = root / ("root" / conf.relative_to(home) if conf.is_relative_to(home)
                       else conf.relative_to("/"))
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(conf, dest)
        carried.append(str(conf))
    for cert in cert_paths(env, (c.read_text() for c in confs)):
        if cert.is_file():
            dest = root / cert.resolve().relative_to("/")
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(cert.resolve(), dest)
            if cert != cert.resolve():
                link = root / cert.relative_to("/")
                link.parent.mkdir(parents=True, exist_ok=True)
                if not os.path.lexists(link):
                    link.symlink_to(cert.resolve())
            carried.append(str(cert))
    # the bundle is regenerated when the root installs ca-certificates: the local
    # CAs it was made from must come along, or the regenerated one lacks them
    if LOCAL_CAS.is_dir():
        shutil.copytree(LOCAL_CAS, root / LOCAL_CAS.relative_to("/"), dirs_exist_ok=True)
        carried.append(str(LOCAL_CAS))
    carried += sorted(k for k in env if k.startswith("PIP_"))
    return carried


def clone_head(root: Path) -> str:
    head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True,
                          text=True, check=True).stdout.strip()
    dest = root / CLONE
    subprocess.run(["git", "clone", "--quiet", "--no-checkout", f"file://{REPO}", str(dest)],
                   check=True, capture_output=True)
    subprocess.run(["git", "-C", str(dest), "checkout", "--quiet", "--detach", head],
                   check=True, capture_output=True)
    return head


def file_list(root: Path) -> set[str]:
    """Every file of the root (relative paths), not crossing into mounts."""
    res = subprocess.run(["find", str(root), "-xdev", "-type", "f", "-printf", "%P\n"],
                         capture_output=True, text=True)
    return set(res.stdout.splitlines())


@contextmanager
def mounted(root: Path) -> Iterator[None]:
    """/proc, /sys and /dev in the root for the length of the block, and not a
    moment longer: unmounted on errors and signals too."""
    try:
        subprocess.run(["mount", "-t", "proc", "proc", str(root / "proc")], check=True)
        subprocess.run(["mount", "-t", "sysfs", "sysfs", str(root / "sys")], check=True)
        subprocess.run(["mount", "--rbind", "/dev", str(root / "dev")], check=True)
        subprocess.run(["mount", "--make-rslave", str(root / "dev")], check=True)
        yield
    finally:
        kill_inside(root)
        unmount_all(root)


def run_inside(root: Path, env: dict[str, str], log: Path) -> int:
    """Run COMMAND in the root's clone; every line to the log, progress to stderr."""
    start = time.monotonic()
    script = f"cd /{CLONE} && exec {COMMAND} </dev/null"
    with open(log, "w") as out:
        proc = subprocess.Popen(["chroot", str(root), "/bin/sh", "-c", script], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, text=True, start_new_session=True)
        try:
            assert proc.stdout is not None
            for line in proc.stdout:
                out.write(line)
                out.flush()
                if progress_line(line):
                    elapsed = int(time.monotonic() - start)
                    print(f"  [{elapsed // 60:2d}m{elapsed % 60:02d}] {line.rstrip()}",
                          file=sys.stderr, flush=True)
            return proc.wait()
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def existing_parent(path: Path) -> Path:
    """The nearest directory that exists: disk space is asked before anything is made."""
    while not path.exists():
        path = path.parent
    return path


def tail(log: Path, lines: int = 25) -> str:
    text = log.read_text(errors="replace").splitlines() if log.exists() else []
    return "\n".join(text[-lines:])


def check(need: int, keep: bool) -> None:
    binary = shutil.which("mmdebstrap")
    why = preflight(os.geteuid(), binary, shutil.disk_usage(existing_parent(WORK)).free, need)
    if why:
        raise Refused(why)
    assert binary is not None
    WORK.mkdir(parents=True, exist_ok=True)
    base = cached_root(binary)
    root = WORK / "root"
    log = WORK / "inner.log"
    with step("copying the minbase root to a fresh one"):
        remove_root(root)
        subprocess.run(["cp", "-a", f"{base}", str(root)], check=True)
    carried = carry_config(root, os.environ, Path.home())
    note(f"carried in: {' '.join(carried)}")
    head = clone_head(root)
    note(f"clone of HEAD {head[:12]} in {root / CLONE}, empty download cache")
    before = file_list(root)
    print(f"check-fresh: running `{COMMAND}` in the clean root (log: {log})",
          file=sys.stderr, flush=True)
    with mounted(root):
        status = run_inside(root, inner_env(os.environ), log)
    said_ok = any(line.strip() == OK_LINE for line in log.read_text(errors="replace")
                  .splitlines())
    if status != 0 or not said_ok:
        raise Failed(f"`{COMMAND}` in the clean root exited {status}"
                     f"{'' if said_ok else f' without {OK_LINE!r}'}; last lines of {log}:\n"
                     f"{tail(log)}")
    stray = outside_writes(file_list(root) - before)
    if stray:
        raise Failed(f"`{COMMAND}` wrote outside the repo and the caches: "
                     f"{', '.join(stray[:10])}")
    if not keep:
        remove_root(root)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="rztools.image.fresh", description=__doc__.split("\n")[0])
    ap.add_argument("--need", default=DEFAULT_NEED,
                    help=f"free disk space to insist on before starting (default {DEFAULT_NEED})")
    ap.add_argument("--keep", action="store_true", help="keep the root afterwards")
    a = ap.parse_args(argv)

    def stop(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGHUP, stop)
    try:
        need = parse_size(a.need)
    except ValueError as e:
        print(f"check-fresh: {e}", file=sys.stderr)
        return 2
    start = time.monotonic()
    try:
        check(need, a.keep)
    except Refused as e:
        print(f"check-fresh: {e}", file=sys.stderr)
        return 2
    except (Failed, debian.AptError, subprocess.CalledProcessError) as e:
        print(f"check-fresh: FAILED: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as e:
        print(f"check-fresh: interrupted ({e or 'Ctrl-C'}); mounts taken down", file=sys.stderr)
        return 130
    elapsed = int(time.monotonic() - start)
    print(f"check-fresh: OK: `{COMMAND}` passed on a fresh {SUITE} root "
          f"in {elapsed // 60}m{elapsed % 60:02d}s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
