"""The quarantine store (issue G) through the real daemon: messages whose score falls between a
domain's spam_quarantine and spam_reject are accepted and kept by the queue role;
`mailguardctl queue quarantine list|show|release|delete|clock` search, show, release (to the
back-end, exactly once, also across restarts and kill -9) and delete them; retention expiry
(driven by the test_mode clock of the retention sweep); the Berkeley DB index is rebuilt from
the spool when it is deleted, damaged or stale.

Scores come from real filter symbols with `score` overrides, no DNS or block list needed: every
message lacks a DKIM signature (DKIM_NONE 7 -> 7.00, quarantined at 6), one without
Message-ID gets MSGID_MISSING (+3 -> 10.00), one without Date DATE_MISSING (+5 -> 12.00); a
sender on the global allow list is delivered (ALLOWLIST)."""

import email.utils
import json
import os
import re
import shutil
import subprocess
import time

import mgtest
from mgtest import MailGuard, wait_for
from test_queue_lib import SmtpConn, Tx, TrackingSink, new_token, sink_tokens

SCORES = ["DKIM_NONE 7", "MSGID_MISSING 3", "DATE_MISSING 5"]
POLICY = {"greylist": 6, "spam_quarantine": 6, "spam_reject": 30}


class QMailGuard(MailGuard):
    """MailGuard whose mailguard.conf also carries the repeated `score` lines."""

    def write_config(self):
        super().write_config()
        p = self.dir / "mailguard.conf"
        p.write_text(p.read_text() + "".join(f"score = {s}\n" for s in SCORES))


def setup(config=None, rules=None):
    sink = TrackingSink(rules=rules)
    cfg = {"mynetworks": "203.0.113.0/24", "resolvers": "127.0.0.1:9", "dns_timeout_ms": 300,
        "test_mode": True, "retry_min": "1h", "retry_max": "2h"}
    cfg.update(config or {})
    dom = dict(POLICY, transport=sink.transport)
    mg = QMailGuard(config=cfg, domains={"example.test": dom, "other.test": dict(dom)},
        lists={"global.allow": ["trusted@friend.test"]}).start()
    return mg, sink


def message(token, sender, rcpts, subject, date=True, msgid=True, body=None, ctype=None):
    h = [f"From: <{sender}>", f"To: {', '.join(rcpts)}", f"Subject: {subject}",
        f"X-MG-Token: {token}"]
    if date:
        h.append(f"Date: {email.utils.formatdate()}")
    if msgid:
        h.append(f"Message-ID: <{token}@client.test>")
    if ctype:
        h += ["MIME-Version: 1.0", f"Content-Type: {ctype}"]
    return ("\r\n".join(h) + "\r\n\r\n" + (body or f"Body of {token}.\r\n")).encode()


def send(mg, sender="alice@sender.test", rcpts=("user@example.test",), subject="hello",
        **kw):
    token = new_token("q")
    tx = Tx(token)
    c = SmtpConn(mg.port)
    try:
        c.send_message(tx, sender, list(rcpts), message(token, sender, rcpts, subject, **kw))
    finally:
        c.close()
    assert tx.final == 250 and tx.qid, f"got {tx.replies}, want 250 queued as QID"
    return tx


def quarantined(mg, tx):
    mg.wait_log(rf"{tx.qid} quarantined: score=", timeout=20)
    return tx


def qctl(mg, *args, check=True):
    return mg.ctl("queue", "quarantine", *args, check=check)


def qlist(mg, *words):
    return json.loads(qctl(mg, "list", "--json", *words).stdout)


def qids(mg, *words):
    return {m["qid"] for m in qlist(mg, *words)["messages"]}


def spool_has(mg, qid):
    return any(qid in f for f in mg.spool_files())


