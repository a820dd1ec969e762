"""mailguardctl remote mode (--url/--token-file, admin/ctl_remote*.c) against the real daemon's
console over HTTPS: the certificate is verified (test CA with --ca-file; another CA refused;
--insecure accepted), the token file must be private and valid, and the commands the JSON API
covers work end to end: domains list/show/set/unset/add/remove change the text files, lists
add/remove, queue list/show/hold/release/flush/delete print what the local commands print,
dkim keygen/status/dns match the local output, stats, --json, usage errors."""

import json
import os
import re

import mgtest
from mgtest import MailGuard, wait_for
from test_queue_lib import TrackingSink, new_token, smtp_send, token_message, wait_tokens

TIMEOUT = 240


class Remote:
    def __init__(self, mg, ca, token_file):
        self.mg, self.ca, self.token_file = mg, ca, token_file
        self.url = f"https://127.0.0.1:{mg.admin_port}"

    def run(self, *args, ca=True, token_file=None, extra=()):
        cmd = [str(self.mg.ctl_binary), "--url", self.url, "--token-file",
               str(token_file or self.token_file), *extra]
        if ca is True:
            cmd += ["--ca-file", str(self.ca)]
        elif ca:
            cmd += ["--ca-file", str(ca)]
        return mgtest.run_cmd(cmd + list(args), timeout=60)

    def ok(self, *args, **kw):
        r = self.run(*args, **kw)
        assert r.returncode == 0, f"remote {' '.join(args)}: {r.returncode}\n{r.stdout}\n{r.stderr}"
        return r.stdout


def setup(backend):
    d = mgtest.tmpdir("remote-ca")
    ca = mgtest.make_ca(d)
    cert = mgtest.make_cert(d, cn="console.test", ca=ca, name="console")
    mg = MailGuard(config={"retry_min": "1h", "retry_max": "2h", "test_mode": "yes",
        "admin_tls_cert": str(cert.cert), "admin_tls_key": str(cert.key)},
        domains={"example.test": {"transport": backend.transport}}).start()
    tok = mg.ctl("admin", "token", "remote").stdout.strip().split()[-1]
    assert re.fullmatch(r"[0-9a-f]{64}", tok), tok
    tf = d / "token"
    tf.write_text(tok + "\n")
    os.chmod(tf, 0o600)
    rem = Remote(mg, ca.cert, tf)
    # the console re-reads the tokens file when it changes; wait until the token is accepted
    wait_for(lambda: rem.run("stats").returncode == 0, 10, "token accepted")
    return mg, rem, d


def test_tls_and_token_checks():
    back = TrackingSink()
    mg, rem, d = setup(back)
    assert "in_deliver " in rem.ok("stats")
    # without the test CA (system store) the certificate is refused
    r = rem.run("stats", ca=False)
    assert r.returncode == 1 and "certificate" in r.stderr.lower(), (r.returncode, r.stderr)
    other = mgtest.make_ca(mgtest.tmpdir("other-ca"), cn="Other CA")
    r = rem.run("stats", ca=other.cert)
    assert r.returncode == 1 and "certificate" in r.stderr.lower(), r.stderr
    # --insecure skips verification (as curl -k)
    assert "in_deliver " in rem.ok("stats", ca=False, extra=("--insecure",))
    r = rem.run("stats", extra=("--insecure",))
    assert r.returncode == 2 and "exclude" in r.stderr, r.stderr
    # the token file: private, and a real token
    loose = d / "loose"
    loose.write_text(rem.token_file.read_text())
    os.chmod(loose, 0o644)
    r = rem.run("stats", token_file=loose)
    assert r.returncode == 1 and "chmod 600" in r.stderr, r.stderr
    bad = d / "bad"
    bad.write_text("0" * 64 + "\n")
    os.chmod(bad, 0o600)
    r = rem.run("stats", token_file=bad)
    assert r.returncode == 1 and "invalid API token" in r.stderr, r.stderr
    junk = d / "junk"
    junk.write_text("Bearer x\r\nX-Injected: 1\n")
    os.chmod(junk, 0o600)
    r = rem.run("stats", token_file=junk)
    assert r.returncode == 1 and "does not hold a token" in r.stderr, r.stderr
    # usage
    r = rem.run("frobnicate")
    assert r.returncode == 2 and "domains list" in r.stderr, r.stderr
    r = rem.run("domains", "show")
    assert r.returncode == 2 and "usage: domains show DOMAIN" in r.stderr, r.stderr
    r = mgtest.run_cmd([str(mg.ctl_binary), "--url", "http://127.0.0.1:1", "--token-file",
                        str(rem.token_file), "stats"], timeout=30)
    assert r.returncode == 2 and "https://" in r.stderr, r.stderr


