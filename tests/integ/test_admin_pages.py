"""Admin console Dashboard, Domains and Lists pages and their JSON API (admin/page_dashboard.c,
page_domains.c, page_lists.c, api_main.c, act_domain.c) against the real daemon, without a
browser: Python http.client over TLS with a logged-in session. Edits keep comments and line
order; invalid edits show the error and leave the file unchanged byte for byte; a stale form
version is refused; XSS payloads in every rendered field come back escaped; API CRUD round trips
and API errors; every change is in the audit log."""

import html
import json
import re
import smtplib
import urllib.parse

import mgtest
from mgtest import MailGuard, Sink, wait_for
from test_admin_ops import Console, ADMIN, PASSWORD

TIMEOUT = 240
PAYLOADS = ["<script>alert(1)</script>", '"><img src=x onerror=alert(1)>', "it's'"]
RAW_BAD = re.compile(r"<script>alert|<img src=x|onerror=alert\(1\)>", re.I)

COMMENTED = ("# example.test: managed by hand and by the console\n"
             "transport = {transport}\n"
             "\n"
             "# thresholds agreed with the customer\n"
             "spam_reject = 15\n"
             "# keep quarantine low\n"
             "spam_quarantine = 6\n")


# Loopback clients are outside mynetworks (so the filter judges them, as it would a remote MX
# client), and the example domain skips the layers that need DNS.
UNTRUSTED = {"mynetworks": "203.0.113.0/24", "filter_threads": 2}
NO_DNS_LAYERS = "disable_layers = rbl spf dkim dmarc greylist uribl phishing\n"


def start(sink, filtered=False):
    mg = MailGuard(config=UNTRUSTED if filtered else None,
        domains={"example.test": {"transport": sink.transport}})
    mg.write_file("domains.d/example.test.conf", COMMENTED.format(transport=sink.transport) +
        (NO_DNS_LAYERS if filtered else ""))
    mg.start()
    mg.ctl("admin", "add", ADMIN, "--password-stdin", input=PASSWORD + "\n")
    return mg, Console(mg).login()


def dom_file(mg, name="example.test"):
    return (mg.dir / "domains.d" / f"{name}.conf").read_bytes()


def version_of(page):
    m = re.search(r'name="version" value="([0-9a-f]*)"', page)
    assert m, "no version field on the page"
    return m.group(1)


def edit_fields(page):
    """The edit form's current values (text inputs, selects, textareas, checked boxes)."""
    f = {}
    for m in re.finditer(r'<input type="text" id="(k_\w+)" name="k_\w+" value="([^"]*)"', page):
        f[m.group(1)] = html.unescape(m.group(2))
    for m in re.finditer(r'<select id="(k_\w+)" name="k_\w+">(.*?)</select>', page, re.S):
        sel = re.search(r'<option(?: value="")? selected>([^<]*)</option>', m.group(2))
        f[m.group(1)] = "" if sel is None or sel.group(0).find('value=""') >= 0 else sel.group(1)
    for m in re.finditer(r'<textarea id="(k_\w+)" name="k_\w+"[^>]*>(.*?)</textarea>', page, re.S):
        f[m.group(1)] = html.unescape(m.group(2))
    return f


def save(con, name, page, changes, version=None):
    fields = edit_fields(page)
    fields.update(changes)
    fields["version"] = version if version is not None else version_of(page)
    return con.post(f"/domains/{name}", fields)


def audit_lines(mg):
    p = mg.state_dir / "audit.log"
    return [json.loads(l) for l in p.read_text().splitlines()] if p.exists() else []


def no_raw(page, where):
    m = RAW_BAD.search(page)
    assert not m, f"unescaped payload {m.group(0)!r} on {where}"


def test_dashboard_renders_charts():
    sink = Sink()
    mg, con = start(sink)
    assert mg.send("a@client.test", ["u@example.test"]) == {}
    sink.wait_count(1)
    for span in ("", "?span=24h", "?span=7d", "?span=bogus"):
        st, h, page = con.get("/" + span)
        assert st == 200, f"/{span}: {st}"
        assert page.count("<svg ") == 3, f"/{span}: got {page.count('<svg ')} charts, want 3"
        assert "<script" not in page and " style=" not in page, "script or inline style"
        for word in ("Inbound messages", "Queue", "Traffic per domain", "delivered"):
            assert word in page, f"/{span}: {word!r} missing"
    st, _, page = con.get("/?span=7d")
    assert "<strong>7 days</strong>" in page, "7 d span not selected"
    assert re.search(r">(Mon|Tue|Wed|Thu|Fri|Sat|Sun) \d\d</text>", page), "no day labels"
    # per-domain traffic shows the delivered message
    wait_for(lambda: re.search(r'href="/domains/example.test">example.test</a></td>'
        r'<td class="num">1</td>', con.get("/")[2]), 10, "example.test delivered 1 on /")
    mg.stop()


