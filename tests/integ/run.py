#!/usr/bin/python3
"""Integration-test runner: tests/integ/test_*.py, every top-level function named test_*.

Each test runs in a forked child (fresh state, own process group, own temporary directory) with a
timeout (default 120 s; @mgtest.timeout(s) or a module-level TIMEOUT overrides it). Output lines,
counted by tests/run-tests.sh:
  ok integ <file>::<name> (1.2s)
  FAIL integ <file>::<name>: <last line of the exception>   + indented traceback, output, logs
  skip integ <file>::<name>: <reason>                        (the test raised mgtest.Skip)
Options: -k SUBSTRING (match file::name), -x (stop at first failure), --list, --timeout S,
--keep (keep temporary directories of failed tests), paths of test files to run instead of all.
Always exits 0 (except on bad usage). Run with Debian's /usr/bin/python3.
"""

import argparse
import importlib.util
import inspect
import json
import os
import select
import shutil
import signal
import sys
import tempfile
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
os.environ["MGTEST_RUNNER"] = "1"
sys.path.insert(0, str(HERE))
import mgtest  # noqa: E402

CLEANUP_GRACE = int(os.environ.get("MGTEST_CLEANUP_GRACE", 45))   # after the timeout, to clean up
OUTPUT_LINES = 200          # captured test output shown with a failure (tail)


def indent(text, prefix="    "):
    return "\n".join(prefix + line for line in text.rstrip("\n").splitlines())


def one_line(exc):
    """'Type: message' on one line (the first line of a multi-line message)."""
    text = "".join(traceback.format_exception_only(type(exc), exc)).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def discover(paths):
    files = [Path(p).resolve() for p in paths] if paths else sorted(HERE.glob("test_*.py"))
    suites = []
    for f in files:
        mod_name = f"integ_{f.stem}"
        try:
            spec = importlib.util.spec_from_file_location(mod_name, f)
            mod = importlib.util.module_from_spec(spec)
            sys.modules[mod_name] = mod
            spec.loader.exec_module(mod)
        except BaseException as e:      # a broken test file is one failure, not a crash
            suites.append((f, None, e))
            continue
        tests = [(n, fn) for n, fn in vars(mod).items()
            if n.startswith("test_") and inspect.isfunction(fn) and fn.__module__ == mod_name]
        tests.sort(key=lambda t: t[1].__code__.co_firstlineno)
        suites.append((f, mod, tests))
    return suites


def child_main(fn, timeout, tmp, wfd, out_fd):
    """In the forked child: run fn, clean up, write a JSON result to wfd, _exit."""
    os.setpgid(0, 0)
    os.dup2(out_fd, 1)
    os.dup2(out_fd, 2)
    mgtest.configure(tmp_root=tmp, report_fd=wfd)
    os.environ["MGTEST_TMP"] = tmp
    result = {"status": "ok"}

    def on_alarm(signum, frame):
        raise TimeoutError(f"test timed out after {timeout:g}s")

    signal.signal(signal.SIGALRM, on_alarm)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    try:
        signal.alarm(max(1, int(round(timeout))))
        try:
            fn()
        finally:
            signal.alarm(0)
    except mgtest.Skip as e:
        result = {"status": "skip", "msg": str(e) or "skipped"}
    except BaseException as e:
        tb = "".join(traceback.format_exception(type(e), e, e.__traceback__))
        result = {"status": "FAIL", "msg": one_line(e), "tb": tb,
            "logs": safe(lambda: mgtest.failure_context(skip_if_in=tb))}
    # Cleanup gets its own deadline; its errors fail an otherwise passing test.
    signal.alarm(CLEANUP_GRACE - 5)
    try:
        errors = mgtest.cleanup_all()
    except BaseException as e:
        errors = [f"cleanup interrupted: {one_line(e)}"]
    signal.alarm(0)
    if errors:
        msg = "cleanup: " + errors[0].splitlines()[0]
        detail = "\n".join(errors)
        if result["status"] == "FAIL":
            result["tb"] += "\nDuring cleanup:\n" + detail
        else:
            result = {"status": "FAIL", "msg": msg, "tb": detail}
    sys.stdout.flush()
    sys.stderr.flush()
    os.write(wfd, ("result " + json.dumps(result) + "\n").encode())
    os._exit(0)


def safe(fn):
    try:
        return fn()
    except Exception as e:
        return f"(could not collect: {e})"


