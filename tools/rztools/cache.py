"""Shared basics of the build steps: the download cache, stamps that say a step is
done for given inputs, and running a command so that its failure names the step."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path


class BuildError(RuntimeError):
    """A build step failed; the message says which and why."""


def cache_dir() -> Path:
    return Path(os.environ.get("RAMZSWAP_CACHE", Path.home() / ".cache" / "ramzswap"))


def tree_hash(*paths: Path, extra: str = "") -> str:
    """A hash of the names and contents of every file under paths."""
    h = hashlib.sha256(extra.encode())
    skip = {"__pycache__", ".pytest_cache", ".hypothesis"}
    for top in paths:
        if not top.exists():
            h.update(f"missing:{top}".encode())
            continue
        files = [top] if top.is_file() else sorted(
            p for p in top.rglob("*")
            if p.is_file() and not skip.intersection(p.parts)
            and not p.name.endswith((".o", ".ko", ".cmd", ".mod", ".mod.c", ".so")))
        for f in files:
            h.update(str(f.relative_to(top.parent)).encode())
            h.update(oct(f.stat().st_mode & 0o111).encode())
            h.update(f.read_bytes())
    return h.hexdigest()[:16]


def run(cmd: list[str], what: str, cwd: Path | None = None,
        env: dict[str, str] | None = None) -> str:
    res = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True,
                         env={**os.environ, **(env or {})})
    if res.returncode != 0:
        tail = "\n".join((res.stdout + res.stderr).strip().splitlines()[-20:])
        raise BuildError(f"{what} failed (exit {res.returncode}):\n{tail}")
    return res.stdout


class Stamp:
    """A directory whose content is valid for one key."""

    def __init__(self, path: Path, key: str) -> None:
        self.path, self.key = path, key
        self.file = path / ".stamp"

    def fresh(self) -> bool:
        return self.file.exists() and self.file.read_text() == self.key

    def reset(self) -> None:
        if self.path.exists():
            shutil.rmtree(self.path)
        self.path.mkdir(parents=True)

    def done(self) -> None:
        self.file.write_text(self.key)
