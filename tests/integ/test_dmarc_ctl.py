"""`mailguardctl dmarc domains|summary|reports|show` against the real daemon (issue I): four
corpus aggregate reports about example.com (parsedmarc samples, one in the DMARCbis namespace)
go by SMTP to its dmarc_rua address (the set-up and helpers of test_dmarc_rua_in.py); once the
filter stored them, every command's --json answer must match the numbers computed here from the
XML files with ElementTree (record counts, totals, pass counts per IP and per day, reporters,
rows), the text answers must show the same, and a loopback DNS rig gives one source IP a PTR
name with a matching A record ("confirmed"), one a PTR name pointing elsewhere ("unconfirmed")
and one no PTR at all ("none"). The corpus periods are years old, so the commands are asked for
absolute periods (--since/--until). Errors: unknown domain, unknown report, bad options."""

import calendar
import json
import re
import time
import xml.etree.ElementTree as ET

import mgtest
from corpora import corpora_dir
from dnsrig import DnsRig
from mgtest import MailGuard, Sink, wait_for
from test_dmarc_rua_in import as_attachment

TIMEOUT = 240
DOM = "example.com"
AGG = "dmarc-reports/parsedmarc/samples/"
FILES = [
    "aggregate/usssa.com_example.com_1538784000_1538870399.xml",
    "aggregate/rfc9990-example.net_example.com_1700000000_1700086399.xml",
    "aggregate/protection.outlook.com_example.com_1711756800_1711843200.xml",
    "extract_report/nice-input.xml",
]
DAY = 86400


def local(tag):
    return tag.rsplit("}", 1)[-1]


def child(el, *path):
    """The first descendant along path of local names, or None."""
    for name in path:
        el = next((c for c in el if local(c.tag) == name), None)
        if el is None:
            return None
    return el


def text(el, *path):
    c = child(el, *path)
    return (c.text or "").strip() if c is not None else ""


def parse(data):
    """What the store must hold for one report, computed independently of the daemon."""
    root = ET.fromstring(data)
    meta = child(root, "report_metadata")
    rep = dict(org=text(meta, "org_name"), email=text(meta, "email"),
               report_id=text(meta, "report_id"),
               begin=int(float(text(meta, "date_range", "begin"))),
               end=int(float(text(meta, "date_range", "end"))),
               p=text(root, "policy_published", "p").lower(), rows=[])
    for rec in (c for c in root if local(c.tag) == "record"):
        pe = child(rec, "row", "policy_evaluated")
        row = dict(ip=text(rec, "row", "source_ip"), count=int(text(rec, "row", "count")),
                   disposition=text(pe, "disposition").lower(),
                   dkim=text(pe, "dkim").lower(), spf=text(pe, "spf").lower(),
                   header_from=text(rec, "identifiers", "header_from").lower(),
                   auth_dkim=[text(a, "domain").lower() for a in child(rec, "auth_results")
                              if local(a.tag) == "dkim"])
        rep["rows"].append(row)
    rep["records"] = len(rep["rows"])
    rep["total"] = sum(r["count"] for r in rep["rows"])
    return rep


def counters(rows):
    c = dict(messages=0, dmarc_pass=0, dkim_pass=0, spf_pass=0, quarantine=0, reject=0)
    for r in rows:
        n = r["count"]
        c["messages"] += n
        c["dmarc_pass"] += n if "pass" in (r["dkim"], r["spf"]) else 0
        c["dkim_pass"] += n if r["dkim"] == "pass" else 0
        c["spf_pass"] += n if r["spf"] == "pass" else 0
        c["quarantine"] += n if r["disposition"] == "quarantine" else 0
        c["reject"] += n if r["disposition"] == "reject" else 0
    return c


def per_ip(reports):
    out = {}
    for rep in reports:
        for r in rep["rows"]:
            out.setdefault(r["ip"], []).append(r)
    return {ip: counters(rows) for ip, rows in out.items()}


def day0(t):
    return t // DAY * DAY


def ymd(t):
    return time.strftime("%Y-%m-%d", time.gmtime(t))


def ctl_json(mg, *args):
    r = mg.ctl(*args, "--json")
    assert r.stdout.endswith("}\n") and r.stdout.count("\n") == 1, r.stdout[:300]
    return json.loads(r.stdout)


