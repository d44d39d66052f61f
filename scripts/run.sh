#!/usr/bin/env bash
# chatdesk: build and run the whole stack on this machine.
#
#   scripts/run.sh           install missing packages, build in build/, start
#                            redis-server, the chatdesk pool and nginx, create
#                            an admin user, print the web address, the
#                            admin's sign-in (email and password) and token
#   scripts/run.sh stop      stop what a previous run started
#   scripts/run.sh status    show what is running (creates nothing)
#
# Everything lives in a state directory (default var/local/ in the
# repository): the databases, the generated chatdesk.conf and nginx.conf,
# the sockets, the pid files and the logs. Running it again stops the
# previous run first (by the PIDs in the pid files, never by name) and keeps
# the data. Only the package installation needs root (run.sh as root, or
# through sudo when not root); the rest runs as whoever runs this script.
# The system's own nginx and redis services, port 80 and port 6379 are
# never used. Files are created with a umask of 027.
#
# The pool runs under multiwatch behind spawn-fcgi: spawn-fcgi opens the
# socket and starts multiwatch, which forks POOL chatdesk processes and
# replaces any that dies; one that dies within 10 s of its start 3 times
# in a row is not started again (no crash loop; README "The pool heals").
#
# Environment:
#   STATE=DIR   state directory (default: var/local under the repository)
#   PORT=N      nginx listens on 127.0.0.1:N (default 8080)
#   POOL=N      number of chatdesk processes (default 8: the best mixed
#               read/post throughput measured, bench/README.md)
#   BUILD=DIR   build directory (default: build under the repository)
#   RATE=N r/s  nginx's limit per client address (default 50r/s, burst 200)
#   NO_DEPS=1   do not check or install packages
#   NO_BUILD=1  do not configure or build: use the binaries in BUILD as they are
#   CHATDESK_<KEY>=VALUE  sets a key in the generated chatdesk.conf, so that
#               the pool, chatdeskctl and the worker command printed at the
#               end all see it (keys: examples/chatdesk.conf)

# Copyright (c) 2026 The chatdesk authors
#
# Permission to use, copy, modify, and distribute this software for any
# purpose with or without fee is hereby granted, provided that the above
# copyright notice and this permission notice appear in all copies.
#
# THE SOFTWARE IS PROVIDED "AS IS" AND THE AUTHOR DISCLAIMS ALL WARRANTIES
# WITH REGARD TO THIS SOFTWARE INCLUDING ALL IMPLIED WARRANTIES OF
# MERCHANTABILITY AND FITNESS. IN NO EVENT SHALL THE AUTHOR BE LIABLE FOR
# ANY SPECIAL, DIRECT, INDIRECT, OR CONSEQUENTIAL DAMAGES OR ANY DAMAGES
# WHATSOEVER RESULTING FROM LOSS OF USE, DATA OR PROFITS, WHETHER IN AN
# ACTION OF CONTRACT, NEGLIGENCE OR OTHER TORTIOUS ACTION, ARISING OUT OF
# OR IN CONNECTION WITH THE USE OR PERFORMANCE OF THIS SOFTWARE.

set -euo pipefail
umask 027

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
STATE=${STATE:-$REPO/var/local}
PORT=${PORT:-8080}
POOL=${POOL:-8}
BUILD=${BUILD:-$REPO/build}
RATE=${RATE:-50r/s}
PATH=$PATH:/usr/sbin:/sbin

say() { printf 'run.sh: %s\n' "$*"; }
die() {
	printf 'run.sh: %s\n' "$*" >&2
	exit 1
}

usage() {
	awk 'NR == 1 { next } /^#/ { sub(/^# ?/, ""); print; next } { exit }' "${BASH_SOURCE[0]}"
}

# ---------------------------------------------------------------------------
# Processes, by PID only

# True if pid is alive (not a zombie) and its command name is name.
pid_is() {
	local pid=$1 name=$2 stat comm
	case $pid in '' | *[!0-9]*) return 1 ;; esac
	stat=$(cat "/proc/$pid/stat" 2>/dev/null) || return 1
	stat=${stat##*) }
	case ${stat%% *} in Z | X) return 1 ;; esac
	comm=$(cat "/proc/$pid/comm" 2>/dev/null) || return 1
	[ "$comm" = "${name:0:15}" ]
}

