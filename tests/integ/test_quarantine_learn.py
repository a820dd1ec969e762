"""Learning from quarantine actions and the lifetime of released mail (issue G), through the real
daemon.

Release = ham, confirm-spam = spam (shared/DESIGN.md §5): the queue role learns the message into
the filter's Bayes token store (state_dir/db) on a worker thread and logs one line with the
store's counts; the filter's learning thread re-reads the store (its "bayes: snapshot" line) and
from then on scores new mail with it (BAYES_SPAM_* on a message like the confirmed spam).

Lifetime: queue_lifetime counts from the release (envelope version 3, key `released`), so a
message that sat in quarantine longer than queue_lifetime is retried when the back-end defers it,
not bounced at its first deferral; it still expires queue_lifetime after the release. Honest
waits with a 4 s queue_lifetime (the scheduler runs on the real clock).

Scores as in test_quarantine.py: DKIM_NONE 7 puts every message in quarantine (6..30)."""

import re
import time

from mgtest import wait_for
from test_queue_lib import CountingRule, TrackingSink, sink_tokens
import test_quarantine as tq

SPAM_BODY = ("Congratulations winner! Claim your casino jackpot bonus now. Cheap pills, "
    "replica watches, guaranteed lottery payout, unclaimed prize, wire transfer fee, "
    "exclusive crypto investment doubling your bitcoin overnight.\r\n")
HAM_BODY = ("Hello team, the quarterly budget review meeting moves to Thursday. Please bring "
    "the project timeline, the staffing plan and your notes on the vendor contract.\r\n")


def learned(mg, qid, label, timeout=20):
    """(spam, ham) counts of the store after qid was learned as label (its log line)."""
    pat = rf"{qid} learned as {label} by=(\S+) size=(\d+) bayes: spam=(\d+) ham=(\d+)"
    mg.wait_log(pat, timeout)
    line = re.search(pat, mg.log_text(0))
    return line.group(1), int(line.group(3)), int(line.group(4))


def test_release_teaches_ham_and_confirm_spam_teaches_spam():
    mg, sink = tq.setup({"bayes_min_learned": 1})
    spam1 = tq.quarantined(mg, tq.send(mg, "promo@lotto.test", subject="You won", body=SPAM_BODY))
    spam2 = tq.quarantined(mg, tq.send(mg, "promo@lotto.test", subject="Winner", body=SPAM_BODY))
    ham = tq.quarantined(mg, tq.send(mg, "boss@corp.test", subject="Budget", body=HAM_BODY))
    # before any learning the filter has no Bayes opinion (below bayes_min_learned)
    syms = {m["qid"]: m["symbols"] for m in tq.qlist(mg)["messages"]}
    assert not any("BAYES_" in s for s in syms.values()), syms

    # release = ham: delivered, and learned
    assert tq.qctl(mg, "release", ham.qid, "by=alice").stdout.strip() == f"{ham.qid} released"
    assert learned(mg, ham.qid, "ham") == ("alice", 0, 1)
    wait_for(lambda: ham.token in sink_tokens(sink), 20, "released message delivered")

    # confirm-spam = spam: learned, deleted, never delivered
    r = tq.qctl(mg, "confirm-spam", spam1.qid, "by=bob")
    assert r.stdout.strip() == f"{spam1.qid} confirmed spam: deleted, queued to be learned as spam", \
        r.stdout
    mg.assert_log(rf"{spam1.qid} confirmed as spam by=bob; deleted from quarantine")
    assert learned(mg, spam1.qid, "spam") == ("bob", 1, 1)
    r = tq.qctl(mg, "confirm-spam", spam2.qid)     # by defaults to "operator"
    assert learned(mg, spam2.qid, "spam") == ("operator", 2, 1)
    assert tq.qids(mg) == set(), tq.qids(mg)
    assert not tq.spool_has(mg, spam1.qid) and not tq.spool_has(mg, spam2.qid)
    assert spam1.qid not in mg.ctl("queue", "list").stdout
    # errors: unknown, already deleted, not a queue id, no id
    r = tq.qctl(mg, "confirm-spam", spam1.qid, check=False)
    assert r.returncode == 1 and "no message" in r.stderr, r.stderr
    for bad in (["confirm-spam"], ["confirm-spam", "xyz"], ["confirm-spam", ham.qid, "by="]):
        r = tq.qctl(mg, *bad, check=False)
        assert r.returncode == 2, (bad, r.returncode, r.stderr)

    # the filter re-reads the store (as after mailguardctl train) and scores with it
    mg.wait_log(r"filter: bayes: snapshot serial=\d+ tokens=\d+ spam=2 ham=1", 30)
    probe = tq.quarantined(mg, tq.send(mg, "promo@lotto.test", subject="Prize", body=SPAM_BODY))
    sym = {m["qid"]: m["symbols"] for m in tq.qlist(mg)["messages"]}[probe.qid]
    assert re.search(r"BAYES_SPAM_\d+", sym), f"no Bayes spam symbol after learning: {sym}"
    time.sleep(0.3)     # a delivery of the confirmed spam would show up now
    got = sink_tokens(sink)
    assert spam1.token not in got and spam2.token not in got, "confirmed spam was delivered"
    assert set(got) == {ham.token}, set(got)


