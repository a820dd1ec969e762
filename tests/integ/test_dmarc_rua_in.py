"""Incoming DMARC aggregate reports through the real daemon (issue I): every file under
shared/corpora/dmarc-reports (parsedmarc samples incl. the .eml ones sent as they are, cry-inc
and mail-dmarc fixtures, the non-report files too) goes by SMTP to the dmarc_rua address of a
protected domain, the others as an attachment. Expected: each valid report stored once under
its policy domain with the record count and total of tests/unit/dmarc/test_report_xml.c's table
(read from that file), and all its records stored; the same report as .xml, .gz and .zip stored
once (duplicate); invalid files refused with their reason in the log and nothing stored; a
report about another domain refused (foreign_domain); a zip bomb and a gzip bomb refused; every
message still delivered to the back-end (dmarc_rua_keep = yes) and the daemon fine afterwards.
The store is read after the daemon stopped by tests/tools/dmarc-store-dump."""

import gzip
import io
import re
import time
import zipfile
from email.mime.application import MIMEApplication
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText

import mgtest
from corpora import corpora_dir
from mgtest import MailGuard, Sink

REPO = mgtest.REPO if hasattr(mgtest, "REPO") else None
CORP = corpora_dir()
TABLE = (__import__("pathlib").Path(__file__).resolve().parents[2] /
         "tests/unit/dmarc/test_report_xml.c")
PREFIX = {"PD": "dmarc-reports/parsedmarc/samples/",
          "CI": "dmarc-reports/cry-inc/testdata/dmarc-reports/"}
MAIL_DMARC = "dmarc-reports/mail-dmarc/fixtures/test_dmarc.xml"
HOME = "example.com"


def expected_table():
    text = TABLE.read_text()
    block = text[text.index("} expects[] = {"):text.index("};", text.index("} expects[] = {"))]
    rx = re.compile(r'\{\s*(PD|CI)\s*"([^"]+)",\s*"((?:[^"\\]|\\.)*)",\s*"([^"]*)",\s*'
                    r'"([^"]*)",\s*(\d+),\s*(\d+),\s*(\d+),\s*(\d+),', re.S)
    rows = {}
    for m in rx.finditer(block):
        rows[PREFIX[m.group(1)] + m.group(2)] = dict(org=m.group(3), rid=m.group(4),
            domain=m.group(5), records=int(m.group(8)), total=int(m.group(9)))
    assert len(rows) >= 25, f"read only {len(rows)} rows from {TABLE}"
    return rows


def as_attachment(name, payload, rua):
    m = MIMEMultipart()
    m["From"] = "noreply-dmarc@reporter.test"
    m["To"] = rua
    m["Subject"] = f"Report {name}"
    m.attach(MIMEText("DMARC aggregate report attached.\n"))
    part = MIMEApplication(payload, "octet-stream")
    part.add_header("Content-Disposition", "attachment", filename=name)
    m.attach(part)
    return m.as_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def as_is(data):
    return re.sub(rb"\r?\n", b"\r\n", data)


