"""Build the offline test image (see rztools.image.build).

    python -m rztools.image --arch x86_64 --kernel 6.1
"""

from __future__ import annotations

import argparse
import os
import sys

from ..arches import ARCHES, DEFAULT_ARCH, DEFAULT_KERNEL, KERNELS, UnknownTarget
from ..cache import BuildError
from . import build as image_build
from . import debian


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="rztools.image",
                                 description=image_build.__doc__.split("\n")[0])
    ap.add_argument("--arch", default=os.environ.get("ARCH") or DEFAULT_ARCH,
                    help=f"one of {', '.join(ARCHES)}")
    ap.add_argument("--kernel", default=os.environ.get("KERNEL") or DEFAULT_KERNEL,
                    help=f"one of {', '.join(KERNELS)}")
    args = ap.parse_args(argv)
    try:
        image_build.build(args.arch, args.kernel)
    except (UnknownTarget, BuildError, debian.AptError) as e:
        print(f"image: {e}", file=sys.stderr)
        return 2 if isinstance(e, UnknownTarget) else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
