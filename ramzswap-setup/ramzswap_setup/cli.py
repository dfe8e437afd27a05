"""Command line: plan, start, stop, status, estimate.

`ramzswap-setup start` and `ramzswap-setup stop` with no options, as init runs them, take a
path that never imports click: boot time matters. Everything else goes through click.
Errors are one line; exit status 2 for usage and configuration errors, 1 for runtime failures.
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


def _fail(message: str, status: int, env: Env | None = None) -> int:
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
        return _fail(str(e), e.exit_status, env)
    except OSError as e:
        where = f"{e.filename}: " if e.filename else ""
        return _fail(f"{where}{e.strerror or e}", 1, env)
    except Exception as e:
        if os.environ.get("RAMZSWAP_SETUP_DEBUG"):
            raise
        return _fail(f"internal error: {type(e).__name__}: {e}", 1, env)


def _fast(argv: list[str], injected: Injected) -> int | None:
    """`start` or `stop` exactly as init calls them, without loading click."""
    if argv not in (["start"], ["stop"]):
        return None
    from . import actions

    env = injected.env(None)
    if argv[0] == "start":
        return guarded(lambda: actions.start(env, {}), env)
    return guarded(lambda: actions.stop(env), env)


def run(argv: list[str] | None = None, **inject: object) -> int:
    """Run the command line `argv`; returns the exit status."""
    args = sys.argv[1:] if argv is None else list(argv)
    injected = Injected(**inject)  # type: ignore[arg-type]
    status = _fast(args, injected)
    if status is not None:
        return status
    import click

    from .commands import build_cli

    try:
        result = build_cli().main(args=args, prog_name=PROG, standalone_mode=False, obj=injected)
    except click.exceptions.Abort:
        return _fail("aborted", 1)
    except click.UsageError as e:
        return _fail(f"{e.format_message()} (see '{PROG} --help')", 2)
    except click.ClickException as e:
        return _fail(e.format_message(), e.exit_code)
    return result if isinstance(result, int) else 0


def main() -> None:
    """Console-script entry point: exits with the command's status.

    `start` and `stop` as init runs them leave through os._exit once stdout and stderr are
    flushed: they leave no file open and register nothing to run at exit, and the
    interpreter's teardown (freeing every module and object) is a fifth of what even
    `python3 -c pass` costs, paid at every boot for nothing.
    """
    args = sys.argv[1:]
    status = _fast(args, Injected())
    if status is None:
        sys.exit(run(args))
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (AttributeError, OSError, ValueError):  # None, a closed pipe or file
            continue  # (contextlib.suppress would cost an import)
    os._exit(status)
