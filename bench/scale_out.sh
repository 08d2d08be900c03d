#!/usr/bin/env bash
# Scale-out benchmark (issue 16): the same `chatctl bench` load against
#   redb  one chatd on redb (the embedded default),
#   pg    one chatd on PostgreSQL,
#   pg2   two chatd nodes on one PostgreSQL database, fanned out over NATS,
#         the clients split across them (client i on node i mod 2),
# interleaved for ROUNDS rounds, then a table of medians.
#
# In one run it builds release chatd and chatctl, starts a private
# PostgreSQL (initdb in a temporary directory, a free port, run as the
# `postgres` user through runuser when this runs as root) and a private
# nats-server (free port), and stops everything it started on exit.
# Loopback only. Every run gets a fresh redb directory or a fresh database.
#
# Settings (environment):
#   ROUNDS=3 CLIENTS=200 SENDERS=4 RATE=400 DURATION=20s  the load (fanout;
#   IN_FLIGHT=1                  RATE=0 is closed loop with IN_FLIGHT sends
#                                in flight per sender)
#   CONFIGS="redb pg pg2"        which configurations, in round order
#   CARGO_TARGET_DIR             where to build [default: <repo>/target]
#   RESULTS                      where to keep the per-run JSON and logs
#                                [default: $CARGO_TARGET_DIR/scale-out/<time>]
#   PG_BIN                       PostgreSQL's bin dir [default: newest
#                                /usr/lib/postgresql/*/bin, else PATH]
#   NATS_SERVER                  nats-server [default: PATH, /usr/sbin]
#   SKIP_BUILD=1                 use the binaries already built
#
# Usage: bench/scale_out.sh            (about 3 × 3 × (DURATION + 40 s))
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ROUNDS=${ROUNDS:-3}
CLIENTS=${CLIENTS:-200}
SENDERS=${SENDERS:-4}
RATE=${RATE:-400}
IN_FLIGHT=${IN_FLIGHT:-1}
DURATION=${DURATION:-20s}
CONFIGS=${CONFIGS:-"redb pg pg2"}
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
RESULTS=${RESULTS:-$TARGET/scale-out/$(date -u +%Y%m%dT%H%M%SZ)}
CHATD=$TARGET/release/chatd
CHATCTL=$TARGET/release/chatctl
# How long a started service may take to come up, s.
START_WAIT=60

say() { printf '%s  %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { say "error: $*"; exit 1; }

# ---- cleanup: everything this script started --------------------------------

WORK=""
PGDIR=""
PG_BIN_DIR=""
NATS_PID=""
NODE_PIDS=()

stop_nodes() {
    local pid
    for pid in "${NODE_PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${NODE_PIDS[@]}"; do
        # chatd drains and exits on SIGTERM; a node stuck past 30 s is killed.
        for _ in $(seq 300); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    NODE_PIDS=()
}

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    stop_nodes
    if [[ -n $NATS_PID ]]; then
        kill -TERM "$NATS_PID" 2>/dev/null || true
        wait "$NATS_PID" 2>/dev/null || true
    fi
    if [[ -n $PGDIR && -f $PGDIR/data/postmaster.pid ]]; then
        pg_cmd pg_ctl stop -D "$PGDIR/data" -m fast -w -t 60 >/dev/null 2>&1 || true
    fi
    [[ -n $PGDIR ]] && rm -rf "$PGDIR"
    [[ -n $WORK ]] && rm -rf "$WORK"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- helpers ------------------------------------------------------------------

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Runs a PostgreSQL binary, as `postgres` when this runs as root.
pg_cmd() {
    local bin=$1
    shift
    if [[ $(id -u) == 0 ]]; then
        runuser -u postgres -- "$PG_BIN_DIR/$bin" "$@"
    else
        "$PG_BIN_DIR/$bin" "$@"
    fi
}

psql_q() {
    pg_cmd psql -X -q -A -t -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PG_PORT" -U chat -d "$1" -c "$2"
}

find_pg_bin() {
    if [[ -n ${PG_BIN:-} ]]; then
        echo "$PG_BIN"
        return
    fi
    local d
    for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k5 -rn); do
        [[ -x $d/postgres ]] && { echo "$d"; return; }
    done
    command -v postgres >/dev/null && { dirname "$(command -v postgres)"; return; }
    die "PostgreSQL server binaries not found; install them with 'apt-get install postgresql'"
}

