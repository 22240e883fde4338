#!/usr/bin/env bash
# bench/fanout_callgrind.sh — user-space instructions and allocations per delivery of one paced
# fan-out, by function, under callgrind: a CPU figure that a busy shared machine does not move.
#
# Starts `BIN serve` (memory store, no ticker) under `valgrind --tool=callgrind`, subscribes
# CLIENTS clients with `longconn bench fanout`, zeroes the counts once they are all subscribed
# (`callgrind_control -z`), publishes MESSAGES at RATE per second, dumps the counts once the last
# delivery is in, and prints: instructions per delivery (every thread of the server), malloc calls
# per delivery, and the functions that spent the most (self cost), per delivery. The rate is low
# on purpose: under callgrind the server runs ~50× slower, and a server that falls behind writes
# several messages at once, which is not the workload being measured.
#
#   bench/fanout_callgrind.sh ws|sse [BIN]      # BIN: default this tree's release build
#
# Environment: CLIENTS (100), MESSAGES (40), RATE (5), TOP (25), KEEP (a file to copy the dump to).
set -euo pipefail
source "$(dirname "$0")/lib.sh" fanout_callgrind
TRANSPORT=${1:?usage: bench/fanout_callgrind.sh ws|sse [BIN]}
BIN=${2:-}
CLIENTS=${CLIENTS:-100}
MESSAGES=${MESSAGES:-40}
RATE=${RATE:-5}
TOP=${TOP:-25}
release_binary

valgrind --tool=callgrind --callgrind-out-file="$WORK/cg.%p" "$BIN" serve --addr 127.0.0.1:0 \
  --store memory --interval 1h >"$WORK/serve.out" 2>"$WORK/serve.err" &
SERVER=$!; PIDS+=("$SERVER")
URL=$(wait_for_line "$WORK/serve.out" 'listening on' 120 | grep -oE 'http://[0-9.:]+') \
  || { log "the server did not start:"; cat "$WORK/serve.err" >&2; exit 3; }

"$BIN" bench fanout --target "$URL" --transport "$TRANSPORT" --clients "$CLIENTS" \
  --messages "$MESSAGES" --rate "$RATE" --drain 30s >"$WORK/fanout.out" 2>"$WORK/fanout.err" &
BENCH=$!; PIDS+=("$BENCH")
while kill -0 "$BENCH" 2>/dev/null && ! grep -q 'publishing' "$WORK/fanout.err"; do sleep 0.05; done
callgrind_control -z "$SERVER" >/dev/null
wait "$BENCH" || { log "bench fanout failed:"; cat "$WORK/fanout.err" >&2; exit 1; }
callgrind_control -d "$SERVER" >/dev/null
DELIVERED=$(grep -oE '"delivered":[0-9]+' "$WORK/fanout.out" | cut -d: -f2)
log "delivered $DELIVERED of $((CLIENTS * MESSAGES))"
# The dump written by -d is the one with the highest part number.
DUMP=$(ls -v "$WORK"/cg.*.* 2>/dev/null | tail -1)
# KEEP=FILE: keep the dump (for callgrind_annotate).
if [[ -n ${KEEP:-} ]]; then cp "$DUMP" "$KEEP"; fi
[[ -n $DUMP ]] || { log "no callgrind dump"; exit 1; }

"$ROOT/bench/callgrind_costs.py" "$DUMP" "$DELIVERED" delivery "$TOP"
