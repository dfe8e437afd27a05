"""The Buildroot side of the tree without Buildroot: defconfig paths, package recipes, boards."""

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from rztools.kernel.kfragment import parse_fragment

REPO = Path(__file__).resolve().parents[3]
EXTERNAL = "$(BR2_EXTERNAL_RAMZSWAP_PATH)"
DEFCONFIGS = sorted((REPO / "configs").glob("*_defconfig"))
PACKAGES = sorted(d for d in (REPO / "package").iterdir() if d.is_dir())
ASSIGNMENT = re.compile(r"^([A-Z0-9_]+)\s*(\+=|:=|=)\s*(.*)$")


def settings(defconfig: Path) -> dict[str, str]:
    out = {}
    for line in defconfig.read_text().splitlines():
        if line.startswith("BR2_"):
            name, _, value = line.partition("=")
            out[name] = value.strip('"')
    return out


def external_paths(value: str) -> list[Path]:
    """Paths into the tree named in a value, $(BR2_EXTERNAL_RAMZSWAP_PATH) resolved."""
    return [
        REPO / word[len(EXTERNAL) :].lstrip("/")
        for word in value.split()
        if word.startswith(EXTERNAL)
    ]


def mk_variables(mk: Path) -> dict[str, str]:
    """Top-level `VAR = value` assignments of a package .mk (continuations joined)."""
    text = mk.read_text().replace("\\\n", " ")
    out: dict[str, str] = {}
    in_define = False
    for line in text.splitlines():
        if line.startswith("define "):
            in_define = True
        elif line.startswith("endef"):
            in_define = False
        elif not in_define and (m := ASSIGNMENT.match(line)):
            name, op, value = m.groups()
            out[name] = (out.get(name, "") + " " + value).strip() if op == "+=" else value
    return out


def expand(value: str, variables: dict[str, str]) -> str:
    for _ in range(10):
        new = re.sub(r"\$\(([A-Z0-9_]+)\)", lambda m: variables.get(m.group(1), m.group(0)), value)
        if new == value:
            break
        value = new
    return value


def mk_external_paths(mk: Path) -> list[Path]:
    """Every path into the tree that a .mk names, in assignments and recipes alike."""
    variables = mk_variables(mk)
    variables.pop("BR2_EXTERNAL_RAMZSWAP_PATH", None)
    text = expand(mk.read_text().replace("\\\n", " "), variables)
    words = re.findall(re.escape(EXTERNAL) + r"[^\s,)]*", text)
    return [REPO / w[len(EXTERNAL) :].lstrip("/") for w in words]


# ---- defconfigs ----


@pytest.mark.parametrize("defconfig", DEFCONFIGS, ids=lambda p: p.name)
def test_every_path_a_defconfig_names_exists(defconfig):
    named = [p for value in settings(defconfig).values() for p in external_paths(value)]
    assert named, "a defconfig of ours names files of the tree"
    for path in named:
        assert path.exists(), f"{defconfig.name} names {path}, which does not exist"


@pytest.mark.parametrize("defconfig", DEFCONFIGS, ids=lambda p: p.name)
def test_defconfig_follows_the_tree_rules(defconfig):
    s = settings(defconfig)
    assert s["BR2_DOWNLOAD_FORCE_CHECK_HASHES"] == "y"
    assert s["BR2_ROOTFS_OVERLAY"] == f"{EXTERNAL}/overlay"
    assert s["BR2_ROOTFS_POST_BUILD_SCRIPT"] == f"{EXTERNAL}/board/common/post-build.sh"
    assert s["BR2_ROOTFS_POST_IMAGE_SCRIPT"] == f"{EXTERNAL}/board/common/post-image.sh"
    assert s["BR2_TARGET_GENERIC_GETTY_PORT"].startswith("tty")
    board = s["BR2_ROOTFS_POST_SCRIPT_ARGS"]
    assert (REPO / "board" / board).is_dir()
    assert s["BR2_LINUX_KERNEL_CONFIG_FRAGMENT_FILES"].split() == [
        f"{EXTERNAL}/board/common/linux.fragment",
        f"{EXTERNAL}/board/{board}/linux.fragment",
    ]
    for pkg in ("PYTHON3", "PYTHON_RAMZSWAP_SETUP", "RAMZSWAP", "RZSCAN"):
        assert s[f"BR2_PACKAGE_{pkg}"] == "y"
    assert not any(k.startswith("BR2_TARGET_ROOTFS_") and "SWAP" in k for k in s)


def test_every_board_directory_is_used_by_a_defconfig():
    used = {settings(d)["BR2_ROOTFS_POST_SCRIPT_ARGS"] for d in DEFCONFIGS}
    boards = {d.name for d in (REPO / "board").iterdir() if d.is_dir()} - {"common"}
    assert boards == used


@pytest.mark.parametrize(
    "fragment", sorted((REPO / "board").glob("*/linux.fragment")), ids=lambda p: p.parent.name
)
def test_kernel_fragments_are_well_formed(fragment):
    assert parse_fragment(fragment.read_text(), fragment.name)  # raises on a bad line


