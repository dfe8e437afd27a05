"""Write an SD card image (sdcard.img, .gz or .xz) to a removable disk, then read it back.

    python -m rztools.board.flash out/raspberrypi4_64_ramzswap/images/sdcard.img /dev/sdb

Shows the disk's model and size and asks before writing (unless --yes).
Refuses the disk holding "/", and disks that are mounted, used or not
removable (unless --force; see rztools.board.disks). With a .bmap next to the image
and bmaptool installed, only the mapped blocks are written, by bmaptool, and
each mapped range is read back and checked against the bmap's checksums;
otherwise the whole image is written and read back, and the two SHA-256 sums
compared. Exit status: 0 written and verified, 1 aborted or failed, 2 refused
or bad input (nothing written).
"""

from __future__ import annotations

import argparse
import bz2
import contextlib
import fcntl
import gzip
import hashlib
import lzma
import os
import shutil
import stat
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, TextIO

from . import disks

CHUNK = 4 << 20
BLKFLSBUF = 0x1261  # drop the block device's buffer cache, so reads come from the medium
COMPRESSED = {".gz": gzip, ".xz": lzma, ".bz2": bz2}


class FlashError(Exception):
    """Refused or bad input: nothing was written."""


class WriteError(Exception):
    """Writing or verifying failed: the disk holds something, but not the image."""


@dataclass(frozen=True)
class Bmap:
    image_size: int
    block_size: int
    checksum: str  # hashlib name
    ranges: tuple[tuple[int, int, str], ...]  # first block, last block, hex digest

    @property
    def mapped_bytes(self) -> int:
        return sum(
            min((last + 1) * self.block_size, self.image_size) - first * self.block_size
            for first, last, _ in self.ranges
        )


def parse_bmap(text: str) -> Bmap:
    """The parts of a bmap file (format 1.x with SHA-1, 2.x with ChecksumType) we need."""
    try:
        tree = ET.fromstring(text)
        version = tree.get("version", "1.0")
        image_size = int(tree.findtext("ImageSize", "").strip())
        block_size = int(tree.findtext("BlockSize", "").strip())
        checksum = (tree.findtext("ChecksumType") or "").strip()
        if not checksum:
            checksum = "sha1" if version.startswith("1.") else "sha256"
        hashlib.new(checksum)
        ranges = []
        for r in tree.iter("Range"):
            first, _, last = r.text.strip().partition("-")
            ranges.append((int(first), int(last or first), r.get("chksum", "")))
    except (ET.ParseError, ValueError, AttributeError) as e:
        raise FlashError(f"bad bmap file: {e}") from None
    return Bmap(image_size, block_size, checksum, tuple(ranges))


def find_bmap(image: Path) -> Path | None:
    """sdcard.img.bmap for sdcard.img, sdcard.img.xz.bmap or sdcard.img.bmap for .xz."""
    candidates = [image.with_name(image.name + ".bmap")]
    if image.suffix in COMPRESSED:
        candidates.append(image.with_name(image.stem + ".bmap"))
    return next((c for c in candidates if c.is_file()), None)


@contextlib.contextmanager
def open_image(image: Path) -> Iterator[BinaryIO]:
    """The image's bytes, decompressed on the fly."""
    module = COMPRESSED.get(image.suffix)
    with module.open(image, "rb") if module else open(image, "rb") as stream:
        yield stream


def image_size(image: Path, bmap: Bmap | None) -> int | None:
    """Uncompressed size when it can be known without reading it all."""
    if bmap:
        return bmap.image_size
    if image.suffix in COMPRESSED:
        return None
    return image.stat().st_size


class Progress:
    """Bytes done: a live line on a terminal, a line every 10 % in logs."""

    def __init__(self, what: str, total: int | None, out: TextIO) -> None:
        self.what, self.total, self.out = what, total, out
        self.live = out.isatty()
        self.start = self.last = time.monotonic()
        self.done = 0
        self.step = 0

    def add(self, n: int) -> None:
        self.done += n
        now = time.monotonic()
        if self.live:
            if now - self.last >= 0.25:
                self.last = now
                self.out.write(f"\r{self.line(now)}\033[K")
                self.out.flush()
            return
        # in a log: a line every 10 %, or every 256 MiB when the total is unknown
        step = self.done * 10 // self.total if self.total else self.done >> 28
        if step > self.step and (not self.total or self.done < self.total):
            self.step = step
            self.out.write(self.line(now) + "\n")
            self.out.flush()

    def line(self, now: float) -> str:
        rate = self.done / max(now - self.start, 1e-6)
        of = f" of {disks.human(self.total)}" if self.total else ""
        pct = f" ({100 * self.done // self.total}%)" if self.total else ""
        return f"    {self.what}: {disks.human(self.done)}{of}{pct}, {disks.human(int(rate))}/s"

    def finish(self) -> None:
        line = self.line(time.monotonic()) + ", done"
        self.out.write(f"\r{line}\033[K\n" if self.live else line + "\n")
        self.out.flush()