def zip_bomb():
    b = io.BytesIO()
    with zipfile.ZipFile(b, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("bomb.xml", b"<?xml version=\"1.0\"?><feedback>" + b" " * (48 << 20))
    return b.getvalue()


def gzip_bomb():
    return gzip.compress(b"<?xml version=\"1.0\"?><feedback>" + b" " * (48 << 20), 9)


def dump(mg, domain):
    tool = mgtest.build_dir() / "tests/tools/dmarc-store-dump"
    r = mgtest.run_cmd([str(tool), str(mg.state_dir / "db"), domain], timeout=60, check=True)
    reports, sums = [], []
    for line in r.stdout.splitlines():
        if line.startswith("report\t"):
            f = line.split("\t")
            reports.append(dict(identity=f[1], org=f[2], id=f[3], records=f[4], total=f[5],
                                stored_records=f[6]))
        elif line.startswith("sum "):
            sums.append(line.split()[1:])
    return reports, sums


def test_corpus_through_the_daemon():
    rows = expected_table()
    domains = sorted({r["domain"] for r in rows.values()} | {HOME})
    sink = Sink()
    common = {"transport": sink.transport, "greylist": 500, "spam_quarantine": 600,
              "spam_reject": 700, "disable_layers": "spf dkim dmarc rbl uribl greylist"}
    doms = {d: dict(common, dmarc_rua=f"dmarc@{d}") for d in domains}
    mg = MailGuard(config={"mynetworks": "203.0.113.0/24", "filter_threads": 2,
                           "max_message_size": "40M", "dmarc_rua_keep": "yes"},
                   domains=doms).start()
    sent = 0
    files = sorted(p for p in (CORP / "dmarc-reports").rglob("*") if p.is_file())
    assert len(files) >= 50, f"corpus incomplete under {CORP}"
    for p in files:
        rel = str(p.relative_to(CORP))
        dom = rows[rel]["domain"] if rel in rows else HOME
        rua = f"DMARC@{dom.upper()}" if sent % 2 else f"dmarc@{dom}"   # case-insensitive
        data = p.read_bytes()
        msg = as_is(data) if p.suffix == ".eml" else as_attachment(p.name, data, rua)
        assert mg.send("noreply-dmarc@reporter.test", rua, msg) == {}, rel
        sent += 1
    # a report about random.org sent to example.com's address: refused
    yahoo = (CORP / PREFIX["CI"] / "yahoo.xml").read_bytes()
    mg.send("noreply-dmarc@reporter.test", f"dmarc@{HOME}",
            as_attachment("yahoo.xml", yahoo, f"dmarc@{HOME}"))
    mg.send("noreply-dmarc@reporter.test", f"dmarc@{HOME}",
            as_attachment("bomb.zip", zip_bomb(), f"dmarc@{HOME}"))
    mg.send("noreply-dmarc@reporter.test", f"dmarc@{HOME}",
            as_attachment("bomb.xml.gz", gzip_bomb(), f"dmarc@{HOME}"))
    sent += 3
    # every message gives at least one dmarc_rua line
    mgtest.wait_for(lambda: len(re.findall(r" dmarc_rua ", mg.log_text())) >= sent, 120,
                    f"{sent} dmarc_rua log lines")
    log = mg.log_text()
    # the daemon is fine: an ordinary message still goes through
    mg.send("alice@sender.test", f"user@{HOME}")
    sink.wait_count(sent + 1, timeout=60)
    assert re.search(r"dmarc_rua domain=random\.org org=Yahoo .*result=foreign_domain", log), log
    assert re.search(r"dmarc_rua domain=example\.com result=(ratio|size)", log), \
        "zip bomb not refused:\n" + "\n".join(l for l in log.splitlines() if "dmarc_rua" in l)
    assert len(re.findall(r"dmarc_rua domain=example\.com result=(ratio|size)", log)) >= 2
    for reason in ("xml", "no_report"):
        assert re.search(rf"dmarc_rua domain=\S+ result={reason}\b", log), reason
    assert re.search(r"org=Mail::DMARC.*result=stored|id=1234567890 .*result=stored", log)
    mg.stop()

    want = {}
    for rel, r in rows.items():
        want.setdefault(r["domain"], {})[(r["org"].lower(), r["rid"])] = r
    for dom in domains:
        reports, sums = dump(mg, dom)
        got = {(f["org"].lower(), f["id"]): f for f in reports}
        assert len(got) == len(reports), f"{dom}: a report stored twice: {reports}"
        exp = dict(want.get(dom, {}))
        if dom == HOME:
            exp_extra = [f for k, f in got.items() if k not in exp]
            # mail-dmarc's fixture, sent as .xml, .gz and .zip: one report
            assert len(exp_extra) == 1 and exp_extra[0]["id"] == "1234567890", exp_extra
        else:
            assert set(got) == set(exp), f"{dom}: got {sorted(got)}, want {sorted(exp)}; " + \
                "\n".join(l for l in log.splitlines() if "dmarc_rua" in l and dom in l)
        for k, r in exp.items():
            f = got.get(k)
            assert f is not None, f"{dom}: {k} not stored"
            assert int(f["records"]) == r["records"] and int(f["total"]) == r["total"], (k, f)
            assert int(f["stored_records"]) == r["records"], (k, f)
        assert sum(int(s[1]) for s in sums) == sum(int(f["total"]) for f in reports), (dom, sums)
    # random.org holds yahoo's report once (from its own address), not the refused copy twice
    reports, _ = dump(mg, "random.org")
    assert [f["id"] for f in reports] == ["1709600619.487850"], reports


def test_keep_no_consumes_stored_reports_durably():
    """dmarc_rua_keep = no (the default): a message whose report was stored is not delivered
    (the log says consumed), one with nothing parseable is delivered, another recipient of the
    same message still gets it; the report survives a kill -9 right after the 250 (the store
    was synced before the reply), and the refusal and storage counters move."""
    sink = Sink()
    common = {"transport": sink.transport, "greylist": 500, "spam_quarantine": 600,
              "spam_reject": 700, "disable_layers": "spf dkim dmarc rbl uribl greylist"}
    mg = MailGuard(config={"filter_threads": 2, "metrics_listen": "127.0.0.1:0",
                           "mynetworks": "203.0.113.0/24"},
                   domains={HOME: dict(common, dmarc_rua=f"dmarc@{HOME}")}).start()
    fixture = (CORP / MAIL_DMARC).read_bytes()
    assert mg.send("noreply-dmarc@reporter.test", f"dmarc@{HOME}",
                   as_attachment("r.xml.gz", gzip.compress(fixture), f"dmarc@{HOME}")) == {}
    mg.wait_log(r"status=consumed", timeout=30)
    mg.kill9()                       # at once: nothing but the synced log keeps the report
    mg.start()
    # garbage to the rua address: delivered (nothing lost); the report again with a second
    # recipient: that one gets it, the rua address does not
    assert mg.send("noreply-dmarc@reporter.test", f"dmarc@{HOME}",
                   as_attachment("junk.xml", b"<?xml version='1.0'?><nope/>",
                                 f"dmarc@{HOME}")) == {}
    assert mg.send("noreply-dmarc@reporter.test", [f"dmarc@{HOME}", f"alice@{HOME}"],
                   as_attachment("r.zip", _zipped(fixture), f"dmarc@{HOME}")) == {}
    sink.wait_count(2, timeout=60)
    time.sleep(1)       # nothing else may arrive
    msgs = sink.wait_count(2, timeout=1)
    rcpts = sorted(r.lower() for m in msgs for r in m.rcpt_tos)
    assert rcpts == [f"alice@{HOME}", f"dmarc@{HOME}"], rcpts
    junk = [m for m in msgs if f"dmarc@{HOME}" in [r.lower() for r in m.rcpt_tos]]
    assert b"junk.xml" in junk[0].data, junk[0].data[:300]
    mg.wait_log(r"result=duplicate", timeout=30)
    m = _metrics(mg)    # counters restart with the daemon: this run's two report mails
    assert m["mailguard_dmarc_reports_duplicate_total"] == 1, m
    assert m["mailguard_dmarc_reports_refused_total"] >= 1, m
    mg.stop()
    reports, sums = dump(mg, HOME)
    assert [f["id"] for f in reports] == ["1234567890"], reports
    assert sum(int(s[1]) for s in sums) == int(reports[0]["total"]), sums


def _metrics(mg):
    import http.client
    c = http.client.HTTPConnection("127.0.0.1", mg.listener("metrics").port, timeout=10)
    c.request("GET", "/metrics")
    body = c.getresponse().read().decode()
    c.close()
    return {l.split()[0]: float(l.split()[1]) for l in body.splitlines()
            if l.startswith("mailguard_") and "{" not in l.split()[0]}


def _zipped(data):
    b = io.BytesIO()
    with zipfile.ZipFile(b, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("report.xml", data)
    return b.getvalue()


def _recent_report(i, domain, n_records=3):
    begin = int(time.time()) // 86400 * 86400 - 86400 * (i + 1)
    rows = "".join(
        f"<record><row><source_ip>192.0.2.{10 + k}</source_ip><count>{k + 1}</count>"
        "<policy_evaluated><disposition>none</disposition><dkim>pass</dkim><spf>fail</spf>"
        f"</policy_evaluated></row><identifiers><header_from>{domain}</header_from>"
        "</identifiers><auth_results><spf><domain>x.test</domain><result>fail</result></spf>"
        "</auth_results></record>" for k in range(n_records))
    return ("<?xml version=\"1.0\"?><feedback><report_metadata><org_name>Reporter "
            f"{i}</org_name><email>r{i}@reporter.test</email><report_id>arch-{i}</report_id>"
            f"<date_range><begin>{begin}</begin><end>{begin + 86399}</end></date_range>"
            f"</report_metadata><policy_published><domain>{domain}</domain><p>none</p>"
            f"</policy_published>{rows}</feedback>").encode()


def test_archive_rebuilds_a_lost_store():
    """Every stored report's XML is archived (state_dir/dmarc-archive, gzip); with the Berkeley
    DB environment gone, `mailguardctl dmarc rebuild` brings back the same reports with their
    receipt times; a second rebuild changes nothing."""
    mg = MailGuard(config={"filter_threads": 2, "mynetworks": "203.0.113.0/24"},
                   domains={HOME: {"transport": "127.0.0.1:9", "greylist": 500,
                                   "spam_quarantine": 600, "spam_reject": 700,
                                   "dmarc_rua": f"dmarc@{HOME}",
                                   "disable_layers": "spf dkim dmarc rbl uribl greylist"}}).start()
    xmls = [_recent_report(i, HOME, i + 1) for i in range(3)]
    payloads = [("a.xml", xmls[0]), ("b.xml.gz", gzip.compress(xmls[1])),
                ("c.zip", _zipped(xmls[2]))]
    for name, data in payloads:
        assert mg.send("noreply-dmarc@reporter.test", f"dmarc@{HOME}",
                       as_attachment(name, data, f"dmarc@{HOME}")) == {}
    arch = sorted((mg.state_dir / "dmarc-archive" / HOME).glob("*.xml.gz"))
    assert len(arch) == 3, arch
    assert sorted(gzip.decompress(p.read_bytes()) for p in arch) == sorted(xmls)

    def listing():
        r = mg.ctl("dmarc", "reports", HOME, "--days", "30", "--json")
        return sorted((x["identity"], x["org"], x["records"], x["total"], x["recv"])
                      for x in __import__("json").loads(r.stdout)["reports"])
    before = listing()
    assert [x[2] for x in before] == [1, 2, 3], before
    mg.stop()
    __import__("shutil").rmtree(mg.state_dir / "db")
    mg.start()
    assert listing() == []
    r = mg.ctl("dmarc", "rebuild")
    assert "3 archived report(s) read: 3 stored again, 0 already stored" in r.stdout, r.stdout
    after = listing()
    assert [x[:4] for x in after] == [x[:4] for x in before], (before, after)
    assert all(abs(a[4] - b[4]) <= 2 for a, b in zip(after, before)), (before, after)
    r = mg.ctl("dmarc", "rebuild", HOME.upper())
    assert "0 stored again, 3 already stored" in r.stdout, r.stdout
    mg.stop()
