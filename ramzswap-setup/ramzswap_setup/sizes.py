"""Sizes as users write them ("25%", "64M", "65536K", "1.5G", bytes) and as we print them.

Pure functions, no imports beyond the language: this module is on the boot path.
Suffixes are binary (K = 1024), as in the kernel's own size parameters.
"""

PAGE = 4096  # sizes are rounded down to 4 KiB pages, whatever the kernel's page size

_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
SIZE_HINT = "a size such as 64M, 65536K, 1G, 25% (of RAM) or a number of bytes"


class _Setting:
    """A setting as parsed: the user's text and the values its __slots__ name, given to the
    constructor in that order.  What a dataclass would be, without importing dataclasses
    or typing on the boot path."""

    __slots__: tuple[str, ...] = ()
    text: str

    def __init__(self, *values: object) -> None:
        for name, value in zip(self.__slots__, values, strict=True):
            setattr(self, name, value)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.text!r})"


class SizeSpec(_Setting):
    """A size as configured: a percent of RAM or an absolute number of bytes."""

    __slots__ = ("text", "percent", "num", "den")
    percent: bool
    num: int  # value = num / den (percent or bytes)
    den: int

    def resolve(self, ram: int) -> int:
        """Bytes for a system with `ram` bytes of MemTotal, rounded down to 4 KiB."""
        if self.percent:
            return round_page(ram * self.num // (self.den * 100))
        return round_page(self.num // self.den)

    def describe(self) -> str:
        return f"{self.text} of RAM" if self.percent else self.text


def round_page(n: int) -> int:
    return n - n % PAGE


def _decimal(text: str) -> tuple[int, int] | None:
    """'12.5' -> (125, 10); None unless plain digits with at most one dot."""
    whole, dot, frac = text.partition(".")
    if not whole and not frac:
        return None
    if not (whole or "0").isdigit() or (dot and not frac.isdigit()):
        return None
    if not (whole or "0").isascii() or not (frac or "0").isascii():
        return None
    return int((whole or "0") + frac), 10 ** len(frac)


def _int_or_text(value: object, hint: str, what: str) -> int | str:
    """A setting as TOML gives it: a whole number (not a bool), or text, stripped."""
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 0:
            raise ValueError(f"{what} cannot be negative")
        return value
    if not isinstance(value, str):
        raise ValueError(f"expected {hint}")
    return value.strip()


def parse_size(value: object) -> SizeSpec:
    """Parse a configured size; raises ValueError with a short reason."""
    text = _int_or_text(value, SIZE_HINT, "a size")
    if isinstance(text, int):
        return SizeSpec(str(text), False, text, 1)
    if text.endswith("%"):
        number = _decimal(text[:-1].strip())
        if number is None:
            raise ValueError(f"{value!r} is not {SIZE_HINT}")
        if number[0] > 100 * 1000 * number[1]:
            raise ValueError(f"{value!r} is an absurd percentage")
        return SizeSpec(text, True, number[0], number[1])
    body = text.lower()
    for ending in ("ib", "i"):
        if len(body) > 1 and body.endswith(ending) and body[-len(ending) - 1] in "kmgt":
            body = body[: -len(ending)]
            break
    unit = body[-1:] if body[-1:] in ("k", "m", "g", "t") else ""
    number = _decimal(body[: len(body) - len(unit)])
    if number is None:
        raise ValueError(f"{value!r} is not {SIZE_HINT}")
    num, den = number
    if den != 1 and not unit:
        raise ValueError(f"{value!r}: a number of bytes must be whole")
    return SizeSpec(text, False, num * _UNITS[unit], den)


def format_size(n: int) -> str:
    """Human size: '64 MiB', '1.5 GiB', '4 KiB', '512 B'."""
    for shift, unit in ((40, "TiB"), (30, "GiB"), (20, "MiB"), (10, "KiB")):
        if n >= 1 << shift:
            value = n / (1 << shift)
            text = f"{value:.1f}".rstrip("0").rstrip(".")
            return f"{text} {unit}"
    return f"{n} B"


_NO_BUDGET = ("", "none", "unlimited")
_PERIODS = {"hour": 3600, "day": 86400, "week": 7 * 86400}
BUDGET_HINT = "a budget such as 512M/day (per hour, day or week) or none"


class Budget(_Setting):
    """A flash-write budget: `nbytes` may be written to the backing device per `period` s."""

    __slots__ = ("text", "nbytes", "period", "unit")
    nbytes: int
    period: int
    unit: str


def parse_budget(value: object) -> Budget | None:
    """'512M/day' -> Budget; 'none', 'unlimited', '' or 0 -> None (no budget)."""
    if value == 0 or (isinstance(value, str) and value.strip().lower() in _NO_BUDGET):
        return None
    if not isinstance(value, str) or "/" not in value:
        raise ValueError(f"{value!r} is not {BUDGET_HINT}")
    amount, _, unit = value.strip().partition("/")
    unit = unit.strip().lower()
    if unit not in _PERIODS:
        raise ValueError(f"{value!r}: the period must be hour, day or week")
    spec = parse_size(amount.strip())
    if spec.percent:
        raise ValueError(f"{value!r}: a budget is an amount of bytes, not a percentage")
    nbytes = spec.resolve(0)
    if nbytes < PAGE:
        raise ValueError(f"{value!r}: a budget below 4 KiB per {unit} cannot be kept; use none")
    return Budget(value.strip(), nbytes, _PERIODS[unit], unit)


_DURATIONS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
DURATION_HINT = "a duration such as 20h, 10m, 90s, 1d or a number of seconds"


def parse_duration(value: object) -> int:
    """'20h' -> 72000 seconds; whole numbers only."""
    text = _int_or_text(value, DURATION_HINT, "a duration")
    if isinstance(text, int):
        return text
    text = text.lower()
    unit = text[-1:] if text[-1:] in _DURATIONS else ""
    number = text[: len(text) - len(unit)].strip()
    if not number.isdigit() or not number.isascii():
        raise ValueError(f"{value!r} is not {DURATION_HINT}")
    return int(number) * _DURATIONS[unit]


def format_duration(seconds: int) -> str:
    """72000 -> '20h', 600 -> '10m', 90 -> '90s'."""
    for unit in ("d", "h", "m"):
        if seconds and seconds % _DURATIONS[unit] == 0:
            return f"{seconds // _DURATIONS[unit]}{unit}"
    return f"{seconds}s"
