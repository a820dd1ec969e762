"""DANE for SMTP (RFC 7672) through the real daemon: the sender domain has tls_policy = dane;
the recipient domains live in a DNSSEC-signed zone served by NSD behind a validating Unbound (the
DnsRig, trust anchor given to Unbound), so MailGuard sees the AD bit. Cases (after the OpenSSL
DANE vectors in shared/corpora/dane: EE and TA matches, mismatches, unusable usages, names):
  ee      3 1 1 of the receiver's self-signed key whose name is NOT the MX host: verified
          (DANE-EE ignores names), logged tls=dane-verified/...
  wrong   3 1 1 of another key: deferred 4.7.5, nothing delivered (no plaintext fallback)
  ta      2 0 1 of a private CA, the receiver sends leaf + CA, leaf named after the MX host: verified
  taname  2 0 1 of that CA, leaf named for another host: deferred (DANE-TA checks the name)
  pkix    only 1 1 1 (PKIX-EE, unusable for SMTP): TLS without authentication (tls=encrypt/...)
  notlsa  no TLSA: opportunistic (tls=may/...)
  bogus   TLSA RRset in a zone whose signature does not validate (SERVFAIL): deferred
  insecure (unsigned zone) with a wrong TLSA record: ignored, opportunistic TLS delivers
  notls   usable TLSA but the receiver offers no STARTTLS: deferred, never sent in plaintext."""

import re

import mgtest
from dnsrig import DnsRig
from mgtest import Cert, MailGuard, Sink
from tlsrig import send, shared_port, tlsa_rdata

IPS = {"ee": "127.0.0.41", "wrong": "127.0.0.42", "ta": "127.0.0.43", "taname": "127.0.0.44",
       "pkix": "127.0.0.45", "notlsa": "127.0.0.46", "bogus": "127.0.0.47",
       "insecure": "127.0.0.48", "notls": "127.0.0.49"}


def chain(cert, ca, directory):
    """A Cert whose certificate file holds leaf + CA (DANE-TA needs the TA in the chain)."""
    path = directory / f"{cert.cn}-chain.pem"
    path.write_bytes(cert.cert.read_bytes() + ca.cert.read_bytes())
    return Cert(path, cert.key, cert.cn)


class Rig:
    def __init__(self):
        d = mgtest.tmpdir("dane")
        self.port = port = shared_port(list(IPS.values()))
        ca = mgtest.make_ca(d / "ca" if False else None)
        self_ee = mgtest.make_cert(cn="not-the-mx.example", names=(), ips=(), name="ee")
        other = mgtest.make_cert(cn="other.example", names=(), ips=(), name="other")
        ta_ok = chain(mgtest.make_cert(cn="mx.ta.dane.test", names=(), ips=(), ca=ca,
                                       name="taok"), ca, d)
        ta_bad = chain(mgtest.make_cert(cn="elsewhere.example", names=(), ips=(), ca=ca,
                                        name="tabad"), ca, d)
        plain_cert = mgtest.make_cert(cn="mx.any.test", name="any")
        certs = {"ee": self_ee, "wrong": self_ee, "ta": ta_ok, "taname": ta_bad,
                 "pkix": plain_cert, "notlsa": plain_cert, "bogus": self_ee,
                 "insecure": self_ee}
        self.sinks = {k: Sink(host=IPS[k], port=port, cert=certs[k]) for k in IPS if k != "notls"}
        self.sinks["notls"] = Sink(host=IPS["notls"], port=port)    # no STARTTLS at all
        t = f"_{port}._tcp"
        ee = tlsa_rdata(self_ee.cert, 3, 1, 1)
        rows = []
        for k in ("ee", "wrong", "ta", "taname", "pkix", "notlsa", "bogus", "notls"):
            rows += [(k, "MX", f"10 mx.{k}.dane.test."), (f"mx.{k}", "A", IPS[k])]
        rows += [
            (f"{t}.mx.ee", "TLSA", ee),
            (f"{t}.mx.notls", "TLSA", ee),
            (f"{t}.mx.wrong", "TLSA", tlsa_rdata(other.cert, 3, 1, 1)),
            (f"{t}.mx.ta", "TLSA", tlsa_rdata(ca.cert, 2, 0, 1)),
            (f"{t}.mx.taname", "TLSA", tlsa_rdata(ca.cert, 2, 0, 1)),
            (f"{t}.mx.pkix", "TLSA", tlsa_rdata(plain_cert.cert, 1, 1, 1)),
        ]
        zones = {
            "dane.test": rows,
            # its own zone with a trust anchor for another key: validation fails (SERVFAIL)
            f"{t}.mx.bogus.dane.test": [("@", "TLSA", ee)],
            "insecure.test": [("@", "MX", "10 mx.insecure.test."), ("mx", "A", IPS["insecure"]),
                              (f"{t}.mx", "TLSA", tlsa_rdata(other.cert, 3, 1, 1))],
        }
        self.dns = DnsRig(zones, dnssec=["dane.test"], bogus=[f"{t}.mx.bogus.dane.test"])
        self.backend = Sink()
        self.mg = MailGuard(config={"resolvers": self.dns.resolver, "dns_timeout_ms": 2000,
                                    "outbound_port": port, "retry_min": "1h"},
                            domains={"sender.test": {"transport": self.backend.transport,
                                                     "tls_policy": "dane"}}).start()

    def deliver(self, rcpt, timeout=30):
        send(self.mg, "a@sender.test", rcpt)
        return self.mg.wait_log(r"to=<%s> .*status=(sent|deferred|bounced).*$" % re.escape(rcpt),
                                timeout=timeout).group(0)


