"""The console's Quarantine page and /api/v1/quarantine (issue G) against the real daemon:
search (each filter, paging), the preview (headers and text preview escaped: subjects, senders,
headers and bodies carrying HTML/script never come back active), release (delivered once to the
back-end), delete (confirmation first), confirm-spam, allow-sender / block-sender (list files
written, audited with before and after), CSRF and Origin checks on every POST, the JSON API with
an API token; then the page driven in headless Chromium (python3-selenium) with screenshots in
$BUILD/test-output/admin_quarantine/."""

import json
import re
import shutil
import urllib.parse

import mgtest
from mgtest import wait_for
from test_admin_ops import Console, ctl_token
from test_quarantine import qids, quarantined, send, setup
from test_queue_lib import sink_tokens

TIMEOUT = 300
ADMIN, PASSWORD = "alice", "correct horse battery"
XSS = '<script>alert("x")</script>'
XSS_RX = re.compile(r"<script>alert|<img src=x", re.I)


def start():
    mg, sink = setup()
    mg.ctl("admin", "add", ADMIN, "--password-stdin", input=PASSWORD + "\n")
    return mg, sink, Console(mg).login(ADMIN, PASSWORD)


def audit(mg):
    p = mg.state_dir / "audit.log"
    return [json.loads(line) for line in p.read_text().splitlines()] if p.exists() else []


def no_xss(page, where):
    assert not XSS_RX.search(page), f"unescaped markup on {where}: " \
        f"{XSS_RX.search(page).group(0)!r}"


@mgtest.timeout(TIMEOUT)
def test_search_preview_escaped_and_actions():
    mg, sink, con = start()
    a = quarantined(mg, send(mg, "alice@sender.test", subject=f"Hello {XSS}"))
    b = quarantined(mg, send(mg, "carol@spam.test", ["bob@other.test"], subject="Cheap pills",
        msgid=False, ctype="text/html; charset=utf-8",
        body=f"<html><body>{XSS}<p>Buy <img src=x onerror=alert(1)> now</p></body></html>\r\n"))
    c = quarantined(mg, send(mg, "dave@evil.test", subject="third one", date=False))

    st, _, page = con.get("/quarantine")
    assert st == 200 and "Quarantine" in page, st
    no_xss(page, "/quarantine")
    for m in (a, b, c):
        assert f'href="/quarantine/{m.qid}"' in page, f"{m.qid} not listed"
    assert "Hello &lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page, "subject shown?"
    assert "3 message(s) found" in page, page[-600:]
    assert '<a href="/quarantine">Quarantine</a>' in page or 'href="/quarantine" class' in page

    cases = [({"domain": "other.test"}, {b.qid}), ({"rcpt": "user@example.test"}, {a.qid, c.qid}),
        ({"from": "evil"}, {c.qid}), ({"subject": "<script>"}, {a.qid}),
        ({"min": "9.5"}, {b.qid, c.qid}), ({"max": "7.5"}, {a.qid}),
        ({"since": "2001-01-01", "until": "2001-12-31"}, set())]
    for q, want in cases:
        st, _, page = con.get("/quarantine?" + urllib.parse.urlencode(q))
        got = set(re.findall(r'href="/quarantine/([0-9a-f]{16})"', page))
        assert st == 200 and got == want, f"{q}: got {got}, want {want}"
    st, _, page = con.get("/quarantine?min=lots")
    assert st == 400 and "Invalid search" in page, (st, page[-500:])
    st, _, page = con.get("/quarantine?subject=" + "x" * 300)
    assert st == 400, st

    # preview: headers and text, escaped; no active HTML
    st, _, page = con.get(f"/quarantine/{b.qid}")
    assert st == 200, st
    no_xss(page, "preview")
    assert 'id="qpreview"' in page and "Buy" in page and "now" in page, page[-1500:]
    assert "carol@spam.test" in page and "bob@other.test" in page
    assert '<option value="other.test">' in page, "recipient domain not offered as list"
    st, _, page = con.get(f"/quarantine/{a.qid}")
    no_xss(page, "preview a")
    assert "Hello &lt;script&gt;" in page
    st, _, _ = con.get("/quarantine/zzzz")
    assert st == 404, st
    st, _, _ = con.get("/quarantine/0123456789abcdef")
    assert st == 404, st

    # CSRF: no token, wrong token, foreign Origin -> 403 and nothing happens
    st, _, _ = con.post(f"/quarantine/{a.qid}/release", csrf=False)
    assert st == 403, st
    st, _, _ = con.request("POST", f"/quarantine/{a.qid}/release",
        urllib.parse.urlencode({"csrf": "0" * 64}),
        {"Content-Type": "application/x-www-form-urlencoded"})
    assert st == 403, st
    st, _, _ = con.request("POST", f"/quarantine/{a.qid}/release",
        urllib.parse.urlencode({"csrf": con.csrf}),
        {"Content-Type": "application/x-www-form-urlencoded", "Origin": "https://evil.test"})
    assert st == 403, st
    assert qids(mg) == {a.qid, b.qid, c.qid}, "a refused POST changed the quarantine"

    # release
    st, _, page = con.post(f"/quarantine/{a.qid}/release")
    assert st == 200 and "Done." in page and "released" in page, (st, page[-600:])
    wait_for(lambda: a.token in sink_tokens(sink), 20, "released message delivered")
    mg.assert_log(rf"{a.qid} released from quarantine released-by={ADMIN}")
    rec = [r for r in audit(mg) if r["action"] == "quarantine release"][-1]
    assert rec["who"] == ADMIN and rec["target"] == a.qid and rec["after"] == "released", rec
    before = json.loads(rec["before"])
    assert before["sender"] == "alice@sender.test" and XSS in before["subject"], before
    st, _, _ = con.post(f"/quarantine/{a.qid}/release")
    assert st == 404, st

    # delete: a confirmation first, then confirm=yes
    st, _, page = con.post(f"/quarantine/{c.qid}/delete")
    assert st == 200 and 'name="confirm" value="yes"' in page, (st, page[-500:])
    assert c.qid in qids(mg)
    st, _, page = con.post(f"/quarantine/{c.qid}/delete", {"confirm": "yes"})
    assert st == 200 and "Done." in page, (st, page[-500:])
    assert c.qid not in qids(mg)
    assert [r for r in audit(mg) if r["action"] == "quarantine delete"][-1]["after"] == "deleted"

    # allow-sender / block-sender write the chosen list
    st, _, page = con.post(f"/quarantine/{b.qid}/block-sender", {"list": "other.test"})
    assert st == 200 and "added to lists/other.test.block" in page, (st, page[-500:])
    assert (mg.dir / "lists" / "other.test.block").read_text() == "carol@spam.test\n"
    rec = [r for r in audit(mg) if r["action"] == "list.add"][-1]
    assert rec["who"] == ADMIN and rec["target"] == "lists/other.test.block", rec
    assert rec["before"] == "" and rec["after"] == "carol@spam.test\n", rec
    st, _, page = con.post(f"/quarantine/{b.qid}/allow-sender", {"list": "global"})
    assert st == 200 and "added to lists/global.allow" in page, (st, page[-500:])
    assert "carol@spam.test" in (mg.dir / "lists" / "global.allow").read_text()
    st, _, page = con.post(f"/quarantine/{b.qid}/allow-sender", {"list": "nosuch.test"})
    assert st == 400, st
    assert b.qid in qids(mg), "a list action released or deleted the message"

    # confirm-spam: offered when the queue knows it (issue G, "qlearn")
    st, _, page = con.get(f"/quarantine/{b.qid}")
    m = re.search(r'<form[^>]*id="act-confirm-spam">.*?<button([^>]*)>', page, re.S)
    assert m, "no confirm-spam form"
    if "disabled" in m.group(1):
        assert 'id="spam-note"' in page
        print("confirm-spam not available in this queue: button disabled")
    else:
        st, _, page = con.post(f"/quarantine/{b.qid}/confirm-spam")
        assert st == 200 and "Done." in page, (st, page[-500:])
        assert b.qid not in qids(mg)
    mg.stop()


