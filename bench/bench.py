#!/usr/bin/python3
"""MailGuard vs a private Postfix on the same machine (driver of `make bench`, see README.md).

For each load profile and target (postfix, mailguard): start Postfix's smtp-sink on a loopback
port, start the target relaying example.test to it, drive it with
  smtp-source -s SESSIONS -m COUNT -l SIZE -f from@bench.test -t rcpt@example.test 127.0.0.1:PORT
while bench/probe.py measures "." -> 250 latency, and report accepted msg/s, end-to-end msg/s (sink
counter), CPU ms per message, latency p50/p99 and peak memory; then the `idle` profile holds 5,000
idle connections to MailGuard. Every phase is bounded; the whole run fits BENCH_BUDGET seconds.
The profiles `outbound`, `outbound-rsa` and `outbound-ed25519` (bench/outbound.py) drive authenticated submission to 50 MX domains with tests/tools/smtp-auth-source.

Environment: BUILD (default build), BENCH_MESSAGES (20000), BENCH_PROFILES (2k-10,2k-50,50k-10,
protected,outbound,outbound-rsa,outbound-ed25519,idle), BENCH_TARGETS (postfix,mailguard), BENCH_BUDGET (1440 s), BENCH_WARMUP (200 messages),
BENCH_IDLE_CONNS (5000), BENCH_TMPDIR (/var/tmp), BENCH_KEEP (keep temp dirs), MAILGUARD_BIN,
BENCH_MG_CONF / BENCH_MG_DOMAIN_CONF / BENCH_PF_CONF (extra "key = value" lines for mailguard.conf,
domains.d/example.test.conf and Postfix's main.cf, separated by ';' or newlines).
"""

import json
import os
import platform
import re
import resource
import shutil
import signal
import statistics
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections import Counter
from pathlib import Path

from reaper import read_stats  # one /proc parser for the rig (bench/reaper.py)
import protected  # the `protected` profile: filter layers on, DNS from a local rig
import outbound   # the `outbound` profiles: authenticated submission to 50 MX domains, DKIM

REPO = Path(__file__).resolve().parents[1]
BENCH = REPO / "bench"
PY = "/usr/bin/python3"
CLK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")
T0 = time.monotonic()

PROFILES = {
    "2k-10": (2048, 10),
    "2k-50": (2048, 50),
    "50k-10": (51200, 10),
    # Every filter layer of issue C on, DNS from a local DnsRig, a pre-signed message (2 KiB
    # body + DKIM and ARC headers, sent with smtp-source -F); see bench/protected.py.
    "protected": (2048, 10),
    # Authenticated submission (STARTTLS + AUTH PLAIN, smtp-auth-source, 20 messages per
    # connection) to 50 recipient domains whose MX (DnsRig) is the sink; see bench/outbound.py.
    "outbound": (2048, outbound.SESSIONS),
    "outbound-rsa": (2048, outbound.SESSIONS),
    "outbound-ed25519": (2048, outbound.SESSIONS),
}
# The outbound profiles add 4 load runs per round (Postfix once, MailGuard three times): measured
# 333 s for three rounds on a shared machine, against 594 s for the rest of the default set, so
# the whole default run stays well within BENCH_BUDGET (1440 s).
DEFAULT_PROFILES = "2k-10,2k-50,50k-10,protected,outbound,outbound-rsa,outbound-ed25519,idle"
# Figures shown for the protected profile only (MailGuard's filter role, the DNS rig).
PROTECTED_METRICS = [
    ("filter CPU ms/msg", "filter_cpu_ms", "lower"),
    ("content CPU ms/msg", "content_cpu_ms", "lower"),
    ("DNS rig CPU ms/msg", "dns_cpu_ms", "lower"),
]
# Figures of the outbound profiles (the signer role; signatures/s per core = 1000 / its ms/msg)
OUTBOUND_METRICS = [
    ("signer CPU ms/msg", "signer_cpu_ms", "lower"),
    ("signatures/s/core", "sig_per_core", "higher"),
    ("DNS rig CPU ms/msg", "dns_cpu_ms", "lower"),
]
PROTECTED_MSG = {}   # "path", "zones", "size": the signed message, made once per bench run
METRICS = [
    # label, key, better
    ("accepted msg/s", "accepted", "higher"),
    ("end-to-end msg/s", "e2e", "higher"),
    ("CPU ms/msg", "cpu_ms", "lower"),
    ("latency p50 ms", "p50", "lower"),
    ("latency p99 ms", "p99", "lower"),
    ("peak RSS MiB (sum)", "rss_mb", "lower"),
    ("peak PSS MiB (sum)", "pss_mb", "lower"),
]


class Failure(Exception):
    pass


def env_int(name, default):
    v = os.environ.get(name, "")
    return int(v) if v.strip() else default


def say(msg):
    print(f"[bench {time.monotonic() - T0:6.1f}s] {msg}", flush=True)


