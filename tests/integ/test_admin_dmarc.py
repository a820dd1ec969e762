"""The console's DMARC views and their JSON API against the real daemon (issue I): corpus
aggregate reports (parsedmarc samples about example.com, their date ranges moved into the last
days so the periods cover them) and a crafted hostile report (<script> in org_name, report_id,
header_from, a PTR name) go by SMTP to example.com's dmarc_rua address; once the filter stored
them (polled through `mailguardctl dmarc reports`), the pages /dmarc, /dmarc/example.com and the
drill-down must show the numbers computed here from the XML and those of the JSON API, escape
every hostile string, refuse anonymous clients, and the API must answer 400 / 404 for bad
parameters and unknown domains or reports. A loopback DNS rig serves the PTR names. Headless
Chromium screenshots of the three pages are saved in $BUILD/test-output/admin_dmarc/."""

import calendar
import gzip
import html
import json
import re
import shutil
import time
import urllib.parse
import xml.etree.ElementTree as ET

import mgtest
from corpora import corpora_dir
from dnsrig import DnsRig
from mgtest import MailGuard, Sink, wait_for
from test_admin_browser import Pages, browser
from test_admin_ops import ADMIN, PASSWORD, Console, ctl_token
from test_dmarc_rua_in import as_attachment

TIMEOUT = 420
DOM = "example.com"
AGG = "dmarc-reports/parsedmarc/samples/aggregate/"
# (corpus file, days before today of its begin day)
CORPUS = [
    ("addisonfoods.com_example.com_1536105600_1536191999.xml", 0),
    ("example.net_example.com_1529366400_1529452799.xml", 1),
    ("usssa.com_example.com_1538784000_1538870399.xml", 2),
    ("veeam.com_example.com_1530133200_1530219600.xml", 3),
    ("protection.outlook.com_example.com_1711756800_1711843200.xml", 4),
    ("rfc9990-example.net_example.com_1700000000_1700086399.xml", 20),   # only in 30+ days
]
EVIL_ORG = '<script>alert("org")</script> Evil & Co'
EVIL_ID = "<img src=x onerror=alert(1)>|%41\"'"
EVIL_FROM = "<script>alert(3)</script>.example.com"
EVIL_PTR = "<script>ptr</script>.evil.test"
SCRIPT_RX = re.compile(r"<script>|<img src=x", re.I)


def today0():
    return calendar.timegm(time.gmtime()[:3] + (0, 0, 0))


def hostile_xml(begin):
    e = html.escape
    rows = [("192.0.2.10", 7, "none", "pass", "pass", DOM),
            ("192.0.2.11", 5, "reject", "fail", "fail", EVIL_FROM),
            ("192.0.2.12", 3, "quarantine", "fail", "pass", DOM)]
    recs = "".join(
        f"<record><row><source_ip>{ip}</source_ip><count>{n}</count><policy_evaluated>"
        f"<disposition>{d}</disposition><dkim>{dk}</dkim><spf>{sp}</spf></policy_evaluated>"
        f"</row><identifiers><header_from>{e(hf)}</header_from></identifiers><auth_results>"
        f"<dkim><domain>{e(hf)}</domain><selector>s1</selector><result>{dk}</result></dkim>"
        f"<spf><domain>{e(hf)}</domain><result>{sp}</result></spf></auth_results></record>"
        for ip, n, d, dk, sp, hf in rows)
    return (f'<?xml version="1.0"?><feedback><report_metadata><org_name>{e(EVIL_ORG)}'
            f"</org_name><email>evil@evil.test</email><report_id>{e(EVIL_ID)}</report_id>"
            f"<date_range><begin>{begin}</begin><end>{begin + 86399}</end></date_range>"
            f"</report_metadata><policy_published><domain>{DOM}</domain><adkim>r</adkim>"
            f"<aspf>r</aspf><p>reject</p><sp>reject</sp><pct>100</pct></policy_published>"
            f"{recs}</feedback>").encode()


EVIL_TLS_ORG = "<script>alert('tls')</script> TLS Org"
EVIL_MX = "<img src=x>.mx.example.com"


