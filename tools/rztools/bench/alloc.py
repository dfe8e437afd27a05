"""The allocator microbenchmark on its own (see rztools.bench.allocator).

    python -m rztools.bench.alloc --sizes out/bench/sizes.json [--out out/bench]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import allocator


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="rztools.bench.alloc",
                                 description=allocator.__doc__.split("\n")[0])
    ap.add_argument("--sizes", type=Path, required=True,
                    help="sizes.json written by rztools.bench.swap")
    ap.add_argument("--out", type=Path, help="where to write (default: next to --sizes)")
    ap.add_argument("--slots", type=int, default=allocator.NSLOTS)
    ap.add_argument("--churn", type=int, default=allocator.CHURN)
    ap.add_argument("--seeds", type=int, default=len(allocator.SEEDS))
    a = ap.parse_args(argv)
    return allocator.report(a.sizes, a.out or a.sizes.parent, a.slots, a.churn,
                            tuple(range(1, a.seeds + 1)))


if __name__ == "__main__":
    sys.exit(main())
