#!/usr/bin/env bash
# bench/stalled_readers.sh — healthy subscribers' fan-out latency with and without clients that
# never read beside them on the same channel, on the release binary.
#
# Each case starts a fresh `longconn serve` (memory store). In the stalled cases, STALLED SSE
# clients with a 4 KiB receive buffer subscribe to the channel and never read, and FILL messages
# of 1 KiB are published first, so their sockets are full (and their writes waiting) before the
# timed run starts. Every case serves with --subscriber-queue 100000, so only the send timeout
# cuts a stalled reader. Then `longconn bench fanout` times CLIENTS healthy SSE subscribers receiving
# MESSAGES at RATE per second on that channel. Prints a markdown table on stdout; "fill s" is how
# long the FILL publishes took (one after the other, each waiting for its answer): with publish
# pacing, the stalled readers may hold a publish for the grace (100 ms), not more.
#
#   bench/stalled_readers.sh
#
# Environment: CLIENTS (200), MESSAGES (1000), RATE (100), STALLED (50), FILL (4000).
set -euo pipefail
source "$(dirname "$0")/lib.sh" stalled

CLIENTS=${CLIENTS:-200}
MESSAGES=${MESSAGES:-1000}
RATE=${RATE:-100}
STALLED=${STALLED:-50}
FILL=${FILL:-4000}

log "cargo build --release"
cargo build --release --quiet
BIN=$ROOT/target/release/longconn

# stalled_clients URL CHANNEL: opens $STALLED SSE subscribers that never read, publishes $FILL
# 1 KiB messages, prints "ready", then holds the sockets until killed.
stalled_clients() {
  python3 - "$1" "$2" "$STALLED" "$FILL" <<'PY'
import socket, sys, time, urllib.request
url, channel, count, fill = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
host, port = url.removeprefix("http://").split(":")
held = []
for _ in range(count):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect((host, int(port)))
    s.sendall(f"GET /sseStream?channel={channel} HTTP/1.1\r\nHost: localhost\r\n\r\n".encode())
    held.append(s)
data = b"x" * 1024
start = time.monotonic()
for _ in range(fill):
    urllib.request.urlopen(urllib.request.Request(f"{url}/publish?channel={channel}", data=data)).read()
print(f"ready {time.monotonic() - start:.2f}", flush=True)
while True:
    time.sleep(3600)
PY
}

# run_case NAME STALLED? SERVE_ARGS...: one fresh server, optionally the stalled clients, then the
# fan-out; prints one table row.
run_case() {
  local name=$1 stalled=$2
  shift 2
  local n=$((++CASES))
  local out=$WORK/serve-$n.out channel=stalled-$n-$$
  "$BIN" serve --addr 127.0.0.1:0 --store memory --subscriber-queue 100000 "$@" >"$out" 2>&1 &
  local server=$!
  PIDS+=("$server")
  local url
  url=$(listening_url "$out" 30)
  local helper="" fill="—"
  if [[ $stalled == yes ]]; then
    stalled_clients "$url" "$channel" >"$WORK/stalled-$n.out" 2>&1 &
    helper=$!
    PIDS+=("$helper")
    fill=$(wait_for_line "$WORK/stalled-$n.out" '^ready' 300 | cut -d' ' -f2)
  fi
  log "$name: fanout $CLIENTS × $MESSAGES at $RATE/s"
  local json
  json=$("$BIN" bench fanout --target "$url" --transport sse --clients "$CLIENTS" \
    --messages "$MESSAGES" --rate "$RATE" --channel "$channel" 2>>"$WORK/bench.err")
  local open
  open=$(ls /proc/"$server"/fd | wc -l)
  python3 -c '
import json, sys
r = json.loads(sys.argv[1])
print("| {0} | {3} | {1[delivered]}/{1[expected]} | {1[p50_ms]} | {1[p99_ms]} | {1[max_ms]} | {2} |".format(sys.argv[2], r, sys.argv[3], sys.argv[4]))
' "$json" "$name" "$open" "$fill"
  [[ -n $helper ]] && stop_pids "$helper"
  stop_pids "$server"
}

CASES=0
echo "| case | fill s | delivered | p50 ms | p99 ms | max ms | server fds after |"
echo "|---|---|---|---|---|---|---|"
run_case "no stalled readers" no
run_case "$STALLED stalled readers, --send-timeout 30s" yes
run_case "$STALLED stalled readers, --send-timeout 1s" yes --send-timeout 1s
run_case "$STALLED stalled readers, --send-timeout 30s, --publish-window off" yes --publish-window off
log "done in $((SECONDS - started_at))s"
