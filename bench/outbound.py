#!/usr/bin/python3
"""The `outbound` profiles of `make bench` (bench/README.md; issues B and E): authenticated
submission of 2 KiB messages from the protected sender domain bench.test to 50 recipient domains
(d0.test .. d49.test) whose MX is the loopback smtp-sink, against the same load relayed by a
plain Postfix (SASL off, mynetworks relay).

MailGuard: a submission listener (STARTTLS, RFC 6409) with AUTH PLAIN for one user of an
auth_users_file made with `mailguardctl auth add`; 127.0.0.1 is kept out of mynetworks, so only
AUTH lets the load relay. The load is tests/tools/smtp-auth-source:
  smtp-auth-source -T -a USER:PASS -s 10 -m COUNT -l 2048 -M 20 -D 50 -f from@bench.test
      -t rcpt@d%d.test 127.0.0.1:SUBMISSIONPORT
(STARTTLS, then AUTH PLAIN, then 20 messages per connection, message N to rcpt@d(N mod 50).test).
smtpd caches a successful login for 5 minutes, so after the warm-up most logins are cache hits
(what a submission server sees from returning clients). Delivery looks up the MX of every
recipient domain through MailGuard's own resolver, pointed at a local DnsRig (NSD behind Unbound,
Unbound caching as in the protected profile), and delivers to outbound_port = the sink's port.

Postfix: the same generator without -T/-a (SASL off; 127.0.0.1 is in mynetworks), so both
targets see the same connections, messages per connection and recipients. Postfix resolves
through the system resolver, which cannot serve d*.test, so it gets one transport_maps entry per
domain (dN.test -> smtp:[127.0.0.1]:SINKPORT): Postfix does no DNS at all while MailGuard does MX
lookups (and MTA-STS/TLSA policy lookups) for every domain, which is conservative for MailGuard.

Signing variants: `outbound-rsa` and `outbound-ed25519` set dkim_sign = yes for bench.test with
dkim_algorithm rsa2048 / ed25519; the key is made with `mailguardctl dkim keygen bench.test` in
the running instance's state dir and published in the rig as `mailguardctl dkim dns` prints it.
The signer role's CPU per message (from role_cpu) gives signatures per second per core. Postfix
does not sign; its run is shared by the three profiles (the load is the same).

Run as `outbound.py probe ...` this module is also the latency probe of these profiles: bench/
probe.py's loop over a session opened with STARTTLS + AUTH PLAIN (MailGuard) or plain (Postfix).
"""

import re
import ssl
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

SENDER = "from@bench.test"
USER = "submit@bench.test"
PASSWORD = "bench outbound password 7f3a"   # a throwaway instance's only user
DOMAINS = 50
SESSIONS = 10
PER_CONN = 20                               # messages per connection (-M)
PROBE_RCPT = "probe@d0.test"

# profile -> dkim_algorithm (None: no signing)
PROFILES = {"outbound": None, "outbound-rsa": "rsa2048", "outbound-ed25519": "ed25519"}

MG_CONF = [
    "mynetworks = 10.255.255.0/24",         # excludes 127.0.0.1: only AUTH lets the load relay
    "submission_listen = 127.0.0.1:0",
    "auth_users_file = users",
    "resolvers = {resolver}",
    "outbound_port = {sink}",
]


def zones():
    """DnsRig zones: dN.test MX mx.dN.test, mx.dN.test A 127.0.0.1; SPF for bench.test."""
    z = {f"d{i}.test": [("@", "MX", f"10 mx.d{i}.test."), ("mx", "A", "127.0.0.1")]
        for i in range(DOMAINS)}
    z["bench.test"] = [("@", "TXT", "v=spf1 ip4:127.0.0.1 -all")]
    return z


def mg_conf(resolver, sink_port):
    return [l.format(resolver=resolver, sink=sink_port) for l in MG_CONF]


def domain_conf(prof, sink_port):
    """domains.d/bench.test.conf of the profile (bench.test is a protected domain: its inbound
    transport is the sink too, unused here)."""
    lines = [f"transport = [127.0.0.1]:{sink_port}"]
    alg = PROFILES[prof]
    if alg:
        lines += ["dkim_sign = yes", f"dkim_algorithm = {alg}"]
    return lines


def postfix_conf(sink_port):
    """main.cf lines for Postfix: a transport_maps entry per recipient domain (no DNS)."""
    entries = " ".join(f"{{d{i}.test = smtp:[127.0.0.1]:{sink_port}}}" for i in range(DOMAINS))
    return [f"transport_maps = inline:{{ {entries} }}"]


def add_user(ctl, confdir):
    """The auth_users_file's one user (before the daemon starts; `mailguardctl auth add`)."""
    r = subprocess.run([str(ctl), "-c", str(confdir), "auth", "add", USER],
        input=PASSWORD + "\n", capture_output=True, text=True, timeout=60)
    if r.returncode != 0 or "added" not in r.stdout:
        raise RuntimeError(f"mailguardctl auth add failed: {r.stdout.strip()} "
            f"{r.stderr.strip()}")


