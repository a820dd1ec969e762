#!/usr/bin/env bash
# `make bench`: MailGuard against a private Postfix instance on this machine, both relaying to
# Postfix's smtp-sink on loopback, driven by smtp-source. Prints a table of ratios and writes
# bench/results-<UTC date-time>.txt. See bench/README.md for the method and the knobs:
#   BENCH_MESSAGES=2000 make bench          quick run (default 20000 messages per run)
#   BENCH_PROFILES=2k-10 BENCH_TARGETS=postfix bench/run-bench.sh
# Bounded: the driver keeps to BENCH_BUDGET (default 1440 s) and this wrapper kills it (after
# letting it clean up) at BENCH_BUDGET + 60 s. Everything listens on 127.0.0.1 only.
set -euo pipefail
cd "$(dirname "$0")/.."
export BUILD=${BUILD:-build}
export BENCH_BUDGET=${BENCH_BUDGET:-1440}
PY=/usr/bin/python3

missing=""
for tool in smtp-source smtp-sink postfix postconf; do
	command -v "$tool" >/dev/null 2>&1 || [ -x "/usr/sbin/$tool" ] || missing="$missing $tool"
done
[ -x "$PY" ] || missing="$missing $PY"
if [ -n "$missing" ]; then
	echo "bench: missing:$missing (run tests/tools/setup-deps.sh)" >&2
	exit 1
fi
export PATH="$PATH:/usr/sbin:/sbin"
if [ "$(id -u)" -ne 0 ]; then
	echo "bench: not root: the private Postfix instance cannot run; measuring MailGuard only" >&2
	export BENCH_TARGETS=${BENCH_TARGETS:-mailguard}
fi
exec timeout --signal=TERM --kill-after=30 "$((BENCH_BUDGET + 60))" "$PY" bench/bench.py "$@"