def test_domain_add_edit_delete():
    sink = Sink()
    mg, con = start(sink)
    st, _, page = con.get("/domains")
    assert st == 200 and 'href="/domains/example.test"' in page, st
    # add
    st, h, _ = con.post("/domains", {"name": "New.Test", "transport": sink.transport})
    assert st == 303 and h["location"] == "/domains/new.test?saved=added", (st, h.get("location"))
    assert dom_file(mg, "new.test") == f"transport = {sink.transport}\n".encode()
    wait_for(lambda: mg.send("a@client.test", ["x@new.test"]) == {}, 10, "new.test accepted",
        ignore=(Exception,))
    sink.wait_count(1)
    # an invalid transport: the message names the setting (a copy, not freed memory)
    st, _, page = con.post("/domains", {"name": "other.test", "transport": "bad transport"})
    assert st == 400 and re.search(r"<li>[^<]*transport[^<]*</li>", page), page[-1500:]
    assert not (mg.dir / "domains.d" / "other.test.conf").exists()
    # adding it again: error on the form, entered values kept
    st, _, page = con.post("/domains", {"name": "new.test", "transport": "keep-me.test"})
    assert st == 400 and "already protected" in page and 'value="keep-me.test"' in page, st
    # edit: comments and order kept, changed keys in place, new keys appended
    st, _, page = con.get("/domains/example.test")
    assert st == 200 and "Not set:</strong> the default (4) applies" in page
    assert "Set in the file:</strong> 15" in page
    for key in ("transport", "spam_reject", "spam_quarantine", "greylist", "dkim_sign",
                "dkim_algorithm", "dmarc_rua", "digest_from", "tls_policy", "header_rewrite",
                "outbound_rate", "outbound_ips", "disable_layers"):
        assert f'name="k_{key}"' in page, f"no field for {key}"
    fields = edit_fields(page)
    fields.update({"k_spam_reject": "12", "k_greylist": "3", "k_tls_policy": "encrypt",
        "k_header_rewrite": "remove X-Originating-IP\r\nadd X-Scanned: yes",
        "k_disable_layers": ["rbl", "bayes"], "version": version_of(page)})
    st, h, _ = con.request("POST", "/domains/example.test", urllib.parse.urlencode(
        dict(fields, csrf=con.csrf), doseq=True),
        {"Content-Type": "application/x-www-form-urlencoded"})
    assert st == 303 and h["location"] == "/domains/example.test?saved=1", (st, h.get("location"))
    want = COMMENTED.format(transport=sink.transport).replace("spam_reject = 15",
        "spam_reject = 12") + ("greylist = 3\ntls_policy = encrypt\n"
        "header_rewrite = remove X-Originating-IP\nheader_rewrite = add X-Scanned: yes\n"
        "disable_layers = rbl bayes\n")
    got = dom_file(mg).decode()
    assert got == want, f"got file\n{got}\nwant\n{want}"
    assert mg.check_config().returncode == 0
    st, _, page = con.get("/domains/example.test?saved=1")
    assert "Saved and reloaded." in page and 'value="rbl" checked' in page
    assert "remove X-Originating-IP\nadd X-Scanned: yes</textarea>" in page
    # an empty field unsets: greylist back to its default, the line goes
    st, _, page = con.get("/domains/example.test")
    st, _, _ = save(con, "example.test", page, {"k_greylist": ""})
    assert st == 303 and b"greylist" not in dom_file(mg), dom_file(mg)
    # nothing changed
    st, _, page = con.get("/domains/example.test")
    st, h, _ = save(con, "example.test", page, {})
    assert st == 303 and h["location"].endswith("saved=0"), h.get("location")
    # audit: before/after texts
    ev = [a for a in audit_lines(mg) if a.get("action") == "domain.edit"]
    assert ev and "spam_reject = 15" in ev[0]["before"] and "spam_reject = 12" in ev[0]["after"], \
        ev[:1]
    assert any(a.get("action") == "domain.add" and a.get("target") == "new.test"
        for a in audit_lines(mg))
    # delete with confirmation; the lists go too
    st, _, _ = con.post("/lists/new.test/add", {"entry": "@bad.test", "list": "block"})
    assert st == 303 and (mg.dir / "lists" / "new.test.block").exists()
    st, _, page = con.get("/domains/new.test/delete")
    assert st == 200 and "Remove new.test" in page
    st, h, _ = con.post("/domains/new.test/delete", {"version": version_of(page)})
    assert st == 303 and h["location"] == "/domains?deleted=new.test", (st, h.get("location"))
    assert not (mg.dir / "domains.d" / "new.test.conf").exists()
    assert not (mg.dir / "lists" / "new.test.block").exists()
    st, _, _ = con.get("/domains/new.test")
    assert st == 404, st
    mg.stop()


