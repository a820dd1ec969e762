"""The DNS layer (common/dns.c) through the real loopback rig (tests/integ/dnsrig.py: NSD behind
Unbound), driven by tests/tools/dns-lookup: record types, NXDOMAIN/NODATA, TCP fallback on TC,
timeouts against a silent socket, server rotation, the worker-thread bridge, SERVFAIL and
timeout names, DNSSEC (AD) answers, zone updates, odd zone data, and the rig's own start-up
time and clean stop. Timing figures are printed (visible with a failure or when run by hand).
"""

import re
import time

import mgtest
from dnsrig import DnsRig, Raw, RigError, query, TIMEOUT_SERVFAIL_S

TLSA_HASH = "8cb0fc6c527506a053f4f14c8464bebbd6dede2738d11468dd953d7d6a3021f1"
BIG_TXT = "v=DKIM1; k=rsa; p=" + "A" * 980        # ~1000 octets: over 512, under 1232
HUGE_TXT = "h" * 3000                               # over 1232: Unbound->NSD over TCP too

ZONES = {
    "example.test": [
        ("@", "MX", "10 mx1.example.test"),
        ("@", "MX", "20 MX2.Example.Test."),
        ("mx1", "A", "192.0.2.25"),
        ("mx1", "AAAA", "2001:db8::25"),
        ("mx2", "A", "192.0.2.26"),
        ("@", "TXT", ["v=spf1 ", "ip4:192.0.2.0/24 ", "-all"]),
        ("big", "TXT", BIG_TXT),
        ("huge", "TXT", HUGE_TXT),
        ("alias", "CNAME", "mx1.example.test"),
        ("chain", "CNAME", "alias.example.test"),
        ("_25._tcp.mx1", "TLSA", "3 1 1 " + TLSA_HASH),
        ("nodata", "A", "192.0.2.77"),
        ("*.wild", "TXT", "wildcard"),
        ("_dmarc", "TXT", "v=DMARC1; p=reject; rua=mailto:d@example.test"),
        ("odd", "TXT", 'quote " backslash \\ semicolon ; caf\u00e9'),
        ("empty", "TXT", ""),
        ("oldspf", "SPF", "v=spf1 -all"),
        ("nullmx", "MX", "0 ."),
    ],
    "2.0.192.in-addr.arpa": [("25", "PTR", "mx1.example.test")],
}


def lookup_bin():
    p = mgtest.build_dir() / "tests/tools/dns-lookup"
    if not p.exists():
        raise mgtest.Skip(f"{p} not built (make BUILD=... units)")
    return p


def lookup(*args, check_rc=None, timeout=30):
    """Runs dns-lookup; returns (lines, elapsed_ms as reported by the tool)."""
    r = mgtest.run_cmd([lookup_bin(), *args], timeout=timeout)
    lines = r.stdout.splitlines()
    assert lines and lines[0].startswith("status="), \
        f"dns-lookup {args}: no status line; rc={r.returncode} out={r.stdout!r} err={r.stderr!r}"
    if check_rc is not None:
        assert r.returncode == check_rc, f"dns-lookup {args}: rc {r.returncode}, want {check_rc}"
    elapsed = [int(x.split("=")[1]) for x in r.stderr.split() if x.startswith("elapsed_ms=")]
    return lines, (elapsed[0] if elapsed else None)


def status(lines):
    return dict(f.split("=", 1) for f in lines[0].split(" ", 3)[:3])


def test_rig_starts_fast():
    t0 = time.monotonic()
    rig = DnsRig(ZONES, dnssec=[], servfail=["sf.example.test"], timeout=["to.example.test"])
    took = time.monotonic() - t0
    print(f"rig start (nsd + unbound, answering): {took * 1000:.0f} ms")
    assert took < 3.0, f"rig took {took:.2f}s to start, want < 1 s normally (3 s hard limit)"
    r = rig.query("mx1.example.test", "A")
    assert r.rcode == 0 and r.values("A") == ["192.0.2.25"], f"got {r}"
    # NSD answers directly too (authoritative, AA set).
    r = query(rig.nsd, "mx1.example.test", "A", rd=False)
    assert r.aa and r.values("A") == ["192.0.2.25"], f"got {r}"


