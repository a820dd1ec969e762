"""Role counters end to end (issue H): real mail through the real daemon, /metrics scraped on a
plain-HTTP metrics_listen listener and parsed by python3-prometheus-client's parser (an
independent implementation of the text format). Checks the exact counts per domain and verdict
(deliver, reject by block list, greylist, a trusted client's mail counted as deliver), delivery
results, that the counters of smtpd continue after kill -9 of the role (the supervisor restarts
it), that a fresh daemon start begins at zero, and the chart history of /api/v1/stats (test_mode
samples every 2 s instead of 60 s) read with an API token over HTTPS."""

import json
import re
import signal
import ssl
import urllib.error
import urllib.request

import mgtest
from dnsrig import DnsRig
from mgtest import MailGuard, RawClient, Sink, wait_for
from prometheus_client.parser import text_string_to_metric_families

GOOD_IP = "192.0.2.20"          # inside sender.test's SPF
GREY_IP = "192.0.2.30"
TRUSTED_IP = "203.0.113.5"      # inside mynetworks: skips the filter

ZONES = {
    "sender.test": [("@", "TXT", "v=spf1 ip4:192.0.2.0/24 -all")],
    "blocked.test": [("@", "TXT", "v=spf1 ip4:192.0.2.0/24 -all")],
}


def setup():
    rig = DnsRig(ZONES)
    sink = Sink()
    doms = {
        "example.test": {"transport": sink.transport},
        "grey.test": {"transport": sink.transport, "greylist": -5, "spam_quarantine": 50,
                      "spam_reject": 60},
    }
    cfg = {
        "resolvers": rig.resolver,
        "mynetworks": "203.0.113.0/24",
        "xclient_networks": "127.0.0.0/8",
        "filter_threads": 2,
        "dns_timeout_ms": 1000,
        "metrics_listen": "127.0.0.1:0",
        "test_mode": True,
    }
    mg = MailGuard(config=cfg, domains=doms,
                   lists={"global.block": ["@blocked.test"]}).start()
    return mg, sink, rig


def transaction(mg, ip, rcpt, mail_from="alice@sender.test", subject="metrics"):
    """One SMTP transaction presenting client ip; returns the final reply code."""
    c = RawClient(mg.port)
    c.banner()
    c.expect(250, "EHLO client.test")
    r = c.cmd(f"XCLIENT ADDR={ip} HELO=mail.sender.test")
    assert r.code == 220, f"XCLIENT: got {r.code} {r.lines}, want 220"
    c.expect(250, "EHLO mail.sender.test")
    c.expect(250, f"MAIL FROM:<{mail_from}>")
    c.expect(250, f"RCPT TO:<{rcpt}>")
    c.expect(354, "DATA")
    c.send((f"From: <{mail_from}>\r\nTo: <{rcpt}>\r\nSubject: {subject}\r\n"
            f"Message-ID: <{subject}.{ip}@sender.test>\r\n\r\nHello.\r\n.\r\n").encode())
    final = c.reply(timeout=30)
    c.expect(221, "QUIT")
    c.close()
    return final.code


def scrape(mg):
    """{(sample name, frozenset(labels)): value} of /metrics, via the independent parser."""
    ml = mg.listener("metrics")
    with urllib.request.urlopen(f"http://{ml.host}:{ml.port}/metrics", timeout=10) as r:
        assert r.status == 200
        ctype = r.headers["Content-Type"]
        assert ctype == "text/plain; version=0.0.4; charset=utf-8", ctype
        text = r.read().decode()
    out = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def val(m, name, **labels):
    return m.get((name, frozenset(labels.items())), 0)


def inbound(m, domain, verdict):
    return val(m, "mailguard_inbound_messages_total", domain=domain, verdict=verdict)


def delivered(m, domain):
    return val(m, "mailguard_delivery_recipients_total", domain=domain, result="delivered")


def role_pid(mg, role):
    m = re.search(r"^%s pid (\d+)$" % role, mg.ctl("status").stdout, re.M)
    return int(m.group(1)) if m else 0


def send_traffic(mg):
    assert transaction(mg, GOOD_IP, "user@example.test", subject="d1") == 250
    assert transaction(mg, GOOD_IP, "user@example.test", subject="d2") == 250
    assert transaction(mg, GOOD_IP, "user@example.test", mail_from="x@blocked.test") == 550
    assert transaction(mg, GREY_IP, "user@grey.test") == 451
    assert transaction(mg, TRUSTED_IP, "user@example.test", subject="t1") == 250


