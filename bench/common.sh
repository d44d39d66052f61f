# chatdesk benchmarks: what bench/run.sh and bench/events.sh share, sourced
# by both after their options. Sets build (BUILD, default build-bench) and
# state (a new temp directory named after NAME), an EXIT trap that kills
# what the script started (the pids in $state/*.pid and in the array pids)
# and removes state, and builds chatdesk -O2 in build.
#
#   bench_start NAME

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

# shellcheck disable=SC2317 # run by the EXIT trap
bench_cleanup() {
	local f p
	for f in "$state"/*.pid; do
		[ -f "$f" ] || continue
		for p in $(cat "$f"); do kill "$p" 2>/dev/null || true; done
	done
	# A worker held by SIGSTOP (run.sh --maintenance) acts on SIGTERM only
	# once continued.
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null && kill -CONT "$p" 2>/dev/null || true; done
	sleep 0.3
	rm -rf "$state"
}

# Stops the pool started with -P "$state/chatdesk.pid" and waits for
# every process to be gone, so the next pool can take the socket.
stop_pool() {
	local p
	for p in $(cat "$state/chatdesk.pid"); do kill "$p" 2>/dev/null || true; done
	for p in $(cat "$state/chatdesk.pid"); do
		while kill -0 "$p" 2>/dev/null; do sleep 0.05; done
	done
	rm -f "$state/chatdesk.pid" "$state/chatdesk.sock"
}

bench_start() {
	build=${BUILD:-$root/build-bench}
	state=$(mktemp -d "/tmp/$1.XXXXXX")
	pids=()
	trap bench_cleanup EXIT
	echo "== build ($build)"
	if [ ! -x "$build/chatdesk" ]; then
		[ -x "$root/configure" ] || (cd "$root" && autoreconf -fi >/dev/null)
		mkdir -p "$build"
		(cd "$build" && CFLAGS="-O2 -g" "$root/configure" >/dev/null)
	fi
	make -C "$build" -j2 >/dev/null
}
