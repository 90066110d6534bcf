"""OTLP/HTTP logs to /v1/logs: the OpenTelemetry Python SDK through Python's `logging`
bridge (LoggingHandler) with its protobuf exporter and its JSON exporter, and an
OTLP/JSON body written by hand to the OTLP specification."""

import logging
import time
import warnings

import requests

from harness import Context, Report, expect_record, guarded

RESOURCE = {"service.name": "checkout", "host.name": "web-3"}

WARNING = "payment declined for order 991"
ERROR = "card gateway timeout for order 992"
JSON_SDK = "refund issued for order 993"
HAND_BUILT = "hand-built OTLP/JSON record for order 994"
GZIPPED = "payment retried for order 995"


def _recording(inner):
    """An exporter that keeps what each export returned, around the real one."""
    from opentelemetry.sdk._logs.export import LogRecordExporter

    class Recording(LogRecordExporter):
        def __init__(self):
            self.results = []  # (records in the batch, LogRecordExportResult)

        def export(self, batch):
            result = inner.export(batch)
            self.results.append((len(batch), result))
            return result

        def force_flush(self, timeout_millis: int = 10_000) -> bool:
            return inner.force_flush(timeout_millis)

        def shutdown(self):
            inner.shutdown()

    return Recording()


def _ship_through_logging(report: Report, name: str, exporter, emit) -> None:
    """A LoggerProvider with the resource, a batch processor around `exporter`, a logger
    with a LoggingHandler; `emit(logger)` logs; force_flush; one PASS/FAIL line on what
    the exporter reported."""
    from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
    from opentelemetry.sdk._logs.export import BatchLogRecordProcessor, LogRecordExportResult
    from opentelemetry.sdk.resources import Resource

    recording = _recording(exporter)
    provider = LoggerProvider(resource=Resource.create(RESOURCE))
    provider.add_log_record_processor(BatchLogRecordProcessor(recording, schedule_delay_millis=60_000))
    with warnings.catch_warnings():
        # 1.45 deprecates the SDK's LoggingHandler for opentelemetry-instrumentation-logging's.
        warnings.simplefilter("ignore", DeprecationWarning)
        handler = LoggingHandler(level=logging.DEBUG, logger_provider=provider)
    logger = logging.getLogger(f"checkout.payments.{name}")
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)
    try:
        emitted = emit(logger)
        flushed = provider.force_flush(timeout_millis=15_000)
    finally:
        logger.removeHandler(handler)
        provider.shutdown()
    sent = sum(n for n, r in recording.results if r == LogRecordExportResult.SUCCESS)
    problems = []
    if not flushed:
        problems.append("force_flush returned False")
    if not recording.results:
        problems.append("the exporter was never called")
    failures = [r for _, r in recording.results if r != LogRecordExportResult.SUCCESS]
    if failures:
        problems.append(f"the exporter reported {failures} (its own log lines say why)")
    if sent != emitted:
        problems.append(f"{sent} of {emitted} records exported successfully")
    report.check(f"{name} export", problems, f"exporter reported SUCCESS for {sent} records in {len(recording.results)} batch(es)")


def ship_sdk_protobuf(report: Report, ctx: Context) -> None:
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter

    # Uncompressed unless told: compression= or OTEL_EXPORTER_OTLP_LOGS_COMPRESSION.
    exporter = OTLPLogExporter(
        endpoint=f"{ctx.base}/v1/logs",
        headers={"Authorization": f"Bearer {ctx.ingest_key}"},
        timeout=10,
    )

    def emit(logger):
        logger.warning("payment declined for order %d", 991, extra={"order_id": 991})
        try:
            raise TimeoutError("the gateway did not answer within 30 s")
        except TimeoutError:
            logger.exception(ERROR, extra={"order_id": 992})
        return 2

    _ship_through_logging(report, "otlp-protobuf", exporter, emit)


def ship_sdk_protobuf_gzip(report: Report, ctx: Context) -> None:
    """The same exporter as deployments often run it: Content-Encoding: gzip."""
    from opentelemetry.exporter.otlp.proto.http import Compression
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter

    exporter = OTLPLogExporter(
        endpoint=f"{ctx.base}/v1/logs",
        headers={"Authorization": f"Bearer {ctx.ingest_key}"},
        timeout=10,
        compression=Compression.Gzip,
    )

    def emit(logger):
        logger.warning(GZIPPED, extra={"order_id": 995})
        return 1

    _ship_through_logging(report, "otlp-protobuf-gzip", exporter, emit)


