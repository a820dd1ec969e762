"""The filter role end to end through the real daemon (issue C): smtpd sends CONNECT/MAIL/CHECK
over IPC, the filter answers with a verdict, over a real DNS rig (NSD behind Unbound) serving
SPF, DMARC and RBL data. XCLIENT (allowed from loopback by xclient_networks) presents
non-loopback client addresses so SPF and RBL have something to judge; mynetworks is moved off
loopback so the client is not trusted. Cases: SPF fail + DMARC p=reject -> 550 5.7.1; a clean
message is delivered with Authentication-Results and X-MailGuard-* headers; an RBL hit adds its
score; block list -> 550; allow list beats a high score; quarantine threshold -> 250 and logged;
greylisting -> 451 4.7.1 then accepted on the retry (greylist_delay = 0); a second recipient
domain with other thresholds gets 452 4.5.3."""

import email.utils
import re

import mgtest
from dnsrig import DnsRig
from mgtest import MailGuard, RawClient, Sink

DOMAIN = "example.test"
GOOD_IP = "192.0.2.20"          # inside sender.test's SPF
LISTED_IP = "192.0.2.10"        # inside SPF and listed in rbl.test
GREY_IP = "192.0.2.30"
SPOOF_IP = "198.51.100.7"       # outside SPF

ZONES = {
    "sender.test": [
        ("@", "TXT", "v=spf1 ip4:192.0.2.0/24 -all"),
        ("_dmarc", "TXT", "v=DMARC1; p=reject"),
    ],
    "rbl.test": [
        ("10.2.0.192", "A", "127.0.0.2"),
    ],
}


def setup(domain_kw=None, config=None, lists=None, extra_domains=None):
    rig = DnsRig(ZONES)
    sink = Sink()
    dom = {"transport": sink.transport}
    dom.update(domain_kw or {})
    doms = {DOMAIN: dom}
    for d, kw in (extra_domains or {}).items():
        doms[d] = dict({"transport": sink.transport}, **kw)
    cfg = {
        "resolvers": rig.resolver,
        "mynetworks": "203.0.113.0/24",
        "xclient_networks": "127.0.0.0/8",
        "filter_threads": 2,
        "dns_timeout_ms": 1000,
    }
    cfg.update(config or {})
    mg = MailGuard(config=cfg, domains=doms, lists=lists).start()
    return mg, sink, rig


def message(mail_from="alice@sender.test", to=DOMAIN, subject="filter test"):
    return (f"From: Alice <{mail_from}>\r\nTo: user@{to}\r\nSubject: {subject}\r\n"
            f"Date: {email.utils.formatdate()}\r\n"
            f"Message-ID: <{subject.replace(' ', '.')}@sender.test>\r\n\r\nHello.\r\n")


def transaction(mg, ip, rcpts=("user@example.test",), mail_from="alice@sender.test",
        body=None):
    """One SMTP transaction presenting client ip; returns (rcpt replies, final reply)."""
    c = RawClient(mg.port)
    c.banner()
    c.expect(250, "EHLO client.test")
    r = c.cmd(f"XCLIENT ADDR={ip} HELO=mail.sender.test")
    assert r.code == 220, f"XCLIENT: got {r.code} {r.lines}, want 220"
    c.expect(250, "EHLO mail.sender.test")
    c.expect(250, f"MAIL FROM:<{mail_from}>")
    rr = [c.cmd(f"RCPT TO:<{a}>") for a in rcpts]
    if not any(r.code == 250 for r in rr):
        c.close()
        return rr, None
    c.expect(354, "DATA")
    data = body if body is not None else message(mail_from)
    c.send(data.encode() + b".\r\n")
    final = c.reply(timeout=30)
    c.expect(221, "QUIT")
    c.close()
    return rr, final


def text(reply):
    return " ".join(reply.lines)


def test_spf_fail_dmarc_reject_is_refused():
    mg, sink, _ = setup({"spam_reject": 10})
    _, final = transaction(mg, SPOOF_IP)
    assert final.code == 550 and "5.7.1" in text(final), f"got {final.code} {text(final)}, want 550 5.7.1"
    assert "score" in text(final), f"got {text(final)}, want the score in the reply"
    mg.wait_log(r"filter action=reject score=11\.50 symbols=.*SPF_FAIL\(3\.00\).*DMARC_POLICY_REJECT\(8\.00\)")
    assert sink.messages == [], f"got {len(sink.messages)} delivered, want 0"


