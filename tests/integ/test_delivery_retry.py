"""Retries, backoff, expiry and delivery status notifications (RFC 3461/3464) end to end.

The sender's domain sender.test is protected too, with its own Sink, so that the DSNs the queue
generates (null sender, to the original sender) are delivered there and can be parsed.
"""

import datetime
import email
import email.policy
import re

from mgtest import MailGuard, wait_for
from test_queue_lib import (CountingRule, TrackingSink, queue_list, send_ok,
    wait_queue_empty, wait_tokens)

SENDER = "alice@sender.test"
FAST = {"retry_min": "1s", "retry_max": "2s"}


def setup(config=None, rules=None):
    back = TrackingSink(rules=rules or {})
    home = TrackingSink()           # the sender's domain: receives the DSNs
    mg = MailGuard(config=dict(FAST, **(config or {})),
        domains={"example.test": {"transport": back.transport},
                 "sender.test": {"transport": home.transport}}).start()
    return mg, back, home


def dsn_fields(msg):
    """(report EmailMessage, per-message fields, [per-recipient fields]) of a DSN."""
    m = email.message_from_bytes(msg.data, policy=email.policy.default)
    assert m.get_content_type() == "multipart/report", f"got {m.get_content_type()}"
    assert m.get_param("report-type") == "delivery-status", \
        f"report-type {m.get_param('report-type')}"
    parts = list(m.iter_parts())
    ds = [p for p in parts if p.get_content_type() == "message/delivery-status"]
    assert len(ds) == 1, f"parts: {[p.get_content_type() for p in parts]}"
    blocks = ds[0].get_payload()
    assert len(blocks) >= 2, f"delivery-status blocks: {blocks}"
    return m, blocks[0], blocks[1:], parts


def dsns_about(home, token):
    """DSNs at the sender's sink whose returned message or headers carry token."""
    return [m for m in home.messages if token.encode() in m.data]


def attempt_lines(mg, qid):
    return re.findall(rf"^.*{qid} to=<[^>]*> .*$", mg.log_text(0), re.M)


def test_deferred_three_times_then_delivered():
    rule = CountingRule(3)
    mg, back, home = setup(rules={"retry@example.test": rule})
    tx = send_ok(mg, SENDER, ["retry@example.test"])
    got = wait_tokens(back, [tx.token], 20)
    assert rule.calls == 4, f"back-end saw {rule.calls} RCPTs, want 4 (3 x 451, then 250)"
    assert len(got[tx.token]) == 1
    # the back-end sees the message before the queue logs the outcome the delivery agent reports
    lines = wait_for(lambda: (lambda ls: ls if len(ls) >= 4 else None)(attempt_lines(mg, tx.qid)),
        10, "four attempt lines")
    assert [("deferred" in l, "sent" in l) for l in lines] == \
        [(True, False)] * 3 + [(False, True)], f"result lines: {lines}"
    for n, l in enumerate(lines, 1):
        assert re.search(rf"\battempt={n}\b", l), f"attempt {n} not visible in: {l}"
    assert "dsn=4.3.0" in lines[0] and "451 4.3.0" in lines[0], lines[0]
    # backoff: retry_min (1s) doubling to retry_max (2s); the scheduler ticks once a second
    ts = [datetime.datetime.fromisoformat(l.split()[0].replace("Z", "+00:00")).timestamp()
        for l in lines]
    gaps = [round(b - a, 2) for a, b in zip(ts, ts[1:])]
    assert 0.5 <= gaps[0] <= 2.5 and 1.5 <= gaps[1] <= 3.5 and 1.5 <= gaps[2] <= 3.5, \
        f"retry gaps {gaps}s, want about 1, 2, 2"
    wait_queue_empty(mg)
    assert home.count == 0, "a DSN was sent for a message that was delivered"


def test_permanent_failure_bounces_to_the_sender():
    mg, back, home = setup(rules={"bad@example.test": "550 5.1.1 <bad@example.test>: no such user"})
    tx = send_ok(mg, SENDER, ["bad@example.test"])
    [dsn] = home.wait_count(1, 15)
    assert dsn.mail_from in ("", "<>"), f"DSN envelope sender {dsn.mail_from!r}, want <>"
    assert dsn.rcpt_tos == [SENDER], f"DSN to {dsn.rcpt_tos}"
    m, per_msg, per_rcpt, parts = dsn_fields(dsn)
    assert m["From"].addresses[0].addr_spec == "MAILER-DAEMON@mx.test.local", m["From"]
    assert m["To"] and SENDER in str(m["To"]), m["To"]
    assert "mx.test.local" in per_msg["Reporting-MTA"], per_msg["Reporting-MTA"]
    [r] = per_rcpt
    assert r["Final-Recipient"].lower().endswith("bad@example.test"), r["Final-Recipient"]
    assert r["Action"] == "failed", r["Action"]
    assert re.fullmatch(r"5\.\d+\.\d+", r["Status"]) and r["Status"] == "5.1.1", r["Status"]
    assert "no such user" in str(r["Diagnostic-Code"]), r["Diagnostic-Code"]
    returned = [p for p in parts if p.get_content_type() in ("message/rfc822",
        "text/rfc822-headers")]
    assert returned and tx.token.encode() in returned[0].as_bytes(), \
        f"original not returned; parts {[p.get_content_type() for p in parts]}"
    mg.wait_log(rf"{tx.qid} to=<bad@example.test> .*status=bounced dsn=5\.1\.1")
    wait_queue_empty(mg)
    assert back.count == 0


def _wait_bounced_and_check_no_dsn(mg, qid):
    mg.wait_log(rf"{qid} to=<[^>]*> .*status=bounced")
    wait_for(lambda: qid not in {e["qid"] for e in queue_list(mg)}, 10, f"{qid} to leave")
    mg.assert_no_log(rf"{qid} sender non-delivery notification")


