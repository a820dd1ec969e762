#!/usr/bin/env bash
# Golden tests: each tests/golden/<group>/<name>.in is fed to the tool its group names (see
# tests/golden/<group>/cmd: a command line; {in} is replaced by the input path, {dir} by the group
# dir), and the output must equal <name>.ref byte for byte. Prints ok/FAIL lines per case.
# UPDATE_GOLDEN=1 rewrites the .ref files (review the diff before committing).
set -u
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
export BUILD
for cmdf in tests/golden/*/cmd; do
	[ -f "$cmdf" ] || continue
	dir=$(dirname "$cmdf"); group=$(basename "$dir")
	for in in "$dir"/*.in; do
		[ -e "$in" ] || continue
		name=$(basename "$in" .in); ref="$dir/$name.ref"
		cmd=$(sed -e "s|{in}|$in|g" -e "s|{dir}|$dir|g" -e "s|{build}|$BUILD|g" "$cmdf")
		out=$(bash -c "$cmd" 2>&1)
		if [ "${UPDATE_GOLDEN:-0}" = 1 ]; then printf '%s\n' "$out" > "$ref"; fi
		if [ -f "$ref" ] && diff -u "$ref" <(printf '%s\n' "$out") > /tmp/golden.diff.$$; then
			echo "ok golden $group/$name"
		else
			echo "FAIL golden $group/$name: output differs from $ref"
			head -20 /tmp/golden.diff.$$ | sed 's/^/    /'
		fi
		rm -f /tmp/golden.diff.$$
	done
done