def tlsrpt_json(begin):
    """An RFC 8460 report about example.com: 40 successful and 3 failed sessions."""
    day = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(begin))
    end = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(begin + 86399))
    return json.dumps({
        "organization-name": EVIL_TLS_ORG,
        "date-range": {"start-datetime": day, "end-datetime": end},
        "contact-info": "tls-reports@reporter.test", "report-id": "tls-<b>1</b>",
        "policies": [{
            "policy": {"policy-type": "sts", "policy-domain": DOM,
                       "policy-string": ["version: STSv1", "mode: enforce", "mx: mx.example.com",
                                         "max_age: 86400"], "mx-host": ["mx.example.com"]},
            "summary": {"total-successful-session-count": 40, "total-failure-session-count": 3},
            "failure-details": [
                {"result-type": "certificate-expired", "sending-mta-ip": "192.0.2.50",
                 "receiving-mx-hostname": EVIL_MX, "receiving-ip": "192.0.2.25",
                 "failed-session-count": 2},
                {"result-type": "starttls-not-supported", "sending-mta-ip": "192.0.2.51",
                 "receiving-mx-hostname": "mx.example.com", "failed-session-count": 1}]}]
    }).encode()


def moved(data, begin):
    """The report with its date range moved to [begin, begin + 1 day)."""
    data, n = re.subn(rb"<begin>\s*[0-9.]+\s*</begin>", b"<begin>%d</begin>" % begin, data)
    data, m = re.subn(rb"<end>\s*[0-9.]+\s*</end>", b"<end>%d</end>" % (begin + 86399), data)
    assert n == 1 and m == 1, "date_range not found"
    return data


def local(tag):
    return tag.rsplit("}", 1)[-1]


def stats(data):
    """Counts of one report computed from its XML: what the store should sum up."""
    root = ET.fromstring(data)
    md = next(x for x in root if local(x.tag) == "report_metadata")
    get = {local(x.tag): (x.text or "").strip() for x in md}
    s = dict(org=get["org_name"], report_id=get["report_id"], records=0, messages=0,
             dmarc_pass=0, quarantine=0, reject=0, ips={})
    for rec in (x for x in root if local(x.tag) == "record"):
        row = next(x for x in rec if local(x.tag) == "row")
        f = {local(x.tag): x for x in row}
        pe = {local(x.tag): (x.text or "").strip().lower() for x in f["policy_evaluated"]}
        n = int(f["count"].text)
        s["records"] += 1
        s["messages"] += n
        ok = pe.get("dkim") == "pass" or pe.get("spf") == "pass"
        s["dmarc_pass"] += n if ok else 0
        s["quarantine"] += n if pe.get("disposition") == "quarantine" else 0
        s["reject"] += n if pe.get("disposition") == "reject" else 0
        ip = f["source_ip"].text.strip()
        a = s["ips"].setdefault(ip, [0, 0])
        a[0] += n
        a[1] += 0 if ok else n
    return s


def expected(reports, days):
    t0 = today0() - (days - 1) * 86400
    sel = [r for r in reports if r["begin"] >= t0]
    tot = {k: sum(r[k] for r in sel) for k in ("messages", "dmarc_pass", "quarantine",
                                               "reject", "records")}
    tot["reports"] = len(sel)
    tot["dmarc_fail"] = tot["messages"] - tot["dmarc_pass"]
    per_day = {}
    for r in sel:
        per_day[r["begin"] - r["begin"] % 86400] = per_day.get(r["begin"] - r["begin"] % 86400,
                                                               0) + r["messages"]
    ips = {}
    for r in sel:
        for ip, (m, f) in r["ips"].items():
            a = ips.setdefault(ip, [0, 0])
            a[0] += m
            a[1] += f
    return tot, per_day, ips


def esc(s):
    """A string as the console's html_esc writes it."""
    return html.escape(s, quote=True).replace("&#x27;", "&#39;")


def card(page, label):
    m = re.search(r'<div class="value">([^<]*)</div><div class="label">' + re.escape(label)
                  + "</div>", page)
    assert m, f"card {label!r} not on the page"
    return m.group(1)


def no_script(page, where):
    m = SCRIPT_RX.search(page)
    assert not m, f"unescaped hostile markup on {where}: ...{page[max(0, m.start() - 80):m.end() + 80]}"


def ctl_json(mg, *args):
    r = mg.ctl(*args, "--json", check=False)
    if r.returncode != 0:
        return None
    return json.loads(r.stdout)


