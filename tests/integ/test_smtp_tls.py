"""STARTTLS on the SMTP server (RFC 3207) through the real daemon: openssl s_client and smtplib
as clients, TLS 1.2+ only, state reset after the handshake, no second STARTTLS, and the
CVE-2011-0411 plaintext injection defence. The daemon generates its own self-signed
certificate at first start (no tls_cert configured), as an installation does."""

import re
import ssl
import warnings

import mgtest
from mgtest import MailGuard, RawClient, Sink

HOST = "mx.test.local"


def start(tls=False):
    sink = Sink()
    mg = MailGuard(domains={"example.test": {"transport": sink.transport}}, tls=tls).start()
    return mg, sink


def no_verify(maximum=None, minimum=None, ciphers=None):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        if minimum is not None:
            ctx.minimum_version = minimum
        if maximum is not None:
            ctx.maximum_version = maximum
    if ciphers:
        ctx.set_ciphers(ciphers)
    return ctx


expect_enh = mgtest.expect_reply


def ehlo_keywords(r):
    return [l.split()[0].upper() for l in r.lines[1:]]


def received_header(m):
    head = m.data.split(b"\r\n\r\n", 1)[0].decode()
    lines = head.split("\r\n")
    hdr = lines[0]
    for l in lines[1:]:
        if l[:1] not in (" ", "\t"):
            break
        hdr += " " + l.strip()
    return hdr


def test_starttls_with_openssl_s_client():
    mg, sink = start(tls=True)
    # s_client writes all of its input at once, so the script stops short of DATA (which must
    # be the last command of a pipelined group); smtplib delivers over TLS below.
    script = ("EHLO s-client.test\nSTARTTLS\nMAIL FROM:<ossl@client.test>\n"
        "RCPT TO:<ossl@example.test>\nRSET\nQUIT\n")
    for version in ("-tls1_2", "-tls1_3"):
        r = mgtest.run_cmd(["openssl", "s_client", "-starttls", "smtp", "-connect",
            f"127.0.0.1:{mg.port}", "-crlf", "-ign_eof", version,
            "-name", "s-client.test"], input=script, timeout=30)
        out = r.stdout
        assert r.returncode == 0, f"s_client {version} exited {r.returncode}:\n{out}\n{r.stderr}"
        want = "TLSv1.2" if version == "-tls1_2" else "TLSv1.3"
        assert re.search(rf"Protocol\s*:\s*{want}|New, {want}", out), \
            f"{version}: no {want} session in:\n{out}"
        # The EHLO sent inside TLS must not offer STARTTLS again (RFC 3207 §4.2).
        ehlo = re.findall(r"^250[- ]([A-Z0-9-]+)", out, re.M)
        assert "PIPELINING" in ehlo and "STARTTLS" not in ehlo, \
            f"{version}: EHLO keywords inside TLS: {ehlo}"
        assert re.search(r"^503 5\.5\.1 .*TLS already active", out, re.M), \
            f"{version}: a second STARTTLS was not refused with 503:\n{out}"
        replies = re.findall(r"^([0-9]{3}) ([0-9.]+) ", out.split("503 5.5.1", 1)[1], re.M)
        assert replies == [("250", "2.1.0"), ("250", "2.1.5"), ("250", "2.0.0"),
            ("221", "2.0.0")], f"{version}: got replies {replies} inside TLS:\n{out}"
    mg.wait_log(r"NOQUEUE tls client=127\.0\.0\.1 TLSv1\.2/")
    mg.wait_log(r"NOQUEUE tls client=127\.0\.0\.1 TLSv1\.3/")
    assert sink.count == 0


def test_starttls_with_smtplib_resets_the_session():
    mg, sink = start()      # the daemon's own generated certificate
    s = mg.smtp()
    s.ehlo("client.test")
    assert s.has_extn("starttls"), s.esmtp_features
    code, text = s.starttls(context=no_verify())
    assert code == 220 and text.startswith(b"2.0.0"), (code, text)
    assert s.sock.version() in ("TLSv1.2", "TLSv1.3"), s.sock.version()
    # RFC 3207 §4.2: the server forgets the EHLO; MAIL now needs a new EHLO.
    code, text = s.docmd("MAIL", "FROM:<tls@client.test>")
    assert code == 503 and text.startswith(b"5.5.1"), (code, text)
    s.ehlo("client.test")
    assert not s.has_extn("starttls"), f"STARTTLS offered inside TLS: {s.esmtp_features}"
    assert s.has_extn("pipelining") and s.has_extn("chunking"), s.esmtp_features
    code, text = s.docmd("STARTTLS")
    assert code == 503 and text.startswith(b"5.5.1"), f"second STARTTLS: {(code, text)}"
    refused = s.sendmail("tls@client.test", ["tls@example.test"],
        mgtest.make_message("tls@client.test", "tls@example.test"))
    assert refused == {}, refused
    s.quit()
    [m] = sink.wait_count(1)
    hdr = received_header(m)
    assert re.search(r" with ESMTPS id [0-9a-f]{16} for <tls@example\.test>;", hdr), hdr


