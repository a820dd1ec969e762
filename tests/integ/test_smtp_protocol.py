"""SMTP server side through the real daemon: the RFC 5321 dialogue (smtplib, swaks, byte-level
client), enhanced status codes (RFC 2034), the Received: header, and every advertised extension:
PIPELINING, SIZE, 8BITMIME, SMTPUTF8, CHUNKING, DSN, ENHANCEDSTATUSCODES (STARTTLS is in
test_smtp_tls.py). Each test starts its own daemon and back-end (run.py forks one process per
test, so nothing can be shared between tests)."""

import os
import re
import signal
import socket
import threading
import time

import mgtest
from mgtest import MailGuard, RawClient, Sink, wait_for

HOST = "mx.test.local"
DOMAIN = "example.test"
EXTENSIONS = ["PIPELINING", "SIZE", "STARTTLS", "ENHANCEDSTATUSCODES", "8BITMIME", "DSN",
    "SMTPUTF8", "CHUNKING"]
# RFC 3463 status-code = class "." subject "." detail; class matches the reply's first digit.
ENH_RX = mgtest.ENH_RX
QUEUED_RX = re.compile(r"queued as ([0-9a-f]{16})")


def start(config=None, rules=None, domains=None, sink_kw=None):
    """A Sink and a daemon whose protected domain example.test relays to it."""
    sink = Sink(rules=rules, **(sink_kw or {}))
    doms = {DOMAIN: {"transport": sink.transport}}
    doms.update(domains or {})
    mg = MailGuard(config=config, domains=doms).start()
    return mg, sink


def client(mg, ehlo="client.test"):
    c = RawClient(mg.port)
    c.banner()
    if ehlo:
        c.expect(250, f"EHLO {ehlo}")
    return c


def enh(r, want=None, what=""):
    """Asserts every line of reply r starts with an enhanced status code of r's class (RFC 2034
    §4) and, if want is given, that it is that code. Returns the code."""
    codes = set()
    for line in r.lines:
        m = ENH_RX.match(line)
        assert m, f"{what}: reply {str(r)!r} lacks an enhanced status code (RFC 2034)"
        assert m.group(1) == str(r.code)[0], \
            f"{what}: got class {m.group(1)} in {str(r)!r}, want {str(r.code)[0]}"
        codes.add(m.group(0).strip())
    assert len(codes) == 1, f"{what}: mixed enhanced codes in {str(r)!r}"
    code = codes.pop()
    if want is not None:
        assert code == want, f"{what}: got {str(r)!r}, want enhanced code {want}"
    return code


def expect(c, code, line, want_enh=None):
    """Sends line, asserts the reply code and its enhanced status code."""
    r = c.expect(code, line)
    enh(r, want_enh, line if isinstance(line, str) else repr(line))
    return r


def qid_of(r):
    m = QUEUED_RX.search(r.text)
    assert m, f"got {str(r)!r}, want '250 2.0.0 Ok: queued as <qid>'"
    return m.group(1)


def transaction(c, rcpts=("user@example.test",), sender="sender@client.test", body=None,
        mail_params=""):
    """A whole MAIL/RCPT/DATA transaction, one command at a time; returns the queue id."""
    expect(c, 250, f"MAIL FROM:<{sender}>{mail_params}", "2.1.0")
    for r in rcpts:
        expect(c, 250, f"RCPT TO:<{r}>", "2.1.5")
    c.expect(354, "DATA")
    c.send(body if body is not None else mgtest.make_message(sender, list(rcpts)))
    c.send(b".\r\n")
    r = c.reply()
    assert r.code == 250, f"got {str(r)!r} after the message, want 250"
    enh(r, "2.0.0", "end of DATA")
    return qid_of(r)


def received_header(m):
    """The first (our) Received: header of a sink message, unfolded."""
    first = m.data.split(b"\r\n\r\n", 1)[0].decode("utf-8", "replace")
    assert first.startswith("Received: "), f"message does not start with Received: {first[:200]!r}"
    hdr = first.split("\r\n")[0]
    for line in first.split("\r\n")[1:]:
        if not line[:1] in (" ", "\t"):
            break
        hdr += " " + line.strip()
    return hdr


# -- the basic dialogue ------------------------------------------------------------------------

