"""Capture a realistic anonymous-memory data set: the heap of a real Python process.

    python3 heapdump.py OUT MIB [SEED]

Forks a child that builds the state of a small service (user records parsed from
JSON, session objects with attributes, indexes, event tuples, cached byte strings;
some of it freed again, as a long-running process does) until its resident memory
has grown by MIB MiB.  The parent then copies every resident page of the child's
private writable anonymous mappings ([heap] and the anonymous mmaps Python's
allocator takes its arenas from), read from /proc/PID/mem as /proc/PID/pagemap
says it is present, into OUT, and prints one JSON line: pages, zero_pages,
mappings, child_rss_kib.

Standard library only: it runs on the guest's python3.
"""

from __future__ import annotations

import json
import os
import random
import signal
import struct
import sys

PAGE = os.sysconf("SC_PAGE_SIZE")
_WORDS = """time person year way day thing man world life hand part child eye woman place
work week case point government company number group problem fact be have do say get make go
know take see come think look want give use find tell ask seem feel try leave call good new
first last long great little own other old right big high different small large next early
young important few public bad same able"""
_CITIES = "Lyon Porto Gdansk Leeds Bergen Turin Ghent Brno Tartu Cork Graz Malmo Aarhus Bilbao"
WORDS = tuple(_WORDS.split())
CITIES = tuple(_CITIES.split())


class Session:
    """What a web service keeps per client: attributes in an instance __dict__."""

    def __init__(self, rng: random.Random, user_id: int) -> None:
        self.user_id = user_id
        self.token = f"{rng.getrandbits(128):032x}"
        self.started = 1.7e9 + rng.random() * 1e7
        self.pages = [rng.randrange(1, 5000) for _ in range(rng.randrange(1, 30))]
        self.headers = {"user-agent": f"client/{rng.randrange(1, 9)}.{rng.randrange(10)}",
                        "accept": rng.choice(("text/html", "application/json", "*/*")),
                        "lang": rng.choice(("en", "fr", "de", "pl", "pt"))}
        self.cart: list[tuple[int, int, float]] = []


def user_record(rng: random.Random, i: int) -> dict:
    first, last = rng.choice(WORDS).title(), rng.choice(WORDS).title()
    return {
        "id": i,
        "name": f"{first} {last}",
        "email": f"{first.lower()}.{last.lower()}{i}@example.org",
        "tags": [rng.choice(WORDS) for _ in range(rng.randrange(6))],
        "score": round(rng.random() * 100, 3),
        "created": f"20{rng.randrange(10, 25)}-{rng.randrange(1, 13):02d}-"
                   f"{rng.randrange(1, 29):02d}T{rng.randrange(24):02d}:{rng.randrange(60):02d}Z",
        "active": rng.random() < 0.8,
        "address": {"street": f"{rng.randrange(1, 300)} {rng.choice(WORDS).title()} Street",
                    "city": rng.choice(CITIES), "zip": f"{rng.randrange(100000):05d}"},
    }


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE


def build_state(mib: int, seed: int) -> dict:
    """Objects of a small service until resident memory grew by mib MiB."""
    rng = random.Random(seed)
    state: dict = {"users": {}, "by_name": {}, "by_tag": {}, "sessions": [], "events": [],
                   "cache": {}}
    start, goal = rss_bytes(), mib << 20
    i = 0
    while rss_bytes() - start < goal:
        for _ in range(500):
            i += 1
            # a fresh copy of what a JSON API would hand us
            user = json.loads(json.dumps(user_record(rng, i)))
            state["users"][i] = user
            state["by_name"][user["name"]] = i
            for tag in user["tags"]:
                state["by_tag"].setdefault(tag, set()).add(i)
            s = Session(rng, i)
            if rng.random() < 0.3:
                s.cart = [(rng.randrange(10000), rng.randrange(1, 5), rng.random() * 50)
                          for _ in range(rng.randrange(1, 6))]
            state["sessions"].append(s)
            state["events"].append((1.7e9 + i * 0.37, rng.choice(("login", "view", "buy")),
                                    i, rng.randrange(1 << 20)))
            if rng.random() < 0.1:
                state["cache"][f"/page/{i}"] = (" ".join(rng.choice(WORDS) for _ in range(60))
                                                .encode())
        # sessions end and old events are dropped: the heap gets holes, as in a real process
        drop = rng.sample(range(len(state["sessions"])), len(state["sessions"]) // 10)
        for j in sorted(drop, reverse=True):
            del state["sessions"][j]
        del state["events"][: len(state["events"]) // 8]
    return state


def dump_mappings(pid: int, out_path: str) -> dict:
    """Resident pages of pid's private writable anonymous mappings -> out_path."""
    pages = zero = maps = 0
    zero_page = bytes(PAGE)
    with open(f"/proc/{pid}/maps") as f:
        lines = f.read().splitlines()
    with open(f"/proc/{pid}/mem", "rb", 0) as mem, open(f"/proc/{pid}/pagemap", "rb", 0) as pm, \
            open(out_path, "wb") as out:
        for line in lines:
            fields = line.split()
            name = fields[5] if len(fields) > 5 else ""
            if fields[1] != "rw-p" or name not in ("", "[heap]"):
                continue
            lo, hi = (int(v, 16) for v in fields[0].split("-"))
            maps += 1
            pm.seek(lo // PAGE * 8)
            entries = pm.read((hi - lo) // PAGE * 8)
            for k in range(len(entries) // 8):
                (entry,) = struct.unpack_from("<Q", entries, k * 8)
                if not entry >> 62 & 3:  # neither present nor swapped: never touched
                    continue
                mem.seek(lo + k * PAGE)
                data = mem.read(PAGE)
                out.write(data)
                pages += 1
                zero += data == zero_page
    return {"pages": pages, "zero_pages": zero, "mappings": maps}


def main(argv: list[str]) -> int:
    if len(argv) not in (3, 4):
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    out_path, mib = argv[1], int(argv[2])
    seed = int(argv[3]) if len(argv) == 4 else 1
    ready_r, ready_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(ready_r)
        state = build_state(mib, seed)
        os.write(ready_w, str(rss_bytes() >> 10).encode())
        os.close(ready_w)
        signal.pause()  # keep the state alive until the parent has read it
        del state
        os._exit(0)
    os.close(ready_w)
    rss_kib = int(os.read(ready_r, 64) or b"0")
    try:
        summary = dump_mappings(pid, out_path)
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    summary["child_rss_kib"] = rss_kib
    print(json.dumps(summary))
    return 0 if summary["pages"] else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
