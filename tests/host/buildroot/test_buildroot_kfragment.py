"""rztools.kernel.kfragment on a tiny synthetic kernel tree: fragments merged onto a base config."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from rztools.kernel import kfragment
from rztools.kernel.kfragment import FragmentError, Problem

REPO = Path(__file__).resolve().parents[3]

KCONFIG = """
mainmenu "tiny $(SRCARCH) kernel"

config MODULES
	bool "Loadable modules"
	modules

config BLOCK
	bool "Block layer"
	default y

config SWAP
	bool "Swap"
	depends on BLOCK

config LZ4_COMPRESS
	tristate

config CRYPTO_LZ4
	tristate "LZ4 algorithm"
	select LZ4_COMPRESS

config ZRAM
	tristate "zram"
	depends on BLOCK

config ZSWAP
	bool "zswap"
	select LZ4_COMPRESS

config CMDLINE
	string "Built-in command line"
	default ""

config USB
	bool "USB"

config USB_GADGET
	bool "USB gadget"

config CDNS3
	bool "Cadence USB3"
	depends on USB if !USB_GADGET

config OLD_LZ4_NAME
	bool
	transitional

source "arch/$(SRCARCH)/Kconfig"
"""

ARCH_KCONFIG = """
config HIGHMEM
	bool "High memory"
