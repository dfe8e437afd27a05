"""Recognise what the first bytes of a block device hold, so flash with data on it is left alone.

Magic numbers at fixed offsets (public on-disk format facts). Pure: bytes in, names out.
"""

from __future__ import annotations

PROBE_BYTES = 68 * 1024  # enough for the btrfs superblock magic at 64 KiB + 64

# (name, offset, magic)
_FILESYSTEMS = (
    ("ext2/3/4", 1080, b"\x53\xef"),
    ("xfs", 0, b"XFSB"),
    ("btrfs", 65536 + 64, b"_BHRfS_M"),
    ("f2fs", 1024, b"\x10\x20\xf5\xf2"),
    ("erofs", 1024, b"\xe2\xe1\xf5\xe0"),
    ("squashfs", 0, b"hsqs"),
    ("LUKS", 0, b"LUKS\xba\xbe"),
    ("UBI", 0, b"UBI#"),
    ("GPT partition table", 512, b"EFI PART"),
    ("FAT", 54, b"FAT1"),
    ("FAT32", 82, b"FAT32"),
    ("ISO 9660", 32769, b"CD001"),
    ("DOS partition table or boot sector", 510, b"\x55\xaa"),
)
_SWAP_MAGICS = (b"SWAPSPACE2", b"SWAP-SPACE")


def filesystem(head: bytes) -> str | None:
    """The name of the first filesystem or partition-table signature found, or None."""
    for name, offset, magic in _FILESYSTEMS:
        if head[offset : offset + len(magic)] == magic:
            return name
    return None


def is_swap(head: bytes, page_size: int = 4096) -> bool:
    """True when the first page ends with a swap area signature (for any usual page size)."""
    sizes = {page_size, 4096, 16384, 65536}
    return any(head[size - 10 : size] in _SWAP_MAGICS for size in sizes if len(head) >= size)
