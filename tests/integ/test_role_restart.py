"""Role restarts by the supervisor: kill -9 of smtpd, filter, delivery or signer while mail flows
makes the supervisor start that role again and hand the surviving peers the new channels
(IPC_PEER_RESET). Every message that got its 250 reaches the back-end (none is lost; a message
whose delivery was cut may arrive twice), new sessions work after the restart, and a role that
dies more than 5 times within a minute stops the daemon with a clear log line. The queue is not
restarted alone: its death stops everything (the next start recovers the spool)."""

import re
import signal
import smtplib
import threading

import mgtest
from mgtest import MailGuard, Sink, wait_for

ROLES = ("smtpd", "filter", "delivery", "signer")
PER_ROUND = 300         # at most this many messages per role round (bounded load)


def role_pid(mg, role):
    out = mg.ctl("status").stdout
    m = re.search(r"^%s pid (\d+)$" % role, out, re.M)
    return int(m.group(1)) if m else 0


def start():
    backend = Sink()
    mg = MailGuard(config={"retry_min": "1s", "retry_max": "2s"},
                   domains={"example.test": {"transport": backend.transport}}).start()
    return mg, backend


class Sender:
    """Sends n messages, one SMTP session each, from a thread; records the subjects that got
    250 (accepted) and those refused or cut (not accepted). join() waits (bounded)."""

    def __init__(self, mg, tag, n):
        self.mg, self.tag, self.n = mg, tag, n
        self.accepted, self.failed = [], []
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        for i in range(self.n):
            if self._stop.is_set():
                break
            subject = f"{self.tag}-{i}"
            msg = mgtest.make_message("s@client.test", "user@example.test", subject=subject)
            try:
                with smtplib.SMTP("127.0.0.1", self.mg.port, timeout=30) as c:
                    c.sendmail("s@client.test", ["user@example.test"], msg)
                self.accepted.append(subject)
            except (smtplib.SMTPException, OSError):
                self.failed.append(subject)

    def stop(self):
        self._stop.set()
        self.join()

    def join(self, timeout=120):
        self.thread.join(timeout)
        if self.thread.is_alive():
            self._stop.set()
            self.thread.join(60)
        assert not self.thread.is_alive()


def received_subjects(backend):
    return {m.message()["Subject"] for m in backend.messages}


def wait_all_delivered(mg, backend, subjects, timeout=90):
    want = set(subjects)

    def done():
        missing = want - received_subjects(backend)
        if missing:
            mg.ctl("queue", "flush", check=False)
        return not missing
    wait_for(done, timeout=timeout, interval=0.5, what=f"{len(want)} accepted message(s)")


def kill_and_wait_restart(mg, role, sender=None):
    old = role_pid(mg, role)
    assert old > 0
    if sender is not None:      # mail is flowing: kill once some of it went through
        wait_for(lambda: len(sender.accepted) >= 5 or not sender.thread.is_alive(), timeout=60,
                 what="some accepted messages")
    mark = mg.log_mark()
    mgtest.os.kill(old, signal.SIGKILL)
    if sender is not None:
        assert sender.thread.is_alive(), "the load ended before the kill"
    mg.wait_log(r"role %s \(pid %d\) killed by signal 9; restarting it" % (role, old),
                timeout=30, since=mark)
    mg.wait_log(r"role %s \(pid \d+\) restarted and ready" % role, timeout=30, since=mark)
    new = role_pid(mg, role)
    assert new > 0 and new != old, (old, new)
    return new


def test_kill_each_role_while_mail_flows():
    mg, backend = start()
    accepted = []
    for role in ROLES:
        # three concurrent clients, so that transactions are in flight when the role dies
        load = [Sender(mg, f"{role}-during{k}", PER_ROUND) for k in range(3)]
        kill_and_wait_restart(mg, role, load[0])
        # the same load goes on through the restarted role, then stops (bounded)
        n = len(load[0].accepted)
        wait_for(lambda: len(load[0].accepted) >= n + 3 or not load[0].thread.is_alive(),
                 timeout=60, what="mail accepted after the restart")
        for s in load:
            s.stop()
            accepted += s.accepted
        # new sessions work after the restart
        after = Sender(mg, f"{role}-after", 3)
        after.join()
        assert len(after.accepted) == 3, (role, after.failed)
        accepted += after.accepted
    wait_all_delivered(mg, backend, accepted)
    assert set(accepted) <= received_subjects(backend)
    # no other role died meanwhile (a restart must not hide a crash of ours)
    deaths = re.findall(r"role \S+ \(pid \d+\) (?:killed by signal \d+|exited with status \d+)",
                        mg.log_text())
    assert len(deaths) == len(ROLES), deaths
    mg.stop()


def test_restart_limit_stops_the_daemon():
    mg, _ = start()
    for _ in range(5):
        kill_and_wait_restart(mg, "filter")
    pid = role_pid(mg, "filter")
    mgtest.os.kill(pid, signal.SIGKILL)
    mg.wait_log(r"role filter \(pid %d\) killed by signal 9; restart limit reached "
                r"\(5 restarts within 60 s\); stopping" % pid, timeout=30)
    wait_for(lambda: mg.proc.poll() is not None, timeout=30, what="the daemon to stop")
    assert mg.stop(check=False) == 1


def test_queue_death_stops_everything_and_recovers():
    mg, backend = start()
    s = Sender(mg, "queue", 10)
    s.join()
    pid = role_pid(mg, "queue")
    mgtest.os.kill(pid, signal.SIGKILL)
    mg.wait_log(r"role queue \(pid %d\) killed by signal 9; stopping \(the queue is not "
                r"restarted alone\)" % pid, timeout=30)
    wait_for(lambda: mg.proc.poll() is not None, timeout=30, what="the daemon to stop")
    mg.stop(check=False)
    mg.start()
    wait_all_delivered(mg, backend, s.accepted)
    mg.stop()


def test_signer_restart_keeps_signing():
    """After the signer is restarted, smtpd's new channel to it signs outbound mail again."""
    from dnsrig import DnsRig
    dns = DnsRig({"remote.test": [("@", "MX", "10 mx.remote.test."), ("mx", "A", "127.0.0.1")]})
    remote, backend = Sink(), Sink()
    mg = MailGuard(config={"resolvers": dns.resolver, "dns_timeout_ms": 1000,
                           "outbound_port": remote.port, "retry_min": "1h"},
                   domains={"example.test": {"transport": backend.transport,
                                             "dkim_sign": "yes"}}).start()
    mg.ctl("dkim", "keygen", "example.test")

    def send_signed(n):
        msg = mgtest.make_message("alice@example.test", "bob@remote.test", subject=f"signed-{n}")
        with smtplib.SMTP("127.0.0.1", mg.port, timeout=30) as c:
            c.sendmail("alice@example.test", ["bob@remote.test"], msg)
        got = remote.wait_count(n, timeout=30)[n - 1]
        assert got.message()["DKIM-Signature"] is not None, got.data[:400]

    send_signed(1)
    kill_and_wait_restart(mg, "signer")
    send_signed(2)
    mg.stop()