def test_record_types():
    rig = DnsRig(ZONES)
    s = rig.resolver
    cases = [
        (("mx1.example.test", "A"), ["A 192.0.2.25"]),
        (("MX1.Example.TEST.", "AAAA"), ["AAAA 2001:db8::25"]),
        (("example.test", "MX"), ["MX 10 mx1.example.test", "MX 20 mx2.example.test"]),
        (("example.test", "TXT"), ["TXT v=spf1 ip4:192.0.2.0/24 -all"]),
        (("25.2.0.192.in-addr.arpa", "PTR"), ["PTR mx1.example.test"]),
        (("alias.example.test", "CNAME"), ["CNAME mx1.example.test"]),
        (("chain.example.test", "A"), ["A 192.0.2.25"]),            # CNAME chain followed
        (("_25._tcp.mx1.example.test", "TLSA"), [f"TLSA 3 1 1 {TLSA_HASH}"]),
        (("x.wild.example.test", "TXT"), ["TXT wildcard"]),
        (("_dmarc.example.test", "TXT"),
            ["TXT v=DMARC1; p=reject; rua=mailto:d@example.test"]),
        (("odd.example.test", "TXT"),
            ['TXT quote " backslash \\\\ semicolon ; caf\\195\\169']),
        (("empty.example.test", "TXT"), ["TXT "]),
        (("oldspf.example.test", "SPF"), ["SPF v=spf1 -all"]),
        (("nullmx.example.test", "MX"), ["MX 0 ."]),
        (("example.test", "15"), ["MX 10 mx1.example.test", "MX 20 mx2.example.test"]),
    ]
    for (name, rtype), want in cases:
        lines, _ = lookup("-s", s, name, rtype, check_rc=0)
        st = status(lines)
        assert st["status"] == "ok" and st["rcode"] == "0", f"{name} {rtype}: got {lines[0]}"
        assert sorted(lines[1:]) == sorted(want), f"{name} {rtype}: got {lines[1:]}, want {want}"


def test_nxdomain_nodata_and_invalid_names():
    rig = DnsRig(ZONES)
    for name, rtype, want in [("nope.example.test", "A", "status=nxdomain rcode=3 secure=0"),
            ("nodata.example.test", "MX", "status=nodata rcode=0 secure=0"),
            ("example.test", "AAAA", "status=nodata rcode=0 secure=0"),
            ("not-in-any-zone.org", "A", "status=nxdomain rcode=3 secure=0")]:
        lines, _ = lookup("-s", rig.resolver, name, rtype, check_rc=0)
        assert lines == [want], f"{name} {rtype}: got {lines}, want {[want]}"
    # Invalid names never reach the network: a dead server would make them tempfail.
    for name in ["a..b.example.test", "x" * 64 + ".example.test", ".", ""]:
        lines, _ = lookup("-s", rig.silent, "-t", "5000", name, "A", check_rc=1)
        assert lines == ["status=permfail rcode=-1 secure=0 error=invalid name"], \
            f"{name!r}: got {lines}"


def test_tcp_fallback_on_truncation():
    rig = DnsRig(ZONES)
    for udp in ("512", "0"):        # EDNS0 512, and no EDNS0 at all (RFC 1035 512 octets)
        lines, _ = lookup("-s", rig.resolver, "-u", udp, "big.example.test", "TXT", check_rc=0)
        assert lines[1:] == [f"TXT {BIG_TXT}"], f"-u {udp}: got {lines[0]} + {len(lines) - 1} lines"
    # Same name with room in UDP: no truncation involved, same answer.
    lines, _ = lookup("-s", rig.resolver, "-u", "1232", "big.example.test", "TXT", check_rc=0)
    assert lines[1:] == [f"TXT {BIG_TXT}"]
    # The independent client sees the truncation a 512-octet client gets (so the fallback
    # really ran above), and none with room for the answer.
    assert query(rig.resolver, "big.example.test", "TXT", edns=512).tc
    assert query(rig.resolver, "big.example.test", "TXT", edns=None).tc
    r = query(rig.resolver, "big.example.test", "TXT", edns=1232)
    assert not r.tc and r.values("TXT") == [BIG_TXT.encode()], f"got {r}"
    lines, _ = lookup("-s", rig.resolver, "-u", "512", "huge.example.test", "TXT", check_rc=0)
    assert lines[1:] == [f"TXT {HUGE_TXT}"], f"huge: got {lines[0]}"


def test_timeout_against_silent_socket():
    rig = DnsRig({})
    lines, ms = lookup("-s", rig.silent, "-t", "200", "-a", "2", "x.example.test", "A",
        check_rc=1)
    print(f"2 attempts x 200 ms against a silent socket: {ms} ms")
    assert lines == ["status=tempfail rcode=-1 secure=0 error=timeout"], f"got {lines}"
    assert 380 <= ms < 1500, f"took {ms} ms, want about 400"
    # The overall deadline cuts attempts short.
    lines, ms = lookup("-s", rig.silent, "-t", "1000", "-a", "3", "-d", "250", "x.example.test",
        "A", check_rc=1)
    assert lines == ["status=tempfail rcode=-1 secure=0 error=deadline"], f"got {lines}"
    assert 240 <= ms < 1000, f"deadline 250 ms took {ms} ms"


