#!/usr/bin/env bash
# chatdesk: build and run the whole test suite.
#
#   scripts/test.sh                   build in build/, run `make check`
#   scripts/test.sh --sanitizers      the same with ASan+UBSan, in build-asan/
#   scripts/test.sh --debug           with --enable-debug (-Werror -O0), in
#                                     build-debug/ (build-asan-debug/ with
#                                     --sanitizers)
#   scripts/test.sh --fuzz SECONDS    build the libFuzzer targets with clang in
#                                     build-fuzz/ and run each for SECONDS
#                                     from its seeds (tests/fuzz/corpus/) with
#                                     its dictionary (tests/fuzz/dict/), JOBS
#                                     targets at a time
#   scripts/test.sh --faults          the fault suite (tests/faults/: Redis
#                                     frozen, a pool process and the worker
#                                     killed, disk full on a tmpfs, SIGTERM,
#                                     all under load) instead of make check,
#                                     in build/ (with --sanitizers too);
#                                     root for the tmpfs (else that one skips)
#
# Installs missing packages first (scripts/deps.sh --test; NO_DEPS=1 skips
# that). `make check` runs the unit tests (cmocka) and the integration tests
# (a real redis-server, spawn-fcgi pool and nginx in a temp dir each, on
# free ports), with -j2 (JOBS=N to change). Failing tests' logs are printed.
# The last line is always "N passed, N failed" (failed = FAIL + ERROR +
# XPASS; a skipped test counts as neither; a build that fails counts as one
# failure), and the exit status is non-zero if anything failed.
# Arguments of the form NAME=VALUE go to `make check`, e.g. to run some tests:
#   scripts/test.sh TESTS='tests/unit/test_config tests/integration/test_health.py'

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
JOBS=${JOBS:-2}
PATH=$PATH:/usr/sbin:/sbin

usage() {
	awk 'NR == 1 { next } /^#/ { sub(/^# ?/, ""); print; next } { exit }' "${BASH_SOURCE[0]}"
}

# The count line, then the exit status. Always the last thing printed.
finish() {
	local passed=$1 failed=$2
	echo "$passed passed, $failed failed"
	if [ "$failed" -gt 0 ]; then
		exit 1
	fi
	exit 0
}

fail_early() {
	echo "test.sh: $*" >&2
	finish 0 1
}

sanitizers=0
debug=0
faults=0
fuzz=
makevars=()
while [ $# -gt 0 ]; do
	case $1 in
	--sanitizers) sanitizers=1 ;;
	--debug) debug=1 ;;
	--faults) faults=1 ;;
	--fuzz)
		[ $# -ge 2 ] || {
			echo "test.sh: --fuzz needs SECONDS" >&2
			exit 64
		}
		fuzz=$2
		shift
		;;
	--fuzz=*) fuzz=${1#--fuzz=} ;;
	-h | --help)
		usage
		exit 0
		;;
	[A-Za-z_]*=*) makevars+=("$1") ;;
	*)
		echo "test.sh: unknown option '$1'" >&2
		usage >&2
		exit 64
		;;
	esac
	shift
done
if [ -n "$fuzz" ] && [ "$faults" = 1 ]; then
	echo "test.sh: --fuzz and --faults are separate runs" >&2
	exit 64
fi
if [ -n "$fuzz" ]; then
	case $fuzz in '' | *[!0-9]* | 0)
		echo "test.sh: --fuzz SECONDS must be a whole number >= 1" >&2
		exit 64
		;;
	esac
fi

# ---- packages -----------------------------------------------------------

if [ "${NO_DEPS:-0}" != 1 ]; then
	bash "$REPO/scripts/deps.sh" --test || fail_early "installing packages failed"
fi

# ---- configure and build --------------------------------------------------

flags=()
cc=()
if [ -n "$fuzz" ]; then
	dir=build-fuzz
	flags+=(--enable-fuzzing)
	cc=(CC=clang)
else
	dir=build
	if [ "$sanitizers" = 1 ]; then
		dir=build-asan
		flags+=(--enable-sanitizers)
	fi
	if [ "$debug" = 1 ]; then
		dir=$dir-debug
		flags+=(--enable-debug)
	fi
fi
BUILD=$REPO/$dir

if [ -f "$REPO/config.status" ]; then
	fail_early "the source tree is configured in place ($REPO/config.status);" \
		"out-of-tree builds need 'make distclean' there first"
fi
if [ ! -x "$REPO/configure" ]; then
	echo "test.sh: autoreconf -fi"
	(cd "$REPO" && autoreconf -fi) || fail_early "autoreconf failed"
fi
mkdir -p "$BUILD" || fail_early "cannot create $BUILD"

# (Re)configure when the directory was configured with other options.
want="'${cc[*]}' '${flags[*]}'"
if [ ! -f "$BUILD/Makefile" ] || [ "$(cat "$BUILD/.test-sh-config" 2>/dev/null)" != "$want" ]; then
	echo "test.sh: configuring $dir: ${cc[*]} ../configure ${flags[*]}"
	(cd "$BUILD" && env "${cc[@]}" "$REPO/configure" "${flags[@]}") ||
		fail_early "configure failed (see $BUILD/config.log)"
	printf '%s\n' "$want" >"$BUILD/.test-sh-config"
