"""Boot an image under QEMU: command lines, a KVM probe, and a VM handle whose
serial console is a TCP socket the console library opens.

`python -m rztools.target.run` boots the offline test image with its console on this
terminal.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from ..arches import ARCHES, Arch
from .console import ConsoleError
from .shell import ConsoleShell

REPO = Path(__file__).resolve().parents[3]
SIZE_RE = re.compile(r"^(\d+)([KMG]?)$")
BACKING_ID = "rzbacking"               # the backing disk's QEMU device id


class QemuError(RuntimeError):
    """The VM could not be started or stopped as asked."""


def parse_size(text: str) -> int:
    """'256M' -> bytes; plain numbers are bytes."""
    m = SIZE_RE.fullmatch(text.strip().upper())
    if not m:
        raise ValueError(f"bad size {text!r} (use e.g. 256M, 1G, 65536K)")
    return int(m.group(1)) << {"": 0, "K": 10, "M": 20, "G": 30}[m.group(2)]


@dataclass
class Machine:
    arch: Arch
    kernel: Path
    rootfs: Path
    initrd: Path | None = None
    style: str = "testimage"           # or "buildroot": root=/dev/vda, no initrd
    mem: str = "256M"
    smp: int = 2
    append: str = ""                   # extra kernel command line
    backing: Path | None = None        # extra virtio disk (serial "rzbacking")
    backing_blkdebug: Path | None = None  # blkdebug rules for the backing disk
    backing_throttle: str = ""         # -drive throttling options of the backing disk
    # virtio-blk properties of the backing disk: "write-zeroes=off,discard=off" takes
    # away what a flash partition may lack
    backing_features: str = ""
    # the backing disk on a bus it can be pulled out of (qmp.unplug(..., BACKING_ID))
    backing_hotplug: bool = False
    qmp: Path | None = None            # a QMP unix socket here
    root_writable: bool = False        # writes reach the rootfs file (else a snapshot)
    accel: str = "tcg"
    extra: list[str] = field(default_factory=list)

    @classmethod
    def from_image(cls, out: Path, arch: Arch, release: str = "") -> Machine:
        return cls(arch, out / "vmlinuz", out / "rootfs.ext4", out / "initrd.img")

    @classmethod
    def from_manifest(cls, manifest: Path) -> Machine:
        data = json.loads(manifest.read_text())
        out = manifest.parent
        files = data["files"]
        return cls(ARCHES[data["arch"]], out / files["kernel"], out / files["rootfs"],
                   out / files["initrd"])

    @classmethod
    def from_buildroot(cls, images: Path, arch: str) -> Machine:
        """A Buildroot output's images/: bzImage/Image/zImage and rootfs.ext2/ext4."""
        kernel = next((images / k for k in ("bzImage", "Image", "zImage")
                       if (images / k).exists()), None)
        rootfs = next((images / r for r in ("rootfs.ext4", "rootfs.ext2")
                       if (images / r).exists()), None)
        if not kernel or not rootfs:
            raise QemuError(f"{images} has no kernel (bzImage/Image/zImage) or rootfs.ext2/4")
        return cls(ARCHES[arch], kernel, rootfs, None, style="buildroot")

    def cmdline(self) -> str:
        parts = [f"console={self.arch.console}", "panic=-1", self.arch.cmdline]
        if self.style == "buildroot":
            parts += ["root=/dev/vda", "rootwait"]
        parts.append(self.append)
        return " ".join(p for p in parts if p)


@dataclass(frozen=True)
class InjectError:
    """One blkdebug rule: fail every `iotype` ("read" or "write") request that touches
    512-byte sector `sector` of the disk with errno (5 = EIO)."""

    iotype: str
    sector: int | None            # None: every request of that type
    errno: int = 5
    once: bool = False


def blkdebug_config(rules: list[InjectError]) -> str:
    """A blkdebug config file for Machine.backing_blkdebug.

    Checked with QEMU 7.2: rules are active from the start with event "none" and filter
    by I/O type with iotype; the raw format over blkdebug never fires a "write_aio"
    event, so rules hung on the read_aio/write_aio events work for reads only."""
    out = []
    for r in rules:
        if r.iotype not in ("read", "write"):
            raise ValueError(f"iotype must be read or write, not {r.iotype!r}")
        sector = "" if r.sector is None else f'sector = "{r.sector}"\n'
        out.append(f'[inject-error]\nevent = "none"\niotype = "{r.iotype}"\n'
                   f'errno = "{r.errno}"\n{sector}'
                   f'once = "{"on" if r.once else "off"}"\nimmediately = "off"\n')
    return "\n".join(out)


