#!/usr/bin/env bash
# Alerting benchmark: ingest → `firing` written, for a threshold rule with `for: 0s`, trial
# after trial under a background line-protocol load into series that many other threshold
# rules watch; then Tidewatch's CPU per sample with and without those rules. A release
# Tidewatch on a fresh PostgreSQL database (and SQLite with BENCH_BACKENDS="pg sqlite"),
# driven by bench/alerting/main.rs (`--example alert_bench`). Prints a summary table, one
# column per backend, then the same numbers as TSV.
#
#   bench/alerting.sh                                  # PostgreSQL, the issue's sizes
#   BENCH_BACKENDS="pg sqlite" bench/alerting.sh       # both, one after the other
#   BENCH_TRIALS=10 BENCH_RULES=100 BENCH_CPU_SECS=5 bench/alerting.sh   # smoke test
#
# Other knobs (environment): BENCH_METRICS × BENCH_HOSTS background series (1000 × 10),
# BENCH_RATE samples/s (50000), BENCH_SENDERS (2), BENCH_WARMUP_SECS (5),
# BENCH_POLL_SLEEP_US (0), BENCH_DB_POLL_US (250), BENCH_TARGET_P99_MS (20, the issue's target),
# BENCH_DEADLINE_SECS per backend (1800), BENCH_PG_SERVER, BENCH_KEEP=1 keeps the work
# directory and databases.
#
# Everything is bounded (request and trial timeouts, a deadline per backend) and every
# server this script starts is stopped, every database it creates dropped, on exit.
# Traffic goes to 127.0.0.1 only.
set -euo pipefail

cd "$(dirname "$0")/.."
# Always this target directory: another engineer builds in target/.
export CARGO_TARGET_DIR=$HOME/.cache/tidewatch-target

