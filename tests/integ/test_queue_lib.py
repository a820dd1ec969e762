"""Helpers shared by the queue, delivery and control tests (test_queue_*.py, test_delivery_*.py,
test_ctl_*.py). This file holds no tests; it is named test_* only so that it lives beside them.

  smtp_send(port, ...)           one transaction over a raw socket, every reply recorded
  queue_list(mg) / queue_qids    `mailguardctl queue list` parsed
  wait_queue_empty(mg)           until the queue role lists no message
  TrackingSink(...)              a Sink that also counts concurrent sessions
  Token helpers                  unique per-message tokens and where the Sink saw them
  journal_segments(mg)           the journal segment files, oldest first
"""

import re
import socket
import threading
import time
import zlib

import mgtest
from mgtest import Sink, wait_for

QID_RX = re.compile(r"queued as ([0-9a-f]{16})")
TOKEN_RX = re.compile(rb"^X-MG-Token: (\S+)\r?$", re.M)


# ------------------------------------------------------------------------------------------------
# A small SMTP client that says exactly how far a transaction got

class Tx:
    """What happened to one message: the replies, and whether all of DATA left the client."""

    def __init__(self, token):
        self.token = token
        self.replies = []           # (command, code, text)
        self.data_sent = False      # the final "." was handed to the kernel
        self.final = None           # reply code to the end of DATA, None if none came
        self.error = None           # exception text when the connection failed
        self.qid = None

    @property
    def accepted(self):
        return self.final == 250

    def __repr__(self):
        return (f"Tx({self.token} final={self.final} data_sent={self.data_sent} "
            f"qid={self.qid} error={self.error})")


class LineReader:
    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def reply(self):
        lines = []
        while True:
            while b"\n" not in self.buf:
                d = self.sock.recv(65536)
                if not d:
                    raise ConnectionError("connection closed by the server")
                self.buf += d
            line, _, self.buf = self.buf.partition(b"\n")
            line = line.rstrip(b"\r").decode("utf-8", "replace")
            if len(line) < 3 or not line[:3].isdigit():
                raise ConnectionError(f"malformed reply {line!r}")
            lines.append(line[4:])
            if len(line) == 3 or line[3] != "-":
                return int(line[:3]), "\n".join(lines)


