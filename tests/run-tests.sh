#!/usr/bin/env bash
# Runs the named test groups (unit golden integ fuzz) and prints one closing line:
#   N passed, N failed[, N skipped]
# Every group reports per-case lines "ok ...", "FAIL ...", "skip ..."; this script counts them.
# BUILD (default build) names the object dir; FUZZ_BUILD the fuzz dir.
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
FUZZ_BUILD=${FUZZ_BUILD:-build-fuzz}
export BUILD FUZZ_BUILD
LOG=${TEST_LOG:-$BUILD/test-output.log}
mkdir -p "$(dirname "$LOG")"
: > "$LOG"
PY=/usr/bin/python3

run_group() {
	case "$1" in
	unit)
		for t in $(find "$BUILD/tests/unit" -type f -name 'test_*' -perm -u+x 2>/dev/null | sort); do
			timeout 300 "$t" 2>>"$LOG.stderr" || echo "FAIL $(basename "$t") (exit status $?)"
		done
		tests/tools/check-style.sh ;;
	golden)
		tests/golden/run-golden.sh ;;
	integ)
		$PY tests/integ/run.py ;;
	fuzz)
		FUZZ_SECONDS=${FUZZ_SECONDS:-10} tests/tools/run-fuzz.sh ;;
	esac
}

for g in "$@"; do
	echo "== $g"
	run_group "$g" 2>&1 | tee -a "$LOG"
done
pass=$(grep -c '^ok ' "$LOG")
fail=$(grep -c '^FAIL ' "$LOG")
skip=$(grep -c '^skip ' "$LOG")
if [ "$fail" -gt 0 ]; then
	echo "== failures:"
	grep '^FAIL ' "$LOG"
fi
echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ] && [ "$pass" -gt 0 ]