def ship_sdk_json(report: Report, ctx: Context) -> bool:
    """False when this SDK has no OTLP/JSON log exporter."""
    try:
        # opentelemetry-exporter-otlp-json-http; its log exporter is not exported yet.
        from opentelemetry.exporter.otlp.json.http._log_exporter import OTLPLogExporter
    except ImportError as error:
        report.skip("otlp-json-sdk", f"no OTLP/JSON log exporter in this SDK ({error})")
        return False
    exporter = OTLPLogExporter(
        endpoint=f"{ctx.base}/v1/logs",
        headers={"Authorization": f"Bearer {ctx.ingest_key}"},
        timeout=10,
    )

    def emit(logger):
        logger.warning(JSON_SDK, extra={"order_id": 993, "amount": 12.5})
        return 1

    _ship_through_logging(report, "otlp-json-sdk", exporter, emit)
    return True


def hand_built_body(now_ns: int) -> dict:
    """ExportLogsServiceRequest in OTLP/JSON: lowerCamelCase names, 64-bit integers as
    decimal strings, trace and span ids as hex, enums as numbers."""

    def attr(key, value):
        if isinstance(value, bool):
            typed = {"boolValue": value}
        elif isinstance(value, int):
            typed = {"intValue": str(value)}
        elif isinstance(value, float):
            typed = {"doubleValue": value}
        else:
            typed = {"stringValue": value}
        return {"key": key, "value": typed}

    return {
        "resourceLogs": [
            {
                "resource": {
                    "attributes": [
                        attr("service.name", "checkout"),
                        attr("host.name", "web-3"),
                        attr("deployment.environment", "prod"),
                    ]
                },
                "scopeLogs": [
                    {
                        "scope": {"name": "tidewatch.log-clients", "version": "1"},
                        "logRecords": [
                            {
                                "timeUnixNano": str(now_ns),
                                "observedTimeUnixNano": str(now_ns),
                                "severityNumber": 13,
                                "severityText": "WARN",
                                "body": {"stringValue": HAND_BUILT},
                                "attributes": [
                                    attr("order_id", 994),
                                    attr("retry", True),
                                    attr("amount", 12.5),
                                ],
                                "traceId": "5b8efff798038103d269b633813fc60c",
                                "spanId": "eee19b7ec3c1b174",
                            }
                        ],
                    }
                ],
            }
        ]
    }


def ship_hand_built_json(report: Report, ctx: Context) -> None:
    response = requests.post(
        f"{ctx.base}/v1/logs",
        json=hand_built_body(time.time_ns()),
        headers={"Authorization": f"Bearer {ctx.ingest_key}"},
        timeout=10,
    )
    problems = []
    if response.status_code != 200:
        problems.append(f"POST /v1/logs (application/json) → {response.status_code} {response.text[:300]}")
    elif not response.headers.get("content-type", "").startswith("application/json"):
        problems.append(f"answered Content-Type {response.headers.get('content-type')!r}, expected application/json")
    report.check("otlp-json-hand export", problems, f"{response.status_code} {response.text[:200]}")


def run(report: Report, ctx: Context) -> None:
    guarded(report, "otlp-protobuf export", lambda: ship_sdk_protobuf(report, ctx))
    guarded(report, "otlp-protobuf-gzip export", lambda: ship_sdk_protobuf_gzip(report, ctx))
    json_sdk = guarded(report, "otlp-json-sdk export", lambda: ship_sdk_json(report, ctx))
    guarded(report, "otlp-json-hand export", lambda: ship_hand_built_json(report, ctx))

    otlp = {"service": "checkout", "host": "web-3"}
    expect_record(
        report, ctx, "otlp-protobuf warning", ["service:checkout", '"payment declined"'], WARNING,
        {**otlp, "level": "warn", "fields": {"order_id": 991}},
    )
    expect_record(
        report, ctx, "otlp-protobuf error", ["service:checkout"], ERROR,
        {**otlp, "level": "error", "fields": {"order_id": 992, "exception.type": "TimeoutError"}},
    )
    expect_record(
        report, ctx, "otlp-protobuf-gzip warning", ["service:checkout"], GZIPPED,
        {**otlp, "level": "warn", "fields": {"order_id": 995}},
    )
    if json_sdk:
        expect_record(
            report, ctx, "otlp-json-sdk warning", ["service:checkout", '"refund issued"'], JSON_SDK,
            {**otlp, "level": "warn", "fields": {"order_id": 993, "amount": 12.5}},
        )
    expect_record(
        report, ctx, "otlp-json-hand warning", ["service:checkout", '"hand-built"'], HAND_BUILT,
        {
            **otlp,
            "level": "warn",
            # OTLP/JSON's intValue is a string on the wire and an integer in meaning.
            "fields": {"order_id": 994, "retry": True, "amount": 12.5},
        },
    )