def test_invalid_edits_change_nothing():
    sink = Sink()
    mg, con = start(sink)
    before = dom_file(mg)
    st, _, page = con.get("/domains/example.test")
    cases = [
        ({"k_spam_reject": "lots"}, "spam_reject"),
        ({"k_spam_quarantine": "20"}, "spam_quarantine"),      # above spam_reject
        ({"k_transport": ""}, "transport"),                     # required
        ({"k_outbound_rate": "fast"}, "outbound_rate"),
        ({"k_outbound_ips": "not-an-ip"}, "outbound_ips"),
        ({"k_dmarc_rua": "no address"}, "dmarc_rua"),
        ({"k_spam_reject": "12\nspam_reject = 1"}, "spam_reject"),
    ]
    for change, word in cases:
        st, _, out = save(con, "example.test", page, change)
        assert st == 400, f"{change}: got {st}, want 400"
        assert "Not saved" in out and word in out, f"{change}: error not shown"
        val = list(change.values())[0]
        if "\n" not in val:
            assert f'value="{html.escape(val, quote=True)}"' in out, f"{change}: value not kept"
        assert dom_file(mg) == before, f"{change}: file changed"
    # a stale version: someone edited the file meanwhile
    mg.write_file("domains.d/example.test.conf", before.decode() + "# hand edit\n")
    st, _, out = save(con, "example.test", page, {"k_spam_reject": "11"})
    assert st == 409 and "changed since" in out, st
    assert dom_file(mg) == before + b"# hand edit\n"
    # invalid list entries
    lst = mg.dir / "lists" / "global.block"
    for bad in ("not an entry", "300.1.1.1/8", "@", "*."):
        st, _, out = con.post("/lists/global/add", {"entry": bad, "list": "block"})
        assert st == 400 and "Not changed" in out, f"{bad!r}: {st}"
        m = re.search(r"Not changed:</strong><ul><li>([^<]*)</li>", out)
        assert m and m.group(1).isprintable() and len(m.group(1)) > 5, f"{bad!r}: {m}"
        assert not lst.exists(), f"{bad!r}: list file written"
    # unknown domain / list
    assert con.get("/domains/nope.test")[0] == 404
    assert con.get("/lists/nope.test")[0] == 404
    assert con.post("/domains/nope.test", {"version": ""})[0] == 404
    # CSRF: a POST without the token is refused and changes nothing
    st, _, _ = con.post("/domains/example.test", {"k_spam_reject": "9",
        "version": version_of(page)}, csrf=False)
    assert st == 403 and dom_file(mg) == before + b"# hand edit\n", st
    mg.stop()


def test_xss_escaped_everywhere():
    sink = Sink()
    mg, con = start(sink)
    for p in PAYLOADS:
        st, _, page = con.post("/domains", {"name": p, "transport": p})
        assert st == 400, st
        no_raw(page, f"/domains add {p!r}")
        assert html.escape(p, quote=True).replace("&#x27;", "&#39;") in page, \
            f"{p!r} not shown escaped"
        st, _, page = con.get("/domains/example.test")
        for key in ("digest_from", "outbound_rate", "transport", "dkim_algorithm"):
            st, _, out = save(con, "example.test", page, {f"k_{key}": p})
            assert st == 400, f"{key}={p!r}: {st}"
            no_raw(out, f"edit {key}={p!r}")
        st, _, out = con.post("/lists/global/add", {"entry": p, "list": "allow"})
        assert st == 400, st
        no_raw(out, f"list entry {p!r}")
        st, _, out = con.post("/lists/global/add", {"entry": "@x.test", "list": p})
        assert st == 400, st
        no_raw(out, f"list name {p!r}")
    # valid values that carry the payloads (header rules take any text) are shown escaped
    st, _, page = con.get("/domains/example.test")
    rules = "\n".join(f"add X-Test: {p}" for p in PAYLOADS)
    st, _, _ = save(con, "example.test", page, {"k_header_rewrite": rules})
    assert st == 303, st
    for path in ("/domains/example.test", "/domains", "/", "/lists", "/lists/example.test"):
        st, _, page = con.get(path)
        assert st == 200, f"{path}: {st}"
        no_raw(page, path)
    st, _, page = con.get("/domains/example.test")
    assert "add X-Test: &lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "add X-Test: it&#39;s&#39;" in page
    # paths are escaped too
    st, _, page = con.get("/domains/%3Cscript%3Ealert(1)%3C%2Fscript%3E")
    assert st == 404
    no_raw(page, "404 page")
    mg.stop()


