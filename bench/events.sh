#!/usr/bin/env bash
# chatdesk benchmark of live events (run by hand, not by make check), for
# the two goals of DESIGN.md and issue 14:
#
#  1. publish cost: POST /rooms/1/messages with publishing on and off, in
#     interleaved rounds of the same run (the pool restarted between them,
#     one subscriber on the room, so that every publish is delivered);
#     goal: events cost a post <= 10 % of its throughput;
#     and the catch-up read (GET .../messages?after=ID, ID within the cached
#     list) against the cached latest-messages read; goal: no dearer;
#  2. fan-out: SUBSCRIBERS EventSource connections in one room (bench/fanout.c)
#     while RATE posts a second are made; goal: every subscriber gets every
#     event, delivery p99 <= 100 ms from the POST's answer.
#
# nginx runs nginx/local.conf.in (the shipped event snippets) with more
# worker connections; everything lives in a temp dir, stopped by PID.
#
# With REF_BUILD=DIR (another build tree, e.g. of an older commit), each
# round also POSTs with publishing on through DIR's chatdesk
# (post_with_events_ref), for a before/after in the same run.
# --subscribers 0 skips the fan-out.
#
# usage: bench/events.sh [--rounds N] [--seconds S] [--conns C] [--pool P]
#                        [--subscribers N] [--rate R] [--fan-seconds S]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
rounds=3 seconds=10 conns=64 pool=2 subs=2000 rate=50 fan_seconds=20
while [ $# -gt 0 ]; do
	case $1 in
	--rounds) rounds=$2; shift 2 ;;
	--seconds) seconds=$2; shift 2 ;;
	--conns) conns=$2; shift 2 ;;
	--pool) pool=$2; shift 2 ;;
	--subscribers) subs=$2; shift 2 ;;
	--rate) rate=$2; shift 2 ;;
	--fan-seconds) fan_seconds=$2; shift 2 ;;
	*) sed -n 's/^# usage: //p;s/^#      *\(\[--.*\)/\1/p' "$0" >&2; exit 64 ;;
	esac
done
for t in wrk redis-server spawn-fcgi nginx curl python3 cc; do
	command -v "$t" >/dev/null || { echo "bench: $t is missing (scripts/deps.sh --test; apt-get install wrk)" >&2; exit 1; }
done
ulimit -n 16384 2>/dev/null || ulimit -n "$(ulimit -Hn)"

. "$root/bench/common.sh"
bench_start chatdesk-bench-events
cc -O2 -pthread -o "$state/fanout" "$root/bench/fanout.c"

export CHATDESK_DB_PATH=$state/chatdesk.db
export CHATDESK_ARCHIVE_DB_PATH=$state/archive.db
export CHATDESK_REDIS_URL="unix://$state/redis.sock?db=0"
export CHATDESK_LOG_FILE=$state/app.log
export CHATDESK_RATE_LIMIT_COUNT=1000000
export CHATDESK_EVENTS_SOCKET=$state/events.sock

redis-server --port 0 --unixsocket "$state/redis.sock" --unixsocketperm 700 \
	--save '' --appendonly no --daemonize yes --pidfile "$state/redis.pid" \
	--logfile "$state/redis.log"
for _ in $(seq 50); do [ -S "$state/redis.sock" ] && break; sleep 0.1; done
"$build/chatdeskctl" migrate >/dev/null
token=$("$build/chatdeskctl" user add --name Bench --email bench@example.com --role admin | tail -n 1)

port=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
mkdir -p "$state/nginx-tmp"
cp "$root"/nginx/chatdesk-*.conf "$state/"
user_line=""
[ "$(id -u)" = 0 ] && user_line="user root root;"
sed -e "s|@USER_LINE@|$user_line|" -e "s|@STATE@|$state|g" \
	-e "s|@LISTEN@|127.0.0.1:$port|" -e "s|@SOCKET@|$state/chatdesk.sock|" \
	-e "s|@RATE@|1000000r/s|" -e "s|@EVENTS_SOCKET@|$state/events.sock|" \
	-e "s|@NCHAN_STORAGE@||" -e "s|@WEBROOT@|$root/web|" \
	-e "s|worker_connections 1024;|worker_connections 8192;|" \
	-e "s|^worker_processes 1;|worker_processes 1;\nworker_rlimit_nofile 16384;|" \
	"$root/nginx/local.conf.in" > "$state/nginx.conf"
