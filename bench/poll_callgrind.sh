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
if [[ -z $BIN ]]; then
  cargo build --release --quiet >&2
  BIN=$ROOT/target/release/longconn
fi

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

python3 - "$DUMP" "$REQUESTS" "$TOP" "${INCLUSIVE:-0}" <<'PY'
import re, sys
path, requests, top, inclusive = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == "1"
names, self_ir, incl_ir, total, mallocs = {}, {}, {}, 0, 0
fn = cfn = None
def name(kind, text):
    m = re.match(r"\((\d+)\)(?: (.*))?", text)
    if not m:
        return text
    key = (kind, m.group(1))
    if m.group(2) is not None:
        names[key] = m.group(2)
    return names.get(key, text)
pending_call = False
for line in open(path, errors="replace"):
    line = line.rstrip("\n")
    if line.startswith("fn="):
        fn, pending_call = name("fn", line[3:]), False
    elif line.startswith("cfn="):
        cfn = name("fn", line[4:])
    elif line.startswith(("fl=", "fi=", "fe=", "cfi=", "cfl=", "ob=", "cob=")):
        kind = line.split("=", 1)[0].lstrip("c")
        kind = {"fi": "fl", "fe": "fl"}.get(kind, kind)
        name(kind, line.split("=", 1)[1])
    elif line.startswith("calls="):
        pending_call = True
        if cfn in ("malloc", "realloc", "calloc"):
            mallocs += int(line[6:].split()[0])
    elif line and (line[0].isdigit() or line[0] in "+-*"):
        parts = line.split()
        ir = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
        if pending_call:
            # The inclusive cost of a call: not this function's own (a recursive call aside).
            pending_call = False
            if cfn != fn:
                incl_ir[fn] = incl_ir.get(fn, 0) + ir
            continue
        self_ir[fn] = self_ir.get(fn, 0) + ir
        incl_ir[fn] = incl_ir.get(fn, 0) + ir
        total += ir
short = lambda f: re.sub(r"::h[0-9a-f]{16}$", "", f)[:110]
print(f"| requests answered | {requests:,} |")
print(f"| instructions per request | {total / requests:,.0f} |")
print(f"| malloc + realloc + calloc calls per request | {mallocs / requests:.2f} |")
print()
print("| function (self) | instructions per request | share |")
print("|---|---:|---:|")
for f, ir in sorted(self_ir.items(), key=lambda kv: -kv[1])[:top]:
    print(f"| `{short(f)}` | {ir / requests:,.0f} | {100 * ir / total:.1f}% |")
if inclusive:
    print()
    print("| function (inclusive) | instructions per request |")
    print("|---|---:|")
    for f, ir in sorted(incl_ir.items(), key=lambda kv: -kv[1])[:top]:
        print(f"| `{short(f)}` | {ir / requests:,.0f} |")
PY
