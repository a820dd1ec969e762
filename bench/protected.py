"""The `protected` profile of `make bench` (bench/README.md): MailGuard with every filter layer of
issue C on, answering DNS from a local DnsRig (tests/integ/dnsrig.py: NSD behind Unbound on
loopback), against the same load sent to a plain Postfix.

What runs for each message (the bench clients connect from 127.0.0.1, which is kept out of
mynetworks so that it is not trusted):
  connect    two connect-time DNS list lookups: 1.0.0.127.rbl.test (a block list, score 3.5,
             listing only 127.0.0.2) and 1.0.0.127.dnswl.test (an allow list, score -2, listing
             only 127.0.0.2): both are asked and both answer NXDOMAIN.
  MAIL FROM  SPF (libspf2 over MailGuard's resolver) for from@bench.test: "v=spf1 ip4:127.0.0.1
             -all" -> pass.
  end of DATA  lists (empty), DKIM verification of the message's rsa-sha256 signature
             (d=bench.test, 2048-bit key) -> pass; ARC verification of its one ARC set (i=1,
             d=relay.test, 2048-bit key: ARC-Seal and ARC-Message-Signature) -> pass; DMARC for
             From: bench.test ("v=DMARC1; p=reject", aligned through SPF and DKIM) -> pass, and
             its aggregate-report row is written to the filter's database; score SPF_PASS -0.5,
             DKIM_VALID -0.5, ARC_PASS -0.2, DMARC_PASS -1.0 = -2.2; greylisting: the domain's
             `greylist` threshold is -5, so every message reaches it and its triplet is looked up
             and refreshed in the greylist database (a read-modify-write transaction). The two
             triplets of the load (smtp-source's and the latency probe's) are pre-seeded before
             the warm-up: one attempt each is answered 451 4.7.1 (greylist_delay = 0s), the retry
             passes, and every later message finds a passed triplet and is delivered.
The load is smtp-source -F MESSAGE_FILE: one pre-signed message (DKIM + ARC headers, 2 KiB body)
sent over and over; the probe's messages are unsigned (DKIM none, ARC none; they still pass SPF
and DMARC).

The Unbound of the rig caches answers here (DnsRig's tests turn the cache off for the stub zones
so that zone updates show at once; a production resolver caches), so after the first message of
a TTL the DNS work is MailGuard's own client plus one loopback round trip to Unbound per query.
The rig's CPU is measured and reported separately; it is not MailGuard's.
"""

import os
import re
import smtplib
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "integ"))

SENDER = "from@bench.test"          # smtp-source -f (as every profile)
RCPT = "rcpt@example.test"          # smtp-source -t
PROBE_SENDER = "probe@bench.test"   # bench/probe.py
PROBE_RCPT = "probe@example.test"
DKIM_SELECTOR = "bench"
ARC_DOMAIN = "relay.test"
ARC_SELECTOR = "arc"
ARC_SRV_ID = "lists.relay.test"

# mailguard.conf and domains.d/example.test.conf lines of the profile (RESOLVER is filled in)
MG_CONF = [
    "mynetworks = 10.255.255.0/24",        # excludes 127.0.0.1: the bench clients are untrusted
    "resolvers = {resolver}",
    "rbl = rbl.test 3.5 127.0.0.2",
    "rbl = dnswl.test -2 127.0.0.2",
    "greylist_delay = 0s",
]
MG_DOMAIN_CONF = [
    "greylist = -5",                       # below every bench message's score: always consulted
    # Far above any score the learning layers can give the synthetic newsletter (train_state
    # trains them on 500 corpus messages only, and one NEURAL_SPAM_* alone is 7): every layer
    # still runs and scores, every message is still delivered.
    "spam_quarantine = 30",
    "spam_reject = 40",
]


def _run(cmd, **kw):
    r = subprocess.run(cmd, capture_output=True, timeout=60, **kw)
    if r.returncode != 0:
        raise RuntimeError(f"{cmd[0]} failed: {r.stderr.decode(errors='replace').strip()}")
    return r.stdout


