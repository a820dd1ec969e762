"""DKIM verification through the real daemon (issue C, dkim/verify.c): messages signed here by
python3-dkim (dkimpy, independent of our code) with keys published in the DNS rig (NSD behind
Unbound), sent through smtpd -> filter -> queue -> delivery to a sink, and judged on the
delivered message's Authentication-Results and X-MailGuard-Symbols.

* test_dkim_rsa_pass / test_dkim_ed25519_pass: rsa-sha256 (2048-bit key made per run) and
  ed25519-sha256 (RFC 8463, dkimpy's test key) -> dkim=pass header.d=sender.test, DKIM_VALID.
* test_dkim_tampered_body_fails: the body changed after signing -> dkim=fail, DKIM_INVALID.
* test_dmarc_pass_via_dkim_alignment: the client is outside sender.test's SPF (spf=fail), the
  aligned DKIM signature alone makes DMARC pass (RFC 7489 §4.2): delivered with dmarc=pass and
  DMARC_PASS; the same message with a broken signature is refused by p=reject (550 5.7.1), which
  shows the pass came from the signature.
* test_dkim_key_missing_permerror: a selector with no key record -> dkim=permerror.
"""

import base64
import subprocess

import mgtest
from corpora import corpora_dir
from test_filter_e2e import DOMAIN, GOOD_IP, SPOOF_IP, text, transaction
from dnsrig import DnsRig
from mgtest import MailGuard, Sink

ED_DATA = corpora_dir() / "dkim" / "dkimpy" / "data"


def rsa_key(work):
    path = work / "rsa.pem"
    subprocess.run(["openssl", "genrsa", "-traditional", "-out", str(path), "2048"], check=True,
        capture_output=True, timeout=60)
    der = subprocess.run(["openssl", "rsa", "-in", str(path), "-pubout", "-outform", "DER"],
        check=True, capture_output=True, timeout=60).stdout
    return path.read_bytes(), base64.b64encode(der).decode()


def ed_key():
    priv = (ED_DATA / "ed25519test.key").read_bytes().strip()
    rec = (ED_DATA / "ed25519test.dns").read_text().strip()
    return priv, "v=DKIM1; " + rec


class Rig:
    def __init__(self):
        work = mgtest.tmpdir("dkime2e")
        self.rsa_priv, rsa_pub = rsa_key(work)
        self.ed_priv, ed_rec = ed_key()
        zones = {
            "sender.test": [
                ("@", "TXT", "v=spf1 ip4:192.0.2.0/24 -all"),
                ("_dmarc", "TXT", "v=DMARC1; p=reject"),
                ("rsa._domainkey", "TXT", f"v=DKIM1; k=rsa; p={rsa_pub}"),
                ("ed._domainkey", "TXT", ed_rec),
            ],
        }
        self.rig = DnsRig(zones)
        self.sink = Sink()
        cfg = {
            "resolvers": self.rig.resolver,
            "mynetworks": "203.0.113.0/24",
            "xclient_networks": "127.0.0.0/8",
            "filter_threads": 2,
            "dns_timeout_ms": 1000,
        }
        dom = {"transport": self.sink.transport, "spam_reject": 10, "spam_quarantine": 9,
            "greylist": 8}
        self.mg = MailGuard(config=cfg, domains={DOMAIN: dom}).start()

    def signed(self, selector="rsa", subject="dkim e2e", alg=b"rsa-sha256"):
        import dkim
        msg = (f"From: Alice <alice@sender.test>\r\nTo: user@{DOMAIN}\r\nSubject: {subject}\r\n"
            f"Message-ID: <{subject.replace(' ', '.')}@sender.test>\r\n\r\n"
            "Hello, this message is signed.\r\nSecond line.\r\n").encode()
        key = self.ed_priv if alg == b"ed25519-sha256" else self.rsa_priv
        sig = dkim.sign(msg, selector.encode(), b"sender.test", key, signature_algorithm=alg,
            include_headers=[b"from", b"to", b"subject", b"message-id"])
        return (sig + msg).decode()


def delivered(r, ip, body):
    _, final = transaction(r.mg, ip, body=body)
    assert final.code == 250, f"got {final.code} {text(final)}, want 250"
    [m] = r.sink.wait_count(1, timeout=30)
    return str(m.header("Authentication-Results")), str(m.header("X-MailGuard-Symbols"))


def test_dkim_rsa_pass():
    r = Rig()
    ar, sym = delivered(r, GOOD_IP, r.signed("rsa"))
    assert "dkim=pass header.d=sender.test header.s=rsa header.a=rsa-sha256" in ar, f"got A-R {ar!r}"
    assert "DKIM_VALID" in sym and "DKIM_INVALID" not in sym, f"got symbols {sym!r}"


def test_dkim_ed25519_pass():
    r = Rig()
    ar, sym = delivered(r, GOOD_IP, r.signed("ed", alg=b"ed25519-sha256"))
    assert "dkim=pass header.d=sender.test header.s=ed header.a=ed25519-sha256" in ar, \
        f"got A-R {ar!r}"
    assert "DKIM_VALID" in sym, f"got symbols {sym!r}"


def test_dkim_tampered_body_fails():
    r = Rig()
    body = r.signed("rsa").replace("Second line.", "Second line, changed.")
    ar, sym = delivered(r, GOOD_IP, body)
    assert "dkim=fail (body hash mismatch) header.d=sender.test" in ar, f"got A-R {ar!r}"
    assert "DKIM_INVALID" in sym and "DKIM_VALID" not in sym, f"got symbols {sym!r}"


def test_dmarc_pass_via_dkim_alignment():
    r = Rig()
    ar, sym = delivered(r, SPOOF_IP, r.signed("rsa", subject="aligned"))
    assert "spf=fail" in ar, f"got A-R {ar!r}"
    assert "dkim=pass header.d=sender.test" in ar, f"got A-R {ar!r}"
    assert "dmarc=pass" in ar and "header.from=sender.test" in ar, f"got A-R {ar!r}"
    assert "SPF_FAIL" in sym and "DMARC_PASS" in sym, f"got symbols {sym!r}"
    # the same message with a broken signature: DMARC fails and p=reject refuses it
    body = r.signed("rsa", subject="not aligned").replace("Second line.", "Tampered.")
    _, final = transaction(r.mg, SPOOF_IP, body=body)
    assert final.code == 550 and "5.7.1" in text(final), f"got {final.code} {text(final)}, want 550"
    r.mg.wait_log(r"filter action=reject .*DKIM_INVALID.*DMARC_POLICY_REJECT")


def test_dkim_key_missing_permerror():
    r = Rig()
    ar, sym = delivered(r, GOOD_IP, r.signed("nokey"))
    assert "dkim=permerror (no key for signature) header.d=sender.test header.s=nokey" in ar, \
        f"got A-R {ar!r}"
    assert "DKIM_INVALID" in sym, f"got symbols {sym!r}"
