"""DKIM signing through the real daemon (issue E): a mynetworks client relays mail of a signing
domain (example.test, dkim_sign = yes) to a remote domain whose MX (DnsRig: NSD behind Unbound)
is a loopback Sink; the signer role signs before the 250, and two independent verifiers judge
every signature as the remote MX received it: python3-dkim (dkimpy) and the npm package mailauth
(tests/node, installed by tests/tools/setup-deps.sh), both fetching the public keys from the rig,
where the test publishes exactly what `mailguardctl dkim dns` prints.
Covered: RSA-2048, ed25519, both; 8bit body and long folded headers; header_rewrite applied
before signing; authenticated submission (SMTP AUTH over implicit TLS, smtplib); 451 4.3.0 when no key can sign; key files refused at reload when group-readable
(the loaded key keeps signing); `dkim clock` refused without test_mode; and the rotation timeline
under the test clock: next key at T-30 d, switch withheld at T without DNS and with a different
key (alert in `dkim status`), switch the day DNS publishes the key, grace period, retirement,
state kept across a restart and after kill -9."""

import json
import os
import re
import shutil
import smtplib
import ssl
import subprocess
from pathlib import Path

import dkim

import mgtest
from dnsrig import DnsRig, Raw, query
from mgtest import MailGuard, RawClient, Sink

expect = mgtest.expect_reply

ROOT = Path(__file__).resolve().parents[2]
NODE_VERIFY = ROOT / "tests" / "node" / "dkim-verify.js"
DAY = 86400
T0 = 1798761600            # 2027-01-01T00:00:00Z: the first key's start under the test clock
YEAR = 365 * DAY

BASE_ZONES = {
    "remote.test": [("@", "MX", "10 mx.remote.test."), ("mx", "A", "127.0.0.1"),
                    ("_smtp._tls", "TXT", "v=TLSRPTv1; rua=mailto:tls-reports@remote.test")],
    "example.test": [("@", "TXT", "v=spf1 -all")],
}


class Rig:
    """DnsRig + remote MX Sink + MailGuard with one signing domain."""

    def __init__(self, algorithm="rsa2048", extra_domain=None, config=None, users=None):
        self.records = {}                  # selector -> Raw rdata as printed by dkim dns
        self.dns = DnsRig(BASE_ZONES)
        self.remote = Sink()
        self.backend = Sink()
        dom = {"transport": self.backend.transport, "dkim_sign": "yes",
               "dkim_algorithm": algorithm}
        dom.update(extra_domain or {})
        cfg = {"resolvers": self.dns.resolver, "dns_timeout_ms": 1000,
               "outbound_port": self.remote.port, "retry_min": "1h", "test_mode": "yes"}
        if users:
            # submission with AUTH; 127.0.0.1 outside mynetworks, so only AUTH lets it relay
            cfg.update(submissions_listen="127.0.0.1:0", auth_users_file="users",
                       mynetworks="192.0.2.0/24")
        cfg.update(config or {})
        self.mg = MailGuard(config=cfg, domains={"example.test": dom})
        for user, pw in (users or {}).items():
            self.mg.ctl("auth", "add", user, input=pw + "\n")
        self.mg.start()

    def dkim(self, *args, check=True):
        return self.mg.ctl("dkim", *args, check=check)

    def dns_lines(self):
        """{selector: rdata} from `mailguardctl dkim dns example.test` (publishable keys)."""
        out = self.dkim("dns", "example.test").stdout
        recs = {}
        for line in out.splitlines():
            m = re.match(r'^(\S+)\._domainkey\.example\.test\. IN TXT ((?:"[^"]*" ?)+) ; ', line)
            if m:
                recs[m.group(1)] = m.group(2).strip()
        return recs

    def publish(self, selectors=None, override=None):
        """Puts the printed records (all, or those selectors) plus override into the rig."""
        recs = self.dns_lines()
        chosen = {s: r for s, r in recs.items() if selectors is None or s in selectors}
        chosen.update(override or {})
        self.records = chosen
        rows = list(BASE_ZONES["example.test"])
        rows += [(f"{s}._domainkey", "TXT", Raw(r)) for s, r in chosen.items()]
        self.dns.update(zones=dict(BASE_ZONES, **{"example.test": rows}))

    def send(self, msg=None, sender="alice@example.test", rcpt="bob@remote.test", code=250):
        c = RawClient(self.mg.port)
        c.banner()
        c.expect(250, "EHLO client.test")
        expect(c, 250, f"MAIL FROM:<{sender}>", "2.1.0")
        expect(c, 250, f"RCPT TO:<{rcpt}>", "2.1.5")
        c.expect(354, "DATA")
        c.send((msg or mgtest.make_message(sender, [rcpt])) + b".\r\n")
        reply = c.expect(code)
        c.expect(221, "QUIT")
        return reply

    def deliver(self, msg=None):
        n = self.remote.count
        self.send(msg)
        return self.remote.wait_count(n + 1, timeout=30)[n].data

    def status(self):
        return self.dkim("status", "example.test").stdout

    def clock(self, t):
        self.dkim("clock", str(t))