class SmtpConn:
    """One client connection that can carry several transactions (raw sockets, no retries)."""

    def __init__(self, port, host="127.0.0.1", timeout=20):
        self.sock = socket.create_connection((host, port), timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.r = LineReader(self.sock)
        code, text = self.r.reply()
        if code != 220:
            raise ConnectionError(f"banner {code} {text}")
        self.cmd("EHLO client.test", want=250)

    def cmd(self, line, want=None):
        self.sock.sendall(line.encode() + b"\r\n")
        code, text = self.r.reply()
        if want is not None and code != want:
            raise ConnectionError(f"{line!r}: got {code} {text}, want {want}")
        return code, text

    def send_message(self, tx, mail_from, rcpts, data, mail_params="", rcpt_params="",
            split=None):
        """Runs MAIL/RCPT/DATA for tx; data is sent in two writes (at `split`) so that a crash
        can land between them. Raises ConnectionError/OSError when the connection fails (tx
        records how far it got)."""
        code, text = self.cmd(f"MAIL FROM:<{mail_from}>{mail_params}")
        tx.replies.append(("MAIL", code, text))
        if code != 250:
            tx.final = code
            self.cmd("RSET")
            return tx
        ok = 0
        for r in rcpts:
            code, text = self.cmd(f"RCPT TO:<{r}>{rcpt_params}")
            tx.replies.append(("RCPT", code, text))
            ok += code == 250
        if ok == 0:
            tx.final = code
            self.cmd("RSET")
            return tx
        code, text = self.cmd("DATA")
        tx.replies.append(("DATA", code, text))
        if code != 354:
            tx.final = code
            return tx
        payload = dot_stuff(data) + b".\r\n"
        cut = len(payload) // 2 if split is None else split
        self.sock.sendall(payload[:cut])
        self.sock.sendall(payload[cut:])
        tx.data_sent = True
        code, text = self.r.reply()
        tx.replies.append(("END", code, text))
        tx.final = code
        m = QID_RX.search(text)
        if m:
            tx.qid = m.group(1)
        return tx

    def close(self):
        try:
            self.sock.sendall(b"QUIT\r\n")
        except OSError:
            pass
        self.sock.close()


def dot_stuff(data):
    if not data.endswith(b"\r\n"):
        data += b"\r\n"
    return re.sub(rb"(?m)^\.", b"..", data)


def smtp_send(port, mail_from="sender@client.test", rcpts=("user@example.test",), data=None,
        mail_params="", rcpt_params="", token=None):
    """One message over a fresh connection; returns its Tx (never raises on SMTP refusals)."""
    token = token or new_token()
    rcpts = [rcpts] if isinstance(rcpts, str) else list(rcpts)
    data = data if data is not None else token_message(token, mail_from, rcpts)
    tx = Tx(token)
    c = SmtpConn(port)
    try:
        c.send_message(tx, mail_from, rcpts, data, mail_params, rcpt_params)
    finally:
        c.close()
    return tx


def send_ok(mg, mail_from="sender@client.test", rcpts=("user@example.test",), **kw):
    """smtp_send that must get 250; returns the Tx (with .qid and .token)."""
    tx = smtp_send(mg.port, mail_from, rcpts, **kw)
    assert tx.final == 250 and tx.qid, f"got {tx.replies}, want 250 queued as QID"
    return tx


# ------------------------------------------------------------------------------------------------
# Tokens: every test message carries X-MG-Token so the Sink side can be matched exactly

_tok = iter(range(1, 1 << 62))


def new_token(prefix="t"):
    return f"{prefix}{next(_tok)}-{time.time_ns() % 10**9}"


PAD_LINE = (b"0123456789abcdefghijklmnopqrstuvwxyz" * 3)[:76] + b"\r\n"


def token_message(token, mail_from="sender@client.test", rcpts=("user@example.test",),
        size=None, subject=None):
    """make_message with an X-MG-Token header, padded to about `size` bytes (in linear time:
    mgtest.make_message pads by repeated concatenation, seconds for a megabyte)."""
    m = mgtest.make_message(mail_from, list(rcpts), subject=subject or f"token {token}",
        headers=[("X-MG-Token", token), ("Message-ID", f"<{token}@client.test>")])
    if size and size > len(m):
        m += PAD_LINE * ((size - len(m)) // len(PAD_LINE) + 1)
    return m


def token_of(data):
    m = TOKEN_RX.search(data)
    return m.group(1).decode() if m else None


def sink_tokens(sink):
    """{token: [SinkMessage, ...]} of every message the sink accepted."""
    out = {}
    for m in sink.messages:
        t = token_of(m.data)
        if t:
            out.setdefault(t, []).append(m)
    return out


def wait_tokens(sink, tokens, timeout=20, what="messages at the sink"):
    tokens = set(tokens)

    def have():
        got = sink_tokens(sink)
        return all(t in got for t in tokens) and got
    try:
        return wait_for(have, timeout, what)
    except mgtest.WaitTimeout:
        got = sink_tokens(sink)
        missing = sorted(t for t in tokens if t not in got)
        raise mgtest.WaitTimeout(f"timed out after {timeout}s waiting for {what}: "
            f"{len(missing)} of {len(tokens)} missing, e.g. {missing[:5]}") from None


# ------------------------------------------------------------------------------------------------
# The queue as mailguardctl shows it

LIST_RX = re.compile(r"^([0-9a-f]{16}) (\S+)\s+size=(\d+) arrival=(\S+) attempts=(\d+) "
    r"next=(\S+) from=<(.*)>$")


def queue_list(mg):
    """[{qid, state, size, attempts, from, rcpts: [(addr, state, rest)]}] from `queue list`."""
    r = mg.ctl("queue", "list")
    out = []
    for line in r.stdout.splitlines():
        m = LIST_RX.match(line)
        if m:
            out.append({"qid": m.group(1), "state": m.group(2), "size": int(m.group(3)),
                "attempts": int(m.group(5)), "from": m.group(7), "rcpts": []})
            continue
        m = re.match(r"^\s+to=<(.*?)> (\S+)(.*)$", line)
        if m and out:
            out[-1]["rcpts"].append((m.group(1), m.group(2), m.group(3).strip()))
    m = re.search(r"^-- (\d+) message\(s\) in the queue$", r.stdout, re.M)
    assert m, f"no total line in `queue list` output: {r.stdout!r}"
    assert int(m.group(1)) == len(out), f"queue list: total {m.group(1)}, parsed {len(out)}"
    return out


def queue_qids(mg):
    return {e["qid"] for e in queue_list(mg)}


def wait_queue_empty(mg, timeout=20):
    return wait_for(lambda: not queue_list(mg), timeout, "an empty queue (mailguardctl queue list)")


def spool_area(mg, area):
    """Names of the files in one spool sub-directory (incoming, queue, corrupt, hold, journal)."""
    d = mg.spool_dir / area
    return sorted(p.name for p in d.iterdir()) if d.exists() else []


def journal_segments(mg):
    d = mg.spool_dir / "journal"
    return sorted(d.glob("*.jnl")) if d.exists() else []


# ------------------------------------------------------------------------------------------------
# Journal records (doc/queue-format.md; queue/journal.c): a 40-byte header
#   "MGJR", version 1, type (1 COMMIT, 2 DONE), 2 zero bytes, u32le envelope length,
#   u64le body length, 16-byte queue id, u32le CRC-32 over header (CRC field zero) + payload
# then the envelope text and the body.

def journal_record(qid, env=b"", body=b"", rtype=1):
    h = bytearray(40)
    h[0:4] = b"MGJR"
    h[4] = 1
    h[5] = rtype
    h[8:12] = len(env).to_bytes(4, "little")
    h[12:20] = len(body).to_bytes(8, "little")
    h[20:36] = qid.encode()
    crc = zlib.crc32(bytes(h) + env + body)
    h[36:40] = crc.to_bytes(4, "little")
    return bytes(h) + env + body


def journal_records(path):
    """[(offset, type, qid, env_len, body_len)] of the records in a segment up to the first bad
    one (same walk as recovery, CRC included)."""
    data = path.read_bytes()
    out = []
    off = 16
    while off + 40 <= len(data):
        h = data[off:off + 40]
        if h[0:4] != b"MGJR":
            break
        el = int.from_bytes(h[8:12], "little")
        bl = int.from_bytes(h[12:20], "little")
        end = off + 40 + el + bl
        if end > len(data):
            break
        crc = zlib.crc32(h[:36] + b"\0\0\0\0" + data[off + 40:end])
        if crc != int.from_bytes(h[36:40], "little"):
            break
        out.append((off, h[5], h[20:36].decode(), el, bl))
        off = end
    return out


# ------------------------------------------------------------------------------------------------
# A sink that also records how many sessions were open at once

class TrackingSink(Sink):
    """Sink + .open_sessions and .max_open_sessions (connections open at the same time),
    .busy_sessions and .max_busy_sessions (transactions inside DATA at the same time);
    pipelining=True also advertises PIPELINING (RFC 2920; aiosmtpd reads pipelined commands
    in order but does not announce the extension)."""

    def __init__(self, *a, pipelining=False, **kw):
        self.open_sessions = 0
        self.max_open_sessions = 0
        self.busy_sessions = 0          # sessions inside the DATA handler (data_delay) now
        self.max_busy_sessions = 0
        self.pipelining = pipelining
        self._track = threading.Lock()
        super().__init__(*a, **kw)

    def _factory(self):
        s = super()._factory()
        made, lost = s.connection_made, s.connection_lost
        sink = self
        data = s._handle_hooks["DATA"]          # aiosmtpd collects the hooks at init

        async def handle_data(server, session, envelope):
            with sink._track:
                sink.busy_sessions += 1
                sink.max_busy_sessions = max(sink.max_busy_sessions, sink.busy_sessions)
            try:
                return await data(server, session, envelope)
            finally:
                with sink._track:
                    sink.busy_sessions -= 1
        s._handle_hooks["DATA"] = handle_data
        if self.pipelining:
            ehlo = s._handle_hooks["EHLO"]

            async def handle_ehlo(server, session, envelope, hostname, responses):
                responses = await ehlo(server, session, envelope, hostname, responses)
                return responses[:-1] + ["250-PIPELINING"] + responses[-1:]
            s._handle_hooks["EHLO"] = handle_ehlo

        def connection_made(transport):
            with sink._track:
                sink.open_sessions += 1
                sink.max_open_sessions = max(sink.max_open_sessions, sink.open_sessions)
            return made(transport)

        def connection_lost(exc):
            with sink._track:
                sink.open_sessions -= 1
            return lost(exc)
        s.connection_made = connection_made
        s.connection_lost = connection_lost
        return s


class CountingRule:
    """A Sink rule: the first `fails` calls get `reply`, later ones None (accept). Thread-safe."""

    def __init__(self, fails, reply="451 4.3.0 try again later"):
        self.fails = fails
        self.reply = reply
        self.calls = 0
        self._lock = threading.Lock()

    def __call__(self, address, session):
        with self._lock:
            self.calls += 1
            return self.reply if self.calls <= self.fails else None
