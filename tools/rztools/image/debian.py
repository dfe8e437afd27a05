"""Fetch Debian packages with a private apt configuration.

The machine's own apt sources are never touched: every suite and foreign
architecture lives in a private apt tree under the cache directory, which is
handed to apt-get with -o options.  The archive is sometimes mid-sync, so
every network step is retried a few times before giving up.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path

MIRROR = "http://deb.debian.org/debian"
SECURITY = "http://deb.debian.org/debian-security"
KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"

# suite name -> (uri, suite) lines it needs in sources.list
SUITES: dict[str, list[tuple[str, str]]] = {
    "bookworm": [(MIRROR, "bookworm"), (MIRROR, "bookworm-updates"),
                 (SECURITY, "bookworm-security")],
    "bookworm-backports": [(MIRROR, "bookworm-backports")],
    "bullseye": [(MIRROR, "bullseye"), (MIRROR, "bullseye-updates"),
                 (SECURITY, "bullseye-security")],
    "trixie": [(MIRROR, "trixie"), (MIRROR, "trixie-updates"),
               (SECURITY, "trixie-security")],
    "trixie-backports": [(MIRROR, "trixie-backports")],
}


class AptError(RuntimeError):
    """apt failed even after retries; the message is one line naming the package or
    suite."""


# what apt says when the indexes name a file the archive no longer has
GONE_RE = re.compile(r"404\s+Not Found|Version '[^']+' for '[^']+' was not found|"
                     r"Hash Sum mismatch|File has unexpected size")


def sources_list(suites: Iterable[str]) -> str:
    """The sources.list text for the given suite names."""
    lines = []
    for name in suites:
        if name not in SUITES:
            raise AptError(f"unknown Debian suite {name!r}")
        for uri, suite in SUITES[name]:
            lines.append(f"deb [signed-by={KEYRING}] {uri} {suite} main")
    return "\n".join(lines) + "\n"


def retry(what: str, action: Callable[[], subprocess.CompletedProcess],
          tries: int = 4, pause: float = 5.0) -> subprocess.CompletedProcess:
    """Run action until it returns exit status 0, at most `tries` times."""
    last = None
    for attempt in range(1, tries + 1):
        last = action()
        if last.returncode == 0:
            return last
        if attempt < tries:
            time.sleep(pause * attempt)
    tail = (last.stderr or last.stdout or "").strip().splitlines()[-3:]
    raise AptError(f"{what} failed after {tries} tries: {' | '.join(tail)}")


class AptTree:
    """A private apt configuration for one architecture and a set of suites."""

    def __init__(self, cache: Path, arch: str, suites: Iterable[str]) -> None:
        self.arch = arch
        self.suites = sorted(set(suites))
        self.root = cache / "apt" / f"{arch}-{'+'.join(self.suites)}"
        self.debs = cache / "debs" / arch
        self._updated = False

    def options(self) -> list[str]:
        r = self.root
        opts = {
            "Dir::Etc::SourceList": r / "sources.list",
            "Dir::Etc::SourceParts": r / "sources.list.d",
            "Dir::Etc::Preferences": r / "preferences",
            "Dir::Etc::PreferencesParts": r / "preferences.d",
            "Dir::State": r / "state",
            "Dir::State::status": r / "state" / "status",
            "Dir::Cache": r / "cache",
            "APT::Architecture": self.arch,
            "APT::Architectures": self.arch,
            "Acquire::Languages": "none",
            "Acquire::Retries": "3",
            "APT::Get::AllowUnauthenticated": "false",
            "APT::Sandbox::User": "root",
        }
        out = []
        for key, value in opts.items():
            out += ["-o", f"{key}={value}"]
        return out

    def _apt(self, tool: str, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
        return subprocess.run([tool, "-q", *self.options(), *args], cwd=cwd,
                              capture_output=True, text=True)

    def update(self, max_age: float = 6 * 3600) -> None:
        """Fetch the package indexes, unless they are fresher than max_age seconds."""
        if self._updated:
            return
        for sub in ("sources.list.d", "preferences.d", "state/lists/partial",
                    "cache/archives/partial"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        (self.root / "sources.list").write_text(sources_list(self.suites))
        status = self.root / "state" / "status"
        if not status.exists():
            status.write_text("")
        stamp = self.root / "updated"
        fresh = stamp.exists() and time.time() - stamp.stat().st_mtime < max_age
        if not fresh:
            try:
                retry(f"apt-get update ({self.arch}, {', '.join(self.suites)})",
                      lambda: self._apt("apt-get", "update"))
            except AptError:
                # a point-release suite (-updates, -security) mid-sync must not stop us:
                # the base suite alone still has a complete, signed set of packages
                last = self._apt("apt-get", "update")
                failed = re.findall(r"Failed to fetch (\S+)", last.stderr)
                if last.returncode != 0 and (not failed or not all(
                        re.search(r"-(security|updates)/", url) for url in failed)):
                    raise AptError(self._update_failure(last.stderr)) from None
                print(f"    apt: ignoring indexes mid-sync: {' '.join(failed)}",
                      file=sys.stderr)
            stamp.write_text("")
        self._updated = True

    def _update_failure(self, stderr: str) -> str:
        """One line naming the suite whose index could not be had, and why."""
        for url in re.findall(r"Failed to fetch (\S+)", stderr):
            m = re.search(r"/dists/([^/]+)/", url)
            if m and not re.search(r"-(security|updates)/", url):
                why = ("mid-sync (try again later)" if re.search(
                    r"sync in progress|unexpected size|Hash Sum mismatch", stderr)
                    else "not reachable")
                return f"Debian's {m.group(1)} index for {self.arch} is {why}: {url}"
        tail = [ln for ln in stderr.strip().splitlines() if ln.strip()][-1:] or ["no output"]
        return (f"apt-get update ({self.arch}, {', '.join(self.suites)}) failed: "
                f"{tail[0]}")

    def refresh(self) -> None:
        """Fetch the indexes now: the archive moved on since they were fetched."""
        self._updated = False
        stamp = self.root / "updated"
        stamp.unlink(missing_ok=True)
        self.update()

    def package_names(self, pattern: str) -> list[str]:
        """Names of packages matching a full-name regular expression."""
        self.update()
        res = self._apt("apt-cache", "pkgnames")
        rx = re.compile(pattern)
        return sorted(n for n in res.stdout.split() if rx.fullmatch(n))

    def version(self, package: str) -> str:
        """The candidate version apt would choose for a package."""
        self.update()
        res = self._apt("apt-cache", "policy", package)
        m = re.search(r"Candidate:\s*(\S+)", res.stdout)
        if not m or m.group(1) == "(none)":
            raise AptError(f"package {package} not found for {self.arch} in "
                           f"{', '.join(self.suites)}")
        return m.group(1)

    def download(self, package: str) -> Path:
        """Download one package (cached by name and version); return the .deb path.

        When the archive moved on since the indexes were fetched (a package rebuilt
        or superseded, so the version they name is gone), the indexes are fetched
        again and the new candidate is taken."""
        self.update()
        for attempt in (1, 2):
            version = self.version(package)
            self.debs.mkdir(parents=True, exist_ok=True)
            quoted = version.replace(":", "%3a")
            for deb in self.debs.glob(f"{package}_{quoted}_*.deb"):
                return deb
            res = self._download(package, version)
            if res.returncode == 0:
                found = list(self.debs.glob(f"{package}_{quoted}_*.deb"))
                if not found:
                    raise AptError(f"apt-get download {package} left no .deb in {self.debs}")
                return found[0]
            if attempt == 1 and GONE_RE.search(res.stderr):
                print(f"    apt: {package} {version} is gone from the archive; "
                      "fetching its indexes again", file=sys.stderr)
                self.refresh()
                continue
            break
        reason = GONE_RE.search(res.stderr)
        why = "gone from the archive" if reason else "could not be downloaded"
        raise AptError(f"{package} {version} ({self.arch}, {', '.join(self.suites)}) {why}"
                       f"{': ' + reason.group(0) if reason else ''}")

    def _download(self, package: str, version: str) -> subprocess.CompletedProcess:
        try:
            return retry(f"download of {package} {version}",
                         lambda: self._apt("apt-get", "download", f"{package}={version}",
                                           cwd=self.debs))
        except AptError as e:
            return subprocess.CompletedProcess([], 1, "", str(e))


def extract(deb: Path, dest: Path) -> None:
    """Unpack a .deb's data into dest (dpkg -x)."""
    dest.mkdir(parents=True, exist_ok=True)
    res = subprocess.run(["dpkg-deb", "-x", str(deb), str(dest)], capture_output=True, text=True)
    if res.returncode != 0:
        raise AptError(f"dpkg -x {deb.name}: {res.stderr.strip()}")


def newest(names: Iterable[str], key: Callable[[str], tuple]) -> str:
    """The name with the highest key (e.g. the newest kernel ABI)."""
    names = list(names)
    if not names:
        raise AptError("no matching package")
    return max(names, key=key)


def relocate_headers(root: Path) -> None:
    """Debian's header Makefiles include /usr/src/... by absolute path: point them
    at the unpacked copy instead."""
    for mk in (root / "usr" / "src").glob("linux-headers-*/Makefile"):
        text = mk.read_text()
        fixed = re.sub(r"(?m)^include /usr/src/", f"include {root}/usr/src/", text)
        if fixed != text:
            mk.write_text(fixed)