def test_lists_pages():
    sink = Sink()
    mg, con = start(sink, filtered=True)
    mg.write_file("lists/global.block", "# spammers\n@old.test\n")
    st, _, page = con.get("/lists")
    assert st == 200 and 'href="/lists/global"' in page and 'href="/lists/example.test"' in page
    st, h, _ = con.post("/lists/global/add", {"entry": "@spam.test", "list": "block"})
    assert st == 303 and h["location"] == "/lists/global?done=added", (st, h.get("location"))
    assert (mg.dir / "lists/global.block").read_text() == "# spammers\n@old.test\n@spam.test\n"
    st, h, _ = con.post("/lists/global/add", {"entry": "@SPAM.test", "list": "block"})
    assert st == 303 and h["location"].endswith("done=same"), h.get("location")
    st, h, _ = con.post("/lists/example.test/add", {"entry": "10.1.2.0/24", "list": "allow"})
    assert st == 303, st
    st, _, page = con.get("/lists/global")
    assert "<td>@spam.test</td>" in page and "<td>@old.test</td>" in page
    # the daemon applies it: a sender from @spam.test is refused
    assert mg.send("ok@fine.test", ["u@example.test"]) == {}
    sink.wait_count(1)
    try:
        mg.send("x@spam.test", ["u@example.test"])
        raise AssertionError("blocked sender accepted")
    except smtplib.SMTPDataError as e:
        assert e.smtp_code == 550, f"got {e.smtp_code} {e.smtp_error!r}, want 550"
    mg.wait_log(r"filter action=reject .*BLOCKLIST")
    st, h, _ = con.post("/lists/global/remove", {"entry": "@old.test", "list": "block"})
    assert st == 303 and h["location"].endswith("done=removed"), h.get("location")
    assert (mg.dir / "lists/global.block").read_text() == "# spammers\n@spam.test\n"
    st, h, _ = con.post("/lists/global/remove", {"entry": "@never.test", "list": "block"})
    assert st == 303 and h["location"].endswith("done=absent"), h.get("location")
    acts = [a["action"] for a in audit_lines(mg)]
    assert acts.count("list.add") == 2 and acts.count("list.remove") == 1, acts
    mg.stop()


