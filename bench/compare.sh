#!/usr/bin/env bash
# bench/compare.sh — longconn beside Nchan (1 and 2 nginx workers), the Node.js peer and the
# fan-out floor, on one machine, in one run, with one load generator (`longconn bench`).
#
# Builds the release binary; starts our server, Nchan from the shared config
# (../shared/reference/nchan/nchan.conf.in, Debian nginx-light + libnginx-mod-nchan) with 1 and
# with 2 workers, the Node peer (node_peer.js: `http` + `ws`) and `longconn bench floor` (one
# blocking write per delivery, nothing else) on free loopback ports. Every server's CPU time
# (user + system) is read from /proc/PID/stat around each workload's publishing phase; for nginx
# that is the master plus its workers. Memory is VmRSS from /proc/PID/status (nginx: summed).
# Each fan-out and saturation workload runs ROUNDS times, the servers taking turns within each
# round, and the report gives the median of the rounds. Prints a markdown report on stdout,
# progress on stderr.
#
#   bench/compare.sh > report.md          # every workload, 5 rounds (see BENCHMARKS.md for times)
#   bench/compare.sh --quick              # a smoke run in well under a minute: few clients, 1 round
#   WORKLOADS="fanout saturate" SERVERS="ours nchan1 nchan2" bench/compare.sh   # latency only
#
# Environment: ROUNDS (5), IDLE_CLIENTS (5000), FANOUT_CLIENTS (2000), FANOUT_MESSAGES (250),
# FANOUT_RATE (50: 2,000 × 50/s is 100,000 deliveries per second), SAT_MESSAGES (250),
# POLL_CONNECTIONS (50), HOLD (10s), POLL_DURATION (10s), WORKLOADS ("idle fanout saturate poll"),
# SERVERS ("ours nchan1 nchan2 node floor": a subset runs only those, and the table shows only
# those; `unpaced` adds ours with `--publish-window off`, publishes answered once queued),
# OURS_ARGS (more `serve` options for ours, e.g. "--publish-window 4"), RECEIVERS (the load
# generator's receiving threads, `bench fanout --receivers`; unset: its default), BIN (default:
# the release build, built first), NODE_PEER_DIR
# (../shared/reference/seed-node), NCHAN_CONF (../shared/reference/nchan/nchan.conf.in).
# Nchan serves no /poll, and the floor only fan-out: their cells read —.
set -euo pipefail
source "$(dirname "$0")/lib.sh" compare

QUICK=0
[[ ${1:-} == --quick ]] && QUICK=1
if ((QUICK)); then
  : "${ROUNDS:=1}" "${IDLE_CLIENTS:=200}" "${FANOUT_CLIENTS:=200}" "${FANOUT_MESSAGES:=20}"
  : "${SAT_MESSAGES:=20}" "${HOLD:=1s}" "${POLL_DURATION:=1s}" "${POLL_CONNECTIONS:=10}"
fi
ROUNDS=${ROUNDS:-5}
IDLE_CLIENTS=${IDLE_CLIENTS:-5000}
FANOUT_CLIENTS=${FANOUT_CLIENTS:-2000}
FANOUT_MESSAGES=${FANOUT_MESSAGES:-250}
FANOUT_RATE=${FANOUT_RATE:-50}
RECEIVERS=${RECEIVERS:-}
# Passed only when set, so that a BIN built before the option still runs.
RECEIVE_ARGS=()
[[ -z $RECEIVERS ]] || RECEIVE_ARGS=(--receivers "$RECEIVERS")
SAT_MESSAGES=${SAT_MESSAGES:-250}
POLL_CONNECTIONS=${POLL_CONNECTIONS:-50}
HOLD=${HOLD:-10s}
POLL_DURATION=${POLL_DURATION:-10s}
WORKLOADS=${WORKLOADS:-idle fanout saturate poll}
SERVERS=${SERVERS:-ours nchan1 nchan2 node floor}
NODE_PEER_DIR=${NODE_PEER_DIR:-$ROOT/../shared/reference/seed-node}
NCHAN_CONF=${NCHAN_CONF:-$ROOT/../shared/reference/nchan/nchan.conf.in}
TICKS=$(getconf CLK_TCK)

