#!/usr/bin/env bash
# idlink benchmarks: `make bench`, or bench/run.sh [BUILD_DIR]
#
# Every measured run of a case is paired with a run, just before it, against a
# reference ceiling server that stays up for the whole benchmark; a case's
# ratio is the median of its runs over the median of its paired reference
# runs, so the machine's drift between cases does not move the ratios.
#
# Runs, with `wrk -t2 -c32` and in one go:
#   - the ceiling: idlink-ceiling, a civetweb server with idlinkd's options
#     answering POST /identify with a fixed body in one write (the HTTP
#     ceiling here), then the same through civetweb's header functions (one
#     send() per header line) to show what that costs;
#   - idlinkd's read path: one known contact on every request;
#   - idlinkd's durable write path: a new email and phone on every request,
#     --sync full (group commit), then --max-batch 1 (one fsync a request),
#     then --sync none for reference;
#   - the durable write path again with the Redis mirror on (a redis-server
#     of its own on loopback), and the mirror's lag p99 as idlinkd measured it;
#   - customer creates, POST /api/v1/customers/ with a new email, phone and
#     channel_code each (customer_create.lua), --sync full, against the
#     durable POST /identify write of the same run;
#   - the durable write path under load, wrk -c256 (BENCH_LOAD_CONNS), --sync
#     full and --sync none (their reference runs stay at -c32);
# and prints requests per second, p99 latency and the ratio to the ceiling,
# then the targets with PASS/MISS. Missing a target is a result, not a
# failure: the exit status is non-zero only when a server fails to start or
# wrk fails.
#
# Environment:
#   BENCH_SECONDS  seconds of each measured run (default 5)
#   BENCH_REPEAT   measured runs per case; the run of median throughput is
#                  reported (default 3)
#   BENCH_THREADS  civetweb worker threads of both servers (default 64)
#   BENCH_TMPDIR   where the temporary data folders go (default $TMPDIR or /tmp)
#   BENCH_SCALE    contact counts of the scale section (default "10000 1000000";
#                  empty to skip it)
#   BENCH_CUSTOMERS  customer counts of the customers section (default
#                  "10000 1000000"; empty to skip it)
#   BENCH_LOAD_CONNS  wrk connections of the write path under load (default 256)
#   BENCH_IMPORT   1 (default) runs the bulk import section (import_bench.py:
#                  csv and xlsx imports of 100k customers against the customer
#                  creates above, and the memory of a 64 MiB upload); 0 skips it
#
# The scale section generates a store of each size (idlink-gen-store: about a
# third of the identities have secondaries), then measures idlink-dump and
# idlink-restore in contacts per second, the snapshot's and the store's bytes
# per contact, and the read path over random known contacts of that store,
# from the usual 32 connections and again from 8 (the p99 without the run
# queue: README's 10M run shows why both).
#
# The customers section generates a store of each size through the resource
# layer's generic create (idlink-gen-customers: customer k has email
# customer{k}@shop.example, channel k%3+1, channel_code c{k}; every third one
# shares the phone of the one before, so their identities merge), then
# measures list pages (customers_list.lua, a random k each request) filtered by
# email, by an email prefix of 11 rows, by a created_date window of 100 rows
# and by identity, against the ceiling and against the smallest size; then
# exports of every customer, csv and xlsx, each on a freshly started server:
# rows per second against idlink-dump's contacts per second on the same store,
# and idlinkd's peak resident memory (VmHWM) just after the export.
# Raw wrk outputs are kept in BUILD_DIR/bench-results/.
set -euo pipefail
export LC_ALL=C

BUILD_DIR=${1:-build}
BENCH_SECONDS=${BENCH_SECONDS:-5}
BENCH_REPEAT=${BENCH_REPEAT:-3}
BENCH_THREADS=${BENCH_THREADS:-64}
BENCH_TMPDIR=${BENCH_TMPDIR:-${TMPDIR:-/tmp}}
BENCH_SCALE=${BENCH_SCALE-10000 1000000}
BENCH_CUSTOMERS=${BENCH_CUSTOMERS-10000 1000000}
BENCH_LOAD_CONNS=${BENCH_LOAD_CONNS:-256}
BENCH_IMPORT=${BENCH_IMPORT:-1}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CEILING=$BUILD_DIR/idlink-ceiling
IDLINKD=$BUILD_DIR/idlinkd
GEN_STORE=$BUILD_DIR/idlink-gen-store
GEN_CUSTOMERS=$BUILD_DIR/idlink-gen-customers
RESULTS=$BUILD_DIR/bench-results
WRK_ARGS=(-t2 -c32)
READ_TARGET=0.80
WRITE_TARGET=0.25
CREATE_TARGET=0.70      # customer creates over durable /identify writes
LOAD_TARGET=0.90        # durable over --sync none, at BENCH_LOAD_CONNS
LIST_TARGET=0.50        # a filtered list page over the ceiling
LIST_P99_TARGET=1.5     # p99 at the largest size over the smallest
CSV_TARGET=0.30         # csv export rows/s over idlink-dump's contacts/s
XLSX_TARGET=0.10        # xlsx export rows/s over idlink-dump's contacts/s
EXPORT_MEM_TARGET=1.2   # peak anonymous memory of an export, largest size over smallest
# Keep equal to wrk.body in identify_read.lua: the read path's known contact.
KNOWN_BODY='{"email": "known@bench.example", "phoneNumber": "5550100"}'

SERVER_PID=""
SERVER_LOG=""
DATA_DIR=""
PORT=""

die() {
    echo "bench: $*" >&2
    exit 1
}

warn() {
    echo "bench: warning: $*" >&2
}

# ---------------------------------------------------------------- HTTP probes

# http_request METHOD PORT PATH [BODY]: prints the raw response (one
# connection, Connection: close), nothing when no server answers.
http_request() {
    # shellcheck disable=SC2016 # expanded by the inner bash
    timeout 5 bash -c '
        exec 3<>"/dev/tcp/127.0.0.1/$2" || exit 1
        hdr=""
        if [ -n "${4:-}" ]; then
            hdr="Content-Type: application/json\r\nContent-Length: ${#4}\r\n"
        fi
        printf "%s %s HTTP/1.1\r\nHost: 127.0.0.1:%s\r\nConnection: close\r\n${hdr}\r\n%s" \
            "$1" "$3" "$2" "${4:-}" >&3
        cat <&3' http_request "$@" 2>/dev/null || true
}

# http_status METHOD PORT PATH [BODY]: prints the response's status code.
http_status() {
    http_request "$@" | awk 'NR == 1 { print $2 }'
}

port_in_use() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# A loopback port nobody listens on, below the ephemeral range.
pick_port() {
    local port
    while :; do
        port=$((20000 + RANDOM % 12000))
        port_in_use "$port" || break
    done
    echo "$port"
}

# ---------------------------------------------------------------- servers