@mgtest.timeout(TIMEOUT)
def test_api():
    mg, sink, con = start()
    a = quarantined(mg, send(mg, "alice@sender.test", subject=XSS))
    b = quarantined(mg, send(mg, "carol@spam.test", subject="second"))
    tok = ctl_token(mg, con, "scripts")
    st, j = con.api("GET", "/api/v1/quarantine", token=tok)
    assert st == 200 and j["total"] == 2 and {m["qid"] for m in j["messages"]} == {a.qid, b.qid}
    st, j = con.api("GET", "/api/v1/quarantine?from=carol&limit=1", token=tok)
    assert st == 200 and [m["qid"] for m in j["messages"]] == [b.qid] and j["limit"] == 1, j
    st, j = con.api("GET", "/api/v1/quarantine?max=nonsense", token=tok)
    assert st == 400, (st, j)
    st, raw = con.request("GET", f"/api/v1/quarantine/{a.qid}",
        headers={"Authorization": f"Bearer {tok}"}, cookies=False)[0::2]
    assert st == 200 and "<script>" not in raw, raw[:300]       # \u003c in JSON
    j = json.loads(raw)
    assert j["message"]["subject"] == XSS and isinstance(j["headers"], list), j
    st, _ = con.api("GET", "/api/v1/quarantine/0123456789abcdef", token=tok)
    assert st == 404, st
    st, _ = con.api("GET", "/api/v1/quarantine", token="0" * 64)
    assert st == 401, st
    # a session without the CSRF header cannot act through the API
    st, _, _ = con.request("POST", f"/api/v1/quarantine/{a.qid}/release")
    assert st == 403, st
    st, j = con.api("POST", f"/api/v1/quarantine/{a.qid}/release", token=tok)
    assert st == 200 and j["ok"], (st, j)
    wait_for(lambda: a.token in sink_tokens(sink), 20, "released message delivered")
    st, j = con.api("POST", f"/api/v1/quarantine/{b.qid}/allow-sender", {"list": "example.test"},
        token=tok)
    assert st == 200 and j["ok"], (st, j)
    assert (mg.dir / "lists" / "example.test.allow").read_text() == "carol@spam.test\n"
    st, j = con.api("POST", f"/api/v1/quarantine/{b.qid}/bogus", token=tok)
    assert st == 404, st
    st, j = con.api("DELETE", f"/api/v1/quarantine/{b.qid}", token=tok)
    assert st == 200 and j["ok"], (st, j)
    assert qids(mg) == set()
    whos = {r["who"] for r in audit(mg) if r["action"].startswith("quarantine")}
    assert whos == {"token:scripts"}, whos
    mg.stop()


