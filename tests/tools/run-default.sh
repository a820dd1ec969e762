#!/usr/bin/env bash
# `make run`: a default MailGuard on 127.0.0.1:2525 in ./run/, relaying the protected domain
# example.test to a loopback back-end (tests/tools/backend-sink.py on 127.0.0.1:2526) that stores
# each message as a .eml file under run/backend/.
#   tests/tools/run-default.sh [start]   write run/etc/ if absent, start both (idempotent)
#   tests/tools/run-default.sh stop      stop both (PIDs in run/*.pid)
#   tests/tools/run-default.sh status    show what runs
# The configuration is written only when run/etc/mailguard.conf does not exist: edit it freely,
# or delete run/ for a fresh start. BUILD (default build) names the build directory.
# The admin console listens on https://127.0.0.1:8443/ (self-signed certificate); when it has no
# administrator yet, user "admin" is created with a random password saved in run/admin-password.
set -euo pipefail
cd "$(dirname "$0")/../.."
REPO=$PWD
RUN=$REPO/run
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$REPO/$BUILD ;; esac
MG=$BUILD/bin/mailguard
MGCTL=$BUILD/bin/mailguardctl
PY=/usr/bin/python3
MG_PORT=2525
BACKEND_PORT=2526

# pid_alive FILE PATTERN: true if FILE names a live process whose command line contains PATTERN
# (so a stale PID reused by another program is never mistaken for ours).
pid_alive() {
	local pid
	[ -f "$1" ] || return 1
	pid=$(cat "$1" 2>/dev/null) || return 1
	[[ $pid =~ ^[0-9]+$ ]] || return 1
	[ -r "/proc/$pid/cmdline" ] || return 1
	grep -qa -- "$2" "/proc/$pid/cmdline" || return 1
	[ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" != Z ]
}

# stop_pid FILE PATTERN NAME: SIGTERM, wait up to 15 s, then SIGKILL; removes FILE.
stop_pid() {
	local pid i
	if pid_alive "$1" "$2"; then
		pid=$(cat "$1")
		kill -TERM "$pid" 2>/dev/null || true
		for i in $(seq 1 150); do
			pid_alive "$1" "$2" || break
			sleep 0.1
		done
		if pid_alive "$1" "$2"; then
			echo "run: $3 (pid $pid) did not stop within 15 s; sending SIGKILL"
			kill -KILL "$pid" 2>/dev/null || true
		fi
		echo "run: stopped $3 (pid $pid)"
	fi
	rm -f "$1"
}

# spawn PIDFILE LOG CMD...: start CMD detached (own session, output appended to LOG) and record
# its PID; the shell writes its own PID and then execs CMD, so the file holds CMD's PID.
spawn() {
	local pidfile=$1 log=$2
	shift 2
	rm -f "$pidfile"
	setsid sh -c 'echo $$ > "$0"; exec "$@"' "$pidfile" "$@" </dev/null >>"$log" 2>&1 &
	for _ in $(seq 1 50); do
		[ -s "$pidfile" ] && return 0
		sleep 0.02
	done
	echo "run: could not start $1" >&2
	return 1
}

port_busy() {
	(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

write_config() {
	[ -f "$RUN/etc/mailguard.conf" ] && return 0
	mkdir -p "$RUN/etc/domains.d" "$RUN/etc/lists" "$RUN/backend"
	cat > "$RUN/etc/mailguard.conf.tmp" <<-EOF
	config_version = 1
	# Written by tests/tools/run-default.sh (make run); edit freely, or delete run/ to regenerate.
	# Every setting and its default: $MG -P -c run/etc
	hostname = mx.test.local
	listen = 127.0.0.1:$MG_PORT
	spool_dir = ../spool
	state_dir = ../state
	mynetworks = 127.0.0.0/8 ::1/128
	log_level = info
	EOF
	cat > "$RUN/etc/domains.d/example.test.conf" <<-EOF
	# Protected domain example.test: accepted mail is relayed to the loopback back-end.
	transport = [127.0.0.1]:$BACKEND_PORT
	EOF
	mv "$RUN/etc/mailguard.conf.tmp" "$RUN/etc/mailguard.conf"
	echo "run: wrote a default configuration in run/etc/"
}

# ensure_admin: the console's first administrator (mailguardctl admin writes the users file
# directly, so this works before the daemon runs; the console reads it at the next login).
ensure_admin() {
	local users pw
	if ! users=$("$MGCTL" -c "$RUN/etc" admin list); then
		echo "run: cannot read the console's administrators (see above)" >&2
		return 1
	fi
	[ -n "$users" ] && return 0
	pw=$("$PY" -c 'import secrets, string
print("".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(20)))')
	(umask 077 && printf '%s\n' "$pw" > "$RUN/admin-password")
	chmod 600 "$RUN/admin-password"
	printf '%s\n' "$pw" | "$MGCTL" -c "$RUN/etc" admin add admin --password-stdin >/dev/null
	echo "run: created console user \"admin\"; its password is in run/admin-password"
}

start() {
	if ! "$PY" -c 'import aiosmtpd' 2>/dev/null || ! command -v swaks >/dev/null; then
		echo "run: installing missing packages (tests/tools/setup-deps.sh)"
		tests/tools/setup-deps.sh
	fi
	if [ ! -x "$MG" ]; then
		echo "run: $MG not found: build first (make)" >&2
		exit 1
	fi
	write_config
	mkdir -p "$RUN/backend"
	ensure_admin

	if pid_alive "$RUN/backend.pid" backend-sink.py; then
		echo "run: back-end already running (pid $(cat "$RUN/backend.pid"))"
	else
		if port_busy "$BACKEND_PORT"; then
			echo "run: 127.0.0.1:$BACKEND_PORT is in use by another program; stop it first" >&2
			exit 1
		fi
		spawn "$RUN/backend.pid" "$RUN/backend.log" "$PY" tests/tools/backend-sink.py \
			--listen "127.0.0.1:$BACKEND_PORT" --dir "$RUN/backend"
		for _ in $(seq 1 100); do
			port_busy "$BACKEND_PORT" && break
			pid_alive "$RUN/backend.pid" backend-sink.py || break
			sleep 0.1
		done
		if ! port_busy "$BACKEND_PORT"; then
			echo "run: the back-end did not start; run/backend.log says:" >&2
			tail -5 "$RUN/backend.log" >&2
			stop_pid "$RUN/backend.pid" backend-sink.py back-end
			exit 1
		fi
		echo "run: back-end listening on 127.0.0.1:$BACKEND_PORT (pid $(cat "$RUN/backend.pid"))"
	fi

	if pid_alive "$RUN/mailguard.pid" mailguard; then
		echo "run: mailguard already running (pid $(cat "$RUN/mailguard.pid"))"
	else
		if port_busy "$MG_PORT"; then
			echo "run: 127.0.0.1:$MG_PORT is in use by another program; stop it first" >&2
			exit 1
		fi
		if ! "$MG" -n -c "$RUN/etc" 2>"$RUN/config-check.err"; then
			echo "run: the configuration in run/etc/ is invalid:" >&2
			cat "$RUN/config-check.err" >&2
			exit 1
		fi
		rm -f "$RUN/config-check.err" "$RUN/state/listeners"
		local start_size
		start_size=$(stat -c %s "$RUN/mailguard.log" 2>/dev/null || echo 0)
		spawn "$RUN/mailguard.pid" "$RUN/mailguard.log" "$MG" -c "$RUN/etc" -d
		local ready=""
		for _ in $(seq 1 300); do
			if tail -c +"$((start_size + 1))" "$RUN/mailguard.log" | grep -q 'mailguard ready' &&
				[ -s "$RUN/state/listeners" ]; then
				ready=1
				break
			fi
			pid_alive "$RUN/mailguard.pid" mailguard || break
			sleep 0.1
		done
		if [ -z "$ready" ]; then
			echo "run: mailguard did not become ready; run/mailguard.log says:" >&2
			tail -c +"$((start_size + 1))" "$RUN/mailguard.log" | tail -15 >&2
			stop_pid "$RUN/mailguard.pid" mailguard mailguard
			exit 1
		fi
		echo "run: mailguard ready (pid $(cat "$RUN/mailguard.pid")), listening on" \
			"$(awk '$1 == "smtp" {printf "%s:%s ", $2, $3}' "$RUN/state/listeners")"
	fi
	cat <<-EOF

	Send a test message:
	  swaks --server 127.0.0.1:$MG_PORT --from you@example.org --to user@example.test
	Delivered mail lands in:   run/backend/*.eml   (back-end log: run/backend.log)
	MailGuard log:             run/mailguard.log   (configuration: run/etc/)
	Queue:                     ${MG%/mailguard}/mailguardctl -c run/etc queue list
	Admin console:             https://127.0.0.1:8443/  (user admin, password in run/admin-password;
	                           more admins: ${MG%/mailguard}/mailguardctl -c run/etc admin add USER)
	Stop both:                 tests/tools/run-default.sh stop
	EOF
}

status() {
	local rc=0
	if pid_alive "$RUN/mailguard.pid" mailguard; then
		echo "mailguard: running (pid $(cat "$RUN/mailguard.pid"))"
	else
		echo "mailguard: not running"; rc=1
	fi
	if pid_alive "$RUN/backend.pid" backend-sink.py; then
		echo "back-end:  running (pid $(cat "$RUN/backend.pid")), $(find "$RUN/backend" -name '*.eml' | wc -l) message(s) in run/backend/"
	else
		echo "back-end:  not running"; rc=1
	fi
	return $rc
}

case ${1:-start} in
start) start ;;
stop)
	stop_pid "$RUN/mailguard.pid" mailguard mailguard
	stop_pid "$RUN/backend.pid" backend-sink.py back-end
	;;
restart)
	"$0" stop
	"$0" start
	;;
status) status ;;
*)
	echo "usage: $0 [start|stop|restart|status]" >&2
	exit 2
	;;
esac
