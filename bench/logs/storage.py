#!/usr/bin/env python3
"""Storage readings for the log benchmark, while the server runs.

  storage.py --pg-url URL        pg_total_relation_size('log_blocks') (null when the table
                                 does not exist) and pg_database_size(current_database()),
                                 through psql
  storage.py --sqlite FILE       the sizes of FILE, FILE-wal and FILE-shm (a checkpoint
                                 cannot be forced from outside while the server runs)

With --settle, readings are repeated every --interval seconds until two in a row agree
(or --max-wait passes), so a server that writes what it acknowledged a little later is
measured after it has.

With --compacted, it first waits (at most --max-wait) until no block is left to compact
(none uncompacted, no time partition with several small compacted blocks), then measures the space the live rows take, as a server that
keeps running reuses what compaction freed: PostgreSQL after VACUUM FULL log_blocks;
SQLite the database's pages in use ((page_count − freelist_count) × page_size after a
passive WAL checkpoint, through Python's sqlite3). Prints one JSON object.
"""
import argparse
import json
import os
import sqlite3
import subprocess
import sys
import time


def pg_reading(url):
    sql = ("SELECT coalesce(pg_total_relation_size(to_regclass('log_blocks'))::text, 'null'), "
           "pg_database_size(current_database())")
    out = subprocess.run(["psql", "-XAtq", "-F", " ", "-v", "ON_ERROR_STOP=1", url, "-c", sql],
                         capture_output=True, text=True, timeout=60)
    if out.returncode != 0:
        raise RuntimeError(out.stderr.strip())
    table, database = out.stdout.split()
    return {"log_blocks_bytes": None if table == "null" else int(table), "database_bytes": int(database)}


def pg_sql(url, sql):
    out = subprocess.run(["psql", "-XAtq", "-v", "ON_ERROR_STOP=1", url, "-c", sql],
                         capture_output=True, text=True, timeout=600)
    if out.returncode != 0:
        raise RuntimeError(out.stderr.strip())
    return out.stdout.strip()


def uncompacted(args):
    """Blocks still to compact: uncompacted ones, plus the small compacted blocks of time
    partitions that have several (the compactor merges those next)."""
    sql = ("SELECT (SELECT count(*) FROM log_blocks WHERE compacted = 0) + "
           "(SELECT coalesce(sum(n), 0) FROM (SELECT count(*) AS n FROM log_blocks "
           "WHERE compacted = 1 AND record_count < 20000 GROUP BY min_ts_ns / 300000000000 "
           "HAVING count(*) > 1) AS partitions)")
    if args.pg_url:
        return int(pg_sql(args.pg_url, sql))
    with sqlite3.connect(args.sqlite, timeout=30) as db:
        return db.execute(sql).fetchone()[0]


def compacted_reading(args):
    if args.pg_url:
        pg_sql(args.pg_url, "VACUUM FULL log_blocks")
        return pg_reading(args.pg_url)
    with sqlite3.connect(args.sqlite, timeout=30) as db:
        db.execute("PRAGMA wal_checkpoint(PASSIVE)")
        pages = db.execute("PRAGMA page_count").fetchone()[0]
        free = db.execute("PRAGMA freelist_count").fetchone()[0]
        size = db.execute("PRAGMA page_size").fetchone()[0]
    return {"pages_in_use_bytes": (pages - free) * size, "free_pages": free, **sqlite_reading(args.sqlite)}


def sqlite_reading(path):
    def size(p):
        try:
            return os.path.getsize(p)
        except OSError:
            return 0
    return {"db_bytes": size(path), "wal_bytes": size(path + "-wal"), "shm_bytes": size(path + "-shm"),
            "db_plus_wal_bytes": size(path) + size(path + "-wal")}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--pg-url")
    which.add_argument("--sqlite")
    p.add_argument("--settle", action="store_true")
    p.add_argument("--compacted", action="store_true")
    p.add_argument("--interval", type=float, default=2)
    p.add_argument("--max-wait", type=float, default=30)
    args = p.parse_args()
    read = (lambda: pg_reading(args.pg_url)) if args.pg_url else (lambda: sqlite_reading(args.sqlite))
    started = time.monotonic()
    if args.compacted:
        left = uncompacted(args)
        while left and time.monotonic() - started < args.max_wait:
            time.sleep(args.interval)
            left = uncompacted(args)
        waited = round(time.monotonic() - started, 1)
        reading = compacted_reading(args)
        reading.update({"uncompacted_blocks": left, "compaction_wait_secs": waited,
                        "measure_secs": round(time.monotonic() - started - waited, 1)})
        print(json.dumps(reading))
        return
    reading = read()
    settled = not args.settle
    while not settled and time.monotonic() - started < args.max_wait:
        time.sleep(args.interval)
        again = read()
        settled = again == reading
        reading = again
    reading["settled"] = settled
    reading["settle_secs"] = round(time.monotonic() - started, 1)
    print(json.dumps(reading))


if __name__ == "__main__":
    try:
        main()
    except Exception as e:
        sys.exit(f"storage.py: {e}")
