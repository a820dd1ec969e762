"""The learning layers (issue D: Bayes and neural) through the real daemon.

mailguardctl trains the running daemon's state directly (train -> the Bayes token store in
state_dir/db, train-neural -> state_dir/neural.weights); the filter's learning thread picks
both up (logged), and then a held-out corpus spam gets BAYES_SPAM_* and NEURAL_SPAM_* while a
held-out corpus ham gets BAYES_HAM_* and NEURAL_HAM_*; a domain with `disable_layers = bayes,
neural` gets neither for the same message. Training uses the first TRAIN_N messages (name
order) of the SpamAssassin spam/ and easy_ham/ folders; the held-out messages are the first
later ones whose lines fit SMTP's 998-octet limit, so training and test never overlap.
"""

import os
import re

import mgtest
from corpora import corpora_dir
from dnsrig import DnsRig
from mgtest import MailGuard, RawClient, Sink

CORPUS = str(corpora_dir() / "spam" / "spamassassin")
TRAIN_N = 60
CLIENT_IP = "192.0.2.10"
TIMEOUT = 240


def corpus_files(sub):
    d = os.path.join(CORPUS, sub)
    if not os.path.isdir(d):
        raise AssertionError(f"corpus {d} missing ($MG_CORPORA or shared/corpora)")
    return [os.path.join(d, n) for n in sorted(os.listdir(d)) if not n.startswith(".")]


def smtp_body(path):
    """The message as SMTP DATA (CRLF, dot-stuffed), or None if a line is too long."""
    raw = open(path, "rb").read()
    if raw.startswith(b"From "):
        raw = raw.split(b"\n", 1)[1]
    lines = raw.replace(b"\r\n", b"\n").split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    if any(len(l) > 990 for l in lines):
        return None
    return b"".join((b"." + l if l.startswith(b".") else l) + b"\r\n" for l in lines)


def held_out(files):
    for f in files[TRAIN_N:]:
        body = smtp_body(f)
        if body is not None:
            return f, body
    raise AssertionError("no held-out message fits SMTP line limits")


def link_dir(files, name):
    d = mgtest.tmpdir(name)
    for f in files:
        os.symlink(os.path.abspath(f), d / os.path.basename(f))
    return d


def send(mg, rcpt, body):
    c = RawClient(mg.port)
    c.banner()
    c.expect(250, "EHLO client.test")
    r = c.cmd(f"XCLIENT ADDR={CLIENT_IP} HELO=mail.sender.test")
    assert r.code == 220, f"XCLIENT: got {r.code} {r.lines}, want 220"
    c.expect(250, "EHLO mail.sender.test")
    c.expect(250, "MAIL FROM:<corpus@sender.test>")
    c.expect(250, f"RCPT TO:<{rcpt}>")
    c.expect(354, "DATA")
    c.send(body + b".\r\n")
    final = c.reply(timeout=60)
    c.expect(221, "QUIT")
    c.close()
    assert final.code == 250, f"got {final.code} {' '.join(final.lines)}, want 250"


def symbols_of(sink, n, rcpt):
    msgs = sink.wait_count(n, timeout=60)
    m = [m for m in msgs if m.rcpt_tos == [rcpt]][-1]
    return str(m.header("X-MailGuard-Symbols"))


def start():
    rig = DnsRig({"sender.test": [("@", "TXT", "v=spf1 -all")]})
    sink = Sink()
    th = {"spam_reject": 100, "spam_quarantine": 90, "greylist": 80, "transport": sink.transport}
    doms = {"on.test": dict(th), "off.test": dict(th, disable_layers="bayes, neural")}
    cfg = {
        "resolvers": rig.resolver,
        "xclient_networks": "127.0.0.0/8",
        "filter_threads": 2,
        "dns_timeout_ms": 1000,
        "bayes_min_learned": 20,
    }
    mg = MailGuard(config=cfg, domains=doms).start()
    return mg, sink, rig


def train(mg, spam, ham):
    sdir, hdir = link_dir(spam[:TRAIN_N], "spam"), link_dir(ham[:TRAIN_N], "ham")
    mark = mg.log_mark()
    r = mg.ctl("train", "--spam", str(sdir), timeout=120)
    assert f"learned {TRAIN_N} spam and 0 ham" in r.stdout, r.stdout
    r = mg.ctl("train", "--ham", str(hdir), timeout=120)
    assert f"learned 0 spam and {TRAIN_N} ham" in r.stdout, r.stdout
    r = mg.ctl("train-neural", "--spam", str(sdir), "--ham", str(hdir), timeout=120)
    assert f"on {TRAIN_N} spam and {TRAIN_N} ham" in r.stdout, r.stdout
    mg.wait_log(rf"filter: bayes: snapshot serial=2 tokens=\d+ spam={TRAIN_N} ham={TRAIN_N}",
        timeout=60, since=mark)
    mg.wait_log(r"filter: neural: loaded .*neural\.weights", timeout=60, since=mark)


def test_trained_layers_score_spam_and_ham():
    spam, ham = corpus_files("spam"), corpus_files("easy_ham")
    mg, sink, _ = start()
    # before training: no learning symbol at all (Bayes below bayes_min_learned, no weights)
    _, sbody = held_out(spam)
    send(mg, "user@on.test", sbody)
    syms = symbols_of(sink, 1, "user@on.test")
    assert "BAYES_" not in syms and "NEURAL_" not in syms, f"untrained: got {syms}"
    train(mg, spam, ham)
    send(mg, "user@on.test", sbody)
    syms = symbols_of(sink, 2, "user@on.test")
    assert re.search(r"\bBAYES_SPAM_\d+\(", syms), f"held-out spam: got {syms}, want BAYES_SPAM_*"
    assert re.search(r"\bNEURAL_SPAM_\d+\(", syms), f"held-out spam: got {syms}, want NEURAL_SPAM_*"
    _, hbody = held_out(ham)
    send(mg, "user@on.test", hbody)
    syms = symbols_of(sink, 3, "user@on.test")
    assert re.search(r"\bBAYES_HAM_\d+\(", syms), f"held-out ham: got {syms}, want BAYES_HAM_*"
    assert re.search(r"\bNEURAL_HAM_\d+\(", syms), f"held-out ham: got {syms}, want NEURAL_HAM_*"
    # the same spam to a domain with the layers disabled: no learning symbol
    send(mg, "user@off.test", sbody)
    syms = symbols_of(sink, 4, "user@off.test")
    assert "BAYES_" not in syms and "NEURAL_" not in syms, f"disabled: got {syms}"


def test_bad_weight_file_keeps_previous_model():
    spam, ham = corpus_files("spam"), corpus_files("easy_ham")
    mg, sink, _ = start()
    train(mg, spam, ham)
    mark = mg.log_mark()
    weights = mg.state_dir / "neural.weights"
    data = bytearray(weights.read_bytes())
    data[100] ^= 0xff
    tmp = mg.state_dir / "neural.weights.tmp"
    tmp.write_bytes(bytes(data))
    os.replace(tmp, weights)
    mg.reload()
    mg.wait_log(r"filter: neural: .*checksum mismatch; keeping the previous weights", timeout=60,
        since=mark)
    _, sbody = held_out(spam)
    send(mg, "user@on.test", sbody)
    syms = symbols_of(sink, 1, "user@on.test")
    assert re.search(r"\bNEURAL_SPAM_\d+\(", syms), f"got {syms}, want the previous weights' NEURAL_SPAM_*"
