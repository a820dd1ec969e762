"""Incoming SMTP TLS reports (RFC 8460, issue I item 5) through the real daemon: reports in the
shape of RFC 8460 appendix B, dated today and yesterday, go by SMTP to the tlsrpt_rua address
of a protected domain as RFC 8460 §5.3 messages (multipart/report with an
application/tlsrpt+gzip attachment, and an application/tlsrpt+json one), plus the corpora's
TLS-RPT samples re-addressed to that domain; the same report again (duplicate), a report about
another domain (foreign_domain), a gzip bomb and garbage are refused with their reason in the
log. Then `mailguardctl tls-reports summary DOMAIN --json` and `tls-reports reports` must show
exactly the stored reports' numbers. Passes once the filter's check path calls
tlsrpt_rua_ingest (filter/tlsrpt_rua.h) and the control relay answers "tls-reports"."""

import gzip
import json
import re
import time
from email.mime.application import MIMEApplication
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText

import mgtest
from corpora import corpora_dir
from mgtest import MailGuard, Sink

CORP = corpora_dir()
HOME = "example.com"
RUA = f"tls-reports@{HOME}"


def day(offset):
    return time.strftime("%Y-%m-%d", time.gmtime(time.time() - offset * 86400))


def rfc_report(org, rid, offset, domain=HOME, ok=5326, fail=303):
    """RFC 8460 appendix B with our dates, domain and counts."""
    return {
        "organization-name": org,
        "date-range": {"start-datetime": f"{day(offset)}T00:00:00Z",
                       "end-datetime": f"{day(offset)}T23:59:59Z"},
        "contact-info": f"sts-reporting@{org.lower()}.example",
        "report-id": rid,
        "policies": [{
            "policy": {"policy-type": "sts",
                       "policy-string": ["version: STSv1", "mode: testing",
                                         f"mx: *.mail.{domain}", "max_age: 86400"],
                       "policy-domain": domain, "mx-host": [f"*.mail.{domain}"]},
            "summary": {"total-successful-session-count": ok,
                        "total-failure-session-count": fail},
            "failure-details": [
                {"result-type": "certificate-expired", "sending-mta-ip": "2001:db8:abcd:0012::1",
                 "receiving-mx-hostname": f"mx1.mail.{domain}", "failed-session-count": 100},
                {"result-type": "starttls-not-supported", "sending-mta-ip": "2001:db8:abcd:0013::1",
                 "receiving-mx-hostname": f"mx2.mail.{domain}", "receiving-ip": "203.0.113.56",
                 "failed-session-count": fail - 103,
                 "additional-information": "https://reports.example/report_info?id=1"},
                {"result-type": "validation-failure", "sending-mta-ip": "198.51.100.62",
                 "receiving-ip": "203.0.113.58", "receiving-mx-hostname": f"mx-backup.mail.{domain}",
                 "failed-session-count": 3,
                 "failure-reason-code": "X509_V_ERR_PROXY_PATH_LENGTH_EXCEEDED"}]}]}


def tlsrpt_message(name, payload, subtype, rua=RUA, submitter="company-x.example"):
    """RFC 8460 §5.3: multipart/report; report-type="tlsrpt" with a text part and the report."""
    m = MIMEMultipart("report", report_type="tlsrpt")
    m["From"] = f"tlsrpt@{submitter}"
    m["To"] = rua
    m["Subject"] = f"Report Domain: {HOME} Submitter: {submitter} Report-ID: <{name}>"
    m["TLS-Report-Domain"] = HOME
    m["TLS-Report-Submitter"] = submitter
    m.attach(MIMEText("This is an aggregate TLS report.\n"))
    part = MIMEApplication(payload, subtype)
    part.add_header("Content-Disposition", "attachment", filename=name)
    m.attach(part)
    return m.as_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def corpus_reports():
    """The corpora's TLS-RPT JSON samples, re-addressed to HOME and dated today."""
    out = []
    for p in sorted((CORP / "dmarc-reports").rglob("*.json")):
        if "tls" not in str(p):
            continue
        r = json.loads(p.read_text())
        r["date-range"] = {"start-datetime": f"{day(0)}T00:00:00Z",
                           "end-datetime": f"{day(0)}T23:59:59Z"}
        r["report-id"] = "corpus-" + p.stem
        for pol in r["policies"]:
            pol["policy"]["policy-domain"] = HOME
        out.append((p.name, r))
    assert len(out) >= 8, f"TLS-RPT samples missing under {CORP}"
    return out


