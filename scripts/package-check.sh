#!/usr/bin/env bash
# chatdesk: build the Debian package and check it, without installing it.
#
#   scripts/package-check.sh        build from the working tree, check
#   KEEP=1 scripts/package-check.sh keep the temporary directory
#
# In a temporary directory: copies the tree (tracked and new files, not
# ignored ones), runs `dpkg-buildpackage -us -uc -b` (tests are skipped in
# the package build; CI runs them separately), then checks
#   - lintian reports no error; logrotate reads the logrotate file;
#   - `dpkg-deb -c` lists every file the package must ship, the files under
#     /etc are conffiles, postinst creates the chatdesk user;
#   - the units pass `systemd-analyze verify` (silent) in a root made of
#     this system's units plus the package's files, and each service's
#     `systemd-analyze security --offline=true` exposure is 4 or below;
#   - nginx -t is clean (no warning) with the package's snippet in
#     snippets/ and its site in sites-available/, enabled next to Debian's
#     `default` site, in a temporary prefix (nginx -p DIR -c DIR/nginx.conf
#     with Debian's nginx.conf, its /etc/nginx/ paths moved to DIR/), and
#     that nginx, started there, answers the site's port from chatdesk's
#     locations (the JSON 503 with no pool behind) while the default
#     site keeps port 80's role.
# The last line is "N passed, N failed"; the exit status is non-zero if
# anything failed. Needs dpkg-dev, debhelper, lintian, systemd, nginx,
# logrotate and the build dependencies (scripts/deps.sh --test installs
# them).

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

set -uo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PATH=$PATH:/usr/sbin:/sbin
passed=0
failed=0
nginx_pid=

