"""Self-tests of the integration framework (mgtest.py, run.py). None needs the real daemon:
daemon handling is exercised against fake_mailguard.py, which follows the same contract."""

import os
import re
import signal
import smtplib
import socket
import ssl
import sys
import threading
import time
from pathlib import Path

import mgtest
from mgtest import MailGuard, RawClient, Sink, wait_for

HERE = Path(__file__).resolve().parent
FAKE = HERE / "fake_mailguard.py"


def fake(**kw):
    mode = kw.pop("mode", None)
    env = {"FAKE_MAILGUARD_MODE": mode} if mode else None
    return MailGuard(binary=FAKE, env=env, **kw)


# -- wait_for ------------------------------------------------------------------------------------

def test_wait_for_returns_first_truthy_value():
    calls = []

    def pred():
        calls.append(1)
        return len(calls) >= 3 and "done"
    assert wait_for(pred, 5, "three calls") == "done"
    assert len(calls) == 3, f"got {len(calls)} calls, want 3"


def test_wait_for_times_out_with_clear_message():
    t0 = time.monotonic()
    try:
        wait_for(lambda: 0, 0.3, "the impossible")
    except mgtest.WaitTimeout as e:
        dt = time.monotonic() - t0
        assert 0.29 <= dt < 1.0, f"got {dt:.2f}s, want ~0.3s"
        assert "timed out after 0.3s waiting for the impossible" in str(e), str(e)
        assert "last value: 0" in str(e), str(e)
    else:
        raise AssertionError("wait_for did not time out")


def test_wait_for_ignores_only_listed_exceptions():
    n = []

    def flaky():
        n.append(1)
        if len(n) < 3:
            raise FileNotFoundError("not yet")
        return True
    assert wait_for(flaky, 5, "file", ignore=(FileNotFoundError,))
    try:
        wait_for(lambda: 1 / 0, 5, "division")
    except ZeroDivisionError:
        pass
    else:
        raise AssertionError("an unlisted exception must propagate")
    try:
        wait_for(lambda: open("/nonexistent/x"), 0.2, "file", ignore=(OSError,))
    except mgtest.WaitTimeout as e:
        assert "FileNotFoundError" in str(e), str(e)


# -- Sink ----------------------------------------------------------------------------------------

def test_sink_records_a_message_sent_by_smtplib():
    sink = Sink()
    msg = mgtest.make_message("alice@client.test", "bob@example.test", subject="hello")
    s = mgtest.smtp_client(sink.port)
    s.ehlo("client.test")
    refused = s.sendmail("alice@client.test", ["bob@example.test", "carol@example.test"], msg,
        mail_options=["BODY=8BITMIME"])
    s.quit()
    assert refused == {}, refused
    [m] = sink.wait_count(1, 5)
    assert m.mail_from == "alice@client.test", m.mail_from
    assert m.rcpt_tos == ["bob@example.test", "carol@example.test"], m.rcpt_tos
    assert m.data == msg, f"got {m.data[:80]!r}..., want the bytes sent"
    assert "BODY=8BITMIME" in m.mail_options, m.mail_options
    assert m.peer[0] == "127.0.0.1", m.peer
    assert m.helo == "client.test", m.helo
    assert m.tls is False
    assert m.header("Subject") == "hello", m.header("Subject")
    assert sink.transport == f"[127.0.0.1]:{sink.port}"
    assert sink.find(rcpt="CAROL@example.test") == [m]


