"""The click commands. Each one builds an Env and hands over to a module that does the work."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any

import click

from .invocation import Injected, guarded

ROOT_HELP = "Read /proc, /sys, /dev, /etc, /run and /var/lib under DIR instead of /."


def _root_option(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--root", metavar="DIR", help=ROOT_HELP)(f)


def _setting_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """Options that override the kernel command line and the config file."""
    options = [
        click.option(
            "--config",
            "config_path",
            metavar="FILE",
            help="TOML config file [default: /etc/ramzswap.conf]",
        ),
        click.option("--backend", metavar="auto|ramzswap|zram", help="Driver [default: auto]."),
        click.option("--disksize", metavar="SIZE", help="Swap size: 64M, 25% of RAM, bytes."),
        click.option("--memlimit", metavar="SIZE", help="Cap on RAM the store uses; none."),
        click.option("--backing", metavar="DEV", help="Backing block device, or none."),
        click.option("--priority", metavar="N", help="Swap priority 0-32767 [default: 100]."),
        click.option(
            "--backing-write-budget",
            metavar="SIZE/PERIOD",
            help="Flash bytes the backing device may take, e.g. 512M/day.",
        ),
        click.option(
            "--algorithm", metavar="NAME", help="Compressor: lz4, lz4hc, lzo-rle, zstd... [lz4]."
        ),
        click.option(
            "--level", metavar="N", type=int, help="Compression level [0: the algorithm's own]."
        ),
        click.option(
            "--force",
            is_flag=True,
            default=None,
            help="Use a backing device even if it holds a filesystem signature.",
        ),
    ]
    for option in reversed(options):
        f = option(f)
    return f


_SETTINGS = (
    "backend",
    "disksize",
    "memlimit",
    "backing",
    "priority",
    "backing_write_budget",
    "algorithm",
    "level",
    "force",
)


def _settings(kwargs: dict[str, Any]) -> dict[str, object]:
    return {key: kwargs[key] for key in _SETTINGS}


def _root(ctx: click.Context, root: str | None) -> str | None:
    return root or ctx.meta.get("ramzswap.root")


def _print_json(data: object) -> None:
    json.dump(data, sys.stdout, indent=2, sort_keys=True)
    sys.stdout.write("\n")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@_root_option
@click.pass_context
def group(ctx: click.Context, root: str | None) -> None:
    """Size, start, stop and report compressed RAM swap (ramzswap or zram)."""
    ctx.meta["ramzswap.root"] = root


@group.command()
@_root_option
@_setting_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON with stable keys.")
@click.pass_context
def plan(
    ctx: click.Context, root: str | None, config_path: str | None, as_json: bool, **kwargs: Any
) -> int:
    """Show what start would do here, and where each value comes from. Changes nothing."""
    from . import plan as planner

    injected: Injected = ctx.obj
    env = injected.env(_root(ctx, root))

    def show() -> None:
        result = planner.build(env, _settings(kwargs), config_path)
        if as_json:
            _print_json(planner.to_dict(result))
        else:
            sys.stdout.write(planner.format_plan(result))

    return guarded(show)


@group.command()
@_root_option
@_setting_options
@click.pass_context
def start(ctx: click.Context, root: str | None, config_path: str | None, **kwargs: Any) -> int:
    """Set up the device and turn swap on. A second start changes nothing."""
    from . import startstop

    env = ctx.obj.env(_root(ctx, root))
    return guarded(lambda: startstop.start(env, _settings(kwargs), config_path), env)


@group.command()
@_root_option
@click.pass_context
def stop(ctx: click.Context, root: str | None) -> int:
    """Swap off, reset the device, unload the module if start loaded it."""
    from . import startstop

    env = ctx.obj.env(_root(ctx, root))
    return guarded(lambda: startstop.stop(env), env)


@group.command()
@_root_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON with stable keys.")
@click.pass_context
def status(ctx: click.Context, root: str | None, as_json: bool) -> int:
    """Sizes, pages, ratio, memory and flash use of every device."""
    from . import status as report

    env = ctx.obj.env(_root(ctx, root))

    def show() -> None:
        info = report.gather(env)
        if as_json:
            _print_json(info)
        else:
            sys.stdout.write(report.format_status(info))

    return guarded(show)


@group.command()
@_root_option
@click.option("--config", "config_path", metavar="FILE",
              help="TOML config file [default: /etc/ramzswap.conf]")
@click.option("--json", "as_json", is_flag=True, help="Print JSON with stable keys.")
@click.option("--scheduled", is_flag=True,
              help="Run by cron or a timer: no device or no backing device this boot is "
                   "nothing to do, not an error.")
@click.pass_context
def writeback(ctx: click.Context, root: str | None, config_path: str | None,
              as_json: bool, scheduled: bool) -> int:
    """One round of idle writeback to the backing device, within the flash budget."""
    from . import writeback as wb

    env = ctx.obj.env(_root(ctx, root))

    def run() -> None:
        try:
            result = wb.run_round(env, config_path)
        except wb.NothingToWriteBack:
            # the schedule is installed on every image, backing device or not
            if scheduled:
                return
            raise
        if as_json:
            _print_json(result)
        else:
            sys.stdout.write(wb.format_round(result))

    return guarded(run, env)


@group.command()
@_root_option
@click.option(
    "--pid",
    "pids",
    type=int,
    multiple=True,
    metavar="PID",
    help="Sample this process's anonymous memory (repeatable).",
)
@click.option("--file", "dump", metavar="DUMP", help="Sample the pages of a dump file.")
@click.option(
    "--max-pages",
    type=click.IntRange(1),
    default=16384,
    show_default=True,
    help="Sample at most this many pages from each source.",
)
@click.option("--save", metavar="FILE", help="Also write the sampled pages to FILE.")
@click.option("--level", type=click.IntRange(0), default=0, metavar="N",
              help="Level for each algorithm [0: its own default].")
@click.option("--json", "as_json", is_flag=True, help="Print JSON with stable keys.")
@click.pass_context
def estimate(
    ctx: click.Context,
    root: str | None,
    pids: tuple[int, ...],
    dump: str | None,
    max_pages: int,
    save: str | None,
    level: int,
    as_json: bool,
) -> int:
    """Measure how this memory compresses (lz4, lz4hc, zstd) and recommend sizes."""
    from . import estimate as measure

    if not pids and dump is None:
        raise click.UsageError("estimate needs --pid PID or --file DUMP")
    env = ctx.obj.env(_root(ctx, root))

    def show() -> None:
        result = measure.run(env, list(pids), dump, max_pages, save, level)
        if as_json:
            _print_json(result)
        else:
            sys.stdout.write(measure.format_estimate(result))

    return guarded(show)