def dkimpy_verify(rig, data):
    """[(selector, ok)] for every signature, verified by dkimpy against the rig's DNS."""
    def dnsfunc(name, timeout=5):
        name = name.decode() if isinstance(name, bytes) else name
        r = query(rig.dns.resolver, name.rstrip("."), "TXT", timeout=3)
        vals = r.values("TXT")
        return vals[0] if vals else b""
    d = dkim.DKIM(data)
    sigs = [v for k, v in d.headers if k.lower() == b"dkim-signature"]
    out = []
    for i, sig in enumerate(sigs):
        sel = re.search(rb"\bs=([^;\s]+)", sig).group(1).decode()
        ok = dkim.DKIM(data).verify(idx=i, dnsfunc=dnsfunc)
        out.append((sel, ok))
    return out


def mailauth_verify(rig, data):
    """[(selector, result)] from mailauth (node) against the rig's DNS."""
    if shutil.which("node") is None or not (ROOT / "tests/node/node_modules/mailauth").is_dir():
        raise AssertionError("mailauth missing: run tests/tools/setup-deps.sh (npm ci in tests/node)")
    r = subprocess.run(["node", str(NODE_VERIFY), rig.dns.resolver], input=data,
                       capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr.decode()
    return [(x["selector"], x["result"]) for x in json.loads(r.stdout)]


def assert_verified(rig, data, selectors):
    """Both verifiers pass every signature, and the signatures are exactly `selectors`."""
    py = dkimpy_verify(rig, data)
    js = mailauth_verify(rig, data)
    assert sorted(s for s, _ in py) == sorted(selectors), (py, data[:800])
    assert all(ok for _, ok in py), f"dkimpy: {py}\n{data[:1500]!r}"
    assert sorted(s for s, _ in js) == sorted(selectors), js
    assert all(res == "pass" for _, res in js), f"mailauth: {js}"


def signature_fields(data):
    return re.findall(rb"^DKIM-Signature:[^\r\n]*", data, re.M)


def keygen_and_publish(rig):
    out = rig.dkim("keygen", "example.test").stdout
    assert "publish these records" in out, out
    rig.publish()
    return sorted(rig.dns_lines())


# ---- signing --------------------------------------------------------------------------------

def test_rsa_signature_verified_by_dkimpy_and_mailauth():
    rig = Rig("rsa2048")
    sels = keygen_and_publish(rig)
    assert len(sels) == 1 and re.fullmatch(r"mg\d{4}a", sels[0])
    data = rig.deliver()
    sigs = signature_fields(data)
    assert len(sigs) == 1 and b"a=rsa-sha256" in sigs[0] and b"c=relaxed/relaxed" in sigs[0]
    assert b" l=" not in sigs[0]
    assert re.search(rb"h=From:[^;]*:from", sigs[0], re.I), sigs[0]   # From oversigned
    assert data.startswith(b"DKIM-Signature:")      # prepended before our Received:
    assert_verified(rig, data, sels)
    rig.mg.wait_log(r"dkim: signed d=example\.test")
    # the RSA record is split into 255-octet strings
    assert rig.records[sels[0]].count('" "') >= 1


def test_ed25519_signature_verified():
    rig = Rig("ed25519")
    sels = keygen_and_publish(rig)
    data = rig.deliver()
    sigs = signature_fields(data)
    assert len(sigs) == 1 and b"a=ed25519-sha256" in sigs[0]
    assert "k=ed25519" in rig.records[sels[0]]
    assert_verified(rig, data, sels)
    # the verifiers really judge: a changed Subject fails with both
    bad = data.replace(b"Subject: test message", b"Subject: Test message", 1)
    assert bad != data
    assert dkimpy_verify(rig, bad) == [(sels[0], False)]
    assert [r for _, r in mailauth_verify(rig, bad)] == ["fail"]


def test_both_algorithms_two_signatures_8bit_and_long_headers():
    rig = Rig("both")
    sels = keygen_and_publish(rig)
    assert len(sels) == 2
    to = ", ".join(f"person{i}@remote.test" for i in range(30))
    msg = ("From: =?utf-8?q?J=C3=B6rg?= <alice@example.test>\r\n"
           f"To: bob@remote.test,\r\n\t{to}\r\n"
           "Subject: " + "long subject " * 20 + "\r\n"
           "\tfolded continuation\r\n"
           "Date: Mon, 01 Jan 2029 00:00:00 +0000\r\n"
           "Message-ID: <8bit.1@example.test>\r\n"
           "MIME-Version: 1.0\r\n"
           "Content-Type: text/plain; charset=utf-8\r\n"
           "Content-Transfer-Encoding: 8bit\r\n\r\n"
           "Gr\u00fc\u00dfe aus K\u00f6ln \u2013 \u00e9t\u00e9\r\n" * 3).encode()
    data = rig.deliver(msg)
    sigs = signature_fields(data)
    assert len(sigs) == 2
    assert any(b"a=rsa-sha256" in s for s in sigs) and any(b"a=ed25519-sha256" in s for s in sigs)
    assert "\u00f6".encode() in data
    assert_verified(rig, data, sels)


def test_header_rewrite_happens_before_signing():
    # two header_rewrite lines (the setting repeats; mgtest writes one key = value per item)
    rig = Rig("rsa2048", extra_domain={"header_rewrite": "replace Subject: rewritten subject\n"
                                                         "header_rewrite = add X-Rewritten: yes"})
    sels = keygen_and_publish(rig)
    data = rig.deliver()
    assert b"Subject: rewritten subject" in data and b"X-Rewritten: yes" in data
    assert_verified(rig, data, sels)        # Subject is signed: the rewritten one


def test_queue_made_tls_report_is_signed():
    """The TLS-RPT report the queue composes itself (RFC 8460 §5.3) goes through the signer
    too when tlsrpt_from belongs to a signing domain: both verifiers pass its signature."""
    rig = Rig(config={"tlsrpt_interval": "4s", "tlsrpt_from": "tlsrpt@example.test"})
    sels = keygen_and_publish(rig)
    rig.deliver()
    reports = [m for m in rig.remote.wait_count(2, timeout=60)
               if "tls-reports@remote.test" in m.rcpt_tos]
    assert reports, [m.rcpt_tos for m in rig.remote.messages]
    data = reports[0].data
    assert b"application/tlsrpt+gzip" in data and b"From: <tlsrpt@example.test>" in data, data[:600]
    assert_verified(rig, data, sels)
    rig.mg.assert_log(r"dkim: signed \(queue-made message\)")


def test_authenticated_submission_is_signed():
    rig = Rig("both", users={"bob@example.test": "s3cret-bob"})
    sels = keygen_and_publish(rig)
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with smtplib.SMTP_SSL("127.0.0.1", rig.mg.listener("submissions").port, context=ctx,
                          timeout=30) as c:
        c.login("bob@example.test", "s3cret-bob")
        c.sendmail("bob@example.test", ["carol@remote.test"],
                   mgtest.make_message("bob@example.test", ["carol@remote.test"]))
    data = rig.remote.wait_count(1, timeout=30)[0].data
    assert b"with ESMTPSA" in data
    assert len(signature_fields(data)) == 2
    assert_verified(rig, data, sels)


def test_no_key_answers_451_and_keeps_nothing():
    rig = Rig("rsa2048")
    reply = rig.send(code=451)
    assert reply.text.startswith("4.3.0"), reply.text
    rig.mg.wait_log(r"dkim: not signed: no current rsa2048 key for example\.test")
    assert rig.remote.count == 0
    assert "queued" not in rig.mg.ctl("queue", "list").stdout


def test_key_file_permissions_checked_at_reload():
    rig = Rig("ed25519")
    sels = keygen_and_publish(rig)
    key = rig.mg.state_dir / "dkim" / "example.test" / f"{sels[0]}.pem"
    assert (key.stat().st_mode & 0o777) == 0o600
    key.chmod(0o644)
    rig.mg.reload(wait_log=r"dkim: example\.test: keys not loaded: key file is accessible")
    assert "alert keys not loaded" in rig.status()
    data = rig.deliver()                    # the key loaded before keeps signing
    assert_verified(rig, data, sels)
    key.chmod(0o600)
    rig.mg.reload()
    mgtest.wait_for(lambda: "alert" not in rig.status().split("now ")[0], 10, "alert cleared")


def test_ctl_errors_and_clock_needs_test_mode():
    rig = Rig("rsa2048", config={"test_mode": "no"})
    r = rig.dkim("clock", str(T0), check=False)
    assert r.returncode == 1 and "test_mode" in r.stderr
    r = rig.dkim("keygen", "unknown.test", check=False)
    assert r.returncode == 1 and "not a protected domain" in r.stderr
    r = rig.dkim("dns", "example.test", check=False)
    assert r.returncode == 1 and "no DKIM keys" in r.stderr
    r = rig.dkim("bogus", check=False)
    assert r.returncode == 2
    rig.dkim("keygen", "example.test")
    r = rig.dkim("keygen", "example.test", check=False)
    assert r.returncode == 1 and "rotate" in r.stderr


def test_import_key():
    rig = Rig("ed25519")
    d = mgtest.tmpdir("key")
    pem = d / "k.pem"
    subprocess.run(["openssl", "genpkey", "-algorithm", "ed25519", "-out", str(pem)], check=True)
    # the signer opens the file as its own user: the operator hands it over (chown)
    for p in (d, d.parent):
        p.chmod(0o711)
    if os.geteuid() == 0:
        shutil.chown(pem, "_mailguard")
    pem.chmod(0o644)
    r = rig.dkim("import", "example.test", "imported", str(pem), check=False)
    assert r.returncode == 1 and "mode 0600" in r.stderr
    pem.chmod(0o600)
    assert "is current" in rig.dkim("import", "example.test", "imported", str(pem)).stdout
    rig.publish()
    data = rig.deliver()
    assert_verified(rig, data, ["imported"])


# ---- rotation -------------------------------------------------------------------------------

def key_line(status, sel):
    m = re.search(rf"^  key {sel} (\S+) (\S+) .* dns=(.*)$", status, re.M)
    assert m, status
    return m.group(2), m.group(3)


def wait_status(rig, pattern, what, timeout=20):
    return mgtest.wait_for(lambda: re.search(pattern, rig.status(), re.M), timeout, what)


def test_rotation_timeline_with_test_clock():
    rig = Rig("rsa2048")
    rig.clock(T0)
    [cur] = keygen_and_publish(rig)
    assert cur == "mg2027a"
    T = T0 + YEAR
    # T-31 d: nothing yet
    rig.clock(T - 31 * DAY)
    assert "next" not in rig.status()
    # T-30 d: the next key appears, with its record
    rig.clock(T - 30 * DAY)
    wait_status(rig, r"^  key mg2028a rsa2048 next ", "next key generated")
    rig.mg.wait_log(r"dkim: example\.test: next rsa2048 key mg2028a generated")
    assert set(rig.dns_lines()) == {"mg2027a", "mg2028a"}
    # T: DNS has no record for mg2028a: switch withheld, alert, still signing with mg2027a
    rig.clock(T)
    wait_status(rig, r"alert rsa2048 since .*switch to mg2028a withheld: DNS has no key record",
                "alert for missing DNS")
    assert "alerts 1" in rig.status()
    rig.mg.wait_log(r"ALERT switch to mg2028a withheld")
    data = rig.deliver()
    assert_verified(rig, data, ["mg2027a"])
    # T+1 d: DNS publishes a different key at mg2028a: still withheld
    rig.publish(selectors={"mg2027a"}, override={"mg2028a": rig.records["mg2027a"]})
    rig.clock(T + DAY)
    wait_status(rig, r"withheld: DNS at mg2028a\._domainkey\.example\.test publishes a different key",
                "alert for a different key")
    assert key_line(rig.status(), "mg2028a")[0] == "next"
    # T+2 d: DNS publishes exactly the new key: switch
    rig.publish()
    rig.clock(T + 2 * DAY)
    wait_status(rig, r"^  key mg2028a rsa2048 current ", "switched")
    st = rig.status()
    assert "alerts 0" in st
    state, advice = key_line(st, "mg2027a")
    assert state == "retiring" and advice == "keep published until 2028-01-10T00:00:00Z", st
    rig.mg.wait_log(r"rsa2048 signing switched from mg2027a to mg2028a")
    data = rig.deliver()
    assert_verified(rig, data, ["mg2028a"])
    # state survives a restart (and the signer keeps mg2028a)
    rig.mg.stop()
    rig.mg.start()
    rig.clock(T + 2 * DAY)
    assert key_line(rig.status(), "mg2028a")[0] == "current"
    # grace over: mg2027a may be removed, its private key is gone
    rig.clock(T + 9 * DAY)
    wait_status(rig, r"^  key mg2027a rsa2048 retired .* dns=may be removed$", "retired")
    assert not (rig.mg.state_dir / "dkim" / "example.test" / "mg2027a.pem").exists()
    rig.publish(selectors={"mg2028a"})
    data = rig.deliver()
    assert_verified(rig, data, ["mg2028a"])
    # kill -9 and restart: the state file is whole and the signer signs at once
    rig.mg.kill9()
    rig.mg.start()
    data = rig.deliver()
    assert_verified(rig, data, ["mg2028a"])


def test_rotate_now_switches_once_dns_has_the_key():
    rig = Rig("ed25519")
    [cur] = keygen_and_publish(rig)
    out = rig.dkim("rotate", "example.test", "--now").stdout
    assert "rotation started" in out
    wait_status(rig, r"withheld: DNS has no key record", "withheld without DNS")
    new = [s for s in rig.dns_lines() if s != cur]
    assert len(new) == 1
    rig.publish()
    rig.dkim("rotate", "example.test", "--now")
    wait_status(rig, rf"^  key {new[0]} ed25519 current ", "switched after rotate --now")
    data = rig.deliver()
    assert_verified(rig, data, new)
