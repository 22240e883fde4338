#!/usr/bin/env bash
# bench/compare.sh — longconn beside the Node.js peer, same machine, same run, same load generator.
#
# Builds the release binary, starts our server and the Node peer (node_peer.js: `http` + `ws`) on
# free loopback ports, runs every `longconn bench` workload on both, reads each server's memory
# from /proc/PID/status around the idle workloads, and prints a markdown report (machine, command,
# table with ratios ours/node) on stdout; progress goes to stderr. Takes about 3 minutes.
#
#   bench/compare.sh > BENCHMARKS.md
#
# Environment: NODE_PEER_DIR (default ../shared/reference/seed-node; copied to a temp dir and
# `npm install`ed there when it has no node_modules), IDLE_CLIENTS (5000), FANOUT_CLIENTS (2000),
# FANOUT_MESSAGES (100), FANOUT_RATE (20), SAT_MESSAGES (250), POLL_CONNECTIONS (50), HOLD (10s),
# POLL_DURATION (10s), WORKLOADS ("idle fanout saturate poll": a subset runs only those; the
# report then shows — for the rest).
set -euo pipefail
source "$(dirname "$0")/lib.sh" compare

IDLE_CLIENTS=${IDLE_CLIENTS:-5000}
FANOUT_CLIENTS=${FANOUT_CLIENTS:-2000}
FANOUT_MESSAGES=${FANOUT_MESSAGES:-100}
FANOUT_RATE=${FANOUT_RATE:-20}
SAT_MESSAGES=${SAT_MESSAGES:-250}
POLL_CONNECTIONS=${POLL_CONNECTIONS:-50}
HOLD=${HOLD:-10s}
POLL_DURATION=${POLL_DURATION:-10s}
WORKLOADS=${WORKLOADS:-idle fanout saturate poll}
NODE_PEER_DIR=${NODE_PEER_DIR:-$ROOT/../shared/reference/seed-node}

# --- build and the Node peer's dependencies -------------------------------------------------
log "cargo build --release"
cargo build --release --quiet >&2
BIN=$ROOT/target/release/longconn

NODE_PEER_DIR=$(node_peer_dir "$NODE_PEER_DIR")

# --- servers ------------------------------------------------------------------------------
# start_servers: (re)starts ours and the Node peer on fresh ports. Each idle workload gets fresh
# processes, so its ΔVmRSS is what new connections cost a server that has not served (and freed)
# others before: memory freed by an earlier workload would otherwise be reused and hide the cost.
OURS_PID='' NODE_PID=''
start_servers() {
  for pid in $OURS_PID $NODE_PID; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
  # Ours: the contract's flags only; --max-connections raised so the limit is not what is measured.
  "$BIN" serve --addr 127.0.0.1:0 --store memory --max-connections 19000 >"$WORK/ours.out" 2>"$WORK/ours.err" &
  OURS_PID=$!; PIDS+=("$OURS_PID")
  PORT=0 node "$NODE_PEER_DIR/node_peer.js" >"$WORK/node.out" 2>"$WORK/node.err" &
  NODE_PID=$!; PIDS+=("$NODE_PID")
  OURS_URL=$(wait_for_line "$WORK/ours.out" 'listening on' 20 | grep -oE 'http://[0-9.:]+') \
    || { log "our server did not start:"; cat "$WORK/ours.err" >&2; exit 3; }
  NODE_URL=http://$(wait_for_line "$WORK/node.out" 'listening on' 20 | grep -oE '[0-9.]+:[0-9]+') \
    || { log "the Node peer did not start:"; cat "$WORK/node.err" >&2; exit 3; }
  log "ours at $OURS_URL (pid $OURS_PID), node at $NODE_URL (pid $NODE_PID)"
}

