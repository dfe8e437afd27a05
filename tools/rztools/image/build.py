"""Build the offline test image: a Debian kernel, an initrd that mounts an ext4
root on virtio, and a root filesystem made of Debian packages plus this repo's
overlay, helper, workload and kernel module.

    python -m rztools.image --arch x86_64 --kernel 6.1

Everything lands in out/<arch>-<kernel>/ with a manifest.json naming each file
and the QEMU command line.  Downloads are cached (~/.cache/ramzswap, or
$RAMZSWAP_CACHE); each step is redone only when its inputs changed.
"""

from __future__ import annotations

import fcntl
import gzip
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from ..arches import (
    Arch,
    KernelSeries,
    abi_key,
    kbuild_package,
    lookup,
)
from ..cache import BuildError, Stamp, cache_dir, run, tree_hash
from ..progress import note, step
from ..target import qemu
from . import debian, kmods

REPO = Path(__file__).resolve().parents[3]
TESTIMAGE = REPO / "tools" / "testimage"
# python3-zstandard: `ramzswap-setup estimate` measures zstd with it
ROOT_PACKAGES = ["busybox", "kmod", "python3", "python3-click", "python3-lz4",
                 "python3-zstandard"]
ROOTFS_MB = 320
PRUNE = ["usr/share/doc", "usr/share/man", "usr/share/info", "usr/share/locale",
         "usr/share/lintian", "usr/share/bug", "var/cache/apt", "var/lib/apt/lists"]


@dataclass
class Kernel:
    abi: str              # 6.1.0-56, 6.12.95+deb12
    release: str          # uname -r: 6.1.0-56-amd64
    root: Path            # unpacked image + headers
    build: Path           # kbuild dir for out-of-tree modules
    vmlinuz: Path


def newest_abi(series: KernelSeries, arch: Arch, names: list[str]) -> str:
    """The newest kernel ABI of the series whose image and headers are both in the
    archive: mid-sync, a new ABI's image can be there before its headers."""
    rx = re.compile(series.image_re.format(flavour=arch.flavour))
    headers = set(names)
    usable = [m.group(1) for m in map(rx.fullmatch, names)
              if m and f"linux-headers-{m.group(1)}-{arch.flavour}" in headers]
    if not usable:
        raise BuildError(f"no Linux {series.name} kernel with headers for {arch.debian} "
                         f"in {', '.join(series.suites)}")
    return max(usable, key=abi_key)


def fetch_kernel(arch: Arch, series: KernelSeries) -> Kernel:
    """Newest kernel of the series that has headers too, unpacked with its headers."""
    cache = cache_dir()
    tree = debian.AptTree(cache, arch.debian, series.suites)
    host = debian.AptTree(cache, "amd64", series.suites)
    with step(f"looking up Debian's {series.name} kernel for {arch.debian}"):
        abi = newest_abi(series, arch, tree.package_names(r"linux-(image|headers)-.*"))
    release = f"{abi}-{arch.flavour}"
    root = cache / "kernels" / release
    pkgs = [f"linux-image-{release}", f"linux-headers-{release}", f"linux-headers-{abi}-common"]
    stamp = Stamp(root, "+".join(pkgs + [tree.version(pkgs[0])]))
    if not stamp.fresh():
        with step(f"downloading and unpacking kernel {release}"):
            stamp.reset()
            for p in pkgs:
                debian.extract(tree.download(p), root)
            debian.extract(host.download(kbuild_package(abi)), root)
            # a download may have found the package rebuilt: key what was unpacked
            stamp.key = "+".join(pkgs + [tree.version(pkgs[0])])
            stamp.done()
    debian.relocate_headers(root)
    if not (root / "lib" / "modules" / release / "modules.dep").exists():
        kmods.depmod(root, release)  # Debian's postinst would have run it
    note(f"kernel {release}")
    vmlinuz = next((root / "boot").glob("vmlinuz-*"), None)
    if vmlinuz is None:
        raise BuildError(f"linux-image-{release} ({', '.join(series.suites)}) has no "
                         "/boot/vmlinuz-*: its layout changed")
    return Kernel(abi, release, root, root / "usr" / "src" / f"linux-headers-{release}", vmlinuz)


