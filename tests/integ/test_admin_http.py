"""The admin role's HTTP transport (admin/httpd.c, admin/http_parse.c) against real clients:
Python ssl/http.client, openssl s_client and curl. TLS 1.2/1.3 only; security headers on every
response; malformed or oversized requests get their 4xx (or a bounded close) and the role keeps
serving without a restart; the connection limit; the plain-HTTP metrics listener; static assets
and branding; the supervisor restarts the role after kill -9; testssl.sh finds nothing rated
MEDIUM or worse."""

import http.client
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import time

import mgtest
from mgtest import MailGuard, wait_for

CSP = ("default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
       "frame-ancestors 'none'; base-uri 'none'")


def start(config=None):
    return MailGuard(config=config or {}).start()


def tls_ctx(minv=ssl.TLSVersion.TLSv1_2, maxv=ssl.TLSVersion.TLSv1_3):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.minimum_version = minv
    ctx.maximum_version = maxv
    return ctx


def https(mg, method, path, body=None, headers=None, ctx=None):
    c = http.client.HTTPSConnection("127.0.0.1", mg.admin_port, timeout=15,
                                    context=ctx or tls_ctx())
    c.request(method, path, body=body, headers=headers or {})
    r = c.getresponse()
    data = r.read()
    c.close()
    return r, data


def connect(mg, tls=True, port=None):
    s = socket.create_connection(("127.0.0.1", port or mg.admin_port), timeout=20)
    if tls:
        s = tls_ctx().wrap_socket(s)
    return s


def raw(mg, data, tls=True, port=None, timeout=20):
    """Sends data, reads until the server closes (bounded); returns the bytes received."""
    s = connect(mg, tls, port)
    s.settimeout(timeout)
    try:
        s.sendall(data)
    except OSError:
        pass    # the server may answer and close before taking everything
    out = b""
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            chunk = s.recv(65536)
            if not chunk:
                break
            out += chunk
    except (OSError, ssl.SSLError):
        pass
    s.close()
    return out


def status_of(resp):
    m = re.match(rb"HTTP/1\.1 (\d{3}) ", resp)
    assert m, f"no status line in {resp[:200]!r}"
    return int(m.group(1))


def admin_pid(mg):
    m = re.search(r"^admin pid (\d+)$", mg.ctl("status").stdout, re.M)
    return int(m.group(1)) if m else 0


def assert_serving(mg):
    r, data = https(mg, "GET", "/static/mg.css")
    assert r.status == 200 and b"--brand" in data, (r.status, data[:100])


