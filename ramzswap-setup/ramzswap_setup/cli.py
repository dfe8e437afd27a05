"""Command line: plan, start, stop, status, estimate.

`ramzswap-setup start` and `ramzswap-setup stop` with no options, as init runs them, take a
path that never imports click: boot time matters. Everything else goes through click.
Errors are one line; exit status 2 for usage and configuration errors, 1 for runtime failures.
"""

import os
import sys

from .env import PROG
from .invocation import Injected, fail, guarded


def _fast(argv: list[str], injected: Injected) -> int | None:
    """`start` or `stop` exactly as init calls them, without loading click."""
    if argv not in (["start"], ["stop"]):
        return None
    from . import startstop

    env = injected.env(None)
    if argv[0] == "start":
        return guarded(lambda: startstop.start(env, {}), env)
    return guarded(lambda: startstop.stop(env), env)


def run(argv: list[str] | None = None, **inject: object) -> int:
    """Run the command line `argv`; returns the exit status."""
    args = sys.argv[1:] if argv is None else list(argv)
    injected = Injected(**inject)  # type: ignore[arg-type]
    status = _fast(args, injected)
    if status is not None:
        return status
    import click

    from .commands import group

    try:
        result = group.main(args=args, prog_name=PROG, standalone_mode=False, obj=injected)
    except click.exceptions.Abort:
        return fail("aborted", 1)
    except click.UsageError as e:
        return fail(f"{e.format_message()} (see '{PROG} --help')", 2)
    except click.ClickException as e:
        return fail(e.format_message(), e.exit_code)
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