# wait_ready METHOD PATH BODY: 0 once the server answers 200, 1 if it
# exited, 2 if it still does not answer after 15 s.
wait_ready() {
    local i
    for ((i = 0; i < 150; i++)); do
        kill -0 "$SERVER_PID" 2>/dev/null || return 1
        [ "$(http_status "$1" "$PORT" "$2" "$3")" = 200 ] && return 0
        sleep 0.1
    done
    return 2
}

# launch NAME PROBE_METHOD PROBE_PATH PROBE_BODY CMD...: starts CMD (where
# the word @LISTEN@ stands for the address) on a free port, retrying on
# another port if it exits at once, and waits until the probe answers 200.
launch() {
    local name=$1 probe=("$2" "$3" "$4") rc=1 cmd word
    shift 4
    SERVER_LOG=$RESULTS/$name.log
    for _ in 1 2 3; do
        PORT=$(pick_port)
        cmd=()
        for word in "$@"; do
            [ "$word" = @LISTEN@ ] && word=127.0.0.1:$PORT
            cmd+=("$word")
        done
        "${cmd[@]}" >"$SERVER_LOG" 2>&1 &
        SERVER_PID=$!
        wait_ready "${probe[@]}" && return 0 || rc=$?
        [ "$rc" = 2 ] && break
        wait "$SERVER_PID" 2>/dev/null || true
        SERVER_PID=""
    done
    sed 's/^/  | /' "$SERVER_LOG" >&2
    die "$name did not start (see $SERVER_LOG)"
}

# start_ceiling NAME [CEILING OPTIONS...]
start_ceiling() {
    local name=$1
    shift
    launch "$name" POST /identify "$KNOWN_BODY" \
        "$CEILING" --listen @LISTEN@ --threads "$BENCH_THREADS" "$@"
}

# start_idlinkd NAME [IDLINKD OPTIONS...]: on a fresh data folder, or on
# $DATA_DIR when it is set.
start_idlinkd() {
    local name=$1
    shift
    [ -n "$DATA_DIR" ] || DATA_DIR=$(mktemp -d "$BENCH_TMPDIR/idlink-bench.XXXXXX")
    launch "$name" GET /healthz "" "$IDLINKD" --listen @LISTEN@ --data "$DATA_DIR" \
        --threads "$BENCH_THREADS" --log-level warn "$@"
}

# Stops the server with SIGTERM (SIGKILL after 15 s) and removes its data.
stop_server() {
    local i rc=0
    if [ -n "$SERVER_PID" ]; then
        kill -TERM "$SERVER_PID" 2>/dev/null || true
        for ((i = 0; i < 150; i++)); do
            kill -0 "$SERVER_PID" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$SERVER_PID" 2>/dev/null; then
            warn "server $SERVER_PID ignored SIGTERM for 15 s; killing it"
            kill -KILL "$SERVER_PID" 2>/dev/null || true
        fi
        wait "$SERVER_PID" 2>/dev/null || rc=$?
        [ "$rc" = 0 ] || warn "server exited with status $rc after SIGTERM (see $SERVER_LOG)"
        SERVER_PID=""
    fi
    if [ -n "$DATA_DIR" ]; then
        rm -rf "$DATA_DIR"
        DATA_DIR=""
    fi
}

# The reference: a ceiling server that runs for the whole benchmark. Every
# measured run of a case is paired with a run against it just before, so a
# case's ratio compares runs made under the same conditions of the machine.
REF_PID=""
REF_PORT=""

start_reference() {
    start_ceiling reference
    REF_PID=$SERVER_PID
    REF_PORT=$PORT
    SERVER_PID=""
}

CUST_DIR="" # the store of the customers section, removed on exit

stop_all() {
    stop_server
    if [ -n "$CUST_DIR" ]; then
        rm -rf "$CUST_DIR" "$CUST_DIR.snapshot"
        CUST_DIR=""
    fi
    if [ -n "$REF_PID" ]; then
        SERVER_PID=$REF_PID
        REF_PID=""
        stop_server
    fi
}

trap stop_all EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- wrk

# settle WHAT: with CASE_SETTLE=1, waits (at most 60 s) until the server
# under test stops burning CPU, so that requests still in flight when wrk
# stopped (slow list pages) do not weigh on the reference run that comes
# next. Off by default: the mirror case measures the drain after the load.
settle() {
    local i before after
    [ "${CASE_SETTLE:-0}" = 1 ] && [ -n "$SERVER_PID" ] || return 0
    cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$SERVER_PID/stat" 2>/dev/null || echo 0; }
    after=$(cpu_ticks)
    for ((i = 0; i < 300; i++)); do
        before=$after
        sleep 0.2
        after=$(cpu_ticks)
        [ $((after - before)) -gt 2 ] || return 0
    done
    warn "the server was still busy 60 s after wrk stopped ($1)"
}

# run_wrk NAME SCRIPT [PATH]: a 1 s warm-up, then the measured runs into
# $RESULTS/NAME.runI.txt, against PATH (default /identify). The script
# argument is a run tag (identify_write.lua makes its emails and phones
# unique with it). CASE_WRK_ARGS, when set, replaces wrk's options for the
# case's own runs (the reference runs keep WRK_ARGS); CASE_SETTLE: see settle.
run_wrk() {
    local name=$1 script=$2 url="http://127.0.0.1:$PORT${3:-/identify}" i median args
    read -ra args <<<"${CASE_WRK_ARGS:-${WRK_ARGS[*]}}"
    wrk "${args[@]}" -d1s -s "$script" "$url" -- 1 >"$RESULTS/$name.warmup.txt" 2>&1 ||
        die "wrk warm-up failed for $name (see $RESULTS/$name.warmup.txt)"
    settle "$name warm-up"
    for ((i = 1; i <= BENCH_REPEAT; i++)); do
        wrk "${WRK_ARGS[@]}" -d"${BENCH_SECONDS}s" --latency -s "$HERE/identify_read.lua" \
            "http://127.0.0.1:$REF_PORT/identify" >"$RESULTS/$name.ref$i.txt" 2>&1 ||
            die "wrk failed for the reference of $name (see $RESULTS/$name.ref$i.txt)"
        wrk "${args[@]}" -d"${BENCH_SECONDS}s" --latency -s "$script" "$url" -- $((i + 1)) \
            >"$RESULTS/$name.run$i.txt" 2>&1 ||
            die "wrk failed for $name (see $RESULTS/$name.run$i.txt)"
        settle "$name run $i"
    done
    kill -0 "$SERVER_PID" 2>/dev/null ||
        die "the server died during $name (see $SERVER_LOG)"
    # The case is reported by the median of its runs' throughputs and the
    # median of their p99s (one stall of the machine moves neither); errors
    # are added up over all runs.
    median=$(for ((i = 1; i <= BENCH_REPEAT; i++)); do
        echo "$(parse_wrk "$RESULTS/$name.run$i.txt" | cut -d' ' -f1) $i"
    done | sort -g | awk '{ v[NR] = $2 } END { print v[int((NR + 1) / 2)] }')
    cp "$RESULTS/$name.run$median.txt" "$RESULTS/$name.txt"
}

