"""MailGuard integration-test framework (tests/integ/, run by tests/integ/run.py).

Everything here talks to 127.0.0.1/::1 only and cleans up after itself: every daemon, sink, client,
helper process and temporary directory a test creates is registered and released by cleanup_all(),
which the runner calls after each test whatever its outcome (and at interpreter exit otherwise).
No fixed sleeps: wait for a log line, a file or a count with wait_for()/wait_log()/wait_count().

Main pieces (see the docstrings):
  MailGuard(config=, domains=, lists=)   a daemon instance in its own temporary config dir
  Sink(rules=, tls=)                      a recording aiosmtpd back-end on a loopback port
  RawClient(port)                         a byte-level SMTP client for abuse tests
  wait_for(pred, timeout, what)           poll until pred() is truthy, else raise WaitTimeout
  make_cert(), make_ca(), make_message(), tmpdir(), spawn(), run_cmd(), Skip, timeout()
Needs Debian's /usr/bin/python3 (python3-aiosmtpd).

A test is a top-level function test_* in tests/integ/test_<area>.py; plain asserts with
"got X, want Y" messages. Example:

    import mgtest
    from mgtest import MailGuard, Sink, RawClient

    def test_relays_to_the_domain_transport():
        sink = Sink(rules={"bad@example.test": "550 5.1.1 no such user"})
        mg = MailGuard(domains={"example.test": {"transport": sink.transport}}).start()
        assert mg.send("a@client.test", ["u@example.test"]) == {}
        [m] = sink.wait_count(1)
        assert m.rcpt_tos == ["u@example.test"], f"got {m.rcpt_tos}"
        c = RawClient(mg.port)
        c.banner()
        c.send(b"EHLO x\\r\\nMAIL FROM:<a@b>\\r\\n")      # early pipelining, byte for byte
        ...

Run: /usr/bin/python3 tests/integ/run.py [-k substring] [-x] [--list] [files]; every test runs in
its own forked process and temporary directory, and cleanup stops each daemon with SIGTERM and
requires exit status 0 with no process left behind (so every test also checks clean shutdown).
"""

import asyncio
import email
import email.policy
import email.utils
import itertools
import logging
import os
import re
import shutil
import signal
import smtplib
import socket
import ssl
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


# --------------------------------------------------------------------------------------------------
# Errors and test control

class Skip(Exception):
    """Raise Skip("why") in a test to report it as skipped."""


class WaitTimeout(AssertionError):
    """A wait_for()/wait_log()/wait_count() deadline passed."""


class DaemonError(AssertionError):
    """The daemon failed to start, exited unexpectedly or did not stop cleanly."""


class CtlError(AssertionError):
    """mailguardctl exited non-zero (with check=True)."""


class ConnectionClosed(AssertionError):
    """The peer closed the connection while a reply was expected."""


class ProtocolError(AssertionError):
    """The peer sent something that is not a well-formed SMTP reply."""


def timeout(seconds):
    """Decorator: give one test its own timeout (the runner's default is 120 s)."""
    def deco(fn):
        fn.timeout = seconds
        return fn
    return deco


def wait_for(predicate, timeout=10.0, what=None, interval=0.005, max_interval=0.1, ignore=()):
    """Poll predicate() until it returns a truthy value, and return that value.

    Polls quickly at first (interval, doubling up to max_interval). Exceptions of the types in
    `ignore` count as "not yet"; any other exception propagates. On timeout raises WaitTimeout
    naming `what` (or the predicate) and the last value or ignored exception seen.
    """
    deadline = time.monotonic() + timeout
    delay = interval
    last = None
    last_exc = None
    while True:
        try:
            last = predicate()
            last_exc = None
            if last:
                return last
        except ignore as e:
            last_exc = e
        now = time.monotonic()
        if now >= deadline:
            name = what or getattr(predicate, "__name__", "condition")
            detail = f"; last error: {last_exc!r}" if last_exc is not None else \
                f"; last value: {last!r}"
            raise WaitTimeout(f"timed out after {timeout:g}s waiting for {name}{detail}")
        time.sleep(min(delay, deadline - now))
        delay = min(delay * 2, max_interval)


# --------------------------------------------------------------------------------------------------
# Per-test resources: cleanup registry, temporary directories, helper processes

class _Registry:
    """Everything a test created that must be released; LIFO like a with-stack."""

    def __init__(self):
        self.cleanups = []          # (label, fn)
        self.daemons = []           # MailGuard instances, for failure reports
        self.tmp_root = None        # set by the runner per test (MGTEST_TMP)
        self.report_fd = None       # runner pipe: "pgid N" lines so it can kill leftovers

    def add(self, label, fn):
        self.cleanups.append((label, fn))

    def note_pgid(self, pgid):
        if self.report_fd is not None:
            try:
                os.write(self.report_fd, f"pgid {pgid}\n".encode())
            except OSError:
                pass


_reg = _Registry()


def configure(tmp_root=None, report_fd=None):
    """Called by the runner in each test process; tests need not call it."""
    _reg.tmp_root = tmp_root
    _reg.report_fd = report_fd


def add_cleanup(fn, label=None):
    """Run fn() at test cleanup (LIFO). Errors are reported, never swallowed silently."""
    _reg.add(label or getattr(fn, "__name__", "cleanup"), fn)


def cleanup_all():
    """Release every registered resource, newest first. Returns a list of error strings."""
    errors = []
    while _reg.cleanups:
        label, fn = _reg.cleanups.pop()
        try:
            fn()
        except Exception as e:      # keep going: the next resource must still be released
            errors.append(f"{label}: {type(e).__name__}: {e}")
    _reg.daemons.clear()
    return errors


