#!/usr/bin/env bash
# One of the before/after measurements in BENCHMARKS.md ("One request path ...").
# usage: idle.sh BIN TRANSPORT — ΔVmRSS per held idle connection (2,000)
BIN=$1; T=$2
port=$((21000 + RANDOM % 9000))
"$BIN" serve --addr 127.0.0.1:$port --store memory >"${TMPDIR:-/tmp}/idle-srv.log" 2>&1 &
pid=$!
for i in $(seq 100); do grep -q listening "${TMPDIR:-/tmp}/idle-srv.log" && break; sleep 0.1; done
before=$(awk '/VmRSS/{print $2}' /proc/$pid/status)
"$BIN" bench idle --target http://127.0.0.1:$port --transport $T --clients 2000 --hold 8s >"${TMPDIR:-/tmp}/idle.json" 2>"${TMPDIR:-/tmp}/idle.err" &
bpid=$!
sleep 6
during=$(awk '/VmRSS/{print $2}' /proc/$pid/status)
wait $bpid
kill -TERM $pid; wait $pid 2>/dev/null
echo "$T $(basename $BIN): per connection $(echo "scale=2; ($during-$before)/2000" | bc) KiB ($(cat "${TMPDIR:-/tmp}/idle.json" | head -c 200))"