def _rsa_key(path):
    """A 2048-bit RSA key (PKCS#1 PEM, as dkimpy wants it); returns (pem bytes, DNS p= value)."""
    _run(["openssl", "genrsa", "-traditional", "-out", str(path), "2048"])
    pem = path.read_bytes()
    der = _run(["openssl", "rsa", "-in", str(path), "-pubout", "-outform", "DER"])
    import base64
    return pem, base64.b64encode(der).decode()


def make_message(workdir, body_size=2048):
    """Writes workdir/message.txt (LF line ends: smtp-source -F appends CRLF to every line) with
    a DKIM signature of bench.test and one ARC set of relay.test; returns (path, zones) where
    zones are the DnsRig zones the profile needs (keys, SPF, DMARC, the two DNS lists)."""
    import dkim
    workdir.mkdir(parents=True, exist_ok=True)
    key, pub = _rsa_key(workdir / "dkim.pem")
    arc_key, arc_pub = _rsa_key(workdir / "arc.pem")
    date = time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime())
    head = (f"From: Bench Sender <{SENDER}>\r\nTo: <{RCPT}>\r\n"
        f"Subject: protected profile\r\nDate: {date}\r\n"
        f"Message-ID: <protected.{time.time_ns()}@bench.test>\r\nMIME-Version: 1.0\r\n"
        "Content-Type: multipart/alternative; boundary=\"=_bench_alt\"\r\n\r\n").encode()
    msg = head + content_body(body_size)
    sig = dkim.sign(msg, DKIM_SELECTOR.encode(), b"bench.test", key,
        canonicalize=(b"relaxed", b"relaxed"),
        include_headers=[b"from", b"to", b"subject", b"date", b"message-id", b"mime-version",
            b"content-type"])
    msg = sig + msg
    # The forwarder's view, then its ARC set (RFC 8617, i=1, cv=none).
    ar = (f"Authentication-Results: {ARC_SRV_ID}; dkim=pass header.d=bench.test "
        f"header.s={DKIM_SELECTOR}; spf=pass smtp.mailfrom=bench.test; "
        "dmarc=pass header.from=bench.test\r\n").encode()
    msg = ar + msg
    arc = dkim.arc_sign(msg, ARC_SELECTOR.encode(), ARC_DOMAIN.encode(), arc_key,
        ARC_SRV_ID.encode())
    if not arc:
        raise RuntimeError("dkimpy produced no ARC set")
    msg = b"".join(arc) + msg
    if not dkim.verify(msg, dnsfunc=_dnsfunc({f"{DKIM_SELECTOR}._domainkey.bench.test": pub,
            f"{ARC_SELECTOR}._domainkey.{ARC_DOMAIN}": arc_pub})):
        raise RuntimeError("the generated message does not verify (DKIM)")
    path = workdir / "message.txt"
    path.write_bytes(msg.replace(b"\r\n", b"\n"))
    zones = {
        "bench.test": [
            ("@", "TXT", "v=spf1 ip4:127.0.0.1 -all"),
            ("_dmarc", "TXT", "v=DMARC1; p=reject"),
            (f"{DKIM_SELECTOR}._domainkey", "TXT", f"v=DKIM1; k=rsa; p={pub}"),
        ],
        ARC_DOMAIN: [
            (f"{ARC_SELECTOR}._domainkey", "TXT", f"v=DKIM1; k=rsa; p={arc_pub}"),
        ],
        # Both lists answer for another address only: the lookups happen and miss.
        "rbl.test": [("2.0.0.127", "A", "127.0.0.2"), ("2.0.0.127", "TXT", "test entry")],
        "dnswl.test": [("2.0.0.127", "A", "127.0.0.2")],
    }
    return path, zones


