#!/usr/bin/python3
"""Hold many idle SMTP connections: connect COUNT sockets to 127.0.0.1:PORT, read each banner,
then keep them all open until stdin closes (or MAX_SECONDS).

  idle.py --port P [--count 5000] [--max-seconds 180] [--setup-seconds 120]

Raises RLIMIT_NOFILE as far as the hard limit allows. At most 256 connects are in flight at once
so that the listen backlog is not the thing being measured. Prints one line when the set-up phase
is over, then waits:
  ready open=N banners=N failed=N elapsed=S first_error=...
"""

import argparse
import errno
import resource
import selectors
import socket
import sys
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--count", type=int, default=5000)
    ap.add_argument("--max-seconds", type=float, default=180)
    ap.add_argument("--setup-seconds", type=float, default=120)
    a = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = a.count + 64
    if soft < want:
        new = want if hard == resource.RLIM_INFINITY else min(want, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
        if new < want:
            print(f"idle: RLIMIT_NOFILE hard limit {hard} < {want}", file=sys.stderr)
    t0 = time.monotonic()
    setup_end = t0 + a.setup_seconds
    sel = selectors.DefaultSelector()
    held, failed, started, first_error = [], 0, 0, ""
    inflight = {}
    while (started < a.count or inflight) and time.monotonic() < setup_end:
        while started < a.count and len(inflight) < 256:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setblocking(False)
            started += 1
            try:
                rc = s.connect_ex(("127.0.0.1", a.port))
            except OSError as e:
                rc = e.errno
            if rc not in (0, errno.EINPROGRESS):
                failed += 1
                first_error = first_error or f"connect: {errno.errorcode.get(rc, rc)}"
                s.close()
                continue
            inflight[s] = b""
            sel.register(s, selectors.EVENT_READ)
        for key, _ in sel.select(timeout=0.5):
            s = key.fileobj
            try:
                data = s.recv(4096)
            except OSError as e:
                data, err = b"", e.strerror
            else:
                err = "closed before banner"
            if data:
                inflight[s] += data
                if b"\n" not in inflight[s]:
                    continue
            sel.unregister(s)
            buf = inflight.pop(s)
            if buf.startswith(b"220"):
                held.append(s)
            else:
                failed += 1
                if not first_error:
                    first_error = repr(buf[:80]) if buf else err
                s.close()
    timed_out = len(inflight)
    for s in list(inflight):
        sel.unregister(s)
        s.close()
    failed += timed_out
    if timed_out and not first_error:
        first_error = f"{timed_out} banners not received within {a.setup_seconds:g}s"
    print(f"ready open={len(held)} banners={len(held)} failed={failed} "
        f"elapsed={time.monotonic() - t0:.2f} first_error={first_error or '-'}", flush=True)
    # Hold until the driver closes stdin (bounded).
    sel2 = selectors.DefaultSelector()
    sel2.register(sys.stdin, selectors.EVENT_READ)
    end = time.monotonic() + a.max_seconds
    while time.monotonic() < end:
        if sel2.select(timeout=1) and not sys.stdin.buffer.read1(4096):
            break
    for s in held:
        s.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
