"""The SMTP server's policy and limits through the real daemon: the relay decision (protected
domain / trusted network / refused, shared/DESIGN.md §1), max_recipients, max_connections and
max_connections_per_ip, and routing of one transaction's recipients to each protected domain's
own transport."""

import re

import mgtest
from mgtest import MailGuard, RawClient, Sink, wait_for

HOST = "mx.test.local"


enh_of = mgtest.enhanced_code
expect = mgtest.expect_reply


def session(mg):
    c = RawClient(mg.port)
    c.banner()
    c.expect(250, "EHLO client.test")
    return c


def send_data(c, sender, rcpts):
    c.expect(354, "DATA")
    c.send(mgtest.make_message(sender, rcpts) + b".\r\n")
    r = c.expect(250)
    m = re.search(r"queued as ([0-9a-f]{16})", r.text)
    assert m, str(r)
    return m.group(1)


def test_relay_trusted_client_queues_outbound():
    sink = Sink()
    mg = MailGuard(domains={"example.test": {"transport": sink.transport}}).start()
    c = session(mg)
    mg.wait_log(r"connect client=127\.0\.0\.1 mynetworks=yes")
    expect(c, 250, "MAIL FROM:<user@example.test>", "2.1.0")
    expect(c, 250, "RCPT TO:<friend@elsewhere.test>", "2.1.5")
    qid = send_data(c, "user@example.test", ["friend@elsewhere.test"])
    c.expect(221, "QUIT")
    # elsewhere.test has no DNS here: the MX lookup fails temporarily and the message stays queued
    mg.wait_log(rf"{qid} to=<friend@elsewhere\.test> .*status=deferred dsn=4\.[0-9.]+ "
        r"(reason|reply)=\"[^\"]+\"")
    out = mg.ctl("queue", "list").stdout
    assert qid in out and "friend@elsewhere.test" in out, f"{qid} not in the queue:\n{out}"
    env = mg.spool_dir / "incoming" / f"{qid}.env"
    text = wait_for(lambda: env.exists() and env.read_text(), 10, str(env))
    assert "\ndirection outbound\n" in text, f"want direction outbound in\n{text}"
    assert sink.count == 0


def test_relay_denied_for_untrusted_client():
    sink = Sink()
    mg = MailGuard(config={"mynetworks": "10.99.0.0/16"},
        domains={"example.test": {"transport": sink.transport}}).start()
    c = session(mg)
    mg.wait_log(r"connect client=127\.0\.0\.1 mynetworks=no")
    expect(c, 250, "MAIL FROM:<stranger@elsewhere.test>", "2.1.0")
    for rcpt in ("victim@elsewhere.test", "user@example.test.evil.test", "user@sub.example.test",
            "user@[192.0.2.1]", "user%example.test@elsewhere.test"):
        r = c.cmd(f"RCPT TO:<{rcpt}>")
        assert r.code == 554 and enh_of(r) == "5.7.1", f"{rcpt}: got {str(r)!r}, want 554 5.7.1"
        assert "Relay access denied" in r.text and rcpt in r.text, str(r)
    # Protected domains are accepted from anyone, in any case; so is <postmaster> (RFC 5321
    # §4.5.1).
    expect(c, 250, "RCPT TO:<User@Example.TEST>", "2.1.5")
    expect(c, 250, "RCPT TO:<postmaster>", "2.1.5")
    qid = send_data(c, "stranger@elsewhere.test", ["User@Example.TEST"])
    c.expect(221, "QUIT")
    msgs = sink.wait_count(1)
    got = sorted(r.lower() for m in msgs for r in m.rcpt_tos)
    assert "user@example.test" in got, got
    assert not any("elsewhere" in r for r in got), got
    mg.assert_no_log(r"to=<victim@elsewhere\.test>")
    assert qid in msgs[0].data.decode("utf-8", "replace")