# Stops the processes listed in a pid file (one PID a line) if they still
# run the program named, then removes the pid file. A stale pid file (the
# process is gone, or the PID now belongs to another program) is removed
# without signalling anybody.
stop_pidfile() {
	local file=$1 name=$2 pid mine=() i
	[ -f "$file" ] || return 0
	while read -r pid || [ -n "$pid" ]; do
		pid=${pid//[[:space:]]/}
		[ -n "$pid" ] || continue
		if pid_is "$pid" "$name"; then
			mine+=("$pid")
		fi
	done <"$file"
	if [ ${#mine[@]} -gt 0 ]; then
		say "stopping $name (pid ${mine[*]})"
		kill -TERM "${mine[@]}" 2>/dev/null || true
		for ((i = 0; i < 100; i++)); do
			alive=0
			for pid in "${mine[@]}"; do
				pid_is "$pid" "$name" && alive=1
			done
			[ "$alive" = 0 ] && break
			sleep 0.1
		done
		for pid in "${mine[@]}"; do
			if pid_is "$pid" "$name"; then
				say "$name pid $pid ignored SIGTERM for 10 s: SIGKILL"
				kill -KILL "$pid" 2>/dev/null || true
			fi
		done
	fi
	rm -f "$file"
}

# PIDs of the chatdesk processes whose parent is pid (multiwatch's children).
pool_children() {
	local parent=$1 d pid stat rest
	for d in /proc/[0-9]*; do
		pid=${d#/proc/}
		stat=$(cat "$d/stat" 2>/dev/null) || continue
		# after the command name: state ppid ...
		rest=${stat##*) }
		rest=${rest#* }
		[ "${rest%% *}" = "$parent" ] && pid_is "$pid" chatdesk && echo "$pid"
	done
	return 0
}

# Stops the pool: SIGTERM to multiwatch, which passes a graceful stop on to
# each chatdesk process (--signal=TERM; see below) and exits when they have; then, by PID,
# any chatdesk process that outlived it (multiwatch SIGKILLed earlier).
stop_pool() {
	local pid='' kids=()
	if [ -f "$STATE/multiwatch.pid" ]; then
		read -r pid <"$STATE/multiwatch.pid" || true
		if pid_is "$pid" multiwatch; then
			mapfile -t kids < <(pool_children "$pid")
		fi
		stop_pidfile "$STATE/multiwatch.pid" multiwatch
	fi
	if [ ${#kids[@]} -gt 0 ]; then
		printf '%s\n' "${kids[@]}" >"$STATE/pool-left.pid"
		stop_pidfile "$STATE/pool-left.pid" chatdesk
	fi
	# the pid file of a run.sh from before multiwatch
	stop_pidfile "$STATE/chatdesk.pid" chatdesk
}

stop_all() {
	[ -d "$STATE" ] || return 0
	# Front to back: nginx stops taking requests, the pool finishes the
	# ones in flight, then Redis (which writes its append-only file).
	stop_pidfile "$STATE/nginx.pid" nginx
	stop_pool
	# spawn-fcgi refuses to start while the old socket accepts; nothing
	# accepts on it any more, but remove it so that the next start is clean.
	rm -f "$STATE/chatdesk.sock"
	stop_pidfile "$STATE/redis.pid" redis-server
	rm -f "$STATE/redis.sock"
}

# Reads pid files only: creates, locks and changes nothing.
status() {
	local f name pid any=0 kids
	if [ ! -d "$STATE" ]; then
		echo "nothing running from $STATE (no such directory)"
		return 0
	fi
	for f in nginx:nginx multiwatch:multiwatch redis:redis-server; do
		name=${f#*:}
		f=$STATE/${f%%:*}.pid
		[ -f "$f" ] || continue
		while read -r pid || [ -n "$pid" ]; do
			if pid_is "$pid" "$name"; then
				echo "$name: running, pid $pid"
				any=1
				if [ "$name" = multiwatch ]; then
					kids=$(pool_children "$pid" | tr '\n' ' ')
					echo "chatdesk: running, pids ${kids:-none} (multiwatch's children)"
				fi
			else
				echo "$name: pid $pid in $f is not running"
			fi
		done <"$f"
	done
	[ "$any" = 1 ] || echo "nothing running from $STATE"
}

# ---------------------------------------------------------------------------

cmd=${1:-start}
case $cmd in
start | stop | status) ;;
-h | --help | help)
	usage
	exit 0
	;;
*)
	echo "run.sh: unknown command '$cmd' (start, stop, status)" >&2
	exit 64
	;;
esac
[ $# -le 1 ] || {
	echo "run.sh: too many arguments" >&2
	exit 64
}

case $PORT in '' | *[!0-9]*) die "PORT must be a number, not '$PORT'" ;; esac
case $POOL in '' | *[!0-9]* | 0) die "POOL must be a number >= 1, not '$POOL'" ;; esac
case $RATE in [1-9]*r/s | [1-9]*r/m) ;; *) die "RATE must look like 50r/s, not '$RATE'" ;; esac
if [ "$cmd" = status ]; then
	[ ! -d "$STATE" ] || STATE=$(cd "$STATE" && pwd)
	status
	exit 0
fi
if [ "$cmd" = stop ] && [ ! -d "$STATE" ]; then
	say "nothing to stop: no $STATE"
	exit 0
fi
mkdir -p "$STATE"
STATE=$(cd "$STATE" && pwd)
# The state path goes into a redis unix:// URL and nginx's config.
case $STATE in *[!A-Za-z0-9._/+-]*)
	die "STATE=$STATE: use a path of letters, digits and . _ / + - only" ;;
esac

# One run.sh at a time per state directory. The daemons started below get
# "9>&-" so that they do not inherit (and hold) the lock.
exec 9>"$STATE/run.lock"
flock -n 9 || die "another run.sh is working on $STATE"

if [ "$cmd" = stop ]; then
	stop_all
	say "stopped"
	exit 0
fi
# ---- packages and build -----------------------------------------------------

if [ "${NO_DEPS:-0}" != 1 ]; then
	bash "$REPO/scripts/deps.sh" --run || die "installing packages failed"
fi

if [ "${NO_BUILD:-0}" = 1 ]; then
	say "NO_BUILD=1: using the binaries in $BUILD as they are"
else
	if [ -f "$REPO/config.status" ] && [ "$BUILD" != "$REPO" ]; then
		die "the source tree is configured in place ($REPO/config.status): run" \
			"'make distclean' there first, or BUILD=$REPO to use that build"
	fi
	if [ ! -x "$REPO/configure" ]; then
		say "autoreconf -fi"
		(cd "$REPO" && autoreconf -fi) || die "autoreconf failed"
	fi
	mkdir -p "$BUILD"
	if [ ! -f "$BUILD/Makefile" ]; then
		say "configuring in $BUILD"
		(cd "$BUILD" && "$REPO/configure") || die "configure failed (see $BUILD/config.log)"
	fi
	say "building in $BUILD"
	make -C "$BUILD" -j2 || die "the build failed"
fi
for b in chatdesk chatdeskctl chatdesk-worker; do
	[ -x "$BUILD/$b" ] || die "$BUILD/$b was not built"
done

NGINX=$(command -v nginx) || die "nginx not found (scripts/deps.sh installs it)"
REDIS=$(command -v redis-server) || die "redis-server not found"
SPAWN_FCGI=$(command -v spawn-fcgi) || die "spawn-fcgi not found"
MULTIWATCH=$(command -v multiwatch) || die "multiwatch not found (scripts/deps.sh installs it)"
command -v curl >/dev/null || die "curl not found"

# ---- stop a previous run ----------------------------------------------------

stop_all

# ---- configuration ----------------------------------------------------------

# Every CHATDESK_<KEY> of this script's environment is written into the
# file, so that whatever runs later with CHATDESK_CONFIG=$CONF alone (the
# worker command printed at the end, chatdeskctl by hand) sees the same
# settings as the pool. The keys are those of examples/chatdesk.conf.
CONF=$STATE/chatdesk.conf
declare -A known=() over=()
while read -r k _; do
	known[$k]=1
done < <(grep -E '^[a-z_]+ *=' "$REPO/examples/chatdesk.conf" | tr '=' ' ')
known[debug_fill_delay_ms]=1
while IFS='=' read -r -d '' k v; do
	case $k in
	CHATDESK_CONFIG | CHATDESK_BUILDDIR | CHATDESK_SRCDIR | CHATDESK_KEEP_TMP | \
		CHATDESK_IT_VERBOSE | CHATDESK_FUZZ_SECONDS) continue ;;
	CHATDESK_*) ;;
	*) continue ;;
	esac
	key=${k#CHATDESK_}
	key=${key,,}
	[ -n "${known[$key]:-}" ] || die "$k: '$key' is not a key of examples/chatdesk.conf"
	case $v in *$'\n'*) die "$k: a value cannot hold a newline" ;; esac
	over[$key]=$v
