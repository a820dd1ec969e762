"""Our DMARC aggregate reports (RFC 7489 §7.2) end to end through the real daemon, over the DNS
rig (NSD behind Unbound): mail from several sender domains is evaluated by the filter, which
stores one row per message; a test_mode trigger file (state_dir/dmarc-out/report-now) makes the
filter's daily job run for today; it writes report files to state_dir/dmarc-out/ that the queue
injects and delivery sends to the rua domain's MX (a loopback sink). Checked: the report arrives
for the domain whose rua domain authorises it (§7.1 `<domain>._report._dmarc.<rua>`), its gzip
XML validates with `xmllint --schema` against the corpus schema and carries the right counts
(ElementTree); a rua domain without the authorisation record, an excluded address and an address
over the bounce limit (state_dir/dmarc-out/bounces) get nothing; a report refused with 550 sends
no DSN and is appended to the bounces file; a second trigger for the same day sends nothing."""

import email
import gzip
import io
import os
import re
import subprocess
import time
import xml.etree.ElementTree as ET

import corpora
import mgtest
from dnsrig import DnsRig
from mgtest import MailGuard, RawClient, Sink
from tlsrig import shared_port

REPORT_MX = "127.0.0.86"
CLIENT_IP = "192.0.2.20"
SPF = ("@", "TXT", "v=spf1 ip4:192.0.2.0/24 -all")


def dmarc(rua):
    return ("_dmarc", "TXT", f"v=DMARC1; p=none; rua=mailto:{rua}")


ZONES = {
    "sender.test": [SPF, dmarc("agg@rua.test")],
    "other.test": [SPF, dmarc("agg@noauth.test")],      # no authorisation at noauth.test
    "excl.test": [SPF, dmarc("blocked@rua.test")],      # dmarc_report_exclude
    "bnc.test": [SPF, dmarc("bounce@rua.test")],        # the MX refuses it
    "seed.test": [SPF, dmarc("seeded@rua.test")],       # over the bounce limit already
    "rua.test": [
        ("@", "MX", "10 mx.rua.test."), ("mx", "A", REPORT_MX),
        ("sender.test._report._dmarc", "TXT", "v=DMARC1"),
        ("excl.test._report._dmarc", "TXT", "v=DMARC1"),
        ("bnc.test._report._dmarc", "TXT", "v=DMARC1"),
        ("seed.test._report._dmarc", "TXT", "v=DMARC1"),
    ],
    "noauth.test": [("@", "MX", "10 mx.rua.test.")],
}


def transaction(mg, mail_from, n=1):
    for i in range(n):
        c = RawClient(mg.port)
        c.banner()
        c.expect(250, "EHLO client.test")
        r = c.cmd(f"XCLIENT ADDR={CLIENT_IP} HELO=mail.client.test")
        assert r.code == 220, f"XCLIENT: got {r.code} {r.lines}"
        c.expect(250, "EHLO mail.client.test")
        c.expect(250, f"MAIL FROM:<{mail_from}>")
        c.expect(250, "RCPT TO:<user@example.test>")
        c.expect(354, "DATA")
        dom = mail_from.split("@")[1]
        c.send((f"From: <{mail_from}>\r\nTo: user@example.test\r\nSubject: m{i}\r\n"
                f"Message-ID: <m{i}.{time.time()}@{dom}>\r\n\r\nHello.\r\n.\r\n").encode())
        final = c.reply(timeout=30)
        assert final.code == 250, f"{mail_from}: got {final.code} {final.lines}"
        c.expect(221, "QUIT")
        c.close()


def schema():
    """The corpus schema without its targetNamespace attribute (see tests/unit/dmarc/test_agg.c:
    as shipped its type references resolve in no namespace and xmllint refuses to compile it)."""
    src = corpora.corpora_dir() / "dmarc-reports/mail-dmarc/rua-schema.xsd"
    if not src.exists():
        raise mgtest.Skip(f"{src} missing")
    text = re.sub(r'\s+targetNamespace="[^"]*"', "", src.read_text(), count=1)
    out = mgtest.tmpdir("xsd") / "rua-schema.xsd"
    out.write_text(text)
    return out


def report_xml(msg):
    """(attachment file name, XML bytes) of a report message."""
    m = email.message_from_bytes(msg.data)
    for part in m.walk():
        if part.get_content_type() == "application/gzip":
            return part.get_filename(), gzip.decompress(part.get_payload(decode=True))
    raise AssertionError(f"no application/gzip part in {msg.data[:300]!r}")


