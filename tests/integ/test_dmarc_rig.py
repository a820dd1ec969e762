"""DMARC evaluation (dmarc/) against real DNS: tests/tools/dmarc-check resolving through common/dns.c
against the loopback rig (tests/integ/dnsrig.py: NSD behind Unbound) with policy records served as
zone data. Covers p=reject/quarantine/none, sp on a subdomain through the Organizational-Domain
fallback, a subdomain's own record, pct=0 and pct=50 sampling, strict vs relaxed alignment for
DKIM and SPF, several records (no policy), non-DMARC TXT ignored, split character-strings,
temperror from a name that times out and from SERVFAIL, the From domain taken from a message
file, IDN From domains (queried as A-labels) and the stored report row. The Public Suffix List is
Debian's (.test is not listed, so the implicit "*" rule makes x.test an Organizational Domain).
"""

import shlex
import time

import mgtest
from dnsrig import DnsRig

RUA = "rua=mailto:dmarc@reject.test"

ZONES = {
    "reject.test": [
        ("_dmarc", "TXT", f"v=DMARC1; p=reject; sp=quarantine; {RUA}"),
        ("_dmarc.own", "TXT", "v=DMARC1; p=none"),
        ("www", "A", "192.0.2.1"),
    ],
    "quar.test": [("_dmarc", "TXT", "v=DMARC1; p=quarantine")],
    "none.test": [("_dmarc", "TXT", "v=DMARC1; p=none")],
    "nosp.test": [("_dmarc", "TXT", "v=DMARC1; p=reject")],
    "pct0.test": [("_dmarc", "TXT", "v=DMARC1; p=reject; pct=0")],
    "half.test": [("_dmarc", "TXT", "v=DMARC1; p=quarantine; pct=50")],
    "strict.test": [("_dmarc", "TXT", "v=DMARC1; p=reject; adkim=s; aspf=s")],
    "multi.test": [
        ("_dmarc", "TXT", "v=DMARC1; p=reject"),
        ("_dmarc", "TXT", "v=DMARC1; p=none"),
    ],
    "mixed.test": [
        ("_dmarc", "TXT", "v=spf1 -all"),
        ("_dmarc", "TXT", "v=DMARC1; p=reject"),
        ("_dmarc", "TXT", "google-site-verification=abc"),
    ],
    "split.test": [("_dmarc", "TXT", ["v=DMARC1; ", "p=quar", "antine; pct=100"])],
    "lower.test": [("_dmarc", "TXT", "v=dmarc1; p=reject")],
    "bad.test": [("_dmarc", "TXT", "v=DMARC1; p=bogus")],
    "nothing.test": [("www", "A", "192.0.2.2")],
    "late.test": [("www", "A", "192.0.2.3")],
    "xn--bcher-kva.test": [("_dmarc", "TXT", "v=DMARC1; p=reject")],
}
TIMEOUTS = ["slow.test", "_dmarc.late.test"]
SERVFAILS = ["broken.test"]


def tool():
    p = mgtest.build_dir() / "tests/tools/dmarc-check"
    if not p.exists():
        raise mgtest.Skip(f"{p} not built (make BUILD=... units)")
    return p


def rig():
    return DnsRig(ZONES, timeout=TIMEOUTS, servfail=SERVFAILS)


def check(r, *args, timeout=30):
    """Runs dmarc-check against the rig; returns (fields of the result line, all stdout lines)."""
    cmd = [tool(), "-s", r.resolver, *args]
    p = mgtest.run_cmd(cmd, timeout=timeout)
    assert p.returncode == 0, f"{args}: rc {p.returncode}, stderr {p.stderr!r}"
    lines = p.stdout.splitlines()
    assert lines, f"{args}: no output"
    fields = dict(t.split("=", 1) for t in shlex.split(lines[0]))
    return fields, lines


def expect(f, args, **want):
    for k, v in want.items():
        assert f.get(k) == str(v), f"{args}: {k}: got {f.get(k)!r}, want {v!r} (line {f})"