# status_kb PID FIELD: a VmRSS/VmHWM figure in kB.
status_kb() { awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status"; }

RESULTS=$WORK/results.jsonl
: >"$RESULTS"
# record SERVER LABEL JSON [EXTRA-JSON-FIELDS]
record() {
  local fields=${4:-}
  echo "{\"server\":\"$1\",\"label\":\"$2\",\"figures\":$3${fields:+,$fields}}" >>"$RESULTS"
}

# bench SERVER LABEL ARGS...: runs one workload (bounded by `timeout`), records its JSON line.
# quiet: waits (at most 10 s) until neither server has used more than 10 ms of CPU in the last
# half second, so a workload does not share the cores with the previous one's aftermath (node's
# garbage collection, 2,000 connections closing).
quiet() {
  local deadline=$((SECONDS + 10)) before after
  cpu_ticks() { awk '{ s += $14 + $15 } END { print s }' "/proc/$OURS_PID/stat" "/proc/$NODE_PID/stat"; }
  while ((SECONDS < deadline)); do
    before=$(cpu_ticks); sleep 0.5; after=$(cpu_ticks)
    ((after - before <= 2)) && return 0
  done
  log "the servers did not go quiet within 10 s"
}

bench() {
  local server=$1 label=$2; shift 2
  local json
  quiet
  log "$server: longconn bench $*"
  json=$(timeout 180 "$BIN" bench "$@" 2>"$WORK/bench.err" | tail -n1) || true
  tail -n1 "$WORK/bench.err" >&2
  [[ -n $json ]] || json='{"error":"no figures"}'
  record "$server" "$label" "$json"
}

# idle SERVER PID URL TRANSPORT: memory before, while holding (after the bench's "holding" line),
# and the high-water mark after.
idle() {
  local server=$1 pid=$2 url=$3 transport=$4 json before held hwm
  quiet
  before=$(status_kb "$pid" VmRSS)
  log "$server: longconn bench idle --transport $transport --clients $IDLE_CLIENTS --hold $HOLD"
  timeout 180 "$BIN" bench idle --target "$url" --transport "$transport" \
    --clients "$IDLE_CLIENTS" --hold "$HOLD" >"$WORK/idle.out" 2>"$WORK/idle.err" &
  local bench_pid=$!
  if wait_for_line "$WORK/idle.err" 'holding [0-9]+ connections' 150 >/dev/null; then
    sleep 1 # let the server finish the handshakes' last writes before reading its memory
    held=$(status_kb "$pid" VmRSS)
  else
    held=$before
  fi
  wait "$bench_pid" || true
  hwm=$(status_kb "$pid" VmHWM)
  tail -n1 "$WORK/idle.err" >&2
  json=$(tail -n1 "$WORK/idle.out")
  [[ -n $json ]] || json='{"error":"no figures"}'
  record "$server" "idle_$transport" "$json" "\"rss_before_kb\":$before,\"rss_held_kb\":$held,\"hwm_kb\":$hwm"
}

# Each workload runs on ours then on node, back to back, so both see the same background load.
sides() { for side in ours node; do
  if [[ $side == ours ]]; then pid=$OURS_PID url=$OURS_URL; else pid=$NODE_PID url=$NODE_URL; fi
  "$@"
done; }
idle_on() { idle "$side" "$pid" "$url" "$1"; }
bench_on() { local label=$1; shift; bench "$side" "$label" "$@" --target "$url"; }
wants() { [[ " $WORKLOADS " == *" $1 "* ]]; }
if wants idle; then
  start_servers; sides idle_on ws
  start_servers; sides idle_on sse
fi
start_servers
if wants fanout; then
  for transport in ws sse; do
    sides bench_on "fanout_$transport" fanout --transport "$transport" \
      --clients "$FANOUT_CLIENTS" --messages "$FANOUT_MESSAGES" --rate "$FANOUT_RATE"
  done
fi
if wants saturate; then
  for transport in ws sse; do
    sides bench_on "saturate_$transport" fanout --transport "$transport" \
      --clients "$FANOUT_CLIENTS" --messages "$SAT_MESSAGES" --rate 100000 --drain 10s
  done
fi
if wants poll; then
  sides bench_on poll poll --connections "$POLL_CONNECTIONS" --duration "$POLL_DURATION"
fi
record_memory() { record "$side" memory "{\"rss_kb\":$(status_kb "$pid" VmRSS),\"hwm_kb\":$(status_kb "$pid" VmHWM)}"; }
sides record_memory
elapsed=$((SECONDS - started_at))

# --- report -------------------------------------------------------------------------------
MACHINE="$(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//' || echo unknown cpu)), $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo) RAM, Linux $(uname -r)"
VERSIONS="$(rustc --version), node $(node --version), ws $(node -p "require('$NODE_PEER_DIR/node_modules/ws/package.json').version")"
COMMIT=$(git describe --always --dirty 2>/dev/null || echo unknown)

MACHINE=$MACHINE VERSIONS=$VERSIONS COMMIT=$COMMIT ELAPSED=$elapsed \
IDLE_CLIENTS=$IDLE_CLIENTS FANOUT_CLIENTS=$FANOUT_CLIENTS FANOUT_MESSAGES=$FANOUT_MESSAGES \
FANOUT_RATE=$FANOUT_RATE SAT_MESSAGES=$SAT_MESSAGES POLL_CONNECTIONS=$POLL_CONNECTIONS \
POLL_DURATION=$POLL_DURATION HOLD=$HOLD node - "$RESULTS" <<'JS'
const fs = require("fs");
const env = process.env;
const rows = fs.readFileSync(process.argv[2], "utf8").trim().split("\n").map((l) => JSON.parse(l));
const get = (server, label) => (rows.find((r) => r.server === server && r.label === label) || {});
const num = (v) => (typeof v === "number" && isFinite(v) ? v : null);
const fmt = (v, digits = 1) => (v === null ? "—" : v.toLocaleString("en-US", { maximumFractionDigits: digits }));
const ratio = (a, b) => (a === null || b === null || b === 0 ? "—" : (a / b).toFixed(2) + "×");
const out = [];
const line = (what, metric, a, b, target, digits) =>
  out.push(`| ${what} | ${metric} | ${fmt(a, digits)} | ${fmt(b, digits)} | ${ratio(a, b)} | ${target} |`);
const n = (x) => Number(x).toLocaleString("en-US");

const perConn = (r) => {
  const held = num(r.figures && r.figures.held);
  return held ? (r.rss_held_kb - r.rss_before_kb) / held : null;
};
for (const t of ["ws", "sse"]) {
  const o = get("ours", `idle_${t}`), d = get("node", `idle_${t}`);
  const what = `idle ${t.toUpperCase()}, ${n(env.IDLE_CLIENTS)} clients`;
  line(what, "connections held", num(o.figures && o.figures.held), num(d.figures && d.figures.held), "all", 0);
  line(what, "memory per connection (KiB, ΔVmRSS / held)", perConn(o), perConn(d), "≤ 0.50×", 1);
  line(what, "server VmRSS while held (MiB)", o.rss_held_kb / 1024, d.rss_held_kb / 1024, "", 1);
}
for (const t of ["ws", "sse"]) {
  const o = get("ours", `fanout_${t}`).figures || {}, d = get("node", `fanout_${t}`).figures || {};
  const what = `fanout ${t.toUpperCase()}, ${n(env.FANOUT_CLIENTS)} × ${env.FANOUT_MESSAGES} at ${env.FANOUT_RATE}/s`;
  line(what, "lost (of " + n(o.expected || d.expected || 0) + ")", num(o.lost), num(d.lost), "0", 0);
  line(what, "p50 latency (ms)", num(o.p50_ms), num(d.p50_ms), "", 2);
  line(what, "p99 latency (ms)", num(o.p99_ms), num(d.p99_ms), "≤ 1.00×", 2);
  line(what, "max latency (ms)", num(o.max_ms), num(d.max_ms), "", 2);
}
for (const t of ["ws", "sse"]) {
  const o = get("ours", `saturate_${t}`).figures || {}, d = get("node", `saturate_${t}`).figures || {};
  const what = `saturation ${t.toUpperCase()}, ${n(env.FANOUT_CLIENTS)} × ${env.SAT_MESSAGES} unpaced`;
  line(what, "deliveries per second", num(o.deliveries_per_s), num(d.deliveries_per_s), "≥ 200,000", 0);
  line(what, "lost (of " + n(o.expected || d.expected || 0) + ")", num(o.lost), num(d.lost), "", 0);
  line(what, "p99 latency (ms)", num(o.p99_ms), num(d.p99_ms), "", 1);
}
{
  const o = get("ours", "poll").figures || {}, d = get("node", "poll").figures || {};
  const what = `poll, ${env.POLL_CONNECTIONS} keep-alive connections, ${env.POLL_DURATION}`;
  line(what, "requests per second", num(o.requests_per_s), num(d.requests_per_s), "≥ 2.00×", 0);
  line(what, "p99 latency (ms)", num(o.p99_ms), num(d.p99_ms), "", 2);
  line(what, "errors", num(o.errors), num(d.errors), "0", 0);
}
{
  const o = get("ours", "memory").figures || {}, d = get("node", "memory").figures || {};
  line("fan-out, saturation and poll", "server VmHWM (MiB)", o.hwm_kb / 1024, d.hwm_kb / 1024, "", 1);
}

console.log(`# Benchmarks: longconn beside Node.js

Generated by \`bench/compare.sh\` (commit ${env.COMMIT}); ${env.ELAPSED} s of workloads.

- Machine: ${env.MACHINE}
- Toolchains: ${env.VERSIONS}
- Command: \`bench/compare.sh > BENCHMARKS.md\` (both servers on loopback, one \`longconn bench\`
  process at a time driving one server at a time, each workload on ours then node back to back;
  ratios are ours / node)

| workload | figure | ours | node | ours/node | target |
|---|---|---:|---:|---:|---|
${out.join("\n")}

Idle memory is the server's VmRSS while all clients are held minus VmRSS just before they
connected, divided by the connections held (from \`/proc/PID/status\`); each idle workload runs
on freshly started servers, the other workloads on one more fresh pair. Fan-out latency is the
receive time minus the send timestamp carried in each published message (\`{"t":µs,"seq":k}\`);
lost counts (subscriber, message) pairs never received, a subscriber that failed to connect
losing all of its messages. Saturation publishes back to back (each \`POST /publish\` waits for
its answer) and divides deliveries by the time from the first publish to the last delivery.`);
const failures = rows.filter((r) => r.figures && r.figures.error);
if (failures.length) console.log(`\nWorkloads that produced no figures: ${failures.map((r) => r.server + " " + r.label).join(", ")}.`);
JS
log "done in $((SECONDS - started_at)) s"