def failure_context(lines=40, skip_if_in=""):
    """Text to show with a failed test: the tail of every daemon log of this test (skipping a
    log whose last line already appears in skip_if_in, e.g. a DaemonError's message)."""
    out = []
    for mg in _reg.daemons:
        try:
            tail = mg.log_tail(lines)
        except OSError:
            continue
        if not tail or tail.splitlines()[-1] in skip_if_in:
            continue
        out.append(f"--- {mg.log_path} (last {lines} lines)\n{tail}")
    return "\n".join(out)


_tmp_counter = itertools.count()


def tmpdir(prefix="t"):
    """A fresh directory under the test's temporary root (removed by the runner), as a Path.

    Outside the runner, a directory under the system temp dir that cleanup_all() removes.
    """
    if _reg.tmp_root:
        p = Path(_reg.tmp_root) / f"{prefix}{next(_tmp_counter)}"
        p.mkdir(parents=True)
        return p
    p = Path(tempfile.mkdtemp(prefix=f"mgtest-{prefix}-"))
    os.chmod(p, 0o755)      # a daemon started as root drops to its own user: it must get in
    add_cleanup(lambda: shutil.rmtree(p, ignore_errors=True), f"rmtree {p}")
    return p


def build_dir():
    """$BUILD (default build), relative to the repository root unless absolute."""
    b = Path(os.environ.get("BUILD", "build"))
    return b if b.is_absolute() else REPO / b


