#!/usr/bin/env bash
# Schemathesis against the service's own OpenAPI document, once per role: platform admin,
# tenant admin, editor, viewer, an API key with `read` and one with `ingest`. Each role gets
# a tenant of its own, so one role's DELETEs cannot spoil another's run. Every check runs
# (server errors, declared statuses, content types, response schemas, schema-valid data
# accepted and invalid data refused, wrong methods answered 405 with Allow, …) except those
# that need several credentials at once or a login flow Schemathesis cannot know.
#
#   scripts/schemathesis.sh            # TIDEWATCH_BIN defaults to the debug build
# Environment: TIDEWATCH_BIN, SCHEMATHESIS_EXAMPLES (per operation, default 25),
# SCHEMATHESIS_SEED (default 1). Prints "schemathesis: N passed, M failed" (roles) and
# exits non-zero when a role had failures. Traffic goes to 127.0.0.1 only.
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=${TIDEWATCH_BIN:-${CARGO_TARGET_DIR:-$HOME/.cache/tidewatch-target}/debug/tidewatch}
VENV=${XDG_CACHE_HOME:-$HOME/.cache}/tidewatch-schemathesis
VERSION=4.32.5
EXAMPLES=${SCHEMATHESIS_EXAMPLES:-25}
SEED=${SCHEMATHESIS_SEED:-1}

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

apt_install() {
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "$@" >/dev/null
}
command -v jq >/dev/null && command -v curl >/dev/null || apt_install jq curl
if ! "$VENV/bin/st" --version 2>/dev/null | grep -q "$VERSION"; then
  rm -rf "$VENV"
  # Debian's python3 makes venvs only with python3-venv (ensurepip) installed.
  python3 -m venv "$VENV" 2>/dev/null || { rm -rf "$VENV"; apt_install python3-venv; python3 -m venv "$VENV"; }
  "$VENV/bin/pip" install -q "schemathesis==$VERSION"
fi
[ -x "$BIN" ] || { echo "error: $BIN not found; build it first (cargo build)" >&2; exit 1; }

HOOKS=$PWD/scripts/schemathesis_hooks.py
TMP=$(mktemp -d)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
BASE="http://127.0.0.1:$PORT"
ADMIN_PASSWORD="schemathesis-root-password"
TIDEWATCH_BIND="127.0.0.1:$PORT" DATABASE_URL="sqlite://$TMP/tw.db?mode=rwc" \
  TIDEWATCH_DATA_DIR="$TMP" TIDEWATCH_JWT_SECRET="schemathesis-secret-schemathesis-secret-0" \
  TIDEWATCH_ADMIN_EMAIL="root@tidewatch.test" TIDEWATCH_ADMIN_PASSWORD="$ADMIN_PASSWORD" \
  TIDEWATCH_LOG_LEVEL=warn TIDEWATCH_WORKERS=2 \
  TIDEWATCH_LOGIN_MAX_FAILURES_PER_ADDRESS=1000000 TIDEWATCH_LOGIN_MAX_FAILURES_PER_ACCOUNT=1000000 \
  "$BIN" serve >"$TMP/server.log" 2>&1 &
SERVER=$!
trap 'kill "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true; rm -rf "$TMP"' EXIT

for _ in $(seq 1 300); do
  curl -fs "$BASE/healthz" >/dev/null 2>&1 && break
  kill -0 "$SERVER" 2>/dev/null || { cat "$TMP/server.log" >&2; exit 1; }
  sleep 0.1
done

post() { # path token json → body (fails on a non-2xx)
  curl -fsS -X POST "$BASE$1" -H "authorization: Bearer $2" -H 'content-type: application/json' -d "$3"
}
login() { # email password → access token
  curl -fsS -X POST "$BASE/api/v1/auth/login" -H 'content-type: application/json' \
    -d "{\"email\":\"$1\",\"password\":\"$2\"}" | jq -r .access_token
}

