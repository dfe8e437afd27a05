"""One run of the command line: what the tests may inject, and how a failure ends it.

Click-free and on the boot path: `start` and `stop` as init runs them use it without the
click commands, and the commands use it the same way.
"""

import os
import sys

from .env import PROG, Env
from .errors import ConfigError, SetupError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from .kernel import Kernel


class Injected:
    """What the tests may replace: the kernel actions, the clock, the page size, and the
    root used when no --root is given."""

    def __init__(
        self,
        kernel: "Kernel | None" = None,
        clock: "Callable[[], float] | None" = None,
        page_size: int | None = None,
        root: str | None = None,
    ) -> None:
        self.kernel = kernel
        self.clock = clock
        self.page_size = page_size
        self.root = root

    def env(self, root: str | None) -> Env:
        return Env(root or self.root or "/", self.kernel, self.clock, self.page_size)


def fail(message: str, status: int, env: Env | None = None) -> int:
    if env is not None:
        env.log(message, "error")
    else:
        print(f"{PROG}: error: {message}", file=sys.stderr)
    return status


def guarded(action: "Callable[[], int | None]", env: Env | None = None) -> int:
    """Run a command, turning every expected failure into one line and an exit status."""
    try:
        return action() or 0
    except (ConfigError, SetupError) as e:
        return fail(str(e), e.exit_status, env)
    except OSError as e:
        where = f"{e.filename}: " if e.filename else ""
        return fail(f"{where}{e.strerror or e}", 1, env)
    except Exception as e:
        if os.environ.get("RAMZSWAP_SETUP_DEBUG"):
            raise
        return fail(f"internal error: {type(e).__name__}: {e}", 1, env)
