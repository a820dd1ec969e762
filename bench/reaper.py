#!/usr/bin/python3
"""Run a daemon as a child subreaper so that the CPU time of ALL its processes is accounted.

  reaper.py STATUS_FILE MAX_SECONDS -- command [args...]

Sets PR_SET_CHILD_SUBREAPER, starts the command, and reaps every descendant until none is left:
processes the daemon detaches (postfix start) or orphans (Postfix master exits without waiting
for its children) are re-parented here instead of to init, so getrusage(RUSAGE_CHILDREN) at the
end is the total user+system CPU of the whole process tree. Writes STATUS_FILE.pid (the direct
child's PID) at once and STATUS_FILE (JSON: utime, stime, status of the direct child) at the end.
SIGTERM/SIGINT are forwarded to the direct child. After MAX_SECONDS every descendant is SIGKILLed,
so a crashed driver can never leave a daemon running for long.
"""

import ctypes
import json
import os
import resource
import signal
import subprocess
import sys

PR_SET_CHILD_SUBREAPER = 36


def read_stats():
    """{pid: (ppid, utime+stime, cutime+cstime, rss_pages)} for every process."""
    out = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                s = f.read()
        except OSError:
            continue
        r = s[s.rindex(b")") + 2:].split()
        out[int(name)] = (int(r[1]), int(r[11]) + int(r[12]), int(r[13]) + int(r[14]), int(r[21]))
    return out


def descendants(root):
    children = {}
    for pid, st in read_stats().items():
        children.setdefault(st[0], []).append(pid)
    out, todo = [], list(children.get(root, []))
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def main():
    if len(sys.argv) < 5 or sys.argv[3] != "--":
        print("usage: reaper.py STATUS_FILE MAX_SECONDS -- command [args...]", file=sys.stderr)
        return 2
    status_file, max_seconds, cmd = sys.argv[1], int(sys.argv[2]), sys.argv[4:]
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        print(f"reaper: prctl(PR_SET_CHILD_SUBREAPER): errno {ctypes.get_errno()}", file=sys.stderr)
        return 1
    child = subprocess.Popen(cmd)
    with open(status_file + ".pid.tmp", "w") as f:
        f.write(f"{child.pid}\n")
    os.replace(status_file + ".pid.tmp", status_file + ".pid")

    def forward(signum, frame):
        try:
            os.kill(child.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass

    def expire(signum, frame):
        print(f"reaper: {max_seconds}s limit reached, killing {cmd[0]} and its processes",
            file=sys.stderr)
        for p in descendants(os.getpid()):
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    signal.signal(signal.SIGALRM, expire)
    signal.alarm(max_seconds)
    child_status = None
    while True:
        try:
            pid, st = os.wait()
        except ChildProcessError:
            break
        if pid == child.pid:
            child_status = os.waitstatus_to_exitcode(st)
            child.returncode = child_status
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    with open(status_file + ".tmp", "w") as f:
        json.dump({"utime": ru.ru_utime, "stime": ru.ru_stime, "status": child_status}, f)
    os.replace(status_file + ".tmp", status_file)
    return 0


if __name__ == "__main__":
    sys.exit(main())
