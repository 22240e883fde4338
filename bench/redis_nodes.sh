#!/usr/bin/env bash
# bench/redis_nodes.sh — fan-out through several `longconn serve --hub redis://…` nodes (issue 7)
# beside one node with the in-process hub, same machine, same run, same load generator.
#
# Builds the release binary, starts a throwaway redis-server and the servers on free loopback
# ports, and runs `longconn bench fanout` four times, each server set started fresh:
#   1. one node, in-process hub, SINGLE_CLIENTS subscribers (the single-node reference);
#   2. one node on Redis, SINGLE_CLIENTS subscribers (what the Redis hop alone costs);
#   3. NODES nodes on Redis, NODE_CLIENTS subscribers dealt out over them, published on the first;
#   4. one node, in-process hub, NODE_CLIENTS subscribers (the same load on one process, which
#      fits here as long as NODE_CLIENTS stays under the 20,000 open files of one process).
# Prints a markdown section (machine, command, table with each p99 over the reference's and over
# one in-process node with as many subscribers) on stdout; progress goes to stderr. Takes under a
# minute.
#
#   bench/redis_nodes.sh >> BENCHMARKS.md
#
# Environment: NODES (3), NODE_CLIENTS (15000), SINGLE_CLIENTS (5000), MESSAGES (50), RATE (10),
# TRANSPORT (ws or sse; ws).
set -euo pipefail
source "$(dirname "$0")/lib.sh" redis_nodes

NODES=${NODES:-3}
NODE_CLIENTS=${NODE_CLIENTS:-15000}
SINGLE_CLIENTS=${SINGLE_CLIENTS:-5000}
MESSAGES=${MESSAGES:-50}
RATE=${RATE:-10}
TRANSPORT=${TRANSPORT:-ws}

command -v redis-server >/dev/null || {
  echo "redis_nodes: needs redis-server on PATH (apt-get install -y redis-server)" >&2; exit 2; }
command -v python3 >/dev/null || { echo "redis_nodes: needs python3 for the report" >&2; exit 2; }

log "cargo build --release"
cargo build --release --quiet >&2
BIN=$ROOT/target/release/longconn

# --- Redis --------------------------------------------------------------------------------
start_redis --appendonly no
log "redis-server $(redis-server --version | grep -oE 'v=[0-9.]+' | cut -c3-) at $REDIS_URL (pid $REDIS_PID)"

# --- servers ------------------------------------------------------------------------------
# start_nodes COUNT [--hub URL]: starts COUNT servers; their URLs in URLS, their PIDs in NODE_PIDS.
start_nodes() {
  local count=$1; shift
  URLS=(); NODE_PIDS=()
  for i in $(seq "$count"); do
    start_serve "node$i" --store memory --max-connections 19000 "$@"
    NODE_PIDS+=("$SERVE_PID"); URLS+=("$SERVE_URL")
  done
  log "nodes ${URLS[*]} $*"
}

RESULTS=$WORK/results.jsonl
: >"$RESULTS"
# fanout LABEL CLIENTS: runs `bench fanout` over every URL in URLS, records its JSON line with the
# largest VmHWM of the nodes, then stops the nodes.
fanout() {
  local label=$1 clients=$2 json targets=() hwm=0 kb
  for url in "${URLS[@]}"; do targets+=(--target "$url"); done
  log "$label: longconn bench fanout ${targets[*]} --transport $TRANSPORT --clients $clients --messages $MESSAGES --rate $RATE"
  json=$(timeout 300 "$BIN" bench fanout "${targets[@]}" --transport "$TRANSPORT" \
    --clients "$clients" --messages "$MESSAGES" --rate "$RATE" 2>"$WORK/bench.err" | tail -n1) || true
  tail -n1 "$WORK/bench.err" >&2
  [[ -n $json ]] || json='{"error":"no figures"}'
  log "$label: $json"
  for pid in "${NODE_PIDS[@]}"; do
    kb=$(awk '$1 == "VmHWM:" { print $2 }' "/proc/$pid/status")
    ((kb > hwm)) && hwm=$kb
  done
  echo "{\"label\":\"$label\",\"nodes\":${#URLS[@]},\"hwm_kb\":$hwm,\"figures\":$json}" >>"$RESULTS"
  stop_pids "${NODE_PIDS[@]}"
}

start_nodes 1
fanout "1 node, in-process hub" "$SINGLE_CLIENTS"
start_nodes 1 --hub "$REDIS_URL"
fanout "1 node on Redis" "$SINGLE_CLIENTS"
start_nodes "$NODES" --hub "$REDIS_URL"
fanout "$NODES nodes on Redis" "$NODE_CLIENTS"
start_nodes 1
fanout "1 node, in-process hub" "$NODE_CLIENTS"
elapsed=$((SECONDS - started_at))

# --- report -------------------------------------------------------------------------------
MACHINE="$(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//' || echo unknown cpu)), $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo) RAM, Linux $(uname -r)"
VERSIONS="$(rustc --version), redis-server $(redis-server --version | grep -oE 'v=[0-9.]+' | cut -c3-)"
COMMIT=$(git describe --always --dirty 2>/dev/null || echo unknown)

MACHINE=$MACHINE VERSIONS=$VERSIONS COMMIT=$COMMIT ELAPSED=$elapsed NODES=$NODES \
MESSAGES=$MESSAGES RATE=$RATE TRANSPORT=$TRANSPORT python3 - "$RESULTS" <<'PY'
import json, os, sys

env = os.environ
rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]

def num(value, digits=1):
    return "—" if value is None else f"{value:,.{digits}f}"

reference = rows[0]["figures"].get("p99_ms") if rows else None
# p99 of one in-process node by subscriber count: the same load without Redis or extra nodes.
in_process = {r["figures"].get("clients"): r["figures"].get("p99_ms") for r in rows
              if r["nodes"] == 1 and "in-process" in r["label"]}

def ratio(p99, base):
    return "—" if p99 is None or not base else f"{p99 / base:.2f}×"

print(f"## Several nodes (Redis)\n")
print(f"Fan-out of {env['MESSAGES']} messages at {env['RATE']}/s to {env['TRANSPORT'].upper()} "
      f"subscribers (`longconn bench fanout`), published on the first node; with several nodes "
      f"the subscribers are dealt out over them in turn, so most deliveries cross Redis. Each "
      f"set of servers is started fresh; all of them, Redis and the load generator share the "
      f"machine.\n")
print(f"- Machine: {env['MACHINE']}")
print(f"- Versions: {env['VERSIONS']}; commit {env['COMMIT']}")
print(f"- Command: `bench/redis_nodes.sh` ({env['ELAPSED']} s)\n")
first = rows[0]["figures"].get("clients", 0) if rows else 0
print(f"| setup | subscribers | lost (of expected) | p50 ms | p99 ms | max ms "
      f"| p99 / 1 node in-process, {first:,} | p99 / 1 node in-process, as many "
      f"| largest node VmHWM (MiB) |")
print("|---|---|---|---|---|---|---|---|---|")
for row in rows:
    f = row["figures"]
    p99 = f.get("p99_ms")
    lost = "—" if "lost" not in f else f"{f['lost']:,} (of {f['expected']:,})"
    clients = f"{f['clients']:,}" if "clients" in f else f.get("error", "—")
    print(f"| {row['label']} | {clients} | {lost} | {num(f.get('p50_ms'), 2)} | {num(p99, 2)} "
          f"| {num(f.get('max_ms'), 2)} | {ratio(p99, reference)} "
          f"| {ratio(p99, in_process.get(f.get('clients')))} | {num(row['hwm_kb'] / 1024)} |")
PY
