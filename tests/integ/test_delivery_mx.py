"""Delivery to an unbracketed transport through the real daemon and a real DNS rig (NSD behind
Unbound): the MX lookup (RFC 5321 §5.1) picks hosts in preference order and moves on to the next
when the preferred one refuses connections, a domain without MX records is its own implicit MX,
and a null MX (RFC 7505) or an unknown domain keeps the mail queued with the reason logged."""

import mgtest
from dnsrig import DnsRig
from mgtest import MailGuard, RawClient, Sink

expect = mgtest.expect_reply

ZONES = {
    "mx.test": [
        ("@", "MX", "10 dead.mx.test."),        # preferred, refuses connections
        ("@", "MX", "20 live.mx.test."),
        ("dead", "A", "127.0.0.3"),
        ("live", "A", "127.0.0.1"),
        ("implicit", "A", "127.0.0.1"),         # no MX: implicit MX
        ("nullmx", "MX", "0 ."),
    ],
}


def send(mg, rcpt):
    c = RawClient(mg.port)
    c.banner()
    c.expect(250, "EHLO client.test")
    expect(c, 250, "MAIL FROM:<a@client.test>", "2.1.0")
    expect(c, 250, f"RCPT TO:<{rcpt}>", "2.1.5")
    c.expect(354, "DATA")
    c.send(mgtest.make_message("a@client.test", [rcpt]) + b".\r\n")
    c.expect(250)
    c.expect(221, "QUIT")


def start(domains):
    rig = DnsRig(ZONES)
    sink = Sink()
    doms = {d: {"transport": f"{host}:{sink.port}"} for d, host in domains.items()}
    mg = MailGuard(config={"resolvers": rig.resolver, "dns_timeout_ms": 1000},
        domains=doms).start()
    return mg, sink, rig


def test_mx_preference_and_failover():
    mg, sink, rig = start({"example.test": "mx.test"})
    send(mg, "user@example.test")
    sink.wait_count(1, timeout=20)
    mg.wait_log(r"destination .*mx\.test.*trying the next address")
    mg.wait_log(r"to=<user@example\.test> .*status=sent")
    mg.wait_log(r"relay=mx\.test\[127\.0\.0\.1\]")


def test_implicit_mx():
    mg, sink, rig = start({"example.test": "implicit.mx.test"})
    send(mg, "user@example.test")
    sink.wait_count(1, timeout=20)


def test_null_mx_and_unknown_domain_defer():
    mg, sink, rig = start({"example.test": "nullmx.mx.test", "other.test": "nowhere.mx.test"})
    send(mg, "user@example.test")
    mg.wait_log(r"null MX", timeout=20)
    send(mg, "user@other.test")
    mg.wait_log(r"MX lookup for nowhere\.mx\.test: domain not found", timeout=20)
    assert sink.count == 0