def test_server_rotation():
    rig = DnsRig(ZONES)
    lines, ms = lookup("-s", rig.silent, "-s", rig.resolver, "-t", "300", "-a", "1",
        "mx1.example.test", "A", check_rc=0)
    print(f"first server silent, second answers: {ms} ms")
    assert lines == ["status=ok rcode=0 secure=0", "A 192.0.2.25"], f"got {lines}"
    assert ms >= 290, f"answered in {ms} ms: the silent server was not tried first"


def test_thread_bridge():
    rig = DnsRig(ZONES)
    lines, _ = lookup("-s", rig.resolver, "-W", "8", "example.test", "MX", check_rc=0)
    assert lines == ["status=ok rcode=0 secure=0", "MX 10 mx1.example.test",
        "MX 20 mx2.example.test"], f"got {lines}"
    lines, _ = lookup("-s", rig.silent, "-t", "5000", "-d", "300", "-W", "4", "example.test",
        "MX", check_rc=1)
    assert lines == ["status=tempfail rcode=-1 secure=0 error=deadline"], f"got {lines}"


def test_servfail_and_timeout_names():
    rig = DnsRig(ZONES, servfail=["broken.example.test"], timeout=["slow.example.test"])
    lines, ms = lookup("-s", rig.resolver, "x.broken.example.test", "TXT", check_rc=1)
    print(f"servfail name: {ms} ms")
    assert lines == ["status=tempfail rcode=2 secure=0 error=servfail"], f"got {lines}"
    assert ms < 1000, f"servfail took {ms} ms"
    lines, ms = lookup("-s", rig.resolver, "-t", "5000", "-a", "1", "slow.example.test", "TXT",
        check_rc=1)
    print(f"timeout name, first query (Unbound gives up on the silent server): {ms} ms")
    assert lines == ["status=tempfail rcode=2 secure=0 error=servfail"], f"got {lines}"
    assert ms < TIMEOUT_SERVFAIL_S * 1000, f"took {ms} ms, documented < {TIMEOUT_SERVFAIL_S} s"
    lines, ms = lookup("-s", rig.resolver, "-t", "5000", "-a", "1", "a.b.slow.example.test", "A",
        check_rc=1)
    print(f"timeout name, later query: {ms} ms")
    assert lines[0].startswith("status=tempfail rcode=2"), f"got {lines}"
    # A client with a shorter patience than Unbound's sees its own timeout instead.
    rig.flush()
    lines, ms = lookup("-s", rig.resolver, "-t", "50", "-a", "1", "c.slow.example.test", "A",
        check_rc=1)
    assert lines == ["status=tempfail rcode=-1 secure=0 error=timeout"], f"got {lines}"
    # The rest of the parent zone is unaffected.
    lines, _ = lookup("-s", rig.resolver, "mx1.example.test", "A", check_rc=0)
    assert lines == ["status=ok rcode=0 secure=0", "A 192.0.2.25"], f"got {lines}"


