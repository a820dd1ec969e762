#!/usr/bin/python3
"""DMARC report ingestion bench (issue I, `make bench-dmarc`): incoming aggregate reports sent by
SMTP to the dmarc_rua addresses of a real daemon, which parses and stores each before its 250
(dmarc_rua_keep = no: the store's log is synced, the mail is consumed).

  BUILD=build bench/dmarc_ingest.py [--reports 10000] [--threads 8] [--budget 600]

Reports: RFC 7489 appendix C XML made here, each with its own (org, report id), for 20 protected
domains d0..d19.test; most have 1-20 records (what mailbox providers send), one in 100 has 2,000
(a large sender's day). Containers cycle through bare .xml, .xml.gz and .zip attachments and a
gzip sent as application/octet-stream under a misleading name. Figures: reports/s and records/s
from the first connection to the last 250, the filter's CPU per report (utime + stime of the
filter process), its peak RSS (VmHWM) and the daemon's total RSS; then every report is checked
to be stored once (mailguardctl dmarc domains --json, which counts them per domain). DNS-using
layers are off (no resolver here); everything listens on 127.0.0.1.
"""

import argparse
import gzip
import io
import json
import os
import random
import re
import sys
import time
import zipfile
from email.mime.application import MIMEApplication
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "integ"))
import mgtest  # noqa: E402
from smtpload import SmtpLoad  # noqa: E402

N_DOMAINS = 20
ORGS = ["google.com", "Yahoo", "Mail.Ru", "Enterprise Outlook", "comcast.net", "web.de"]


def report_xml(rng, i, domain, n_records):
    begin = int(time.time()) - 86400 * (1 + i % 30)
    rows = []
    for k in range(n_records):
        ip = f"198.51.{rng.randrange(256)}.{rng.randrange(1, 255)}"
        ok = rng.random() < 0.8
        rows.append(
            "<record><row><source_ip>%s</source_ip><count>%d</count><policy_evaluated>"
            "<disposition>%s</disposition><dkim>%s</dkim><spf>%s</spf></policy_evaluated></row>"
            "<identifiers><header_from>%s</header_from></identifiers><auth_results><dkim>"
            "<domain>%s</domain><selector>s%d</selector><result>%s</result></dkim><spf>"
            "<domain>%s</domain><result>%s</result></spf></auth_results></record>"
            % (ip, rng.randrange(1, 500), "none" if ok else rng.choice(["quarantine", "reject"]),
               "pass" if ok else "fail", rng.choice(["pass", "fail"]), domain, domain, k % 3,
               "pass" if ok else "fail", domain, rng.choice(["pass", "softfail", "fail"])))
    org = ORGS[i % len(ORGS)]
    return ("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<feedback><report_metadata>"
            f"<org_name>{org}</org_name><email>noreply-dmarc@{org.replace(' ', '').lower()}"
            f".test</email><report_id>bench-{i}-{rng.randrange(1 << 30)}</report_id><date_range>"
            f"<begin>{begin}</begin><end>{begin + 86399}</end></date_range></report_metadata>"
            f"<policy_published><domain>{domain}</domain><adkim>r</adkim><aspf>r</aspf>"
            "<p>reject</p><sp>reject</sp><pct>100</pct></policy_published>"
            + "".join(rows) + "</feedback>\n").encode()


def mail(i, xml, rua):
    kind = i % 4
    if kind == 0:
        name, payload, ctype = "report.xml", xml, "xml"
    elif kind == 1:
        name, payload, ctype = "report.xml.gz", gzip.compress(xml), "gzip"
    elif kind == 2:
        b = io.BytesIO()
        with zipfile.ZipFile(b, "w", zipfile.ZIP_DEFLATED) as z:
            z.writestr("report.xml", xml)
        name, payload, ctype = "report.zip", b.getvalue(), "zip"
    else:   # a gzip under a misleading name and type, as some reporters send
        name, payload, ctype = "report.txt", gzip.compress(xml), "octet-stream"
    m = MIMEMultipart()
    m["From"] = "noreply-dmarc@reporter.test"
    m["To"] = rua
    m["Subject"] = f"Report Domain: {rua.split('@')[1]} Report-ID: {i}"
    m["Date"] = time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime())
    m["Message-ID"] = f"<r{i}@reporter.test>"
    m.attach(MIMEText("This is a DMARC aggregate report.\n"))
    part = MIMEApplication(payload, ctype)
    part.add_header("Content-Disposition", "attachment", filename=name)
    m.attach(part)
    return m.as_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def role_pids(mg):
    out = {}
    for p in mg.processes():
        try:
            argv = Path(f"/proc/{p}/cmdline").read_bytes().split(b"\0")
            out[argv[argv.index(b"-x") + 1].decode() if b"-x" in argv else "supervisor"] = p
        except (OSError, ValueError):
            pass
    return out


def cpu_s(pid):
    f = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")


