"""Helpers shared by the log benchmark's scripts: /proc readings and percentiles.

Standard library only (Python 3.11).
"""
import http.client
import math
import os
import socket

CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_secs(pid):
    """utime + stime of one process, in seconds (None when it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return None
    # The command name is in parentheses and may contain spaces: split after it.
    fields = stat[stat.rindex(")") + 2 :].split()
    # fields[0] is field 3 (state); utime is field 14, stime field 15.
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def status_kib(pid, key):
    """A `Vm…` line of /proc/<pid>/status in KiB (VmHWM, VmRSS), None when missing."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def postgres_cpu_secs():
    """utime + stime of every process named `postgres` on the machine, in seconds.

    The server may serve other work too, so a difference of two readings is an upper
    bound on what the benchmark cost it.
    """
    total = 0.0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        if name != "postgres":
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        total += (int(fields[11]) + int(fields[12])) / CLK_TCK
    return total


def percentile(values, q):
    """Nearest-rank percentile (q in 0..100) of a non-empty list; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


class Connection(http.client.HTTPConnection):
    """A keep-alive HTTP/1.1 connection with TCP_NODELAY, so that no request or answer
    waits on Nagle's algorithm and delayed ACKs (a 40 ms stall on small writes)."""

    def connect(self):
        super().connect()
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