def chunks(stream: BinaryIO) -> Iterator[bytes]:
    while block := stream.read(CHUNK):
        yield block


def drop_cache(fd: int) -> None:
    """After fsync: make the next reads come from the disk, not from memory."""
    if stat.S_ISBLK(os.fstat(fd).st_mode):
        fcntl.ioctl(fd, BLKFLSBUF, 0)
    else:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)


def write_image(image: Path, target: str, total: int | None, out: TextIO) -> tuple[int, str]:
    """Copy the whole (decompressed) image; returns bytes written and their SHA-256."""
    digest = hashlib.sha256()
    written = 0
    progress = Progress("writing", total, out)
    fd = open_target(target, os.O_WRONLY)
    try:
        with open_image(image) as src:
            for block in chunks(src):
                view = memoryview(block)
                while view:
                    n = os.write(fd, view)
                    view = view[n:]
                digest.update(block)
                written += len(block)
                progress.add(len(block))
        os.fsync(fd)
    except (OSError, EOFError, lzma.LZMAError, gzip.BadGzipFile) as e:
        raise WriteError(f"writing {target} failed after {disks.human(written)}: {e}") from None
    finally:
        os.close(fd)
    progress.finish()
    return written, digest.hexdigest()


def open_target(target: str, flags: int) -> int:
    """Block devices are opened exclusively: the kernel refuses one that is in use."""
    mode = os.stat(target).st_mode
    excl = os.O_EXCL if stat.S_ISBLK(mode) else 0
    try:
        return os.open(target, flags | excl | os.O_CLOEXEC)
    except OSError as e:
        raise WriteError(f"cannot open {target}: {e.strerror}") from None


def read_back(target: str, length: int, out: TextIO) -> str:
    digest = hashlib.sha256()
    progress = Progress("verifying", length, out)
    fd = open_target(target, os.O_RDONLY)
    try:
        drop_cache(fd)
        left = length
        while left:
            block = os.read(fd, min(CHUNK, left))
            if not block:
                raise WriteError(f"{target} ends {disks.human(left)} short of the image")
            digest.update(block)
            left -= len(block)
            progress.add(len(block))
    except OSError as e:
        raise WriteError(f"reading {target} back failed: {e}") from None
    finally:
        os.close(fd)
    progress.finish()
    return digest.hexdigest()


def verify_ranges(target: str, bmap: Bmap, out: TextIO) -> None:
    """Read back every mapped range and compare it with the bmap's checksum."""
    progress = Progress("verifying", bmap.mapped_bytes, out)
    fd = open_target(target, os.O_RDONLY)
    try:
        drop_cache(fd)
        for first, last, expected in bmap.ranges:
            start = first * bmap.block_size
            end = min((last + 1) * bmap.block_size, bmap.image_size)
            digest = hashlib.new(bmap.checksum)
            pos = start
            while pos < end:
                block = os.pread(fd, min(CHUNK, end - pos), pos)
                if not block:
                    raise WriteError(f"{target} ends inside blocks {first}-{last}")
                digest.update(block)
                pos += len(block)
                progress.add(len(block))
            if expected and digest.hexdigest() != expected:
                raise WriteError(f"blocks {first}-{last} read back differ from the image")
    except OSError as e:
        raise WriteError(f"reading {target} back failed: {e}") from None
    finally:
        os.close(fd)
    progress.finish()


def bmaptool_copy(image: Path, bmap_path: Path, target: str) -> None:
    cmd = ["bmaptool", "copy", "--bmap", str(bmap_path), str(image), target]
    if subprocess.run(cmd, stdin=subprocess.DEVNULL).returncode != 0:
        raise WriteError(f"bmaptool failed writing {target}")


