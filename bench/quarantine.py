#!/usr/bin/python3
"""Quarantine bench (issue G, `make bench-quarantine`): fill a real daemon's quarantine with many
messages, then time searches through `mailguardctl queue quarantine search` and, when the admin
role serves it, the JSON API (GET /api/v1/quarantine?...).

  BUILD=build bench/quarantine.py [--messages 100000] [--fill-budget 420] [--searches 40]
                                  [--threads 12] [--no-restart]

Fill: a real MailGuard (tests/integ/mgtest.py: temporary config, spool and state, test_mode)
with 20 protected domains (spam_quarantine 6, spam_reject 30), DNS-using layers off, and score
overrides DKIM_NONE 7, MSGID_MISSING 3, DATE_MISSING 5, so every message is quarantined with a
score of 7, 10, 12 or 15. Python SMTP clients (--threads persistent connections from 127.0.0.x)
send as fast as the daemon answers 250; recipients u0..u499 at d0..d19.test, 2000 senders,
subjects of 3 random words and a number. Bounded: sending stops at --messages or after
--fill-budget seconds (the figures say how many were stored).

Search: each query of QUERIES is run --searches times in turn (round robin); one sample is the
wall time of one `mailguardctl ... --json` process (start, control socket through the
supervisor, search in the queue role, JSON out) or of one API request on a kept-alive HTTPS
connection with an API token. Prints p50/p90/p99/max per query and over all. Then (unless
--no-restart) the time a restart takes to index the quarantine again from its Berkeley DB
index. Everything listens on 127.0.0.1; the daemon and its files are removed at the end.
"""

import argparse
import http.client
import json
import os
import random
import re
import ssl
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "integ"))
import mgtest  # noqa: E402
from smtpload import SmtpLoad  # noqa: E402

N_DOMAINS, N_USERS, N_SENDERS = 20, 500, 2000
POLICY = {"greylist": 6, "spam_quarantine": 6, "spam_reject": 30, "transport": "127.0.0.1:9"}
SCORES = ["DKIM_NONE 7", "MSGID_MISSING 3", "DATE_MISSING 5"]
WORDS = ("invoice offer meeting prize account urgent report payment winner travel update "
    "order delivery budget casino pharmacy bonus security notice review loan crypto watch "
    "discount ticket shipment contract password verify reward lottery").split()


class BenchMailGuard(mgtest.MailGuard):
    def write_config(self):
        super().write_config()
        p = self.dir / "mailguard.conf"
        p.write_text(p.read_text() + "".join(f"score = {s}\n" for s in SCORES))


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, int(round(p / 100.0 * len(xs) + 0.5)) - 1))]


def make_message(rng, i, sender, rcpt):
    subject = " ".join(rng.choice(WORDS) for _ in range(3)) + f" {i}"
    h = [f"From: <{sender}>", f"To: <{rcpt}>", f"Subject: {subject}"]
    if i % 5:
        h.append(f"Date: {time.strftime('%a, %d %b %Y %H:%M:%S +0000', time.gmtime())}")
    if i % 3:
        h.append(f"Message-ID: <b{i}@bench.test>")
    body = " ".join(rng.choice(WORDS) for _ in range(60))
    return ("\r\n".join(h) + "\r\n\r\n" + body + "\r\n").encode()


def filler_messages(k):
    """Client k's messages: random recipients, senders and subjects from its own RNG."""
    rng = random.Random(k)

    def msg(i):
        rcpt = f"u{rng.randrange(N_USERS)}@d{i % N_DOMAINS}.test"
        sender = f"s{rng.randrange(N_SENDERS)}@m{rng.randrange(300)}.example"
        return sender, [rcpt], make_message(rng, i, sender, rcpt)
    return msg


