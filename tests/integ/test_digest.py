"""Quarantine digests (issue G) through the real daemon: messages quarantined for users of two
protected domains (scores as in test_quarantine.py: no DKIM signature = 7, quarantined at 6),
then `mailguardctl quarantine digest-now`; the digests reach a python3-aiosmtpd back-end sink,
are parsed with Python's email package and checked: null reverse path, From = the domain's
digest_from (else digest_from_default, else postmaster@domain, after a reload), To, Subject with
brand and count, multipart/related > multipart/alternative text/plain + text/html with the logo
as an inline image its HTML references by Content-ID, brand name and colour, every quarantined
message listed (sender, subject escaped, score), Release/Delete/Always-allow links per message
and one "show all" link, all under public_url and accepted by qtoken_parse (tests/tools/
qtoken-mint -p) with the right action, queue id, recipient and expiry; a tampered token is
refused. A second run sends nothing; a new message makes a digest listing only it. Without
public_url the links use https://hostname:<admin port>. The scheduled path: digest_interval =
1m sends a digest without any command."""

import re
import struct
import subprocess
import time
import zlib

import mgtest
from mgtest import wait_for
from test_quarantine import QMailGuard, POLICY, quarantined, send
from test_queue_lib import TrackingSink

PUBLIC = "https://quarantine.example.test:9443"
BRAND = "Acme Shield"
COLOR = "#aa3300"
LIFETIME = 2 * 86400


def tiny_png():
    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data +
            struct.pack(">I", zlib.crc32(kind + data) & 0xffffffff))
    ihdr = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) +
        chunk(b"IDAT", zlib.compress(b"\x00\xaa\x33\x00")) + chunk(b"IEND", b""))


def setup(config=None, domains=None):
    sink = TrackingSink()
    cfg = {"mynetworks": "203.0.113.0/24", "resolvers": "127.0.0.1:9", "dns_timeout_ms": 300,
        "test_mode": True, "retry_min": "1h", "retry_max": "2h", "brand_name": BRAND,
        "brand_color": COLOR, "public_url": PUBLIC, "digest_link_lifetime": "2d",
        "digest_from_default": "digests@mx.test.local"}
    cfg.update(config or {})
    dom = dict(POLICY, transport=sink.transport)
    doms = {"example.test": dict(dom, digest_from="quarantine@example.test"),
        "other.test": dict(dom)}
    doms.update(domains or {})
    mg = QMailGuard(config=cfg, domains=doms)
    logo = mg.dir / "logo.png"
    logo.write_bytes(tiny_png())
    mg.configure({"brand_logo": str(logo)})
    mg.start()
    return mg, sink


def digests(sink):
    """The digests the sink received (null reverse path, which aiosmtpd records as "<>", and a
    digest Subject), oldest first."""
    return [m for m in sink.messages
        if m.mail_from == "<>" and "in your quarantine" in (m.header("Subject") or "")]


def digest_now(mg, want):
    out = mg.ctl("quarantine", "digest-now").stdout
    assert re.search(rf"digests: {want} queued", out), f"got {out!r}, want {want} queued"
    return out


def parts(msg):
    """{content type: part} of the leaves, plus the container types seen."""
    leaves, containers = {}, []
    for p in msg.walk():
        if p.is_multipart():
            containers.append(p.get_content_type())
        else:
            leaves[p.get_content_type()] = p
    return leaves, containers


def token_info(mg, token):
    """qtoken-mint -p: (action, qid, rcpt, expires) or None when the token is refused."""
    tool = mgtest.build_dir() / "tests" / "tools" / "qtoken-mint"
    r = subprocess.run([str(tool), "-p", str(mg.state_dir), token], capture_output=True,
        text=True, timeout=30)
    if r.returncode != 0:
        return None
    f = r.stdout.split()
    return f[0], f[1], f[2], int(f[3])


def check_digest(mg, m, rcpt, sender, want, base=PUBLIC):
    """Checks one received digest; want = {qid: (sender, subject)}. Returns its tokens."""
    msg = m.message()
    assert m.rcpt_tos == [rcpt], m.rcpt_tos
    assert msg["From"].addresses[0].addr_spec == sender, f"From {msg['From']}, want {sender}"
    assert msg["From"].addresses[0].display_name == BRAND, msg["From"]
    assert msg["To"].addresses[0].addr_spec == rcpt, msg["To"]
    n = len(want)
    assert msg["Subject"] == f"{BRAND}: {n} new message{'s' if n != 1 else ''} in your " \
        "quarantine", msg["Subject"]
    assert msg["Auto-Submitted"] == "auto-generated", msg["Auto-Submitted"]
    leaves, containers = parts(msg)
    assert containers == ["multipart/related", "multipart/alternative"], containers
    text = leaves["text/plain"].get_content()
    html = leaves["text/html"].get_content()
    logo = leaves["image/png"]
    assert logo.get_content() == tiny_png(), "logo altered"
    cid = logo["Content-ID"].strip("<>")
    assert f'src="cid:{cid}"' in html, "the HTML does not show the inline logo"
    assert BRAND in html and BRAND in text, "brand name missing"
    assert f"background:{COLOR}" in html, "brand colour missing"
    for qid, (snd, subj) in want.items():
        assert snd in text and subj in text, f"{qid} not listed in the text part"
        esc = subj.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        assert esc in html, f"{qid}: subject {esc!r} not in the HTML"
    assert "<script>" not in html, "unescaped peer text in the HTML"
    links = re.findall(r"https?://[^\s\"<>]+/q/[A-Za-z0-9_.-]+", text)
    hlinks = re.findall(r'href="([^"]+)"', html)
    assert sorted(links) == sorted(hlinks), "text and HTML links differ"
    assert len(links) == 3 * n + 1, f"{len(links)} links for {n} message(s)"
    toks, seen = [], {}
    now = time.time()
    for url in links:
        assert url.startswith(base + "/q/"), f"link {url} not under {base}"
        tok = url[len(base) + 3:]
        info = token_info(mg, tok)
        assert info is not None, f"token refused: {tok}"
        action, qid, trcpt, exp = info
        assert trcpt == rcpt, info
        assert abs(exp - (now + LIFETIME)) < 120, f"expiry {exp}, want about now + 2d"
        seen.setdefault(qid, set()).add(action)
        toks.append(tok)
    assert seen.pop("-") == {"list"}, "no show-all link"
    assert seen == {q: {"release", "delete", "allow"} for q in want}, seen
    return toks


