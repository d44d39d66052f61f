#!/usr/bin/env bash
# chatdesk benchmark (run by hand, not by make check). Builds chatdesk -O2
# and a ceiling responder (bench/ceiling.c: one LRANGE and nothing else),
# serves both through one nginx with the same pool size, and runs wrk
# against each, interleaved, for several rounds. Prints req/s, p50, p99
# and the ratio to the ceiling measured in the same run, as DESIGN.md asks.
#
# usage: bench/run.sh [--rounds N] [--seconds S] [--conns C] [--pool P]
#                     [--worker] [--tickets N]
#   --worker   also: drain rate of 100,000 trivial tasks, and read p99 while
#              close_inactive_tickets closes --tickets (default 1000000)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
rounds=3 seconds=10 conns=64 pool=2 worker=0 tickets=1000000
while [ $# -gt 0 ]; do
	case $1 in
	--rounds) rounds=$2; shift 2 ;;
	--seconds) seconds=$2; shift 2 ;;
	--conns) conns=$2; shift 2 ;;
	--pool) pool=$2; shift 2 ;;
	--worker) worker=1; shift ;;
	--tickets) tickets=$2; shift 2 ;;
	*) echo "usage: bench/run.sh [--rounds N] [--seconds S] [--conns C] [--pool P] [--worker] [--tickets N]" >&2; exit 64 ;;
	esac
done
for t in wrk redis-server redis-cli spawn-fcgi nginx sqlite3 curl python3; do
	command -v "$t" >/dev/null || { echo "bench: $t is missing (scripts/deps.sh --test; apt-get install wrk)" >&2; exit 1; }
done

. "$root/bench/common.sh"
bench_start chatdesk-bench
cc -O2 -o "$state/ceiling" "$root/bench/ceiling.c" -lfcgi -lhiredis

export CHATDESK_DB_PATH=$state/chatdesk.db
export CHATDESK_ARCHIVE_DB_PATH=$state/archive.db
export CHATDESK_REDIS_URL="unix://$state/redis.sock?db=0"
export CHATDESK_LOG_FILE=$state/app.log
export CHATDESK_LOG_LEVEL=${CHATDESK_LOG_LEVEL:-info}	# the default: one line per request
export CHATDESK_RATE_LIMIT_COUNT=1000000
# This nginx has no Nchan publisher: no live events (bench/events.sh
# measures them).
export CHATDESK_EVENTS_PUBLISH_URL=

redis-server --port 0 --unixsocket "$state/redis.sock" --unixsocketperm 700 \
	--save '' --appendonly no --daemonize yes --pidfile "$state/redis.pid" \
	--logfile "$state/redis.log"
for _ in $(seq 50); do [ -S "$state/redis.sock" ] && break; sleep 0.1; done
"$build/chatdeskctl" migrate >/dev/null
token=$("$build/chatdeskctl" user add --name Bench --email bench@example.com --role admin | tail -n 1)

spawn-fcgi -s "$state/chatdesk.sock" -M 0660 -F "$pool" -P "$state/chatdesk.pid" -- "$build/chatdesk" >/dev/null
CEILING_REDIS=$state/redis.sock CEILING_KEY=messages:room:1 \
	spawn-fcgi -s "$state/ceiling.sock" -M 0660 -F "$pool" -P "$state/ceiling.pid" -- "$state/ceiling" >/dev/null

port_app=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
port_ceil=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
mkdir -p "$state/nginx-tmp"
cp "$root"/nginx/chatdesk-locations.conf "$state/"
# The ceiling's location gets the snippet's FastCGI settings, line for line.
{ grep '^fastcgi_' "$root/nginx/chatdesk-locations.conf"; echo 'fastcgi_pass ceiling_pool;'; } > "$state/ceiling-fastcgi.conf"
user_line=""
[ "$(id -u)" = 0 ] && user_line="user root root;"
sed -e "s|@USER_LINE@|$user_line|" -e "s|@STATE@|$state|g" \
	-e "s|@PORT_APP@|$port_app|" -e "s|@PORT_CEIL@|$port_ceil|" \
	"$root/bench/nginx.conf.in" > "$state/nginx.conf"
nginx -p "$state" -c "$state/nginx.conf"
base=http://127.0.0.1:$port_app/api/v1
auth="Authorization: Bearer $token"
for _ in $(seq 50); do curl -sf "$base/health" >/dev/null && break; sleep 0.1; done

echo "== data: one room with 50 messages, one ticket"
curl -sf -X POST "$base/rooms" -H "$auth" -H 'Content-Type: application/json' -d '{"name":"bench"}' >/dev/null
for i in $(seq 50); do
	curl -sf -X POST "$base/rooms/1/messages" -H "$auth" -H 'Content-Type: application/json' \
		-d "{\"body\":\"message $i of the benchmark room, with a little text\"}" >/dev/null
done
curl -sf -X POST "$base/tickets" -H "$auth" -H 'Content-Type: application/json' \
	-d '{"subject":"bench","body":"a ticket"}' >/dev/null
curl -sf "$base/rooms/1/messages" -H "$auth" >/dev/null	# builds the list
curl -sf "$base/tickets/1" -H "$auth" >/dev/null
[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port_ceil/")" = 200 ]

