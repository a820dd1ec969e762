"""TLS-RPT data from the delivery role (RFC 8460) end to end: outbound connections made under
the sender domain's TLS policy are reported to the queue (IPC_TLSRPT_RESULT) with the recipient
domain's `_smtp._tls` rua, which delivery looks up in DNS; the queue aggregates them and mails the
gzip JSON report to that rua (here a loopback sink reached through the rua domain's MX). The test
decodes the report and checks the successful and the failed session counts and result types."""

import gzip
import json

import mgtest
from dnsrig import DnsRig
from mgtest import MailGuard, Sink
from tlsrig import send, shared_port

TLS_MX, PLAIN_MX, REPORT_MX = "127.0.0.81", "127.0.0.82", "127.0.0.83"
RUA = "v=TLSRPTv1; rua=mailto:tlsrpt@rep.test"


def reports(sink, n):
    out = {}
    for m in sink.wait_count(n, timeout=60):
        for part in m.message().walk():
            if part.get_content_type() == "application/tlsrpt+gzip":
                doc = json.loads(gzip.decompress(part.get_payload(decode=True)))
                for p in doc["policies"]:
                    out[p["policy"]["policy-domain"]] = p
    return out


def test_results_reach_the_rua_in_a_report():
    dns = DnsRig({"test": [
        ("good", "MX", "10 mx.good.test."), ("mx.good", "A", TLS_MX),
        ("_smtp._tls.good", "TXT", RUA),
        ("plain", "MX", "10 mx.plain.test."), ("mx.plain", "A", PLAIN_MX),
        ("_smtp._tls.plain", "TXT", RUA),
        ("rep", "MX", "10 mx.rep.test."), ("mx.rep", "A", REPORT_MX),
    ]})
    port = shared_port([TLS_MX, PLAIN_MX, REPORT_MX])
    tls_sink = Sink(host=TLS_MX, port=port, tls=True)
    plain_sink = Sink(host=PLAIN_MX, port=port)
    report_sink = Sink(host=REPORT_MX, port=port)
    backend = Sink()
    mg = MailGuard(config={"resolvers": dns.resolver, "dns_timeout_ms": 1000,
                           "outbound_port": port, "retry_min": "1h", "tlsrpt_interval": "4s"},
                   domains={"sender.test": {"transport": backend.transport,
                                            "tls_policy": "encrypt"}}).start()
    send(mg, "a@sender.test", "u@good.test")
    send(mg, "a@sender.test", "u@plain.test")
    tls_sink.wait_count(1, timeout=30)
    mg.wait_log(r"to=<u@plain\.test> .*status=deferred", timeout=30)
    got = reports(report_sink, 2)
    good, plain = got["good.test"], got["plain.test"]
    assert good["policy"]["policy-type"] == "no-policy-found", good
    assert good["summary"]["total-successful-session-count"] >= 1, good
    assert good["summary"]["total-failure-session-count"] == 0, good
    assert plain["summary"]["total-successful-session-count"] == 0, plain
    assert plain["summary"]["total-failure-session-count"] >= 1, plain
    details = plain["failure-details"]
    assert details[0]["result-type"] == "starttls-not-supported", details
    assert details[0]["receiving-ip"] == PLAIN_MX and details[0]["receiving-mx-hostname"] == \
        "mx.plain.test", details
    assert plain_sink.count == 0


def test_sts_failures_are_reported():
    """An MTA-STS policy host with an untrusted certificate (sts-webpki-invalid) and an enforced
    policy whose MX certificate the CA did not sign (certificate-not-trusted, policy type sts)."""
    from tlsrig import HttpsServer
    policy_ip, enforced_ip = "127.0.0.84", "127.0.0.85"
    dns = DnsRig({"test": [
        ("webpki", "MX", "10 mx.webpki.test."), ("mx.webpki", "A", TLS_MX),
        ("_smtp._tls.webpki", "TXT", RUA), ("_mta-sts.webpki", "TXT", "v=STSv1; id=1;"),
        ("mta-sts.webpki", "A", policy_ip),
        ("enf", "MX", "10 mx.enf.test."), ("mx.enf", "A", TLS_MX),
        ("_smtp._tls.enf", "TXT", RUA), ("_mta-sts.enf", "TXT", "v=STSv1; id=2;"),
        ("mta-sts.enf", "A", enforced_ip),
        ("rep", "MX", "10 mx.rep.test."), ("mx.rep", "A", REPORT_MX),
    ]})
    ca = mgtest.make_ca()
    port = shared_port([TLS_MX, REPORT_MX])
    https_port = shared_port([policy_ip, enforced_ip])
    body = b"version: STSv1\nmode: enforce\nmx: *.enf.test\nmx: mx.webpki.test\nmax_age: 600\n"
    HttpsServer(policy_ip, https_port, mgtest.make_cert(cn="mta-sts.webpki.test", name="w"),
                {"/.well-known/mta-sts.txt": (200, "text/plain", body)})
    HttpsServer(enforced_ip, https_port,
                mgtest.make_cert(cn="mta-sts.enf.test", ca=ca, name="e"),
                {"/.well-known/mta-sts.txt": (200, "text/plain", body)})
    tls_sink = Sink(host=TLS_MX, port=port, tls=True)      # self-signed certificate
    report_sink = Sink(host=REPORT_MX, port=port)
    backend = Sink()
    mg = MailGuard(config={"resolvers": dns.resolver, "dns_timeout_ms": 1000,
                           "outbound_port": port, "retry_min": "1h", "tlsrpt_interval": "4s",
                           "tls_ca_file": str(ca.cert), "mta_sts_test_port": https_port},
                   domains={"sender.test": {"transport": backend.transport}}).start()
    send(mg, "a@sender.test", "u@webpki.test")
    tls_sink.wait_count(1, timeout=30)      # no usable policy: delivered opportunistically
    send(mg, "a@sender.test", "u@enf.test")
    mg.wait_log(r"to=<u@enf\.test> .*status=deferred", timeout=30)
    got = reports(report_sink, 2)
    fails = {d["result-type"] for p in got.values() for d in p.get("failure-details", [])}
    assert "sts-webpki-invalid" in fails, got
    enf = got["enf.test"]
    assert enf["policy"]["policy-type"] == "sts", enf
    assert "mode: enforce" in "\n".join(enf["policy"].get("policy-string", [])), enf
    assert enf["failure-details"][0]["result-type"] == "certificate-not-trusted", enf
    assert tls_sink.count == 1