def test_ehlo_lists_exactly_our_extensions():
    mg, _ = start(config={"max_message_size": "10m"})
    c = RawClient(mg.port)
    r = c.banner()
    assert r.lines == [f"{HOST} MailGuard ESMTP"], f"got banner {str(r)!r}"
    r = c.expect(250, "EHLO client.test")
    assert r.lines[0] == HOST, f"got first EHLO line {r.lines[0]!r}, want {HOST!r}"
    keywords = [l.split()[0].upper() for l in r.lines[1:]]
    assert sorted(keywords) == sorted(EXTENSIONS), f"got {keywords}, want {EXTENSIONS}"
    size = [l for l in r.lines[1:] if l.upper().startswith("SIZE")]
    assert size == ["SIZE 10485760"], f"got {size}, want the configured max_message_size"
    # Every continuation line but the last uses "250-" (RFC 5321 §4.2.1).
    raw = r.raw.split(b"\r\n")[:-1]
    assert all(l.startswith(b"250-") for l in raw[:-1]) and raw[-1].startswith(b"250 "), r.raw
    # A second EHLO is allowed and resets the state (RFC 5321 §4.1.4).
    expect(c, 250, "MAIL FROM:<a@client.test>", "2.1.0")
    c.expect(250, "EHLO again.test")
    expect(c, 503, "RCPT TO:<user@example.test>", "5.5.1")


def test_helo_session_has_no_extensions_but_delivers():
    mg, sink = start()
    c = RawClient(mg.port)
    c.banner()
    r = c.expect(250, "HELO client.test")
    assert r.lines == [HOST], f"got {str(r)!r}, want a one-line '250 {HOST}'"
    # ESMTP parameters need EHLO (RFC 5321 §4.1.1.1, RFC 1869).
    expect(c, 555, "MAIL FROM:<a@client.test> BODY=8BITMIME", "5.5.4")
    expect(c, 555, "MAIL FROM:<a@client.test> SIZE=100", "5.5.4")
    expect(c, 555, "MAIL FROM:<a@client.test> RET=HDRS", "5.5.4")
    expect(c, 250, "MAIL FROM:<a@client.test>", "2.1.0")
    expect(c, 555, "RCPT TO:<helo@example.test> NOTIFY=NEVER", "5.5.4")
    expect(c, 555, "RCPT TO:<helo@example.test> ORCPT=rfc822;helo@example.test", "5.5.4")
    expect(c, 250, "RSET", "2.0.0")
    qid = transaction(c, ["helo@example.test"], "a@client.test")
    expect(c, 221, "QUIT", "2.0.0")
    c.expect_closed()
    [m] = sink.wait_count(1)
    assert m.rcpt_tos == ["helo@example.test"], m.rcpt_tos
    hdr = received_header(m)
    assert f" with SMTP id {qid}" in hdr, f"got {hdr!r}, want 'with SMTP id {qid}'"


def test_smtplib_dialogue_and_envelope():
    mg, sink = start()
    s = mg.smtp()
    code, text = s.ehlo("client.test")
    assert code == 250, (code, text)
    for ext in ("pipelining", "size", "starttls", "enhancedstatuscodes", "8bitmime", "dsn",
            "smtputf8", "chunking"):
        assert s.has_extn(ext), f"smtplib does not see {ext} in {s.esmtp_features}"
    assert s.noop() == (250, b"2.0.0 Ok"), s.noop()
    code, text = s.verify("someone@example.test")
    assert code == 252 and text.startswith(b"2."), (code, text)
    code, text = s.docmd("EXPN", "list")
    assert code == 502 and text.startswith(b"5.5.1"), (code, text)
    code, text = s.docmd("HELP")
    assert code == 214 and text.startswith(b"2.0.0"), (code, text)
    assert s.rset() == (250, b"2.0.0 Ok"), "RSET"
    msg = mgtest.make_message("Alice <alice@client.test>", ["bob@example.test", "carol@example.test"],
        subject="smtplib")
    refused = s.sendmail("alice@client.test", ["bob@example.test", "carol@example.test"], msg)
    assert refused == {}, refused
    code, text = s.quit()
    assert code == 221 and text.startswith(b"2.0.0"), (code, text)
    [m] = sink.wait_count(1)
    assert m.mail_from == "alice@client.test", m.mail_from
    assert m.rcpt_tos == ["bob@example.test", "carol@example.test"], m.rcpt_tos
    assert m.header("Subject") == "smtplib", m.header("Subject")
    # The content arrives unchanged after our one added header.
    assert m.data.endswith(msg), f"content changed in transit: {m.data[-200:]!r}"
    assert m.data.count(b"\r\nReceived: ") == 0 and m.data.startswith(b"Received: "), \
        "want exactly one added Received: header, first"


