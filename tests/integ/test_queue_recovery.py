"""Queue recovery: graceful restart with deferred mail, kill -9 with a torn journal tail.

The crash argument these tests check (DESIGN.md §3, queue/journal.c): a message is committed
once its COMMIT record is in a journal segment and that segment was fdatasync'ed; only then does
smtpd say 250. Recovery keeps every committed, not-DONE message and removes every incoming file
without a committed record.
"""

import os
import re
import time

import mgtest
from mgtest import MailGuard, wait_for
from test_queue_lib import (TrackingSink, journal_record, journal_records,
    journal_segments, queue_list, queue_qids, send_ok, sink_tokens, spool_area, wait_tokens,
    wait_queue_empty)

FAST = {"retry_min": "1s", "retry_max": "2s"}


def deferring_sink():
    """A sink whose recipient rule can be switched between 451 and accept."""
    state = {"refuse": True}

    def rule(address, session):
        return "451 4.3.0 back-end busy" if state["refuse"] else None
    sink = TrackingSink(rules={"user@example.test": rule, "other@example.test": rule})
    return sink, state


def test_graceful_restart_keeps_deferred_mail():
    """Deferred messages survive SIGTERM + start, are listed, and a flush delivers each once."""
    sink, state = deferring_sink()
    mg = MailGuard(config={"retry_min": "1h", "retry_max": "2h"},
        domains={"example.test": {"transport": sink.transport}}).start()
    txs = [send_ok(mg, rcpts=["user@example.test"]) for _ in range(5)]
    txs.append(send_ok(mg, rcpts=["user@example.test", "other@example.test"]))
    qids = {t.qid for t in txs}
    for t in txs:
        mg.wait_log(rf"{t.qid} to=<user@example.test> .*status=deferred dsn=4\.3\.0")
    assert queue_qids(mg) == qids, f"got {queue_qids(mg)}, want {qids}"
    mg.stop()
    assert sink.count == 0, f"got {sink.count} delivered while refusing, want 0"
    mg.start()
    mg.wait_log(r"recovery: .* 6 message\(s\) queued")
    listed = queue_list(mg)
    assert {e["qid"] for e in listed} == qids, f"after restart got {listed}, want {qids}"
    for e in listed:
        assert e["attempts"] >= 1, f"{e['qid']}: attempts {e['attempts']} after a deferral"
        assert all(st == "pending" for _, st, _ in e["rcpts"]), f"got {e}"
    state["refuse"] = False
    r = mg.ctl("queue", "flush")
    assert re.search(r"^6 message\(s\) scheduled", r.stdout, re.M), f"flush said {r.stdout!r}"
    got = wait_tokens(sink, [t.token for t in txs], 20)
    wait_queue_empty(mg)
    for t in txs:
        assert len(got[t.token]) == 1, f"{t.token}: delivered {len(got[t.token])} times, want 1"
    two = got[txs[-1].token][0]
    assert sorted(two.rcpt_tos) == ["other@example.test", "user@example.test"], \
        f"got {two.rcpt_tos}"
    assert spool_area(mg, "incoming") == [] and spool_area(mg, "queue") == [], \
        f"spool not empty: {mg.spool_files()}"


def _kill_with_queued_mail(n=4):
    """A daemon with n acknowledged, deferred messages, then SIGKILL. Returns (mg, sink, state,
    txs, newest segment)."""
    sink, state = deferring_sink()
    mg = MailGuard(config=dict(FAST, retry_min="1h", retry_max="2h"),
        domains={"example.test": {"transport": sink.transport}}).start()
    txs = [send_ok(mg) for _ in range(n)]
    for t in txs:
        mg.wait_log(rf"{t.qid} to=<user@example.test> .*status=deferred")
    mg.kill9()
    segs = journal_segments(mg)
    assert segs, f"no journal segment after the kill: {mg.spool_files()}"
    return mg, sink, state, txs, segs[-1]


def _restart_and_deliver(mg, sink, state, expect):
    mg.start()
    got_q = queue_qids(mg)
    want = {t.qid for t in expect}
    assert got_q == want, f"queue after recovery: got {sorted(got_q)}, want {sorted(want)}"
    state["refuse"] = False
    mg.ctl("queue", "flush")
    got = wait_tokens(sink, [t.token for t in expect], 20)
    wait_queue_empty(mg)
    for t in expect:
        assert len(got[t.token]) == 1, f"{t.token} delivered {len(got[t.token])} times, want 1"
    assert spool_area(mg, "corrupt") == [], f"corrupt/: {spool_area(mg, 'corrupt')}"
    return got


