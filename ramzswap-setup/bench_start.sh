#!/bin/sh
# How much does `ramzswap-setup start` cost at boot? Run as root in the guest (or on a board).
#
# Times ROUNDS fresh starts (a stop before each, not timed) and ROUNDS runs of
# `python3 -c pass`, and prints the medians and their ratio (goal: at most 2), then the same
# as one JSON line for tests. Leaves compressed swap started.
#
# Usage: bench_start.sh [ROUNDS] [HELPER]    (defaults: 5, ramzswap-setup from PATH)

set -eu
ROUNDS="${1:-5}"
HELPER="${2:-ramzswap-setup}"

exec python3 - "$ROUNDS" "$HELPER" <<'EOF'
import json
import statistics
import subprocess
import sys
import time

rounds, helper = int(sys.argv[1]), sys.argv[2]


def wall(argv):
    began = time.perf_counter()
    result = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    elapsed = time.perf_counter() - began
    if result.returncode != 0:
        sys.exit(f"bench_start: {' '.join(argv)} failed ({result.returncode}): {result.stderr}")
    return elapsed


fresh, again, bare = [], [], []
for _ in range(rounds):
    wall([helper, "stop"])
    fresh.append(wall([helper, "start"]))
    again.append(wall([helper, "start"]))  # already started: the idempotent path
    bare.append(wall(["python3", "-c", "pass"]))
start_ms = statistics.median(fresh) * 1000
again_ms = statistics.median(again) * 1000
bare_ms = statistics.median(bare) * 1000
ratio = start_ms / bare_ms
print(f"start {start_ms:.1f} ms, start again {again_ms:.1f} ms, "
      f"python3 -c pass {bare_ms:.1f} ms: ratio {ratio:.2f} (goal <= 2)")
print(json.dumps({"rounds": rounds, "start_ms": round(start_ms, 2),
                  "start_again_ms": round(again_ms, 2), "python_pass_ms": round(bare_ms, 2),
                  "ratio": round(ratio, 3)}))
EOF
