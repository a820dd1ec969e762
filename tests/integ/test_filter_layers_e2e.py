"""Disabled layers are really skipped (issue C, DESIGN.md §4 `disable_layers`), through the real
daemon over the DNS rig. Each test runs one MailGuard with two protected domains of equal
thresholds: off.test disables one layer, on.test (the control) does not. The same message from
the same client goes to each in its own transaction; the control must show the layer's symbol
(so the test cannot pass by accident) and off.test must show none of it, neither in
X-MailGuard-Symbols nor in Authentication-Results.

* rbl: the RBL query runs at connect, before recipients are known; its result must not count.
* spf, dkim (ARC rides with it), dmarc: no symbol and no A-R method for the layer.
* greylist: with a threshold every message reaches, the control gets 451 4.7.1 and off.test 250.
* global_disable_layers (the global switch): a layer off globally is off for every domain, a
  domain's own disable_layers adds to it; unsetting the switch (config unset + reload) brings the
  layer back, so the first half cannot pass by accident.
"""

import base64
import re
import subprocess

import mgtest
from dnsrig import DnsRig
from mgtest import MailGuard, Sink
from test_filter_e2e import LISTED_IP, text, transaction

PREFIX = {"rbl": "RBL_", "spf": "SPF_", "dkim": "DKIM_", "dmarc": "DMARC_"}
AR_METHOD = {"spf": "spf=", "dkim": "dkim=", "dmarc": "dmarc="}


def rsa_key(work):
    path = work / "rsa.pem"
    subprocess.run(["openssl", "genrsa", "-traditional", "-out", str(path), "2048"], check=True,
        capture_output=True, timeout=60)
    der = subprocess.run(["openssl", "rsa", "-in", str(path), "-pubout", "-outform", "DER"],
        check=True, capture_output=True, timeout=60).stdout
    return path.read_bytes(), base64.b64encode(der).decode()


def start(layer, thresholds=None, global_off=None):
    work = mgtest.tmpdir("layers")
    priv, pub = rsa_key(work)
    rig = DnsRig({
        "sender.test": [
            ("@", "TXT", "v=spf1 ip4:192.0.2.0/24 -all"),
            ("_dmarc", "TXT", "v=DMARC1; p=none"),
            ("sel._domainkey", "TXT", f"v=DKIM1; k=rsa; p={pub}"),
        ],
        "rbl.test": [("10.2.0.192", "A", "127.0.0.2")],
    })
    sink = Sink()
    th = thresholds or {"spam_reject": 50, "spam_quarantine": 40, "greylist": 30}
    doms = {
        "off.test": dict({"transport": sink.transport, "disable_layers": layer}, **th),
        "on.test": dict({"transport": sink.transport}, **th),
    }
    cfg = {
        "resolvers": rig.resolver,
        "mynetworks": "203.0.113.0/24",
        "xclient_networks": "127.0.0.0/8",
        "filter_threads": 2,
        "dns_timeout_ms": 1000,
        "rbl": "rbl.test 3.5",
        "greylist_delay": "0s",
    }
    if global_off:
        cfg["global_disable_layers"] = global_off
    mg = MailGuard(config=cfg, domains=doms).start()
    return mg, sink, priv, rig


def signed(priv, to):
    import dkim
    msg = (f"From: Alice <alice@sender.test>\r\nTo: user@{to}\r\nSubject: layers\r\n"
        f"Message-ID: <layers.{to}@sender.test>\r\n\r\nHello.\r\n").encode()
    return (dkim.sign(msg, b"sel", b"sender.test", priv) + msg).decode()


def send(mg, sink, priv, domain, n):
    """Delivers the signed message to user@domain; returns (symbols, A-R) of the delivery."""
    _, final = transaction(mg, LISTED_IP, rcpts=(f"user@{domain}",), body=signed(priv, domain))
    assert final.code == 250, f"{domain}: got {final.code} {text(final)}, want 250"
    msgs = sink.wait_count(n, timeout=30)
    m = [m for m in msgs if m.rcpt_tos == [f"user@{domain}"]][-1]
    return str(m.header("X-MailGuard-Symbols")), str(m.header("Authentication-Results"))


