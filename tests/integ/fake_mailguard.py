#!/usr/bin/python3
"""A stand-in for build/bin/mailguard that follows the daemon contract closely enough to test the
integration framework (test_framework.py) and the benchmark rig (MAILGUARD_BIN=... make bench)
without the real daemon. Not an MTA: no spool, no durability, no filtering.

  fake_mailguard.py -c CONFDIR -d   supervisor in the foreground, logging to stderr; forks one
                                    "smtpd" role child that accepts mail and relays recipients of
                                    domains.d/<domain>.conf to their transport (after the 250)
  fake_mailguard.py -n -c CONFDIR   checks that mailguard.conf exists and has config_version = 1
  fake_mailguard.py -P -c CONFDIR   prints mailguard.conf's settings
FAKE_MAILGUARD_MODE: ok (default) | fail (exit 1 at start-up) | hang (never ready) |
                     stubborn (ignore SIGTERM) | orphan (role survives the supervisor)
"""

import asyncio
import concurrent.futures
import os
import signal
import smtplib
import socket
import sys
import time
from pathlib import Path


def log(level, text, role="master"):
    t = time.time()
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + ".%03dZ" % (int(t * 1000) % 1000)
    sys.stderr.write(f"{stamp} mailguard/{role}[{os.getpid()}]: {level}: {text}\n")
    sys.stderr.flush()


def read_kv(path):
    out = {}
    for n, line in enumerate(Path(path).read_text().splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if "=" not in line:
            raise ValueError(f"{path}:{n}: expected key = value, found {line!r}")
        k, v = line.split("=", 1)
        out[k.strip()] = v.strip()
    return out


def load(confdir):
    conf = read_kv(confdir / "mailguard.conf")
    if conf.get("config_version") != "1":
        raise ValueError(f"{confdir / 'mailguard.conf'}:1: expected config_version = 1")
    domains = {}
    for f in sorted((confdir / "domains.d").glob("*.conf")):
        domains[f.stem.lower()] = read_kv(f)
    return conf, domains


def parse_transport(t):
    host, _, port = t.rpartition(":")
    return host.strip("[]"), int(port)


def smtpd_role(sock, confdir, domains, stubborn):
    """The role child: an aiosmtpd server relaying through a thread pool."""
    from aiosmtpd.smtp import SMTP
    import logging
    logging.getLogger("mail.log").setLevel(logging.CRITICAL)
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=20)

    def relay(mail_from, rcpt, data):
        host, port = parse_transport(domains[rcpt.rpartition("@")[2].lower()]["transport"])
        for attempt in range(3):
            try:
                with smtplib.SMTP(host, port, local_hostname="fake.mailguard", timeout=30) as s:
                    s.sendmail(mail_from, [rcpt], data)
                return
            except (OSError, smtplib.SMTPException) as e:
                log("warn", f"relay to {host}:{port} failed: {e}", "delivery")
                time.sleep(0.2 * (attempt + 1))

    class Handler:
        async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
            if address.rpartition("@")[2].lower() not in domains:
                return "554 5.7.1 relay denied"
            envelope.rcpt_tos.append(address)
            return "250 2.1.5 OK"

        async def handle_DATA(self, server, session, envelope):
            for r in envelope.rcpt_tos:
                pool.submit(relay, envelope.mail_from, r, envelope.original_content)
            return "250 2.0.0 OK queued"

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    server = loop.run_until_complete(loop.create_server(
        lambda: SMTP(Handler(), hostname="mx.test.local", ident="fake-mailguard",
            decode_data=False), sock=sock, backlog=4096))
    if not stubborn:
        loop.add_signal_handler(signal.SIGTERM, loop.stop)
    log("info", "smtpd role started", "smtpd")
    loop.run_forever()
    server.close()
    pool.shutdown(wait=True)
    os._exit(0)


def main():
    args = sys.argv[1:]
    confdir = None
    check = "-n" in args
    show = "-P" in args
    if "-c" in args:
        confdir = Path(args[args.index("-c") + 1]).resolve()
    if confdir is None:
        print("usage: fake_mailguard.py [-n] -c CONFDIR [-d]", file=sys.stderr)
        return 2
    try:
        conf, domains = load(confdir)
    except (OSError, ValueError) as e:
        print(str(e), file=sys.stderr)
        return 1
    if show:
        for k, v in conf.items():
            print(f"{k} = {v}")
    if check or show:
        return 0
    mode = os.environ.get("FAKE_MAILGUARD_MODE", "ok")
    log("info", f"starting (fake) with {confdir}")
    if mode == "fail":
        log("crit", f"{confdir / 'mailguard.conf'}:3: fatal: configured to fail (fake)")
        return 1
    host, _, port = conf.get("listen", "127.0.0.1:0").rpartition(":")
    host = host.strip("[]")
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, int(port)))
    sock.listen(4096)
    state = confdir / conf.get("state_dir", "state")
    (confdir / conf.get("spool_dir", "spool")).mkdir(parents=True, exist_ok=True)
    state.mkdir(parents=True, exist_ok=True)
    stubborn = mode == "stubborn"
    real_port = sock.getsockname()[1]
    child = os.fork()
    if child == 0:
        if mode == "orphan":
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
        smtpd_role(sock, confdir, domains, stubborn or mode == "orphan")
    sock.close()
    if mode == "hang":
        log("info", "hanging before ready (fake)")
    else:
        tmp = state / "listeners.tmp"
        tmp.write_text(f"smtp {host} {real_port}\n")
        os.replace(tmp, state / "listeners")
        log("info", f"mailguard ready (fake), {len(domains)} domain(s)")
    stopping = []

    def on_term(signum, frame):
        if stubborn:
            log("info", "ignoring SIGTERM (fake, stubborn)")
            return
        stopping.append(1)
        log("info", "SIGTERM: stopping")
        if mode == "orphan":
            os._exit(0)             # leaves the role behind: a bug the framework must catch
        try:
            os.kill(child, signal.SIGTERM)
        except ProcessLookupError:
            pass

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGHUP, lambda s, f: log("info", "SIGHUP: reloading configuration"))
    while True:
        try:
            pid, status = os.waitpid(child, 0)
        except ChildProcessError:
            return 0 if stopping else 1
        if stopping:
            log("info", "stopped")
            return 0
        log("err", f"role smtpd pid {pid} died with status {status}; stopping")
        return 1


if __name__ == "__main__":
    sys.exit(main())
