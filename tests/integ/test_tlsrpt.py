"""SMTP TLS Reporting (RFC 8460) end to end through the real daemon: outbound deliveries to
domains that publish `_smtp._tls` TXT rua=mailto: records (real DNS rig) are counted per policy
domain (the delivery role sends each session's outcome, the queue aggregates and persists it),
and at the end of each report period (tlsrpt_interval, seconds here) the queue sends each domain
a multipart/report; report-type="tlsrpt" message with the gzipped JSON report of §4, which this
test unpacks with Python's email, gzip and json and checks against what the receivers saw.

Receivers, all on outbound_port: 127.0.0.1 offers STARTTLS (sessions succeed), 127.0.0.2 does
not (starttls-not-supported failures), 127.0.0.3 is the MX of the report address and of
quiet.test, which publishes no rua."""

import gzip
import json
import os
import re
import time

import mgtest
from dnsrig import DnsRig
from mgtest import MailGuard, Sink, wait_for

RUA = "mailto:tlsrpt@reports.test"


def zones():
    return {
        "dest.test": [("@", "MX", "10 mx.dest.test."), ("mx", "A", "127.0.0.1"),
                      ("_smtp._tls", "TXT", f"v=TLSRPTv1; rua={RUA}")],
        "plain.test": [("@", "MX", "10 mx.plain.test."), ("mx", "A", "127.0.0.2"),
                       ("_smtp._tls", "TXT", f"v=TLSRPTv1;rua={RUA},https://r.invalid/x")],
        "quiet.test": [("@", "MX", "10 mx.quiet.test."), ("mx", "A", "127.0.0.3")],
        "reports.test": [("@", "MX", "10 mx.reports.test."), ("mx", "A", "127.0.0.3")],
    }


def start(interval):
    rig = DnsRig(zones())
    tls_sink = Sink(tls=True)
    plain_sink = Sink(host="127.0.0.2", port=tls_sink.port)
    report_sink = Sink(host="127.0.0.3", port=tls_sink.port)
    backend = Sink()
    mg = MailGuard(config={"resolvers": rig.resolver, "dns_timeout_ms": 1000,
                           "outbound_port": tls_sink.port, "retry_min": "1h",
                           "tlsrpt_interval": interval, "tlsrpt_org_name": "MailGuard Test Org"},
                   domains={"example.test": {"transport": backend.transport}}).start()
    return mg, tls_sink, plain_sink, report_sink


def send(mg, rcpts):
    s = mg.smtp(timeout=30)
    for r in rcpts:
        s.sendmail("alice@example.test", [r], mgtest.make_message("alice@example.test", [r]))
    mgtest._quiet_quit(s)


def unpack(msg):
    """(headers message, JSON report, attachment file name) of one report message."""
    m = msg.message()
    assert m.get_content_type() == "multipart/report"
    assert m.get_param("report-type") == "tlsrpt"
    parts = list(m.iter_parts())
    assert parts[0].get_content_type() == "text/plain"
    att = [p for p in parts if p.get_content_type() == "application/tlsrpt+gzip"]
    assert len(att) == 1, [p.get_content_type() for p in parts]
    raw = att[0].get_payload(decode=True)
    report = json.loads(gzip.decompress(raw))
    return m, report, att[0].get_filename()


def reports_for(sink, domain):
    out = []
    for msg in sink.find(rcpt="tlsrpt@reports.test"):
        m, rep, fname = unpack(msg)
        if m["TLS-Report-Domain"] == domain:
            out.append((msg, m, rep, fname))
    return out


def totals(reports):
    ok = fail = 0
    details = {}
    for _, _, rep, _ in reports:
        for p in rep["policies"]:
            ok += p["summary"]["total-successful-session-count"]
            fail += p["summary"]["total-failure-session-count"]
            for d in p.get("failure-details", []):
                details[d["result-type"]] = details.get(d["result-type"], 0) + \
                    d["failed-session-count"]
    return ok, fail, details