def test_list_search_show_delete():
    mg, sink = setup()
    a = quarantined(mg, send(mg, subject="Cheap watches"))
    b = quarantined(mg, send(mg, "carol@spam.test", ["bob@other.test"],
        "=?UTF-8?B?R3LDvMOfZSB2b20gVGVhbQ==?=", msgid=False))
    c = quarantined(mg, send(mg, "dave@EVIL.test", ["user@example.test", "bob@other.test"],
        "<b>bold</b> & \x1b[31mred", date=False, ctype="text/html; charset=utf-8",
        body="<html><body><script>alert(1)</script><p>Win <b>big</b> now</p></body></html>\r\n"))
    d = send(mg, "trusted@friend.test", subject="friendly")
    got = sink_tokens(sink)
    wait_for(lambda: d.token in sink_tokens(sink), 20, "the allow-listed message delivered")

    j = qlist(mg)
    assert j["total"] == 3 and {m["qid"] for m in j["messages"]} == {a.qid, b.qid, c.qid}, j
    arrivals = [m["arrival"] for m in j["messages"]]
    assert arrivals == sorted(arrivals, reverse=True), f"not newest first: {arrivals}"
    by = {m["qid"]: m for m in j["messages"]}
    # C: HTML only adds MIME_HTML_ONLY (0.50)
    assert (by[a.qid]["score"], by[b.qid]["score"], by[c.qid]["score"]) == (7.0, 10.0, 12.5), j
    assert by[b.qid]["subject"] == "Grüße vom Team", by[b.qid]
    assert by[c.qid]["subject"] == "<b>bold</b> & ?[31mred", by[c.qid]
    assert "DKIM_NONE(7.00)" in by[a.qid]["symbols"], by[a.qid]
    assert by[c.qid]["rcpts"] == ["user@example.test", "bob@other.test"], by[c.qid]
    assert by[a.qid]["sender"] == "alice@sender.test", by[a.qid]
    # each filter narrows
    cases = [
        (["domain=other.test"], {b.qid, c.qid}),
        (["domain=OTHER.test"], {b.qid, c.qid}),
        (["rcpt=user@example.test"], {a.qid, c.qid}),
        (["rcpt=bob@other.test", "domain=example.test"], {c.qid}),
        (["from=evil"], {c.qid}),
        (["from=sender.test"], {a.qid}),
        (["subject=Gr%C3%BC%C3%9Fe%20vom"], {b.qid}),
        (["subject=cheap"], {a.qid}),
        (["min=9"], {b.qid, c.qid}),
        (["max=10"], {a.qid, b.qid}),
        (["min=9", "max=11"], {b.qid}),
        (["since=" + str(int(time.time()) + 3600)], set()),
        (["until=2001-01-01"], set()),
        (["since=2001-01-01T00:00:00Z", "until=" + str(int(time.time()) + 60)],
            {a.qid, b.qid, c.qid}),
    ]
    for words, want in cases:
        assert qids(mg, *words) == want, f"{words}: got {qids(mg, *words)}, want {want}"
    page1, page2 = qlist(mg, "limit=1"), qlist(mg, "limit=1", "offset=1")
    assert page1["total"] == 3 and len(page1["messages"]) == 1, page1
    assert page2["messages"][0]["qid"] == j["messages"][1]["qid"], (page2, j)
    text = qctl(mg, "list").stdout.splitlines()
    assert len(text) == 4 and text[-1] == "-- 3 of 3 quarantined message(s)", text
    assert any(line.startswith(c.qid) and "to=<user@example.test>+1" in line for line in text), text
    for bad in (["bogus=1"], ["min=x"], ["limit=0"], ["since=yesterday"], ["from=%zz"],
            ["from=a", "from=b"]):
        r = qctl(mg, "list", *bad, check=False)
        assert r.returncode == 2 and "error:" in r.stderr, (bad, r.returncode, r.stderr)

    # show: decoded headers, a text preview of the HTML (never the HTML itself), JSON that parses
    r = qctl(mg, "show", c.qid).stdout
    assert r.startswith(f"{c.qid} quarantine ") and "score=12.50" in r, r
    assert "-- headers:" in r and "Subject: <b>bold</b> & ?[31mred" in r, r
    preview = r.split("-- text preview:\n", 1)[1]
    assert "Win big now" in preview, preview
    assert "<script" not in preview and "<p>" not in preview and "alert(1)" not in preview, preview
    assert "\x1b" not in r, "a control character reached the output"
    sj = json.loads(qctl(mg, "show", b.qid, "--json").stdout)
    assert sj["message"]["qid"] == b.qid and sj["message"]["subject"] == "Grüße vom Team", sj
    assert ["Subject", "Grüße vom Team"] in sj["headers"], sj["headers"]
    assert f"Body of {b.token}." in sj["preview"], sj["preview"]
    raw = qctl(mg, "show", c.qid, "--json").stdout
    assert "<" not in raw and ">" not in raw, f"unescaped markup in JSON: {raw[:300]}"
    for bad in ("0123456789abcdef", "../../etc/passwd", d.qid):
        r = qctl(mg, "show", bad, check=False)
        assert r.returncode == 1 and "no message" in r.stderr, (bad, r.returncode, r.stderr)

    # delete: files and entry gone, nothing delivered, nothing bounced
    assert qctl(mg, "delete", a.qid, "by=tester").stdout.strip() == f"{a.qid} deleted"
    mg.assert_log(rf"{a.qid} deleted from quarantine deleted-by=tester")
    assert qids(mg) == {b.qid, c.qid}
    assert not spool_has(mg, a.qid), "files of the deleted message remain"
    assert a.qid not in mg.ctl("queue", "list").stdout
    r = qctl(mg, "delete", a.qid, check=False)
    assert r.returncode == 1 and "no message" in r.stderr, r.stderr
    got = sink_tokens(sink)
    assert set(got) == {d.token}, f"sink got {set(got)}, want only the allow-listed message"
    # the index survives a restart (read back from Berkeley DB, not rebuilt)
    mg.restart()
    mg.wait_log(r"quarantine: 2 message\(s\) indexed: 2 from the index, 0 rebuilt")
    assert qids(mg) == {b.qid, c.qid}