def base_rootfs(arch: Arch) -> Path:
    """Debian packages unpacked with mmdebstrap --variant=extract (cached)."""
    key = f"{arch.debian}:{','.join(ROOT_PACKAGES)}"
    path = cache_dir() / "rootfs" / f"{arch.debian}-{hashlib.sha256(key.encode()).hexdigest()[:10]}"
    stamp = Stamp(path, key)
    if stamp.fresh():
        return path / "root"
    with step(f"assembling the {arch.debian} root from Debian packages (mmdebstrap)"):
        stamp.reset()
        cmd = ["mmdebstrap", "--quiet", "--variant=extract", f"--architectures={arch.debian}",
               f"--include={','.join(ROOT_PACKAGES)}", "bookworm", str(path / "root"),
               f"deb [signed-by={debian.KEYRING}] {debian.MIRROR} bookworm main"]
        debian.retry("mmdebstrap", lambda: (shutil.rmtree(path / "root", ignore_errors=True),
                     subprocess.run(cmd, capture_output=True, text=True))[1], tries=3)
        stamp.done()
    return path / "root"


def busybox_binary(debian_arch: str, package: str) -> Path:
    """Debian's busybox (or busybox-static) for an architecture, unpacked once."""
    tree = debian.AptTree(cache_dir(), debian_arch, ["bookworm"])
    dest = cache_dir() / package / debian_arch
    stamp = Stamp(dest, tree.version(package))
    if not stamp.fresh():
        stamp.reset()
        debian.extract(tree.download(package), dest)
        stamp.done()
    return next(p for p in (dest / "bin" / "busybox", dest / "usr" / "bin" / "busybox")
                if p.exists())


def busybox_applets() -> list[str]:
    """Applet paths of Debian's busybox, listed by running the host's build of it
    (every architecture's package has the same applets)."""
    binary = busybox_binary("amd64", "busybox")
    return run([str(binary), "--list-full"], "busybox --list-full").split()


def build_copy(src: Path, build: Path, extra: str, what: str, cmd: list[str]) -> None:
    """Run @cmd in a fresh copy of @src at @build, unless @build already holds the result
    for this content of @src and @extra (the kernel or arch it is for)."""
    stamp = Stamp(build, tree_hash(src, extra=extra))
    if stamp.fresh():
        return
    with step(f"building {what}"):
        stamp.reset()
        shutil.copytree(src, build, dirs_exist_ok=True)
        run(["make", "-C", str(build), *cmd], f"{what} build")
        stamp.done()


def build_module(arch: Arch, kernel: Kernel, out: Path) -> Path | None:
    """ramzswap.ko built against the kernel's headers, or None when there is no module yet."""
    src = REPO / "module"
    if not (src / "Kbuild").exists():
        return None
    build = out / "build" / "module"
    cmd = [f"KDIR={kernel.build}", f"ARCH={arch.kbuild_arch}", "-j2"]
    if arch.cross:
        cmd.append(f"CROSS_COMPILE={arch.cross}")
    build_copy(src, build, kernel.release, f"ramzswap.ko for {kernel.release}", cmd)
    return build / "ramzswap.ko"


def build_rzscan(arch: Arch, out: Path) -> Path | None:
    src = REPO / "rzscan"
    if not (src / "Makefile").exists():
        return None
    build = out / "build" / "rzscan"
    build_copy(src, build, arch.name, "rzscan", [f"CC={arch.cross}gcc"])
    return build / "rzscan"


# ramzswap-setup/init/<name> -> its place in the image, as python-ramzswap-setup.mk has it
INIT_FILES = (("S11ramzswap-setup", "etc/init.d/S11ramzswap-setup", 0o755),
              ("ramzswap-setup.service", "usr/lib/systemd/system/ramzswap-setup.service", 0o644),
              ("ramzswap-writeback.service", "usr/lib/systemd/system/ramzswap-writeback.service",
               0o644),
              ("ramzswap-writeback.timer", "usr/lib/systemd/system/ramzswap-writeback.timer",
               0o644),
              ("crontab", "etc/cron/crontabs/root", 0o600),
              ("ramzswap.conf", "etc/ramzswap.conf", 0o644))


