"""What a debug kernel reports, sorted by kind: KASAN, lockdep, UBSAN, kmemleak,
sleeping in atomic context, WARN and BUG.  Pure functions over console logs.

What counts as trouble is guestproc's one check (OOPS_RE, the OOM-killer rule):
this only sorts it.  Every line that check flags starts a report or belongs to
one, and anything it flags that is none of the kinds counts as `other`, so a log
is clean here exactly when the target tests' check finds nothing in it.  A report
is counted once, by its first line; what follows it (the call trace, registers,
the lock chains) belongs to it until its end marker or SPAN lines.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from .guestproc import OOM_END_RE, OOM_START_RE, OOPS_RE

# the order matters: a line is the first kind that matches it ("BUG: KASAN" is kasan,
# not bug; lockdep's "WARNING: possible circular locking" is lockdep, not warn)
KINDS: list[tuple[str, re.Pattern[str]]] = [
    ("kasan", re.compile(r"BUG: KASAN: ")),
    ("lockdep", re.compile(
        r"WARNING: (possible (circular|recursive) locking|inconsistent lock state|"
        r"suspicious RCU usage|bad unlock balance|held lock freed|lock held when returning|"
        r"possible irq lock inversion|.*is trying to acquire|"
        r"Nested lock was not taken)|INFO: possible irq lock inversion|"
        r"DEBUG_LOCKS_WARN_ON|BUG: (lock held|workqueue leaked lock|held lock freed)")),
    ("ubsan", re.compile(r"UBSAN: ")),
    ("kmemleak", re.compile(r"unreferenced object 0x[0-9a-f]+")),
    ("might_sleep", re.compile(r"BUG: (sleeping function called from invalid context|"
                               r"scheduling while atomic)")),
    ("warn", re.compile(r"WARNING: CPU: \d+ PID: \d+ at |WARNING: .* at .*\+0x")),
    ("bug", re.compile(r"BUG: |kernel BUG at |Oops[:\s]|general protection fault|"
                       r"Kernel panic - |Unable to handle kernel")),
]
KIND_NAMES = [k for k, _ in KINDS] + ["other"]
# how many of a report's lines the summary keeps, and how far a report reaches
CONTEXT = 6
SPAN = 120
END_RE = re.compile(r"---\[ end trace|^={20,}$")
STAMP_RE = re.compile(r"^\[\s*\d+\.\d+\]\s?")


@dataclass
class Report:
    kind: str
    source: str
    lines: list[str] = field(default_factory=list)


def kind_of(line: str) -> str | None:
    for kind, rx in KINDS:
        if rx.search(line):
            return kind
    return None


def reports(text: str, source: str) -> list[Report]:
    """The reports in one log, each with its first lines."""
    found: list[Report] = []
    current: Report | None = None
    age = 0
    in_oom = False
    for raw in text.splitlines():
        line = STAMP_RE.sub("", raw.rstrip("\r"))
        if OOM_START_RE.search(line):
            in_oom = True
        kind = None
        if not in_oom:
            kind = kind_of(line) or ("other" if OOPS_RE.search(line) else None)
        if in_oom and OOM_END_RE.search(line):
            in_oom = False
        age += 1
        open_ = current is not None and age <= SPAN
        if kind and not (open_ and kind in (current.kind, "other")):
            current, age = Report(kind, source, [line]), 0
            found.append(current)
        elif open_ and line.strip():
            if len(current.lines) < CONTEXT:
                current.lines.append(line)
            if END_RE.search(line):
                current = None
    return found


def tally(all_reports: Iterable[Report]) -> dict[str, dict]:
    """Per kind: how many, and the first lines of the first few."""
    out: dict[str, dict] = {k: {"count": 0, "first": []} for k in KIND_NAMES}
    for r in all_reports:
        entry = out[r.kind]
        entry["count"] += 1
        if len(entry["first"]) < 3:
            entry["first"].append({"source": r.source, "lines": r.lines})
    return out


def clean(tallied: dict[str, dict]) -> bool:
    return all(v["count"] == 0 for v in tallied.values())


def config_options(config_text: str, wanted: Iterable[str]) -> dict[str, str | None]:
    """The value each wanted option has in a .config (None: not set)."""
    values: dict[str, str] = {}
    for line in config_text.splitlines():
        m = re.match(r"(CONFIG_\w+)=(.*)", line)
        if m:
            values[m.group(1)] = m.group(2)
    return {w: values.get(w) for w in wanted}


def markdown(summary: dict) -> str:
    """summary.md: the kernel, the tests, what was injected, and what was reported."""
    k = summary["kernel"]
    lines = ["# make check-debug", "",
             f"Verdict: **{'clean' if summary['ok'] else 'NOT clean'}**", "",
             f"Kernel {k['release']} ({k['arch']}), debug options set:", ""]
    lines += [f"- `{o}={v}`" for o, v in k["options"].items()]
    t = summary["tests"]
    lines += ["", f"Tests: {t['passed']} passed, {t['failed']} failed"
              + (f" ({', '.join(t['failed_names'])})" if t.get("failed_names") else ""), ""]
    lines += ["| fault | fired | notes |", "| --- | --- | --- |"]
    for name, inj in summary["injected"].items():
        lines.append(f"| {name} | {inj['fired']} | {inj.get('notes', '')} |")
    lines += ["", "| report | count |", "| --- | --- |"]
    for kind, entry in summary["reports"].items():
        lines.append(f"| {kind} | {entry['count']} |")
    for kind, entry in summary["reports"].items():
        for first in entry["first"]:
            lines += ["", f"{kind} in {first['source']}:", "", "```", *first["lines"], "```"]
    return "\n".join(lines) + "\n"
