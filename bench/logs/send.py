#!/usr/bin/env python3
"""The timed ingest phase: N sender processes POST the pre-generated, gzip-compressed
batches to /api/v1/ingest/logs over keep-alive connections.

Sender k sends batches k, k+N, k+2N, … in order, one request at a time. Every sender
loads its bodies and opens its connection first; the clock starts when all are ready.
Wall time runs from the first request sent to the last 2xx answer received (CLOCK_MONOTONIC,
shared by the processes). The server's CPU (utime+stime of --pid) is read just before
the senders are released and just after the last answer; then once more --settle-secs
later, in case the server keeps working on what it acknowledged. Prints one JSON object.
"""
import argparse
import json
import multiprocessing
import os
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import Connection, cpu_secs, percentile, postgres_cpu_secs, status_kib  # noqa: E402


def sender(number, args, batches, ready, go, results):
    out = {"sender": number, "first_send": None, "last_ok": None, "ok_requests": 0,
           "error_requests": 0, "rate_limited_requests": 0, "acked_records": 0,
           "sent_records": 0, "acked_raw_bytes": 0, "acked_wire_bytes": 0,
           "count_mismatches": 0, "answers_without_count": 0, "first_error": None,
           "latencies_ms": [], "cpu_secs": 0.0}
    try:
        bodies = []
        with open(args.bodies, "rb") as f:
            for b in batches:
                f.seek(b["offset"])
                bodies.append(f.read(b["length"]))
        headers = {
            "Authorization": f"Bearer {args.key}",
            "Content-Type": "text/plain",
            "Content-Encoding": "gzip",
        }
        conn = Connection(args.host, args.port, timeout=args.timeout)
        conn.connect()
    except Exception as e:  # reported, and the run goes on without this sender
        out["first_error"] = f"setup: {e!r}"
        ready.put(number)
        results.put(out)
        return
    ready.put(number)
    if not go.wait(args.deadline):
        out["first_error"] = "never released"
        results.put(out)
        return
    cpu_start = time.process_time()
    give_up = time.monotonic() + args.deadline
    for b, body in zip(batches, bodies):
        if time.monotonic() > give_up:
            out["first_error"] = out["first_error"] or "deadline passed"
            break
        path = "/api/v1/ingest/logs?" + urllib.parse.urlencode({"service": b["service"], "host": b["host"]})
        sent = time.monotonic()
        if out["first_send"] is None:
            out["first_send"] = sent
        out["sent_records"] += b["records"]
        try:
            conn.request("POST", path, body=body, headers=headers)
            response = conn.getresponse()
            data = response.read()
            status = response.status
        except Exception as e:
            out["error_requests"] += 1
            out["first_error"] = out["first_error"] or f"batch {b['index']}: {e!r}"
            conn.close()
            conn = Connection(args.host, args.port, timeout=args.timeout)
            continue
        done = time.monotonic()
        out["latencies_ms"].append((done - sent) * 1000)
        if 200 <= status < 300:
            out["ok_requests"] += 1
            out["last_ok"] = done
            out["acked_raw_bytes"] += b["raw_bytes"]
            out["acked_wire_bytes"] += b["length"]
            try:
                accepted = int(json.loads(data)["accepted_records"])
            except Exception:
                accepted = b["records"]
                out["answers_without_count"] += 1
            if accepted != b["records"]:
                out["count_mismatches"] += 1
            out["acked_records"] += accepted
        else:
            out["error_requests"] += 1
            if status == 429:
                out["rate_limited_requests"] += 1
            if out["first_error"] is None:
                out["first_error"] = f"batch {b['index']}: HTTP {status}: {data[:300].decode(errors='replace')}"
    out["cpu_secs"] = time.process_time() - cpu_start
    conn.close()
    results.put(out)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--url", required=True, help="http://127.0.0.1:PORT")
    p.add_argument("--key", default=os.environ.get("BENCH_KEY"), help="API key (or BENCH_KEY)")
    p.add_argument("--corpus", required=True, help="the directory generate.py wrote")
    p.add_argument("--senders", type=int, default=4)
    p.add_argument("--pid", type=int, required=True, help="the server's pid, for /proc")
    p.add_argument("--pg-cpu", action="store_true", help="also sum the CPU of all postgres processes")
    p.add_argument("--timeout", type=float, default=120, help="per request, seconds")
    p.add_argument("--deadline", type=float, default=1800, help="the whole phase, seconds")
    p.add_argument("--settle-secs", type=float, default=3)
    args = p.parse_args()
    if not args.key:
        sys.exit("no API key (--key or BENCH_KEY)")
    url = urllib.parse.urlsplit(args.url)
    if url.hostname not in ("127.0.0.1", "localhost", "::1"):
        sys.exit("the benchmark only talks to 127.0.0.1")
    args.host, args.port = url.hostname, url.port or 80
    args.bodies = os.path.join(args.corpus, "bodies.bin")
    with open(os.path.join(args.corpus, "batches.jsonl")) as f:
        batches = [json.loads(line) for line in f]
    senders = max(1, min(args.senders, len(batches)))

    ctx = multiprocessing.get_context("fork")
    ready, results, go = ctx.Queue(), ctx.Queue(), ctx.Event()
    procs = [ctx.Process(target=sender, args=(k, args, batches[k::senders], ready, go, results), daemon=True)
             for k in range(senders)]
    for proc in procs:
        proc.start()
    for _ in procs:
        ready.get(timeout=120)
    cpu_before = cpu_secs(args.pid)
    pg_before = postgres_cpu_secs() if args.pg_cpu else None
    released = time.monotonic()
    go.set()

    outs = []
    give_up = released + args.deadline + 60
    while len(outs) < senders:
        left = give_up - time.monotonic()
        if left <= 0:
            break
        try:
            outs.append(results.get(timeout=min(left, 5)))
        except Exception:
            if not any(proc.is_alive() for proc in procs) and results.empty():
                break
    finished = time.monotonic()
    cpu_after = cpu_secs(args.pid)
    pg_after = postgres_cpu_secs() if args.pg_cpu else None
    hwm_kib = status_kib(args.pid, "VmHWM")
    rss_kib = status_kib(args.pid, "VmRSS")
    for proc in procs:
        proc.join(timeout=5)
        if proc.is_alive():
            proc.kill()
    time.sleep(args.settle_secs)
    cpu_settled = cpu_secs(args.pid)

    def total(key):
        return sum(o[key] for o in outs)

    firsts = [o["first_send"] for o in outs if o["first_send"] is not None]
    lasts = [o["last_ok"] for o in outs if o["last_ok"] is not None]
    wall = (max(lasts) - min(firsts)) if firsts and lasts else None
    acked = total("acked_records")
    latencies = [x for o in outs for x in o["latencies_ms"]]
    errors = [o["first_error"] for o in outs if o["first_error"]]
    server_cpu = None if cpu_before is None or cpu_after is None else cpu_after - cpu_before
    settled_cpu = None if cpu_before is None or cpu_settled is None else cpu_settled - cpu_before
    report = {
        "senders": senders,
        "senders_reporting": len(outs),
        "batches": len(batches),
        "records_sent": total("sent_records"),
        "records_acknowledged": acked,
        "ok_requests": total("ok_requests"),
        "failed_requests": total("error_requests") + (senders - len(outs)),
        "rate_limited_requests": total("rate_limited_requests"),
        "count_mismatches": total("count_mismatches"),
        "answers_without_count": total("answers_without_count"),
        "wall_secs": wall,
        "records_per_sec": acked / wall if wall else None,
        "mb_per_sec": total("acked_raw_bytes") / wall / 1e6 if wall else None,
        "wire_mb_per_sec": total("acked_wire_bytes") / wall / 1e6 if wall else None,
        "acked_raw_bytes": total("acked_raw_bytes"),
        "request_p50_ms": percentile(latencies, 50),
        "request_p99_ms": percentile(latencies, 99),
        "request_max_ms": max(latencies) if latencies else None,
        "server_cpu_secs": server_cpu,
        "server_cpu_settled_secs": settled_cpu,
        "cpu_per_record_us": server_cpu / acked * 1e6 if server_cpu is not None and acked else None,
        "cpu_per_record_settled_us": settled_cpu / acked * 1e6 if settled_cpu is not None and acked else None,
        "server_cores_used": server_cpu / (finished - released) if server_cpu is not None else None,
        "postgres_cpu_secs": (pg_after - pg_before) if args.pg_cpu else None,
        "loadgen_cpu_secs": total("cpu_secs"),
        "peak_rss_mib": hwm_kib / 1024 if hwm_kib is not None else None,
        "rss_after_ingest_mib": rss_kib / 1024 if rss_kib is not None else None,
        "first_error": errors[0] if errors else None,
    }
    print(json.dumps(report))


if __name__ == "__main__":
    main()