@mgtest.timeout(TIMEOUT)
def test_dmarc_console_and_api():
    rig = DnsRig({
        "2.0.192.in-addr.arpa": [("10", "PTR", "mail.good.test"), ("11", "PTR", EVIL_PTR)],
        "good.test": [("mail", "A", "192.0.2.10")],
        "evil.test": [("@", "A", "192.0.2.99")],
    })
    sink = Sink()
    common = {"transport": sink.transport, "disable_layers": "spf dkim dmarc rbl uribl greylist"}
    mg = MailGuard(config={"mynetworks": "203.0.113.0/24", "filter_threads": 2,
                           "resolvers": rig.resolver, "dns_timeout_ms": 1000},
                   domains={DOM: dict(common, dmarc_rua=f"dmarc@{DOM}",
                                      tlsrpt_rua=f"tlsrpt@{DOM}"),
                            "norua.test": dict(common)}).start()
    mg.ctl("admin", "add", ADMIN, "--password-stdin", input=PASSWORD + "\n")

    # the reports, moved into the last days, by SMTP to the rua address
    t0 = today0()
    reports = []
    for name, ago in CORPUS:
        begin = t0 - ago * 86400 + 3600
        data = moved((corpora_dir() / AGG / name).read_bytes(), begin)
        reports.append(dict(stats(data), begin=begin, name=name))
        assert mg.send("noreply-dmarc@reporter.test", f"dmarc@{DOM}",
                       as_attachment(name, data, f"dmarc@{DOM}")) == {}, name
    evil = hostile_xml(t0 + 7200)
    reports.append(dict(stats(evil), begin=t0 + 7200, name="evil.xml"))
    assert mg.send("noreply-dmarc@reporter.test", f"dmarc@{DOM}",
                   as_attachment("evil.xml", evil, f"dmarc@{DOM}")) == {}
    mg.wait_log(r"dmarc_rua .*org=.*Evil.*result=stored", timeout=60)
    assert mg.send("noreply-tlsrpt@reporter.test", f"tlsrpt@{DOM}",
                   as_attachment("reporter.test!example.com!1!2.json.gz",
                                 gzip.compress(tlsrpt_json(t0 + 3600)), f"tlsrpt@{DOM}")) == {}

    # stored: poll the filter's own listing (ruactl's command) until every report is there
    def listed():
        j = ctl_json(mg, "dmarc", "reports", DOM, "--days", "366")
        return j if j is not None and len(j.get("reports", [])) == len(reports) else None
    lst = wait_for(listed, 60, f"{len(reports)} reports listed by `dmarc reports`")

    con = Console(mg)
    # anonymous: pages redirect to the login, the API wants credentials
    for path in ("/dmarc", f"/dmarc/{DOM}", f"/dmarc/{DOM}/report?id=a%7Cb"):
        st, hd, _ = con.get(path)
        assert st in (302, 303) and "/login" in hd.get("location", ""), (path, st, hd)
    for path in ("/api/v1/dmarc", f"/api/v1/dmarc/{DOM}/summary",
                 f"/api/v1/tls-reports/{DOM}/summary"):
        st, _ = con.api("GET", path)
        assert st == 401, (path, st)
    con.login()
    tok = ctl_token(mg, con, "dmarcview")

    def api(path):
        return con.api("GET", path, token=tok)

    # API status codes and validation
    for path, want in [
            ("/api/v1/dmarc?days=0", 400), ("/api/v1/dmarc?days=367", 400),
            ("/api/v1/dmarc?days=7x", 400), ("/api/v1/dmarc?days=", 400),
            (f"/api/v1/dmarc/{DOM}/reports?limit=0", 400),
            (f"/api/v1/dmarc/{DOM}/reports?limit=10001", 400),
            ("/api/v1/dmarc/bad_name!/summary", 400), ("/api/v1/dmarc/-x.test/summary", 400),
            ("/api/v1/dmarc/unknown.test/summary", 404), (f"/api/v1/dmarc/{DOM}/bogus", 404),
            (f"/api/v1/dmarc/{DOM}/report", 400), (f"/api/v1/dmarc/{DOM}/report?id=", 400),
            (f"/api/v1/dmarc/{DOM}/report?id=a%01%7Cb", 400),
            (f"/api/v1/dmarc/{DOM}/report?id=" + "a%7C" + "x" * 1600, 400),
            (f"/api/v1/dmarc/{DOM}/report?id=nobody%7Cnothing", 404),
            ("/api/v1/tls-reports/unknown.test/summary", 404),
            (f"/api/v1/tls-reports/{DOM}/bogus", 404)]:
        st, body = api(path)
        assert st == want, f"{path}: {st} {body}, want {want}"
        assert isinstance(body, dict) and body.get("error"), f"{path}: {body}"
    st, body = con.api("POST", "/api/v1/dmarc", {}, token=tok)
    assert st == 405, st

    # the API against the numbers from the XML, for 7 and 30 days
    for days in (7, 30):
        tot, per_day, ips = expected(reports, days)
        st, doms = api(f"/api/v1/dmarc?days={days}")
        assert st == 200, doms
        assert [d["domain"] for d in doms["domains"]] == [DOM], doms   # norua.test: no rua
        d = doms["domains"][0]
        for k in ("reports", "messages", "dmarc_pass", "quarantine", "reject"):
            assert d[k] == tot[k], f"days={days} domains {k}: {d[k]} != {tot[k]}"
        st, s = api(f"/api/v1/dmarc/{DOM}/summary?days={days}")
        assert st == 200, s
        for k in ("reports", "messages", "dmarc_pass", "dmarc_fail", "quarantine", "reject"):
            assert s["totals"][k] == tot[k], f"days={days} summary {k}: {s['totals'][k]} != {tot[k]}"
        assert len(s["daily"]) == days, len(s["daily"])
        got_days = {x["t"]: x["messages"] for x in s["daily"] if x["messages"]}
        assert got_days == per_day, f"daily: {got_days} != {per_day}"
        top = {x["ip"]: x for x in s["top_sources"]}
        for ip, (m, f) in ips.items():
            assert top[ip]["messages"] == m and top[ip]["dmarc_fail"] == f, (ip, top[ip])
        failing = [x["ip"] for x in s["failing_sources"]]
        assert set(failing) == {ip for ip, (m, f) in ips.items() if f > 0}, failing
        st, rl = api(f"/api/v1/dmarc/{DOM}/reports?days={days}")
        assert st == 200 and len(rl["reports"]) == tot["reports"], rl
    # absolute periods: the last 7 days by date equal days=7; 20 days ago alone: one report
    day = lambda t: time.strftime("%Y-%m-%d", time.gmtime(t))
    st, a = api(f"/api/v1/dmarc/{DOM}/summary?since={day(t0 - 6 * 86400)}&until={day(t0)}")
    _, b = api(f"/api/v1/dmarc/{DOM}/summary?days=7")
    assert st == 200 and a["totals"] == b["totals"] and len(a["daily"]) == 7, (a, b)
    st, a = api(f"/api/v1/dmarc/{DOM}/summary?since={day(t0 - 6 * 86400)}")
    assert st == 200 and a["totals"] == b["totals"], a
    old = day(t0 - 20 * 86400)
    st, a = api(f"/api/v1/dmarc/{DOM}/reports?since={old}&until={old}")
    assert st == 200 and [r["report_id"] for r in a["reports"]] == \
        ["dmarcbis-test-report-001"], a
    for q in ("since=2026-02-31", "since=2026-1-01", "since=20260101", "until=2026-01-01",
              f"since={day(t0)}&until={day(t0 - 86400)}", "since=2000-01-01&until=2011-01-01",
              f"since={day(t0)}&days=7", "since=%3Cx%3E"):
        st, body = api(f"/api/v1/dmarc/{DOM}/summary?{q}")
        assert st == 400 and body.get("error"), (q, st, body)
    st, tj = api(f"/api/v1/tls-reports/{DOM}/summary?since={old}&until={old}")
    assert st == 200 and tj["totals"]["reports"] == 0 and len(tj["daily"]) == 1, (st, tj)

    st, s = api(f"/api/v1/dmarc/{DOM}/summary?days=30")
    good = {x["ip"]: x for x in s["top_sources"]}["192.0.2.10"]
    assert good["ptr"] == "mail.good.test" and good["ptr_status"] == "confirmed", good

    # the hostile report by API: strings as sent, identity usable for the drill-down
    ev = [r for r in lst["reports"] if r["org"] == EVIL_ORG]
    assert len(ev) == 1, [r["org"] for r in lst["reports"]]
    ident = ev[0]["identity"]
    assert ev[0]["report_id"] == EVIL_ID, ev[0]
    st, rep = api(f"/api/v1/dmarc/{DOM}/report?id=" + urllib.parse.quote(ident, safe=""))
    assert st == 200 and rep["org"] == EVIL_ORG and len(rep["rows"]) == 3, rep
    assert {r["header_from"] for r in rep["rows"]} == {DOM, EVIL_FROM}, rep["rows"]
    # TLS-RPT: shown when the filter's TLS report store answers (tlsin's part of issue I)
    tls_ok = ctl_json(mg, "tls-reports", "summary", DOM, "--days", "30") is not None
    print(f"TLS report store answers: {tls_ok}")
    if tls_ok:
        wait_for(lambda: (ctl_json(mg, "tls-reports", "reports", DOM) or {}).get("reports"), 30,
                 "the TLS report stored")
    st, tls = api(f"/api/v1/tls-reports/{DOM}/summary?days=30")
    if tls_ok:
        assert st == 200, tls
        t = tls["totals"]
        assert (t["reports"], t["successful"], t["failed"]) == (1, 40, 3), t
        assert len(tls["daily"]) == 30 and sum(d["failed"] for d in tls["daily"]) == 3, tls
        st, tr = api(f"/api/v1/tls-reports/{DOM}/reports?days=30")
        assert st == 200 and tr["reports"][0]["org"] == EVIL_TLS_ORG, tr
    else:
        assert st == 502 and "error" in tls, (st, tls)

    # pages: the same numbers, every hostile string escaped
    tot30, _, _ = expected(reports, 30)
    st, _, page = con.get("/dmarc?days=30")
    assert st == 200, page[:300]
    no_script(page, "/dmarc")
    row = re.search(rf'<tr><td><a href="/dmarc/{re.escape(DOM)}\?days=30">{re.escape(DOM)}</a>'
                    r"</td><td>[^<]*</td>((?:<td[^>]*>[^<]*</td>)+)</tr>", page)
    assert row, page
    cells = re.findall(r"<td[^>]*>([^<]*)</td>", row.group(1))
    assert cells[:3] == [str(tot30["reports"]), str(tot30["messages"]), str(tot30["dmarc_pass"])], cells
    assert cells[3] == f"{100.0 * tot30['dmarc_pass'] / tot30['messages']:.1f}%", cells
    assert cells[6:8] == [str(tot30["quarantine"]), str(tot30["reject"])], cells
    assert "norua.test" not in page

    st, _, page = con.get(f"/dmarc/{DOM}?days=30")
    assert st == 200, page[:300]
    no_script(page, f"/dmarc/{DOM}")
    assert card(page, "messages") == str(tot30["messages"])
    assert card(page, "reports") == str(tot30["reports"])
    assert card(page, "DMARC pass") == str(tot30["dmarc_pass"])
    assert card(page, "DMARC fail") == str(tot30["dmarc_fail"])
    assert card(page, "rejected") == str(tot30["reject"])
    _, s30 = api(f"/api/v1/dmarc/{DOM}/summary?days=30")
    _, _, ips30 = expected(reports, 30)
    assert card(page, "reporters") == str(s30["totals"]["reporters"]) == \
        str(len({r["org"].lower() for r in reports})), s30["totals"]
    assert card(page, "source IPs") == str(s30["totals"]["sources"]) == str(len(ips30))
    assert card(page, "DMARC pass rate") == f"{100.0 * tot30['dmarc_pass'] / tot30['messages']:.1f}%"
    for x in s30["reporters"]:
        assert f'<td class="num">{x["reports"]}</td><td class="num">{x["messages"]}</td>' in page
    assert page.count("<svg") >= 1 and "Messages per day" in page
    assert esc(EVIL_ORG) in page, "hostile org not shown escaped"
    assert "mail.good.test" in page and "TLS reports" in page
    tls_part = page.split('<section class="tlsrpt">', 1)[1]
    if tls_ok:
        assert card(tls_part, "successful sessions") == "40"
        assert card(tls_part, "failed sessions") == "3"
        assert "TLS sessions per day" in tls_part and esc(EVIL_MX) in tls_part
        assert "certificate-expired" in tls_part
    else:
        assert "No TLS reports." in tls_part
    for r in reports:
        assert esc(r["report_id"]) in page, r["report_id"]
    st, _, p7 = con.get(f"/dmarc/{DOM}?days=7")
    assert st == 200 and card(p7, "reports") == str(expected(reports, 7)[0]["reports"])
    st, _, pa = con.get(f"/dmarc/{DOM}?since={day(t0 - 29 * 86400)}&until={day(t0)}")
    assert st == 200 and card(pa, "messages") == str(tot30["messages"]), st
    assert ("No TLS reports." in pa) != tls_ok
    st, _, pa = con.get(f"/dmarc/{DOM}?since={old}&until={old}")
    # an old period: TLS reports are asked for it too (none then)
    assert st == 200 and card(pa, "reports") == "1" and "No TLS reports." in pa, st
    assert f'value="{old}"' in pa
    st, _, pa = con.get(f"/dmarc?since={old}")
    assert st == 200 and f'href="/dmarc/{DOM}?since={old}&amp;until={day(t0)}"' in pa
    for path, want in [(f"/dmarc/{DOM}?days=400", 400), ("/dmarc/unknown.test", 404),
                       (f"/dmarc/{DOM}?since=yesterday", 400),
                       (f"/dmarc/{DOM}/report?id=nobody%7Cnothing", 404),
                       (f"/dmarc/{DOM}/report", 400), (f"/dmarc/{DOM}/other", 404)]:
        st, _, p = con.get(path)
        assert st == want, (path, st)
        no_script(p, path)

    # drill-down through the page's own link to the hostile report
    links = re.findall(rf'href="(/dmarc/{re.escape(DOM)}/report\?id=[^"]+)"', page)
    assert len(links) == tot30["reports"], links
    evil_link = [html.unescape(lk) for lk in links
                 if urllib.parse.unquote(html.unescape(lk).split("id=", 1)[1]) == ident]
    assert len(evil_link) == 1, (ident, links)
    st, _, rp = con.get(evil_link[0])
    assert st == 200, rp[:300]
    no_script(rp, "drill-down")
    assert "&lt;br&gt;" not in rp and "&amp;lt;" not in rp, "markup escaped twice"
    assert esc(EVIL_ORG) in rp and esc(EVIL_ID) in rp
    assert esc(EVIL_FROM) in rp
    body = rp.split('class="mg-table report-rows"', 1)[1].split("</tbody>", 1)[0]
    assert body.count("<tr>") - 1 == 3, body   # header row + 3 rows
    for ip in ("192.0.2.10", "192.0.2.11", "192.0.2.12"):
        assert f"<code>{ip}</code>" in body

    # headless Chromium: log in, the three pages, screenshots
    shots = mgtest.build_dir() / "test-output" / "admin_dmarc"
    if shots.exists():
        shutil.rmtree(shots)
    shots.mkdir(parents=True)
    drv = browser(mgtest.tmpdir("chrome"))
    pg = Pages(drv, f"https://127.0.0.1:{mg.admin_port}", shots)
    pg.go("/dmarc", "login")
    pg.fill("#user", ADMIN)
    pg.fill("#password", PASSWORD)
    pg.submit("form", "after-login")
    pg.go("/dmarc?days=30", "dmarc")
    assert drv.title.startswith("DMARC reports"), drv.title
    assert drv.find_elements("css selector", "table.dmarc-domains tbody tr")
    drv.find_element("link text", DOM).click()
    pg.shot("dmarc-domain")
    assert drv.title.startswith(f"DMARC: {DOM}"), drv.title
    assert len(drv.find_elements("css selector", "svg.chart")) == (2 if tls_ok else 1)
    assert len(drv.find_elements("css selector", "table.reports tbody tr")) == tot30["reports"]
    assert not drv.find_elements("css selector", "script")
    drv.find_element("partial link text", "<img src=x").click()
    pg.shot("dmarc-report")
    assert drv.title.startswith(f"DMARC report for {DOM}"), drv.title
    assert len(drv.find_elements("css selector", "table.report-rows tbody tr")) == 3
    assert EVIL_ORG in pg.text()
    print(f"screenshots: {shots}")
    mg.stop()