def test_digests_two_domains():
    mg, sink = setup()
    a = quarantined(mg, send(mg, "spammer@bad.test", ["user@example.test"], "Cheap watches"))
    b = quarantined(mg, send(mg, "carol@spam.test", ["bob@other.test"], "<script>x</script>"))
    time.sleep(1.1)     # arrival times have whole seconds: c must be newer than a
    c = quarantined(mg, send(mg, "dave@evil.test", ["user@example.test", "bob@other.test"],
        "Prize & <b>win</b>"))

    mark = mg.log_mark()
    digest_now(mg, 2)
    wait_for(lambda: len(digests(sink)) == 2, 20, "two digests at the sink")
    by = {d.rcpt_tos[0]: d for d in digests(sink)}
    check_digest(mg, by["user@example.test"], "user@example.test", "quarantine@example.test",
        {a.qid: ("spammer@bad.test", "Cheap watches"),
         c.qid: ("dave@evil.test", "Prize & <b>win</b>")})
    toks = check_digest(mg, by["bob@other.test"], "bob@other.test", "digests@mx.test.local",
        {b.qid: ("carol@spam.test", "<script>x</script>"),
         c.qid: ("dave@evil.test", "Prize & <b>win</b>")})
    mg.wait_log(r"digest: run done: 2 digest\(s\) queued", since=mark)
    assert len(re.findall(r" digest to=<[^>]+> from=<[^>]+> listed=2 new=2 size=\d+",
        mg.log_text(mark))) == 2, mg.log_tail()
    # newest first in the list
    text = parts(by["user@example.test"].message())[0]["text/plain"].get_content()
    assert text.index("Prize &") < text.index("Cheap watches"), "not newest first"

    # a tampered token is refused
    t = toks[0]
    i = len(t) // 3
    bad = t[:i] + ("A" if t[i] != "A" else "B") + t[i + 1:]
    assert token_info(mg, bad) is None, "tampered token accepted"
    assert token_info(mg, t[:-1]) is None, "truncated token accepted"

    # nothing new: no digest
    mark = mg.log_mark()
    digest_now(mg, 0)
    mg.assert_no_log(r" digest to=<", since=mark)
    assert len(digests(sink)) == 2

    # one new message: a digest with only it; the quarantine itself still holds three
    d = quarantined(mg, send(mg, "eve@spam.test", ["user@example.test"], "Third one"))
    digest_now(mg, 1)
    wait_for(lambda: len(digests(sink)) == 3, 20, "the third digest")
    check_digest(mg, digests(sink)[2], "user@example.test", "quarantine@example.test",
        {d.qid: ("eve@spam.test", "Third one")})

    # without digest_from_default: postmaster@ the recipient's domain
    mg.configure({"digest_from_default": None})
    mg.reload()
    e = quarantined(mg, send(mg, "frank@spam.test", ["bob@other.test"], "Fourth"))
    digest_now(mg, 1)
    wait_for(lambda: len(digests(sink)) == 4, 20, "the fourth digest")
    check_digest(mg, digests(sink)[3], "bob@other.test", "postmaster@other.test",
        {e.qid: ("frank@spam.test", "Fourth")})
    # the key file is private
    assert (mg.state_dir / "qtoken-keys").stat().st_mode & 0o777 == 0o600
    mg.stop()


def test_digest_default_url_and_restart():
    """No public_url: links use https://hostname:<admin port>. The per-recipient state survives
    a restart (no digest re-sent)."""
    mg, sink = setup(config={"public_url": None})
    a = quarantined(mg, send(mg, "spammer@bad.test", ["user@example.test"], "Hello"))
    digest_now(mg, 1)
    wait_for(lambda: len(digests(sink)) == 1, 20, "the digest")
    check_digest(mg, digests(sink)[0], "user@example.test", "quarantine@example.test",
        {a.qid: ("spammer@bad.test", "Hello")}, base=f"https://mx.test.local:{mg.admin_port}")
    mg.restart()
    digest_now(mg, 0)
    mg.stop()


@mgtest.timeout(150)
def test_digest_scheduled():
    """digest_interval = 1m: the timer sends the digest, no command involved."""
    mg, sink = setup(config={"digest_interval": "1m"})
    a = quarantined(mg, send(mg, "spammer@bad.test", ["bob@other.test"], "Scheduled"))
    wait_for(lambda: len(digests(sink)) == 1, 75, "the scheduled digest")
    check_digest(mg, digests(sink)[0], "bob@other.test", "digests@mx.test.local",
        {a.qid: ("spammer@bad.test", "Scheduled")})
    mg.wait_log(r"digest: run done: 1 digest\(s\) queued", timeout=10)
    mg.stop()