def _proc_stat(pid):
    """(state, ppid, pgrp, starttime) of pid from /proc, or None if gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            s = f.read()
    except OSError:
        return None
    rest = s[s.rindex(b")") + 2:].split()
    return rest[0].decode(), int(rest[1]), int(rest[2]), int(rest[19])


def _all_pids():
    return [int(n) for n in os.listdir("/proc") if n.isdigit()]


def live_processes(pgid=None, ancestor=None):
    """{pid: starttime} of live (non-zombie) processes in group pgid or descending from ancestor."""
    stats = {}
    for pid in _all_pids():
        st = _proc_stat(pid)
        if st and st[0] != "Z":
            stats[pid] = st
    found = {}
    if pgid is not None:
        found.update({p: st[3] for p, st in stats.items() if st[2] == pgid})
    if ancestor is not None:
        children = {}
        for p, st in stats.items():
            children.setdefault(st[1], []).append(p)
        todo = list(children.get(ancestor, []))
        if ancestor in stats:
            found[ancestor] = stats[ancestor][3]
        while todo:
            p = todo.pop()
            if p not in found:
                found[p] = stats[p][3]
                todo.extend(children.get(p, []))
    return found


def _still_alive(procs):
    """The subset of {pid: starttime} that is still the same, non-zombie process."""
    alive = {}
    for pid, start in procs.items():
        st = _proc_stat(pid)
        if st and st[0] != "Z" and st[3] == start:
            alive[pid] = start
    return alive


def _kill_all(procs, wait=10):
    """SIGKILL the still-alive subset of {pid: starttime} and wait until they are gone."""
    for pid in _still_alive(procs):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    if wait:
        wait_for(lambda: not _still_alive(procs), wait, "killed processes to disappear")


def spawn(cmd, **kwargs):
    """subprocess.Popen in a new session, killed (with its process group) at cleanup."""
    kwargs.setdefault("stdin", subprocess.DEVNULL)
    kwargs.setdefault("start_new_session", True)
    p = subprocess.Popen([str(c) for c in cmd], **kwargs)
    _reg.note_pgid(p.pid)

    def stop():
        if p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            p.wait(10)
        for s in (p.stdin, p.stdout, p.stderr):
            if s:
                s.close()
    add_cleanup(stop, f"process {cmd[0]} [{p.pid}]")
    return p


def run_cmd(cmd, timeout=30, check=False, input=None, **kwargs):
    """subprocess.run with text output captured and a timeout (kills the process on expiry)."""
    kwargs.setdefault("capture_output", True)
    kwargs.setdefault("text", True)
    if input is None:
        kwargs.setdefault("stdin", subprocess.DEVNULL)
    return subprocess.run([str(c) for c in cmd], timeout=timeout, check=check, input=input,
        **kwargs)


# --------------------------------------------------------------------------------------------------
# Certificates and messages

@dataclass
class Cert:
    cert: Path
    key: Path
    cn: str


def _openssl(*args):
    r = run_cmd(["openssl", *args], timeout=60)
    if r.returncode != 0:
        raise RuntimeError(f"openssl {args[0]} failed: {r.stderr.strip()}")


def _key_args(key_type):
    if key_type == "rsa":
        return ["-newkey", "rsa:2048"]
    if key_type == "ec":
        return ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"]
    raise ValueError(f"key_type {key_type!r}: want 'ec' or 'rsa'")


def make_ca(directory=None, cn="MailGuard Test CA", key_type="ec"):
    """A self-signed CA certificate (Cert) for signing test certificates with make_cert(ca=...)."""
    d = Path(directory) if directory else tmpdir("ca")
    c = Cert(d / "ca.crt", d / "ca.key", cn)
    _openssl("req", "-x509", *_key_args(key_type), "-nodes", "-keyout", str(c.key),
        "-out", str(c.cert), "-days", "3", "-subj", f"/CN={cn}",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    os.chmod(c.key, 0o600)
    return c


def make_cert(directory=None, cn="mx.test.local", names=("localhost",), ips=("127.0.0.1", "::1"),
        ca=None, key_type="ec", days=2, name="server"):
    """Generate a key and certificate with the openssl CLI; returns Cert(cert, key, cn).

    Self-signed unless ca (a Cert from make_ca) is given. The key file is mode 0600.
    """
    d = Path(directory) if directory else tmpdir("cert")
    c = Cert(d / f"{name}.crt", d / f"{name}.key", cn)
    san = ",".join([f"DNS:{cn}"] + [f"DNS:{n}" for n in names] + [f"IP:{i}" for i in ips])
    if ca is None:
        _openssl("req", "-x509", *_key_args(key_type), "-nodes", "-keyout", str(c.key),
            "-out", str(c.cert), "-days", str(days), "-subj", f"/CN={cn}",
            "-addext", f"subjectAltName={san}")
    else:
        csr = d / f"{name}.csr"
        ext = d / f"{name}.ext"
        ext.write_text(f"subjectAltName={san}\nextendedKeyUsage=serverAuth,clientAuth\n")
        _openssl("req", "-new", *_key_args(key_type), "-nodes", "-keyout", str(c.key),
            "-out", str(csr), "-subj", f"/CN={cn}")
        _openssl("x509", "-req", "-in", str(csr), "-CA", str(ca.cert), "-CAkey", str(ca.key),
            "-CAcreateserial", "-days", str(days), "-out", str(c.cert), "-extfile", str(ext))
    os.chmod(c.key, 0o600)
    return c


_msg_counter = itertools.count(1)


def make_message(mail_from="sender@client.test", to="user@example.test", subject=None, body=None,
        headers=None, size=None):
    """An RFC 5322 message as bytes with CRLF line ends, Date and a unique Message-ID.

    `size` pads the body with 76-character lines to roughly that many bytes in total.
    """
    n = next(_msg_counter)
    to_list = [to] if isinstance(to, str) else list(to)
    hdrs = [("From", mail_from), ("To", ", ".join(to_list)),
        ("Subject", subject if subject is not None else f"test message {n}"),
        ("Date", email.utils.formatdate(localtime=False)),
        ("Message-ID", f"<mgtest.{os.getpid()}.{n}.{time.time_ns()}@client.test>")]
    names = {k.lower() for k, _ in (headers or [])}
    hdrs = [(k, v) for k, v in hdrs if k.lower() not in names] + list(headers or [])
    text = "".join(f"{k}: {v}\r\n" for k, v in hdrs) + "\r\n"
    text += body if body is not None else f"Test body {n}.\r\n"
    if size:
        line = ("0123456789abcdefghijklmnopqrstuvwxyz" * 3)[:76] + "\r\n"
        while len(text) < size:
            text += line
    if not text.endswith("\r\n"):
        text += "\r\n"
    return text.encode()


# --------------------------------------------------------------------------------------------------
# The daemon

def _fmt_value(v):
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, (list, tuple)):
        return " ".join(str(x) for x in v)
    return str(v)


@dataclass
class Listener:
    name: str
    host: str
    port: int


class MailGuard:
    """One mailguard daemon with its own config dir (CONFDIR) in a temporary directory.

    MailGuard(config={...}, domains={"example.test": {"transport": sink.transport}},
              lists={"global.block": ["@spam.test"]}, tls=False, binary=None, env=None)
    writes CONFDIR/mailguard.conf (DEFAULT_CONFIG updated with `config`; a None value drops a key),
    CONFDIR/domains.d/<domain>.conf and CONFDIR/lists/<name> at once; start() runs
    `$BUILD/bin/mailguard -c CONFDIR -d` in a new session with stderr to CONFDIR/mailguard.log and
    waits for "mailguard ready" plus the listeners file. Attributes: dir, conf_path, log_path,
    spool_dir, state_dir, port (first smtp listener), listeners, pid, proc.
    """

    DEFAULT_CONFIG = {
        "config_version": 1,
        "hostname": "mx.test.local",
        "listen": "127.0.0.1:0",
        "spool_dir": "spool",
        "state_dir": "state",
        "mynetworks": "127.0.0.0/8 ::1/128",
        "log_level": "debug",
        # the console's default port (8443) would collide between tests running in parallel
        "admin_listen": "127.0.0.1:0",
    }

    def __init__(self, config=None, domains=None, lists=None, tls=False, binary=None,
            ctl_binary=None, env=None, name="mg"):
        self.dir = tmpdir(name)
        self.conf_path = self.dir / "mailguard.conf"
        self.log_path = self.dir / "mailguard.log"
        self.binary = Path(binary) if binary else build_dir() / "bin" / "mailguard"
        self.ctl_binary = Path(ctl_binary) if ctl_binary else build_dir() / "bin" / "mailguardctl"
        self.env = dict(os.environ, **(env or {}))
        self.config = dict(self.DEFAULT_CONFIG)
        self.domains = {}
        self.lists = {}
        self.proc = None
        self.pid = None
        self.returncode = None
        self.listeners = []
        self._log_start = 0
        self._logf = None
        if tls:
            tls_dir = self.dir / "tls"
            tls_dir.mkdir()
            c = make_cert(tls_dir, cn=self.config["hostname"], name="server")
            self.config.update(tls_cert=str(c.cert), tls_key=str(c.key))
        self.configure(config, domains, lists)
        _reg.daemons.append(self)
        add_cleanup(self._cleanup, f"mailguard {self.dir}")

    # -- configuration -------------------------------------------------------------------------
    def configure(self, config=None, domains=None, lists=None, replace_domains=False):
        """Merge settings and rewrite every config file. Does not reload a running daemon."""
        for k, v in (config or {}).items():
            if v is None:
                self.config.pop(k, None)
            else:
                self.config[k] = v
        if replace_domains:
            self.domains = {}
        for d, kv in (domains or {}).items():
            if kv is None:
                self.domains.pop(d, None)
            else:
                self.domains[d] = dict(kv)
        for n, entries in (lists or {}).items():
            if entries is None:
                self.lists.pop(n, None)
            else:
                self.lists[n] = entries
        self.write_config()

    def write_config(self):
        lines = [f"{k} = {_fmt_value(v)}" for k, v in self.config.items() if k == "config_version"]
        lines += [f"{k} = {_fmt_value(v)}" for k, v in self.config.items() if k != "config_version"]
        self.write_file("mailguard.conf", "\n".join(lines) + "\n")
        dd = self.dir / "domains.d"
        if dd.exists():
            for f in dd.glob("*.conf"):
                if f.stem not in self.domains:
                    f.unlink()
        dd.mkdir(exist_ok=True)
        for d, kv in self.domains.items():
            self.write_file(f"domains.d/{d}.conf",
                "".join(f"{k} = {_fmt_value(v)}\n" for k, v in kv.items()))
        ld = self.dir / "lists"
        if ld.exists():
            for f in ld.iterdir():
                if f.name not in self.lists:
                    f.unlink()
        ld.mkdir(exist_ok=True)
        for n, entries in self.lists.items():
            text = entries if isinstance(entries, str) else "".join(f"{e}\n" for e in entries)
            self.write_file(f"lists/{n}", text)

    def write_file(self, relpath, text, mode=0o644):
        """Write a file under CONFDIR (atomically: temp file + rename), e.g. a broken config."""
        p = self.dir / relpath
        p.parent.mkdir(parents=True, exist_ok=True)
        tmp = p.with_name(f".{p.name}.tmp")
        tmp.write_bytes(text if isinstance(text, bytes) else text.encode())
        os.chmod(tmp, mode)
        os.replace(tmp, p)
        return p

    def _dir_setting(self, key, default):
        p = Path(str(self.config.get(key, default)))
        return p if p.is_absolute() else self.dir / p

    @property
    def spool_dir(self):
        return self._dir_setting("spool_dir", "spool")

    @property
    def state_dir(self):
        return self._dir_setting("state_dir", "state")

    @property
    def listeners_path(self):
        return self.state_dir / "listeners"

    # -- process control -----------------------------------------------------------------------
    @property
    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def start(self, timeout=30, wait_ready=True, args=()):
        """Start the daemon; with wait_ready, return once it is ready (else raise DaemonError)."""
        if self.running:
            raise DaemonError("start(): mailguard is already running")
        if not os.access(self.binary, os.X_OK):
            raise DaemonError(f"mailguard binary not found or not executable: {self.binary} "
                "(run make, or set BUILD)")
        try:
            self.listeners_path.unlink()
        except FileNotFoundError:
            pass
        self.listeners = []
        self.returncode = None
        self._logf = open(self.log_path, "ab")
        self._log_start = self._logf.tell()
        self.proc = subprocess.Popen([str(self.binary), "-c", str(self.dir), "-d", *args],
            stdin=subprocess.DEVNULL, stdout=self._logf, stderr=self._logf, cwd=self.dir,
            env=self.env, start_new_session=True)
        self.pid = self.proc.pid
        _reg.note_pgid(self.pid)
        if wait_ready:
            self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout=30):
        """Wait for the ready line and the listeners file of the current run."""
        def ready():
            rc = self.proc.poll()
            if rc is not None:
                self._close_log()
                raise DaemonError(f"mailguard exited with {self._status(rc)} before it was "
                    f"ready; log tail:\n{self.log_tail(30)}")
            if "mailguard ready" not in self.log_text(self._log_start):
                return False
            ls = self._read_listeners()
            if ls:
                self.listeners = ls
            return bool(ls)
        try:
            wait_for(ready, timeout, "mailguard ready and the listeners file")
        except WaitTimeout as e:
            raise DaemonError(f"{e}; log tail:\n{self.log_tail(30)}") from None
        return self

    def _read_listeners(self):
        try:
            text = self.listeners_path.read_text()
        except FileNotFoundError:
            return []
        out = []
        for line in text.splitlines(keepends=True):
            if not line.endswith("\n"):
                break                   # still being written
            parts = line.split()
            if len(parts) == 3 and parts[2].isdigit():
                out.append(Listener(parts[0], parts[1], int(parts[2])))
        return out

    def listener(self, name="smtp", index=0):
        """The index-th listener called `name` (Listener(name, host, port))."""
        ls = [l for l in self.listeners if l.name == name]
        if len(ls) <= index:
            raise AssertionError(f"no listener {name}[{index}] in {self.listeners}")
        return ls[index]

    @property
    def port(self):
        return self.listener("smtp").port

    @property
    def admin_port(self):
        """Port of the first admin console (HTTPS) listener."""
        return self.listener("admin").port

    @property
    def host(self):
        return self.listener("smtp").host

    def processes(self):
        """{pid: starttime} of the supervisor and every process of its group or descent."""
        if self.pid is None:
            return {}
        return live_processes(pgid=self.pid, ancestor=self.pid)

    def pids(self):
        return sorted(self.processes())

    def rss_kb(self):
        """Sum of VmRSS (KiB) over the daemon's processes."""
        total = 0
        for pid in self.processes():
            try:
                with open(f"/proc/{pid}/statm") as f:
                    total += int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024
            except OSError:
                pass
        return total

    def signal(self, sig):
        """Send sig to the supervisor."""
        os.kill(self.pid, sig)

    def reload(self, wait_log=None, timeout=10):
        """SIGHUP the supervisor; optionally wait for a log line (regex) after this point."""
        mark = self.log_mark()
        self.signal(signal.SIGHUP)
        if wait_log:
            return self.wait_log(wait_log, timeout, since=mark)
        return None

    def stop(self, timeout=15, check=True):
        """SIGTERM the supervisor and wait; SIGKILL the whole tree if it hangs.

        With check, raises DaemonError unless it exited 0 within timeout leaving no process
        behind. Returns the exit status (negative: killed by that signal).
        """
        if self.proc is None:
            return self.returncode
        if self.proc.poll() is not None:
            # It died on its own: report that rather than pretend a clean stop.
            rc = self._reap()
            if check:
                raise DaemonError(f"stop(): mailguard had already exited with "
                    f"{self._status(rc)}; log tail:\n{self.log_tail(30)}")
            return rc
        procs = self.processes()
        problems = []
        try:
            os.kill(self.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            problems.append(f"did not exit within {timeout:g}s of SIGTERM (killed)")
            self._kill_tree(procs)
        rc = self._reap()
        procs.update(live_processes(pgid=self.pid))
        try:
            wait_for(lambda: not _still_alive(procs), 5, "role processes to exit")
        except WaitTimeout:
            left = sorted(_still_alive(procs))
            problems.append(f"processes left after the supervisor exited: {left} (killed)")
            _kill_all(procs)
        if rc != 0:
            problems.append(f"exited with {self._status(rc)}")
        if problems and check:
            raise DaemonError("stop(): mailguard " + "; ".join(problems) +
                f"; log tail:\n{self.log_tail(30)}")
        return rc

    def kill9(self):
        """SIGKILL every process of the daemon at once (crash simulation) and wait until gone."""
        if self.proc is None:
            return
        self._kill_tree(self.processes())
        self._reap()

    def _kill_tree(self, procs):
        procs = dict(procs)
        procs.update(self.processes())
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        _kill_all(procs)
        self.proc.wait(10)

    def restart(self, timeout=30):
        """stop() (checked) then start()."""
        self.stop()
        return self.start(timeout)

    def _reap(self):
        rc = self.proc.wait(10)
        self.returncode = rc
        self._close_log()
        return rc

    def _close_log(self):
        if self._logf:
            self._logf.close()
            self._logf = None

    @staticmethod
    def _status(rc):
        if rc is None:
            return "no status"
        if rc < 0:
            try:
                return f"signal {signal.Signals(-rc).name}"
            except ValueError:
                return f"signal {-rc}"
        return f"exit status {rc}"

    def _cleanup(self):
        if self.proc is None:
            return
        if self.proc.poll() is not None:
            self._reap()            # died during the test: the test saw it (or will fail)
            leftovers = _still_alive(live_processes(pgid=self.pid))
            _kill_all(leftovers)
            return
        self.stop(check=True)       # every test is also a graceful-shutdown test

    # -- logs, files, tools --------------------------------------------------------------------
    def log_mark(self):
        """The current log size; pass as since= to look only at later lines."""
        try:
            return self.log_path.stat().st_size
        except FileNotFoundError:
            return 0

    def log_text(self, since=0):
        try:
            with open(self.log_path, "rb") as f:
                f.seek(since)
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, lines=30):
        return "\n".join(self.log_text().splitlines()[-lines:])

    def wait_log(self, regex, timeout=10, since=None, flags=re.M):
        """Wait for regex in the log (from `since`, default: this run's start); return the match."""
        start = self._log_start if since is None else since
        rx = re.compile(regex, flags)

        def found():
            m = rx.search(self.log_text(start))
            if m is None and self.proc is not None and self.proc.poll() is not None:
                raise DaemonError(f"mailguard exited ({self._status(self.proc.returncode)}) "
                    f"while waiting for /{regex}/ in the log; tail:\n{self.log_tail(30)}")
            return m
        return wait_for(found, timeout, f"/{regex}/ in {self.log_path.name}")

    def assert_log(self, regex, since=None, flags=re.M):
        start = self._log_start if since is None else since
        m = re.search(regex, self.log_text(start), flags)
        assert m, f"/{regex}/ not found in the log; tail:\n{self.log_tail(20)}"
        return m

    def assert_no_log(self, regex, since=None, flags=re.M):
        start = self._log_start if since is None else since
        m = re.search(regex, self.log_text(start), flags)
        assert not m, f"unexpected log line: {m.group(0)!r}"

    def ctl(self, *args, check=True, timeout=30, input=None):
        """Run `mailguardctl -c CONFDIR ARGS...`; returns CompletedProcess (text stdout/stderr)."""
        r = run_cmd([self.ctl_binary, "-c", self.dir, *args], timeout=timeout, input=input)
        if check and r.returncode != 0:
            raise CtlError(f"mailguardctl {' '.join(map(str, args))} exited {r.returncode}:\n"
                f"stdout: {r.stdout.strip()}\nstderr: {r.stderr.strip()}")
        return r

    def check_config(self):
        """`mailguard -n -c CONFDIR` (CompletedProcess; returncode 0 = config is valid)."""
        return run_cmd([self.binary, "-n", "-c", self.dir], timeout=30)

    def print_config(self):
        """`mailguard -P -c CONFDIR` (CompletedProcess)."""
        return run_cmd([self.binary, "-P", "-c", self.dir], timeout=30)

    def spool_files(self):
        """Sorted relative paths of every regular file under the spool dir."""
        root = self.spool_dir
        if not root.exists():
            return []
        return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())

    def smtp(self, timeout=10, **kwargs):
        """An smtplib.SMTP connected to the first smtp listener (closed at cleanup)."""
        return smtp_client(self.port, host=self.host, timeout=timeout, **kwargs)

    def send(self, mail_from="sender@client.test", to="user@example.test", data=None, **kwargs):
        """Send one message over a fresh connection; returns smtplib's refused-recipients dict."""
        to_list = [to] if isinstance(to, str) else list(to)
        data = data if data is not None else make_message(mail_from, to_list)
        s = self.smtp()
        try:
            return s.sendmail(mail_from, to_list, data, **kwargs)
        finally:
            _quiet_quit(s)