done < <(env -0)
{
	echo "# Written by scripts/run.sh on every run: edits here are lost."
	echo "# Set a key with an environment variable CHATDESK_<KEY> instead,"
	echo "# e.g. CHATDESK_LOG_LEVEL=debug scripts/run.sh"
	echo "# Every key and its default: examples/chatdesk.conf."
	echo "# events_socket: nginx's Nchan publisher, in the state directory."
	for kv in "db_path=$STATE/chatdesk.db" "archive_db_path=$STATE/archive.db" \
		"redis_url=unix://$STATE/redis.sock?db=0" "log_level=info" \
		"events_socket=$STATE/events.sock"; do
		[ -n "${over[${kv%%=*}]+x}" ] || echo "${kv%%=*} = ${kv#*=}"
	done
	for key in "${!over[@]}"; do
		echo "$key = ${over[$key]}"
	done | sort
} >"$CONF"
export CHATDESK_CONFIG=$CONF

# ---- redis ------------------------------------------------------------------

say "starting redis-server on $STATE/redis.sock"
# No TCP port; an append-only file in the state directory so that queued
# tasks survive a restart of this script.
(cd "$STATE" && "$REDIS" --port 0 \
	--unixsocket "$STATE/redis.sock" --unixsocketperm 700 \
	--daemonize yes --pidfile "$STATE/redis.pid" \
	--logfile "$STATE/redis.log" --dir "$STATE" \
	--save "" --appendonly yes 9>&-) || die "redis-server failed; see $STATE/redis.log"
