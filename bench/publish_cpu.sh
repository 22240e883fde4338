#!/usr/bin/env bash
# bench/publish_cpu.sh — acknowledged publishes per second with the store, `--store memory` and the
# Redis hub, in one run, with the CPU each server spent per publish.
#
# Starts a throwaway redis-server (`appendonly yes`, `appendfsync always`: a publish is
# acknowledged once Redis fsynced it) and three `longconn serve` processes on free loopback ports:
# `--store WORK/b.db` (on the same disk as TMPDIR), `--store memory`, `--hub redis://`. Each is
# driven in turn, ROUNDS times, by the load generator LOADGEN (keep-alive `POST /publish`, 64-byte
# bodies, one channel per run): `wrk` (default; Debian `wrk` with bench/publish.lua, which counts
# only 2xx answers as acknowledged) or `longconn` (`longconn bench publish`). The server's CPU time
# (user, system; /proc/PID/stat) is divided by the publishes acknowledged, and so is the load
# generator's (it shares the machine: the two together are what a publish costs these cores).
# With wrk, every acknowledged publish is then checked to be in the hub: a channel's ids are
# consecutive, so after the run `GET /poll?channel=C&since=MAX-1` must answer the message MAX (the
# largest id acknowledged), and the ids from the smallest acknowledged to its `last` must number at
# least the acknowledged count and at most that plus CONNECTIONS (publishes committed but still
# unanswered when wrk stopped); the `stored` column says `ok` or the script fails. At the end the
# store's server is killed (`kill -9`) and started again on the same file: each channel must still
# hold its message MAX (a line after the table says so, or the script fails). On a machine shared
# with other work read the ratios to `--store memory` of the same round more than the figures.
# With `perf` installed, the server's fsync and fdatasync calls are counted too (tracepoints
# `syscalls:sys_enter_*`): publishes per sync is the average group a sync made durable.
#
#   bench/publish_cpu.sh                   # markdown table on stdout, progress on stderr
#   LOADGEN=longconn bench/publish_cpu.sh  # the same with `longconn bench publish` as the client
#
# Environment: BIN (default: the release build, built first), CONNECTIONS (64), DURATION (5s),
# ROUNDS (2), LOADGEN (wrk), WRK_THREADS (1).
set -euo pipefail
source "$(dirname "$0")/lib.sh" publish_cpu
CONNECTIONS=${CONNECTIONS:-64}
DURATION=${DURATION:-5s}
ROUNDS=${ROUNDS:-2}
LOADGEN=${LOADGEN:-wrk}
WRK_THREADS=${WRK_THREADS:-1}
case $LOADGEN in
  wrk) command -v wrk >/dev/null || {
    echo "publish_cpu: LOADGEN=wrk needs wrk on PATH (apt-get install -y wrk)" >&2; exit 2; } ;;
  longconn) ;;
  *) echo "publish_cpu: LOADGEN must be wrk or longconn, not '$LOADGEN'" >&2; exit 2 ;;
esac
command -v redis-server >/dev/null || {
  echo "publish_cpu: needs redis-server on PATH (apt-get install -y redis-server)" >&2; exit 2; }
release_binary

start_redis --appendonly yes --appendfsync always

declare -A PID URL STORE_MAX
for hub in store memory redis; do
  case $hub in
    store) options=(--store "$WORK/b.db") ;;
    memory) options=(--store memory) ;;
    redis) options=(--store memory --hub "$REDIS_URL") ;;
  esac
  start_serve "$hub" --interval 1h "${options[@]}"
  PID[$hub]=$SERVE_PID URL[$hub]=$SERVE_URL
done

TICKS=$(getconf CLK_TCK)
ticks() { awk '{ print $14, $15 }' "/proc/$1/stat"; }
us() { awk -v t="$1" -v n="$2" -v hz="$TICKS" 'BEGIN { printf "%.1f", n ? t * 1e6 / hz / n : 0 }'; }
field() { grep -oE "\"$1\": *[0-9.]+" "$2" | grep -oE '[0-9.]+$'; }
# User + system seconds of this shell's finished children: bash `times` (run in this shell, not a
# subshell, whose children are not these), second line "XmY.YYYs XmY.YYYs".
children_cpu() { awk 'NR == 2 { n = 0; for (i = 1; i <= 2; i++) { split($i, p, "m");
  n += p[1] * 60 + substr(p[2], 1, length(p[2]) - 1) } printf "%.3f", n }' "$1"; }

# stored URL CHANNEL: checks that the channel holds every id wrk saw acknowledged (WORK/gen.json);
# prints `ok (N ids)` or fails the script.
stored() {
  local n low top last
  n=$(field acknowledged "$WORK/gen.json") low=$(field min_id "$WORK/gen.json")
  top=$(field max_id "$WORK/gen.json")
  ((n > 0)) || { echo "none acknowledged"; return; }
  answer=$(curl -sf "$1/poll?channel=$2&since=$((top - 1))" || true)
  last=$(grep -oE '"last": *[0-9]+' <<<"$answer" | grep -oE '[0-9]+$' || true)
  if [[ $answer == *"{\"id\":$top,"* ]] && ((last - low + 1 >= n && last - low + 1 <= n + CONNECTIONS)); then
    echo "ok ($((last - low + 1)) ids)"
  else
    log "$2: acknowledged $n ids $low..$top, but the channel's last id is ${last:-unknown}"
    exit 4
  fi
}

