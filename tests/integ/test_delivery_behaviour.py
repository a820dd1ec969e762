"""Delivery to the back-end: connection reuse, per-destination concurrency, opportunistic
STARTTLS, a back-end that is down and comes back."""

import re
import threading
import time

import mgtest
from mgtest import MailGuard, wait_for
from test_queue_lib import (TrackingSink, queue_list, send_ok, wait_queue_empty,
    wait_tokens)


def send_many(mg, n, threads=5, **kw):
    out = []
    lock = threading.Lock()
    todo = list(range(n))

    def work():
        while True:
            with lock:
                if not todo:
                    return
                todo.pop()
            tx = send_ok(mg, **kw)
            with lock:
                out.append(tx)
    ts = [threading.Thread(target=work, daemon=True) for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(60)
    assert len(out) == n, f"sent {len(out)} of {n}"
    return out


def test_connections_are_reused():
    sink = TrackingSink()
    mg = MailGuard(config={"delivery_concurrency": 4},
        domains={"example.test": {"transport": sink.transport}}).start()
    txs = send_many(mg, 40, threads=4)
    got = wait_tokens(sink, [t.token for t in txs], 20)
    sessions = {}
    for t in txs:
        sessions.setdefault(got[t.token][0].session, []).append(t.token)
    assert len(sessions) <= 8, f"40 messages over {len(sessions)} connections"
    assert max(len(v) for v in sessions.values()) >= 5, \
        f"messages per connection: {sorted(len(v) for v in sessions.values())}"
    assert sink.sessions == len(sessions), f"{sink.sessions} connections, {len(sessions)} used"
    # idle connections are closed after a while (QUIT), not kept forever
    wait_for(lambda: sink.open_sessions == 0, 15, "idle connections to close")


def test_per_destination_concurrency_limit():
    sink = TrackingSink(data_delay=0.3)
    mg = MailGuard(config={"delivery_concurrency": 2},
        domains={"example.test": {"transport": sink.transport}}).start()
    txs = send_many(mg, 12, threads=6)
    wait_tokens(sink, [t.token for t in txs], 30)
    assert sink.max_open_sessions == 2, \
        f"at most {sink.max_open_sessions} sessions open at once, want exactly 2 (the limit)"


def test_opportunistic_starttls():
    sink = TrackingSink(tls=True)
    mg = MailGuard(domains={"example.test": {"transport": sink.transport}}).start()
    tx = send_ok(mg)
    # (lib/evconn.c once never started a client-side handshake: the ClientHello was not sent
    # and this hung until delivery_timeout_command)
    [m] = wait_tokens(sink, [tx.token], 10)[tx.token]
    assert m.tls and m.tls_version.startswith("TLSv1."), f"tls={m.tls} {m.tls_version}"
    line = mg.wait_log(rf"{tx.qid} to=<user@example.test> .*status=sent").group(0)
    assert re.search(r"tls=TLSv1\.[23]\b", line), f"no TLS in the log line: {line}"


def test_stop_during_hung_transaction_is_clean():
    """SIGTERM while the back-end sits on a RCPT for a minute: delivery gives the transaction a
    short grace, then hands it back to the queue as deferred; every role exits 0 well within
    the supervisor's deadline; after a restart the message is delivered."""
    state = {"hang": True}

    def rule(address, session):
        return (60, None) if state["hang"] else None
    sink = TrackingSink(rules={"user@example.test": rule})
    mg = MailGuard(config={"retry_min": "1h", "retry_max": "2h"},
        domains={"example.test": {"transport": sink.transport}}).start()
    tx = send_ok(mg)
    wait_for(lambda: [e for e in queue_list(mg) if e["state"] == "active"], 10, "delivery under way")
    mark = mg.log_mark()
    t0 = time.monotonic()
    mg.stop(timeout=14)
    took = time.monotonic() - t0
    assert took < 10, f"stop took {took:.1f}s"
    bad = [l for l in mg.log_text(mark).splitlines()
        if re.search(r"crit:|did not stop|ended with status|killed", l)]
    assert not bad, f"unclean stop: {bad}"
    mg.assert_log(rf"{tx.qid} to=<user@example.test> .*status=deferred dsn=4\.3\.2", since=mark)
    state["hang"] = False
    mg.start()
    assert tx.qid in {e["qid"] for e in queue_list(mg)}
    mg.ctl("queue", "flush")
    got = wait_tokens(sink, [tx.token])
    assert len(got[tx.token]) == 1


def test_backend_down_defers_then_flush_delivers():
    port = mgtest.free_port()
    mg = MailGuard(config={"retry_min": "1h", "retry_max": "2h"},
        domains={"example.test": {"transport": f"[127.0.0.1]:{port}"}}).start()
    txs = [send_ok(mg) for _ in range(3)]
    for t in txs:
        mg.wait_log(rf"{t.qid} to=<user@example.test> .*status=deferred dsn=4\.4\.1")
    q = queue_list(mg)
    assert len(q) == 3 and all(e["rcpts"][0][1] == "pending" for e in q), q
    sink = TrackingSink(port=port)
    r = mg.ctl("queue", "flush")
    assert r.stdout.startswith("3 message(s)"), r.stdout
    wait_tokens(sink, [t.token for t in txs], 15, "delivery once the back-end is back")
    wait_queue_empty(mg)


def _content_message(token):
    lines = [b"From: a@client.test", b"To: user@example.test", b"Subject: content check",
        f"X-MG-Token: {token}".encode(), b"MIME-Version: 1.0",
        b"Content-Type: text/plain; charset=utf-8", b"Content-Transfer-Encoding: 8bit", b"",
        b".leading dot", b"..two dots", b".", b"", b"x" * 998,
        "8-bit: gr\u00fc\u00dfe, \u65e5\u672c".encode(), b"\ttab line   ", b"end."]
    body = b"\r\n".join(lines) + b"\r\n"
    pad = [f".{i:07d} ".encode() + b"y" * 60 for i in range(40000)]   # ~2.8 MB, dots at line start
    return body + b"\r\n".join(pad) + b"\r\n.\r\n..\r\nlast\r\n"


def _check_exact(sink, tx, original):
    [m] = wait_tokens(sink, [tx.token], 20)[tx.token]
    assert m.data.endswith(original), "the message was altered on the way"
    prefix = m.data[:-len(original)]
    assert prefix.startswith(b"Received: ") and prefix.endswith(b"\r\n"), prefix[:200]
    assert "BODY=8BITMIME" in [o.upper() for o in m.mail_options], m.mail_options
    return m


def test_content_arrives_byte_exact():
    """Dot-stuffing both ways, a 998-octet line, 8-bit text, a lone "." line and ~3 MB arrive
    unchanged behind our Received header."""
    sink = TrackingSink()
    mg = MailGuard(domains={"example.test": {"transport": sink.transport}}).start()
    data = _content_message("exact")
    tx = send_ok(mg, rcpts=["user@example.test"], data=data, mail_params=" BODY=8BITMIME",
        token="exact")
    _check_exact(sink, tx, data)


def test_pipelining_backend_mixed_recipients_and_content():
    """The same against a back-end that offers PIPELINING (MAIL, RCPTs and DATA in one go):
    per-recipient outcomes and the content are right there too."""
    sink = TrackingSink(pipelining=True, rules={"slow@example.test": "451 4.3.0 try later",
        "bad@example.test": "550 5.1.1 no such user"})
    mg = MailGuard(config={"retry_min": "1h", "retry_max": "2h"},
        domains={"example.test": {"transport": sink.transport}}).start()
    data = _content_message("pipe")
    tx = send_ok(mg, rcpts=["ok@example.test", "slow@example.test", "bad@example.test"],
        data=data, mail_params=" BODY=8BITMIME", token="pipe")
    m = _check_exact(sink, tx, data)
    assert m.rcpt_tos == ["ok@example.test"], m.rcpt_tos
    mg.wait_log(rf"{tx.qid} to=<slow@example.test> .*status=deferred dsn=4\.3\.0")
    mg.wait_log(rf"{tx.qid} to=<bad@example.test> .*status=bounced dsn=5\.1\.1")
    [e] = [e for e in queue_list(mg) if e["qid"] == tx.qid]
    assert [(a, s) for a, s, _ in e["rcpts"]] == [("slow@example.test", "pending")], e
    # nobody accepts: the pipelined DATA is refused and nothing is sent
    only_bad = send_ok(mg, rcpts=["bad@example.test"])
    mg.wait_log(rf"{only_bad.qid} to=<bad@example.test> .*status=bounced")
    ok = send_ok(mg, rcpts=["ok@example.test"])         # the connection still works after that
    wait_tokens(sink, [ok.token])
    assert sink.count == 2, f"sink got {sink.count} messages, want 2"


def test_reload_lowers_concurrency_of_a_known_destination():
    """delivery_concurrency is reloadable: after lowering it, a destination already in use
    (whose slow-start limit grew under the old value) gets no more sessions than the new one."""
    sink = TrackingSink(data_delay=0.3)
    mg = MailGuard(config={"delivery_concurrency": 8},
        domains={"example.test": {"transport": sink.transport}}).start()
    first = send_many(mg, 24, threads=8)
    wait_tokens(sink, [t.token for t in first], 30)
    assert sink.max_open_sessions > 2, f"only {sink.max_open_sessions} sessions before reload"
    mg.configure(config={"delivery_concurrency": 2})
    mark = mg.log_mark()
    assert mg.ctl("reload").stdout.strip() == "reloaded"
    mg.wait_log(r"mailguard/delivery\[\d+\]: info: configuration reloaded", since=mark)
    assert sink.open_sessions > 2, "the idle connections closed already"
    sink.max_busy_sessions = 0      # the idle connections from before stay open: count work
    second = send_many(mg, 12, threads=6)
    wait_tokens(sink, [t.token for t in second], 30)
    assert sink.max_busy_sessions <= 2, \
        f"{sink.max_busy_sessions} transactions at once after lowering delivery_concurrency to 2"
