#!/usr/bin/env python3
"""Storage readings for the log benchmark, while the server runs.

  storage.py --pg-url URL        pg_total_relation_size('log_blocks') (null when the table
                                 does not exist) and pg_database_size(current_database()),
                                 through psql
  storage.py --sqlite FILE       the sizes of FILE, FILE-wal and FILE-shm (a checkpoint
                                 cannot be forced from outside while the server runs)

With --settle, readings are repeated every --interval seconds until two in a row agree
(or --max-wait passes), so a server that writes what it acknowledged a little later is
measured after it has. Prints one JSON object.
"""
import argparse
import json
import os
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
    p.add_argument("--interval", type=float, default=2)
    p.add_argument("--max-wait", type=float, default=30)
    args = p.parse_args()
    read = (lambda: pg_reading(args.pg_url)) if args.pg_url else (lambda: sqlite_reading(args.sqlite))
    started = time.monotonic()
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