def test_swaks_esmtp_helo_and_pipelining():
    mg, sink = start()
    base = ["swaks", "--server", f"127.0.0.1:{mg.port}", "--from", "swaks@client.test",
        "--helo", "swaks.client.test", "--timeout", "10"]
    runs = [("esmtp", ["--to", "s1@example.test"]),
        ("helo", ["--to", "s2@example.test", "--protocol", "SMTP"]),
        ("pipeline", ["--to", "s3@example.test,s4@example.test", "--pipeline"])]
    for name, extra in runs:
        r = mgtest.run_cmd(base + extra + ["--header", f"Subject: swaks {name}"], timeout=30)
        assert r.returncode == 0, f"swaks {name} exited {r.returncode}:\n{r.stdout}\n{r.stderr}"
        assert re.search(r"<[-~]  250 2\.0\.0 Ok: queued as [0-9a-f]{16}", r.stdout), r.stdout
        assert re.search(r"<[-~]  221 2\.0\.0", r.stdout), r.stdout
    msgs = sink.wait_count(3)
    by_subject = {m.header("Subject"): m for m in msgs}
    assert by_subject["swaks esmtp"].rcpt_tos == ["s1@example.test"]
    assert by_subject["swaks helo"].rcpt_tos == ["s2@example.test"]
    assert " with SMTP id " in received_header(by_subject["swaks helo"])
    assert sorted(by_subject["swaks pipeline"].rcpt_tos) == ["s3@example.test", "s4@example.test"]
    for m in msgs:
        assert m.mail_from == "swaks@client.test", m.mail_from
        assert received_header(m).startswith("Received: from swaks.client.test "), received_header(m)


def test_enhanced_codes_and_sequencing():
    mg, sink = start()
    c = RawClient(mg.port)
    c.banner()
    # Before HELO/EHLO (RFC 5321 §4.1.4)
    expect(c, 503, "MAIL FROM:<a@client.test>", "5.5.1")
    expect(c, 503, "RCPT TO:<user@example.test>", "5.5.1")
    expect(c, 503, "DATA", "5.5.1")
    expect(c, 250, "NOOP", "2.0.0")
    expect(c, 250, "RSET", "2.0.0")
    c.expect(250, "EHLO client.test")
    # Unknown and unimplemented commands
    r = c.cmd("FROBNICATE now")
    assert r.code in (500, 502), f"got {str(r)!r}, want 500 or 502"
    enh(r, None, "unknown command")
    assert enh(r).startswith("5.5."), str(r)
    r = c.cmd("TURN")
    assert r.code in (500, 502), f"got {str(r)!r}, want 500 or 502"
    enh(r, None, "TURN")
    # Out of sequence inside a session
    expect(c, 503, "RCPT TO:<user@example.test>", "5.5.1")
    expect(c, 503, "DATA", "5.5.1")
    expect(c, 250, "MAIL FROM:<a@client.test>", "2.1.0")
    expect(c, 503, "MAIL FROM:<b@client.test>", "5.5.1")
    r = c.cmd("DATA")      # MAIL without RCPT (RFC 5321 §4.1.1.4: 503 or 554)
    assert r.code == 503, f"got {str(r)!r}, want 503 5.5.1 (no RCPT command was given)"
    enh(r, "5.5.1", "DATA before RCPT")
    # Every RCPT refused: 554 "no valid recipients" (what a pipelining client needs to hear).
    expect(c, 553, "RCPT TO:<ünïcode@example.test>", "5.6.7")
    r = c.cmd("DATA")
    assert r.code == 554, f"got {str(r)!r}, want 554 5.5.1 (all recipients were refused)"
    enh(r, "5.5.1", "DATA after refused RCPTs")
    # Syntax errors
    expect(c, 501, "RCPT TO:user@example.test", "5.5.4")
    expect(c, 501, "RSET now", "5.5.4")
    expect(c, 501, "DATA please", "5.5.4")
    expect(c, 501, "HELO", "5.5.4")
    r = c.cmd("RCPT TO:<not an address>")
    assert r.code in (501, 553), str(r)
    enh(r, None, "bad address")
    expect(c, 555, "RCPT TO:<user@example.test> FOO=BAR", "5.5.4")
    expect(c, 501, "RCPT TO:<user@example.test> NOTIFY=SOMETIMES", "5.5.4")
    expect(c, 250, "RCPT TO:<user@example.test>", "2.1.5")
    # RSET ends the transaction
    expect(c, 250, "RSET", "2.0.0")
    expect(c, 503, "RCPT TO:<user@example.test>", "5.5.1")
    # The rest of the commands
    expect(c, 250, "NOOP", "2.0.0")
    expect(c, 250, "NOOP with an argument", "2.0.0")
    r = expect(c, 252, "VRFY user@example.test")
    assert enh(r).startswith("2."), str(r)
    expect(c, 502, "EXPN staff", "5.5.1")
    r = expect(c, 214, "HELP", "2.0.0")
    assert any("MAIL" in l for l in r.lines), str(r)
    r = c.cmd("AUTH PLAIN AGFAAGI=")
    assert r.code // 100 == 5, str(r)
    enh(r, None, "AUTH")
    # A whole transaction after all of the above still works
    qid = transaction(c, ["seq@example.test"])
    r = expect(c, 221, "QUIT", "2.0.0")
    assert HOST in r.text, str(r)
    c.expect_closed()
    [m] = sink.wait_count(1)
    assert m.rcpt_tos == ["seq@example.test"] and qid in received_header(m)
    assert sink.count == 1, "one message only"


