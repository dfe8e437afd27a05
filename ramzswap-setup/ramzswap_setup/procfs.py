"""Parsers for the /proc files the helper reads. Pure: text in, values out."""


def _unescape(field: str) -> str:
    """/proc escapes space, tab, newline and backslash in paths as \\ooo octal."""
    if "\\" not in field:
        return field
    out = []
    i = 0
    while i < len(field):
        chunk = field[i + 1 : i + 4]
        if field[i] == "\\" and len(chunk) == 3 and all(c in "01234567" for c in chunk):
            out.append(chr(int(chunk, 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def mem_total(meminfo: str) -> int:
    """MemTotal in bytes from /proc/meminfo; ValueError if it is not there."""
    for line in meminfo.splitlines():
        name, _, rest = line.partition(":")
        if name == "MemTotal":
            fields = rest.split()
            if fields and fields[0].isdigit():
                scale = 1024 if len(fields) > 1 and fields[1] == "kB" else 1
                return int(fields[0]) * scale
    raise ValueError("no MemTotal line in /proc/meminfo")


def kernel_args(cmdline: str) -> list[str]:
    """Split /proc/cmdline like the kernel does: blanks separate, double quotes group."""
    args: list[str] = []
    current: list[str] = []
    quoted = False
    started = False
    for ch in cmdline:
        if ch == '"':
            quoted = not quoted
            started = True
        elif ch.isspace() and not quoted:
            if started:
                args.append("".join(current))
            current, started = [], False
        else:
            current.append(ch)
            started = True
    if started:
        args.append("".join(current))
    return args


class SwapEntry:
    __slots__ = ("filename", "kind", "size", "used", "priority")

    def __init__(self, filename: str, kind: str, size: int, used: int, priority: int) -> None:
        self.filename = filename
        self.kind = kind
        self.size = size  # bytes
        self.used = used  # bytes
        self.priority = priority


def swaps(text: str) -> list[SwapEntry]:
    """Entries of /proc/swaps (sizes converted from KiB to bytes)."""
    entries = []
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 5:
            continue
        try:
            size, used, prio = int(fields[2]), int(fields[3]), int(fields[4])
        except ValueError:
            continue
        entries.append(SwapEntry(_unescape(fields[0]), fields[1], size * 1024, used * 1024, prio))
    return entries


class Mount:
    __slots__ = ("dev", "mountpoint", "fstype", "source")

    def __init__(self, dev: tuple[int, int] | None, mountpoint: str, fstype: str, source: str):
        self.dev = dev
        self.mountpoint = mountpoint
        self.fstype = fstype
        self.source = source


def mountinfo(text: str) -> list[Mount]:
    """Entries of /proc/self/mountinfo: device number, mount point, type and source."""
    mounts = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 7 or "-" not in fields[6:]:
            continue
        sep = fields.index("-", 6)
        major, _, minor = fields[2].partition(":")
        dev = (int(major), int(minor)) if major.isdigit() and minor.isdigit() else None
        fstype = fields[sep + 1] if len(fields) > sep + 1 else ""
        source = _unescape(fields[sep + 2]) if len(fields) > sep + 2 else ""
        mounts.append(Mount(dev, _unescape(fields[4]), fstype, source))
    return mounts


def stats_lines(text: str) -> dict[str, int]:
    """`name value` lines (the module's stats file) to a dict; other lines are skipped."""
    out = {}
    for line in text.splitlines():
        fields = line.split()
        if len(fields) == 2 and fields[1].lstrip("-").isdigit():
            out[fields[0]] = int(fields[1])
    return out


def stats_words(text: str) -> dict[str, str]:
    """The `name word` lines of the module's stats file (comp_algorithm lz4, backing_state
    failed): what stats_lines skips."""
    out = {}
    for line in text.splitlines():
        fields = line.split()
        if len(fields) == 2 and not fields[1].lstrip("-").isdigit():
            out[fields[0]] = fields[1]
    return out


def columns(text: str, names: tuple[str, ...]) -> dict[str, int]:
    """A one-line file of numbers in known order (zram's mm_stat, io_stat, bd_stat)."""
    values = text.split()
    return {name: int(v) for name, v in zip(names, values, strict=False) if v.lstrip("-").isdigit()}
