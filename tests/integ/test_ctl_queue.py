"""mailguardctl: queue list/show/hold/release/delete/flush, status, reload (and SIGHUP)."""

import re
import signal

import mgtest
from mgtest import MailGuard, wait_for
from test_queue_lib import (TrackingSink, queue_list, send_ok, sink_tokens,
    spool_area, wait_queue_empty, wait_tokens)

SENDER = "alice@sender.test"


def deferring_setup(config=None):
    state = {"refuse": True}

    def rule(address, session):
        return "451 4.3.0 back-end busy" if state["refuse"] else None
    back = TrackingSink(rules={"user@example.test": rule})
    home = TrackingSink()           # the sender's domain: would receive any bounce
    mg = MailGuard(config=dict({"retry_min": "1h", "retry_max": "2h"}, **(config or {})),
        domains={"example.test": {"transport": back.transport},
                 "sender.test": {"transport": home.transport}}).start()
    return mg, back, home, state


def by_qid(mg):
    return {e["qid"]: e for e in queue_list(mg)}


def test_queue_list_show_hold_release_delete_flush():
    mg, back, home, state = deferring_setup()
    a, b, c = (send_ok(mg, SENDER) for _ in range(3))
    for t in (a, b, c):
        mg.wait_log(rf"{t.qid} to=<user@example.test> .*status=deferred")
    q = by_qid(mg)
    assert set(q) == {a.qid, b.qid, c.qid}, f"list: {q}"
    for e in q.values():
        assert e["state"] == "deferred" and e["attempts"] == 1 and e["from"] == SENDER, e
        assert e["rcpts"] == [("user@example.test", "pending", "dsn=4.3.0 (RCPT TO: 451 4.3.0 "
            "back-end busy)")], e["rcpts"]
    # show
    r = mg.ctl("queue", "show", a.qid)
    assert r.stdout.startswith(f"{a.qid} deferred"), r.stdout
    assert "-- headers:" in r.stdout and f"X-MG-Token: {a.token}" in r.stdout, r.stdout
    assert re.search(r"^Received: from client\.test", r.stdout, re.M), r.stdout
    r = mg.ctl("queue", "show", "0123456789abcdef", check=False)
    assert r.returncode == 1 and "no message 0123456789abcdef" in r.stderr, (r.returncode, r.stderr)
    r = mg.ctl("queue", "show", "../../etc/passwd", check=False)
    assert r.returncode == 1, f"show with a path: {r.returncode} {r.stdout}"
    # hold B, delete C
    assert mg.ctl("queue", "hold", b.qid).stdout.strip() == f"{b.qid} on hold"
    assert mg.ctl("queue", "delete", c.qid).stdout.strip() == f"{c.qid} deleted"
    q = by_qid(mg)
    assert set(q) == {a.qid, b.qid} and q[b.qid]["state"] == "hold", q
    assert not [f for f in mg.spool_files() if c.qid in f], f"files of deleted {c.qid} remain"
    # held survives a restart
    mg.stop()
    mg.start()
    q = by_qid(mg)
    assert set(q) == {a.qid, b.qid} and q[b.qid]["state"] == "hold", f"after restart: {q}"
    # flush delivers A only
    state["refuse"] = False
    r = mg.ctl("queue", "flush")
    assert r.stdout.strip() == "1 message(s) scheduled for immediate delivery", r.stdout
    wait_tokens(back, [a.token])
    wait_for(lambda: set(by_qid(mg)) == {b.qid}, 10, "only the held message left")
    assert b.token not in sink_tokens(back), "the held message was delivered"
    # release B: delivered
    assert mg.ctl("queue", "release", b.qid).stdout.strip() == f"{b.qid} released"
    got = wait_tokens(back, [b.token])
    wait_queue_empty(mg)
    assert c.token not in got, "the deleted message was delivered"
    assert all(len(got[t.token]) == 1 for t in (a, b)), {t: len(v) for t, v in got.items()}
    assert home.count == 0, "a bounce was sent (delete must not bounce)"
    assert spool_area(mg, "hold") == [], f"hold markers left: {spool_area(mg, 'hold')}"
    mg.assert_log(rf"{c.qid} deleted by the operator", since=0)


def test_queue_hold_and_delete_all_and_bad_usage():
    mg, back, home, state = deferring_setup()
    txs = [send_ok(mg, SENDER) for _ in range(4)]
    for t in txs:
        mg.wait_log(rf"{t.qid} to=<user@example.test> .*status=deferred")
    r = mg.ctl("queue", "hold", "ALL")
    assert len(r.stdout.strip().splitlines()) == 4, r.stdout
    assert {e["state"] for e in queue_list(mg)} == {"hold"}
    state["refuse"] = False
    assert mg.ctl("queue", "flush").stdout.startswith("0 message(s)")
    mg.ctl("queue", "release", txs[0].qid)
    wait_tokens(back, [txs[0].token])
    mg.ctl("queue", "delete", "ALL")
    wait_queue_empty(mg)
    assert back.count == 1 and home.count == 0, (back.count, home.count)
    for args, code in ((("queue", "bogus"), 2), (("queue", "hold"), 2),
            (("queue", "release", "ffffffffffffffff"), 1), (("nonsense",), 2)):
        r = mg.ctl(*args, check=False)
        assert r.returncode == code, f"mailguardctl {' '.join(args)}: exit {r.returncode}, " \
            f"want {code}; {r.stdout} {r.stderr}"