RIG = {}


def rig():
    # one rig per test process (run.py runs each test in its own child)
    if "r" not in RIG:
        RIG["r"] = Rig()
    return RIG["r"]


def sent_over_tls(r, key, rcpt):
    msgs = [m for m in r.sinks[key].messages if rcpt in m.rcpt_tos]
    assert len(msgs) == 1, r.sinks[key].messages
    assert msgs[0].tls and msgs[0].tls_version in ("TLSv1.2", "TLSv1.3"), msgs[0]
    return msgs[0]


def test_dane_ee_verified_ignoring_the_name():
    r = rig()
    line = r.deliver("u@ee.dane.test")
    assert "status=sent" in line and re.search(r"tls=dane-verified/TLSv1\.[23]/\S+", line), line
    sent_over_tls(r, "ee", "u@ee.dane.test")


def test_dane_wrong_tlsa_defers():
    r = rig()
    line = r.deliver("u@wrong.dane.test")
    assert "status=deferred" in line and "dsn=4.7.5" in line, line
    assert "tls=failed:tlsa-invalid" in line, line
    assert r.sinks["wrong"].count == 0


def test_dane_ta_checks_the_mx_name():
    r = rig()
    line = r.deliver("u@ta.dane.test")
    assert "status=sent" in line and "tls=dane-verified/" in line, line
    sent_over_tls(r, "ta", "u@ta.dane.test")
    line = r.deliver("u@taname.dane.test")
    assert "status=deferred" in line and "dsn=4.7.5" in line, line
    assert r.sinks["taname"].count == 0


def test_dane_unusable_records_mean_unauthenticated_tls():
    r = rig()
    line = r.deliver("u@pkix.dane.test")
    assert "status=sent" in line and re.search(r"tls=encrypt/TLSv1\.[23]/", line), line
    sent_over_tls(r, "pkix", "u@pkix.dane.test")


def test_dane_without_tlsa_is_opportunistic():
    r = rig()
    line = r.deliver("u@notlsa.dane.test")
    assert "status=sent" in line and re.search(r"tls=may/TLSv1\.[23]/", line), line


def test_dane_bogus_tlsa_defers():
    r = rig()
    line = r.deliver("u@bogus.dane.test")
    assert "status=deferred" in line and "dsn=4.7.5" in line, line
    assert r.sinks["bogus"].count == 0
    r.mg.assert_log(r"TLSA lookup for MX host mx\.bogus\.dane\.test failed")


def test_dane_insecure_zone_ignores_tlsa():
    r = rig()
    line = r.deliver("u@insecure.test")
    assert "status=sent" in line and re.search(r"tls=may/TLSv1\.[23]/", line), line


def test_dane_receiver_without_starttls_defers():
    r = rig()
    line = r.deliver("u@notls.dane.test")
    assert "status=deferred" in line and "dsn=4.7.5" in line, line
    assert "tls=failed:starttls-not-supported" in line, line
    assert r.sinks["notls"].count == 0
