"""What every client check shares: the run's settings, PASS/FAIL/SKIP lines, and the
search that proves a shipped record arrived (GET /api/v1/logs, polled)."""

import dataclasses
import datetime
import json
import re
import time
from typing import Any, Callable, Optional

import requests

POLL_SECONDS = 5.0


@dataclasses.dataclass
class Context:
    base: str  # http://127.0.0.1:PORT
    ingest_key: str
    read_key: str
    search: bool  # False against the recorder: ship only
    syslog_tcp: Optional[int] = None
    syslog_udp: Optional[int] = None
    syslog_tls: Optional[int] = None  # the TLS listener, when the run has one
    syslog_tls_ca: Optional[str] = None
    skip_syslog: Optional[str] = None  # why the syslog part is skipped


class Report:
    def __init__(self):
        self.passed = 0
        self.failed = 0
        self.skipped = 0

    def ok(self, name: str, detail: str = ""):
        self.passed += 1
        print(f"PASS {name}" + (f": {detail}" if detail else ""), flush=True)

    def fail(self, name: str, detail: str):
        self.failed += 1
        print(f"FAIL {name}: {detail}", flush=True)

    def skip(self, name: str, why: str):
        self.skipped += 1
        print(f"SKIP {name}: {why}", flush=True)

    def check(self, name: str, problems: list, detail: str = ""):
        if problems:
            self.fail(name, "; ".join(problems))
        else:
            self.ok(name, detail)

    def summary(self) -> int:
        print(f"log-clients: {self.passed} passed, {self.failed} failed, {self.skipped} skipped")
        return 1 if self.failed else 0


class AnyOf:
    """An expected value with accepted alternatives: AnyOf(991, "991")."""

    def __init__(self, *values):
        self.values = values

    def matches(self, value) -> bool:
        return any(_same(value, v) for v in self.values)

    def __repr__(self):
        return " or ".join(json.dumps(v) for v in self.values)


def _same(actual, expected) -> bool:
    if isinstance(expected, AnyOf):
        return expected.matches(actual)
    # 991 == 991.0 is fine; True == 1 is not.
    if isinstance(actual, bool) or isinstance(expected, bool):
        return actual is expected
    return actual == expected


def _show(value) -> str:
    return repr(value) if isinstance(value, AnyOf) else json.dumps(value)


def search(ctx: Context, query: str, limit: int = 100) -> list:
    response = requests.get(
        f"{ctx.base}/api/v1/logs",
        params={"query": query, "limit": str(limit)},
        headers={"Authorization": f"Bearer {ctx.read_key}"},
        timeout=10,
    )
    if response.status_code != 200:
        raise RuntimeError(f"GET /api/v1/logs?query={query} → {response.status_code} {response.text[:300]}")
    body = response.json()
    if not isinstance(body, dict) or not isinstance(body.get("records"), list):
        raise RuntimeError(f"GET /api/v1/logs answered no records list: {response.text[:300]}")
    return body["records"]


def find(ctx: Context, query: str, message: str) -> tuple:
    """Polls the search for a record whose message is `message`: (record or None, what
    the last search answered or the error it raised)."""
    deadline = time.monotonic() + POLL_SECONDS
    last: Any = None
    while True:
        try:
            records = search(ctx, query)
            last = records
            for record in records:
                if record.get("message") == message:
                    return record, records
        except (requests.RequestException, RuntimeError, ValueError) as error:
            last = error
        if time.monotonic() >= deadline:
            return None, last
        time.sleep(0.2)


def field(record: dict, key: str):
    """(key found, value) for `key` among the record's fields: the key itself, else one
    that ends in `.key` (say `attributes.order_id`)."""
    fields = record.get("fields") or {}
    if key in fields:
        return key, fields[key]
    for name, value in fields.items():
        if name.endswith("." + key):
            return name, value
    return None, None


def compare(record: dict, expected: dict) -> list:
    """Mismatches between a record and the expected `level`, `service`, `host` (values
    or AnyOf), `labels` (a subset) and `fields` (a subset, keys as `field` finds them)."""
    problems = []
    for key in ("level", "service", "host", "message"):
        if key in expected and not _same(record.get(key), expected[key]):
            problems.append(f"{key} is {json.dumps(record.get(key))}, expected {_show(expected[key])}")
    labels = record.get("labels") or {}
    for name, value in (expected.get("labels") or {}).items():
        if name not in labels:
            problems.append(f"labels lack {name} (labels: {json.dumps(labels)})")
        elif not _same(labels[name], value):
            problems.append(f"labels.{name} is {json.dumps(labels[name])}, expected {_show(value)}")
    for name in expected.get("not_labels") or ():
        if name in labels:
            problems.append(f"labels has {name}={json.dumps(labels[name])}; it belongs in fields")
    for name, value in (expected.get("fields") or {}).items():
        key, actual = field(record, name)
        if key is None:
            problems.append(f"fields lack {name} (fields: {json.dumps(record.get('fields'))[:400]})")
        elif not _same(actual, value):
            problems.append(f"fields.{key} is {json.dumps(actual)}, expected {_show(value)}")
    problems.extend(_timestamp_problems(record))
    return problems


def _timestamp_problems(record: dict) -> list:
    text = record.get("timestamp")
    if not isinstance(text, str):
        return [f"timestamp is {json.dumps(text)}, expected RFC 3339 text"]
    try:
        # Python 3.11 takes "Z" and offsets, and up to 6 fractional digits: trim more.
        parsed = re.fullmatch(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)?", text)
        if not parsed:
            raise ValueError(text)
        fraction = f".{parsed[2][:6]}" if parsed[2] else ""
        when = datetime.datetime.fromisoformat(parsed[1] + fraction + (parsed[3] or "").replace("Z", "+00:00"))
    except ValueError:
        return [f"timestamp {text!r} is not RFC 3339"]
    if when.tzinfo is None:
        return [f"timestamp {text!r} has no offset"]
    skew = abs((datetime.datetime.now(datetime.timezone.utc) - when).total_seconds())
    if skew > 600:
        return [f"timestamp {text} is {skew:.0f} s from now (unit or epoch wrong?)"]
    return []


def expect_record(report: Report, ctx: Context, name: str, queries: list, message: str, expected: dict):
    """One PASS/FAIL line: every query finds the record with `message`, and it is as
    `expected` (see `compare`)."""
    if not ctx.search:
        return
    problems = []
    found = None
    for query in queries:
        record, last = find(ctx, query, message)
        if record is None:
            if isinstance(last, Exception):
                problems.append(f"query {query!r}: {last}")
            else:
                seen = [r.get("message") for r in (last or [])][:5]
                problems.append(
                    f"query {query!r} found no record {message!r} in {POLL_SECONDS:.0f} s "
                    f"({len(last or [])} records: {json.dumps(seen)})"
                )
            continue
        found = found or record
    if found is not None:
        problems.extend(compare(found, expected))
    shown = json.dumps({k: found.get(k) for k in ("level", "service", "host", "labels", "fields")}) if found else ""
    report.check(name, problems, shown[:500])
    if problems and found is not None:
        print(f"     record: {json.dumps(found)[:1500]}", flush=True)


def guarded(report: Report, name: str, action: Callable[[], Any]):
    """Runs a shipping step; an exception is one FAIL line, not a crash."""
    try:
        return action()
    except Exception as error:  # noqa: BLE001 — any failure of a client is a FAIL
        report.fail(name, f"{type(error).__name__}: {error}")
        return None
