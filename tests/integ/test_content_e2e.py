"""The structural content layer (filter/content.c over common/mime*.c) end to end through the
real daemon: smtpd hands the stored message to the filter role, which maps it, parses it once
and adds the MIME_*, HTML_*, DATE_* and MSGID_* symbols to X-MailGuard-Symbols. Real messages
from the shared SpamAssassin corpus (read in place, sent only over loopback):
* an HTML-only spam with white-on-white text (7bit) -> MIME_HTML_ONLY, HTML_HIDDEN_TEXT;
* an HTML-only spam whose HTML is base64 -> the hidden text is still found (HTML_HIDDEN_TEXT);
* an HTML-only spam whose HTML is quoted-printable -> HTML_HIDDEN_TEXT;
* the quoted-printable spam forwarded as a message/rfc822 attachment beside a text part ->
  HTML_HIDDEN_TEXT from the nested message, no MIME_HTML_ONLY (the outer has a text part);
* a ham message from easy_ham -> none of the structural symbols with a positive score;
* a hand-made message with a broken Date, a malformed Message-ID and a multipart without its
  boundary -> DATE_INVALID, MSGID_INVALID, MIME_BAD_BOUNDARY;
* the same hidden-text spam to a domain with disable_layers = mime -> no structural symbol.
SPF, DKIM, DMARC, RBL, URIBL and greylisting are disabled (no DNS needed); thresholds are high
so every message is delivered and its header can be read at the sink."""

import email.utils

from corpora import corpora_dir
from mgtest import MailGuard, Sink

DOMAIN = "example.test"
QUIET = "quiet.test"
SA = corpora_dir() / "spam/spamassassin"
HIDDEN_7BIT = SA / "spam_2/01390.271af498812d2f73c8c198fd4fda905e"
HIDDEN_B64 = SA / "spam/00023.b6d27c684f5fc803cfa1060adb2d0805"
HIDDEN_QP = SA / "spam_2/01299.0eab794ad20a8b32dfa3d6e3fedc1b31"
HAM = SA / "easy_ham/00001.7c53336b37003a9286aba55d2945844c"

STRUCTURAL = ("MIME_", "HTML_", "DATE_", "MSGID_")


def setup():
    sink = Sink()
    common = {"transport": sink.transport, "greylist": 500, "spam_quarantine": 600,
              "spam_reject": 700, "disable_layers": "spf dkim dmarc rbl uribl greylist"}
    doms = {DOMAIN: dict(common),
            QUIET: dict(common, disable_layers="spf dkim dmarc rbl uribl greylist mime")}
    cfg = {"mynetworks": "203.0.113.0/24", "filter_threads": 2}
    return MailGuard(config=cfg, domains=doms).start(), sink


def corpus_message(path, subject):
    """The corpus message as bytes (8-bit octets kept) with CRLF line ends, its Subject
    replaced by a unique one, no mbox separator line (smtplib dot-stuffs)."""
    raw = path.read_bytes().replace(b"\r\n", b"\n")
    if raw.startswith(b"From "):
        raw = raw.split(b"\n", 1)[1]
    head, sep, body = raw.partition(b"\n\n")
    lines = [ln for ln in head.split(b"\n") if not ln.lower().startswith(b"subject:")]
    lines.append(b"Subject: " + subject.encode())
    return (b"\n".join(lines) + sep + body).replace(b"\n", b"\r\n")


def forwarded(inner, subject):
    """inner (a whole message, bytes) as a message/rfc822 attachment of a new message."""
    return (f"From: Fwd <fwd@sender.test>\r\nTo: user@{DOMAIN}\r\nSubject: {subject}\r\n"
            f"Date: {email.utils.formatdate()}\r\nMessage-ID: <fwd.1@sender.test>\r\n"
            "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"FWD\"\r\n\r\n"
            "--FWD\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n"
            "Look at what I got.\r\n--FWD\r\nContent-Type: message/rfc822\r\n"
            "Content-Disposition: attachment; filename=\"spam.eml\"\r\n\r\n").encode() + \
        inner + b"\r\n--FWD--\r\n"


def anomalies(subject):
    return (f"From: Odd <odd@sender.test>\r\nTo: user@{DOMAIN}\r\nSubject: {subject}\r\n"
            "Date: the day after tomorrow\r\nMessage-ID: not-an-id\r\nMIME-Version: 1.0\r\n"
            "Content-Type: multipart/alternative\r\n\r\nno boundary parameter at all\r\n")


def symbols(sink, subject, count):
    for m in sink.wait_count(count, timeout=30):
        if str(m.header("Subject")) == subject:
            return str(m.header("X-MailGuard-Symbols"))
    raise AssertionError(f"no delivered message with subject {subject!r}")


def names(sym):
    """{NAME: score} of an X-MailGuard-Symbols value."""
    out = {}
    for item in sym.split(", "):
        if "(" in item:
            n, v = item.rstrip(")").split("(")
            out[n] = float(v)
    return out


def test_structural_symbols_e2e():
    mg, sink = setup()
    qp = corpus_message(HIDDEN_QP, "nested inner")
    cases = [
        ("html 7bit", corpus_message(HIDDEN_7BIT, "html 7bit"),
         ["MIME_HTML_ONLY", "HTML_HIDDEN_TEXT"], []),
        ("html base64", corpus_message(HIDDEN_B64, "html base64"),
         ["MIME_HTML_ONLY", "HTML_HIDDEN_TEXT"], []),
        ("html qp", corpus_message(HIDDEN_QP, "html qp"),
         ["MIME_HTML_ONLY", "HTML_HIDDEN_TEXT"], []),
        ("forwarded", forwarded(qp, "forwarded"), ["HTML_HIDDEN_TEXT"], ["MIME_HTML_ONLY"]),
        ("anomalies", anomalies("anomalies"),
         ["DATE_INVALID", "MSGID_INVALID", "MIME_BAD_BOUNDARY"], ["DATE_MISSING"]),
    ]
    for n, (subject, data, _, _) in enumerate(cases, 1):
        mg.send("alice@sender.test", f"user@{DOMAIN}", data)
        sink.wait_count(n, timeout=30)
    ham = corpus_message(HAM, "ham")
    mg.send("alice@sender.test", f"user@{DOMAIN}", ham)
    for subject, _, want, unwanted in cases:
        got = names(symbols(sink, subject, len(cases) + 1))
        for w in want:
            assert w in got, f"{subject}: got {sorted(got)}, want {w}"
        for u in unwanted:
            assert u not in got, f"{subject}: got {sorted(got)}, want no {u}"
    got = names(symbols(sink, "ham", len(cases) + 1))
    bad = [n for n, v in got.items() if n.startswith(STRUCTURAL) and v > 0]
    assert not bad, f"ham: got {got}, want no positive structural symbol"
    mg.wait_log(r"filter action=deliver score=[-0-9.]+ symbols=.*HTML_HIDDEN_TEXT")


def test_disable_mime_layer():
    mg, sink = setup()
    data = corpus_message(HIDDEN_7BIT, "quiet")
    mg.send("alice@sender.test", f"user@{QUIET}", data)
    mg.send("alice@sender.test", f"user@{DOMAIN}", data.replace(b"Subject: quiet",
                                                               b"Subject: loud"))
    quiet = names(symbols(sink, "quiet", 2))
    loud = names(symbols(sink, "loud", 2))
    assert not [n for n in quiet if n.startswith(STRUCTURAL)], \
        f"disable_layers = mime: got {sorted(quiet)}, want no structural symbol"
    assert "HTML_HIDDEN_TEXT" in loud, f"got {sorted(loud)}, want HTML_HIDDEN_TEXT"
