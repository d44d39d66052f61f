#!/usr/bin/env bash
# chatdesk: install the Debian packages that are missing (Debian 12).
#
#   scripts/deps.sh            everything: build, run, test and bench packages
#   scripts/deps.sh --build    only what building needs
#   scripts/deps.sh --run      what building and running (scripts/run.sh) need
#   scripts/deps.sh --test     what building and `make check` need, plus the
#                              sanitizer and fuzzing toolchain (clang) and
#                              the OpenAPI validator (scripts/openapi-lint.sh
#                              --install: npm ci, outside the repository)
#   scripts/deps.sh --bench    what building, running and bench/run.sh need:
#                              wrk, and the FastAPI peer's Debian packages
#                              (bench/peer/, run by /usr/bin/python3); never
#                              needed by the tests
#
# Nothing is done when every package is already installed (checked with
# dpkg-query), so this is cheap to call before every build. Otherwise it
# runs `apt-get update` once and `apt-get install -y --no-install-recommends`
# for the missing ones: as root, or through sudo.
#
# Installing nginx or redis-server may start (or try to start) the system
# services of those packages. chatdesk's scripts neither use nor touch them:
# they run their own nginx and redis-server from a state directory, on a
# unix socket and port 8080.

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

build_pkgs=(build-essential autoconf automake libtool pkg-config
	libfcgi-dev libhiredis-dev libsqlite3-dev libjansson-dev libsodium-dev
	liburiparser-dev libcmocka-dev libcurl4-openssl-dev)
# nginx is checked separately: any flavour will do.
run_pkgs=(redis-server spawn-fcgi multiwatch libfcgi-bin sqlite3 curl procps
	libnginx-mod-nchan)
test_pkgs=(redis-server spawn-fcgi multiwatch libfcgi-bin sqlite3 curl procps python3
	# test_durable_posts.py traces the pool's syncs
	strace
	# tests/faults/test_read_only_fs.py: an ext4 image, loop-mounted
	e2fsprogs mount
	libnginx-mod-nchan debhelper dpkg-dev lintian systemd logrotate
	clang libclang-rt-14-dev
	# the web client's browser tests (tests/browser/)
	chromium chromium-driver python3-selenium)
# bench/run.sh (by hand, never by make check): wrk, and the FastAPI peer
# of bench/peer/ (Debian's packages, for /usr/bin/python3; no PyPI).
bench_pkgs=(redis-server spawn-fcgi sqlite3 curl procps python3 wrk
	python3-fastapi python3-uvicorn python3-redis python3-uvloop
	python3-httptools)

usage() {
	awk 'NR == 1 { next } /^#/ { sub(/^# ?/, ""); print; next } { exit }' "${BASH_SOURCE[0]}"
}

mode=all
case "${1:-}" in
"") ;;
--build) mode=build ;;
--run) mode=run ;;
--test) mode="test" ;;
--bench) mode=bench ;;
--all) mode=all ;;
-h | --help)
	usage
	exit 0
	;;
*)
	echo "deps.sh: unknown option '$1'" >&2
	usage >&2
	exit 64
	;;
esac
if [ $# -gt 1 ]; then
	echo "deps.sh: one option at most" >&2
	exit 64
fi

want=("${build_pkgs[@]}")
need_nginx=0
case $mode in
run) want+=("${run_pkgs[@]}") need_nginx=1 ;;
test) want+=("${test_pkgs[@]}") need_nginx=1 ;;
bench) want+=("${run_pkgs[@]}" "${bench_pkgs[@]}") need_nginx=1 ;;
all) want+=("${run_pkgs[@]}" "${test_pkgs[@]}" "${bench_pkgs[@]}") need_nginx=1 ;;
esac

# tests/integration/test_openapi.py: python3-yaml, python3-jsonschema, and
# node and npm for the validator (checked below).
need_node=0
case $mode in
test | all)
	want+=(python3-yaml python3-jsonschema)
	need_node=1
	;;
esac
# The OpenAPI validator the tests use comes from the npm registry, at the
# versions of tools/openapi/package-lock.json. Without it only
# test_openapi.py fails (it never skips), so its install failing does not
# stop the rest.
openapi_tools() {
	[ "$need_node" = 1 ] || return 0
	bash "$(dirname "${BASH_SOURCE[0]}")/openapi-lint.sh" --install ||
		echo "deps.sh: warning: the OpenAPI validator could not be" \
			"installed; tests/integration/test_openapi.py will fail" >&2
}

installed() {
	local st
	st=$(dpkg-query -W -f='${db:Status-Abbrev}' "$1" 2>/dev/null) || return 1
	[ "${st:0:2}" = ii ]
}

if ! command -v dpkg-query >/dev/null 2>&1; then
	echo "deps.sh: dpkg-query not found: this script knows Debian (12) only;" \
		"install the equivalents of: ${want[*]} nginx" >&2
	exit 1
fi

missing=()
declare -A seen=()
for p in "${want[@]}"; do
	[ -n "${seen[$p]:-}" ] && continue
	seen[$p]=1
	installed "$p" || missing+=("$p")
done
if [ "$need_nginx" = 1 ]; then
	have=0
	for p in nginx nginx-light nginx-core nginx-full nginx-extras; do
		if installed "$p"; then
			have=1
			break
		fi
	done
	[ "$have" = 1 ] || missing+=(nginx)
fi
# node and npm: Debian's packages, or any others already on PATH (e.g. a
# nodejs package that bundles npm, which Debian's npm would conflict with).
if [ "$need_node" = 1 ]; then
	command -v node >/dev/null 2>&1 || missing+=(nodejs)
	command -v npm >/dev/null 2>&1 || missing+=(npm)
fi

if [ ${#missing[@]} -eq 0 ]; then
	echo "deps.sh: every package needed ($mode) is installed"
	openapi_tools
	exit 0
fi

echo "deps.sh: installing: ${missing[*]}"
if [ "$(id -u)" -eq 0 ]; then
	as_root=()
elif command -v sudo >/dev/null 2>&1; then
	as_root=(sudo)
else
	echo "deps.sh: not root and no sudo: as root, run" >&2
	echo "  apt-get update && apt-get install -y --no-install-recommends ${missing[*]}" >&2
	exit 1
fi
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
	apt-get install -y --no-install-recommends "${missing[@]}"
openapi_tools
