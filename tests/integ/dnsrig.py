"""DnsRig: a real loopback DNS for integration tests: an authoritative NSD serving zones generated
in the test's temporary directory, behind a real (optionally validating) Unbound recursive
resolver. Everything runs in the foreground as the current user (no root), on 127.0.0.1 with
ephemeral ports, and is stopped by PID. Debian 12: nsd 4.6.1, unbound 1.17.1, ldns-utils 1.8.3.

    from dnsrig import DnsRig, Raw

    with DnsRig({
        "example.test": [
            ("@", "MX", "10 mx.example.test"),           # names in rdata get a final dot
            ("mx", "A", "192.0.2.25"),                   # owner relative to the zone...
            ("mx.example.test", "AAAA", "2001:db8::25"), # ...or absolute (ends with the zone)
            ("@", "TXT", "v=spf1 ip4:192.0.2.0/24 -all"),# one text, split at 255 octets
            ("multi", "TXT", ["v=spf1 ", "mx -all"]),     # explicit character-strings
            ("bin", "TXT", b"\\x00\\xff"),                   # bytes: \\DDD-escaped
            ("_dmarc", "TXT", "v=DMARC1; p=reject"),     # underscores, semicolons
            ("*.wild", "A", "192.0.2.9"),                # wildcards
            ("raw", "TXT", Raw('"a" "b" ; verbatim rdata'), 60),   # optional TTL
            ("_25._tcp.mx", "TLSA", "3 1 1 " + "ab" * 32),
        ],
        "2.0.192.in-addr.arpa": [("25", "PTR", "mx.example.test")],
        "secure.test": [("@", "A", "192.0.2.1")],
    }, dnssec=["secure.test"], servfail=["broken.example.test"],
       timeout=["slow.example.test"]) as rig:
        run([dns_lookup, "-s", rig.resolver, "example.test", "MX"])

Zones: {zone: rows} where rows is a list of (owner, type, rdata[, ttl]), a string of zone-file
text ($ORIGIN and $TTL are prepended, and a SOA and NS unless the text has its own) or a
pathlib.Path of such a file (static fixtures live in tests/fixtures/dns/, see its README). The zone
"." is allowed (one root zone serving every name: handy for test suites whose names span many
domains; names absent from it are NXDOMAIN). A SOA (negative TTL 60) and "NS ns.rig.invalid."
are added to every zone that lacks them. Owners: "@" or "" is the apex; a name ending with the
zone is absolute, anything else is relative to the zone; octets other than letters, digits,
"-", "_", "*", "/" and "." are written as \\DDD (a backslash is taken as an escape already).
Labels over 63 octets or names over 255 octets raise ValueError (NSD would refuse the zone);
any zone NSD reports an error for (bad rdata, CNAME and other data...) makes start() raise
RigError with NSD's messages, unless strict=False (NSD then answers SERVFAIL for that zone).
Rdata: TXT/SPF take a str (UTF-8, split into 255-octet strings), bytes (split likewise), or a
list of str/bytes (one character-string each, split if longer than 255); CNAME/PTR/NS/DNAME take
a name and MX "pref host" (or (pref, host)): the names are made absolute ("" or "." is the root,
e.g. the null MX "0 ."). Every other type is zone-file presentation text, used verbatim, as is
any Raw(...) rdata. Names outside all zones get NXDOMAIN from Unbound (local-zone "." static);
Unbound's built-in local zones (test., invalid., the RFC 6761/6303 reverse zones, ...) are
switched off where a rig zone covers them.

Failure names (each a name, and everything below it):
  servfail=[...]  answered SERVFAIL by Unbound within milliseconds: NSD has these zones
                  configured without data and says SERVFAIL, Unbound passes that on.
  timeout=[...]   delegated (Unbound stub-zone) to a UDP socket the rig holds and never reads:
                  Unbound gives up and answers SERVFAIL after 0.4 s (measured; guaranteed below
                  TIMEOUT_SERVFAIL_S = 2 s by test_dns_rig.py), then at once for later queries
                  (the server is marked down) until flush(). A client whose own timeout is
                  shorter sees a timeout. Either way SPF's TIMEOUT pseudo-records map to
                  temperror.
DNSSEC: dnssec=[zones] signs those zones (ldns-keygen ECDSAP256SHA256 KSK+ZSK, ldns-signzone,
NSEC) and gives Unbound their DS records as trust anchors, so answers from them carry AD=1 for a
client that sets DO or AD (dns-lookup -D); bogus=[zones] are signed too but Unbound gets a
trust anchor for another key, so they answer SERVFAIL (validation failure). Other zones are
domain-insecure.

Attributes: .resolver "127.0.0.1:PORT" (Unbound, what MailGuard and dns-lookup use), .port,
.nsd / .nsd_port (NSD directly, non-recursive), .silent "127.0.0.1:PORT" (the never-answering
UDP socket, also usable as a dead resolver in client tests), .dir, .trust_anchors {zone: DS
text}. Methods: start() (called by the constructor unless start=False), stop() (SIGTERM by PID,
waits, idempotent; also registered with mgtest cleanup), update(zones=..., dnssec=..., ...)
(rewrites everything and restarts both daemons on the same ports, so no cache survives),
flush() (restarts Unbound only: empties its caches and its record of slow servers),
query(name, type) (a small independent stdlib DNS client, returns a Reply), logs().
Measured on the 2-core test machine: start 0.09-0.3 s (both daemons answering; 0.13 s with two
signed zones), update() 0.12-0.3 s (test_dns_rig.py prints these figures).
"""

