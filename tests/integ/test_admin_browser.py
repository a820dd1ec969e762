"""The admin console in a real browser: Debian's chromium (headless) driven by python3-selenium
through /usr/bin/chromedriver, against the real daemon. It logs in, adds a domain whose transport
is a test sink, changes the domain's thresholds and layers, adds a block-list entry; then checks
the text files changed as expected (a comment written by hand is kept) and that the daemon's
behaviour changed: mail to the new domain is accepted and arrives at its sink, the blocked sender
is refused with 550. Every page visited is saved as a PNG screenshot in
$BUILD/test-output/admin_browser/ (kept after the test)."""

import os
import shutil
import smtplib
from pathlib import Path

import mgtest
from mgtest import MailGuard, Sink, wait_for

TIMEOUT = 300
ADMIN, PASSWORD = "admin", "browser test password"
UNTRUSTED = {"mynetworks": "203.0.113.0/24", "filter_threads": 2}
NO_DNS = ["rbl", "phishing", "greylist", "spf", "dkim", "dmarc", "uribl"]   # form (choice) order


def out_dir():
    d = mgtest.build_dir() / "test-output" / "admin_browser"
    if d.exists():
        shutil.rmtree(d)
    d.mkdir(parents=True)
    return d


def browser(tmp):
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        raise mgtest.Skip("python3-selenium is not installed")
    if not (os.access("/usr/bin/chromium", os.X_OK) and os.access("/usr/bin/chromedriver",
            os.X_OK)):
        raise mgtest.Skip("chromium / chromium-driver not installed")
    opts = webdriver.ChromeOptions()
    opts.binary_location = "/usr/bin/chromium"
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
              "--ignore-certificate-errors", "--window-size=1280,1600",
              f"--user-data-dir={tmp / 'chrome-profile'}", "--no-first-run",
              "--disable-extensions", "--disable-background-networking"):
        opts.add_argument(a)
    service = Service("/usr/bin/chromedriver", log_path=str(tmp / "chromedriver.log"))
    drv = webdriver.Chrome(service=service, options=opts)
    mgtest.add_cleanup(drv.quit, "chromium")
    drv.set_page_load_timeout(60)
    return drv


class Pages:
    """Browser navigation with a screenshot of every page visited."""

    def __init__(self, drv, base, shots):
        self.drv, self.base, self.shots, self.n = drv, base, shots, 0

    def shot(self, name):
        self.n += 1
        # the whole page: grow the window to the document's height first (bounded)
        h = self.drv.execute_script("return document.documentElement.scrollHeight")
        self.drv.set_window_size(1280, min(max(int(h) + 140, 800), 6000))
        p = self.shots / f"{self.n:02d}-{name}.png"
        assert self.drv.save_screenshot(str(p)), f"screenshot {p} failed"
        return p

    def go(self, path, name):
        self.drv.get(self.base + path)
        self.shot(name)

    def el(self, css):
        return self.drv.find_element("css selector", css)

    def fill(self, css, text):
        e = self.el(css)
        e.clear()
        e.send_keys(text)

    def submit(self, form_css, name):
        old = self.drv.current_url
        self.el(f"{form_css} button[type=submit]").click()
        wait_for(lambda: self.drv.execute_script("return document.readyState") == "complete"
            and (self.drv.current_url != old or self.drv.find_elements("css selector",
            "div.errors")), 30, f"page after submitting {form_css}")
        self.shot(name)

    def text(self):
        """The page's text; "" while a navigation is in flight (a click's POST and redirect:
        the old document is gone and the new one has no body yet), so callers that wait for
        a result page simply wait on."""
        from selenium.common.exceptions import (NoSuchElementException,
                                                StaleElementReferenceException)
        try:
            return self.el("body").text
        except (NoSuchElementException, StaleElementReferenceException):
            return ""


def mail_refused(mg, sender, rcpt):
    try:
        mg.send(sender, [rcpt])
    except smtplib.SMTPDataError as e:
        return e.smtp_code
    return None