fi
echo "test.sh: building in $dir"
make -C "$BUILD" -j"$JOBS" || fail_early "the build failed"

# ---- fuzz ------------------------------------------------------------------

# Runs one target for $fuzz seconds; its verdict goes to $work/verdict,
# so that targets can run side by side and report in order.
fuzz_one() {
	local t=$1 name work seeds corpora dict
	name=$(basename "$t")
	work=$BUILD/fuzz-work/$name
	mkdir -p "$work/corpus" "$work/artifacts"
	rm -f "$work/verdict"
	# libFuzzer adds new inputs to the first corpus directory: a scratch
	# one, so that the seeds in the source tree stay as they are.
	corpora=("$work/corpus")
	seeds=$REPO/tests/fuzz/corpus/$name
	[ -d "$seeds" ] && corpora+=("$seeds")
	dict=()
	[ -f "$REPO/tests/fuzz/dict/$name.dict" ] &&
		dict=(-dict="$REPO/tests/fuzz/dict/$name.dict")
	if (cd "$work" && "$t" -max_total_time="$fuzz" -print_final_stats=1 \
		"${dict[@]}" -artifact_prefix="$work/artifacts/" \
		"${corpora[@]}") >"$work/fuzz.log" 2>&1; then
		echo "ok: $name ($(grep -m1 -o 'stat::number_of_executed_units: *[0-9]*' "$work/fuzz.log" | grep -o '[0-9]*$' || echo '?') runs, $(grep -o 'cov: [0-9]*' "$work/fuzz.log" | tail -n 1 | grep -o '[0-9]*' || echo '?') edges)" >"$work/verdict"
	else
		{
			echo "FAIL: $name; the end of $work/fuzz.log:"
			tail -n 60 "$work/fuzz.log"
			echo "artifacts (reproduce with: $t FILE):"
			find "$work/artifacts" -type f -printf "  %p\n" 2>/dev/null
		} >"$work/verdict"
	fi
}

if [ -n "$fuzz" ]; then
	mapfile -t targets < <(find "$BUILD" -maxdepth 1 -type f -name 'fuzz_*' -perm -u+x | sort)
	[ ${#targets[@]} -gt 0 ] || fail_early "no fuzz_* targets were built in $dir"
	# JOBS targets at a time (each libFuzzer process uses one core).
	echo "test.sh: fuzzing ${#targets[@]} targets for $fuzz s each, $JOBS at a time"
	running=0
	for t in "${targets[@]}"; do
		if [ "$running" -ge "$JOBS" ]; then
			wait -n
			running=$((running - 1))
		fi
		echo "test.sh: fuzzing $(basename "$t") for $fuzz s"
		fuzz_one "$t" &
		running=$((running + 1))
	done
	wait
	passed=0
	failed=0
	for t in "${targets[@]}"; do
		v=$BUILD/fuzz-work/$(basename "$t")/verdict
		if [ -f "$v" ] && head -n 1 "$v" | grep -q '^ok: '; then
			passed=$((passed + 1))
		else
			failed=$((failed + 1))
		fi
		cat "$v" 2>/dev/null || echo "FAIL: $(basename "$t") gave no verdict"
	done
	finish "$passed" "$failed"
fi

# ---- make check -------------------------------------------------------------

rm -f "$BUILD/test-suite.log"
target=check
[ "$faults" = 1 ] && target=check-faults
echo "test.sh: make $target in $dir"
make -C "$BUILD" -j"$JOBS" "$target" "${makevars[@]}"
rc=$?

log=$BUILD/test-suite.log
if [ ! -f "$log" ]; then
	fail_early "make check wrote no test-suite.log (exit $rc): the tests did not run"
fi

count() {
	local n
	n=$(sed -n "s/^# $1: *\([0-9][0-9]*\).*/\1/p" "$log" | head -n 1)
	echo "${n:-0}"
}
pass=$(count PASS)
xfail=$(count XFAIL)
fail=$(count FAIL)
error=$(count ERROR)
xpass=$(count XPASS)
skip=$(count SKIP)
failed=$((fail + error + xpass))
passed=$((pass + xfail))

if [ "$failed" -gt 0 ] || [ "$rc" -ne 0 ]; then
	# The logs of the tests whose overall result is bad.
	while IFS= read -r trs; do
		tlog=${trs%.trs}.log
		echo
		echo "==== ${tlog#"$BUILD"/} (last 80 lines)"
		tail -n 80 "$tlog" 2>/dev/null
	done < <(find "$BUILD" -name '*.trs' -exec grep -l -E '^:global-test-result: (FAIL|ERROR|XPASS)' {} + 2>/dev/null | sort)
	echo
fi
echo "test.sh: $dir: PASS $pass, XFAIL $xfail, SKIP $skip, FAIL $fail, ERROR $error, XPASS $xpass"
if [ "$rc" -ne 0 ] && [ "$failed" -eq 0 ]; then
	echo "test.sh: make check exited $rc with no failed test: counted as one failure"
	failed=1
fi
finish "$passed" "$failed"