def test_delete_while_delivery_is_in_flight():
    """delete on a message whose delivery is under way: it must not be delivered again and
    must leave the queue when the attempt ends, with no bounce."""
    back = TrackingSink(rules={"slow@example.test": (1.5, "451 4.3.0 slow and busy")})
    home = TrackingSink()
    mg = MailGuard(config={"retry_min": "1s", "retry_max": "1s"},
        domains={"example.test": {"transport": back.transport},
                 "sender.test": {"transport": home.transport}}).start()
    tx = send_ok(mg, SENDER, ["slow@example.test"])
    wait_for(lambda: [e for e in queue_list(mg) if e["state"] == "active"], 5, "active")
    mg.ctl("queue", "delete", tx.qid)
    mg.wait_log(rf"{tx.qid} removed by the operator")
    wait_queue_empty(mg)
    assert home.count == 0


def test_status_reports_the_roles():
    mg, back, home, state = deferring_setup()
    r = mg.ctl("status")
    assert r.stdout.splitlines()[0] == "ready yes", r.stdout
    pids = {int(p) for p in re.findall(r"^(?:smtpd|queue|delivery) pid (\d+)$", r.stdout, re.M)}
    assert len(pids) == 3 and pids <= set(mg.pids()), f"status pids {pids}, daemon {mg.pids()}"


def test_reload_switches_transport_and_keeps_sessions():
    one = TrackingSink()
    two = TrackingSink()
    mg = MailGuard(domains={"example.test": {"transport": one.transport}}).start()
    t1 = send_ok(mg)
    wait_tokens(one, [t1.token])
    # a session open across the reload, in the middle of a transaction
    c = mgtest.RawClient(mg.port)
    c.banner()
    c.ehlo()
    c.expect(250, "MAIL FROM:<a@client.test>")
    c.expect(250, "RCPT TO:<user@example.test>")
    mg.configure(domains={"example.test": {"transport": two.transport}})
    mark = mg.log_mark()
    r = mg.ctl("reload")
    assert r.stdout.strip() == "reloaded", r.stdout
    mg.wait_log(r"mailguard/queue\[\d+\]: info: configuration reloaded", since=mark)
    mg.wait_log(r"mailguard/delivery\[\d+\]: info: configuration reloaded", since=mark)
    mg.wait_log(r"mailguard/smtpd\[\d+\]: info: configuration reloaded", since=mark)
    c.expect(354, "DATA")
    c.send(b"Subject: across reload\r\nX-MG-Token: across\r\n\r\nbody\r\n.\r\n")
    c.expect(250)
    c.expect(250, "MAIL FROM:<a@client.test>")     # the session goes on
    c.expect(250, "RSET")
    t2 = send_ok(mg)
    wait_tokens(two, [t2.token, "across"])
    # SIGHUP back to the first sink
    mg.configure(domains={"example.test": {"transport": one.transport}})
    mg.reload(wait_log=r"mailguard/queue\[\d+\]: info: configuration reloaded")
    t3 = send_ok(mg)
    wait_tokens(one, [t3.token])
    assert t2.token not in sink_tokens(one) and t3.token not in sink_tokens(two)
    c.expect(221, "QUIT")


def test_invalid_reload_refused_old_config_kept():
    one = TrackingSink()
    two = TrackingSink()
    mg = MailGuard(domains={"example.test": {"transport": one.transport}}).start()
    mg.write_file("domains.d/example.test.conf", f"transport = {two.transport}\nbogus_key = 1\n")
    mark = mg.log_mark()
    mg.signal(signal.SIGHUP)
    mg.wait_log(r"reload: configuration has errors; keeping the running one", since=mark)
    mg.assert_no_log(r"configuration reloaded", since=mark)
    r = mg.ctl("reload", check=False)
    assert r.returncode != 0, f"mailguardctl reload with a broken config: {r.stdout} {r.stderr}"
    assert "bogus_key" in r.stderr or "error" in (r.stdout + r.stderr).lower(), r
    t = send_ok(mg)
    wait_tokens(one, [t.token])
    assert two.count == 0, "the refused configuration was applied"
    assert mg.running
    # fixed config reloads fine
    mg.configure(domains={"example.test": {"transport": two.transport}})
    assert mg.ctl("reload").stdout.strip() == "reloaded"
    mg.wait_log(r"mailguard/queue\[\d+\]: info: configuration reloaded", since=mark)
    t = send_ok(mg)
    wait_tokens(two, [t.token])