def install_helper(root: Path) -> None:
    """The ramzswap-setup Python package and its launcher."""
    pkg = REPO / "ramzswap-setup" / "ramzswap_setup"
    if not pkg.exists():
        return
    dest = root / "usr" / "lib" / "python3" / "dist-packages" / "ramzswap_setup"
    shutil.copytree(pkg, dest, ignore=shutil.ignore_patterns("__pycache__"))
    launcher = root / "usr" / "bin" / "ramzswap-setup"
    launcher.write_text("#!/usr/bin/python3\nimport sys\nfrom ramzswap_setup.cli import main\n"
                        "sys.exit(main())\n")
    launcher.chmod(0o755)
    # the init script, unit and default configuration, from the home the Buildroot
    # package installs them from
    init = REPO / "ramzswap-setup" / "init"
    for name, dest, mode in INIT_FILES:
        (root / dest).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(init / name, root / dest)
        (root / dest).chmod(mode)


def symlink_applets(root: Path, applets: list[str], target: str = "/bin/busybox") -> None:
    """A link to busybox for every applet path the image lacks, and /sbin/init.

    The links point into the image, not into the build machine: whether one is
    already there is asked of the link itself (lexists), since exists() would
    follow it to the host's /bin/busybox, which a new machine does not have."""
    for rel in applets:
        link = root / rel
        if os.path.lexists(link):
            continue
        if link.parent.is_symlink():  # merged /usr: bin -> usr/bin
            continue
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(target)
    init = root / "sbin" / "init"  # through the merged-/usr link when there is one
    if not os.path.lexists(init):
        init.parent.mkdir(parents=True, exist_ok=True)
        init.symlink_to(target)


def assemble_rootfs(arch: Arch, kernel: Kernel, out: Path, module: Path | None,
                    rzscan: Path | None) -> Path:
    base = base_rootfs(arch)
    root = out / "rootfs"
    with step("assembling the root filesystem"):
        if root.exists():
            shutil.rmtree(root)
        # cp -a: the base holds device nodes that copytree would try to read
        root.mkdir(parents=True)
        run(["cp", "-a", f"{base}/.", str(root)], "copying the base root")
        shutil.rmtree(root / "dev")
        for p in PRUNE:
            shutil.rmtree(root / p, ignore_errors=True)
        symlink_applets(root, busybox_applets())
        shutil.copytree(TESTIMAGE / "rootfs", root, dirs_exist_ok=True, symlinks=True)
        (root / "etc" / "inittab").write_text(
            "::sysinit:/etc/init.d/rcS\n"
            f"{arch.console}::respawn:/sbin/getty -L 0 {arch.console} vt100\n"
            "::shutdown:/etc/init.d/rcK\n"
            "::shutdown:/bin/umount -a -r\n")
        if (REPO / "overlay").exists():
            shutil.copytree(REPO / "overlay", root, dirs_exist_ok=True, symlinks=True)
        install_helper(root)
        for d in ("proc", "sys", "dev", "run", "tmp", "var/lib/ramzswap", "root"):
            (root / d).mkdir(parents=True, exist_ok=True)
        deps = kmods.parse_modules_dep(
            (kernel.root / "lib" / "modules" / kernel.release / "modules.dep").read_text())
        paths = kmods.load_order(deps, kmods.ROOT_DISK + kmods.ROOTFS_EXTRA)
        kmods.copy_modules(kernel.root, kernel.release, paths, root)
        if module:
            extra = root / "lib" / "modules" / kernel.release / "extra"
            extra.mkdir(parents=True, exist_ok=True)
            shutil.copy2(module, extra / "ramzswap.ko")
        kmods.depmod(root, kernel.release)
        if rzscan:
            shutil.copy2(rzscan, root / "usr" / "bin" / "rzscan")
        run([sys.executable, "-m", "compileall", "-q", "-j", "2",
             "-s", str(root), "-p", "/", str(root / "usr" / "lib" / "python3.11"),
             str(root / "usr" / "lib" / "python3" / "dist-packages")], "python compileall")
    image = out / "rootfs.ext4"
    with step("writing rootfs.ext4"):
        tmp = out / "rootfs.ext4.tmp"
        tmp.unlink(missing_ok=True)
        run(["mke2fs", "-q", "-t", "ext4", "-L", "rzroot", "-d", str(root), "-F",
             str(tmp), f"{ROOTFS_MB}M"], "mke2fs")
        publish(tmp, image)
    return image