# --- build and the Node peer's dependencies -------------------------------------------------
release_binary
if [[ " $SERVERS " == *" node "* ]]; then NODE_PEER_DIR=$(node_peer_dir "$NODE_PEER_DIR"); fi

# --- servers ------------------------------------------------------------------------------
declare -A PID URL
# wait_port PORT: until something accepts on it (at most 20 s).
wait_port() {
  local deadline=$((SECONDS + 20))
  until (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; do
    ((SECONDS < deadline)) || return 1
    sleep 0.1
  done
}

start_one() {
  local name=$1 out=$WORK/$1.out port dir
  # Emptied before the server starts: a restart would otherwise find the last one's address.
  : >"$out"
  case $name in
    ours | unpaced)
      # The contract's flags; --max-connections raised so the limit is not what is measured.
      local extra=()
      [[ $name == ours ]] && read -r -a extra <<<"${OURS_ARGS:-}"
      [[ $name == unpaced ]] && extra=(--publish-window off)
      "$BIN" serve --addr 127.0.0.1:0 --store memory --max-connections 19000 "${extra[@]}" \
        >"$out" 2>"$out.err" &
      PID[$name]=$!
      URL[$name]=$(listening_url "$out") ;;
    floor)
      "$BIN" bench floor >"$out" 2>"$out.err" &
      PID[$name]=$!
      URL[$name]=$(listening_url "$out") ;;
    node)
      PORT=0 node "$NODE_PEER_DIR/node_peer.js" >"$out" 2>"$out.err" &
      PID[$name]=$!
      URL[$name]=http://$(wait_for_line "$out" 'listening on' 20 | grep -oE '[0-9.]+:[0-9]+') ;;
    nchan1 | nchan2)
      port=$(free_port) dir=$WORK/$name
      rm -rf "$dir"; mkdir -p "$dir"
      sed "s#PREFIX#$dir#g; s#PORT#$port#; s#WORKERS#${name#nchan}#" "$NCHAN_CONF" >"$dir/nginx.conf"
      nginx -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log" >"$out" 2>"$out.err" &
      PID[$name]=$!
      wait_port "$port" || { log "nginx did not start:"; cat "$out.err" "$dir/error.log" >&2; exit 3; }
      URL[$name]=http://127.0.0.1:$port ;;
  esac
  [[ -n ${URL[$name]} ]] || { log "$name did not start:"; cat "$out.err" >&2; exit 3; }
  PIDS+=("${PID[$name]}")
  log "$name at ${URL[$name]} (pid ${PID[$name]})"
}
stop_one() {
  local pid=${PID[$1]:-}
  [[ -n $pid ]] || return 0
  # nginx: the master takes its workers down with it (SIGTERM: fast shutdown).
  stop_pids "$pid"
  PID[$1]='' URL[$1]=''
}
# start_servers NAME...: (re)starts these on fresh ports, so memory a previous workload freed is
# not counted as room for the next.
start_servers() { for name in "$@"; do stop_one "$name"; start_one "$name"; done; }

# pids_of NAME: the server's process and, for nginx, its workers.
pids_of() { echo "${PID[$1]}" $(pgrep -P "${PID[$1]}" || true); }
# cpu_ticks NAME: user + system clock ticks of the server's processes.
cpu_ticks() { local p; for p in $(pids_of "$1"); do cat "/proc/$p/stat"; done | awk '{ s += $14 + $15 } END { print s + 0 }'; }
# rss_kb NAME FIELD: VmRSS or VmHWM summed over the server's processes.
rss_kb() { local p; for p in $(pids_of "$1"); do cat "/proc/$p/status"; done | awk -v f="$2:" '$1 == f { s += $2 } END { print s + 0 }'; }

