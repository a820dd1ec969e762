"""Raw-byte abuse of the SMTP server through the real daemon, in the spirit of Redis
tests/unit/protocol.tcl: overlong lines (two tiers, STYLE.md §10), bare LF/CR and NUL in commands
and content, early pipelining, slow and vanishing clients, the error cap, the idle timeout, and
SMTP smuggling (SEC Consult, 2023): no end-of-data spelling other than <CRLF>.<CRLF> may ever end
a message, so a message hidden in the content is never delivered."""

import re
import select
import socket
import struct
import time

import mgtest
from mgtest import MailGuard, RawClient, Sink, wait_for

HOST = "mx.test.local"


def start(config=None):
    sink = Sink()
    mg = MailGuard(config=config, domains={"example.test": {"transport": sink.transport}}).start()
    return mg, sink


def session(mg, ehlo=True):
    c = RawClient(mg.port)
    c.banner()
    if ehlo:
        c.expect(250, "EHLO client.test")
    return c


enh_of = mgtest.enhanced_code
expect = mgtest.expect_reply


def start_data(c, sender="abuse@client.test", rcpt="abuse@example.test"):
    expect(c, 250, f"MAIL FROM:<{sender}>", "2.1.0")
    expect(c, 250, f"RCPT TO:<{rcpt}>", "2.1.5")
    c.expect(354, "DATA")


def control_message(mg, sink, n, rcpt="control@example.test"):
    """Sends a good message on a new connection and waits until the sink has n messages: proves
    the daemon still serves, and orders the check after anything queued before it."""
    c = session(mg)
    start_data(c, "control@client.test", rcpt)
    c.send(mgtest.make_message("control@client.test", rcpt) + b".\r\n")
    r = c.expect(250)
    c.expect(221, "QUIT")
    sink.wait_count(n)
    return r


def assert_nothing_from(mg, sink, sender):
    got = sink.find(mail_from=sender)
    assert got == [], f"message from {sender} was delivered: {got[0].data[:300]!r}"
    mg.assert_no_log(rf"queued from=<{re.escape(sender)}>")


# -- command lines -------------------------------------------------------------------------------

def test_command_line_length_two_tiers():
    mg, _ = start()
    c = session(mg)
    # 512 octets with CRLF is the RFC 5321 §4.5.3.1.4 limit: still a command.
    line = b"NOOP " + b"x" * (512 - 2 - 5)
    assert len(line) + 2 == 512
    c.send(line + b"\r\n")
    r = c.reply()
    assert r.code == 250, f"got {str(r)!r} to a 512-octet NOOP, want 250"
    # One more octet: 500 5.5.2, and the session goes on.
    c.send(line + b"y\r\n")
    r = c.reply()
    assert r.code == 500 and enh_of(r) == "5.5.2", f"got {str(r)!r}, want 500 5.5.2"
    # The same for a line far over the limit that still ends within the absolute cap.
    c.send(b"MAIL FROM:<" + b"a" * 3000 + b"@client.test>\r\n")
    r = c.reply()
    assert r.code == 500 and enh_of(r) == "5.5.2", f"got {str(r)!r}, want 500 5.5.2"
    expect(c, 250, "MAIL FROM:<ok@client.test>", "2.1.0")
    expect(c, 250, "NOOP", "2.0.0")
    # Past the absolute cap without a line end: a reply, then the connection is closed.
    c.send(b"NOOP " + b"z" * 5000)
    r = c.reply()
    assert r.code == 500 and enh_of(r) == "5.5.2", f"got {str(r)!r}, want 500 5.5.2"
    c.expect_closed()
    # The daemon keeps serving.
    c = session(mg)
    expect(c, 250, "NOOP", "2.0.0")


