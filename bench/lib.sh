# bench/lib.sh — what the bench scripts share; sourced, not run:
#
#   source "$(dirname "$0")/lib.sh" NAME
#
# Sets ROOT (the repository, also the working directory), WORK (a scratch folder) and PIDS (the
# processes the script starts: append to it); on exit, stops exactly those processes and removes
# WORK. `log` writes progress to stderr as `NAME: ...`; `started_at` is when the script began.
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