echo "| round | hub | loadgen | acknowledged/s | p50 ms | p99 ms | errors | server user µs/publish | server sys µs/publish | server µs/publish | client µs/publish | publishes per fsync | stored |"
echo "|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
for round in $(seq "$ROUNDS"); do
  for hub in store memory redis; do
    log "round $round: $hub ($LOADGEN)"
    channel=bench-$round-$hub
    read -r u0 s0 < <(ticks "${PID[$hub]}")
    perf_pid=""
    if command -v perf >/dev/null; then
      perf stat -x, -e syscalls:sys_enter_fsync,syscalls:sys_enter_fdatasync -p "${PID[$hub]}" \
        -o "$WORK/perf.csv" 2>/dev/null &
      perf_pid=$!
    fi
    times >"$WORK/times0"
    if [[ $LOADGEN == wrk ]]; then
      CHANNEL=$channel wrk -t "$WRK_THREADS" -c "$CONNECTIONS" -d "$DURATION" \
        -s "$ROOT/bench/publish.lua" "${URL[$hub]}" >"$WORK/wrk.out" 2>&1 || true
      times >"$WORK/times1"
      read -r u1 s1 < <(ticks "${PID[$hub]}")
      grep -E '^\{"acknowledged"' "$WORK/wrk.out" >"$WORK/gen.json" \
        || { log "wrk printed no summary:"; cat "$WORK/wrk.out" >&2; exit 3; }
      n=$(field acknowledged "$WORK/gen.json")
      rate=$(awk -v n="$n" -v s="$(field seconds "$WORK/gen.json")" 'BEGIN { printf "%.0f", n / s }')
      errors=$(($(field other "$WORK/gen.json") + $(field socket_errors "$WORK/gen.json")))
      check=$(stored "${URL[$hub]}" "$channel") || exit 4
      if [[ $hub == store ]]; then STORE_MAX[$channel]=$(field max_id "$WORK/gen.json"); fi
    else
      "$BIN" bench publish --target "${URL[$hub]}" --connections "$CONNECTIONS" \
        --duration "$DURATION" >"$WORK/gen.json" 2>/dev/null || true
      times >"$WORK/times1"
      read -r u1 s1 < <(ticks "${PID[$hub]}")
      n=$(field requests "$WORK/gen.json") rate=$(field requests_per_s "$WORK/gen.json")
      errors=$(field errors "$WORK/gen.json") check="-"
    fi
    per_sync="-"
    if [[ -n $perf_pid ]]; then
      kill -INT "$perf_pid" 2>/dev/null || true
      wait "$perf_pid" 2>/dev/null || true
      syncs=$(awk -F, '/sys_enter_f/ { n += $1 } END { print n + 0 }' "$WORK/perf.csv")
      per_sync=$(awk -v n="$n" -v s="$syncs" \
        'BEGIN { if (s > 0) printf "%.1f", n / s; else print "no fsync" }')
    fi
    echo "| $round | $hub | $LOADGEN | $rate | $(field p50_ms "$WORK/gen.json") |" \
      "$(field p99_ms "$WORK/gen.json") | $errors | $(us $((u1 - u0)) "$n") |" \
      "$(us $((s1 - s0)) "$n") | $(us $((u1 - u0 + s1 - s0)) "$n") |" \
      "$(awk -v a="$(children_cpu "$WORK/times0")" -v b="$(children_cpu "$WORK/times1")" -v n="$n" \
        'BEGIN { printf "%.1f", n ? (b - a) * 1e6 / n : 0 }') |" \
      "$per_sync | $check |"
  done
done

# The store's acknowledged publishes survive `kill -9`: a server started again on the same file
# must still hold, in each channel, the message with the largest id wrk saw acknowledged there.
if ((${#STORE_MAX[@]} > 0)); then
  kill -9 "${PID[store]}"; wait "${PID[store]}" 2>/dev/null || true
  start_serve store-again --interval 1h --store "$WORK/b.db"
  for channel in "${!STORE_MAX[@]}"; do
    top=${STORE_MAX[$channel]}
    answer=$(curl -sf "$SERVE_URL/poll?channel=$channel&since=$((top - 1))" || true)
    if [[ $answer != *"{\"id\":$top,"* ]]; then
      log "after kill -9: $channel no longer holds message $top, acknowledged before: $answer"
      exit 4
    fi
  done
  echo
  echo "After \`kill -9\` of the store's server and a restart on the same file, each of the" \
    "${#STORE_MAX[@]} store channels still held the message with the largest id acknowledged in it."
fi
