#!/usr/bin/env bash
# S3 benchmark: Stratum against s3s-fs (the s3s project's filesystem-backed S3 server, built
# from crates.io) in one run, driven by the same load generator (benches/s3load.rs).
#
#   bash benches/s3-peers.sh
#
# For each object size and data kind it starts both servers fresh on loopback, with their data
# directories side by side on one filesystem (under target/), creates a bucket on each, runs
# PUT then GET against both (which server goes first alternates from scenario to scenario, and
# between rounds, so drift and the other's dirty pages hit both), then stops them and deletes
# their data. Raw output goes to benches/runs/<date>-s3/ (raw.txt: every result line; setup.txt:
# the machine, versions, command and Stratum's startup line; summary.md: the table with ratios).
# The servers' own logs (Stratum logs every request) stay under $DATA_ROOT/logs.
#
# The peer is built outside the repository (cargo install into $PEER_ROOT with its own target
# directory); its code and build are never part of the tree.
#
# Knobs (environment): ROUNDS (default 1), SMALL_SECS (10), LARGE_SECS (15), SMALL_CONNS (32),
# LARGE_CONNS (4), SCENARIOS (default "4KiB:text 4KiB:random 64MiB:text 64MiB:random"),
# PEER_VERSION (0.14.1: the newest s3s-fs that builds with this repository's Rust 1.95),
# PEER_ROOT (/tmp/stratum-peers), DATA_ROOT (target/s3-bench), OUT (benches/runs/<date>-s3).
# STRATUM_CONFIG=FILE starts Stratum with --config FILE (e.g. another codec.zstd_level).
# Diagnostics only: SERVER_PRELOAD=/path/lib.so starts both servers with it as LD_PRELOAD (e.g.
# a shim that sets TCP_NODELAY on accepted sockets); such a run is not the servers as shipped.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

ROUNDS=${ROUNDS:-1}
SMALL_SECS=${SMALL_SECS:-10}
LARGE_SECS=${LARGE_SECS:-15}
SMALL_CONNS=${SMALL_CONNS:-32}
LARGE_CONNS=${LARGE_CONNS:-4}
SCENARIOS=${SCENARIOS:-"4KiB:text 4KiB:random 64MiB:text 64MiB:random"}
PEER_VERSION=${PEER_VERSION:-0.14.1}
PEER_ROOT=${PEER_ROOT:-/tmp/stratum-peers}
DATA_ROOT=${DATA_ROOT:-$ROOT/target/s3-bench}
OUT=${OUT:-$ROOT/benches/runs/$(date +%Y-%m-%d)-s3}
SERVER_PRELOAD=${SERVER_PRELOAD:-}
# Bench-only root credentials for both servers, on loopback.
ACCESS_KEY=s3loadbenchkey
SECRET_KEY=s3loadbenchsecret0123456789abcdef
BUCKET=bench

log() { echo "[s3-peers] $*" >&2; }

# --- 1. Build: the peer (outside the tree), Stratum and the load generator (release). -------
PEER="$PEER_ROOT/bin/s3s-fs"
if ! "$PEER" --version 2>/dev/null | grep -q "$PEER_VERSION"; then
    log "building s3s-fs $PEER_VERSION into $PEER_ROOT (minutes)"
    mkdir -p "$PEER_ROOT"
    CARGO_TARGET_DIR="$PEER_ROOT/target" cargo install s3s-fs --version "$PEER_VERSION" \
        --features binary --locked --root "$PEER_ROOT"
fi
log "building stratum and the load generator (release)"
cargo build --release -p stratum
LOADGEN=$(cargo bench -p stratum-workspace-tests --bench s3load --no-run --message-format=json \
    2>/dev/null | sed -n 's/.*"executable":"\([^"]*s3load[^"]*\)".*/\1/p' | tail -1)
[ -x "$LOADGEN" ] || { log "could not find the s3load executable"; exit 1; }
STRATUM="$ROOT/target/release/stratum"

