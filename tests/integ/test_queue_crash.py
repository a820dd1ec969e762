"""kill -9 during load (the durability headline test, DESIGN.md §3).

Five rounds. In each, several client threads send 2,000 uniquely tokenised messages to a running
MailGuard that relays to a Sink; at a different point of the load each round, every MailGuard
process gets SIGKILL. The daemon is restarted, the messages not yet tried are sent, and the queue
drains. Each message is classified by what its client saw:

  accepted     250 after DATA                       must arrive (duplicates allowed, counted)
  in flight    DATA fully sent, no reply (the kill)  may arrive or not
  refused      any other reply (4xx/5xx)             must never arrive
  unfinished   the connection died before the end   must never arrive
               of DATA was sent (or before DATA)

Run with -v to see the per-round totals.
"""

import random
import threading
import time

import mgtest
from mgtest import MailGuard, wait_for
from test_queue_lib import (SmtpConn, Tx, TrackingSink, sink_tokens, token_message, wait_tokens,
    wait_queue_empty, spool_area)

ROUNDS = 5
PER_ROUND = 2000
THREADS = 8
PER_CONN = 10               # messages per client connection before a new one
KILL_AT = (0.12, 0.31, 0.50, 0.69, 0.88)   # share of the round's messages acknowledged at the kill


class Load:
    """Client threads sharing one work list; stop() ends the current phase."""

    def __init__(self, round_no, n):
        self.txs = [Tx(f"k{round_no}-{i}-{random.randrange(1 << 30):x}") for i in range(n)]
        self.next = 0
        self.lock = threading.Lock()
        self.accepted = 0
        self.stopping = threading.Event()
        self.killed = threading.Event()     # set just before the SIGKILL: failures expected
        self.unexpected = []        # failures while the daemon was supposed to be up

    def take(self):
        with self.lock:
            if self.next >= len(self.txs) or self.stopping.is_set():
                return None
            tx = self.txs[self.next]
            self.next += 1
            return tx

    def worker(self, port, rng):
        conn = None
        sent_on_conn = 0
        while not self.stopping.is_set():
            tx = self.take()
            if tx is None:
                break
            size = rng.choice((600, 2000, 8000, 30000))
            data = token_message(tx.token, "load@client.test", ["user@example.test"], size=size)
            try:
                if conn is None:
                    conn = SmtpConn(port, timeout=30)
                    sent_on_conn = 0
                conn.send_message(tx, "load@client.test", ["user@example.test"], data,
                    split=rng.randrange(1, len(data)))
                sent_on_conn += 1
                if tx.final == 250:
                    with self.lock:
                        self.accepted += 1
                elif not self.killed.is_set():
                    self.unexpected.append(f"{tx}: {tx.replies}")
                if sent_on_conn >= PER_CONN:
                    conn.close()
                    conn = None
            except (OSError, ConnectionError) as e:
                tx.error = f"{type(e).__name__}: {e}"
                if not self.killed.is_set():
                    self.unexpected.append(f"{tx}")
                if conn is not None:
                    conn.sock.close()
                conn = None
                if self.killed.is_set():
                    break           # the daemon is gone: end this phase
        if conn is not None:
            try:
                conn.close()
            except OSError:
                pass

    def run_phase(self, port, seed):
        threads = [threading.Thread(target=self.worker, args=(port, random.Random(seed + k)),
            daemon=True) for k in range(THREADS)]
        for t in threads:
            t.start()
        return threads


def classify(tx):
    if tx.final == 250:
        return "accepted"
    if tx.final is not None:
        return "refused"
    if tx.data_sent:
        return "in_flight"
    return "unfinished"


@mgtest.timeout(240)
def test_kill9_during_load_loses_no_acknowledged_message():
    sink = TrackingSink()
    mg = MailGuard(config={"retry_min": "1s", "retry_max": "2s"},
        domains={"example.test": {"transport": sink.transport}}).start()
    rng = random.Random(20261125)
    totals = []
    for rnd in range(ROUNDS):
        t0 = time.monotonic()
        load = Load(rnd, PER_ROUND)
        target = int(PER_ROUND * KILL_AT[rnd]) + rng.randrange(-50, 50)
        threads = load.run_phase(mg.port, rnd * 1000)
        wait_for(lambda: load.accepted >= target or not any(t.is_alive() for t in threads),
            60, f"round {rnd}: {target} acknowledged messages before the kill")
        assert load.accepted >= target, f"round {rnd}: load ended at {load.accepted} acks"
        assert not load.unexpected, f"round {rnd}: failures before the kill: {load.unexpected[:5]}"
        # kill while the clients keep sending, so transactions are cut at every stage
        load.killed.set()
        mg.kill9()
        load.stopping.set()
        killed_at = load.accepted
        for t in threads:
            t.join(30)
            assert not t.is_alive(), "a client thread hung after the kill"
        mg.start()
        # the rest of the round's messages go to the restarted daemon
        load.stopping.clear()
        load.killed.clear()
        tried = load.next
        threads = load.run_phase(mg.port, rnd * 1000 + 500)
        for t in threads:
            t.join(120)
            assert not t.is_alive(), "a client thread hung after the restart"
        assert not load.unexpected, f"round {rnd}: failures after the restart: {load.unexpected[:5]}"
        classes = {}
        for tx in load.txs:
            classes.setdefault(classify(tx), []).append(tx)
        acked = [tx.token for tx in classes.get("accepted", [])]
        wait_tokens(sink, acked, 90, f"round {rnd}: every acknowledged message at the sink")
        wait_queue_empty(mg, 60)
        got = sink_tokens(sink)
        mine = {t: v for t, v in got.items() if t.startswith(f"k{rnd}-")}
        lost = [t for t in acked if t not in mine]
        dups = sum(len(v) - 1 for v in mine.values() if len(v) > 1)
        in_flight = classes.get("in_flight", [])
        in_flight_arrived = sum(1 for tx in in_flight if tx.token in mine)
        forbidden = [tx for c in ("refused", "unfinished") for tx in classes.get(c, [])
            if tx.token in mine]
        row = {"round": rnd, "kill_after_acks": killed_at, "tried_before_kill": tried,
            "accepted": len(acked), "in_flight": len(in_flight),
            "in_flight_arrived": in_flight_arrived,
            "refused": len(classes.get("refused", [])),
            "unfinished": len(classes.get("unfinished", [])),
            "delivered_unique": len(mine), "duplicates": dups, "lost": len(lost),
            "seconds": round(time.monotonic() - t0, 1)}
        totals.append(row)
        print(" ".join(f"{k}={v}" for k, v in row.items()), flush=True)
        assert not lost, f"round {rnd}: {len(lost)} acknowledged message(s) lost, e.g. {lost[:5]}"
        assert not forbidden, f"round {rnd}: messages that never got 250 (and were not in " \
            f"flight) arrived: {forbidden[:5]}"
        unexplained = set(mine) - {tx.token for tx in load.txs}
        assert not unexplained, f"round {rnd}: unknown tokens arrived: {sorted(unexplained)[:5]}"
        assert len(acked) + len(in_flight) + row["refused"] + row["unfinished"] == PER_ROUND
        assert spool_area(mg, "corrupt") == [], f"corrupt/: {spool_area(mg, 'corrupt')}"
        assert spool_area(mg, "incoming") == [], f"incoming/ after draining: {spool_area(mg, 'incoming')}"
    print("totals: " + " ".join(f"{k}={sum(r[k] for r in totals)}" for k in
        ("accepted", "in_flight", "in_flight_arrived", "refused", "unfinished", "duplicates",
         "lost")), flush=True)
