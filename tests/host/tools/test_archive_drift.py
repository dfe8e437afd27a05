"""The archive moves on under the image builder: a new kernel ABI, a package rebuilt,
an index mid-sync.  The build adapts, or stops with one line naming the package and
the suite.  Each case is apt's own answer, recorded, played back to the real code."""

import importlib
import subprocess
from pathlib import Path

import pytest
from rztools.arches import ARCHES, KERNELS
from rztools.image import build as image
from rztools.image import debian

AMD64 = ARCHES["x86_64"]
SERIES = KERNELS["6.1"]

# apt-cache pkgnames, cut to the kernel packages: 6.1.0-57's image reached the
# mirror before its headers, as it does mid-sync
PKGNAMES_MIDSYNC = """linux-headers-6.1.0-55-amd64
linux-headers-6.1.0-56-amd64
linux-headers-6.1.0-56-common
linux-image-6.1.0-55-amd64
linux-image-6.1.0-56-amd64
linux-image-6.1.0-56-amd64-dbg
linux-image-6.1.0-57-amd64
linux-image-6.1.0-57-cloud-amd64
linux-image-amd64
"""
PKGNAMES_SYNCED = PKGNAMES_MIDSYNC + "linux-headers-6.1.0-57-amd64\nlinux-headers-6.1.0-57-common\n"

POLICY = """{pkg}:
  Installed: (none)
  Candidate: {version}
  Version table:
     {version} 500
        500 http://deb.debian.org/debian-security bookworm-security/main amd64 Packages
"""
NOT_FOUND_404 = (
    "E: Failed to fetch http://deb.debian.org/debian-security/pool/updates/main/l/"
    "linux-signed-amd64/{pkg}_{version}_amd64.deb  404  Not Found [IP: 151.101.2.132 80]\n")
VERSION_GONE = "E: Version '{version}' for '{pkg}' was not found\n"
MIDSYNC = (
    "W: Failed to fetch http://deb.debian.org/debian/dists/{suite}/main/binary-amd64/"
    "Packages.xz  File has unexpected size (8793420 != 8793836). Mirror sync in progress? "
    "[IP: 151.101.2.132 80]\n   Hashes of expected file:\n    - Filesize:8793836 [weak]\n"
    "E: Some index files failed to download. They have been ignored, or old ones used "
    "instead.\n")


class RecordedArchive:
    """Plays apt's recorded answers; each `apt-get update` moves to the next state of
    the archive, as fetching the indexes again would."""

    def __init__(self, states: list[dict]) -> None:
        self.states = states
        self.now = -1
        self.calls: list[tuple[str, ...]] = []

    @property
    def state(self) -> dict:
        return self.states[max(self.now, 0)]

    def __call__(self, tool: str, *args: str,
                 cwd: Path | None = None) -> subprocess.CompletedProcess:
        self.calls.append((tool, *args))
        if args[0] == "update":
            self.now = min(self.now + 1, len(self.states) - 1)
            err = self.state.get("update_error", "")
            return subprocess.CompletedProcess([], 100 if err else 0, "", err)
        if args[0] == "pkgnames":
            return subprocess.CompletedProcess([], 0, self.state["pkgnames"], "")
        if args[0] == "policy":
            version = self.state["versions"].get(args[1], "(none)")
            return subprocess.CompletedProcess(
                [], 0, POLICY.format(pkg=args[1], version=version), "")
        if args[0] == "download":
            pkg, version = args[1].split("=")
            if version in self.state.get("gone", {}).get(pkg, ()):
                err = self.state.get("gone_error", NOT_FOUND_404)
                return subprocess.CompletedProcess(
                    [], 100, "", err.format(pkg=pkg, version=version))
            (cwd / f"{pkg}_{version.replace(':', '%3a')}_amd64.deb").write_bytes(b"deb")
            return subprocess.CompletedProcess([], 0, "", "")
        raise AssertionError(f"unexpected apt call {tool} {args}")

    def updates(self) -> int:
        return sum(1 for c in self.calls if c[1] == "update")


@pytest.fixture
def archive(monkeypatch, tmp_path):
    monkeypatch.setattr(debian.time, "sleep", lambda _s: None)
    monkeypatch.setenv("RAMZSWAP_CACHE", str(tmp_path / "cache"))

    def install(states: list[dict]) -> RecordedArchive:
        rec = RecordedArchive(states)
        monkeypatch.setattr(debian.AptTree, "_apt", rec)
        return rec
    return install