def queries(n_stored, t_first, t_last):
    mid = (t_first + t_last) // 2
    return [
        ("newest 100 (no filter)", []),
        ("domain=", ["domain=d7.test"]),
        ("rcpt=", ["rcpt=u123@d7.test"]),
        ("from= substring", ["from=s1234@"]),
        ("subject= substring", ["subject=casino%20lottery"]),
        ("score range", ["min=11", "max=13"]),
        ("date range (10 s)", [f"since={mid}", f"until={mid + 10}"]),
        ("domain+subject", ["domain=d3.test", "subject=prize"]),
        ("deep page", [f"offset={max(0, n_stored // 2)}", "limit=100"]),
    ]


def time_ctl(mg, words, n):
    cmd = [str(mg.ctl_binary), "-c", str(mg.dir), "queue", "quarantine", "search",
        *words, "--json"]
    out = []
    total = None
    for _ in range(n):
        t = time.perf_counter()
        r = mgtest.run_cmd(cmd, timeout=60)
        out.append(time.perf_counter() - t)
        if r.returncode != 0:
            raise RuntimeError(f"{' '.join(words)}: exit {r.returncode}: {r.stderr[:200]}")
        total = json.loads(r.stdout)["total"]
    return out, total


class Api:
    """A kept-alive HTTPS connection to the admin role with an API token."""

    def __init__(self, mg, token):
        self.mg, self.token = mg, token
        self.ctx = ssl.create_default_context()
        self.ctx.check_hostname = False
        self.ctx.verify_mode = ssl.CERT_NONE
        self.c = None

    def get(self, path):
        for attempt in (0, 1):
            if self.c is None:
                self.c = http.client.HTTPSConnection("127.0.0.1", self.mg.admin_port,
                    context=self.ctx, timeout=60)
            try:
                self.c.request("GET", path, headers={"Authorization": f"Bearer {self.token}",
                    "Host": f"127.0.0.1:{self.mg.admin_port}"})
                r = self.c.getresponse()
                body = r.read()
                if r.getheader("connection", "").lower() == "close":
                    self.c.close()
                    self.c = None
                return r.status, body
            except (http.client.HTTPException, OSError):
                self.c.close()
                self.c = None
                if attempt:
                    raise
        return 0, b""


def time_api(api, words, n):
    path = "/api/v1/quarantine?" + "&".join(words)
    out, total = [], None
    for _ in range(n):
        t = time.perf_counter()
        st, body = api.get(path)
        out.append(time.perf_counter() - t)
        if st != 200:
            raise RuntimeError(f"{path}: HTTP {st}: {body[:200]!r}")
        total = json.loads(body).get("total")
    return out, total


def report(label, samples):
    ms = [s * 1000 for s in samples]
    return (f"  {label:<26} n={len(ms):<4} p50={pct(ms, 50):7.1f} ms  p90={pct(ms, 90):7.1f} ms  "
        f"p99={pct(ms, 99):7.1f} ms  max={max(ms):7.1f} ms")


def run_searches(name, fn, qs, n):
    print(f"{name}:")
    allv = []
    for label, words in qs:
        samples, total = fn(words, n)
        allv += samples
        print(report(label, samples) + f"  matches={total}")
    print(report("all queries", allv))
    return allv


