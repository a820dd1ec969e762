"""DKIM verification (dkim/verify.c: libopendkim behind our key lookup) on test vectors, through
tests/tools/dkim-verify, every message stored as the spool stores it (CRLF, our Received: first).

Vectors (built per test from /work/shared/corpora/dkim; signers are independent of our code):
  * RFC 8463 Appendix A (ed25519-sha256 + rsa-sha256; dkimpy's copy) and mailauth's signed.eml
    with mailauth's dns.json records; body- and header-tampered copies;
  * dkimpy's test data signed here by python3-dkim (RSA relaxed/relaxed, simple/simple,
    relaxed/simple, ed25519, test2 whose record has no k=, l=, rsa-sha1, ten signatures);
  * dkimpy's bad key records (badk, badversion, test_bad), a missing, a revoked, a 512-bit key
    and a DNS failure; x= expiry with a signature made by a small signer in this file (openssl
    for the RSA operation), since python3-dkim cannot set x=.
Why the bad records give what they give (RFC 6376):
  * badk.txt "k=ed25519-sha256": not a key type (§3.6.1 k=, §6.1.2 step 6: unknown key type is
    PERMFAIL) -> permerror.
  * badversion.txt "v=DKIM1: g=*": the v= value is "DKIM1: g=*" (';' ends a tag, ':' does not);
    §3.6.1 says records with another v= MUST be discarded, leaving no key: PERMFAIL (no key for
    signature) -> permerror.
  * test_bad.txt: the SubjectPublicKeyInfo is damaged, so the key cannot be used (§6.1.2 step 7
    "public key data ... not suitable": PERMFAIL) -> permerror. "fail" is kept for a signature
    whose cryptographic check ran and failed (RFC 8601 §2.7.1).
  * 512-bit RSA: RFC 8301 §3.2 forbids accepting it -> policy (refused by rule, not broken).

* test_dkim_<vector>: one test per vector, keys from dkim-verify's table DNS.
* test_dkim_vectors_through_dns_rig: all vectors, records served by nsd behind unbound on
  loopback (tests/integ/dnsrig.py), the DNS-failure vector from a SERVFAIL zone.
* test_dkim_agrees_with_dkimpy: python3-dkim verifies every signature with the same records;
  agreement printed, each expected difference justified.
* test_dkim_cpu_per_message: CPU per mg_dkim_verify, 4 KiB message, one RSA-2048 signature.
"""

import base64
import hashlib
import json
import os
import re
import subprocess
import time
from pathlib import Path

from corpora import corpora_dir

import mgtest

TIMEOUT = 300
REPO = Path(__file__).resolve().parents[2]
CORPUS = Path(os.environ.get("MG_DKIM_CORPUS", corpora_dir() / "dkim"))
DATA = CORPUS / "dkimpy/data"
MAILAUTH = CORPUS / "mailauth-keys"
RECEIVED = (b"Received: from client.test (client.test [127.0.0.1])\r\n"
    b"\tby mailguard.test with ESMTP id 0123456789ABCDEF; Mon, 1 Jan 2024 00:00:00 +0000\r\n")


def dkim_verify_bin():
    return mgtest.build_dir() / "tests/tools/dkim-verify"


def crlf(b):
    return b.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def rec(name):
    return (DATA / name).read_text().strip()


def mailauth_records():
    d = json.loads((MAILAUTH / "dns.json").read_text())
    return {n: "".join(v["TXT"][0]) for n, v in d.items() if "_domainkey" in n}


class Vector:
    def __init__(self, name, msg, records, expect, why=""):
        self.name, self.msg, self.records, self.expect, self.why = name, msg, records, expect, why


def dom(name):
    return name.replace("_", "-") + ".example"


def dkimpy_sign(msg, name, key=None, selector=b"sel", **kw):
    import dkim
    key = key if key is not None else (DATA / "test.private").read_bytes()
    return dkim.sign(msg, selector, dom(name).encode(), key, **kw) + msg


