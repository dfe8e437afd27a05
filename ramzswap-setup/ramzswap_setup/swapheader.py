"""The swap area header (what mkswap writes), built here so no util-linux is needed.

Layout of the first page, version 1 ("SWAPSPACE2"), in the machine's byte order:
1024 boot bytes left zero, then version, last_page, nr_badpages (32-bit each), a 16-byte UUID,
a 16-byte label, and the 10-byte magic at the very end of the page.
"""

import os
import sys

MAGIC = b"SWAPSPACE2"
_VERSION_OFFSET = 1024
_UUID_OFFSET = _VERSION_OFFSET + 12
_LABEL_OFFSET = _UUID_OFFSET + 16


def build(size: int, page_size: int, label: str = "ramzswap", uuid: bytes | None = None) -> bytes:
    """The first page of a swap area of `size` bytes."""
    pages = size // page_size
    if pages < 10:
        raise ValueError(f"a swap area needs at least 10 pages, not {pages}")
    if uuid is None:
        raw = bytearray(os.urandom(16))
        raw[6] = (raw[6] & 0x0F) | 0x40  # random UUID: version 4, RFC 4122 variant
        raw[8] = (raw[8] & 0x3F) | 0x80
        uuid = bytes(raw)
    page = bytearray(page_size)

    def u32(offset: int, value: int) -> None:
        page[offset : offset + 4] = value.to_bytes(4, sys.byteorder)

    u32(_VERSION_OFFSET, 1)
    u32(_VERSION_OFFSET + 4, pages - 1)  # last_page
    u32(_VERSION_OFFSET + 8, 0)  # nr_badpages
    page[_UUID_OFFSET : _UUID_OFFSET + 16] = uuid
    page[_LABEL_OFFSET : _LABEL_OFFSET + 16] = label.encode()[:15].ljust(16, b"\0")
    page[page_size - len(MAGIC) :] = MAGIC
    return bytes(page)


def write(path: str, size: int, page_size: int) -> None:
    """Write the header to the start of the device and make sure it reached it."""
    header = build(size, page_size)
    fd = os.open(path, os.O_WRONLY)
    try:
        os.write(fd, header)
        os.fsync(fd)
    finally:
        os.close(fd)
