"""Say what a long step is doing: a live line on a terminal, plain lines in logs."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO


def _fmt(seconds: float) -> str:
    return f"{seconds:.1f}s" if seconds < 60 else f"{int(seconds // 60)}m{int(seconds % 60):02d}s"


@contextmanager
def step(what: str, stream: TextIO | None = None) -> Iterator[None]:
    """Announce a step; on a terminal show a ticking elapsed time until it ends."""
    out = stream or sys.stderr
    start = time.monotonic()
    live = out.isatty()
    stop = threading.Event()
    ticker = None
    if live:
        def tick() -> None:
            spin = "|/-\\"
            i = 0
            while not stop.wait(0.25):
                out.write(f"\r{spin[i % 4]} {what} ({_fmt(time.monotonic() - start)})")
                out.flush()
                i += 1
        ticker = threading.Thread(target=tick, daemon=True)
        ticker.start()
    else:
        out.write(f"==> {what}\n")
        out.flush()
    ok = False
    try:
        yield
        ok = True
    finally:
        stop.set()
        if ticker:
            ticker.join()
        verdict = "done" if ok else "FAILED"
        prefix = "\r" if live else ""
        clear = "\033[K" if live else ""
        out.write(f"{prefix}{clear}    {what}: {verdict} in {_fmt(time.monotonic() - start)}\n")
        out.flush()


def note(text: str, stream: TextIO | None = None) -> None:
    """One plain line of information."""
    out = stream or sys.stderr
    out.write(f"    {text}\n")
    out.flush()