import os
import re
import signal
import socket
import struct
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import mgtest

NSD = "/usr/sbin/nsd"
UNBOUND = "/usr/sbin/unbound"
LDNS_KEYGEN = "/usr/bin/ldns-keygen"
LDNS_SIGNZONE = "/usr/bin/ldns-signzone"

# Unbound's patience with a silent upstream (stub-zone toward the rig's silent socket): a server
# it does not know is given unknown-server-time-limit, retries back off up to infra-cache-max-rtt
# and stop after outbound-msg-retry; then it answers SERVFAIL. Measured by
# test_dns_rig.py::test_timeout_names_servfail_quickly.
UNBOUND_UNKNOWN_SERVER_MS = 200
UNBOUND_MAX_RTT_MS = 400
UNBOUND_MSG_RETRY = 2
TIMEOUT_SERVFAIL_S = 2.0        # documented upper bound for timeout=[...]; measured 0.40 s

START_TIMEOUT = 10.0            # per daemon; normal startup is far below
BIND_RETRIES = 5

# Unbound's default local zones (unbound.conf(5) "local-zone"): a rig zone that covers one of
# them must switch it off, or Unbound answers it locally instead of asking NSD.
UNBOUND_DEFAULT_ZONES = [
    "localhost", "127.in-addr.arpa", "1." + "0." * 31 + "ip6.arpa", "home.arpa", "onion",
    "test", "invalid", "10.in-addr.arpa",
    *[f"{i}.172.in-addr.arpa" for i in range(16, 32)],
    "168.192.in-addr.arpa", "0.in-addr.arpa", "254.169.in-addr.arpa", "2.0.192.in-addr.arpa",
    "100.51.198.in-addr.arpa", "113.0.203.in-addr.arpa", "255.255.255.255.in-addr.arpa",
    *[f"{i}.100.in-addr.arpa" for i in range(64, 128)],
    "0." * 32 + "ip6.arpa", "d.f.ip6.arpa", "8.e.f.ip6.arpa", "9.e.f.ip6.arpa",
    "a.e.f.ip6.arpa", "b.e.f.ip6.arpa", "8.b.d.0.1.0.0.2.ip6.arpa", "resolver.arpa",
    "service.arpa",
]

TYPE_CODES = {"A": 1, "NS": 2, "CNAME": 5, "SOA": 6, "PTR": 12, "MX": 15, "TXT": 16,
    "AAAA": 28, "SRV": 33, "DNAME": 39, "DS": 43, "RRSIG": 46, "DNSKEY": 48, "TLSA": 52,
    "SPF": 99, "ANY": 255}
TYPE_NAMES = {v: k for k, v in TYPE_CODES.items()}


