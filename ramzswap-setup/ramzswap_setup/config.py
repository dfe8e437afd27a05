"""Settings from every source, highest first, each value remembering where it came from.

Sources: command-line options, the kernel command line (`ramzswap.<key>=`, `ramzswap=off`),
the config file (TOML, /etc/ramzswap.conf by default), defaults. A value is checked in its own
source, so a bad one is reported as "<source>: <key>: <reason>" (exit 2) before anything changes.
"""

from .errors import ConfigError
from .sizes import parse_budget, parse_duration, parse_size

TYPE_CHECKING = False  # typing is not imported at run time: this module is on the boot path
if TYPE_CHECKING:
    from typing import Any

DEFAULT_CONFIG = "/etc/ramzswap.conf"
DEFAULT_PRIORITY = 100
BACKENDS = ("auto", "ramzswap", "zram")
# Parameters of the module itself: kmod hands `ramzswap.<param>=` on the kernel command line to
# the module when it loads it, so these are not ours to refuse.
MODULE_PARAMS = ("num_devices", "disksize_kb", "memlimit_kb", "backing_swap", "comp_algorithm",
                 "comp_level")

_TRUE = ("1", "yes", "true", "on")
_FALSE = ("0", "no", "false", "off")


def _bool(raw: object) -> bool:
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and raw.strip().lower() in _TRUE + _FALSE:
        return raw.strip().lower() in _TRUE
    raise ValueError(f"{raw!r} is not yes/no (true/false, 1/0, on/off)")


def _backend(raw: object) -> str:
    if isinstance(raw, str) and raw.strip() in BACKENDS:
        return raw.strip()
    raise ValueError(f"{raw!r} is not one of {', '.join(BACKENDS)}")


def _disksize(raw: object) -> object:
    spec = parse_size(raw)
    if spec.num == 0:
        raise ValueError("disksize cannot be 0")
    return spec


def _memlimit(raw: object) -> object:
    if isinstance(raw, str) and raw.strip().lower() == "none":
        return None
    spec = parse_size(raw)
    return None if spec.num == 0 else spec


def _backing(raw: object) -> str | None:
    if not isinstance(raw, str):
        raise ValueError(f"{raw!r} is not a device path")
    text = raw.strip()
    if text.lower() in ("", "none"):
        return None
    if text.startswith("/") or text.startswith("PARTLABEL="):
        return text
    raise ValueError(f"{raw!r} is not an absolute device path (or PARTLABEL=name)")


def _priority(raw: object) -> int:
    if isinstance(raw, bool):
        raise ValueError(f"{raw!r} is not a priority")
    if isinstance(raw, str) and raw.strip().isdigit():
        raw = int(raw.strip())
    if isinstance(raw, int) and 0 <= raw <= 32767:
        return raw
    raise ValueError(f"{raw!r} is not a swap priority from 0 to 32767")


def _budget(raw: object) -> object:
    return parse_budget(raw)


def _round_size(raw: object) -> int:
    spec = parse_size(raw)
    if spec.percent:
        raise ValueError(f"{raw!r}: a round is an amount of bytes, not a percentage")
    nbytes = spec.resolve(0)
    if nbytes == 0:
        raise ValueError(f"{raw!r}: a round of 0 bytes writes nothing")
    return nbytes


def _writeback_budget(raw: object) -> object:
    budget = parse_budget(raw)
    if budget is None:
        raise ValueError(f"{raw!r}: writeback needs a budget (such as 1G/day)")
    return budget


def _algorithm(raw: object) -> str:
    if isinstance(raw, str) and raw.strip() and all(c.isalnum() or c in "-_" for c in raw.strip()):
        return raw.strip()
    raise ValueError(f"{raw!r} is not a compressor name")


def _level(raw: object) -> int:
    if isinstance(raw, str) and raw.strip().isdigit():
        raw = int(raw.strip())
    if isinstance(raw, int) and not isinstance(raw, bool) and 0 <= raw <= 1000:
        return raw
    raise ValueError(f"{raw!r} is not a compression level (0: the algorithm's default)")


