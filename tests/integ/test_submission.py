"""Submission (issue B part 1) through the real daemon: the submission (STARTTLS) and submissions
(implicit TLS, RFC 8314) listeners, SMTP AUTH PLAIN and LOGIN (RFC 4954) with argon2id hashes made
by `mailguardctl auth`, refusals without TLS (538) and without AUTH (530), wrong password and
unknown user (535, same reply), brute-force throttling per client address (454) while another
address still authenticates, relay rules for authenticated users (outbound accepted and delivered
to the recipient's MX; foreign sender 553), Received "with ESMTPSA" (RFC 3848) without the user
name, swaks and Python smtplib as clients."""

import base64
import os
import re
import smtplib
import ssl
import subprocess
import time

import mgtest
from dnsrig import DnsRig
from mgtest import MailGuard, RawClient, Sink

expect = mgtest.expect_reply

USERS = {"alice": "correct horse battery", "bob@example.test": "s3cret-bob"}
ZONES = {
    "remote.test": [
        ("@", "MX", "10 mx.remote.test."),
        ("mx", "A", "127.0.0.1"),
    ],
}


def tls_ctx():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def b64(s):
    return base64.b64encode(s.encode() if isinstance(s, str) else s).decode()


def plain(user, pw):
    return b64(f"\0{user}\0{pw}")


def start(config=None, domains=None, with_dns=False):
    """A daemon with both submission listeners, users made with `mailguardctl auth add`, and
    127.0.0.1 outside mynetworks (so only AUTH lets it relay)."""
    backend = Sink()
    remote = Sink()
    cfg = {"submission_listen": "127.0.0.1:0", "submissions_listen": "127.0.0.1:0",
           "mynetworks": "192.0.2.0/24", "auth_users_file": "users", "retry_min": "1h"}
    rig = None
    if with_dns:
        rig = DnsRig(ZONES)
        cfg.update(resolvers=rig.resolver, dns_timeout_ms=1000, outbound_port=remote.port)
    cfg.update(config or {})
    doms = {"example.test": {"transport": backend.transport}}
    doms.update(domains or {})
    mg = MailGuard(config=cfg, domains=doms)
    for user, pw in USERS.items():
        r = mg.ctl("auth", "add", user, input=pw + "\n")
        assert "added" in r.stdout, r
    mode = os.stat(mg.dir / "users").st_mode & 0o777
    assert mode == 0o600, oct(mode)
    mg.start()
    return mg, backend, remote


def sub_client(mg, kind="submission", source=None):
    return RawClient(mg.listener(kind).port, source=source)


def starttls_client(mg, source=None):
    c = sub_client(mg, "submission", source)
    c.banner()
    c.ehlo()
    c.starttls(tls_ctx())
    c.ehlo()
    return c


def test_listeners_file_names_each_kind():
    mg, _, _ = start()
    kinds = sorted(l.name for l in mg.listeners)
    assert kinds == ["admin", "smtp", "submission", "submissions"], mg.listeners
    mg.assert_log(r"listening on 127\.0\.0\.1 port %d \(submissions\)" % mg.listener("submissions").port)


def test_auth_only_after_starttls_and_538_without_tls():
    mg, _, _ = start()
    c = sub_client(mg)
    c.banner()
    r = c.ehlo()
    assert "STARTTLS" in r.lines and not any(l.startswith("AUTH") for l in r.lines), r.lines
    expect(c, 538, "AUTH PLAIN " + plain("alice", USERS["alice"]), "5.7.11")
    expect(c, 530, "MAIL FROM:<alice@example.test>", "5.7.0")
    c.starttls(tls_ctx())
    r = c.ehlo()
    assert "AUTH PLAIN LOGIN" in r.lines, r.lines
    expect(c, 530, "MAIL FROM:<alice@example.test>", "5.7.0")     # TLS alone is not enough
    expect(c, 235, "AUTH PLAIN " + plain("alice", USERS["alice"]), "2.7.0")
    expect(c, 250, "MAIL FROM:<alice@example.test>", "2.1.0")
    expect(c, 503, "AUTH PLAIN " + plain("alice", USERS["alice"]), "5.5.1")
    mg.wait_log(r"auth client=127\.0\.0\.1 sasl_method=PLAIN sasl_username=alice")
    assert USERS["alice"] not in mg.log_text(), "password in the log"
    assert plain("alice", USERS["alice"]) not in mg.log_text(), "AUTH payload in the log"


