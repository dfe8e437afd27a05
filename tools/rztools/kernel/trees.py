"""Kernel build trees to compile the module against, fetched from Debian.

Two kinds, both cached under cache_dir()/kernels/:

* a Debian kernel's headers (linux-headers-<abi>-<flavour> + -common and the
  host's linux-kbuild), unpacked into headers-<release>/;
* the newest linux-source-* in the archive, unpacked into linux-source-<version>/,
  configured with x86_64 defconfig and `make modules_prepare`d.  That takes
  minutes once; later runs reuse it.  Such a tree has no Module.symvers, so
  modules built against it need KBUILD_MODPOST_WARN=1 (compile-only check).

A file lock next to each tree keeps two runs from preparing it at once.
"""

from __future__ import annotations

import fcntl
import functools
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from ..arches import ARCHES, Arch, abi_key, kbuild_package
from ..cache import BuildError, Stamp, cache_dir, run
from ..image import debian
from ..progress import note, step

SOURCE_SUITES = ("trixie", "trixie-backports")
SOURCE_ARCH = ARCHES["x86_64"]


@dataclass(frozen=True)
class HeaderSpec:
    """A Debian kernel series whose headers the module is built against."""

    series: str                  # 5.10, 6.1, 6.12
    arch: Arch
    suites: tuple[str, ...]
    abi_re: str                  # full match of the ABI part of the package name
    make_vars: tuple[str, ...] = ()
    oldest: bool = False         # the oldest ABI the suites list instead of the newest


@dataclass
class KernelTree:
    """A kernel tree ready for out-of-tree module builds."""

    series: str                  # 6.1, 7.3
    arch: Arch
    release: str                 # 6.1.0-56-amd64, 7.3.4-1~bpo13+1
    kdir: Path
    make_vars: list[str] = field(default_factory=list)
    has_symvers: bool = True     # False: modpost cannot resolve symbols

    def make_args(self) -> list[str]:
        args = [f"KDIR={self.kdir}", f"ARCH={self.arch.kbuild_arch}"]
        if self.arch.cross:
            args.append(f"CROSS_COMPILE={self.arch.cross}")
        if not self.has_symvers:
            args.append("KBUILD_MODPOST_WARN=1")
        return args + self.make_vars


@contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on path.lock while preparing path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def headers(spec: HeaderSpec) -> KernelTree:
    """The newest (or oldest) headers of the series for the spec's arch, unpacked (cached)."""
    cache = cache_dir()
    arch = spec.arch
    tree = debian.AptTree(cache, arch.debian, spec.suites)
    host = debian.AptTree(cache, "amd64", spec.suites)
    rx = rf"linux-headers-({spec.abi_re})-{re.escape(arch.flavour)}"
    with step(f"looking up Debian's {spec.series} headers for {arch.debian}"):
        names = tree.package_names(rx)
    if not names:
        raise BuildError(f"no {spec.series} headers for {arch.debian} in {', '.join(spec.suites)}")
    pick = min if spec.oldest else max
    abi = pick((re.fullmatch(rx, n).group(1) for n in names), key=abi_key)
    release = f"{abi}-{arch.flavour}"
    pkgs = [f"linux-headers-{release}", f"linux-headers-{abi}-common"]
    kbuild = kbuild_package(abi)
    root = cache / "kernels" / f"headers-{release}"
    with locked(root):
        stamp = Stamp(root, "+".join(pkgs + [kbuild, tree.version(pkgs[0])]))
        if not stamp.fresh():
            with step(f"downloading and unpacking headers {release}"):
                stamp.reset()
                for p in pkgs:
                    debian.extract(tree.download(p), root)
                debian.extract(host.download(kbuild), root)
                debian.relocate_headers(root)
                stamp.done()
    kdir = root / "usr" / "src" / f"linux-headers-{release}"
    return KernelTree(spec.series, arch, release, kdir, list(spec.make_vars))


