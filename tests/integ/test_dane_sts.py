"""tls_policy = dane with MTA-STS as the fallback (RFC 8461 §2: DANE takes precedence where the MX
host has DNSSEC-validated TLSA records; MTA-STS applies otherwise). The sender domain uses
tls_policy dane; recipient domains live in a DNSSEC-signed zone (DnsRig: NSD behind a validating
Unbound) or an unsigned one, and publish MTA-STS policies served by loopback HTTPS servers whose
certificates come from the test CA (tls_ca_file). Cases:
  stsbad   signed, no TLSA, STS enforce, MX certificate not from the CA: deferred 4.7.5
           (without the fallback it would go out with opportunistic TLS)
  stsok    signed, no TLSA, STS enforce, MX certificate from the CA: sent, tls=sts-verified
  stsmx    signed, no TLSA, STS enforce whose mx patterns do not match the MX: deferred 4.7.5
  danewins signed, usable TLSA, STS enforce that would fail (pattern and certificate): DANE
           decides, sent with tls=dane-verified
  insecure unsigned zone (MX RRset insecure), STS enforce, CA certificate: sent, sts-verified"""

import re

import mgtest
from dnsrig import DnsRig
from mgtest import MailGuard, Sink
from tlsrig import HttpsServer, send, shared_port, tlsa_rdata

MX_IPS = {"stsbad": "127.0.0.101", "stsok": "127.0.0.102", "stsmx": "127.0.0.103",
          "danewins": "127.0.0.104", "insecure": "127.0.0.105"}
POLICY_IPS = {k: f"127.0.0.{111 + i}" for i, k in enumerate(MX_IPS)}


def domain(k):
    return f"{k}.plain.test" if k == "insecure" else f"{k}.dane.test"


def policy(mx_pattern):
    return (f"version: STSv1\nmode: enforce\nmx: {mx_pattern}\nmax_age: 600\n").encode()


class Rig:
    def __init__(self):
        ca = mgtest.make_ca()
        self.port = port = shared_port(list(MX_IPS.values()))
        hport = shared_port(list(POLICY_IPS.values()))
        self_signed = mgtest.make_cert(cn="mx.stsbad.dane.test", names=(), ips=(), name="ss")
        certs = {k: mgtest.make_cert(cn=f"mx.{domain(k)}", names=(), ips=(), ca=ca, name=k)
                 for k in ("stsok", "stsmx", "insecure")}
        certs["stsbad"] = self_signed
        certs["danewins"] = self_signed     # not from the CA and not named for the MX host
        self.sinks = {k: Sink(host=MX_IPS[k], port=port, cert=certs[k]) for k in MX_IPS}
        patterns = {"stsbad": "mx.stsbad.dane.test", "stsok": "*.stsok.dane.test",
                    "stsmx": "mx.elsewhere.test", "danewins": "mx.elsewhere.test",
                    "insecure": "mx.insecure.plain.test"}
        for k in MX_IPS:
            HttpsServer(POLICY_IPS[k], hport,
                        mgtest.make_cert(cn=f"mta-sts.{domain(k)}", names=(), ips=(), ca=ca,
                                         name=f"p{k}"),
                        {"/.well-known/mta-sts.txt": (200, "text/plain", policy(patterns[k]))})
        signed, plain = [], []
        for k in MX_IPS:
            rows = plain if k == "insecure" else signed
            label = "insecure" if k == "insecure" else k
            rows += [(label, "MX", f"10 mx.{domain(k)}."), (f"mx.{label}", "A", MX_IPS[k]),
                     (f"_mta-sts.{label}", "TXT", f"v=STSv1; id={k}1;"),
                     (f"mta-sts.{label}", "A", POLICY_IPS[k])]
        signed.append((f"_{port}._tcp.mx.danewins", "TLSA", tlsa_rdata(self_signed.cert, 3, 1, 1)))
        self.dns = DnsRig({"dane.test": signed, "plain.test": plain}, dnssec=["dane.test"])
        self.backend = Sink()
        self.mg = MailGuard(config={"resolvers": self.dns.resolver, "dns_timeout_ms": 2000,
                                    "outbound_port": port, "retry_min": "1h",
                                    "tls_ca_file": str(ca.cert), "mta_sts_test_port": hport},
                            domains={"sender.test": {"transport": self.backend.transport,
                                                     "tls_policy": "dane"}}).start()

    def deliver(self, k, timeout=40):
        rcpt = f"u@{domain(k)}"
        send(self.mg, "a@sender.test", rcpt)
        return self.mg.wait_log(r"to=<%s> .*status=(sent|deferred|bounced).*$" % re.escape(rcpt),
                                timeout=timeout).group(0)


RIG = {}


def rig():
    if "r" not in RIG:
        RIG["r"] = Rig()
    return RIG["r"]


def test_no_tlsa_falls_back_to_enforced_sts():
    r = rig()
    line = r.deliver("stsbad")
    assert "status=deferred" in line and "dsn=4.7.5" in line, line
    assert "tls=failed:certificate-not-trusted" in line, line
    assert r.sinks["stsbad"].count == 0
    line = r.deliver("stsok")
    assert "status=sent" in line and re.search(r"tls=sts-verified/TLSv1\.[23]/\S+", line), line
    assert r.sinks["stsok"].count == 1 and r.sinks["stsok"].messages[0].tls


def test_no_tlsa_sts_mx_mismatch_defers():
    r = rig()
    line = r.deliver("stsmx")
    assert "status=deferred" in line and "dsn=4.7.5" in line, line
    assert r.sinks["stsmx"].count == 0


def test_dane_takes_precedence_over_sts():
    r = rig()
    line = r.deliver("danewins")
    assert "status=sent" in line and re.search(r"tls=dane-verified/TLSv1\.[23]/\S+", line), line
    assert r.sinks["danewins"].count == 1


def test_insecure_mx_uses_sts():
    r = rig()
    line = r.deliver("insecure")
    assert "status=sent" in line and re.search(r"tls=sts-verified/TLSv1\.[23]/\S+", line), line
