#!/usr/bin/env bash
# bench/poll_cpu.sh — where keep-alive /poll spends its CPU: ours beside the Node peer.
#
# Starts both servers on free loopback ports and drives each, in turn, with `longconn bench poll`
# (and with `wrk` when it is installed), reading the CPU time (user, system; /proc/PID/stat) that
# the server and the load generator each spent, divided by the requests answered. On a 2-core
# machine the two processes share the cores, so requests per second is bounded by
# 2 cores / (server µs + generator µs per request) for a server that uses both cores, and by one
# core / server µs for a single-threaded one: this table says how far from that bound each run is.
#
# With SYSCALLS=1 (needs Debian's perf and readable tracepoints) it also counts each server's
# system calls per request: reads (read + recvfrom), writes (write + writev + sendto), epoll_ctl,
# epoll waits (epoll_wait + epoll_pwait) and futex (wake-ups between threads); perf then runs
# beside the server, which costs CPU of its own, so compare CPU figures of runs without it.
#
#   bench/poll_cpu.sh            # markdown table on stdout, progress on stderr (about a minute)
#
# Environment: NODE_PEER_DIR (as bench/compare.sh), CONNECTIONS (50), DURATION (5s), ROUNDS (2),
# BIN (a longconn binary to measure, e.g. an older build; default: this tree's release build),
# SYSCALLS (0).
set -euo pipefail
source "$(dirname "$0")/lib.sh" poll_cpu
CONNECTIONS=${CONNECTIONS:-50}
DURATION=${DURATION:-5s}
ROUNDS=${ROUNDS:-2}
NODE_PEER_DIR=${NODE_PEER_DIR:-$ROOT/../shared/reference/seed-node}
NODE_PEER_DIR=$(node_peer_dir "$NODE_PEER_DIR")

release_binary

start_serve ours --store memory
OURS_PID=$SERVE_PID OURS_URL=$SERVE_URL
PORT=0 node "$NODE_PEER_DIR/node_peer.js" >"$WORK/node.out" 2>&1 &
NODE_PID=$!; PIDS+=("$NODE_PID")
NODE_URL=http://$(wait_for_line "$WORK/node.out" 'listening on' 20 | grep -oE '[0-9.]+:[0-9]+') \
  || { log "the Node peer did not start:"; cat "$WORK/node.out" >&2; exit 3; }

TICKS=$(getconf CLK_TCK)
# ticks PID: user and system CPU time in clock ticks.
ticks() { awk '{ print $14, $15 }' "/proc/$1/stat"; }
# children: user and system CPU time of this script's waited-for children (the generators).
children() { awk '{ print $16, $17 }' "/proc/$$/stat"; }
us() { awk -v t="$1" -v n="$2" -v hz="$TICKS" 'BEGIN { printf "%.2f", t * 1e6 / hz / n }'; }

SYSCALLS=${SYSCALLS:-0}
EVENTS=syscalls:sys_enter_read,syscalls:sys_enter_recvfrom,syscalls:sys_enter_write,syscalls:sys_enter_writev,syscalls:sys_enter_sendto,syscalls:sys_enter_epoll_ctl,syscalls:sys_enter_epoll_wait,syscalls:sys_enter_epoll_pwait,syscalls:sys_enter_futex
# per_request NAMES...: the perf counts of these events (summed), per request.
per_request() {
  local sum=0 name n
  for name in "$@"; do
    n=$(awk -F, -v e="syscalls:sys_enter_$name" '$3 == e { print $1 }' "$WORK/perf.out")
    sum=$((sum + ${n:-0}))
  done
  awk -v s="$sum" -v r="$requests" 'BEGIN { printf "%.2f", s / r }'
}

if [[ $SYSCALLS == 1 ]]; then
  echo "| generator | server | requests/s | server user µs | server sys µs | server µs/request | generator µs/request | reads | writes | epoll_ctl | epoll waits | futex |"
  echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
else
  echo "| generator | server | requests/s | server user µs | server sys µs | server µs/request | generator µs/request |"
  echo "|---|---|---:|---:|---:|---:|---:|"
fi
for round in $(seq "$ROUNDS"); do
  for tool in bench wrk; do
    if [[ $tool == wrk ]] && ! command -v wrk >/dev/null; then continue; fi
    for side in ours node; do
      if [[ $side == ours ]]; then pid=$OURS_PID url=$OURS_URL; else pid=$NODE_PID url=$NODE_URL; fi
      log "round $round, $tool against $side"
      if [[ $SYSCALLS == 1 ]]; then
        perf stat -x, -e "$EVENTS" -p "$pid" -o "$WORK/perf.out" &
        perf_pid=$!
      fi
      read -r su0 ss0 < <(ticks "$pid")
      read -r gu0 gs0 < <(children)
      if [[ $tool == bench ]]; then
        "$BIN" bench poll --target "$url" --connections "$CONNECTIONS" --duration "$DURATION" \
          >"$WORK/gen.out" 2>/dev/null &
      else
        wrk -t1 -c"$CONNECTIONS" -d"$DURATION" "$url/poll?since=0&channel=pollcpu" >"$WORK/gen.out" &
      fi
      gen=$!
      wait "$gen" || true
      read -r su1 ss1 < <(ticks "$pid")
      read -r gu1 gs1 < <(children)
      if [[ $SYSCALLS == 1 ]]; then
        kill -INT "$perf_pid" 2>/dev/null || true
        wait "$perf_pid" 2>/dev/null || true
      fi
      if [[ $tool == bench ]]; then
        requests=$(grep -oE '"requests":[0-9]+' "$WORK/gen.out" | cut -d: -f2)
        rps=$(grep -oE '"requests_per_s":[0-9.]+' "$WORK/gen.out" | cut -d: -f2)
      else
        requests=$(awk '/requests in/ { print $1 }' "$WORK/gen.out")
        rps=$(awk '/Requests\/sec/ { print $2 }' "$WORK/gen.out")
      fi
      [[ -n $requests && $requests -gt 0 ]] || { log "$tool against $side gave no figures"; continue; }
      row="| $tool | $side | ${rps%.*} | $(us $((su1 - su0)) "$requests") | $(us $((ss1 - ss0)) "$requests") | $(us $((su1 - su0 + ss1 - ss0)) "$requests") | $(us $((gu1 - gu0 + gs1 - gs0)) "$requests") |"
      if [[ $SYSCALLS == 1 ]]; then
        row+=" $(per_request read recvfrom) | $(per_request write writev sendto) | $(per_request epoll_ctl) | $(per_request epoll_wait epoll_pwait) | $(per_request futex) |"
      fi
      echo "$row"
    done
  done
done