find_nats() {
    if [[ -n ${NATS_SERVER:-} ]]; then echo "$NATS_SERVER"; return; fi
    command -v nats-server 2>/dev/null && return
    [[ -x /usr/sbin/nats-server ]] && { echo /usr/sbin/nats-server; return; }
    die "nats-server not found; install it with 'apt-get install nats-server'"
}

# Waits until "$2" (a command) succeeds, or fails after START_WAIT s
# naming "$1"; a poll, ended by the service's answer.
wait_until() {
    local what=$1
    shift
    for _ in $(seq $((START_WAIT * 10))); do
        "$@" && return 0
        sleep 0.1
    done
    die "$what did not come up within ${START_WAIT} s"
}

start_postgres() {
    PG_BIN_DIR=$(find_pg_bin)
    PGDIR=$(mktemp -d /tmp/chat-scale-pg.XXXXXX)
    [[ $(id -u) == 0 ]] && chown postgres: "$PGDIR"
    pg_cmd initdb -D "$PGDIR/data" -U chat --auth=trust --encoding=UTF8 --locale=C --no-sync \
        >"$PGDIR/initdb.log" 2>&1 || { cat "$PGDIR/initdb.log" >&2; die "initdb failed"; }
    PG_PORT=$(free_port)
    # Durable commits as redb's: fsync and synchronous_commit stay on.
    pg_cmd postgres -D "$PGDIR/data" -p "$PG_PORT" -k "$PGDIR" \
        -c listen_addresses=127.0.0.1 -c fsync=on -c synchronous_commit=on \
        -c max_connections=200 >"$PGDIR/postgres.log" 2>&1 &
    wait_until "PostgreSQL (log: $PGDIR/postgres.log)" \
        pg_cmd pg_isready -q -h 127.0.0.1 -p "$PG_PORT" -d postgres -U chat
    # The postmaster (runuser forks it), whose children are the backends.
    PG_PID=$(head -1 "$PGDIR/data/postmaster.pid")
    say "PostgreSQL $("$PG_BIN_DIR/postgres" --version | awk '{print $3}') on 127.0.0.1:$PG_PORT, postmaster pid $PG_PID"
}

nats_ready() { (exec 3<>"/dev/tcp/127.0.0.1/$NATS_PORT") 2>/dev/null; }

start_nats() {
    local bin
    bin=$(find_nats)
    NATS_PORT=$(free_port)
    "$bin" -a 127.0.0.1 -p "$NATS_PORT" -l "$WORK/nats.log" &
    NATS_PID=$!
    wait_until "nats-server (log: $WORK/nats.log)" nats_ready
    say "nats-server $("$bin" --version | awk '{print $NF}') on 127.0.0.1:$NATS_PORT, pid $NATS_PID"
}

