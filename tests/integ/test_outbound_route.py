"""Outbound routing through the real daemon (issue B, queue side): a recipient outside the
protected domains, accepted from a trusted client, goes to the MX hosts of its domain (looked up
in a real DNS rig: NSD behind Unbound) on outbound_port, here a loopback Sink instead of 25; and
a bounce for a remote sender is delivered to that sender's MX the same way."""

import mgtest
from dnsrig import DnsRig
from mgtest import MailGuard, RawClient, Sink

expect = mgtest.expect_reply

ZONES = {
    "remote.test": [
        ("@", "MX", "10 mx.remote.test."),
        ("mx", "A", "127.0.0.1"),
        ("@", "TXT", "v=spf1 ip4:127.0.0.0/8 -all"),
    ],
}


def send(mg, sender, rcpt):
    c = RawClient(mg.port)
    c.banner()
    c.expect(250, "EHLO client.test")
    expect(c, 250, f"MAIL FROM:<{sender}>", "2.1.0")
    expect(c, 250, f"RCPT TO:<{rcpt}>", "2.1.5")
    c.expect(354, "DATA")
    c.send(mgtest.make_message(sender, [rcpt]) + b".\r\n")
    c.expect(250)
    c.expect(221, "QUIT")


def start(backend_rules=None):
    rig = DnsRig(ZONES)
    remote = Sink()                         # the MX of remote.test
    backend = Sink(rules=backend_rules)     # example.test's back-end
    mg = MailGuard(config={"resolvers": rig.resolver, "dns_timeout_ms": 1000,
                           "outbound_port": remote.port, "retry_min": "1h"},
                   domains={"example.test": {"transport": backend.transport}}).start()
    return mg, remote, backend


def test_outbound_recipient_goes_to_its_mx():
    mg, remote, backend = start()
    send(mg, "alice@example.test", "Bob@remote.test")
    msgs = remote.wait_count(1, timeout=30)
    assert msgs[0].rcpt_tos == ["Bob@remote.test"]
    assert msgs[0].mail_from == "alice@example.test"
    mg.wait_log(r"to=<Bob@remote\.test> relay=\S*\[127\.0\.0\.1\]:%d .*status=sent" % remote.port,
                timeout=20)
    assert backend.count == 0
    mg.assert_no_log(r"not available yet")


def test_bounce_to_remote_sender_is_delivered():
    mg, remote, backend = start({"nobody@example.test": "550 5.1.1 no such user"})
    send(mg, "sender@remote.test", "nobody@example.test")
    msgs = remote.wait_count(1, timeout=30)
    dsn = msgs[0]
    assert dsn.mail_from in ("", "<>")
    assert dsn.rcpt_tos == ["sender@remote.test"]
    assert b"multipart/report" in dsn.data and b"5.1.1" in dsn.data
    mg.wait_log(r"to=<sender@remote\.test> .*status=sent", timeout=20)


def test_unknown_outbound_domain_bounces_to_the_sender():
    """A recipient domain that does not exist (NXDOMAIN) is a permanent failure (RFC 5321 §5.1):
    the queue returns the message to its sender, a protected domain, through its transport."""
    mg, remote, backend = start()
    send(mg, "alice@example.test", "carol@nowhere.test")
    mg.wait_log(r"to=<carol@nowhere\.test> .*status=bounced dsn=5\.1\.2", timeout=30)
    dsn = backend.wait_count(1, timeout=30)[0]
    assert dsn.rcpt_tos == ["alice@example.test"] and dsn.mail_from in ("", "<>")
    assert b"carol@nowhere.test" in dsn.data
    assert remote.count == 0
