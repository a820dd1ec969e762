"""The RFC 7208 SPF test suite (pyspf's rfc7208-tests.yml) for tests/integ/test_spf_suite.py.

Loads the scenarios, turns each scenario's zonedata into DNS data with the semantics of pyspf's
own test driver (testspf.py), runs tests/tools/spf-check on every test and compares results.

Zone semantics (pyspf testspf.py): an "SPF" record is also served as TXT unless the name has an
explicit TXT entry ("TXT: NONE" means: no TXT at all); a "TIMEOUT" entry makes every query of a
type that has no record before it time out; a name absent from the zonedata does not exist.
Two back-ends: `table_lines()` for spf-check's table DNS (-z), `rig_zone()` for the DnsRig
(real nsd behind unbound), when tests/integ/dnsrig.py exists.
"""

import os
import subprocess
from pathlib import Path

from corpora import corpora_dir

import yaml

REPO = Path(__file__).resolve().parents[2]
SUITE = Path(os.environ.get("MG_SPF_SUITE", corpora_dir() / "spf/pyspf/rfc7208-tests.yml"))
QTYPES = ("A", "AAAA", "MX", "PTR", "CNAME", "TXT")


def spf_check_bin():
    build = os.environ.get("BUILD", "build")
    return REPO / build / "tests/tools/spf-check"


class Test:
    def __init__(self, scenario, name, data):
        self.scenario = scenario
        self.name = name
        self.host = data["host"]
        self.helo = data.get("helo", "")
        self.mailfrom = data.get("mailfrom", "")
        res = data["result"]
        self.expect = res if isinstance(res, list) else [res]
        self.explanation = data.get("explanation")
        self.spec = data.get("spec")


class Scenario:
    def __init__(self, index, data):
        self.index = index
        self.description = data["description"]
        self.zonedata = data.get("zonedata") or {}
        self.tests = [Test(self, n, t) for n, t in data["tests"].items()]


def load(path=SUITE):
    with open(path, "rb") as f:
        return [Scenario(i, d) for i, d in enumerate(yaml.safe_load_all(f))]


def entries(recs):
    """pyspf getrdata(): (type, value) pairs and 'TIMEOUT' markers, generated TXT last."""
    out, txt, gen = [], [], True
    for m in recs:
        if not isinstance(m, dict):
            out.append(m)
            continue
        for t, v in m.items():
            if t in ("TXT", "SPF") and isinstance(v, str):
                v = [v]
            if t == "TXT":
                gen = False
            elif t == "SPF" and gen:
                txt.append(("TXT", v))
            if v != ["NONE"]:
                out.append((t, v))
    if gen:
        out.extend(txt)
    return out


def answers(recs):
    """{qtype: [values] or 'TIMEOUT'} as pyspf's driver answers them; absent = no records."""
    ents = entries(recs)
    result = {}
    for q in QTYPES:
        vals, timeout = [], True
        for e in ents:
            if e == "TIMEOUT":
                if timeout:
                    vals = "TIMEOUT"
                break
            t, v = e
            if t == q:
                timeout = False
                if v == "TIMEOUT":
                    vals = "TIMEOUT"
                    break
                vals.append(v)
        if vals:
            result[q] = vals
    return result


