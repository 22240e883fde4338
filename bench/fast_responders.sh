#!/usr/bin/env bash
# bench/fast_responders.sh — what the fast responders earn: our server with them and with
# `--no-fast-responders`, on two figures that the load of other processes on the machine barely
# moves:
#
# - idle SSE: the server's VmRSS while IDLE_CLIENTS `GET /sseStream` clients are held, minus
#   VmRSS before they connected, per connection (each side on a freshly started server);
# - keep-alive `GET /poll`: the user-space instructions the server executes per request (the
#   server under valgrind's callgrind, counters zeroed after a warm-up and dumped after
#   `longconn bench poll` has driven it; perf's hardware counters are often missing in VMs), and
#   the server's CPU time per request without valgrind (that one moves with the machine's load).
#
#   bench/fast_responders.sh            # markdown table on stdout, progress on stderr
#
# Environment: BIN (the longconn binary to measure; default: this checkout's release build, built
# first), SIDES ("on off"; "on" alone measures a build without --no-fast-responders), IDLE_CLIENTS
# (5000), HOLD (10s), POLL_CONNECTIONS (50), POLL_DURATION (5s), ROUNDS (2).
set -euo pipefail
source "$(dirname "$0")/lib.sh" fast_responders
IDLE_CLIENTS=${IDLE_CLIENTS:-5000}
HOLD=${HOLD:-10s}
POLL_CONNECTIONS=${POLL_CONNECTIONS:-50}
POLL_DURATION=${POLL_DURATION:-5s}
ROUNDS=${ROUNDS:-2}
SIDES=${SIDES:-on off}
release_binary
command -v callgrind_control >/dev/null || { log "valgrind is not installed (Debian: valgrind)"; exit 2; }

# start SIDE [WRAPPER...]: a fresh server, with (on) or without (off) fast responders, run under
# WRAPPER when given; sets PID and URL.
PID=''
start() {
  if [[ -n $PID ]]; then stop_pids "$PID"; fi
  local flags=()
  [[ $1 == off ]] && flags=(--no-fast-responders)
  shift
  : >"$WORK/serve.out"
  "$@" "$BIN" serve --addr 127.0.0.1:0 --store memory --max-connections 19000 --interval 1h \
    "${flags[@]}" >"$WORK/serve.out" 2>"$WORK/serve.err" &
  PID=$!; PIDS+=("$PID")
  URL=$(wait_for_line "$WORK/serve.out" 'listening on' 120 | grep -oE 'http://[0-9.:]+') \
    || { log "the server did not start:"; cat "$WORK/serve.err" >&2; exit 3; }
}

status_kb() { awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status"; }
ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
json_field() { grep -oE "\"$2\":[0-9.]+" <<<"$1" | head -n1 | cut -d: -f2; }

echo "| fast responders | idle SSE held | idle SSE KiB per connection (ΔVmRSS) | /poll requests | /poll server CPU µs per request | /poll requests under callgrind | /poll user instructions per request |"
echo "|---|---:|---:|---:|---:|---:|---:|"
HZ=$(getconf CLK_TCK)
for round in $(seq "$ROUNDS"); do
  for side in $SIDES; do
    start "$side"
    log "round $round, fast responders $side: idle SSE, $IDLE_CLIENTS clients"
    before=$(status_kb "$PID" VmRSS)
    timeout 180 "$BIN" bench idle --target "$URL" --transport sse --clients "$IDLE_CLIENTS" \
      --hold "$HOLD" >"$WORK/idle.out" 2>"$WORK/idle.err" &
    gen=$!
    held_line=$(wait_for_line "$WORK/idle.err" 'holding [0-9]+ connections' 150 || true)
    sleep 1 # the last handshakes' writes
    rss=$(status_kb "$PID" VmRSS)
    wait "$gen" || true
    held=$(grep -oE 'holding [0-9]+' <<<"$held_line" | grep -oE '[0-9]+' || echo 0)
    per=$(awk -v a="$before" -v b="$rss" -v n="$held" 'BEGIN { printf "%.2f", n ? (b - a) / n : 0 }')

    start "$side"
    log "round $round, fast responders $side: keep-alive /poll, $POLL_CONNECTIONS connections"
    t0=$(ticks "$PID")
    "$BIN" bench poll --target "$URL" --connections "$POLL_CONNECTIONS" \
      --duration "$POLL_DURATION" >"$WORK/poll.out" 2>/dev/null || true
    t1=$(ticks "$PID")
    requests=$(json_field "$(tail -n1 "$WORK/poll.out")" requests)
    cpu=$(awk -v t=$((t1 - t0)) -v n="$requests" -v hz="$HZ" 'BEGIN { printf "%.2f", t * 1e6 / hz / n }')

    log "round $round, fast responders $side: keep-alive /poll under callgrind"
    start "$side" valgrind --tool=callgrind --callgrind-out-file="$WORK/callgrind.%p" -q
    "$BIN" bench poll --target "$URL" --connections "$POLL_CONNECTIONS" --duration 1s \
      >/dev/null 2>&1 || true # warm-up: connections, caches, the first allocations
    callgrind_control -z "$PID" >/dev/null
    "$BIN" bench poll --target "$URL" --connections "$POLL_CONNECTIONS" \
      --duration "$POLL_DURATION" >"$WORK/poll.out" 2>/dev/null || true
    callgrind_control -d "$PID" >/dev/null
    vg_requests=$(json_field "$(tail -n1 "$WORK/poll.out")" requests)
    instructions=$(cat "$WORK"/callgrind.$PID.* | awk '$1 == "totals:" || $1 == "summary:" { n = $2 } END { print n }')
    rm -f "$WORK"/callgrind.*
    per_request=$(awk -v i="$instructions" -v n="$vg_requests" 'BEGIN { printf "%.0f", i / n }')
    echo "| $side | $held | $per | $requests | $cpu | $vg_requests | $per_request |"
  done
done