@mgtest.timeout(TIMEOUT)
def test_console_in_chromium():
    shots = out_dir()
    sink = Sink()          # example.test's back-end
    shop = Sink()          # the new domain's back-end
    mg = MailGuard(config=UNTRUSTED, domains={"example.test": {
        "transport": sink.transport, "disable_layers": " ".join(NO_DNS)}}).start()
    mg.ctl("admin", "add", ADMIN, "--password-stdin", input=PASSWORD + "\n")
    tmp = mgtest.tmpdir("browser")
    drv = browser(tmp)
    pg = Pages(drv, f"https://127.0.0.1:{mg.admin_port}", shots)

    # log in
    pg.go("/", "login")
    assert "/login" in drv.current_url, drv.current_url
    pg.fill("#user", ADMIN)
    pg.fill("#password", PASSWORD)
    pg.submit("form", "dashboard")
    assert drv.current_url.endswith("/"), drv.current_url
    assert "Inbound messages" in pg.text()
    assert len(drv.find_elements("css selector", "svg.chart")) == 3
    pg.go("/?span=7d", "dashboard-7d")

    # add a domain through the Domains page
    pg.drv.find_element("link text", "Domains").click()
    pg.shot("domains")
    pg.drv.find_element("link text", "Add a domain").click()
    pg.shot("domain-new")
    pg.fill("#name", "shop.test")
    pg.fill("#transport", "bad transport value")
    pg.submit("form.mg-form", "domain-new-error")
    err = pg.el("div.errors").text
    assert "not added" in err and "transport" in err, f"error box: {err!r}"
    assert pg.el("#name").get_attribute("value") == "shop.test", "entered name not kept"
    pg.fill("#transport", shop.transport)
    pg.submit("form.mg-form", "domain-added")
    assert drv.current_url.endswith("/domains/shop.test?saved=added"), drv.current_url
    conf = mg.dir / "domains.d" / "shop.test.conf"
    assert conf.read_text() == f"transport = {shop.transport}\n", conf.read_text()

    # an admin adds a comment by hand; the console keeps it
    conf.write_text(f"# shop.test: back-end in rack 4\ntransport = {shop.transport}\n")
    pg.go("/domains/shop.test", "domain-edit")
    pg.fill("#k_spam_reject", "9")
    pg.fill("#k_spam_quarantine", "5")
    pg.fill("#k_greylist", "3")
    for layer in NO_DNS:
        pg.el(f"input[name=k_disable_layers][value={layer}]").click()
    pg.submit("form.mg-form", "domain-saved")
    assert "Saved and reloaded." in pg.text(), pg.text()[:400]
    want = (f"# shop.test: back-end in rack 4\ntransport = {shop.transport}\n"
            "spam_reject = 9\nspam_quarantine = 5\ngreylist = 3\n"
            f"disable_layers = {' '.join(NO_DNS)}\n")
    assert conf.read_text() == want, f"got\n{conf.read_text()}\nwant\n{want}"
    assert pg.el("#k_spam_reject").get_attribute("value") == "9"

    # an invalid threshold is refused on the form; the file stays as it is
    pg.fill("#k_spam_reject", "lots")
    pg.submit("form.mg-form", "domain-invalid")
    assert "Not saved" in pg.text() and "spam_reject" in pg.text(), pg.text()[:400]
    assert conf.read_text() == want, "file changed by an invalid edit"

    # block a sender on the domain's list page
    pg.go("/lists", "lists")
    drv.find_element("link text", "shop.test").click()
    pg.shot("lists-shop")
    pg.fill("#entry", "@spammer.test")
    drv.find_element("css selector", "#list option[value=block], #list option:nth-child(2)") \
        .click()
    pg.submit("form.mg-form", "lists-added")
    assert "Entry added" in pg.text() and "@spammer.test" in pg.text(), pg.text()[:400]
    block = mg.dir / "lists" / "shop.test.block"
    assert block.read_text() == "@spammer.test\n", block.read_text()

    # the daemon follows: mail for shop.test goes to its sink, the blocked sender is refused
    assert mg.send("friend@fine.test", ["buyer@shop.test"]) == {}
    [m] = shop.wait_count(1)
    assert m.rcpt_tos == ["buyer@shop.test"], m.rcpt_tos
    code = mail_refused(mg, "x@spammer.test", "buyer@shop.test")
    assert code == 550, f"blocked sender: got {code}, want 550"
    mg.wait_log(r"filter action=reject .*BLOCKLIST")
    assert shop.count == 1, f"sink got {shop.count} messages, want 1"

    # the pages after the traffic
    pg.go("/", "dashboard-after")
    pg.go("/domains", "domains-after")
    assert "shop.test" in pg.text()
    pg.go("/domains/shop.test/delete", "domain-delete-confirm")
    assert "Remove shop.test" in pg.text()
    assert len(list(shots.glob("*.png"))) == pg.n
    print(f"screenshots: {shots}")
    mg.stop()