def keygen_and_publish(ctl, confdir, rig):
    """`mailguardctl dkim keygen bench.test` in the running instance, then the records of
    `dkim dns bench.test` published in the rig. Returns the selectors."""
    import dnsrig

    def run(*args):
        r = subprocess.run([str(ctl), "-c", str(confdir), *args], capture_output=True,
            text=True, timeout=60)
        if r.returncode != 0:
            raise RuntimeError(f"mailguardctl {' '.join(args)} failed: {r.stdout.strip()} "
                f"{r.stderr.strip()}")
        return r.stdout
    run("dkim", "keygen", "bench.test")
    recs = {}
    for line in run("dkim", "dns", "bench.test").splitlines():
        m = re.match(r'^(\S+)\._domainkey\.bench\.test\. IN TXT ((?:"[^"]*" ?)+) ; ', line)
        if m:
            recs[m.group(1)] = m.group(2).strip()
    if not recs:
        raise RuntimeError("mailguardctl dkim dns printed no record for bench.test")
    z = zones()
    z["bench.test"] += [(f"{s}._domainkey", "TXT", dnsrig.Raw(r)) for s, r in recs.items()]
    rig.update(zones=z)
    return sorted(recs)


def signed_count(log_path, since=0):
    """Messages smtpd logged as signed ("dkim: signed d=bench.test") from byte offset since."""
    n = 0
    try:
        with open(log_path, "rb") as f:
            f.seek(since)
            for raw in f:
                if b" dkim: signed d=bench.test" in raw:
                    n += 1
    except OSError:
        pass
    return n


def tool():
    import os
    build = Path(os.environ.get("BUILD", "build"))
    return (build if build.is_absolute() else REPO / build) / "tests" / "tools" / \
        "smtp-auth-source"


class AuthSource:
    """smtp-auth-source, with the interface of bench.py's Source (proc, err, sent, wait)."""

    def __init__(self, port, count, size, log, auth=True):
        self.sent = 0
        self.err = log
        self.cmd = [str(tool()), "-s", str(SESSIONS), "-m", str(count), "-l", str(size),
            "-M", str(PER_CONN), "-D", str(DOMAINS), "-f", SENDER, "-t", "rcpt@d%d.test"]
        if auth:
            self.cmd += ["-T", "-a", f"{USER}:{PASSWORD}"]
        self.cmd.append(f"127.0.0.1:{port}")
        self.out = b""
        self.proc = subprocess.Popen(self.cmd, stdout=subprocess.PIPE,
            stderr=open(log, "wb"), stdin=subprocess.DEVNULL)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        self.out = self.proc.stdout.read()
        m = re.search(rb"sent=(\d+) failed=(\d+)", self.out)
        if m:
            self.sent = int(m.group(1))

    def wait(self, timeout):
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
            rc = None
        self.reader.join(5)
        if rc not in (0, None):
            with open(self.err, "ab") as f:
                f.write(self.out)
        return rc


def describe(count):
    return (f"smtp-auth-source -s {SESSIONS} -m {count} -l 2048 -M {PER_CONN} -D {DOMAINS} "
        f"-f {SENDER} -t rcpt@d%d.test [-T -a USER:PASS (MailGuard)] 127.0.0.1:PORT")


# ---- latency probe: bench/probe.py with a STARTTLS + AUTH session ---------------------------

def probe_main(argv):
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import base64
    import socket
    import probe
    auth = None
    if "--auth" in argv:
        i = argv.index("--auth")
        auth = argv[i + 1]
        del argv[i:i + 2]

    def session(port, host="127.0.0.1"):
        s = socket.create_connection((host, port), 10)
        s.settimeout(30)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        code, buf = probe.read_reply(s, b"")
        if code != 220:
            raise probe.SmtpError(f"banner {code}")

        def cmd(line, want):
            nonlocal buf
            s.sendall(line)
            code, buf = probe.read_reply(s, buf)
            if code != want:
                raise probe.SmtpError(f"{line.split()[0].decode()} -> {code}")
        cmd(b"EHLO probe.bench.test\r\n", 250)
        if auth is None:
            return s, buf
        cmd(b"STARTTLS\r\n", 220)
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE     # loopback bench, self-signed certificate
        s = ctx.wrap_socket(s)
        buf = b""
        cmd(b"EHLO probe.bench.test\r\n", 250)
        user, pw = auth.split(":", 1)
        token = base64.b64encode(f"\0{user}\0{pw}".encode())
        cmd(b"AUTH PLAIN " + token + b"\r\n", 235)
        return s, buf

    probe.session = session
    sys.argv = [sys.argv[0]] + argv
    return probe.main()


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "probe":
        sys.exit(probe_main(sys.argv[2:]))
    print(__doc__)
    sys.exit(2)