def _quiet_quit(s):
    try:
        s.quit()
    except (smtplib.SMTPException, OSError):
        s.close()


def smtp_client(port, host="127.0.0.1", timeout=10, **kwargs):
    """smtplib.SMTP to host:port with a local hostname that needs no DNS (closed at cleanup)."""
    kwargs.setdefault("local_hostname", "client.test")
    s = smtplib.SMTP(host, port, timeout=timeout, **kwargs)
    add_cleanup(lambda: s.close(), f"smtp client :{port}")
    return s


# --------------------------------------------------------------------------------------------------
# The recording back-end

@dataclass
class SinkMessage:
    mail_from: str
    rcpt_tos: list
    data: bytes
    mail_options: list
    rcpt_options: list          # one list per accepted recipient, same order as rcpt_tos
    peer: tuple
    helo: str
    tls: bool
    tls_version: str
    session: int                # connection number (1, 2, ...) within this sink
    received: float             # time.time()
    tls_cipher: str = ""        # negotiated cipher suite name ("" without TLS)

    def message(self):
        """The data parsed as an email.message.EmailMessage."""
        return email.message_from_bytes(self.data, policy=email.policy.default)

    def header(self, name):
        return self.message().get(name)


class _SinkHandler:
    def __init__(self, sink):
        self.sink = sink

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname
        return responses

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        reply = await self.sink._rule(self.sink.mail_rules, address, session)
        if reply is not None and not reply.startswith("2"):
            return reply
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        envelope.rcpt_options_list = []
        return reply or "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        reply = await self.sink._rule(self.sink.rules, address, session)
        if reply is not None and not reply.startswith("2"):
            with self.sink._cond:
                self.sink.rejected.append((address, reply))
            return reply
        envelope.rcpt_tos.append(address)
        if not hasattr(envelope, "rcpt_options_list"):
            envelope.rcpt_options_list = []
        envelope.rcpt_options_list.append(list(rcpt_options))
        return reply or "250 OK"

    async def handle_DATA(self, server, session, envelope):
        sink = self.sink
        if sink.data_delay:
            await asyncio.sleep(sink.data_delay)
        reply = sink.data_reply(envelope) if callable(sink.data_reply) else sink.data_reply
        if reply is not None and not reply.startswith("2"):
            with sink._cond:
                sink.rejected.append(("DATA", reply))
            return reply
        tls_version = tls_cipher = ""
        if session.ssl:
            obj = session.ssl.get("ssl_object") if isinstance(session.ssl, dict) else None
            tls_version = obj.version() if obj else "TLS"
            tls_cipher = (obj.cipher() or ("",))[0] if obj else ""
        msg = SinkMessage(
            mail_from=envelope.mail_from, rcpt_tos=list(envelope.rcpt_tos),
            data=bytes(envelope.original_content or envelope.content or b""),
            mail_options=list(envelope.mail_options),
            rcpt_options=list(getattr(envelope, "rcpt_options_list", [])),
            peer=tuple(session.peer) if session.peer else (), helo=session.host_name or "",
            tls=bool(session.ssl), tls_version=tls_version, tls_cipher=tls_cipher,
            session=sink._session_no(session), received=time.time())
        with sink._cond:
            sink._messages.append(msg)
            sink._cond.notify_all()
        return reply or "250 OK: queued"


