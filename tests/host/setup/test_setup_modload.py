"""Loading a module without exec'ing modprobe: what would be inserted, and when modprobe must
do it instead (modload), and how the real Kernel uses that (libc calls replaced)."""

import errno
import os

import pytest
from ramzswap_setup import kernel as kernel_module
from ramzswap_setup import modload
from ramzswap_setup.kernel import Kernel
from ramzswap_setup.rootfs import Root
from rzsetup_fakes import RELEASE

MODULES = f"/lib/modules/{RELEASE}"
DEP = (
    "kernel/lib/lz4/lz4_compress.ko:\n"
    "extra/ramzswap.ko: kernel/lib/lz4/lz4_compress.ko\n"
    "kernel/drivers/block/zram/zram.ko: kernel/mm/zsmalloc.ko\n"
    "kernel/mm/zsmalloc.ko:\n"
)


@pytest.fixture
def modules(system):
    system.write(f"{MODULES}/modules.dep", DEP)
    system.write(f"{MODULES}/modules.softdep", "# depmod\nsoftdep ramzswap pre: lz4_compress\n")
    system.write("/lib/modprobe.d/aliases.conf", "options snd-pcsp index=-2\nalias net-pf-3 off\n")
    return system


def plan(system, name="ramzswap"):
    return modload.plan(Root(str(system.root)), RELEASE, name)


def path(system, rel: str) -> str:
    return str(system.path(f"{MODULES}/{rel}"))


def test_dependencies_first_with_their_kernel_command_line_parameters(modules):
    modules.cmdline('root=/dev/vda ramzswap.disksize_kb=8192 ramzswap.backing_swap="/dev/a b" '
                    "ramzswap=off lz4-compress.x=1 ramzswap.flag zram.num_devices=2")  # fmt: skip
    assert plan(modules) == [
        (path(modules, "kernel/lib/lz4/lz4_compress.ko"), "x=1"),
        (path(modules, "extra/ramzswap.ko"), 'disksize_kb=8192 backing_swap="/dev/a b" flag'),
    ]
    assert plan(modules, "zram") == [
        (path(modules, "kernel/mm/zsmalloc.ko"), ""),
        (path(modules, "kernel/drivers/block/zram/zram.ko"), "num_devices=2"),
    ]


def test_modules_loaded_already_are_skipped(modules):
    modules.write("/sys/module/lz4_compress/initstate", "live\n")
    assert plan(modules) == [(path(modules, "extra/ramzswap.ko"), "")]
    modules.write("/sys/module/ramzswap/initstate", "live\n")
    assert plan(modules) == []


def test_soft_dependencies_come_before_and_after(modules):
    modules.write(f"{MODULES}/modules.softdep", "softdep zram pre: lz4_compress post: ramzswap\n")
    order = [p.rpartition("/")[2] for p, _ in plan(modules, "zram")]
    assert order == ["lz4_compress.ko", "zsmalloc.ko", "zram.ko", "ramzswap.ko"]


def test_absolute_paths_in_modules_dep_are_kept(modules):
    modules.write(f"{MODULES}/modules.dep", f"{MODULES}/extra/ramzswap.ko:\n")
    modules.write(f"{MODULES}/modules.softdep", "")
    assert plan(modules) == [(path(modules, "extra/ramzswap.ko"), "")]


@pytest.mark.parametrize(
    "why",
    ["no index", "not in the index", "compressed", "options", "install", "blacklist",
     "config softdep", "alias softdep", "unknown softdep"],
)  # fmt: skip
def test_left_to_modprobe_when_it_is_not_plain(modules, why):
    if why == "no index":
        modules.path(f"{MODULES}/modules.dep").unlink()
    elif why == "not in the index":
        modules.write(f"{MODULES}/modules.dep", "kernel/lib/lz4/lz4_compress.ko:\n")
    elif why == "compressed":
        modules.write(f"{MODULES}/modules.dep", DEP.replace("compress.ko", "compress.ko.xz"))
    elif why == "options":
        modules.write("/etc/modprobe.d/local.conf", "options ramzswap num_devices=2\n")
    elif why == "install":
        modules.write("/run/modprobe.d/x.conf", "install lz4-compress /bin/true\n")
    elif why == "blacklist":
        modules.write("/usr/lib/modprobe.d/x.conf", "# nothing\nblacklist ramzswap\n")
    elif why == "config softdep":
        modules.write("/etc/modprobe.d/x.conf", "softdep ramzswap pre: zram\n")
    elif why == "alias softdep":
        modules.write(f"{MODULES}/modules.softdep", "softdep ramzswap pre: crypto-lz4\n")
    elif why == "unknown softdep":
        modules.write(f"{MODULES}/modules.softdep", "softdep ramzswap platform: lz4\n")
    assert plan(modules) is None


def test_configuration_that_is_not_about_these_modules_does_not_matter(modules):
    modules.write("/etc/modprobe.d/other.conf", "options ramzswapx a=1\nblacklist zram\n")
    modules.write("/etc/modprobe.d/ramzswap.conf.disabled", "options ramzswap num_devices=2\n")
    assert plan(modules) is not None


# -- the real Kernel: inserts itself, or runs modprobe ----------------------------------------
class Live:
    """Kernel().load_module with the module index, finit_module(2) and modprobe replaced."""

    def __init__(self, tmp_path) -> None:
        (tmp_path / "lz4_compress.ko").write_bytes(b"lz4 image")
        (tmp_path / "ramzswap.ko").write_bytes(b"ramzswap image")
        self.steps: list | None = [
            (str(tmp_path / "lz4_compress.ko"), ""),
            (str(tmp_path / "ramzswap.ko"), "num_devices=1"),
        ]
        self.answers: list[int] = []  # errno of the next finit_module calls (0 after)
        self.calls: list = []

    def finit_module(self, fd: int, params: str) -> int:
        self.calls.append((os.read(fd, 100), params))
        return self.answers.pop(0) if self.answers else 0

    def load(self) -> int:
        self.calls.clear()
        return Kernel().load_module("ramzswap")


@pytest.fixture
def live(monkeypatch, tmp_path) -> Live:
    from ramzswap_setup import libc

    live = Live(tmp_path)
    monkeypatch.setattr(modload, "plan", lambda root, release, name: live.steps)
    monkeypatch.setattr(libc, "finit_module", live.finit_module)
    monkeypatch.setattr(kernel_module, "_run", lambda argv: live.calls.append(argv) or 0)
    return live


def test_plain_modules_are_inserted_without_modprobe(live):
    assert live.load() == 0
    assert live.calls == [(b"lz4 image", ""), (b"ramzswap image", "num_devices=1")]


def test_a_module_loaded_meanwhile_is_no_failure(live):
    live.answers = [errno.EEXIST]
    assert live.load() == 0
    assert live.calls == [(b"lz4 image", ""), (b"ramzswap image", "num_devices=1")]


def test_modprobe_loads_what_is_not_plain_and_explains_what_fails(live):
    steps = live.steps
    live.steps = None
    assert live.load() == 0
    assert live.calls == [["modprobe", "ramzswap"]]
    live.steps = [("/nonexistent/ramzswap.ko", "")]
    assert live.load() == 0
    assert live.calls == [["modprobe", "ramzswap"]]
    live.steps, live.answers = steps, [0, errno.ENOEXEC]  # kmod says what is wrong, again
    assert live.load() == 0
    assert live.calls == [(b"lz4 image", ""), (b"ramzswap image", "num_devices=1"),
                          ["modprobe", "ramzswap"]]  # fmt: skip