def test_port25_offers_auth_after_starttls_and_relays_for_users():
    mg, _, _ = start()
    c = RawClient(mg.port)
    c.banner()
    r = c.ehlo()
    assert not any(l.startswith("AUTH") for l in r.lines), r.lines
    expect(c, 250, "MAIL FROM:<alice@example.test>", "2.1.0")
    expect(c, 554, "RCPT TO:<friend@remote.test>", "5.7.1")       # not trusted, not protected
    c.expect(250, "RSET")
    c.starttls(tls_ctx())
    c.ehlo()
    expect(c, 235, "AUTH PLAIN " + plain("alice", USERS["alice"]), "2.7.0")
    expect(c, 250, "MAIL FROM:<alice@example.test>", "2.1.0")
    expect(c, 250, "RCPT TO:<friend@remote.test>", "2.1.5")


def test_login_mechanism_and_cancel():
    mg, _, _ = start()
    c = starttls_client(mg)
    r = expect(c, 334, "AUTH LOGIN")
    assert r.lines == ["VXNlcm5hbWU6"], r.lines
    r = expect(c, 334, b64("alice"))
    assert r.lines == ["UGFzc3dvcmQ6"], r.lines
    expect(c, 235, b64(USERS["alice"]), "2.7.0")
    c2 = starttls_client(mg)
    expect(c2, 334, "AUTH PLAIN")
    expect(c2, 501, "*", "5.0.0")                                 # RFC 4954 §4 cancel
    expect(c2, 334, "AUTH LOGIN " + b64("alice"))                  # initial response = user
    expect(c2, 501, "*", "5.0.0")
    expect(c2, 504, "AUTH CRAM-MD5", "5.5.4")
    expect(c2, 501, "AUTH PLAIN !!!!", "5.5.4")
    expect(c2, 334, "AUTH PLAIN")
    expect(c2, 501, "not base64", "5.5.2")
    expect(c2, 250, "NOOP")


def test_wrong_password_and_unknown_user_get_the_same_reply():
    mg, _, _ = start()
    c = starttls_client(mg)
    wrong = expect(c, 535, "AUTH PLAIN " + plain("alice", "wrong password"), "5.7.8")
    unknown = expect(c, 535, "AUTH PLAIN " + plain("mallory", "wrong password"), "5.7.8")
    assert str(wrong) == str(unknown), (str(wrong), str(unknown))
    assert str(wrong) == "535 5.7.8 Authentication credentials invalid"
    mg.wait_log(r"auth-failed client=127\.0\.0\.1 sasl_method=PLAIN reason=credentials")
    assert "mallory" not in mg.log_text() and "wrong password" not in mg.log_text()
    expect(c, 530, "MAIL FROM:<alice@example.test>", "5.7.0")
    expect(c, 235, "AUTH PLAIN " + plain("alice", USERS["alice"]), "2.7.0")


def test_brute_force_throttled_per_ip():
    mg, _, _ = start(config={"auth_fail_limit": 3, "auth_fail_window": "10m"})
    c = starttls_client(mg, source="127.0.0.1")
    for i in range(3):
        expect(c, 535, "AUTH PLAIN " + plain("alice", f"guess{i}"), "5.7.8")
    # Now even the right password is not checked from this address.
    r = expect(c, 454, "AUTH PLAIN " + plain("alice", USERS["alice"]), "4.7.0")
    assert "Too many failed authentication attempts" in str(r)
    c2 = starttls_client(mg, source="127.0.0.1")                  # a new connection too
    expect(c2, 454, "AUTH LOGIN", "4.7.0")
    mg.wait_log(r"auth-throttled client=127\.0\.0\.1")
    c3 = starttls_client(mg, source="127.0.0.2")                  # another client address
    expect(c3, 235, "AUTH PLAIN " + plain("alice", USERS["alice"]), "2.7.0")


