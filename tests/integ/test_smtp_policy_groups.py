"""smtpd's side of the filter (issue C) through the real daemon: recipients whose filtering
policy differs from the transaction's first recipient get 452 4.5.3 (so the client retries them
in a new transaction, each group then gets its own verdict), inbound and outbound recipients are
not mixed, and XCLIENT is honoured only from xclient_networks."""

import mgtest
from mgtest import MailGuard, RawClient, Sink

expect = mgtest.expect_reply


def session(mg):
    c = RawClient(mg.port)
    c.banner()
    c.expect(250, "EHLO client.test")
    return c


def test_recipients_of_another_policy_group_get_452():
    sink = Sink()
    mg = MailGuard(domains={
        "a.test": {"transport": sink.transport, "spam_reject": "10"},
        "b.test": {"transport": sink.transport, "spam_reject": "10"},
        "strict.test": {"transport": sink.transport, "spam_reject": "5", "spam_quarantine": "5"},
        "nospf.test": {"transport": sink.transport, "spam_reject": "10", "disable_layers": "spf"},
    }).start()
    c = session(mg)
    expect(c, 250, "MAIL FROM:<x@sender.test>", "2.1.0")
    expect(c, 250, "RCPT TO:<u@a.test>", "2.1.5")
    expect(c, 250, "RCPT TO:<u@b.test>", "2.1.5")      # same thresholds and layers: one group
    expect(c, 452, "RCPT TO:<u@strict.test>", "4.5.3")  # other thresholds
    expect(c, 452, "RCPT TO:<u@nospf.test>", "4.5.3")   # other disabled layers
    expect(c, 452, "RCPT TO:<friend@elsewhere.test>", "4.5.3")  # outbound (trusted client)
    c.expect(250, "RSET")
    # A new transaction may start with the other group.
    expect(c, 250, "MAIL FROM:<x@sender.test>", "2.1.0")
    expect(c, 250, "RCPT TO:<u@strict.test>", "2.1.5")
    expect(c, 452, "RCPT TO:<u@a.test>", "4.5.3")
    c.expect(221, "QUIT")


def test_domain_with_own_lists_is_its_own_group():
    sink = Sink()
    mg = MailGuard(domains={
        "a.test": {"transport": sink.transport},
        "listed.test": {"transport": sink.transport},
    }, lists={"listed.test.block": "@spam.test\n"}).start()
    c = session(mg)
    expect(c, 250, "MAIL FROM:<x@sender.test>", "2.1.0")
    expect(c, 250, "RCPT TO:<u@a.test>", "2.1.5")
    expect(c, 452, "RCPT TO:<u@listed.test>", "4.5.3")
    c.expect(221, "QUIT")


def test_xclient_only_from_xclient_networks():
    sink = Sink()
    mg = MailGuard(domains={"a.test": {"transport": sink.transport}}).start()
    c = session(mg)
    expect(c, 550, "XCLIENT ADDR=192.0.2.7", "5.7.0")
    c.expect(221, "QUIT")

    mg.configure(config={"xclient_networks": "127.0.0.0/8"})
    mg.reload(wait_log=r"mailguard/smtpd\[\d+\]: info: configuration reloaded")
    c = session(mg)
    expect(c, 501, "XCLIENT NAME=x", "5.5.4")
    c.send(b"XCLIENT ADDR=192.0.2.7 HELO=relay.example\r\n")
    c.banner()
    mg.wait_log(r"xclient client=192\.0\.2\.7 mynetworks=no")
    c.expect(250, "EHLO relay.example")
    # No longer a trusted client: relaying elsewhere is refused now.
    expect(c, 250, "MAIL FROM:<x@sender.test>", "2.1.0")
    expect(c, 554, "RCPT TO:<friend@elsewhere.test>", "5.7.1")
    expect(c, 250, "RCPT TO:<u@a.test>", "2.1.5")
    c.expect(221, "QUIT")
