"""tlsrig: helpers for the outbound TLS tests (tls_policy, DANE, MTA-STS, source addresses).

    port = shared_port(["127.0.0.5", "127.0.0.6"])   # one TCP port free on all those addresses
    sink = Sink(host="127.0.0.5", port=port, tls=True)
    broken_tls(sink)                                  # STARTTLS offered, every handshake fails
    ca = mgtest.make_ca(); cert = mgtest.make_cert(cn="mx.dest.test", ca=ca)
    tlsa_rdata(cert.cert, usage=3, selector=1, mtype=1)   # "3 1 1 <hex>" for a DnsRig TLSA row
    https = HttpsServer("127.0.0.9", port, cert, {"/.well-known/mta-sts.txt": (200, "text/plain", b"...")})
    send(mg, sender, rcpt)                            # one message through MailGuard's SMTP port

Outbound mail goes to outbound_port on every MX address, so each receiver of a test listens on
its own 127.0.0.x address with one shared port. Everything binds loopback only and is stopped by
the mgtest cleanup registry.
"""

import hashlib
import http.server
import random
import socket
import ssl
import subprocess
import threading

import mgtest

expect = mgtest.expect_reply


def shared_port(hosts, tries=200):
    """A TCP port that is free on every address in hosts (IPv4 or IPv6 literals)."""
    for _ in range(tries):
        port = random.randint(20000, 60000)
        socks = []
        try:
            for h in hosts:
                s = socket.socket(socket.AF_INET6 if ":" in h else socket.AF_INET)
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                s.bind((h, port))
                socks.append(s)
            return port
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError(f"no port free on all of {hosts}")


def broken_tls(sink):
    """Makes sink offer STARTTLS but fail every handshake: its TLS context allows only TLS 1.0,
    below MailGuard's minimum of TLS 1.2. Plaintext sessions still work."""
    ctx = sink.tls_context
    ctx.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
    ctx.maximum_version = ssl.TLSVersion.TLSv1
    return sink


def _der(cert_path, selector):
    pem = open(cert_path, "rb").read()
    if selector == 0:
        return ssl.PEM_cert_to_DER_cert(pem.decode())
    out = subprocess.run(["openssl", "x509", "-in", str(cert_path), "-noout", "-pubkey"],
                         capture_output=True, check=True, timeout=30).stdout
    return subprocess.run(["openssl", "pkey", "-pubin", "-outform", "DER"], input=out,
                          capture_output=True, check=True, timeout=30).stdout


def tlsa_rdata(cert_path, usage=3, selector=1, mtype=1):
    """TLSA rdata text (RFC 6698 §2.1) for a PEM certificate: "U S M hex"."""
    data = _der(cert_path, selector)
    if mtype == 1:
        h = hashlib.sha256(data).hexdigest()
    elif mtype == 2:
        h = hashlib.sha512(data).hexdigest()
    else:
        h = data.hex()
    return f"{usage} {selector} {mtype} {h}"


def send(mg, sender, rcpt, subject=None):
    """Submits one message from a trusted client (127.0.0.1 is in mynetworks)."""
    c = mgtest.RawClient(mg.port)
    c.banner()
    c.expect(250, "EHLO client.test")
    expect(c, 250, f"MAIL FROM:<{sender}>", "2.1.0")
    expect(c, 250, f"RCPT TO:<{rcpt}>", "2.1.5")
    c.expect(354, "DATA")
    c.send(mgtest.make_message(sender, [rcpt], subject=subject) + b".\r\n")
    c.expect(250)
    c.expect(221, "QUIT")


class HttpsServer:
    """A loopback HTTPS server (http.server + ssl) in a thread serving fixed answers:
    routes {path: (status, content_type, body_bytes)}; anything else is 404. .requests counts
    requests per path."""

    def __init__(self, host, port, cert, routes):
        self.routes = dict(routes)
        self.requests = {}
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                outer.requests[self.path] = outer.requests.get(self.path, 0) + 1
                status, ctype, body = outer.routes.get(self.path, (404, "text/plain", b"no"))
                self.send_response(status)
                if status in (301, 302):
                    self.send_header("Location", body.decode())
                    body = b""
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        class Server(http.server.ThreadingHTTPServer):
            address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
            allow_reuse_address = True
            daemon_threads = True

        self.httpd = Server((host, port), Handler)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(str(cert.cert), str(cert.key))
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        mgtest.add_cleanup(self.stop, f"https {host}:{port}")

    def stop(self):
        if self.httpd is not None:
            self.httpd.shutdown()
            self.httpd.server_close()
            self.httpd = None