# quiet NAME...: waits (at most 10 s) until none of these used more than 20 ms of CPU in the last
# half second, so a workload does not share the cores with the previous one's aftermath.
quiet() {
  local deadline=$((SECONDS + 10)) before after name
  total() { local s=0; for name in "$@"; do s=$((s + $(cpu_ticks "$name"))); done; echo $s; }
  while ((SECONDS < deadline)); do
    before=$(total "$@"); sleep 0.5; after=$(total "$@")
    ((after - before <= 2)) && return 0
  done
  log "the servers did not go quiet within 10 s"
}

RESULTS=$WORK/results.jsonl
: >"$RESULTS"
# record SERVER LABEL ROUND JSON [EXTRA-JSON-FIELDS]
record() {
  local fields=${5:-}
  echo "{\"server\":\"$1\",\"label\":\"$2\",\"round\":$3,\"figures\":$4${fields:+,$fields}}" >>"$RESULTS"
}

# measure SERVER LABEL ROUND MARK ARGS...: runs `longconn bench ARGS --target URL` and reads the
# server's CPU ticks from the moment the bench prints MARK on stderr (the timed phase starts; the
# whole run when MARK is empty) to its exit.
measure() {
  local server=$1 label=$2 round=$3 mark=$4 json t0 t1 deadline
  shift 4
  quiet "$server"
  log "$server (round $round): longconn bench $*"
  t0=$(cpu_ticks "$server")
  timeout 300 "$BIN" bench "$@" --target "${URL[$server]}" >"$WORK/bench.out" 2>"$WORK/bench.err" &
  local bench_pid=$!
  if [[ -n $mark ]]; then
    deadline=$((SECONDS + 120))
    while kill -0 "$bench_pid" 2>/dev/null && ((SECONDS < deadline)); do
      if grep -q -E "$mark" "$WORK/bench.err"; then t0=$(cpu_ticks "$server"); break; fi
      sleep 0.02
    done
  fi
  wait "$bench_pid" || true
  t1=$(cpu_ticks "$server")
  tail -n1 "$WORK/bench.err" >&2
  json=$(tail -n1 "$WORK/bench.out")
  [[ -n $json ]] || json='{"error":"no figures"}'
  record "$server" "$label" "$round" "$json" "\"cpu_ms\":$(((t1 - t0) * 1000 / TICKS))"
}

# idle SERVER TRANSPORT: memory before, while holding (after the bench's "holding" line), and the
# high-water mark after.
idle() {
  local server=$1 transport=$2 json before held hwm
  quiet "$server"
  before=$(rss_kb "$server" VmRSS)
  log "$server: longconn bench idle --transport $transport --clients $IDLE_CLIENTS --hold $HOLD"
  timeout 180 "$BIN" bench idle --target "${URL[$server]}" --transport "$transport" \
    --clients "$IDLE_CLIENTS" --hold "$HOLD" >"$WORK/idle.out" 2>"$WORK/idle.err" &
  local bench_pid=$!
  if wait_for_line "$WORK/idle.err" 'holding [0-9]+ connections' 150 >/dev/null; then
    sleep 1 # let the server finish the handshakes' last writes before reading its memory
    held=$(rss_kb "$server" VmRSS)
  else
    held=$before
  fi
  wait "$bench_pid" || true
  hwm=$(rss_kb "$server" VmHWM)
  tail -n1 "$WORK/idle.err" >&2
  json=$(tail -n1 "$WORK/idle.out")
  [[ -n $json ]] || json='{"error":"no figures"}'
  record "$server" "idle_$transport" 1 "$json" "\"rss_before_kb\":$before,\"rss_held_kb\":$held,\"hwm_kb\":$hwm"
}

wants() { [[ " $WORKLOADS " == *" $1 "* ]]; }
# serving KIND...: the servers of SERVERS that serve this kind of workload.
serving() {
  local name
  for name in $SERVERS; do
    case $1 in
      idle) [[ $name != floor ]] && echo "$name" ;;
      fanout) echo "$name" ;;
      poll) [[ $name == ours || $name == unpaced || $name == node ]] && echo "$name" ;;
    esac
  done
}

if wants idle; then
  for transport in ws sse; do
    for name in $(serving idle); do start_servers "$name"; idle "$name" "$transport"; stop_one "$name"; done
  done