# Prints "RPS P99_MS NON2XX SOCKET_ERRORS" for a case: medians over its runs
# (KIND run), or over the reference runs paired with them (KIND ref).
parse_case() {
    local name=$1 kind=${2:-run} i runs
    runs=$(for ((i = 1; i <= BENCH_REPEAT; i++)); do
        parse_wrk "$RESULTS/$name.$kind$i.txt" || exit 1
    done) || return 1
    middle() { sort -g | sed -n "$(( (BENCH_REPEAT + 1) / 2 ))p"; }
    echo "$(cut -d' ' -f1 <<<"$runs" | middle) $(cut -d' ' -f2 <<<"$runs" | middle)" \
        "$(awk '{ n += $3 } END { print n + 0 }' <<<"$runs")" \
        "$(awk '{ n += $4 } END { print n + 0 }' <<<"$runs")"
}

# Prints "RPS P99_MS NON2XX SOCKET_ERRORS" from a wrk output file.
parse_wrk() {
    awk '
        function to_ms(v) {
            if (v ~ /us$/) { sub(/us$/, "", v); return v / 1000 }
            if (v ~ /ms$/) { sub(/ms$/, "", v); return v + 0 }
            if (v ~ /m$/)  { sub(/m$/, "", v);  return v * 60000 }
            if (v ~ /s$/)  { sub(/s$/, "", v);  return v * 1000 }
            return -1
        }
        /^Requests\/sec:/ { rps = $2 }
        $1 == "99%" && p99 == "" { p99 = to_ms($2) }
        /Non-2xx or 3xx responses:/ { non2xx = $NF }
        /Socket errors:/ {
            for (i = 3; i <= NF; i += 2) { v = $(i + 1); sub(/,$/, "", v); sock += v }
        }
        END {
            if (rps == "" || p99 == "") exit 1
            printf "%s %.2f %d %d\n", rps, p99, non2xx, sock
        }' "$1"
}

# ---------------------------------------------------------------- cases

declare -A RPS P99 NOTE BAD REF
CASES=()

# record NAME LABEL [LIST]: parses NAME's wrk output into the table, and
# adds LABEL to the array LIST (default CASES, the main table). A case that
# answered no request fails the benchmark, unless CASE_SLOW_OK=1: then it is
# recorded with 0 requests per second and a note (a list page slower than
# the whole run).
record() {
    local name=$1 label=$2 rps p99 non2xx sock note=""
    local -n cases=${3:-CASES}
    read -r rps p99 non2xx sock < <(parse_case "$name") ||
        die "cannot read wrk's output for $name (see $RESULTS/$name.txt)"
    if ! awk -v r="$rps" 'BEGIN { exit !(r > 0) }'; then
        [ "${CASE_SLOW_OK:-0}" = 1 ] ||
            die "$name: no request answered (see $RESULTS/$name.txt)"
        note="no request answered within ${BENCH_SECONDS}s"
        rps=0
        non2xx=$((non2xx + 1)) # counted as an error: a MISS
    fi
    [ "$non2xx" = 0 ] || [ -n "$note" ] || note="$non2xx non-2xx"
    [ "$sock" = 0 ] || note="${note:+$note, }$sock socket errors"
    BAD[$label]=$(( non2xx + sock ))
    local ref_rps
    read -r ref_rps _ _ _ < <(parse_case "$name" ref) ||
        die "cannot read the reference runs of $name"
    REF[$label]=$ref_rps
    RPS[$label]=$rps
    P99[$label]=$p99
    NOTE[$label]=$note
    cases+=("$label")
}

# Adds a note when the change log contradicts what the case should do:
# the read path must not write, the write path must create on every request.
check_changes() {
    local name=$1 kind=$2 label=$3 seq requests
    seq=$(http_request GET "$PORT" "/changes?after=0&limit=1" |
        grep -o '"last_seq": *[0-9]*' | grep -o '[0-9]*$') || return 0
    requests=$(awk '$2 == "requests" && $3 == "in" { n += $1 } END { print n + 0 }' \
        "$RESULTS/$name.warmup.txt" "$RESULTS/$name.txt")
    if [ "$kind" = read ] && [ "$seq" -gt 10 ]; then
        NOTE[$label]="${NOTE[$label]:+${NOTE[$label]}, }read path logged $seq changes"
    elif [ "$kind" = write ] && [ "$seq" -lt "$requests" ]; then
        NOTE[$label]="${NOTE[$label]:+${NOTE[$label]}, }only $seq changes for $requests requests"
    fi
}

# case_ceiling NAME LABEL [CEILING OPTIONS...]
case_ceiling() {
    local name=$1 label=$2
    shift 2
    start_ceiling "$name" "$@"
    run_wrk "$name" "$HERE/identify_read.lua"
    record "$name" "$label"
    stop_server
}

case_read() {
    start_idlinkd read --sync full
    [ "$(http_status POST "$PORT" /identify "$KNOWN_BODY")" = 200 ] ||
        die "seeding the known contact failed (see $SERVER_LOG)"
    run_wrk read "$HERE/identify_read.lua"
    record read "read path"
    check_changes read read "read path"
    stop_server
}

# case_write NAME LABEL [IDLINKD OPTIONS...]
case_write() {
    local name=$1 label=$2
    shift 2
    start_idlinkd "$name" "$@"
    run_wrk "$name" "$HERE/identify_write.lua"
    record "$name" "$label"
    check_changes "$name" write "$label"
    stop_server
}

# case_mirror: the durable write path with the Redis mirror on. The lag p99
# is idlinkd's own: from each entry's commit to its EXEC in Redis, over the
# last 8192 entries applied (GET /healthz, mirror.lag_p99_ms).
MIRROR_LAG_P99=""
MIRROR_DRAIN_MS=""
case_mirror() {
    local rport rdir t0 t1 rpid
    command -v redis-server >/dev/null || { warn "redis-server not found: no mirror case"; return 0; }
    rdir=$(mktemp -d "$BENCH_TMPDIR/idlink-redis.XXXXXX")
    rport=$(pick_port)
    redis-server --port "$rport" --bind 127.0.0.1 --save "" --appendonly no \
        --dir "$rdir" --daemonize no --loglevel warning >"$RESULTS/redis.log" 2>&1 &
    rpid=$!
    sleep 0.3
    start_idlinkd write-mirror --sync full --redis "redis://127.0.0.1:$rport"
    run_wrk write-mirror "$HERE/identify_write.lua"
    record write-mirror "write, sync full, mirror"
    # How long the mirror takes to apply what the load left.
    t0=$(now_s)
    for _ in $(seq 1 200); do
        http_request GET "$PORT" /healthz | grep -q '"lag_entries":0[,}]' && break
        sleep 0.02
    done
    t1=$(now_s)
    MIRROR_DRAIN_MS=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f", (b - a) * 1000 }')
    MIRROR_LAG_P99=$(http_request GET "$PORT" /healthz |
        grep -o '"lag_p99_ms":[0-9.e+-]*' | cut -d: -f2)
    stop_server
    kill "$rpid" 2>/dev/null || true
    wait "$rpid" 2>/dev/null || true
    rm -rf "$rdir"
}