def test_relay_rules_for_authenticated_user():
    mg, backend, remote = start(with_dns=True)
    c = starttls_client(mg)
    expect(c, 235, "AUTH PLAIN " + plain("bob@example.test", USERS["bob@example.test"]), "2.7.0")
    # foreign sender domain
    expect(c, 250, "MAIL FROM:<bob@foreign.test>", "2.1.0")
    r = expect(c, 553, "RCPT TO:<friend@remote.test>", "5.7.1")
    assert "not a protected domain" in str(r)
    c.expect(250, "RSET")
    # the null sender only from mynetworks
    expect(c, 250, "MAIL FROM:<>", "2.1.0")
    expect(c, 553, "RCPT TO:<friend@remote.test>", "5.7.1")
    c.expect(250, "RSET")
    # a protected sender: outbound accepted, queued, delivered to the MX of remote.test
    expect(c, 250, "MAIL FROM:<bob@example.test>", "2.1.0")
    expect(c, 250, "RCPT TO:<friend@remote.test>", "2.1.5")
    c.expect(354, "DATA")
    c.send(mgtest.make_message("bob@example.test", ["friend@remote.test"], subject="outbound")
           + b".\r\n")
    r = c.expect(250)
    qid = re.search(r"queued as (\S+)", str(r)).group(1)
    msgs = remote.wait_count(1, timeout=30)
    assert msgs[0].rcpt_tos == ["friend@remote.test"] and msgs[0].mail_from == "bob@example.test"
    rec = msgs[0].data.split(b"\r\n\r\n", 1)[0]
    assert re.search(rb"Received: from client\.test \(unknown \[127\.0\.0\.1\]\)\r\n\tby "
                     rb"mx\.test\.local \(MailGuard\) with ESMTPSA id " + qid.encode(), rec), rec
    assert b"bob@example.test" not in rec.split(b"From:")[0], "user name in Received"
    assert b"X-MailGuard" not in rec, "authenticated mail went through the inbound filter"
    assert backend.count == 0


def test_outbound_sender_check_can_be_turned_off():
    mg, _, _ = start(config={"outbound_sender_check": "no"})
    c = starttls_client(mg)
    expect(c, 235, "AUTH PLAIN " + plain("alice", USERS["alice"]), "2.7.0")
    expect(c, 250, "MAIL FROM:<alice@foreign.test>", "2.1.0")
    expect(c, 250, "RCPT TO:<friend@remote.test>", "2.1.5")


def test_smtplib_both_ports_plain_and_login():
    mg, backend, _ = start()
    s = smtplib.SMTP("127.0.0.1", mg.listener("submission").port, local_hostname="client.test",
                     timeout=20)
    mgtest.add_cleanup(s.close, "smtplib")
    s.starttls(context=tls_ctx())
    s.ehlo()
    s.user, s.password = "alice", USERS["alice"]
    code, _ = s.auth("LOGIN", s.auth_login)
    assert code == 235
    s.sendmail("alice@example.test", ["user@example.test"],
               mgtest.make_message("alice@example.test", ["user@example.test"], subject="587"))
    s.quit()
    s = smtplib.SMTP_SSL("127.0.0.1", mg.listener("submissions").port, local_hostname="client.test",
                         context=tls_ctx(), timeout=20)
    mgtest.add_cleanup(s.close, "smtplib ssl")
    s.login("bob@example.test", USERS["bob@example.test"])      # PLAIN (first offered)
    s.sendmail("bob@example.test", ["user@example.test"],
               mgtest.make_message("bob@example.test", ["user@example.test"], subject="465"))
    s.quit()
    msgs = backend.wait_count(2, timeout=20)
    for m in msgs:
        assert b"with ESMTPSA id" in m.data, m.data[:300]
    mg.wait_log(r"sasl_method=LOGIN sasl_username=alice")
    mg.wait_log(r"sasl_method=PLAIN sasl_username=bob@example\.test")


def test_implicit_tls_handshake_first_and_plaintext_client_dropped():
    mg, _, _ = start()
    raw = RawClient(mg.listener("submissions").port)
    # a plaintext client gets no greeting: the server waits for a ClientHello
    assert raw.closed(1.0) is False and raw.buf == b""
    raw.send(b"EHLO client.test\r\n")
    assert raw.closed(10), "a plaintext client on the implicit-TLS port stays connected"
    assert not raw.buf.startswith(b"220"), raw.buf
    import socket
    sock = socket.create_connection(("127.0.0.1", mg.listener("submissions").port), timeout=10)
    tsock = tls_ctx().wrap_socket(sock)
    mgtest.add_cleanup(tsock.close, "tls socket")
    assert tsock.recv(512).startswith(b"220 mx.test.local"), "no greeting after the handshake"
    tsock.sendall(b"EHLO client.test\r\n")
    data = b""
    while not data.endswith(b"\r\n") or b"250 " not in data:
        data += tsock.recv(4096)
    assert b"AUTH PLAIN LOGIN" in data and b"STARTTLS" not in data, data


def swaks(*args):
    return subprocess.run(["swaks", "--server", "127.0.0.1", "--helo", "client.test",
                           "--timeout", "30", *args],
                          capture_output=True, text=True, timeout=60)


