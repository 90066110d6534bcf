#!/usr/bin/env bash
# Real log shippers that no one on the team wrote, against Tidewatch's log ingest:
#   - the OpenTelemetry Python SDK through Python's `logging` bridge, with its OTLP/HTTP
#     protobuf exporter (plain and gzip) and its OTLP/JSON exporter, plus an OTLP/JSON
#     body written by hand to the spec → POST /v1/logs;
#   - python-logging-loki's LokiHandler (JSON, HTTP Basic with the key as password), and a
#     protobuf PushRequest from Loki's push.proto, snappy block-compressed, as Promtail
#     sends it → POST /loki/api/v1/push;
#   - syslog: util-linux `logger` (RFC 5424 over TCP, newline-framed and octet-counted;
#     RFC 3164 over UDP), octet-counted frames written by hand, and the same over TLS
#     (Python's ssl, the certificate a self-signed one made here by openssl) → the
#     syslog listeners.
# Each shipped record is then looked for with GET /api/v1/logs (a `read` key), polled up
# to 5 s, and its normalised shape checked (level, service, host, labels, fields).
#
#   scripts/log-clients.sh              # TIDEWATCH_BIN defaults to the debug build
#   scripts/log-clients.sh --recorder   # no server: the clients ship to a loopback
#                                       # recorder that prints what each one sends
# Environment: TIDEWATCH_BIN; DATABASE_URL (default a temp SQLite file; a PostgreSQL URL
# is used as it is, and should be a throwaway database: each run adds a tenant);
# TIDEWATCH_ADMIN_EMAIL / TIDEWATCH_ADMIN_PASSWORD (the platform admin to log in as; on a
# database that already has one, give its credentials).
#
# The server runs twice on the same database: first to create the tenant and its keys,
# then again with TIDEWATCH_SYSLOG_{TCP,UDP}_BIND and TIDEWATCH_SYSLOG_API_KEY (the key
# must exist before the listeners start). When the server has no syslog listener (its
# log calls the variables unknown, or the TCP port is not listening 3 s after start) the
# syslog part prints "SKIP syslog: …"; when the listener is up, missing records FAIL.
# Prints one PASS/FAIL/SKIP line per check and "log-clients: N passed, M failed, K
# skipped"; exits non-zero on any FAIL. Traffic goes to 127.0.0.1 only.
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=${TIDEWATCH_BIN:-${CARGO_TARGET_DIR:-$HOME/.cache/tidewatch-target}/debug/tidewatch}
VENV=${XDG_CACHE_HOME:-$HOME/.cache}/tidewatch-log-clients
# Versions that install together (opentelemetry-exporter-otlp-json-http 0.66b1 pins the
# 0.66b1 helpers that the 1.45.1 SDK and protobuf exporter also want).
PACKAGES=(
  opentelemetry-sdk==1.45.1
  opentelemetry-exporter-otlp-proto-http==1.45.1
  opentelemetry-exporter-otlp-json-http==0.66b1
  python-logging-loki==0.3.1
  grpcio-tools==1.85.1
  cramjam==2.14.0
  protobuf==7.36.2
  requests==2.34.2
)
CLIENTS=tests/log_clients
ADMIN_EMAIL=${TIDEWATCH_ADMIN_EMAIL:-root@tidewatch.test}
ADMIN_PASSWORD=${TIDEWATCH_ADMIN_PASSWORD:-log-clients-root-password}
RECORDER=0
case ${1:-} in
  --recorder) RECORDER=1 ;;
  "") ;;
  *) echo "usage: $0 [--recorder]" >&2; exit 2 ;;
esac

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
apt_updated=0
apt_install() {
  [ "$apt_updated" -eq 1 ] || { as_root apt-get update -qq; apt_updated=1; }
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "$@" >/dev/null
}
{ command -v jq && command -v curl; } >/dev/null || apt_install jq curl
command -v logger >/dev/null || apt_install bsdutils
# util-linux's logger (bsdutils) is the one with --server/--tcp/--rfc5424/--octet-count.
logger --help 2>&1 | grep -q -- --octet-count || apt_install bsdutils