def hand_sign(msg, name, key_pem, extra_tags):
    """A minimal relaxed/relaxed rsa-sha256 signer (RFC 6376 §3.4.2, §3.4.4, §3.7) for tags
    python3-dkim cannot set; openssl does the RSA part."""
    head, body = msg.split(b"\r\n\r\n", 1)
    lines = [re.sub(rb"[ \t]+", b" ", l).rstrip(b" \t") for l in body.split(b"\r\n")]
    while lines and lines[-1] == b"":
        lines.pop()
    cbody = b"".join(l + b"\r\n" for l in lines)
    fields = {}
    for f in re.split(rb"\r\n(?![ \t])", head):
        k, v = f.split(b":", 1)
        fields[k.strip().lower()] = re.sub(rb"[ \t]+", b" ", v.replace(b"\r\n", b"")).strip()
    bh = base64.b64encode(hashlib.sha256(cbody).digest()).decode()
    value = (f"v=1; a=rsa-sha256; c=relaxed/relaxed; d={dom(name)}; s=sel; {extra_tags} "
        f"h=from:subject; bh={bh}; b=")
    data = b"from:" + fields[b"from"] + b"\r\nsubject:" + fields[b"subject"] + b"\r\n"
    data += b"dkim-signature:" + value.encode()
    sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", str(key_pem)], input=data,
        capture_output=True, check=True).stdout
    return f"DKIM-Signature: {value}{base64.b64encode(sig).decode()}\r\n".encode() + msg


def rsa_record(private_pem, extra=""):
    der = subprocess.run(["openssl", "pkey", "-in", str(private_pem), "-pubout", "-outform", "DER"],
        capture_output=True, check=True).stdout
    return f"v=DKIM1; k=rsa; {extra}p={base64.b64encode(der).decode()}"


def test_message():
    return crlf((DATA / "test.message").read_bytes())