def test_kill9_torn_tail_cut_short():
    """A torn tail (the newest segment cut a few bytes short) can only hold a record that was
    never synced, so never acknowledged: a 250 is sent only after the fdatasync that covers the
    whole record. We build exactly that state: after a kill -9 we append to the newest segment
    the COMMIT record of a message that smtpd had finished writing (its body is in
    incoming/<qid>.msg, no .env: the queue writes that only after the sync) and cut the segment
    a few bytes short. Valid assertions: the daemon starts, logs the torn tail, keeps and
    delivers every acknowledged message exactly once, and removes the unacknowledged one (its
    body copy in incoming/ proves nothing: smtpd writes it before the commit) without
    delivering it and without moving anything to corrupt/."""
    mg, sink, state, txs, seg = _kill_with_queued_mail()
    recs = journal_records(seg)
    assert [r[2] for r in recs if r[1] == 1] == [t.qid for t in txs], \
        f"records in {seg.name}: {recs}, want COMMITs of {[t.qid for t in txs]}"
    ghost = "0000000100000001"
    body = b"Subject: never acknowledged\r\nX-MG-Token: ghost\r\n\r\nbody\r\n" * 20
    env = open(mg.spool_dir / "incoming" / f"{txs[0].qid}.env", "rb").read() \
        .replace(txs[0].qid.encode(), ghost.encode())
    (mg.spool_dir / "incoming" / f"{ghost}.msg").write_bytes(body)
    with open(seg, "ab") as f:
        f.write(journal_record(ghost, env, body))
    os.truncate(seg, seg.stat().st_size - 7)
    mark = mg.log_mark()
    got = _restart_and_deliver(mg, sink, state, txs)
    mg.assert_log(r"journal: segment [0-9a-f]{16} offset \d+: .*torn", since=mark)
    assert "ghost" not in got, "the unacknowledged message was delivered"
    assert not (mg.spool_dir / "incoming" / f"{ghost}.msg").exists(), \
        "the unacknowledged body was left in incoming/"


def test_kill9_torn_tail_checksum_mismatch():
    """The same with a record of full length whose last bytes never reached the disk (zeros):
    the CRC catches it, recovery logs the checksum mismatch and stops that segment there."""
    mg, sink, state, txs, seg = _kill_with_queued_mail(3)
    ghost = "0000000100000002"
    body = b"Subject: torn\r\nX-MG-Token: ghost2\r\n\r\n" + b"x" * 4000 + b"\r\n"
    env = open(mg.spool_dir / "incoming" / f"{txs[0].qid}.env", "rb").read() \
        .replace(txs[0].qid.encode(), ghost.encode())
    rec = journal_record(ghost, env, body)
    with open(seg, "ab") as f:
        f.write(rec[:-512] + b"\0" * 512)
    (mg.spool_dir / "incoming" / f"{ghost}.msg").write_bytes(body)
    mark = mg.log_mark()
    got = _restart_and_deliver(mg, sink, state, txs)
    mg.assert_log(r"journal: segment [0-9a-f]{16} offset \d+: checksum mismatch", since=mark)
    assert "ghost2" not in got, "the torn record's message was delivered"


def test_kill9_keeps_acked_removes_unfinished():
    """kill -9 with acknowledged mail queued and a transaction stopped in the middle of DATA:
    the acknowledged messages come back, the half-sent one never appears anywhere."""
    sink, state = deferring_sink()
    mg = MailGuard(config={"retry_min": "1h", "retry_max": "2h"},
        domains={"example.test": {"transport": sink.transport}}).start()
    txs = [send_ok(mg) for _ in range(3)]
    c = mgtest.RawClient(mg.port)
    c.banner()
    c.ehlo()
    c.expect(250, "MAIL FROM:<a@client.test>")
    c.expect(250, "RCPT TO:<user@example.test>")
    c.expect(354, "DATA")
    c.send(b"Subject: half\r\nX-MG-Token: half\r\n\r\n" + b"y" * 3000 + b"\r\n")
    # The half-sent body lives in an unnamed O_TMPFILE inode (no directory entry, gone with the
    # process); the three deferred messages have been given their files by now.
    wait_for(lambda: len([n for n in spool_area(mg, "incoming") if n.endswith(".msg")]) == 3,
        10, "the three deferred messages' files in incoming/")
    mg.wait_log(r"state data -> |state wait -> data")
    mg.kill9()
    c.close()
    mark = mg.log_mark()
    got = _restart_and_deliver(mg, sink, state, txs)
    assert "half" not in got
    mg.assert_log(r"recovery: \d+ journal segment\(s\), 3 message\(s\) restored", since=mark)
    assert spool_area(mg, "incoming") == [], f"incoming/ after recovery: {spool_area(mg, 'incoming')}"


