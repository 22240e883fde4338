#!/usr/bin/env bash
# bench/fanout_perf.sh — where the server's CPU goes during one paced fan-out: kernel against user
# space, the share inside the send system call (and, within it, the loopback receiver's side that
# runs in the sender's context), epoll, futex and scheduling, and the user-space functions that
# cost most. Sampled with Debian's perf (`perf record -e cpu-clock -g`: no hardware counters
# needed) over the publishing phase only.
#
#   bench/fanout_perf.sh ws|sse [BIN]      # BIN: default this tree's release build
#
# Environment: CLIENTS (2000), MESSAGES (200), RATE (50: 2,000 × 50/s is 100,000 deliveries per
# second), TOP (15), KEEP (a file to copy perf.data to, for `perf report -i`).
set -euo pipefail
source "$(dirname "$0")/lib.sh" fanout_perf
TRANSPORT=${1:?usage: bench/fanout_perf.sh ws|sse [BIN]}
BIN=${2:-}
CLIENTS=${CLIENTS:-2000}
MESSAGES=${MESSAGES:-200}
RATE=${RATE:-50}
TOP=${TOP:-15}
TICKS=$(getconf CLK_TCK)
release_binary

start_serve ours --store memory --interval 1h --max-connections 19000
"$BIN" bench fanout --target "$SERVE_URL" --transport "$TRANSPORT" --clients "$CLIENTS" \
  --messages "$MESSAGES" --rate "$RATE" >"$WORK/fanout.out" 2>"$WORK/fanout.err" &
BENCH=$!; PIDS+=("$BENCH")
while kill -0 "$BENCH" 2>/dev/null && ! grep -q 'publishing' "$WORK/fanout.err"; do sleep 0.02; done
t0=$(awk '{ print $14, $15 }' "/proc/$SERVE_PID/stat")
perf record -e cpu-clock -F 2000 -g -p "$SERVE_PID" -o "$WORK/perf.data" 2>"$WORK/perf.err" &
PERF=$!
wait "$BENCH" || { log "bench fanout failed:"; cat "$WORK/fanout.err" >&2; exit 1; }
t1=$(awk '{ print $14, $15 }' "/proc/$SERVE_PID/stat")
kill -INT "$PERF"; wait "$PERF" || true
[[ -s $WORK/perf.data ]] || { log "perf recorded nothing:"; cat "$WORK/perf.err" >&2; exit 1; }
if [[ -n ${KEEP:-} ]]; then cp "$WORK/perf.data" "$KEEP"; fi

# Inclusive shares of the kernel functions that say where a delivery goes, then user-space self.
perf report -i "$WORK/perf.data" --children --sort sym -g none --stdio 2>/dev/null >"$WORK/children.txt"
perf report -i "$WORK/perf.data" --no-children --sort dso,sym -g none --stdio 2>/dev/null >"$WORK/self.txt"
python3 - "$WORK/fanout.out" "$WORK/children.txt" "$WORK/self.txt" "$t0" "$t1" "$TICKS" "$TOP" "$TRANSPORT" <<'EOF'
import json, re, sys
fan, children, selfs, t0, t1, hz, top, transport = sys.argv[1:]
r = json.loads(open(fan).read().strip().splitlines()[-1])
d = r["delivered"]
(u0, s0), (u1, s1) = map(int, t0.split()), map(int, t1.split())
us = lambda ticks: ticks * 1e6 / int(hz) / d
print(f"{transport}: delivered {d}, {r['deliveries_per_s']:.0f}/s, p50 {r['p50_ms']} ms, "
      f"server CPU {us(u1 - u0 + s1 - s0):.2f} µs per delivery "
      f"(user {us(u1 - u0):.2f}, system {us(s1 - s0):.2f}; /proc/PID/stat)")
print()
shares = {}
for line in open(children):
    m = re.match(r"\s*([\d.]+)%\s+([\d.]+)%\s+\[k\]\s+(\S+)", line)
    if m:
        shares.setdefault(m.group(3), float(m.group(1)))
rows = [
    ("kernel, all system calls", "do_syscall_64"),
    ("send (sendto: the write of a delivery)", "__sys_sendto"),
    ("  of which the loopback receiver's side (softirq in the sender's context)", "net_rx_action"),
    ("  of which waking the receiver (sock_def_readable)", "sock_def_readable"),
    ("read (recvfrom)", "__x64_sys_recvfrom"),
    ("epoll_ctl", "__x64_sys_epoll_ctl"),
    ("epoll_wait", "do_epoll_wait"),
    ("futex", "__x64_sys_futex"),
    ("scheduling (schedule)", "schedule"),
]
print("| where (samples, inclusive) | share |")
print("|---|---:|")
for label, sym in rows:
    print(f"| {label} | {shares.get(sym, 0.0):.1f}% |")
print()
print("| user-space function (self) | share |")
print("|---|---:|")
n = 0
for line in open(selfs):
    m = re.match(r"\s*([\d.]+)%\s+(\S+)\s+\[\.\]\s+(.*)$", line)
    if m and n < int(top):
        name = re.sub(r"::h[0-9a-f]{16}$", "", m.group(3).strip())
        print(f"| `{name[:110]}` | {float(m.group(1)):.1f}% |")
        n += 1
EOF
