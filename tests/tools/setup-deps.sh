#!/usr/bin/env bash
# Installs every Debian package MailGuard needs to build, run and test, on Debian 12.
# Idempotent: packages already installed are skipped; nothing is installed by hand elsewhere.
# Runs as root (or with sudo). Postfix is installed with debconf "No configuration" so that
# nothing system-wide starts: tests and the benchmark use only its smtp-source/smtp-sink and a
# private instance under a temporary directory.
set -euo pipefail

BUILD_PKGS="build-essential pkg-config clang libclang-rt-14-dev libfuzzer-14-dev
 libssl-dev libev-dev libldns-dev libspf2-dev libopendkim-dev libdb-dev libxml2-dev zlib1g-dev
 libhttp-parser-dev libzip-dev libpsl-dev libjansson-dev libargon2-dev publicsuffix
 libcurl4-openssl-dev libidn2-dev"
TEST_PKGS="python3 python3-aiosmtpd swaks postfix openssl procps iproute2 util-linux
 libxml2-utils libnet-ssleay-perl libio-socket-ssl-perl nsd unbound ldnsutils python3-dkim python3-spf python3-yaml psmisc
 curl testssl.sh"

# The unprivileged user every role runs as when MailGuard is started as root.
ensure_user() {
	if ! getent passwd _mailguard >/dev/null; then
		SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
		$SUDO useradd --system --home-dir /nonexistent --no-create-home \
			--shell /usr/sbin/nologin _mailguard
		echo "setup-deps: created system user _mailguard"
	fi
}

# npm packages for tests (pinned in tests/node/package-lock.json): mailauth, an independent DKIM
# verifier that judges the signer's signatures (tests/integ/test_dkim_sign.py). Needs node >= 20.
ensure_node_modules() {
	local dir
	dir="$(cd "$(dirname "$0")/../node" && pwd)"
	if [ -d "$dir/node_modules/mailauth" ]; then
		return 0
	fi
	if ! command -v npm >/dev/null; then
		echo "setup-deps: npm not found: DKIM interoperability tests will skip mailauth" >&2
		return 0
	fi
	(cd "$dir" && npm ci --no-audit --no-fund --loglevel=error) && \
		echo "setup-deps: installed npm test packages in $dir"
}

missing=""
for p in $BUILD_PKGS $TEST_PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"
done
if [ -z "$missing" ]; then
	echo "setup-deps: all packages present"
	ensure_user
	ensure_node_modules
	exit 0
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "setup-deps: installing:$missing"
echo "postfix postfix/main_mailer_type select No configuration" | $SUDO debconf-set-selections
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing
# Debian's postfix package may enable a service; make sure no system instance runs.
if command -v postfix >/dev/null && [ -f /etc/postfix/main.cf ]; then
	$SUDO postfix stop >/dev/null 2>&1 || true
fi
ensure_user
ensure_node_modules
echo "setup-deps: done"