def test_tls_reports_through_the_daemon():
    sink = Sink()
    common = {"transport": sink.transport, "greylist": 500, "spam_quarantine": 600,
              "spam_reject": 700, "disable_layers": "spf dkim dmarc rbl uribl greylist"}
    mg = MailGuard(config={"mynetworks": "203.0.113.0/24", "filter_threads": 2,
                           "dmarc_rua_keep": "yes"},
                   domains={HOME: dict(common, tlsrpt_rua=RUA),
                            "other.example": dict(common)}).start()
    a = rfc_report("Company-X", "5065427c-23d3-47ca-b6e0-946ea0e8c4be", 0)
    b = rfc_report("Company-Z", "z-1", 1, ok=10, fail=110)
    foreign = rfc_report("Company-X", "f-1", 0, domain="other.example")
    corpus = corpus_reports()
    sends = [
        tlsrpt_message("a.json.gz", gzip.compress(json.dumps(a).encode()), "tlsrpt+gzip"),
        tlsrpt_message("b.json", json.dumps(b).encode(), "tlsrpt+json"),
        # the same report again, as octet-stream with a .json.gz name: a duplicate
        tlsrpt_message("a2.json.gz", gzip.compress(json.dumps(a).encode()), "octet-stream"),
        tlsrpt_message("f.json", json.dumps(foreign).encode(), "tlsrpt+json"),
        tlsrpt_message("bomb.json.gz", gzip.compress(b"{" + b" " * (40 << 20), 9),
                       "tlsrpt+gzip"),
        tlsrpt_message("junk.json", b"{\"organization-name\": ", "tlsrpt+json"),
    ] + [tlsrpt_message(n + ".gz", gzip.compress(json.dumps(r).encode()), "tlsrpt+gzip")
         for n, r in corpus]
    for i, msg in enumerate(sends):
        rcpt = RUA.upper() if i % 2 else RUA
        assert mg.send(f"tlsrpt@sender{i}.test", rcpt, msg) == {}, i
    mgtest.wait_for(lambda: len(re.findall(r" tlsrpt_rua ", mg.log_text())) >= len(sends), 120,
                    f"{len(sends)} tlsrpt_rua log lines")
    log = mg.log_text()
    lines = "\n".join(l for l in log.splitlines() if "tlsrpt_rua" in l)
    a_line = r"tlsrpt_rua domain=example\.com org=Company-X id=5065427c-23d3-47ca-b6e0-946ea0e8c4be "
    assert len(re.findall(a_line + r".*result=stored", log)) == 1, lines
    assert len(re.findall(a_line + r".*result=duplicate", log)) == 1, lines
    assert re.search(r"org=Company-X id=f-1 .*result=foreign_domain", log), lines
    assert re.search(r"tlsrpt_rua domain=example\.com result=(ratio|size)\b", log), lines
    assert re.search(r"tlsrpt_rua domain=example\.com result=json\b", log), lines
    assert len(re.findall(r"result=stored", log)) == 2 + len(corpus), lines

    r = mg.ctl("tls-reports", "summary", HOME, "--json")
    s = json.loads(r.stdout)
    corpus_ok = sum(p["summary"]["total-successful-session-count"]
                    for _, c in corpus for p in c["policies"])
    corpus_fail = sum(p["summary"]["total-failure-session-count"]
                      for _, c in corpus for p in c["policies"])
    assert s["domain"] == HOME and s["days"] == 30 and len(s["daily"]) == 30, s
    assert s["totals"]["reports"] == 2 + len(corpus), s["totals"]
    assert s["totals"]["successful"] == 5326 + 10 + corpus_ok, s["totals"]
    assert s["totals"]["failed"] == 303 + 110 + corpus_fail, s["totals"]
    assert s["daily"][-1]["successful"] == 5326 + corpus_ok, s["daily"][-1]
    assert s["daily"][-2]["failed"] == 110, s["daily"][-2]
    assert s["daily"][-1]["day"] == day(0)
    fails = {(f["result_type"], f["sending_mta_ip"], f["receiving_mx_hostname"],
              f["receiving_ip"]): f["failed"] for f in s["failures"]}
    assert fails[("certificate-expired", "2001:db8:abcd:12::1", f"mx1.mail.{HOME}", "")] == 200
    assert fails[("starttls-not-supported", "2001:db8:abcd:13::1", f"mx2.mail.{HOME}",
                  "203.0.113.56")] == 200 + 7
    orgs = {x["org"]: x for x in s["reporters"]}
    assert orgs["Company-X"]["reports"] == 3 and orgs["Company-Z"]["failed"] == 110, orgs
    assert any(p["policy_type"] == "tlsa" for p in s["policies"]), s["policies"]

    r = mg.ctl("tls-reports", "reports", HOME, "--json", "--limit", "500")
    reps = json.loads(r.stdout)["reports"]
    assert len(reps) == 2 + len(corpus), reps
    ids = {x["report_id"] for x in reps}
    assert "5065427c-23d3-47ca-b6e0-946ea0e8c4be" in ids and "z-1" in ids, ids
    text = mg.ctl("tls-reports", "summary", HOME).stdout
    assert "certificate-expired" in text and "Company-Z" in text, text
    r = mg.ctl("tls-reports", "summary", "nope.example", check=False)
    assert r.returncode == 1 and "not a protected domain" in r.stdout + r.stderr, r
    # the daemon is fine: an ordinary message still goes through
    mg.send("alice@sender.test", f"user@{HOME}")
    sink.wait_count(1, timeout=60)
    mg.stop()
