#!/usr/bin/env bash
# One config golden case. <name>.in is a configuration directory (mailguard.conf, domains.d/,
# lists/). It is copied to a temporary directory, because git keeps neither file modes nor empty
# directories: there *.key files are made mode 600, and the case's optional setup.sh runs (and
# is removed) to set modes or write files that cannot be checked in. Then
# "config-dump print DIR" runs; the output has the temporary path replaced by CONFDIR and the
# system host name by a placeholder, and ends with the exit status.
set -u
in=$1
build=$2
tool=$build/tests/tools/config-dump
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/conf"
cp -r "$in/." "$tmp/conf/"
find "$tmp/conf" -name '*.key' -exec chmod 600 {} +
if [ -f "$tmp/conf/setup.sh" ]; then
	(cd "$tmp/conf" && bash ./setup.sh) || echo "setup.sh failed"
	rm -f "$tmp/conf/setup.sh"
fi
real=$(cd "$tmp" && pwd -P)
"$tool" print "$tmp/conf" 2>&1 | sed -e "s|$real/conf|CONFDIR|g" -e "s|$tmp/conf|CONFDIR|g" \
	-e 's|^hostname = [^ ]* *# default$|hostname = (system host name)         # default|'
echo "exit ${PIPESTATUS[0]}"