def test_dnssec_secure_answers():
    zones = dict(ZONES)
    zones["secure.test"] = [("@", "A", "192.0.2.1"), ("_25._tcp.mx", "TLSA", "3 1 1 " + TLSA_HASH),
        ("mx", "A", "192.0.2.2"), ("@", "TXT", "x" * 600)]
    zones["bogus.test"] = [("@", "A", "192.0.2.3")]
    t0 = time.monotonic()
    rig = DnsRig(zones, dnssec=["secure.test"], bogus=["bogus.test"])
    print(f"rig start with 2 signed zones: {(time.monotonic() - t0) * 1000:.0f} ms")
    assert re.search(r"^secure\.test\.\s+IN\s+DS\s+\d+ 13 2 [0-9a-f]{64}$",
        rig.trust_anchors.get("secure.test", "")), f"got {rig.trust_anchors}"
    lines, _ = lookup("-s", rig.resolver, "-D", "secure.test", "A", check_rc=0)
    assert lines == ["status=ok rcode=0 secure=1", "A 192.0.2.1"], f"got {lines}"
    lines, _ = lookup("-s", rig.resolver, "-D", "_25._tcp.mx.secure.test", "TLSA", check_rc=0)
    assert lines == ["status=ok rcode=0 secure=1", f"TLSA 3 1 1 {TLSA_HASH}"], f"got {lines}"
    # Authenticated denial of existence is secure too.
    lines, _ = lookup("-s", rig.resolver, "-D", "nope.secure.test", "A", check_rc=0)
    assert lines == ["status=nxdomain rcode=3 secure=1"], f"got {lines}"
    # Signed answer bigger than 512 with RRSIGs: TC then TCP, still validated.
    lines, _ = lookup("-s", rig.resolver, "-D", "-u", "512", "secure.test", "TXT", check_rc=0)
    assert lines[0] == "status=ok rcode=0 secure=1", f"got {lines[0]}"
    # Without DO/AD in the query the resolver does not report AD.
    lines, _ = lookup("-s", rig.resolver, "secure.test", "A", check_rc=0)
    assert lines[0] == "status=ok rcode=0 secure=0", f"got {lines}"
    # Unsigned zones stay insecure; a zone whose signatures do not match the anchor is bogus.
    lines, _ = lookup("-s", rig.resolver, "-D", "mx1.example.test", "A", check_rc=0)
    assert lines == ["status=ok rcode=0 secure=0", "A 192.0.2.25"], f"got {lines}"
    lines, _ = lookup("-s", rig.resolver, "-D", "bogus.test", "A", check_rc=1)
    assert lines == ["status=tempfail rcode=2 secure=0 error=servfail"], f"got {lines}"


def test_update_and_restart():
    rig = DnsRig({"upd.test": [("a", "A", "192.0.2.1")]})
    port, nsd_port = rig.port, rig.nsd_port
    lines, _ = lookup("-s", rig.resolver, "a.upd.test", "A", check_rc=0)
    assert lines[1:] == ["A 192.0.2.1"]
    t0 = time.monotonic()
    rig.update({"upd.test": [("a", "A", "192.0.2.2")], "new.test": [("@", "TXT", "new zone")]})
    print(f"update (both daemons restarted): {(time.monotonic() - t0) * 1000:.0f} ms")
    assert (rig.port, rig.nsd_port) == (port, nsd_port), "ports changed on update"
    lines, _ = lookup("-s", rig.resolver, "a.upd.test", "A", check_rc=0)
    assert lines[1:] == ["A 192.0.2.2"], f"stale answer after update: {lines}"
    lines, _ = lookup("-s", rig.resolver, "new.test", "TXT", check_rc=0)
    assert lines[1:] == ["TXT new zone"], f"got {lines}"


def test_odd_zone_data():
    long_text = "v=spf1 " + " ".join(f"ip4:10.0.{i}.0/24" for i in range(40)) + " -all"
    assert len(long_text) > 255
    rig = DnsRig({
        ".": [          # one root zone for names across many domains (the SPF suite's shape)
            ("e1.example.com", "TXT", long_text),                     # split at 255
            ("e2.example.com", "TXT", ["v=spf1", " mx", " -all"]),    # several strings
            ("e3.example.com", "TXT", b"\x00\x01bin\xff"),
            ("e3.example.com", "TXT", "second record"),
            ("e4.example.com", "TXT", Raw('"raw" "rdata"')),
            ("e5.example.com", "SPF", "v=spf1 -all"),
            ("*.e6.example.com", "TXT", "v=spf1 +all"),
            ("a_b.example.com", "A", "192.0.2.8"),
            ("with space.example.org", "TXT", "space"),
            ("mail.example.net", "MX", (10, "mx.example.net")),
            ("mx.example.net", "A", "192.0.2.9"),
            ("e7.example.com", "CNAME", "e2.example.com"),
            ("1.2.3.4.in-addr.arpa", "PTR", "host.example.com"),
            ("host.test", "A", "192.0.2.10"),       # under a built-in Unbound zone
        ]})
    want = {
        ("e1.example.com", "TXT"): [f"TXT {long_text}"],
        ("e2.example.com", "TXT"): ["TXT v=spf1 mx -all"],
        ("e3.example.com", "TXT"): ["TXT \\000\\001bin\\255", "TXT second record"],
        ("e4.example.com", "TXT"): ["TXT rawrdata"],
        ("e5.example.com", "SPF"): ["SPF v=spf1 -all"],
        ("x.y.e6.example.com", "TXT"): ["TXT v=spf1 +all"],
        ("a_b.example.com", "A"): ["A 192.0.2.8"],
        ("with\\032space.example.org", "TXT"): ["TXT space"],
        ("mail.example.net", "MX"): ["MX 10 mx.example.net"],
        ("e7.example.com", "TXT"): ["TXT v=spf1 mx -all"],
        ("1.2.3.4.in-addr.arpa", "PTR"): ["PTR host.example.com"],
        ("host.test", "A"): ["A 192.0.2.10"],
    }
    for (name, rtype), lines_want in want.items():
        lines, _ = lookup("-s", rig.resolver, name, rtype, check_rc=0)
        assert sorted(lines[1:]) == sorted(lines_want), f"{name} {rtype}: got {lines}"
    lines, _ = lookup("-s", rig.resolver, "missing.example.com", "TXT", check_rc=0)
    assert lines == ["status=nxdomain rcode=3 secure=0"], f"got {lines}"
    # The independent client agrees on the joined TXT.
    assert rig.query("e1.example.com", "TXT").values("TXT") == [long_text.encode()]
    # Zone data NSD rejects is a loud error naming the line, or SERVFAIL with strict=False.
    bad_zone = {"bad.test": [("a", "CNAME", "b.bad.test"), ("a", "A", "192.0.2.1")]}
    try:
        DnsRig(bad_zone)
    except RigError as e:
        assert "CNAME and other data" in str(e), f"got {e}"
    else:
        raise AssertionError("zone with CNAME and other data accepted")
    lax = DnsRig(bad_zone, strict=False)
    assert lax.query("a.bad.test", "A").rcode == 2
    # Bad rows fail early with a clear error, not a silent NSD refusal.
    for bad in [("x" * 64 + ".example.com", "A", "192.0.2.1"), ("a..b", "A", "192.0.2.1")]:
        try:
            DnsRig({"example.com": [bad]}, start=False).start()
        except ValueError as e:
            assert "label" in str(e), f"got {e}"
        else:
            raise AssertionError(f"{bad} accepted")


