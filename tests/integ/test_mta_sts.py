"""MTA-STS (RFC 8461) through the real daemon: recipient domains publish _mta-sts TXT records in
a DnsRig zone, their policies are served by loopback HTTPS servers (python http.server + ssl,
certificates from a test CA given to MailGuard as tls_ca_file; fetched on mta_sts_test_port, a
test-only key, instead of 443) and their MX hosts are aiosmtpd receivers. Scenarios after
shared/corpora/mta-sts (postfix-mta-sts-resolver: good, bad TXT, bad policies, bad certificates):
enforce with a matching MX and a valid certificate -> sent, tls=sts-verified; enforce with a
mismatching MX -> deferred 4.7.5; enforce with an MX certificate the CA did not sign ->
deferred; testing with a mismatching MX -> delivered and logged; a bad TXT record, an invalid
policy, a policy host with an untrusted certificate, a redirect or a wrong media type -> no
policy (delivered, with the policy's MX restriction not applied)."""

import re

import mgtest
from dnsrig import DnsRig
from mgtest import MailGuard, Sink
from tlsrig import HttpsServer, send, shared_port

MX_GOOD, MX_SELF = "127.0.0.52", "127.0.0.53"

ENFORCE_OTHER = b"version: STSv1\nmode: enforce\nmx: other.sts.test\nmax_age: 86400\n"
# domain: (TXT, (status, content type, body), MX address, https cert "ca" or "self")
DOMAINS = {
    "enf": ("v=STSv1; id=20240101T000000;",
            (200, "text/plain", b"version: STSv1\nmode: enforce\nmx: mx.enf.sts.test\n"
                                b"max_age: 86400\n"), MX_GOOD, "ca"),
    "wild": ("v=STSv1; id=1;",
             (200, "text/plain; charset=utf-8", b"version: STSv1\r\nmode: enforce\r\n"
                                                b"mx: *.wild.sts.test\r\nmax_age: 600\r\n"),
             MX_GOOD, "ca"),
    "mismatch": ("v=STSv1; id=1;", (200, "text/plain", ENFORCE_OTHER), MX_GOOD, "ca"),
    "testing": ("v=STSv1; id=1;",
                (200, "text/plain", b"version: STSv1\nmode: testing\nmx: other.sts.test\n"
                                    b"max_age: 86400\n"), MX_GOOD, "ca"),
    "testcert": ("v=STSv1; id=1;",
                 (200, "text/plain", b"version: STSv1\nmode: testing\nmx: mx.testcert.sts.test\n"
                                     b"max_age: 86400\n"), MX_SELF, "ca"),
    "badmxcert": ("v=STSv1; id=1;",
                  (200, "text/plain", b"version: STSv1\nmode: enforce\n"
                                      b"mx: mx.badmxcert.sts.test\nmax_age: 86400\n"),
                  MX_SELF, "ca"),
    "badtxt": ("id=20180907T090909; v=STSv1;", (200, "text/plain", ENFORCE_OTHER), MX_GOOD, "ca"),
    "badpolicy": ("v=STSv1; id=1;",
                  (200, "text/plain", b"version: STSv1\nmode: enforce\nmax_age: 86400"),
                  MX_GOOD, "ca"),
    "badcert": ("v=STSv1; id=1;", (200, "text/plain", ENFORCE_OTHER), MX_GOOD, "self"),
    "redirect": ("v=STSv1; id=1;",
                 (302, "text/plain", b"https://mta-sts.mismatch.sts.test/.well-known/mta-sts.txt"),
                 MX_GOOD, "ca"),
    "ctype": ("v=STSv1; id=1;", (200, "application/json", ENFORCE_OTHER), MX_GOOD, "ca"),
    # the policy host has an IPv6 address only (AAAA ::1)
    "v6": ("v=STSv1; id=6;", (200, "text/plain", ENFORCE_OTHER), MX_GOOD, "ca"),
}
POLICY_IP = {d: f"127.0.0.{60 + i}" for i, d in enumerate(DOMAINS)}
POLICY_IP["v6"] = "::1"
PATH = "/.well-known/mta-sts.txt"


