"""The tree's Config.in files under kconfiglib, with Buildroot's own symbols stubbed.

Buildroot is not needed: a small stub Kconfig defines the Buildroot symbols our
Config.in files depend on and sources our tree the way Buildroot's generated
.br2-external.in does. Our defconfigs are then loaded on top to check that every
symbol of ours they set exists and ends up with the value asked for.
"""

import shutil
from pathlib import Path

import kconfiglib
import pytest
from rztools.kernel.kfragment import environment

REPO = Path(__file__).resolve().parents[3]
DEFCONFIGS = sorted((REPO / "configs").glob("*_defconfig"))

# Buildroot symbols our Config.in files refer to, as Buildroot defines them.
BUILDROOT_STUB = """
config BR2_USE_MMU
	bool "MMU"
	default y

config BR2_LINUX_KERNEL
	bool "Linux kernel"

config BR2_PACKAGE_PYTHON3
	bool "python3"

config BR2_PACKAGE_PYTHON_CLICK
	bool "python-click"

config BR2_PACKAGE_LZ4
	bool "lz4"

menu "External options"

config BR2_EXTERNAL_RAMZSWAP_PATH
	string
	default "{tree}"

source "$BR2_EXTERNAL_RAMZSWAP_PATH/Config.in"

endmenu
"""


def load_tree(tree: Path, workdir: Path) -> kconfiglib.Kconfig:
    """Parse the tree under the stub; warnings are left in kconf.warnings."""
    stub = workdir / "Config.in.stub"
    stub.write_text(BUILDROOT_STUB.format(tree=tree))
    env = {
        "BR2_EXTERNAL_RAMZSWAP_PATH": str(tree),
        "KCONFIG_WARN_UNDEF": "y",
        "CONFIG_": "",  # Buildroot's symbols carry their BR2_ prefix themselves
    }
    with environment(env):
        return kconfiglib.Kconfig(str(stub), warn_to_stderr=False)


def package_prefixes(tree: Path) -> list[str]:
    return [
        "BR2_PACKAGE_" + d.name.upper().replace("-", "_")
        for d in sorted((tree / "package").iterdir())
        if d.is_dir()
    ]


def is_ours(name: str, prefixes: list[str]) -> bool:
    return any(name == p or name.startswith(p + "_") for p in prefixes)


def defconfig_settings(path: Path) -> dict[str, str]:
    """BR2_* symbol -> value as kconfiglib reports it ("n" for "is not set")."""
    settings = {}
    for line in path.read_text().splitlines():
        if line.startswith("# BR2_") and line.endswith(" is not set"):
            settings[line[2:].split()[0]] = "n"
        elif line.startswith("BR2_"):
            name, _, value = line.partition("=")
            settings[name] = value[1:-1] if value.startswith('"') else value
    return settings


def defconfig_problems(
    kconf: kconfiglib.Kconfig, defconfig: Path, prefixes: list[str]
) -> list[str]:
    """Symbols of ours the defconfig sets that are undefined or do not end up as asked."""
    kconf.load_config(str(defconfig))
    problems = []
    for name, wanted in defconfig_settings(defconfig).items():
        if not is_ours(name, prefixes):
            continue
        sym = kconf.syms.get(name)
        if sym is None or not sym.nodes:
            problems.append(f"{defconfig.name}: {name} is not defined by the tree")
        elif sym.str_value != wanted:
            problems.append(f"{defconfig.name}: {name}={wanted} ended up {sym.str_value!r}")
    return problems


def tree_problems(tree: Path, workdir: Path, defconfig: Path) -> list[str]:
    return defconfig_problems(load_tree(tree, workdir), defconfig, package_prefixes(tree))


@pytest.fixture
def tree_copy(tmp_path) -> Path:
    copy = tmp_path / "tree"
    for part in ("Config.in", "package", "configs"):
        src = REPO / part
        if src.is_dir():
            shutil.copytree(src, copy / part)
        else:
            copy.mkdir(exist_ok=True)
            shutil.copy(src, copy / part)
    return copy


def test_config_in_parses_without_warnings(tmp_path):
    kconf = load_tree(REPO, tmp_path)
    assert kconf.warnings == []


