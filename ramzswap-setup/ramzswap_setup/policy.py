"""The sizing rules, as pure arithmetic on MemTotal, the configured sizes and the backing size.

- Without a backing device: disksize = 25 % of MemTotal, no memlimit unless one is configured.
- With one: disksize = the backing device's size, memlimit = min(15 % of MemTotal, disksize).
- Every size is rounded down to 4 KiB.
- Refused (exit 2): a configured disksize above 2 x RAM, or too small to hold a swap area;
  a memlimit above disksize. Warned: a memlimit above RAM/2.
A disksize that comes from the backing device is not held to 2 x RAM: the RAM it may take is
bounded by memlimit, and overflow goes to the backing device.
"""

from .errors import ConfigError
from .sizes import PAGE, SizeSpec, format_size, round_page

DEFAULT_DISKSIZE_PERCENT = 25
DEFAULT_MEMLIMIT_PERCENT = 15
MIN_DISKSIZE = 10 * PAGE  # swapon refuses an area of fewer than 10 pages


class Sizing:
    __slots__ = ("disksize", "disksize_why", "memlimit", "memlimit_why", "warnings")

    def __init__(self) -> None:
        self.disksize = 0
        self.disksize_why = ""
        self.memlimit = 0  # 0 = no limit
        self.memlimit_why = ""
        self.warnings: list[str] = []


def size(
    ram: int,
    disksize: SizeSpec | None,
    disksize_source: str,
    memlimit: SizeSpec | None,
    memlimit_source: str,
    backing_size: int | None,
    fallback: bool = False,
) -> Sizing:
    """Decide disksize and memlimit; `backing_size` is None when running RAM-only.

    `fallback` says a configured backing device could not be used: a memlimit chosen for it
    that no longer fits the RAM-only disksize is then cut down with a warning, not refused,
    because a device must boot with whatever swap it can have.
    """
    out = Sizing()
    if disksize is not None:
        out.disksize = disksize.resolve(ram)
        out.disksize_why = f"{disksize_source}: {disksize.describe()}"
        if out.disksize > 2 * ram:
            raise ConfigError(
                f"{disksize_source}: disksize: {format_size(out.disksize)} is more than "
                f"2 x RAM ({format_size(ram)} MemTotal); at most {format_size(round_page(2 * ram))}"
            )
    elif backing_size is not None:
        out.disksize = round_page(backing_size)
        out.disksize_why = "default: size of the backing device"
    else:
        out.disksize = round_page(ram * DEFAULT_DISKSIZE_PERCENT // 100)
        out.disksize_why = f"default: {DEFAULT_DISKSIZE_PERCENT}% of RAM ({format_size(ram)})"
    if out.disksize < MIN_DISKSIZE:
        raise ConfigError(
            f"{disksize_source}: disksize: {format_size(out.disksize)} is too small for a swap "
            f"area (at least {format_size(MIN_DISKSIZE)})"
        )

    if memlimit is not None:
        out.memlimit = memlimit.resolve(ram)
        out.memlimit_why = f"{memlimit_source}: {memlimit.describe()}"
        if out.memlimit > out.disksize and fallback:
            out.warnings.append(
                f"memlimit {format_size(out.memlimit)} ({memlimit_source}) cut to disksize "
                f"{format_size(out.disksize)} while running without the backing device"
            )
            out.memlimit = out.disksize
        elif out.memlimit > out.disksize:
            raise ConfigError(
                f"{memlimit_source}: memlimit: {format_size(out.memlimit)} is more than disksize "
                f"{format_size(out.disksize)} ({out.disksize_why})"
            )
    elif backing_size is not None:
        out.memlimit = min(round_page(ram * DEFAULT_MEMLIMIT_PERCENT // 100), out.disksize)
        out.memlimit_why = f"default: min({DEFAULT_MEMLIMIT_PERCENT}% of RAM, disksize)"
    else:
        out.memlimit_why = "default: none without a backing device"
    if out.memlimit > ram // 2:
        out.warnings.append(
            f"memlimit {format_size(out.memlimit)} is more than half of RAM "
            f"({format_size(ram)}): the compressed store may crowd out everything else"
        )
    return out