def build_vectors(work):
    """[Vector]; keys made here go to work."""
    v = []
    ma = mailauth_records()
    rfc = crlf((DATA / "rfc6376.signed.msg").read_bytes())
    v.append(Vector("rfc8463_example", rfc, ma, [("pass", None), ("pass", None)]))
    v.append(Vector("mailauth_signed", crlf((MAILAUTH / "signed.eml").read_bytes()), ma,
        [("pass", None), ("pass", None)]))
    v.append(Vector("rfc8463_body_tampered", rfc.replace(b"We lost the game", b"We won the game"), ma,
        [("fail", "body hash mismatch"), ("fail", "body hash mismatch")]))
    v.append(Vector("rfc8463_header_tampered", rfc.replace(b"Is dinner ready?", b"Is dinner ready!"), ma,
        [("fail", "signature did not verify"), ("fail", "signature did not verify")]))

    msg = test_message()
    test_txt = rec("test.txt")
    for name, canon in (("dkimpy_rsa_relaxed", (b"relaxed", b"relaxed")),
                        ("dkimpy_rsa_simple", (b"simple", b"simple")),
                        ("dkimpy_rsa_relaxed_simple", (b"relaxed", b"simple"))):
        v.append(Vector(name, dkimpy_sign(msg, name, canonicalize=canon),
            {f"sel._domainkey.{dom(name)}": test_txt}, [("pass", None)]))
    ed_key = (DATA / "ed25519test.key").read_bytes().strip()
    name = "dkimpy_ed25519"
    v.append(Vector(name, dkimpy_sign(msg, name, ed_key, signature_algorithm=b"ed25519-sha256"),
        {f"sel._domainkey.{dom(name)}": rec("ed25519test.dns")}, [("pass", None)]))
    name = "dkimpy_ed25519_tampered"
    signed = dkimpy_sign(msg, name, ed_key, signature_algorithm=b"ed25519-sha256")
    v.append(Vector(name, signed.replace(b"This is a test message.", b"This is a test massage."),
        {f"sel._domainkey.{dom(name)}": rec("ed25519test.dns")}, [("fail", "body hash mismatch")]))
    name = "dkimpy_test2_no_k"
    v.append(Vector(name, dkimpy_sign(crlf((DATA / "test2.message").read_bytes()), name,
        (DATA / "test2.private").read_bytes()), {f"sel._domainkey.{dom(name)}": rec("test2.txt")},
        [("pass", None), ("permerror", "no key for signature")],
        "test2.message carries an old gmail.com signature whose key is not published here"))

    for name, record, reason in (("key_badk", rec("badk.txt"), "unknown key type"),
                                 ("key_badversion", rec("badversion.txt"), "key record version not DKIM1"),
                                 ("key_test_bad", rec("test_bad.txt"), None),
                                 ("key_revoked", "v=DKIM1; k=rsa; p=", "key revoked")):
        v.append(Vector(name, dkimpy_sign(msg, name), {f"sel._domainkey.{dom(name)}": record},
            [("permerror", reason)]))
    name = "key_missing"
    v.append(Vector(name, dkimpy_sign(msg, name), {}, [("permerror", "no key for signature")]))
    name = "key_dns_failure"
    v.append(Vector(name, dkimpy_sign(msg, name), {f"sel._domainkey.{dom(name)}": "!tempfail"},
        [("temperror", "key unavailable: DNS failure")]))
    name = "key_test_mode"
    v.append(Vector(name, dkimpy_sign(msg, name), {f"sel._domainkey.{dom(name)}":
        test_txt.replace("v=DKIM1; g=*;", "v=DKIM1; t=y; g=*;")}, [("pass", None)]))

    k512 = work / "k512.pem"
    subprocess.run(["openssl", "genrsa", "-out", str(k512), "512"], check=True, capture_output=True)
    name = "key_512_bits"
    v.append(Vector(name, dkimpy_sign(msg, name, k512.read_bytes()),
        {f"sel._domainkey.{dom(name)}": rsa_record(k512)}, [("policy", "key too small")]))
    name = "rsa_sha1"
    v.append(Vector(name, dkimpy_sign(msg, name, signature_algorithm=b"rsa-sha1"),
        {f"sel._domainkey.{dom(name)}": test_txt}, [("permerror", "rsa-sha1 not accepted by RFC 8301")]))
    name = "l_tag_honoured"
    signed = dkimpy_sign(msg, name, length=True)
    v.append(Vector(name, signed + b"Appended after signing: outside l=.\r\n",
        {f"sel._domainkey.{dom(name)}": test_txt}, [("pass", None)],
        "RFC 6376 §3.4.5: content past l= is not covered (and not trusted)"))
    name = "l_tag_beyond_body"
    signed = dkimpy_sign(msg, name, length=True)
    v.append(Vector(name, signed.replace(b"This is a test message.\r\n", b"This\r\n"),
        {f"sel._domainkey.{dom(name)}": test_txt}, [("permerror", None)]))
    name = "unsigned"
    v.append(Vector(name, msg, {}, []))
    name = "ten_signatures"
    signed = msg
    for _ in range(10):
        signed = dkimpy_sign(signed, name)
    v.append(Vector(name, signed, {f"sel._domainkey.{dom(name)}": test_txt}, [("pass", None)] * 8))

    kpem = work / "k1024.pem"
    kpem.write_bytes((DATA / "test.private").read_bytes())
    now = int(time.time())
    name = "x_expired"
    # Two days past: beyond libopendkim's 5-minute and dkimpy's 10-hour clock slack.
    v.append(Vector(name, hand_sign(msg, name, kpem, f"t={now - 3 * 86400}; x={now - 2 * 86400};"),
        {f"sel._domainkey.{dom(name)}": test_txt}, [("fail", "signature expired")]))
    name = "x_in_future"
    v.append(Vector(name, hand_sign(msg, name, kpem, f"t={now - 60}; x={now + 86400};"),
        {f"sel._domainkey.{dom(name)}": test_txt}, [("pass", None)]))
    return v


def parse_output(out):
    lines = out.splitlines()
    status = dict(kv.split("=", 1) for kv in lines[0].split(" ") if "=" in kv and not kv.startswith("error"))
    sigs = []
    for l in lines[1:]:
        if not l.startswith("sig="):
            continue
        head, _, reason = l.partition(' reason="')
        f = dict(kv.split("=", 1) for kv in head.split(" "))
        f["reason"] = reason.rstrip('"')
        sigs.append(f)
    authres = next(l for l in lines if l.startswith("authres: "))[9:]
    return status, sigs, authres


