#!/usr/bin/env bash
# Log-ingest benchmark: 1,000,000 mixed log records (JSON, logfmt, RFC 5424 syslog,
# combined access logs; 10 services × 50 hosts) POSTed to /api/v1/ingest/logs in batches
# of 1,000 by 4 sender processes, into a release Tidewatch on a fresh PostgreSQL database
# (and SQLite with BENCH_BACKENDS="pg sqlite"); then search latency over those records;
# then, in the same run, raw PostgreSQL COPY of the same normalised rows as the anchor.
# Prints a summary table, one column per target with the issue's targets beside it, then
# the same numbers as TSV.
#
#   bench/logs.sh                                    # PostgreSQL, the issue's sizes
#   BENCH_BACKENDS="pg sqlite" bench/logs.sh         # both, one after the other
#   BENCH_RECORDS=20000 BENCH_SEARCH_RUNS=5 bench/logs.sh   # smoke test
#
# Per backend: records/s acknowledged (wall time from the first request sent to the last
# 2xx answer); MB/s (uncompressed body bytes of the acknowledged requests per second;
# wire_mb_per_sec is the gzip bytes); request p50/p99; CPU per record (the server's
# utime+stime from /proc/<pid>/stat from just before the first request to just after the
# last answer, ÷ records, in µs; "_settled" also counts the next BENCH_SETTLE_SECS);
# peak RSS (VmHWM after ingest, and at the end after the searches); how long the records
# took to show in the histogram; bytes stored per record (PostgreSQL:
# pg_total_relation_size('log_blocks') ÷ records, and the growth of the whole database;
# SQLite: the growth of the database file plus its -wal file over the ingest, as a
# checkpoint cannot be forced from outside while the server runs; both measured once
# two readings 2 s apart agree, at most 30 s); then p50/p99 of BENCH_SEARCH_RUNS
# sequential runs (after one warm-up) of a phrase query ("connection refused"), a field
# query (service:api level:error) and a histogram (step 60s) over the range the records
# cover. Checks (a warning line each when they fail): the searches' first pages are
# non-empty and match, the histogram's total equals the records acknowledged.
# Targets: ≥ 150,000 records/s on PostgreSQL, search p50 ≤ 100 ms, ≤ 60 bytes stored per
# record. The anchor: `\copy` through psql (one stream) of the rows generate.py
# normalised the same way into a fresh table with btree (tenant_id, ts_ns) and GIN
# (to_tsvector('simple', message)), both created before the load; prints rows/s and the
# ratio Tidewatch records/s ÷ COPY rows/s.
#
# The load (bench/logs/generate.py) is generated and gzip-compressed before anything is
# timed (≈ 10 s and ≈ 300 MiB under /tmp for 1 M records; the senders hold ≈ 45 MiB).
# Each request is one (service, host) pair (`?service=…&host=…`), `Content-Type:
# text/plain`, `Content-Encoding: gzip`, `Authorization: Bearer <ingest+read key>`;
# the timestamps cover the hour before generation, increasing within a request.
#
# Knobs (environment): BENCH_RECORDS (1000000), BENCH_BATCH (1000), BENCH_SENDERS (4),
# BENCH_SEARCH_RUNS (50), BENCH_BACKENDS (pg), BENCH_COPY=0 skips the anchor,
# BENCH_PG_SERVER (postgres://postgres@127.0.0.1:5432), BENCH_DEADLINE_SECS per backend
# and for the anchor (1800), BENCH_VISIBLE_SECS to wait for the records to show (60),
# BENCH_SETTLE_SECS (3), BENCH_COMPACT_SECS to wait for compaction (300), BENCH_SEED (1), BENCH_TW_BIN=path uses that binary instead of
# building, BENCH_KEEP=1 keeps the work directory (corpus, JSON reports, server logs)
# and the databases. Other work on the machine shows in the load averages printed.
#
# Everything is bounded (request timeouts, a deadline per backend) and every server this
# script starts is stopped, every database it creates dropped, on exit. Traffic goes to
# 127.0.0.1 only. Python 3 standard library only; psql for the anchor and the sizes.
set -euo pipefail

cd "$(dirname "$0")/.."
# Always this target directory: another engineer builds in target/.
export CARGO_TARGET_DIR=$HOME/.cache/tidewatch-target