def command(m: Machine, serial: str = "mon:stdio") -> list[str]:
    """The QEMU argv for a machine; serial is a -serial argument (default: this terminal)."""
    argv = [m.arch.qemu, *m.arch.machine, "-m", m.mem, "-smp", str(m.smp),
            "-accel", "kvm" if m.accel == "kvm" else "tcg,thread=multi",
            "-nographic", "-no-reboot", "-kernel", str(m.kernel)]
    if m.initrd:
        argv += ["-initrd", str(m.initrd)]
    argv += ["-append", m.cmdline(),
             "-drive", f"file={m.rootfs},if=none,id=root,format=raw,"
                       f"snapshot={'off' if m.root_writable else 'on'}",
             "-device", "virtio-blk-pci,drive=root,serial=rzroot"]
    if m.backing:
        if m.backing_blkdebug:
            spec = (f"driver=raw,file.driver=blkdebug,file.config={m.backing_blkdebug},"
                    f"file.image.filename={m.backing}")
        else:
            spec = f"file={m.backing},format=raw"
        if m.backing_throttle:
            spec += f",{m.backing_throttle}"
        dev = f"virtio-blk-pci,drive=backing,serial=rzbacking,id={BACKING_ID}"
        if m.backing_features:
            dev += f",{m.backing_features}"
        if m.backing_hotplug and m.arch.pcie:
            # a device on the PCIe root complex cannot be unplugged: give it a port
            argv += ["-device", "pcie-root-port,id=rzport,chassis=1"]
            dev += ",bus=rzport"
        # discards reach the image file as holes, as trim reaches a flash partition
        argv += ["-drive", f"{spec},if=none,id=backing,cache=unsafe,discard=unmap",
                 "-device", dev]
    if m.qmp:
        argv += ["-qmp", f"unix:{m.qmp},server=on,wait=off"]
    argv += ["-serial", serial, *m.extra]
    return argv


def kvm_works(arch: Arch, kernel: Path, cache: Path | None = None) -> bool:
    """Boot the kernel under KVM with no root disk: a working KVM panics and exits
    within seconds.  The answer is cached per host kernel and QEMU."""
    if arch.name != os.uname().machine or not os.access("/dev/kvm", os.R_OK | os.W_OK):
        return False
    key = f"{os.uname().release}:{arch.qemu}"
    cache = cache or REPO / "out" / "kvm-probe.json"
    try:
        known = json.loads(cache.read_text())
    except (OSError, ValueError):
        known = {}
    if key in known:
        return bool(known[key])
    argv = [arch.qemu, *arch.machine, "-accel", "kvm", "-m", "128M", "-nographic",
            "-no-reboot", "-kernel", str(kernel), "-append",
            f"console={arch.console} panic=-1 root=/dev/nonexistent"]
    try:
        res = subprocess.run(argv, capture_output=True, timeout=20, stdin=subprocess.DEVNULL)
        ok = res.returncode == 0 and b"Kernel panic" in res.stdout
    except subprocess.TimeoutExpired:
        ok = False
    known[key] = ok
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps(known))
    return ok


def choose_accel(m: Machine, mode: str) -> str:
    """mode: 'tcg', 'kvm' or 'auto' (KVM only if the probe shows it works)."""
    if mode == "auto":
        return "kvm" if kvm_works(m.arch, m.kernel) else "tcg"
    return mode


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Vm:
    """A running QEMU whose serial console is driven through a ConsoleShell."""

    def __init__(self, machine: Machine, log_dir: Path, name: str = "vm",
                 timeout_scale: float = 1.0) -> None:
        self.machine = machine
        self.log_dir = log_dir
        self.name = name
        self.timeout_scale = timeout_scale
        self.proc: subprocess.Popen[bytes] | None = None
        self.console: ConsoleShell | None = None

    def start(self, boot_timeout: float = 180.0) -> ConsoleShell:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        port = free_port()
        serial = f"tcp:127.0.0.1:{port},server=on,wait=on"
        argv = command(self.machine, serial) + ["-monitor", "none"]
        qlog = open(self.log_dir / f"{self.name}.qemu.log", "wb")  # noqa: SIM115
        qlog.write((shlex.join(argv) + "\n").encode())
        qlog.flush()
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=qlog,
                                     stderr=subprocess.STDOUT)
        try:
            self.console = ConsoleShell.open(f"socket://127.0.0.1:{port}",
                                             self.log_dir / f"{self.name}.console.log",
                                             self.timeout_scale)
            self.console.wait_for_shell(boot_timeout)
        except ConsoleError as e:
            self.kill()
            raise QemuError(f"{self.name}: boot failed: {e}") from None
        return self.console

    @property
    def console_log(self) -> Path:
        return self.log_dir / f"{self.name}.console.log"

    def poweroff(self, timeout: float = 60.0) -> bool:
        """Power the guest off cleanly; True if QEMU exited by itself."""
        if not self.proc:
            return True
        if self.console and self.proc.poll() is None:
            with contextlib.suppress(OSError):
                self.console.send("\npoweroff\n")
        try:
            self.proc.wait(timeout * self.timeout_scale)
            clean = True
        except subprocess.TimeoutExpired:
            clean = False
        self.kill()
        return clean

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if self.console:
            self.console.close()
            self.console = None
        if self.machine.qmp:  # its own directory (booter): gone with the VM
            shutil.rmtree(self.machine.qmp.parent, ignore_errors=True)

    def __enter__(self) -> Vm:
        return self

    def __exit__(self, *exc: object) -> None:
        self.kill()


def backing_file(spec: str, workdir: Path) -> Path:
    """BACKING= is a size (a new sparse file) or the path of an existing file."""
    path = Path(spec)
    if path.exists():
        return path
    size = parse_size(spec)
    workdir.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix="backing-", suffix=".img", dir=workdir)
    os.ftruncate(fd, size)
    os.close(fd)
    return Path(name)
