#!/usr/bin/env python3
"""Prints the log benchmark's summary from its TSV results (target, metric, value): a
table with one column per target and the issue's target beside the metrics that have
one, then a verdict line per Tidewatch backend and target, and the ratio to the COPY
anchor. Values that are not numbers and do not fit a column (the storage methods) are
printed as notes under the table.
"""
import argparse
import collections

COLUMN = 20


def number(text):
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("results")
    p.add_argument("--target-records-per-sec", type=float, default=150000)
    p.add_argument("--target-search-p50-ms", type=float, default=100)
    p.add_argument("--target-bytes-per-record", type=float, default=60)
    args = p.parse_args()

    rows = collections.OrderedDict()
    targets = []
    for line in open(args.results):
        target, metric, value = line.rstrip("\n").split("\t", 2)
        if target not in targets:
            targets.append(target)
        rows.setdefault(metric, {})[target] = value

    goals = {
        "records_per_sec": f">= {args.target_records_per_sec:,.0f} (pg)",
        "phrase_p50_ms": f"<= {args.target_search_p50_ms:g}",
        "field_p50_ms": f"<= {args.target_search_p50_ms:g}",
        "histogram_p50_ms": f"<= {args.target_search_p50_ms:g}",
        "bytes_stored_per_record": f"<= {args.target_bytes_per_record:g}",
    }
    notes = []
    table = collections.OrderedDict()
    for metric, values in rows.items():
        wide = [t for t, v in values.items() if number(v) is None and len(v) >= COLUMN]
        if wide:
            notes += [f"{t}: {metric}: {values[t]}" for t in wide]
            values = {t: v for t, v in values.items() if t not in wide}
            if not values:
                continue
        table[metric] = values

    width = max([len(m) for m in table] + [6]) + 2
    print("metric".ljust(width) + "".join(t.rjust(COLUMN) for t in targets) + "   target (Tidewatch)")
    for metric, values in table.items():
        cells = "".join(values.get(t, "")[: COLUMN - 1].rjust(COLUMN) for t in targets)
        print(metric.ljust(width) + cells + ("   " + goals[metric] if metric in goals else ""))
    for note in notes:
        print(f"note: {note}")

    def value(metric, target):
        return number(rows.get(metric, {}).get(target))

    print()
    copy_rps = value("records_per_sec", "postgres-copy")
    for t in targets:
        if not t.startswith("tidewatch"):
            continue
        rps = value("records_per_sec", t)
        if rps is not None:
            if t == "tidewatch-pg":
                verdict = "met" if rps >= args.target_records_per_sec else "NOT met"
                print(f"{t}: {rps:,.0f} records/s acknowledged against >= {args.target_records_per_sec:,.0f}: {verdict}")
            else:
                print(f"{t}: {rps:,.0f} records/s acknowledged (the target is for PostgreSQL)")
            if copy_rps:
                print(f"{t}: {rps:,.0f} / COPY's {copy_rps:,.0f} rows/s = {rps / copy_rps:.3f}")
        for query in ("phrase", "field", "histogram"):
            p50 = value(f"{query}_p50_ms", t)
            if p50 is not None:
                verdict = "met" if p50 <= args.target_search_p50_ms else "NOT met"
                print(f"{t}: {query} search p50 {p50:g} ms against <= {args.target_search_p50_ms:g} ms: {verdict}")
        stored = value("bytes_stored_per_record", t)
        if stored is not None:
            verdict = "met" if stored <= args.target_bytes_per_record else "NOT met"
            print(f"{t}: {stored:g} bytes stored per record against <= {args.target_bytes_per_record:g}: {verdict}")


if __name__ == "__main__":
    main()