def test_rig_stops_cleanly():
    rig = DnsRig(ZONES)
    procs = [d.proc for d in (rig._nsd, rig._unbound)]
    pids = [p.pid for p in procs]
    rig.stop()
    for p in procs:
        assert p.poll() is not None, f"pid {p.pid} still running"
    for pid in pids:
        left = mgtest.live_processes(pgid=pid)
        assert not left, f"processes left in group {pid}: {left}"
    try:
        query(rig.resolver, "mx1.example.test", "A", timeout=0.3)
    except OSError:
        pass
    else:
        raise AssertionError("unbound still answers after stop()")
    rig.stop()      # idempotent


def test_static_fixture_zone():
    rig = DnsRig({"example.test": mgtest.REPO / "tests/fixtures/dns/example.test.zone"})
    lines, _ = lookup("-s", rig.resolver, "example.test", "TXT", check_rc=0)
    assert lines == ["status=ok rcode=0 secure=0",
        "TXT v=spf1 ip4:192.0.2.0/24 ip6:2001:db8::/32 -all"], f"got {lines}"
    lines, _ = lookup("-s", rig.resolver, "www.example.test", "AAAA", check_rc=0)
    assert lines == ["status=ok rcode=0 secure=0", "AAAA 2001:db8::25"], f"got {lines}"
    lines, _ = lookup("-s", rig.resolver, "sel._domainkey.example.test", "TXT", check_rc=0)
    assert lines[1].startswith("TXT v=DKIM1; k=ed25519; p="), f"got {lines}"


def test_rig_retries_on_port_race():
    import socket
    import dnsrig
    # Someone else takes the probed port between the probe and the daemon's bind: both the
    # UDP and the TCP side are held by a foreign socket that even answers nothing.
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.bind(("127.0.0.1", 0))
    taken = u.getsockname()[1]
    t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    t.bind(("127.0.0.1", taken))
    t.listen(1)
    mgtest.add_cleanup(u.close)
    mgtest.add_cleanup(t.close)
    real = dnsrig._probe_port
    calls = []

    def probe():
        calls.append(1)
        return taken if len(calls) in (1, 3) else real()   # nsd's and unbound's first tries
    dnsrig._probe_port = probe
    try:
        rig = DnsRig(ZONES)
    finally:
        dnsrig._probe_port = real
    assert len(calls) == 4, f"probe called {len(calls)} times, want 4 (one retry per daemon)"
    assert taken not in (rig.port, rig.nsd_port), "a daemon claims the taken port"
    lines, _ = lookup("-s", rig.resolver, "mx1.example.test", "A", check_rc=0)
    assert lines == ["status=ok rcode=0 secure=0", "A 192.0.2.25"], f"got {lines}"