def test_recipient_limit():
    sink = Sink()
    mg = MailGuard(config={"max_recipients": 3},
        domains={"example.test": {"transport": sink.transport}}).start()
    c = session(mg)
    expect(c, 250, "MAIL FROM:<many@client.test>", "2.1.0")
    rcpts = [f"r{i}@example.test" for i in range(1, 6)]
    for r in rcpts[:3]:
        expect(c, 250, f"RCPT TO:<{r}>", "2.1.5")
    for r in rcpts[3:]:
        reply = c.cmd(f"RCPT TO:<{r}>")
        assert reply.code == 452 and enh_of(reply) == "4.5.3", \
            f"got {str(reply)!r} for recipient 4+, want 452 4.5.3 (RFC 5321 §4.5.3.1.10)"
    send_data(c, "many@client.test", rcpts[:3])
    # The limit is per transaction.
    expect(c, 250, "MAIL FROM:<again@client.test>", "2.1.0")
    expect(c, 250, "RCPT TO:<r4@example.test>", "2.1.5")
    send_data(c, "again@client.test", ["r4@example.test"])
    c.expect(221, "QUIT")
    msgs = sink.wait_count(2)
    first = [m for m in msgs if m.mail_from == "many@client.test"]
    assert len(first) == 1 and first[0].rcpt_tos == rcpts[:3], [m.rcpt_tos for m in first]
    assert sink.find(rcpt="r5@example.test") == []


def connect_refused(mg):
    c = RawClient(mg.port)
    r = c.reply()
    c.expect_closed()
    return r


def test_connection_limit_per_ip():
    sink = Sink()
    mg = MailGuard(config={"max_connections_per_ip": 3},
        domains={"example.test": {"transport": sink.transport}}).start()
    held = [session(mg) for _ in range(3)]
    r = connect_refused(mg)
    assert r.code == 421 and enh_of(r) == "4.7.0", f"got {str(r)!r}, want 421 4.7.0 first"
    assert HOST in r.text, str(r)
    mg.wait_log(r"connection refused: client=127\.0\.0\.1 has max_connections_per_ip \(3\)")
    # The three admitted sessions still work.
    for i, c in enumerate(held):
        expect(c, 250, f"MAIL FROM:<held{i}@client.test>", "2.1.0")
        expect(c, 250, f"RCPT TO:<held{i}@example.test>", "2.1.5")
        send_data(c, f"held{i}@client.test", [f"held{i}@example.test"])
    # A slot frees when a session ends.
    mark = mg.log_mark()
    held[0].expect(221, "QUIT")
    held[0].expect_closed()
    mg.wait_log(r"NOQUEUE disconnect client=127\.0\.0\.1", since=mark)
    c = session(mg)
    expect(c, 250, "NOOP", "2.0.0")
    assert connect_refused(mg).code == 421
    sink.wait_count(3)


def test_connection_limit_global():
    mg = MailGuard(config={"max_connections": 5},
        domains={"example.test": {"transport": "[127.0.0.1]:9"}}).start()
    held = [session(mg) for _ in range(5)]
    r = connect_refused(mg)
    assert r.code == 421 and enh_of(r) == "4.7.0", f"got {str(r)!r}, want 421 4.7.0 first"
    mg.wait_log(r"connection refused: max_connections \(5\) reached")
    for c in held:
        expect(c, 250, "NOOP", "2.0.0")
    mark = mg.log_mark()
    held[-1].expect(221, "QUIT")
    mg.wait_log(r"NOQUEUE disconnect", since=mark)
    c = session(mg)
    expect(c, 250, "NOOP", "2.0.0")


def test_recipients_routed_to_each_domain_transport():
    sink_a, sink_b = Sink(), Sink()
    mg = MailGuard(domains={"a.test": {"transport": sink_a.transport},
        "b.test": {"transport": sink_b.transport},
        "c.test": {"transport": sink_a.transport}}).start()
    rcpts = [f"u{i}@{d}" for i in range(8) for d in ("a.test", "b.test", "c.test")]
    c = session(mg)
    expect(c, 250, "MAIL FROM:<multi@client.test>", "2.1.0")
    # Pipelined, as a real MTA sends them.
    c.send(b"".join(f"RCPT TO:<{r}>\r\n".encode() for r in rcpts))
    for r in rcpts:
        reply = c.reply()
        assert reply.code == 250, f"{r}: got {str(reply)!r}"
    qid = send_data(c, "multi@client.test", rcpts)
    c.expect(221, "QUIT")
    want_a = sorted(r for r in rcpts if not r.endswith("@b.test"))
    want_b = sorted(r for r in rcpts if r.endswith("@b.test"))

    def got(sink):
        return sorted(r for m in sink.messages for r in m.rcpt_tos)
    wait_for(lambda: got(sink_a) == want_a and got(sink_b) == want_b, 15,
        "every recipient at its domain's sink")
    for m in sink_a.messages + sink_b.messages:
        assert m.mail_from == "multi@client.test", m.mail_from
        assert f" id {qid}" in m.data.split(b"\r\n\r\n")[0].decode(), "wrong message"
    assert len(got(sink_a)) == len(want_a), "duplicates at sink A"