def test_bare_lf_cr_and_nul_in_commands():
    mg, _ = start()
    for bad, what in ((b"NOOP\n", "bare LF"), (b"NO\rOP\r\n", "bare CR"),
            (b"MAIL FROM:<a@client.test>\n", "bare LF after MAIL"),
            (b"NOOP\r\r\n", "CR CR LF")):
        c = session(mg)
        c.send(bad)
        r = c.reply()
        assert r.code == 521, f"{what}: got {str(r)!r}, want 521 (RFC 5321 §2.3.8)"
        assert enh_of(r).startswith("5."), str(r)
        c.expect_closed()
    # A line that only ends in a bare LF after pipelined good commands: those are answered
    # first, then 521.
    c = session(mg)
    c.send(b"NOOP\r\nRSET\r\nNOOP\n")
    rs = c.replies(3)
    assert [r.code for r in rs] == [250, 250, 521], [str(r) for r in rs]
    c.expect_closed()
    # NUL: 500, and the session continues.
    c = session(mg)
    c.send(b"NO\x00OP\r\n")
    r = c.reply()
    assert r.code == 500 and enh_of(r) == "5.5.2", f"got {str(r)!r}, want 500 5.5.2 for NUL"
    c.send(b"MAIL FROM:<a\x00b@client.test>\r\n")
    r = c.reply()
    assert r.code == 500, f"got {str(r)!r}, want 500 for NUL in MAIL"
    c.send(b"NOOP\x01\r\n")
    r = c.reply()
    assert r.code == 500, f"got {str(r)!r}, want 500 for a control character"
    expect(c, 250, "NOOP", "2.0.0")


def test_too_many_errors_closes():
    mg, _ = start()
    c = session(mg)
    c.send(b"".join(b"BOGUS %d\r\n" % i for i in range(25)))
    rs = []
    for _ in range(25):
        try:
            rs.append(c.reply())
        except mgtest.ConnectionClosed:
            break
    codes = [r.code for r in rs]
    assert codes[:20] == [500] * 20, f"got {codes}, want 20 times 500"
    assert codes[20:] == [421], f"got {codes[20:]} after 20 errors, want one 421 and the end"
    assert enh_of(rs[20]) == "4.7.0", str(rs[20])
    c.expect_closed()
    mg.wait_log(r"Too many errors")


def test_idle_timeout_in_commands_and_data():
    mg, sink = start(config={"smtpd_timeout": "2s"})
    c = session(mg)
    r = c.reply(timeout=10)
    assert r.code == 421 and enh_of(r) == "4.4.2", f"got {str(r)!r}, want 421 4.4.2"
    assert HOST in r.text, str(r)
    c.expect_closed()
    mg.wait_log(r"timeout client=127\.0\.0\.1 state=cmd")
    # Mid-DATA: 421, nothing delivered, no message file left.
    c = session(mg)
    start_data(c, "idle@client.test")
    c.send(b"Subject: idle\r\n\r\nhalf a message")
    r = c.reply(timeout=10)
    assert r.code == 421 and enh_of(r) == "4.4.2", f"got {str(r)!r}, want 421 4.4.2"
    c.expect_closed()
    m = mg.wait_log(r"([0-9a-f]{16}) timeout client=127\.0\.0\.1 state=data")
    qid = m.group(1)
    msg = mg.spool_dir / "incoming" / f"{qid}.msg"
    wait_for(lambda: not msg.exists(), 10, f"{msg} to be removed")
    control_message(mg, sink, 1)
    assert_nothing_from(mg, sink, "idle@client.test")


# -- message content ------------------------------------------------------------------------------

def test_data_content_checks():
    mg, sink = start()
    hdr = b"Subject: content\r\n\r\n"
    # (content, reply code, enhanced code, closed afterwards)
    cases = [
        (b"bare LF\nhere\r\n", 521, "5.5.2", True),
        (b"bare CR\rhere\r\n", 521, "5.5.2", True),
        (b"CR at the end\r\r\n", 521, "5.5.2", True),
        (b"a NUL \x00 here\r\n", 550, "5.6.0", False),
        (b"x" * 999 + b"\r\n", 550, "5.6.0", False),
        (b"y" * 5000 + b"\r\nmore\r\n", 550, "5.6.0", False),
        (b"z" * 3000, 550, "5.6.0", False),       # no line end before the final CRLF.CRLF
    ]
    for i, (content, code, enh, closes) in enumerate(cases):
        sender = f"bad{i}@client.test"
        c = session(mg)
        start_data(c, sender)
        c.send(hdr + content + (b"\r\n" if not content.endswith(b"\r\n") else b"") + b".\r\n")
        r = c.reply()
        assert (r.code, enh_of(r)) == (code, enh), \
            f"case {i} {content[:40]!r}: got {str(r)!r}, want {code} {enh}"
        if closes:
            c.expect_closed()
        else:
            expect(c, 250, "NOOP", "2.0.0")      # the session goes on
            expect(c, 503, "RCPT TO:<x@example.test>", "5.5.1")     # transaction was reset
    # The limits' edges are accepted: 998 octets, and 998 after removing a stuffed dot.
    ok = b"a" * 998 + b"\r\n" + b"." + b"." + b"b" * 997 + b"\r\n" + b"\xff\xfe 8-bit\r\n"
    c = session(mg)
    start_data(c, "edge@client.test", "edge@example.test")
    c.send(hdr + ok + b".\r\n")
    c.expect(250)
    c.expect(221, "QUIT")
    [m] = sink.wait_count(1)
    assert m.mail_from == "edge@client.test", m.mail_from
    assert m.data.endswith(hdr + b"a" * 998 + b"\r\n.." + b"b" * 997 + b"\r\n\xff\xfe 8-bit\r\n") \
        or m.data.endswith(hdr + b"a" * 998 + b"\r\n." + b"b" * 997 + b"\r\n\xff\xfe 8-bit\r\n"), \
        m.data[-120:]
    assert b"." + b"b" * 997 in m.data and b".." + b"b" * 997 not in m.data, \
        "dot-unstuffing (RFC 5321 §4.5.2) was not applied"
    for i in range(len(cases)):
        assert_nothing_from(mg, sink, f"bad{i}@client.test")
    assert sink.count == 1