for ((i = 0; i < 100; i++)); do
	[ -S "$STATE/redis.sock" ] && break
	sleep 0.1
done
[ -S "$STATE/redis.sock" ] || {
	tail -n 20 "$STATE/redis.log" >&2 || true
	die "redis-server did not open $STATE/redis.sock"
}
if command -v redis-cli >/dev/null; then
	for ((i = 0; i < 50; i++)); do
		[ "$(redis-cli -s "$STATE/redis.sock" ping 2>/dev/null)" = PONG ] && break
		sleep 0.1
	done
fi

# ---- database ---------------------------------------------------------------

say "chatdeskctl migrate"
(cd "$STATE" && "$BUILD/chatdeskctl" migrate) || die "chatdeskctl migrate failed"

# ---- the pool ---------------------------------------------------------------

LOG=$STATE/chatdesk.log
POOL_LOG=$STATE/pool.log
say "starting $POOL chatdesk processes under multiwatch on $STATE/chatdesk.sock"
# spawn-fcgi opens the socket, starts one child (multiwatch, its PID in
# multiwatch.pid) and exits. multiwatch forks POOL chatdesk processes that
# inherit the socket, replaces one that dies at once, and gives up on a
# slot whose process died within --timeout ms of its start --retry times
# in a row (a crash loop then costs 4 starts, not a CPU). --signal=TERM:
# on SIGTERM multiwatch passes a stop on (its default would be SIGUSR1)
# (Debian 12's multiwatch 1.0.0 reads signal names one off: --signal=TERM
# makes it send SIGQUIT, which chatdesk treats as a graceful stop too;
# tests/faults/test_sigterm_supervised.py guards this).
# spawn-fcgi points its child's stderr at /dev/null, so /bin/sh wrappers
# append multiwatch's messages to pool.log and each chatdesk process's
# stderr (start-up errors, the request log) to chatdesk.log, then exec:
# multiwatch's children are the chatdesk processes themselves.
# shellcheck disable=SC2016 # $0, $1, $@ are the inner shells'
(cd "$STATE" && "$SPAWN_FCGI" -s "$STATE/chatdesk.sock" -M 0660 \
	-P "$STATE/multiwatch.pid" -- \
	/bin/sh -c 'log=$1; shift; exec "$0" "$@" 2>>"$log"' \
	"$MULTIWATCH" "$POOL_LOG" --forks="$POOL" --signal=TERM --retry=3 --timeout=10000 -- \
	/bin/sh -c 'exec "$0" 2>>"$1"' "$BUILD/chatdesk" "$LOG" \
	9>&-) >>"$STATE/spawn-fcgi.log" 2>&1 || {
	tail -n 5 "$STATE/spawn-fcgi.log" >&2 || true
	die "spawn-fcgi failed; see $STATE/spawn-fcgi.log and $POOL_LOG"
}
mwpid=
read -r mwpid <"$STATE/multiwatch.pid" || true
n=0
for ((i = 0; i < 50; i++)); do
	pid_is "$mwpid" multiwatch || break
	n=$(pool_children "$mwpid" | wc -l)
	[ "$n" -eq "$POOL" ] && break
	sleep 0.1