def test_delivered_mail_is_not_redelivered_after_kill9():
    """DONE records: messages delivered before a kill -9 are not delivered again after it."""
    sink, state = deferring_sink()
    state["refuse"] = False
    mg = MailGuard(domains={"example.test": {"transport": sink.transport}}).start()
    txs = [send_ok(mg) for _ in range(10)]
    wait_tokens(sink, [t.token for t in txs])
    wait_queue_empty(mg)
    mg.kill9()
    mg.start()
    mg.wait_log(r"recovery: .* 0 message\(s\) restored from the journal, 0 message\(s\) queued")
    late = send_ok(mg)
    got = wait_tokens(sink, [late.token])
    dup = {t: len(v) for t, v in got.items() if len(v) > 1}
    assert not dup, f"delivered again after the restart: {dup}"


def test_graceful_stop_is_quiet():
    """SIGTERM stops every role with status 0 and no crit line, whichever order the roles see
    the supervisor's SHUTDOWN and their peers' channels close in (the queue and delivery must
    not take a peer's orderly exit for a crash). Several cycles, with mail in the queue."""
    sink, state = deferring_sink()
    mg = MailGuard(config={"retry_min": "1h", "retry_max": "2h"},
        domains={"example.test": {"transport": sink.transport}})
    for cycle in range(6):
        mg.start()
        mark = mg.log_mark()
        tx = send_ok(mg)
        if cycle % 2:           # idle at the stop; else a delivery attempt may be running
            mg.wait_log(rf"{tx.qid} to=<user@example.test> .*status=deferred", since=mark)
        mg.stop()
        text = mg.log_text(mark)
        bad = [l for l in text.splitlines() if re.search(r"crit:|ended with status|"
            r"killed by signal|did not stop", l)]
        assert not bad, f"cycle {cycle}: graceful stop was not quiet: {bad}"


def test_commit_batch_usec_gathers_commits_into_one_sync():
    """commit_batch_usec: commits that arrive within the window share one fdatasync, and each
    250 still waits for that sync (it comes no earlier than the window after the first)."""
    sink, state = deferring_sink()
    mg = MailGuard(config={"commit_batch_usec": 100000, "retry_min": "1h", "retry_max": "2h"},
        domains={"example.test": {"transport": sink.transport}}).start()
    conns = []
    for i in range(3):
        c = mgtest.RawClient(mg.port)
        c.banner()
        c.ehlo()
        c.expect(250, "MAIL FROM:<a@client.test>")
        c.expect(250, "RCPT TO:<user@example.test>")
        c.expect(354, "DATA")
        c.send(f"Subject: batch {i}\r\nX-MG-Token: batch{i}\r\n\r\nbody\r\n")
        conns.append(c)
    mark = mg.log_mark()
    t0 = time.monotonic()
    for c in conns:
        c.send(b".\r\n")
        time.sleep(0.02)        # spread the commits over part of the window (not a sync wait)
    for c in conns:
        c.expect(250)
    waited = time.monotonic() - t0
    mg.assert_log(r"group commit: 3 message\(s\), one sync", since=mark)
    assert waited >= 0.095, f"250 after {waited:.3f}s, before the 0.1s window closed"


def test_kill9_keeps_per_recipient_progress():
    """A message with one recipient delivered and one deferred, then kill -9: after recovery
    only the deferred recipient is tried again (the delivered one is not sent twice)."""
    sink, state = deferring_sink()
    sink.set_rule("user@example.test", None)            # accepts; other@ defers
    mg = MailGuard(config={"retry_min": "1h", "retry_max": "2h"},
        domains={"example.test": {"transport": sink.transport}}).start()
    tx = send_ok(mg, rcpts=["user@example.test", "other@example.test"])
    mg.wait_log(rf"{tx.qid} to=<other@example.test> .*status=deferred")
    mg.wait_log(rf"{tx.qid} to=<user@example.test> .*status=sent")
    wait_for(lambda: queue_list(mg)[0]["attempts"] == 1, 5, "the attempt recorded")
    mg.kill9()
    mg.start()
    [e] = queue_list(mg)
    assert [(a, s) for a, s, _ in e["rcpts"]] == [("other@example.test", "pending")], e
    state["refuse"] = False
    mg.ctl("queue", "flush")
    wait_for(lambda: len(sink_tokens(sink).get(tx.token, [])) == 2, 10, "the second delivery")
    wait_queue_empty(mg)
    first, second = sink_tokens(sink)[tx.token]
    assert first.rcpt_tos == ["user@example.test"] and second.rcpt_tos == ["other@example.test"], \
        f"deliveries: {first.rcpt_tos} then {second.rcpt_tos}"