def test_sink_per_recipient_reply_rules():
    sink = Sink(rules={"bad@example.test": "550 5.1.1 no such user",
        "slow@example.test": "451 4.3.0 try later",
        "late@example.test": (0.2, None)})
    s = mgtest.smtp_client(sink.port)
    t0 = time.monotonic()
    refused = s.sendmail("a@client.test",
        ["good@example.test", "Bad@example.test", "slow@example.test", "late@example.test"],
        mgtest.make_message())
    assert time.monotonic() - t0 >= 0.2, "the (delay, reply) rule did not delay"
    assert refused == {"Bad@example.test": (550, b"5.1.1 no such user"),
        "slow@example.test": (451, b"4.3.0 try later")}, refused
    [m] = sink.wait_count(1)
    assert m.rcpt_tos == ["good@example.test", "late@example.test"], m.rcpt_tos
    assert [r for r, _ in sink.rejected] == ["Bad@example.test", "slow@example.test"], sink.rejected
    sink.set_rule("good@example.test", "552 5.2.2 mailbox full")
    try:
        s.sendmail("a@client.test", ["good@example.test"], mgtest.make_message())
    except smtplib.SMTPRecipientsRefused as e:
        assert e.recipients["good@example.test"][0] == 552, e.recipients
    else:
        raise AssertionError("a rule added while running was not applied")
    s.quit()


def test_sink_data_reply_and_wait_count_timeout():
    sink = Sink(data_reply="452 4.3.1 insufficient storage")
    s = mgtest.smtp_client(sink.port)
    try:
        s.sendmail("a@client.test", ["x@example.test"], mgtest.make_message())
    except smtplib.SMTPDataError as e:
        assert e.smtp_code == 452, e
    else:
        raise AssertionError("data_reply was not used")
    t0 = time.monotonic()
    try:
        sink.wait_count(1, 0.3)
    except mgtest.WaitTimeout as e:
        assert 0.29 <= time.monotonic() - t0 < 1.5
        assert "got 0" in str(e) and "452 4.3.1" in str(e), str(e)
    else:
        raise AssertionError("wait_count did not time out")


def test_sink_starttls_is_recorded():
    sink = Sink(tls=True)
    s = mgtest.smtp_client(sink.port)
    s.ehlo()
    assert s.has_extn("starttls"), "the sink does not offer STARTTLS"
    ctx = ssl.create_default_context(cafile=str(sink.cert.cert))
    s.starttls(context=ctx)
    s.ehlo()
    s.sendmail("a@client.test", ["tls@example.test"], mgtest.make_message())
    s.quit()
    [m] = sink.wait_count(1)
    assert m.tls is True, "TLS session not recorded"
    assert m.tls_version.startswith("TLSv1."), m.tls_version


def test_sink_stop_releases_the_port():
    sink = Sink()
    port = sink.port
    assert mgtest.port_is_open(port)
    c = RawClient(port)           # an open session must not keep the sink alive
    c.banner()
    sink.stop()
    assert not mgtest.port_is_open(port), "port still accepting after stop()"
    assert c.closed(5), "open session not closed by stop()"


# -- RawClient -----------------------------------------------------------------------------------

def test_rawclient_multiline_replies_and_close():
    sink = Sink()
    c = RawClient(sink.port)
    b = c.banner()
    assert b.code == 220 and "sink.test.local" in b.text, str(b)
    r = c.ehlo()
    assert len(r.lines) > 1 and r.lines[0].startswith("sink.test.local"), r.lines
    assert any(l.upper().startswith("SIZE") for l in r.lines), r.lines
    c.send(b"NOOP\r\nNOOP\r\n")         # two commands in one segment: two replies
    assert [x.code for x in c.replies(2)] == [250, 250]
    c.expect(221, "QUIT")
    assert c.closed(5), "server did not close after QUIT"
    try:
        c.reply(1)
    except mgtest.ConnectionClosed:
        pass
    else:
        raise AssertionError("reply() after close must raise ConnectionClosed")


