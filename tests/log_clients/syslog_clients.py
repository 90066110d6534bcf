"""Syslog to Tidewatch's TCP, UDP and TLS listeners: util-linux's `logger` (RFC 5424 over
TCP, both newline-framed and with its --octet-count; RFC 3164 over UDP), octet-counted
RFC 5424 frames written by hand (RFC 6587 §3.4.1), two in one write, and the same over
TLS (RFC 5425) through Python's ssl module (OpenSSL), the server's certificate checked
against the run's CA file and host name."""

import datetime
import os
import socket
import ssl
import subprocess

from harness import AnyOf, Context, Report, expect_record, guarded

TCP_LF = "Failed password for root from 10.0.0.9"
TCP_OCTET = "Failed password for admin from 10.0.0.9"
UDP_3164 = "Failed password for root from 10.0.0.10"
HAND_INFO = "Accepted publickey for deploy from 10.0.0.11 port 52144 ssh2"
HAND_ERROR = "error: maximum authentication attempts exceeded for root from 10.0.0.12"
TLS_INFO = "Accepted publickey for deploy from 10.0.0.21 port 52144 ssh2 over TLS"
TLS_ERROR = "error: maximum authentication attempts exceeded for root from 10.0.0.22 over TLS"


def _logger(report: Report, name: str, args: list, message: str) -> None:
    command = ["logger", "--server", "127.0.0.1", *args, "-t", "sshd", "-p", "auth.warning", message]
    # RFC 3164 dates carry no zone: logger writes local time, so make that UTC.
    done = subprocess.run(command, capture_output=True, text=True, timeout=10, env={**os.environ, "TZ": "UTC"})
    problems = [] if done.returncode == 0 else [f"{' '.join(command)} exited {done.returncode}: {done.stderr.strip()}"]
    report.check(f"{name} send", problems, " ".join(command[1:-1]))


def hand_frames(info: str = HAND_INFO, error: str = HAND_ERROR) -> bytes:
    now = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    messages = [
        # auth (4) * 8 + info (6) = 38; structured data, then the message.
        f'<38>1 {now} web-9 sshd 4242 - [origin ip="10.0.0.11"] {info}',
        # auth * 8 + err (3) = 35; no structured data.
        f"<35>1 {now} web-9 sshd 4242 - - {error}",
    ]
    frames = b""
    for message in messages:
        encoded = message.encode()
        frames += str(len(encoded)).encode() + b" " + encoded
    return frames


def ship_hand_frames(report: Report, ctx: Context) -> None:
    frames = hand_frames()
    with socket.create_connection(("127.0.0.1", ctx.syslog_tcp), timeout=5) as connection:
        connection.sendall(frames)
        connection.shutdown(socket.SHUT_WR)
        # Wait for the server to close its side (or time out): everything was read.
        connection.settimeout(3)
        try:
            while connection.recv(4096):
                pass
        except socket.timeout:
            pass
    report.ok("syslog-octet-hand send", f"{len(frames)} bytes, 2 frames in one write")


def ship_tls_frames(report: Report, ctx: Context) -> None:
    tls = ssl.create_default_context(cafile=ctx.syslog_tls_ca)
    frames = hand_frames(TLS_INFO, TLS_ERROR)
    with socket.create_connection(("127.0.0.1", ctx.syslog_tls), timeout=5) as raw:
        connection = tls.wrap_socket(raw, server_hostname="localhost")
        connection.sendall(frames)
        version = connection.version()
        # As syslog senders end: the write side closed, then what the server still sends
        # (TLS 1.3 session tickets) read until it closes, so no reset can cut the frames.
        connection.shutdown(socket.SHUT_WR)
        connection.settimeout(3)
        try:
            while connection.recv(4096):
                pass
        except (socket.timeout, OSError):
            pass
    report.ok("syslog-tls send", f"{len(frames)} bytes over {version}, certificate verified")


def run(report: Report, ctx: Context) -> None:
    if ctx.skip_syslog:
        report.skip("syslog", ctx.skip_syslog)
        return
    tcp, udp = str(ctx.syslog_tcp), str(ctx.syslog_udp)
    guarded(report, "syslog-tcp-5424 send", lambda: _logger(report, "syslog-tcp-5424", ["--port", tcp, "--tcp", "--rfc5424"], TCP_LF))
    guarded(
        report, "syslog-tcp-octet send",
        lambda: _logger(report, "syslog-tcp-octet", ["--port", tcp, "--tcp", "--octet-count", "--rfc5424"], TCP_OCTET),
    )
    guarded(report, "syslog-udp-3164 send", lambda: _logger(report, "syslog-udp-3164", ["--port", udp, "--udp", "--rfc3164"], UDP_3164))
    guarded(report, "syslog-octet-hand send", lambda: ship_hand_frames(report, ctx))
    if ctx.syslog_tls:
        guarded(report, "syslog-tls send", lambda: ship_tls_frames(report, ctx))
    else:
        report.skip("syslog-tls", "no TLS listener in this run")

    # logger writes gethostname() as HOSTNAME, cut at the first dot for RFC 3164.
    full = socket.gethostname()
    host = AnyOf(full, full.split(".")[0])
    sshd = {"service": "sshd", "host": host}
    expect_record(report, ctx, "syslog-tcp-5424 record", ["service:sshd", '"Failed password for root"'], TCP_LF,
                  {**sshd, "level": "warn"})
    expect_record(report, ctx, "syslog-tcp-octet record", ["service:sshd"], TCP_OCTET, {**sshd, "level": "warn"})
    expect_record(report, ctx, "syslog-udp-3164 record", ["service:sshd"], UDP_3164, {**sshd, "level": "warn"})
    expect_record(report, ctx, "syslog-octet-hand info", ["service:sshd"], HAND_INFO,
                  {"service": "sshd", "host": "web-9", "level": "info"})
    expect_record(report, ctx, "syslog-octet-hand error", ["service:sshd"], HAND_ERROR,
                  {"service": "sshd", "host": "web-9", "level": "error"})
    if ctx.syslog_tls:
        expect_record(report, ctx, "syslog-tls info", ["service:sshd"], TLS_INFO,
                      {"service": "sshd", "host": "web-9", "level": "info"})
        expect_record(report, ctx, "syslog-tls error", ["service:sshd"], TLS_ERROR,
                      {"service": "sshd", "host": "web-9", "level": "error"})
