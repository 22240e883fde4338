#!/usr/bin/env bash
# bench/publish_cpu.sh — acknowledged publishes per second with the store, `--store memory` and the
# Redis hub, in one run, with the CPU each server spent per publish.
#
# Starts a throwaway redis-server (`appendonly yes`, `appendfsync always`: a publish is
# acknowledged once Redis fsynced it) and three `longconn serve` processes on free loopback ports:
# `--store WORK/b.db` (on the same disk as TMPDIR), `--store memory`, `--hub redis://`. Each is
# driven in turn, ROUNDS times, by `longconn bench publish` (keep-alive `POST /publish`, 64-byte
# bodies, one channel); the server's CPU time (user, system; /proc/PID/stat) is divided by the
# publishes acknowledged, and so is the load generator's (`bench publish` shares the machine: the
# two together are what a publish costs these cores). On a machine shared with other work read the
# ratios to `--store memory` of the same round more than the figures. With `perf` installed, the server's fsync and fdatasync
# calls are counted too (tracepoints `syscalls:sys_enter_*`): publishes per sync is the average
# group a sync made durable.
#
#   bench/publish_cpu.sh          # markdown table on stdout, progress on stderr
#
# Environment: BIN (default: the release build, built first), CONNECTIONS (64), DURATION (5s),
# ROUNDS (2).
set -euo pipefail
source "$(dirname "$0")/lib.sh" publish_cpu
CONNECTIONS=${CONNECTIONS:-64}
DURATION=${DURATION:-5s}
ROUNDS=${ROUNDS:-2}
command -v redis-server >/dev/null || {
  echo "publish_cpu: needs redis-server on PATH (apt-get install -y redis-server)" >&2; exit 2; }
if [[ -z ${BIN:-} ]]; then
  cargo build --release --quiet >&2
  BIN=$ROOT/target/release/longconn
fi

start_redis --appendonly yes --appendfsync always

declare -A PID URL
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

echo "| round | hub | acknowledged/s | p50 ms | p99 ms | errors | server user µs/publish | server sys µs/publish | server µs/publish | client µs/publish | publishes per fsync |"
echo "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
for round in $(seq "$ROUNDS"); do
  for hub in store memory redis; do
    log "round $round: $hub"
    read -r u0 s0 < <(ticks "${PID[$hub]}")
    perf_pid=""
    if command -v perf >/dev/null; then
      perf stat -x, -e syscalls:sys_enter_fsync,syscalls:sys_enter_fdatasync -p "${PID[$hub]}" \
        -o "$WORK/perf.csv" 2>/dev/null &
      perf_pid=$!
    fi
    times >"$WORK/times0"
    "$BIN" bench publish --target "${URL[$hub]}" --connections "$CONNECTIONS" \
      --duration "$DURATION" >"$WORK/gen.json" 2>/dev/null || true
    times >"$WORK/times1"
    read -r u1 s1 < <(ticks "${PID[$hub]}")
    per_sync="-"
    if [[ -n $perf_pid ]]; then
      kill -INT "$perf_pid" 2>/dev/null || true
      wait "$perf_pid" 2>/dev/null || true
      syncs=$(awk -F, '/sys_enter_f/ { n += $1 } END { print n + 0 }' "$WORK/perf.csv")
      per_sync=$(awk -v n="$(field requests "$WORK/gen.json")" -v s="$syncs" \
        'BEGIN { if (s > 0) printf "%.1f", n / s; else print "no fsync" }')
    fi
    n=$(field requests "$WORK/gen.json")
    echo "| $round | $hub | $(field requests_per_s "$WORK/gen.json") | $(field p50_ms "$WORK/gen.json") |" \
      "$(field p99_ms "$WORK/gen.json") | $(field errors "$WORK/gen.json") | $(us $((u1 - u0)) "$n") |" \
      "$(us $((s1 - s0)) "$n") | $(us $((u1 - u0 + s1 - s0)) "$n") |" \
      "$(awk -v a="$(children_cpu "$WORK/times0")" -v b="$(children_cpu "$WORK/times1")" -v n="$n" \
        'BEGIN { printf "%.1f", n ? (b - a) * 1e6 / n : 0 }') |" \
      "$per_sync |"
  done
done