# alert: ingest → firing written (issue 15); notify: ingest → the webhook receiver holds the
# notification (issue 16; bench/notify.sh), then the same for Prometheus + Alertmanager.
MODE=${BENCH_MODE:-alert}
PEER_TRIALS=${BENCH_PEER_TRIALS:-20}
BACKENDS=${BENCH_BACKENDS:-pg}
PG_SERVER=${BENCH_PG_SERVER:-postgres://postgres@127.0.0.1:5432}
TRIALS=${BENCH_TRIALS:-100}
RULES=${BENCH_RULES:-1000}
METRICS=${BENCH_METRICS:-1000}
HOSTS=${BENCH_HOSTS:-10}
RATE=${BENCH_RATE:-50000}
SENDERS=${BENCH_SENDERS:-2}
CPU_SECS=${BENCH_CPU_SECS:-20}
WARMUP_SECS=${BENCH_WARMUP_SECS:-5}
POLL_SLEEP_US=${BENCH_POLL_SLEEP_US:-0}
if [[ $MODE == notify ]]; then
    TARGET_P99_MS=${BENCH_TARGET_P99_MS:-50}
else
    TARGET_P99_MS=${BENCH_TARGET_P99_MS:-20}
fi
DEADLINE=${BENCH_DEADLINE_SECS:-1800}
CARGO_WAIT_SECS=${BENCH_CARGO_WAIT_SECS:-1200}
ADMIN_PASSWORD=bench-admin-password-0001
TENANT_PASSWORD=bench-tenant-password-0001
CLK_TCK=$(getconf CLK_TCK)

LOAD_AT_START=$(cut -d' ' -f1-3 /proc/loadavg)
WORK=$(mktemp -d /tmp/tw-alert-bench.XXXXXX)
RESULTS=$WORK/results.tsv
: >"$RESULTS"
log() { printf '[%(%H:%M:%S)T] %s\n' -1 "$*" >&2; }

cleanup() {
    if [[ -z ${BENCH_KEEP:-} ]]; then rm -rf "$WORK"; else log "kept $WORK"; fi
}
trap cleanup EXIT

# Each backend runs in a subshell that stops its own server and drops its own database.
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
    elif ((${#DATABASES[@]})); then
        log "kept databases: ${DATABASES[*]}"
    fi
}

record() { printf '%s\t%s\t%s\n' "$1" "$2" "$3" >>"$RESULTS"; } # target, metric, value

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
    env TIDEWATCH_BIND="127.0.0.1:$port" DATABASE_URL="$url" TIDEWATCH_DATA_DIR="$WORK/$name" \
        TIDEWATCH_ADMIN_PASSWORD=$ADMIN_PASSWORD \
        TIDEWATCH_INGEST_SAMPLES_PER_SEC=1000000000 TIDEWATCH_INGEST_BURST_SAMPLES=1000000000 \
        TIDEWATCH_MAX_SERIES_PER_TENANT=5000000 TIDEWATCH_INGEST_MAX_BODY_BYTES=268435456 \
        TIDEWATCH_ALERT_MAX_RULES=$((RULES + 100)) TIDEWATCH_NOTIFY_TENANT_MAX_PER_MINUTE=100000 \
        TIDEWATCH_ACCESS_TOKEN_TTL_SECS=$((DEADLINE + 600)) \
        "$TW_BIN" serve >"$TW_LOG" 2>&1 &
    TW_PID=$!
    PIDS+=("$TW_PID")
    wait_http "$TW_URL/readyz" 60 || { tail -20 "$TW_LOG" >&2; return 1; }
    log "$name: tidewatch pid $TW_PID on $TW_URL"
}

fresh_pg_database() { # name → PG_URL (and remembered for the phase's cleanup)
    local db="tw_alert_bench_$1_$$"
    psql -q "$PG_SERVER/postgres" -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null
    DATABASES+=("$db")
    PG_URL=$PG_SERVER/$db
}

# Creates a tenant; prints its admin's access token and an ingest+read API key.
credentials_for() {
    local base=$1 admin tenant key
    admin=$(curl -sf --max-time 30 "$base/api/v1/auth/login" -H 'content-type: application/json' \
        -d "{\"email\":\"admin@tidewatch.local\",\"password\":\"$ADMIN_PASSWORD\"}" | jq -r .access_token)
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

# The report's fields in table order (ms to 0.1, CPU seconds to 0.01, µs to 0.001, the
# rest whole).
FIELDS=(
    trials_ok trials_failed trials_without_firing_event
    written_p50_ms written_p90_ms written_p99_ms written_max_ms
    fire_p50_ms fire_p90_ms fire_p99_ms fire_max_ms
    evaluator_p50_ms evaluator_p90_ms evaluator_p99_ms evaluator_max_ms
    trigger_ack_p50_ms trigger_ack_p99_ms poll_p50_ms poll_p99_ms
    polls_per_trial_p50 polls_per_trial_max resolve_p50_ms resolve_p99_ms warmup_fire_ms
    trial_phase_samples_per_sec
    evaluator_us_per_sample
    server_cpu_with_rules_secs samples_with_rules samples_per_sec_with_rules server_us_per_sample_with_rules
    server_cpu_without_rules_secs samples_without_rules samples_per_sec_without_rules server_us_per_sample_without_rules
    window_with_rules_secs window_without_rules_secs
    postgres_cpu_with_rules_secs postgres_cpu_without_rules_secs
    loadgen_cpu_with_rules_secs loadgen_cpu_without_rules_secs
    load_samples_per_sec load_acked_samples load_error_requests load_missed_periods
    load_request_p50_ms load_request_p99_ms
    rules_create_secs rules_delete_secs applied_batches_missed
)

NOTIFY_FIELDS=(
    trials_ok trials_failed
    notified_p50_ms notified_p90_ms notified_p99_ms notified_max_ms
    trigger_ack_p50_ms trigger_ack_p99_ms notify_resolve_p50_ms notify_resolve_p99_ms
    recorded_latency_p50_ms recorded_latency_p99_ms warmup_notified_ms
    trial_phase_samples_per_sec load_samples_per_sec load_error_requests
    load_request_p50_ms load_request_p99_ms
)
if [[ $MODE == notify ]]; then FIELDS=("${NOTIFY_FIELDS[@]}"); fi

phase() { # pg | sqlite
    local target=tidewatch-$1 db_url watch_url credentials token key report field value running pg_flag=() mode_flag=()
    [[ $MODE == notify ]] && mode_flag=(--notify)
    if [[ $1 == pg ]]; then
        fresh_pg_database main
        db_url=$PG_URL
        pg_flag=(--pg-cpu)
    else
        mkdir -p "$WORK/$target"
        db_url="sqlite://$WORK/$target/tidewatch.db?mode=rwc"
    fi
    # The trials read alert_events straight from the database (read-only on SQLite).
    watch_url=${db_url/mode=rwc/mode=ro}
    start_tidewatch "$target" "$db_url"
    credentials=$(credentials_for "$TW_URL")
    read -r token key <<<"$credentials"
    running=$(compilers)
    [[ -z $running ]] || log "$target: note: cargo/rustc running during the measurement: $(head -1 <<<"$running")"
    log "$target: $RULES rules + 1 trigger, ${METRICS}×$HOSTS series at $RATE samples/s, $TRIALS trials, CPU windows of $CPU_SECS s"
    report=$(BENCH_TOKEN=$token BENCH_KEY=$key timeout --kill-after=10 $((DEADLINE + 30)) "$BENCH_BIN" \
        --url "$TW_URL" --pid "$TW_PID" --clk-tck "$CLK_TCK" "${pg_flag[@]}" "${mode_flag[@]}" --db-url "$watch_url" \
        --rules "$RULES" --metrics "$METRICS" --hosts "$HOSTS" --rate "$RATE" --senders "$SENDERS" \
        --trials "$TRIALS" --cpu-secs "$CPU_SECS" --warmup-secs "$WARMUP_SECS" \
        --poll-sleep-us "$POLL_SLEEP_US" --db-poll-us "${BENCH_DB_POLL_US:-250}" --deadline-secs "$DEADLINE")
    echo "$report" >"$WORK/$target.json"
    for field in "${FIELDS[@]}"; do
        value=$(jq -r --arg f "$field" '.[$f] | if type == "number" then
                (if ($f | test("_us_")) then (. * 1000 | round / 1000)
                 elif ($f | test("_secs$")) then (. * 100 | round / 100)
                 elif ($f | test("_ms$")) then (. * 10 | round / 10) else round end)
                | if . == 0 then 0 else . end
            elif . == null then "n/a" else . end' <<<"$report")
        record "$target" "$field" "$value"
    done
    for field in first_trial_error load_first_error; do
        value=$(jq -r --arg f "$field" '.[$f] // empty' <<<"$report")
        [[ -z $value ]] || log "$target: $field: $value"
    done
    if ! kill -0 "$TW_PID" 2>/dev/null; then log "$target: tidewatch exited; log tail:"; tail -30 "$TW_LOG" >&2; fi
    record "$target" server_log_warn_error_lines "$(grep -cE 'WARN|ERROR' "$TW_LOG" || true)"
    grep -E 'WARN|ERROR' "$TW_LOG" | tail -5 >&2 || true
    cp "$TW_LOG" "$WORK/$target.log"
}

scoped() {
    (
        PIDS=()
        DATABASES=()
        trap phase_cleanup EXIT
        "$@"
    )
}

#
# Build
#
wait_for_compilers
log "building tidewatch and alert_bench (release, $CARGO_TARGET_DIR)"
timeout 3600 cargo build --release --quiet --bin tidewatch --example alert_bench
TW_BIN=$CARGO_TARGET_DIR/release/tidewatch
BENCH_BIN=$CARGO_TARGET_DIR/release/examples/alert_bench

for backend in $BACKENDS; do
    case $backend in
    pg | sqlite) ;;
    *) log "unknown backend $backend (use pg, sqlite)"; exit 2 ;;
    esac
    scoped phase "$backend" || log "backend $backend failed (exit $?); continuing"
done

# The peer: Prometheus + Alertmanager on the same kind of receiver, in the same run.
if [[ $MODE == notify && ${BENCH_PEER:-1} != 0 ]]; then
    log "prometheus+alertmanager: $PEER_TRIALS trials (1 s scrape and evaluation, for: 0s, group_wait: 0s)"
    if report=$(timeout --kill-after=10 "$DEADLINE" "$BENCH_BIN" --peer --peer-trials "$PEER_TRIALS"); then
        for field in trials_ok trials_failed notified_p50_ms notified_p90_ms notified_p99_ms notified_max_ms; do
            record prometheus+alertmanager "$field" "$(jq -r --arg f "$field" '.[$f] | if type == "number" then (. * 10 | round / 10) elif . == null then "n/a" else . end' <<<"$report")"
        done
    else
        log "the peer failed"
    fi
fi

#
# Summary
#
echo
echo "machine: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo) RAM"
echo "load average at start: $LOAD_AT_START, at end: $(cut -d' ' -f1-3 /proc/loadavg) (other work shares the machine)"
echo "workload: $RULES background threshold rules + 1 trigger rule (for: 0s), ${METRICS}×$HOSTS series at a target of $RATE samples/s ($SENDERS senders), $TRIALS trials after 1 warm-up, CPU windows of $CPU_SECS s"
if [[ $MODE == notify ]]; then
echo "notified_*: from just before the trigger write to the webhook receiver holding the firing message"
echo "        (Tidewatch: webhook channel on the rule, group_wait 0s; the peer: Prometheus scraping a gauge"
echo "        the receiver serves, 1 s scrape and evaluation, for: 0s, Alertmanager group_wait 0s)"
echo "recorded_latency_*: Tidewatch's own latency_ms (alert transition → provider's answer) of the sent rows"
fi
echo "written_*: from just before the trigger write to the first read of the service's database (every"
echo "        ${BENCH_DB_POLL_US:-250} µs, alongside the write) that shows the firing event committed: ingest → firing written"
echo "fire_*: from just before the trigger write (POST /api/v2/write) to the poll that lists it firing;"
echo "        includes the write's round trip and one poll round trip (see trigger_ack_*, poll_*)"
echo "evaluator_*: the firing event's history 'at' (the evaluator's clock, ms resolution) minus the wall clock just before the write"
echo "evaluator_us_per_sample: server CPU per sample with the rules minus without (each window per its own samples)"
if [[ ! -s $RESULTS ]]; then
    echo "no results"
    exit 1
fi
python3 - "$RESULTS" "$TARGET_P99_MS" "$MODE" <<'EOF'
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
target_p99 = float(sys.argv[2])
metric = "notified_p99_ms" if sys.argv[3] == "notify" else "written_p99_ms"
if sys.argv[3] == "notify":
    try:
        peer = float(rows["notified_p50_ms"]["prometheus+alertmanager"])
        for t in targets:
            if t.startswith("tidewatch"):
                ours = float(rows["notified_p50_ms"][t])
                print(f"{t}: notified p50 {ours:g} ms vs prometheus+alertmanager {peer:g} ms: {peer / ours:.1f}x faster")
    except (KeyError, ValueError, ZeroDivisionError):
        pass
for t in targets:
    if not t.startswith("tidewatch"):
        continue
    try:
        p99 = float(rows[metric][t])
    except (KeyError, ValueError):
        continue
    verdict = "met" if p99 <= target_p99 else "NOT met"
    print(f"{t}: {metric[:-7]} p99 {p99:g} ms against the target p99 <= {target_p99:g} ms: {verdict}")
EOF
echo
echo "# TSV: target, metric, value"
cat "$RESULTS"
