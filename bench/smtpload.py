"""SMTP load for the daemon benches (bench/quarantine.py, bench/dmarc_ingest.py): `threads`
persistent Python SMTP connections from 127.0.0.10..17 send messages 0..total-1 as fast as the
daemon answers 250, until total or `budget` seconds. make(k) is called once per client k and
returns a function i -> (sender, [recipients], message bytes) for message i. A failed
transaction is counted (the first error kept) and the client reconnects."""

import smtplib
import sys
import threading
import time


class SmtpLoad:
    def __init__(self, port, total, budget, threads, make, helo="bench.client.test"):
        self.port, self.total, self.threads, self.make, self.helo = port, total, threads, make, helo
        self.deadline = time.monotonic() + budget
        self.lock = threading.Lock()
        self.next = 0
        self.ok = self.failed = 0
        self.first_error = ""

    def take(self):
        with self.lock:
            if self.next >= self.total or time.monotonic() >= self.deadline:
                return None
            self.next += 1
            return self.next - 1

    def worker(self, k):
        msg_of = self.make(k)
        s = None
        while (i := self.take()) is not None:
            sender, rcpts, data = msg_of(i)
            try:
                if s is None:
                    s = smtplib.SMTP("127.0.0.1", self.port, timeout=60,
                                     source_address=(f"127.0.0.{10 + k % 8}", 0))
                    s.ehlo(self.helo)
                s.sendmail(sender, rcpts, data)
                with self.lock:
                    self.ok += 1
            except (smtplib.SMTPException, OSError) as e:
                with self.lock:
                    self.failed += 1
                    self.first_error = self.first_error or f"{type(e).__name__}: {e}"
                try:
                    s.close()
                except Exception:
                    pass
                s = None
        if s is not None:
            try:
                s.quit()
            except Exception:
                pass

    def run(self, progress=None):
        """Runs the clients; returns the seconds taken. progress: a label to print the count
        every 15 s under (stderr), or None."""
        ts = [threading.Thread(target=self.worker, args=(k,)) for k in range(self.threads)]
        t0 = last = time.monotonic()
        for t in ts:
            t.start()
        while any(t.is_alive() for t in ts):
            time.sleep(0.5)
            if progress and time.monotonic() - last >= 15:
                last = time.monotonic()
                print(f"  {progress}: {self.ok} stored, {self.failed} failed, "
                      f"{self.ok / (last - t0):.0f} msg/s", file=sys.stderr, flush=True)
        for t in ts:
            t.join()
        return time.monotonic() - t0