class Sink:
    """A recording SMTP server (aiosmtpd) on an ephemeral loopback port, in a thread.

    Sink(rules={"bad@example.test": "550 5.1.1 no such user",
                "slow@example.test": "451 4.3.0 try later"},
         mail_rules={}, data_reply=None, data_delay=0, tls=False, host="127.0.0.1")
    port=N binds a fixed port (to bring a stopped back-end back on the same address).
    Rule values: a reply string (non-2xx refuses that recipient / sender), None (accept), a
    (delay_seconds, reply) tuple, or a callable(address, session) returning one of those.
    Addresses match case-insensitively. data_reply: a reply string or callable(envelope) for
    every DATA. tls=True offers STARTTLS with a generated certificate.
    Records accepted transactions as SinkMessage in .messages; refusals in .rejected.
    Started on construction; stopped at cleanup (or stop()).
    """

    def __init__(self, rules=None, mail_rules=None, data_reply=None, data_delay=0, tls=False,
            cert=None, host="127.0.0.1", hostname="sink.test.local", data_size_limit=64 << 20,
            smtp_timeout=300, start=True, port=0):
        self._want_port = port      # 0: ephemeral; a fixed port brings a back-end back where it was
        self.rules = {k.lower(): v for k, v in (rules or {}).items()}
        self.mail_rules = {k.lower(): v for k, v in (mail_rules or {}).items()}
        self.data_reply = data_reply
        self.data_delay = data_delay
        self.host = host
        self.hostname = hostname
        self.data_size_limit = data_size_limit
        self.smtp_timeout = smtp_timeout
        self.tls_context = None
        if tls or cert:
            cert = cert or make_cert(cn=hostname, name="sink")
            ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ctx.load_cert_chain(str(cert.cert), str(cert.key))
            self.tls_context = ctx
        self.cert = cert
        self._messages = []
        self.rejected = []
        self._cond = threading.Condition()
        self._nsessions = 0
        self._conns = []
        self.port = None
        self._loop = None
        self._thread = None
        if start:
            self.start()

    @property
    def transport(self):
        """The domain transport value pointing at this sink: "[127.0.0.1]:PORT"."""
        return f"[{self.host}]:{self.port}"

    async def _rule(self, table, address, session):
        r = table.get((address or "").lower())
        if callable(r):
            r = r(address, session)
        if isinstance(r, tuple):
            delay, r = r
            await asyncio.sleep(delay)
        return r

    def _session_no(self, session):
        with self._cond:
            if not hasattr(session, "mgtest_no"):
                self._nsessions += 1
                session.mgtest_no = self._nsessions
            return session.mgtest_no

    def _factory(self):
        from aiosmtpd.smtp import SMTP
        s = SMTP(_SinkHandler(self), hostname=self.hostname, ident="mgtest sink",
            data_size_limit=self.data_size_limit, enable_SMTPUTF8=True, decode_data=False,
            tls_context=self.tls_context, timeout=self.smtp_timeout)
        self._conns.append(s)
        return s

    def start(self):
        logging.getLogger("mail.log").setLevel(logging.WARNING)
        fam = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(fam, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self._want_port))
        self.port = sock.getsockname()[1]
        self._loop = asyncio.new_event_loop()
        ready = threading.Event()
        failure = []

        def run():
            asyncio.set_event_loop(self._loop)
            try:
                server = self._loop.run_until_complete(
                    self._loop.create_server(self._factory, sock=sock, backlog=256))
            except Exception as e:
                failure.append(e)
                ready.set()
                return
            ready.set()
            self._loop.run_forever()
            server.close()
            for c in self._conns:
                if getattr(c, "transport", None):
                    c.transport.abort()
            tasks = [t for t in asyncio.all_tasks(self._loop) if not t.done()]
            for t in tasks:
                t.cancel()
            if tasks:
                self._loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
            self._loop.run_until_complete(server.wait_closed())
            self._loop.close()

        self._thread = threading.Thread(target=run, name=f"sink:{self.port}", daemon=True)
        self._thread.start()
        if not ready.wait(10) or failure:
            raise RuntimeError(f"sink failed to start: {failure}")
        add_cleanup(self.stop, f"sink :{self.port}")
        return self

    def stop(self):
        if self._thread is None:
            return
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        if self._thread.is_alive():
            raise RuntimeError(f"sink :{self.port} thread did not stop")
        self._thread = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    def set_rule(self, address, reply):
        """Add or change (reply None: remove) a recipient rule while running."""
        if reply is None:
            self.rules.pop(address.lower(), None)
        else:
            self.rules[address.lower()] = reply

    @property
    def messages(self):
        with self._cond:
            return list(self._messages)

    @property
    def count(self):
        with self._cond:
            return len(self._messages)

    @property
    def sessions(self):
        """How many SMTP connections the sink has seen."""
        with self._cond:
            return len(self._conns)

    def clear(self):
        with self._cond:
            self._messages.clear()
            self.rejected.clear()

    def wait_count(self, n, timeout=10):
        """Wait until at least n messages were accepted; returns the list of all messages."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self._messages) < n:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise WaitTimeout(f"timed out after {timeout:g}s waiting for {n} message(s) "
                        f"at sink :{self.port}; got {len(self._messages)}, "
                        f"rejected {self.rejected!r}")
                self._cond.wait(left)
            return list(self._messages)

    def find(self, rcpt=None, mail_from=None):
        """Messages with that recipient and/or sender (case-insensitive)."""
        out = []
        for m in self.messages:
            if rcpt and rcpt.lower() not in (r.lower() for r in m.rcpt_tos):
                continue
            if mail_from is not None and mail_from.lower() != (m.mail_from or "").lower():
                continue
            out.append(m)
        return out


# --------------------------------------------------------------------------------------------------
# The raw client

@dataclass
class Reply:
    code: int
    lines: list = field(default_factory=list)   # text after "NNN-" / "NNN "
    raw: bytes = b""

    @property
    def text(self):
        return "\n".join(self.lines)

    def __str__(self):
        return self.raw.decode("utf-8", "replace").rstrip()


# RFC 2034 enhanced status code at the start of a reply's text, e.g. "5.7.1 ".
ENH_RX = re.compile(r"^([245])\.([0-9]{1,3})\.([0-9]{1,3})(?: |$)")


def enhanced_code(reply):
    """The enhanced status code of a Reply's first line ("5.7.1"); asserts there is one."""
    m = ENH_RX.match(reply.lines[0])
    assert m, f"reply {str(reply)!r} lacks an enhanced status code (RFC 2034)"
    return m.group(0).strip()