nginx -p "$state/" -e "$state/nginx-error.log" -c "$state/nginx.conf"
base=http://127.0.0.1:$port/api/v1
auth="Authorization: Bearer $token"

# The pool, with publishing on or off (events_publish_url empty), from
# build or the build tree given second.
start_pool() {
	local url=$1 from=${2:-$build}
	CHATDESK_EVENTS_PUBLISH_URL=$url spawn-fcgi -s "$state/chatdesk.sock" \
		-M 0660 -F "$pool" -P "$state/chatdesk.pid" -- "$from/chatdesk" >/dev/null
	for _ in $(seq 50); do curl -sf "$base/health" >/dev/null && return; sleep 0.1; done
	echo "bench: the pool did not answer" >&2
	exit 1
}

start_pool http://localhost/pub/
echo "== data: room 1 with 50 messages"
curl -sf -X POST "$base/rooms" -H "$auth" -H 'Content-Type: application/json' -d '{"name":"bench"}' >/dev/null
for i in $(seq 50); do
	curl -sf -X POST "$base/rooms/1/messages" -H "$auth" -H 'Content-Type: application/json' \
		-d "{\"body\":\"message $i of the benchmark room, with a little text\"}" >/dev/null
done
# One subscriber on the room for the whole publish-cost part.
curl -sN -H 'Accept: text/event-stream' -H "$auth" "$base/events?rooms=1" >/dev/null &
pids+=($!)
stop_pool

results=$state/results
# cpu_ticks PID...: their user + system CPU time so far, in clock ticks.
cpu_ticks() {
	local p t=0
	for p in "$@"; do
		set -- $(cut -d' ' -f14,15 "/proc/$p/stat" 2>/dev/null || echo 0 0)
		t=$((t + $1 + $2))
	done
	echo "$t"
}

