"""`mailguardctl config ...` through the real daemon (issue H, config/edit*.c): the supervisor edits
the configuration files line by line (comments and order kept), validates the change with the
loader `mailguard -n` uses, writes it atomically and reloads, so the daemon's behaviour changes:
a domain added is accepted (RCPT 250, mail relayed to its transport), removed is refused again;
a lower spam_reject turns a quarantined message into a 550; a block-list entry refuses a sender;
an invalid edit is refused with the loader's file:line error and leaves the file byte for byte
as it was, with the daemon still running the old configuration."""

import email.utils

import mgtest
from dnsrig import DnsRig
from mgtest import MailGuard, RawClient, Sink

DOMAIN = "example.test"
SPOOF_IP = "198.51.100.7"       # outside sender.test's SPF: SPF_FAIL + DMARC reject = 11.50
GOOD_IP = "192.0.2.20"

ZONES = {
    "sender.test": [
        ("@", "TXT", "v=spf1 ip4:192.0.2.0/24 -all"),
        ("_dmarc", "TXT", "v=DMARC1; p=reject"),
    ],
}

HEADER = "# MailGuard test configuration\n# (kept by every edit)\n"


def _start(dns=False):
    sink = Sink()
    cfg = {"mynetworks": "203.0.113.0/24", "xclient_networks": "127.0.0.0/8"}
    rig = None
    if dns:
        rig = DnsRig(ZONES)
        cfg.update(resolvers=rig.resolver, filter_threads=2, dns_timeout_ms=1000)
    mg = MailGuard(config=cfg, domains={DOMAIN: {"transport": sink.transport}})
    # a hand-written comment block that the edits must keep
    mg.write_file("mailguard.conf", HEADER + mg.conf_path.read_text())
    mg.start()
    return mg, sink, rig


def _rcpt(mg, rcpt, ip=GOOD_IP, mail_from="alice@sender.test", data=None):
    """One transaction from ip; returns (RCPT reply, final reply or None)."""
    c = RawClient(mg.port)
    c.banner()
    c.expect(250, "EHLO client.test")
    r = c.cmd(f"XCLIENT ADDR={ip} HELO=mail.sender.test")
    assert r.code == 220, f"XCLIENT: got {r.code} {r.lines}, want 220"
    c.expect(250, "EHLO mail.sender.test")
    c.expect(250, f"MAIL FROM:<{mail_from}>")
    rr = c.cmd(f"RCPT TO:<{rcpt}>")
    final = None
    if rr.code == 250 and data is not None:
        c.expect(354, "DATA")
        c.send(data.encode() + b".\r\n")
        final = c.reply(timeout=30)
    c.cmd("QUIT")
    c.close()
    return rr, final


def _message(to, subject="config edit"):
    return (f"From: Alice <alice@sender.test>\r\nTo: {to}\r\nSubject: {subject}\r\n"
            f"Date: {email.utils.formatdate()}\r\n"
            f"Message-ID: <{subject.replace(' ', '.')}@sender.test>\r\n\r\nHello.\r\n")


def test_domain_add_and_remove():
    mg, sink, _ = _start()
    r, _ = _rcpt(mg, "user@new.test")
    assert r.code == 554, f"before domain-add: got {r.code} {r.lines}, want 554 (relay denied)"
    out = mg.ctl("config", "domain-add", "New.Test", sink.transport)
    assert "new.test: added" in out.stdout, f"got {out.stdout!r}"
    text = (mg.dir / "domains.d" / "new.test.conf").read_text()
    assert text == f"transport = {sink.transport}\n", f"got {text!r}"
    r, final = _rcpt(mg, "user@new.test", data=_message("user@new.test"))
    assert r.code == 250, f"after domain-add: got {r.code} {r.lines}, want 250"
    assert final is not None and final.code == 250, f"DATA: got {final}"
    [m] = sink.wait_count(1)
    assert m.rcpt_tos == ["user@new.test"], f"got {m.rcpt_tos}"
    mg.ctl("config", "list-add", "lists/new.test.block", "@blocked.test")
    out = mg.ctl("config", "domain-remove", "new.test")
    assert "removed (2 files)" in out.stdout, f"got {out.stdout!r}"
    assert not (mg.dir / "domains.d" / "new.test.conf").exists(), "domain file still there"
    assert not (mg.dir / "lists" / "new.test.block").exists(), "list file still there"
    r, _ = _rcpt(mg, "user@new.test")
    assert r.code == 554, f"after domain-remove: got {r.code} {r.lines}, want 554"
    # the hand-written comments of mailguard.conf were never touched
    assert mg.conf_path.read_text().startswith(HEADER), "mailguard.conf header lost"


