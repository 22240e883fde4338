#!/usr/bin/env bash
# bench/syscalls.sh — system calls and CPU per delivery of one fan-out, on ours and on the floor.
#
# Starts `longconn serve` (memory store) and `longconn bench floor` on free loopback ports; for
# each transport and server, runs `longconn bench fanout` and counts the server's system calls
# with `perf stat -e syscalls:sys_enter_*` (Debian's perf; tracepoints must be readable) over the
# whole run, and its CPU time from /proc/PID/stat over the publishing phase. Prints a markdown
# table on stdout: per delivery, the writes (write + writev + sendto), epoll_ctl, epoll_wait,
# futex (wake-ups between threads), recvfrom and read calls, µs of CPU (user + system, and the
# two apart), and µs of CPU per write: a server that falls behind writes several messages at once,
# so on a busy machine CPU per delivery follows the batching, CPU per write much less. Where perf
# cannot follow the server (the floor's threads come and go), the counts read —.
#
#   bench/syscalls.sh
#
# Environment: CLIENTS (2000), MESSAGES (250), RATE (100000: saturation; 50 for 100,000/s),
# TRANSPORTS ("ws sse"), SIDES ("ours floor"), BIN (a longconn binary to measure, e.g. an older
# build for a before/after pair; default: build this tree's release binary).
set -euo pipefail
source "$(dirname "$0")/lib.sh" syscalls
CLIENTS=${CLIENTS:-2000}
MESSAGES=${MESSAGES:-250}
RATE=${RATE:-100000}
TRANSPORTS=${TRANSPORTS:-ws sse}
SIDES=${SIDES:-ours floor}
TICKS=$(getconf CLK_TCK)

release_binary
start_serve ours --store memory --max-connections 19000
OURS=$SERVE_PID OURS_URL=$SERVE_URL
"$BIN" bench floor >"$WORK/floor.out" 2>&1 &
FLOOR=$!; PIDS+=("$FLOOR")
FLOOR_URL=$(listening_url "$WORK/floor.out")

EVENTS=syscalls:sys_enter_write,syscalls:sys_enter_writev,syscalls:sys_enter_sendto,syscalls:sys_enter_epoll_ctl,syscalls:sys_enter_epoll_wait,syscalls:sys_enter_epoll_pwait,syscalls:sys_enter_epoll_pwait2,syscalls:sys_enter_futex,syscalls:sys_enter_recvfrom,syscalls:sys_enter_read
ticks() { awk '{ print $14, $15 }' "/proc/$1/stat"; }

echo "| server | transport | deliveries | writes | epoll_ctl | epoll_wait + epoll_pwait | futex | recvfrom + read | CPU µs | user / system µs | CPU µs per write | deliveries/s | p99 ms |"
echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
for transport in $TRANSPORTS; do
  for side in $SIDES; do
    if [[ $side == ours ]]; then pid=$OURS url=$OURS_URL; else pid=$FLOOR url=$FLOOR_URL; fi
    log "$side $transport"
    perf stat -x, -e "$EVENTS" -p "$pid" -o "$WORK/perf.out" &
    perf_pid=$!
    t0=$(ticks "$pid")
    "$BIN" bench fanout --target "$url" --transport "$transport" --clients "$CLIENTS" \
      --messages "$MESSAGES" --rate "$RATE" --drain 10s >"$WORK/fanout.out" 2>"$WORK/fanout.err" &
    bench=$!
    while kill -0 "$bench" 2>/dev/null && ! grep -q 'publishing' "$WORK/fanout.err"; do sleep 0.02; done
    t0=$(ticks "$pid")
    wait "$bench" || true
    t1=$(ticks "$pid")
    # perf gives up when a thread it attached to has gone (the floor runs one per connection).
    kill -INT "$perf_pid" 2>/dev/null || true; wait "$perf_pid" || true
    node -e '
      const fs = require("fs");
      const [perf, fan, side, transport, t0, t1, hz] = process.argv.slice(1);
      const [u0, s0] = t0.split(" ").map(Number), [u1, s1] = t1.split(" ").map(Number);
      const us = (ticks) => (ticks * 1e6) / hz;
      const r = JSON.parse(fs.readFileSync(fan, "utf8").trim().split("\n").pop());
      const c = {};
      for (const l of fs.readFileSync(perf, "utf8").split("\n")) {
        const f = l.split(",");
        if (f.length > 2 && f[2].startsWith("syscalls:")) c[f[2].replace("syscalls:sys_enter_", "")] = Number(f[0]) || 0;
      }
      const d = r.delivered, per = (x) => (Number.isFinite(x) ? (x / d).toFixed(3) : "—");
      const writes = c.write + c.writev + c.sendto, cpu = us(u1 - u0 + s1 - s0);
      const perWrite = Number.isFinite(writes) && writes > 0 ? (cpu / writes).toFixed(2) : "—";
      console.log(`| ${side} | ${transport} | ${d} | ${per(writes)} | ${per(c.epoll_ctl)} | ${per(c.epoll_wait + c.epoll_pwait + c.epoll_pwait2)} | ${per(c.futex)} | ${per(c.recvfrom + c.read)} | ${(cpu / d).toFixed(2)} | ${(us(u1 - u0) / d).toFixed(2)} / ${(us(s1 - s0) / d).toFixed(2)} | ${perWrite} | ${Math.round(r.deliveries_per_s)} | ${r.p99_ms} |`);
    ' "$WORK/perf.out" "$WORK/fanout.out" "$side" "$transport" "$t0" "$t1" "$TICKS"
  done
done