def test_dmarc_policies_reject_quarantine_none():
    r = rig()
    cases = [
        # (args, want)
        (["reject.test"], dict(status="fail", policy="reject", dis="reject", record="reject.test",
            queries=1, ar="dmarc=fail (p=reject dis=reject) header.from=reject.test")),
        (["-S", "fail:reject.test", "-d", "pass:reject.test:s1", "reject.test"],
            dict(status="pass", dis="none", dkim_aligned=1, spf_aligned=0,
                ar="dmarc=pass (p=reject dis=none) header.from=reject.test")),
        (["-S", "pass:bounce.reject.test", "reject.test"],
            dict(status="pass", dis="none", dkim_aligned=0, spf_aligned=1)),
        (["-S", "pass:evil.test", "-d", "pass:evil.test", "reject.test"],
            dict(status="fail", dis="reject")),
        (["quar.test"], dict(status="fail", policy="quarantine", dis="quarantine",
            ar="dmarc=fail (p=quarantine dis=quarantine) header.from=quar.test")),
        (["none.test"], dict(status="fail", policy="none", dis="none",
            ar="dmarc=fail (p=none dis=none) header.from=none.test")),
        (["nothing.test"], dict(status="none", dis="none", record="-", queries=1,
            ar="dmarc=none header.from=nothing.test")),
        (["lower.test"], dict(status="none", queries=1)),
        (["bad.test"], dict(status="permerror", dis="none",
            ar="dmarc=permerror header.from=bad.test")),
    ]
    for args, want in cases:
        f, _ = check(r, *args)
        expect(f, args, **want)


def test_dmarc_subdomain_sp_and_org_fallback():
    r = rig()
    # No record at the subdomain: the org domain's record applies, with sp.
    f, _ = check(r, "a.sub.reject.test")
    expect(f, "a.sub.reject.test", status="fail", policy="quarantine", sp=1, dis="quarantine",
        record="reject.test", org="reject.test", queries=2,
        ar="dmarc=fail (p=reject sp=quarantine dis=quarantine) header.from=a.sub.reject.test")
    # Relaxed alignment of the subdomain with a signature of the org domain.
    f, _ = check(r, "-d", "pass:reject.test", "a.sub.reject.test")
    expect(f, "sub pass", status="pass", dis="none", dkim_aligned=1, queries=2)
    # A subdomain with its own record: its p, one query.
    f, _ = check(r, "own.reject.test")
    expect(f, "own", status="fail", policy="none", sp=0, dis="none", record="own.reject.test",
        queries=1)
    # No sp published: p applies to subdomains.
    f, _ = check(r, "x.nosp.test")
    expect(f, "nosp", status="fail", policy="reject", sp=0, dis="reject", record="nosp.test",
        queries=2)
    # Nothing anywhere: two queries, none.
    f, _ = check(r, "a.nothing.test")
    expect(f, "nothing", status="none", queries=2, record="-")


def test_dmarc_pct_sampling():
    r = rig()
    # pct=0: never sampled, so reject becomes quarantine (RFC 7489 §6.6.4).
    for rnd in ("0", "99"):
        f, _ = check(r, "-r", rnd, "pct0.test")
        expect(f, f"pct0 r={rnd}", status="fail", policy="reject", sampled=0, dis="quarantine",
            ar="dmarc=fail (p=reject dis=quarantine) header.from=pct0.test")
    # pct=50: values 0..49 are sampled (quarantine), 50..99 are not (none).
    for rnd, dis, sampled in (("0", "quarantine", 1), ("49", "quarantine", 1),
            ("50", "none", 0), ("99", "none", 0)):
        f, _ = check(r, "-r", rnd, "half.test")
        expect(f, f"half r={rnd}", status="fail", dis=dis, sampled=sampled)
    # A pass is a pass whatever the sampling.
    f, _ = check(r, "-r", "0", "-S", "pass:pct0.test", "pct0.test")
    expect(f, "pct0 pass", status="pass", dis="none")


def test_dmarc_alignment_strict_vs_relaxed():
    r = rig()
    cases = [
        ("strict.test", ["-d", "pass:mail.strict.test"], "fail", 0, 0),
        ("strict.test", ["-S", "pass:bounce.strict.test"], "fail", 0, 0),
        ("strict.test", ["-d", "pass:strict.test"], "pass", 1, 0),
        ("strict.test", ["-S", "pass:STRICT.test."], "pass", 0, 1),
        ("reject.test", ["-d", "pass:mail.reject.test"], "pass", 1, 0),
        ("reject.test", ["-S", "pass:bounce.reject.test"], "pass", 0, 1),
        ("reject.test", ["-S", "softfail:reject.test", "-d", "fail:reject.test"], "fail", 0, 0),
        ("reject.test", ["-d", "pass:reject.test.evil.test"], "fail", 0, 0),
    ]
    for frm, opts, status, dk, sp in cases:
        f, _ = check(r, *opts, frm)
        expect(f, (frm, opts), status=status, dkim_aligned=dk, spf_aligned=sp)