mkdir -p "$OUT" "$DATA_ROOT/logs"
LOGS="$DATA_ROOT/logs"
RAW="$OUT/raw.txt"
: >"$RAW"
{
    echo "# S3 benchmark setup, $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "command: ${SERVER_PRELOAD:+SERVER_PRELOAD=$SERVER_PRELOAD }ROUNDS=$ROUNDS SMALL_SECS=$SMALL_SECS LARGE_SECS=$LARGE_SECS SCENARIOS=\"$SCENARIOS\" bash benches/s3-peers.sh"
    echo "stratum: $(git rev-parse --short HEAD 2>/dev/null)$(git diff --quiet 2>/dev/null || echo ' (with uncommitted changes)'), default config, $("$STRATUM" --version 2>/dev/null || echo '?')"
    echo "peer: s3s-fs $("$PEER" --version | awk '{print $2}') (cargo install --features binary --locked)"
    echo "load generator: $LOADGEN"
    echo "rustc: $(rustc --version)"
    echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, kernel $(uname -r)"
    echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
    echo "data filesystem: $(df -hT "$(dirname "$DATA_ROOT")" | tail -1)"
    echo "scenarios: 4 KiB objects on $SMALL_CONNS connections for ${SMALL_SECS}s, 64 MiB on $LARGE_CONNS for ${LARGE_SECS}s"
} >"$OUT/setup.txt"
cat "$OUT/setup.txt" >&2

# --- 2. Servers. ---------------------------------------------------------------------------
STRATUM_PID=""
PEER_PID=""
STRATUM_URL=""
PEER_URL=""

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_port() { # host port
    for _ in $(seq 1 100); do
        if (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; then return 0; fi
        sleep 0.1
    done
    return 1
}

start_servers() { # tag
    local tag=$1
    rm -rf "$DATA_ROOT/stratum" "$DATA_ROOT/peer"
    mkdir -p "$DATA_ROOT/stratum" "$DATA_ROOT/peer"

    env ${SERVER_PRELOAD:+LD_PRELOAD=$SERVER_PRELOAD} \
        STRATUM_ACCESS_KEY=$ACCESS_KEY STRATUM_SECRET_KEY=$SECRET_KEY \
        "$STRATUM" serve --address 127.0.0.1:0 --data-dir "$DATA_ROOT/stratum" \
        ${STRATUM_CONFIG:+--config "$STRATUM_CONFIG"} \
        >"$LOGS/stratum-$tag.stdout" 2>"$LOGS/stratum-$tag.log" &
    STRATUM_PID=$!
    STRATUM_URL=""
    for _ in $(seq 1 300); do
        STRATUM_URL=$(sed -n 's/^stratum listening on \(http:[^ ]*\).*/\1/p' "$LOGS/stratum-$tag.stdout" | head -1)
        [ -n "$STRATUM_URL" ] && break
        kill -0 "$STRATUM_PID" 2>/dev/null || break
        sleep 0.1
    done
    [ -n "$STRATUM_URL" ] || { log "stratum did not start: $(tail -5 "$LOGS/stratum-$tag.log")"; return 1; }

    local port
    port=$(free_port)
    env ${SERVER_PRELOAD:+LD_PRELOAD=$SERVER_PRELOAD} \
        "$PEER" --host 127.0.0.1 --port "$port" --access-key "$ACCESS_KEY" --secret-key "$SECRET_KEY" \
        "$DATA_ROOT/peer" >"$LOGS/s3s-fs-$tag.log" 2>&1 &
    PEER_PID=$!
    PEER_URL="http://127.0.0.1:$port"
    wait_port 127.0.0.1 "$port" || { log "s3s-fs did not start: $(tail -5 "$LOGS/s3s-fs-$tag.log")"; return 1; }
    log "stratum $STRATUM_URL (pid $STRATUM_PID), s3s-fs $PEER_URL (pid $PEER_PID)"
    if ! grep -q '^stratum startup' "$OUT/setup.txt"; then
        grep -m1 'store opened' "$LOGS/stratum-$tag.log" | sed 's/^/stratum startup: /' >>"$OUT/setup.txt" || true
    fi
}

stop_pid() { # pid
    [ -n "$1" ] || return 0
    kill -TERM "$1" 2>/dev/null || return 0
    for _ in $(seq 1 100); do
        kill -0 "$1" 2>/dev/null || { wait "$1" 2>/dev/null || true; return 0; }
        sleep 0.1
    done
    kill -KILL "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
}

stop_servers() {
    stop_pid "$STRATUM_PID"
    stop_pid "$PEER_PID"
    STRATUM_PID=""
    PEER_PID=""
    rm -rf "$DATA_ROOT/stratum" "$DATA_ROOT/peer"
}
trap stop_servers EXIT

# --- 3. Scenarios. -------------------------------------------------------------------------
run_one() { # round target url op size data conns secs
    local round=$1 target=$2 url=$3 op=$4 size=$5 data=$6 conns=$7 secs=$8
    # Let the previous run's dirty pages reach the disk before this one starts.
    sync
    sleep 1
    local line rc=0
    line=$(S3LOAD_ACCESS_KEY=$ACCESS_KEY S3LOAD_SECRET_KEY=$SECRET_KEY \
        "$LOADGEN" --bench --endpoint "$url" --target "$target" --bucket "$BUCKET" \
        --op "$op" --size "$size" --data "$data" --connections "$conns" --duration "$secs" \
        2>>"$OUT/loadgen-errors.txt") || rc=$?
    [ -n "$line" ] || line="s3load target=$target op=$op size=$size data=$data connections=$conns failed=1"
    [ "$rc" = 0 ] || line="$line exit=$rc"
    echo "round=$round $line load=$(cut -d' ' -f1 /proc/loadavg)" | tee -a "$RAW" >&2
}

n=0
for round in $(seq 1 "$ROUNDS"); do
    for scenario in $SCENARIOS; do
        size=${scenario%%:*}
        data=${scenario##*:}
        case $size in
            4KiB) conns=$SMALL_CONNS secs=$SMALL_SECS ;;
            *) conns=$LARGE_CONNS secs=$LARGE_SECS ;;
        esac
        start_servers "r$round-$size-$data"
        for op in put get; do
            # Alternate who goes first: per scenario, and flipped in every other round.
            if [ $(((n + round) % 2)) = 1 ]; then
                order="stratum s3s-fs"
            else
                order="s3s-fs stratum"
            fi
            n=$((n + 1))
            for target in $order; do
                if [ "$target" = stratum ]; then url=$STRATUM_URL; else url=$PEER_URL; fi
                run_one "$round" "$target" "$url" "$op" "$size" "$data" "$conns" "$secs"
            done
        done
        stop_servers
    done