def test_domains_and_lists():
    back = TrackingSink()
    mg, rem, _ = setup(back)
    out = rem.ok("domains", "list")
    assert re.search(r"^example\.test transport=\S+ spam_reject=15 spam_quarantine=6 greylist=4 "
                     r"tls_policy=\S+ dkim_sign=no", out, re.M), out
    assert "-- 1 domain(s)" in out
    conf = mg.dir / "domains.d" / "new.test.conf"
    assert rem.ok("domains", "add", "new.test", "[127.0.0.1]:9").strip() == "new.test: added"
    assert conf.exists() and "transport = [127.0.0.1]:9" in conf.read_text()
    conf.write_text(conf.read_text() + "# a hand comment\n")
    assert rem.ok("domains", "set", "new.test", "spam_reject", "12") == "new.test: changed\n"
    text = conf.read_text()
    assert "spam_reject = 12" in text and "# a hand comment" in text, text
    out = rem.ok("domains", "show", "new.test")
    assert out.startswith("# domains.d/new.test.conf version "), out
    assert "\nspam_reject = 12\n" in out and "\n# greylist = 4 (default)\n" in out, out
    assert "\ntransport = [127.0.0.1]:9\n" in out
    # a value the loader refuses: its message, nothing written
    before = conf.read_text()
    r = rem.run("domains", "set", "new.test", "spam_reject", "lots")
    assert r.returncode == 1 and "spam_reject" in r.stderr and "'lots'" in r.stderr, r.stderr
    assert conf.read_text() == before
    rem.ok("domains", "set", "new.test", "disable_layers", "bayes", "neural")
    assert "disable_layers = bayes neural" in conf.read_text()
    rem.ok("domains", "unset", "new.test", "spam_reject")
    assert "spam_reject" not in conf.read_text()
    r = rem.run("domains", "add", "new.test", "[127.0.0.1]:9")
    assert r.returncode == 1, r
    # lists
    blk = mg.dir / "lists" / "example.test.block"
    out = rem.ok("lists", "add", "example.test", "block", "@spam.example")
    assert out == "@spam.example example.test.block: added\n", out
    assert "@spam.example" in blk.read_text()
    assert "already listed" in rem.ok("lists", "add", "example.test", "block", "@SPAM.example")
    rem.ok("lists", "add", "global", "allow", "192.0.2.0/24")
    out = rem.ok("lists", "show", "example.test")
    assert "block @spam.example" in out, out
    assert "allow 192.0.2.0/24" in rem.ok("lists", "show", "global", "allow")
    r = rem.run("lists", "add", "example.test", "block", "not an entry!")
    assert r.returncode == 1 and "error" in r.stderr, r.stderr
    assert rem.ok("lists", "remove", "example.test", "block", "@spam.example").endswith(
        "removed\n")
    assert "@spam.example" not in blk.read_text()
    # the change reached the daemon: the new domain accepts mail after the reload
    wait_for(lambda: "new.test" in rem.ok("domains", "list"), 10, "new.test in force")
    assert rem.ok("domains", "remove", "new.test")
    assert not conf.exists()
    js = json.loads(rem.ok("domains", "list", extra=("--json",)))
    assert [d["name"] for d in js["domains"]] == ["example.test"], js


