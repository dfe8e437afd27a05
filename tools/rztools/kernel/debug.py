"""A debug kernel for the module's tests, and a test image that boots it.

The kernel is Debian's linux-source (same upstream code users run), configured
small: allnoconfig, then tools/debugkernel/guest*.fragment (a QEMU guest), the
boards' fragments (what the module needs) and debug.fragment (lockdep, KASAN,
UBSAN, kmemleak, fault injection...).  Every option the fragments ask for is
checked in the resulting .config; one that did not end up as asked stops the
build in one line.  The build is cached under cache_dir()/kernels/, keyed by the
source version, the fragments and the compiler.

The image is the offline test image's root with the kernel's own modules and a
ramzswap.ko built against this kernel (image.build_module, the same build path),
booted without an initrd: everything the root disk needs is built in.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ..arches import Arch
from ..cache import BuildError, Stamp, cache_dir, run
from ..image import build as image
from ..image import debian, kmods
from ..progress import note, step
from .fragments import fragment_text, merge, package_fixups, parse_fragment
from .trees import gcc_version, locked

REPO = Path(__file__).resolve().parents[3]
FRAGMENTS = REPO / "tools" / "debugkernel"
SOURCE = ("linux-source-6.12", ("bookworm-backports",))
# the kernel image each arch boots, and the boards whose fragments it takes
BOOT_IMAGE = {"x86_64": "arch/x86/boot/bzImage", "aarch64": "arch/arm64/boot/Image"}
BOARD = {"x86_64": "qemu-x86_64", "aarch64": "qemu-aarch64-virt"}
IMAGE_NAME = {"x86_64": "bzImage", "aarch64": "Image"}


@dataclass
class DebugKernel:
    arch: Arch
    release: str
    tree: Path          # the built source tree (kbuild dir for the module)
    boot_image: Path
    config: Path
    modules: Path       # modules_install output: lib/modules/<release>


PACKAGE_MK = REPO / "package" / "ramzswap" / "ramzswap.mk"


def fragment_files(arch: Arch) -> list[Path]:
    """In merge order: a later fragment wins, as in merge_config.sh.  The package's
    fixups are not a file of their own: fragments() puts them after the boards'."""
    if arch.name not in BOARD:
        raise BuildError(f"no debug kernel for {arch.name} (only {', '.join(BOARD)})")
    return [FRAGMENTS / "guest.fragment", FRAGMENTS / f"guest-{arch.name}.fragment",
            REPO / "board" / "common" / "linux.fragment",
            REPO / "board" / BOARD[arch.name] / "linux.fragment",
            FRAGMENTS / "debug.fragment"]


def fragments(arch: Arch) -> list[tuple[str, str]]:
    """(name, text) of every fragment in merge order, the package's fixups included."""
    files = fragment_files(arch)
    texts = [(p.name, p.read_text()) for p in files]
    fixups = ("ramzswap.mk fixups", fragment_text(package_fixups(PACKAGE_MK.read_text())))
    return [*texts[:-1], fixups, texts[-1]]


def wanted_options(arch: Arch) -> dict[str, str]:
    return merge([parse_fragment(text, name) for name, text in fragments(arch)])


def not_as_asked(wanted: dict[str, str], config_text: str) -> list[str]:
    """Options of the fragments that the resolved .config does not have as asked."""
    have: dict[str, str] = {}
    for line in config_text.splitlines():
        if line.startswith("CONFIG_") and "=" in line:
            name, value = line.split("=", 1)
            if len(value) >= 2 and value[0] == value[-1] == '"':
                value = value[1:-1]
            have[name.removeprefix("CONFIG_")] = value
    bad = []
    for name, value in wanted.items():
        got = have.get(name, "n")
        if got != value and not (value == "n" and name not in have):
            bad.append(f"CONFIG_{name}={value} (got {got})")
    return bad


def make_args(arch: Arch, tree: Path) -> list[str]:
    args = ["make", "-C", str(tree), f"ARCH={arch.kbuild_arch}"]
    if arch.cross:
        args.append(f"CROSS_COMPILE={arch.cross}")
    return args