# key -> (checker, default); None defaults for sizes mean "the sizing policy decides".
SCHEMA = {
    "enabled": (_bool, True),
    "backend": (_backend, "auto"),
    "disksize": (_disksize, None),
    "memlimit": (_memlimit, None),
    "backing": (_backing, None),
    "priority": (_priority, DEFAULT_PRIORITY),
    "backing_write_budget": (_budget, None),
    "force": (_bool, False),
    "algorithm": (_algorithm, "lz4"),
    "level": (_level, 0),
    # idle writeback (`writeback`, run by cron): the defaults are Android's and ChromeOS's
    "writeback_idle_age": (parse_duration, 20 * 3600),
    "writeback_interval": (parse_duration, 600),
    "writeback_round_min": (_round_size, 5 << 20),
    "writeback_round_max": (_round_size, 300 << 20),
    "writeback_budget": (_writeback_budget, parse_budget("1G/day")),
}


class Config:
    """The merged settings: value and source for every key of SCHEMA."""

    def __init__(self) -> None:
        self.values: dict[str, object] = {}
        self.sources: dict[str, str] = {}

    def get(self, key: str) -> "Any":
        return self.values[key]

    def source(self, key: str) -> str:
        return self.sources[key]

    def offer(self, key: str, value: object, source: str) -> None:
        """Set `key` unless a higher source already did (sources are offered highest first)."""
        if key not in self.values:
            self.values[key] = value
            self.sources[key] = source


def _check(source: str, key: str, raw: object) -> object:
    if key not in SCHEMA:
        known = ", ".join(SCHEMA)
        raise ConfigError(f"{source}: unknown key {key!r} (known: {known})")
    try:
        return SCHEMA[key][0](raw)
    except ValueError as e:
        raise ConfigError(f"{source}: {key}: {e}") from None


def from_options(options: dict[str, object]) -> list[tuple[str, object, str]]:
    """(key, value, source) from command-line options; None means not given."""
    out = []
    for key, raw in options.items():
        if raw is None:
            continue
        source = "option --" + key.replace("_", "-")
        out.append((key, _check(source, key, raw), source))
    return out


def from_cmdline(args: list[str]) -> list[tuple[str, object, str]]:
    """(key, value, source) from kernel arguments; the last of a repeated key wins."""
    found: dict[str, tuple[str, object, str]] = {}
    for arg in args:
        name, eq, raw = arg.partition("=")
        if name == "ramzswap":
            source = "kernel command line (ramzswap=)"
            if raw not in ("on", "off"):
                raise ConfigError(f"{source}: enabled: {raw!r} is not on or off")
            found["enabled"] = ("enabled", raw == "on", source)
            continue
        if not name.startswith("ramzswap."):
            continue
        key = name[len("ramzswap.") :].replace("-", "_")
        if key in MODULE_PARAMS:
            continue
        source = f"kernel command line ({name}=)"
        if key == "enabled" or not eq:
            hint = "use ramzswap=off or ramzswap.KEY=VALUE"
            raise ConfigError(f"{source}: unknown key {name!r} ({hint})")
        found[key] = (key, _check(source, key, raw), source)
    return list(found.values())


def _only_comments(text: str) -> bool:
    return all(not line.strip() or line.lstrip().startswith("#") for line in text.splitlines())


def from_file(path: str, host_path: str, required: bool) -> list[tuple[str, object, str]]:
    """(key, value, source) from the TOML config file; a missing default file is no error."""
    try:
        with open(host_path, encoding="utf-8") as f:
            text = f.read()
    except FileNotFoundError:
        if required:
            raise ConfigError(f"{path}: no such config file") from None
        return []
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: cannot read: {getattr(e, 'strerror', None) or e}") from None
    if _only_comments(text):  # the shipped file: no need to load the TOML parser at boot
        return []
    import tomllib

    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: not valid TOML: {e}") from None
    return [(key, _check(path, key, raw), path) for key, raw in data.items()]


def merge(*layers: list[tuple[str, object, str]]) -> Config:
    """Merge sources given highest first, then fill in the defaults."""
    config = Config()
    for layer in layers:
        for key, value, source in layer:
            config.offer(key, value, source)
    for key, (_, default) in SCHEMA.items():
        config.offer(key, default, "default")
    return config