# start_node DIR [chatd flags...]: starts a node, sets NODE_ADDR, NODE_PID,
# NODE_METRICS.
start_node() {
    local dir=$1
    shift
    mkdir -p "$dir"
    local mport
    mport=$(free_port)
    "$CHATD" --listen 127.0.0.1:0 --data "$dir/data" --cert-dir "$dir/certs" \
        --metrics-listen "127.0.0.1:$mport" \
        --send-rate-per-sec 1000000 --send-burst 1000000 --subscriber-queue 65536 \
        "$@" >"$dir/chatd.log" 2>&1 &
    NODE_PID=$!
    NODE_PIDS+=("$NODE_PID")
    local line=""
    for _ in $(seq $((START_WAIT * 10))); do
        line=$(grep -m1 'chatd listening' "$dir/chatd.log" 2>/dev/null || true)
        [[ -n $line ]] && break
        kill -0 "$NODE_PID" 2>/dev/null || { tail -20 "$dir/chatd.log" >&2; die "chatd exited while starting"; }
        sleep 0.1
    done
    [[ -n $line ]] || { tail -20 "$dir/chatd.log" >&2; die "chatd did not listen within ${START_WAIT} s"; }
    NODE_ADDR=$(sed -E 's/.*listen=([0-9.]+:[0-9]+).*/\1/' <<<"$line")
    NODE_METRICS=127.0.0.1:$mport
}

# The counters and sums that say how the writer committed.
scrape() {
    curl -fsS "http://$1/metrics" |
        grep -E '^chatd_(commits|writes|commit_seconds_(sum|count))(_total)? ' || true
}

# run_config ROUND CONFIG: one measured run; leaves its JSON in RESULTS.
run_config() {
    local round=$1 cfg=$2
    local dir=$WORK/r$round-$cfg db=chat_r${round}_$cfg
    local out=$RESULTS/r$round-$cfg
    mkdir -p "$dir" "$out"
    local shared=() nodes=1
    case $cfg in
        redb) ;;
        pg) shared=(--store "postgres://chat@127.0.0.1:$PG_PORT/$db") ;;
        pg2)
            shared=(--store "postgres://chat@127.0.0.1:$PG_PORT/$db"
                --bus "nats://127.0.0.1:$NATS_PORT")
            # The nodes share one blob directory, as a deployment would.
            if "$CHATD" --help | grep -q -- '--blobs'; then
                shared+=(--blobs "$dir/blobs")
            fi
            nodes=2
            ;;
        *) die "unknown configuration $cfg (use redb, pg, pg2)" ;;
    esac
    if [[ $cfg != redb ]]; then
        psql_q postgres "CREATE DATABASE $db" >/dev/null
    fi
    local node_args=() metrics=() i first=""
    for ((i = 1; i <= nodes; i++)); do
        local own=()
        # Distinct bus names, so each node's NATS connection is its own.
        [[ $nodes -gt 1 ]] && own=(--node-name "bench-n$i")
        if ((i > 1)); then
            # A later node that finds the admin never used and no token
            # file in its own --data revokes the admin's tokens and writes
            # a new file (bootstrap's lost-file recovery), which would
            # void the first node's token: give it the first node's file.
            mkdir -p "$dir/n$i/data"
            cp -p "$dir/n1/data/admin.token" "$dir/n$i/data/admin.token"
        fi
        start_node "$dir/n$i" "${shared[@]}" "${own[@]}"
        [[ -n $first ]] || first=$NODE_ADDR
        node_args+=(--node "$NODE_ADDR,$dir/n$i/certs/ca.crt,$NODE_PID")
        metrics+=("$NODE_METRICS")
        cp "$dir/n$i/chatd.log" "$out/n$i-start.log"
    done
    for i in "${!metrics[@]}"; do scrape "${metrics[$i]}" >"$out/n$((i + 1))-metrics-before.txt"; done
    cat /proc/loadavg >"$out/loadavg-before.txt"
    local pg_log_lines
    pg_log_lines=$(wc -l <"$PGDIR/postgres.log")
    say "round $round, $cfg: $nodes node(s), $CLIENTS clients, $SENDERS senders, $RATE msgs/s, $DURATION (load $(cut -d' ' -f1-3 /proc/loadavg))"
    # Accounts go through the first node, whose bootstrap wrote the token.
    "$CHATCTL" --server "$first" --ca "$dir/n1/certs/ca.crt" \
        --token-file "$dir/n1/data/admin.token" --json \
        bench --scenario fanout --clients "$CLIENTS" --senders "$SENDERS" \
        --rate "$RATE" --in-flight "$IN_FLIGHT" --duration "$DURATION" --admin-senders \
        "${node_args[@]}" --watch-pid "postgres=$PG_PID" --watch-pid "nats=$NATS_PID" \
        >"$out/bench.json" 2>"$out/bench.stderr" ||
        { cat "$out/bench.stderr" >&2; die "chatctl bench failed in round $round, $cfg"; }
    cat /proc/loadavg >"$out/loadavg-after.txt"
    # What PostgreSQL logged during the run: its ERRORs include every
    # serialisation failure (a batch the writer re-ran).
    tail -n +"$((pg_log_lines + 1))" "$PGDIR/postgres.log" >"$out/postgres.log"
    grep -c 'could not serialize access' "$out/postgres.log" >"$out/pg-serialization-failures.txt" || true
    for i in "${!metrics[@]}"; do scrape "${metrics[$i]}" >"$out/n$((i + 1))-metrics-after.txt"; done
    stop_nodes
    for ((i = 1; i <= nodes; i++)); do cp "$dir/n$i/chatd.log" "$out/n$i.log"; done
    if [[ $cfg != redb ]]; then
        # The nodes' backends have exited, so their statistics are flushed.
        psql_q postgres "SELECT xact_commit FROM pg_stat_database WHERE datname = '$db'" \
            >"$out/pg-xact-commit.txt"
        psql_q postgres "DROP DATABASE $db" >/dev/null
    fi
    rm -rf "$dir"
    jq -r '"  acked \(.acked)/\(.sent) (\(.acked_per_sec|floor)/s), deliveries \(.deliveries)/\(.expected_deliveries), send→deliver p50 \(.send_to_deliver.p50_us) µs p99 \(.send_to_deliver.p99_us) µs, errors \(.errors)"' \
        "$out/bench.json" >&2
}