def test_null_sender_and_notify_never_get_no_bounce():
    mg, back, home = setup(rules={"bad@example.test": "550 5.1.1 no such user"})
    null = send_ok(mg, "", ["bad@example.test"])
    never = send_ok(mg, SENDER, ["bad@example.test"], rcpt_params=" NOTIFY=NEVER")
    _wait_bounced_and_check_no_dsn(mg, null.qid)
    _wait_bounced_and_check_no_dsn(mg, never.qid)
    # a control message that does bounce, so "nothing arrived" is not just "not yet"
    ctl = send_ok(mg, SENDER, ["bad@example.test"])
    home.wait_count(1, 15)
    wait_queue_empty(mg)
    assert [m for m in home.messages if ctl.token.encode() in m.data], "control DSN missing"
    assert not dsns_about(home, null.token) and not dsns_about(home, never.token), \
        f"DSNs at the sender: {[m.data[:300] for m in home.messages]}"
    assert home.count == 1, f"got {home.count} DSNs, want 1 (the control message's)"


def test_notify_success_gets_a_relayed_report():
    mg, back, home = setup()
    tx = send_ok(mg, SENDER, ["ok@example.test"], rcpt_params=" NOTIFY=SUCCESS,FAILURE")
    wait_tokens(back, [tx.token])
    [dsn] = home.wait_count(1, 15)
    m, per_msg, [r], parts = dsn_fields(dsn)
    assert r["Action"] == "relayed", f"Action {r['Action']}, want relayed (no DSN at the back-end)"
    assert r["Status"].startswith("2."), r["Status"]
    assert r["Final-Recipient"].lower().endswith("ok@example.test")
    wait_queue_empty(mg)
    assert home.count == 1, "success reported more than once"


def test_queue_lifetime_expires_with_4_4_7():
    mg, back, home = setup(config={"queue_lifetime": "3s", "retry_min": "1s",
        "retry_max": "1s"}, rules={"slow@example.test": "451 4.3.0 try later"})
    tx = send_ok(mg, SENDER, ["slow@example.test"])
    [dsn] = home.wait_count(1, 20)
    m, per_msg, [r], parts = dsn_fields(dsn)
    assert r["Action"] == "failed", r["Action"]
    assert r["Status"] == "4.4.7", f"Status {r['Status']}, want 4.4.7"
    assert "451 4.3.0 try later" in str(r["Diagnostic-Code"]) or \
        "try later" in dsn.data.decode(errors="replace"), "last error not reported"
    mg.wait_log(rf"{tx.qid} to=<slow@example.test> status=expired dsn=4\.4\.7")
    wait_queue_empty(mg)
    assert back.count == 0


def test_delay_warning_sent_once():
    mg, back, home = setup(config={"delay_warning": "1s", "queue_lifetime": "1h",
        "retry_min": "1s", "retry_max": "1s"}, rules={"slow@example.test": "451 4.3.0 try later"})
    tx = send_ok(mg, SENDER, ["slow@example.test"])
    [dsn] = home.wait_count(1, 15)
    m, per_msg, [r], parts = dsn_fields(dsn)
    assert r["Action"] == "delayed", f"Action {r['Action']}, want delayed"
    assert r["Status"].startswith("4."), r["Status"]
    assert r["Will-Retry-Until"], "no Will-Retry-Until in a delay report"
    # three more deferrals after the warning: still one warning
    mark = mg.log_mark()
    for n in (1, 2, 3):
        mg.wait_log(rf"(?s)({tx.qid} to=<slow@example.test> .*status=deferred.*){{{n}}}",
            10, since=mark)
    assert home.count == 1, f"got {home.count} delay reports, want 1"
    assert len(re.findall(rf"{tx.qid} sender non-delivery notification: \S+ kind=delay",
        mg.log_text(0))) == 1
    assert tx.qid in {e["qid"] for e in queue_list(mg)}, "the delayed message left the queue"


def test_mixed_recipients_each_get_their_outcome():
    mg, back, home = setup(rules={"slow@example.test": "451 4.3.0 try later",
        "bad@example.test": "550 5.1.1 no such user"})
    rcpts = ["ok@example.test", "slow@example.test", "bad@example.test"]
    tx = send_ok(mg, SENDER, rcpts)
    got = wait_tokens(back, [tx.token])
    assert got[tx.token][0].rcpt_tos == ["ok@example.test"], got[tx.token][0].rcpt_tos
    [dsn] = home.wait_count(1, 15)
    m, per_msg, per_rcpt, parts = dsn_fields(dsn)
    assert [(r["Final-Recipient"].split(";")[-1].strip(), r["Action"], r["Status"])
        for r in per_rcpt] == [("bad@example.test", "failed", "5.1.1")], \
        f"DSN recipients: {[dict(r) for r in per_rcpt]}"
    # the deferred recipient stays queued alone; retried, never re-sent to the others
    mark = mg.log_mark()
    mg.wait_log(rf"{tx.qid} to=<slow@example.test> .*status=deferred", 10, since=mark)
    [e] = [e for e in queue_list(mg) if e["qid"] == tx.qid]
    assert [(a, s) for a, s, _ in e["rcpts"]] == [("slow@example.test", "pending")], e
    r = mg.ctl("queue", "show", tx.qid).stdout
    assert re.search(r"to=<ok@example.test> delivered", r), r
    assert re.search(r"to=<bad@example.test> bounced", r), r
    assert re.search(r"to=<slow@example.test> pending dsn=4\.3\.0", r), r
    assert back.count == 1, f"back-end got {back.count} messages, want 1"
    assert home.count == 1