if [ "$(cat "$VENV/.log-clients-packages" 2>/dev/null)" != "${PACKAGES[*]}" ]; then
  rm -rf "$VENV"
  # Debian's python3 makes venvs only with python3-venv (ensurepip) installed.
  python3 -m venv "$VENV" 2>/dev/null || { rm -rf "$VENV"; apt_install python3-venv; python3 -m venv "$VENV"; }
  "$VENV/bin/pip" install -q --disable-pip-version-check "${PACKAGES[@]}"
  echo "${PACKAGES[*]}" >"$VENV/.log-clients-packages"
fi

TMP=$(mktemp -d)
SERVER=
stop_server() {
  [ -n "$SERVER" ] || return 0
  kill "$SERVER" 2>/dev/null || true
  wait "$SERVER" 2>/dev/null || true
  SERVER=
}
trap 'stop_server; rm -rf "$TMP"' EXIT

free_port() { # tcp|udp → a port free on 127.0.0.1 just now
  python3 -c 'import socket,sys; s=socket.socket(type=socket.SOCK_DGRAM if sys.argv[1]=="udp" else socket.SOCK_STREAM); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' "$1"
}
tcp_listening() { # port → 0 when something accepts connections there (bash's /dev/tcp)
  (: <>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}
now_ms() { echo $(($(date +%s%N) / 1000000)); }
clients() { # main.py arguments…
  PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 LOG_CLIENTS_GEN="$TMP/gen" \
    "$VENV/bin/python" "$CLIENTS/main.py" "$@" 2>&1
}

PORT=$(free_port tcp)
BASE="http://127.0.0.1:$PORT"
SYSLOG_TCP=$(free_port tcp)
SYSLOG_UDP=$(free_port udp)
SYSLOG_TLS=$(free_port tcp)

if [ "$RECORDER" -eq 1 ]; then
  PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 LOG_CLIENTS_GEN="$TMP/gen-recorder" \
    "$VENV/bin/python" "$CLIENTS/recorder.py" "$PORT" "$SYSLOG_TCP" "$SYSLOG_UDP" >"$TMP/recorded.txt" 2>&1 &
  SERVER=$!
  for _ in $(seq 1 100); do
    tcp_listening "$PORT" && break
    kill -0 "$SERVER" 2>/dev/null || { cat "$TMP/recorded.txt" >&2; exit 1; }
    sleep 0.1
  done
  status=0
  clients --base "$BASE" --ingest-key tw-recorder-ingest-key --no-search \
    --syslog-tcp "$SYSLOG_TCP" --syslog-udp "$SYSLOG_UDP" || status=$?
  sleep 0.5
  echo
  echo "==> what the recorder received"
  cat "$TMP/recorded.txt"
  exit "$status"
fi

[ -x "$BIN" ] || { echo "error: $BIN not found; build it first (cargo build)" >&2; exit 1; }
DB_URL=${DATABASE_URL:-sqlite://$TMP/tw.db?mode=rwc}

start_server() { # log file, then NAME=VALUE… for this run
  local log=$1
  shift
  env TIDEWATCH_BIND="127.0.0.1:$PORT" DATABASE_URL="$DB_URL" \
    TIDEWATCH_DATA_DIR="$TMP" TIDEWATCH_JWT_SECRET="log-clients-secret-log-clients-secret-0" \
    TIDEWATCH_ADMIN_EMAIL="$ADMIN_EMAIL" TIDEWATCH_ADMIN_PASSWORD="$ADMIN_PASSWORD" \
    TIDEWATCH_LOG_LEVEL=info TIDEWATCH_WORKERS=2 \
    "$@" "$BIN" serve >"$log" 2>&1 &
  SERVER=$!
  for _ in $(seq 1 300); do
    curl -fs "$BASE/healthz" >/dev/null 2>&1 && return 0
    kill -0 "$SERVER" 2>/dev/null || { echo "error: the server stopped; its log:" >&2; cat "$log" >&2; exit 1; }
    sleep 0.1
  done
  echo "error: the server did not answer /healthz in 30 s; its log:" >&2
  cat "$log" >&2
  exit 1
}

request() { # method path token-or-"" json → body; exits with the answer on a non-2xx
  local answer status auth=()
  [ -z "$3" ] || auth=(-H "authorization: Bearer $3")
  answer=$(curl -sS -X "$1" "$BASE$2" "${auth[@]}" -H 'content-type: application/json' \
    -d "$4" -w '\n%{http_code}')
  status=${answer##*$'\n'}
  answer=${answer%$'\n'*}
  case $status in
    2??) printf '%s' "$answer" ;;
    *) echo "error: $1 $2 → $status $answer" >&2; exit 1 ;;
  esac
}
login() { # email password → access token
  request POST /api/v1/auth/login "" "{\"email\":\"$1\",\"password\":\"$2\"}" | jq -er .access_token
}

# Run 1: the tenant, its admin, and the two keys.
start_server "$TMP/server-1.log"
SLUG="log-clients-$(date +%s)-$RANDOM"
TENANT_EMAIL="admin@$SLUG.test"
TENANT_PASSWORD="password-of-$SLUG"
ROOT=$(login "$ADMIN_EMAIL" "$ADMIN_PASSWORD")
request POST /api/v1/admin/tenants "$ROOT" \
  "{\"name\":\"Log clients\",\"slug\":\"$SLUG\",\"admin_email\":\"$TENANT_EMAIL\",\"admin_password\":\"$TENANT_PASSWORD\"}" >/dev/null
ADMIN=$(login "$TENANT_EMAIL" "$TENANT_PASSWORD")
INGEST_KEY=$(request POST /api/v1/api-keys "$ADMIN" '{"name":"log shippers","scopes":["ingest"]}' | jq -er .key)
READ_KEY=$(request POST /api/v1/api-keys "$ADMIN" '{"name":"log checks","scopes":["read"]}' | jq -er .key)
stop_server

# Run 2: the same database, with the syslog listeners bound to the ingest key. The part
# runs whenever the TCP listener is up; it is skipped only when nothing listens there.
# A self-signed certificate for localhost for the TLS listener (RFC 5425), the client's CA.
command -v openssl >/dev/null || apt_install openssl
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=localhost \
  -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
  -keyout "$TMP/syslog-key.pem" -out "$TMP/syslog-cert.pem" 2>/dev/null
LOG="$TMP/server-2.log"
start_server "$LOG" TIDEWATCH_SYSLOG_TCP_BIND="127.0.0.1:$SYSLOG_TCP" \
  TIDEWATCH_SYSLOG_UDP_BIND="127.0.0.1:$SYSLOG_UDP" TIDEWATCH_SYSLOG_API_KEY="$INGEST_KEY" \
  TIDEWATCH_SYSLOG_TLS_BIND="127.0.0.1:$SYSLOG_TLS" TIDEWATCH_SYSLOG_TLS_CERT="$TMP/syslog-cert.pem" \
  TIDEWATCH_SYSLOG_TLS_KEY="$TMP/syslog-key.pem"
syslog=(--syslog-tcp "$SYSLOG_TCP" --syslog-udp "$SYSLOG_UDP" --syslog-tls "$SYSLOG_TLS"
  --syslog-tls-ca "$TMP/syslog-cert.pem")
deadline=$(($(now_ms) + 3000)) # 3 s after /healthz first answered
while ! tcp_listening "$SYSLOG_TCP"; do
  if [ "$(now_ms)" -ge "$deadline" ]; then
    unknown=$(grep -E 'TIDEWATCH_SYSLOG_' "$LOG" |
      grep -iE 'unknown|unrecogni[sz]ed|unsupported|unused|not (a )?(known|recogni[sz]ed)|ignor' | head -1 || true)
    if [ -n "$unknown" ]; then
      syslog=(--skip-syslog "the server log calls the syslog variables unknown: $unknown")
    else
      syslog=(--skip-syslog "nothing listens on the syslog TCP port 127.0.0.1:$SYSLOG_TCP 3 s after start (no syslog listener in this build?)")
    fi
    break
  fi
  sleep 0.1
done

status=0
clients --base "$BASE" --ingest-key "$INGEST_KEY" --read-key "$READ_KEY" "${syslog[@]}" || status=$?
if [ "$status" -ne 0 ]; then
  echo
  echo "==> the server's log (last 60 lines)"
  tail -n 60 "$LOG"
fi
exit "$status"
