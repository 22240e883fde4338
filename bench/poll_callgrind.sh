#!/usr/bin/env bash
# bench/poll_callgrind.sh — user-space instructions and allocations per keep-alive `GET /poll`,
# by function, under callgrind: a CPU figure that a busy shared machine does not move.
#
# Starts `BIN serve` (memory store, no ticker) under `valgrind --tool=callgrind`, zeroes its
# counts (`callgrind_control -z`), drives it with `longconn bench poll` (CONNECTIONS keep-alive
# connections for DURATION), dumps the counts and prints: requests answered, instructions per
# request (every thread of the server), malloc calls per request, and the functions that spent the
# most (self cost and, with INCLUSIVE=1, inclusive cost), per request. Connection set-up is in the
# counts too, spread over the thousands of requests each connection sends.
#
#   bench/poll_callgrind.sh [BIN]      # BIN: default this tree's release build
#
# Environment: CONNECTIONS (10), DURATION (5s), TOP (25), KEEP (a file to copy the dump to, for
# callgrind_annotate), SERVE_ARGS (more `serve` options, e.g. --no-fast-responders).
set -euo pipefail
source "$(dirname "$0")/lib.sh" poll_callgrind
BIN=${1:-}
CONNECTIONS=${CONNECTIONS:-10}
DURATION=${DURATION:-5s}
TOP=${TOP:-25}
release_binary

# shellcheck disable=SC2086 # SERVE_ARGS is a list of options
valgrind --tool=callgrind --callgrind-out-file="$WORK/cg.%p" "$BIN" serve --addr 127.0.0.1:0 \
  --store memory --interval 1h ${SERVE_ARGS:-} >"$WORK/serve.out" 2>"$WORK/serve.err" &
SERVER=$!; PIDS+=("$SERVER")
URL=$(wait_for_line "$WORK/serve.out" 'listening on' 120 | grep -oE 'http://[0-9.:]+') \
  || { log "the server did not start:"; cat "$WORK/serve.err" >&2; exit 3; }

callgrind_control -z "$SERVER" >/dev/null
"$BIN" bench poll --target "$URL" --connections "$CONNECTIONS" --duration "$DURATION" \
  >"$WORK/poll.out" 2>"$WORK/poll.err" || { log "bench poll failed:"; cat "$WORK/poll.err" >&2; exit 1; }
callgrind_control -d "$SERVER" >/dev/null
REQUESTS=$(grep -oE '"requests":[0-9]+' "$WORK/poll.out" | cut -d: -f2)
[[ -n $REQUESTS && $REQUESTS -gt 0 ]] || { log "bench poll answered no requests"; exit 1; }
log "$REQUESTS requests answered"
# The dump written by -d is the one with the highest part number.
DUMP=$(ls -v "$WORK"/cg.*.* 2>/dev/null | tail -1)
[[ -n $DUMP ]] || { log "no callgrind dump"; exit 1; }
if [[ -n ${KEEP:-} ]]; then cp "$DUMP" "$KEEP"; fi

INCLUSIVE_FLAG=()
if [[ ${INCLUSIVE:-0} == 1 ]]; then INCLUSIVE_FLAG=(--inclusive); fi
"$ROOT/bench/callgrind_costs.py" "$DUMP" "$REQUESTS" request "$TOP" "${INCLUSIVE_FLAG[@]}"