def test_counts_restart_and_fresh_start():
    mg, sink, _ = setup()
    m = scrape(mg)
    assert val(m, "mailguard_smtp_connections_total") == 0
    send_traffic(mg)
    sink.wait_count(3)
    wait_for(lambda: delivered(scrape(mg), "example.test") == 3, timeout=30,
             what="3 delivered recipients counted")
    m = scrape(mg)
    assert inbound(m, "example.test", "deliver") == 3, m      # 2 filtered + 1 trusted
    assert inbound(m, "example.test", "reject") == 1
    assert inbound(m, "example.test", "greylist") == 0
    assert inbound(m, "grey.test", "greylist") == 1
    assert inbound(m, "grey.test", "deliver") == 0
    assert val(m, "mailguard_smtp_connections_total") == 5
    assert val(m, "mailguard_filter_seconds_count") == 4      # the trusted one skipped it
    assert val(m, "mailguard_delivery_seconds_count") >= 3
    assert val(m, "mailguard_filter_seconds_bucket", le="+Inf") == 4
    assert val(m, "mailguard_queue_active") >= 0

    # kill -9 smtpd: the restarted role continues its counters
    old = role_pid(mg, "smtpd")
    mark = mg.log_mark()
    mgtest.os.kill(old, signal.SIGKILL)
    mg.wait_log(r"role smtpd \(pid \d+\) restarted and ready", timeout=30, since=mark)
    assert role_pid(mg, "smtpd") not in (0, old)
    m = scrape(mg)
    assert inbound(m, "example.test", "deliver") == 3
    assert val(m, "mailguard_smtp_connections_total") == 5
    assert val(m, "mailguard_smtp_sessions") == 0
    assert transaction(mg, GOOD_IP, "user@example.test", subject="d3") == 250
    m = scrape(mg)
    assert inbound(m, "example.test", "deliver") == 4
    assert val(m, "mailguard_smtp_connections_total") == 6

    # a fresh daemon start begins at zero
    mg.stop()
    mg.start()
    m = scrape(mg)
    assert inbound(m, "example.test", "deliver") == 0
    assert val(m, "mailguard_smtp_connections_total") == 0
    assert val(m, "mailguard_filter_seconds_count") == 0


def https_get(mg, path, token):
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    req = urllib.request.Request(f"https://127.0.0.1:{mg.admin_port}{path}",
                                 headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(req, timeout=10, context=ctx) as r:
        assert r.status == 200
        return r.headers["Content-Type"], r.read().decode()


def test_stats_api_and_history():
    mg, sink, _ = setup()
    token = mg.ctl("admin", "token", "metrics-test").stdout.strip()
    assert re.fullmatch(r"[0-9a-f]{32,}", token), token
    # the admin role re-reads the tokens file at most once a second
    wait_for(lambda: https_get(mg, "/api/v1/stats", token), timeout=10, interval=0.2,
             ignore=(urllib.error.HTTPError,), what="the new API token accepted")
    send_traffic(mg)
    sink.wait_count(3)

    def history_has_all():
        _, body = https_get(mg, "/api/v1/stats?span=24h", token)
        s = json.loads(body)["series"]
        return sum(v for _, v in s["in"]) == 5 and sum(v for _, v in s["out"]) == 3
    wait_for(history_has_all, timeout=30, interval=0.5, what="history samples (2 s in test_mode)")
    ctype, body = https_get(mg, "/api/v1/stats?span=7d&domain=grey.test", token)
    assert ctype.startswith("application/json"), ctype
    st = json.loads(body)
    assert st["totals"]["in_deliver"] == 3 and st["totals"]["in_reject"] == 1, st["totals"]
    assert st["totals"]["in_greylist"] == 1 and st["totals"]["out_delivered"] == 3
    doms = {d["domain"]: d for d in st["domains"]}
    assert doms["grey.test"]["in_greylist"] == 1 and doms["example.test"]["in_deliver"] == 3
    assert st["span"] == 604800 and st["step"] == 3600
    assert len(st["series"]["greylist"]) == 168
    assert sum(v for _, v in st["series"]["greylist"]) == 1
    assert sum(v for _, v in st["series"]["deliver"]) == 0
    ts = [t for t, _ in st["series"]["in"]]
    assert ts == sorted(ts) and ts[1] - ts[0] == 3600
    # a bad span is refused; without a token the API is closed
    try:
        https_get(mg, "/api/v1/stats?span=1y", token)
        raise AssertionError("span=1y accepted")
    except urllib.error.HTTPError as e:
        assert e.code == 400, e.code
    try:
        https_get(mg, "/api/v1/stats", "0" * 64)
        raise AssertionError("a wrong token was accepted")
    except urllib.error.HTTPError as e:
        assert e.code in (401, 403), e.code