def test_every_package_is_sourced_and_defines_its_symbol(tmp_path):
    kconf = load_tree(REPO, tmp_path)
    for prefix in package_prefixes(REPO):
        sym = kconf.syms.get(prefix)
        assert sym is not None and sym.nodes, f"{prefix} is not defined"
        defined_in = Path(sym.nodes[0].filename)
        assert defined_in.parent.parent.name == "package"
        assert sym.type == kconfiglib.BOOL
        assert sym.nodes[0].prompt is not None, f"{prefix} has no prompt"


def test_packages_depend_on_what_they_need(tmp_path):
    kconf = load_tree(REPO, tmp_path)
    assert kconf.syms["BR2_PACKAGE_RAMZSWAP"].visibility == 0  # no kernel, no module
    kconf.syms["BR2_LINUX_KERNEL"].set_value("y")
    assert kconf.syms["BR2_PACKAGE_RAMZSWAP"].visibility == 2
    assert kconf.syms["BR2_PACKAGE_PYTHON_RAMZSWAP_SETUP"].visibility == 0  # no python3
    kconf.syms["BR2_PACKAGE_PYTHON3"].set_value("y")
    kconf.syms["BR2_PACKAGE_PYTHON_RAMZSWAP_SETUP"].set_value("y")
    assert kconf.syms["BR2_PACKAGE_PYTHON_CLICK"].str_value == "y"
    assert kconf.syms["BR2_PACKAGE_PYTHON_LZ4"].str_value == "n"
    kconf.syms["BR2_PACKAGE_PYTHON_RAMZSWAP_SETUP_ESTIMATE"].set_value("y")
    assert kconf.syms["BR2_PACKAGE_PYTHON_LZ4"].str_value == "y"
    assert kconf.syms["BR2_PACKAGE_LZ4"].str_value == "y"


@pytest.mark.parametrize("defconfig", DEFCONFIGS, ids=lambda p: p.name)
def test_defconfig_sets_only_existing_symbols_of_ours(tmp_path, defconfig):
    assert tree_problems(REPO, tmp_path, defconfig) == []
    ours = [n for n in defconfig_settings(defconfig) if is_ours(n, package_prefixes(REPO))]
    for name in ("BR2_PACKAGE_RAMZSWAP", "BR2_PACKAGE_PYTHON_RAMZSWAP_SETUP", "BR2_PACKAGE_RZSCAN"):
        assert name in ours


def test_four_boards():
    assert [p.name for p in DEFCONFIGS] == [
        "qemu_aarch64_virt_ramzswap_defconfig",
        "qemu_arm_vexpress_ramzswap_defconfig",
        "qemu_x86_64_ramzswap_defconfig",
        "raspberrypi4_64_ramzswap_defconfig",
    ]


# ---- the checks themselves catch what they are for ----


def test_undefined_dependency_is_a_warning(tree_copy, tmp_path):
    cfg = tree_copy / "package/rzscan/Config.in"
    cfg.write_text(cfg.read_text().replace("BR2_USE_MMU", "BR2_USE_MMMU"))
    kconf = load_tree(tree_copy, tmp_path)
    assert any("BR2_USE_MMMU" in w for w in kconf.warnings)


def test_misspelt_symbol_in_defconfig_is_reported(tree_copy, tmp_path):
    defconfig = tree_copy / "configs/qemu_x86_64_ramzswap_defconfig"
    text = defconfig.read_text()
    defconfig.write_text(text.replace("BR2_PACKAGE_RZSCAN=y", "BR2_PACKAGE_RZSCAN_X=y"))
    problems = tree_problems(tree_copy, tmp_path, defconfig)
    assert problems == [f"{defconfig.name}: BR2_PACKAGE_RZSCAN_X is not defined by the tree"]


def test_unmet_dependency_in_defconfig_is_reported(tree_copy, tmp_path):
    defconfig = tree_copy / "configs/qemu_x86_64_ramzswap_defconfig"
    defconfig.write_text(defconfig.read_text().replace("BR2_PACKAGE_PYTHON3=y\n", ""))
    problems = tree_problems(tree_copy, tmp_path, defconfig)
    assert f"{defconfig.name}: BR2_PACKAGE_PYTHON_RAMZSWAP_SETUP=y ended up 'n'" in problems