def test_dmarc_several_records_and_record_shapes():
    r = rig()
    f, _ = check(r, "multi.test")
    expect(f, "multi", status="none", reason="several records", record="-", queries=1)
    # Several records at the org domain also end discovery.
    f, _ = check(r, "a.multi.test")
    expect(f, "a.multi", status="none", reason="several records", queries=2)
    # Non-DMARC TXT at the name are ignored; the one DMARC record counts.
    f, _ = check(r, "mixed.test")
    expect(f, "mixed", status="fail", policy="reject", dis="reject")
    # Character-strings are joined before parsing (RFC 7489 §6.6.3 / RFC 7208 §3.3 practice).
    f, _ = check(r, "split.test")
    expect(f, "split", status="fail", policy="quarantine", dis="quarantine")


def test_dmarc_temperror_timeout_and_servfail():
    r = rig()
    t0 = time.monotonic()
    f, _ = check(r, "-t", "400", "slow.test")
    took = time.monotonic() - t0
    expect(f, "slow", status="temperror", dis="none", queries=1,
        ar="dmarc=temperror header.from=slow.test")
    assert took < 5, f"timeout took {took:.1f}s"
    # NXDOMAIN at the From domain, then the org domain's _dmarc times out: temperror.
    f, _ = check(r, "-t", "400", "a.late.test")
    expect(f, "late", status="temperror", queries=2)
    # A subdomain of a timing-out name: the first lookup already fails, no fallback.
    f, _ = check(r, "-t", "400", "x.slow.test")
    expect(f, "x.slow", status="temperror", queries=1)
    # SERVFAIL is a temporary error too.
    f, _ = check(r, "broken.test")
    expect(f, "broken", status="temperror", queries=1)
    print(f"# timeout name: {took * 1000:.0f} ms with a 400 ms per-attempt timeout")


def test_dmarc_from_message_file():
    r = rig()
    d = mgtest.tmpdir("dmarc")
    good = d / "good.eml"
    good.write_bytes(b"Received: from x\r\nFrom: \"Sub, Sender\" (team)\r\n <u@Sub.Reject.TEST>\r\n"
        b"To: v@example.test\r\nSubject: hi\r\n\r\nFrom: body@evil.test\r\n")
    f, _ = check(r, "-m", str(good))
    expect(f, "good", status="fail", policy="quarantine", sp=1, **{"from": "sub.reject.test"})
    two = d / "two.eml"
    two.write_bytes(b"From: a@reject.test\r\nFrom: b@reject.test\r\n\r\n")
    p = mgtest.run_cmd([tool(), "-s", r.resolver, "-m", str(two)])
    assert p.returncode == 0 and p.stdout.startswith("from_status=multiple"), \
        f"got rc {p.returncode} {p.stdout!r}, want from_status=multiple"
    spoof = d / "spoof.eml"
    spoof.write_bytes(b"From: ceo@reject.test <attacker@evil.test>\r\n\r\n")
    p = mgtest.run_cmd([tool(), "-s", r.resolver, "-m", str(spoof)])
    assert p.stdout.startswith("from_status=syntax"), f"got {p.stdout!r}, want from_status=syntax"


def test_dmarc_idn_from_domain():
    r = rig()
    f, _ = check(r, "b\u00fccher.test")
    expect(f, "idn", status="fail", policy="reject", **{"from": "xn--bcher-kva.test"},
        record="xn--bcher-kva.test")
    f, _ = check(r, "-d", "pass:xn--bcher-kva.test", "www.b\u00fccher.test")
    expect(f, "idn sub", status="pass", org="xn--bcher-kva.test", queries=2)


def test_dmarc_stored_row():
    r = rig()
    f, lines = check(r, "-R", "-i", "203.0.113.9", "-r", "60", "-S", "fail:bounce.half.test",
        "-d", "pass:other.test:sel1", "half.test")
    expect(f, "row", status="fail", dis="none", sampled=0)
    rows = [l for l in lines if l.startswith("row: ")]
    assert len(rows) == 1, f"got {lines}, want one row line"
    kv = dict(t.split("=", 1) for t in rows[0][5:].split(" ")[1:])
    assert rows[0][5:].startswith("mgdmarc1 "), f"got {rows[0]!r}"
    want = {"ip": "203.0.113.9", "n": "1", "res": "fail", "dis": "none", "dkim": "fail",
        "spf": "fail", "rsn": "sampled_out", "hf": "half.test", "ef": "bounce.half.test",
        "sig": "other.test/sel1/pass", "spfd": "bounce.half.test", "spfs": "mfrom",
        "spfr": "fail", "pd": "half.test", "p": "quarantine", "sp": "", "pct": "50",
        "adkim": "r", "aspf": "r", "fo": "0"}
    for k, v in want.items():
        assert kv.get(k) == v, f"row {k}: got {kv.get(k)!r}, want {v!r}"