def local_lines(mg, *args):
    return mg.ctl(*args).stdout.splitlines()


def test_queue_dkim_stats_like_local():
    state = {"refuse": True}

    def rule(address, session):
        return "451 4.3.0 back-end down" if state["refuse"] else None
    back = TrackingSink(rules={"user@example.test": rule})
    mg, rem, _ = setup(back)
    txs = []
    for subj in ("one", 'quote " and \\ backslash'):
        t = new_token()
        tx = smtp_send(mg.port, "bob@sender.test", ["user@example.test"],
            data=token_message(t, "bob@sender.test", ["user@example.test"], subject=subj),
            token=t)
        assert tx.final == 250 and tx.qid, tx.replies
        txs.append(tx)
    for tx in txs:
        mg.wait_log(rf"{tx.qid} to=<user@example.test> .*status=deferred")
    a, b = txs
    # queue list: the same lines as the local command
    assert rem.ok("queue", "list").splitlines() == local_lines(mg, "queue", "list")
    out = rem.ok("queue", "show", a.qid).splitlines()
    loc = local_lines(mg, "queue", "show", a.qid)
    assert out[:2] == loc[:2], (out, loc)      # summary and recipient lines
    assert "-- headers:" in out and any(l.startswith("Subject: one") for l in out), out
    r = rem.run("queue", "show", "ffffffffffffffff")
    assert r.returncode == 1, r
    # hold / release / delete, with the queue role's own answers
    assert rem.ok("queue", "hold", b.qid) == f"{b.qid} on hold\n"
    assert re.search(rf"^{b.qid} hold ", mg.ctl("queue", "list").stdout, re.M)
    assert rem.ok("queue", "list", "hold").splitlines()[0].startswith(f"{b.qid} hold ")
    assert rem.ok("queue", "release", "ALL") == f"{b.qid} released\n"
    assert rem.ok("queue", "hold", "ALL").count("on hold") == 2
    assert rem.ok("queue", "release", "ALL").count("released") == 2
    assert rem.ok("queue", "delete", b.qid) == f"{b.qid} deleted\n"
    assert b.qid not in mg.ctl("queue", "list").stdout
    # flush once the back-end is up
    state["refuse"] = False
    assert "1 message(s) scheduled" in rem.ok("queue", "flush")
    wait_tokens(back, [a.token])
    wait_for(lambda: "-- 0 message(s)" in rem.ok("queue", "list"), 20, "queue empty")
    # dkim: keygen, then status and dns as the local commands print them
    out = rem.ok("dkim", "keygen", "example.test")
    assert "publish these records" in out, out
    strip_now = lambda lines: [l for l in lines if not l.startswith("now ")]
    assert strip_now(rem.ok("dkim", "status").splitlines()) == \
        strip_now(local_lines(mg, "dkim", "status"))
    assert rem.ok("dkim", "dns", "example.test").splitlines() == \
        local_lines(mg, "dkim", "dns", "example.test")
    out = rem.ok("dkim", "status", "example.test")
    assert out.startswith("domain example.test sign=no algorithm=") and "  key " in out, out
    r = rem.run("dkim", "rotate", "example.test")
    assert r.returncode == 2, r
    # stats: totals and the domain's counters
    out = rem.ok("stats")
    assert re.search(r"^in_deliver \d+$", out, re.M) and re.search(r"^connections \d+$", out,
        re.M), out
    wait_for(lambda: re.search(r"^domain example\.test .*out_delivered=1", rem.ok("stats"),
        re.M), 20, "delivery counted")
    # every action is audited as the token
    audit = (mg.state_dir / "audit.log").read_text()
    for act in ("queue hold", "queue release", "queue delete", "queue flush", "dkim keygen"):
        assert act in audit, f"{act} not audited"
    assert "token:remote" in audit
