# bench/lib.sh — what the bench scripts share; sourced, not run:
#
#   source "$(dirname "$0")/lib.sh" NAME
#
# Sets ROOT (the repository, also the working directory), WORK (a scratch folder) and PIDS (the
# processes the script starts: append to it); on exit, stops exactly those processes and removes
# WORK. `log` writes progress to stderr as `NAME: ...`; `started_at` is when the script began.
# Below: helpers that start servers (`start_serve` needs BIN set) and wait for them.
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
BENCH_NAME=$1
WORK=$(mktemp -d "${TMPDIR:-/tmp}/longconn-$BENCH_NAME.XXXXXX")
PIDS=()
started_at=$SECONDS

log() { echo "$BENCH_NAME: $*" >&2; }

# stop_pids PID...: stops these processes (only those, by their PIDs) and reaps them.
stop_pids() {
  for pid in "$@"; do kill "$pid" 2>/dev/null || true; done
  for pid in "$@"; do wait "$pid" 2>/dev/null || true; done
}
cleanup() { stop_pids "${PIDS[@]}"; rm -rf "$WORK"; }
trap cleanup EXIT

# wait_for_line FILE REGEX SECONDS: prints the first matching line, fails after SECONDS.
wait_for_line() {
  local file=$1 regex=$2 deadline=$((SECONDS + $3)) line
  while ((SECONDS < deadline)); do
    line=$(grep -m1 -E "$regex" "$file" 2>/dev/null || true)
    if [[ -n $line ]]; then echo "$line"; return 0; fi
    sleep 0.1
  done
  return 1
}

# free_port: prints a free TCP port on 127.0.0.1 (bound, read and released for a server to take).
# BIN: the longconn binary a script measures; when unset or empty, this tree's release build,
# built first.
release_binary() {
  if [[ -z ${BIN:-} ]]; then
    log "cargo build --release"
    cargo build --release --quiet >&2
    BIN=$ROOT/target/release/longconn
  fi
}

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# listening_url FILE [SECONDS]: once FILE (a server's stdout) says `listening on http://ADDR`,
# prints http://ADDR; fails after SECONDS (20).
listening_url() { wait_for_line "$1" 'listening on' "${2:-20}" | grep -oE 'http://[0-9.:]+'; }

# start_serve NAME ARGS...: starts `$BIN serve --addr 127.0.0.1:0 ARGS` in the background (stdout
# in WORK/NAME.out, stderr in WORK/NAME.err; NAME may be reused) and adds it to PIDS; sets
# SERVE_PID, and SERVE_URL once it listens. Exits 3 with its stderr when it does not listen within
# 20 s.
start_serve() {
  local name=$1; shift
  # Emptied here, not by the redirection: that runs in the background job, maybe after
  # listening_url has read a previous server's line.
  : >"$WORK/$name.out"
  "$BIN" serve --addr 127.0.0.1:0 "$@" >"$WORK/$name.out" 2>"$WORK/$name.err" &
  SERVE_PID=$!; PIDS+=("$SERVE_PID")
  SERVE_URL=$(listening_url "$WORK/$name.out") \
    || { log "$name did not start:"; cat "$WORK/$name.err" >&2; exit 3; }
}

# start_redis ARGS...: starts a throwaway redis-server on a free port (no snapshots, files in
# WORK, ARGS added) and adds it to PIDS; sets REDIS_PID, REDIS_PORT and REDIS_URL once it answers
# PING. Exits 3 with its log when it does not within 10 s.
start_redis() {
  REDIS_PORT=$(free_port)
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --dir "$WORK" "$@" \
    >"$WORK/redis.log" 2>&1 &
  REDIS_PID=$!; PIDS+=("$REDIS_PID")
  REDIS_URL=redis://127.0.0.1:$REDIS_PORT
  for _ in $(seq 100); do redis_ping && return 0; sleep 0.1; done
  log "redis-server did not answer:"; cat "$WORK/redis.log" >&2; exit 3
}
redis_ping() {
  { exec 3<>"/dev/tcp/127.0.0.1/$REDIS_PORT"; } 2>/dev/null || return 1
  printf 'PING\r\n' >&3
  local reply=""; read -r -t 1 reply <&3 || true
  exec 3<&-
  [[ $reply == +PONG* ]]
}

# node_peer_dir DIR: prints a folder holding node_peer.js with its `ws` dependency installed:
# DIR itself, or a copy of it under TMPDIR, `npm install`ed there once (DIR may be read-only).
node_peer_dir() {
  local dir=$1 copy=${TMPDIR:-/tmp}/longconn-node-peer
  if [[ ! -f $dir/node_peer.js ]]; then
    log "no node_peer.js in $dir (set NODE_PEER_DIR)"; return 2
  fi
  if [[ -d $dir/node_modules/ws ]]; then echo "$dir"; return 0; fi
  if [[ ! -d $copy/node_modules/ws ]]; then
    log "npm install (into $copy: the reference folder is read-only)"
    rm -rf "$copy"; mkdir -p "$copy"
    cp "$dir"/*.js "$dir"/package.json "$copy"/
    (cd "$copy" && npm install --silent --no-audit --no-fund >&2)
  fi
  echo "$copy"
}