done

# --- 4. Summary: one row per round and scenario, ratio = Stratum / s3s-fs (req/s). ---------
awk '
function field(line, key,    re, m) {
    if (match(line, "(^| )" key "=[^ ]*")) {
        m = substr(line, RSTART, RLENGTH); sub(/^ /, "", m); sub(key "=", "", m); return m
    }
    return ""
}
/s3load/ {
    k = field($0, "round") SUBSEP field($0, "op") SUBSEP field($0, "size") SUBSEP field($0, "data")
    if (!(k in seen)) { seen[k] = 1; order[++n] = k }
    t = field($0, "target")
    rps[k, t] = field($0, "req_s"); mbs[k, t] = field($0, "mb_s")
    p50[k, t] = field($0, "p50_ms"); p99[k, t] = field($0, "p99_ms")
    err[k, t] = field($0, "errors"); if (field($0, "failed") != "") err[k, t] = "FAILED"
}
END {
    printf "| round | op | size | data | Stratum req/s | MB/s | p50 ms | p99 ms | s3s-fs req/s | MB/s | p50 ms | p99 ms | Stratum / s3s-fs | errors (S/P) |\n"
    printf "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n"
    for (i = 1; i <= n; i++) {
        k = order[i]; split(k, f, SUBSEP)
        s = "stratum"; p = "s3s-fs"
        ratio = (rps[k, p] > 0 && rps[k, s] != "") ? sprintf("%.2fx", rps[k, s] / rps[k, p]) : "-"
        printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s/%s |\n", \
            f[1], toupper(f[2]), f[3], f[4], rps[k, s], mbs[k, s], p50[k, s], p99[k, s], \
            rps[k, p], mbs[k, p], p50[k, p], p99[k, p], ratio, err[k, s], err[k, p]
    }
}' "$RAW" | tee "$OUT/summary.md"
[ -s "$OUT/loadgen-errors.txt" ] || rm -f "$OUT/loadgen-errors.txt"
if grep -q 'errors=[1-9]\|failed=1\|exit=' "$RAW"; then
    log "some runs had errors: those rows are not valid figures (see $OUT/loadgen-errors.txt)"
fi
log "raw output in ${OUT#"$ROOT"/}"
