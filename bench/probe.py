#!/usr/bin/python3
"""Low-rate latency probe: one message every INTERVAL seconds over one SMTP session, timing the
end of DATA ("." CRLF sent) to the 250 reply.

  probe.py --port P [--size N] [--interval 0.05] [--max-seconds S] --out FILE

Runs until SIGTERM or MAX_SECONDS, then writes JSON to FILE:
  {"sent": n, "accepted": n, "errors": [first few], "lat_ms": [...]}
Commands are sent one at a time (no pipelining); the body goes out before the timer starts, so
the figure is the server's end-of-data work (queue commit, filtering) plus one round trip. A
reply slower than INTERVAL delays the next message rather than causing a burst. The session is
re-opened after any error.
"""

import argparse
import json
import os
import signal
import socket
import sys
import time

stop = []


class SmtpError(Exception):
    pass


def read_reply(sock, buf):
    """Read one (multi-line) reply; returns (code, rest_of_buffer)."""
    while True:
        while b"\n" in buf:
            line, _, buf = buf.partition(b"\n")
            if len(line) >= 4 and line[3:4] == b"-":
                continue
            return int(line[:3]), buf
        data = sock.recv(4096)
        if not data:
            raise SmtpError("connection closed")
        buf += data


def session(port, host="127.0.0.1"):
    s = socket.create_connection((host, port), 10)
    s.settimeout(30)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    code, buf = read_reply(s, b"")
    if code != 220:
        raise SmtpError(f"banner {code}")
    s.sendall(b"EHLO probe.bench.test\r\n")
    code, buf = read_reply(s, buf)
    if code != 250:
        raise SmtpError(f"EHLO {code}")
    return s, buf


def body(size, n):
    head = (f"From: <probe@bench.test>\r\nTo: <probe@example.test>\r\n"
        f"Subject: latency probe {n}\r\n"
        f"Message-ID: <probe.{n}.{time.time_ns()}@bench.test>\r\n\r\n")
    line = b"x" * 78 + b"\r\n"
    data = head.encode()
    while len(data) < size:
        data += line
    return data


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--size", type=int, default=2048)
    ap.add_argument("--interval", type=float, default=0.05)
    ap.add_argument("--max-seconds", type=float, default=600)
    ap.add_argument("--rcpt", default="probe@example.test")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    signal.signal(signal.SIGTERM, lambda s, f: stop.append(1))
    print("started", flush=True)     # the driver starts the load only after this line
    res = {"sent": 0, "accepted": 0, "errors": [], "nerrors": 0, "lat_ms": []}
    end = time.monotonic() + a.max_seconds
    sock, buf = None, b""
    nxt = time.monotonic()
    n = 0
    while not stop and time.monotonic() < end:
        now = time.monotonic()
        if now < nxt:
            time.sleep(min(nxt - now, 0.05))     # short naps: SIGTERM is seen promptly
            continue
        nxt = max(nxt + a.interval, time.monotonic())
        n += 1
        try:
            if sock is None:
                sock, buf = session(a.port)
            for cmd, want in ((b"MAIL FROM:<probe@bench.test>\r\n", 250),
                    (f"RCPT TO:<{a.rcpt}>\r\n".encode(), 250), (b"DATA\r\n", 354)):
                sock.sendall(cmd)
                code, buf = read_reply(sock, buf)
                if code != want:
                    raise SmtpError(f"{cmd.split()[0].decode()} -> {code}")
            sock.sendall(body(a.size, n))
            res["sent"] += 1
            t0 = time.perf_counter()
            sock.sendall(b".\r\n")
            code, buf = read_reply(sock, buf)
            dt = (time.perf_counter() - t0) * 1000
            if code != 250:
                raise SmtpError(f"end of data -> {code}")
            res["accepted"] += 1
            res["lat_ms"].append(round(dt, 3))
        except (OSError, SmtpError) as e:
            res["nerrors"] += 1
            if len(res["errors"]) < 5:
                res["errors"].append(str(e))
            if sock is not None:
                sock.close()
            sock, buf = None, b""
    if sock is not None:
        try:
            sock.sendall(b"QUIT\r\n")
            read_reply(sock, buf)
        except (OSError, SmtpError):
            pass
        sock.close()
    with open(a.out + ".tmp", "w") as f:
        json.dump(res, f)
    os.replace(a.out + ".tmp", a.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