@dataclass(frozen=True)
class Target:
    path: str
    description: str
    size: int


def check_target(device: str, allow_file: bool, force: bool, root: Path) -> Target:
    """Decide whether DEVICE may be written; FlashError with every reason if not."""
    try:
        st = os.stat(device)
    except OSError as e:
        raise FlashError(f"{device}: {e.strerror}") from None
    if stat.S_ISREG(st.st_mode):
        if not allow_file:
            raise FlashError(f"{device} is a regular file, not a disk")
        return Target(device, f"{device}: a regular file, {disks.human(st.st_size)}", st.st_size)
    if not stat.S_ISBLK(st.st_mode):
        raise FlashError(f"{device} is not a block device")
    name = os.path.basename(os.path.realpath(device))
    try:
        disk = disks.read_disk(root, name)
    except disks.DiskError as e:
        raise FlashError(str(e)) from None
    root_st = os.stat(root)
    root_name = disks.root_disk(root, (os.major(root_st.st_dev), os.minor(root_st.st_dev)))
    reasons = disks.refusals(disk, disks.uses(root, disk), root_name, force)
    if reasons:
        hint = "" if force or disk.name == root_name else " (--force to write it anyway)"
        raise FlashError("; ".join(reasons) + hint)
    return Target(device, disks.describe(disk), disk.size)


def confirm(prompt: str, answer: Callable[[str], str]) -> bool:
    try:
        return answer(prompt).strip().lower() == "yes"
    except EOFError:
        return False


def flash(args: argparse.Namespace, out: TextIO, answer: Callable[[str], str]) -> int:
    image = Path(args.image)
    if not image.is_file():
        raise FlashError(f"no image {image}")
    target = check_target(args.device, args.allow_file, args.force, Path(args.root))
    bmap_path = None if args.no_bmap else find_bmap(image)
    bmap = parse_bmap(bmap_path.read_text()) if bmap_path else None
    use_bmaptool = bmap is not None and shutil.which("bmaptool") is not None
    total = image_size(image, bmap)
    if total is not None and total > target.size and target.size:
        raise FlashError(
            f"the image ({disks.human(total)}) does not fit on {target.path} "
            f"({disks.human(target.size)})"
        )

    how = (
        f"bmap: {disks.human(bmap.mapped_bytes)} of {disks.human(bmap.image_size)} mapped"
        if use_bmaptool
        else "whole image"
    )
    out.write(f"image:  {image} ({how})\ntarget: {target.description}\n")
    if bmap and not use_bmaptool:
        out.write("    bmaptool is not installed: writing the whole image\n")
    if not args.yes and not confirm(
        f"Everything on {target.path} will be lost. Type 'yes' to write it: ", answer
    ):
        out.write("aborted, nothing written\n")
        return 1

    started = time.monotonic()
    if use_bmaptool:
        bmaptool_copy(image, bmap_path, target.path)
        verify_ranges(target.path, bmap, out)
    else:
        length, written_sum = write_image(image, target.path, total, out)
        if read_back(target.path, length, out) != written_sum:
            raise WriteError(f"{target.path} does not read back what was written")
    out.write(f"{target.path}: written and verified in {time.monotonic() - started:.1f}s\n")
    return 0


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"flash: {message} (see --help)\n")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = _Parser(
        prog="python -m rztools.board.flash",
        description="Write sdcard.img (.gz, .xz) to a removable disk and verify it.",
    )
    parser.add_argument("image", help="sdcard.img, sdcard.img.gz or sdcard.img.xz")
    parser.add_argument("device", help="the whole disk, e.g. /dev/sdb or /dev/mmcblk0")
    parser.add_argument("--yes", action="store_true", help="do not ask before writing")
    parser.add_argument(
        "--force", action="store_true", help="write a mounted, busy or non-removable disk"
    )
    parser.add_argument("--no-bmap", action="store_true", help="ignore the .bmap file")
    parser.add_argument(
        "--allow-file", action="store_true", help="(tests) DEVICE may be a regular file"
    )
    parser.add_argument("--root", default="/", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        return flash(args, sys.stdout, input)
    except FlashError as e:
        print(f"flash: {e}", file=sys.stderr)
        return 2
    except WriteError as e:
        print(f"flash: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("flash: interrupted", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
