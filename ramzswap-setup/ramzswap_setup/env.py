"""What every command works on: the looked-at system's files, the kernel, the clock, the log."""

import os
import sys
import time

from .errors import ConfigError
from .kernel import Kernel
from .rootfs import Root

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

PROG = "ramzswap-setup"
RUN_DIR = "/run/ramzswap"
LIB_DIR = "/var/lib/ramzswap"


class Env:
    def __init__(
        self,
        root: str = "/",
        kernel: Kernel | None = None,
        clock: "Callable[[], float] | None" = None,
        page_size: int | None = None,
    ) -> None:
        self.root = Root(root)
        self.kernel = kernel or Kernel()
        self.clock = clock or time.time
        self.page_size = page_size or os.sysconf("SC_PAGE_SIZE")

    def now(self) -> float:
        return self.clock()

    def log(self, message: str, level: str = "info") -> None:
        """One line to stderr and to the kernel log (/dev/kmsg when we may write it)."""
        prefix = "" if level == "info" else f"{level}: "
        print(f"{PROG}: {prefix}{message}", file=sys.stderr, flush=True)
        priority = {"error": 3, "warning": 4}.get(level, 5)
        try:
            fd = os.open(self.root.host("/dev/kmsg"), os.O_WRONLY | os.O_APPEND)
        except OSError:
            return
        try:
            os.write(fd, f"<{priority}>{PROG}: {prefix}{message}\n".encode())
        except OSError:
            pass
        finally:
            os.close(fd)


def require_live(env: Env, command: str) -> None:
    if not env.root.is_live and not env.kernel.fake:
        raise ConfigError(
            f"{command} acts on the running kernel: --root is only for plan, status and estimate"
        )