class RigError(AssertionError):
    """A rig daemon failed to start or stop, or a tool failed (the message has its log)."""


class Raw(str):
    """Rdata (or a whole TXT rdata) written to the zone file exactly as given."""


# --------------------------------------------------------------------------------------------------
# Zone text

_PLAIN = set(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_*/")


def _labels(name):
    """Splits a presentation name (no final dot) into wire labels (bytes), honouring escapes."""
    if name in ("", "."):
        return []
    labels, cur, i, b = [], bytearray(), 0, name.encode("utf-8")
    while i < len(b):
        c = b[i]
        if c == 0x5C and i + 1 < len(b):           # backslash escape: \DDD or \X
            if b[i + 1:i + 4].isdigit() and len(b[i + 1:i + 4]) == 3:
                cur.append(int(b[i + 1:i + 4]) & 0xFF)
                i += 4
            else:
                cur.append(b[i + 1])
                i += 2
            continue
        if c == 0x2E:
            labels.append(bytes(cur))
            cur = bytearray()
        else:
            cur.append(c)
        i += 1
    labels.append(bytes(cur))
    return labels


def _escape_name(name):
    """Presentation text for a name, escaping octets NSD would misread (keeps \\ escapes)."""
    out = []
    for c in name.encode("utf-8"):
        if c in _PLAIN or c in (0x2E, 0x5C):
            out.append(chr(c))
        else:
            out.append(f"\\{c:03d}")
    return "".join(out)


def _check_name(name, what):
    labels = _labels(name)
    for lab in labels:
        if len(lab) > 63:
            raise ValueError(f"{what} {name!r}: label of {len(lab)} octets (max 63)")
        if len(lab) == 0:
            raise ValueError(f"{what} {name!r}: empty label")
    if sum(len(lab) + 1 for lab in labels) + 1 > 255:
        raise ValueError(f"{what} {name!r}: longer than 255 octets")


def _norm_zone(zone):
    z = zone.strip().rstrip(".").lower()
    return z


def _absolute(owner, zone):
    """Absolute presentation name (with final dot) for an owner given relative or absolute."""
    z = _norm_zone(zone)
    o = owner.strip()
    if o in ("@", ""):
        return "@"
    explicit = o.endswith(".") and not o.endswith("\\.")
    o = o[:-1] if explicit else o
    low = o.lower()
    inside = z == "" or low == z or low.endswith("." + z)
    if explicit and not inside:
        raise ValueError(f"owner {owner!r} is outside zone {zone!r}")
    full = o if inside else (f"{o}.{z}" if z else o)
    _check_name(full, "owner")
    return _escape_name(full) + "."


def _rdata_name(name):
    n = str(name).strip()
    if n in ("", "."):
        return "."
    if n.endswith(".") and not n.endswith("\\."):
        n = n[:-1]
    _check_name(n, "rdata name")
    return _escape_name(n) + "."


def _quote_bytes(b):
    out = ['"']
    for c in b:
        if c in (0x22, 0x5C):
            out.append("\\" + chr(c))
        elif 0x20 <= c < 0x7F:
            out.append(chr(c))
        else:
            out.append(f"\\{c:03d}")
    out.append('"')
    return "".join(out)


def txt_strings(value):
    """The character-strings (bytes, each <= 255 octets) for a TXT rdata value (see module doc)."""
    if isinstance(value, (list, tuple)):
        parts = []
        for v in value:
            b = v.encode("utf-8") if isinstance(v, str) else bytes(v)
            parts.extend([b[i:i + 255] for i in range(0, len(b), 255)] or [b""])
        return parts or [b""]
    b = value.encode("utf-8") if isinstance(value, str) else bytes(value)
    return [b[i:i + 255] for i in range(0, len(b), 255)] or [b""]


def _rdata_text(rtype, rdata):
    if isinstance(rdata, Raw):
        return str(rdata)
    t = rtype.upper()
    if t in ("TXT", "SPF"):
        return " ".join(_quote_bytes(s) for s in txt_strings(rdata))
    if t in ("CNAME", "PTR", "NS", "DNAME"):
        return _rdata_name(rdata)
    if t == "MX":
        if isinstance(rdata, (list, tuple)):
            pref, host = rdata
        else:
            parts = str(rdata).split(None, 1)
            pref, host = parts[0], parts[1] if len(parts) > 1 else "."
        return f"{int(pref)} {_rdata_name(host)}"
    if isinstance(rdata, (list, tuple)):
        return " ".join(str(x) for x in rdata)
    return str(rdata)


def zone_text(zone, rows, ttl=300):
    """The zone file for one zone (rows or raw text, see the module doc), as a string."""
    z = _norm_zone(zone)
    origin = f"{z}." if z else "."
    head = [f"$ORIGIN {origin}", f"$TTL {ttl}"]
    soa = f"@ {ttl} IN SOA ns.rig.invalid. hostmaster.rig.invalid. 1 3600 600 86400 60"
    ns = "@ IN NS ns.rig.invalid."
    if isinstance(rows, Path):
        rows = rows.read_text()
    if isinstance(rows, str):
        body = rows
        if not re.search(r"(^|\s)SOA\s", body, re.I | re.M):
            head += [soa, ns]
        return "\n".join(head) + "\n" + body + "\n"
    lines, has_soa, has_ns = [], False, False
    for row in rows:
        if len(row) not in (3, 4):
            raise ValueError(f"zone {zone}: row {row!r}: want (owner, type, rdata[, ttl])")
        owner, rtype, rdata = row[0], str(row[1]).upper(), row[2]
        rttl = f" {int(row[3])}" if len(row) == 4 else ""
        name = _absolute(str(owner), zone)
        apex = name == "@" or name.rstrip(".").lower() == z
        has_soa |= apex and rtype == "SOA"
        has_ns |= apex and rtype == "NS"
        lines.append(f"{name}{rttl} IN {rtype} {_rdata_text(rtype, rdata)}")
    if not has_soa:
        head.append(soa)
    if not has_ns:
        head.append(ns)
    return "\n".join(head + lines) + "\n"


def _zone_file_name(zone):
    z = _norm_zone(zone)
    return (re.sub(r"[^a-z0-9._-]", "_", z) or "root") + ".zone"


def _is_under(name, zone):
    n, z = _norm_zone(name), _norm_zone(zone)
    return z == "" or n == z or n.endswith("." + z)


# --------------------------------------------------------------------------------------------------
# A small independent DNS client (stdlib only), for readiness checks and cross-checking MailGuard

@dataclass
class Reply:
    id: int
    rcode: int
    flags: int
    answers: list = field(default_factory=list)     # (name, type, ttl, value)

    @property
    def aa(self):
        return bool(self.flags & 0x0400)

    @property
    def tc(self):
        return bool(self.flags & 0x0200)

    @property
    def ad(self):
        return bool(self.flags & 0x0020)

    def values(self, rtype):
        code = TYPE_CODES.get(rtype, rtype)
        return [a[3] for a in self.answers if a[1] == code]


def _encode_name(name):
    out = b""
    for lab in _labels(name.rstrip(".") if not name.endswith("\\.") else name):
        out += bytes([len(lab)]) + lab
    return out + b"\0"


def _read_name(msg, off, depth=0):
    labels, jumped, end = [], False, off
    while True:
        if off >= len(msg) or depth > 64:
            raise ValueError("bad name")
        ln = msg[off]
        if ln & 0xC0 == 0xC0:
            if off + 1 >= len(msg):
                raise ValueError("bad pointer")
            if not jumped:
                end = off + 2
            off = ((ln & 0x3F) << 8) | msg[off + 1]
            jumped = True
            depth += 1
            continue
        off += 1
        if ln == 0:
            break
        labels.append(msg[off:off + ln].decode("latin-1"))
        off += ln
    return ".".join(labels).lower(), (end if jumped else off)


def _rdata_value(msg, rtype, off, rdlen):
    rd = msg[off:off + rdlen]
    if rtype == 1:
        return socket.inet_ntop(socket.AF_INET, rd)
    if rtype == 28:
        return socket.inet_ntop(socket.AF_INET6, rd)
    if rtype in (2, 5, 12, 39):
        return _read_name(msg, off)[0]
    if rtype == 15:
        return (struct.unpack("!H", rd[:2])[0], _read_name(msg, off + 2)[0])
    if rtype in (16, 99):
        parts, i = [], 0
        while i < len(rd):
            parts.append(rd[i + 1:i + 1 + rd[i]])
            i += 1 + rd[i]
        return b"".join(parts)
    return rd


def parse_reply(msg):
    """Decodes a DNS message into a Reply (answer section only)."""
    qid, flags, qd, an = struct.unpack("!HHHH", msg[:8])
    off = 12
    for _ in range(qd):
        off = _read_name(msg, off)[1] + 4
    answers = []
    for _ in range(an):
        name, off = _read_name(msg, off)
        rtype, _cls, ttl, rdlen = struct.unpack("!HHIH", msg[off:off + 10])
        off += 10
        answers.append((name, rtype, ttl, _rdata_value(msg, rtype, off, rdlen)))
        off += rdlen
    return Reply(qid, flags & 0xF, flags, answers)


def query(server, name, rtype="A", timeout=2.0, qclass=1, rd=True, do=False, tcp=False,
        edns=1232):
    """One query to server ("host:port") over UDP (or TCP); returns a Reply or raises
    socket.timeout / OSError. EDNS0 advertises `edns` octets (None: no EDNS0); do sets DO."""
    host, port = server.rsplit(":", 1)
    qid = int.from_bytes(os.urandom(2), "big")
    code = TYPE_CODES.get(str(rtype).upper(), rtype) if isinstance(rtype, str) else rtype
    hdr = struct.pack("!HHHHHH", qid, 0x0100 if rd else 0, 1, 0, 0, 0 if edns is None else 1)
    opt = b"" if edns is None else \
        b"\0" + struct.pack("!HHIH", 41, edns, 0x8000 if do else 0, 0)
    msg = hdr + _encode_name(name) + struct.pack("!HH", code, qclass) + opt
    if tcp:
        with socket.create_connection((host, int(port)), timeout) as s:
            s.sendall(struct.pack("!H", len(msg)) + msg)
            data = b""
            while len(data) < 2 or len(data) < 2 + struct.unpack("!H", data[:2])[0]:
                chunk = s.recv(65536)
                if not chunk:
                    raise OSError("connection closed")
                data += chunk
            return parse_reply(data[2:])
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        s.connect((host, int(port)))
        s.send(msg)
        deadline = time.monotonic() + timeout
        while True:
            s.settimeout(max(0.001, deadline - time.monotonic()))
            data = s.recv(65536)
            if len(data) >= 12 and struct.unpack("!H", data[:2])[0] == qid:
                return parse_reply(data)


# --------------------------------------------------------------------------------------------------
# Ports and processes

def _probe_port():
    """A port free for both UDP and TCP on 127.0.0.1 right now (the caller retries on a race)."""
    for _ in range(50):
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            u.bind(("127.0.0.1", 0))
            port = u.getsockname()[1]
            try:
                t.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
        finally:
            u.close()
            t.close()
    raise RigError("no free port pair found")


class _Daemon:
    def __init__(self, name, cmd, log):
        self.name, self.cmd, self.log = name, cmd, Path(log)
        self.proc = None

    def start(self):
        with open(self.log.with_suffix(".stderr"), "ab") as err:
            self.proc = mgtest.spawn(self.cmd, stdout=subprocess.DEVNULL, stderr=err)

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def output(self, lines=40):
        text = ""
        for p in (self.log, self.log.with_suffix(".stderr")):
            try:
                text += p.read_text(errors="replace")
            except OSError:
                pass
        return "\n".join(text.splitlines()[-lines:])

    def stop(self):
        p, self.proc = self.proc, None
        if p is None:
            return
        if p.poll() is None:
            os.kill(p.pid, signal.SIGTERM)
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                os.kill(p.pid, signal.SIGKILL)
                p.wait(10)
        # NSD forks helpers (xfrd, servers) into the same session; they go with the main process.
        try:
            mgtest.wait_for(lambda: not mgtest.live_processes(pgid=p.pid), 10,
                f"{self.name} helpers to exit")
        except mgtest.WaitTimeout:
            os.killpg(p.pid, signal.SIGKILL)


def _read(path):
    try:
        return Path(path).read_text(errors="replace")
    except OSError:
        return ""


def _port_free(port):
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            u.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False


def _answers(server, name, qclass=1):
    try:
        query(server, name, "TXT" if qclass == 3 else "SOA", timeout=0.2, qclass=qclass)
        return True
    except OSError:
        return False


# --------------------------------------------------------------------------------------------------
# The rig

class DnsRig:
    """NSD + Unbound on loopback serving `zones` (see the module docstring for every option)."""

    def __init__(self, zones=None, dnssec=(), servfail=(), timeout=(), bogus=(), directory=None,
            start=True, strict=True):
        self.zones = dict(zones or {})
        self.strict = strict
        self.dnssec = list(dnssec)
        self.bogus = list(bogus)
        self.servfail = list(servfail)
        self.timeout = list(timeout)
        self.dir = Path(directory) if directory else mgtest.tmpdir("dnsrig")
        self.dir.mkdir(parents=True, exist_ok=True)
        self.nsd_port = None
        self.port = None
        self.trust_anchors = {}
        self._keys = {}                 # zone -> (ksk base, zsk base)
        self._zone_files = {}           # zone -> file name in dir
        self._nsd = self._unbound = None
        self._silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._silent.bind(("127.0.0.1", 0))
        self.silent = "127.0.0.1:%d" % self._silent.getsockname()[1]
        mgtest.add_cleanup(self.close, "dnsrig")
        if start:
            self.start()

    # -- public ---------------------------------------------------------------------------------

    @property
    def resolver(self):
        return f"127.0.0.1:{self.port}"

    @property
    def nsd(self):
        return f"127.0.0.1:{self.nsd_port}"

    def start(self):
        self._write_zones()
        self._start_nsd()
        self._start_unbound()
        return self

    def stop(self):
        for d in (self._unbound, self._nsd):
            if d is not None:
                d.stop()

    def close(self):
        self.stop()
        if self._silent is not None:
            self._silent.close()
            self._silent = None

    def update(self, zones=None, dnssec=None, servfail=None, timeout=None, bogus=None):
        """Replaces the zone data (and any given option), then restarts both daemons on their
        ports: every answer afterwards reflects the new data, no cache survives."""
        if zones is not None:
            self.zones = dict(zones)
        for attr, val in (("dnssec", dnssec), ("servfail", servfail), ("timeout", timeout),
                ("bogus", bogus)):
            if val is not None:
                setattr(self, attr, list(val))
        self.stop()
        self._write_zones()
        self._start_nsd(keep_port=True)
        self._start_unbound(keep_port=True)

    def flush(self):
        """Restarts Unbound on its port: empties its caches and its list of slow servers."""
        self._unbound.stop()
        self._start_unbound(keep_port=True)

    def query(self, name, rtype="A", server=None, **kw):
        return query(server or self.resolver, name, rtype, **kw)

    def logs(self, lines=40):
        return "\n".join(f"--- {d.name} ({d.log})\n{d.output(lines)}"
            for d in (self._nsd, self._unbound) if d is not None)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- zones ----------------------------------------------------------------------------------

    def _signed(self):
        return [_norm_zone(z) for z in self.dnssec + self.bogus]

    def _write_zones(self):
        self.trust_anchors = {}
        self._zone_files = {}
        for zone, rows in self.zones.items():
            z = _norm_zone(zone)
            path = self.dir / _zone_file_name(zone)
            path.write_text(zone_text(zone, rows))
            if z in self._signed():
                path = self._sign(z, path)
            self._zone_files[z] = path.name
        for z in self._signed():
            if z not in {_norm_zone(k) for k in self.zones}:
                raise ValueError(f"dnssec/bogus zone {z!r} is not in zones")

    def _tool(self, cmd):
        r = mgtest.run_cmd(cmd, timeout=60, cwd=self.dir)
        if r.returncode != 0:
            raise RigError(f"{cmd[0]} failed: {r.stderr.strip() or r.stdout.strip()}")
        return r.stdout.strip()

    def _keygen(self, z, ksk):
        args = [LDNS_KEYGEN, "-a", "ECDSAP256SHA256"] + (["-k"] if ksk else []) + [z + "."]
        return self._tool(args).splitlines()[-1]

    def _sign(self, z, path):
        if z not in self._keys:
            self._keys[z] = (self._keygen(z, True), self._keygen(z, False))
        ksk, zsk = self._keys[z]
        out = path.with_suffix(".signed")
        self._tool([LDNS_SIGNZONE, "-o", z + ".", "-f", str(out), str(path), ksk, zsk])
        if z in [_norm_zone(b) for b in self.bogus]:
            # A trust anchor for a key that signed nothing: validation must fail.
            other = self._keygen(z, True)
            self.trust_anchors[z] = (self.dir / f"{other}.ds").read_text().strip()
        else:
            self.trust_anchors[z] = (self.dir / f"{ksk}.ds").read_text().strip()
        return out

    # -- NSD ------------------------------------------------------------------------------------

    def _nsd_conf(self, port):
        d = self.dir
        lines = ["server:", f'    ip-address: 127.0.0.1', f"    port: {port}", "    do-ip6: no",
            '    username: ""', '    chroot: ""', f'    zonesdir: "{d}"', '    database: ""',
            f'    zonelistfile: "{d}/nsd-zone.list"', f'    xfrdfile: "{d}/nsd-xfrd.state"',
            f'    xfrdir: "{d}"', f'    pidfile: "{d}/nsd.pid"', f'    logfile: "{d}/nsd.log"',
            "    server-count: 1", "    tcp-count: 32", "    verbosity: 1",
            "    hide-version: yes", "    refuse-any: no", "    round-robin: no",
            "    reuseport: no", "    zonefiles-write: 0",
            "remote-control:", "    control-enable: no"]
        for zone in self.zones:
            z = _norm_zone(zone)
            lines += ["zone:", f'    name: "{z}."', f'    zonefile: "{self._zone_files[z]}"']
        for name in self.servfail:
            # Configured without a zone file: NSD answers SERVFAIL for it and below.
            n = _norm_zone(name)
            lines += ["zone:", f'    name: "{n}."', f'    zonefile: "servfail-{n}.missing"']
        return "\n".join(lines) + "\n"

    def _start_nsd(self, keep_port=False):
        log = self.dir / "nsd.log"
        self._nsd = self._start_daemon("nsd", self.nsd_port if keep_port else None,
            lambda port: self._nsd_conf(port), lambda conf: [NSD, "-d", "-c", conf],
            lambda port: _answers(f"127.0.0.1:{port}", self._probe_name()) and
                "nsd started" in _read(log))
        self.nsd_port = self._nsd.port
        # A zone NSD could not load answers SERVFAIL: make that a loud error, not a mystery.
        errors = [ln for ln in _read(log).splitlines()
            if " error: " in ln and "servfail-" not in ln]
        if errors and self.strict:
            self.stop()
            raise RigError("NSD rejected zone data (strict=False to allow):\n" +
                "\n".join(errors))

    def _probe_name(self):
        return next(iter(self.zones), ".") if self.zones else "."

    # -- Unbound --------------------------------------------------------------------------------

    def _unbound_conf(self, port):
        d = self.dir
        zones = [_norm_zone(z) for z in self.zones]
        signed = self._signed()
        lines = ["server:", "    interface: 127.0.0.1", f"    port: {port}", "    do-ip6: no",
            "    do-daemonize: no", '    username: ""', '    chroot: ""', f'    directory: "{d}"',
            f'    pidfile: "{d}/unbound.pid"', f'    logfile: "{d}/unbound.log"',
            "    use-syslog: no", "    log-time-ascii: yes", "    verbosity: 1",
            "    val-log-level: 2", "    num-threads: 1", "    outgoing-range: 64",
            "    num-queries-per-thread: 64", "    incoming-num-tcp: 16",
            "    outgoing-num-tcp: 16", "    so-reuseport: no",
            "    access-control: 127.0.0.0/8 allow", "    do-not-query-localhost: no",
            "    qname-minimisation: no", "    aggressive-nsec: no", "    minimal-responses: yes",
            "    prefetch: no", "    rrset-roundrobin: no", "    msg-cache-size: 512k", "    rrset-cache-size: 512k",
            "    key-cache-size: 256k", "    neg-cache-size: 128k",
            "    infra-cache-numhosts: 64", "    hide-version: no",
            f"    unknown-server-time-limit: {UNBOUND_UNKNOWN_SERVER_MS}",
            f"    infra-cache-max-rtt: {UNBOUND_MAX_RTT_MS}",
            f"    outbound-msg-retry: {UNBOUND_MSG_RETRY}",
            "    discard-timeout: 0",
            '    module-config: "%s"' % ("validator iterator" if signed else "iterator")]
        covered = zones + [_norm_zone(n) for n in self.servfail + self.timeout]
        if "" not in zones:
            lines.append('    local-zone: "." static')
        for z in covered:
            lines.append(f'    local-zone: "{z}." transparent' if z else
                '    local-zone: "." transparent')
        for dz in UNBOUND_DEFAULT_ZONES:
            if any(_is_under(dz, z) and dz != z for z in covered):
                lines.append(f'    local-zone: "{dz}." nodefault')
        for z in zones + [_norm_zone(n) for n in self.servfail + self.timeout]:
            if z not in signed and signed:
                lines.append(f'    domain-insecure: "{z}."' if z else '    domain-insecure: "."')
        for z in signed:
            ta = self.dir / f"ta-{z or 'root'}.ds"
            ta.write_text(self.trust_anchors[z] + "\n")
            lines.append(f'    trust-anchor-file: "{ta}"')
        lines += ["remote-control:", "    control-enable: no"]
        for z in zones + [_norm_zone(n) for n in self.servfail]:
            lines += ["stub-zone:", f'    name: "{z}."', f"    stub-addr: 127.0.0.1@{self.nsd_port}",
                "    stub-no-cache: yes"]
        silent_port = self.silent.rsplit(":", 1)[1]
        for n in self.timeout:
            lines += ["stub-zone:", f'    name: "{_norm_zone(n)}."',
                f"    stub-addr: 127.0.0.1@{silent_port}"]
        return "\n".join(lines) + "\n"

    def _start_unbound(self, keep_port=False):
        self._unbound = self._start_daemon("unbound", self.port if keep_port else None,
            lambda port: self._unbound_conf(port), lambda conf: [UNBOUND, "-d", "-c", conf],
            lambda port: _answers(f"127.0.0.1:{port}", "version.server", qclass=3) and
                "start of service" in _read(self.dir / "unbound.log"))
        self.port = self._unbound.port

    # -- common ---------------------------------------------------------------------------------

    def _start_daemon(self, name, port, make_conf, make_cmd, ready):
        """Starts a daemon on port (or a probed free one, retrying on a bind race) and waits
        until it answers and its own log says it started (so another program that won the race
        for the port cannot pass for it). Returns the _Daemon with .port set."""
        last = ""
        for _ in range(BIND_RETRIES if port is None else 20):
            p = port or _probe_port()
            conf = self.dir / f"{name}.conf"
            conf.write_text(make_conf(p))
            log = self.dir / f"{name}.log"
            if log.exists():
                log.unlink()
            dmn = _Daemon(name, make_cmd(str(conf)), log)
            dmn.port = p
            dmn.start()
            try:
                mgtest.wait_for(lambda: ready(p) or not dmn.running(), START_TIMEOUT,
                    f"{name} to answer on port {p}")
            except mgtest.WaitTimeout:
                out = dmn.output()
                dmn.stop()
                raise RigError(f"{name} did not answer on 127.0.0.1:{p}\n{out}")
            if dmn.running():
                return dmn
            last = dmn.output()
            dmn.stop()
            if not re.search(r"in use|can't bind|could not bind|bind", last, re.I):
                raise RigError(f"{name} exited at startup:\n{last}")
            if port is not None:
                # our own port, still held by the process just stopped: wait until it is free
                mgtest.wait_for(lambda: _port_free(p), 5, f"port {p} to be free")
        raise RigError(f"{name} could not bind a port after retries:\n{last}")
