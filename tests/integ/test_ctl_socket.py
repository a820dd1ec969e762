"""mailguardctl -S: reaching the daemon through its control socket without reading the
configuration, so an operator can still ask for status (and see reload refused) while a
configuration file has an error."""
import mgtest
from mgtest import MailGuard, Sink, run_cmd


def test_ctl_socket_with_broken_config():
    sink = Sink()
    mg = MailGuard(domains={"example.test": {"transport": sink.transport}}).start()
    sock = mg.state_dir / "control.sock"
    mg.write_file("domains.d/broken.test.conf", "transport = [127.0.0.1]:25\nno_such_key = 1\n")
    # Through the configuration: refused with a hint, the daemon is untouched.
    r = mg.ctl("status", check=False)
    assert r.returncode == 1 and "-S" in r.stderr, f"got {r.returncode}: {r.stderr!r}"
    # Through the socket: status answers; reload is refused because the files have errors.
    r = run_cmd([mg.ctl_binary, "-S", sock, "status"])
    assert r.returncode == 0 and "ready yes" in r.stdout, f"got {r.returncode}: {r.stdout!r}"
    r = run_cmd([mg.ctl_binary, "-S", sock, "reload"])
    assert r.returncode == 1 and "errors" in r.stderr, f"got {r.returncode}: {r.stderr!r}"
    mg.wait_log(r"reload: configuration has errors")
    # The running configuration still works.
    s = mgtest.smtp_client(mg.port)
    s.sendmail("a@client.test", ["user@example.test"], b"Subject: still\r\n\r\nworks\r\n")
    s.quit()
    sink.wait_count(1, 10)