def check_report(msg, m, rep, fname, domain):
    assert msg.rcpt_tos == ["tlsrpt@reports.test"]
    assert msg.mail_from == "postmaster@mx.test.local"
    assert m["TLS-Report-Submitter"] == "mx.test.local"
    assert m["From"] == "postmaster@mx.test.local" or "postmaster@mx.test.local" in m["From"]
    assert re.search(r"Report Domain: %s\s+Submitter: mx\.test\.local\s+Report-ID: <[^>]+>" %
                     re.escape(domain), m["Subject"]), m["Subject"]
    assert rep["organization-name"] == "MailGuard Test Org"
    assert rep["contact-info"] == "postmaster@mx.test.local"
    assert rep["report-id"]
    start = rep["date-range"]["start-datetime"]
    end = rep["date-range"]["end-datetime"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", start) and start <= end
    fm = re.fullmatch(r"mx\.test\.local!%s!(\d+)!(\d+)\.json\.gz" % re.escape(domain), fname)
    assert fm, fname
    assert int(fm.group(1)) <= int(fm.group(2))
    for p in rep["policies"]:
        assert p["policy"]["policy-domain"] == domain
        assert p["policy"]["policy-type"] in ("sts", "tlsa", "no-policy-found")


def test_reports_are_sent_with_the_right_counts():
    mg, tls_sink, plain_sink, report_sink = start("6s")
    send(mg, ["a@dest.test", "b@dest.test", "c@dest.test", "x@plain.test", "y@plain.test",
              "q@quiet.test"])
    wait_for(lambda: tls_sink.count == 3 and plain_sink.count == 2 and
             report_sink.find(rcpt="q@quiet.test"), timeout=30, what="the deliveries")
    ok_sessions = tls_sink.sessions      # every one of them a dest.test session with TLS
    assert all(m.tls for m in tls_sink.messages)
    # a period may end between deliveries: its counts are then in two reports
    wait_for(lambda: totals(reports_for(report_sink, "dest.test"))[0] >= ok_sessions and
             totals(reports_for(report_sink, "plain.test"))[1] >= plain_sink.sessions,
             timeout=40, what="the TLS reports of dest.test and plain.test")
    dest = reports_for(report_sink, "dest.test")
    plain = reports_for(report_sink, "plain.test")
    for r in dest:
        check_report(*r, "dest.test")
    for r in plain:
        check_report(*r, "plain.test")
    ok, fail, _ = totals(dest)
    assert (ok, fail) == (ok_sessions, 0), (ok, fail, ok_sessions)
    ok, fail, details = totals(plain)
    assert ok == 0 and fail == plain_sink.sessions, (ok, fail, plain_sink.sessions)
    assert details == {"starttls-not-supported": fail}, details
    fd = plain[0][2]["policies"][0]["failure-details"][0]
    assert fd["receiving-mx-hostname"] == "mx.plain.test"
    assert fd["receiving-ip"] == "127.0.0.2"
    assert fd["sending-mta-ip"].startswith("127.")
    # quiet.test publishes no rua, reports.test neither: no report for them
    assert not reports_for(report_sink, "quiet.test")
    assert not reports_for(report_sink, "reports.test")
    # the https: rua is queued for a POST through delivery (test_tlsrpt_https.py covers it)
    mg.assert_log(r"tlsrpt: report for plain\.test to https://r\.invalid/x queued as ")


def test_aggregate_survives_restart():
    mg, tls_sink, plain_sink, report_sink = start("20s")
    # periods are aligned to multiples of 20 s since the epoch: start early in one, so that it
    # is still open when the daemon stops (the counts must then come from the state file)
    wait_for(lambda: time.time() % 20 < 6, timeout=25, interval=0.1, what="a fresh period")
    send(mg, ["x@plain.test", "y@plain.test"])
    wait_for(lambda: plain_sink.count == 2, timeout=30, what="the deliveries")
    sessions = plain_sink.sessions
    wait_for(lambda: re.search(r"^plain\.test policies=1 successful=0 failed=%d rua=mailto:" %
                               sessions, mg.ctl("queue", "tlsrpt").stdout, re.M),
             timeout=10, what="the counts in mailguardctl queue tlsrpt")
    state = os.path.join(mg.state_dir, "tlsrpt.state")
    mg.stop()
    text = open(state).read()
    assert text.startswith("mailguard-tlsrpt 1\nperiod "), text
    assert "domain plain.test " in text, text
    mg.start()
    mg.wait_log(r"tlsrpt: restored \d+ domain\(s\)")
    wait_for(lambda: totals(reports_for(report_sink, "plain.test"))[1] >= sessions,
             timeout=60, what="the report with the counts from before the restart")
    ok, fail, _ = totals(reports_for(report_sink, "plain.test"))
    assert (ok, fail) == (0, sessions), (ok, fail, sessions)


def test_corrupt_state_is_set_aside():
    mg, tls_sink, plain_sink, report_sink = start("1h")
    mg.stop()
    state = os.path.join(mg.state_dir, "tlsrpt.state")
    with open(state, "w") as f:
        f.write("mailguard-tlsrpt 1\nperiod 1 60\ndomain plain.test -\npolicy what\n")
    mg.start()
    mg.wait_log(r"tlsrpt: .*tlsrpt\.state unusable \(bad policy line\)")
    assert os.path.exists(state + ".corrupt")
    send(mg, ["x@plain.test"])
    wait_for(lambda: plain_sink.count == 1, timeout=30, what="delivery after the bad file")


def test_tlsrpt_no_sends_nothing():
    mg, tls_sink, plain_sink, report_sink = start("2s")
    mg.configure(config={"tlsrpt": "no"})
    mg.reload()
    mg.wait_log(r"mailguard/queue\[\d+\]: info: configuration reloaded")
    send(mg, ["x@plain.test"])
    wait_for(lambda: plain_sink.count == 1, timeout=30, what="the delivery")
    mark = mg.log_mark()
    time.sleep(5)                # two periods pass: nothing may be sent
    assert not report_sink.find(rcpt="tlsrpt@reports.test")
    mg.assert_no_log(r"tlsrpt report", since=mark)