def test_starttls_refuses_tls_1_1_and_syntax():
    mg, _ = start(tls=True)
    c = RawClient(mg.port)
    c.banner()
    expect_enh(c, 503, "STARTTLS", "5.5.1")        # before EHLO
    c.ehlo()
    expect_enh(c, 501, "STARTTLS now", "5.5.4")
    # A client that offers at most TLS 1.1, with every cipher enabled (so only the protocol
    # version can make the handshake fail): the server must answer "protocol version".
    ctx = no_verify(maximum=ssl.TLSVersion.TLSv1_1, minimum=ssl.TLSVersion.TLSv1,
        ciphers="ALL:@SECLEVEL=0")
    try:
        c.starttls(ctx)
    except ssl.SSLError as e:
        assert "PROTOCOL_VERSION" in str(e) or "UNSUPPORTED_PROTOCOL" in str(e), \
            f"got {e!r}, want a protocol version alert"
    else:
        raise AssertionError(f"a TLS 1.1 client negotiated {c.sock.version()}")
    mg.wait_log(r"TLS handshake failed: .*unsupported protocol")
    r = mgtest.run_cmd(["openssl", "s_client", "-starttls", "smtp", "-connect",
        f"127.0.0.1:{mg.port}", "-tls1_1", "-cipher", "ALL:@SECLEVEL=0"], input="", timeout=30)
    assert r.returncode != 0, f"openssl s_client -tls1_1 succeeded:\n{r.stdout}"
    assert "alert protocol version" in r.stdout + r.stderr, r.stdout + r.stderr
    # The daemon keeps serving TLS 1.2 clients.
    c = RawClient(mg.port)
    c.banner()
    c.ehlo()
    c.starttls(no_verify(maximum=ssl.TLSVersion.TLSv1_2))
    assert c.sock.version() == "TLSv1.2", c.sock.version()
    r = c.expect(250, "EHLO client.test")
    assert "STARTTLS" not in ehlo_keywords(r), str(r)
    c.expect(221, "QUIT")


def test_starttls_plaintext_injection_is_discarded():
    mg, sink = start()
    # CVE-2011-0411: commands pipelined after STARTTLS in the same packet must not be executed
    # inside the TLS session.
    for injected in (b"RSET\r\n", b"MAIL FROM:<evil@attacker.test>\r\nRCPT TO:<x@example.test>\r\n"):
        c = RawClient(mg.port)
        c.banner()
        c.ehlo()
        mark = mg.log_mark()
        c.send(b"STARTTLS\r\n" + injected)
        r = c.reply()
        assert r.code == 220, f"got {str(r)!r}, want 220 to STARTTLS"
        assert c.buf == b"", f"plaintext after the 220: {c.buf!r}"
        c.sock.settimeout(10)
        c.sock = no_verify().wrap_socket(c.sock)
        # The first reply inside TLS must be the one to our EHLO, not one to the injection.
        r = c.expect(250, "EHLO client.test")
        assert r.lines[0] == HOST and len(r.lines) > 1, \
            f"got {str(r)!r} as the first reply inside TLS: the injected bytes were executed"
        # No transaction was started by the injected MAIL.
        expect_enh(c, 503, "RCPT TO:<x@example.test>", "5.5.1")
        expect_enh(c, 250, "NOOP", "2.0.0")
        assert c.buf == b"", f"extra replies inside TLS: {c.buf!r}"
        mg.wait_log(rf"pipelined {len(injected)} bytes after STARTTLS; discarded", since=mark)
        c.expect(221, "QUIT")
    assert sink.count == 0


def test_pipelined_transactions_inside_tls():
    mg, sink = start()
    c = RawClient(mg.port)
    c.banner()
    c.ehlo()
    c.starttls(no_verify())
    c.expect(250, "EHLO client.test")
    msgs = [mgtest.make_message(f"p{i}@client.test", f"p{i}@example.test") for i in range(3)]
    # Three whole transactions, each in one TLS write after the 354 of the one before.
    c.send(b"MAIL FROM:<p0@client.test>\r\nRCPT TO:<p0@example.test>\r\nDATA\r\n")
    assert [r.code for r in c.replies(3)] == [250, 250, 354]
    for i in range(3):
        nxt = (b"MAIL FROM:<p%d@client.test>\r\nRCPT TO:<p%d@example.test>\r\nDATA\r\n"
            % (i + 1, i + 1)) if i < 2 else b"QUIT\r\n"
        c.send(msgs[i] + b".\r\n" + nxt)
        want = [250, 250, 250, 354] if i < 2 else [250, 221]
        got = [r.code for r in c.replies(len(want))]
        assert got == want, f"transaction {i}: got {got}, want {want}"
    got = sink.wait_count(3)
    assert sorted(m.mail_from for m in got) == ["p0@client.test", "p1@client.test",
        "p2@client.test"]
    for m in got:
        i = int(m.mail_from[1])
        assert m.data.endswith(msgs[i]), f"message {i} changed in transit"
        assert " with ESMTPS id " in received_header(m)
