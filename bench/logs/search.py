#!/usr/bin/env python3
"""Log search after the ingest phase, over the time range the corpus covers.

  search.py wait  …  polls the histogram (empty query, step 60s) until its total equals
                     --expect (the records acknowledged) or --wait-secs pass; reports
                     how long the records took to be visible and the last total seen.
  search.py timed …  one warm-up, then --runs sequential runs each of
                       phrase     GET /api/v1/logs?query="connection refused"&limit=100
                       field      GET /api/v1/logs?query=service:api level:error&limit=100
                       histogram  GET /api/v1/logs/histogram?query=&step=60s
                     on one keep-alive connection; p50/p99 (nearest rank) per query, and
                     checks of the answers: the first pages are non-empty, their records
                     match the query (phrase in the message; the service and level), and
                     the histogram's total equals --expect.
Prints one JSON object.
"""
import argparse
import http.client
import json
import os
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import Connection, percentile  # noqa: E402


class Client:
    def __init__(self, url, key, timeout):
        parts = urllib.parse.urlsplit(url)
        if parts.hostname not in ("127.0.0.1", "localhost", "::1"):
            sys.exit("the benchmark only talks to 127.0.0.1")
        self.host, self.port, self.timeout = parts.hostname, parts.port or 80, timeout
        self.headers = {"Authorization": f"Bearer {key}", "Accept": "application/json"}
        self.conn = None

    def get(self, path, params):
        """(status, decoded JSON or text, seconds)."""
        target = path + "?" + urllib.parse.urlencode(params, quote_via=urllib.parse.quote)
        for attempt in (1, 2):  # one reconnect when a kept-alive connection was closed
            if self.conn is None:
                self.conn = Connection(self.host, self.port, timeout=self.timeout)
            started = time.monotonic()
            try:
                self.conn.request("GET", target, headers=self.headers)
                response = self.conn.getresponse()
                data = response.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.conn.close()
                self.conn = None
                if attempt == 2:
                    raise
                continue
            elapsed = time.monotonic() - started
            try:
                body = json.loads(data)
            except ValueError:
                body = data[:300].decode(errors="replace")
            return response.status, body, elapsed
        raise RuntimeError("unreachable")


def histogram_total(body):
    buckets = body.get("buckets") if isinstance(body, dict) else None
    if not isinstance(buckets, list):
        return None, None
    total = 0
    for bucket in buckets:
        for n in (bucket.get("counts") or {}).values():
            total += int(n)
    return total, len(buckets)


def queries(meta):
    rng = {"start": str(meta["start_s"]), "end": str(meta["end_s"])}
    service = meta["field_service"]
    return [
        ("phrase", "/api/v1/logs", {"query": '"connection refused"', **rng, "limit": "100"}),
        ("field", "/api/v1/logs", {"query": f"service:{service} level:error", **rng, "limit": "100"}),
        ("histogram", "/api/v1/logs/histogram", {"query": "", **rng, "step": "60s"}),
    ]


def check_page(name, body, meta):
    """(records on the first page, list of problems)."""
    problems = []
    records = body.get("records") if isinstance(body, dict) else None
    if not isinstance(records, list):
        return None, [f"{name}: the answer has no records list: {str(body)[:200]}"]
    if not records:
        problems.append(f"{name}: the first page is empty")
    if "next_cursor" not in body:
        problems.append(f"{name}: the answer has no next_cursor")
    expected = meta["phrase_records"] if name == "phrase" else meta["field_query_records"]
    if len(records) < min(100, expected):
        problems.append(f"{name}: {len(records)} records on the first page; the corpus has {expected} matches")
    wrong = 0
    for r in records:
        if name == "phrase":
            wrong += "connection refused" not in str(r.get("message", "")).lower()
        else:
            wrong += r.get("service") != meta["field_service"] or r.get("level") != "error"
    if wrong:
        problems.append(f"{name}: {wrong} of {len(records)} records on the first page do not match the query")
    return len(records), problems


def wait(client, meta, expect, wait_secs):
    _, path, params = queries(meta)[2]
    started = time.monotonic()
    last = {"status": None, "total": None}
    while True:
        try:
            status, body, _ = client.get(path, params)
            last["status"] = status
            if status == 200:
                last["total"], _ = histogram_total(body)
            else:
                last["error"] = f"HTTP {status}: {str(body)[:300]}"
        except Exception as e:
            last["error"] = repr(e)
        elapsed = time.monotonic() - started
        if last["total"] == expect or elapsed > wait_secs:
            break
        time.sleep(0.5)
    return {
        "visible": last["total"] == expect,
        "visible_after_ms": elapsed * 1000 if last["total"] == expect else None,
        "histogram_total_at_wait": last["total"],
        "wait_error": last.get("error") if last["total"] != expect else None,
    }


def timed(client, meta, expect, runs):
    report, problems = {}, []
    for name, path, params in queries(meta):
        latencies, errors, first = [], 0, None
        for run in range(runs + 1):  # run 0 is the warm-up
            try:
                status, body, elapsed = client.get(path, params)
            except Exception as e:
                errors += 1
                problems.append(f"{name}: {e!r}")
                continue
            if status != 200:
                errors += 1
                if errors == 1:
                    problems.append(f"{name}: HTTP {status}: {str(body)[:300]}")
                continue
            if first is None:
                first = body
            if run > 0:
                latencies.append(elapsed * 1000)
        report[f"{name}_p50_ms"] = percentile(latencies, 50)
        report[f"{name}_p99_ms"] = percentile(latencies, 99)
        report[f"{name}_min_ms"] = min(latencies) if latencies else None
        report[f"{name}_errors"] = errors
        if first is None:
            continue
        if name == "histogram":
            total, buckets = histogram_total(first)
            report["histogram_total"] = total
            report["histogram_buckets"] = buckets
            if total != expect:
                problems.append(f"histogram: total {total} != {expect} records acknowledged")
            given = first.get("total") if isinstance(first, dict) else None
            if given is not None and given != total:
                problems.append(f"histogram: the answer's total {given} != the sum of its buckets {total}")
        else:
            count, found = check_page(name, first, meta)
            report[f"{name}_first_page"] = count
            problems += found
    report["search_problems"] = problems
    return report


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("mode", choices=["wait", "timed"])
    p.add_argument("--url", required=True)
    p.add_argument("--key", default=os.environ.get("BENCH_KEY"))
    p.add_argument("--corpus", required=True)
    p.add_argument("--expect", type=int, required=True, help="records acknowledged")
    p.add_argument("--runs", type=int, default=50)
    p.add_argument("--wait-secs", type=float, default=60)
    p.add_argument("--timeout", type=float, default=60, help="per request, seconds")
    args = p.parse_args()
    if not args.key:
        sys.exit("no API key (--key or BENCH_KEY)")
    with open(os.path.join(args.corpus, "meta.json")) as f:
        meta = json.load(f)
    client = Client(args.url, args.key, args.timeout)
    if args.mode == "wait":
        print(json.dumps(wait(client, meta, args.expect, args.wait_secs)))
    else:
        print(json.dumps(timed(client, meta, args.expect, max(1, args.runs))))


if __name__ == "__main__":
    main()