ok() {
	passed=$((passed + 1))
	echo "ok - $*"
}
fail() {
	failed=$((failed + 1))
	echo "FAIL - $*"
}
# check DESCRIPTION COMMAND...: one check, passed if COMMAND succeeds.
check() {
	local what=$1
	shift
	if "$@"; then ok "$what"; else fail "$what"; fi
}
finish() {
	echo "$passed passed, $failed failed"
	[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
	exit
}

for tool in dpkg-buildpackage dpkg-deb lintian systemd-analyze nginx git; do
	command -v "$tool" >/dev/null || {
		fail "$tool is not installed (scripts/deps.sh --test)"
		finish
	}
done

T=$(mktemp -d /tmp/chatdesk-pkg.XXXXXX)
# shellcheck disable=SC2317 # run by the EXIT trap
cleanup() {
	# nginx started below, by the PID it wrote, if it still is nginx
	if [ -n "$nginx_pid" ] && [ "$(cat "/proc/$nginx_pid/comm" 2>/dev/null)" = nginx ]; then
		kill -QUIT "$nginx_pid" 2>/dev/null || true
		for _ in $(seq 50); do [ -e "/proc/$nginx_pid" ] || break; sleep 0.1; done
	fi
	if [ "${KEEP:-0}" = 1 ]; then
		echo "package-check: kept $T"
	else
		rm -rf "$T"
	fi
}
trap cleanup EXIT

# ---- build ------------------------------------------------------------------

src=$T/chatdesk
mkdir -p "$src"
(cd "$REPO" && git ls-files -co --exclude-standard -z | xargs -0 cp --parents -t "$src") ||
	{ fail "copy the tree"; finish; }
echo "package-check: dpkg-buildpackage -us -uc -b in $src (log: $T/build.log)"
if (cd "$src" && dpkg-buildpackage -us -uc -b) >"$T/build.log" 2>&1; then
	ok "dpkg-buildpackage -us -uc -b"
else
	tail -n 30 "$T/build.log"
	fail "dpkg-buildpackage -us -uc -b"
	finish
fi
debs=("$T"/chatdesk_*.deb)
changeses=("$T"/chatdesk_*.changes)
check "chatdesk_*.deb built" test -f "${debs[0]}"
[ -f "${debs[0]}" ] || finish
deb=${debs[0]}
changes=${changeses[0]}

# ---- lintian ----------------------------------------------------------------

lintian --fail-on error "$changes" >"$T/lintian.log" 2>&1
rc=$?
sed 's/^/  lintian: /' "$T/lintian.log" | grep -v 'root privileges' || true
check "lintian: no error" test "$rc" -eq 0

# ---- contents ---------------------------------------------------------------

dpkg-deb -c "$deb" | awk '{ print $NF }' | sed 's|^\./|/|' >"$T/contents"
for f in /usr/bin/chatdesk /usr/bin/chatdesk-worker /usr/bin/chatdeskctl \
	/etc/chatdesk/chatdesk.conf /etc/logrotate.d/chatdesk \
	/etc/nginx/snippets/chatdesk-locations.conf /etc/nginx/snippets/chatdesk-web.conf /etc/nginx/sites-available/chatdesk \
	/etc/nginx/snippets/chatdesk-events.conf /etc/nginx/snippets/chatdesk-events-publisher.conf \
	/usr/lib/tmpfiles.d/chatdesk-events.conf \
	/lib/systemd/system/chatdesk.socket /lib/systemd/system/chatdesk.service \
	/lib/systemd/system/chatdesk-worker.service /lib/systemd/system/chatdesk-worker.timer \
	/lib/systemd/system/chatdesk-maintenance.service /lib/systemd/system/chatdesk-maintenance.timer \
	/usr/share/doc/chatdesk/copyright /usr/share/doc/chatdesk/README.md \
	/usr/share/doc/chatdesk/examples/crontab /usr/share/doc/chatdesk/examples/chatdesk.conf \
	/usr/share/man/man8/chatdesk.8.gz /usr/share/man/man8/chatdesk-worker.8.gz \
	/usr/share/man/man8/chatdeskctl.8.gz /usr/share/chatdesk/web/index.html; do
	check "dpkg-deb -c lists $f" grep -qx "$f" "$T/contents"
done
check "nothing under /usr/local" bash -c "! grep -q '^/usr/local' '$T/contents'"

mkdir -p "$T/control" "$T/root"
dpkg-deb -e "$deb" "$T/control"
dpkg-deb -x "$deb" "$T/root"
for f in /etc/chatdesk/chatdesk.conf /etc/logrotate.d/chatdesk \
	/etc/nginx/snippets/chatdesk-locations.conf /etc/nginx/snippets/chatdesk-web.conf /etc/nginx/sites-available/chatdesk \
	/etc/nginx/snippets/chatdesk-events.conf /etc/nginx/snippets/chatdesk-events-publisher.conf; do
	check "conffile $f" grep -qx "$f" "$T/control/conffiles"
done
check "postinst creates the chatdesk system user" \
	bash -c "grep -A3 'adduser --system' '$T/control/postinst' | grep -q ' chatdesk$'"
check "postinst runs the units' debhelper part (dh_installsystemd)" \
	grep -q 'deb-systemd-helper' "$T/control/postinst"
check "no unit names /usr/local" bash -c "! grep -rq /usr/local '$T/root/lib/systemd/system'"

# ---- logrotate --------------------------------------------------------------
# Its syntax, in logrotate's dry run; the chatdesk user does not exist on a
# build machine, so root stands in for it in a copy.

if command -v logrotate >/dev/null; then
	sed 's/chatdesk chatdesk/root root/g' "$T/root/etc/logrotate.d/chatdesk" >"$T/logrotate.conf"
	out=$(logrotate --debug --state "$T/logrotate.state" "$T/logrotate.conf" 2>&1)
	check "logrotate --debug reads /etc/logrotate.d/chatdesk without error" \
		bash -c "! grep -q '^error:' <<<\"\$1\"" _ "$out"
else
	fail "logrotate is not installed (scripts/deps.sh --test)"
fi

# ---- systemd ----------------------------------------------------------------
# A root for systemd-analyze: this system's units, the package's files, and
# the programs the units run (verify checks that they exist).

R=$T/sdroot
mkdir -p "$R/usr/lib/systemd" "$R/usr/bin" "$R/usr/sbin" "$R/etc"
cp -a /usr/lib/systemd/system "$R/usr/lib/systemd/"
ln -s usr/lib "$R/lib"
ln -s usr/bin "$R/bin"
ln -s usr/sbin "$R/sbin"
cp "$T/root/lib/systemd/system/"* "$R/usr/lib/systemd/system/"
cp "$T/root/usr/bin/"* "$R/usr/bin/"
for p in multiwatch pkill; do
	if command -v "$p" >/dev/null; then
		cp "$(command -v "$p")" "$R/usr/bin/"
	else
		# verify only checks that the file is executable
		printf '#!/bin/sh\n' >"$R/usr/bin/$p" && chmod +x "$R/usr/bin/$p"
	fi
done
cp /etc/passwd /etc/group "$R/etc/"
units=()
for u in "$T"/root/lib/systemd/system/*; do
	units+=("/lib/systemd/system/${u##*/}")
done
out=$(systemd-analyze verify --root="$R" "${units[@]}" 2>&1)
rc=$?
[ -z "$out" ] || printf '  verify: %s\n' "$out"
check "systemd-analyze verify: ${#units[@]} units, no message" test "$rc" -eq 0 -a -z "$out"
for u in chatdesk chatdesk-worker chatdesk-maintenance; do
	line=$(systemd-analyze security --offline=true --root="$R" "$u.service" 2>&1 |
		grep 'Overall exposure level')
	level=$(printf '%s' "$line" | grep -o 'level for [^:]*: [0-9.]*' | grep -o '[0-9.]*$')
	echo "  $u.service: exposure ${level:-?}"
	check "$u.service: systemd-analyze security exposure <= 4" \
		awk -v l="${level:-99}" 'BEGIN { exit !(l <= 4) }'
done

# ---- nginx ------------------------------------------------------------------
# Debian's layout in a prefix of its own: nginx.conf (Debian's, its
# /etc/nginx/ paths moved to DIR/), Debian's default site and the
# package's site enabled, the package's snippet in snippets/.

N=$T/nginx
mkdir -p "$N/snippets" "$N/sites-available" "$N/sites-enabled" "$N/conf.d" \
	"$N/modules-enabled" "$N/log"
