"""Small `key=value` state files: readable with cat and grep, parsed without importing json.

Writes go to a temporary file that is synced and renamed over the old one, so a power cut
leaves either the old or the new contents.
"""

import os


def parse(text: str) -> dict[str, str]:
    out = {}
    for line in text.splitlines():
        key, eq, value = line.partition("=")
        if eq and key.strip() and not key.lstrip().startswith("#"):
            out[key.strip()] = value.strip()
    return out


def render(values: dict[str, object]) -> str:
    return "".join(f"{key}={'' if value is None else value}\n" for key, value in values.items())


def load(path: str) -> dict[str, str] | None:
    """The values in `path`, or None when it (or its directory) does not exist."""
    try:
        with open(path, encoding="utf-8") as f:
            return parse(f.read())
    except (FileNotFoundError, NotADirectoryError):
        return None


def save(path: str, values: dict[str, object]) -> None:
    """Write atomically; raises OSError (read-only filesystem, permissions...)."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path}.tmp{os.getpid()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.write(fd, render(values).encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    try:
        dfd = os.open(os.path.dirname(path), os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dfd)
    except OSError:
        pass
    finally:
        os.close(dfd)


def remove(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        return  # already gone (contextlib is not imported: this module is on the boot path)


def as_int(values: dict[str, str], key: str, default: int = 0) -> int:
    raw = values.get(key, "")
    return int(raw) if raw.lstrip("-").isdigit() else default
