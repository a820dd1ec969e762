"""header_rewrite (issue B) through the real daemon: a protected domain's rules (add, remove,
replace, sender address and domain rewriting) are applied by smtpd to the domain's OUTBOUND mail
while it is received, envelope sender included, and seen byte-exact by the recipient's MX (a Sink
found through a real DNS rig); DATA and BDAT alike; inbound mail and other domains' mail are left
alone. Rules are repeated header_rewrite lines in domains.d/<domain>.conf."""

import re

import mgtest
from dnsrig import DnsRig
from mgtest import MailGuard, RawClient, Sink

expect = mgtest.expect_reply

ZONES = {
    "remote.test": [
        ("@", "MX", "10 mx.remote.test."),
        ("mx", "A", "127.0.0.1"),
    ],
}

RULES = """transport = {transport}
header_rewrite = remove X-Originating-IP
header_rewrite = replace Organization: Example Ltd
header_rewrite = add X-Policy: outbound; checked # not a comment
header_rewrite = sender @internal.example.test @example.test
header_rewrite = sender old@example.test new@example.test
"""

HEADER_IN = (b"From: \"alice@internal.example.test\" <alice@internal.example.test>\r\n"
             b"To: friend@remote.test\r\n"
             b"X-Originating-IP: [10.1.2.3]\r\n"
             b"Subject: rewrite test\r\n"
             b"Organization: Old\r\n"
             b" Corp\r\n"
             b"Reply-To: old@example.test, other@internal.example.test\r\n"
             b"x-originating-ip: [10.1.2.4]\r\n"
             b"Organization: Second\r\n"
             b"Message-ID: <1@internal.example.test>\r\n")
BODY = (b"\r\nFrom: alice@internal.example.test stays in the body\r\n"
        b"X-Originating-IP: body too\r\n")
HEADER_OUT = (b"From: \"alice@internal.example.test\" <alice@example.test>\r\n"
              b"To: friend@remote.test\r\n"
              b"Subject: rewrite test\r\n"
              b"Organization: Example Ltd\r\n"
              b"Reply-To: new@example.test, other@example.test\r\n"
              b"Message-ID: <1@internal.example.test>\r\n"
              b"X-Policy: outbound; checked # not a comment\r\n")


def start():
    rig = DnsRig(ZONES)
    remote = Sink()
    backend = Sink()
    mg = MailGuard(config={"resolvers": rig.resolver, "dns_timeout_ms": 1000,
                           "outbound_port": remote.port, "retry_min": "1h"},
                   domains={"example.test": {"transport": backend.transport},
                            "plain.test": {"transport": backend.transport}})
    mg.write_file("domains.d/example.test.conf", RULES.format(transport=backend.transport))
    mg.start()
    return mg, remote, backend


def without_received(data):
    """The message after our own Received: field (first field, with its continuation lines)."""
    assert data.startswith(b"Received: "), data[:200]
    lines = data.split(b"\r\n")
    i = 1
    while lines[i].startswith((b" ", b"\t")):
        i += 1
    return b"\r\n".join(lines[i:])


def send_data(mg, sender, rcpt, content):
    c = RawClient(mg.port)
    c.banner()
    c.ehlo()
    expect(c, 250, f"MAIL FROM:<{sender}>", "2.1.0")
    expect(c, 250, f"RCPT TO:<{rcpt}>", "2.1.5")
    c.expect(354, "DATA")
    c.send(content.replace(b"\r\n.", b"\r\n..") + b".\r\n")
    r = c.expect(250)
    c.expect(221, "QUIT")
    return re.search(r"queued as (\S+)", str(r)).group(1)


def send_bdat(mg, sender, rcpt, content):
    c = RawClient(mg.port)
    c.banner()
    c.ehlo()
    expect(c, 250, f"MAIL FROM:<{sender}>", "2.1.0")
    expect(c, 250, f"RCPT TO:<{rcpt}>", "2.1.5")
    # chunks that split the header section in the middle of a field name and of a line
    cut1, cut2 = 7, len(HEADER_IN) - 20
    for chunk in (content[:cut1], content[cut1:cut2]):
        c.send(b"BDAT %d\r\n" % len(chunk) + chunk)
        c.expect(250)
    last = content[cut2:]
    c.send(b"BDAT %d LAST\r\n" % len(last) + last)
    c.expect(250)
    c.expect(221, "QUIT")


def test_rules_applied_byte_exact_to_outbound_data():
    mg, remote, backend = start()
    qid = send_data(mg, "old@example.test", "friend@remote.test", HEADER_IN + BODY)
    m = remote.wait_count(1, timeout=30)[0]
    assert m.mail_from == "new@example.test", m.mail_from          # envelope sender rule
    got = without_received(m.data)
    assert got == HEADER_OUT + BODY, f"got\n{got!r}\nwant\n{(HEADER_OUT + BODY)!r}"
    mg.wait_log(rf"{qid} header_rewrite changes=5")
    mg.wait_log(rf"{qid} header_rewrite envelope sender from=<new@example\.test>")
    assert backend.count == 0


def test_rules_applied_to_bdat_chunks_split_inside_the_header():
    mg, remote, _ = start()
    send_bdat(mg, "alice@example.test", "friend@remote.test", HEADER_IN + BODY)
    m = remote.wait_count(1, timeout=30)[0]
    assert m.mail_from == "alice@example.test"
    assert without_received(m.data) == HEADER_OUT + BODY, without_received(m.data)


def test_message_without_body_and_header_only_message():
    mg, remote, _ = start()
    send_data(mg, "alice@example.test", "friend@remote.test",
              b"From: a@internal.example.test\r\nX-Originating-IP: 1\r\n")
    m = remote.wait_count(1, timeout=30)[0]
    assert without_received(m.data) == (b"From: a@example.test\r\n"
                                        b"X-Policy: outbound; checked # not a comment\r\n"), m.data


def test_inbound_and_other_domains_are_not_rewritten():
    mg, remote, backend = start()
    # inbound to the protected domain: untouched
    send_data(mg, "someone@remote.test", "user@example.test", HEADER_IN + BODY)
    m = backend.wait_count(1, timeout=30)[0]
    got = m.data.split(b"From: ", 1)
    assert b"From: " + got[1] == HEADER_IN + BODY, m.data
    # outbound from another protected domain without rules: untouched
    send_data(mg, "bob@plain.test", "friend@remote.test", HEADER_IN + BODY)
    m = remote.wait_count(1, timeout=30)[0]
    assert without_received(m.data) == HEADER_IN + BODY, m.data
    assert m.mail_from == "bob@plain.test"