def test_release_delivers_once_across_restarts():
    mg, sink = setup()
    a, b, c, d, e = (quarantined(mg, send(mg, subject=f"m{i}")) for i in range(5))
    r = qctl(mg, "release", a.qid, "by=alice")
    assert r.stdout.strip() == f"{a.qid} released", r.stdout
    mg.assert_log(rf"{a.qid} released from quarantine released-by=alice verdict=\"score=7\.00")
    wait_for(lambda: a.token in sink_tokens(sink), 20, "released message delivered")
    # release then stop at once: delivered exactly once, before or after the restart
    assert qctl(mg, "release", b.qid).stdout.strip() == f"{b.qid} released"
    mg.assert_log(rf"{b.qid} released from quarantine released-by=operator")
    mg.stop()
    mg.start()
    wait_for(lambda: b.token in sink_tokens(sink), 20, "message released before the stop")
    # several at once: a comma list and separate words
    r = qctl(mg, "release", f"{c.qid},{d.qid}")
    assert r.stdout.split() == [c.qid, "released", d.qid, "released"], r.stdout
    r = qctl(mg, "release", c.qid, check=False)
    assert r.returncode == 1 and "no message" in r.stderr, "released twice"
    wait_for(lambda: {c.token, d.token} <= set(sink_tokens(sink)), 20, "bulk release delivered")
    mg.wait_log(rf"{d.qid} to=<user@example.test> .*status=sent")
    mg.restart()
    assert qids(mg) == {e.qid}, qids(mg)
    time.sleep(0.5)     # a redelivery after the restart would show up now
    got = sink_tokens(sink)
    assert {t.token: len(got.get(t.token, [])) for t in (a, b, c, d, e)} == \
        {a.token: 1, b.token: 1, c.token: 1, d.token: 1, e.token: 0}, got
    for bad in (["release"], ["release", "xyz"], ["release", a.qid, "by="], ["delete", "a,b"]):
        r = qctl(mg, *bad, check=False)
        assert r.returncode == 2, (bad, r.returncode, r.stderr)


def test_release_and_delete_of_several_at_once():
    mg, sink = setup()
    txs = [quarantined(mg, send(mg, subject=f"bulk {i}")) for i in range(4)]
    r = qctl(mg, "delete", txs[0].qid, txs[1].qid, "0123456789abcdef", check=False)
    out = r.stdout + r.stderr   # a failed command's reply goes to stderr
    assert r.returncode == 1, r
    assert f"{txs[0].qid} deleted\n{txs[1].qid} deleted\nerror: no message 0123456789abcdef" \
        in out, out
    assert qids(mg) == {txs[2].qid, txs[3].qid}
    assert not any(spool_has(mg, t.qid) for t in txs[:2])


def test_retention_expiry_by_arrival():
    mg, sink = setup({"quarantine_retention": "1h"})
    a = quarantined(mg, send(mg, subject="old"))
    t0 = int(time.time())
    wait_for(lambda: int(time.time()) >= t0 + 2, 5, "two seconds later")
    b = quarantined(mg, send(mg, subject="young"))
    arr = {m["qid"]: m["arrival"] for m in qlist(mg)["messages"]}
    assert arr[b.qid] - arr[a.qid] >= 1, arr
    # the sweep's clock set just past A's retention: A expires, B (younger) stays
    r = qctl(mg, "clock", str(arr[a.qid] + 3600 + 1))
    assert r.stdout.strip().endswith("1 expired message(s) deleted"), r.stdout
    mg.assert_log(rf"{a.qid} quarantine expired: arrival=\S+ age=3601s retention=3600s; deleted")
    assert qids(mg) == {b.qid} and not spool_has(mg, a.qid) and spool_has(mg, b.qid)
    r = qctl(mg, "clock", str(arr[b.qid] + 3600))
    assert r.stdout.strip().endswith("0 expired message(s) deleted"), r.stdout
    r = qctl(mg, "clock", str(arr[b.qid] + 3601))
    assert r.stdout.strip().endswith("1 expired message(s) deleted"), r.stdout
    assert qids(mg) == set() and not spool_has(mg, b.qid)
    assert sink.count == 0, "an expired message was delivered or bounced"
    qctl(mg, "clock", "real")
    # the clock is a test-only control
    mg.configure({"test_mode": False})
    mg.reload()
    r = qctl(mg, "clock", "real", check=False)
    assert r.returncode == 2 and "test_mode" in r.stderr, r.stderr


