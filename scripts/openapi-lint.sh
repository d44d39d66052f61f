#!/usr/bin/env bash
# chatdesk: validate the OpenAPI description with a real validator.
#
#   scripts/openapi-lint.sh [FILE...]   lint FILEs (default docs/openapi.yaml);
#                                       exit 0 clean, 1 on any problem or when
#                                       the validator is not installed
#   scripts/openapi-lint.sh --install   install the validator if it is missing
#                                       (scripts/deps.sh --test does this)
#   scripts/openapi-lint.sh --where     print the validator's directory
#
# The validator is Redocly's lint engine (@redocly/openapi-core), at the
# version and integrity hashes of tools/openapi/package-lock.json, with the
# rules of tools/openapi/redocly.yaml. `npm ci --ignore-scripts` installs it
# from the npm registry outside the repository, in a directory named after
# the lock file's hash:
#   ${CHATDESK_TOOLS_DIR:-${XDG_CACHE_HOME:-~/.cache}/chatdesk}/openapi-HASH
# so that a changed lock installs afresh, work trees share one install, and
# the source tree holds no node_modules. Needs node >= 18.17 and npm
# (Debian 12's nodejs and npm packages are enough).

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

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TOOLS=$REPO/tools/openapi

usage() {
	awk 'NR == 1 { next } /^#/ { sub(/^# ?/, ""); print; next } { exit }' "${BASH_SOURCE[0]}"
}

where() {
	local base hash
	base=${CHATDESK_TOOLS_DIR:-${XDG_CACHE_HOME:-${HOME:-/root}/.cache}/chatdesk}
	hash=$(sha256sum "$TOOLS/package-lock.json" | cut -c1-16)
	echo "$base/openapi-$hash"
}

installed() {
	[ -f "$1/node_modules/@redocly/openapi-core/package.json" ]
}

install() {
	local dir tmp
	dir=$(where)
	if installed "$dir"; then
		echo "openapi-lint: the validator is installed in $dir"
		return 0
	fi
	for c in node npm; do
		command -v "$c" >/dev/null 2>&1 || {
			echo "openapi-lint: $c not found (Debian: apt-get install nodejs npm)" >&2
			return 1
		}
	done
	mkdir -p "$(dirname "$dir")"
	# Installed beside, then renamed: a run that stops half-way leaves
	# no directory that looks installed.
	tmp=$(mktemp -d "$dir.tmp.XXXXXX")
	cp "$TOOLS/package.json" "$TOOLS/package-lock.json" "$tmp/"
	echo "openapi-lint: npm ci in $tmp"
	if ! (cd "$tmp" && npm ci --ignore-scripts --include=dev --no-audit \
		--no-fund --loglevel=error); then
		rm -rf "$tmp"
		echo "openapi-lint: npm ci failed" >&2
		return 1
	fi
	if ! mv -T "$tmp" "$dir" 2>/dev/null; then
		# Another run installed it meanwhile.
		rm -rf "$tmp"
		installed "$dir" || return 1
	fi
	echo "openapi-lint: the validator is installed in $dir"
}

case "${1:-}" in
-h | --help)
	usage
	exit 0
	;;
--install)
	install
	exit $?
	;;
--where)
	where
	exit 0
	;;
-*)
	echo "openapi-lint: unknown option '$1'" >&2
	usage >&2
	exit 64
	;;
esac

[ $# -gt 0 ] || set -- "$REPO/docs/openapi.yaml"
dir=$(where)
if ! installed "$dir"; then
	echo "openapi-lint: the validator is not installed in $dir;" \
		"run scripts/openapi-lint.sh --install (or scripts/deps.sh --test)" >&2
	exit 1
fi
command -v node >/dev/null 2>&1 || {
	echo "openapi-lint: node not found (Debian: apt-get install nodejs)" >&2
	exit 1
}
NODE_PATH=$dir/node_modules exec node "$TOOLS/lint.js" "$@"