class Rig:
    def __init__(self, policy="may"):
        ca = mgtest.make_ca()
        rows = []
        for d, (txt, _, mxip, _) in DOMAINS.items():
            rows += [(d, "MX", f"10 mx.{d}.sts.test."), (f"mx.{d}", "A", mxip),
                     (f"_mta-sts.{d}", "TXT", txt),
                     (f"mta-sts.{d}", "AAAA" if ":" in POLICY_IP[d] else "A", POLICY_IP[d])]
        self.dns = DnsRig({"sts.test": rows})
        self.smtp_port = shared_port([MX_GOOD, MX_SELF])
        self.https_port = shared_port(list(POLICY_IP.values()))
        names = tuple(f"mx.{d}.sts.test" for d in DOMAINS)
        self.good = Sink(host=MX_GOOD, port=self.smtp_port,
                         cert=mgtest.make_cert(cn="mx.enf.sts.test", names=names, ca=ca,
                                               name="mx"))
        self.selfsigned = Sink(host=MX_SELF, port=self.smtp_port, tls=True,
                               hostname="mx.badmxcert.sts.test")
        self.https = {}
        for d, (_, answer, _, kind) in DOMAINS.items():
            cert = mgtest.make_cert(cn=f"mta-sts.{d}.sts.test", names=(), ips=(),
                                    ca=ca if kind == "ca" else None, name=f"www-{d}")
            self.https[d] = HttpsServer(POLICY_IP[d], self.https_port, cert, {PATH: answer})
        self.backend = Sink()
        self.mg = MailGuard(config={"resolvers": self.dns.resolver, "dns_timeout_ms": 2000,
                                    "outbound_port": self.smtp_port, "retry_min": "1h",
                                    "tls_ca_file": str(ca.cert),
                                    "mta_sts_test_port": self.https_port},
                            domains={"sender.test": {"transport": self.backend.transport,
                                                     "tls_policy": policy}}).start()

    def deliver(self, d, timeout=40):
        rcpt = f"u@{d}.sts.test"
        send(self.mg, "a@sender.test", rcpt)
        return self.mg.wait_log(r"to=<%s> .*status=(sent|deferred|bounced).*$" % re.escape(rcpt),
                                timeout=timeout).group(0)

    def got(self, sink, d):
        return [m for m in sink.messages if f"u@{d}.sts.test" in m.rcpt_tos]


def test_enforce_matching_mx_verified():
    r = Rig()
    line = r.deliver("enf")
    assert "status=sent" in line and re.search(r"tls=sts-verified/TLSv1\.[23]/\S+", line), line
    assert len(r.got(r.good, "enf")) == 1 and r.got(r.good, "enf")[0].tls
    assert r.https["enf"].requests.get(PATH) == 1
    r.mg.assert_log(r"mta-sts: enf\.sts\.test: policy id 20240101T000000 mode enforce")
    # the cached policy serves the next message: no second fetch (same id, max_age unexpired)
    send(r.mg, "a@sender.test", "v@enf.sts.test")
    r.mg.wait_log(r"to=<v@enf\.sts\.test> .*status=sent", timeout=40)
    assert r.https["enf"].requests.get(PATH) == 1
    line = r.deliver("wild")
    assert "status=sent" in line and "tls=sts-verified/" in line, line


def test_enforce_mismatching_mx_defers():
    r = Rig()
    line = r.deliver("mismatch")
    assert "status=deferred" in line and "dsn=4.7.5" in line, line
    assert not r.got(r.good, "mismatch")
    r.mg.assert_log(r"no MX host of mismatch\.sts\.test matches its MTA-STS policy")


