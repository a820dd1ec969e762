"""The URL and attachment layers (issue D) end to end through the real daemon: smtpd hands the
message to the filter role, whose content checks parse it (common/mime.h) and run url_check.c
and attach.c on a pool thread. Real data: a phishing feed file and a feed served over loopback
HTTP (fetched with libcurl on the loader thread), a URIBL zone in the DNS rig (NSD behind
Unbound), a zip archive with an .exe inside built with Python's zipfile. Thresholds are high so
every message is delivered and its X-MailGuard-Symbols header can be read at the sink.
Cases: a feed URL -> PHISH_URL; a URL from the HTTP feed -> PHISH_URL; a URIBL-listed domain ->
URIBL_URIBL_TEST; a zip with an .exe -> ATTACH_ZIP_DANGEROUS; a .zip TLD ->
SUSPICIOUS_TLD_ZIP (built-in list); disable_layers = phishing removes PHISH_URL but keeps the
other layers; a reload with a changed feed file matches the new URL at once; the periodic
refresh downloads a changed HTTP feed, and a failing download keeps the previous content."""

import base64
import http.server
import io
import threading
import zipfile

from dnsrig import DnsRig
from mgtest import MailGuard, Sink, add_cleanup

DOMAIN = "example.test"
FEED_URL = "http://phish.example.net/login.php"
HTTP_FEED_URL = "http://httpfeed.example.net/steal/index.html"
URIBL_URL = "http://www.badsite.example/offer"

ZONES = {
    "uribl.test": [
        ("badsite.example", "A", "127.0.0.2"),
    ],
}


def http_feed(body):
    """A loopback HTTP server answering every GET with body (a str, or a dict whose "body" and
    "status" the test may change later); returns its URL."""
    state = body if isinstance(body, dict) else {"body": body, "status": 200}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            data = state["body"].encode()
            self.send_response(state["status"])
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()

    def stop():
        srv.shutdown()
        srv.server_close()
    add_cleanup(stop, "http feed server")
    return f"http://127.0.0.1:{srv.server_address[1]}/feed.txt"


def setup(domain_kw=None, http=False):
    rig = DnsRig(ZONES)
    sink = Sink()
    dom = {"transport": sink.transport, "greylist": 500, "spam_quarantine": 600,
           "spam_reject": 700}
    dom.update(domain_kw or {})
    feeds = "feed.txt"
    if http:
        feeds += "\nphishing_feed = " + http_feed(f"# test feed\n{HTTP_FEED_URL}\n")
    cfg = {
        "resolvers": rig.resolver,
        "mynetworks": "203.0.113.0/24",
        "filter_threads": 2,
        "dns_timeout_ms": 1000,
        "phishing_feed": feeds,
        "uribl": "uribl.test 4",
    }
    mg = MailGuard(config=cfg, domains={DOMAIN: dom})
    mg.write_file("feed.txt", f"# OpenPhish format\n{FEED_URL}\n")
    mg.start()
    return mg, sink


def text_message(subject, body):
    return (f"From: Sender <alice@sender.test>\r\nTo: user@{DOMAIN}\r\nSubject: {subject}\r\n"
            f"Message-ID: <{subject.replace(' ', '.')}@sender.test>\r\nMIME-Version: 1.0\r\n"
            f"Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n")


def zip_message(subject, names):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for n in names:
            z.writestr(n, b"MZ\x90\x00 not really a program")
    b64 = base64.encodebytes(buf.getvalue()).decode().replace("\n", "\r\n")
    return (f"From: Sender <alice@sender.test>\r\nTo: user@{DOMAIN}\r\nSubject: {subject}\r\n"
            f"Message-ID: <{subject.replace(' ', '.')}@sender.test>\r\nMIME-Version: 1.0\r\n"
            "Content-Type: multipart/mixed; boundary=\"XYZ\"\r\n\r\n"
            "--XYZ\r\nContent-Type: text/plain\r\n\r\nSee the attached invoice.\r\n"
            "--XYZ\r\nContent-Type: application/zip; name=\"invoice.zip\"\r\n"
            "Content-Transfer-Encoding: base64\r\n"
            "Content-Disposition: attachment; filename=\"invoice.zip\"\r\n\r\n"
            f"{b64}--XYZ--\r\n")


def symbols_of(sink, subject, count):
    for m in sink.wait_count(count, timeout=30):
        if str(m.header("Subject")) == subject:
            return str(m.header("X-MailGuard-Symbols"))
    raise AssertionError(f"no delivered message with subject {subject!r}")