def build_kernel(arch: Arch) -> DebugKernel:
    package, suites = SOURCE
    apt = debian.AptTree(cache_dir(), "amd64", suites)
    version = apt.version(package)
    frags = fragments(arch)
    key = "|".join([package, version, arch.name, gcc_version(),
                    *(hashlib.sha256(text.encode()).hexdigest()[:12] for _, text in frags)])
    # one tree per source version and arch: a change of fragments rebuilds in place,
    # which kbuild makes incremental, instead of from a fresh unpack
    root = cache_dir() / "kernels" / f"debug-{arch.name}-{version}"
    tree = root / "src"
    with locked(root):
        stamp = Stamp(root, key)
        unpacked = root / ".unpacked"
        if stamp.fresh():
            note(f"debug kernel cached: {root}")
        else:
            note(f"building the {arch.name} debug kernel from {package} {version} "
                 "(about 20 minutes on 2 cores the first time; cached afterwards)")
            stamp.file.unlink(missing_ok=True)
            if not (unpacked.exists() and unpacked.read_text() == version):
                stamp.reset()
                _unpack(apt.download(package), tree)
                unpacked.write_text(version)
            make = make_args(arch, tree)
            with step("configuring: allnoconfig + guest, board and debug fragments"):
                run([*make, "allnoconfig"], "allnoconfig")
                files = []
                for n, (_, text) in enumerate(frags):
                    files.append(root / "fragments" / f"{n:02d}.fragment")
                    files[-1].parent.mkdir(exist_ok=True)
                    files[-1].write_text(text)
                run([str(tree / "scripts" / "kconfig" / "merge_config.sh"), "-m", "-O",
                     str(tree), str(tree / ".config"), *map(str, files)], "merge_config.sh",
                    cwd=tree, env={"ARCH": arch.kbuild_arch, "CROSS_COMPILE": arch.cross})
                run([*make, "olddefconfig"], "olddefconfig")
                bad = not_as_asked(wanted_options(arch), (tree / ".config").read_text())
                if bad:
                    raise BuildError("the debug kernel's .config is not as the fragments "
                                     f"ask: {'; '.join(bad)}")
            with step(f"building the {arch.name} debug kernel and its modules (make -j2)"):
                run([*make, "-j2", Path(BOOT_IMAGE[arch.name]).name, "modules"],
                    "debug kernel build")
            with step("installing its modules"):
                shutil.rmtree(root / "mods", ignore_errors=True)
                run([*make, f"INSTALL_MOD_PATH={root / 'mods'}", "INSTALL_MOD_STRIP=1",
                     "modules_install"], "modules_install")
            stamp.done()
    release = (tree / "include" / "config" / "kernel.release").read_text().strip()
    return DebugKernel(arch, release, tree, tree / BOOT_IMAGE[arch.name], tree / ".config",
                       root / "mods" / "lib" / "modules" / release)


def _unpack(deb: Path, tree: Path) -> None:
    with step(f"unpacking {deb.name}"), tempfile.TemporaryDirectory(dir=tree.parent) as tmp:
        debian.extract(deb, Path(tmp))
        tarballs = list((Path(tmp) / "usr" / "src").glob("linux-source-*.tar.*"))
        if not tarballs:
            raise BuildError(f"{deb.name} holds no linux-source tarball")
        tree.mkdir(parents=True)
        run(["tar", "-xf", str(tarballs[0]), "-C", str(tree), "--strip-components=1"],
            f"unpacking {tarballs[0].name}")


def build_image(kernel: DebugKernel, out: Path) -> Path:
    """out/images/ with the kernel and rootfs.ext4, as a Buildroot images/ directory
    (the target tests boot it with --images): the test image's root, with this
    kernel's modules and ramzswap.ko in place of the Debian kernel's."""
    arch = kernel.arch
    base = image.REPO / "out" / f"{arch.name}-6.1"
    image.build(arch.name, "6.1")
    images = out / "images"
    images.mkdir(parents=True, exist_ok=True)
    module = image.build_module(arch, image.Kernel(
        "debug", kernel.release, kernel.tree, kernel.tree, kernel.boot_image), out)
    with step("assembling the debug image's root"):
        root = out / "rootfs"
        if root.exists():
            shutil.rmtree(root)
        run(["cp", "-a", str(base / "rootfs"), str(root)], "copying the test image's root")
        shutil.rmtree(root / "lib" / "modules", ignore_errors=True)
        mods = root / "lib" / "modules" / kernel.release
        shutil.copytree(kernel.modules, mods, symlinks=True,
                        ignore=shutil.ignore_patterns("build", "source"))
        if module:
            (mods / "extra").mkdir(parents=True, exist_ok=True)
            shutil.copy2(module, mods / "extra" / "ramzswap.ko")
        kmods.depmod(root, kernel.release)
    with step("writing the debug image"):
        tmp = images / "rootfs.ext4.tmp"
        tmp.unlink(missing_ok=True)
        run(["mke2fs", "-q", "-t", "ext4", "-L", "rzroot", "-d", str(root), "-F", str(tmp),
             f"{image.ROOTFS_MB}M"], "mke2fs")
        image.publish(tmp, images / "rootfs.ext4")
        shutil.copy2(kernel.boot_image, images / f"{IMAGE_NAME[arch.name]}.tmp")
        image.publish(images / f"{IMAGE_NAME[arch.name]}.tmp", images / IMAGE_NAME[arch.name])
    return images


def module_text_range(kallsyms: str) -> tuple[int, int]:
    """The addresses of ramzswap's code, from /proc/kallsyms: fault injection's
    stack filter fails only allocations called from inside this range."""
    addrs = []
    for line in kallsyms.splitlines():
        parts = line.split()
        if len(parts) >= 4 and parts[3] == "[ramzswap]" and parts[1] in ("t", "T"):
            addrs.append(int(parts[0], 16))
    if not addrs or max(addrs) == 0:
        raise BuildError("no ramzswap text symbols in /proc/kallsyms (module not loaded, "
                         "or addresses hidden)")
    # the last function's size is not listed: a page past its start covers it
    return min(addrs), max(addrs) + 4096