def status_kb(pid, key):
    m = re.search(rf"{key}:\s+(\d+)", Path(f"/proc/{pid}/status").read_text())
    return int(m.group(1)) if m else 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reports", type=int, default=10000)
    ap.add_argument("--threads", type=int, default=8)
    ap.add_argument("--budget", type=float, default=600)
    ap.add_argument("--no-archive", action="store_true", help="dmarc_rua_archive = no")
    ap.add_argument("--keep", action="store_true", help="dmarc_rua_keep = yes (parsed beside "
                    "delivery; the 250 does not wait for the store)")
    a = ap.parse_args()
    rng = random.Random(7489)
    if a.keep:
        print("note: with --keep the report mails are delivered to 127.0.0.1:9 (deferred) and "
              "parsed beside; wait for the log lines", file=sys.stderr)
    msgs, n_records = [], 0
    for i in range(a.reports):
        d = f"d{i % N_DOMAINS}.test"
        n = 2000 if i % 100 == 99 else rng.randrange(1, 21)
        n_records += n
        msgs.append((f"dmarc@{d}", mail(i, report_xml(rng, i, d, n), f"dmarc@{d}")))
    octets = sum(len(m[1]) for m in msgs)
    cfg = {"mynetworks": "203.0.113.0/24", "resolvers": "127.0.0.1:9", "dns_timeout_ms": 300,
           "max_connections_per_ip": 200, "max_message_size": "40M",
           "dmarc_rua_archive": "no" if a.no_archive else "yes",
           "dmarc_rua_keep": "yes" if a.keep else "no",
           "global_disable_layers": "rbl phishing suspicious_tld bayes neural greylist spf "
                                    "dkim dmarc uribl"}
    policy = {"greylist": 500, "spam_quarantine": 600, "spam_reject": 700,
              "transport": "127.0.0.1:9"}
    domains = {f"d{i}.test": dict(policy, dmarc_rua=f"dmarc@d{i}.test")
               for i in range(N_DOMAINS)}
    try:
        mg = mgtest.MailGuard(config=cfg, domains=domains).start()
        pids = role_pids(mg)
        print(f"dmarc ingestion bench: {mgtest.build_dir()}/bin/mailguard, {os.cpu_count()} CPUs, "
              f"{a.reports} report mails ({octets / 1e6:.1f} MB, {n_records} records), "
              f"{a.threads} SMTP clients, dmarc_rua_archive {cfg['dmarc_rua_archive']}, "
              f"dmarc_rua_keep {cfg['dmarc_rua_keep']}")
        c0 = cpu_s(pids["filter"])
        t0 = time.monotonic()
        s = SmtpLoad(mg.port, len(msgs), a.budget, a.threads,
                     lambda k: lambda i: ("noreply-dmarc@reporter.test", [msgs[i][0]], msgs[i][1]),
                     helo="reporter.test")
        secs = s.run()
        if a.keep:      # parsed beside the delivery: the clock runs until the last is stored
            stored_rx = re.compile(r" dmarc_rua domain=\S+ org=.* result=stored")
            end = t0 + a.budget
            while time.monotonic() < end and len(stored_rx.findall(mg.log_text())) < s.ok:
                time.sleep(0.2)
            secs = time.monotonic() - t0
        cpu = cpu_s(pids["filter"]) - c0
        rss = {r: status_kb(p, "VmRSS") // 1024 for r, p in role_pids(mg).items()}
        hwm = status_kb(pids["filter"], "VmHWM") / 1024
        print(f"sent: {s.ok} accepted (250), {s.failed} failed in {secs:.1f} s" +
              (f"; first error: {s.first_error}" if s.first_error else ""))
        print(f"ingestion: {s.ok / secs:.0f} reports/s, {n_records * s.ok / a.reports / secs:.0f} "
              f"records/s (" + ("SMTP, then parsed and stored beside the delivery)" if a.keep else
              "end to end: SMTP, parse, archive, store, log sync, 250)"))
        print(f"filter CPU: {cpu * 1000 / max(s.ok, 1):.3f} ms/report; filter peak RSS "
              f"{hwm:.1f} MiB; RSS now (MiB): " + " ".join(f"{k}={v}" for k, v in sorted(rss.items())))
        log = mg.log_text()
        stored = len(re.findall(r" dmarc_rua domain=\S+ org=.* result=stored", log))
        consumed = len(re.findall(r" status=consumed ", log))
        print(f"log: {stored} reports stored, {consumed} mails consumed")
        r = mg.ctl("dmarc", "domains", "--days", "366", "--json", check=False)
        if r.returncode == 0:
            j = json.loads(r.stdout)
            print(f"mailguardctl dmarc domains: {sum(d['reports'] for d in j['domains'])} reports "
                  f"in the store for {len(j['domains'])} domains")
        mg.stop()
    finally:
        for e in mgtest.cleanup_all():
            print(f"cleanup: {e}", file=sys.stderr)


if __name__ == "__main__":
    main()