def content_body(body_size):
    """A newsletter-like multipart/alternative body of about body_size octets, so that every
    content layer has work (issue D): a quoted-printable text/plain part and a text/html part
    with the same paragraphs, links to three hosts and an image (MIME parse, QP decoding, HTML
    to text, URL extraction and checks, Bayes tokens, neural features)."""
    words = ("the quarterly report shows steady growth in every region; our engineers shipped "
        "the new release on time and the support team answered most tickets within a day").split()
    paras, n = [], 0
    while sum(len(p) for p in paras) * 2 < body_size - 600:
        paras.append(" ".join(words[(n + i) % len(words)] for i in range(24)).capitalize() + ".")
        n += 7
    links = ["https://www.bench.test/news/2026/q4?utm_source=mail",
        "https://docs.example.org/release-notes/v3.2",
        "http://support.example.net/tickets/open"]
    plain = "\r\n\r\n".join(paras) + "\r\n\r\nRead more: " + links[0] + "\r\n"
    html = "<html><body><h1>Bench newsletter</h1>\r\n"
    for i, p in enumerate(paras):
        html += f"<p>{p} <a href=\"{links[i % len(links)]}\">more</a></p>\r\n"
    html += "<img src=\"https://www.bench.test/logo.png\" alt=\"logo\"></body></html>\r\n"
    qp = plain.replace("=", "=3D")
    return ("--=_bench_alt\r\nContent-Type: text/plain; charset=utf-8\r\n"
        "Content-Transfer-Encoding: quoted-printable\r\n\r\n" + qp +
        "\r\n--=_bench_alt\r\nContent-Type: text/html; charset=utf-8\r\n\r\n" + html +
        "\r\n--=_bench_alt--\r\n").encode()


def train_state(ctl, confdir, count=250, timeout=300):
    """Trains the learning layers of the MailGuard whose configuration is confdir with `count`
    spam and `count` ham of the SpamAssassin corpus (the first ones in name order; more than
    bayes_min_learned = 200, so Bayes scores), through mailguardctl train and train-neural, so
    that the Bayes and neural layers score every bench message as in production. Returns a
    description, or raises RuntimeError (no corpus, mailguardctl failed)."""
    import tempfile
    from corpora import corpora_dir
    corpus = corpora_dir() / "spam" / "spamassassin"
    tmp = Path(tempfile.mkdtemp(prefix="mg-bench-train-"))
    tmp.chmod(0o755)    # mailguardctl reads it after dropping to the daemon's user
    dirs = {}
    for label, sub in (("spam", "spam"), ("ham", "easy_ham")):
        src = corpus / sub
        if not src.is_dir():
            raise RuntimeError(f"corpus {src} missing ($MG_CORPORA or shared/corpora)")
        d = tmp / label
        d.mkdir(mode=0o755)
        for name in sorted(n for n in os.listdir(src) if not n.startswith(".") and n != "cmds")[:count]:
            os.symlink(src / name, d / name)
        dirs[label] = str(d)
    for args in (["train", "--spam", dirs["spam"]], ["train", "--ham", dirs["ham"]],
            ["train-neural", "--spam", dirs["spam"], "--ham", dirs["ham"]]):
        r = subprocess.run([str(ctl), "-c", str(confdir)] + args, capture_output=True,
            timeout=timeout)
        if r.returncode != 0:
            raise RuntimeError(f"mailguardctl {' '.join(args[:2])}: "
                f"{r.stderr.decode(errors='replace').strip()}")
    return f"Bayes and neural trained on {count} spam + {count} ham (SpamAssassin corpus)"


_CONTENT_CPU = re.compile(r"filter: content CPU: messages=(\d+) cpu_us=(\d+)")


def content_cpu(log_path, since=0):
    """The content layers' CPU per message inside the filter role (filter/content.c logs running
    totals every CONTENT_CPU_LOG_EVERY = 1000 messages: thread CPU of MIME parsing, structural,
    URL, attachment, Bayes and neural checks) between the first and the last such line after
    byte offset since. Returns (messages, ms per message) or None (fewer than two lines)."""
    first = last = None
    try:
        with open(log_path, "rb") as f:
            f.seek(since)
            for raw in f:
                m = _CONTENT_CPU.search(raw.decode(errors="replace"))
                if m:
                    v = (int(m.group(1)), int(m.group(2)))
                    first = first or v
                    last = v
    except OSError:
        return None
    if first is None or last is None or last[0] <= first[0]:
        return None
    n = last[0] - first[0]
    return n, (last[1] - first[1]) / 1000.0 / n


