#!/usr/bin/env bash
# One of the before/after measurements in BENCHMARKS.md ("One request path ...").
# usage: fan.sh BIN TRANSPORT — server CPU µs per delivery over one fan-out (1,000 clients × 100 msgs at 20/s)
BIN=$1; T=$2
port=$((21000 + RANDOM % 9000))
"$BIN" serve --addr 127.0.0.1:$port --store memory >"${TMPDIR:-/tmp}/fan-srv.log" 2>&1 &
pid=$!
for i in $(seq 100); do grep -q listening "${TMPDIR:-/tmp}/fan-srv.log" && break; sleep 0.1; done
cpu() { awk '{print $14+$15}' /proc/$pid/stat; }
a=$(cpu)
"$BIN" bench fanout --target http://127.0.0.1:$port --transport $T --clients 1000 --messages 100 --rate 20 >"${TMPDIR:-/tmp}/fan.json" 2>"${TMPDIR:-/tmp}/fan.err"
b=$(cpu)
kill -TERM $pid; wait $pid 2>/dev/null
d=$(python3 -c "import json;j=json.load(open('${TMPDIR:-/tmp}/fan.json'));print(j.get('delivered'), j.get('p50_ms'), j.get('p99_ms'))")
echo "$T $(basename $BIN): ticks $((b-a)) delivered/p50/p99 $d  µs/delivery $(python3 -c "print(round(($b-$a)*10000/100000,2))")"
