#!/usr/bin/env python3
"""Pre-generates the log benchmark's load, before anything is timed.

Writes into --out:
  bodies.bin     the request bodies, gzip-compressed, one after another
  batches.jsonl  one line per request: offset/length in bodies.bin, uncompressed bytes,
                 records, and the (service, host) the request names in its query string
  rows.copy      the same records normalised, in COPY text format, for the PostgreSQL
                 anchor: tenant_id, ts_ns, level, service, host, message, labels, fields
  meta.json      totals, the time range covered and what the searches should find

Each request is one (service, host) pair: batch i is service i % 10 on host (i // 10) % 50,
so consecutive requests (which go to different senders) name different services, and
the 500 pairs repeat every 500 batches. Each pair's records are in time order: its
round r (batch i // 500) covers the r-th slice of the hour before the generation
started, with timestamps increasing within the batch.

Lines: about a quarter each JSON objects, logfmt, RFC 5424 syslog and combined access
logs; about 5 % of all records (none of the access logs) contain "connection refused".
The normalised rows follow src/ingest/logs/normalise.rs and syslog.rs: JSON objects are
flattened with dots (user.id), logfmt values stay strings, syslog keeps facility/procid/
msgid as fields and its severity as the level, an access log keeps the whole line as its
message with status ≥ 500 an error and ≥ 400 a warning.

Deterministic for a given --seed and --now-ms (the batches are generated in parallel,
each from its own seeded generator).
"""
import argparse
import datetime as dt
import gzip
import json
import multiprocessing
import os
import random
import sys
import time

SERVICES = [
    "api", "auth", "billing", "checkout", "search",
    "inventory", "notifications", "gateway", "scheduler", "payments",
]
HOSTS = (
    [f"web-{i}" for i in range(1, 21)]
    + [f"app-{i}" for i in range(1, 21)]
    + [f"worker-{i}" for i in range(1, 11)]
)
PAIRS = len(SERVICES) * len(HOSTS)  # 500
TENANT_ID = "7f3c2a9e-5b1d-4c8e-9a6f-0d2e4b7c1a35"  # the anchor's rows only
PHRASE = "connection refused"

# About 200 words; "refused" is left out on purpose, so the phrase appears only where a
# template puts it.
WORDS = """
account active adapter address agent alert allocation archive artifact attempt audit
backend backlog backoff balance batch bearer billing binary block bucket buffer build
bundle cache callback canary capacity catalog certificate channel checkpoint checksum
chunk client cluster codec commit compaction completed config connection consumer
container context controller cookie counter credential cursor customer daemon dashboard
database deadline decoder delivery deployment descriptor digest directory disk dispatch
document domain download driver endpoint entry event eviction exchange executor export
failover feature fetch filter flush folder fragment frame gateway generation handler
handshake header heartbeat histogram hook identity image import index ingress instance
interval invoice job journal kernel key label latency lease ledger limit listener loader
lock manifest mapper marker member memory merge message metadata metric migration mirror
module monitor mount namespace network node notification object offset operator order
owner package page parser partition password patch payload peer pipeline plugin policy
pool port primary probe process producer profile protocol provider proxy publisher queue
quota reader record region registry release replica report request resolver resource
response retry revision role route runtime sample scheduler schema scope secret segment
selector sender sequence server service session shard signal snapshot socket source span
stream subscriber summary supervisor table target task template tenant thread ticket
timeout token topic trace transaction transport trigger upload upstream user validator
value vault version volume watcher webhook window worker writer zone
""".split()
VERBS = """
accepted acquired added allocated applied archived assigned built cached cancelled
checked cleaned closed collected committed compacted completed computed configured
created decoded deleted delivered deployed detected dropped enqueued evicted expired
exported fetched finished flushed forwarded granted handled imported indexed initialised
loaded locked merged migrated moved opened parsed patched processed published queued
rebuilt received reconciled recorded registered released reloaded removed renewed
replayed replicated rescheduled resolved restored resumed retried returned rotated
scheduled scanned sent skipped started stopped stored synced throttled truncated
unlocked updated uploaded validated verified written
""".split()
ADJECTIVES = """
stale fresh partial empty full slow fast pending primary secondary remote local cold
warm idle busy degraded healthy
""".split()

