"""Journal segments: rotation by size and retirement once every message in a segment is done
(the disk space of delivered mail comes back), with a restart in between for good measure."""

import threading

import mgtest
from mgtest import MailGuard, wait_for
from test_queue_lib import (TrackingSink, journal_segments, new_token, queue_list, send_ok,
    spool_area, token_message, wait_queue_empty, wait_tokens)

SEGMENT_MAX = 64 << 20      # queue/queue.c SEGMENT_MAX_BYTES


@mgtest.timeout(90)
def test_segment_rotated_and_retired():
    """A segment that reaches SEGMENT_MAX_BYTES is rotated; once all its mail is delivered it
    is removed. (Short name: the control socket path under the test's temporary directory
    must fit in sun_path.)"""
    sink = TrackingSink()
    mg = MailGuard(domains={"example.test": {"transport": sink.transport}}).start()
    first = journal_segments(mg)[0].name        # the segment current at start
    size = 1 << 20
    n = SEGMENT_MAX // size + 4
    toks = [new_token("big-") for _ in range(n)]
    lock = threading.Lock()
    todo = list(toks)

    def work():
        while True:
            with lock:
                if not todo:
                    return
                tok = todo.pop()
            send_ok(mg, data=token_message(tok, size=size), token=tok)
    ts = [threading.Thread(target=work, daemon=True) for _ in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(60)
    wait_tokens(sink, toks, 60)
    wait_queue_empty(mg)
    # the full segment is rotated at the next tick and, with nothing live in it, removed
    wait_for(lambda: first not in [p.name for p in journal_segments(mg)], 10,
        f"segment {first} to be retired")
    segs = journal_segments(mg)
    total = sum(p.stat().st_size for p in segs)
    assert len(segs) == 1 and total < SEGMENT_MAX // 2, \
        f"journal after draining: {[(p.name, p.stat().st_size) for p in segs]}"
    mg.wait_log(r"journal: segment [0-9a-f]{16} retired")
    assert spool_area(mg, "incoming") == [] and spool_area(mg, "queue") == []


@mgtest.timeout(240)
def test_compact_moves_survivors_in_batches_durably():
    """`queue compact` retires the old segments at once: 2,100 deferred messages (more than one
    batch of RETIRE_BATCH = 2,000) move to queue/ over two ticks, the spool is synced, the
    segment goes; a kill -9 right after loses none of them and all are delivered later."""
    import smtplib
    n = 2100
    mg = MailGuard(config={"mynetworks": "203.0.113.0/24"},
                   domains={"example.test": {"transport": "[127.0.0.1]:9"}}).start()
    toks = [new_token("c-") for _ in range(n)]
    s = smtplib.SMTP("127.0.0.1", mg.port, timeout=30)
    for tok in toks:
        s.sendmail("sender@client.test", ["user@example.test"], token_message(tok))
    s.quit()
    wait_for(lambda: sum(1 for e in queue_list(mg) if e["state"] == "deferred") == n, 60,
             f"{n} deferred messages")
    first = [p.name for p in journal_segments(mg)]
    mark = mg.log_mark()
    r = mg.ctl("queue", "compact")
    assert "segment(s) to retire" in r.stdout, r.stdout
    mg.wait_log(r"journal: compaction done", timeout=30, since=mark)
    log = mg.log_text(since=mark)
    assert "survivor(s) moved, 100 to go" in log, log[-3000:]
    assert not set(first) & {p.name for p in journal_segments(mg)}, "old segments kept"
    assert len([f for f in spool_area(mg, "queue") if f.endswith(".env")]) == n
    mg.kill9()
    sink = TrackingSink()
    mg.configure(domains={"example.test": {"transport": sink.transport}})
    mark = mg.log_mark()
    mg.start()
    # recovery tells the supervisor it progresses (which extends the set-up deadline)
    mg.assert_log(r"role queue: set-up in progress: recovery: \d+ message\(s\) queued",
                  since=mark)
    assert len(queue_list(mg)) == n
    mg.ctl("queue", "flush")
    wait_tokens(sink, toks, 120)
    wait_queue_empty(mg, 60)