fi
FANOUT_SERVERS=$(serving fanout)
start_servers $FANOUT_SERVERS
MARK='subscribers ready; publishing'
for round in $(seq "$ROUNDS"); do
  for transport in ws sse; do
    if wants fanout; then
      for name in $FANOUT_SERVERS; do
        measure "$name" "fanout_$transport" "$round" "$MARK" fanout --transport "$transport" \
          --clients "$FANOUT_CLIENTS" --messages "$FANOUT_MESSAGES" --rate "$FANOUT_RATE" \
          "${RECEIVE_ARGS[@]}"
      done
    fi
    if wants saturate; then
      for name in $FANOUT_SERVERS; do
        measure "$name" "saturate_$transport" "$round" "$MARK" fanout --transport "$transport" \
          --clients "$FANOUT_CLIENTS" --messages "$SAT_MESSAGES" --rate 100000 --drain 10s \
          "${RECEIVE_ARGS[@]}"
      done
    fi
  done
done
if wants poll; then
  for name in $(serving poll); do
    measure "$name" poll 1 '' poll --connections "$POLL_CONNECTIONS" --duration "$POLL_DURATION"
  done
fi
elapsed=$((SECONDS - started_at))

# --- report -------------------------------------------------------------------------------
MACHINE="$(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//' || echo unknown cpu)), $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo) RAM, Linux $(uname -r)"
VERSIONS="$(rustc --version)"
if [[ " $SERVERS " == *" node "* ]]; then
  VERSIONS+=", node $(node --version), ws $(node -p "require('$NODE_PEER_DIR/node_modules/ws/package.json').version")"
fi
if [[ " $SERVERS " == *" nchan"* ]]; then
  VERSIONS+=", $(nginx -v 2>&1 | sed 's/^nginx version: //'), libnginx-mod-nchan $(dpkg-query -W -f '${Version}' libnginx-mod-nchan 2>/dev/null || echo '?')"
fi
COMMIT=$(git describe --always --dirty 2>/dev/null || echo unknown)
# The whole command, the settings that shape the run included, so that it can be repeated.
COMMAND="ROUNDS=$ROUNDS WORKLOADS=\"$WORKLOADS\" SERVERS=\"$SERVERS\"${OURS_ARGS:+ OURS_ARGS=\"$OURS_ARGS\"}${RECEIVERS:+ RECEIVERS=$RECEIVERS} bench/compare.sh${1:+ $1}"

SERVERS=$SERVERS MACHINE=$MACHINE VERSIONS=$VERSIONS COMMIT=$COMMIT ELAPSED=$elapsed COMMAND=$COMMAND ROUNDS=$ROUNDS \
IDLE_CLIENTS=$IDLE_CLIENTS FANOUT_CLIENTS=$FANOUT_CLIENTS FANOUT_MESSAGES=$FANOUT_MESSAGES \
FANOUT_RATE=$FANOUT_RATE SAT_MESSAGES=$SAT_MESSAGES POLL_CONNECTIONS=$POLL_CONNECTIONS \
POLL_DURATION=$POLL_DURATION HOLD=$HOLD node - "$RESULTS" <<'JS'
const fs = require("fs");
const env = process.env;
const text = fs.readFileSync(process.argv[2], "utf8").trim();
const rows = text ? text.split("\n").map((l) => JSON.parse(l)) : [];
const order = ["ours", "unpaced", "nchan1", "nchan2", "node", "floor"];
const wanted = env.SERVERS.split(/\s+/);
const servers = order.filter((s) => wanted.includes(s));
const others = servers.filter((s) => s !== "ours");
const titles = { ours: "ours", unpaced: "ours, --publish-window off", nchan1: "Nchan 1w", nchan2: "Nchan 2w", node: "Node", floor: "floor" };
const num = (v) => (typeof v === "number" && isFinite(v) ? v : null);
const median = (xs) => {
  const v = xs.filter((x) => x !== null).sort((a, b) => a - b);
  if (!v.length) return null;
  const m = Math.floor(v.length / 2);
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
};
// The median over rounds of figure(row) for one server and label.
const fig = (server, label, figure) =>
  median(rows.filter((r) => r.server === server && r.label === label && !(r.figures && r.figures.error)).map(figure));
