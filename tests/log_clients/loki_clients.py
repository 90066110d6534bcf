"""Loki pushes to /loki/api/v1/push: python-logging-loki's LokiHandler (JSON, HTTP Basic
auth with the key as the password), and a protobuf PushRequest built from Loki's
push.proto, snappy block-compressed, as Promtail and Grafana Alloy send it (Bearer)."""

import logging
import time

import requests

import lokipb
from harness import Context, Report, expect_record, guarded

HANDLER_WARNING = "invoice 7 overdue by 3 days"
PLAIN = "charge 55 settled"
WITH_METADATA = "charge 56 failed: card expired"


def ship_handler(report: Report, ctx: Context) -> None:
    import logging_loki

    errors = []

    class Handler(logging_loki.LokiHandler):
        # LokiHandler swallows a failed push into logging's handleError; keep it.
        def handleError(self, record):  # noqa: N802
            import sys

            errors.append(sys.exc_info()[1])
            self.emitter.close()

    handler = Handler(
        url=f"{ctx.base}/loki/api/v1/push",
        tags={"app": "billing"},
        auth=("tenant", ctx.ingest_key),  # requests' HTTP Basic; Tidewatch takes the password
        version="1",
    )
    logger = logging.getLogger("billing.worker")
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)
    try:
        # `tags` in extra become stream labels too; the push is synchronous, per record.
        logger.warning(HANDLER_WARNING, extra={"tags": {"env": "prod"}})
    finally:
        logger.removeHandler(handler)
        handler.close()
    report.check(
        "loki-handler push",
        [f"the push failed: {e}" for e in errors],
        "LokiHandler got 204 (it raises on any other status)",
    )


def push_request():
    push_pb2 = lokipb.load()
    request = push_pb2.PushRequest()
    stream = request.streams.add()
    stream.labels = '{app="billing", env="prod"}'
    now = time.time_ns()
    plain = stream.entries.add()
    plain.timestamp.FromNanoseconds(now - 1_000_000)
    plain.line = PLAIN
    tagged = stream.entries.add()
    tagged.timestamp.FromNanoseconds(now)
    tagged.line = WITH_METADATA
    pair = tagged.structuredMetadata.add()
    pair.name = "trace_id"
    pair.value = "abc123"
    return request


def ship_protobuf(report: Report, ctx: Context) -> None:
    body = lokipb.encode(push_request())
    response = requests.post(
        f"{ctx.base}/loki/api/v1/push",
        data=body,
        headers={
            "Authorization": f"Bearer {ctx.ingest_key}",
            "Content-Type": "application/x-protobuf",
            "User-Agent": "tidewatch-log-clients (promtail-like)",
        },
        timeout=10,
    )
    problems = []
    if response.status_code != 204:
        problems.append(f"POST /loki/api/v1/push (x-protobuf, snappy) → {response.status_code} {response.text[:300]}")
    report.check("loki-protobuf push", problems, f"{response.status_code}, {len(body)} bytes sent")


def run(report: Report, ctx: Context) -> None:
    guarded(report, "loki-handler push", lambda: ship_handler(report, ctx))
    guarded(report, "loki-protobuf push", lambda: ship_protobuf(report, ctx))

    expect_record(
        report, ctx, "loki-handler record", ["app:billing"], HANDLER_WARNING,
        {"labels": {"app": "billing", "env": "prod"}},
    )
    expect_record(
        report, ctx, "loki-protobuf labels", ["app:billing"], PLAIN,
        {"labels": {"app": "billing", "env": "prod"}},
    )
    expect_record(
        report, ctx, "loki-protobuf structured metadata", ["app:billing"], WITH_METADATA,
        {"labels": {"app": "billing", "env": "prod"}, "fields": {"trace_id": "abc123"}, "not_labels": ["trace_id"]},
    )