def test_kill9_during_release_never_loses_or_duplicates():
    state = {"refuse": True}

    def rule(address, session):
        return "451 4.3.0 back-end busy" if state["refuse"] else None
    mg, sink = setup(rules={"user@example.test": rule})
    ctl = [str(mg.ctl_binary), "-c", str(mg.dir), "queue", "quarantine", "release"]
    txs = []
    # kill -9 the whole daemon at several moments of a release in flight
    for delay in (0.0, 0.002, 0.01, 0.05):
        t = quarantined(mg, send(mg, subject=f"crash {delay}"))
        p = subprocess.Popen(ctl + [t.qid], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        mg.kill9()
        p.wait(10)
        mg.start()
        txs.append(t)
    # one whose release was answered before the crash must stay released
    t = quarantined(mg, send(mg, subject="answered"))
    assert qctl(mg, "release", t.qid).stdout.strip() == f"{t.qid} released"
    mg.kill9()
    mg.start()
    assert t.qid not in qids(mg), "an acknowledged release was undone by the crash"
    txs.append(t)
    still = qids(mg)
    assert still <= {x.qid for x in txs}, still
    state["refuse"] = False
    mg.ctl("queue", "flush")
    released = [x for x in txs if x.qid not in still]
    wait_for(lambda: all(x.token in sink_tokens(sink) for x in released), 30, "released delivered")
    for x in txs:
        if x.qid in still:
            assert spool_has(mg, x.qid), f"{x.qid} listed but its files are gone"
            qctl(mg, "release", x.qid)
    wait_for(lambda: all(x.token in sink_tokens(sink) for x in txs), 30, "all delivered")
    mg.restart()
    time.sleep(0.5)
    got = sink_tokens(sink)
    counts = {x.qid: len(got.get(x.token, [])) for x in txs}
    assert all(n == 1 for n in counts.values()), f"deliveries per message: {counts}"
    assert qids(mg) == set()


def test_index_rebuilt_deleted_damaged_and_stale():
    mg, sink = setup()
    a = quarantined(mg, send(mg, subject="first one"))
    b = quarantined(mg, send(mg, "x@y.test", ["bob@other.test"], subject="second one"))
    db = mg.state_dir / "queue-db"
    assert db.is_dir(), "no index environment"
    mg.stop()
    shutil.rmtree(db)
    mg.start()
    mg.wait_log(r"quarantine: 2 message\(s\) indexed: 0 from the index, 2 rebuilt from the spool")
    j = {m["qid"]: m for m in qlist(mg)["messages"]}
    assert set(j) == {a.qid, b.qid} and j[b.qid]["subject"] == "second one", j
    # stale: an older copy of the index (a restored backup) still lists a deleted message
    mg.stop()
    shutil.copytree(db, mg.dir / "db-copy")
    mg.start()
    qctl(mg, "delete", a.qid)
    mg.stop()
    st = db.stat()
    shutil.rmtree(db)
    shutil.copytree(mg.dir / "db-copy", db)
    for p in [db, *db.rglob("*")]:      # the queue role runs as the daemon's user
        os.chown(p, st.st_uid, st.st_gid)
    mg.start()
    mg.wait_log(r"quarantine: 1 message\(s\) indexed: 1 from the index, 0 rebuilt from the "
        r"spool, 1 stale index entry removed")
    assert qids(mg) == {b.qid}
    # damaged table file: set aside, rebuilt
    mg.stop()
    (db / "quarantine.db").write_bytes(b"\0garbage" * 512)
    mg.start()
    mg.wait_log(r"quarantine: 1 message\(s\) indexed: 0 from the index, 1 rebuilt")
    assert qids(mg) == {b.qid}
    assert qlist(mg, "subject=second")["total"] == 1