done
if [ "$n" -ne "$POOL" ]; then
	tail -n 20 "$POOL_LOG" "$LOG" >&2 || true
	die "only $n of $POOL chatdesk processes are running; see $LOG and $POOL_LOG"
fi

# ---- nginx ------------------------------------------------------------------

if [ "$(id -u)" -eq 0 ]; then
	# Root's nginx workers would run as nobody and could not open the
	# 0660 socket that belongs to root.
	user_line='user root root;'
else
	user_line=''
fi
conf=$(<"$REPO/nginx/local.conf.in")
conf=${conf//@USER_LINE@/$user_line}
conf=${conf//@STATE@/$STATE}
conf=${conf//@LISTEN@/127.0.0.1:$PORT}
conf=${conf//@SOCKET@/$STATE/chatdesk.sock}
conf=${conf//@RATE@/$RATE}
conf=${conf//@EVENTS_SOCKET@/$STATE/events.sock}
conf=${conf//@NCHAN_STORAGE@/}
conf=${conf//@WEBROOT@/$REPO/web}
if grep -q '@[A-Z_]*@' <<<"$conf"; then
	die "nginx/local.conf.in has placeholders this script does not know:" \
		"$(grep -o '@[A-Z_]*@' <<<"$conf" | sort -u | tr '\n' ' ')"
fi
printf '%s\n' "$conf" >"$STATE/nginx.conf"
cp "$REPO/nginx/chatdesk-locations.conf" "$REPO/nginx/chatdesk-web.conf" \
	"$REPO"/nginx/chatdesk-events*.conf "$STATE/"
mkdir -p "$STATE/nginx-tmp"

nginx_cmd=("$NGINX" -p "$STATE/" -e "$STATE/nginx-error.log" -c "$STATE/nginx.conf")
if ! out=$("${nginx_cmd[@]}" -t 2>&1); then
	printf '%s\n' "$out" >&2
	die "nginx -t failed on $STATE/nginx.conf"
fi
say "starting nginx on 127.0.0.1:$PORT"
if ! out=$("${nginx_cmd[@]}" 2>&1 9>&-); then
	printf '%s\n' "$out" >&2
	die "nginx did not start (is port $PORT taken? PORT=N picks another)"
fi

# ---- wait for the API -------------------------------------------------------

BASE=http://127.0.0.1:$PORT
code=000
for ((i = 0; i < 100; i++)); do
	code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$BASE/api/v1/health" || true)
	[ "$code" = 200 ] && break
	sleep 0.2
done
if [ "$code" != 200 ]; then
	curl -s --max-time 2 "$BASE/api/v1/health" >&2 || true
	tail -n 20 "$LOG" "$STATE/nginx-error.log" >&2 || true
	die "$BASE/api/v1/health answered $code, not 200"
fi
health=$(curl -s --max-time 2 "$BASE/api/v1/health" || true)

# ---- an admin user ----------------------------------------------------------

TOKFILE=$STATE/admin.token
# The admin's sign-in for the web client: its email, then its password.
PWFILE=$STATE/admin.password
token=
if [ -s "$TOKFILE" ]; then
	token=$(<"$TOKFILE")
	# A token from a database that was deleted since: make a new admin.
	code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 \
		-H "Authorization: Bearer $token" "$BASE/api/v1/users/me" || true)
	if [ "$code" = 401 ]; then
		say "the token in $TOKFILE is not valid for this database; creating a new admin"
		token=
		rm -f "$TOKFILE" "$PWFILE"
	fi
fi
if [ -z "$token" ]; then
	email=admin@localhost
	err=$STATE/user-add.err
	# A one-time password for the web client's sign-in: 20 random
	# base64url characters, given on standard input (never an argument).
	password=$(head -c 15 /dev/urandom | base64 | tr '+/' '-_')
	if out=$(cd "$STATE" && "$BUILD/chatdeskctl" user add --name admin \
		--email "$email" --role admin --password-stdin 2>"$err" <<<"$password"); then
		:
	elif grep -q 'exists' "$err"; then
		# admin@localhost exists but its token is lost: add another admin.
		email=admin-$(date +%Y%m%d%H%M%S)@localhost
		out=$(cd "$STATE" && "$BUILD/chatdeskctl" user add --name admin \
			--email "$email" --role admin --password-stdin 2>"$err" \
			<<<"$password") || out=
	else
		out=
	fi
	token=$(printf '%s\n' "$out" | tail -n 1)
	if [ -n "$out" ] && [ -n "$token" ]; then
		(umask 077 && printf '%s\n' "$token" >"$TOKFILE" &&
			printf '%s\n%s\n' "$email" "$password" >"$PWFILE")
		say "created admin user $email"
	else
		token=
		say "could not create an admin user (chatdeskctl user add: $(head -n 1 "$err" 2>/dev/null))"
		say "the stack runs; add a user later with:"
		say "  CHATDESK_CONFIG=$CONF $BUILD/chatdeskctl user add --name NAME --email EMAIL --role admin"
	fi
	rm -f "$err"
fi

# ---- done -------------------------------------------------------------------

# The command line that reaches this run again (its state directory).
again="$REPO/scripts/run.sh "
[ "$STATE" = "$REPO/var/local" ] || again="STATE=$STATE $again"

cat <<EOF

chatdesk is running.

  web:     $BASE/
  URL:     $BASE/api/v1/
  health:  $health
EOF
if [ -s "$PWFILE" ]; then
	{ read -r pw_email && read -r pw_pass; } <"$PWFILE" || true
	cat <<EOF
  sign in: $pw_email / $pw_pass
           (kept in $PWFILE; change it with
           CHATDESK_CONFIG=$CONF $BUILD/chatdeskctl user passwd --email $pw_email)
EOF
fi
if [ -n "$token" ]; then
	cat <<EOF
  admin token (also in $TOKFILE):
           $token

  try:     curl -s -H "Authorization: Bearer \$(cat $TOKFILE)" $BASE/api/v1/users/me
  or:      TOKEN=\$(cat $TOKFILE) BASE=$BASE bash $REPO/examples/walkthrough.sh
EOF
fi
cat <<EOF

  logs:    $LOG (the app, logfmt)
           $POOL_LOG (multiwatch: processes replaced)
           $STATE/nginx-access.log, $STATE/nginx-error.log
           $STATE/redis.log
  config:  $CONF (CHATDESK_CONFIG=$CONF for chatdeskctl and chatdesk-worker)
  worker:  CHATDESK_CONFIG=$CONF $BUILD/chatdesk-worker
  pool:    multiwatch pid $mwpid; chatdesk pids $(pool_children "$mwpid" | tr '\n' ' ')
  status:  ${again}status
  stop:    ${again}stop
EOF
