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
#
# The scale section generates a store of each size (idlink-gen-store: about a
# third of the identities have secondaries), then measures idlink-dump and
# idlink-restore in contacts per second, the snapshot's and the store's bytes
# per contact, and the read path over random known contacts of that store.
# Raw wrk outputs are kept in BUILD_DIR/bench-results/.
set -euo pipefail
export LC_ALL=C

BUILD_DIR=${1:-build}
BENCH_SECONDS=${BENCH_SECONDS:-5}
BENCH_REPEAT=${BENCH_REPEAT:-3}
BENCH_THREADS=${BENCH_THREADS:-64}
BENCH_TMPDIR=${BENCH_TMPDIR:-${TMPDIR:-/tmp}}
BENCH_SCALE=${BENCH_SCALE-10000 1000000}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CEILING=$BUILD_DIR/idlink-ceiling
IDLINKD=$BUILD_DIR/idlinkd
GEN_STORE=$BUILD_DIR/idlink-gen-store
RESULTS=$BUILD_DIR/bench-results
WRK_ARGS=(-t2 -c32)
READ_TARGET=0.80
WRITE_TARGET=0.25
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

stop_all() {
    stop_server
    if [ -n "$REF_PID" ]; then
        SERVER_PID=$REF_PID
        REF_PID=""
        stop_server
    fi
}

trap stop_all EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- wrk

# run_wrk NAME SCRIPT: a 1 s warm-up, then the measured run into
# $RESULTS/NAME.txt. The script argument is a run tag (identify_write.lua
# makes its emails and phones unique with it).
run_wrk() {
    local name=$1 script=$2 url="http://127.0.0.1:$PORT/identify" i median
    wrk "${WRK_ARGS[@]}" -d1s -s "$script" "$url" -- 1 >"$RESULTS/$name.warmup.txt" 2>&1 ||
        die "wrk warm-up failed for $name (see $RESULTS/$name.warmup.txt)"
    for ((i = 1; i <= BENCH_REPEAT; i++)); do
        wrk "${WRK_ARGS[@]}" -d"${BENCH_SECONDS}s" --latency -s "$HERE/identify_read.lua" \
            "http://127.0.0.1:$REF_PORT/identify" >"$RESULTS/$name.ref$i.txt" 2>&1 ||
            die "wrk failed for the reference of $name (see $RESULTS/$name.ref$i.txt)"
        wrk "${WRK_ARGS[@]}" -d"${BENCH_SECONDS}s" --latency -s "$script" "$url" -- $((i + 1)) \
            >"$RESULTS/$name.run$i.txt" 2>&1 ||
            die "wrk failed for $name (see $RESULTS/$name.run$i.txt)"
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

# record NAME LABEL: parses NAME's wrk output into the table.
record() {
    local name=$1 label=$2 rps p99 non2xx sock note=""
    read -r rps p99 non2xx sock < <(parse_case "$name") ||
        die "cannot read wrk's output for $name (see $RESULTS/$name.txt)"
    awk -v r="$rps" 'BEGIN { exit !(r > 0) }' ||
        die "$name: no request answered (see $RESULTS/$name.txt)"
    [ "$non2xx" = 0 ] || note="$non2xx non-2xx"
    [ "$sock" = 0 ] || note="${note:+$note, }$sock socket errors"
    BAD[$label]=$(( non2xx + sock ))
    local ref_rps
    read -r ref_rps _ _ _ < <(parse_case "$name" ref) ||
        die "cannot read the reference runs of $name"
    REF[$label]=$ref_rps
    RPS[$label]=$rps
    P99[$label]=$p99
    NOTE[$label]=$note
    CASES+=("$label")
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
    start_idlinkd hub --sync full
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

# ---------------------------------------------------------------- report

# A case's throughput against the reference runs paired with it.
ratio() {
    awk -v a="${RPS[$1]}" -v b="${REF[$1]}" 'BEGIN { printf "%.2f", a / b }'
}

print_table() {
    local label
    printf '%-26s %10s %9s %13s %10s\n' case req/s "p99 ms" "ceiling req/s" "x ceiling"
    for label in "${CASES[@]}"; do
        printf '%-26s %10.1f %9.2f %13.1f %10s' "$label" "${RPS[$label]}" \
            "${P99[$label]}" "${REF[$label]}" "$(ratio "$label")"
        [ -z "${NOTE[$label]}" ] || printf '  (%s)' "${NOTE[$label]}"
        printf '\n'
    done
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

# ---------------------------------------------------------------- scale

declare -A DUMP_RATE RESTORE_RATE SNAP_BYTES STORE_BYTES SCALE_P99 SCALE_RPS

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
    stop_server
}

print_scale() {
    local n first="" last=""
    [ -n "$BENCH_SCALE" ] || return 0
    echo
    printf '%-10s %12s %12s %9s %9s %10s %9s
' contacts "dump c/s" "restore c/s" \
        "snap B/c" "store B/c" "read req/s" "p99 ms"
    for n in $BENCH_SCALE; do
        printf '%-10s %12s %12s %9s %9s %10.1f %9.2f\n' "$n" "${DUMP_RATE[$n]}" \
            "${RESTORE_RATE[$n]}" "${SNAP_BYTES[$n]}" "${STORE_BYTES[$n]}" \
            "${SCALE_RPS[$n]}" "${SCALE_P99[$n]}"
        [ -n "$first" ] || first=$n
        last=$n
    done
    echo
    echo "scale targets:"
    verdict() { awk -v a="$1" -v b="$2" 'BEGIN { print (a >= b ? "PASS" : "MISS") }'; }
    printf '  %-34s %12s  %s\n' "dump >= 1000000 contacts/s" "${DUMP_RATE[$last]}" \
        "$(verdict "${DUMP_RATE[$last]}" 1000000)"
    printf '  %-34s %12s  %s\n' "restore >= 300000 contacts/s" "${RESTORE_RATE[$last]}" \
        "$(verdict "${RESTORE_RATE[$last]}" 300000)"
    local r
    r=$(awk -v a="${SCALE_P99[$last]}" -v b="${SCALE_P99[$first]}" 'BEGIN { printf "%.2f", a / b }')
    printf '  %-34s %11sx  %s\n' "p99 at $last <= 1.5x p99 at $first" "$r" \
        "$(verdict 1.5 "$r")"
}

# ---------------------------------------------------------------- main

check_setup() {
    command -v wrk >/dev/null || die "wrk not found (apt-get install wrk)"
    [ -x "$CEILING" ] || die "$CEILING not found: build first (cmake --build $BUILD_DIR)"
    [ -x "$IDLINKD" ] || die "$IDLINKD not found: build first (cmake --build $BUILD_DIR)"
    [ -x "$GEN_STORE" ] || [ -z "$BENCH_SCALE" ] ||
        die "$GEN_STORE not found: build first (cmake --build $BUILD_DIR)"
    [[ "$BENCH_SECONDS" =~ ^[1-9][0-9]*$ ]] || die "BENCH_SECONDS must be a positive integer"
    [[ "$BENCH_REPEAT" =~ ^[1-9][0-9]*$ ]] || die "BENCH_REPEAT must be a positive integer"
    mkdir -p "$RESULTS"
    [ "$(stat -f -c %T "$BENCH_TMPDIR")" != tmpfs ] ||
        warn "$BENCH_TMPDIR is a tmpfs: fsync costs nothing there, durable numbers mean little"
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
    case_mirror
    case_hub
    case_flood
    local n
    for n in $BENCH_SCALE; do
        case_scale "$n"
    done
    echo
    print_table
    print_targets
    print_hub
    print_flood
    print_scale
}

main