def test_tls_versions():
    mg = start()
    for v in ("-tls1", "-tls1_1"):
        r = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{mg.admin_port}", v,
                            "-cipher", "ALL:@SECLEVEL=0"], input=b"", capture_output=True,
                           timeout=20)
        text = (r.stdout + r.stderr).decode(errors="replace")
        assert r.returncode != 0 and "alert protocol version" in text, text[-600:]
    for v in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
        s = socket.create_connection(("127.0.0.1", mg.admin_port), timeout=10)
        t = tls_ctx(v, v).wrap_socket(s)
        assert t.version() == {ssl.TLSVersion.TLSv1_2: "TLSv1.2",
                               ssl.TLSVersion.TLSv1_3: "TLSv1.3"}[v]
        t.sendall(b"GET /static/brand.css HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = b""
        while True:
            chunk = t.recv(4096)
            if not chunk:
                break
            data += chunk
        t.close()
        assert status_of(data) == 200, data[:200]
    mg.stop()


def test_security_headers_and_keepalive():
    mg = start()
    c = http.client.HTTPSConnection("127.0.0.1", mg.admin_port, timeout=15, context=tls_ctx())
    for path, status in (("/static/mg.css", 200), ("/no/such/page", 404), ("/", None)):
        c.request("GET", path)
        r = c.getresponse()
        r.read()
        if status:
            assert r.status == status, (path, r.status)
        h = r.headers
        assert h["Content-Security-Policy"] == CSP, h["Content-Security-Policy"]
        assert h["Strict-Transport-Security"].startswith("max-age="), h
        assert h["X-Content-Type-Options"] == "nosniff"
        assert h["Referrer-Policy"] == "same-origin"
        assert h["X-Frame-Options"] == "DENY"
        assert h["Date"] and h["Content-Length"] is not None
        if path.startswith("/static/"):
            assert "max-age" in h["Cache-Control"], h["Cache-Control"]
        else:
            assert h["Cache-Control"] == "no-store", h["Cache-Control"]
    # HEAD: the same headers, no body, and the connection stays usable (keep-alive)
    c.request("HEAD", "/static/mg.css")
    r = c.getresponse()
    assert r.status == 200 and int(r.headers["Content-Length"]) > 1000
    assert r.read() == b""
    c.request("GET", "/static/brand.css")
    r = c.getresponse()
    assert r.status == 200 and r.read().startswith(b":root{--brand:")
    c.close()
    # 405 with Allow for a known path and a wrong method
    r, _ = https(mg, "POST", "/static/mg.css", body=b"x=1",
                 headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status == 405 and "GET" in r.headers["Allow"], (r.status, r.headers["Allow"])
    mg.wait_log(r"admin.*http GET /static/mg\.css status=200 bytes=\d+ ms=[0-9.]+ "
                r"peer=127\.0\.0\.1 user=-")
    mg.stop()


def test_requests_per_connection_capped():
    mg = start()
    c = http.client.HTTPSConnection("127.0.0.1", mg.admin_port, timeout=15, context=tls_ctx())
    for i in range(100):
        c.request("GET", "/static/brand.css")
        r = c.getresponse()
        r.read()
        assert r.status == 200
        if i < 99:
            assert r.headers["Connection"] == "keep-alive", (i, r.headers["Connection"])
    assert r.headers["Connection"] == "close"
    c.close()
    mg.stop()


BAD_REQUESTS = [
    ("bad method", b"FOO / HTTP/1.1\r\nHost: x\r\n\r\n", 501),
    ("unsupported method", b"OPTIONS / HTTP/1.1\r\nHost: x\r\n\r\n", 501),
    ("HTTP/2.0 text", b"GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505),
    ("garbage", b"\x00\x01\x02\xff garbage\r\n\r\n", 400),
    ("no Host", b"GET / HTTP/1.1\r\n\r\n", 400),
    ("long URL", b"GET /" + b"a" * 5000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414),
    ("too many headers", b"GET / HTTP/1.1\r\nHost: x\r\n" +
     b"".join(b"X-H%d: v\r\n" % i for i in range(70)) + b"\r\n", 431),
    ("huge header block", b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 20000 + b"\r\n\r\n",
     431),
    ("huge body", b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10000000\r\n\r\n", 413),
    ("huge chunked body", b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" +
     (b"10000\r\n" + b"z" * 0x10000 + b"\r\n") * 17 + b"0\r\n\r\n", 413),
    ("CL and TE", b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
     b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    ("dot-dot", b"GET /static/../etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    ("encoded dot-dot", b"GET /static/%2e%2e/x HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    ("%00", b"GET /static/mg.css%00 HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    ("bad escape", b"GET /static/%zz HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    ("bad form escape", b"POST /static/mg.css HTTP/1.1\r\nHost: x\r\nContent-Type: "
     b"application/x-www-form-urlencoded\r\nContent-Length: 5\r\n\r\na=%zz", 400),
    ("NUL in header", b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n", 400),
]


def test_malformed_requests_get_4xx_and_role_survives():
    mg = start()
    pid = admin_pid(mg)
    assert pid > 0
    for name, req, want in BAD_REQUESTS:
        resp = raw(mg, req)
        got = status_of(resp)
        assert got == want, f"{name}: got {got}, want {want}: {resp[:300]!r}"
        assert b"Connection: close" in resp, name
        assert b"Content-Security-Policy: " in resp, name
    # plain-text garbage on the TLS port: the handshake fails, the connection is closed
    assert raw(mg, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", tls=False, timeout=15) == b""
    assert_serving(mg)
    assert admin_pid(mg) == pid
    assert "restarting it" not in mg.log_text(), mg.log_tail(20)
    mg.stop()


@mgtest.timeout(90)
def test_slow_clients_are_cut():
    mg = start()
    t0 = time.monotonic()
    # headers never finished: 408 after the 10 s header deadline (not refreshed by progress)
    s = connect(mg)
    s.settimeout(30)
    s.sendall(b"GET /static/mg.css HTTP/1.1\r\n")
    for _ in range(4):
        time.sleep(1)       # a byte now and then must not extend the deadline
        s.sendall(b"X")
    data = b""
    while True:
        chunk = s.recv(4096)
        if not chunk:
            break
        data += chunk
    s.close()
    took = time.monotonic() - t0
    assert status_of(data) == 408, data[:200]
    assert 8 <= took <= 16, took
    # a TLS handshake that never starts: closed at the same deadline
    t0 = time.monotonic()
    s = socket.create_connection(("127.0.0.1", mg.admin_port), timeout=30)
    assert s.recv(100) == b""
    took = time.monotonic() - t0
    assert 8 <= took <= 16, took
    s.close()
    # a body that never arrives: 408 after the body deadline (30 s)
    t0 = time.monotonic()
    resp = raw(mg, b"POST /static/mg.css HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nab",
               timeout=45)
    took = time.monotonic() - t0
    assert status_of(resp) == 408 and 25 <= took <= 40, (resp[:100], took)
    assert_serving(mg)
    mg.stop()


def test_connection_limit():
    mg = start({"admin_max_connections": 3})
    held = [connect(mg) for _ in range(3)]
    for s in held:     # each completed its handshake: the server holds 3 connections
        s.sendall(b"GET /static/brand.css HTTP/1.1\r\nHost: x\r\n\r\n")
        assert status_of(s.recv(4096)) == 200
    extra = socket.create_connection(("127.0.0.1", mg.admin_port), timeout=10)
    extra.settimeout(10)
    assert extra.recv(100) == b"", "a 4th connection must be closed at once"
    extra.close()
    mg.wait_log(r"http peer=127\.0\.0\.1 refused: too many connections")
    held.pop().close()

    def serves():
        try:
            assert_serving(mg)
            return True
        except (OSError, ssl.SSLError, AssertionError):
            return False
    wait_for(serves, 10, "a connection slot freed")
    for s in held:
        s.close()
    mg.stop()


def test_metrics_listener_plain_http():
    mg = start({"metrics_listen": "127.0.0.1:0"})
    port = mg.listener("metrics").port
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.request("GET", "/metrics")
    r = c.getresponse()
    body = r.read()
    assert r.status == 200 and b"# TYPE " in body, (r.status, body[:200])
    assert r.headers["Strict-Transport-Security"] is None
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    # only /metrics there: console pages and static assets are not served
    for path in ("/", "/static/mg.css", "/login"):
        c.request("GET", path)
        r = c.getresponse()
        r.read()
        assert r.status == 404, (path, r.status)
    c.close()
    # /metrics on the console needs a token or a session
    r, _ = https(mg, "GET", "/metrics")
    assert r.status in (401, 303), r.status
    mg.stop()


PNG = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00"
       b"\x00\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8"
       b"\xd5\x00\x00\x00\x00IEND\xaeB`\x82")


def test_static_assets_and_branding():
    mg = MailGuard(config={"brand_color": "#aa3300", "brand_name": "Acme <Mail>"})
    logo = mg.dir / "logo.png"
    logo.write_bytes(PNG)
    mg.configure({"brand_logo": str(logo)})
    mg.start()
    r, data = https(mg, "GET", "/static/brand.css")
    assert data == b":root{--brand:#aa3300}\n", data
    r, data = https(mg, "GET", "/static/logo")
    assert r.status == 200 and r.headers["Content-Type"] == "image/png" and data == PNG
    r, data = https(mg, "GET", "/static/mg.css")
    assert r.headers["Content-Type"].startswith("text/css") and b"var(--brand)" in data
    # an SVG logo gets a sandbox CSP; reload picks up the new file and colour
    svg = mg.dir / "logo.svg"
    svg.write_text('<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>')
    mg.configure({"brand_logo": str(svg), "brand_color": "#0000ff"})
    mg.reload(wait_log=r"admin.*configuration reloaded")
    r, data = https(mg, "GET", "/static/logo")
    assert r.headers["Content-Type"] == "image/svg+xml", r.headers["Content-Type"]
    assert r.headers["Content-Security-Policy"] == "sandbox"
    r, data = https(mg, "GET", "/static/brand.css")
    assert data == b":root{--brand:#0000ff}\n", data
    # not an image: no logo, a warning (an invalid brand_color is refused by the loader)
    bad = mg.dir / "logo.txt"
    bad.write_text("hello")
    mg.configure({"brand_logo": str(bad)})
    mg.reload(wait_log=r"admin.*configuration reloaded")
    r, _ = https(mg, "GET", "/static/logo")
    assert r.status == 404
    mg.wait_log(r"brand_logo .*neither PNG nor SVG; no logo shown")
    r = mg.ctl("config", "set", "mailguard.conf", "brand_color", "red;}body{", check=False)
    assert r.returncode != 0
    mg.stop()


def test_curl_client():
    curl = shutil.which("curl")
    if not curl:
        raise mgtest.Skip("curl not installed")
    mg = start()
    r = subprocess.run([curl, "-ksS", "-o", "/dev/null", "-w", "%{http_code} %{ssl_verify_result}",
                        "--tlsv1.2", f"https://127.0.0.1:{mg.admin_port}/static/mg.css"],
                       capture_output=True, text=True, timeout=30)
    assert r.stdout.startswith("200 "), (r.stdout, r.stderr)
    r = subprocess.run([curl, "-ksS", "-D", "-", "-o", "/dev/null", "--http1.1",
                        "-X", "DELETE", f"https://127.0.0.1:{mg.admin_port}/static/mg.css"],
                       capture_output=True, text=True, timeout=30)
    assert r.stdout.startswith("HTTP/1.1 405"), r.stdout
    mg.stop()


def test_admin_restarted_after_kill9():
    mg = start()
    pid = admin_pid(mg)
    mark = mg.log_mark()
    os.kill(pid, signal.SIGKILL)
    mg.wait_log(r"role admin \(pid %d\) killed by signal 9; restarting it" % pid, since=mark)
    mg.wait_log(r"role admin \(pid \d+\) restarted and ready", since=mark)
    assert admin_pid(mg) not in (0, pid)
    assert_serving(mg)
    mg.stop()


def test_no_console_without_listeners():
    mg = start({"admin_listen": ""})
    assert admin_pid(mg) == 0
    assert not [l for l in mg.listeners if l.name in ("admin", "metrics")], mg.listeners
    mg.stop()


TESTSSL_BAD = {"MEDIUM", "HIGH", "CRITICAL"}


def ca_signed_cert(d):
    """A test CA and a console certificate for 127.0.0.1 it signed, with the CRL distribution
    point testssl.sh looks for (it does not fetch it), valid 90 days (testssl.sh flags < 30 days)."""
    ca = mgtest.make_ca(d)
    key, csr, crt, ext = d / "console.key", d / "console.csr", d / "console.crt", d / "c.ext"
    ext.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n"
                   "extendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature\n"
                   "crlDistributionPoints=URI:http://127.0.0.1/ca.crl\n")
    subprocess.run(["openssl", "req", "-new", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-keyout", str(key), "-out", str(csr),
                    "-subj", "/CN=127.0.0.1"], check=True, capture_output=True)
    subprocess.run(["openssl", "x509", "-req", "-in", str(csr), "-CA", str(ca.cert), "-CAkey",
                    str(ca.key), "-CAcreateserial", "-days", "90", "-out", str(crt), "-extfile",
                    str(ext)], check=True, capture_output=True)
    os.chmod(key, 0o600)
    return ca.cert, crt, key


@mgtest.timeout(300)
def test_testssl_no_medium_findings():
    tool = shutil.which("testssl.sh") or shutil.which("testssl")
    if not tool:
        raise mgtest.Skip("testssl.sh not installed")
    d = mgtest.tmpdir("console-ca")
    ca, crt, key = ca_signed_cert(d)
    mg = start({"admin_tls_cert": str(crt), "admin_tls_key": str(key)})
    out = mg.dir / "testssl.json"
    t0 = time.monotonic()
    subprocess.run([tool, "--quiet", "--color", "0", "--warnings", "batch", "--add-ca", str(ca),
                    "--jsonfile", str(out), f"127.0.0.1:{mg.admin_port}"],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=280)
    took = time.monotonic() - t0
    findings = json.loads(out.read_text())
    bad = [f for f in findings if f.get("severity") in TESTSSL_BAD]
    print(f"testssl.sh took {took:.0f} s, {len(findings)} results")
    assert len(findings) > 50, findings
    assert not bad, "\n".join(f"{f['id']}: {f['severity']}: {f['finding']}" for f in bad)
    mg.stop()
