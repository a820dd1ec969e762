"""The commit point, watched at the system-call level (DESIGN.md §3: "replying before the data is
durable is never allowed").

kill -9 cannot show this (the page cache survives a killed process), so strace watches the queue
role while several clients send mail: for every message that got 250, the journal record with its
queue id must be written, then covered by an fdatasync of that segment, before the queue's
IPC_QUEUE_COMMIT_OK frame for it leaves for smtpd. Group commit shows as fewer fdatasyncs than
messages.
"""

import os
import re
import shutil
import signal
import threading

import mgtest
from mgtest import MailGuard, wait_for
from test_queue_lib import TrackingSink, send_ok, wait_tokens

IPC_QUEUE_COMMIT_OK = 24        # common/ipc_msg.h
ROLE_FD_PEER1 = 4               # queue: the smtpd channel
SYSCALL_RX = re.compile(r"^(\d+)\s+(\w+)\((\d+)(<[^>]*>)?(.*)$")


def unescape(s):
    """The bytes of a strace -xx string literal ("\\x4d\\x47...")."""
    return bytes(int(h, 16) for h in re.findall(r"\\x([0-9a-f]{2})", s))


def parse(path, smtpd_fd=ROLE_FD_PEER1):
    """Events in order: ("commit", qid), ("sync",), ("ok", qid)."""
    events = []
    stream = b""
    for line in open(path, errors="replace"):
        m = SYSCALL_RX.match(line)
        if not m:
            continue
        call, fd, rest = m.group(2), int(m.group(3)), m.group(5)
        path = unescape(m.group(4) or "")       # -y with -xx: the fd's path, hex-escaped
        strings = [unescape(x) for x in re.findall(r'"((?:\\x[0-9a-f]{2})*)"', rest)]
        if call == "fdatasync" and path.endswith(b".jnl"):
            if re.search(r"\)\s+= 0$", rest.strip()):
                events.append(("sync",))
        elif call == "pwrite64" and path.endswith(b".jnl") and strings:
            data = strings[0]
            if data[:4] == b"MGJR" and len(data) >= 36 and data[5] == 1:
                events.append(("commit", data[20:36].decode()))
        elif call in ("sendmsg", "write", "writev") and fd == smtpd_fd:
            if call == "sendmsg":
                strings = [unescape(x) for x in
                    re.findall(r'iov_base="((?:\\x[0-9a-f]{2})*)"', rest)]
            elif call == "write":
                strings = strings[:1]
            stream += b"".join(strings)
            while len(stream) >= 12:
                ln = int.from_bytes(stream[0:4], "little")
                if len(stream) < 12 + ln:
                    break
                typ = int.from_bytes(stream[4:6], "little")
                payload = stream[12:12 + ln]
                stream = stream[12 + ln:]
                if typ == IPC_QUEUE_COMMIT_OK:
                    qlen = int.from_bytes(payload[0:4], "little")
                    events.append(("ok", payload[4:4 + qlen].decode(errors="replace")))
    return events


@mgtest.timeout(90)
def test_commit_ok_only_after_fdatasync_of_the_record():
    if shutil.which("strace") is None:
        raise mgtest.Skip("strace not installed")
    sink = TrackingSink()
    mg = MailGuard(domains={"example.test": {"transport": sink.transport}}).start()
    qpid = int(re.search(r"^queue pid (\d+)$", mg.ctl("status").stdout, re.M).group(1))
    out = mgtest.tmpdir("strace") / "queue.trace"
    err = out.with_suffix(".err")
    tr = mgtest.spawn(["strace", "-f", "-y", "-xx", "-s", "4096", "-e",
        "trace=pwrite64,fdatasync,sendmsg,write,writev", "-o", out, "-p", qpid],
        stderr=open(err, "wb"))
    wait_for(lambda: "attached" in err.read_text(errors="replace") or tr.poll() is not None,
        10, "strace to attach")
    if tr.poll() is not None:
        raise mgtest.Skip(f"strace cannot attach: {err.read_text(errors='replace')[:200]}")
    txs = []
    lock = threading.Lock()

    def client(k):
        for i in range(25):
            tx = send_ok(mg)
            with lock:
                txs.append(tx)
    ts = [threading.Thread(target=client, args=(k,), daemon=True) for k in range(8)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(60)
    assert len(txs) == 200, f"sent {len(txs)}"
    wait_tokens(sink, [t.token for t in txs], 30)
    os.kill(tr.pid, signal.SIGINT)
    tr.wait(10)
    events = parse(out)
    acked = {t.qid for t in txs}
    written, covered, oks = {}, set(), {}
    pending = []
    for n, ev in enumerate(events):
        if ev[0] == "commit":
            written[ev[1]] = n
            pending.append(ev[1])
        elif ev[0] == "sync":
            covered.update(pending)
            pending = []
        elif ev[0] == "ok":
            oks[ev[1]] = n
            assert ev[1] in written, f"{ev[1]}: COMMIT_OK sent before its record was written"
            assert ev[1] in covered, f"{ev[1]}: COMMIT_OK sent before an fdatasync covered " \
                f"its journal record (event {n})"
    missing = acked - set(oks)
    assert not missing, f"{len(missing)} acknowledged messages without a COMMIT_OK in the " \
        f"trace, e.g. {sorted(missing)[:3]} ({len(events)} events parsed)"
    syncs = sum(1 for e in events if e[0] == "sync")
    print(f"commits={len(written)} fdatasyncs={syncs} commit_oks={len(oks)}", flush=True)
    assert syncs <= len(written), f"{syncs} fdatasyncs for {len(written)} commits"