LEVEL_WEIGHTS = [("info", 70), ("debug", 12), ("warn", 10), ("error", 8)]
LEVELS = [name for name, weight in LEVEL_WEIGHTS for _ in range(weight)]
SYSLOG_SEVERITY = {"error": 3, "warn": 4, "info": 6, "debug": 7}
FACILITY_NAMES = {16: "local0", 17: "local1", 18: "local2", 19: "local3", 1: "user", 3: "daemon"}
FACILITY_CODES = [16, 16, 16, 17, 18, 19, 1, 3]
MSGIDS = ["ID47", "REQ", "AUDIT", "CRON", "SYNC", "-"]
METHODS = ["GET"] * 14 + ["POST"] * 4 + ["PUT", "DELETE", "HEAD", "PATCH"]
USER_AGENTS = [
    "curl/8.0",
    "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36",
    "kube-probe/1.30",
    "Go-http-client/1.1",
    "python-requests/2.32.3",
    "Prometheus/2.53.0",
]
REFERERS = ["-"] * 8 + ["https://app.example.com/", "https://app.example.com/orders", "https://www.example.org/search?q=widgets"]
MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

TEMPLATES = [
    "{verb} {noun} {hex8} in {ms} ms",
    "user {uid} {verb} {noun} from {ip}",
    "cache {adj} for key {noun}:{num}, {n} entries {verb}",
    "processed {n} {noun} records for tenant {hex8}",
    "{noun} {noun2} {verb} after {ms} ms (attempt {small})",
    "request {hex16} {verb} {noun} {noun2} with status {status}",
    "job {num} {verb}: {n} {noun} rows, {n2} {noun2} skipped",
    "{adj} {noun} detected on {noun2} {num}, {verb} {n} items",
    "order {num} {verb} for customer {uid} total {price} EUR",
    "{noun} pool at {pct}% of {n} {noun2}, {verb} {small} idle",
    "{verb} {noun} segment {num} ({kb} KiB) to {noun2} {hex8}",
    "slow {noun} query on {noun2} took {ms} ms, {n} rows {verb}",
    "token {hex8} for {noun} {uid} {verb}, expires in {small} min",
    "retrying {noun} {noun2} in {small} s: {adj} {noun3}",
    "{noun} {hex8} {verb} by {noun2} {noun3} at offset {num}",
    "received {n} {noun} events from {ip} over {noun2}",
    "{noun} {noun2} is {adj}: {n} of {n2} {noun3} {verb}",
    "GC pause {ms} ms, heap {kb} KiB, {n} {noun} {verb}",
    "tenant {hex8} {noun} quota {pct}% used, {noun2} {verb}",
    "{verb} {n} {noun} in batch {num} for {noun2} {noun3}",
]
PHRASE_TEMPLATES = [
    "dial tcp {ip}:{port}: connection refused",
    "upstream {noun} {ip}:{port} connection refused after {ms} ms",
    "failed to reach {noun} service: connection refused (attempt {small})",
    "{noun} {noun2} unavailable: connection refused by {ip}:{port}",
    "health check of {noun} {num} failed: connection refused",
]