def test_api_crud_and_errors():
    sink = Sink()
    mg, con = start(sink)
    tok = mg.ctl("admin", "token", "script").stdout.strip().split()[-1]
    wait_for(lambda: con.api("GET", "/api/v1/domains", token=tok)[0] == 200, 10, "token works")
    st, j = con.api("GET", "/api/v1/domains", token=tok)
    assert [d["name"] for d in j["domains"]] == ["example.test"], j
    assert j["domains"][0]["spam_reject"] == 15 and "traffic" in j["domains"][0], j
    # without credentials
    st, j = con.api("GET", "/api/v1/domains")
    assert st == 401, st
    # create
    st, j = con.api("POST", "/api/v1/domains", {"name": "api.test", "settings": {
        "transport": sink.transport, "spam_reject": 12, "dkim_sign": False,
        "disable_layers": ["rbl", "spf"]}}, token=tok)
    assert st == 201, (st, j)
    assert j["settings"]["spam_reject"] == "12" and j["settings"]["dkim_sign"] == "no", j
    assert j["settings"]["disable_layers"] == "rbl spf" and j["settings"]["greylist"] is None
    assert j["defaults"]["greylist"] == "4" and j["file"] == "domains.d/api.test.conf"
    st, j2 = con.api("POST", "/api/v1/domains", {"name": "api.test",
        "settings": {"transport": "x.test"}}, token=tok)
    assert st == 409, st
    # read, update, conditional update
    st, j = con.api("GET", "/api/v1/domains/api.test", token=tok)
    assert st == 200 and j["settings"]["transport"] == sink.transport, j
    ver = j["version"]
    st, j = con.api("PUT", "/api/v1/domains/api.test", {"settings": {"spam_reject": None,
        "header_rewrite": ["remove X-A", "remove X-B"], "greylist": 2.5}, "version": ver},
        token=tok)
    assert st == 200, (st, j)
    assert j["settings"]["spam_reject"] is None and j["settings"]["greylist"] == "2.5"
    assert j["settings"]["header_rewrite"] == ["remove X-A", "remove X-B"], j
    st, j = con.api("PUT", "/api/v1/domains/api.test", {"settings": {"greylist": 1},
        "version": ver}, token=tok)
    assert st == 409 and "changed" in j["error"], (st, j)
    # errors: loader refusal with details, unknown key, bad types, bad JSON
    before = dom_file(mg, "api.test")
    for body, word in [({"settings": {"spam_reject": "lots"}}, "spam_reject"),
                       ({"settings": {"nonsense": 1}}, "nonsense"),
                       ({"settings": {"greylist": {"a": 1}}}, "greylist"),
                       ({"settings": "x"}, "settings"),
                       ({}, "settings"),
                       ({"settings": {"transport": None}}, "transport")]:
        st, j = con.api("PUT", "/api/v1/domains/api.test", body, token=tok)
        assert st == 400, f"{body}: got {st}, want 400"
        assert isinstance(j, dict) and j.get("error") and isinstance(j.get("details"), list)
        assert any(word in d for d in j["details"]), f"{body}: details {j['details']}"
        assert dom_file(mg, "api.test") == before, f"{body}: file changed"
    for raw in ("{", "[1]", '{"settings": {"a": 1, "a": 2}}', "null"):
        st, _, j = con.request("PUT", "/api/v1/domains/api.test", raw, {"Authorization":
            f"Bearer {tok}", "Content-Type": "application/json"}, cookies=False)
        assert st == 400 and json.loads(j)["error"], (raw, st, j)
    st, j = con.api("GET", "/api/v1/domains/nope.test", token=tok)
    assert st == 404 and j["error"], (st, j)
    st, j = con.api("POST", "/api/v1/domains", {"name": "<b>x</b>", "settings": {}}, token=tok)
    assert st == 400, st
    # lists
    st, j = con.api("POST", "/api/v1/lists/api.test/block", {"entry": "@bad.test"}, token=tok)
    assert st == 200 and j["changed"] is True, (st, j)
    st, j = con.api("POST", "/api/v1/lists/api.test/block", {"entry": "@bad.test"}, token=tok)
    assert st == 200 and j["changed"] is False, (st, j)
    st, j = con.api("POST", "/api/v1/lists/global/allow", {"entry": "192.0.2.0/24"}, token=tok)
    assert st == 200, (st, j)
    st, j = con.api("GET", "/api/v1/lists/api.test", token=tok)
    assert j == {"name": "api.test", "allow": [], "block": ["@bad.test"]}, j
    st, j = con.api("POST", "/api/v1/lists/global/allow", {"entry": "not valid"}, token=tok)
    assert st == 400 and j["details"], (st, j)
    st, j = con.api("POST", "/api/v1/lists/nope.test/allow", {"entry": "@a.test"}, token=tok)
    assert st == 404, st
    st, j = con.api("DELETE", "/api/v1/lists/api.test/block?entry=%40bad.test", token=tok)
    assert st == 200 and j["changed"] is True, (st, j)
    st, j = con.api("GET", "/api/v1/lists/api.test/block", token=tok)
    assert j == {"name": "api.test", "block": []}, j
    # delete
    st, j = con.api("DELETE", "/api/v1/domains/api.test", token=tok)
    assert st == 200 and j == {"deleted": "api.test"}, (st, j)
    assert not (mg.dir / "domains.d" / "api.test.conf").exists()
    st, j = con.api("GET", "/api/v1/domains/api.test", token=tok)
    assert st == 404, st
    acts = [(a["action"], a["target"]) for a in audit_lines(mg)]
    for want in [("domain.add", "api.test"), ("domain.edit", "api.test"),
                 ("domain.delete", "api.test"), ("list.add", "lists/api.test.block")]:
        assert want in acts, f"{want} not audited: {acts}"
    assert all(a["who"] == "token:script" for a in audit_lines(mg) if a["action"] != "login"), \
        audit_lines(mg)
    mg.stop()