ln -s /usr/lib/nginx/modules "$N/modules"
cp /etc/nginx/mime.types "$N/"
for m in /etc/nginx/modules-enabled/*.conf; do
	[ -e "$m" ] && cp "$m" "$N/modules-enabled/"
done
if [ -f /etc/nginx/sites-available/default ]; then
	cp /etc/nginx/sites-available/default "$N/sites-available/default"
else
	# Debian's stock default site, in short
	cat >"$N/sites-available/default" <<'EOF'
server {
	listen 80 default_server;
	listen [::]:80 default_server;
	root /var/www/html;
	index index.html index.htm index.nginx-debian.html;
	server_name _;
	location / {
		try_files $uri $uri/ =404;
	}
}
EOF
fi
sed -e "s|/etc/nginx/|$N/|g" -e "s|^pid .*|pid $N/nginx.pid;|" \
	-e "s|/var/log/nginx/|$N/log/|g" /etc/nginx/nginx.conf >"$N/nginx.conf"
# Not root: `user` would only earn a warning that is not the package's.
[ "$(id -u)" -eq 0 ] || sed -i '/^user /d' "$N/nginx.conf"
cp "$T"/root/etc/nginx/snippets/chatdesk-*.conf "$N/snippets/"
# The publisher's socket too: nginx -t binds it, and /run/chatdesk-events
# is made only on a machine the package is installed on.
sed -e "s|/etc/nginx/|$N/|g" -e "s|unix:/run/chatdesk-events/events.sock|unix:$N/events.sock|" \
	"$T/root/etc/nginx/sites-available/chatdesk" >"$N/sites-available/chatdesk"
ln -s ../sites-available/default "$N/sites-enabled/default"
ln -s ../sites-available/chatdesk "$N/sites-enabled/chatdesk"
for snip in chatdesk-locations.conf chatdesk-web.conf chatdesk-events.conf \
	chatdesk-events-publisher.conf; do
	check "the snippet $snip is self-contained (includes nothing)" \
		bash -c "! grep -Eq '^[[:space:]]*include[[:space:]]' '$N/snippets/$snip'"
	check "the site includes $snip by absolute path" \
		grep -q "include $N/snippets/$snip;" "$N/sites-available/chatdesk"
done
check "postinst creates the publisher socket's directory (dh_installtmpfiles)" \
	grep -q 'systemd-tmpfiles.*--create' "$T/control/postinst"

ngx=(nginx -p "$N/" -e "$N/log/error.log" -c "$N/nginx.conf")
out=$("${ngx[@]}" -t 2>&1)
rc=$?
printf '  nginx -t: %s\n' "$out"
check "nginx -t succeeds with default and chatdesk enabled" test "$rc" -eq 0
check "nginx -t: no warning (no conflicting server name)" \
	bash -c "! grep -q '\[warn\]' <<<\"\$1\"" _ "$out"

# Served: the same files with the two ports moved to free ones and the
# pool socket to a path where nothing listens. The site's port must reach
# chatdesk's locations (its JSON 503), not the default site.
free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
if command -v python3 >/dev/null && command -v curl >/dev/null; then
	p80=$(free_port)
	p8470=$(free_port)
	sed -i -e "s/listen 80 default_server;/listen 127.0.0.1:$p80 default_server;/" \
		-e '/listen \[::\]:80 default_server;/d' "$N/sites-available/default"
	sed -i -e "s/listen 8470;/listen 127.0.0.1:$p8470;/" -e '/listen \[::\]:8470;/d' \
		-e "s|unix:/run/chatdesk/chatdesk.sock|unix:$N/none.sock|" \
		-e "s|root /usr/share/chatdesk/web;|root $T/root/usr/share/chatdesk/web;|" \
		"$N/sites-available/chatdesk"
	# nginx's workers (www-data) read the web client from the unpacked
	# package, as they would from /usr/share/chatdesk/web.
	chmod a+x "$T" "$T/root" "$T/root/usr" "$T/root/usr/share"
	chmod -R a+rX "$T/root/usr/share/chatdesk"
	if "${ngx[@]}" 2>"$N/log/start.err"; then
		for _ in $(seq 50); do [ -s "$N/nginx.pid" ] && break; sleep 0.1; done
		nginx_pid=$(cat "$N/nginx.pid" 2>/dev/null)
		body=$(curl -s --max-time 5 "http://127.0.0.1:$p8470/api/v1/health")
		check "the site's port answers from chatdesk's locations ($body)" \
			grep -q '"code":"unavailable"' <<<"$body"
		page=$(curl -s -D - --max-time 5 "http://127.0.0.1:$p8470/")
		check "the site serves the web client at / with its policy ($(head -n 1 <<<"$page" | tr -d '\r'))" \
			bash -c "grep -qi '^content-security-policy: default-src .self.' <<<\"\$1\" && grep -q '<script type=\"module\"' <<<\"\$1\"" _ "$page"
		code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:$p80/api/v1/health")
		check "the default site still answers its own port (HTTP $code, not chatdesk)" \
			test "$code" = 404
	else
		cat "$N/log/start.err"
		fail "nginx starts in $N"
	fi
fi

finish
