"""Outbound TLS policy of the sender domain (tls_policy none / may / encrypt) through the real
daemon: mail from a trusted client to a remote domain goes to its MX (a DnsRig zone pointing at
loopback aiosmtpd receivers that record TLS version and cipher) and each policy is checked against
a receiver without STARTTLS, one with a self-signed ("bad") certificate, one whose handshake fails,
and one with a CA-signed ("good") certificate. encrypt never falls back to plaintext (4.7.5),
may does, none never starts TLS. Null MX bounces (RFC 7505), NXDOMAIN bounces (5.1.2)."""

import re

import mgtest
from dnsrig import DnsRig
from mgtest import MailGuard, Sink
from tlsrig import broken_tls, send, shared_port

HOSTS = {"plain": "127.0.0.21", "selfsigned": "127.0.0.22", "broken": "127.0.0.23",
         "good": "127.0.0.24"}


def zones():
    rows = []
    for name, ip in HOSTS.items():
        rows += [(name, "MX", f"10 mx.{name}.dest.test."), (f"mx.{name}", "A", ip)]
    rows += [("nullmx", "MX", "0 .")]
    return {"dest.test": rows}


class Rig:
    def __init__(self, policies):
        self.dns = DnsRig(zones())
        self.port = shared_port(list(HOSTS.values()))
        ca = mgtest.make_ca()
        self.sinks = {
            "plain": Sink(host=HOSTS["plain"], port=self.port),
            "selfsigned": Sink(host=HOSTS["selfsigned"], port=self.port, tls=True,
                               hostname="mx.selfsigned.dest.test"),
            "broken": broken_tls(Sink(host=HOSTS["broken"], port=self.port, tls=True)),
            "good": Sink(host=HOSTS["good"], port=self.port, hostname="mx.good.dest.test",
                         cert=mgtest.make_cert(cn="mx.good.dest.test", ca=ca, name="good")),
        }
        self.backend = Sink()
        domains = {f"{p}.test": {"transport": self.backend.transport, "tls_policy": p}
                   for p in policies}
        self.mg = MailGuard(config={"resolvers": self.dns.resolver, "dns_timeout_ms": 1000,
                                    "outbound_port": self.port, "retry_min": "1h",
                                    "tls_ca_file": str(ca.cert)},
                            domains=domains).start()

    def line(self, rcpt, timeout=30):
        m = self.mg.wait_log(r"to=<%s> .*status=(sent|deferred|bounced).*$" % re.escape(rcpt),
                             timeout=timeout)
        return m.group(0)


def check(rig, sender, host, want_tls, want_status, want_tag):
    rcpt = f"u@{host}.dest.test"
    send(rig.mg, sender, rcpt)
    line = rig.line(rcpt)
    assert f"status={want_status}" in line, line
    assert re.search(r"tls=%s\b" % want_tag, line), f"want tls={want_tag}: {line}"
    sink = rig.sinks[host]
    if want_status == "sent":
        msgs = [m for m in sink.messages if rcpt in m.rcpt_tos]
        assert len(msgs) == 1, sink.messages
        assert msgs[0].tls == want_tls, (msgs[0].tls, want_tls)
        if want_tls:
            assert msgs[0].tls_version in ("TLSv1.2", "TLSv1.3"), msgs[0].tls_version
            assert msgs[0].tls_cipher, "no cipher recorded"
            assert msgs[0].tls_cipher in line, f"cipher {msgs[0].tls_cipher} not logged: {line}"
    else:
        assert not [m for m in sink.messages if rcpt in m.rcpt_tos]
    return line


def test_policy_none_never_starts_tls():
    rig = Rig(["none"])
    check(rig, "a@none.test", "plain", False, "sent", "none")
    check(rig, "a@none.test", "selfsigned", False, "sent", "none")
    check(rig, "a@none.test", "good", False, "sent", "none")


def test_policy_may_is_opportunistic():
    rig = Rig(["may"])
    check(rig, "a@may.test", "plain", False, "sent", r"may/plaintext")
    check(rig, "a@may.test", "selfsigned", True, "sent", r"may/TLSv1\.[23]/\S+")
    check(rig, "a@may.test", "good", True, "sent", r"may/TLSv1\.[23]/\S+")
    # the handshake fails: reconnect and deliver without TLS
    check(rig, "a@may.test", "broken", False, "sent", r"(none|may/plaintext)")
    rig.mg.assert_log(r"TLS handshake failed")


def test_policy_encrypt_requires_tls():
    rig = Rig(["encrypt"])
    line = check(rig, "a@encrypt.test", "plain", False, "deferred", r"failed:starttls-not-supported")
    assert "dsn=4.7.5" in line, line
    check(rig, "a@encrypt.test", "selfsigned", True, "sent", r"encrypt/TLSv1\.[23]/\S+")
    check(rig, "a@encrypt.test", "good", True, "sent", r"encrypt/TLSv1\.[23]/\S+")
    line = check(rig, "a@encrypt.test", "broken", False, "deferred", r"failed:validation-failure")
    assert "dsn=4.7.5" in line, line
    assert rig.sinks["broken"].count == 0 and rig.sinks["plain"].count == 0


def test_null_mx_bounces_and_nxdomain_bounces():
    rig = Rig(["may"])
    send(rig.mg, "a@may.test", "u@nullmx.dest.test")
    line = rig.line("u@nullmx.dest.test")
    assert "status=bounced" in line and "dsn=5.1.10" in line, line
    # the sender gets a DSN through the domain's back-end
    msgs = rig.backend.wait_count(1, timeout=30)
    assert b"5.1.10" in msgs[0].data and msgs[0].rcpt_tos == ["a@may.test"]
    send(rig.mg, "a@may.test", "u@nosuch.dest.test")
    line = rig.line("u@nosuch.dest.test")
    assert "status=bounced" in line and "dsn=5.1.2" in line, line