const fmt = (v, digits) => (v === null ? "—" : v.toLocaleString("en-US", { maximumFractionDigits: digits }));
const ratio = (a, b) => (a === null || b === null || b === 0 ? "—" : (a / b).toFixed(2) + "×");
const n = (x) => Number(x).toLocaleString("en-US");
const out = [];
const line = (what, metric, figure, label, digits) => {
  const v = Object.fromEntries(servers.map((s) => [s, fig(s, label, figure)]));
  // A workload not run (WORKLOADS) leaves no row.
  if (servers.every((s) => v[s] === null)) return;
  out.push(`| ${what} | ${metric} | ${servers.map((s) => fmt(v[s], digits)).join(" | ")} | ` +
    `${others.map((s) => ratio(v.ours, v[s])).join(" | ")} |`);
};
const f = (key) => (r) => num(r.figures[key]);
const cpuPerDelivery = (r) => (num(r.figures.delivered) ? (r.cpu_ms * 1000) / r.figures.delivered : null);
const cpuPerRequest = (r) => {
  const total = num(r.figures.requests) ?? (num(r.figures.requests_per_s) && num(r.figures.elapsed_s) ? r.figures.requests_per_s * r.figures.elapsed_s : null);
  return total ? (r.cpu_ms * 1000) / total : null;
};
// Server and load generator together: on loopback the receiver's side of TCP is charged to
// whichever of the two processes the timing picks, their sum does not depend on it.
const machinePerDelivery = (r) => {
  const server = cpuPerDelivery(r), client = num(r.figures.client_cpu_us_per_delivery);
  return server === null || client === null ? null : server + client;
};
const perConn = (r) => (num(r.figures.held) ? (r.rss_held_kb - r.rss_before_kb) / r.figures.held : null);
for (const t of ["ws", "sse"]) {
  const what = `idle ${t.toUpperCase()}, ${n(env.IDLE_CLIENTS)} clients`;
  line(what, "connections held", f("held"), `idle_${t}`, 0);
  line(what, "memory per connection (KiB, ΔVmRSS / held)", perConn, `idle_${t}`, 1);
}
for (const t of ["ws", "sse"]) {
  const what = `fan-out ${t.toUpperCase()}, ${n(env.FANOUT_CLIENTS)} × ${env.FANOUT_MESSAGES} at ${env.FANOUT_RATE}/s`;
  line(what, "lost", f("lost"), `fanout_${t}`, 0);
  line(what, "server CPU per delivery (µs)", cpuPerDelivery, `fanout_${t}`, 2);
  line(what, "messages published per second (asked: " + env.FANOUT_RATE + ")", f("published_per_s"), `fanout_${t}`, 1);
  line(what, "deliveries per second", f("deliveries_per_s"), `fanout_${t}`, 0);
  line(what, "p50 latency (ms)", f("p50_ms"), `fanout_${t}`, 2);
  line(what, "p99 latency (ms)", f("p99_ms"), `fanout_${t}`, 2);
  line(what, "p50 latency from the schedule (ms)", f("p50_from_schedule_ms"), `fanout_${t}`, 2);
  line(what, "p99 latency from the schedule (ms)", f("p99_from_schedule_ms"), `fanout_${t}`, 2);
  line(what, "load generator CPU per delivery (µs)", f("client_cpu_us_per_delivery"), `fanout_${t}`, 2);
  line(what, "server + load generator CPU per delivery (µs)", machinePerDelivery, `fanout_${t}`, 2);
}
for (const t of ["ws", "sse"]) {
  const what = `saturation ${t.toUpperCase()}, ${n(env.FANOUT_CLIENTS)} × ${env.SAT_MESSAGES} unpaced`;
  line(what, "deliveries per second", f("deliveries_per_s"), `saturate_${t}`, 0);
  line(what, "lost", f("lost"), `saturate_${t}`, 0);
  line(what, "server CPU per delivery (µs)", cpuPerDelivery, `saturate_${t}`, 2);
  line(what, "p50 latency (ms)", f("p50_ms"), `saturate_${t}`, 1);
  line(what, "p99 latency (ms)", f("p99_ms"), `saturate_${t}`, 1);
  line(what, "load generator CPU per delivery (µs)", f("client_cpu_us_per_delivery"), `saturate_${t}`, 2);
  line(what, "server + load generator CPU per delivery (µs)", machinePerDelivery, `saturate_${t}`, 2);
}
{
  const what = `poll, ${env.POLL_CONNECTIONS} keep-alive connections, ${env.POLL_DURATION}`;
  line(what, "requests per second", f("requests_per_s"), "poll", 0);
  line(what, "server CPU per request (µs)", cpuPerRequest, "poll", 2);
  line(what, "p99 latency (ms)", f("p99_ms"), "poll", 2);
}
const spread = (server, label, figure) => {
  const v = rows.filter((r) => r.server === server && r.label === label && !(r.figures && r.figures.error)).map(figure).filter((x) => x !== null);
  return v.length ? `${fmt(Math.min(...v), 1)}–${fmt(Math.max(...v), 1)}` : "—";
};
const spreads = [];
for (const label of ["fanout_ws", "fanout_sse", "saturate_ws", "saturate_sse"]) {
  spreads.push(`| ${label.replace("_", " ")} | ${servers.map((s) => spread(s, label, f("p99_ms"))).join(" | ")} |`);
}

