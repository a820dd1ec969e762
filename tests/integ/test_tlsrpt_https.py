"""TLS-RPT report delivery (RFC 8460 §5): report messages go out even where the receiver's TLS
would fail the sender domain's policy, and their sessions are not counted (§5.3); https: rua
URIs get the gzipped JSON by POST with Content-Type application/tlsrpt+gzip (§5.4), the
server's certificate verified against tls_ca_file, retried by the queue after a 5xx."""

import gzip
import http.server
import json
import re
import socket
import ssl
import threading

import mgtest
from dnsrig import DnsRig
from mgtest import MailGuard, Sink
from tlsrig import broken_tls, send, shared_port

GOOD_MX, REPORT_MX, POST_IP, BADCERT_IP = "127.0.0.91", "127.0.0.92", "127.0.0.93", "127.0.0.94"


class PostRecorder:
    """A loopback HTTPS server recording every POST: .posts = [(path, headers, body)]. The
    first `fail_first` POSTs are answered 503, later ones 200."""

    def __init__(self, host, port, cert, fail_first=0):
        self.posts = []
        self.fail_first = fail_first
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(n)
                outer.posts.append((self.path, dict(self.headers), body))
                status = 503 if len(outer.posts) <= outer.fail_first else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        class Server(http.server.ThreadingHTTPServer):
            address_family = socket.AF_INET
            allow_reuse_address = True
            daemon_threads = True

        self.httpd = Server((host, port), Handler)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(str(cert.cert), str(cert.key))
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        mgtest.add_cleanup(self.stop, f"https {host}:{port}")

    def stop(self):
        if self.httpd is not None:
            self.httpd.shutdown()
            self.httpd.server_close()
            self.httpd = None


def report_docs(sink, n):
    docs = []
    for m in sink.wait_count(n, timeout=60):
        for part in m.message().walk():
            if part.get_content_type() == "application/tlsrpt+gzip":
                docs.append(json.loads(gzip.decompress(part.get_payload(decode=True))))
    return docs


def test_report_goes_out_despite_tls_failure_and_is_not_counted():
    """The report's sender domain uses tls_policy encrypt and the rua's MX fails every TLS
    handshake: ordinary mail there defers, the report is delivered in plaintext, and that
    session is not recorded for the next report."""
    rua_self = "v=TLSRPTv1; rua=mailto:tlsrpt@rep.test"
    dns = DnsRig({"test": [
        ("good", "MX", "10 mx.good.test."), ("mx.good", "A", GOOD_MX),
        ("_smtp._tls.good", "TXT", rua_self),
        ("rep", "MX", "10 mx.rep.test."), ("mx.rep", "A", REPORT_MX),
        ("_smtp._tls.rep", "TXT", rua_self),
    ]})
    port = shared_port([GOOD_MX, REPORT_MX])
    Sink(host=GOOD_MX, port=port, tls=True)
    report_sink = broken_tls(Sink(host=REPORT_MX, port=port, tls=True))
    backend = Sink()
    mg = MailGuard(config={"resolvers": dns.resolver, "dns_timeout_ms": 1000,
                           "outbound_port": port, "retry_min": "1h", "tlsrpt_interval": "4s",
                           "tlsrpt_from": "reports@sender.test"},
                   domains={"sender.test": {"transport": backend.transport,
                                            "tls_policy": "encrypt"}}).start()
    send(mg, "a@sender.test", "u@good.test")
    # ordinary mail of the same sender domain to the broken receiver defers (encrypt)
    send(mg, "a@sender.test", "u@rep.test")
    mg.wait_log(r"to=<u@rep\.test> .*status=deferred", timeout=30)
    docs = report_docs(report_sink, 2)
    domains = {p["policy"]["policy-domain"] for d in docs for p in d["policies"]}
    assert domains == {"good.test", "rep.test"}, docs
    assert {m.mail_from for m in report_sink.messages} == {"reports@sender.test"}
    assert all(not m.tls for m in report_sink.messages)
    rep = [p for d in docs for p in d["policies"] if p["policy"]["policy-domain"] == "rep.test"]
    assert rep[0]["summary"]["total-failure-session-count"] == 1, rep
    mg.wait_log(r"to=<tlsrpt@rep\.test> .*tls=may/plaintext .*status=sent", timeout=30)
    # the report sessions are not counted (§5.3): each domain had exactly one ordinary
    # session (the deferred message waits an hour), so each gets exactly one report, also
    # once the period in which the reports went out has closed
    delivered_in = current_period(mg)
    mgtest.wait_for(lambda: current_period(mg) > delivered_in, timeout=30,
                    what="the next TLS-RPT period")
    text = mg.log_text()
    assert len(re.findall(r"tlsrpt report domain=rep\.test ", text)) == 1, text
    assert len(re.findall(r"tlsrpt report domain=good\.test ", text)) == 1, text
    assert report_sink.count == 2