def test_stop_with_learnings_queued():
    """A learning queued just before a stop finishes (or is logged as not learned): the stop
    waits for the one in progress and never hangs."""
    mg, sink = tq.setup()
    txs = [tq.quarantined(mg, tq.send(mg, subject=f"r{i}", body=HAM_BODY)) for i in range(3)]
    tq.qctl(mg, "release", *[t.qid for t in txs])
    mg.stop()
    text = mg.log_text(0)
    for t in txs:
        assert re.search(rf"{t.qid} (learned as ham by=operator|not learned as ham)", text), \
            f"no learning outcome for {t.qid}"
    mg.start()
    wait_for(lambda: all(t.token in sink_tokens(sink) for t in txs), 20, "released delivered")


def lifetime_setup(rules):
    sink = TrackingSink(rules=rules)
    home = TrackingSink()           # the sender's domain: would receive a bounce
    cfg = {"mynetworks": "203.0.113.0/24", "resolvers": "127.0.0.1:9", "dns_timeout_ms": 300,
        "test_mode": True, "queue_lifetime": "4s", "retry_min": "1s", "retry_max": "1s"}
    dom = dict(tq.POLICY, transport=sink.transport)
    mg = tq.QMailGuard(config=cfg, domains={"example.test": dom,
        "sender.test": dict(tq.POLICY, transport=home.transport)}).start()
    return mg, sink, home


def test_released_after_queue_lifetime_is_retried_not_bounced():
    rule = CountingRule(2)          # the back-end defers the first two attempts
    mg, sink, home = lifetime_setup({"user@example.test": rule})
    tx = tq.quarantined(mg, tq.send(mg))
    arrival = time.time()
    # honestly older than queue_lifetime (4 s) before the release
    wait_for(lambda: time.time() >= arrival + 5, 10, "five seconds in quarantine")
    release_at = time.time()
    assert tq.qctl(mg, "release", tx.qid).stdout.strip() == f"{tx.qid} released"
    # the envelope on disk carries the release time (version 3)
    [envf] = list(mg.spool_dir.rglob(f"{tx.qid}.env"))
    text = envf.read_text()
    assert text.startswith("version 3\n"), text
    rel = int(re.search(r"^released (\d+)$", text, re.M).group(1))
    assert abs(rel - release_at) <= 2, (rel, release_at)
    mg.wait_log(rf"{tx.qid} to=<user@example.test> .*status=deferred", 15)
    wait_for(lambda: tx.token in sink_tokens(sink), 20, "delivered after the deferrals")
    assert rule.calls == 3, f"back-end saw {rule.calls} attempts, want 3"
    mg.assert_no_log(rf"{tx.qid} to=<user@example.test> status=expired")
    assert home.count == 0, "a bounce was sent for the released message"


def test_released_mail_still_expires_after_queue_lifetime():
    mg, sink, home = lifetime_setup({"user@example.test": "451 4.3.0 try later"})
    tx = tq.quarantined(mg, tq.send(mg))
    arrival = time.time()
    wait_for(lambda: time.time() >= arrival + 5, 10, "five seconds in quarantine")
    release_at = time.time()
    tq.qctl(mg, "release", tx.qid)
    mg.wait_log(rf"{tx.qid} to=<user@example.test> status=expired dsn=4\.4\.7", 20)
    expired_at = time.time()
    # not at the first deferral (released 5 s after arrival > 4 s), but 4 s after the release
    assert expired_at - release_at >= 3, f"expired {expired_at - release_at:.1f}s after release"
    [dsn] = home.wait_count(1, 20)
    assert b"4.4.7" in dsn.data, dsn.data[:400]
    assert sink.count == 0
