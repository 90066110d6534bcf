#!/usr/bin/env bash
# The whole test suite, as CI runs it:
#   1. makes sure PostgreSQL and Redis are installed (apt-get) and running, and promtool
#      and prometheus (Prometheus 2.x, the reference for the PromQL compatibility tests)
#      and amtool (prometheus-alertmanager, the Alertmanager API's client) are installed;
#   2. cargo fmt --check and cargo clippy -D warnings;
#   3. every test on SQLite, then every test again on PostgreSQL, each backend's
#      notification tests once more with Redis (TEST_WITH_REDIS=1), then the fuzz targets
#      (tests/fuzz.rs, TIDEWATCH_FUZZ_SECS each, default 30), then Schemathesis against the
#      OpenAPI document with each role's credential (scripts/schemathesis.sh; installs
#      Schemathesis from PyPI into a venv under ~/.cache);
#   3b. real log shippers against the binary (scripts/log-clients.sh; a venv under ~/.cache);
#   4. lints the deploy files (Dockerfile, k8s/, buildspec.yml, CloudFormation).
# Environment: TEST_DATABASE_URL (PostgreSQL server URL, default the local one),
# TEST_REDIS_URL, CARGO_TARGET_DIR (kept outside the checkout so clones reuse builds),
# TIDEWATCH_SKIP_DEPLOY_LINT=1 to skip step 4.
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/tidewatch-target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
PG_URL="${TEST_DATABASE_URL:-postgres://postgres:postgres@127.0.0.1:5432/postgres}"
export TEST_REDIS_URL="${TEST_REDIS_URL:-redis://127.0.0.1:6379/}"

log() { printf '\n==> %s\n' "$*"; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

apt_updated=0
apt_install() {
  if [ "$apt_updated" -eq 0 ]; then
    as_root apt-get update -qq
    apt_updated=1
  fi
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "$@" >/dev/null
}

wait_for() { # description, command...
  local what="$1"; shift
  for _ in $(seq 1 60); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 1
  done
  echo "error: $what did not come up within 60 s" >&2
  return 1
}

ensure_postgres() {
  if ! command -v pg_isready >/dev/null || ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
    log "installing PostgreSQL"
    apt_install postgresql postgresql-client
  fi
  if ! pg_isready -h 127.0.0.1 -p 5432 -q; then
    log "starting PostgreSQL"
    local version
    version="$(ls /etc/postgresql | sort -V | tail -1)"
    as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
    wait_for "PostgreSQL" pg_isready -h 127.0.0.1 -p 5432 -q
  fi
  # A fresh Debian install asks for a password on TCP; give the postgres role the one
  # in the default URL. Servers with trust auth accept it unchanged.
  if ! psql "$PG_URL" -Atc 'select 1' >/dev/null 2>&1; then
    log "setting the postgres role's password for local tests"
    as_root su postgres -c "psql -qc \"ALTER USER postgres PASSWORD 'postgres'\""
  fi
  psql "$PG_URL" -Atc 'select 1' >/dev/null
}

ensure_redis() {
  if ! command -v redis-server >/dev/null; then
    log "installing Redis"
    apt_install redis-server redis-tools
  fi
  if ! redis-cli -u "$TEST_REDIS_URL" ping 2>/dev/null | grep -q PONG; then
    log "starting Redis"
    as_root mkdir -p /var/lib/redis /var/log/redis
    as_root redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" \
      --appendonly no --dir /var/lib/redis --logfile /var/log/redis/tidewatch-test.log
    wait_for "Redis" sh -c "redis-cli -u '$TEST_REDIS_URL' ping | grep -q PONG"
  fi
}

drop_old_test_databases() {
  local name
  for name in $(psql "$PG_URL" -Atc "select datname from pg_database where datname like 'tw_test_%'"); do
    psql "$PG_URL" -qc "DROP DATABASE IF EXISTS \"$name\"" >/dev/null
  done
}

# Every test except the fuzz targets, which run once in their own step.
run_tests() {
  if cargo nextest --version >/dev/null 2>&1; then
    cargo nextest run --workspace --no-fail-fast -E 'not binary(fuzz)'
  else
    cargo test --workspace --no-fail-fast -- --skip fuzz_
  fi
}

# The notification tests again with every app on Redis (delivery leases and wake-ups).
run_notification_tests_with_redis() {
  if cargo nextest --version >/dev/null 2>&1; then
    TEST_WITH_REDIS=1 cargo nextest run --test api --no-fail-fast -E 'test(notification)'
  else
    TEST_WITH_REDIS=1 cargo test --test api --no-fail-fast -- notification
  fi
}

# The fuzz targets (tests/fuzz.rs), TIDEWATCH_FUZZ_SECS each (default 30).
run_fuzz() {
  export TIDEWATCH_FUZZ_SECS="${TIDEWATCH_FUZZ_SECS:-30}"
  if cargo nextest --version >/dev/null 2>&1; then
    cargo nextest run --test fuzz --no-fail-fast
  else
    cargo test --test fuzz --no-fail-fast
  fi
}

ensure_promtool() {
  if ! command -v promtool >/dev/null || ! command -v prometheus >/dev/null; then
    log "installing promtool and prometheus (prometheus)"
    apt_install prometheus
  fi
}

ensure_amtool() {
  if ! command -v amtool >/dev/null; then
    log "installing amtool (prometheus-alertmanager), the Alertmanager API's reference client"
    apt_install prometheus-alertmanager
  fi
}

ensure_postgres
ensure_redis
ensure_promtool
ensure_amtool

log "cargo fmt --check"
cargo fmt --all -- --check
log "cargo clippy --all-targets -D warnings"
cargo clippy --workspace --all-targets -- -D warnings

log "tests on SQLite"
(unset TEST_DATABASE_URL; run_tests)
log "notification tests on SQLite with Redis"
(unset TEST_DATABASE_URL; run_notification_tests_with_redis)

log "tests on PostgreSQL ($PG_URL)"
drop_old_test_databases
TEST_DATABASE_URL="$PG_URL" run_tests
log "notification tests on PostgreSQL with Redis"
TEST_DATABASE_URL="$PG_URL" run_notification_tests_with_redis
drop_old_test_databases

log "fuzz targets (${TIDEWATCH_FUZZ_SECS:-30} s each)"
(unset TEST_DATABASE_URL; run_fuzz)

log "Schemathesis against /api/v1/openapi.json, every role"
cargo build --bin tidewatch
TIDEWATCH_BIN="$CARGO_TARGET_DIR/debug/tidewatch" ./scripts/schemathesis.sh

log "log shippers no one here wrote (OpenTelemetry SDK, python-logging-loki, Loki protobuf, logger over syslog)"
TIDEWATCH_BIN="$CARGO_TARGET_DIR/debug/tidewatch" ./scripts/log-clients.sh

if [ "${TIDEWATCH_SKIP_DEPLOY_LINT:-0}" != "1" ]; then
  log "deploy file lint"
  ./scripts/lint-deploy.sh
fi

log "all checks passed"