console.log(`# Benchmarks: longconn beside Nchan, Node.js and the floor

Generated by \`${env.COMMAND}\` (commit ${env.COMMIT}); ${env.ELAPSED} s of workloads.

- Machine: ${env.MACHINE}
- Versions: ${env.VERSIONS}
- Every server on loopback, one \`longconn bench\` process at a time driving one server at a
  time. Fan-out and saturation: ${env.ROUNDS} rounds, the servers taking turns within each round;
  each cell is the median of the rounds. Nchan: the shared config with 1 and with 2 workers.
  The floor is \`longconn bench floor\`: one blocking \`write\` per delivery, nothing else.

| workload | figure | ${servers.map((s) => titles[s]).join(" | ")} | ${others.map((s) => "ours/" + titles[s]).join(" | ")} |
|---|---|${servers.map(() => "---:").join("|")}|${others.map(() => "---:").join("|")}|
${out.join("\n")}

p99 latency over the rounds (lowest–highest):

| workload | ${servers.map((s) => titles[s]).join(" | ")} |
|---|${servers.map(() => "---").join("|")}|
${spreads.join("\n")}

Server CPU is user + system time from \`/proc/PID/stat\` (nginx: the master and its workers),
from the moment every subscriber is ready and publishing starts to the end of the bench run (its
drain and the subscribers' close included), divided by the deliveries. Idle memory is the
server's VmRSS while all clients are held minus VmRSS just before they connected, divided by the
connections held, each on a freshly started server. Fan-out latency is the receive time minus
the send timestamp carried in each published message (\`{"t":µs,"seq":k}\`); lost counts
(subscriber, message) pairs never received. The publisher waits for each answer, so a server that
answers a publish only after writing it to every subscriber (Nchan) slows the publisher down and
is measured at the lighter load it let through: "messages published per second" says how many
were really sent, and latency "from the schedule" counts from the time each message was due
(first publish + seq / rate), the load that was asked for (wrk2's coordinated-omission
correction). The load generator's CPU is its own user + system time over the same phase; on loopback the receiving side of TCP may be charged to the writer or to the reader, depending on timing, so the sum of the two per delivery is the figure that does not depend on it. Saturation publishes back to back (each
\`POST /publish\` waits for its answer) and divides deliveries by the time from the first publish
to the last delivery.`);
const failures = rows.filter((r) => r.figures && r.figures.error);
if (failures.length) console.log(`\nWorkloads that produced no figures: ${failures.map((r) => r.server + " " + r.label).join(", ")}.`);
JS
log "done in $((SECONDS - started_at)) s"