def test_sd_card_has_no_swap_partition_and_bmap_tools():
    cfg = (REPO / "board/raspberrypi4-64/genimage.cfg").read_text()
    assert "image sdcard.img" in cfg
    assert "0x82" not in cfg  # Linux swap partition type
    rpi = settings(REPO / "configs/raspberrypi4_64_ramzswap_defconfig")
    assert rpi["BR2_PACKAGE_HOST_BMAP_TOOLS"] == "y"  # genimage.sh then writes sdcard.img.bmap
    assert rpi["BR2_PACKAGE_HOST_GENIMAGE"] == "y"


# ---- package recipes ----


@pytest.mark.parametrize("pkg", PACKAGES, ids=lambda p: p.name)
def test_package_recipe_naming(pkg):
    mk = pkg / f"{pkg.name}.mk"
    assert mk.is_file()
    assert (pkg / "Config.in").is_file()
    lines = mk.read_text().splitlines()
    assert lines[:6] == ["#" * 80, "#", f"# {pkg.name}", "#", "#" * 80, ""]
    prefix = pkg.name.upper().replace("-", "_")
    variables = mk_variables(mk)
    for name in variables:
        assert name.startswith(prefix + "_"), f"{name} is not prefixed {prefix}_"
    for suffix in ("VERSION", "SITE", "LICENSE", "LICENSE_FILES"):
        assert variables.get(f"{prefix}_{suffix}"), f"{prefix}_{suffix} missing"
    assert re.search(r"^\$\(eval \$\((python-|generic-)package\)\)$", mk.read_text(), re.M)


@pytest.mark.parametrize("pkg", PACKAGES, ids=lambda p: p.name)
def test_local_packages_and_their_license_files(pkg):
    prefix = pkg.name.upper().replace("-", "_")
    variables = mk_variables(pkg / f"{pkg.name}.mk")
    site = variables[f"{prefix}_SITE"]
    licenses = variables[f"{prefix}_LICENSE_FILES"].split()
    if site.startswith(EXTERNAL):
        assert variables.get(f"{prefix}_SITE_METHOD") == "local"
        source = external_paths(site)[0]
        assert source.is_dir()
        for name in licenses:
            assert (source / name).is_file(), f"{pkg.name}: license file {source / name} missing"
    else:
        # downloaded: the archive and the license files are hashed
        hashes = (pkg / f"{pkg.name}.hash").read_text()
        archive = expand(variables[f"{prefix}_SOURCE"], variables)
        for name in [archive, *licenses]:
            assert re.search(rf"^sha256  [0-9a-f]{{64}}  {re.escape(name)}$", hashes, re.M), name


@pytest.mark.parametrize("pkg", PACKAGES, ids=lambda p: p.name)
def test_every_path_a_recipe_names_exists(pkg):
    for path in mk_external_paths(pkg / f"{pkg.name}.mk"):
        assert path.exists(), f"{pkg.name}.mk names {path}, which does not exist"


def test_recipe_path_check_sees_paths_in_recipes(tmp_path):
    mk = tmp_path / "x.mk"
    mk.write_text(
        "X_DIR = $(BR2_EXTERNAL_RAMZSWAP_PATH)/overlay\n"
        "define X_INSTALL\n\t$(INSTALL) $(X_DIR)/etc/nope $(TARGET_DIR)/etc\nendef\n"
    )
    assert REPO / "overlay/etc/nope" in mk_external_paths(mk)


def test_top_config_in_sources_every_package():
    sourced = re.findall(
        r'^source "\$BR2_EXTERNAL_RAMZSWAP_PATH/package/([^/]+)/Config.in"$',
        (REPO / "Config.in").read_text(),
        re.M,
    )
    assert sourced == sorted(p.name for p in PACKAGES)


def test_ramzswap_kernel_fixups_pull_in_lz4():
    mk = (REPO / "package/ramzswap/ramzswap.mk").read_text()
    assert "$(eval $(kernel-module))\n$(eval $(generic-package))" in mk
    for opt in ("CONFIG_SWAP", "CONFIG_BLOCK", "CONFIG_CRYPTO_LZ4"):
        assert f"$(call KCONFIG_ENABLE_OPT,{opt})" in mk


def test_board_fragments_leave_the_modules_needs_to_its_package():
    """What the module needs is said once, in its package's fixups; a board's fragment
    holds only that image's own choices, so the two cannot drift apart."""
    mk = (REPO / "package/ramzswap/ramzswap.mk").read_text()
    fixed = set(re.findall(r"KCONFIG_ENABLE_OPT,CONFIG_(\w+)\)", mk))
    assert {"MODULES", "SWAP", "BLOCK", "CRYPTO_LZ4"} <= fixed
    for fragment in sorted((REPO / "board").glob("*/linux.fragment")):
        repeated = fixed & set(parse_fragment(fragment.read_text(), fragment.name))
        assert not repeated, f"{fragment.relative_to(REPO)} repeats the fixups: {sorted(repeated)}"