"""


@pytest.fixture
def tree(tmp_path) -> Path:
    src = tmp_path / "linux"
    (src / "arch/arm/configs").mkdir(parents=True)
    (src / "Kconfig").write_text(KCONFIG)
    (src / "arch/arm/Kconfig").write_text(ARCH_KCONFIG)
    (src / "arch/arm/configs/tiny_defconfig").write_text("CONFIG_MODULES=y\n")
    (src / "Makefile").write_text("VERSION = 6\nPATCHLEVEL = 12\nSUBLEVEL = 3\n")
    return src


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def run_check(tree: Path, base: str, *fragments: str) -> list[Problem]:
    frags = [write(tree.parent / f"f{i}.fragment", text) for i, text in enumerate(fragments)]
    env = {"SRCARCH": "arm", "ARCH": "arm"}
    return kfragment.check(tree, env, write(tree.parent / "base.config", base), frags)


def test_fragment_that_ends_up_as_asked(tree):
    assert (
        run_check(
            tree,
            "CONFIG_MODULES=y\n",
            "CONFIG_SWAP=y\nCONFIG_CRYPTO_LZ4=y\n"
            "CONFIG_ZRAM=m\n# CONFIG_ZSWAP is not set\nCONFIG_HIGHMEM=y\n"
            'CONFIG_CMDLINE="console=ttyAMA0"\n',
        )
        == []
    )


def test_missing_option(tree):
    assert run_check(tree, "", "CONFIG_FRONTSWAP=y\n") == [Problem("FRONTSWAP", "y", None)]


def test_promptless_option_does_not_stick(tree):
    # what a fragment asking for LZ4_COMPRESS directly gets: nothing selects it
    assert run_check(tree, "", "CONFIG_LZ4_COMPRESS=y\n") == [Problem("LZ4_COMPRESS", "y", "n")]


def test_dependency_turned_off_in_base(tree):
    found = run_check(tree, "# CONFIG_BLOCK is not set\n", "CONFIG_SWAP=y\n")
    assert found == [Problem("SWAP", "y", "n")]


def test_module_without_module_support(tree):
    assert run_check(tree, "# CONFIG_MODULES is not set\n", "CONFIG_ZRAM=m\n") != []


def test_unset_but_selected(tree):
    found = run_check(tree, "CONFIG_ZSWAP=y\n", "# CONFIG_LZ4_COMPRESS is not set\n")
    assert found == [Problem("LZ4_COMPRESS", "n", "y")]


def test_later_fragment_wins(tree):
    assert run_check(tree, "", "CONFIG_SWAP=y\n", "# CONFIG_SWAP is not set\n") == []
    found = run_check(tree, "", "# CONFIG_BLOCK is not set\n", "CONFIG_BLOCK=y\nCONFIG_SWAP=y\n")
    assert found == []


def test_newer_kconfig_syntax(tree):
    # `depends on USB if !USB_GADGET`: needs USB unless USB_GADGET is on
    assert run_check(tree, "", "CONFIG_CDNS3=y\n") == [Problem("CDNS3", "y", "n")]
    assert run_check(tree, "", "CONFIG_USB=y\nCONFIG_CDNS3=y\n") == []
    assert run_check(tree, "", "CONFIG_USB_GADGET=y\nCONFIG_CDNS3=y\n") == []


def test_rewrite_keeps_line_numbers():
    text = "config M\n\tbool\n\tmodules\n\ttransitional\n\tdepends on A if B # why\n"
    out = kfragment.rewrite_kconfig(text)
    assert out.splitlines() == [
        "config M",
        "\tbool",
        "\toption modules",
        "",
        "\tdepends on (A) || !(B)",
    ]


def test_problem_lines():
    assert str(Problem("FRONTSWAP", "y", None)) == "CONFIG_FRONTSWAP: no such option in this kernel"
    assert str(Problem("SWAP", "y", "n")) == "CONFIG_SWAP: asked y, ended up n"


@pytest.mark.parametrize("text", ["CONFIG_SWAP = y", "SWAP=y", "CONFIG_SWAP", "CONFIG_SWAP=y # on"])
def test_malformed_fragment_is_refused(text):
    with pytest.raises(FragmentError, match=r"^f:1: not a config line"):
        kfragment.parse_fragment(text + "\n", "f")


def test_parse_fragment_values():
    text = '# comment\n\nCONFIG_A=y\nCONFIG_B="a \\"q\\""\nCONFIG_C=0x10\n# CONFIG_D is not set\n'
    assert kfragment.parse_fragment(text) == {"A": "y", "B": 'a "q"', "C": "0x10", "D": "n"}


def test_find_base_by_name_or_path(tree):
    configs = tree / "arch/arm/configs"
    assert kfragment.find_base(tree, "arm", "tiny_defconfig") == configs / "tiny_defconfig"
    assert kfragment.find_base(tree, "arm", "tiny") == configs / "tiny_defconfig"
    with pytest.raises(FragmentError, match="not found"):
        kfragment.find_base(tree, "arm", "huge_defconfig")


def test_kernel_env(tree):
    env = kfragment.kernel_env(tree, "aarch64")
    assert (env["ARCH"], env["SRCARCH"], env["KERNELVERSION"]) == ("arm64", "arm64", "6.12.3")
    with pytest.raises(FragmentError, match="unknown arch"):
        kfragment.kernel_env(tree, "sparc")


def cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO / "tools")}
    return subprocess.run(
        [sys.executable, "-m", "rztools.kernel.kfragment", *args], capture_output=True, text=True,
        env=env,
    )


def test_cli_reports_problems_one_line_each(tree):
    frag = write(
        tree.parent / "x.fragment", "CONFIG_SWAP=y\nCONFIG_LZ4_COMPRESS=m\nCONFIG_NOPE=y\n"
    )
    proc = cli("--srctree", str(tree), "--arch", "arm", "--base", "tiny", str(frag))
    assert proc.returncode == 1
    assert proc.stdout.splitlines() == [
        "CONFIG_LZ4_COMPRESS: asked m, ended up n",
        "CONFIG_NOPE: no such option in this kernel",
    ]
    good = write(tree.parent / "good.fragment", "CONFIG_SWAP=y\n")
    proc = cli("--srctree", str(tree), "--arch", "arm", "--base", "tiny", str(good))
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", "")


@pytest.mark.parametrize(
    "args",
    [
        ["--arch", "arm", "--base", "tiny", "x.fragment"],  # no --srctree
        ["--srctree", "{tree}", "--arch", "m68k", "--base", "tiny", "{frag}"],
        ["--srctree", "{tree}", "--arch", "arm", "--base", "nope", "{frag}"],
        ["--srctree", "{tree}", "--arch", "arm", "--base", "tiny", "/nonexistent.fragment"],
        ["--srctree", "/nonexistent", "--arch", "arm", "--base", "{frag}", "{frag}"],
    ],
)
def test_cli_bad_input_is_one_line_exit_2(tree, args):
    frag = write(tree.parent / "ok.fragment", "CONFIG_SWAP=y\n")
    proc = cli(*[a.format(tree=tree, frag=frag) for a in args])
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("kfragment: ")
