"""Pick kernel modules and what they depend on out of an unpacked Debian kernel."""

from __future__ import annotations

import lzma
import shutil
import subprocess
from pathlib import Path

# Modules the test image needs from the distribution kernel.
ROOT_DISK = ["virtio_pci", "virtio_blk", "ext4", "crc32c_generic"]
# the compression libraries ramzswap's and zram's algorithms use, where they are modules
ROOTFS_EXTRA = ["zram", "lz4_compress", "lz4", "lz4_decompress", "lz4hc_compress", "lz4hc",
                "lzo_compress", "lzo_decompress", "lzo-rle", "lzo", "zstd_compress",
                "zstd_decompress", "zstd", "zsmalloc", "loop"]


def parse_modules_dep(text: str) -> dict[str, list[str]]:
    """modules.dep: {relative path: [relative paths it depends on]}."""
    deps: dict[str, list[str]] = {}
    for line in text.splitlines():
        if ":" not in line:
            continue
        mod, _, rest = line.partition(":")
        deps[mod.strip()] = rest.split()
    return deps


def module_name(path: str) -> str:
    """kernel/fs/ext4/ext4.ko.xz -> ext4 (dashes and underscores are one to the kernel)."""
    base = path.rsplit("/", 1)[-1]
    return base.split(".ko", 1)[0].replace("-", "_")


def load_order(deps: dict[str, list[str]], wanted: list[str]) -> list[str]:
    """Paths of the wanted modules (those that exist as modules) and their dependencies,
    each after everything it needs."""
    by_name = {module_name(p): p for p in deps}
    order: list[str] = []
    seen: set[str] = set()

    def visit(path: str) -> None:
        if path in seen:
            return
        seen.add(path)
        for dep in deps.get(path, []):
            visit(dep)
        order.append(path)

    for name in wanted:
        path = by_name.get(name.replace("-", "_"))
        if path:  # built into the kernel when absent
            visit(path)
    return order


def copy_modules(kernel_root: Path, version: str, paths: list[str], dest_root: Path) -> list[str]:
    """Copy modules into dest_root/lib/modules/VERSION, uncompressed; return their new paths."""
    src = kernel_root / "lib" / "modules" / version
    dst = dest_root / "lib" / "modules" / version
    out = []
    for rel in paths:
        plain = rel.removesuffix(".xz").removesuffix(".zst")
        target = dst / plain
        target.parent.mkdir(parents=True, exist_ok=True)
        data = (src / rel).read_bytes()
        if rel.endswith(".xz"):
            data = lzma.decompress(data)
        elif rel.endswith(".zst"):
            data = subprocess.run(["zstd", "-dc", str(src / rel)], check=True,
                                  capture_output=True).stdout
        target.write_bytes(data)
        out.append(plain)
    for meta in ("modules.builtin", "modules.builtin.modinfo", "modules.order"):
        if (src / meta).exists():
            dst.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src / meta, dst / meta)
    return out


def depmod(root: Path, version: str) -> None:
    """Write modules.dep and friends for the modules under root."""
    subprocess.run(["depmod", "-b", str(root), version], check=True, capture_output=True)