def check_layer(layer):
    mg, sink, priv, _ = start(layer)
    sym_on, ar_on = send(mg, sink, priv, "on.test", 1)
    sym_off, ar_off = send(mg, sink, priv, "off.test", 2)
    print(f"on.test:  {sym_on}\n          {ar_on}\noff.test: {sym_off}\n          {ar_off}")
    assert PREFIX[layer] in sym_on, f"control lacks {PREFIX[layer]}: {sym_on!r}"
    assert PREFIX[layer] not in sym_off, f"{layer} disabled but scored: {sym_off!r}"
    if layer in AR_METHOD:
        assert AR_METHOD[layer] in ar_on, f"control A-R lacks {AR_METHOD[layer]}: {ar_on!r}"
        assert AR_METHOD[layer] not in ar_off, f"{layer} disabled but in A-R: {ar_off!r}"
    if layer == "dkim":
        assert not re.search(r"\bARC_", sym_off) and "; arc=" not in ar_off, f"ARC ran: {sym_off!r} {ar_off!r}"
    # the other layers still work for the domain that disables one
    for other, prefix in PREFIX.items():
        if other != layer:
            assert prefix in sym_off, f"{other} missing for off.test: {sym_off!r}"


def test_disable_rbl():
    check_layer("rbl")


def test_disable_spf():
    check_layer("spf")


def test_disable_dkim():
    check_layer("dkim")


def test_disable_dmarc():
    check_layer("dmarc")


def test_disable_greylist():
    # greylist threshold below any score: the control is greylisted, off.test is not
    mg, sink, priv, _ = start("greylist", {"spam_reject": 50, "spam_quarantine": 40, "greylist": -20})
    _, final = transaction(mg, LISTED_IP, rcpts=("user@on.test",), body=signed(priv, "on.test"))
    assert final.code == 451 and "4.7.1" in text(final), f"control: got {final.code} {text(final)}"
    _, final = transaction(mg, LISTED_IP, rcpts=("user@off.test",), body=signed(priv, "off.test"))
    assert final.code == 250, f"off.test: got {final.code} {text(final)}, want 250 (not greylisted)"
    [m] = sink.wait_count(1, timeout=30)
    assert m.rcpt_tos == ["user@off.test"], f"got {m.rcpt_tos}"
    mg.wait_log(r"filter action=greylist .*greylist=new")


def check_symbols(domain, sym, ar, off, on):
    for layer in off:
        assert PREFIX[layer] not in sym, f"{domain}: {layer} is off but scored: {sym!r}"
        if layer in AR_METHOD:
            assert AR_METHOD[layer] not in ar, f"{domain}: {layer} is off but in A-R: {ar!r}"
    for layer in on:
        assert PREFIX[layer] in sym, f"{domain}: {layer} is on but missing: {sym!r}"


def test_global_switch():
    # global rbl + spf off; off.test adds dkim of its own; on.test only has the global ones
    mg, sink, priv, _ = start("dkim", global_off="rbl spf")
    sym, ar = send(mg, sink, priv, "on.test", 1)
    print(f"global rbl spf, on.test:  {sym}\n  {ar}")
    check_symbols("on.test", sym, ar, off=("rbl", "spf"), on=("dkim", "dmarc"))
    sym, ar = send(mg, sink, priv, "off.test", 2)
    print(f"global rbl spf, off.test: {sym}\n  {ar}")
    check_symbols("off.test", sym, ar, off=("rbl", "spf", "dkim"), on=("dmarc",))
    mark = mg.log_mark()
    mg.ctl("config", "unset", "mailguard.conf", "global_disable_layers")
    mg.wait_log(r"mailguard/filter\[\d+\]: info: configuration reloaded", since=mark)
    sym, ar = send(mg, sink, priv, "on.test", 3)
    print(f"no global switch, on.test:  {sym}\n  {ar}")
    check_symbols("on.test", sym, ar, off=(), on=("rbl", "spf", "dkim", "dmarc"))
    sym, ar = send(mg, sink, priv, "off.test", 4)
    print(f"no global switch, off.test: {sym}\n  {ar}")
    check_symbols("off.test", sym, ar, off=("dkim",), on=("rbl", "spf", "dmarc"))