def test_spam_reject_through_ctl():
    mg, sink, _ = _start(dns=True)
    _, final = _rcpt(mg, f"user@{DOMAIN}", ip=SPOOF_IP, data=_message(f"user@{DOMAIN}", "one"))
    assert final.code == 250, f"score 11.50 < spam_reject 15: got {final.code} {final.lines}"
    mg.wait_log(r"filter action=quarantine score=11\.50")
    path = mg.dir / "domains.d" / f"{DOMAIN}.conf"
    mg.write_file(f"domains.d/{DOMAIN}.conf", "# the back-end\n" + path.read_text())
    out = mg.ctl("config", "set", f"domains.d/{DOMAIN}.conf", "spam_reject", "10")
    assert f"spam_reject = 10" in out.stdout, f"got {out.stdout!r}"
    got = path.read_text()
    assert got == f"# the back-end\ntransport = {sink.transport}\nspam_reject = 10\n", f"got {got!r}"
    assert mg.ctl("config", "get", f"domains.d/{DOMAIN}.conf", "spam_reject").stdout == "10\n"
    _, final = _rcpt(mg, f"user@{DOMAIN}", ip=SPOOF_IP, data=_message(f"user@{DOMAIN}", "two"))
    assert final.code == 550, f"score 11.50 >= spam_reject 10: got {final.code} {final.lines}"
    mg.wait_log(r"filter action=reject score=11\.50")
    # a block-list entry added through ctl refuses a clean sender
    mg.ctl("config", "list-add", "lists/global.block", "Alice@Sender.Test")
    _, final = _rcpt(mg, f"user@{DOMAIN}", ip=GOOD_IP, data=_message(f"user@{DOMAIN}", "three"))
    assert final.code == 550, f"block-listed sender: got {final.code} {final.lines}, want 550"
    mg.ctl("config", "list-remove", "lists/global.block", "alice@sender.test")
    _, final = _rcpt(mg, f"user@{DOMAIN}", ip=GOOD_IP, data=_message(f"user@{DOMAIN}", "four"))
    assert final.code == 250, f"after list-remove: got {final.code} {final.lines}, want 250"


def test_invalid_edit_changes_nothing():
    mg, sink, _ = _start()
    path = mg.dir / "domains.d" / f"{DOMAIN}.conf"
    before = path.read_bytes()
    conf_before = mg.conf_path.read_bytes()
    cases = [
        (["set", f"domains.d/{DOMAIN}.conf", "spam_reject", "lots"],
            f"domains.d/{DOMAIN}.conf: expected"),
        (["set", f"domains.d/{DOMAIN}.conf", "spam_quarantine", "40"],
            f"domains.d/{DOMAIN}.conf:2: expected greylist <= spam_quarantine <= spam_reject"),
        (["set", "mailguard.conf", "no_such_setting", "1"], "unknown setting 'no_such_setting'"),
        (["set", "mailguard.conf", "spam_reject", "5"], "it is a per-domain setting"),
        (["set", "../mailguard.conf", "hostname", "x"], "expected a configuration file name"),
        (["list-add", "lists/global.block", "not-an-entry"], "expected an address"),
        (["list-add", "lists/nowhere.test.allow", "@x.test"],
            "there is no domains.d/nowhere.test.conf"),
        (["domain-add", "bad_domain", "[127.0.0.1]"], "expected a domain name"),
        (["domain-remove", "nowhere.test"], "not a protected domain"),
    ]
    for args, want in cases:
        r = mg.ctl("config", *args, check=False)
        assert r.returncode == 1, f"{args}: exit {r.returncode}, want 1 ({r.stderr!r})"
        assert want in r.stderr, f"{args}: got {r.stderr!r}, want {want!r}"
    assert path.read_bytes() == before, "domain file changed by a refused edit"
    assert mg.conf_path.read_bytes() == conf_before, "mailguard.conf changed by a refused edit"
    assert not (mg.dir / "lists" / "nowhere.test.allow").exists(), "orphan list written"
    r, _ = _rcpt(mg, f"user@{DOMAIN}")
    assert r.code == 250, f"daemon after refused edits: got {r.code} {r.lines}, want 250"
    r = mg.ctl("config", "set", check=False)
    assert r.returncode == 2 and "usage: config set FILE KEY VALUE" in r.stderr, f"got {r}"