def out_dir():
    d = mgtest.build_dir() / "test-output" / "admin_quarantine"
    if d.exists():
        shutil.rmtree(d)
    d.mkdir(parents=True)
    return d


@mgtest.timeout(TIMEOUT)
def test_quarantine_page_in_chromium():
    from test_admin_browser import Pages, browser
    shots = out_dir()
    mg, sink = setup()
    mg.ctl("admin", "add", ADMIN, "--password-stdin", input=PASSWORD + "\n")
    a = quarantined(mg, send(mg, "alice@sender.test", subject=f"Invoice {XSS}"))
    b = quarantined(mg, send(mg, "carol@spam.test", ["bob@other.test"], subject="Cheap pills",
        ctype="text/html; charset=utf-8",
        body=f"<html><body>{XSS}<p>Buy <b>now</b></p></body></html>\r\n"))
    drv = browser(mgtest.tmpdir("browser"))
    pg = Pages(drv, f"https://127.0.0.1:{mg.admin_port}", shots)
    pg.go("/quarantine", "login")
    pg.fill("#user", ADMIN)
    pg.fill("#password", PASSWORD)
    pg.submit("form", "quarantine")
    assert drv.current_url.endswith("/quarantine"), drv.current_url
    assert "2 message(s) found" in pg.text(), pg.text()[:600]
    assert f"Invoice {XSS}" in pg.text(), "subject not shown as text"
    assert not drv.find_elements("css selector", "main script"), "script element in the page"

    pg.fill("#q_subject", "cheap")
    pg.submit("#qsearch", "search-cheap")
    assert "1 message(s) found" in pg.text(), pg.text()[:600]
    drv.find_element("link text", "Cheap pills").click()
    pg.shot("preview")
    assert drv.current_url.endswith(f"/quarantine/{b.qid}"), drv.current_url
    pre = pg.el("#qpreview").text
    assert "Buy" in pre and "now" in pre, pre
    assert XSS not in pre or "<script>" in pre, pre       # text, never markup
    assert not drv.find_elements("css selector", "main b, main script")

    pg.go(f"/quarantine/{a.qid}", "preview-a")
    assert f"Invoice {XSS}" in pg.text()
    pg.submit("#act-release", "released")
    assert "Done." in pg.text(), pg.text()[:500]
    wait_for(lambda: a.token in sink_tokens(sink), 20, "released message delivered")

    pg.go(f"/quarantine/{b.qid}", "preview-b")
    pg.submit("#act-delete", "delete-confirm")
    assert "Yes, delete" in pg.text(), pg.text()[:500]
    drv.find_element("css selector", "form button.danger").click()
    wait_for(lambda: "Done." in pg.text(), 20, "delete done")
    pg.shot("deleted")
    assert qids(mg) == set()
    pg.go("/quarantine", "empty")
    assert "0 message(s) found" in pg.text()

    # the public "my quarantine" page of a digest link, as an end user sees it (no login)
    from test_qlinks import mint
    c = quarantined(mg, send(mg, "eve@x.test", subject=f"Offer {XSS}"))
    tok = mint(mg, "list", None, "user@example.test")
    drv.delete_all_cookies()
    pg.go(f"/q/{tok}", "link-list")
    assert "Quarantined mail for user@example.test" in pg.text(), pg.text()[:500]
    assert f"Offer {XSS}" in pg.text() and not drv.find_elements("css selector", "header nav")
    drv.find_element("css selector", "#qlist form button").click()     # the first: Release
    wait_for(lambda: "has been released" in pg.text(), 20, "the link's result page")
    pg.shot("link-released")
    wait_for(lambda: c.token in sink_tokens(sink), 20, "message released by link delivered")
    tok = mint(mg, "release", c.qid, "user@example.test", "-60")
    pg.go(f"/q/{tok}", "link-expired")
    assert "expired" in pg.text(), pg.text()[:300]
    assert len(list(shots.glob("*.png"))) == pg.n
    print(f"screenshots: {shots}")
    mg.stop()