def _dnsfunc(keys):
    def f(name, timeout=5):
        n = name.decode() if isinstance(name, bytes) else name
        v = keys.get(n.rstrip("."))
        return f"v=DKIM1; k=rsa; p={v}".encode() if v else None
    return f


def start_rig(zones, directory):
    """The DnsRig with Unbound caching the stub zones (see the module doc). Returns the rig."""
    import dnsrig

    class CachingRig(dnsrig.DnsRig):
        def _unbound_conf(self, port):
            conf = super()._unbound_conf(port)
            if "stub-no-cache: yes" not in conf:
                raise RuntimeError("DnsRig's Unbound configuration changed: no stub-no-cache")
            return conf.replace("stub-no-cache: yes", "stub-no-cache: no")

    directory.mkdir(parents=True, exist_ok=True)
    return CachingRig(zones, directory=directory)


def rig_pids(rig):
    """PIDs of the rig's daemons (NSD forks helpers into its session)."""
    import mgtest
    pids = []
    for d in (rig._nsd, rig._unbound):
        if d is not None and d.proc is not None:
            pids += list(mgtest.live_processes(pgid=d.proc.pid))
    return pids


def seed_greylist(port, timeout=30):
    """Pre-seeds the greylist for the load's two triplets: the first attempt must be answered
    451 (greylisted: proves the layer runs), the retry 250. Returns a list of what happened."""
    out = []
    for sender, rcpt in ((SENDER, RCPT), (PROBE_SENDER, PROBE_RCPT)):
        msg = (f"From: <{sender}>\r\nTo: <{rcpt}>\r\nSubject: greylist seed\r\n"
            f"Message-ID: <seed.{time.time_ns()}@bench.test>\r\n\r\nseed\r\n")
        codes = []
        for attempt in range(2):
            with smtplib.SMTP("127.0.0.1", port, local_hostname="seed.bench.test",
                    timeout=timeout) as s:
                try:
                    s.sendmail(sender, [rcpt], msg)
                    codes.append(250)
                except smtplib.SMTPDataError as e:
                    codes.append(e.smtp_code)
                    if e.smtp_code != 451:
                        raise RuntimeError(f"greylist seed {sender} -> {rcpt}: attempt "
                            f"{attempt + 1} got {e.smtp_code} {e.smtp_error!r}") from None
        if codes != [451, 250]:
            raise RuntimeError(f"greylist seed {sender} -> {rcpt}: got {codes}, want 451 "
                "then 250 (is the greylist threshold reached?)")
        out.append(f"{sender} -> {rcpt}: {codes[0]} then {codes[1]}")
    return out


_VERDICT = re.compile(r" filter action=(\w+) score=(\S+) symbols=(.*?) elapsed_ms=(\d+)"
    r"(?: detail=(.*))?$")


def verdict_summary(log_path, since=0):
    """Counts of (action, score, symbols, detail) over the filter's verdict lines of the log from
    byte offset since; also the elapsed_ms values. Returns (Counter, [elapsed_ms])."""
    counts, elapsed = Counter(), []
    try:
        with open(log_path, "rb") as f:
            f.seek(since)
            for raw in f:
                m = _VERDICT.search(raw.decode(errors="replace").rstrip("\n"))
                if m:
                    counts[(m.group(1), m.group(2), m.group(3), m.group(5) or "")] += 1
                    elapsed.append(int(m.group(4)))
    except OSError:
        pass
    return counts, elapsed


def role_of(pid):
    """MailGuard role of a process from its command line ("-x ROLE"), "supervisor" for the
    mailguard process without -x, None for anything else."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            argv = f.read().split(b"\0")
    except OSError:
        return None
    if not argv or not argv[0].endswith(b"mailguard"):
        return None
    for i, a in enumerate(argv[:-1]):
        if a == b"-x":
            return argv[i + 1].decode(errors="replace")
    return "supervisor"


def proc_cpu(pid):
    """utime+stime+cutime+cstime of pid in seconds, or None if gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            r = f.read().rsplit(b")", 1)[1].split()
    except OSError:
        return None
    return sum(int(x) for x in r[11:15]) / os.sysconf("SC_CLK_TCK")