def one_line(message: str) -> bool:
    return len(message.strip().splitlines()) == 1 and "Traceback" not in message


def test_the_image_follows_a_new_abi_once_its_headers_are_in():
    assert image.newest_abi(SERIES, AMD64, PKGNAMES_MIDSYNC.split()) == "6.1.0-56"
    assert image.newest_abi(SERIES, AMD64, PKGNAMES_SYNCED.split()) == "6.1.0-57"


def test_no_kernel_with_headers_stops_in_one_line_naming_the_suite():
    with pytest.raises(image.BuildError) as e:
        image.newest_abi(SERIES, AMD64, ["linux-image-6.1.0-57-amd64"])
    assert str(e.value) == "no Linux 6.1 kernel with headers for amd64 in bookworm"


def test_a_rebuilt_package_is_taken_from_indexes_fetched_again(archive, tmp_path):
    pkg = "linux-image-6.1.0-57-amd64"
    rec = archive([
        {"pkgnames": PKGNAMES_SYNCED, "versions": {pkg: "6.1.192-3"},
         "gone": {pkg: ["6.1.192-3"]}},
        {"pkgnames": PKGNAMES_SYNCED, "versions": {pkg: "6.1.192-3+b1"}},
    ])
    tree = debian.AptTree(tmp_path / "cache", "amd64", ["bookworm"])
    deb = tree.download(pkg)
    assert deb.name == f"{pkg}_6.1.192-3+b1_amd64.deb"
    assert rec.updates() == 2


@pytest.mark.parametrize("error", [NOT_FOUND_404, VERSION_GONE])
def test_a_package_gone_for_good_stops_in_one_line(archive, tmp_path, error):
    pkg = "linux-headers-6.1.0-57-common"
    state = {"pkgnames": PKGNAMES_SYNCED, "versions": {pkg: "6.1.192-3"},
             "gone": {pkg: ["6.1.192-3"]}, "gone_error": error}
    archive([state, state])
    tree = debian.AptTree(tmp_path / "cache", "amd64", ["bookworm"])
    with pytest.raises(debian.AptError) as e:
        tree.download(pkg)
    msg = str(e.value)
    assert msg.startswith(f"{pkg} 6.1.192-3 (amd64, bookworm) gone from the archive"), msg
    assert one_line(msg)


def test_a_package_missing_from_the_suite_is_named(archive, tmp_path):
    archive([{"pkgnames": PKGNAMES_SYNCED, "versions": {}}])
    tree = debian.AptTree(tmp_path / "cache", "amd64", ["bookworm"])
    with pytest.raises(debian.AptError) as e:
        tree.download("linux-kbuild-6.1")
    assert str(e.value) == "package linux-kbuild-6.1 not found for amd64 in bookworm"


def test_the_base_index_mid_sync_stops_in_one_line_naming_the_suite(archive, tmp_path):
    archive([{"update_error": MIDSYNC.format(suite="bookworm"), "pkgnames": ""}])
    tree = debian.AptTree(tmp_path / "cache", "amd64", ["bookworm"])
    with pytest.raises(debian.AptError) as e:
        tree.package_names("linux-image-.*")
    msg = str(e.value)
    assert msg.startswith("Debian's bookworm index for amd64 is mid-sync (try again later)")
    assert one_line(msg)


def test_an_updates_index_mid_sync_is_left_out(archive, tmp_path, capsys):
    archive([{"update_error": MIDSYNC.format(suite="bookworm-updates"),
              "pkgnames": PKGNAMES_SYNCED}])
    tree = debian.AptTree(tmp_path / "cache", "amd64", ["bookworm"])
    assert "linux-image-6.1.0-57-amd64" in tree.package_names("linux-image-.*")
    assert "ignoring indexes mid-sync" in capsys.readouterr().err


def test_make_image_says_it_in_one_line_and_exits_1(archive, capsys):
    archive([{"update_error": MIDSYNC.format(suite="bookworm"), "pkgnames": ""}])
    cli = importlib.import_module("rztools.image.__main__")  # what `make image` runs
    assert cli.main(["--arch", "x86_64", "--kernel", "6.1"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("image: Debian's bookworm index for amd64 is mid-sync")
    assert "Traceback" not in "\n".join(err)