def wait_until(pred, timeout, what, interval=0.05):
    end = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() >= end:
            raise Failure(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def banner_ok(port):
    try:
        with socket.create_connection(("127.0.0.1", port), 2) as s:
            s.settimeout(5)
            return s.recv(512).startswith(b"220")
    except OSError:
        return False


def tail(path, n=20):
    try:
        return "\n".join(Path(path).read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return "(no log)"


# --------------------------------------------------------------------------------------------------
# /proc accounting

def tree(root, stats):
    kids = {}
    for p, st in stats.items():
        kids.setdefault(st[0], []).append(p)
    out, todo = [], list(kids.get(root, []))
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(kids.get(p, []))
    return out


def tree_cpu(root):
    """CPU seconds used so far by root's descendants: root's reaped children (root is the reaper)
    plus every live descendant's own and reaped-children time."""
    stats = read_stats()
    if root not in stats:
        return None
    ticks = stats[root][2] + sum(stats[p][1] + stats[p][2] for p in tree(root, stats))
    return ticks / CLK


def machine_busy():
    """CPU seconds the whole machine has been busy (all CPUs, from /proc/stat)."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:9]]
    return (v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) / CLK


def own_cpu():
    """CPU seconds of this driver plus its reaped children (smtp-source, probe)."""
    a = resource.getrusage(resource.RUSAGE_SELF)
    b = resource.getrusage(resource.RUSAGE_CHILDREN)
    return a.ru_utime + a.ru_stime, b.ru_utime + b.ru_stime


def pss_kb(pid):
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


class Sampler(threading.Thread):
    """Samples the summed RSS (every 0.2 s) and PSS (every 1 s) of root's descendants."""

    def __init__(self, root):
        super().__init__(daemon=True)
        self.root = root
        self.peak_rss = 0
        self.peak_pss = 0
        self.peak_procs = 0
        self.last_rss = 0
        self.halt = threading.Event()

    def sample(self, with_pss):
        stats = read_stats()
        pids = tree(self.root, stats)
        rss = sum(stats[p][3] for p in pids) * PAGE
        self.last_rss = rss
        self.peak_rss = max(self.peak_rss, rss)
        self.peak_procs = max(self.peak_procs, len(pids))
        if with_pss:
            self.peak_pss = max(self.peak_pss, sum(pss_kb(p) for p in pids) * 1024)

    def run(self):
        n = 0
        while not self.halt.wait(0.2):
            self.sample(n % 5 == 0)
            n += 1

    def stop(self):
        self.halt.set()
        self.join(5)
        self.sample(True)


# --------------------------------------------------------------------------------------------------
# smtp-sink, counted through its -c output

class Sink:
    def __init__(self, workdir):
        self.count = 0
        self.proc = None
        self.port = None
        self.err = workdir / "smtp-sink.err"
        user = ["-u", "postfix"] if os.geteuid() == 0 else []
        for _ in range(3):
            self.port = free_port()
            self.cmd = ["smtp-sink", "-c", *user, f"127.0.0.1:{self.port}", "1024"]
            self.proc = subprocess.Popen(self.cmd, stdout=subprocess.PIPE,
                stderr=open(self.err, "wb"), stdin=subprocess.DEVNULL)
            threading.Thread(target=self._read, daemon=True).start()
            try:
                wait_until(lambda: self.proc.poll() is not None or banner_ok(self.port), 10,
                    "smtp-sink to listen")
            except Failure:
                pass
            if self.proc.poll() is None and banner_ok(self.port):
                return
            self.stop()
        raise Failure(f"smtp-sink would not start: {tail(self.err, 3)}")

    def _read(self):
        rx = re.compile(rb"mesg=(\d+)")
        buf = b""
        while True:
            chunk = self.proc.stdout.read1(65536)
            if not chunk:
                return
            buf += chunk
            i = buf.rfind(b"\r")
            if i < 0:
                continue
            m = None
            for m in rx.finditer(buf, 0, i):
                pass
            if m:
                self.count = int(m.group(1))
            buf = buf[i + 1:]

    def cpu(self):
        try:
            with open(f"/proc/{self.proc.pid}/stat", "rb") as f:
                r = f.read().rsplit(b")", 1)[1].split()
            return (int(r[11]) + int(r[12])) / CLK
        except OSError:
            return 0.0

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


# --------------------------------------------------------------------------------------------------
# The two targets, each run under bench/reaper.py

class Target:
    name = "?"

    def __init__(self, workdir, sink_port):
        self.dir = workdir
        self.sink_port = sink_port
        self.reaper = None
        self.port = None
        self.status_file = workdir / "reaper.json"
        self.notes = []

    def spawn(self, cmd, log, max_seconds):
        self.logf = open(log, "ab")
        self.reaper = subprocess.Popen([PY, str(BENCH / "reaper.py"), str(self.status_file),
            str(int(max_seconds)), "--", *cmd], stdin=subprocess.DEVNULL, stdout=self.logf,
            stderr=self.logf, cwd=self.dir, start_new_session=True)
        pidf = Path(str(self.status_file) + ".pid")
        wait_until(lambda: pidf.exists() or self.reaper.poll() is not None, 10, "reaper start")
        self.child = int(pidf.read_text()) if pidf.exists() else None

    def cpu(self):
        return tree_cpu(self.reaper.pid) if self.reaper else None

    def wait_reaper(self, timeout):
        """Wait for every process of the target to be gone; kill what remains after timeout."""
        try:
            self.reaper.wait(timeout)
        except subprocess.TimeoutExpired:
            left = tree(self.reaper.pid, read_stats())
            self.notes.append(f"{len(left)} process(es) still running {timeout:.0f}s after stop; "
                "killed")
            for p in left:
                try:
                    os.kill(p, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            try:
                self.reaper.wait(15)
            except subprocess.TimeoutExpired:
                self.reaper.kill()
                self.reaper.wait(5)
        self.logf.close()
        try:
            return json.loads(self.status_file.read_text())
        except (OSError, ValueError):
            return None

    def kill(self):
        """Emergency stop (driver interrupted): SIGKILL the whole tree."""
        if self.reaper and self.reaper.poll() is None:
            for p in tree(self.reaper.pid, read_stats()):
                try:
                    os.kill(p, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            try:
                self.reaper.wait(10)
            except subprocess.TimeoutExpired:
                self.reaper.kill()


MAIN_CF = """\
# Private benchmark instance written by bench/bench.py; stock settings except where noted.
compatibility_level = 3.6
queue_directory = {d}/queue
data_directory = {d}/data
maillog_file = {d}/maillog
mail_owner = postfix
setgid_group = postdrop
myhostname = postfix.bench.test
mydomain = bench.test
myorigin = $myhostname
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mydestination =
mynetworks = 127.0.0.0/8
relay_domains = example.test
transport_maps = inline:{{ {{example.test = relay:[127.0.0.1]:{sink}}} }}
smtp_dns_support_level = disabled
alias_maps =
alias_database =
local_recipient_maps =
biff = no
append_dot_mydomain = no
# 50 smtp-source sessions + the probe + spares (stock is 100 processes per service)
default_process_limit = 150
"""

MASTER_CF = """\
127.0.0.1:{port} inet n - n - - smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""


class Postfix(Target):
    name = "Postfix"
    extra = []          # a profile's main.cf lines (replace the template's lines of those keys)

    def start(self, max_seconds):
        if os.geteuid() != 0:
            raise Failure("the private Postfix instance needs root (master runs as root and "
                "drops to mail_owner=postfix)")
        d = self.dir
        for sub in ("etc", "queue", "data"):
            (d / sub).mkdir()
        shutil.chown(d / "data", "postfix", "postfix")
        self.port = free_port()
        main = override(MAIN_CF.format(d=d, sink=self.sink_port).splitlines(), self.extra)
        extra = "".join(l + "\n" for l in extra_lines("BENCH_PF_CONF"))
        (d / "etc/main.cf").write_text("\n".join(main) + "\n" + extra)
        (d / "etc/master.cf").write_text(MASTER_CF.format(port=self.port))
        self.etc = d / "etc"
        r = subprocess.run(["postfix", "-c", str(self.etc), "check"], capture_output=True,
            text=True, timeout=60)
        if r.returncode != 0:
            raise Failure(f"postfix check failed: {r.stderr.strip()}")
        self.spawn(["postfix", "-c", str(self.etc), "start"], d / "postfix-start.log", max_seconds)
        # `postfix start` returns once master is up (master -w); then the port must answer.
        try:
            wait_until(lambda: banner_ok(self.port), 30, "Postfix smtpd to answer")
        except Failure as e:
            raise Failure(f"{e}; maillog:\n{tail(d / 'maillog')}\n{tail(d / 'postfix-start.log')}")

    def stop(self):
        r = subprocess.run(["postfix", "-c", str(self.etc), "stop"], capture_output=True,
            text=True, timeout=60)
        if r.returncode != 0:
            self.notes.append(f"postfix stop: {r.stderr.strip()}")
        return self.wait_reaper(30)

    def log_problems(self):
        return problem_lines(self.dir / "maillog", r"\b(warning|error|fatal|panic):")


class MailGuard(Target):
    name = "MailGuard"
    extra = []
    domain_extra = []
    domain_files = {}    # a profile's other domains.d files: {domain: [lines]}
    pre_start = None     # called with the config directory after it is written (e.g. users)

    def binary(self):
        b = os.environ.get("MAILGUARD_BIN")
        if b:
            return Path(b)
        build = Path(os.environ.get("BUILD", "build"))
        return (build if build.is_absolute() else REPO / build) / "bin" / "mailguard"

    def write_config(self, d):
        conf = ["config_version = 1", "hostname = mx.bench.test", "listen = 127.0.0.1:0",
            "admin_listen = 127.0.0.1:0",
            "spool_dir = spool", "state_dir = state", "mynetworks = 127.0.0.0/8 ::1/128",
            "log_level = info", "max_message_size = 10m", "max_recipients = 100",
            "max_connections_per_ip = 20000", "delivery_concurrency = 20"]
        conf = override(override(conf, self.extra), extra_lines("BENCH_MG_CONF"))
        (d / "mailguard.conf").write_text("\n".join(conf) + "\n")
        (d / "domains.d").mkdir()
        (d / "lists").mkdir()
        dom = override(override([f"transport = [127.0.0.1]:{self.sink_port}"],
            self.domain_extra), extra_lines("BENCH_MG_DOMAIN_CONF"))
        (d / "domains.d/example.test.conf").write_text("\n".join(dom) + "\n")
        for name, lines in self.domain_files.items():
            (d / f"domains.d/{name}.conf").write_text("\n".join(lines) + "\n")

    def start(self, max_seconds):
        b = self.binary()
        if not os.access(b, os.X_OK):
            raise Failure(f"not built: {b} does not exist (make, or set BUILD / MAILGUARD_BIN)")
        d = self.dir / "etc"
        d.mkdir()
        self.write_config(d)
        self.confdir = d
        if self.pre_start:
            self.pre_start(self, d)
        rc, out, err = run_bounded([str(b), "-n", "-c", str(d)], 30)
        if rc != 0:
            raise Failure(f"config check `mailguard -n` failed ({describe_rc(rc)}): "
                f"{(err or out).strip()[:800]}")
        rc, out, err = run_bounded([str(b), "-P", "-c", str(d)], 30)
        self.settings = out if rc == 0 else ""
        self.log = d / "mailguard.log"
        self.spawn([str(b), "-c", str(d), "-d"], self.log, max_seconds)
        listeners = d / "state" / "listeners"

        def ready():
            if self.reaper.poll() is not None or not alive(self.child):
                raise Failure(f"mailguard exited before it was ready; log tail:\n"
                    f"{tail(self.log)}")
            if "mailguard ready" not in self.log.read_text(errors="replace"):
                return False
            for line in listeners.read_text().splitlines() if listeners.exists() else []:
                f = line.split()
                if len(f) == 3 and f[0] == "smtp" and f[2].isdigit():
                    return int(f[2])
            return False
        try:
            self.port = wait_until(ready, 30, "`mailguard ready` and state/listeners")
        except Failure as e:
            if "exited" in str(e):
                raise
            raise Failure(f"{e}; log tail:\n{tail(self.log)}")

    def ctl_binary(self):
        return self.binary().parent / "mailguardctl"

    def listener(self, kind):
        """Port of the first listener of kind (smtp, submission, ...) from state/listeners."""
        for line in (self.confdir / "state" / "listeners").read_text().splitlines():
            f = line.split()
            if len(f) == 3 and f[0] == kind and f[2].isdigit():
                return int(f[2])
        raise Failure(f"no {kind} listener in state/listeners")

    def stop(self):
        if alive(self.child):
            os.kill(self.child, signal.SIGTERM)
        st = self.wait_reaper(30)
        if st and st.get("status") not in (0, None):
            self.notes.append(f"mailguard exited with status {st['status']} on SIGTERM")
        return st

    def log_problems(self):
        return problem_lines(self.log, r": (warn|err|crit):")


def problem_lines(path, rx):
    """Warning/error lines of a log: (count, first two)."""
    try:
        lines = [l for l in Path(path).read_text(errors="replace").splitlines() if re.search(rx, l)]
    except OSError:
        return 0, []
    return len(lines), [l[:200] for l in lines[:2]]


def run_bounded(cmd, timeout):
    """Run cmd in its own session; on timeout kill its whole process group. (rc|None, out, err)"""
    p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = p.communicate(timeout=timeout)
        rc = p.returncode
    except subprocess.TimeoutExpired:
        rc = None
    try:
        os.killpg(p.pid, signal.SIGKILL)    # anything it forked and left behind
    except ProcessLookupError:
        pass
    if rc is None:
        p.wait(10)
        out, err = "", f"did not finish within {timeout}s (killed)"
    return rc, out, err


def describe_rc(rc):
    return "timed out" if rc is None else f"exit {rc}"


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except (OSError, TypeError):
        return False


def override(lines, extra):
    """lines + extra, where a key set in extra drops the lines of lines with the same key (so a
    profile's or the user's setting replaces a default one; repeated keys of extra all stay)."""
    keys = {l.split("=", 1)[0].strip() for l in extra}
    return [l for l in lines if l.split("=", 1)[0].strip() not in keys] + list(extra)


def extra_lines(var):
    return [l.strip() for l in re.split(r"[;\n]", os.environ.get(var, "")) if l.strip()]


# --------------------------------------------------------------------------------------------------
# One load run

class Source:
    """smtp-source with its -c counter read from stdout."""

    def __init__(self, port, sessions, count, size, log, message_file=None):
        self.sent = 0
        content = ["-F", str(message_file)] if message_file else ["-l", str(size)]
        self.cmd = ["smtp-source", "-c", "-s", str(sessions), "-m", str(count), *content,
            "-f", "from@bench.test", "-t", "rcpt@example.test", f"127.0.0.1:{port}"]
        self.err = log
        self.proc = subprocess.Popen(self.cmd, stdout=subprocess.PIPE, stderr=open(log, "wb"),
            stdin=subprocess.DEVNULL)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        buf = b""
        while True:
            chunk = self.proc.stdout.read1(65536)
            if not chunk:
                return
            buf += chunk
            parts = re.split(rb"[\r\n]", buf)
            buf = parts[-1]
            for p in reversed(parts[:-1]):
                if p.strip().isdigit():
                    self.sent = int(p)
                    break

    def wait(self, timeout):
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
            rc = None
        self.reader.join(5)
        return rc


def percentile(values, q):
    if not values:
        return None
    v = sorted(values)
    k = max(0, min(len(v) - 1, int(round(q / 100.0 * len(v) + 0.5)) - 1))
    return v[k]


def settle_disk(max_seconds=30):
    """sync, wait until the kernel reports (almost) no dirty or writeback pages, then drop the
    page cache so that every run starts from the same state."""
    os.sync()
    deadline = time.monotonic() + max_seconds
    while time.monotonic() < deadline:
        dirty = 0
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith(("Dirty:", "Writeback:")):
                    dirty += int(line.split()[1])
        if dirty < 4096:  # KiB
            break
        os.sync()
        time.sleep(0.2)
    # Same start for every run: drop the clean page cache the previous run left (root only;
    # otherwise skipped). Without it a run after Postfix's was up to 3x slower than alone.
    try:
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("3\n")
    except OSError:
        pass
    time.sleep(1.0)


def run_load(cls, prof, size, sessions, count, cap, tmp_root):
    """Returns a result dict; raises Failure with a clear message if the target cannot run."""
    res = {"target": cls.name, "profile": prof, "notes": []}
    work = Path(tempfile.mkdtemp(prefix=f"{cls.name.lower()}-{prof}-", dir=tmp_root))
    os.chmod(work, 0o755)
    res["workdir"] = str(work)
    deadline = time.monotonic() + cap
    sink = target = probe = rig = None
    sources = []
    ok = False
    prot = prof == "protected"
    msg_file = PROTECTED_MSG["path"] if prot else None
    try:
        # Start from a quiet disk: the previous run's dirty pages (Postfix's queue files, a
        # removed work dir) would otherwise be written back during this run and skew it.
        settle_disk()
        sink = Sink(work)
        target = cls(work, sink.port)
        if prot and cls is MailGuard:
            try:
                rig = protected.start_rig(PROTECTED_MSG["zones"], work / "dns")
            except Exception as e:
                raise Failure(f"the DNS rig (NSD + Unbound) would not start: {e}")
            target.extra = [l.format(resolver=rig.resolver) for l in protected.MG_CONF]
            target.domain_extra = list(protected.MG_DOMAIN_CONF)
        outb = prof in outbound.PROFILES
        if outb:
            rig = outbound_setup(target, prof, sink.port, work)
        target.start(cap + 120)
        port = target.port
        if outb and cls is MailGuard:
            port = outbound_started(target, prof, rig, res)
        say(f"{cls.name} {prof}: listening on 127.0.0.1:{port}, sink :{sink.port}"
            + (f", DNS {rig.resolver}" if rig else ""))

        def source(n, log):
            if outb:
                return outbound.AuthSource(port, n, size, log, auth=cls is MailGuard)
            return Source(port, sessions, n, size, log, msg_file)
        if rig and prot:
            try:
                res["greylist_seed"] = protected.seed_greylist(target.port)
            except Exception as e:
                raise Failure(f"greylist pre-seed failed: {e}; log tail:\n{tail(target.log)}")
            if cls is MailGuard:
                # the Bayes and neural layers score every message, as in production
                try:
                    res["content_training"] = protected.train_state(target.ctl_binary(),
                                                                    target.confdir)
                except RuntimeError as e:
                    raise Failure(f"training the learning layers failed: {e}")
                t_end = time.time() + 60
                while "filter: neural: loaded" not in target.log.read_text(errors="replace"):
                    if time.time() > t_end:
                        raise Failure("the filter did not load the trained neural model "
                                      f"within 60 s; log tail:\n{tail(target.log)}")
                    time.sleep(0.5)
        warm = env_int("BENCH_WARMUP", 200)
        if warm:
            w0 = sink.count
            w = source(warm, work / "warmup.err")
            sources.append(w)
            if w.wait(60) != 0:
                raise Failure(f"warm-up smtp-source failed after {w.sent} messages: "
                    f"{tail(w.err, 3)}")
            wait_until(lambda: sink.count >= w0 + warm, 60, f"the sink to receive {warm} "
                f"warm-up messages (got {sink.count - w0})")
        base = sink.count
        sampler = Sampler(target.reaper.pid)
        sampler.sample(True)
        sampler.start()
        probe_out = work / "probe.json"
        probe_cmd = [PY, str(BENCH / "probe.py")]
        if outb:
            probe_cmd = [PY, str(BENCH / "outbound.py"), "probe", "--rcpt", outbound.PROBE_RCPT]
            if cls is MailGuard:
                probe_cmd += ["--auth", f"{outbound.USER}:{outbound.PASSWORD}"]
        probe = subprocess.Popen(probe_cmd + ["--port", str(port),
            "--size", str(size), "--interval", os.environ.get("BENCH_PROBE_INTERVAL", "0.05"),
            "--max-seconds", str(int(cap)), "--out", str(probe_out)], stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, text=True)
        if probe.stdout.readline().strip() != "started":
            raise Failure("latency probe did not start")
        roles0 = role_cpu(target) if cls is MailGuard else {}
        dns0 = rig_cpu(rig)
        log0 = target.log.stat().st_size if cls is MailGuard else 0
        cpu0, sink_cpu0 = target.cpu(), sink.cpu()
        busy0, (self0, kids0) = machine_busy(), own_cpu()
        t_start = time.monotonic()
        src = source(count, work / "smtp-source.err")
        sources.append(src)
        rc = src.wait(max(10.0, (deadline - time.monotonic()) * 0.75))
        t_src = time.monotonic()
        probe.send_signal(signal.SIGTERM)
        try:
            probe.wait(60)
            pr = json.loads(probe_out.read_text())
        except (subprocess.TimeoutExpired, OSError, ValueError) as e:
            pr = {"accepted": 0, "nerrors": 1, "errors": [f"no probe result: {e}"], "lat_ms": []}
        probe = None
        sent = count if rc == 0 else src.sent
        if rc != 0:
            why = "timed out (budget)" if rc is None else f"exited {rc}: {tail(src.err, 2)}"
            res["notes"].append(f"smtp-source {why} after {src.sent}/{count} messages")
            res["partial"] = True
        res["accepted"] = sent / (t_src - t_start)
        res["source_wall"] = t_src - t_start
        want = base + sent + pr["accepted"]
        try:
            wait_until(lambda: sink.count >= want, max(5.0, deadline - time.monotonic()),
                f"{want - base} messages at the sink", interval=0.02)
            t_e2e = time.monotonic()
            res["e2e"] = sent / (t_e2e - t_start)
            res["e2e_wall"] = t_e2e - t_start
        except Failure:
            t_e2e = time.monotonic()
            res["notes"].append(f"end-to-end incomplete: sink got {sink.count - base} of "
                f"{want - base} within the run's budget")
            res["partial"] = True
        cpu1, sink_cpu1 = target.cpu(), sink.cpu()
        busy1, (self1, kids1) = machine_busy(), own_cpu()
        roles1 = role_cpu(target) if cls is MailGuard else {}
        dns1 = rig_cpu(rig)
        sampler.stop()
        wall = max(t_e2e - t_start, 1e-6)
        msgs = sent + pr["accepted"]
        if roles1 and msgs:
            by_role = {}
            for pid, (role, c1) in roles1.items():
                c0 = roles0.get(pid, (role, 0.0))[1]
                by_role[role] = by_role.get(role, 0.0) + (c1 - c0)
            res["role_ms"] = {r: v * 1000.0 / msgs for r, v in sorted(by_role.items())}
            if prot:
                res["filter_cpu_ms"] = res["role_ms"].get("filter")
            if outb:
                outbound_figures(res, prof, target, log0, msgs)
        if rig and msgs:
            res["dns_cpu_ms"] = (dns1 - dns0) * 1000.0 / msgs
        if prot and cls is MailGuard:
            counts, elapsed = protected.verdict_summary(target.log, log0)
            cc = protected.content_cpu(target.log, log0)
            if cc:
                res["content_cpu_ms"] = cc[1]
            res["verdicts"] = counts.most_common()
            res["filter_elapsed"] = (percentile(elapsed, 50), percentile(elapsed, 99))
        # Whatever else ran on the machine meanwhile (other users, builds): it skews the figures.
        other = (busy1 - busy0) - (cpu1 - cpu0) - (sink_cpu1 - sink_cpu0) - (self1 - self0) \
            - (kids1 - kids0) - (dns1 - dns0)
        res["other_cpu_pct"] = max(0.0, 100.0 * other / (wall * os.cpu_count()))
        res["loadgen_cpu_pct"] = 100.0 * (kids1 - kids0) / wall
        if res["other_cpu_pct"] > 10:
            res["notes"].append(f"other processes used {res['other_cpu_pct']:.0f}% of the "
                "machine's CPU during this run: the figures are skewed")
        if sent + pr["accepted"]:
            res["cpu_ms"] = (cpu1 - cpu0) * 1000.0 / (sent + pr["accepted"])
        res["p50"] = percentile(pr["lat_ms"], 50)
        res["p99"] = percentile(pr["lat_ms"], 99)
        res["probes"] = pr["accepted"]
        if pr["nerrors"]:
            res["notes"].append(f"probe: {pr['nerrors']} error(s), e.g. {pr['errors'][:2]}")
        res["rss_mb"] = sampler.peak_rss / 2**20
        res["pss_mb"] = sampler.peak_pss / 2**20
        res["procs"] = sampler.peak_procs
        res["sink_cpu_pct"] = 100.0 * (sink_cpu1 - sink_cpu0) / wall
        if res["sink_cpu_pct"] > 80:
            res["notes"].append(f"smtp-sink used {res['sink_cpu_pct']:.0f}% of a CPU: it may be "
                "the bottleneck")
        st = target.stop()
        if st:
            res["cpu_total_s"] = st["utime"] + st["stime"]
        res["log_problems"] = target.log_problems()
        if isinstance(target, MailGuard):
            res["settings"] = target.settings
        ok = True
        return res
    finally:
        for p in sources + ([probe] if probe is not None else []):
            p = getattr(p, "proc", p)
            if p.poll() is None:
                p.kill()
                p.wait(5)
        end_run(target, sink, res, work, ok, rig)


def outbound_setup(target, prof, sink_port, work):
    """Configures a target for an outbound profile (bench/outbound.py); returns MailGuard's DNS
    rig (None for Postfix, which gets transport_maps entries instead)."""
    if not os.access(outbound.tool(), os.X_OK):
        raise Failure(f"not built: {outbound.tool()} (make units, with the same BUILD)")
    if not isinstance(target, MailGuard):
        target.extra = outbound.postfix_conf(sink_port)
        return None
    try:
        rig = protected.start_rig(outbound.zones(), work / "dns")
    except Exception as e:
        raise Failure(f"the DNS rig (NSD + Unbound) would not start: {e}")
    target.extra = outbound.mg_conf(rig.resolver, sink_port)
    target.domain_files = {"bench.test": outbound.domain_conf(prof, sink_port)}

    def add_user(t, confdir):
        try:
            outbound.add_user(t.ctl_binary(), confdir)
        except Exception as e:
            raise Failure(f"config check: cannot make the submission user: {e}")
    target.pre_start = add_user
    return rig


def outbound_started(target, prof, rig, res):
    """After MailGuard is ready: the signing key (signing profiles); returns the submission
    port."""
    if outbound.PROFILES[prof]:
        try:
            res["selectors"] = outbound.keygen_and_publish(target.ctl_binary(), target.confdir,
                rig)
        except Exception as e:
            raise Failure(f"DKIM key set-up failed: {e}; log tail:\n{tail(target.log)}")
    return target.listener("submission")


def outbound_figures(res, prof, target, log0, msgs):
    """Signer CPU, signatures/s per core and the signed-message count of an outbound run."""
    if not isinstance(target, MailGuard):
        return
    res["signer_cpu_ms"] = res["role_ms"].get("signer")
    if outbound.PROFILES[prof] is None:
        return
    if res["signer_cpu_ms"]:
        res["sig_per_core"] = 1000.0 / res["signer_cpu_ms"]
    res["signed"] = outbound.signed_count(target.log, log0)
    if res["signed"] < msgs:
        res["notes"].append(f"only {res['signed']} of {msgs} messages were logged as signed")


def role_cpu(target):
    """{pid: (role, CPU seconds)} of MailGuard's processes (role from the command line: the
    filter is the process started with `-x filter`)."""
    out = {}
    for pid in tree(target.reaper.pid, read_stats()):
        role = protected.role_of(pid)
        c = protected.proc_cpu(pid) if role else None
        if c is not None:
            out[pid] = (role, c)
    return out


def rig_cpu(rig):
    """CPU seconds used so far by the DNS rig's NSD and Unbound processes (0 without a rig)."""
    if rig is None:
        return 0.0
    return sum(c for c in (protected.proc_cpu(p) for p in protected.rig_pids(rig)) if c)


def end_run(target, sink, res, work, ok, rig=None):
    """Teardown shared by every run: kill a target that failed, keep its notes, stop the sink
    and the DNS rig, remove the work directory of a good run (unless BENCH_KEEP)."""
    if target is not None:
        if not ok:
            target.kill()
        res["notes"] += target.notes
    if sink is not None:
        sink.stop()
    if rig is not None:
        rig.close()
    if ok and not os.environ.get("BENCH_KEEP"):
        shutil.rmtree(work, ignore_errors=True)


def run_idle(conns, cap, tmp_root):
    res = {"target": "MailGuard", "profile": "idle", "notes": []}
    work = Path(tempfile.mkdtemp(prefix="mailguard-idle-", dir=tmp_root))
    os.chmod(work, 0o755)
    sink = target = idle = None
    ok = False
    try:
        sink = Sink(work)
        target = MailGuard(work, sink.port)
        target.extra = [f"max_connections = {conns + 100}"]   # default 2000
        target.start(cap + 60)
        sampler = Sampler(target.reaper.pid)
        sampler.sample(True)
        res["rss_before_mb"] = sampler.last_rss / 2**20
        res["pss_before_mb"] = sampler.peak_pss / 2**20
        idle = subprocess.Popen([PY, str(BENCH / "idle.py"), "--port", str(target.port),
            "--count", str(conns), "--setup-seconds", str(int(max(10, cap - 30))),
            "--max-seconds", str(int(cap))], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            text=True)
        line = idle.stdout.readline().strip()
        if not line.startswith("ready"):
            raise Failure(f"idle client failed: {line!r}")
        info = dict(kv.split("=", 1) for kv in line.split()[1:5])
        res.update(open=int(info["open"]), failed=int(info["failed"]),
            setup_s=float(info["elapsed"]))
        if int(info["failed"]):
            first = line.split("first_error=")[1]
            res["notes"].append(f"{info['failed']} connection(s) failed: {first}")
        peak_rss = peak_pss = 0
        for _ in range(3):
            sampler.peak_pss = 0
            sampler.sample(True)
            peak_rss = max(peak_rss, sampler.last_rss)
            peak_pss = max(peak_pss, sampler.peak_pss)
            time.sleep(0.3)
        res["rss_mb"] = peak_rss / 2**20
        res["pss_mb"] = peak_pss / 2**20
        if res["open"]:
            res["kib_per_conn"] = (peak_rss - res["rss_before_mb"] * 2**20) / 1024 / res["open"]
        idle.stdin.close()
        idle.wait(30)
        idle = None
        target.stop()
        ok = True
        return res
    finally:
        if idle is not None and idle.poll() is None:
            idle.kill()
            idle.wait(5)
        end_run(target, sink, res, work, ok)


# --------------------------------------------------------------------------------------------------
# Report

def fmt(v, key):
    if v is None:
        return "n/a"
    if key in ("accepted", "e2e", "rss_mb", "pss_mb"):
        return f"{v:.1f}"
    return f"{v:.3f}" if v < 10 else f"{v:.1f}"


def combine_repeats(results):
    """One result per (target, profile): the median of each metric over the successful runs,
    with every run's end-to-end rate and CPU kept for the report."""
    groups, order = {}, []
    for r in results:
        key = (r["target"], r["profile"])
        if key not in groups:
            order.append(key)
        groups.setdefault(key, []).append(r)
    out = []
    for key in order:
        rs = groups[key]
        ok = [r for r in rs if not r.get("error")]
        if len(ok) <= 1:
            out.append(ok[0] if ok else rs[0])
            continue
        m = dict(ok[0])
        for _, k, _ in METRICS + PROTECTED_METRICS + OUTBOUND_METRICS:
            vals = [r[k] for r in ok if r.get(k) is not None]
            if vals:
                m[k] = statistics.median(vals)
        roles = {role for r in ok for role in r.get("role_ms", {})}
        if roles:
            m["role_ms"] = {role: statistics.median([r["role_ms"][role] for r in ok
                if role in r.get("role_ms", {})]) for role in sorted(roles)}
        verdicts = Counter()
        for r in ok:
            verdicts.update(dict((tuple(k), n) for k, n in r.get("verdicts", [])))
        if verdicts:
            m["verdicts"] = verdicts.most_common()
        m["runs"] = [(r.get("e2e"), r.get("cpu_ms")) for r in ok]
        m["other_runs"] = [r.get("other_cpu_pct") for r in ok]
        m["filter_runs"] = [r.get("filter_cpu_ms") for r in ok]
        m["failed_runs"] = len(rs) - len(ok)
        out.append(m)
    return out


def report(results, count, started, budget_note):
    out = []
    pf_ver = subprocess.run(["postconf", "-d", "-h", "mail_version"], capture_output=True,
        text=True).stdout.strip()
    out.append(f"MailGuard benchmark, {started} UTC")
    out.append(f"host: {os.cpu_count()} CPUs, {platform.system()} {platform.release()}, "
        f"{mem_total_gb():.0f} GB RAM, work dirs on {fs_type(tmp_base())} ({tmp_base()}); "
        f"Postfix {pf_ver}")
    out.append(f"messages per run: {count} (after {env_int('BENCH_WARMUP', 200)} warm-up "
        "messages), one connection per message (outbound profiles: 20 per connection)")
    out.append("load:  smtp-source -s SESSIONS -m COUNT -l SIZE -f from@bench.test "
        "-t rcpt@example.test 127.0.0.1:PORT")
    if any(r["profile"] in outbound.PROFILES for r in results):
        out.append(f"       outbound: {outbound.describe('COUNT')} (bench/outbound.py)")
    if any(r["profile"] == "protected" for r in results):
        out.append("       protected: smtp-source -s 10 -m COUNT -F MESSAGE_FILE -f from@bench.test "
            "-t rcpt@example.test 127.0.0.1:PORT (bench/protected.py)")
    out.append("sink:  smtp-sink -c -u postfix 127.0.0.1:SINKPORT 1024 (messages counted from its "
        "-c counter)")
    out.append("probe: bench/probe.py, one message every 50 ms on one session, time from \".\" to "
        "250")
    out.append("accepted = COUNT / smtp-source wall time; end-to-end = COUNT / time until the sink "
        "has COUNT + probe messages;")
    out.append("CPU = user+system of every process of the target (reaped children included) from "
        "load start to end-to-end done,")
    out.append("      per message (COUNT + probes); RSS/PSS = peak of the sum over its processes.")
    out.append(f"load average at start {LOADAVG[0]}, at end {loadavg()}; \"other processes\" "
        "below is the CPU used by everything else during a run (should be near 0%)")
    if budget_note:
        out.append(budget_note)
    by = {}
    for r in results:
        by.setdefault(r["profile"], {})[r["target"]] = r
    for prof, (size, sessions) in PROFILES.items():
        if prof not in by:
            continue
        pf, mg = by[prof].get("Postfix"), by[prof].get("MailGuard")
        out.append("")
        prot = prof == "protected"
        outb = prof in outbound.PROFILES
        signing = outb and outbound.PROFILES[prof]
        shared_pf = pf is None and signing and "outbound" in by
        if shared_pf:
            pf = by["outbound"].get("Postfix")
        extra_metrics = PROTECTED_METRICS if prot else []
        if outb:
            extra_metrics = OUTBOUND_METRICS if signing else OUTBOUND_METRICS[2:]
        if prot:
            out.append(f"== protected: one pre-signed message of {PROTECTED_MSG.get('size', 0)} "
                f"bytes (2 KiB body + DKIM and ARC headers, smtp-source -F), {sessions} "
                f"sessions, {count} messages; MailGuard with every filter layer on (SPF, DKIM, "
                "ARC, DMARC, RBL + DNSWL, greylisting; DNS from a local NSD + Unbound), "
                "Postfix plain")
        elif outb:
            out.append(f"== {prof}: authenticated submission (STARTTLS + AUTH PLAIN) of "
                f"{count} 2 KiB messages, {sessions} sessions x {outbound.PER_CONN} messages per "
                f"connection, to {outbound.DOMAINS} domains (MX from a local NSD + Unbound); "
                + (f"DKIM {signing} signing of bench.test; " if signing else "no signing; ")
                + "Postfix: same load without TLS/AUTH (mynetworks relay), transport_maps, "
                "no DNS" + (", its `outbound` run (Postfix does not sign)" if shared_pf else ""))
        else:
            out.append(f"== {prof}: {size // 1024} KiB messages, {sessions} sessions, "
                f"{count} messages")
        out.append(f"{'metric':<22}{'Postfix':>12}{'MailGuard':>12}{'MG/PF':>9}   better")
        for label, key, better in METRICS + extra_metrics:
            a = pf.get(key) if pf and not pf.get("error") else None
            b = mg.get(key) if mg and not mg.get("error") else None
            if key in ("filter_cpu_ms", "content_cpu_ms"):
                # Postfix has no filter: the ratio is to its whole CPU per message
                a = pf.get("cpu_ms") if pf and not pf.get("error") else None
                ratio = f"{b / a:.2f}" if a and b is not None else "n/a"
                out.append(f"{label:<22}{'(' + fmt(a, 'cpu_ms') + ')':>12}{fmt(b, key):>12}"
                    f"{ratio:>9}   {better}   (PF column: Postfix's total CPU ms/msg)")
                continue
            if key in ("signer_cpu_ms", "sig_per_core"):
                out.append(f"{label:<22}{'-':>12}{fmt(b, key):>12}{'':>9}   {better}   "
                    "(signer role; Postfix does not sign)")
                continue
            if key == "dns_cpu_ms":
                out.append(f"{label:<22}{'-':>12}{fmt(b, key):>12}{'':>9}   {better}   "
                    "(NSD + Unbound, not counted in MailGuard's CPU)")
                continue
            ratio = f"{b / a:.2f}" if a and b is not None else "n/a"
            out.append(f"{label:<22}{fmt(a, key):>12}{fmt(b, key):>12}{ratio:>9}   {better}")
        if prot and mg and not mg.get("error") and mg.get("filter_cpu_ms") is not None:
            v = mg["filter_cpu_ms"]
            c = mg.get("content_cpu_ms")
            out.append(f"goal of issue C, filter CPU <= 0.5 ms/msg on average: "
                f"{'met' if v <= 0.5 else 'NOT met'} ({v:.3f} ms/msg, median of the runs"
                + (f"; {v - c:.3f} without the content layers of issue D" if c is not None
                   else "") + ")")
            if c is not None:
                out.append(f"goal of issue D, content CPU <= 0.5 ms/msg (10 KiB message): "
                    f"{'met' if c <= 0.5 else 'NOT met'} for this message ({c:.3f} ms/msg)")
        if signing:
            out += outbound_vs_unsigned(mg, by.get("outbound", {}).get("MailGuard"))
        for r in (pf, mg):
            if r is None or (r is pf and shared_pf):
                continue
            if r.get("error"):
                out.append(f"  {r['target']}: NOT MEASURED: {r['error']}")
                continue
            extra = (f"  {r['target']}: smtp-source {r['source_wall']:.1f}s, "
                f"e2e {r.get('e2e_wall', float('nan')):.1f}s, {r['probes']} probes, "
                f"peak {r['procs']} processes, sink CPU {r['sink_cpu_pct']:.0f}%, "
                f"smtp-source+probe CPU {r['loadgen_cpu_pct']:.0f}%, "
                f"other processes {r['other_cpu_pct']:.0f}% of the machine, "
                f"lifetime CPU {r.get('cpu_total_s', float('nan')):.1f}s, "
                f"{r['log_problems'][0]} warning/error log lines")
            out.append(extra)
            if r.get("runs"):
                out.append(f"    {len(r['runs'])} runs (figures above are medians): e2e msg/s "
                    + " / ".join(fmt(e, "e2e") for e, _ in r["runs"]) + "; CPU ms/msg "
                    + " / ".join(fmt(c, "cpu_ms") for _, c in r["runs"])
                    + "; other processes % " + " / ".join(f"{o:.0f}" if o is not None else "?"
                        for o in r.get("other_runs", []))
                    + (f"; {r['failed_runs']} run(s) failed" if r.get("failed_runs") else ""))
            if r.get("role_ms"):
                out.append("    CPU ms/msg by role: " + ", ".join(f"{k} {v:.3f}"
                    for k, v in r["role_ms"].items())
                    + (" (medians)" if r.get("runs") else ""))
            if r.get("filter_runs") and any(x is not None for x in r["filter_runs"]):
                out.append("    filter CPU ms/msg per run: " + " / ".join(fmt(x, "cpu_ms")
                    for x in r["filter_runs"]))
            if r.get("filter_elapsed") and r["filter_elapsed"][0] is not None:
                out.append(f"    filter elapsed_ms (log) p50 {r['filter_elapsed'][0]}, "
                    f"p99 {r['filter_elapsed'][1]}" + (" (first run)" if r.get("runs") else ""))
            for seed in r.get("greylist_seed", []):
                out.append(f"    greylist pre-seed: {seed}")
            if r.get("verdicts"):
                total = sum(n for _, n in r["verdicts"])
                out.append(f"    filter verdicts during the load ({total}"
                    + (", all runs" if r.get("runs") else "") + "):")
                for (action, score, syms, detail), n in r["verdicts"][:6]:
                    out.append(f"      {n:>7} action={action} score={score} symbols={syms}"
                        + (f" detail={detail}" if detail else ""))
            for l in r["log_problems"][1]:
                out.append(f"    log: {l}")
            for n in r["notes"]:
                out.append(f"    note: {n}")
    if "idle" in by:
        r = by["idle"]["MailGuard"]
        out.append("")
        out.append(f"== idle: {env_int('BENCH_IDLE_CONNS', 5000)} idle connections to MailGuard "
            "(banner read, then held)")
        if r.get("error"):
            out.append(f"  MailGuard: NOT MEASURED: {r['error']}")
        else:
            out.append(f"  open {r['open']}, failed {r['failed']}, set-up {r['setup_s']:.1f}s")
            out.append(f"  RSS sum {r['rss_before_mb']:.1f} MiB before -> {r['rss_mb']:.1f} MiB "
                f"held ({r.get('kib_per_conn', float('nan')):.1f} KiB/connection); "
                f"PSS {r['pss_before_mb']:.1f} -> {r['pss_mb']:.1f} MiB")
            for n in r["notes"]:
                out.append(f"    note: {n}")
        out.append("  Postfix: not run (one smtpd process per connection; see bench/README.md)")
    return "\n".join(out) + "\n"


def outbound_vs_unsigned(mg, plain):
    """Report lines: a signing variant against MailGuard's unsigned outbound run."""
    if not mg or mg.get("error"):
        return []
    out = []
    if plain and not plain.get("error") and mg.get("e2e") and plain.get("e2e"):
        out.append(f"vs MailGuard unsigned (outbound): e2e {mg['e2e'] / plain['e2e']:.2f}x, "
            f"CPU ms/msg {fmt(plain.get('cpu_ms'), 'cpu_ms')} -> {fmt(mg.get('cpu_ms'), 'cpu_ms')}")
    if mg.get("signed") is not None:
        out.append(f"messages logged as signed during the load: {mg['signed']}"
            + (" (first run)" if mg.get("runs") else ""))
    return out


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


LOADAVG = [loadavg()]


def mem_total_gb():
    with open("/proc/meminfo") as f:
        return int(f.readline().split()[1]) / 2**20


def tmp_base():
    return os.environ.get("BENCH_TMPDIR", "/var/tmp")


def fs_type(path):
    best, fstype = "", "?"
    with open("/proc/mounts") as f:
        for line in f:
            parts = line.split()
            if path.startswith(parts[1]) and len(parts[1]) > len(best):
                best, fstype = parts[1], parts[2]
    return fstype


# --------------------------------------------------------------------------------------------------

def main():
    count = env_int("BENCH_MESSAGES", 20000)
    budget = env_int("BENCH_BUDGET", 1440)
    deadline = T0 + budget
    wanted = [p.strip() for p in os.environ.get("BENCH_PROFILES",
        DEFAULT_PROFILES).split(",") if p.strip()]
    targets = [t.strip().lower() for t in os.environ.get("BENCH_TARGETS",
        "postfix,mailguard").split(",") if t.strip()]
    classes = [c for c in (Postfix, MailGuard) if c.name.lower() in targets]
    unknown = [p for p in wanted if p not in PROFILES and p != "idle"]
    if unknown:
        print(f"bench: unknown profile(s) {unknown}; known: {list(PROFILES)} idle",
            file=sys.stderr)
        return 2
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    started = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())
    tmp_root = Path(tempfile.mkdtemp(prefix="mailguard-bench-", dir=tmp_base()))
    os.chmod(tmp_root, 0o755)
    try:
        return run_all(wanted, classes, count, deadline, started, tmp_root)
    finally:
        if not os.environ.get("BENCH_KEEP"):
            shutil.rmtree(tmp_root, ignore_errors=True)
        else:
            print(f"work directories kept under {tmp_root}")


def run_all(wanted, classes, count, deadline, started, tmp_root):
    budget = env_int("BENCH_BUDGET", 1440)
    # BENCH_REPEAT rounds; the order of the targets alternates from round to round so that
    # neither always runs right after the other (the disk carries the previous run's traces).
    reps = max(1, env_int("BENCH_REPEAT", 3))
    runs = [(p, c) for rep in range(reps) for p in wanted if p in PROFILES
        for c in (classes if rep % 2 == 0 else list(reversed(classes)))]
    # Postfix does not sign: its `outbound` run is the reference of the signing variants too
    runs = [(p, c) for p, c in runs if not (c is Postfix and outbound.PROFILES.get(p)
        and "outbound" in wanted)]
    do_idle = "idle" in wanted and MailGuard in classes
    results = []
    # MailGuard failed to start: skip its later runs (the protected profile's configuration is
    # its own, so a failure there does not skip the others, nor the other way round)
    mg_broken = {}
    budget_note = ""
    b0, t0 = machine_busy(), time.monotonic()
    time.sleep(1.0)
    idle_busy = 100.0 * (machine_busy() - b0) / ((time.monotonic() - t0) * os.cpu_count())
    if idle_busy > 20:
        say(f"warning: {idle_busy:.0f}% of the machine's CPU is busy before the benchmark "
            "starts: other work will skew the figures")
    say(f"{len(runs)} load run(s) of {count} messages{' + idle' if do_idle else ''}; "
        f"budget {budget}s; work dir {tmp_root}")
    if "protected" in wanted:
        try:
            path, zones = protected.make_message(tmp_root / "protected")
            PROTECTED_MSG.update(path=path, zones=zones, size=path.stat().st_size)
            say(f"protected: signed message {path} ({PROTECTED_MSG['size']} bytes)")
        except Exception as e:
            say(f"protected: cannot make the signed message: {e}")
            for c in classes:
                results.append({"target": c.name, "profile": "protected",
                    "error": f"skipped: cannot make the signed message: {e}"})
            runs = [(p, c) for p, c in runs if p != "protected"]
    for i, (prof, cls) in enumerate(runs):
        size, sessions = PROFILES[prof]
        reserve = 150 if do_idle else 0
        # A run's ceiling: twice its fair share of what is left (MailGuard runs take far less
        # than their share, Postfix runs more), but at least 120 s (a slow Postfix run of
        # 20,000 messages on a busy machine takes ~60 s; with the outbound profiles the default
        # set has 36 runs, whose fair share alone would cut such a run short), never more than
        # what is left; runs that no longer fit are skipped below, so the whole run still keeps
        # to BENCH_BUDGET.
        avail = deadline - time.monotonic() - reserve - 30
        cap = min(600.0, avail, max(120.0, 2 * avail / (len(runs) - i)))
        kind = prof if prof == "protected" or prof in outbound.PROFILES else "plain"
        if cls is MailGuard and mg_broken.get(kind):
            results.append({"target": cls.name, "profile": prof, "error": mg_broken[kind]})
            continue
        if cap < 20:
            results.append({"target": cls.name, "profile": prof,
                "error": "skipped: time budget exhausted"})
            budget_note = "note: some runs were skipped to stay within BENCH_BUDGET"
            continue
        say(f"{cls.name} {prof}: {count} x {size} B over {sessions} sessions (cap {cap:.0f}s)")
        try:
            r = run_load(cls, prof, size, sessions, count, cap, tmp_root)
            say(f"{cls.name} {prof}: accepted {r['accepted']:.1f}/s, e2e "
                f"{fmt(r.get('e2e'), 'e2e')}/s, cpu {fmt(r.get('cpu_ms'), 'cpu_ms')} ms/msg, "
                f"p50 {fmt(r['p50'], 'p50')} ms, p99 {fmt(r['p99'], 'p99')} ms, "
                f"RSS {r['rss_mb']:.1f} MiB"
                + (f", filter {fmt(r['filter_cpu_ms'], 'cpu_ms')} ms/msg, DNS rig "
                    f"{fmt(r.get('dns_cpu_ms'), 'cpu_ms')} ms/msg"
                    if r.get("filter_cpu_ms") is not None else ""))
        except (Failure, Exception) as e:
            if not isinstance(e, Failure):
                e = Failure(f"internal error: {type(e).__name__}: {e}\n{traceback.format_exc()}")
            say(f"{cls.name} {prof}: FAILED: {e}")
            r = {"target": cls.name, "profile": prof, "error": headline(e), "detail": str(e)}
            first = str(e).splitlines()[0] if str(e) else ""   # not a log tail's text
            if cls is MailGuard and ("not built" in first or "ready" in first or
                    "config check" in first or "exited" in first):
                mg_broken[kind] = f"skipped: MailGuard failed in the {prof} run (see above)"
        results.append(r)
    if do_idle:
        cap = min(240.0, deadline - time.monotonic() - 10)
        conns = env_int("BENCH_IDLE_CONNS", 5000)
        if mg_broken.get("plain"):
            results.append({"target": "MailGuard", "profile": "idle",
                "error": mg_broken["plain"]})
        elif cap < 40:
            results.append({"target": "MailGuard", "profile": "idle",
                "error": "skipped: time budget exhausted"})
        else:
            say(f"MailGuard idle: {conns} connections (cap {cap:.0f}s)")
            try:
                r = run_idle(conns, cap, tmp_root)
                say(f"MailGuard idle: {r['open']} open, RSS {r['rss_mb']:.1f} MiB")
            except Exception as e:
                say(f"MailGuard idle: FAILED: {e}")
                r = {"target": "MailGuard", "profile": "idle", "error": headline(e),
                    "detail": str(e)}
            results.append(r)
    text = report(combine_repeats(results), count, started, budget_note)
    details = [f"\n--- {r['target']} {r['profile']} failure detail\n{r['detail']}"
        for r in results if r.get("detail") and r["detail"] != r["error"]]
    settings = next((r["settings"] for r in results if r.get("settings")
        and r["profile"] != "protected" and r["profile"] not in outbound.PROFILES), "")
    osettings = next((r["settings"] for r in results if r.get("settings")
        and r["profile"] in outbound.PROFILES), "")
    psettings = next((r["settings"] for r in results if r.get("settings")
        and r["profile"] == "protected"), "")
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    out = BENCH / f"results-{stamp}.txt"
    full = text + "".join(details)
    if settings:
        full += "\n--- mailguard -P (effective settings of the benchmark instance)\n" + settings
    if psettings:
        full += ("\n--- mailguard -P (effective settings of the protected profile's instance)\n"
            + psettings)
    if osettings:
        full += ("\n--- mailguard -P (effective settings of an outbound profile's instance)\n"
            + osettings)
    out.write_text(full)
    print()
    print(text, end="")
    print(f"\nresults written to {out.relative_to(REPO)} (total {time.monotonic() - T0:.0f}s)")
    return 0


def headline(e):
    """First line of a failure for the table; the rest goes to the end of the results file."""
    lines = str(e).splitlines()
    first = re.sub(r"[;:]? *log tail:$", "", lines[0] if lines else repr(e))
    return first + (" (details at the end of the results file)" if len(lines) > 1 else "")


def on_term(signum, frame):
    raise KeyboardInterrupt


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, on_term)
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("bench: interrupted; every started process has been stopped", file=sys.stderr)
        sys.exit(130)