def test_received_header_content():
    mg, sink = start()
    c = client(mg, ehlo="helo.client.test")
    qid = transaction(c, ["rcv@example.test"])
    qid2 = transaction(c, ["rcv1@example.test", "rcv2@example.test"])
    c.expect(221, "QUIT")
    msgs = sink.wait_count(2)
    one = [m for m in msgs if m.rcpt_tos == ["rcv@example.test"]][0]
    two = [m for m in msgs if m is not one][0]
    hdr = received_header(one)
    want = (rf"^Received: from helo\.client\.test \(unknown \[127\.0\.0\.1\]\) by "
        rf"{re.escape(HOST)} \(MailGuard\) with ESMTP id {qid} for <rcv@example\.test>; "
        r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun), [ 0-9]?[0-9] [A-Z][a-z]{2} 20[0-9]{2} "
        r"[0-9]{2}:[0-9]{2}:[0-9]{2} [-+][0-9]{4}$")
    assert re.match(want, hdr), f"got {hdr!r}\nwant /{want}/"
    date = hdr.rsplit("; ", 1)[1]
    ts = mgtest.email.utils.parsedate_to_datetime(date).timestamp()
    assert abs(ts - time.time()) < 120, f"Received: date {date!r} is not now"
    # With several recipients there is no "for" clause (it would disclose the others).
    hdr2 = received_header(two)
    assert f"with ESMTP id {qid2};" in hdr2 and " for <" not in hdr2, hdr2
    # A hostile HELO cannot break the header's structure.
    c = client(mg, ehlo="[127.0.0.1]")
    transaction(c, ["lit@example.test"])
    [m] = [m for m in sink.wait_count(3) if m.rcpt_tos == ["lit@example.test"]]
    assert received_header(m).startswith("Received: from [127.0.0.1] (unknown [127.0.0.1]) by "), \
        received_header(m)


# -- extensions ----------------------------------------------------------------------------------

def test_pipelining_whole_transaction_in_one_write():
    mg, sink = start()
    c = client(mg)
    msg = mgtest.make_message("p@client.test", ["p1@example.test", "p2@example.test"])
    # RFC 2920 §3.1: DATA ends a group; the message goes after 354.
    c.send(b"RSET\r\nMAIL FROM:<p@client.test>\r\nRCPT TO:<p1@example.test>\r\n"
        b"RCPT TO:<nobody@elsewhere.test> NOTIFY=NOPE\r\nRCPT TO:<p2@example.test>\r\n"
        b"NOOP\r\nDATA\r\n")
    rs = c.replies(7)
    got = [(r.code, enh(r) if r.code != 354 else "") for r in rs]
    want = [(250, "2.0.0"), (250, "2.1.0"), (250, "2.1.5"), (501, "5.5.4"), (250, "2.1.5"),
        (250, "2.0.0"), (354, "")]
    assert got == want, f"got {got}, want {want}"
    # The message, its end, and the next transaction plus QUIT in one write.
    c.send(msg + b".\r\nMAIL FROM:<q@client.test>\r\nRCPT TO:<q@example.test>\r\nDATA\r\n")
    rs = c.replies(4)
    assert [r.code for r in rs] == [250, 250, 250, 354], [str(r) for r in rs]
    qid1 = qid_of(rs[0])
    c.send(mgtest.make_message("q@client.test", "q@example.test") + b".\r\nQUIT\r\n")
    rs = c.replies(2)
    assert [r.code for r in rs] == [250, 221], [str(r) for r in rs]
    qid2 = qid_of(rs[0])
    assert qid1 != qid2
    c.expect_closed()
    msgs = sink.wait_count(2)
    m1 = [m for m in msgs if m.mail_from == "p@client.test"][0]
    m2 = [m for m in msgs if m.mail_from == "q@client.test"][0]
    assert m1.rcpt_tos == ["p1@example.test", "p2@example.test"], m1.rcpt_tos
    assert m1.data.endswith(msg) and qid1 in received_header(m1)
    assert m2.rcpt_tos == ["q@example.test"] and qid2 in received_header(m2)