def _one_shot_server(payload, close=True):
    """A loopback server that sends payload to its first client (then closes, or holds)."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    held = []

    def run():
        conn, _ = srv.accept()
        conn.sendall(payload)
        if close:
            conn.close()
        else:
            held.append(conn)
    t = threading.Thread(target=run, daemon=True)
    t.start()

    def cleanup():
        srv.close()
        for c in held:
            c.close()
    mgtest.add_cleanup(cleanup, "one-shot server")
    return srv.getsockname()[1]


def test_rawclient_reply_timeout_malformed_and_partial():
    port = _one_shot_server(b"220-first line\r\n", close=False)
    c = RawClient(port)
    t0 = time.monotonic()
    try:
        c.reply(0.3)
    except mgtest.WaitTimeout as e:
        assert time.monotonic() - t0 < 1.5
        assert "220-first line" in str(e), str(e)
    else:
        raise AssertionError("an incomplete multi-line reply must time out")

    c2 = RawClient(_one_shot_server(b"hello there\r\n"))
    try:
        c2.reply(2)
    except mgtest.ProtocolError as e:
        assert "hello there" in str(e), str(e)
    else:
        raise AssertionError("a malformed reply must raise ProtocolError")

    c3 = RawClient(_one_shot_server(b"250 ok\r\n554 no"))
    assert c3.reply(2).code == 250
    try:
        c3.reply(2)
    except mgtest.ConnectionClosed as e:
        assert "554 no" in str(e), str(e)
    else:
        raise AssertionError("close mid-reply must raise ConnectionClosed")


# -- certificates, messages ----------------------------------------------------------------------

def test_make_cert_self_signed_and_ca_signed():
    c = mgtest.make_cert(cn="mx.test.local")
    assert (c.key.stat().st_mode & 0o077) == 0, "key readable by group or others"
    ca = mgtest.make_ca()
    leaf = mgtest.make_cert(ca=ca, cn="leaf.test.local", key_type="rsa", name="leaf")
    r = mgtest.run_cmd(["openssl", "verify", "-CAfile", ca.cert, leaf.cert])
    assert r.returncode == 0 and "OK" in r.stdout, r.stdout + r.stderr
    r = mgtest.run_cmd(["openssl", "x509", "-noout", "-ext", "subjectAltName", "-in", c.cert])
    assert "IP Address:127.0.0.1" in r.stdout and "DNS:localhost" in r.stdout, r.stdout


def test_make_message_size_and_headers():
    m = mgtest.make_message("a@b.test", ["c@d.test", "e@f.test"], subject="s",
        headers=[("X-Test", "1")], size=5000)
    assert 5000 <= len(m) < 5100, len(m)
    assert b"\r\nTo: c@d.test, e@f.test\r\n" in m and b"\r\nX-Test: 1\r\n" in m
    assert all(len(l) <= 998 for l in m.split(b"\r\n"))
    assert b"\n" not in m.replace(b"\r\n", b"")


# -- MailGuard (against the fake daemon) ---------------------------------------------------------

def test_mailguard_writes_the_config_dir():
    mg = MailGuard(config={"max_recipients": 5, "log_level": "info", "hostname": None},
        domains={"example.test": {"transport": "[127.0.0.1]:2526"}, "other.test": {}},
        lists={"global.block": ["@spam.test", "10.0.0.0/8"], "example.test.allow": "a@b.test\n"})
    conf = mg.conf_path.read_text()
    assert conf.startswith("config_version = 1\n"), conf
    assert "max_recipients = 5\n" in conf and "log_level = info\n" in conf, conf
    assert "hostname" not in conf, conf
    assert "mynetworks = 127.0.0.0/8 ::1/128\n" in conf, conf
    assert (mg.dir / "domains.d/example.test.conf").read_text() == "transport = [127.0.0.1]:2526\n"
    assert (mg.dir / "domains.d/other.test.conf").read_text() == ""
    assert (mg.dir / "lists/global.block").read_text() == "@spam.test\n10.0.0.0/8\n"
    assert (mg.dir / "lists/example.test.allow").read_text() == "a@b.test\n"
    assert mg.spool_dir == mg.dir / "spool" and mg.state_dir == mg.dir / "state"
    mg.configure(domains={"other.test": None}, lists={"global.block": None})
    assert not (mg.dir / "domains.d/other.test.conf").exists()
    assert not (mg.dir / "lists/global.block").exists()
    tls = MailGuard(tls=True, name="tlsmg")
    assert Path(tls.config["tls_cert"]).exists() and Path(tls.config["tls_key"]).exists()


def test_fake_daemon_lifecycle():
    sink = Sink()
    mg = fake(domains={"example.test": {"transport": sink.transport}})
    assert mg.check_config().returncode == 0
    mg.start()
    assert mg.port > 0 and mg.host == "127.0.0.1", mg.listeners
    assert len(mg.pids()) >= 2, f"want supervisor + role, got {mg.pids()}"
    assert mg.rss_kb() > 1000
    c = RawClient(mg.port)
    c.banner()
    c.ehlo()
    c.expect(250, "MAIL FROM:<a@client.test>")
    c.expect(554, "RCPT TO:<x@elsewhere.test>")
    refused = mg.send("a@client.test", ["u@example.test"])
    assert refused == {}, refused
    [m] = sink.wait_count(1)
    assert m.rcpt_tos == ["u@example.test"]
    mg.wait_log(r"smtpd\[\d+\]: info: smtpd role started")
    mg.reload(wait_log=r"SIGHUP: reloading")
    old_port = mg.port
    mg.restart()
    assert mg.log_text().count("mailguard ready") == 2
    mg.wait_log(r"ready")               # since= defaults to the current run
    try:
        mg.wait_log(r"SIGHUP", timeout=0.2)
    except mgtest.WaitTimeout:
        pass
    else:
        raise AssertionError("wait_log must only look at the current run by default")
    assert mg.port > 0 and mg.port != 0 and old_port > 0
    assert mg.stop() == 0
    assert mg.pids() == [], mg.pids()
    assert mg.spool_files() == []


def test_fake_daemon_kill9_kills_every_process():
    mg = fake().start()
    procs = mg.processes()
    assert len(procs) >= 2, procs
    mg.kill9()
    assert mg.returncode == -signal.SIGKILL, mg.returncode
    left = [p for p in procs if mgtest._proc_stat(p) and mgtest._proc_stat(p)[0] != "Z"]
    assert left == [], f"processes survived kill9: {left}"
    mg.start()                      # and it comes back on a new port
    assert mg.port > 0


def test_fake_daemon_start_failure_is_reported_quickly():
    mg = fake(mode="fail")
    t0 = time.monotonic()
    try:
        mg.start(timeout=30)
    except mgtest.DaemonError as e:
        assert time.monotonic() - t0 < 5, "start failure must not wait for the timeout"
        assert "exited with exit status 1 before it was ready" in str(e), str(e)
        assert "configured to fail" in str(e), "the log tail must be in the message"
    else:
        raise AssertionError("start() of a failing daemon did not raise")


def test_fake_daemon_never_ready_times_out():
    mg = fake(mode="hang")
    try:
        mg.start(timeout=1)
    except mgtest.DaemonError as e:
        assert "timed out after 1s waiting for mailguard ready" in str(e), str(e)
        assert "hanging before ready" in str(e), str(e)
    else:
        raise AssertionError("start() did not time out")
    mg.stop()


def test_stop_reports_leftover_role_processes():
    mg = fake(mode="orphan").start()
    procs = mg.processes()
    try:
        mg.stop()
    except mgtest.DaemonError as e:
        assert "processes left after the supervisor exited" in str(e), str(e)
    else:
        raise AssertionError("a role that outlives the supervisor must fail stop()")
    assert not mgtest._still_alive(procs), "leftover role not killed"


def test_stop_kills_a_daemon_that_ignores_sigterm():
    mg = fake(mode="stubborn").start()
    procs = mg.processes()
    t0 = time.monotonic()
    try:
        mg.stop(timeout=1)
    except mgtest.DaemonError as e:
        assert "did not exit within 1s of SIGTERM" in str(e), str(e)
    else:
        raise AssertionError("stop() of a stubborn daemon must raise")
    assert time.monotonic() - t0 < 10
    assert not mgtest._still_alive(procs)


def test_ctl_runs_mailguardctl_with_the_config_dir():
    mg = MailGuard(ctl_binary="/bin/echo")
    r = mg.ctl("queue", "list")
    assert r.stdout.strip() == f"-c {mg.dir} queue list", r.stdout
    bad = MailGuard(ctl_binary="/bin/false", name="bad")
    try:
        bad.ctl("reload")
    except mgtest.CtlError as e:
        assert "exited 1" in str(e), str(e)
    else:
        raise AssertionError("ctl(check=True) must raise on failure")
    assert bad.ctl("reload", check=False).returncode == 1


# -- the runner itself ---------------------------------------------------------------------------

RUNNER_SAMPLE = '''
import os, signal, time
import mgtest

def test_passes():
    pass

def test_fails():
    assert 1 == 2, "got 1, want 2"

def test_skips():
    raise mgtest.Skip("no nsd here")

def test_hangs():
    p = mgtest.spawn(["sleep", "300"])
    open(os.path.join(os.environ["OUT"], "hang.pid"), "w").write(str(p.pid))
    while True:
        time.sleep(0.05)

def test_hangs_hard():
    p = mgtest.spawn(["sleep", "300"])
    open(os.path.join(os.environ["OUT"], "hard.pid"), "w").write(str(p.pid))
    signal.signal(signal.SIGALRM, signal.SIG_IGN)
    while True:
        time.sleep(0.05)

def test_cleanup_error():
    def boom():
        raise RuntimeError("cleanup exploded")
    mgtest.add_cleanup(boom, "bomb")

def helper_not_a_test():
    raise AssertionError("must not run")
'''


def gone(pid):
    st = mgtest._proc_stat(pid)
    return st is None or st[0] == "Z"


@mgtest.timeout(90)
def test_runner_reports_each_outcome_and_kills_hung_tests():
    d = mgtest.tmpdir("runner")
    f = d / "test_sample.py"
    f.write_text(RUNNER_SAMPLE)
    env = dict(os.environ, OUT=str(d), MGTEST_CLEANUP_GRACE="6")
    env.pop("MGTEST_RUNNER", None)
    r = mgtest.run_cmd([sys.executable, HERE / "run.py", "--timeout", "1", f], timeout=80,
        env=env)
    out = r.stdout
    assert r.returncode == 0, f"runner exit {r.returncode}: {r.stderr}"
    lines = [l for l in out.splitlines() if re.match(r"^(ok|FAIL|skip) ", l)]
    want = [r"^ok integ test_sample\.py::test_passes \(\d+\.\ds\)$",
        r"^FAIL integ test_sample\.py::test_fails: AssertionError: got 1, want 2$",
        r"^skip integ test_sample\.py::test_skips: no nsd here$",
        r"^FAIL integ test_sample\.py::test_hangs: TimeoutError: test timed out after 1s$",
        r"^FAIL integ test_sample\.py::test_hangs_hard: test timed out after 1s and did not",
        r"^FAIL integ test_sample\.py::test_cleanup_error: cleanup: bomb: RuntimeError"]
    assert len(lines) == len(want), f"got lines {lines}"
    for l, w in zip(lines, want):
        assert re.match(w, l), f"got {l!r}, want /{w}/"
    assert "    Traceback (most recent call last):" in out, out
    for name in ("hang.pid", "hard.pid"):
        pid = int((d / name).read_text())
        wait_for(lambda: gone(pid), 5, f"process left by the {name} test to be killed")
    r = mgtest.run_cmd([sys.executable, HERE / "run.py", "--list", "-k", "skip", f], env=env)
    assert r.stdout.split() == ["test_sample.py::test_skips"], r.stdout
    r = mgtest.run_cmd([sys.executable, HERE / "run.py", "-x", "--timeout", "1", f], env=env,
        timeout=60)
    got = [l.split()[0] for l in r.stdout.splitlines() if re.match(r"^(ok|FAIL|skip) ", l)]
    assert got == ["ok", "FAIL"], f"-x: got {got}"