def test_policy_host_with_ipv6_only():
    r = Rig()
    line = r.deliver("v6")
    assert "status=deferred" in line and "dsn=4.7.5" in line, line
    assert r.https["v6"].requests.get(PATH) == 1
    r.mg.assert_log(r"mta-sts: v6\.sts\.test: policy id 6 mode enforce")


def test_enforce_untrusted_mx_certificate_defers():
    r = Rig(policy="encrypt")
    line = r.deliver("badmxcert")
    assert "status=deferred" in line and "dsn=4.7.5" in line, line
    assert "tls=failed:certificate-not-trusted" in line, line
    assert r.selfsigned.count == 0


def test_testing_mode_delivers_and_logs():
    r = Rig()
    line = r.deliver("testing")
    assert "status=sent" in line and re.search(r"tls=may/TLSv1\.[23]/", line), line
    r.mg.assert_log(r"mta-sts: testing\.sts\.test: MX host mx\.testing\.sts\.test does not match "
                    r"the policy \(testing mode")
    # an MX certificate the CA did not sign: reported and logged, delivered anyway
    line = r.deliver("testcert")
    assert "status=sent" in line and re.search(r"tls=may/TLSv1\.[23]/", line), line
    assert len(r.got(r.selfsigned, "testcert")) == 1
    r.mg.assert_log(r"certificate of mx\.testcert\.sts\.test not valid under the MTA-STS policy "
                    r"of testcert\.sts\.test \(testing mode")


def test_invalid_policies_are_ignored():
    r = Rig()
    for d, why in (("badtxt", ""),       # not starting with v=STSv1: discarded (§3.1)
                   ("badpolicy", r"invalid policy .*no mx"),
                   ("badcert", r"policy fetch .* failed"),
                   ("redirect", r"policy fetch .* failed: HTTP status 302"),
                   ("ctype", r"media type application/json")):
        line = r.deliver(d)
        assert "status=sent" in line, (d, line)
        assert len(r.got(r.good, d)) == 1, d
        if why:
            r.mg.assert_log(r"mta-sts: %s\.sts\.test: .*(%s)" % (d, why))
    # a bad TXT record is never followed by a fetch
    assert not r.https["badtxt"].requests


def test_policy_cache_survives_restart():
    """RFC 8461 §5.1: a cached policy applies for its max_age. After a restart the policy host is
    unreachable (an attacker blocking the fetch): the enforce policy learnt before the restart
    still keeps mail away from the mismatching MX, without a new fetch."""
    r = Rig()
    line = r.deliver("mismatch")
    assert "status=deferred" in line and "dsn=4.7.5" in line, line
    assert r.https["mismatch"].requests.get(PATH) == 1
    r.mg.stop()
    cache = (r.mg.state_dir / "mta-sts.cache").read_text()
    assert re.search(r"^policy mismatch\.sts\.test 1 \d+ [0-9a-f]+$", cache, re.M), cache
    assert (r.mg.state_dir / "mta-sts.cache").stat().st_mode & 0o077 == 0
    r.https["mismatch"].stop()
    r.mg.start()
    r.mg.assert_log(r"mta-sts: [1-9]\d* cached policies loaded from ")
    rcpt = "w@mismatch.sts.test"
    send(r.mg, "a@sender.test", rcpt)
    line = r.mg.wait_log(r"to=<%s> .*status=(sent|deferred|bounced).*$" % re.escape(rcpt),
                         timeout=40).group(0)
    assert "status=deferred" in line and "dsn=4.7.5" in line, line
    assert not r.got(r.good, "mismatch")
    # a damaged cache file is survived: malformed lines are skipped, the daemon starts
    r.mg.stop()
    (r.mg.state_dir / "mta-sts.cache").write_text("version 1\npolicy bad..domain x 1 zz\n")
    r.mg.start()
    r.mg.assert_log(r"mta-sts: 0 cached policies loaded from .*malformed lines skipped")