# wrk NAME URL [extra args]: appends "NAME rps p50_ms p99_ms" to results.
results=$state/results
run_wrk() {
	local name=$1 url=$2
	shift 2
	wrk -t2 -c"$conns" -d"${seconds}s" --latency -H "$auth" "$@" "$url" > "$state/wrk.out" 2>&1
	python3 - "$name" "$state/wrk.out" >> "$results" <<'PY'
import re, sys
name, path = sys.argv[1], sys.argv[2]
text = open(path).read()
def ms(v, unit):
    return float(v) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
lat = {p: ms(v, u) for p, v, u in re.findall(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s)\s*$", text, re.M)}
non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
print(name, rps, lat.get("50", 0), lat.get("99", 0), non2xx.group(1) if non2xx else 0)
PY
}

rss() {
	local total=0 p kb
	for p in $(cat "$state/chatdesk.pid"); do
		kb=$(awk '/^VmRSS:/{print $2}' "/proc/$p/status" 2>/dev/null || echo 0)
		echo -n "pid $p ${kb} KiB; "
	done
	echo
}
echo "== pool RSS before: $(rss)"
echo "== $rounds rounds of ${seconds}s, $conns connections, pool of $pool"
for r in $(seq "$rounds"); do
	run_wrk ceiling "http://127.0.0.1:$port_ceil/"
	run_wrk cached_messages "$base/rooms/1/messages"
	run_wrk cached_ticket "$base/tickets/1"
	run_wrk post_message "$base/rooms/1/messages" -s "$root/bench/post.lua"
	# A read the cache cannot serve (before=): SQLite, as after a miss.
	run_wrk uncached_messages "$base/rooms/1/messages?before=999999999999"
	echo "   round $r done"
done

echo "== pool RSS after: $(rss)"
python3 - "$results" <<'PY'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    n, rps, p50, p99, bad = line.split()
    rows.setdefault(n, []).append((float(rps), float(p50), float(p99), int(bad)))
def med(n, i):
    return statistics.median(r[i] for r in rows[n])
ceil_rps, ceil_p99 = med("ceiling", 0), med("ceiling", 2)
goals = {
    "cached_messages": ("rps >= 0.80 x ceiling; p99 <= 1.5 x ceiling", lambda: med("cached_messages", 0) / ceil_rps >= 0.8 and med("cached_messages", 2) <= 1.5 * ceil_p99),
    "cached_ticket": ("rps >= 0.80 x ceiling", lambda: med("cached_ticket", 0) / ceil_rps >= 0.8),
    "post_message": ("rps >= 0.40 x ceiling", lambda: med("post_message", 0) / ceil_rps >= 0.4),
    "uncached_messages": ("p99 <= 3 x cached p99", lambda: med("uncached_messages", 2) <= 3 * med("cached_messages", 2)),
}
print()
print("%-18s %10s %9s %9s %8s %8s %6s  %s" % ("path", "req/s", "p50 ms", "p99 ms", "rps/ceil", "p99/ceil", "non2xx", "goal"))
for n in ["ceiling", "cached_messages", "cached_ticket", "post_message", "uncached_messages"]:
    g = goals.get(n)
    verdict = "" if g is None else ("%s: %s" % (g[0], "met" if g[1]() else "MISSED"))
    print("%-18s %10.0f %9.2f %9.2f %8.2f %8.2f %6d  %s" % (n, med(n, 0), med(n, 1), med(n, 2),
          med(n, 0) / ceil_rps, med(n, 2) / ceil_p99, sum(r[3] for r in rows[n]), verdict))
PY

if [ "$worker" = 1 ]; then
	echo
	echo "== worker: drain 100000 trivial tasks"
	python3 - > "$state/tasks.resp" <<'PY'
import json
for i in range(100000):
    t = json.dumps({"id": "bench%d" % i, "type": "send_notifications",
        "payload": {"ticket_id": 999999999, "event": "comment_added", "actor_id": None},
        "timestamp": 0, "attempts": 0}, separators=(",", ":"))
    args = ["RPUSH", "tasks:pending", t]
    out = "*%d\r\n" % len(args) + "".join("$%d\r\n%s\r\n" % (len(a.encode()), a) for a in args)
    print(out, end="")
PY
	redis-cli -s "$state/redis.sock" --pipe < "$state/tasks.resp" >/dev/null
	summary=$("$build/chatdesk-worker" | tail -n 1)
	echo "   $summary"
	python3 -c "import sys,re; d=dict(kv.split('=') for kv in sys.argv[1].split()); print('   drain rate: %.0f tasks/s (goal >= 10000)' % (int(d['taken'])/float(d['seconds'])))" "$summary"

	echo "== worker: close_inactive_tickets over $tickets tickets while wrk reads"
	sqlite3 "$CHATDESK_DB_PATH" "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i < $tickets)
		INSERT INTO tickets (subject, status, priority, requester_id, created_at, updated_at, last_activity_at)
		SELECT 'old ticket ' || i, 'open', 'normal', 1, 0, 0, 0 FROM n;"
	: > "$results.w"
	results=$results.w
	run_wrk idle_ticket_read "$base/tickets/1"
	"$build/chatdeskctl" enqueue close_inactive_tickets '{"inactive_days":1}' >/dev/null
	( "$build/chatdesk-worker" --max-tasks 1 > "$state/worker.out" 2>&1 ) &
	wpid=$!
	run_wrk busy_ticket_read "$base/tickets/1"
	wait "$wpid" || true
	echo "   worker: $(tail -n 1 "$state/worker.out")"
	python3 - "$results" <<'PY'
import sys
rows = {l.split()[0]: l.split() for l in open(sys.argv[1])}
idle, busy = float(rows["idle_ticket_read"][3]), float(rows["busy_ticket_read"][3])
print("   read p99 idle %.2f ms, while closing %.2f ms: ratio %.2f (goal <= 2)" % (idle, busy, busy / idle if idle else 0))
PY
fi
echo
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB; $(uname -sr)"