# parse_p50 FILE: wrk's median latency in ms (from --latency output).
parse_p50() {
    awk '$1 == "50%" {
        v = $2
        if (v ~ /us$/) { sub(/us$/, "", v); print v / 1000; exit }
        if (v ~ /ms$/) { sub(/ms$/, "", v); print v + 0; exit }
        if (v ~ /s$/)  { sub(/s$/, "", v);  print v * 1000; exit }
    }' "$1"
}

# case_hub: one identity of HUB_CONTACTS contacts, written to while other
# clients write unrelated contacts. A write to the hub must cost the writer
# no more than any other write (its answer, the whole identity, is rendered
# outside the writer and once per snapshot), so the unrelated writes' median
# latency is compared with and without the hub load beside them.
HUB_CONTACTS=${HUB_CONTACTS:-5000}
HUB_LINE=""
case_hub() {
    local contacts=0 i alone with hub_rps hub_p50
    # The hub guard (1000 by default) would stop the hub from growing.
    start_idlinkd hub --sync full --max-identity-contacts $((HUB_CONTACTS * 2))
    for ((i = 0; i < 60 && contacts < HUB_CONTACTS; i++)); do
        wrk -t2 -c16 -d1s -s "$HERE/identify_hub.lua" "http://127.0.0.1:$PORT/identify" \
            -- "$((900 + i))" >"$RESULTS/hub.grow.txt" 2>&1 || die "wrk failed growing the hub"
        contacts=$(http_request GET "$PORT" /healthz | grep -o '"contacts": *[0-9]*' |
            grep -o '[0-9]*$')
    done
    wrk -t2 -c24 -d"${BENCH_SECONDS}s" --latency -s "$HERE/identify_write.lua" \
        "http://127.0.0.1:$PORT/identify" -- 71 >"$RESULTS/hub.alone.txt" 2>&1 ||
        die "wrk failed for the unrelated writes (see $RESULTS/hub.alone.txt)"
    wrk -t1 -c8 -d"$((BENCH_SECONDS + 2))s" --latency -s "$HERE/identify_hub.lua" \
        "http://127.0.0.1:$PORT/identify" -- 72 >"$RESULTS/hub.load.txt" 2>&1 &
    local hub_wrk=$!
    sleep 1
    wrk -t2 -c24 -d"${BENCH_SECONDS}s" --latency -s "$HERE/identify_write.lua" \
        "http://127.0.0.1:$PORT/identify" -- 73 >"$RESULTS/hub.with.txt" 2>&1 ||
        die "wrk failed for the unrelated writes (see $RESULTS/hub.with.txt)"
    wait "$hub_wrk" || die "wrk failed for the hub load (see $RESULTS/hub.load.txt)"
    alone=$(parse_p50 "$RESULTS/hub.alone.txt")
    with=$(parse_p50 "$RESULTS/hub.with.txt")
    read -r hub_rps _ _ _ < <(parse_wrk "$RESULTS/hub.load.txt")
    hub_p50=$(parse_p50 "$RESULTS/hub.load.txt")
    HUB_LINE=$(printf '%-26s %8s %12s %12s %8s %10s' "$contacts contacts" "$alone" "$with" \
        "$(awk -v a="$with" -v b="$alone" 'BEGIN { printf "%.2fx", a / b }')" "$hub_rps" "$hub_p50")
    stop_server
}

# case_flood: /healthz while one client holds idle connections and slow
# bodies: below the pool (FLOOD_THREADS threads), they must not be felt;
# beyond it, a new connection waits at most the pre-request timeout (3 s).
FLOOD_THREADS=${FLOOD_THREADS:-1024}
FLOOD_LINES=()
case_flood() {
    local idle result
    command -v python3 >/dev/null || { warn "python3 not found: no flood case"; return 0; }
    for idle in 0 $((FLOOD_THREADS - 100)) $((FLOOD_THREADS + 200)); do
        start_idlinkd "flood-$idle" --sync full --threads "$FLOOD_THREADS"
        result=$(python3 "$HERE/idle_flood.py" "$PORT" "$idle" 70 50) ||
            die "idle_flood.py failed against $PORT"
        FLOOD_LINES+=("$(printf '%-8s %6s %s' "$idle" 70 "$result")")
        stop_server
    done
}

# ---------------------------------------------------------------- customers

CUSTOMER_CASES=()
LOAD_CASES=()

# Adds a note when the customers table does not hold a customer for every
# request answered (warm-up and the run kept).
check_customers() {
    local name=$1 label=$2 count requests
    count=$(http_request GET "$PORT" "/api/v1/customers/?limit=1" |
        grep -o '"count": *[0-9]*' | grep -o '[0-9]*$') || return 0
    requests=$(awk '$2 == "requests" && $3 == "in" { n += $1 } END { print n + 0 }' \
        "$RESULTS/$name.warmup.txt" "$RESULTS/$name.txt")
    [ "$count" -ge "$requests" ] ||
        NOTE[$label]="${NOTE[$label]:+${NOTE[$label]}, }only $count customers for $requests requests"
}

# case_customer_create: POST /api/v1/customers/, a new customer each request,
# durable (--sync full): the generic create, its seven indexes, and the
# reconciliation of its email and phone, in the group-committing writer.
case_customer_create() {
    start_idlinkd customer-create --sync full
    run_wrk customer-create "$HERE/customer_create.lua" /api/v1/customers/
    record customer-create "customer create, sync full" CUSTOMER_CASES
    check_customers customer-create "customer create, sync full"
    stop_server
}

# case_load: the durable write path with BENCH_LOAD_CONNS connections, --sync
# full then --sync none, each server with a worker thread for every
# connection and as many again (civetweb holds one per open connection).
case_load() {
    local sync threads=$((2 * BENCH_LOAD_CONNS))
    [ "$threads" -ge "$BENCH_THREADS" ] || threads=$BENCH_THREADS
    for sync in full none; do
        start_idlinkd "write-load-$sync" --sync "$sync" --threads "$threads"
        CASE_WRK_ARGS="-t2 -c$BENCH_LOAD_CONNS" run_wrk "write-load-$sync" \
            "$HERE/identify_write.lua"
        record "write-load-$sync" "write -c$BENCH_LOAD_CONNS, sync $sync" LOAD_CASES
        check_changes "write-load-$sync" write "write -c$BENCH_LOAD_CONNS, sync $sync"
        stop_server
    done
}

