"""Configuration errors of the queue and delivery settings: `mailguard -n` names file:line and
exits 1; the daemon refuses to start with a clear message and a non-zero status."""

import re

import mgtest
from mgtest import MailGuard

# (name, mailguard.conf changes, domain file text or None, file, line, message regex)
CASES = [
    ("bad duration", {"retry_min": "soon"}, None, "mailguard.conf", None,
        r"expected a duration .* for retry_min, found 'soon'"),
    ("unknown key", {"queue_lifetim": "5d"}, None, "mailguard.conf", None,
        r"unknown setting 'queue_lifetim'"),
    ("retry_max below retry_min", {"retry_min": "1h", "retry_max": "10m"}, None,
        "mailguard.conf", None, r"expected retry_max >= retry_min"),
    ("delay_warning not below queue_lifetime", {"queue_lifetime": "1h", "delay_warning": "2h"},
        None, "mailguard.conf", None, r"expected delay_warning < queue_lifetime"),
    ("delivery_concurrency out of range", {"delivery_concurrency": 0}, None, "mailguard.conf",
        None, r"delivery_concurrency"),
    ("commit window out of range", {"commit_batch_usec": 1000000}, None, "mailguard.conf", None,
        r"commit_batch_usec"),
    ("broken transport", {}, "transport = [127.0.0.1:x\n", "domains.d/example.test.conf", 1,
        r"for transport, found '\[127\.0\.0\.1:x'"),
    ("missing transport", {}, "spam_reject = 20\n", "domains.d/example.test.conf", 0,
        r"expected a line 'transport"),
]


def _line_of(mg, key):
    for n, line in enumerate(mg.conf_path.read_text().splitlines(), 1):
        if line.startswith(f"{key} "):
            return n
    return None


def _broken(name, conf, domain_text):
    mg = MailGuard(config=conf, domains={"example.test": {"transport": "[127.0.0.1]:2525"}},
        name="cfg")
    if domain_text is not None:
        mg.write_file("domains.d/example.test.conf", domain_text)
    return mg


def test_check_mode_reports_file_and_line():
    for name, conf, dom, rel, line, rx in CASES:
        mg = _broken(name, conf, dom)
        if line is None:
            line = _line_of(mg, list(conf)[-1])
        r = mg.check_config()
        out = r.stdout + r.stderr
        assert r.returncode == 1, f"{name}: -n exited {r.returncode}, want 1; output {out!r}"
        want = re.escape(f"{mg.dir / rel}:{line}: ")
        assert re.search(want + r".*" + rx, out), \
            f"{name}: got {out!r}, want {mg.dir / rel}:{line}: ... /{rx}/"
    good = MailGuard(domains={"example.test": {"transport": "[127.0.0.1]:2525"}}, name="cfg")
    r = good.check_config()
    assert r.returncode == 0, f"valid config: -n exited {r.returncode}: {r.stdout}{r.stderr}"


def test_daemon_refuses_to_start_with_a_broken_config():
    for name, conf, dom, rel, line, rx in CASES[:3] + CASES[6:7]:
        mg = _broken(name, conf, dom)
        try:
            mg.start(timeout=10)
        except mgtest.DaemonError:
            pass
        else:
            raise AssertionError(f"{name}: the daemon started with a broken config")
        rc = mg.proc.wait(10)
        assert rc not in (None, 0), f"{name}: exit status {rc}"
        log = mg.log_text(0)
        assert re.search(re.escape(f"{mg.dir / rel}:") + r"\d+: .*" + rx, log), \
            f"{name}: no file:line message in {log!r}"
        assert re.search(r"configuration in .* has errors", log), f"{name}: {log!r}"
        assert not (mg.state_dir / "control.sock").exists()