# run_wrk NAME URL [wrk args]: appends "NAME rps p50_ms p99_ms non2xx
# pool_us nginx_us" (the last two: CPU time per request of the pool and of
# nginx's workers, from /proc, during the run).
run_wrk() {
	local name=$1 url=$2 pool0 nginx0 pool1 nginx1 workers
	shift 2
	workers=$(pgrep -P "$(cat "$state/nginx.pid")" | tr '\n' ' ')
	# shellcheck disable=SC2046,SC2086 # pid lists
	pool0=$(cpu_ticks $(cat "$state/chatdesk.pid")) nginx0=$(cpu_ticks $workers)
	wrk -t2 -c"$conns" -d"${seconds}s" --latency -H "$auth" "$@" "$url" \
		> "$state/wrk.out" 2>&1
	# shellcheck disable=SC2046,SC2086
	pool1=$(cpu_ticks $(cat "$state/chatdesk.pid")) nginx1=$(cpu_ticks $workers)
	python3 - "$name" "$state/wrk.out" $((pool1 - pool0)) $((nginx1 - nginx0)) \
		"$(getconf CLK_TCK)" >> "$results" <<'PY'
import re, sys
name, text = sys.argv[1], open(sys.argv[2]).read()
pool_t, nginx_t, hz = (int(v) for v in sys.argv[3:6])
ms = lambda v, u: float(v) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[u]
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
n = int(re.search(r"(\d+) requests in", text).group(1)) or 1
lat = {p: ms(v, u) for p, v, u in re.findall(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s)\s*$", text, re.M)}
bad = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
print(name, rps, lat.get("50", 0), lat.get("99", 0), bad.group(1) if bad else 0,
      1e6 * pool_t / hz / n, 1e6 * nginx_t / hz / n)
PY
}

echo "== publish cost: $rounds rounds of ${seconds}s, $conns connections, pool of $pool"
post=(-s "$root/bench/post.lua")
for r in $(seq "$rounds"); do
	start_pool http://localhost/pub/
	run_wrk post_with_events "$base/rooms/1/messages" "${post[@]}"
	# The newest 50 are cached; the catch-up read asks for the 10 newer
	# than the 40th newest.
	after=$(curl -sf "$base/rooms/1/messages?limit=40" -H "$auth" |
		python3 -c 'import json,sys; print(json.load(sys.stdin)["messages"][-1]["id"])')
	run_wrk cached_latest "$base/rooms/1/messages?limit=10"
	run_wrk cached_after "$base/rooms/1/messages?after=$after&limit=10"
	stop_pool
	start_pool ""
	run_wrk post_without_events "$base/rooms/1/messages" "${post[@]}"
	stop_pool
	if [ -n "${REF_BUILD:-}" ]; then
		start_pool http://localhost/pub/ "$REF_BUILD"
		run_wrk post_with_events_ref "$base/rooms/1/messages" "${post[@]}"
		stop_pool
	fi
	echo "   round $r done"
done
python3 - "$results" <<'PY'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    n, rps, p50, p99, bad, pool_us, nginx_us = line.split()
    rows.setdefault(n, []).append((float(rps), float(p50), float(p99), int(bad),
                                   float(pool_us), float(nginx_us)))
med = lambda n, i: statistics.median(r[i] for r in rows[n])
print("%-20s %10s %9s %9s %6s %12s %13s" % ("path", "req/s", "p50 ms", "p99 ms", "non2xx",
                                            "pool CPU us", "nginx CPU us"))
for n in ("post_without_events", "post_with_events", "post_with_events_ref",
          "cached_latest", "cached_after"):
    if n not in rows:
        continue
    print("%-20s %10.0f %9.2f %9.2f %6d %12.0f %13.0f" % (
        n, med(n, 0), med(n, 1), med(n, 2), sum(r[3] for r in rows[n]), med(n, 4), med(n, 5)))
# Each round ran with, then without: the ratio of each pair, and of the medians.
pairs = [w[0] / wo[0] for w, wo in zip(rows["post_with_events"], rows["post_without_events"])]
print("with/without per round: %s (min %.3f, max %.3f)" % (
    " ".join("%.3f" % r for r in pairs), min(pairs), max(pairs)))
ratio = med("post_with_events", 0) / med("post_without_events", 0)
print("with/without (medians): %.3f, median of the rounds' ratios %.3f (goal >= 0.90: %s)" % (
    ratio, statistics.median(pairs), "met" if ratio >= 0.9 else "MISSED"))
if "post_with_events_ref" in rows:
    ref = [w[0] / wo[0] for w, wo in zip(rows["post_with_events_ref"], rows["post_without_events"])]
    print("REF_BUILD with/without per round: %s; medians %.3f" % (
        " ".join("%.3f" % r for r in ref),
        med("post_with_events_ref", 0) / med("post_without_events", 0)))
r = med("cached_after", 0) / med("cached_latest", 0)
print("catch-up/latest: %.3f req/s, p99 %.2f vs %.2f ms (goal: no dearer)" % (
    r, med("cached_after", 2), med("cached_latest", 2)))
PY

[ "$subs" -gt 0 ] || exit 0
echo "== fan-out: $subs subscribers in room 1, $rate posts/s for ${fan_seconds}s"
start_pool http://localhost/pub/
"$state/fanout" "$port" "$token" 1 "$subs" "$rate" "$fan_seconds" | tee "$state/fanout.out"
python3 - "$state/fanout.out" <<'PY'
import sys
d = dict(kv.split("=") for kv in open(sys.argv[1]).read().split())
every = d["deliveries"] == d["deliveries_expected"] and d["subscribers_missing_some"] == "0"
print("every subscriber got every event: %s; p99 %s ms (goal <= 100: %s)" % (
    "yes" if every else "NO", d["p99_ms"], "met" if float(d["p99_ms"]) <= 100 else "MISSED"))
PY
stop_pool
grep "events: publish" "$state/app.log" | head -3 || echo "   no failed publish in the app log"