@mgtest.timeout(TIMEOUT)
def test_dmarc_commands():
    rig = DnsRig({
        "100.51.198.in-addr.arpa": [("1", "PTR", "mail.ok.test")],
        "127.20.12.in-addr.arpa": [("40", "PTR", "liar.ok.test")],
        "113.0.203.in-addr.arpa": [("99", "PTR", "other.ok.test")],
        "ok.test": [("mail", "A", "198.51.100.1"), ("liar", "A", "192.0.2.77"),
                    ("other", "A", "203.0.113.99")],
    })
    sink = Sink()
    common = {"transport": sink.transport, "disable_layers": "spf dkim dmarc rbl uribl greylist"}
    mg = MailGuard(config={"mynetworks": "203.0.113.0/24", "filter_threads": 2,
                           "resolvers": rig.resolver, "dns_timeout_ms": 1000},
                   domains={DOM: dict(common, dmarc_rua=f"dmarc@{DOM}"),
                            "quiet.test": dict(common, dmarc_rua="rua@quiet.test"),
                            "norua.test": dict(common)}).start()
    reports = []
    for i, name in enumerate(FILES):
        data = (corpora_dir() / AGG / name).read_bytes()
        reports.append(parse(data))
        fname = name.rsplit("/", 1)[-1]
        assert mg.send("noreply-dmarc@reporter.test", f"dmarc@{DOM}",
                       as_attachment(fname, data, f"dmarc@{DOM}")) == {}, name
    wait_for(lambda: len(re.findall(r" dmarc_rua .*result=stored", mg.log_text())) >= 4, 60,
             "4 stored reports")
    first, last = min(r["begin"] for r in reports), max(r["begin"] for r in reports)
    since, until = ymd(first), ymd(last)
    span = ["--since", since, "--until", until]

    # dmarc domains: protected domains with a rua, sorted; the old reports are out of --days
    d = ctl_json(mg, "dmarc", "domains", *span)
    assert [x["domain"] for x in d["domains"]] == [DOM, "quiet.test"], d
    assert d["since"] == day0(first) and d["days"] == (day0(last) - day0(first)) // DAY + 1, d
    ex = d["domains"][0]
    want_all = counters([r for rep in reports for r in rep["rows"]])
    assert ex["rua"] == f"dmarc@{DOM}" and ex["reports"] == 4, ex
    for k, v in want_all.items():
        assert ex[k] == v, (k, ex, want_all)
    assert d["domains"][1]["reports"] == 0 and d["domains"][1]["messages"] == 0, d
    recent = ctl_json(mg, "dmarc", "domains", "--days", "30")
    assert recent["days"] == 30 and recent["domains"][0]["reports"] == 0, recent

    # dmarc summary over the whole span (> 366 days: only days with data)
    s = ctl_json(mg, "dmarc", "summary", DOM, *span)
    t = s["totals"]
    ips = per_ip(reports)
    assert t["reports"] == 4 and t["messages"] == want_all["messages"], t
    assert t["dmarc_fail"] == want_all["messages"] - want_all["dmarc_pass"], t
    assert t["sources"] == len(ips) and t["reporters"] == 4, t
    for k in ("dmarc_pass", "dkim_pass", "spf_pass", "quarantine", "reject"):
        assert t[k] == want_all[k], (k, t, want_all)
    assert [x["day"] for x in s["daily"]] == sorted({ymd(r["begin"]) for r in reports}), \
        s["daily"]
    for x in s["daily"]:
        rows = [r for rep in reports if ymd(rep["begin"]) == x["day"] for r in rep["rows"]]
        c = counters(rows)
        assert x["t"] == calendar.timegm(time.strptime(x["day"], "%Y-%m-%d")), x
        assert x["messages"] == c["messages"] and x["dmarc_pass"] == c["dmarc_pass"], (x, c)
        assert x["dmarc_fail"] == c["messages"] - c["dmarc_pass"], x
    rep_want = sorted(((r["total"], r["org"]) for r in reports), reverse=True)
    assert [(x["messages"], x["org"]) for x in s["reporters"]] == \
        sorted(rep_want, key=lambda v: (-v[0], v[1])), s["reporters"]
    for x in s["reporters"]:
        r = next(r for r in reports if r["org"] == x["org"])
        assert x["email"] == r["email"] and x["last_end"] == r["end"] and x["reports"] == 1, x
    top_want = sorted(ips.items(), key=lambda kv: (-kv[1]["messages"], kv[0]))[:20]
    assert [x["ip"] for x in s["top_sources"]] == [ip for ip, _ in top_want], s["top_sources"]
    for x in s["top_sources"]:
        assert x["messages"] == ips[x["ip"]]["messages"], x
        assert x["dmarc_fail"] == ips[x["ip"]]["messages"] - ips[x["ip"]]["dmarc_pass"], x
    fail_want = sorted(((ip, c["messages"] - c["dmarc_pass"], c["messages"])
                        for ip, c in ips.items() if c["messages"] > c["dmarc_pass"]),
                       key=lambda v: (-v[1], -v[2], v[0]))[:20]
    assert [(x["ip"], x["dmarc_fail"]) for x in s["failing_sources"]] == \
        [(ip, f) for ip, f, _ in fail_want], s["failing_sources"]

    # a period of at most a year lists every day; the two older reports' IPs with their PTRs
    small = ["--since", ymd(reports[0]["begin"]), "--until", ymd(reports[1]["begin"])]
    s2 = ctl_json(mg, "dmarc", "summary", DOM, *small)
    ndays = (day0(reports[1]["begin"]) - day0(reports[0]["begin"])) // DAY + 1
    assert ndays > 366  # usssa 2018 .. rfc9990 2023: use a window inside one year too
    near = ["--since", ymd(reports[1]["begin"] - 10 * DAY), "--until",
            ymd(reports[1]["begin"] + 5 * DAY)]
    s3 = ctl_json(mg, "dmarc", "summary", DOM, *near)
    assert s3["days"] == 16 and len(s3["daily"]) == 16, s3["daily"]
    assert [x["messages"] for x in s3["daily"]] == [0] * 10 + [reports[1]["total"]] + [0] * 5
    assert s3["totals"]["reports"] == 1 and s3["until"] == day0(reports[1]["begin"]) + 6 * DAY - 1
    srcs = {x["ip"]: x for x in s2["top_sources"]}
    assert set(srcs) == {r["ip"] for rep in reports[:2] for r in rep["rows"]}, srcs
    assert srcs["198.51.100.1"]["ptr_status"] == "confirmed", srcs["198.51.100.1"]
    assert srcs["198.51.100.1"]["ptr"] == "mail.ok.test", srcs["198.51.100.1"]
    assert srcs["12.20.127.40"]["ptr_status"] == "unconfirmed", srcs["12.20.127.40"]
    assert srcs["12.20.127.40"]["ptr"] == "liar.ok.test"
    assert srcs["203.0.113.10"]["ptr_status"] == "none" and srcs["203.0.113.10"]["ptr"] == ""
    txt = mg.ctl("dmarc", "summary", DOM, *small).stdout
    assert re.search(r"^reports 2  reporters 2  sources 4  messages %d$" %
                     (reports[0]["total"] + reports[1]["total"]), txt, re.M), txt
    assert re.search(r"^  198\.51\.100\.1 .* mail\.ok\.test \(confirmed\)$", txt, re.M), txt
    assert re.search(r"^  203\.0\.113\.10 .* - \(none\)$", txt, re.M), txt

    # dmarc reports: newest first, the header numbers of each file; --limit
    r = ctl_json(mg, "dmarc", "reports", DOM, *span)
    assert r["domain"] == DOM
    order = sorted(reports, key=lambda x: -x["end"])
    assert [x["report_id"] for x in r["reports"]] == [x["report_id"] for x in order], r
    for got, want in zip(r["reports"], order):
        for k in ("org", "email", "begin", "end", "records", "total"):
            assert got[k] == want[k], (k, got, want)
        assert got["recv"] > 1700000000 and got["identity"], got
    lim = ctl_json(mg, "dmarc", "reports", DOM, *span, "--limit", "2")
    assert [x["identity"] for x in lim["reports"]] == [x["identity"] for x in r["reports"][:2]]
    txt = mg.ctl("dmarc", "reports", DOM, *span).stdout
    assert "-- 4 report(s)" in txt and all(x["identity"] in txt for x in r["reports"]), txt

    # dmarc show: the DMARCbis report, row by row
    bis = next(x for x in r["reports"] if x["report_id"] == reports[1]["report_id"])
    sh = ctl_json(mg, "dmarc", "show", DOM, bis["identity"])
    assert sh["identity"] == bis["identity"] and sh["org"] == reports[1]["org"], sh
    assert sh["policy"]["p"] == reports[1]["p"] and sh["rows_truncated"] is False, sh
    assert isinstance(sh["quirks"], list) and isinstance(sh["policy"]["pct"], int), sh
    assert len(sh["rows"]) == reports[1]["records"], sh["rows"]
    for got, want in zip(sh["rows"], reports[1]["rows"]):
        for k in ("ip", "count", "disposition", "dkim", "spf", "header_from"):
            assert got[k] == want[k], (k, got, want)
        assert [a["domain"] for a in got["auth_dkim"]] == want["auth_dkim"], (got, want)
    big = next(x for x in r["reports"] if x["report_id"] == reports[3]["report_id"])
    sh = ctl_json(mg, "dmarc", "show", DOM, big["identity"])
    assert sum(x["count"] for x in sh["rows"]) == reports[3]["total"], sh["rows"]
    txt = mg.ctl("dmarc", "show", DOM, bis["identity"]).stdout
    assert reports[1]["report_id"] in txt and "198.51.100.1" in txt, txt

    # errors
    e = mg.ctl("dmarc", "summary", "nowhere.test", check=False)
    assert e.returncode == 1 and "error: not a protected domain: nowhere.test" in e.stderr, e
    e = mg.ctl("dmarc", "show", DOM, "nobody|nothing", check=False)
    assert e.returncode == 1 and "error: no such report" in e.stderr, e
    for bad in (["summary", DOM, "--days", "367"], ["summary", DOM, "--days", "0"],
                ["reports", DOM, "--limit", "10001"], ["summary"], ["frobnicate"],
                ["summary", DOM, "--since", "2015-01-01", "--until", "2025-12-31"],
                ["summary", DOM, "--since", "2024-02-30"],
                ["summary", DOM, "--days", "3", "--since", "2024-01-01"]):
        e = mg.ctl("dmarc", *bad, check=False)
        assert e.returncode == 2 and "usage" in e.stderr, (bad, e)
    mg.stop()
    rig.stop()
