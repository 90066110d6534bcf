#!/usr/bin/env bash
# End-to-end benchmarks: Tidewatch (PostgreSQL and SQLite) against VictoriaMetrics on the
# same line-protocol load; ingest throughput, read-back count, query latency, memory per
# series and bytes per sample. Prints a summary table; see bench/README.md.
#
#   bench/run.sh                      # everything (≈ 15–30 min on 2 cores)
#   BENCH_PHASES="pg vm" bench/run.sh # a subset: pg sqlite vm memory repeat
#   BENCH_PHASES=repeat BENCH_REPEAT=5 bench/run.sh
#                                     # ingest only, Tidewatch + PostgreSQL and VictoriaMetrics
#                                     # alternately, fresh each time: mean, min and max
#                                     # (one run of either varies ±10 % on 2 cores)
#
# Everything is bounded (request timeouts, per-phase deadlines) and every server this script
# starts is stopped on exit. Traffic goes to 127.0.0.1 only.
set -euo pipefail

cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/tidewatch-target}

PHASES=${BENCH_PHASES:-"pg sqlite vm memory"}
PG_SERVER=${BENCH_PG_SERVER:-postgres://postgres@127.0.0.1:5432}
HOSTS=${BENCH_HOSTS:-1000}            # × REGIONS = series
REGIONS=${BENCH_REGIONS:-10}
STEPS=${BENCH_STEPS:-240}             # samples per series, 15 s apart: one hour
SENDERS=${BENCH_SENDERS:-4}
BATCH_LINES=${BENCH_BATCH_LINES:-5000}
INGEST_DEADLINE=${BENCH_INGEST_DEADLINE_SECS:-900}
QUERY_RUNS=${BENCH_QUERY_RUNS:-20}
REPEAT=${BENCH_REPEAT:-5}
MEMORY_SERIES=${BENCH_MEMORY_SERIES:-"100000 1000000"}
MEMORY_DEADLINE=${BENCH_MEMORY_DEADLINE_SECS:-900}
# Unset = Tidewatch's default (2,000,000 samples or 300 s).
CHECKPOINT_AFTER=${BENCH_CHECKPOINT_AFTER_SAMPLES:-}
QUERY='sum by (region)(rate(cpu_usage_user[5m]))'
COUNT_QUERY='sum(count_over_time(cpu_usage_user[2h]))'
SERIES_QUERY='count(count_over_time(cpu_usage_user[2h]))'
VM=/usr/bin/victoria-metrics
ADMIN_PASSWORD=bench-admin-password-0001
TENANT_PASSWORD=bench-tenant-password-0001
CLK_TCK=$(getconf CLK_TCK)

LOAD_AT_START=$(cut -d' ' -f1-3 /proc/loadavg)
WORK=$(mktemp -d /tmp/tw-bench.XXXXXX)
RESULTS=$WORK/results.tsv
log() { printf '[%(%H:%M:%S)T] %s\n' -1 "$*" >&2; }

# Each phase runs in a subshell that stops its own servers and drops its own databases.
phase_cleanup() {
    local pid db
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        timeout 40 tail --pid="$pid" -f /dev/null 2>/dev/null || kill -9 "$pid" 2>/dev/null || true
    done
    if [[ -z ${BENCH_KEEP:-} ]]; then
        for db in "${DATABASES[@]}"; do
            psql -q "$PG_SERVER/postgres" -c "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true
        done
    else
        log "kept databases: ${DATABASES[*]}"
    fi
}
cleanup() {
    if [[ -z ${BENCH_KEEP:-} ]]; then rm -rf "$WORK"; else log "kept $WORK"; fi
}
trap cleanup EXIT

record() { printf '%s\t%s\t%s\n' "$1" "$2" "$3" >>"$RESULTS"; } # target, metric, value

# CPU seconds (user + system) of one process.
cpu_of() { awk -v t="$CLK_TCK" '{ sub(/.*\) /, ""); split($0, f, " "); printf "%.2f", (f[12] + f[13]) / t }' "/proc/$1/stat" 2>/dev/null || echo nan; }
# CPU seconds of every running postgres process (the server is shared: an upper bound).
pg_cpu() {
    local total=0 pid
    for pid in $(pgrep -x postgres || true); do
        total=$(awk -v a="$total" -v b="$(cpu_of "$pid" 2>/dev/null || echo 0)" 'BEGIN { printf "%.2f", a + b }')
    done
    echo "$total"
}
status_kb() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; } # pid, VmRSS|VmHWM