# --------------------------------------------------------- customer stores

declare -A GEN_SECONDS GEN_RATE CUST_DUMP EXPORT_RATE EXPORT_HWM EXPORT_ANON EXPORT_FILE EXPORT_BPR
declare -A EXPORT_NOTE FEW
LIST_FILTERS=(email prefix identity window)
LIST_CASES=()

# first_json_field FIELD: the first value of FIELD in the JSON on stdin
# (strings without their quotes).
first_json_field() {
    grep -o "\"$1\": *[^,}]*" | head -1 | sed 's/^[^:]*: *//; s/^"//; s/"$//'
}

# customers_get PATH: the answer to GET /api/v1/customers/PATH.
customers_get() {
    http_request GET "$PORT" "/api/v1/customers/$1"
}

# The ISO 8601 text of a time in microseconds since the epoch, as the API
# renders created_date.
iso_us() {
    printf '%s.%06dZ' "$(date -u -d "@$(($1 / 1000000))" +%Y-%m-%dT%H:%M:%S)" $(($1 % 1000000))
}

# probe_list LABEL QUERY WANT: notes when one list page of QUERY does not
# count WANT customers (the generator's shapes are what the scripts assume),
# and, when the case answered too few requests for its p99 to mean much
# (FEW[LABEL]), how long the page takes alone.
probe_list() {
    local out got secs
    out=$(curl -sS -w '\n%{time_total}' "http://127.0.0.1:$PORT/api/v1/customers/?$2&limit=1") ||
        die "curl failed on ?$2 (see $SERVER_LOG)"
    got=$(first_json_field count <<<"$out")
    secs=$(tail -n1 <<<"$out")
    [ "$got" = "$3" ] ||
        NOTE[$1]="${NOTE[$1]:+${NOTE[$1]}, }?$2 counts ${got:-nothing}, not $3"
    [ "${FEW[$1]:-0}" = 0 ] ||
        NOTE[$1]="${NOTE[$1]:+${NOTE[$1]}, }${FEW[$1]} answered, one page alone ${secs}s"
}

# case_customers N: a store of N customers (idlink-gen-customers), timed;
# idlink-dump's contacts per second on it; the filtered list pages; the
# exports, csv and xlsx, each on a freshly started server.
case_customers() {
    local n=$1 dir made contacts t0 t1 first last t0_us step_us filter label j i
    local dumps=()
    dir=$(mktemp -d "$BENCH_TMPDIR/idlink-customers.XXXXXX")
    CUST_DIR=$dir
    t0=$(now_s)
    read -r made contacts < <("$GEN_CUSTOMERS" "$dir" "$n") ||
        die "idlink-gen-customers failed for $n customers"
    t1=$(now_s)
    [ "$made" = "$n" ] || die "idlink-gen-customers made $made customers, not $n"
    GEN_SECONDS[$n]=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
    GEN_RATE[$n]=$(per_second "$n" "$t0" "$t1")
    for ((i = 1; i <= BENCH_REPEAT; i++)); do
        sync
        t0=$(now_s)
        "$BUILD_DIR/idlink-dump" --data "$dir" -o "$dir.snapshot" --quiet ||
            die "idlink-dump failed on the customers store"
        t1=$(now_s)
        dumps+=("$(per_second "$contacts" "$t0" "$t1")")
        rm -f "$dir.snapshot"
    done
    CUST_DUMP[$n]=$(printf '%s\n' "${dumps[@]}" | sort -n |
        sed -n "$(((BENCH_REPEAT + 1) / 2))p")

    DATA_DIR=$dir
    start_idlinkd "customers-$n" --sync full
    DATA_DIR="" # kept for the exports
    # The window script maps k to created_date from two customers' dates.
    first=$(customers_get "?email=customer0@shop.example" | first_json_field created_date)
    last=$(customers_get "?email=customer$((n - 1))@shop.example" | first_json_field created_date)
    if ! t0_us=$(date -u -d "$first" +%s%6N) || ! step_us=$(date -u -d "$last" +%s%6N); then
        die "cannot read the created_date of customers 0 and $((n - 1)) (see $SERVER_LOG)"
    fi
    step_us=$(((step_us - t0_us) / (n - 1)))
    for filter in "${LIST_FILTERS[@]}"; do
        label="$n $filter"
        IDLINK_BENCH_FILTER=$filter IDLINK_BENCH_CUSTOMERS=$n IDLINK_BENCH_T0_US=$t0_us \
            IDLINK_BENCH_STEP_US=$step_us CASE_WRK_ARGS="${WRK_ARGS[*]} --timeout 120s" \
            CASE_SETTLE=1 run_wrk "customers-$n-$filter" "$HERE/customers_list.lua" \
            /api/v1/customers/
        CASE_SLOW_OK=1 record "customers-$n-$filter" "$label" LIST_CASES
        FEW[$label]=$(awk '$2 == "requests" && $3 == "in" { n = $1 }
            END { print (n < 100 ? n + 0 : 0) }' "$RESULTS/customers-$n-$filter.txt")
        j=$((n / 6)) # customer 3j: identity 3j+1, alone; 3j+1 and 3j+2: identity 3j+2
        case $filter in
        email) probe_list "$label" "email=customer$j@shop.example" 1 ;;
        prefix) probe_list "$label" "email__startswith=customer$(((n + 99) / 100))" 11 ;;
        identity)
            probe_list "$label" "identity=$((3 * j + 1))" 1
            probe_list "$label" "identity=$((3 * j + 2))" 2 ;;
        window)
            probe_list "$label" "created_date__gte=$(iso_us $((t0_us + 3 * j * step_us)))$(
                )&created_date__lt=$(iso_us $((t0_us + (3 * j + 100) * step_us)))" 100 ;;
        esac
    done
    stop_server

    local format code
    for format in csv xlsx; do
        EXPORT_RUNS=()
        for ((i = 1; i <= BENCH_REPEAT; i++)); do
            export_once "$n" "$dir" "$format"
        done
        # The run of median rate.
        read -r EXPORT_RATE["$n $format"] EXPORT_HWM["$n $format"] EXPORT_ANON["$n $format"] \
            EXPORT_FILE["$n $format"] EXPORT_BPR["$n $format"] code < <(
            printf '%s\n' "${EXPORT_RUNS[@]}" | sort -g | sed -n "$(((BENCH_REPEAT + 1) / 2))p")
        EXPORT_NOTE["$n $format"]=""
        [ "$code" = 200 ] || EXPORT_NOTE["$n $format"]="status $code"
    done
    CUST_DIR=""
    rm -rf "$dir" "$dir.snapshot"
}

