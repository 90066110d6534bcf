#!/usr/bin/env bash
# Notification benchmark (issue 16): ingest of a threshold-crossing sample → the webhook
# receiver holds the notification (`group_wait: 0s`), 100 trials under the alerting
# benchmark's background load (50,000 samples/s into series 1,000 other rules watch); then
# Prometheus + Alertmanager (Debian's packages; 1 s scrape and evaluation, `for: 0s`,
# `group_wait: 0s`) on the same kind of receiver, and the ratio. The same knobs as
# bench/alerting.sh (BENCH_BACKENDS, BENCH_TRIALS, BENCH_RULES, …), plus BENCH_PEER=0 to
# skip the peer and BENCH_PEER_TRIALS (20). Target: p99 ≤ 50 ms (BENCH_TARGET_P99_MS).
set -euo pipefail
cd "$(dirname "$0")"
BENCH_MODE=notify exec ./alerting.sh "$@"