def validate(xsd, xml):
    path = mgtest.tmpdir("xml") / "report.xml"
    path.write_bytes(xml)
    p = subprocess.run(["xmllint", "--noout", "--nonet", "--schema", str(xsd), str(path)],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, f"xmllint: {p.stderr}\n{xml.decode(errors='replace')[:2000]}"


def setup(extra=None):
    rig = DnsRig(ZONES)
    port = shared_port([REPORT_MX])
    reports = Sink(host=REPORT_MX, port=port,
                   rules={"bounce@rua.test": "550 5.1.1 no such mailbox"})
    backend = Sink()
    cfg = {
        "resolvers": rig.resolver, "dns_timeout_ms": 1000,
        "mynetworks": "203.0.113.0/24", "xclient_networks": "127.0.0.0/8",
        "outbound_port": port, "retry_min": "1h", "test_mode": "yes",
        "dmarc_report": "yes", "dmarc_report_from": "dmarc-reports@example.test",
        "dmarc_report_org": "MailGuard Test Org",
        "dmarc_report_contact_info": "https://example.test/dmarc",
        "dmarc_report_exclude": "blocked@rua.test @nowhere.test",
        "dmarc_report_bounce_limit": 2,
    }
    cfg.update(extra or {})
    mg = MailGuard(config=cfg, domains={"example.test": {"transport": backend.transport}})
    mg.start()
    return mg, reports, backend


def put(mg, name, data):
    """Writes state_dir/dmarc-out/NAME as the daemon's user (the roles drop to it when the
    tests run as root), through a dot-file the queue ignores and a rename."""
    d = mg.state_dir / "dmarc-out"
    st = mg.state_dir.stat()
    d.mkdir(mode=0o700, exist_ok=True)
    tmp = d / f".{name}.tmp"
    tmp.write_bytes(data.encode() if isinstance(data, str) else data)
    for p in (d, tmp):
        os.chown(p, st.st_uid, st.st_gid)
    tmp.rename(d / name)


def trigger(mg, text=""):
    put(mg, "report-now", text)


def test_report_sent_validated_and_filtered():
    xsd = schema()
    mg, reports, backend = setup()
    out = mg.state_dir / "dmarc-out"
    put(mg, "bounces", f"seeded@rua.test 1 {int(time.time())}\n"
                       f"seeded@rua.test 1 {int(time.time())}\ngarbage line\n")
    transaction(mg, "alice@sender.test", n=3)
    for s in ("bob@other.test", "carol@excl.test", "dave@bnc.test", "erin@seed.test"):
        transaction(mg, s)
    backend.wait_count(7, timeout=30)
    mark = mg.log_mark()
    trigger(mg)
    mg.wait_log(r"dmarc report: day \d+: rows=7 reports=2 ", timeout=60, since=mark)
    got = reports.wait_count(1, timeout=60)
    time.sleep(3)       # time for anything else that would (wrongly) be sent
    assert reports.count == 1, [m.rcpt_tos for m in reports.messages]
    [msg] = got
    assert msg.rcpt_tos == ["agg@rua.test"], msg.rcpt_tos
    assert msg.mail_from == "dmarc-reports@example.test", msg.mail_from
    m = email.message_from_bytes(msg.data)
    assert m["Subject"].replace("\r\n", "").replace("\n", "").startswith(
        "Report Domain: sender.test Submitter: mx.test.local Report-ID: <"), m["Subject"]
    name, xml = report_xml(msg)
    assert re.fullmatch(r"mx\.test\.local!sender\.test!\d+!\d+\.xml\.gz", name), name
    validate(xsd, xml)
    root = ET.fromstring(xml)
    assert root.findtext("report_metadata/org_name") == "MailGuard Test Org"
    assert root.findtext("report_metadata/email") == "dmarc-reports@example.test"
    assert root.findtext("report_metadata/extra_contact_info") == "https://example.test/dmarc"
    begin = int(root.findtext("report_metadata/date_range/begin"))
    assert begin % 86400 == 0 and int(root.findtext("report_metadata/date_range/end")) == \
        begin + 86399
    assert root.findtext("policy_published/domain") == "sender.test"
    assert root.findtext("policy_published/p") == "none"
    recs = root.findall("record")
    assert len(recs) == 1, xml
    r = recs[0]
    assert r.findtext("row/source_ip") == CLIENT_IP
    assert int(r.findtext("row/count")) == 3
    assert r.findtext("row/policy_evaluated/spf") == "pass"
    assert r.findtext("identifiers/header_from") == "sender.test"
    assert r.findtext("auth_results/spf/result") == "pass"
    # the others: unauthorised, excluded, refused by the MX, over the bounce limit
    log = mg.log_text(since=mark)
    assert re.search(r"domain=other\.test id=\S+ rua=<agg@noauth\.test> skipped: ", log), log
    assert re.search(r"domain=excl\.test id=\S+ rua=<blocked@rua\.test> skipped: ", log), log
    assert re.search(r"domain=seed\.test id=\S+ rua=<seeded@rua\.test> skipped: ", log), log
    mg.wait_log(r"dmarc report to=<bounce@rua\.test> failed: no DSN", timeout=60, since=mark)
    assert ("bounce@rua.test", "550 5.1.1 no such mailbox") in reports.rejected
    lines = (out / "bounces").read_text().splitlines()
    assert re.fullmatch(r"bounce@rua\.test 1 \d+", lines[-1]), lines
    time.sleep(2)
    assert backend.count == 7, "no DSN for a report that bounced"
    assert not list(out.glob("*.msg")) and not list(out.glob("*.bad")), list(out.iterdir())
    # the same day again: nothing more
    mark = mg.log_mark()
    trigger(mg)
    mg.wait_log(r"dmarc report: day \d+ already reported", timeout=30, since=mark)
    time.sleep(3)
    assert reports.count == 1


def test_malformed_file_is_set_aside():
    mg, reports, _ = setup()
    out = mg.state_dir / "dmarc-out"
    put(mg, "1-bad.msg", b"mailguard-dmarc-out 1\nfrom a@b.test\nrcpt <x@y>\n\nhi\n")
    put(mg, "2-good.msg",
        b"mailguard-dmarc-out 1\nfrom dmarc-reports@example.test\nrcpt agg@rua.test\n\n"
        b"From: dmarc-reports@example.test\r\nTo: agg@rua.test\r\nSubject: t\r\n\r\nhi\r\n")
    mg.wait_log(r"dmarc report 1-bad\.msg: bad rcpt address; renamed to \.bad", timeout=30)
    [msg] = reports.wait_count(1, timeout=60)
    assert msg.rcpt_tos == ["agg@rua.test"]
    assert (out / "1-bad.msg.bad").exists() and not (out / "2-good.msg").exists()
