"""Paths of the system being looked at: `/` on a device, another directory under --root.

Every read of /proc, /sys, /dev, /etc, /run and /var/lib goes through a Root, so a copy of a
board's files (or a fake system in the tests) can stand in for the running one.
"""

import os


class Root:
    __slots__ = ("base",)

    def __init__(self, base: str = "/") -> None:
        self.base = os.path.abspath(base)

    @property
    def is_live(self) -> bool:
        return self.base == "/"

    def host(self, path: str) -> str:
        """The path on this machine for `path` on the looked-at system."""
        if self.base == "/":
            return path
        return os.path.join(self.base, path.lstrip("/"))

    def read(self, path: str) -> str | None:
        """The text of a file, or None when it is missing or unreadable."""
        try:
            with open(self.host(path), encoding="utf-8", errors="replace") as f:
                return f.read()
        except OSError:
            return None

    def exists(self, path: str) -> bool:
        return os.path.exists(self.host(path))

    def listdir(self, path: str) -> list[str]:
        try:
            return sorted(os.listdir(self.host(path)))
        except OSError:
            return []

    def resolve(self, path: str) -> str:
        """Follow symbolic links inside the root; absolute link targets stay in it.

        Returns the canonical path on the looked-at system (what the kernel there would see).
        """
        parts = [p for p in path.split("/") if p not in ("", ".")]
        done: list[str] = []
        hops = 0
        while parts:
            part = parts.pop(0)
            if part == "..":
                if done:
                    done.pop()
                continue
            candidate = "/" + "/".join(done + [part])
            try:
                target = os.readlink(self.host(candidate))
            except OSError:
                done.append(part)
                continue
            hops += 1
            if hops > 40:
                return candidate
            if target.startswith("/"):
                done = []
            parts = [p for p in target.split("/") if p not in ("", ".")] + parts
        return "/" + "/".join(done)
