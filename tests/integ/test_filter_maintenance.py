"""The filter role's maintenance timer (filter/filter.c, `filter_maintenance_interval`): on a pool
thread it sweeps expired greylist triplets and checkpoints the Berkeley DB environment (which
removes log files no longer needed; tests/unit/lib/test_kvdb.c test_log_bounded shows that
checkpoints keep the log bounded under a write load).

test_expired_triplets_swept: with greylist_retry_window = 5s and maintenance every second, a
triplet that was greylisted and never retried is removed by a sweep (the log line counts it),
while a triplet that passed (its retry came at once: greylist_delay = 0) survives every sweep and
keeps passing; every run reports checkpoint=ok and the environment keeps at most two log files.
"""

import re

from test_filter_e2e import DOMAIN, GOOD_IP, GREY_IP, setup, text, transaction


def test_expired_triplets_swept():
    mg, sink, _ = setup({"greylist": -20, "spam_quarantine": 50, "spam_reject": 60},
        config={"greylist_delay": "0s", "greylist_retry_window": "5s",
                "filter_maintenance_interval": "1s"})
    mg.wait_log(r"filter: .*maintenance every 1s")
    # triplet A passes: first attempt greylisted, the immediate retry passes (delay 0)
    _, final = transaction(mg, GOOD_IP, mail_from="a@sender.test")
    assert final.code == 451, f"A first: got {final.code} {text(final)}, want 451"
    _, final = transaction(mg, GOOD_IP, mail_from="a@sender.test")
    assert final.code == 250, f"A retry: got {final.code} {text(final)}, want 250"
    # triplet B is greylisted and never retried: it expires after the 5 s retry window
    _, final = transaction(mg, GREY_IP, mail_from="b@sender.test")
    assert final.code == 451 and "4.7.1" in text(final), f"B: got {final.code} {text(final)}"
    since = mg.log_path.stat().st_size
    mg.wait_log(r"filter: maintenance: greylist removed=1 pass=complete checkpoint=ok",
        timeout=30, since=since)
    # A is still known and passing: no new greylisting
    _, final = transaction(mg, GOOD_IP, mail_from="a@sender.test")
    assert final.code == 250, f"A after sweep: got {final.code} {text(final)}, want 250"
    mg.wait_log(r"filter action=deliver .*detail=greylist=pass")
    runs = re.findall(r"filter: maintenance: greylist removed=(\d+) pass=(\w+) checkpoint=(\w+)",
        mg.log_text())
    assert runs and all(c == "ok" for _, _, c in runs), f"got runs {runs}"
    assert sum(int(n) for n, _, _ in runs) == 1, f"removed {runs}, want exactly B's triplet"
    logs = sorted(p.name for p in (mg.state_dir / "db").glob("log.*"))
    assert 1 <= len(logs) <= 2, f"got DB log files {logs}"
    sink.wait_count(2, timeout=30)