def rfc3339_ms(ms):
    t = dt.datetime.fromtimestamp(ms // 1000, dt.timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%S") + f".{ms % 1000:03d}Z"


def clf_time(ms):
    t = dt.datetime.fromtimestamp(ms // 1000, dt.timezone.utc)
    return f"{t.day:02d}/{MONTHS[t.month - 1]}/{t.year}:{t:%H:%M:%S} +0000"


def fill(rng, template):
    # Only the placeholders a template uses are drawn.
    values = {}
    for key in ("noun", "noun2", "noun3"):
        if "{" + key + "}" in template:
            values[key] = rng.choice(WORDS)
    if "{verb}" in template:
        values["verb"] = rng.choice(VERBS)
    if "{adj}" in template:
        values["adj"] = rng.choice(ADJECTIVES)
    if "{hex8}" in template:
        values["hex8"] = f"{rng.getrandbits(32):08x}"
    if "{hex16}" in template:
        values["hex16"] = f"{rng.getrandbits(64):016x}"
    if "{uid}" in template:
        values["uid"] = rng.randint(1000, 999999)
    if "{ip}" in template:
        values["ip"] = f"10.{rng.randint(0, 31)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
    for key, low, high in (
        ("ms", 1, 2500), ("num", 1, 99999), ("n", 1, 5000), ("n2", 1, 500), ("small", 1, 9),
        ("pct", 1, 100), ("kb", 4, 65536), ("port", 1024, 9999), ("status", 200, 504),
    ):
        if "{" + key + "}" in template:
            values[key] = rng.randint(low, high)
    if "{price}" in template:
        values["price"] = f"{rng.randint(1, 99999) / 100:.2f}"
    return template.format(**values)


def message(rng, phrase):
    if phrase:
        return fill(rng, rng.choice(PHRASE_TEMPLATES))
    text = fill(rng, rng.choice(TEMPLATES))
    if rng.random() < 0.3:  # a tail of vocabulary words, for variety
        text += " - " + " ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 6)))
    return text


def copy_escape(text):
    return (
        text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    )


def compact(value):
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def level_for_status(status):
    return "error" if status >= 500 else "warn" if status >= 400 else "info"


def batch_plan(index, args):
    pair = index % PAIRS
    service = SERVICES[pair % len(SERVICES)]
    host = HOSTS[(pair // len(SERVICES)) % len(HOSTS)]
    rounds = -(-args.batches // PAIRS)
    round_ = index // PAIRS
    span_ms = args.span_secs * 1000
    start_ms = args.now_ms - span_ms + round_ * span_ms // rounds
    end_ms = args.now_ms - span_ms + (round_ + 1) * span_ms // rounds
    records = min(args.batch, args.records - index * args.batch)
    return service, host, start_ms, end_ms, records


def make_batch(index, args):
    rng = random.Random(args.seed * 1_000_003 + index)
    service, host, start_ms, end_ms, count = batch_plan(index, args)
    stamps = sorted(rng.randrange(start_ms, end_ms) for _ in range(count))
    procid = str(rng.randint(300, 65000))
    lines, rows = [], []
    stats = {"json": 0, "logfmt": 0, "syslog": 0, "access": 0, "phrase": 0,
             "field_query": 0, "levels": {}}
    for ms in stamps:
        kind = rng.randrange(4)
        phrase = kind != 3 and rng.random() < args.phrase_share / 0.75
        level = rng.choice(["error"] * 4 + ["warn"]) if phrase else rng.choice(LEVELS)
        if kind == 0:
            msg = message(rng, phrase)
            user_id = rng.randint(1, 99999)
            duration = round(rng.random() * 900 + 0.1, 1)
            trace = f"{rng.getrandbits(128):032x}"
            obj = {"ts": rfc3339_ms(ms), "level": level, "msg": msg, "service": service,
                   "host": host, "user": {"id": user_id}, "duration_ms": duration,
                   "trace_id": trace}
            lines.append(json.dumps(obj, separators=(",", ":")))
            fields = {"duration_ms": duration, "trace_id": trace, "user.id": user_id}
            ts_ns, stats["json"] = ms * 1_000_000, stats["json"] + 1
        elif kind == 1:
            msg = message(rng, phrase)
            status = (rng.choice([500, 502, 503, 504]) if level == "error"
                      else rng.choice([400, 404, 409, 429]) if level == "warn"
                      else rng.choice([200, 200, 200, 201, 204]))
            duration = f"{rng.random() * 2:.3f}"
            request_id = f"{rng.getrandbits(48):012x}"
            lines.append(
                f'ts={rfc3339_ms(ms)} level={level} msg="{msg}" service={service} host={host} '
                f"status={status} duration={duration} request_id={request_id}"
            )
            fields = {"duration": duration, "request_id": request_id, "status": str(status)}
            ts_ns, stats["logfmt"] = ms * 1_000_000, stats["logfmt"] + 1
        elif kind == 2:
            msg = message(rng, phrase)
            facility = rng.choice(FACILITY_CODES)
            msgid = rng.choice(MSGIDS)
            pri = facility * 8 + SYSLOG_SEVERITY[level]
            lines.append(f"<{pri}>1 {rfc3339_ms(ms)} {host} {service} {procid} {msgid} - {msg}")
            fields = {"facility": FACILITY_NAMES[facility], "procid": procid}
            if msgid != "-":
                fields["msgid"] = msgid
            ts_ns, stats["syslog"] = ms * 1_000_000, stats["syslog"] + 1
        else:
            ip = f"10.{rng.randint(0, 31)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
            method = rng.choice(METHODS)
            path = rng.choice([
                f"/api/items/{rng.randint(1, 99999)}",
                f"/api/users/{rng.randint(1, 99999)}/orders",
                f"/api/orders/{rng.getrandbits(32):08x}",
                f"/api/search?q={rng.choice(WORDS)}&page={rng.randint(1, 20)}",
                f"/static/js/app.{rng.getrandbits(32):08x}.js",
                "/healthz", "/login", "/metrics",
            ])
            roll = rng.random()
            status = (200 if roll < 0.80 else rng.choice([201, 204, 301, 304]) if roll < 0.88
                      else rng.choice([404, 404, 400, 401, 403]) if roll < 0.97
                      else rng.choice([500, 502, 503]))
            size = rng.randint(0, 250000) if status < 300 else rng.randint(0, 2000)
            referer, agent = rng.choice(REFERERS), rng.choice(USER_AGENTS)
            line = (f'{ip} - - [{clf_time(ms)}] "{method} {path} HTTP/1.1" {status} {size} '
                    f'"{referer}" "{agent}"')
            lines.append(line)
            level, msg = level_for_status(status), line
            fields = {"bytes": size, "client": ip, "method": method, "path": path,
                      "protocol": "HTTP/1.1", "status": status, "user_agent": agent}
            if referer != "-":
                fields["referer"] = referer
            ts_ns, stats["access"] = (ms // 1000) * 1_000_000_000, stats["access"] + 1
        if PHRASE in msg.lower():
            stats["phrase"] += 1
        if service == args.field_service and level == "error":
            stats["field_query"] += 1
        stats["levels"][level] = stats["levels"].get(level, 0) + 1
        rows.append("\t".join((
            TENANT_ID, str(ts_ns), level, copy_escape(service), copy_escape(host),
            copy_escape(msg), "{}", copy_escape(compact(fields)),
        )))
    body = ("\n".join(lines) + "\n").encode()
    return {
        "index": index, "service": service, "host": host, "records": count,
        "raw_bytes": len(body), "gz": gzip.compress(body, compresslevel=6),
        "rows": ("\n".join(rows) + "\n").encode(), "stats": stats,
        "first_ms": stamps[0], "last_ms": stamps[-1],
    }


def _work(job):
    index, args = job
    return make_batch(index, args)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--records", type=int, default=1_000_000)
    p.add_argument("--batch", type=int, default=1000)
    p.add_argument("--out", required=True)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--now-ms", type=int, default=None, help="end of the hour covered (default: now)")
    p.add_argument("--span-secs", type=int, default=3600)
    p.add_argument("--phrase-share", type=float, default=0.05)
    p.add_argument("--field-service", default="api")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    p.add_argument("--no-rows", action="store_true", help="skip rows.copy (no COPY anchor)")
    args = p.parse_args()
    if args.records <= 0 or args.batch <= 0:
        sys.exit("--records and --batch must be positive")
    args.batches = -(-args.records // args.batch)
    if args.now_ms is None:
        args.now_ms = int(time.time() * 1000)
    os.makedirs(args.out, exist_ok=True)

    began = time.monotonic()
    totals = {"json": 0, "logfmt": 0, "syslog": 0, "access": 0, "phrase": 0, "field_query": 0}
    levels = {}
    records = raw_bytes = gz_bytes = offset = 0
    first_ms, last_ms = None, None
    jobs = ((i, args) for i in range(args.batches))
    with open(os.path.join(args.out, "bodies.bin"), "wb") as bodies, \
            open(os.path.join(args.out, "batches.jsonl"), "w") as index, \
            open(os.devnull if args.no_rows else os.path.join(args.out, "rows.copy"), "wb") as rows, \
            multiprocessing.Pool(max(1, args.workers)) as pool:
        for batch in pool.imap(_work, jobs, chunksize=4):
            bodies.write(batch["gz"])
            rows.write(batch["rows"])
            index.write(json.dumps({
                "index": batch["index"], "offset": offset, "length": len(batch["gz"]),
                "raw_bytes": batch["raw_bytes"], "records": batch["records"],
                "service": batch["service"], "host": batch["host"],
            }) + "\n")
            offset += len(batch["gz"])
            records += batch["records"]
            raw_bytes += batch["raw_bytes"]
            gz_bytes += len(batch["gz"])
            for key in totals:
                totals[key] += batch["stats"][key]
            for level, n in batch["stats"]["levels"].items():
                levels[level] = levels.get(level, 0) + n
            first_ms = batch["first_ms"] if first_ms is None else min(first_ms, batch["first_ms"])
            last_ms = batch["last_ms"] if last_ms is None else max(last_ms, batch["last_ms"])
    meta = {
        "records": records, "batches": args.batches, "batch": args.batch,
        "raw_bytes": raw_bytes, "gz_bytes": gz_bytes,
        "formats": {k: totals[k] for k in ("json", "logfmt", "syslog", "access")},
        "levels": levels,
        "phrase": PHRASE, "phrase_records": totals["phrase"],
        "field_service": args.field_service, "field_query_records": totals["field_query"],
        "first_ms": first_ms, "last_ms": last_ms, "now_ms": args.now_ms,
        # Whole seconds around the data, for the searches.
        "start_s": first_ms // 1000 - 1, "end_s": last_ms // 1000 + 2,
        "services": SERVICES, "hosts": len(HOSTS), "tenant_id": TENANT_ID,
        "rows_file": None if args.no_rows else "rows.copy",
        "generate_secs": round(time.monotonic() - began, 2),
    }
    with open(os.path.join(args.out, "meta.json"), "w") as f:
        json.dump(meta, f, indent=1)
    print(json.dumps(meta))


if __name__ == "__main__":
    main()
