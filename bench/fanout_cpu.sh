#!/usr/bin/env bash
# bench/fanout_cpu.sh — server CPU µs per delivery over one paced fan-out, for before/after pairs
# of binaries (BENCHMARKS.md).
#
#   bench/fanout_cpu.sh BIN ws|sse
#
# Starts `BIN serve` (memory store, no ticker), subscribes CLIENTS clients with `BIN bench fanout`,
# and reads the server's user + system CPU time (/proc/PID/stat) from the moment every client is
# subscribed ("publishing") to the last delivery, so connection set-up is not counted.
# Environment: CLIENTS (1000), MESSAGES (100), RATE (20).
set -euo pipefail
BIN=${1:?usage: bench/fanout_cpu.sh BIN ws|sse}
T=${2:?usage: bench/fanout_cpu.sh BIN ws|sse}
CLIENTS=${CLIENTS:-1000}
MESSAGES=${MESSAGES:-100}
RATE=${RATE:-20}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/longconn-fanout_cpu.XXXXXX")
"$BIN" serve --addr 127.0.0.1:0 --store memory --interval 1h >"$WORK/srv.log" 2>&1 &
pid=$!
trap 'kill -TERM $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$WORK"' EXIT
for _ in $(seq 100); do grep -q listening "$WORK/srv.log" && break; sleep 0.1; done
url=$(grep -oE 'http://[0-9.:]+' "$WORK/srv.log")
cpu() { awk '{ print $14 + $15 }' "/proc/$pid/stat"; }
"$BIN" bench fanout --target "$url" --transport "$T" --clients "$CLIENTS" --messages "$MESSAGES" \
  --rate "$RATE" >"$WORK/fan.json" 2>"$WORK/fan.err" &
bench=$!
while kill -0 "$bench" 2>/dev/null && ! grep -qs 'publishing' "$WORK/fan.err"; do sleep 0.02; done
a=$(cpu)
wait "$bench"
b=$(cpu)
python3 - "$WORK/fan.json" "$T" "$(basename "$BIN")" "$((b - a))" "$(getconf CLK_TCK)" <<'EOF'
import json, sys
path, transport, name, ticks, hz = sys.argv[1:]
r = json.loads(open(path).read().strip().splitlines()[-1])
d = r["delivered"]
print(f"{transport} {name}: delivered {d}, p50 {r['p50_ms']} ms, p99 {r['p99_ms']} ms, "
      f"server CPU {int(ticks) * 1e6 / int(hz) / d:.2f} µs per delivery")
EOF
