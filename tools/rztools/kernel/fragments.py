"""Kernel config fragments as data: what each asks for, and several merged as
scripts/kconfig/merge_config.sh merges them (a later fragment wins)."""

from __future__ import annotations

import re

SET_RE = re.compile(r'CONFIG_([A-Za-z0-9_]+)=(y|m|n|-?\d+|0x[0-9a-fA-F]+|"(?:[^"\\]|\\.)*")')
UNSET_RE = re.compile(r"# CONFIG_([A-Za-z0-9_]+) is not set")


class FragmentError(ValueError):
    """A fragment, base config or tree that cannot be used as given."""


def parse_fragment(text: str, name: str = "fragment") -> dict[str, str]:
    """Option -> wanted value ('y', 'm', 'n', or the unquoted string/number)."""
    wanted: dict[str, str] = {}
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if m := UNSET_RE.fullmatch(line):
            wanted[m.group(1)] = "n"
        elif m := SET_RE.fullmatch(line):
            value = m.group(2)
            if len(value) >= 2 and value[0] == value[-1] == '"':
                value = value[1:-1].replace('\\"', '"').replace("\\\\", "\\")
            wanted[m.group(1)] = value
        elif line and not line.startswith("#"):
            raise FragmentError(f"{name}:{n}: not a config line: {raw}")
    return wanted


def merge(fragments: list[dict[str, str]]) -> dict[str, str]:
    merged: dict[str, str] = {}
    for fragment in fragments:
        merged.update(fragment)
    return merged


FIXUP_RE = re.compile(r"\$\(call KCONFIG_(ENABLE|DISABLE|SET)_OPT,CONFIG_(\w+)(?:,([^)]*))?\)")


def package_fixups(mk_text: str) -> dict[str, str]:
    """A Buildroot package's LINUX_CONFIG_FIXUPS as a fragment: what a kernel that
    builds the package must have, said once in the package."""
    wanted: dict[str, str] = {}
    for op, name, value in FIXUP_RE.findall(mk_text):
        wanted[name] = {"ENABLE": "y", "DISABLE": "n"}.get(op, value.strip())
    return wanted


def fragment_text(wanted: dict[str, str]) -> str:
    """A fragment file asking for exactly these values."""
    lines = []
    for name, value in wanted.items():
        if value == "n":
            lines.append(f"# CONFIG_{name} is not set")
        elif value in ("y", "m") or re.fullmatch(r"-?\d+|0x[0-9a-fA-F]+", value):
            lines.append(f"CONFIG_{name}={value}")
        else:
            escaped = value.replace("\\", "\\\\").replace('"', '\\"')
            lines.append(f'CONFIG_{name}="{escaped}"')
    return "\n".join(lines) + "\n"