# export_once N DIR FORMAT: one export of every customer, curl -o /dev/null,
# on a freshly started server; adds "ROWS/S HWM ANON FILE BYTES/ROW STATUS"
# to EXPORT_RUNS: idlinkd's peak resident memory (VmHWM), which counts the
# pages of the LMDB map the export read; the peak of its anonymous memory
# (RssAnon: heap, stacks), sampled every 50 ms during the export; and its
# memory mapped from files (RssFile, mostly the LMDB map) just after; in MiB.
EXPORT_RUNS=()
export_once() {
    local n=$1 format=$3 out code size secs hwm anon file
    DATA_DIR=$2
    start_idlinkd "export-$n-$format" --sync full
    DATA_DIR=""
    out=$RESULTS/export-$n-$format.curl.txt
    curl -sS -o /dev/null -w '%{http_code} %{size_download} %{time_total}\n' \
        "http://127.0.0.1:$PORT/api/v1/customers/export/?format=$format" >"$out" 2>&1 &
    local curl_pid=$! kb
    anon=0
    while kill -0 "$curl_pid" 2>/dev/null; do
        kb=$(awk '$1 == "RssAnon:" { print $2 }' "/proc/$SERVER_PID/status")
        [ "${kb:-0}" -le "$anon" ] || anon=$kb
        sleep 0.05
    done
    wait "$curl_pid" || die "curl failed to export $format: $(cat "$out")"
    read -r code size secs <"$out"
    read -r hwm file kb < <(awk '{ kb[$1] = $2 }
        END { print kb["VmHWM:"], kb["RssFile:"], kb["RssAnon:"] }' "/proc/$SERVER_PID/status")
    [ "${kb:-0}" -le "$anon" ] || anon=$kb
    read -r hwm anon file < <(awk -v h="$hwm" -v a="$anon" -v f="$file" \
        'BEGIN { printf "%.1f %.1f %.1f\n", h / 1024, a / 1024, f / 1024 }')
    stop_server
    EXPORT_RUNS+=("$(awk -v n="$n" -v s="$secs" -v b="$size" -v h="$hwm" -v a="$anon" \
        -v f="$file" -v c="$code" \
        'BEGIN { printf "%.0f %s %s %s %.0f %s", n / s, h, a, f, b / n, c }')")
}

# ---------------------------------------------------------------- report

# A case's throughput against the reference runs paired with it.
ratio() {
    awk -v a="${RPS[$1]}" -v b="${REF[$1]}" 'BEGIN { printf "%.2f", a / b }'
}

# print_cases LABEL...: the table of those cases.
print_cases() {
    local label
    printf '%-26s %10s %9s %13s %10s\n' case req/s "p99 ms" "ceiling req/s" "x ceiling"
    for label in "$@"; do
        printf '%-26s %10.1f %9.2f %13.1f %10s' "$label" "${RPS[$label]}" \
            "${P99[$label]}" "${REF[$label]}" "$(ratio "$label")"
        [ -z "${NOTE[$label]}" ] || printf '  (%s)' "${NOTE[$label]}"
        printf '\n'
    done
}

print_table() {
    print_cases "${CASES[@]}"
}

# target LABEL DESCRIPTION MIN: one PASS/MISS line; errors make a MISS.
target() {
    local r verdict
    r=$(ratio "$1")
    if [ "${BAD[$1]}" != 0 ]; then
        verdict="MISS (${BAD[$1]} errors)"
    elif awk -v r="$r" -v m="$3" 'BEGIN { exit !(r >= m) }'; then
        verdict=PASS
    else
        verdict=MISS
    fi
    printf '  %-28s >= %.2fx ceiling: %5sx  %s\n' "$2" "$3" "$r" "$verdict"
}

print_targets() {
    local gain
    echo
    echo "targets (set for a 2-core machine; this one has $(nproc) cores):"
    target "read path" "read path" "$READ_TARGET"
    target "write, sync full" "durable write (sync full)" "$WRITE_TARGET"
    gain=$(awk -v a="${RPS[write, sync full]}" -v b="${RPS[write, sync full, batch 1]}" \
        'BEGIN { printf "%.1f", a / b }')
    echo "  group commit: ${gain}x the throughput of one fsync per request (batch 1)"
    if [ -n "$MIRROR_LAG_P99" ]; then
        local mr verdict
        mr=$(awk -v a="$(ratio "write, sync full, mirror")" -v b="$(ratio "write, sync full")" \
            'BEGIN { printf "%.2f", a / b }')
        verdict=$(awk -v r="$mr" 'BEGIN { print (r >= 0.9 ? "PASS" : "MISS") }')
        printf '  %-28s >= 0.90x no mirror: %5sx  %s\n' "write with the mirror" "$mr" "$verdict"
        verdict=$(awk -v l="$MIRROR_LAG_P99" 'BEGIN { print (l < 100 ? "PASS" : "MISS") }')
        printf '  %-28s <  100 ms:          %5s ms %s (caught up %s ms after the load)\n' \
            "mirror lag p99" "$MIRROR_LAG_P99" "$verdict" "$MIRROR_DRAIN_MS"
    fi
}

print_hub() {
    [ -n "$HUB_LINE" ] || return 0
    echo
    echo "one large identity: unrelated durable writes (wrk -c24), alone and beside a hub load (-c8)"
    printf '%-26s %8s %12s %12s %8s %10s\n' hub "p50 ms" "p50 with hub" "x alone" \
        "hub r/s" "hub p50 ms"
    echo "$HUB_LINE"
}

print_flood() {
    [ ${#FLOOD_LINES[@]} -gt 0 ] || return 0
    echo
    echo "connection floods from one address ($FLOOD_THREADS worker threads): /healthz over 50 probes"
    printf '%-8s %6s %s\n' idle slow "p50_ms p99_ms max_ms failed"
    printf '%s\n' "${FLOOD_LINES[@]}"
}

# verdict VALUE MIN [MAX]: PASS when MIN <= VALUE (and VALUE <= MAX).
verdict() {
    awk -v v="$1" -v lo="$2" -v hi="${3:-}" \
        'BEGIN { print (v >= lo && (hi == "" || v <= hi) ? "PASS" : "MISS") }'
}

# The ratio of two cases' ratios to the ceiling: A's throughput over B's,
# each measured against the reference runs paired with it.
relative() {
    awk -v a="$(ratio "$1")" -v b="$(ratio "$2")" 'BEGIN { printf "%.2f", a / b }'
}

# relative_target A B DESCRIPTION MIN: one PASS/MISS line for A over B.
relative_target() {
    local r v
    r=$(relative "$1" "$2")
    v=$(verdict "$r" "$4")
    local bad=$((${BAD[$1]} + ${BAD[$2]}))
    [ "$bad" = 0 ] || v="MISS ($bad errors)"
    printf '  %-34s >= %.2fx: %5sx  %s\n' "$3" "$4" "$r" "$v"
}

print_customer_create() {
    [ ${#CUSTOMER_CASES[@]} -gt 0 ] || return 0
    echo
    echo "creating customers: POST /api/v1/customers/, a new email, phone and channel_code" \
        "each (wrk ${WRK_ARGS[*]})"
    print_cases "write, sync full" "${CUSTOMER_CASES[@]}"
    relative_target "customer create, sync full" "write, sync full" \
        "customer create / identify write" "$CREATE_TARGET"
}

print_load() {
    [ ${#LOAD_CASES[@]} -gt 0 ] || return 0
    local full="write -c$BENCH_LOAD_CONNS, sync full" none="write -c$BENCH_LOAD_CONNS, sync none"
    echo
    echo "durable writes under load: wrk -t2 -c$BENCH_LOAD_CONNS (the ceiling runs at" \
        "${WRK_ARGS[*]})"
    print_cases "${LOAD_CASES[@]}"
    relative_target "$full" "$none" "sync full / none at -c$BENCH_LOAD_CONNS" "$LOAD_TARGET"
    printf '  %-34s          %5sx  (for comparison)\n' "sync full / none at -c32" \
        "$(relative "write, sync full" "write, sync none")"
}

print_customers() {
    [ -n "$BENCH_CUSTOMERS" ] || return 0
    local n first="" last="" filter format label r v bad
    echo
    echo "customer stores (idlink-gen-customers, one transaction per 20000 customers):"
    for n in $BENCH_CUSTOMERS; do
        printf '  %-10s customers generated in %6s s (%s customers/s)\n' "$n" \
            "${GEN_SECONDS[$n]}" "${GEN_RATE[$n]}"
        [ -n "$first" ] || first=$n
        last=$n
    done
    echo
    echo "filtered list pages: GET /api/v1/customers/?FILTER, a random customer each request" \
        "(wrk ${WRK_ARGS[*]})"
    print_cases "${LIST_CASES[@]}"
    echo
    echo "list targets (at $last customers):"
    for filter in "${LIST_FILTERS[@]}"; do
        target "$last $filter" "$filter page" "$LIST_TARGET"
    done
    for filter in "${LIST_FILTERS[@]}"; do
        r=$(awk -v a="${P99[$last $filter]}" -v b="${P99[$first $filter]}" \
            'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')
        v=$(verdict "$r" 0 "$LIST_P99_TARGET")
        bad=$((${BAD[$last $filter]} + ${BAD[$first $filter]}))
        [ "$bad" = 0 ] || v="MISS ($bad errors)"
        [ "${RPS[$last $filter]}" != 0 ] || v="MISS (no answer at $last)"
        printf '  %-34s <= %.2fx: %5sx  %s\n' "$filter p99 at $last / at $first" \
            "$LIST_P99_TARGET" "$r" "$v"
    done
    echo
    echo "exports of every customer: GET /api/v1/customers/export/?format=F, curl -o /dev/null," \
        "each on a fresh server"
    echo "(MiB: VmHWM, the peak resident set; anon, the peak of RssAnon sampled every 50 ms;" \
        "file, RssFile just after, mostly the LMDB map)"
    printf '%-15s %9s %10s %7s %9s %8s %8s %8s\n' export "rows/s" "dump c/s" "x dump" \
        "bytes/row" "VmHWM" "anon" "file"
    for n in $BENCH_CUSTOMERS; do
        for format in csv xlsx; do
            label="$n $format"
            printf '%-15s %9s %10s %7s %9s %8s %8s %8s' "$label" "${EXPORT_RATE[$label]}" \
                "${CUST_DUMP[$n]}" "$(awk -v a="${EXPORT_RATE[$label]}" -v b="${CUST_DUMP[$n]}" \
                'BEGIN { printf "%.2f", a / b }')" "${EXPORT_BPR[$label]}" \
                "${EXPORT_HWM[$label]}" "${EXPORT_ANON[$label]}" "${EXPORT_FILE[$label]}"
            [ -z "${EXPORT_NOTE[$label]}" ] || printf '  (%s)' "${EXPORT_NOTE[$label]}"
            printf '\n'
        done
    done
    echo
    echo "export targets (at $last customers):"
    for format in csv xlsx; do
        label="$last $format"
        local min=$CSV_TARGET
        [ "$format" = csv ] || min=$XLSX_TARGET
        r=$(awk -v a="${EXPORT_RATE[$label]}" -v b="${CUST_DUMP[$last]}" \
            'BEGIN { printf "%.2f", a / b }')
        v=$(verdict "$r" "$min")
        [ -z "${EXPORT_NOTE[$label]}" ] || v="MISS (${EXPORT_NOTE[$label]})"
        printf '  %-34s >= %.2fx: %5sx  %s\n' "$format rows/s / dump contacts/s" "$min" "$r" "$v"
    done
    # The process's own memory (anonymous: heap, stacks) is what must not grow
    # with the rows. VmHWM also counts the pages of LMDB's memory map the export
    # read, which are the page cache's, shared and evictable: shown, not judged.
    for format in csv xlsx; do
        r=$(awk -v a="${EXPORT_ANON[$last $format]}" -v b="${EXPORT_ANON[$first $format]}" \
            'BEGIN { printf "%.2f", a / b }')
        printf '  %-34s <= %.2fx: %5sx  %s\n' "$format peak anon at $last / at $first" \
            "$EXPORT_MEM_TARGET" "$r" "$(verdict "$r" 0 "$EXPORT_MEM_TARGET")"
    done
}

# ---------------------------------------------------------------- scale

declare -A DUMP_RATE RESTORE_RATE SNAP_BYTES STORE_BYTES SCALE_P99 SCALE_RPS SCALE_P99_C8

now_s() { date +%s.%N; }

per_second() {
    awk -v n="$1" -v a="$2" -v b="$3" 'BEGIN { printf "%.0f", n / (b - a) }'
}

median3() { printf '%s\n' "$@" | sort -n | sed -n 2p; }

# case_scale N: generate, dump and restore (three times each, the median
# kept), then the read path over random known contacts of the store.
case_scale() {
    local n=$1 dir snap restored made identities t0 t1 i name=scale-$1
    local dumps=() restores=()
    dir=$(mktemp -d "$BENCH_TMPDIR/idlink-scale.XXXXXX")
    snap=$dir.snapshot
    restored=$dir.restored
    read -r made identities < <("$GEN_STORE" "$dir" "$n") ||
        die "idlink-gen-store failed for $n contacts"
    for i in 1 2 3; do
        sync
        t0=$(now_s)
        "$BUILD_DIR/idlink-dump" --data "$dir" -o "$snap" --quiet || die "idlink-dump failed"
        t1=$(now_s)
        dumps+=("$(per_second "$made" "$t0" "$t1")")
        rm -rf "$restored"
        sync
        t0=$(now_s)
        "$BUILD_DIR/idlink-restore" --data "$restored" -i "$snap" --quiet ||
            die "idlink-restore failed"
        t1=$(now_s)
        restores+=("$(per_second "$made" "$t0" "$t1")")
    done
    DUMP_RATE[$n]=$(median3 "${dumps[@]}")
    RESTORE_RATE[$n]=$(median3 "${restores[@]}")
    SNAP_BYTES[$n]=$(awk -v s="$(stat -c %s "$snap")" -v n="$made" 'BEGIN { printf "%.1f", s / n }')
    STORE_BYTES[$n]=$(awk -v s="$(stat -c %s "$restored/data.mdb")" -v n="$made" \
        'BEGIN { printf "%.1f", s / n }')
    rm -rf "$restored" "$snap"
    DATA_DIR=$dir
    start_idlinkd "$name" --sync full
    IDLINK_BENCH_IDENTITIES=$identities run_wrk "$name" "$HERE/identify_read_random.lua"
    read -r SCALE_RPS[$n] SCALE_P99[$n] _ _ < <(parse_case "$name") ||
        die "cannot read wrk's output for $name"
    # The same reads from 8 connections: the store's share of the tail,
    # without the run queue of 32 connections on two cores.
    IDLINK_BENCH_IDENTITIES=$identities CASE_WRK_ARGS="-t2 -c8" run_wrk "$name-c8" \
        "$HERE/identify_read_random.lua"
    read -r _ SCALE_P99_C8[$n] _ _ < <(parse_case "$name-c8") ||
        die "cannot read wrk's output for $name-c8"
    stop_server
}

print_scale() {
    local n first="" last=""
    [ -n "$BENCH_SCALE" ] || return 0
    echo
    printf '%-10s %12s %12s %9s %9s %10s %9s %9s\n' contacts "dump c/s" "restore c/s" \
        "snap B/c" "store B/c" "read req/s" "p99 ms" "-c8 p99"
    for n in $BENCH_SCALE; do
        printf '%-10s %12s %12s %9s %9s %10.1f %9.2f %9.2f\n' "$n" "${DUMP_RATE[$n]}" \
            "${RESTORE_RATE[$n]}" "${SNAP_BYTES[$n]}" "${STORE_BYTES[$n]}" \
            "${SCALE_RPS[$n]}" "${SCALE_P99[$n]}" "${SCALE_P99_C8[$n]}"
        [ -n "$first" ] || first=$n
        last=$n
    done
    echo
    echo "scale targets:"
    printf '  %-34s %12s  %s\n' "dump >= 1000000 contacts/s" "${DUMP_RATE[$last]}" \
        "$(verdict "${DUMP_RATE[$last]}" 1000000)"
    printf '  %-34s %12s  %s\n' "restore >= 300000 contacts/s" "${RESTORE_RATE[$last]}" \
        "$(verdict "${RESTORE_RATE[$last]}" 300000)"
    local r
    r=$(awk -v a="${SCALE_P99[$last]}" -v b="${SCALE_P99[$first]}" 'BEGIN { printf "%.2f", a / b }')
    printf '  %-34s %11sx  %s\n' "p99 at $last <= 1.5x p99 at $first" "$r" \
        "$(verdict 1.5 "$r")"
    r=$(awk -v a="${SCALE_P99_C8[$last]}" -v b="${SCALE_P99_C8[$first]}" \
        'BEGIN { printf "%.2f", a / b }')
    printf '  %-34s %11sx  %s\n' "the same from 8 connections" "$r" "(for comparison)"
}

# ---------------------------------------------------------------- main

check_setup() {
    command -v wrk >/dev/null || die "wrk not found (apt-get install wrk)"
    [ -x "$CEILING" ] || die "$CEILING not found: build first (cmake --build $BUILD_DIR)"
    [ -x "$IDLINKD" ] || die "$IDLINKD not found: build first (cmake --build $BUILD_DIR)"
    [ -x "$GEN_STORE" ] || [ -z "$BENCH_SCALE" ] ||
        die "$GEN_STORE not found: build first (cmake --build $BUILD_DIR)"
    [ -x "$GEN_CUSTOMERS" ] || [ -z "$BENCH_CUSTOMERS" ] ||
        die "$GEN_CUSTOMERS not found: build first (cmake --build $BUILD_DIR)"
    command -v curl >/dev/null || [ -z "$BENCH_CUSTOMERS" ] ||
        die "curl not found (apt-get install curl)"
    local n
    for n in $BENCH_CUSTOMERS; do
        [[ "$n" =~ ^[0-9]+$ ]] || die "BENCH_CUSTOMERS: $n is not a number"
        [ "$n" -ge 1000 ] || die "BENCH_CUSTOMERS: $n customers are too few (at least 1000)"
    done
    [[ "$BENCH_LOAD_CONNS" =~ ^[1-9][0-9]*$ ]] || die "BENCH_LOAD_CONNS must be a positive integer"
    [[ "$BENCH_SECONDS" =~ ^[1-9][0-9]*$ ]] || die "BENCH_SECONDS must be a positive integer"
    [[ "$BENCH_REPEAT" =~ ^[1-9][0-9]*$ ]] || die "BENCH_REPEAT must be a positive integer"
    mkdir -p "$RESULTS"
    [ "$(stat -f -c %T "$BENCH_TMPDIR")" != tmpfs ] ||
        warn "$BENCH_TMPDIR is a tmpfs: fsync costs nothing there, durable numbers mean little"
}

# The bulk import section: its own servers and table (import_bench.py), with
# the customer creates per second of this run as its reference.
print_import() {
    [ "$BENCH_IMPORT" = 1 ] || return 0
    local create=${RPS[customer create, sync full]:-0}
    awk -v c="$create" 'BEGIN { exit !(c > 0) }' ||
        { warn "no customer create rate: no import section"; return 0; }
    /usr/bin/python3 "$HERE/import_bench.py" "$IDLINKD" "$BENCH_TMPDIR" "$create" \
        "$BENCH_REPEAT" || die "the import section failed"
}

main() {
    check_setup
    echo "idlink bench: wrk ${WRK_ARGS[*]} -d${BENCH_SECONDS}s, median of $BENCH_REPEAT runs," \
        "$BENCH_THREADS server threads, $(nproc) cores; raw output in $RESULTS/"
    start_reference
    case_ceiling ceiling "ceiling (fixed body)"
    case_ceiling ceiling-headers "ceiling, civetweb headers" --civetweb-headers
    case_read
    case_write write-full "write, sync full" --sync full
    case_write write-batch1 "write, sync full, batch 1" --sync full --max-batch 1
    case_write write-none "write, sync none" --sync none
    case_customer_create
    case_load
    case_mirror
    case_hub
    case_flood
    local n
    for n in $BENCH_SCALE; do
        case_scale "$n"
    done
    for n in $BENCH_CUSTOMERS; do
        case_customers "$n"
    done
    echo
    print_table
    print_targets
    print_customer_create
    print_load
    print_hub
    print_flood
    print_scale
    print_customers
    print_import
}

main