def kill_group(pgid):
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def run_one(fn, timeout, keep):
    """Fork, run, collect. Returns the result dict (status, msg, tb, logs, output)."""
    tmp = tempfile.mkdtemp(prefix=f"mgtest-{fn.__name__}-")
    os.chmod(tmp, 0o755)    # a daemon started as root drops to its own user: it must get in
    out = tempfile.TemporaryFile()
    rfd, wfd = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        os.close(rfd)
        try:
            child_main(fn, timeout, tmp, wfd, out.fileno())
        finally:
            os._exit(70)
    os.close(wfd)
    try:
        os.setpgid(pid, pid)        # also done by the child: whichever runs first
    except (PermissionError, ProcessLookupError):
        pass
    data = b""
    hard_deadline = time.monotonic() + timeout + CLEANUP_GRACE
    killed = False
    wstatus = None
    _current["pid"] = pid
    try:
        while True:
            left = hard_deadline - time.monotonic()
            if left <= 0 and not killed:
                kill_group(pid)
                killed = True
                hard_deadline = time.monotonic() + 10
            r, _, _ = select.select([rfd], [], [], 0.2)
            if r:
                chunk = os.read(rfd, 65536)
                data += chunk
                if not chunk:
                    break
            # A process the test forked may hold the pipe open: watch the child itself too.
            wpid, ws = os.waitpid(pid, os.WNOHANG)
            if wpid:
                wstatus = ws
                while select.select([rfd], [], [], 0)[0]:
                    chunk = os.read(rfd, 65536)
                    if not chunk:
                        break
                    data += chunk
                break
            if killed and time.monotonic() > hard_deadline:
                break
        if wstatus is None:
            _, wstatus = os.waitpid(pid, 0)
    finally:
        os.close(rfd)
        _current["pid"] = None
    pgids = {int(l.split()[1]) for l in data.decode(errors="replace").splitlines()
        if l.startswith("pgid ")}
    kill_group(pid)
    for g in pgids:                 # anything a killed test left running
        kill_group(g)
    result = None
    for line in data.decode(errors="replace").splitlines():
        if line.startswith("result "):
            result = json.loads(line[7:])
    if result is None:
        if killed:
            result = {"status": "FAIL", "msg": f"test timed out after {timeout:g}s and did not "
                f"finish cleaning up within {CLEANUP_GRACE}s (killed)", "tb": ""}
        else:
            result = {"status": "FAIL", "msg": f"test process died ({describe(wstatus)}) "
                "without a result", "tb": ""}
    out.seek(0)
    output = out.read().decode("utf-8", "replace")
    out.close()
    if result["status"] == "FAIL" and keep:
        result["tb"] = result.get("tb", "") + f"\n(temporary files kept in {tmp})"
    else:
        shutil.rmtree(tmp, ignore_errors=True)
    result["output"] = output
    return result


_current = {"pid": None}


def describe(wstatus):
    if os.WIFSIGNALED(wstatus):
        return f"signal {os.WTERMSIG(wstatus)}"
    return f"exit status {os.WEXITSTATUS(wstatus)}"


def main():
    ap = argparse.ArgumentParser(description="MailGuard integration tests")
    ap.add_argument("-k", dest="substring", help="run tests whose file::name contains this")
    ap.add_argument("-x", dest="exitfirst", action="store_true", help="stop at first failure")
    ap.add_argument("--list", action="store_true", help="list tests and exit")
    ap.add_argument("--timeout", type=float, default=float(os.environ.get("MGTEST_TIMEOUT", 120)))
    ap.add_argument("--keep", action="store_true", default=bool(os.environ.get("MGTEST_KEEP")),
        help="keep temporary directories of failed tests")
    ap.add_argument("-v", dest="verbose", action="store_true", help="show output of passing tests")
    ap.add_argument("paths", nargs="*", help="test files (default: tests/integ/test_*.py)")
    opts = ap.parse_args()

    counts = {"ok": 0, "FAIL": 0, "skip": 0}
    stop = False
    for f, mod, tests in discover(opts.paths):
        if stop:
            break
        if mod is None:
            name = f"{f.name}::<import>"
            if opts.substring and opts.substring not in name and not opts.list:
                continue
            e = tests
            print(f"FAIL integ {name}: {one_line(e)}", flush=True)
            print(indent("".join(traceback.format_exception(type(e), e, e.__traceback__))),
                flush=True)
            counts["FAIL"] += 1
            if opts.exitfirst:
                break
            continue
        for name, fn in tests:
            full = f"{f.name}::{name}"
            if opts.substring and opts.substring not in full:
                continue
            if opts.list:
                print(full)
                continue
            t = getattr(fn, "timeout", getattr(mod, "TIMEOUT", opts.timeout))
            t0 = time.monotonic()
            res = run_one(fn, float(t), opts.keep)
            dt = time.monotonic() - t0
            st = res["status"]
            counts[st] += 1
            if st == "ok":
                print(f"ok integ {full} ({dt:.1f}s)", flush=True)
                if opts.verbose and res["output"].strip():
                    print(indent(res["output"]), flush=True)
            elif st == "skip":
                print(f"skip integ {full}: {res['msg']}", flush=True)
            else:
                print(f"FAIL integ {full}: {res['msg']}", flush=True)
                parts = [res.get("tb", "") + f"\n(failed after {dt:.1f}s)"]
                if res["output"].strip():
                    tail = res["output"].rstrip("\n").splitlines()[-OUTPUT_LINES:]
                    parts.append("--- test output (tail)\n" + "\n".join(tail))
                if res.get("logs"):
                    parts.append(res["logs"])
                text = "\n".join(p.rstrip("\n") for p in parts if p and p.strip())
                if text:
                    print(indent(text), flush=True)
                if opts.exitfirst:
                    stop = True
                    break
    if not opts.list:
        print(f"# integ: {counts['ok']} passed, {counts['FAIL']} failed, {counts['skip']} skipped",
            flush=True)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        if _current["pid"]:
            kill_group(_current["pid"])
        print("# integ: interrupted", flush=True)
        sys.exit(130)
