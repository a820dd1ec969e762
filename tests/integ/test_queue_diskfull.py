"""The spool on a full file system (a small tmpfs mounted for the test, unmounted at cleanup).

What must hold (DESIGN.md §3): a 250 only for a message that is on disk; 452 4.3.1 when there is
no room; the daemon's processes stay up; every 250 is delivered once there is room again; a
message refused with 452 never arrives, not even after a restart; nothing ends in corrupt/.
"""

import errno
import os
import re
import threading

import mgtest
from mgtest import MailGuard, wait_for
from test_queue_lib import (SmtpConn, Tx, TrackingSink, new_token, queue_qids, sink_tokens,
    smtp_send, spool_area, token_message, wait_queue_empty, wait_tokens)


def mount_tmpfs(size="16m", nr_inodes=None):
    """A fresh tmpfs (needs root); unmounted at cleanup, after any daemon started later."""
    if os.geteuid() != 0:
        raise mgtest.Skip("needs root to mount a tmpfs")
    d = mgtest.tmpdir("tmpfs")
    opts = f"size={size},mode=0755" + (f",nr_inodes={nr_inodes}" if nr_inodes else "")
    r = mgtest.run_cmd(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", d])
    if r.returncode != 0:
        raise mgtest.Skip(f"cannot mount a tmpfs: {r.stderr.strip()}")

    def umount():
        r = mgtest.run_cmd(["umount", d])
        if r.returncode != 0:
            mgtest.run_cmd(["umount", "-l", d])
            raise RuntimeError(f"umount {d}: {r.stderr.strip()} (lazily unmounted)")
    mgtest.add_cleanup(umount, f"umount {d}")
    return d


def free_bytes(path):
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def switchable_sink():
    state = {"refuse": True}

    def rule(address, session):
        return "451 4.3.0 back-end busy" if state["refuse"] else None
    return TrackingSink(rules={"user@example.test": rule}), state


def refused_never_arrive(mg, sink, acked, refused):
    """Restart the daemon; no refused message may come back from the journal."""
    mg.stop()
    mg.start()
    mg.wait_log(r"recovery: .* message\(s\) queued")
    wait_queue_empty(mg)
    got = sink_tokens(sink)
    back = [t for t in refused if t in got]
    assert not back, f"messages refused with 452 were delivered: {back}"
    dups = {t: len(got[t]) for t in acked if len(got.get(t, [])) != 1}
    assert not dups, f"acknowledged messages delivered other than once: {dups}"


@mgtest.timeout(120)
def test_disk_full_452_then_recovers():
    """Fill a 16 MiB spool with mail the back-end defers, from several clients at once, until
    the daemon answers 452 4.3.1; then let the queue drain and check everything."""
    spool = mount_tmpfs("16m")
    sink, state = switchable_sink()
    mg = MailGuard(config={"spool_dir": str(spool), "retry_min": "1s", "retry_max": "2s"},
        domains={"example.test": {"transport": sink.transport}}).start()
    pids = set(mg.pids())
    sizes = (300_000, 700_000, 1_300_000, 90_000, 2_500_000)
    lock = threading.Lock()
    acked, refused, other = [], [], []
    full = threading.Event()

    def client(k):
        for i in range(60):
            if full.is_set() and len(refused) >= 6:
                return
            tok = new_token(f"f{k}-")
            data = token_message(tok, size=sizes[(i + k) % len(sizes)])
            tx = Tx(tok)
            try:
                c = SmtpConn(mg.port)
                try:
                    c.send_message(tx, "sender@client.test", ["user@example.test"], data)
                finally:
                    c.close()
            except (OSError, ConnectionError) as e:
                with lock:
                    other.append(f"{tx}: {e}")
                return
            last = tx.replies[-1]
            with lock:
                if tx.final == 250:
                    acked.append(tok)
                elif last[1] == 452 and last[2].startswith("4.3.1"):
                    refused.append(tok)
                    full.set()
                else:
                    other.append(f"{tx}: {tx.replies}")
    threads = [threading.Thread(target=client, args=(k,), daemon=True) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(90)
        assert not t.is_alive(), "a client hung"
    assert not other, f"replies other than 250 / 452 4.3.1: {other[:5]}"
    assert refused, f"no 452 after {len(acked)} accepted messages; spool free " \
        f"{free_bytes(spool)} bytes"
    assert acked, "nothing was accepted before the spool filled up"
    assert set(mg.pids()) == pids and mg.running, f"processes changed: {pids} -> {mg.pids()}"
    mg.assert_no_log(r"crit:|panic|killed by signal")
    # make room: the back-end accepts again and the queue drains
    state["refuse"] = False
    mg.ctl("queue", "flush")
    wait_tokens(sink, acked, 60, "every acknowledged message at the sink")
    wait_queue_empty(mg, 30)
    # room again: new mail is accepted and delivered
    more = [smtp_send(mg.port, data=None, token=new_token("after-")) for _ in range(3)]
    assert all(t.final == 250 for t in more), f"after draining: {[t.replies for t in more]}"
    wait_tokens(sink, [t.token for t in more])
    acked += [t.token for t in more]
    assert spool_area(mg, "corrupt") == [], f"corrupt/: {spool_area(mg, 'corrupt')}"
    refused_never_arrive(mg, sink, acked, refused)
    print(f"accepted={len(acked)} refused={len(refused)}", flush=True)
    log = mg.log_text(0)
    print("refusal paths: " + " ".join(f"{k}={len(re.findall(rx, log))}" for k, rx in (
        ("reserve", r"nearly full"), ("create", r"cannot create message file"),
        ("body_write", r"write to message file"), ("journal_append", r"journal: append"),
        ("journal_sync", r"journal: fdatasync"))), flush=True)


def _fill(directory, leave):
    """A filler file in directory that leaves about `leave` bytes free."""
    os.makedirs(directory, exist_ok=True)
    fd = os.open(os.path.join(directory, "fill"), os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        os.posix_fallocate(fd, 0, max(free_bytes(directory) - leave, 4096))
    finally:
        os.close(fd)


@mgtest.timeout(60)
def test_journal_full_refuses_only_what_did_not_fit():
    """Two messages committed in one batch (commit_batch_usec gathers them): the first fits in
    the journal, the second does not (ENOSPC half way through its record). The second gets 452
    4.3.1 and must never be delivered, not even after a restart; the first, whose record is
    complete and covered by the batch's sync, gets 250 and is delivered once."""
    spool = mount_tmpfs("16m")
    sink, state = switchable_sink()
    mg = MailGuard(config={"spool_dir": str(spool), "commit_batch_usec": 100000,
        "retry_min": "1h", "retry_max": "2h"},
        domains={"example.test": {"transport": sink.transport}}).start()
    _fill(spool / "filler", 2_600_000)
    free = free_bytes(spool)
    small_tok, big_tok = new_token("small-"), new_token("big-")
    small = token_message(small_tok, size=20_000)
    big = token_message(big_tok, size=int(free * 0.6))
    conns, txs = [], []
    for tok, data in ((small_tok, small), (big_tok, big)):
        c = SmtpConn(mg.port)
        conns.append(c)
        c.cmd("MAIL FROM:<sender@client.test>", want=250)
        c.cmd("RCPT TO:<user@example.test>", want=250)
        c.cmd("DATA", want=354)
        c.sock.sendall(data)
        txs.append(Tx(tok))
    incoming = spool / "incoming"

    def bodies_written():
        # The bodies are unnamed O_TMPFILE inodes until committed, so watch the space they take:
        # smtpd writes in 64 KiB pieces, all but the last one is there before the end of data.
        return free - free_bytes(spool) >= len(small) + len(big) - 140_000
    wait_for(bodies_written, 20, "both message bodies written to the spool, the big one nearly")
    mark = mg.log_mark()
    for c in conns:
        c.sock.sendall(b".\r\n")
    for c, tx in zip(conns, txs):
        code, text = c.r.reply()
        tx.final = code
        tx.replies.append(("END", code, text))
        c.close()
    mg.assert_log(r"group commit: 2 message\(s\), one sync", since=mark)
    assert txs[1].final == 452 and txs[1].replies[-1][2].startswith("4.3.1"), \
        f"message that did not fit: got {txs[1].replies[-1]}, want 452 4.3.1"
    assert txs[0].final == 250, f"message that fit: got {txs[0].replies[-1]}, want 250"
    for f in (spool / "filler").iterdir():
        f.unlink()
    state["refuse"] = False
    mg.ctl("queue", "flush")
    wait_tokens(sink, [small_tok])
    wait_queue_empty(mg)
    refused_never_arrive(mg, sink, [small_tok], [big_tok])
    assert spool_area(mg, "corrupt") == []


@mgtest.timeout(60)
def test_env_file_unwritable_keeps_message():
    """No free inode when the queue writes incoming/<qid>.env right after a commit: the
    message is committed (its journal record is synced) and got 250, so it must be kept while
    it waits (the back-end defers it twice) and be delivered once space is back. The next
    message is accepted into a pooled body file or refused with 452 4.3.1, never lost."""
    spool = mount_tmpfs("16m", nr_inodes=400)
    sink, state = switchable_sink()
    mg = MailGuard(config={"spool_dir": str(spool), "retry_min": "1s", "retry_max": "1s"},
        domains={"example.test": {"transport": sink.transport}}).start()
    filler = spool / "filler"
    filler.mkdir()
    made = []
    for i in range(1000):
        try:
            (filler / f"i{i}").touch()
        except OSError as e:
            assert e.errno == errno.ENOSPC, f"filler: {e}"
            break
        made.append(filler / f"i{i}")
    # No inode is left. smtpd's body files were made before (a pool of unnamed O_TMPFILE
    # inodes), so the message is received and committed; its envelope file cannot be written.
    tx = smtp_send(mg.port)
    assert tx.final == 250, f"got {tx.replies}, want 250 (the journal holds it)"
    mg.wait_log(rf"{tx.qid}: .*envelope file: No space left on device")
    tx2 = smtp_send(mg.port)
    assert tx2.final in (250, 452), f"got {tx2.replies}, want 250 (pooled file) or 452 4.3.1"
    if tx2.final == 452:
        assert "4.3.1" in tx2.replies[-1][2], f"got {tx2.replies}"
    for n in (1, 2):
        mg.wait_log(rf"(?s)({tx.qid} to=<user@example.test> .*status=deferred.*){{{n}}}", 15)
    assert tx.qid in queue_qids(mg), f"{tx.qid} left the queue while its envelope was unsaved"
    for p in made:
        p.unlink()
    state["refuse"] = False
    mg.ctl("queue", "flush")
    want = [tx.token] + ([tx2.token] if tx2.final == 250 else [])
    got = wait_tokens(sink, want, 15)
    wait_queue_empty(mg)
    assert len(got[tx.token]) == 1
    if tx2.final != 250:
        assert tx2.token not in got, "a refused message was delivered"
    assert spool_area(mg, "corrupt") == [], f"corrupt/: {spool_area(mg, 'corrupt')}"