def restart(mg):
    """Stops and starts the daemon; prints how long until it is ready with its index (or why
    it did not start: the queue role must finish recovery within the supervisor's set-up
    timeout)."""
    t = time.monotonic()
    mg.stop(timeout=120)
    stopped = time.monotonic() - t
    mark = mg.log_mark()
    t = time.monotonic()
    try:
        mg.start(timeout=300)
        mg.wait_log(r"quarantine: \d+ message\(s\) indexed", timeout=300, since=mark)
    except mgtest.DaemonError:
        lines = [ln for ln in mg.log_text(mark).splitlines()
            if re.search(r"journal: segment|did not finish|quarantine: \d+ message", ln)]
        print(f"restart: stop took {stopped:.1f} s; the start FAILED after "
            f"{time.monotonic() - t:.1f} s:\n    " + "\n    ".join(lines[-8:]))
        return
    m = re.findall(r"quarantine: (\d+) message\(s\) indexed: (\d+) from the index, "
        r"(\d+) rebuilt", mg.log_text(mark))[-1]
    print(f"restart: stop took {stopped:.1f} s; ready and indexed in "
        f"{time.monotonic() - t:.1f} s ({m[0]} indexed, {m[1]} from the index, {m[2]} rebuilt)")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=100000)
    ap.add_argument("--fill-budget", type=float, default=420)
    ap.add_argument("--searches", type=int, default=40)
    ap.add_argument("--threads", type=int, default=12)
    ap.add_argument("--no-restart", action="store_true")
    a = ap.parse_args()
    cfg = {"mynetworks": "203.0.113.0/24", "resolvers": "127.0.0.1:9", "dns_timeout_ms": 300,
        "test_mode": True, "max_connections_per_ip": 200,
        "global_disable_layers": "rbl phishing suspicious_tld bayes neural greylist spf dmarc "
        "uribl"}
    domains = {f"d{i}.test": dict(POLICY) for i in range(N_DOMAINS)}
    try:
        mg = BenchMailGuard(config=cfg, domains=domains).start()
        print(f"quarantine bench: {mgtest.build_dir()}/bin/mailguard, {os.cpu_count()} CPUs, "
            f"target {a.messages} messages, fill budget {a.fill_budget:.0f} s")
        f = SmtpLoad(mg.port, a.messages, a.fill_budget, a.threads, filler_messages)
        secs = f.run(progress="fill")
        j = json.loads(mg.ctl("queue", "quarantine", "search", "limit=1", "--json").stdout)
        stored = j["total"]
        t_last = j["messages"][0]["arrival"] if j["messages"] else int(time.time())
        jo = json.loads(mg.ctl("queue", "quarantine", "search", "limit=1",
            f"offset={max(0, stored - 1)}", "--json").stdout)
        t_first = jo["messages"][0]["arrival"] if jo["messages"] else t_last
        print(f"fill: {f.ok} sent (250), {f.failed} failed, {stored} in the quarantine, "
            f"{secs:.1f} s, {f.ok / secs:.0f} msg/s" +
            (f"; first error: {f.first_error}" if f.first_error else ""))
        rss = {}
        for p in mg.processes():
            try:
                st = Path(f"/proc/{p}/status").read_text()
                role = Path(f"/proc/{p}/cmdline").read_bytes().split(b"\0")
                name = role[role.index(b"-x") + 1].decode() if b"-x" in role else "supervisor"
                rss[name] = int(re.search(r"VmRSS:\s+(\d+)", st).group(1)) // 1024
            except (OSError, ValueError, AttributeError):
                pass
        print("RSS (MiB): " + " ".join(f"{k}={v}" for k, v in sorted(rss.items())))
        qs = queries(stored, t_first, t_last)
        run_searches("mailguardctl queue quarantine search ... --json (one process per search)",
            lambda w, n: time_ctl(mg, w, n), qs, a.searches)
        tok = mg.ctl("admin", "token", "bench").stdout.strip()
        api = Api(mg, tok)
        t_end = time.monotonic() + 10
        st = 0
        while time.monotonic() < t_end:      # the admin role reads the token file anew
            st, _ = api.get("/api/v1/quarantine?limit=1")
            if st != 401:
                break
            time.sleep(0.2)
        if st == 200:
            run_searches("GET /api/v1/quarantine?... (HTTPS, kept-alive, API token)",
                lambda w, n: time_api(api, w, n), qs, a.searches)
        else:
            print(f"JSON API: GET /api/v1/quarantine answered HTTP {st}: not measured")
        if not a.no_restart:
            restart(mg)
        if mg.running:
            mg.stop()
    finally:
        errs = mgtest.cleanup_all()
        for e in errs:
            print(f"cleanup: {e}", file=sys.stderr)


if __name__ == "__main__":
    main()