def test_size_declared_and_streamed():
    limit = 20 * 1024
    mg, sink = start(config={"max_message_size": "20k"})
    c = client(mg)
    r = c.cmd(f"MAIL FROM:<big@client.test> SIZE={limit + 1}")
    assert r.code == 552, f"got {str(r)!r}, want 552 for SIZE over the limit (RFC 1870)"
    enh(r, "5.3.4", "MAIL SIZE too big")
    expect(c, 501, "MAIL FROM:<big@client.test> SIZE=12x", "5.5.4")
    expect(c, 501, "MAIL FROM:<big@client.test> SIZE=" + "9" * 25, "5.5.4")
    expect(c, 250, f"MAIL FROM:<big@client.test> SIZE={limit // 2}", "2.1.0")
    expect(c, 250, "RCPT TO:<big@example.test>", "2.1.5")
    c.expect(354, "DATA")
    c.send(mgtest.make_message("big@client.test", "big@example.test", size=limit + 4096))
    r = c.expect(552, ".")
    enh(r, "5.3.4", "message over the limit")
    # The session goes on and a message under the limit goes through.
    small = mgtest.make_message("big@client.test", "ok@example.test", size=limit - 2048)
    transaction(c, ["ok@example.test"], "big@client.test", body=small,
        mail_params=f" SIZE={len(small)}")
    c.expect(221, "QUIT")
    [m] = sink.wait_count(1)
    assert m.rcpt_tos == ["ok@example.test"], m.rcpt_tos
    assert any(o.startswith("SIZE=") for o in m.mail_options), m.mail_options
    mg.wait_log(r"queued from=<big@client\.test>")
    # Over the limit in BDAT chunks: 552 5.3.4 at the last chunk.
    c = client(mg)
    expect(c, 250, "MAIL FROM:<bigbdat@client.test>", "2.1.0")
    expect(c, 250, "RCPT TO:<big@example.test>", "2.1.5")
    chunk = b"x" * 76 + b"\r\n"
    chunk = chunk * (8192 // len(chunk))
    for _ in range(4):
        c.send(b"BDAT %d\r\n" % len(chunk) + chunk)
        assert c.reply().code == 250
    r = c.cmd("BDAT 0 LAST")
    assert r.code == 552, f"got {str(r)!r}, want 552 for a BDAT message over the limit"
    enh(r, "5.3.4", "BDAT over the limit")
    expect(c, 250, "NOOP", "2.0.0")
    assert sink.find(rcpt="big@example.test") == [], "the oversized message was delivered"
    assert sink.count == 1


def test_8bitmime_body_arrives_intact():
    mg, sink = start()
    c = client(mg)
    body = ("Subject: =?utf-8?q?caf=C3=A9?=\r\nMIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
        "Grüße aus Köln — ¡olé! 日本語\r\n").encode() + bytes(range(0x80, 0x100)) + b"\r\n"
    qid = transaction(c, ["8bit@example.test"], body=body, mail_params=" BODY=8BITMIME")
    c.expect(221, "QUIT")
    [m] = sink.wait_count(1)
    assert "BODY=8BITMIME" in m.mail_options, f"got {m.mail_options}, want BODY=8BITMIME"
    assert m.data.endswith(body), f"8-bit content changed: {m.data[-300:]!r}"
    assert qid in received_header(m)
    # BINARYMIME is not advertised, so it is refused (RFC 3030 §3).
    c = client(mg)
    r = c.cmd("MAIL FROM:<a@client.test> BODY=BINARYMIME")
    assert r.code in (501, 555), str(r)
    enh(r, None, "BINARYMIME")
    expect(c, 501, "MAIL FROM:<a@client.test> BODY=9BIT", "5.5.4")


def test_smtputf8_addresses():
    mg, sink = start()
    c = client(mg)
    sender = "grüße@client.test"
    rcpt = "用户@example.test"
    r = c.cmd(f"MAIL FROM:<{sender}>")
    assert r.code == 553, f"got {str(r)!r}, want 553 (RFC 6531 §3.5)"
    enh(r, "5.6.7", "UTF-8 sender without SMTPUTF8")
    expect(c, 250, "MAIL FROM:<ascii@client.test>", "2.1.0")
    r = c.cmd(f"RCPT TO:<{rcpt}>")
    assert r.code == 553, f"got {str(r)!r}, want 553 (RFC 6531 §3.5)"
    enh(r, "5.6.7", "UTF-8 recipient without SMTPUTF8")
    expect(c, 250, "RSET", "2.0.0")
    expect(c, 501, f"MAIL FROM:<{sender}> SMTPUTF8=yes", "5.5.4")
    body = f"From: {sender}\r\nTo: {rcpt}\r\nSubject: ünïcödé\r\n\r\nHallo.\r\n".encode()
    qid = transaction(c, [rcpt], sender, body=body, mail_params=" SMTPUTF8 BODY=8BITMIME")
    c.expect(221, "QUIT")
    [m] = sink.wait_count(1)
    assert m.mail_from == sender, f"got {m.mail_from!r}, want {sender!r}"
    assert m.rcpt_tos == [rcpt], f"got {m.rcpt_tos!r}, want [{rcpt!r}]"
    assert "SMTPUTF8" in m.mail_options, f"got {m.mail_options}, want SMTPUTF8 forwarded"
    assert m.data.endswith(body), m.data[-200:]
    hdr = received_header(m)
    assert f"with UTF8SMTP id {qid}" in hdr, f"got {hdr!r}, want 'with UTF8SMTP' (RFC 6531 §4.3)"


def test_chunking_bdat():
    mg, sink = start()
    c = client(mg)
    # BDAT before MAIL: 503, but the chunk is read (RFC 3030 §2), so NOOP after it works.
    c.send(b"BDAT 12\r\nNOOP\r\nNOOP\r\n")
    r = c.reply()
    assert r.code == 503, f"got {str(r)!r}, want 503 for BDAT before MAIL"
    enh(r, "5.5.1", "BDAT before MAIL")
    expect(c, 250, "NOOP", "2.0.0")
    # Chunks one at a time, then BDAT 0 LAST.
    part1 = b"Subject: chunked\r\nX-Test: 1\r\n\r\nfirst "
    part2 = b"second\r\n.\r\nthird, after a lone dot line that must not end the message\r\n"
    expect(c, 250, "MAIL FROM:<bdat@client.test>", "2.1.0")
    expect(c, 250, "RCPT TO:<bdat@example.test>", "2.1.5")
    c.send(b"BDAT %d\r\n" % len(part1) + part1)
    r = c.reply()
    assert r.code == 250 and f"{len(part1)} octets" in r.text, f"got {str(r)!r}"
    enh(r, "2.0.0", "BDAT chunk")
    expect(c, 503, "DATA", "5.5.1")
    c.send(b"BDAT %d\r\n" % len(part2) + part2)
    r = c.reply()
    assert r.code == 250 and f"{len(part2)} octets" in r.text, f"got {str(r)!r}"
    r = c.cmd("BDAT 0 LAST")
    assert r.code == 250, str(r)
    qid1 = qid_of(r)
    # Pipelined: the whole transaction with two chunks in one write.
    part3 = b"Subject: pipelined chunks\r\n\r\none"
    part4 = b" two\r\n"
    c.send(b"MAIL FROM:<bdat2@client.test>\r\nRCPT TO:<bdat2@example.test>\r\n"
        + b"BDAT %d\r\n" % len(part3) + part3 + b"BDAT %d LAST\r\n" % len(part4) + part4
        + b"NOOP\r\n")
    rs = c.replies(5)
    assert [r.code for r in rs] == [250] * 5, [str(r) for r in rs]
    qid2 = qid_of(rs[3])
    # BDAT after RSET (no transaction): 503, and the data is consumed.
    c.send(b"BDAT 6 LAST\r\nQUIT\r\nNOOP\r\n")
    r = c.reply()
    assert r.code == 503, str(r)
    r = c.reply()
    assert r.code == 250, f"got {str(r)!r}, want 250 to the NOOP after the dropped chunk"
    c.expect(221, "QUIT")
    msgs = sink.wait_count(2)
    m1 = [m for m in msgs if m.mail_from == "bdat@client.test"][0]
    m2 = [m for m in msgs if m.mail_from == "bdat2@client.test"][0]
    assert m1.data.endswith(part1 + part2), f"got {m1.data!r}"
    assert qid1 in received_header(m1) and qid2 in received_header(m2)
    assert m2.data.endswith(part3 + part4), f"got {m2.data!r}"
    assert sink.count == 2


def test_large_messages_arrive_intact():
    mg, sink = start()
    body = b"".join(b"line %07d " % i + b"abcdefghij" * 6 + b"\r\n" for i in range(40000))
    body += b".leading dot\r\n..two dots\r\n"
    content = b"Subject: large\r\n\r\n" + body
    stuffed = content.replace(b"\r\n.", b"\r\n..")
    c = client(mg)
    qid1 = transaction(c, ["large1@example.test"], "large@client.test", body=stuffed)
    # The same content in BDAT chunks of odd sizes, some larger than our input buffer.
    expect(c, 250, "MAIL FROM:<large@client.test>", "2.1.0")
    expect(c, 250, "RCPT TO:<large2@example.test>", "2.1.5")
    off, sizes, i = 0, (1, 65535, 65536, 65537, 300000, 7), 0
    while off < len(content):
        n = sizes[i % len(sizes)]
        part = content[off:off + n]
        off += len(part)
        last = off >= len(content)
        c.send(b"BDAT %d%s\r\n" % (len(part), b" LAST" if last else b"") + part)
        r = c.reply()
        assert r.code == 250, f"chunk {i}: got {str(r)!r}"
        i += 1
    qid2 = qid_of(r)
    c.expect(221, "QUIT")
    msgs = sink.wait_count(2)
    for m, qid in ((sink.find(rcpt="large1@example.test")[0], qid1),
            (sink.find(rcpt="large2@example.test")[0], qid2)):
        assert qid in received_header(m)
        got = m.data.split(b"\r\n", 3)[3]     # after our three-line Received: header
        assert got == content, f"{qid}: content differs at octet " \
            f"{next((k for k in range(min(len(got), len(content))) if got[k] != content[k]), -1)}" \
            f" (got {len(got)} octets, want {len(content)})"
    assert len(msgs) == 2


def test_shutdown_answers_421_to_open_sessions():
    mg, sink = start()
    idle = client(mg)
    mid = client(mg)
    expect(mid, 250, "MAIL FROM:<shut@client.test>", "2.1.0")
    expect(mid, 250, "RCPT TO:<shut@example.test>", "2.1.5")
    mid.expect(354, "DATA")
    mid.send(b"Subject: cut short\r\n\r\npart")
    mg.stop()
    for c in (idle, mid):
        r = c.reply()
        assert r.code == 421, f"got {str(r)!r}, want 421 on shutdown"
        enh(r, "4.3.2", "shutdown")
        c.expect_closed()
    mg.assert_log(r"disconnect client=127\.0\.0\.1")
    mg.start()
    c = client(mg)
    transaction(c, ["after@example.test"])
    sink.wait_count(1)
    assert sink.find(mail_from="shut@client.test") == [], "a cut-short message was delivered"


def role_pid(mg, role):
    for pid in mg.pids():
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if b"-x" in argv and argv[argv.index(b"-x") + 1] == role.encode():
            return pid
    raise AssertionError(f"no {role} process among {mg.pids()}")


def test_queue_loss_answers_421_not_silence():
    """When the queue role goes away (it can stop before smtpd at shutdown, or die), every
    client still gets a 421, including one whose message is waiting for the queue."""
    mg, sink = start()
    idle = client(mg)
    mid = client(mg)
    expect(mid, 250, "MAIL FROM:<lost@client.test>", "2.1.0")
    expect(mid, 250, "RCPT TO:<lost@example.test>", "2.1.5")
    mid.expect(354, "DATA")
    mid.send(b"Subject: queue gone\r\n\r\npart")
    os.kill(role_pid(mg, "queue"), signal.SIGKILL)
    for c in (idle, mid):
        r = c.reply()
        assert r.code == 421, f"got {str(r)!r}, want 421 when the queue is gone"
        enh(r, "4.3.2", "queue gone")
        c.expect_closed()
    mg.wait_log(r"supervisor.*role queue .*(signal|status)")
    rc = mg.stop(check=False)
    assert rc != 0, "the supervisor must report the dead role in its exit status"
    mg.assert_no_log(r"role smtpd \(pid [0-9]+\) ended with status 0x[1-9]")


class DsnBackend:
    """A minimal back-end that advertises DSN (aiosmtpd cannot) and records the MAIL and RCPT
    lines it receives verbatim, to see which DSN parameters the delivery client forwards."""

    def __init__(self):
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(16)
        self.lsock.settimeout(0.2)
        self.port = self.lsock.getsockname()[1]
        self.lines = []
        self.done = 0
        self.cond = threading.Condition()
        self.stopping = False
        self.threads = []
        t = threading.Thread(target=self._accept, daemon=True)
        t.start()
        self.threads.append(t)
        mgtest.add_cleanup(self.stop, f"dsn backend :{self.port}")

    @property
    def transport(self):
        return f"[127.0.0.1]:{self.port}"

    def stop(self):
        self.stopping = True
        for t in self.threads:
            t.join(10)
        self.lsock.close()

    def _accept(self):
        while not self.stopping:
            try:
                conn, _ = self.lsock.accept()
            except socket.timeout:
                continue
            t = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            t.start()
            self.threads.append(t)

    def _serve(self, conn):
        conn.settimeout(0.2)
        f = b""
        in_data = False
        conn.sendall(b"220 dsn.test ESMTP\r\n")
        deadline = time.monotonic() + 60
        try:
            while not self.stopping and time.monotonic() < deadline:
                try:
                    chunk = conn.recv(65536)
                except socket.timeout:
                    continue
                if not chunk:
                    return
                f += chunk
                while True:
                    if in_data:
                        end = f.find(b"\r\n.\r\n")
                        if end < 0:
                            break
                        f = f[end + 5:]
                        in_data = False
                        with self.cond:
                            self.done += 1
                            self.cond.notify_all()
                        conn.sendall(b"250 2.0.0 ok\r\n")
                        continue
                    if b"\r\n" not in f:
                        break
                    line, f = f.split(b"\r\n", 1)
                    verb = line[:4].upper()
                    if verb == b"EHLO":
                        conn.sendall(b"250-dsn.test\r\n250-PIPELINING\r\n250-8BITMIME\r\n"
                            b"250-ENHANCEDSTATUSCODES\r\n250 DSN\r\n")
                    elif verb in (b"MAIL", b"RCPT"):
                        with self.cond:
                            self.lines.append(line.decode())
                        conn.sendall(b"250 2.1.0 ok\r\n")
                    elif verb == b"DATA":
                        in_data = True
                        f = b"\r\n" + f      # so an empty body still ends at CRLF.CRLF
                        conn.sendall(b"354 go\r\n")
                    elif verb == b"QUIT":
                        conn.sendall(b"221 2.0.0 bye\r\n")
                        return
                    else:
                        conn.sendall(b"250 2.0.0 ok\r\n")
        finally:
            conn.close()

    def wait_done(self, n, timeout=10):
        with self.cond:
            end = time.monotonic() + timeout
            while self.done < n:
                left = end - time.monotonic()
                assert left > 0, f"timed out waiting for {n} message(s) at the DSN back-end; " \
                    f"lines {self.lines}"
                self.cond.wait(left)
            return list(self.lines)


def test_dsn_params_stored_and_forwarded():
    backend = DsnBackend()
    sink = Sink(rules={"later@example.test": "451 4.3.0 try again later"})
    mg = MailGuard(domains={DOMAIN: {"transport": sink.transport},
        "dsn.test": {"transport": backend.transport}}).start()
    c = client(mg)
    expect(c, 250, "MAIL FROM:<d@client.test> RET=HDRS ENVID=env+2Bid.42", "2.1.0")
    expect(c, 250, "RCPT TO:<later@example.test> NOTIFY=SUCCESS,DELAY "
        "ORCPT=rfc822;Later+2Bx@example.test", "2.1.5")
    expect(c, 250, "RCPT TO:<never@example.test> NOTIFY=NEVER", "2.1.5")
    c.expect(354, "DATA")
    c.send(mgtest.make_message("d@client.test", "later@example.test") + b".\r\n")
    r = c.reply()
    qid = qid_of(r)
    # Malformed DSN parameters (RFC 3461 §4)
    expect(c, 501, "MAIL FROM:<d@client.test> RET=ALL", "5.5.4")
    expect(c, 501, "MAIL FROM:<d@client.test> ENVID=" + "x" * 101, "5.5.4")
    expect(c, 250, "MAIL FROM:<d@client.test>", "2.1.0")
    expect(c, 501, "RCPT TO:<x@example.test> NOTIFY=NEVER,SUCCESS", "5.5.4")
    expect(c, 501, "RCPT TO:<x@example.test> ORCPT=rfc822", "5.5.4")
    expect(c, 250, "RSET", "2.0.0")
    # Stored: the deferred recipient keeps the message in the queue with its DSN data.
    mg.wait_log(rf"{qid} to=<later@example\.test> .*deferred")
    env_path = mg.spool_dir / "incoming" / f"{qid}.env"
    text = wait_for(lambda: env_path.exists() and env_path.read_text(), 10, f"{env_path}")
    fields = dict(l.split(" ", 1) for l in text.splitlines() if " " in l and
        not l.startswith("rcpt "))
    assert fields.get("ret") == "hdrs", f"got ret {fields.get('ret')!r} in\n{text}"
    assert fields.get("envid") == "env+id.42", f"got envid {fields.get('envid')!r}, " \
        f"want the xtext-decoded 'env+id.42' in\n{text}"
    rcpts = {l.split()[1]: l for l in text.splitlines() if l.startswith("rcpt ")}
    later = rcpts.get("addr=later@example.test", "")
    assert "notify=success,delay" in later, f"got {later!r}"
    assert "orcpt=rfc822;Later+x@example.test" in later, f"got {later!r}"
    assert "notify=never" in rcpts.get("addr=never@example.test", ""), rcpts
    show = mg.ctl("queue", "show", qid).stdout
    assert "later@example.test" in show, show
    # Forwarded: the delivery client passes NOTIFY and RET to a DSN-capable next hop.
    expect(c, 250, "MAIL FROM:<d@client.test> RET=FULL ENVID=abc", "2.1.0")
    expect(c, 250, "RCPT TO:<fwd@dsn.test> NOTIFY=FAILURE ORCPT=rfc822;fwd@dsn.test", "2.1.5")
    c.expect(354, "DATA")
    c.send(mgtest.make_message("d@client.test", "fwd@dsn.test") + b".\r\n")
    c.expect(250)
    c.expect(221, "QUIT")
    lines = backend.wait_done(1)
    mail = [l for l in lines if l.upper().startswith("MAIL")][0]
    rcpt = [l for l in lines if l.upper().startswith("RCPT")][0]
    assert "RET=FULL" in mail, f"got {mail!r}, want RET=FULL forwarded"
    assert "NOTIFY=FAILURE" in rcpt, f"got {rcpt!r}, want NOTIFY=FAILURE forwarded"
    # RFC 3461 §5.2/§5.3: ENVID and ORCPT are relayed to a DSN-capable next hop, xtext-encoded.
    assert "ENVID=abc" in mail, f"got {mail!r}, want ENVID=abc forwarded"
    assert "ORCPT=rfc822;fwd@dsn.test" in rcpt, f"got {rcpt!r}, want ORCPT forwarded"