BACKENDS=${BENCH_BACKENDS:-pg}
PG_SERVER=${BENCH_PG_SERVER:-postgres://postgres@127.0.0.1:5432}
RECORDS=${BENCH_RECORDS:-1000000}
BATCH=${BENCH_BATCH:-1000}
SENDERS=${BENCH_SENDERS:-4}
SEARCH_RUNS=${BENCH_SEARCH_RUNS:-50}
COPY_ANCHOR=${BENCH_COPY:-1}
DEADLINE=${BENCH_DEADLINE_SECS:-1800}
VISIBLE_SECS=${BENCH_VISIBLE_SECS:-60}
COMPACT_SECS=${BENCH_COMPACT_SECS:-300}
SETTLE_SECS=${BENCH_SETTLE_SECS:-3}
SEED=${BENCH_SEED:-1}
CARGO_WAIT_SECS=${BENCH_CARGO_WAIT_SECS:-1200}
TARGET_RECORDS_PER_SEC=150000
TARGET_SEARCH_P50_MS=100
TARGET_BYTES_PER_RECORD=60
ADMIN_EMAIL=admin@tidewatch.local
ADMIN_PASSWORD=bench-admin-password-0001
TENANT_PASSWORD=bench-tenant-password-0001
PY=python3
HERE=bench/logs

LOAD_AT_START=$(cut -d' ' -f1-3 /proc/loadavg)
WORK=$(mktemp -d /tmp/tw-logs-bench.XXXXXX)
CORPUS=$WORK/corpus
RESULTS=$WORK/results.tsv
NOTES=$WORK/notes.txt
: >"$RESULTS"
: >"$NOTES"
log() { printf '[%(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
warn() { log "WARNING: $*"; printf 'WARNING: %s\n' "$*" >>"$NOTES"; }

# Bounded steps (bounded below) run under `timeout`, which puts them in a process group
# of their own: STEPS lists those groups, so that an interrupted run can stop them.
STEPS=()
stop_steps() {
    local pid
    for pid in "${STEPS[@]}"; do
        kill -TERM -- "-$pid" 2>/dev/null || true
    done
}
cleanup() {
    trap '' INT TERM
    stop_steps
    if [[ -z ${BENCH_KEEP:-} ]]; then rm -rf "$WORK"; else log "kept $WORK"; fi
}
trap cleanup EXIT
# The phases run in the background (see run_scoped) so that a signal is handled at once:
# it is passed on to the phase, which stops its server and drops its database first.
SCOPE=
on_signal() {
    log "interrupted"
    if [[ -n $SCOPE ]]; then
        kill -TERM "$SCOPE" 2>/dev/null || true
        wait "$SCOPE" 2>/dev/null || true
    fi
    exit "$1"
}
trap 'on_signal 130' INT
trap 'on_signal 143' TERM

# Each backend runs in a subshell that stops its own server and drops its own database.
phase_cleanup() {
    local pid db
    trap '' INT TERM # a second signal must not cut the cleanup short
    stop_steps
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        timeout 40 tail --pid="$pid" -f /dev/null 2>/dev/null || kill -9 "$pid" 2>/dev/null || true
    done
    if [[ -z ${BENCH_KEEP:-} ]]; then
        for db in "${DATABASES[@]}"; do
            # WITH (FORCE) (PostgreSQL 13+) ends connections a dying server left behind.
            psql -Xq "$PG_SERVER/postgres" -c "SET client_min_messages = warning" \
                -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 ||
                psql -Xq "$PG_SERVER/postgres" -c "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 ||
                log "could not drop database $db"
        done
    elif ((${#DATABASES[@]})); then
        log "kept databases: ${DATABASES[*]}"
    fi
}

record() { printf '%s\t%s\t%s\n' "$1" "$2" "$3" >>"$RESULTS"; } # target, metric, value

# record_json TARGET JSON FIELD… — each field of the JSON object, rounded by its unit
# (µs to 0.001, seconds and cores to 0.01, ms, MiB, MB/s and bytes per record to 0.1, the
# rest whole; null is n/a).
record_json() {
    local target=$1 json=$2 field value
    shift 2
    for field in "$@"; do
        value=$(jq -r --arg f "$field" '.[$f] | if type == "number" then
                (if ($f | test("_us$")) then (. * 1000 | round / 1000)
                 elif ($f | test("(_secs|_cores_used)$")) then (. * 100 | round / 100)
                 elif ($f | test("(_ms|_mib|mb_per_sec|_per_record|_per_row)$")) then (. * 10 | round / 10)
                 else round end)
                | if . == 0 then 0 else . end
            elif . == null then "n/a" else . end' <<<"$json")
        record "$target" "$field" "$value"
    done
}

# cargo and rustc by process name (a command-line match would also find any process whose
# environment or arguments mention ~/.cargo).
compilers() { ps -eo pid=,comm= | awk '$2 ~ /^(cargo|rustc|cargo-.*|clippy-driver)$/ { print $1, $2 }'; }
wait_for_compilers() {
    local deadline=$((SECONDS + CARGO_WAIT_SECS)) running
    while running=$(compilers) && [[ -n $running ]]; do
        ((SECONDS < deadline)) || { log "cargo/rustc still running after $CARGO_WAIT_SECS s; giving up"; return 1; }
        log "waiting for other cargo/rustc to finish: $(head -1 <<<"$running") …"
        sleep 10
    done
}

wait_http() { # url, seconds[, pid that must stay alive]
    local deadline=$((SECONDS + $2))
    until curl -sf -o /dev/null --max-time 2 "$1"; do
        ((SECONDS < deadline)) || { log "no answer from $1 after $2 s"; return 1; }
        if [[ -n ${3:-} ]] && ! kill -0 "$3" 2>/dev/null; then log "the server exited before answering $1"; return 1; fi
        sleep 0.5
    done
}

free_port() { $PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# bounded SECONDS OUTPUT_FILE COMMAND…: COMMAND under timeout, its standard output into
# OUTPUT_FILE; waited for with `wait`, so that a signal interrupts it.
bounded() {
    local secs=$1 out=$2
    shift 2
    timeout --kill-after=10 "$secs" "$@" >"$out" &
    STEPS+=("$!")
    wait "$!"
}

# Seconds left before the phase's deadline (PHASE_END); fails when none are.
left() {
    local n=$((PHASE_END - SECONDS))
    ((n > 0)) || { log "the deadline ($DEADLINE s) has passed"; return 1; }
    echo "$n"
}

# start_tidewatch NAME DATABASE_URL → sets TW_PID, TW_URL, TW_LOG
start_tidewatch() {
    local name=$1 url=$2 port secret
    port=$(free_port)
    secret=$($PY -c 'import secrets; print(secrets.token_hex(32))')
    mkdir -p "$WORK/$name"
    TW_LOG=$WORK/$name/tidewatch.log
    TW_URL=http://127.0.0.1:$port
    env TIDEWATCH_BIND="127.0.0.1:$port" DATABASE_URL="$url" TIDEWATCH_DATA_DIR="$WORK/$name" \
        TIDEWATCH_JWT_SECRET="$secret" TIDEWATCH_LOG_LEVEL=warn \
        TIDEWATCH_ADMIN_EMAIL=$ADMIN_EMAIL TIDEWATCH_ADMIN_PASSWORD=$ADMIN_PASSWORD \
        TIDEWATCH_LOG_INGEST_RECORDS_PER_SEC=100000000 \
        TIDEWATCH_INGEST_MAX_BODY_BYTES=268435456 \
        TIDEWATCH_ACCESS_TOKEN_TTL_SECS=$((DEADLINE + 600)) \
        "$TW_BIN" serve >"$TW_LOG" 2>&1 &
    TW_PID=$!
    PIDS+=("$TW_PID")
    wait_http "$TW_URL/readyz" 60 "$TW_PID" || { tail -20 "$TW_LOG" >&2; return 1; }
    log "$name: tidewatch pid $TW_PID on $TW_URL"
}

fresh_pg_database() { # name → PG_URL (and remembered for the phase's cleanup)
    local db="tw_logs_bench_$1_$$"
    DATABASES+=("$db")
    psql -Xq "$PG_SERVER/postgres" -c "SET client_min_messages = warning" \
        -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null
    PG_URL=$PG_SERVER/$db
}

# Creates a tenant; prints its admin's access token and an ingest+read API key.
credentials_for() {
    local base=$1 admin tenant key
    admin=$(curl -sf --max-time 30 "$base/api/v1/auth/login" -H 'content-type: application/json' \
        -d "{\"email\":\"$ADMIN_EMAIL\",\"password\":\"$ADMIN_PASSWORD\"}" | jq -r .access_token)
    curl -sf --max-time 30 "$base/api/v1/admin/tenants" -H "authorization: Bearer $admin" \
        -H 'content-type: application/json' \
        -d "{\"name\":\"Bench\",\"admin_email\":\"ops@bench.test\",\"admin_password\":\"$TENANT_PASSWORD\"}" >/dev/null
    tenant=$(curl -sf --max-time 30 "$base/api/v1/auth/login" -H 'content-type: application/json' \
        -d "{\"email\":\"ops@bench.test\",\"password\":\"$TENANT_PASSWORD\"}" | jq -r .access_token)
    key=$(curl -sf --max-time 30 "$base/api/v1/api-keys" -H "authorization: Bearer $tenant" \
        -H 'content-type: application/json' -d '{"name":"bench","scopes":["ingest","read"]}' | jq -r .key)
    [[ -n $tenant && $tenant != null && -n $key && $key != null ]] || { log "could not create the tenant or its key"; return 1; }
    printf '%s %s\n' "$tenant" "$key"
}

SEND_FIELDS=(
    records_sent records_acknowledged ok_requests failed_requests rate_limited_requests
    count_mismatches answers_without_count
    wall_secs records_per_sec mb_per_sec wire_mb_per_sec request_p50_ms request_p99_ms request_max_ms
    server_cpu_secs cpu_per_record_us server_cpu_settled_secs cpu_per_record_settled_us
    server_cores_used postgres_cpu_secs loadgen_cpu_secs peak_rss_mib rss_after_ingest_mib
)
SEARCH_FIELDS=(
    phrase_p50_ms phrase_p99_ms phrase_min_ms phrase_first_page phrase_errors
    field_p50_ms field_p99_ms field_min_ms field_first_page field_errors
    histogram_p50_ms histogram_p99_ms histogram_min_ms histogram_total histogram_buckets histogram_errors
)

phase() { # pg | sqlite
    local target=tidewatch-$1 db_url sqlite_file="" credentials key send acked visible
    local storage_args before after stored search problem hwm pg_flag=() running budget
    PHASE_END=$((SECONDS + DEADLINE))
    if [[ $1 == pg ]]; then
        fresh_pg_database main
        db_url=$PG_URL
        storage_args=(--pg-url "$db_url")
        pg_flag=(--pg-cpu)
    else
        mkdir -p "$WORK/$target"
        sqlite_file=$WORK/$target/tidewatch.db
        db_url="sqlite://$sqlite_file?mode=rwc"
        storage_args=(--sqlite "$sqlite_file")
    fi
    start_tidewatch "$target" "$db_url"
    credentials=$(credentials_for "$TW_URL")
    read -r _ key <<<"$credentials"
    bounded 60 "$WORK/$target.storage-before.json" $PY $HERE/storage.py "${storage_args[@]}"
    before=$(cat "$WORK/$target.storage-before.json")
    running=$(compilers)
    [[ -z $running ]] || warn "$target: cargo/rustc running during the measurement: $(head -1 <<<"$running")"

    log "$target: ingest of $RECORDS records in batches of $BATCH, $SENDERS senders"
    budget=$(left)
    BENCH_KEY=$key bounded "$budget" "$WORK/$target.send.json" $PY $HERE/send.py --url "$TW_URL" \
        --corpus "$CORPUS" --senders "$SENDERS" --pid "$TW_PID" "${pg_flag[@]}" \
        --deadline "$((budget - 30 > 10 ? budget - 30 : 10))" --settle-secs "$SETTLE_SECS"
    send=$(cat "$WORK/$target.send.json")
    record_json "$target" "$send" "${SEND_FIELDS[@]}"
    acked=$(jq -r '.records_acknowledged // 0' <<<"$send")
    log "$target: $acked records acknowledged, $(jq -r '.records_per_sec // 0 | round' <<<"$send") records/s, $(jq -r .failed_requests <<<"$send") failed requests"
    problem=$(jq -r '.first_error // empty' <<<"$send")
    [[ -z $problem ]] || warn "$target: ingest: $problem"
    [[ $acked == "$RECORDS" ]] || warn "$target: $acked of $RECORDS records acknowledged"

    budget=$(left)
    BENCH_KEY=$key bounded "$budget" "$WORK/$target.visible.json" $PY $HERE/search.py wait \
        --url "$TW_URL" --corpus "$CORPUS" --expect "$acked" --wait-secs "$VISIBLE_SECS"
    visible=$(cat "$WORK/$target.visible.json")
    record_json "$target" "$visible" visible_after_ms histogram_total_at_wait
    [[ $(jq -r .visible <<<"$visible") == true ]] ||
        warn "$target: the histogram counted $(jq -r .histogram_total_at_wait <<<"$visible") of $acked records after $VISIBLE_SECS s ($(jq -r '.wait_error // "no error"' <<<"$visible"))"

    bounded 120 "$WORK/$target.storage-after.json" $PY $HERE/storage.py "${storage_args[@]}" --settle
    after=$(cat "$WORK/$target.storage-after.json")
    echo "{\"before\": $before, \"after\": $after}" >"$WORK/$target.storage.json"
    [[ $(jq -r .settled <<<"$after") == true ]] || warn "$target: the storage size was still changing after 30 s"
    if [[ $1 == pg ]]; then
        stored=$(jq -n --argjson a "$after" --argjson b "$before" --argjson n "$acked" '{
            bytes_stored_per_record: (if $a.log_blocks_bytes == null or $n == 0 then null else $a.log_blocks_bytes / $n end),
            log_blocks_mib: (if $a.log_blocks_bytes == null then null else $a.log_blocks_bytes / 1048576 end),
            database_growth_per_record: (if $n == 0 then null else ($a.database_bytes - $b.database_bytes) / $n end),
            database_growth_mib: (($a.database_bytes - $b.database_bytes) / 1048576)}')
        record "$target" storage_method "pg_total_relation_size('log_blocks') after ingest / records acknowledged"
        [[ $(jq -r .log_blocks_bytes <<<"$after") != null ]] || warn "$target: there is no table log_blocks"
    else
        stored=$(jq -n --argjson a "$after" --argjson b "$before" --argjson n "$acked" '{
            bytes_stored_per_record: (if $n == 0 then null else ($a.db_plus_wal_bytes - $b.db_plus_wal_bytes) / $n end),
            database_growth_mib: (($a.db_plus_wal_bytes - $b.db_plus_wal_bytes) / 1048576),
            wal_mib_after: ($a.wal_bytes / 1048576)}')
        record "$target" storage_method "growth of tidewatch.db + tidewatch.db-wal over the ingest / records acknowledged (no checkpoint forced)"
    fi
    # The server compacts blocks once they are TIDEWATCH_LOG_COMPACTION_MIN_AGE_SECS old:
    # what they were as committed is bytes_stored_per_record_uncompacted; the searches and
    # bytes_stored_per_record are measured once compaction is done (as a running server
    # is, a minute after the records arrived).
    record_json "$target" "$stored" bytes_stored_per_record log_blocks_mib database_growth_per_record database_growth_mib wal_mib_after
    sed -i "s/^$target\tbytes_stored_per_record\t/$target\tbytes_stored_per_record_uncompacted\t/" "$RESULTS"
    log "$target: waiting for compaction (at most $COMPACT_SECS s), then the space in use"
    bounded "$((COMPACT_SECS + 300))" "$WORK/$target.storage-compacted.json" $PY $HERE/storage.py \
        "${storage_args[@]}" --compacted --max-wait "$COMPACT_SECS"
    compacted=$(cat "$WORK/$target.storage-compacted.json")
    [[ $(jq -r .uncompacted_blocks <<<"$compacted") == 0 ]] ||
        warn "$target: $(jq -r .uncompacted_blocks <<<"$compacted") blocks still uncompacted after $COMPACT_SECS s"
    if [[ $1 == pg ]]; then
        stored=$(jq -n --argjson a "$compacted" --argjson n "$acked" '{
            bytes_stored_per_record: (if $a.log_blocks_bytes == null or $n == 0 then null else $a.log_blocks_bytes / $n end),
            compaction_wait_secs: $a.compaction_wait_secs}')
        record "$target" storage_method_compacted "pg_total_relation_size('log_blocks') after compaction and VACUUM FULL log_blocks / records acknowledged"
    else
        stored=$(jq -n --argjson a "$compacted" --argjson b "$before" --argjson n "$acked" '{
            bytes_stored_per_record: (if $n == 0 then null else ($a.pages_in_use_bytes - $b.db_plus_wal_bytes) / $n end),
            compaction_wait_secs: $a.compaction_wait_secs}')
        record "$target" storage_method_compacted "pages in use (page_count - freelist_count) after compaction and a WAL checkpoint, minus the empty database / records acknowledged"
    fi
    record_json "$target" "$stored" bytes_stored_per_record compaction_wait_secs

    log "$target: search, $SEARCH_RUNS runs of each query after a warm-up"
    budget=$(left)
    BENCH_KEY=$key bounded "$budget" "$WORK/$target.search.json" $PY $HERE/search.py timed \
        --url "$TW_URL" --corpus "$CORPUS" --expect "$acked" --runs "$SEARCH_RUNS"
    search=$(cat "$WORK/$target.search.json")
    record_json "$target" "$search" "${SEARCH_FIELDS[@]}"
    while IFS= read -r problem; do
        [[ -z $problem ]] || warn "$target: $problem"
    done < <(jq -r '.search_problems[]' <<<"$search")

    hwm=$(awk '/^VmHWM:/ { print $2 }' "/proc/$TW_PID/status" 2>/dev/null || true)
    record "$target" peak_rss_end_mib "$([[ -n $hwm ]] && awk -v k="$hwm" 'BEGIN { printf "%.1f", k / 1024 }' || echo n/a)"
    if ! kill -0 "$TW_PID" 2>/dev/null; then warn "$target: tidewatch exited"; tail -30 "$TW_LOG" >&2; fi
    record "$target" server_log_warn_error_lines "$(grep -cE 'WARN|ERROR' "$TW_LOG" || true)"
    grep -E 'WARN|ERROR' "$TW_LOG" | tail -5 >&2 || true
    cp "$TW_LOG" "$WORK/$target.log"
}

copy_phase() {
    local report budget
    PHASE_END=$((SECONDS + DEADLINE))
    fresh_pg_database copy
    log "postgres-copy: \\copy of the same $RECORDS normalised rows into a fresh indexed table"
    budget=$(left)
    bounded "$budget" "$WORK/postgres-copy.json" $PY $HERE/copy_anchor.py --db-url "$PG_URL" \
        --corpus "$CORPUS" --timeout "$budget"
    report=$(cat "$WORK/postgres-copy.json")
    report=$(jq '. + {records_acknowledged: .rows, records_per_sec: .rows_per_sec,
        bytes_stored_per_record: .bytes_per_row, table_mib: (.table_bytes / 1048576)}' <<<"$report")
    record_json postgres-copy "$report" records_acknowledged wall_secs records_per_sec \
        bytes_stored_per_record table_mib postgres_cpu_secs psql_cpu_secs
    record postgres-copy storage_method "pg_total_relation_size('log_rows') (heap, TOAST and both indexes) / rows"
    [[ $(jq -r .rows <<<"$report") == "$RECORDS" ]] || warn "postgres-copy: $(jq -r .rows <<<"$report") of $RECORDS rows copied"
}

# scoped FUNCTION ARG…: run as a background job (a subshell of its own, so SCOPE is the
# process that holds these traps) with errexit in force (it would be ignored in a function
# called as `f || …`); it stops its servers and drops its databases when it ends, also
# when it is sent TERM.
scoped() {
    set -e
    PIDS=()
    DATABASES=()
    STEPS=()
    trap phase_cleanup EXIT
    trap 'exit 143' TERM
    "$@"
}

run_scoped() { # name, function, args…: runs it in the background, reports a failure and carries on
    local name=$1 rc
    shift
    set +e
    scoped "$@" &
    SCOPE=$!
    wait "$SCOPE"
    rc=$?
    set -e
    SCOPE=
    ((rc == 0)) || warn "$name failed (exit $rc); continuing"
}

for backend in $BACKENDS; do
    case $backend in
    pg | sqlite) ;;
    *) log "unknown backend $backend (use pg, sqlite)"; exit 2 ;;
    esac
done

#
# Build
#
if [[ -n ${BENCH_TW_BIN:-} ]]; then
    TW_BIN=$BENCH_TW_BIN
    log "using $TW_BIN (BENCH_TW_BIN), no build"
else
    wait_for_compilers
    log "building tidewatch (release, $CARGO_TARGET_DIR)"
    bounded 3600 /dev/stderr cargo build --release --quiet --bin tidewatch
    TW_BIN=$CARGO_TARGET_DIR/release/tidewatch
fi

#
# The load, before anything is timed
#
log "generating $RECORDS records in batches of $BATCH"
no_rows=()
[[ $COPY_ANCHOR != 0 ]] || no_rows=(--no-rows)
bounded "$DEADLINE" /dev/null $PY $HERE/generate.py --records "$RECORDS" --batch "$BATCH" \
    --seed "$SEED" --out "$CORPUS" "${no_rows[@]}"
META=$(cat "$CORPUS/meta.json")
log "generated in $(jq -r .generate_secs <<<"$META") s: $(jq -r '.raw_bytes / 1e6 | round' <<<"$META") MB, $(jq -r '.gz_bytes / 1e6 | round' <<<"$META") MB gzip-compressed"

for backend in $BACKENDS; do
    run_scoped "backend $backend" phase "$backend"
done
if [[ $COPY_ANCHOR != 0 ]]; then
    run_scoped "the COPY anchor" copy_phase
fi

#
# Summary
#
echo
echo "machine: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo) RAM; $(psql -XAtq "$PG_SERVER/postgres" -c 'SHOW server_version' 2>/dev/null | sed 's/^/PostgreSQL /' || true)"
echo "load average at start: $LOAD_AT_START, at end: $(cut -d' ' -f1-3 /proc/loadavg) (other work shares the machine)"
jq -r '"workload: \(.records) records (JSON \(.formats.json), logfmt \(.formats.logfmt), syslog \(.formats.syslog), access \(.formats.access)) in \(.batches) requests of \(.batch), \(.raw_bytes / 1e6 * 10 | round / 10) MB (\(.gz_bytes / 1e6 * 10 | round / 10) MB gzip), 10 services × \(.hosts) hosts, over the hour before \(.now_ms / 1000 | floor | todate)"' <<<"$META"
echo "senders: $SENDERS processes, one keep-alive connection each; search: $SEARCH_RUNS runs per query after a warm-up (nearest-rank p99: the max of fewer than 100 runs)"
jq -r '"the corpus has \(.phrase_records) records with \"\(.phrase)\" and \(.field_query_records) with service \(.field_service) at level error; levels \(.levels | to_entries | map("\(.key) \(.value)") | join(", "))"' <<<"$META"
if [[ ! -s $RESULTS ]]; then
    echo "no results"
    cat "$NOTES"
    exit 1
fi
# The ratio to the anchor, into the TSV too.
copy_rps=$(awk -F'\t' '$1 == "postgres-copy" && $2 == "records_per_sec" { print $3 }' "$RESULTS")
if [[ $copy_rps =~ ^[0-9.]+$ ]] && [[ $copy_rps != 0 ]]; then
    for backend in $BACKENDS; do
        rps=$(awk -F'\t' -v t="tidewatch-$backend" '$1 == t && $2 == "records_per_sec" { print $3 }' "$RESULTS")
        if [[ $rps =~ ^[0-9.]+$ ]]; then
            record "tidewatch-$backend" ratio_to_copy "$(awk -v a="$rps" -v b="$copy_rps" 'BEGIN { printf "%.3f", a / b }')"
        fi
    done
fi
echo
$PY $HERE/summary.py "$RESULTS" --target-records-per-sec "$TARGET_RECORDS_PER_SEC" \
    --target-search-p50-ms "$TARGET_SEARCH_P50_MS" --target-bytes-per-record "$TARGET_BYTES_PER_RECORD"
if [[ -s $NOTES ]]; then
    echo
    cat "$NOTES"
fi
echo
echo "# TSV: target, metric, value"
cat "$RESULTS"