# ---- the run ------------------------------------------------------------------

command -v jq >/dev/null || die "jq not found; install it with 'apt-get install jq'"
command -v curl >/dev/null || die "curl not found; install it with 'apt-get install curl'"
mkdir -p "$RESULTS"
WORK=$(mktemp -d /tmp/chat-scale-out.XXXXXX)

if [[ -z ${SKIP_BUILD:-} ]]; then
    say "building release chatd and chatctl into $TARGET"
    (cd "$ROOT" && CARGO_TARGET_DIR=$TARGET cargo build --release -p chatd -p chatctl)
fi
[[ -x $CHATD && -x $CHATCTL ]] || die "no release chatd/chatctl in $TARGET/release"
for cfg in $CONFIGS; do
    if [[ $cfg == pg* ]] && ! "$CHATD" --help | grep -q -- '--store'; then
        die "this chatd has no --store flag (PostgreSQL storage is not built in); use CONFIGS=redb"
    fi
    if [[ $cfg == pg2 ]] && ! "$CHATD" --help | grep -q -- '--bus'; then
        die "this chatd has no --bus flag (NATS fan-out is not built in); leave pg2 out of CONFIGS"
    fi
done

start_postgres
start_nats
{
    echo "date: $(date -u +%FT%TZ)"
    echo "commit: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"
    echo "cpus: $(nproc)"
    echo "load: $(cat /proc/loadavg)"
    echo "load: fanout, $CLIENTS clients, $SENDERS senders, rate $RATE msgs/s (0: closed loop, $IN_FLIGHT in flight per sender), $DURATION"
    echo "configs: $CONFIGS; rounds: $ROUNDS"
} | tee "$RESULTS/machine.txt" >&2

for ((round = 1; round <= ROUNDS; round++)); do
    for cfg in $CONFIGS; do
        run_config "$round" "$cfg"
    done
done

python3 "$ROOT/bench/scale_out_table.py" "$RESULTS" $CONFIGS | tee "$RESULTS/table.md"
say "per-run JSON, logs and metrics in $RESULTS"