def run_vector(vec, dns_args, workdir):
    path = workdir / f"{vec.name}.eml"
    path.write_bytes(RECEIVED + vec.msg)
    if dns_args is None:
        dns_args = []
        for n, val in vec.records.items():
            dns_args += ["--txt", f"{n}={val}"]
    p = mgtest.run_cmd([dkim_verify_bin(), "--raw", *dns_args, path], timeout=60)
    assert p.returncode == 0, f"dkim-verify exited {p.returncode}: {p.stderr}"
    return parse_output(p.stdout)


def judge(vec, status, sigs, authres):
    """'' if the output matches the vector's expectation, else why not."""
    got = [(s["result"], s["reason"]) for s in sigs]
    if len(got) != len(vec.expect):
        return f"{vec.name}: got {len(got)} results {got}, want {vec.expect}"
    for i, ((r, why), (wr, wwhy)) in enumerate(zip(got, vec.expect)):
        if r != wr or (wwhy is not None and why != wwhy):
            return f"{vec.name}: signature {i + 1}: got {r} ({why}), want {wr}" + (f" ({wwhy})" if wwhy else "")
    if not vec.expect and (status["status"] != "none" or authres != "dkim=none"):
        return f"{vec.name}: got status {status['status']}, authres {authres!r}, want none"
    for s in sigs:
        if f"dkim={s['result']}" not in authres or f"header.d={s['d']}" not in authres:
            return f"{vec.name}: authres {authres!r} lacks {s['result']} for {s['d']}"
    return ""


VECTOR_NAMES = [
    "rfc8463_example", "mailauth_signed", "rfc8463_body_tampered", "rfc8463_header_tampered",
    "dkimpy_rsa_relaxed", "dkimpy_rsa_simple", "dkimpy_rsa_relaxed_simple", "dkimpy_ed25519",
    "dkimpy_ed25519_tampered", "dkimpy_test2_no_k", "key_badk", "key_badversion", "key_test_bad",
    "key_revoked", "key_missing", "key_dns_failure", "key_test_mode", "key_512_bits", "rsa_sha1",
    "l_tag_honoured", "l_tag_beyond_body", "unsigned", "ten_signatures", "x_expired", "x_in_future",
]


def _make_vector_test(vname):
    def fn():
        work = mgtest.tmpdir("dkim")
        vecs = {v.name: v for v in build_vectors(work)}
        vec = vecs[vname]
        status, sigs, authres = run_vector(vec, None, work)
        print(f"{vname}: status={status['status']} {[(s['result'], s['reason']) for s in sigs]}")
        print(f"  authres: {authres}")
        msg = judge(vec, status, sigs, authres)
        assert not msg, msg
        if vname == "ten_signatures":
            assert status["ignored"] == "2", f"ignored={status['ignored']}, want 2"
    fn.__name__ = "test_dkim_" + vname
    fn.__qualname__ = fn.__name__
    return fn


for _n in VECTOR_NAMES:
    _f = _make_vector_test(_n)
    globals()[_f.__name__] = _f
del _n, _f


def test_dkim_vector_list_complete():
    work = mgtest.tmpdir("dkim")
    built = sorted(v.name for v in build_vectors(work))
    listed = sorted(VECTOR_NAMES)
    assert built == listed, f"vectors {built} but per-vector tests for {listed}"
    print(f"{len(built)} vectors")


@mgtest.timeout(300)
def test_dkim_vectors_through_dns_rig():
    try:
        import dnsrig
    except ImportError as e:
        raise mgtest.Skip(f"tests/integ/dnsrig.py not available ({e})")
    work = mgtest.tmpdir("dkim")
    vecs = build_vectors(work)
    zones, servfail, seen = {}, [], {}
    for vec in vecs:
        for n, val in vec.records.items():
            assert seen.setdefault(n, val) == val, f"{n}: two vectors publish different records"
            zone = ".".join(n.split(".")[-2:])
            if val == "!tempfail":
                servfail.append(n)
                zones.setdefault(zone, [])
            else:
                zones.setdefault(zone, []).append((n, "TXT", val))
    rig = dnsrig.DnsRig(zones, servfail=servfail)
    rows, failures = [], []
    try:
        for vec in vecs:
            status, sigs, authres = run_vector(vec, ["--dns", rig.resolver], work)
            msg = judge(vec, status, sigs, authres)
            rows.append(f"  {'ok  ' if not msg else 'FAIL'} {vec.name:<26} "
                f"{' '.join(s['result'] for s in sigs) or status['status']}")
            if msg:
                failures.append(msg)
    finally:
        rig.stop()
    print("\n".join(rows))
    print(f"rig: {len(vecs) - len(failures)}/{len(vecs)} vectors as expected")
    assert not failures, "\n".join(failures)