# ---- board scripts ----


def make_target(root: Path, fstab: str) -> Path:
    (root / "etc").mkdir(parents=True)
    (root / "etc/fstab").write_text(fstab)
    return root


def test_post_build_records_the_board(tmp_path):
    target = make_target(tmp_path / "target", "proc /proc proc defaults 0 0\n")
    subprocess.run([REPO / "board/common/post-build.sh", target, "qemu-x86_64"], check=True)
    assert (target / "etc/ramzswap-board").read_text() == "RAMZSWAP_BOARD=qemu-x86_64\n"


def test_post_build_refuses_swap_on_flash(tmp_path):
    target = make_target(tmp_path / "target", "/dev/mmcblk0p3 none swap sw 0 0\n")
    proc = subprocess.run(
        [REPO / "board/common/post-build.sh", target, "raspberrypi4-64"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 1
    assert "swap" in proc.stderr
    assert not (target / "etc/ramzswap-board").exists()


def test_post_build_refuses_an_unknown_board(tmp_path):
    target = make_target(tmp_path / "target", "")
    proc = subprocess.run(
        [REPO / "board/common/post-build.sh", target, "pdp11"], capture_output=True, text=True
    )
    assert proc.returncode == 1
    assert proc.stderr.count("\n") == 1 and "unknown board 'pdp11'" in proc.stderr


@pytest.fixture
def fake_qemu(tmp_path) -> Path:
    """A qemu-system-* for every arch that prints its arguments one per line."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for arch in ("x86_64", "aarch64", "arm"):
        exe = bindir / f"qemu-system-{arch}"
        exe.write_text('#!/bin/sh\necho "$0"\nfor a in "$@"; do echo "$a"; done\n')
        exe.chmod(0o755)
    return bindir


def start_qemu(images: Path, fake_qemu: Path, *args: str) -> subprocess.CompletedProcess:
    env = {"PATH": f"{fake_qemu}:/usr/bin:/bin"}
    return subprocess.run(
        [images / "start-qemu.sh", *args], capture_output=True, text=True, env=env, cwd="/"
    )


@pytest.mark.parametrize(
    ("board", "qemu", "root"),
    [
        ("qemu-x86_64", "qemu-system-x86_64", "root=/dev/vda"),
        ("qemu-aarch64-virt", "qemu-system-aarch64", "root=/dev/vda"),
        ("qemu-arm-vexpress", "qemu-system-arm", "root=/dev/mmcblk0"),
    ],
)
def test_post_image_writes_start_qemu(tmp_path, fake_qemu, board, qemu, root):
    images = tmp_path / "images"
    images.mkdir()
    subprocess.run([REPO / "board/common/post-image.sh", images, board], check=True)
    backing = tmp_path / "backing.img"
    backing.write_bytes(b"")

    argv = start_qemu(images, fake_qemu, "--mem", "512M", "--smp", "2").stdout.splitlines()
    assert argv[0].endswith(qemu)
    assert argv[1:5] == ["-m", "512M", "-smp", "2"]
    assert any(root in a for a in argv)
    assert "-nographic" in argv

    proc = start_qemu(images, fake_qemu, "--backing", str(backing), "--serial-tcp", "4321")
    argv = proc.stdout.splitlines()
    assert argv[1:5] == ["-m", "256M", "-smp", "1"]
    assert "tcp:127.0.0.1:4321,server=on,wait=off" in argv
    assert "-nographic" not in argv
    assert any(a.startswith(f"file={backing},") for a in argv)

    proc = start_qemu(images, fake_qemu, "--smp", "two")
    assert proc.returncode == 2 and proc.stdout == ""
    proc = start_qemu(images, fake_qemu, "--backing", str(tmp_path / "missing.img"))
    assert proc.returncode == 2 and "does not exist" in proc.stderr


def test_post_image_of_a_board_without_qemu_or_sd_card_writes_nothing(tmp_path):
    board = tmp_path / "tree/board"
    shutil.copytree(REPO / "board/common", board / "common")
    (board / "bare").mkdir()
    images = tmp_path / "images"
    images.mkdir()
    subprocess.run([board / "common/post-image.sh", images, "bare"], check=True)
    assert list(images.iterdir()) == []


# ---- buildroot.mk (the parts that need no Buildroot) ----


def make_br(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["make", "--no-print-directory", "-f", REPO / "buildroot.mk", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
    )


def test_list_defconfigs():
    proc = make_br("list-defconfigs")
    assert proc.returncode == 0
    listed = [line.strip() for line in proc.stdout.splitlines()[1:]]
    assert listed == [p.name for p in DEFCONFIGS]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["qemu_x86_64_ramzswap_defconfig"], "set BUILDROOT to a Buildroot checkout"),
        (["BUILDROOT=/nonexistent", "br-image"], "is not a Buildroot checkout"),
    ],
)
def test_buildroot_targets_refuse_without_a_checkout(args, message):
    proc = make_br(*args)
    assert proc.returncode == 2
    assert message in proc.stderr
    assert proc.stderr.count("\n") == 1