def build_initrd(arch: Arch, kernel: Kernel, out: Path) -> Path:
    work = out / "build" / "initrd"
    with step("writing initrd"):
        if work.exists():
            shutil.rmtree(work)
        binary = busybox_binary(arch.debian, "busybox-static")
        (work / "bin").mkdir(parents=True)
        shutil.copy2(binary, work / "bin" / "busybox")
        for applet in ("sh", "mount", "umount", "insmod", "sleep", "cat", "mkdir",
                       "switch_root"):
            (work / "bin" / applet).symlink_to("busybox")
        shutil.copy2(TESTIMAGE / "initrd" / "init", work / "init")
        deps = kmods.parse_modules_dep(
            (kernel.root / "lib" / "modules" / kernel.release / "modules.dep").read_text())
        order = kmods.copy_modules(kernel.root, kernel.release,
                                   kmods.load_order(deps, kmods.ROOT_DISK), work)
        (work / "modules.load").write_text(
            "".join(f"{kernel.release}/{p}\n" for p in order))
        files = sorted(str(p.relative_to(work)) for p in work.rglob("*"))
        listing = ("\n".join(files) + "\n").encode()
        res = subprocess.run(["cpio", "-o", "-H", "newc", "--quiet", "-R", "0:0"],
                             input=listing, cwd=work, capture_output=True)
        if res.returncode != 0:
            raise BuildError(f"cpio failed: {res.stderr.decode().strip()}")
        initrd = out / "initrd.img"
        tmp = out / "initrd.img.tmp"
        tmp.write_bytes(gzip.compress(res.stdout, compresslevel=6))
        publish(tmp, initrd)
    return initrd


# the host modules whose code decides what goes into the image (not every tool in rztools:
# an edit to a benchmark must not rebuild everyone's image)
# the host code whose output lands in the image, relative to the rztools package
IMAGE_CODE = ("image/build.py", "image/kmods.py", "image/debian.py", "cache.py", "arches.py",
              "target/qemu.py")


def build(arch_name: str, kernel_name: str) -> Path:
    """Build (or bring up to date) out/<arch>-<kernel>/ and return its manifest path.

    Builds of one image are serialised with a lock file: several test runs and
    benchmarks share the work tree, and two builds rewriting one rootfs break both."""
    arch, series = lookup(arch_name, kernel_name)
    out = REPO / "out" / f"{arch.name}-{series.name}"
    out.mkdir(parents=True, exist_ok=True)
    with open(out.parent / f".{out.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _build(arch, series, out)


def publish(tmp: Path, final: Path) -> None:
    """Replace a file by renaming, so a QEMU still reading the old one keeps it whole."""
    os.replace(tmp, final)


def _build(arch: Arch, series: KernelSeries, out: Path) -> Path:
    kernel = fetch_kernel(arch, series)
    module = build_module(arch, kernel, out)
    rzscan = build_rzscan(arch, out)
    inputs = tree_hash(REPO / "overlay", REPO / "ramzswap-setup" / "ramzswap_setup",
                       REPO / "ramzswap-setup" / "init",
                       TESTIMAGE, *(Path(__file__).parents[1] / f for f in IMAGE_CODE),
                       extra=f"{kernel.release}:{module and tree_hash(module)}:"
                             f"{rzscan and tree_hash(rzscan)}:{','.join(ROOT_PACKAGES)}")
    manifest_path = out / "manifest.json"
    stamp = out / ".image-stamp"
    if stamp.exists() and stamp.read_text() == inputs and manifest_path.exists():
        note(f"image {out.relative_to(REPO)} is up to date")
        return manifest_path
    stamp.unlink(missing_ok=True)
    rootfs = assemble_rootfs(arch, kernel, out, module, rzscan)
    initrd = build_initrd(arch, kernel, out)
    vmlinuz = out / "vmlinuz"
    shutil.copy2(kernel.vmlinuz, out / "vmlinuz.tmp")
    publish(out / "vmlinuz.tmp", vmlinuz)
    manifest = {
        "arch": arch.name,
        "kernel_series": series.name,
        "kernel_release": kernel.release,
        "files": {"kernel": vmlinuz.name, "initrd": initrd.name, "rootfs": rootfs.name},
        "console": arch.console,
        "module": bool(module),
        "rzscan": bool(rzscan),
        "qemu": qemu.command(qemu.Machine.from_image(out, arch, kernel.release)),
    }
    manifest_path.write_text(json.dumps(manifest, indent=2) + "\n")
    stamp.write_text(inputs)
    note(f"image ready: {out.relative_to(REPO)} ({kernel.release})")
    return manifest_path