def send_bdat(c, content, chunk=700):
    """Sends content as BDAT chunks of `chunk` octets (chunk boundaries fall inside lines) and
    returns the reply to the last one."""
    for off in range(0, len(content), chunk):
        part = content[off:off + chunk]
        last = off + chunk >= len(content)
        c.send(b"BDAT %d%s\r\n" % (len(part), b" LAST" if last else b"") + part)
        r = c.reply()
        if last or r.code != 250:
            return r
    return c.cmd("BDAT 0 LAST")


def test_header_limits_for_data_and_bdat():
    """RFC 5321 §6.3 loop detection (over 100 Received: fields) and the header caps of
    common/limits.h (MSG_HEADER_COUNT_MAX fields, MSG_HEADER_SECTION_MAX octets) apply to DATA
    and to BDAT alike; lines that are not header fields end the header section."""
    mg, sink = start()
    rcv = b"".join(b"Received: from hop%d.test by hop%d.test; Mon, 1 Jan 2024 00:00:00 +0000\r\n"
        % (i, i + 1) for i in range(101))
    fields = b"".join(b"X-Field-%d: value\r\n" % i for i in range(1001))
    fold = b"X-Big: start\r\n" + b"".join(b"\t" + b"f" * 900 + b"\r\n" for _ in range(1200))
    bad = [("hops", rcv, 554, "5.4.6"), ("fields", fields, 552, "5.3.4"),
        ("bytes", fold, 552, "5.3.4")]
    good = [
        ("100 hops", b"".join(rcv.split(b"\r\n", 1)[1:]), None),
        # Received: lines in the body are not hops; a body can have any number of lines.
        ("body", b"Subject: b\r\n\r\n" + rcv * 3 + fields, None),
        # A line that is not a header field ends the header section (no blank line needed).
        ("no separator", b"Subject: n\r\nthis line is body text\r\n" + rcv + fields + fold,
            None),
        # A folded header of moderate size is one field.
        ("folded", b"X-Folded: a\r\n" + b" b\r\n" * 1500 + b"\r\nbody\r\n", None)]
    for how in ("data", "bdat"):
        for name, head, code, enh in bad:
            sender = f"hdr-{how}-{name}@client.test"
            c = session(mg)
            expect(c, 250, f"MAIL FROM:<{sender}>", "2.1.0")
            expect(c, 250, "RCPT TO:<hdr@example.test>", "2.1.5")
            content = head + b"Subject: loop\r\n\r\nbody\r\n"
            if how == "data":
                c.expect(354, "DATA")
                c.send(content + b".\r\n")
                r = c.reply()
            else:
                r = send_bdat(c, content)
            assert (r.code, enh_of(r)) == (code, enh), \
                f"{how} {name}: got {str(r)!r}, want {code} {enh}"
            expect(c, 250, "NOOP", "2.0.0")
        for name, content, _ in good:
            c = session(mg)
            sender = f"ok-{how}-{name.replace(' ', '-')}@client.test"
            expect(c, 250, f"MAIL FROM:<{sender}>", "2.1.0")
            expect(c, 250, "RCPT TO:<hdr@example.test>", "2.1.5")
            if how == "data":
                c.expect(354, "DATA")
                c.send(content + b".\r\n")
                r = c.reply()
            else:
                r = send_bdat(c, content, chunk=4093)
            assert r.code == 250, f"{how} {name}: got {str(r)!r}, want 250"
            c.expect(221, "QUIT")
    msgs = sink.wait_count(2 * len(good))
    for how in ("data", "bdat"):
        for name, *_ in bad:
            assert_nothing_from(mg, sink, f"hdr-{how}-{name}@client.test")
    assert len(msgs) == 2 * len(good), [m.mail_from for m in msgs]