wait_http() { # url, seconds
    local deadline=$((SECONDS + $2))
    until curl -sf -o /dev/null --max-time 2 "$1"; do
        ((SECONDS < deadline)) || { log "no answer from $1 after $2 s"; return 1; }
        sleep 0.5
    done
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# start_tidewatch NAME DATABASE_URL → sets TW_PID, TW_URL, TW_LOG
start_tidewatch() {
    local name=$1 url=$2 port
    port=$(free_port)
    mkdir -p "$WORK/$name"
    TW_LOG=$WORK/$name/tidewatch.log
    TW_URL=http://127.0.0.1:$port
    env TIDEWATCH_BIND=127.0.0.1:$port DATABASE_URL="$url" TIDEWATCH_DATA_DIR="$WORK/$name" \
        TIDEWATCH_ADMIN_PASSWORD=$ADMIN_PASSWORD \
        TIDEWATCH_INGEST_SAMPLES_PER_SEC=1000000000 TIDEWATCH_INGEST_BURST_SAMPLES=1000000000 \
        TIDEWATCH_MAX_SERIES_PER_TENANT=5000000 TIDEWATCH_INGEST_MAX_BODY_BYTES=268435456 \
        TIDEWATCH_QUERY_MAX_SERIES=5000000 TIDEWATCH_QUERY_TIMEOUT_SECS=120 \
        ${CHECKPOINT_AFTER:+TIDEWATCH_CHECKPOINT_AFTER_SAMPLES=$CHECKPOINT_AFTER} \
        "$TW_BIN" serve >"$TW_LOG" 2>&1 &
    TW_PID=$!
    PIDS+=("$TW_PID")
    wait_http "$TW_URL/readyz" 60 || { tail -20 "$TW_LOG" >&2; return 1; }
    log "$name: tidewatch pid $TW_PID on $TW_URL"
}

stop_pid() { kill "$1" 2>/dev/null || true; timeout 40 tail --pid="$1" -f /dev/null || kill -9 "$1" 2>/dev/null || true; }

fresh_pg_database() { # name → PG_URL (and remembered for the phase's cleanup)
    local db="tw_bench_$1_$$"
    psql -q "$PG_SERVER/postgres" -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null
    DATABASES+=("$db")
    PG_URL=$PG_SERVER/$db
}

# Creates a tenant and an ingest+read API key; prints the key.
api_key_for() {
    local base=$1 admin tenant
    admin=$(curl -sf --max-time 30 "$base/api/v1/auth/login" -H 'content-type: application/json' \
        -d "{\"email\":\"admin@tidewatch.local\",\"password\":\"$ADMIN_PASSWORD\"}" | jq -r .access_token)
    curl -sf --max-time 30 "$base/api/v1/admin/tenants" -H "authorization: Bearer $admin" \
        -H 'content-type: application/json' \
        -d "{\"name\":\"Bench\",\"admin_email\":\"ops@bench.test\",\"admin_password\":\"$TENANT_PASSWORD\"}" >/dev/null
    tenant=$(curl -sf --max-time 30 "$base/api/v1/auth/login" -H 'content-type: application/json' \
        -d "{\"email\":\"ops@bench.test\",\"password\":\"$TENANT_PASSWORD\"}" | jq -r .access_token)
    curl -sf --max-time 30 "$base/api/v1/api-keys" -H "authorization: Bearer $tenant" \
        -H 'content-type: application/json' -d '{"name":"bench","scopes":["ingest","read"]}' | jq -r .key
}

instant_value() { # base_url auth query time → the single value, or the error text
    local answer
    answer=$(curl -s --max-time 120 -G "$1/api/v1/query" ${2:+-H "authorization: $2"} \
        --data-urlencode "query=$3" --data-urlencode "time=$4")
    jq -r 'if .status == "success" then (.data.result[0].value[1] // "empty") else "error: \(.)" end' <<<"$answer" 2>/dev/null ||
        echo "error: $answer"
}
short() { cut -c1-200 <<<"$1" | tr '\t\n' '  '; } # error texts go to the log; the table gets a prefix

# ingest_report WRITE_URL AUTH: runs the ingest load against WRITE_URL; prints its JSON report.
ingest_report() {
    "$BENCH_BIN" ingest --url "$1" ${2:+--auth "$2"} --hosts "$HOSTS" --regions "$REGIONS" \
        --steps "$STEPS" --senders "$SENDERS" --batch-lines "$BATCH_LINES" \
        --deadline-secs "$INGEST_DEADLINE"
}

# ingest_and_query TARGET BASE_URL WRITE_URL WRITE_AUTH READ_AUTH PID [extra query params]
ingest_and_query() {
    local target=$1 base=$2 write_url=$3 auth=$4 read_auth=$5 pid=$6 extra=${7:-}
    local cpu0 pg0 report cpu1 pg1 end_ms start_s end_s
    log "$target: ingest ${HOSTS}×${REGIONS} series × $STEPS samples, $SENDERS senders, $BATCH_LINES lines/request"
    cpu0=$(cpu_of "$pid"); pg0=$(pg_cpu)
    report=$(ingest_report "$write_url" "$auth")
    cpu1=$(cpu_of "$pid"); pg1=$(pg_cpu)
    echo "$report" >"$WORK/$target.ingest.json"
    log "$target: $(jq -c 'del(.first_error)' <<<"$report")"
    [[ $(jq -r .first_error <<<"$report") == null ]] || log "$target: first error: $(jq -r .first_error <<<"$report")"
    record "$target" samples_per_sec "$(jq -r '.samples_per_sec|floor' <<<"$report")"
    record "$target" acked_samples "$(jq -r .acked_samples <<<"$report")"
    record "$target" error_requests "$(jq -r .error_requests <<<"$report")"
    record "$target" ingest_secs "$(jq -r '.elapsed_secs*10|round/10' <<<"$report")"
    record "$target" request_p99_ms "$(jq -r '.request_p99_ms|round' <<<"$report")"
    record "$target" server_cpu_secs "$(awk -v a="$cpu0" -v b="$cpu1" 'BEGIN { printf "%.1f", b - a }')"
    [[ $target == tidewatch-pg ]] && record "$target" postgres_cpu_secs "$(awk -v a="$pg0" -v b="$pg1" 'BEGIN { printf "%.1f", b - a }')"
    record "$target" loadgen_cpu_secs "$(jq -r '.loadgen_cpu_secs*10|round/10' <<<"$report")"
    record "$target" peak_rss_mib "$(( $(status_kb "$pid" VmHWM) / 1024 ))"
    if [[ $target == tidewatch-* ]]; then
        # Where the requests' time went: seconds summed over all requests, per stage.
        local stage secs
        while read -r stage secs; do
            record "$target" "stage_${stage}_secs" "$secs"
        done < <(curl -sf --max-time 10 "$base/metrics" | awk '
            /^tidewatch_ingest_stage_seconds_sum/ { match($0, /stage="[a-z_]+"/); printf "%s %.2f\n", substr($0, RSTART + 7, RLENGTH - 8), $2 }')
    fi

    end_ms=$(jq -r .end_ms <<<"$report")
    [[ $target == vm ]] && curl -sf --max-time 60 "$base/internal/force_flush" >/dev/null
    record "$target" readback_samples "$(short "$(instant_value "$base" "$read_auth" "$COUNT_QUERY" "$((end_ms / 1000 + 1))")")"
    record "$target" readback_series "$(short "$(instant_value "$base" "$read_auth" "$SERIES_QUERY" "$((end_ms / 1000 + 1))")")"

    end_s=$((end_ms / 1000)); start_s=$((end_s - 3600))
    log "$target: query_range $QUERY over [$start_s, $end_s] step 15 s, $QUERY_RUNS runs"
    report=$("$BENCH_BIN" query --url "$base/api/v1/query_range" ${read_auth:+--auth "$read_auth"} \
        --query "$QUERY" --start "$start_s" --end "$end_s" --step 15 --runs "$QUERY_RUNS" $extra)
    echo "$report" >"$WORK/$target.query.json"
    log "$target: $(jq -c . <<<"$report")"
    record "$target" query_p50_ms "$(jq -r '.p50_ms // "n/a" | if type == "number" then (.*10|round/10) else . end' <<<"$report")"
    record "$target" query_p99_ms "$(jq -r '.p99_ms // "n/a" | if type == "number" then (.*10|round/10) else . end' <<<"$report")"
    record "$target" query_series "$(jq -r '.series // "n/a"' <<<"$report")"
    record "$target" query_errors "$(jq -r .errors <<<"$report")"
}

# ingest_only TARGET WRITE_URL AUTH PID: the ingest load alone; appends
# "samples_per_sec server_cpu_secs error_requests" to $WORK/TARGET.runs.
ingest_only() {
    local target=$1 write_url=$2 auth=$3 pid=$4 cpu0 report
    cpu0=$(cpu_of "$pid")
    report=$(ingest_report "$write_url" "$auth")
    log "$target: $(jq -c 'del(.first_error)' <<<"$report")"
    printf '%s %s %s\n' "$(jq -r '.samples_per_sec|floor' <<<"$report")" \
        "$(awk -v a="$cpu0" -v b="$(cpu_of "$pid")" 'BEGIN { printf "%.2f", b - a }')" \
        "$(jq -r .error_requests <<<"$report")" >>"$WORK/$target.runs"
}

# record_runs TARGET: mean, min and max of what ingest_only appended for TARGET.
record_runs() {
    local target=$1 stats
    [[ -s $WORK/$target.runs ]] || return 0
    stats=$(awk '{ n++; s += $1; c += $2; e += $3; if (n == 1 || $1 < lo) lo = $1; if ($1 > hi) hi = $1 }
        END { printf "%d %d %d %d %.2f %d", n, s / n, lo, hi, c / n, e }' "$WORK/$target.runs")
    read -r n mean lo hi cpu errors <<<"$stats"
    record "$target" runs "$n"
    record "$target" samples_per_sec "$mean"
    record "$target" samples_per_sec_min "$lo"
    record "$target" samples_per_sec_max "$hi"
    record "$target" server_cpu_secs "$cpu"
    record "$target" error_requests "$errors"
}

storage_pg() { # target database_url
    local row
    row=$(psql -At "$2" -F ' ' -c "
        SELECT (SELECT coalesce(sum(octet_length(payload)), 0) FROM metric_chunks),
               (SELECT coalesce(sum(sample_count), 0) FROM metric_chunks),
               (SELECT coalesce(sum(octet_length(payload)), 0) FROM metric_wal),
               (SELECT coalesce(sum(sample_count), 0) FROM metric_wal),
               pg_database_size(current_database())")
    storage_record "$1" $row
}

storage_sqlite() { # target db_file
    local row
    row=$(sqlite3 -separator ' ' "file:$2?mode=ro" "
        SELECT (SELECT coalesce(sum(length(payload)), 0) FROM metric_chunks),
               (SELECT coalesce(sum(sample_count), 0) FROM metric_chunks),
               (SELECT coalesce(sum(length(payload)), 0) FROM metric_wal),
               (SELECT coalesce(sum(sample_count), 0) FROM metric_wal)")
    storage_record "$1" $row "$(du -cb "$2"* | awk 'END { print $1 }')"
}

storage_record() { # target chunk_bytes chunk_samples wal_bytes wal_samples db_bytes
    local per='BEGIN { if (s > 0) printf "%.2f", b / s; else print "n/a" }'
    record "$1" chunk_samples "$3"
    record "$1" chunk_bytes_per_sample "$(awk -v b="$2" -v s="$3" "$per")"
    record "$1" wal_samples "$5"
    record "$1" wal_bytes_per_sample "$(awk -v b="$4" -v s="$5" "$per")"
    record "$1" db_mib "$(awk -v b="$6" 'BEGIN { printf "%.1f", b / 1048576 }')"
    record "$1" db_bytes_per_ingested_sample "$(awk -v b="$6" -v s="$((HOSTS * REGIONS * STEPS))" "$per")"
}

# rss_per_series TARGET BASE WRITE_URL AUTH PID: one sample per series, VmRSS after each step.
rss_per_series() {
    local target=$1 base=$2 write_url=$3 auth=$4 pid=$5 baseline done_series=0 n report rss started
    sleep 2
    baseline=$(status_kb "$pid" VmRSS)
    record "$target" mem_baseline_mib "$((baseline / 1024))"
    started=$SECONDS
    for n in $MEMORY_SERIES; do
        local remaining=$((MEMORY_DEADLINE - (SECONDS - started)))
        ((remaining > 0)) || { log "$target: memory deadline reached before $n series"; break; }
        log "$target: series $done_series..$n"
        report=$("$BENCH_BIN" series --url "$write_url" ${auth:+--auth "$auth"} --from "$done_series" \
            --to "$n" --senders "$SENDERS" --batch-lines "$BATCH_LINES" --deadline-secs "$remaining")
        log "$target: $(jq -c 'del(.first_error)' <<<"$report")"
        [[ $(jq -r .first_error <<<"$report") == null ]] || log "$target: first error: $(jq -r .first_error <<<"$report")"
        sleep 3 # let the last responses' buffers be freed before reading RSS
        rss=$(status_kb "$pid" VmRSS)
        local acked=$(( done_series + $(jq -r .acked_samples <<<"$report") ))
        record "$target" "series_acked_at_${n}" "$acked"
        record "$target" "series_ingest_secs_at_${n}" "$(jq -r '.elapsed_secs|round' <<<"$report")"
        record "$target" "rss_mib_at_${n}" "$((rss / 1024))"
        record "$target" "bytes_per_series_at_${n}" "$(awk -v a="$rss" -v b="$baseline" -v n="$acked" 'BEGIN { if (n > 0) printf "%.0f", (a - b) * 1024 / n; else print "n/a" }')"
        if [[ $(jq -r .error_requests <<<"$report") != 0 || $(jq -r .stopped_by_deadline <<<"$report") == true ]]; then
            log "$target: stopping the memory series early (errors or deadline)"
            break
        fi
        done_series=$n
    done
}

start_vm() { # name → VM_PID, VM_URL
    local port
    port=$(free_port)
    VM_URL=http://127.0.0.1:$port
    "$VM" -storageDataPath="$WORK/$1" -httpListenAddr="127.0.0.1:$port" -retentionPeriod=1y \
        -search.latencyOffset=0s -search.maxUniqueTimeseries=5000000 \
        >"$WORK/$1.log" 2>&1 &
    VM_PID=$!
    PIDS+=("$VM_PID")
    wait_http "$VM_URL/health" 60
    log "$1: victoria-metrics pid $VM_PID on $VM_URL"
}

#
# Build and prerequisites
#
log "building tidewatch and the load generator (release)"
cargo build --release --quiet --bin tidewatch --example ingest_bench
TW_BIN=$CARGO_TARGET_DIR/release/tidewatch
BENCH_BIN=$CARGO_TARGET_DIR/release/examples/ingest_bench
if [[ " $PHASES " =~ " "(vm|memory|repeat)" " && ! -x $VM ]]; then
    log "installing victoria-metrics"
    apt-get install -y victoria-metrics >/dev/null
fi

phase_tidewatch() { # pg | sqlite
    local target=tidewatch-$1 db_url key
    if [[ $1 == pg ]]; then
        fresh_pg_database main
        db_url=$PG_URL
    else
        mkdir -p "$WORK/$target"
        db_url="sqlite://$WORK/$target/tidewatch.db?mode=rwc"
    fi
    start_tidewatch "$target" "$db_url"
    key=$(api_key_for "$TW_URL")
    ingest_and_query "$target" "$TW_URL" "$TW_URL/api/v2/write?precision=ms" "Token $key" "Bearer $key" "$TW_PID"
    if [[ $1 == pg ]]; then storage_pg "$target" "$db_url"; else storage_sqlite "$target" "$WORK/$target/tidewatch.db"; fi
    if ! kill -0 "$TW_PID" 2>/dev/null; then log "$target: tidewatch exited; log tail:"; tail -30 "$TW_LOG" >&2; fi
    grep -E 'WARN|ERROR' "$TW_LOG" | tail -5 >&2 || true
    cp "$TW_LOG" "$WORK/$target.log"
}

phase_vm() {
    start_vm vm
    ingest_and_query vm "$VM_URL" "$VM_URL/write?precision=ms" "" "" "$VM_PID" "--param nocache=1"
    record vm db_mib "$(du -sb "$WORK/vm" | awk '{ printf "%.1f", $1 / 1048576 }')"
}

phase_memory() {
    local key
    fresh_pg_database memory
    start_tidewatch tidewatch-memory "$PG_URL"
    key=$(api_key_for "$TW_URL")
    rss_per_series tidewatch-mem-pg "$TW_URL" "$TW_URL/api/v2/write?precision=ms" "Token $key" "$TW_PID"
    grep -E 'WARN|ERROR' "$TW_LOG" | tail -5 >&2 || true
    cp "$TW_LOG" "$WORK/tidewatch-memory.log"
    stop_pid "$TW_PID"
    start_vm vm-memory
    rss_per_series vm-mem "$VM_URL" "$VM_URL/write?precision=ms" "" "$VM_PID"
}

# scoped COMMAND...: runs it in a subshell that stops the servers and drops the databases
# it started, whatever happens.
scoped() {
    (
        PIDS=()
        DATABASES=()
        trap phase_cleanup EXIT
        "$@"
    )
}

repeat_round_tidewatch() { # round
    fresh_pg_database "repeat$1"
    start_tidewatch tidewatch-pg-repeat "$PG_URL"
    key=$(api_key_for "$TW_URL")
    ingest_only tidewatch-pg-repeat "$TW_URL/api/v2/write?precision=ms" "Token $key" "$TW_PID"
}

repeat_round_vm() { # round
    start_vm "vm-repeat-$1"
    ingest_only vm-repeat "$VM_URL/write?precision=ms" "" "$VM_PID"
}

# Each round scoped, like a phase, so it stops its servers and drops its database before
# the next round starts.
phase_repeat() {
    local i
    for i in $(seq "$REPEAT"); do
        scoped repeat_round_tidewatch "$i"
        scoped repeat_round_vm "$i"
    done
    record_runs tidewatch-pg-repeat
    record_runs vm-repeat
}

for phase in $PHASES; do
    case $phase in
    pg | sqlite) run=(phase_tidewatch "$phase") ;;
    vm | memory | repeat) run=("phase_$phase") ;;
    *) log "unknown phase $phase"; exit 2 ;;
    esac
    scoped "${run[@]}" || log "phase $phase failed (exit $?); continuing"
done

#
# Summary
#
echo
echo "machine: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo) RAM"
echo "load average at start: $LOAD_AT_START, at end: $(cut -d' ' -f1-3 /proc/loadavg) (other work shares the machine)"
echo "workload: ${HOSTS}×${REGIONS} series × $STEPS samples (15 s apart), $SENDERS senders × $BATCH_LINES lines/request; checkpoint_after_samples=${CHECKPOINT_AFTER:-default}"
python3 - "$RESULTS" <<'EOF'
import sys, collections
rows = collections.OrderedDict()
targets = []
for line in open(sys.argv[1]):
    target, metric, value = line.rstrip("\n").split("\t")
    if target not in targets:
        targets.append(target)
    rows.setdefault(metric, {})[target] = value
width = max(len(m) for m in rows) + 2
print("metric".ljust(width) + "".join(t.rjust(20) for t in targets))
for metric, values in rows.items():
    print(metric.ljust(width) + "".join(values.get(t, "")[:19].rjust(20) for t in targets))
def num(t, m):
    try: return float(rows[m][t])
    except (KeyError, ValueError): return None
vm = num("vm", "samples_per_sec")
for t in targets:
    tw = num(t, "samples_per_sec")
    if t.startswith("tidewatch-") and not t.endswith("-repeat") and tw and vm:
        print(f"throughput ratio {t} / victoria-metrics: {tw / vm:.3f}")
tw, vm = num("tidewatch-pg-repeat", "samples_per_sec"), num("vm-repeat", "samples_per_sec")
if tw and vm:
    runs = rows["runs"]["tidewatch-pg-repeat"]
    print(f"throughput ratio tidewatch-pg / victoria-metrics, means of {runs} alternating runs: {tw / vm:.3f}")
EOF
if [[ -n ${BENCH_SAVE:-} ]]; then cp "$RESULTS" "$BENCH_SAVE"; cp "$WORK"/*.json "$WORK"/*.log "$(dirname "$BENCH_SAVE")/" 2>/dev/null || true; fi
