#!/usr/bin/env python3
"""The PostgreSQL anchor: raw COPY of the corpus's normalised rows (rows.copy, COPY text
format, written by generate.py) into a fresh table

  log_rows (tenant_id text, ts_ns bigint, level text, service text, host text,
            message text, labels jsonb, fields jsonb)
  btree (tenant_id, ts_ns), GIN (to_tsvector('simple', message))

created with its indexes before the load. One `\\copy … FROM file` through psql (client
side, one stream, autocommit: one transaction), timed from psql's start to its exit.
The database given must be empty and is left for the caller to drop. Prints one JSON
object: rows, wall seconds, rows/s, the table's size with its indexes and per row, and
the CPU of all postgres processes over the load (an upper bound: the server may serve
other work).
"""
import argparse
import json
import os
import re
import resource
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import postgres_cpu_secs  # noqa: E402

SCHEMA = """
CREATE TABLE log_rows (
    tenant_id text NOT NULL,
    ts_ns bigint NOT NULL,
    level text NOT NULL,
    service text NOT NULL,
    host text NOT NULL,
    message text NOT NULL,
    labels jsonb NOT NULL,
    fields jsonb NOT NULL
);
CREATE INDEX log_rows_tenant_ts ON log_rows (tenant_id, ts_ns);
CREATE INDEX log_rows_message_fts ON log_rows USING gin (to_tsvector('simple', message));
"""


def psql(url, *args, timeout):
    out = subprocess.run(["psql", "-XAtq", "-v", "ON_ERROR_STOP=1", url, *args],
                         capture_output=True, text=True, timeout=timeout)
    if out.returncode != 0:
        raise RuntimeError(f"psql {' '.join(args)[:80]}: {out.stderr.strip()}")
    return out.stdout


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--db-url", required=True, help="an empty database, postgres://…")
    p.add_argument("--corpus", required=True, help="the directory generate.py wrote")
    p.add_argument("--timeout", type=float, default=1800)
    args = p.parse_args()
    rows_file = os.path.abspath(os.path.join(args.corpus, "rows.copy"))
    if "'" in rows_file:
        sys.exit(f"a quote in {rows_file}")
    with open(os.path.join(args.corpus, "meta.json")) as f:
        expected = json.load(f)["records"]

    psql(args.db_url, "-c", SCHEMA, timeout=60)
    pg_before = postgres_cpu_secs()
    children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    # Without -q: psql reports "COPY <n>".
    out = subprocess.run(["psql", "-XAt", "-v", "ON_ERROR_STOP=1", args.db_url, "-c",
                          f"\\copy log_rows FROM '{rows_file}' WITH (FORMAT text)"],
                         capture_output=True, text=True, timeout=args.timeout)
    wall = time.monotonic() - started
    children_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    pg_after = postgres_cpu_secs()
    if out.returncode != 0:
        sys.exit(f"copy_anchor.py: COPY failed: {out.stderr.strip()}")
    match = re.search(r"COPY (\d+)", out.stdout)
    copied = int(match.group(1)) if match else None
    count, table_bytes, heap_bytes = psql(
        args.db_url, "-F", " ", "-c",
        "SELECT count(*), pg_total_relation_size('log_rows'), pg_relation_size('log_rows') FROM log_rows",
        timeout=600).split()
    count, table_bytes, heap_bytes = int(count), int(table_bytes), int(heap_bytes)
    psql_cpu = (children_after.ru_utime + children_after.ru_stime
                - children_before.ru_utime - children_before.ru_stime)
    print(json.dumps({
        "rows": count,
        "rows_reported_by_copy": copied,
        "rows_expected": expected,
        "wall_secs": wall,
        "rows_per_sec": count / wall if wall > 0 else None,
        "table_bytes": table_bytes,
        "heap_bytes": heap_bytes,
        "bytes_per_row": table_bytes / count if count else None,
        "postgres_cpu_secs": pg_after - pg_before,
        "psql_cpu_secs": psql_cpu,
    }))


if __name__ == "__main__":
    try:
        main()
    except (RuntimeError, subprocess.TimeoutExpired) as e:
        sys.exit(f"copy_anchor.py: {e}")