def test_pipelining_violations_close():
    mg, sink = start()
    # The message sent before 354 (RFC 2920 §3.1: DATA ends a pipelined group).
    c = session(mg)
    c.send(b"MAIL FROM:<early@client.test>\r\nRCPT TO:<early@example.test>\r\nDATA\r\n"
        b"Subject: early\r\n\r\nbody\r\n.\r\n")
    rs = [c.reply(), c.reply(), c.reply()]
    assert [r.code for r in rs] == [250, 250, 554], [str(r) for r in rs]
    assert enh_of(rs[2]) == "5.5.0", str(rs[2])
    c.expect_closed()
    # A HELO client (no PIPELINING offered) must wait for each reply.
    c = session(mg, ehlo=False)
    c.expect(250, "HELO client.test")
    c.send(b"MAIL FROM:<helo@client.test>\r\nRCPT TO:<helo@example.test>\r\nDATA\r\n")
    r = c.reply()
    assert r.code == 554 and enh_of(r) == "5.5.0", f"got {str(r)!r}, want 554 5.5.0"
    c.expect_closed()
    # ...but one command at a time works.
    c = session(mg, ehlo=False)
    c.expect(250, "HELO client.test")
    start_data(c, "helo-ok@client.test")
    c.send(mgtest.make_message("helo-ok@client.test", "abuse@example.test") + b".\r\n")
    c.expect(250)
    c.expect(221, "QUIT")
    control_message(mg, sink, 2)
    assert_nothing_from(mg, sink, "early@client.test")
    assert_nothing_from(mg, sink, "helo@client.test")


def test_client_that_never_reads_replies():
    """A client pipelining commands without reading the replies: the server must stop reading
    (backpressure) rather than buffer replies without bound, and must lose none of them."""
    mg, _ = start()
    c = session(mg)
    sock = c.sock
    sock.setblocking(False)
    chunk = b"NOOP\r\n" * 8192
    sent = 0
    stalled = False
    # Well past what the socket buffers hold while the server does not read (about 4 MiB here),
    # well short of filling the 16 MiB output cap (whose overflow would flood the log).
    limit = 12 << 20
    while sent < limit:
        _, writable, _ = select.select([], [sock], [], 1.0)
        if not writable:
            stalled = True     # the server stopped reading: what we want
            break
        try:
            sent += sock.send(chunk[sent % len(chunk):] if sent % len(chunk) else chunk)
        except BlockingIOError:
            continue
    assert stalled, f"the server read {sent >> 20} MiB of commands without the replies " \
        "being read (no backpressure)"
    # Every complete NOOP gets its reply, in order, none lost.
    want = sent // 6
    partial = sent % 6
    reply = b"250 2.0.0 Ok\r\n"
    got = 0
    tail = b""
    deadline = time.monotonic() + 30
    while got < want:
        assert time.monotonic() < deadline, f"got {got} replies, want {want}"
        r, _, _ = select.select([sock], [], [], 5)
        assert r, f"no more replies after {got} of {want}"
        data = tail + sock.recv(1 << 20)
        n = len(data) // len(reply)
        assert data[:n * len(reply)] == reply * n, f"unexpected reply in {data[:200]!r}"
        got += n
        tail = data[n * len(reply):]
    assert got == want and tail == b"", f"got {got} replies + {tail!r}, want {want}"
    sock.setblocking(True)
    c.buf = b""
    c.send(b"NOOP\r\n"[partial:] if partial else b"")
    if partial:
        c.expect(250)
    c.expect(221, "QUIT")
    mg.assert_no_log(r"output overflow")


