"""What `modprobe NAME` would insert, worked out from the module index, when that is plain.

Exec'ing kmod's modprobe was the largest cost of `start` at boot (~90 ms under QEMU: Debian's
kmod links libcrypto, zstd and lzma). For a module whose files are plain .ko and that no
modprobe configuration mentions, what it does is simple: insert the dependencies first (modules.dep,
and the pre/post soft dependencies of modules.softdep), skipping those loaded already, each
with its `module.param=value` arguments from the kernel command line. Anything else (a
compressed module, a modprobe.d line naming one of the modules, a soft dependency that is not
a module name) makes `plan` return None: modprobe itself does it then.
"""

from .procfs import kernel_args
from .rootfs import Root

# where kmod reads its configuration (*.conf files)
CONFIG_DIRS = (
    "/etc/modprobe.d",
    "/run/modprobe.d",
    "/usr/local/lib/modprobe.d",
    "/lib/modprobe.d",
    "/usr/lib/modprobe.d",
)


def normalise(name: str) -> str:
    """kmod's module names: '-' and '_' are the same."""
    return name.replace("-", "_")


def module_name(path: str) -> str:
    """kernel/lib/lz4/lz4_compress.ko(.xz) -> lz4_compress"""
    return normalise(path.rpartition("/")[2].partition(".ko")[0])


def parse_dep(text: str) -> dict[str, list[str]]:
    """modules.dep: module name -> [its path, then the paths of everything it depends on]."""
    out = {}
    for line in text.splitlines():
        path, colon, deps = line.partition(":")
        if colon:
            out[module_name(path.strip())] = [path.strip(), *deps.split()]
    return out


def parse_softdep(text: str) -> dict[str, tuple[list[str], list[str]] | None]:
    """`softdep NAME pre: A B post: C` lines -> NAME: (pre, post); None when not understood."""
    out: dict[str, tuple[list[str], list[str]] | None] = {}
    for line in text.splitlines():
        words = line.split("#", 1)[0].split()
        if len(words) < 2 or words[0] != "softdep":
            continue
        pre: list[str] = []
        post: list[str] = []
        into: list[str] | None = None
        understood = True
        for word in words[2:]:
            if word in ("pre:", "post:"):
                into = pre if word == "pre:" else post
            elif into is None or word.endswith(":"):
                understood = False
            else:
                into.append(normalise(word))
        out[normalise(words[1])] = (pre, post) if understood else None
    return out


def configured(root: Root) -> set[str]:
    """Every module name a modprobe configuration line (options, install, alias...) names."""
    names = set()
    for directory in CONFIG_DIRS:
        for entry in root.listdir(directory):
            if not entry.endswith(".conf"):
                continue
            for line in (root.read(f"{directory}/{entry}") or "").splitlines():
                words = line.split("#", 1)[0].split()
                if len(words) >= 2:
                    names.add(normalise(words[1]))
    return names


def _quote(value: str) -> str:
    return f'"{value}"' if " " in value or "\t" in value else value


def cmdline_params(cmdline: str, name: str) -> str:
    """The `name.param=value` arguments of the kernel command line, as kmod hands them on."""
    params = []
    for arg in kernel_args(cmdline):
        dot, eq = arg.find("."), arg.find("=")
        if dot <= 0 or (0 <= eq < dot) or normalise(arg[:dot]) != name:
            continue
        key, sep, value = arg[dot + 1 :].partition("=")
        params.append(f"{key}={_quote(value)}" if sep else key)
    return " ".join(params)


def plan(root: Root, release: str, name: str) -> list[tuple[str, str]] | None:
    """[(path of a .ko, its parameters)] to insert in this order for `modprobe name`, or None
    when modprobe must do it. Modules already loaded are not in the list."""
    base = f"/lib/modules/{release}"
    text = root.read(f"{base}/modules.dep")
    if text is None:
        return None
    deps = parse_dep(text)
    softdeps = parse_softdep(root.read(f"{base}/modules.softdep") or "")
    mentioned = configured(root)
    cmdline = root.read("/proc/cmdline") or ""
    steps: list[tuple[str, str]] = []
    seen: set[str] = set()

    def visit(module: str) -> bool:
        if module in seen:
            return True
        seen.add(module)
        entry = deps.get(module)
        soft = softdeps.get(module, ([], []))
        if entry is None or soft is None or module in mentioned or not entry[0].endswith(".ko"):
            return False
        for dep in [*soft[0], *(module_name(path) for path in entry[1:])]:
            if not visit(dep):
                return False
        if not root.exists(f"/sys/module/{module}/initstate"):
            path = entry[0] if entry[0].startswith("/") else f"{base}/{entry[0]}"
            steps.append((root.host(path), cmdline_params(cmdline, module)))
        return all(visit(dep) for dep in soft[1])

    return steps if visit(normalise(name)) else None