def esc(data):
    """Bytes -> table text: printable ASCII except backslash as is, the rest as \\xHH."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    return "".join(chr(b) if 0x20 < b < 0x7f and b != 0x5c else f"\\x{b:02x}" for b in data)


def esc_txt(data):
    if isinstance(data, str):
        data = data.encode("utf-8")
    return "".join(chr(b) if 0x20 <= b < 0x7f and b != 0x5c else f"\\x{b:02x}" for b in data)


def table_lines(scenario):
    """The scenario as spf-check -z lines (tests/unit/filter/test_spf_table.h format)."""
    lines = []
    for name, recs in scenario.zonedata.items():
        n = esc(name.lower())
        ans = answers(recs)
        lines.append(f"{n} SPF v=spf0 (name exists)")
        for q, vals in ans.items():
            if vals == "TIMEOUT":
                lines.append(f"{n} TIMEOUT {q}")
                continue
            for v in vals:
                if q == "MX":
                    lines.append(f"{n} MX {v[0]} {esc(v[1]) or '.'}")
                elif q == "TXT":
                    lines.append(f"{n} TXT {esc_txt(''.join(v))}")
                else:
                    lines.append(f"{n} {q} {esc(v)}")
        if any(e == "TIMEOUT" for e in entries(recs)):
            lines.append(f"{n} TIMEOUT *")
    return lines


def parse_output(line):
    """'RESULT k=v k="v v" ...' -> (result, {k: v})."""
    result, _, rest = line.partition(" ")
    fields, i = {}, 0
    while i < len(rest):
        j = rest.find("=", i)
        if j < 0:
            break
        key = rest[i:j].strip()
        if rest[j + 1:j + 2] == '"':
            k = rest.find('" ', j + 2)
            k = len(rest) - 1 if k < 0 else k
            fields[key] = rest[j + 2:k]
            i = k + 2
        else:
            k = rest.find(" ", j)
            k = len(rest) if k < 0 else k
            fields[key] = rest[j + 1:k]
            i = k + 1
    return result, fields


def run_checks(tests, dns_args, timeout=60, extra=()):
    """Runs spf-check -b once for tests (same scenario); returns [(result, fields)]."""
    inp = "".join(f"{t.host}\t{t.helo}\t{t.mailfrom}\n" for t in tests)
    p = subprocess.run([str(spf_check_bin()), *dns_args, *extra, "-b"], input=inp.encode(),
        capture_output=True, timeout=timeout)
    if p.returncode != 0:
        raise AssertionError(f"spf-check exited {p.returncode}: {p.stderr.decode(errors='replace')}")
    out = p.stdout.decode(errors="replace").splitlines()
    if len(out) != len(tests):
        raise AssertionError(f"spf-check gave {len(out)} lines for {len(tests)} checks:\n" +
            "\n".join(out) + p.stderr.decode(errors="replace"))
    return [parse_output(l) for l in out]


def run_table(scenario, tests, workdir):
    zone = Path(workdir) / f"spf-scenario-{scenario.index}.zone"
    zone.write_text("\n".join(table_lines(scenario)) + "\n", encoding="ascii")
    return run_checks(tests, ["-z", str(zone)])


def judge(test, result, fields):
    """'' when the result is one the suite accepts, else a 'got X, want Y' message."""
    if result in test.expect:
        return ""
    return (f"{test.name} ({test.scenario.description}, spec {test.spec}): got {result}, "
        f"want {'/'.join(test.expect)}; reason={fields.get('reason')!r}")


def explanation_matches(test, fields):
    """None if the test has no explanation; else whether ours matches (DEFAULT = any default)."""
    if test.explanation is None:
        return None
    if test.explanation == "DEFAULT":
        return "is not one of" in fields.get("exp", "")
    return fields.get("exp", "").lower() == test.explanation.lower()


def rig_zone(scenario):
    """The scenario for dnsrig.DnsRig: ({".": rows}, timeout_names, notes).

    One root zone serves every name. A name whose every type times out (pyspf "TIMEOUT" before
    any record) is put in the rig's timeout list, unless other names of the scenario lie below
    it (the rig times out a whole subtree): then it is left without records and a note says so.
    Types that time out beside answered types (e.g. type SPF next to a TXT) are just absent:
    we never query type SPF, and no suite test queries the others."""
    rows, timeouts, notes = [], [], []
    names = [n.lower() for n in scenario.zonedata]
    for name, recs in scenario.zonedata.items():
        n = name.lower().rstrip(".")
        ans = answers(recs)
        real = {q: v for q, v in ans.items() if v != "TIMEOUT"}
        has_timeout = any(e == "TIMEOUT" for e in entries(recs)) or len(real) < len(ans)
        for q, vals in real.items():
            for v in vals:
                if q == "MX":
                    rows.append((n + ".", "MX", (v[0], v[1] or ".")))
                elif q == "TXT":
                    rows.append((n + ".", "TXT", list(v)))
                else:
                    rows.append((n + ".", q, v))
        for e in entries(recs):
            if e != "TIMEOUT" and e[0] == "SPF":
                rows.append((n + ".", "SPF", list(e[1])))
        if has_timeout and not real:
            if any(o != n and o.endswith("." + n) for o in names):
                notes.append(f"{n}: TIMEOUT not served (names below it)")
            else:
                timeouts.append(n)
    return {".": rows}, timeouts, notes
