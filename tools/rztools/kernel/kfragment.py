"""Check kernel config fragments against a real Kconfig tree.

    python -m rztools.kernel.kfragment --srctree /usr/src/linux-source-6.12 --arch x86_64 \\
        --base x86_64_defconfig board/common/linux.fragment board/qemu-x86_64/linux.fragment

Loads the kernel's Kconfig with kconfiglib, loads the base config, merges the
fragments on top (a later fragment wins, as scripts/kconfig/merge_config.sh
does), lets Kconfig resolve dependencies and selects (what olddefconfig does)
and reports every option of the fragments that does not exist or does not end
up as asked. Exit status: 0 all as asked, 1 problems (one line each), 2 bad input.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import kconfiglib

from .fragments import FragmentError, merge, parse_fragment

# kernel ARCH= value and arch/ directory for the names our boards use
ARCHES = {
    "x86_64": ("x86_64", "x86"),
    "aarch64": ("arm64", "arm64"),
    "arm64": ("arm64", "arm64"),
    "arm": ("arm", "arm"),
}
@dataclass(frozen=True)
class Problem:
    option: str
    wanted: str
    got: str | None  # None: the option does not exist in this tree

    def __str__(self) -> str:
        if self.got is None:
            return f"CONFIG_{self.option}: no such option in this kernel"
        return f"CONFIG_{self.option}: asked {self.wanted}, ended up {self.got or '(empty)'}"


def problems(wanted: Mapping[str, str], actual: Mapping[str, str | None]) -> list[Problem]:
    """Compare what the fragments asked with what the resolved configuration holds.

    `actual` maps each option to its final value, None when the tree has no such
    option; bool and tristate options that are off read 'n'.
    """
    found = []
    for option, value in wanted.items():
        got = actual.get(option)
        if got != value:
            found.append(Problem(option, value, got))
    return found


def rewrite_kconfig(text: str) -> str:
    """Newer kernel syntax in terms kconfiglib 14.1 knows, line numbers kept.

    `modules` on a line of its own was `option modules` before Linux 5.13;
    `transitional` (Linux 6.18) marks a promptless symbol kept only to read
    old configs, which kconfiglib can treat as an ordinary promptless one;
    `depends on A if B` (Linux 7.x) is `depends on (A) || !(B)`.
    """
    text = re.sub(r"(?m)^([ \t]+)modules[ \t]*$", r"\1option modules", text)
    text = re.sub(r"(?m)^[ \t]+transitional[ \t]*$", "", text)
    return re.sub(
        r"(?m)^([ \t]+depends on )([^#\n]+?) if ([^#\n]+?)[ \t]*(#.*)?$", r"\1(\2) || !(\3)", text
    )


class KernelKconfig(kconfiglib.Kconfig):
    """kconfiglib that reads every file through rewrite_kconfig."""

    def _open(self, filename, mode):  # noqa: ANN001, ANN202 (kconfiglib's signature)
        f = super()._open(filename, mode)
        if "r" not in mode:
            return f
        with f:
            return io.StringIO(rewrite_kconfig(f.read()))


def kernel_env(srctree: Path, arch: str, cross_compile: str = "") -> dict[str, str]:
    """What the kernel's Kconfig files read from the environment."""
    if arch not in ARCHES:
        raise FragmentError(f"unknown arch {arch!r} (one of {', '.join(ARCHES)})")
    karch, srcarch = ARCHES[arch]
    cc = f"{cross_compile}gcc"
    ld = f"{cross_compile}ld"
    version = ""
    if shutil.which(cc):
        out = subprocess.run([cc, "--version"], capture_output=True, text=True).stdout
        version = out.splitlines()[0] if out else ""
    return {
        "srctree": str(srctree),
        "ARCH": karch,
        "SRCARCH": srcarch,
        "KERNELVERSION": kernel_version(srctree),
        "CC": cc,
        "LD": ld,
        "HOSTCC": "gcc",
        "HOSTCXX": "g++",
        "CC_VERSION_TEXT": version,
        "RUSTC": "rustc",
        "BINDGEN": "bindgen",
        "CONFIG_": "CONFIG_",
    }


def kernel_version(srctree: Path) -> str:
    makefile = srctree / "Makefile"
    if not makefile.is_file():
        return ""
    fields = dict(
        re.findall(r"^(VERSION|PATCHLEVEL|SUBLEVEL) = (\d*)$", makefile.read_text(), re.M)
    )
    return ".".join(fields.get(k, "0") for k in ("VERSION", "PATCHLEVEL", "SUBLEVEL"))


def find_base(srctree: Path, srcarch: str, base: str) -> Path:
    """A path, or the name of one of the arch's defconfigs (x86_64_defconfig, defconfig)."""
    candidates = [Path(base)]
    if "/" not in base:
        configs = srctree / "arch" / srcarch / "configs"
        candidates += [configs / base, configs / f"{base}_defconfig"]
    for path in candidates:
        if path.is_file():
            return path
    raise FragmentError(f"base config {base!r} not found (a file, or a defconfig of {srcarch})")


@contextlib.contextmanager
def environment(env: Mapping[str, str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def resolved_values(kconf: kconfiglib.Kconfig, options: list[str]) -> dict[str, str | None]:
    values: dict[str, str | None] = {}
    for option in options:
        sym = kconf.syms.get(option)
        values[option] = sym.str_value if sym is not None and sym.nodes else None
    return values


def check(
    srctree: Path,
    env: Mapping[str, str],
    base: Path,
    fragments: list[Path],
) -> list[Problem]:
    """Problems of the fragments merged onto base in the Kconfig tree at srctree."""
    wanted = merge([parse_fragment(f.read_text(), f.name) for f in fragments])
    kconfig = srctree / "Kconfig"
    if not kconfig.is_file():
        raise FragmentError(f"{srctree} has no top-level Kconfig")
    with environment({**env, "srctree": str(srctree)}):
        try:
            kconf = KernelKconfig(str(kconfig), warn=False)
        except kconfiglib.KconfigError as e:
            raise FragmentError(f"cannot load {kconfig}: {str(e).splitlines()[0]}") from None
        kconf.load_config(str(base.resolve()))
        for fragment in fragments:
            kconf.load_config(str(fragment.resolve()), replace=False)
    return problems(wanted, resolved_values(kconf, list(wanted)))


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"kfragment: {message} (see --help)\n")


def main(argv: list[str] | None = None) -> int:
    parser = _Parser(
        prog="python -m rztools.kernel.kfragment",
        description="Check that kernel config fragments end up as asked on a base config.",
    )
    parser.add_argument("--srctree", required=True, type=Path, help="kernel source tree")
    parser.add_argument("--arch", required=True, help=f"one of {', '.join(ARCHES)}")
    parser.add_argument("--base", required=True, help="base config: a file or a defconfig name")
    parser.add_argument("--cross-compile", default="", help="e.g. aarch64-linux-gnu-")
    parser.add_argument("fragments", nargs="+", type=Path)
    args = parser.parse_args(argv)
    try:
        for fragment in args.fragments:
            if not fragment.is_file():
                raise FragmentError(f"no fragment {fragment}")
        env = kernel_env(args.srctree, args.arch, args.cross_compile)
        base = find_base(args.srctree, env["SRCARCH"], args.base)
        found = check(args.srctree, env, base, args.fragments)
    except FragmentError as e:
        print(f"kfragment: {e}", file=sys.stderr)
        return 2
    for problem in found:
        print(problem)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