def test_swaks_plain_and_login_on_both_ports():
    mg, backend, _ = start()
    sub, subs = str(mg.listener("submission").port), str(mg.listener("submissions").port)
    for mech, port, tls, user in (("PLAIN", sub, "--tls", "alice"),
                                  ("LOGIN", sub, "--tls", "bob@example.test"),
                                  ("PLAIN", subs, "--tls-on-connect", "bob@example.test"),
                                  ("LOGIN", subs, "--tls-on-connect", "alice")):
        r = swaks("--port", port, tls, "--auth", mech, "--auth-user", user,
                  "--auth-password", USERS[user], "--from", "alice@example.test",
                  "--to", "user@example.test", "--header", f"Subject: swaks {mech} {port}")
        assert r.returncode == 0, r.stdout + r.stderr
        assert "235 2.7.0 Authentication successful" in r.stdout, r.stdout
    r = swaks("--port", sub, "--tls", "--auth", "PLAIN", "--auth-user", "alice",
              "--auth-password", "nope", "--from", "alice@example.test", "--to", "user@example.test")
    assert r.returncode != 0 and "535 5.7.8" in r.stdout, r.stdout
    backend.wait_count(4, timeout=30)


def test_long_auth_lines_within_rfc4954_limit():
    mg, _, _ = start()
    c = starttls_client(mg)
    # 12288 octets are allowed (RFC 4954 §4), beyond is "500 5.5.6"; neither closes the session
    expect(c, 535, "AUTH PLAIN " + plain("alice", "x" * 255), "5.7.8")
    expect(c, 501, "AUTH PLAIN " + "A" * 9000, "5.5.2")          # decodes, not a PLAIN message
    expect(c, 500, "AUTH PLAIN " + "A" * 13000, "5.5.6")
    expect(c, 250, "NOOP")


def test_users_file_must_be_private_and_reload_applies_changes():
    mg, _, _ = start()
    c = starttls_client(mg)
    expect(c, 535, "AUTH PLAIN " + plain("carol", "carol-pw"), "5.7.8")
    r = mg.ctl("auth", "add", "carol", input="carol-pw\n")
    assert "added carol" in r.stdout
    mg.reload(wait_log=r"reloaded 3 AUTH user\(s\)")
    c = starttls_client(mg)
    expect(c, 235, "AUTH PLAIN " + plain("carol", "carol-pw"), "2.7.0")
    os.chmod(mg.dir / "users", 0o644)
    r = mg.check_config()
    assert r.returncode != 0 and "chmod 600" in (r.stdout + r.stderr), r


def test_login_cache():
    mg, _, _ = start()
    for i in range(2):
        c = starttls_client(mg)
        expect(c, 235, "AUTH PLAIN " + plain("alice", USERS["alice"]), "2.7.0")
    mg.wait_log(r"sasl_username=alice cached=yes")                # second login: no argon2
    c = starttls_client(mg)
    expect(c, 535, "AUTH PLAIN " + plain("alice", USERS["alice"] + "x"), "5.7.8")
    # a new password (new hash) makes the cached old one useless
    mg.ctl("auth", "add", "alice", input="a brand new password\n")
    mg.reload(wait_log=r"reloaded 2 AUTH user\(s\)")
    c = starttls_client(mg)
    expect(c, 535, "AUTH PLAIN " + plain("alice", USERS["alice"]), "5.7.8")
    expect(c, 235, "AUTH PLAIN " + plain("alice", "a brand new password"), "2.7.0")


def test_ipv6_failures_count_per_64():
    """Failures from 2001:db8::1 and 2001:db8::2 (one /64, presented with XCLIENT by a trusted
    proxy) add up; 2001:db8:0:1::1 (another /64) is not throttled."""
    mg, _, _ = start(config={"auth_fail_limit": 2, "xclient_networks": "127.0.0.0/8"})

    def client(addr):
        c = starttls_client(mg)
        c.expect(220, f"XCLIENT ADDR=IPV6:{addr}")
        c.ehlo()
        return c
    expect(client("2001:db8::1"), 535, "AUTH PLAIN " + plain("alice", "bad1"), "5.7.8")
    expect(client("2001:db8::2"), 535, "AUTH PLAIN " + plain("alice", "bad2"), "5.7.8")
    expect(client("2001:db8::3"), 454, "AUTH PLAIN " + plain("alice", USERS["alice"]), "4.7.0")
    expect(client("2001:db8:0:1::1"), 235, "AUTH PLAIN " + plain("alice", USERS["alice"]), "2.7.0")