def expect_reply(client, code, line, enh=None):
    """Sends line on a RawClient, asserts the reply code and, if given, its enhanced code."""
    r = client.expect(code, line)
    if enh:
        assert enhanced_code(r) == enh, f"got {str(r)!r} to {line!r}, want {code} {enh}"
    return r


class RawClient:
    """A byte-level SMTP client for abuse tests: no normalisation of anything it sends.

    c = RawClient(port); c.reply() -> banner Reply; c.send(b"EHLO x\\r\\n"); c.reply();
    c.cmd("MAIL FROM:<a@b>") sends a line + CRLF and returns the reply; c.expect(250, "NOOP");
    c.closed(timeout) -> True once the server closed (EOF or reset). Replies are parsed
    strictly (NNN, then "-" or " " or end of line); anything else raises ProtocolError.
    """

    def __init__(self, port, host="127.0.0.1", timeout=10, connect_timeout=10, source=None):
        """source: local address to connect from (e.g. "127.0.0.2", another loopback client)."""
        self.host = host
        self.port = port
        self.timeout = timeout
        self.sock = socket.create_connection((host, port), connect_timeout,
            source_address=(source, 0) if source else None)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        self.eof = False
        add_cleanup(self.close, f"raw client :{port}")

    def close(self):
        if self.sock is not None:
            try:
                self.sock.close()
            finally:
                self.sock = None

    def send(self, data):
        """Send bytes (str is encoded as UTF-8) exactly as given. Returns self."""
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)
        return self

    def send_line(self, line):
        return self.send((line.encode() if isinstance(line, str) else line) + b"\r\n")

    def send_slowly(self, data, chunk=1, delay=0.01):
        """Trickle data in chunks with a pause between them (slow-client tests)."""
        if isinstance(data, str):
            data = data.encode()
        for i in range(0, len(data), chunk):
            self.sock.sendall(data[i:i + chunk])
            time.sleep(delay)
        return self

    def _fill(self, deadline):
        """Read more into buf; False on EOF/reset. Raises WaitTimeout at the deadline."""
        left = deadline - time.monotonic()
        if left <= 0:
            raise WaitTimeout("deadline")
        self.sock.settimeout(left)
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            raise WaitTimeout("deadline") from None
        except (ConnectionResetError, BrokenPipeError, ssl.SSLEOFError):
            data = b""
        if not data:
            self.eof = True
            return False
        self.buf += data
        return True

    def recv_line(self, timeout=None):
        """One line including its line end (CRLF or bare LF) as bytes."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while b"\n" not in self.buf:
            try:
                if not self._fill(deadline):
                    raise ConnectionClosed(f"connection closed; unterminated data {self.buf!r}")
            except WaitTimeout:
                raise WaitTimeout(f"no complete line within {timeout or self.timeout:g}s; "
                    f"got {self.buf!r}") from None
        line, _, self.buf = self.buf.partition(b"\n")
        return line + b"\n"

    def reply(self, timeout=None):
        """Read one complete (possibly multi-line) reply; returns Reply."""
        t = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + t
        raw = b""
        lines = []
        code = None
        while True:
            try:
                line = self.recv_line(max(deadline - time.monotonic(), 0.0001))
            except WaitTimeout:
                raise WaitTimeout(f"no complete reply within {t:g}s; got {raw + self.buf!r}") \
                    from None
            except ConnectionClosed:
                raise ConnectionClosed(f"connection closed after {raw + self.buf!r}") from None
            raw += line
            m = re.match(rb"^([2-5][0-9][0-9])([ -]|\r?\n$)", line)
            if not m:
                raise ProtocolError(f"malformed reply line {line!r} (after {raw[:-len(line)]!r})")
            c = int(m.group(1))
            if code is not None and c != code:
                raise ProtocolError(f"reply code changed within a reply: {raw!r}")
            code = c
            lines.append(line[4:].rstrip(b"\r\n").decode("utf-8", "replace"))
            if m.group(2) != b"-":
                return Reply(code, lines, raw)

    def replies(self, n, timeout=None):
        return [self.reply(timeout) for _ in range(n)]

    def cmd(self, line, timeout=None):
        """Send line + CRLF and return the reply."""
        self.send_line(line)
        return self.reply(timeout)

    def expect(self, code, line=None, timeout=None):
        """Optionally send a line, read a reply, assert its code (int, or a prefix like "5")."""
        if line is not None:
            self.send_line(line)
        r = self.reply(timeout)
        if not str(r.code).startswith(str(code)):
            sent = f" to {line!r}" if line is not None else ""
            raise AssertionError(f"got reply {str(r)!r}{sent}, want {code}")
        return r

    def banner(self, timeout=None):
        return self.expect(220, timeout=timeout)

    def ehlo(self, name="client.test"):
        return self.expect(250, f"EHLO {name}")

    def closed(self, timeout=5):
        """True if the server closes the connection within timeout (data read meanwhile stays
        in .buf); False if it is still open."""
        if self.eof:
            return True
        deadline = time.monotonic() + timeout
        try:
            while self._fill(deadline):
                pass
            return True
        except WaitTimeout:
            return False

    def expect_closed(self, timeout=5):
        assert self.closed(timeout), f"connection still open after {timeout:g}s; got {self.buf!r}"

    def read_all(self, timeout=5):
        """Everything received until close or timeout, as bytes (clears .buf)."""
        self.closed(timeout)
        data, self.buf = self.buf, b""
        return data

    def starttls(self, context=None, server_hostname=None):
        """STARTTLS and wrap the socket. Asserts the server sent nothing after its 220."""
        self.expect(220, "STARTTLS")
        assert not self.buf, f"data after the STARTTLS reply (injection): {self.buf!r}"
        if context is None:
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        self.sock.settimeout(self.timeout)
        self.sock = context.wrap_socket(self.sock, server_hostname=server_hostname)
        return self


def free_port(host="127.0.0.1"):
    """A currently unused TCP port. Prefer listen port 0 + reading the real port: this races."""
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(fam, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def port_is_open(port, host="127.0.0.1", timeout=0.5):
    """True if a TCP connection to host:port succeeds within timeout."""
    try:
        with socket.create_connection((host, port), timeout):
            return True
    except OSError:
        return False


if not os.environ.get("MGTEST_RUNNER"):
    import atexit
    atexit.register(cleanup_all)