def newest_source() -> tuple[str, str]:
    """(package, version) of the newest linux-source-X.Y in SOURCE_SUITES."""
    tree = debian.AptTree(cache_dir(), "amd64", SOURCE_SUITES)
    with step(f"looking up the newest linux-source in {', '.join(SOURCE_SUITES)}"):
        names = tree.package_names(r"linux-source-\d+\.\d+")
    if not names:
        raise BuildError(f"no linux-source-* package in {', '.join(SOURCE_SUITES)}")
    best = max(names, key=lambda n: abi_key(n.removeprefix("linux-source-")))
    return best, tree.version(best)


def gcc_version() -> str:
    res = subprocess.run(["gcc", "--version"], capture_output=True, text=True)
    return res.stdout.splitlines()[0] if res.returncode == 0 else "no gcc"


# crypto options whose libraries (lib/lz4, lib/lzo, lib/zstd) ramzswap's backends use
SOURCE_COMPRESSORS = ("CRYPTO_LZ4", "CRYPTO_LZ4HC", "CRYPTO_LZO", "CRYPTO_ZSTD")


@functools.cache
def source() -> KernelTree:
    """The newest linux-source tree, configured and modules_prepare'd (cached)."""
    package, version = newest_source()
    series = package.removeprefix("linux-source-")
    kernels = cache_dir() / "kernels"
    root = kernels / f"linux-source-{version}"
    with locked(root):
        stamp = Stamp(root, f"{package}={version} defconfig {gcc_version()}")
        if not stamp.fresh():
            note(f"preparing {package} {version} once: unpack, defconfig, modules_prepare "
                 "(several minutes; cached afterwards)")
            _prepare_source(package, version, root)
            stamp.done()
            _prune_sources(kernels, keep=root)
        _enable_compressors(root)
    return KernelTree(series, SOURCE_ARCH, version, root, has_symvers=False)


def _prepare_source(package: str, version: str, root: Path) -> None:
    tree = debian.AptTree(cache_dir(), "amd64", SOURCE_SUITES)
    deb = tree.download(package)
    Stamp(root, "").reset()
    with step(f"unpacking {package} {version}"), \
            tempfile.TemporaryDirectory(dir=root.parent) as tmp:
        debian.extract(deb, Path(tmp))
        tarballs = list((Path(tmp) / "usr" / "src").glob("linux-source-*.tar.*"))
        if not tarballs:
            raise BuildError(f"{deb.name} holds no linux-source tarball")
        run(["tar", "-xf", str(tarballs[0]), "-C", str(root), "--strip-components=1"],
            f"unpacking {tarballs[0].name}")
    make = ["make", "-C", str(root), f"ARCH={SOURCE_ARCH.kbuild_arch}"]
    with step(f"{package}: make defconfig"):
        run([*make, "defconfig"], f"{package} defconfig")
    with step(f"{package}: make modules_prepare"):
        run([*make, "-j2", "modules_prepare"], f"{package} modules_prepare")


def _enable_compressors(root: Path) -> None:
    """Every library the module has a backend for, so that each is built against this
    tree too.  They have no prompts: the crypto options select them, as the package's
    LINUX_CONFIG_FIXUPS do.  Done once on top of the prepared tree (its own marker)."""
    marker = root / ".rz-compressors"
    key = ",".join(SOURCE_COMPRESSORS)
    if marker.exists() and marker.read_text() == key:
        return
    make = ["make", "-C", str(root), f"ARCH={SOURCE_ARCH.kbuild_arch}"]
    with step("enabling the compressors' libraries, then modules_prepare again"):
        run([str(root / "scripts" / "config"), "--file", str(root / ".config"),
             *(arg for opt in SOURCE_COMPRESSORS for arg in ("--enable", opt))],
            "scripts/config")
        run([*make, "olddefconfig"], "olddefconfig")
        run([*make, "-j2", "modules_prepare"], "modules_prepare")
    marker.write_text(key)


def _prune_sources(kernels: Path, keep: Path) -> None:
    """Drop source trees of older versions: each is well over a gigabyte."""
    for old in kernels.glob("linux-source-*"):
        if old.is_dir() and old != keep:
            note(f"removing the outdated source tree {old.name}")
            shutil.rmtree(old, ignore_errors=True)
            old.with_name(old.name + ".lock").unlink(missing_ok=True)