def test_clean_message_delivered_with_headers():
    mg, sink, _ = setup()
    _, final = transaction(mg, GOOD_IP)
    assert final.code == 250, f"got {final.code} {text(final)}, want 250"
    [m] = sink.wait_count(1)
    ar = str(m.header("Authentication-Results"))
    assert ar.startswith("mx.test.local;"), f"got A-R {ar!r}"
    assert "spf=pass smtp.mailfrom=sender.test" in ar, f"got A-R {ar!r}"
    assert "dkim=none" in ar, f"got A-R {ar!r}"
    assert "dmarc=pass" in ar and "header.from=sender.test" in ar, f"got A-R {ar!r}"
    assert str(m.header("X-MailGuard-Score")) == "-1.00", f"got {m.header('X-MailGuard-Score')}"
    sym = str(m.header("X-MailGuard-Symbols"))
    assert sym == "SPF_PASS(-0.50), DKIM_NONE(0.50), DMARC_PASS(-1.00)", f"got {sym!r}"
    mg.wait_log(r"[0-9a-f]{16} [0-9a-f]{16} filter action=deliver score=-1\.00 .*elapsed_ms=\d+")


def test_rbl_hit_raises_score():
    mg, sink, _ = setup({"greylist": 50, "spam_quarantine": 60, "spam_reject": 70},
        config={"rbl": "rbl.test 3.5"})
    _, final = transaction(mg, LISTED_IP)
    assert final.code == 250, f"got {final.code} {text(final)}"
    _, final = transaction(mg, GOOD_IP)      # not listed: no RBL symbol
    assert final.code == 250, f"got {final.code} {text(final)}"
    msgs = sink.wait_count(2)
    scores = sorted(str(m.header("X-MailGuard-Score")) for m in msgs)
    assert scores == ["-1.00", "2.50"], f"got scores {scores}, want -1.00 and 2.50"
    listed = [m for m in msgs if str(m.header("X-MailGuard-Score")) == "2.50"][0]
    assert "RBL_RBL_TEST(3.50)" in str(listed.header("X-MailGuard-Symbols")), \
        f"got {listed.header('X-MailGuard-Symbols')}"


def test_block_list_rejects():
    mg, sink, _ = setup(lists={"global.block": ["@sender.test"]})
    _, final = transaction(mg, GOOD_IP)
    assert final.code == 550 and "5.7.1" in text(final), f"got {final.code} {text(final)}"
    mg.wait_log(r"filter action=reject .*BLOCKLIST")
    assert sink.messages == [], f"got {len(sink.messages)} delivered, want 0"


def test_allow_list_beats_high_score():
    mg, sink, _ = setup({"spam_reject": 10}, lists={f"{DOMAIN}.allow": ["@sender.test"],
        "global.block": ["@sender.test"]})
    _, final = transaction(mg, SPOOF_IP)
    assert final.code == 250, f"got {final.code} {text(final)}, want 250 (domain allow list)"
    [m] = sink.wait_count(1)
    assert "ALLOWLIST" in str(m.header("X-MailGuard-Symbols")), f"got {m.header('X-MailGuard-Symbols')}"
    mg.wait_log(r"filter action=deliver .*ALLOWLIST")


def test_quarantine_threshold():
    mg, sink, _ = setup({"spam_reject": 20, "spam_quarantine": 6})
    _, final = transaction(mg, SPOOF_IP)
    assert final.code == 250, f"got {final.code} {text(final)}, want 250"
    mg.wait_log(r"filter action=quarantine score=11\.50")


def test_greylist_then_retry_passes():
    mg, sink, _ = setup({"greylist": -5, "spam_quarantine": 50, "spam_reject": 60},
        config={"greylist_delay": "0s"})
    _, final = transaction(mg, GREY_IP)
    assert final.code == 451 and "4.7.1" in text(final), f"got {final.code} {text(final)}, want 451 4.7.1"
    mg.wait_log(r"filter action=greylist .*greylist=new")
    _, final = transaction(mg, GREY_IP)
    assert final.code == 250, f"retry: got {final.code} {text(final)}, want 250"
    sink.wait_count(1)


def test_second_policy_group_deferred():
    mg, sink, _ = setup({"spam_reject": 10}, extra_domains={"other.test": {"spam_reject": 30}})
    rr, final = transaction(mg, GOOD_IP, rcpts=("user@example.test", "user@other.test"))
    assert rr[0].code == 250, f"first rcpt: got {rr[0].code}"
    assert rr[1].code == 452 and "4.5.3" in text(rr[1]), f"second rcpt: got {rr[1].code} {text(rr[1])}"
    assert final.code == 250, f"got {final.code} {text(final)}"
