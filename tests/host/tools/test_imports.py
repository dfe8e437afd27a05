"""The import arrows of the host tools and of ramzswap-setup: no cycle, none into an entry point.

A cycle makes two modules one, in the worst way: neither can be read, tested or moved
without the other.  An entry point (a module run with `python -m`, one that ends in
`if __name__ == "__main__":`) is the top of its tree: what it holds that another module
needs belongs in a library below it.  Imports are read from the source, not run, so a
lazy import inside a function counts like one at the top.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
TREES = {"rztools": REPO / "tools" / "rztools",
         "ramzswap_setup": REPO / "ramzswap-setup" / "ramzswap_setup"}
# Guest-side scripts run in the guest, copied there by the host; the host may read their
# constants (the attribute list the fuzzer walks) without running them.
GUEST_SIDE = "rztools.target.guest."


def module_name(top: str, root: Path, path: Path) -> str:
    parts = [top, *path.relative_to(root).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_package(root: Path, top: str, name: str) -> bool:
    return (root.joinpath(*name.split(".")[1:]) / "__init__.py").exists()


def arrows(top: str, root: Path, path: Path, known: set[str]) -> set[str]:
    """The modules of this tree that @path imports."""
    name = module_name(top, root, path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name in known)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            for a in node.names:
                if f"{mod}.{a.name}" in known:
                    out.add(f"{mod}.{a.name}")
                elif mod in known and not is_package(root, top, mod):
                    out.add(mod)
    out.discard(name)
    return out


def graph() -> tuple[dict[str, set[str]], set[str]]:
    edges: dict[str, set[str]] = {}
    entries: set[str] = set()
    files = {(top, root, p) for top, root in TREES.items() for p in root.rglob("*.py")}
    known = {module_name(top, root, p) for top, root, p in files}
    for top, root, p in sorted(files):
        name = module_name(top, root, p)
        edges[name] = arrows(top, root, p, known)
        if p.name == "__main__.py" or 'if __name__ == "__main__":' in p.read_text():
            entries.add(name)
    return edges, entries


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def test_the_walk_sees_the_arrows():
    edges, entries = graph()
    assert "rztools.target.qemu" in edges["rztools.target.run"]
    assert "rztools.cache" in edges["rztools.kernel.trees"]
    assert {"rztools.image.__main__", "rztools.target.run", "ramzswap_setup.__main__"} <= entries


@pytest.mark.parametrize("top", sorted(TREES))
def test_no_import_cycle(top):
    edges, _ = graph()
    assert [c for c in cycles(edges) if c[0].startswith(top)] == []


@pytest.mark.parametrize("top", sorted(TREES))
def test_no_arrow_into_an_entry_point(top):
    edges, entries = graph()
    bad = [f"{a} -> {b}" for a, targets in edges.items() if a.startswith(top)
           for b in sorted(targets) if b in entries and not b.startswith(GUEST_SIDE)]
    assert bad == []


def test_cycles_are_found():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
