"""Ships logs to Tidewatch with each real client and checks by search that they arrived
as expected; one PASS/FAIL/SKIP line per check, then `log-clients: N passed, M failed,
K skipped`; exits 1 on any FAIL. scripts/log-clients.sh starts the server and calls this.

    python main.py --base http://127.0.0.1:PORT --ingest-key K --read-key K \
        [--syslog-tcp PORT --syslog-udp PORT | --skip-syslog REASON] [--no-search]

--no-search ships only (against recorder.py, which prints what arrives)."""

import argparse
import logging
import sys

import loki_clients
import otlp_clients
import syslog_clients
from harness import Context, Report


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", required=True)
    parser.add_argument("--ingest-key", required=True)
    parser.add_argument("--read-key", default="")
    parser.add_argument("--syslog-tcp", type=int)
    parser.add_argument("--syslog-udp", type=int)
    parser.add_argument("--syslog-tls", type=int, help="the TLS listener's port (RFC 5425)")
    parser.add_argument("--syslog-tls-ca", help="PEM file the TLS listener's certificate is checked against")
    parser.add_argument("--skip-syslog")
    parser.add_argument("--no-search", action="store_true")
    parser.add_argument("--only", choices=["otlp", "loki", "syslog"], action="append")
    args = parser.parse_args()
    skip_syslog = args.skip_syslog
    if not skip_syslog and not (args.syslog_tcp and args.syslog_udp):
        skip_syslog = "no syslog ports given"
    ctx = Context(
        base=args.base.rstrip("/"),
        ingest_key=args.ingest_key,
        read_key=args.read_key,
        search=not args.no_search,
        syslog_tcp=args.syslog_tcp,
        syslog_udp=args.syslog_udp,
        syslog_tls=args.syslog_tls,
        syslog_tls_ca=args.syslog_tls_ca,
        skip_syslog=skip_syslog,
    )
    # The SDKs' own warnings (a failed export says why) go to stderr, prefixed.
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING, format="  [client log] %(name)s: %(message)s")
    report = Report()
    clients = {"otlp": otlp_clients, "loki": loki_clients, "syslog": syslog_clients}
    for name in args.only or clients:
        clients[name].run(report, ctx)
    return report.summary()


if __name__ == "__main__":
    sys.exit(main())