# Where python3-dkim 1.1.4 and we differ on purpose: (vector, signature index) -> why.
EXPECTED_DIFFERENCES = {
    ("rsa_sha1", 0): "RFC 8301 §3.1: rsa-sha1 MUST NOT be considered valid; dkimpy still accepts it",
}


def test_dkim_agrees_with_dkimpy():
    import logging
    import dkim
    logging.disable(logging.CRITICAL)
    work = mgtest.tmpdir("dkim")
    agree, expected_diff, differ = 0, [], []
    for vec in build_vectors(work):
        def dnsfunc(name, timeout=5, records=vec.records):
            v = records.get(name.decode().rstrip("."))
            return v.encode() if v is not None and not v.startswith("!") else None
        status, sigs, _ = run_vector(vec, None, work)
        d = dkim.DKIM(RECEIVED + vec.msg)
        for i, s in enumerate(sigs):
            try:
                theirs = bool(d.verify(idx=i, dnsfunc=dnsfunc))   # idx counts DKIM-Signatures
            except Exception:
                theirs = False
            ours = s["result"] == "pass"
            if theirs == ours:
                agree += 1
            elif EXPECTED_DIFFERENCES.get((vec.name, i)):
                expected_diff.append(f"{vec.name}#{i + 1}: dkimpy {theirs}, ours {s['result']}: "
                    f"{EXPECTED_DIFFERENCES[(vec.name, i)]}")
            else:
                differ.append(f"{vec.name}#{i + 1}: dkimpy {'pass' if theirs else 'not pass'}, "
                    f"ours {s['result']} ({s['reason']})")
    print(f"dkimpy agreement: {agree} signatures agree, {len(expected_diff)} differ as expected, "
        f"{len(differ)} differ")
    for line in expected_diff:
        print("  expected: " + line)
    assert not differ, "\n".join(differ)


def test_dkim_cpu_per_message():
    import dkim
    work = mgtest.tmpdir("dkimcpu")
    key = work / "k2048.pem"
    subprocess.run(["openssl", "genrsa", "-out", str(key), "2048"], check=True, capture_output=True)
    body = "".join(f"Line {i:04d} of the message body, ordinary text filling four KiB.\r\n"
        for i in range(52))
    msg = ("From: Alice <alice@example.com>\r\nTo: bob@example.net\r\nSubject: cpu test\r\n"
        "Date: Mon, 1 Jan 2024 00:00:00 +0000\r\nMessage-ID: <cpu@example.com>\r\n"
        "MIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\n" + body).encode()
    msg = dkim.sign(msg, b"sel", b"example.com", key.read_bytes(),
        canonicalize=(b"relaxed", b"relaxed")) + msg
    path = work / "msg.eml"
    path.write_bytes(RECEIVED + msg)
    p = mgtest.run_cmd([dkim_verify_bin(), "--raw", "--txt",
        f"sel._domainkey.example.com={rsa_record(key)}", "--repeat", "200", path], timeout=120)
    print(p.stdout)
    assert p.stdout.startswith("status=pass n=1 "), f"got {p.stdout!r}"
    us = float(p.stdout.split("cpu_us_per_msg=")[1].split()[0])
    size = int(p.stdout.split("size=")[1].split()[0])
    print(f"mg_dkim_verify: {us:.1f} us CPU per {size}-octet message, one RSA-2048 signature")
    assert us < 500, f"{us:.1f} us CPU per message, budget 500 us for the whole filter"