def test_url_layers_e2e():
    mg, sink = setup(http=True)
    # the HTTP source is fetched by the loader thread after start: wait for its snapshot
    mg.wait_log(r"phishing feed loaded: 2 entries from 2 sources", timeout=30)
    cases = [
        ("feed url", text_message("feed url", f"Verify your account: {FEED_URL}"),
         "PHISH_URL(10.00)"),
        ("http feed url", text_message("http feed url", f"Log in at {HTTP_FEED_URL} now"),
         "PHISH_URL(10.00)"),
        ("uribl url", text_message("uribl url", f"Great offer at {URIBL_URL} today"),
         "URIBL_URIBL_TEST(4.00)"),
        ("zip exe", zip_message("zip exe", ["docs/readme.txt", "invoice.pdf.exe"]),
         "ATTACH_ZIP_DANGEROUS(5.00)"),
        ("suspicious tld", text_message("suspicious tld", "Files at http://files.example.zip/"),
         "SUSPICIOUS_TLD_ZIP(1.00)"),
        ("clean", text_message("clean", "Nothing to see at https://www.example.org/ here."),
         None),
    ]
    for n, (subject, data, _) in enumerate(cases, 1):
        mg.send("alice@sender.test", f"user@{DOMAIN}", data)
        sink.wait_count(n, timeout=30)
    for subject, _, want in cases:
        sym = symbols_of(sink, subject, len(cases))
        if want is None:
            for bad in ("PHISH_", "URIBL_", "ATTACH_", "SUSPICIOUS_TLD_", "URL_"):
                assert bad not in sym, f"{subject}: got {sym!r}, want no {bad}* symbol"
        else:
            assert want in sym, f"{subject}: got {sym!r}, want {want}"


def test_disable_phishing_layer():
    mg, sink = setup({"disable_layers": "phishing"})
    data = text_message("disabled", f"Verify at {FEED_URL} and {URIBL_URL}")
    mg.send("alice@sender.test", f"user@{DOMAIN}", data)
    sym = symbols_of(sink, "disabled", 1)
    assert "PHISH_" not in sym, f"got {sym!r}, want no PHISH_* with disable_layers = phishing"
    assert "URIBL_URIBL_TEST(4.00)" in sym, f"got {sym!r}: the uribl layer must still run"


def test_feed_reload():
    mg, sink = setup()
    new_url = "https://fresh-phish.example.org/account/verify"
    data = text_message("before reload", f"Go to {new_url}")
    mg.send("alice@sender.test", f"user@{DOMAIN}", data)
    sym = symbols_of(sink, "before reload", 1)
    assert "PHISH_URL" not in sym, f"got {sym!r} before the feed lists the URL"
    mg.write_file("feed2.txt", f"{new_url}\n")
    mg.configure(config={"phishing_feed": "feed.txt\nphishing_feed = feed2.txt"})
    mg.reload(wait_log=r"phishing feed loaded: 2 entries from 2 sources", timeout=30)
    mg.send("alice@sender.test", f"user@{DOMAIN}", text_message("after reload",
        f"Go to {new_url}?id=42"))
    sym = symbols_of(sink, "after reload", 2)
    assert "PHISH_URL(10.00)" in sym, f"got {sym!r} after the reload, want PHISH_URL"


def test_feed_http_refresh_and_failure():
    state = {"body": "http://first.example.net/a\n", "status": 200}
    rig = DnsRig(ZONES)
    sink = Sink()
    mg = MailGuard(config={
        "resolvers": rig.resolver, "mynetworks": "203.0.113.0/24", "filter_threads": 2,
        "phishing_feed": http_feed(state), "phishing_feed_refresh": "10s",
    }, domains={DOMAIN: {"transport": sink.transport, "greylist": 500,
                         "spam_quarantine": 600, "spam_reject": 700}})
    mg.start()
    mg.wait_log(r"phishing feed loaded: 1 entries from 1 sources", timeout=30)
    second = "http://second.example.net/b/c"
    state["body"] = f"http://first.example.net/a\n{second}\n"
    mark = mg.log_mark()
    mg.wait_log(r"phishing feed loaded: 2 entries from 1 sources", timeout=40, since=mark)
    mg.send("alice@sender.test", f"user@{DOMAIN}", text_message("refreshed", f"See {second}"))
    sym = symbols_of(sink, "refreshed", 1)
    assert "PHISH_URL(10.00)" in sym, f"got {sym!r} after the refresh, want PHISH_URL"
    state["status"] = 500
    mark = mg.log_mark()
    mg.wait_log(r"phishing feed http://127\.0\.0\.1:\d+/feed\.txt: .*keeping \d+ octets",
        timeout=40, since=mark)
    mg.wait_log(r"phishing feed loaded: 2 entries from 1 sources", timeout=40, since=mark)
    mg.send("alice@sender.test", f"user@{DOMAIN}", text_message("after failure", f"See {second}"))
    sym = symbols_of(sink, "after failure", 2)
    assert "PHISH_URL(10.00)" in sym, f"got {sym!r}: a failed download must keep the feed"