ROOT=$(login root@tidewatch.test "$ADMIN_PASSWORD")
# A tenant for one role; prints that role's credential.
credential_for() {
  local role=$1 slug="st-$1" email="admin@st-$1.test" password="password-of-$1"
  post /api/v1/admin/tenants "$ROOT" \
    "{\"name\":\"Tenant $role\",\"slug\":\"$slug\",\"admin_email\":\"$email\",\"admin_password\":\"$password\"}" >/dev/null
  local admin
  admin=$(login "$email" "$password")
  # Something to find: a metric, a user, a key.
  post /api/v1/ingest/metrics "$admin" '{"metrics":[{"name":"up","labels":{"job":"st"},"value":1}]}' >/dev/null
  post /api/v1/users "$admin" "{\"email\":\"other@$slug.test\",\"password\":\"other-password\",\"role\":\"viewer\"}" >/dev/null
  case $role in
    platform) echo "$ROOT" ;;
    admin) echo "$admin" ;;
    editor | viewer)
      post /api/v1/users "$admin" "{\"email\":\"$role@$slug.test\",\"password\":\"$role-password\",\"role\":\"$role\"}" >/dev/null
      login "$role@$slug.test" "$role-password" ;;
    read | ingest)
      post /api/v1/api-keys "$admin" "{\"name\":\"st\",\"scopes\":[\"$role\"]}" | jq -r .key ;;
  esac
}

# Checks left out, everywhere: ignored_auth and object_level_authorization need a second
# credential; use_after_free and ensure_resource_availability need links the document does
# not declare. Operations left out: logout (it ends the very token the run uses), and the
# protobuf bodies (remote write, OTLP metrics and logs, Loki push), which Schemathesis
# cannot generate — the fuzz targets in tests/fuzz.rs cover those decoders. NDJSON bodies
# (Elasticsearch bulk) are sent as text by scripts/schemathesis_hooks.py.
EXCLUDED_CHECKS=ignored_auth,object_level_authorization,use_after_free,ensure_resource_availability
# "Schema-valid data is accepted" is checked where a JSON schema can say what is valid:
# not for PromQL text, line protocol, JSON samples (timestamps must be inside the
# retention window around *now*), nor query_range (end ≥ start, at most 11,000 steps) —
# relations and languages a schema cannot state. Those have the fuzz targets and
# tests/api/hostile_queries.rs.
# POST /api/v1/admin/tenants is left out of it too: `admin_password` needs `admin_email`, a
# dependency between fields the document does not state.
SCHEMA_DESCRIBED='^/api/v1/(auth/|users|api-keys|admin/tenants/|tenant$|audit-log)'

schemathesis() { # role token label extra-args… → 0 when no failure
  local role=$1 token=$2 label=$3
  shift 3
  # From the temp dir: Schemathesis keeps a cache in .schemathesis/ of its working directory.
  (cd "$TMP" && NO_COLOR=1 SCHEMATHESIS_HOOKS="$HOOKS" "$VENV/bin/st" run "$BASE/api/v1/openapi.json" --url "$BASE" \
    --header "Authorization: Bearer $token" \
    --exclude-path /api/v1/auth/logout --exclude-path /api/v1/write --exclude-path /v1/metrics \
    --exclude-path /v1/logs --exclude-path /loki/api/v1/push \
    --max-examples "$EXAMPLES" --seed "$SEED" \
    --generation-database none --request-timeout 10 --workers 1 --no-color "$@" >"$TMP/$role-$label.txt" 2>&1)
}

passed=0
failed=0
for role in platform admin editor viewer read ingest; do
  token=$(credential_for "$role")
  started=$(date +%s)
  ok=1
  schemathesis "$role" "$token" all --checks all \
    --exclude-checks "$EXCLUDED_CHECKS,positive_data_acceptance" || ok=0
  schemathesis "$role" "$token" positive --checks not_a_server_error,positive_data_acceptance \
    --include-path-regex "$SCHEMA_DESCRIBED" || ok=0
  summary=$(grep -h -E "^Test cases:" -A1 "$TMP/$role-all.txt" "$TMP/$role-positive.txt" | grep -v "^Test cases" | tr -s ' ' | paste -sd ';' -)
  if [ "$ok" -eq 1 ]; then
    passed=$((passed + 1))
    echo "schemathesis $role: ok ($(($(date +%s) - started)) s;$summary)"
  else
    failed=$((failed + 1))
    echo "schemathesis $role: FAILED ($(($(date +%s) - started)) s;$summary)"
    for label in all positive; do
      # Through a file, not a pipe into head: under pipefail, sed's SIGPIPE would end the
      # script (exit 141) before the summary.
      sed -n '/FAILURES\|ERRORS/,/SUMMARY/p' "$TMP/$role-$label.txt" >"$TMP/excerpt.txt"
      head -120 "$TMP/excerpt.txt"
    done
  fi
done
echo "schemathesis: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
