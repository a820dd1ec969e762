"""Admin console operations pages and their JSON API, against the real daemon: DKIM (keygen,
rotate), queue (list, show, hold, release, flush, delete), detection layers and branding
(mailguard.conf edits, invalid input refused), admin users and tokens, the audit log, and XSS
payloads from mail and from admins escaped everywhere."""

import html
import http.client
import json
import re
import ssl
import urllib.parse

import mgtest
from mgtest import MailGuard, wait_for
from test_queue_lib import (TrackingSink, queue_list, smtp_send, token_message, new_token,
    wait_tokens)

TIMEOUT = 240
ADMIN, PASSWORD = "alice", "correct horse battery"
XSS = '<script>alert("x")</script>'
XSS_RX = re.compile(r"<script>alert", re.I)


class Console:
    """A logged-in HTTPS client of the console (cookies, CSRF token) and of the JSON API."""

    def __init__(self, mg):
        self.mg = mg
        self.port = mg.admin_port
        self.ctx = ssl.create_default_context()
        self.ctx.check_hostname = False
        self.ctx.verify_mode = ssl.CERT_NONE
        self.cookies = {}
        self.csrf = None

    def request(self, method, path, body=None, headers=None, cookies=True):
        c = http.client.HTTPSConnection("127.0.0.1", self.port, context=self.ctx, timeout=30)
        h = {"Host": f"127.0.0.1:{self.port}", "Origin": f"https://127.0.0.1:{self.port}"}
        if cookies and self.cookies:
            h["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        h.update(headers or {})
        if isinstance(body, str):
            body = body.encode()
        c.request(method, path, body=body, headers=h)
        r = c.getresponse()
        data = r.read().decode("utf-8", "replace")
        for k, v in r.getheaders():
            if k.lower() == "set-cookie":
                name, _, rest = v.partition("=")
                val = rest.split(";")[0]
                if "Max-Age=0" in v:
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = val
        c.close()
        m = re.search(r'name="csrf" value="([0-9a-f]+)"', data)
        if m:
            self.csrf = m.group(1)
        return r.status, dict((k.lower(), v) for k, v in r.getheaders()), data

    def get(self, path):
        return self.request("GET", path)

    def post(self, path, fields=None, csrf=True):
        f = dict(fields or {})
        if csrf:
            if self.csrf is None:
                self.get("/audit")
            f["csrf"] = self.csrf
        return self.request("POST", path, urllib.parse.urlencode(f),
            {"Content-Type": "application/x-www-form-urlencoded"})

    def login(self, user=ADMIN, password=PASSWORD):
        st, _, page = self.get("/login")
        pre = re.search(r'name="pre" value="([0-9a-f]+)"', page).group(1)
        st, h, _ = self.request("POST", "/login", urllib.parse.urlencode(
            {"pre": pre, "user": user, "password": password, "next": "/"}),
            {"Content-Type": "application/x-www-form-urlencoded"})
        assert st == 303, f"login: {st}"
        st, _, _ = self.get("/audit")
        assert st == 200 and self.csrf, f"after login /audit: {st}"
        return self

    def api(self, method, path, obj=None, token=None):
        h = {"Authorization": f"Bearer {token}"} if token else {}
        body = None
        if obj is not None:
            body = json.dumps(obj)
            h["Content-Type"] = "application/json"
        st, hd, data = self.request(method, path, body, h, cookies=False)
        try:
            return st, json.loads(data)
        except ValueError:
            return st, data


def no_raw_xss(page, where):
    assert not XSS_RX.search(page), f"unescaped script tag on {where}"


def start(config=None, domains=None, backend=None):
    doms = domains or {}
    if backend is not None:
        doms.setdefault("example.test", {"transport": backend.transport})
    mg = MailGuard(config=dict({"retry_min": "1h", "retry_max": "2h", "test_mode": "yes"},
        **(config or {})), domains=doms).start()
    mg.ctl("admin", "add", ADMIN, "--password-stdin", input=PASSWORD + "\n")
    return mg


def ctl_token(mg, con, name):
    """A token made by `mailguardctl admin token`; the console re-reads the tokens file at most
    once a second, so wait until it is accepted."""
    tok = mg.ctl("admin", "token", name).stdout.strip().split()[-1]
    wait_for(lambda: con.api("GET", "/api/v1/users", token=tok)[0] == 200, 10,
        f"token {name} accepted")
    return tok


def audit_actions(con):
    st, _, page = con.get("/audit")
    assert st == 200
    return html.unescape(page)


def test_queue_pages_and_api():
    state = {"refuse": True}

    def rule(address, session):
        return "451 4.3.0 back-end down" if state["refuse"] else None
    back = TrackingSink(rules={"user@example.test": rule})
    mg = start(backend=back)
    con = Console(mg).login()
    token = ctl_token(mg, con, "script")
    txs = []
    for subj in (XSS, "hello", "third"):
        t = new_token()
        data = token_message(t, "bob@sender.test", ["user@example.test"], subject=subj)
        tx = smtp_send(mg.port, "bob@sender.test", ["user@example.test"], data=data, token=t)
        assert tx.final == 250 and tx.qid, tx.replies
        txs.append(tx)
    for tx in txs:
        mg.wait_log(rf"{tx.qid} to=<user@example.test> .*status=deferred")
    a, b, c = txs
    st, _, page = con.get("/queue")
    assert st == 200, st
    for tx in txs:
        assert tx.qid in page, f"{tx.qid} not on /queue"
    assert "deferred" in page and "bob@sender.test" in page
    st, _, page = con.get("/queue?state=hold")
    assert st == 200 and a.qid not in page, "state filter"
    # detail page: subject escaped, diagnostics shown
    st, _, page = con.get(f"/queue/{a.qid}")
    assert st == 200 and "back-end down" in page, page[-2000:]
    no_raw_xss(page, f"/queue/{a.qid}")
    assert html.escape(XSS, quote=False)[:20] in page or "&lt;script&gt;" in page, "subject shown"
    assert con.get("/queue/..%2f..%2fetc")[0] in (400, 404)
    # hold via the console
    st, _, page = con.post(f"/queue/{b.qid}/hold")
    assert st == 200 and "on hold" in page, (st, page[-500:])
    q = {e["qid"]: e for e in queue_list(mg)}
    assert q[b.qid]["state"] == "hold", q
    # CSRF is required
    st, _, _ = con.post(f"/queue/{b.qid}/release", csrf=False)
    assert st == 403, f"release without CSRF: {st}"
    # API: list, filter, show
    st, j = con.api("GET", "/api/v1/queue?state=hold", token=token)
    assert st == 200 and [m["qid"] for m in j["messages"]] == [b.qid], j
    st, j = con.api("GET", f"/api/v1/queue/{a.qid}", token=token)
    # the queue role sanitises header text for display (quotes as \x22); continuation lines of
    # the Received header are joined
    assert st == 200 and j["subject"].startswith("<script>alert(") and \
        j["recipients"][0]["state"] == "pending", j
    assert j["headers"][0].startswith("Received: from client.test") and "by mx.test.local" in \
        j["headers"][0], j["headers"]
    assert con.api("GET", "/api/v1/queue/ffffffffffffffff", token=token)[0] == 404
    assert con.api("GET", "/api/v1/queue", token="0" * 64)[0] == 401
    # release via the API
    st, j = con.api("POST", f"/api/v1/queue/{b.qid}/release", token=token)
    assert st == 200 and j["ok"], j
    assert {e["qid"]: e for e in queue_list(mg)}[b.qid]["state"] == "deferred"
    # delete: confirmation first, then done
    st, _, page = con.post(f"/queue/{c.qid}/delete")
    assert st == 200 and 'name="confirm"' in page and c.qid in {e["qid"] for e in queue_list(mg)}
    st, _, page = con.post(f"/queue/{c.qid}/delete", {"confirm": "yes"})
    assert st == 200 and f"{c.qid} deleted" in page, page[-500:]
    assert c.qid not in {e["qid"] for e in queue_list(mg)}
    # flush one (console) and all (API) once the back-end is up
    state["refuse"] = False
    st, _, page = con.post(f"/queue/{a.qid}/flush")
    assert st == 200 and "1 message(s) scheduled" in page, page[-500:]
    wait_tokens(back, [a.token])
    st, j = con.api("POST", "/api/v1/queue/flush", token=token)
    assert st == 200 and j["ok"], j
    wait_tokens(back, [b.token])
    wait_for(lambda: queue_list(mg) == [], 20, "queue empty")
    # mailguardctl's new per-message flush: unknown ids are errors
    r = mg.ctl("queue", "flush", "0123456789abcdef", check=False)
    assert r.returncode == 1 and "no message" in (r.stdout + r.stderr), r
    # audit: each action with who
    log = audit_actions(con)
    for act in ("queue hold", "queue release", "queue delete", "queue flush"):
        assert act in log, f"{act} not audited"
    assert "token:script" in log and ADMIN in log
    no_raw_xss(con.get("/audit")[2], "/audit")


def test_dkim_keygen_and_rotate():
    mg = start(domains={"example.test": {"transport": "[127.0.0.1]:9", "dkim_sign": "no"},
        "other.test": {"transport": "[127.0.0.1]:9"}})
    con = Console(mg).login()
    st, _, page = con.get("/dkim")
    assert st == 200 and "example.test" in page and "other.test" in page, page[-1500:]
    st, _, page = con.post("/dkim/example.test/keygen")
    assert st == 200 and "_domainkey.example.test" in page, page[-1500:]
    status = mg.ctl("dkim", "status", "example.test").stdout
    m = re.search(r"^\s+key (\S+) rsa2048 current ", status, re.M)
    assert m, status
    sel = m.group(1)
    st, _, page = con.get("/dkim")
    assert sel in page and "v=DKIM1" in page and "State: ok" in page, page[-3000:]
    # the API agrees with mailguardctl
    st, j = con.api("GET", "/api/v1/dkim/example.test", token=None)
    assert st == 401
    token = ctl_token(mg, con, "dk")
    st, j = con.api("GET", "/api/v1/dkim/example.test", token=token)
    assert st == 200 and [k["selector"] for k in j["keys"]] == [sel], j
    assert any("v=DKIM1" in r for r in j["dns"]), j
    assert con.api("GET", "/api/v1/dkim/nope.test", token=token)[0] == 404
    assert con.api("POST", "/api/v1/dkim/../keygen", token=token)[0] in (400, 404)
    # rotate: confirmation page, then a next key appears
    st, _, page = con.post("/dkim/example.test/rotate")
    assert st == 200 and 'name="confirm"' in page
    assert not re.search(r" next ", mg.ctl("dkim", "status", "example.test").stdout), \
        "rotated before the confirmation"
    st, _, page = con.post("/dkim/example.test/rotate", {"confirm": "yes"})
    assert st == 200 and "rotation started" in page, page[-1500:]
    status = mg.ctl("dkim", "status", "example.test").stdout
    assert re.search(r"^\s+key \S+ rsa2048 next ", status, re.M), status
    # the switch is due now but DNS does not publish the next key: withheld, alert on the page
    status = mg.ctl("dkim", "status", "example.test").stdout
    assert re.search(r"^\s+alert ", status, re.M), status
    st, _, page = con.get("/dkim")
    assert "Switch withheld" in page, page[-3000:]
    log = audit_actions(con)
    assert "dkim keygen" in log and "dkim rotate" in log


def test_layers_branding_edit():
    mg = start(domains={"example.test": {"transport": "[127.0.0.1]:9",
        "disable_layers": "bayes neural"}})
    conf = mg.conf_path
    conf.write_text(conf.read_text() + "# keep this comment\nrbl = old.example 1.5\n")
    mg.reload()
    con = Console(mg).login()
    st, _, page = con.get("/layers")
    assert st == 200 and "old.example 1.5" in page and "bayes" in page, page[-2000:]
    assert "global_disable_layers" in page
    st, _, page = con.post("/layers", {"rbl": "old.example 1.5\nzen.example 3.5 127.0.0.2",
        "greylist_delay": "7m"})
    assert st == 303, (st, page[-1500:])
    text = conf.read_text()
    assert "# keep this comment" in text and "rbl = zen.example 3.5 127.0.0.2" in text, text
    assert "greylist_delay = 7m" in text
    wait_for(lambda: "zen.example" in mg.print_config().stdout, 10, "rbl in mailguard -P")
    # invalid: the loader's error is shown, the file is unchanged
    before = conf.read_text()
    st, _, page = con.post("/layers", {"greylist_delay": "forever"})
    # refused by the value check of config/edit.c (400) or by the loader (422)
    assert st in (400, 422) and "greylist_delay" in page and "Not saved" in page, \
        (st, page[:3000])
    assert conf.read_text() == before, "an invalid edit changed the file"
    st, _, page = con.post("/layers", {"rbl": "bad zone " + XSS})
    assert st in (400, 422) and conf.read_text() == before
    no_raw_xss(page, "/layers error")
    # API
    token = ctl_token(mg, con, "ly")
    st, j = con.api("GET", "/api/v1/layers", token=token)
    assert st == 200 and "zen.example 3.5 127.0.0.2" in j["settings"]["rbl"], j
    assert j["disabled_per_domain"] == [{"domain": "example.test",
        "disable_layers": ["bayes", "neural"]}], j
    st, j = con.api("PUT", "/api/v1/layers", {"greylist_delay": None, "score": ["SPF_FAIL 3"],
        "version": j["version"]}, token=token)
    assert st == 200 and j["ok"], j
    text = conf.read_text()
    assert "greylist_delay" not in text and "score = SPF_FAIL 3" in text, text
    st, j = con.api("PUT", "/api/v1/layers", {"nonsense": "1"}, token=token)
    assert st == 400, j
    st, j = con.api("PUT", "/api/v1/layers", {"score": ["SPF_FAIL 4"], "version": "0" * 64}, token=token)
    assert st in (409, 422) and "score = SPF_FAIL 3" in conf.read_text(), (st, j)
    # branding
    st, _, page = con.post("/branding", {"brand_color": "#ff00aa", "brand_name": "Acme " + XSS})
    assert st == 303, (st, page[-1000:])
    wait_for(lambda: "#ff00aa" in con.get("/static/brand.css")[2], 10, "colour in brand.css")
    st, _, page = con.get("/branding")
    assert st == 200 and "#ff00aa" in page
    no_raw_xss(page, "/branding")
    before = conf.read_text()
    st, _, page = con.post("/branding", {"brand_color": "red"})
    assert st in (400, 422) and conf.read_text() == before, (st, page[-800:])
    st, j = con.api("PUT", "/api/v1/branding", {"brand_name": "Acme Mail"}, token=token)
    assert st == 200 and "brand_name = Acme Mail" in conf.read_text(), j
    log = audit_actions(con)
    assert "settings" in log and "+ rbl = zen.example 3.5 127.0.0.2" in log, log[-3000:]
    assert "- greylist_delay = 7m" in log
    no_raw_xss(con.get("/audit")[2], "/audit")


def test_users_and_tokens():
    mg = start(domains={"example.test": {"transport": "[127.0.0.1]:9"}})
    con = Console(mg).login()
    st, _, page = con.post("/users/add", {"user": "bob", "password": "x" * 12,
        "password2": "y" * 12})
    assert st == 400, "different passwords accepted"
    st, _, _ = con.post("/users/add", {"user": "bob", "password": "bob password 1",
        "password2": "bob password 1"})
    assert st == 303
    assert "bob" in mg.ctl("admin", "list").stdout
    bob = Console(mg).login("bob", "bob password 1")
    st, _, _ = bob.post("/users/password", {"user": "bob", "password": "bob password 2",
        "password2": "bob password 2"})
    assert st == 303
    Console(mg).login("bob", "bob password 2")
    st, _, page = con.post("/users/remove", {"user": "bob"})
    assert st == 200 and 'name="confirm"' in page
    st, _, _ = con.post("/users/remove", {"user": "bob", "confirm": "yes"})
    assert st == 303 and "bob" not in mg.ctl("admin", "list").stdout
    st, _, page = con.post("/users/remove", {"user": ADMIN, "confirm": "yes"})
    assert st == 400 and ADMIN in mg.ctl("admin", "list").stdout, "last admin removed"
    # tokens: shown once, usable, removable
    st, _, page = con.post("/users/token", {"name": "ci"})
    m = re.search(r'<pre class="token">([0-9a-f]{64})</pre>', page)
    assert st == 200 and m, page[-800:]
    tok = m.group(1)
    st, j = con.api("GET", "/api/v1/users", token=tok)
    assert st == 200 and j["users"] == [ADMIN] and "ci" in j["tokens"], j
    st, j = con.api("POST", "/api/v1/users", {"user": "carol", "password": "carol password"},
        token=tok)
    assert st == 201 and j["created"], j
    st, j = con.api("DELETE", "/api/v1/users/carol", token=tok)
    assert st == 200, j
    st, j = con.api("DELETE", f"/api/v1/users/{ADMIN}", token=tok)
    assert st == 409, j
    st, _, _ = con.post("/users/token-remove", {"name": "ci"})
    assert st == 303 and con.api("GET", "/api/v1/users", token=tok)[0] == 401
    # XSS in a user name is refused or escaped
    st, _, page = con.post("/users/add", {"user": XSS, "password": "p" * 12,
        "password2": "p" * 12})
    no_raw_xss(page, "/users/add")
    no_raw_xss(con.get("/users")[2], "/users")
    log = audit_actions(con)
    for act in ("user add", "user password", "user remove", "token create", "token remove"):
        assert act in log, f"{act} not audited"
    for secret in ("bob password", "carol password", tok):
        assert secret not in log and secret not in (mg.state_dir / "audit.log").read_text()
    st, j = con.api("GET", "/api/v1/audit?limit=3", token=ctl_token(mg, con, "a2"))
    assert st == 200 and len(j["records"]) == 3 and j["records"][0]["action"], j


def screenshot_dir():
    d = mgtest.build_dir() / "test-output" / "admin-ops"
    d.mkdir(parents=True, exist_ok=True)
    return d


def test_screenshots_in_chromium():
    """Every operations page in headless chromium (real browser, strict CSP), saved as PNG."""
    try:
        from selenium import webdriver
        from selenium.webdriver.common.by import By
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        raise mgtest.Skip("python3-selenium is not installed")
    back = TrackingSink(rules={"user@example.test": lambda a, s: "451 4.3.0 back-end down"})
    mg = start(backend=back, domains={"example.test": {"transport": back.transport,
        "dkim_sign": "yes", "disable_layers": "neural"}})
    t = new_token()
    tx = smtp_send(mg.port, "bob@sender.test", ["user@example.test"], token=t,
        data=token_message(t, "bob@sender.test", ["user@example.test"], subject=XSS))
    assert tx.final == 250, tx.replies
    mg.wait_log(rf"{tx.qid} to=<user@example.test> .*status=deferred")
    mg.ctl("dkim", "keygen", "example.test")
    con = Console(mg).login()
    con.post("/layers", {"rbl": "zen.example 3.5 127.0.0.2"})
    opts = webdriver.ChromeOptions()
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--ignore-certificate-errors",
            "--window-size=1280,1000", "--disable-dev-shm-usage"):
        opts.add_argument(a)
    opts.binary_location = "/usr/bin/chromium"
    service = Service(executable_path="/usr/bin/chromedriver")
    drv = webdriver.Chrome(options=opts, service=service)
    mgtest.add_cleanup(drv.quit, "chromium")
    base = f"https://127.0.0.1:{mg.admin_port}"
    # The session of the Python client is handed to the browser: chromium's own POST /login
    # was refused with 403 ("login form without a valid token or from another origin") in this
    # rig -- reported to the session owner; the pages themselves render in the real browser.
    drv.get(base + "/login")
    drv.add_cookie({"name": "__Host-mg_session", "value": con.cookies["__Host-mg_session"],
        "path": "/", "secure": True, "httpOnly": True, "sameSite": "Strict"})
    drv.get(base + "/audit")
    wait_for(lambda: "/login" not in drv.current_url, 10, "session accepted by the browser")
    out = screenshot_dir()
    alerts = []
    for name, path in (("dkim", "/dkim"), ("queue", "/queue"), ("queue-msg", f"/queue/{tx.qid}"),
            ("layers", "/layers"), ("branding", "/branding"), ("users", "/users"),
            ("audit", "/audit")):
        drv.get(base + path)
        assert "<script>alert" not in drv.page_source.replace("&lt;", "<") or \
            drv.find_elements(By.TAG_NAME, "script") == [], f"script element on {path}"
        assert drv.find_elements(By.TAG_NAME, "h1"), f"no heading on {path}"
        drv.save_screenshot(str(out / f"{name}.png"))
        try:
            alerts.append(drv.switch_to.alert.text)     # an executed payload would alert()
        except Exception:
            pass
    assert alerts == [], f"a script ran: {alerts}"
    # Not checked here yet: a POST from chromium (login form, queue hold button) is refused
    # with 403 by the session's CSRF/origin check in this rig (reported to the session owner);
    # every action is exercised over HTTPS by the tests above.
    print(f"screenshots in {out}")
