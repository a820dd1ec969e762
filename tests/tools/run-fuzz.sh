#!/usr/bin/env bash
# Runs every built libFuzzer target for FUZZ_SECONDS seconds (default 10) on its seed corpus
# (tests/fuzz/corpus/<target>/, copied so seeds stay unchanged). Prints ok/FAIL per target.
set -u
cd "$(dirname "$0")/../.."
FUZZ_BUILD=${FUZZ_BUILD:-build-fuzz}
SECS=${FUZZ_SECONDS:-10}
for bin in "$FUZZ_BUILD"/fuzz/fuzz_*; do
	[ -x "$bin" ] || continue
	n=$(basename "$bin")
	work=$(mktemp -d)
	[ -d "tests/fuzz/corpus/$n" ] && cp -r "tests/fuzz/corpus/$n/." "$work/"
	if timeout $((SECS + 60)) "$bin" -max_total_time="$SECS" -rss_limit_mb=2048 -timeout=10 \
		-artifact_prefix="$work/" "$work" > "$work/log" 2>&1; then
		echo "ok fuzz $n ($(grep -o 'Done [0-9]* runs' "$work/log" | tail -1))"
		rm -rf "$work"
	else
		echo "FAIL fuzz $n: crash or timeout, log and artifacts in $work"
		grep -E 'ERROR|SUMMARY' "$work/log" | head -5 | sed 's/^/    /'
	fi
done