def test_slow_client_byte_by_byte():
    mg, sink = start()
    c = RawClient(mg.port)
    c.banner()
    msg = b"Subject: slow\r\n\r\nslow body\r\n.\r\n"
    steps = [(b"EHLO slow.test\r\n", 250), (b"MAIL FROM:<slow@client.test>\r\n", 250),
        (b"RCPT TO:<slow@example.test>\r\n", 250), (b"DATA\r\n", 354), (msg, 250),
        (b"QUIT\r\n", 221)]
    for data, code in steps:
        c.send_slowly(data, chunk=1, delay=0.01)
        r = c.reply()
        assert r.code == code, f"got {str(r)!r} after {data!r}, want {code}"
    c.expect_closed()
    [m] = sink.wait_count(1)
    assert m.data.endswith(b"Subject: slow\r\n\r\nslow body\r\n"), m.data


def test_client_vanishing_mid_data_leaves_nothing():
    mg, sink = start()
    qids = []
    for how in ("close", "reset", "bdat"):
        mark = mg.log_mark()
        c = session(mg)
        if how == "bdat":
            expect(c, 250, f"MAIL FROM:<vanish-{how}@client.test>", "2.1.0")
            expect(c, 250, "RCPT TO:<vanish@example.test>", "2.1.5")
            c.send(b"BDAT 100000\r\nSubject: vanish\r\n\r\n" + b"x" * 5000)
        else:
            start_data(c, f"vanish-{how}@client.test", "vanish@example.test")
            c.send(b"Subject: vanish\r\n\r\n" + b"line\r\n" * 1000 + b"half a li")
        if how == "reset":
            c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        c.close()
        m = mg.wait_log(r"([0-9a-f]{16}) client=127\.0\.0\.1 (lost connection during "
            r"(data|bdat)|connection error)", since=mark)
        qids.append(m.group(1))
    for qid in qids:
        msg = mg.spool_dir / "incoming" / f"{qid}.msg"
        wait_for(lambda: not msg.exists(), 10, f"{msg} to be removed")
    left = [f for f in mg.spool_files() if f.startswith("incoming/")]
    assert left == [], f"files left in incoming/: {left}"
    control_message(mg, sink, 1)
    for how in ("close", "reset", "bdat"):
        assert_nothing_from(mg, sink, f"vanish-{how}@client.test")
    assert sink.count == 1


# -- SMTP smuggling --------------------------------------------------------------------------------

SMUGGLED = (b"MAIL FROM:<smuggled@attacker.test>\r\nRCPT TO:<victim@example.test>\r\nDATA\r\n"
    b"From: ceo@example.test\r\nSubject: smuggled\r\n\r\nsmuggled body\r\n")
# End-of-data spellings that are not <CRLF>.<CRLF> (SEC Consult 2023 and follow-ups).
VARIANTS = [b"\n.\n", b"\r.\r", b"\n.\r\n", b"\r\n.\n", b"\r.\r\n", b"\r\n.\r", b"\n.\r",
    b"\r.\n", b"\r\n.\r\r\n", b"\r\n\x00.\r\n", b"\r\n.\x00\r\n", b"\n\n.\n\n", b"\r\r.\r\r"]


def test_smtp_smuggling_variants():
    mg, sink = start()
    n = 0
    for split in (False, True):
        for v in VARIANTS:
            n += 1
            c = session(mg)
            start_data(c, f"outer{n}@client.test", "outer@example.test")
            head = b"From: outer@client.test\r\nSubject: outer\r\n\r\nouter body"
            tail = SMUGGLED + b"\r\n.\r\n"
            if split:   # the spelling arrives in its own segment, as a proxy might send it
                c.send(head)
                c.send(v)
                c.send(tail)
            else:
                c.send(head + v + tail)
            r = c.reply()
            assert r.code // 100 == 5, f"variant {v!r} split={split}: got {str(r)!r}, want 5xx"
            try:
                for _ in range(4):      # anything after it must be a refusal too
                    extra = c.reply(timeout=0.3)
                    assert extra.code // 100 != 2, \
                        f"variant {v!r}: the hidden transaction got {str(extra)!r}"
            except (mgtest.WaitTimeout, mgtest.ConnectionClosed):
                pass
            if not c.closed(0):
                c.expect(221, "QUIT")
    control_message(mg, sink, 1)
    assert_nothing_from(mg, sink, "smuggled@attacker.test")
    assert sink.find(rcpt="victim@example.test") == [], "the smuggled message was delivered"
    for i in range(1, n + 1):
        assert_nothing_from(mg, sink, f"outer{i}@client.test")
    assert sink.count == 1, [m.mail_from for m in sink.messages]
