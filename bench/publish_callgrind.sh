#!/usr/bin/env bash
# bench/publish_callgrind.sh — user-space instructions per acknowledged `POST /publish`, every
# thread of the server (HTTP, hub, the store's writer and sync threads), under callgrind: a CPU
# figure that a busy shared machine does not move.
#
# Starts `BIN serve --store WORK/b.db` (`store`) or `--store memory` (`memory`), no ticker, under
# `valgrind --tool=callgrind`; warms it up with a few publishes; zeroes the counts
# (`callgrind_control -z`); drives it with `wrk` and bench/publish.lua (keep-alive `POST
# /publish`, 64-byte bodies, one channel) for DURATION over CONNECTIONS connections; dumps the
# counts and prints the instructions per acknowledged publish and the functions that spent the
# most (self cost, `callgrind_annotate`), per publish. Under callgrind the server runs ~50×
# slower, so groups of publishes per store commit are smaller than at full speed.
#
#   bench/publish_callgrind.sh store|memory [BIN]   # BIN: default this tree's release build
#
# Environment: CONNECTIONS (16), DURATION (20s), TOP (20), EXTRA (more `serve` options, such as
# `--no-fast-responders`), KEEP (a file to copy the dump to).
set -euo pipefail
source "$(dirname "$0")/lib.sh" publish_callgrind
MODE=${1:?usage: bench/publish_callgrind.sh store|memory [BIN]}
BIN=${2:-}
CONNECTIONS=${CONNECTIONS:-16}
DURATION=${DURATION:-20s}
TOP=${TOP:-20}
case $MODE in
  store) STORE=$WORK/b.db ;;
  memory) STORE=memory ;;
  *) echo "publish_callgrind: the mode is store or memory, not '$MODE'" >&2; exit 2 ;;
esac
command -v callgrind_control >/dev/null || { log "valgrind is not installed (Debian: valgrind)"; exit 2; }
command -v wrk >/dev/null || { log "wrk is not installed (Debian: wrk)"; exit 2; }
release_binary

# shellcheck disable=SC2086 # EXTRA is a list of options
valgrind --tool=callgrind --callgrind-out-file="$WORK/cg.%p" "$BIN" serve --addr 127.0.0.1:0 \
  --store "$STORE" --interval 1h ${EXTRA:-} >"$WORK/serve.out" 2>"$WORK/serve.err" &
SERVER=$!; PIDS+=("$SERVER")
URL=$(wait_for_line "$WORK/serve.out" 'listening on' 120 | grep -oE 'http://[0-9.:]+') \
  || { log "the server did not start:"; cat "$WORK/serve.err" >&2; exit 3; }
for _ in $(seq 20); do
  curl -sf -X POST --data-binary warm "$URL/publish?channel=warm-up" >/dev/null
done
callgrind_control -z "$SERVER" >/dev/null
CHANNEL=bench wrk -t 1 -c "$CONNECTIONS" -d "$DURATION" -s "$ROOT/bench/publish.lua" "$URL" \
  >"$WORK/wrk.out" 2>&1 || true
callgrind_control -d "$SERVER" >/dev/null
ACKNOWLEDGED=$(grep -oE '"acknowledged":[0-9]+' "$WORK/wrk.out" | cut -d: -f2)
OTHER=$(grep -oE '"other":[0-9]+' "$WORK/wrk.out" | cut -d: -f2)
[[ ${ACKNOWLEDGED:-0} -gt 0 ]] || { log "no publish acknowledged:"; cat "$WORK/wrk.out" >&2; exit 1; }
# The dump written by -d is the one with the highest part number.
DUMP=$(ls -v "$WORK"/cg.*.* 2>/dev/null | tail -1)
[[ -n $DUMP ]] || { log "no callgrind dump"; exit 1; }
if [[ -n ${KEEP:-} ]]; then cp "$DUMP" "$KEEP"; fi
callgrind_annotate --inclusive=no --threshold=100 "$DUMP" >"$WORK/annotate.txt" 2>/dev/null
TOTAL=$(grep -m1 -E 'PROGRAM TOTALS' "$WORK/annotate.txt" | grep -oE '^ *[0-9,]+' | tr -d ', ')
echo "| store | acknowledged | other answers | instructions per publish |"
echo "|---|---:|---:|---:|"
awk -v m="$MODE${EXTRA:+ $EXTRA}" -v n="$ACKNOWLEDGED" -v o="$OTHER" -v t="$TOTAL" \
  'BEGIN { printf "| %s | %d | %d | %.1fk |\n", m, n, o, t / n / 1000 }'
echo
echo "| function (self) | instructions per publish |"
echo "|---|---:|"
# callgrind_annotate lists functions by cost: "COUNT (PCT)  FILE:FUNCTION [OBJECT]". The threads'
# outermost frames, still running when the counts were zeroed, show a thread's whole cost: they
# are left out.
OUTERMOST='clone$|start_thread$|thread_start$|vtable.shim}}$|__rust_begin_short_backtrace$|thread_main_loop$|LocalKey<T>::with$'
awk '/file:function/ { list = 1; next } list && /^ *[0-9,]+ \( *[0-9.]+%\)/ { print }' \
  "$WORK/annotate.txt" | sed -E 's/ \[[^]]*\]$//' | grep -vE "$OUTERMOST" | head -n "$TOP" \
  | awk -v n="$ACKNOWLEDGED" '{ c = $1; gsub(",", "", c); sub(/^ *[0-9,]+ \( *[0-9.]+%\) +/, "");
      sub(/ \[.*\]$/, ""); sub(/^[^:]*:/, ""); printf "| `%s` | %.0f |\n", substr($0, 1, 110), c / n }'