def current_period(mg):
    out = mg.ctl("queue", "tlsrpt").stdout
    return int(re.search(r"period=(\d+)\+", out).group(1))


def test_https_rua_gets_the_gzip_json_by_post():
    """An https: rua (name resolved through the test DNS, certificate from the test CA) gets a
    POST of the gzipped JSON report; a 503 is retried; a server whose certificate the CA did
    not sign never sees the report."""
    ca = mgtest.make_ca()
    hport = shared_port([POST_IP, BADCERT_IP])
    rua = (f"v=TLSRPTv1; rua=https://rpt.rep.test:{hport}/v1/tlsrpt,"
           f"https://bad.rep.test:{hport}/v1/tlsrpt")
    dns = DnsRig({"test": [
        ("good", "MX", "10 mx.good.test."), ("mx.good", "A", GOOD_MX),
        ("_smtp._tls.good", "TXT", rua),
        ("rpt.rep", "A", POST_IP), ("bad.rep", "A", BADCERT_IP),
    ]})
    good = PostRecorder(POST_IP, hport, mgtest.make_cert(cn="rpt.rep.test", ca=ca, name="r"),
                        fail_first=1)
    bad = PostRecorder(BADCERT_IP, hport, mgtest.make_cert(cn="bad.rep.test", name="b"))
    port = shared_port([GOOD_MX])
    Sink(host=GOOD_MX, port=port, tls=True)
    backend = Sink()
    mg = MailGuard(config={"resolvers": dns.resolver, "dns_timeout_ms": 1000,
                           "outbound_port": port, "retry_min": "1h", "tlsrpt_interval": "4s",
                           "tls_ca_file": str(ca.cert)},
                   domains={"sender.test": {"transport": backend.transport}}).start()
    send(mg, "a@sender.test", "u@good.test")
    mgtest.wait_for(lambda: len(good.posts) >= 2, timeout=60, what="a retried POST")
    mg.wait_log(r"tlsrpt: report \S+ posted: POST to https://rpt\.rep\.test:\d+/v1/tlsrpt: "
                r"HTTP status 200", timeout=30)
    path, headers, body = good.posts[-1]
    assert path == "/v1/tlsrpt", path
    ctype = {k.lower(): v for k, v in headers.items()}["content-type"]
    assert ctype == "application/tlsrpt+gzip", headers
    doc = json.loads(gzip.decompress(body))
    pol = doc["policies"][0]
    assert pol["policy"]["policy-domain"] == "good.test", doc
    assert pol["summary"]["total-successful-session-count"] >= 1, doc
    assert good.posts[0][2] == body     # the retry sends the same report
    mg.wait_log(r"tlsrpt: report \S+: attempt 1 failed: POST to https://bad\.rep\.test", timeout=30)
    assert bad.posts == []
    # the posted report is gone from the state directory; only the failing one may wait there
    left = [f.read_bytes().split(b"\n", 1)[0] for f in (mg.state_dir / "tlsrpt-post").iterdir()
            if f.name.endswith(".post")]
    assert all(b"bad.rep.test" in url for url in left), left
