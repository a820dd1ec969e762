#!/usr/bin/python3
"""A tiny loopback back-end mail server for `make run` (tests/tools/run-default.sh).

  backend-sink.py [--listen 127.0.0.1:2526] [--dir run/backend]

Accepts every message (aiosmtpd, Debian's python3-aiosmtpd) and stores it as one .eml file in
--dir, written atomically (temporary name, then rename) with Return-Path and X-Envelope-To
headers prepended, and logs one line per message on stdout. Loopback addresses only. Stops on
SIGTERM or SIGINT.
"""

import argparse
import asyncio
import itertools
import logging
import os
import signal
import sys
import time
from pathlib import Path


class Store:
    def __init__(self, directory):
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.seq = itertools.count(1)

    async def handle_DATA(self, server, session, envelope):
        n = next(self.seq)
        name = time.strftime("%Y%m%d-%H%M%S", time.gmtime()) + f"-{os.getpid()}-{n:06d}.eml"
        head = f"Return-Path: <{envelope.mail_from}>\r\n"
        head += f"X-Envelope-To: {', '.join(envelope.rcpt_tos)}\r\n"
        data = head.encode() + (envelope.original_content or envelope.content or b"")
        tmp = self.dir / f".{name}.tmp"
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.dir / name)
        peer = session.peer[0] if session.peer else "?"
        print(f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} stored {name} "
            f"from=<{envelope.mail_from}> to={','.join(envelope.rcpt_tos)} "
            f"size={len(data)} client={peer}", flush=True)
        return "250 2.0.0 OK stored"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--listen", default="127.0.0.1:2526")
    ap.add_argument("--dir", default="run/backend")
    a = ap.parse_args()
    host, _, port = a.listen.rpartition(":")
    host = host.strip("[]")
    if host not in ("127.0.0.1", "::1", "localhost"):
        print(f"backend-sink: refusing to listen on {host}: loopback only", file=sys.stderr)
        return 2
    from aiosmtpd.smtp import SMTP
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    store = Store(a.dir)
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        server = loop.run_until_complete(loop.create_server(
            lambda: SMTP(store, hostname="backend.test.local", ident="MailGuard run back-end",
                decode_data=False, data_size_limit=64 << 20, enable_SMTPUTF8=True),
            host=host, port=int(port)))
    except OSError as e:
        print(f"backend-sink: cannot listen on {a.listen}: {e.strerror}", file=sys.stderr)
        return 1
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, loop.stop)
    print(f"backend-sink: listening on {a.listen}, storing into {store.dir}", flush=True)
    loop.run_forever()
    server.close()
    loop.run_until_complete(server.wait_closed())
    print("backend-sink: stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
