#!/usr/bin/env bash
# chatdesk benchmark (run by hand, not by make check). Builds chatdesk -O2
# and a ceiling responder (bench/ceiling.c: one LRANGE and nothing else),
# serves both through one nginx with the same pool size, and runs wrk
# against each, interleaved, for several rounds. Prints req/s, p50, p99
# and the ratio to the ceiling measured in the same run, as DESIGN.md asks.
#
# usage: bench/run.sh [--rounds N] [--seconds S] [--conns C] [--pool P]
#                     [--no-paths] [--mixed] [--pools [LIST]] [--worker]
#                     [--maintenance] [--tickets N] [--slices K] [--pairs N]
#                     [--peer] [--memory N] [--write-ceiling]
#   --no-paths     skip the standard paths (ceiling, cached reads, post, uncached)
#   --mixed        also the mixed load (bench/mixed.lua: 8 cached reads, 2 posts
#                  in 10) in each round
#   --pools [LIST] also POST (and with --mixed the mixed load) with the pool at
#                  each size of LIST (default 2,4,8), interleaved in each round
#   --worker       also: drain rate of 100,000 trivial tasks
#   --maintenance  also: the mixed load idle, and while close_inactive_tickets
#                  and archive_old_interactions run over --tickets seeded
#                  tickets (default 1000000, one interaction each, closed and
#                  archived in --slices runs, default 1), rounds alternating
#                  with the worker running and held (SIGSTOP outside a batch),
#                  --pairs of them per task (default 12), the rest unloaded;
#                  prints the throughput and p99 ratios (goals >= 0.80, <= 2)
#   --peer         also the FastAPI peer (bench/peer/app.py: uvicorn x2, uvloop,
#                  httptools, SQLite at synchronous=NORMAL) behind the same
#                  nginx: its cached reads and POST after chatdesk's in each
#                  round (and its mixed load with --mixed), and the ratios
#                  chatdesk / FastAPI
#   --memory N     also the memory goal: the cached messages read until each
#                  pool process has served N requests on average (e.g.
#                  1000000), in 30 s legs; VmRSS, RssAnon, RssFile, PSS
#                  and USS of every process before and after each leg, the
#                  growth, and the floor: a program that links the same
#                  libraries and does nothing (bench/rss_floor.c)
#                  (goal: <= 8 MiB PSS, no growth; RSS is shown beside it)
#   --write-ceiling also the write ceilings (bench/ceiling_post.c: read the
#                  body, one INSERT into a copy of the schema, 201; no auth)
#                  at the same pool size, after chatdesk's POST in each
#                  round: write_ceiling_off never syncs and has no Redis;
#                  write_ceiling_redis never syncs but does the least Redis
#                  work API.md asks of a post (two round trips), an upper
#                  bound for any post here; write_ceiling_full syncs the WAL
#                  in every commit (SQLite's synchronous=FULL alone), no Redis
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
rounds=3 seconds=10 conns=64 pool=2 worker=0 tickets=1000000
paths=1 mixed=0 pools="" maintenance=0 slices=1 pairs=12 peer=0 memory=0 wceil=0
usage="usage: bench/run.sh [--rounds N] [--seconds S] [--conns C] [--pool P] [--no-paths] [--mixed] [--pools [LIST]] [--worker] [--maintenance] [--tickets N] [--slices K] [--pairs N] [--peer] [--memory N] [--write-ceiling]"
while [ $# -gt 0 ]; do
	case $1 in
	--rounds) rounds=$2; shift 2 ;;
	--seconds) seconds=$2; shift 2 ;;
	--conns) conns=$2; shift 2 ;;
	--pool) pool=$2; shift 2 ;;
	--no-paths) paths=0; shift ;;
	--mixed) mixed=1; shift ;;
	--pools)
		pools="2 4 8"
		shift
		if [ $# -gt 0 ] && [[ $1 =~ ^[0-9]+(,[0-9]+)*$ ]]; then
			pools=${1//,/ }
			shift
		fi ;;
	--worker) worker=1; shift ;;
	--maintenance) maintenance=1; shift ;;
	--tickets) tickets=$2; shift 2 ;;
	--slices) slices=$2; shift 2 ;;
	--pairs) pairs=$2; shift 2 ;;
	--peer) peer=1; shift ;;
	--memory) memory=$2; shift 2 ;;
	--write-ceiling) wceil=1; shift ;;
	*) echo "$usage" >&2; exit 64 ;;
	esac
done
for t in wrk redis-server redis-cli spawn-fcgi nginx sqlite3 curl python3; do
	command -v "$t" >/dev/null || { echo "bench: $t is missing (scripts/deps.sh --bench)" >&2; exit 1; }
done
# The peer runs on Debian's python3 and its packages (PATH's python3 may
# be another one without them).
peer_python=/usr/bin/python3
if [ "$peer" = 1 ] && ! "$peer_python" -c 'import fastapi, uvicorn, redis, uvloop, httptools' 2>/dev/null; then
	echo "bench: --peer needs python3-fastapi python3-uvicorn python3-redis python3-uvloop python3-httptools (scripts/deps.sh --bench)" >&2
	exit 1
fi

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

# The pool, started again at another size for --pools.
start_pool() {
	spawn-fcgi -s "$state/chatdesk.sock" -M 0660 -F "$1" -P "$state/chatdesk.pid" -- "$build/chatdesk" >/dev/null
}
start_pool "$pool"
CEILING_REDIS=$state/redis.sock CEILING_KEY=messages:room:1 \
	spawn-fcgi -s "$state/ceiling.sock" -M 0660 -F "$pool" -P "$state/ceiling.pid" -- "$state/ceiling" >/dev/null

# A free loopback port (for nginx's servers).
free_port() {
	python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'
}
port_app=$(free_port)
port_ceil=$(free_port)
: > "$state/peer.conf"
: > "$state/wceil.conf"
if [ "$wceil" = 1 ]; then
	# Each write ceiling has a database of its own with chatdesk's schema
	# (the migrations), so neither waits for the other's lock.
	cc -O2 -o "$state/ceiling_post" "$root/bench/ceiling_post.c" -lfcgi -lsqlite3 -lhiredis
	sync_us=$("$state/ceiling_post" --sync-latency "$state/sync-test")
	for sync in off full redis; do
		CHATDESK_DB_PATH=$state/wceil-$sync.db CHATDESK_ARCHIVE_DB_PATH=$state/wceil-$sync-archive.db \
			"$build/chatdeskctl" migrate >/dev/null
		mode=$sync wsock=""
		[ "$sync" = redis ] && mode=off wsock=$state/redis.sock
		CEILING_DB=$state/wceil-$sync.db CEILING_SYNC=$mode CEILING_REDIS=$wsock \
			spawn-fcgi -s "$state/wceil-$sync.sock" -M 0660 -F "$pool" \
			-P "$state/wceil-$sync.pid" -- "$state/ceiling_post" >/dev/null
		port=$(free_port)
		eval "port_wceil_$sync=$port"
		cat >> "$state/wceil.conf" <<CONF
upstream wceil_${sync}_pool { server unix:$state/wceil-$sync.sock; }
server {
    listen 127.0.0.1:$port;
    location / {
        limit_req zone=chatdesk_per_ip burst=200 nodelay;
        limit_req_status 429;
        include wceil-$sync-fastcgi.conf;
    }
}
CONF
	done
fi
if [ "$peer" = 1 ]; then
	# Its own database and Redis database (1; chatdesk's is 0), seeded
	# with the same data as chatdesk's below, the same token.
	"$peer_python" "$root/bench/peer/app.py" seed "$state/peer.db" "$token"
	DB=$state/peer.db REDIS_SOCKET=$state/redis.sock REDIS_DB=1 \
		RATE_LIMIT_COUNT=$CHATDESK_RATE_LIMIT_COUNT \
		"$peer_python" -m uvicorn --app-dir "$root/bench/peer" app:app \
		--uds "$state/peer.sock" --workers "$pool" --loop uvloop \
		--http httptools --no-access-log > "$state/peer.log" 2>&1 &
	echo $! > "$state/peer.pid"
	port_peer=$(free_port)
	# As a team would put uvicorn behind nginx: HTTP/1.1 with keep-alive
	# to the upstream (which FastCGI to libfcgi cannot use, DESIGN.md),
	# the same limit_req as the API's location.
	cat > "$state/peer.conf" <<CONF
upstream peer_pool { server unix:$state/peer.sock; keepalive 64; }
server {
    listen 127.0.0.1:$port_peer;
    location /api/ {
        limit_req zone=chatdesk_per_ip burst=200 nodelay;
        limit_req_status 429;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_set_header Host \$host;
        proxy_pass http://peer_pool;
    }
}
CONF
	for _ in $(seq 100); do [ -S "$state/peer.sock" ] && break; sleep 0.1; done
fi
mkdir -p "$state/nginx-tmp"
cp "$root"/nginx/chatdesk-locations.conf "$state/"
# The ceiling's location gets the snippet's FastCGI settings, line for line.
for c in ceiling wceil-off wceil-full wceil-redis; do
	{ grep '^fastcgi_' "$root/nginx/chatdesk-locations.conf"; echo "fastcgi_pass ${c//-/_}_pool;"; } > "$state/$c-fastcgi.conf"
done
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
if [ "$peer" = 1 ]; then
	pbase=http://127.0.0.1:$port_peer/api/v1
	curl -sf "$pbase/rooms/1/messages" -H "$auth" >/dev/null	# builds the list
	curl -sf "$pbase/tickets/1" -H "$auth" >/dev/null
fi

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
resize_pool() {
	stop_pool
	start_pool "$1"
	for _ in $(seq 100); do curl -sf "$base/health" >/dev/null && break; sleep 0.05; done
}
mixed_wrk() {	# mixed_wrk NAME: one round of the mixed load
	run_wrk "$1" "$base/rooms/1/messages" -s "$root/bench/mixed.lua"
}

: > "$results"
echo "== pool RSS before: $(rss)"
[ "$paths$mixed" = 00 ] && [ -z "$pools" ] && rounds=0
echo "== $rounds rounds of ${seconds}s, $conns connections, pool of $pool"
for r in $(seq "$rounds"); do
	if [ "$paths" = 1 ]; then
		run_wrk ceiling "http://127.0.0.1:$port_ceil/"
		run_wrk cached_messages "$base/rooms/1/messages"
		run_wrk cached_ticket "$base/tickets/1"
		run_wrk post_message "$base/rooms/1/messages" -s "$root/bench/post.lua"
		if [ "$wceil" = 1 ]; then
			run_wrk write_ceiling_off "http://127.0.0.1:$port_wceil_off/" -s "$root/bench/post.lua"
			run_wrk write_ceiling_redis "http://127.0.0.1:$port_wceil_redis/" -s "$root/bench/post.lua"
			run_wrk write_ceiling_full "http://127.0.0.1:$port_wceil_full/" -s "$root/bench/post.lua"
		fi
		# A read the cache cannot serve (before=): SQLite, as after a miss.
		run_wrk uncached_messages "$base/rooms/1/messages?before=999999999999"
		if [ "$peer" = 1 ]; then
			run_wrk peer_cached_messages "$pbase/rooms/1/messages"
			run_wrk peer_cached_ticket "$pbase/tickets/1"
			run_wrk peer_post_message "$pbase/rooms/1/messages" -s "$root/bench/post.lua"
		fi
	fi
	[ "$mixed" = 0 ] || mixed_wrk mixed
	[ "$mixed" = 0 ] || [ "$peer" = 0 ] ||
		run_wrk peer_mixed "$pbase/rooms/1/messages" -s "$root/bench/mixed.lua"
	if [ -n "$pools" ]; then
		for p in $pools; do
			resize_pool "$p"
			run_wrk "post_pool_$p" "$base/rooms/1/messages" -s "$root/bench/post.lua"
			[ "$mixed" = 0 ] || mixed_wrk "mixed_pool_$p"
		done
		resize_pool "$pool"
	fi
	echo "   round $r done"
done

echo "== pool RSS after: $(rss)"

# The memory goal: every process's VmRSS, RssAnon, RssFile, PSS and USS
# (KiB; PSS and USS from smaps_rollup: USS = Private_Clean + Private_Dirty)
# as it serves the cached read, leg after leg, until N requests a process.
mem() {
	local p
	for p in $(cat "$state/chatdesk.pid"); do
		awk -v p="$p" '/^(VmRSS|RssAnon|RssFile):/{v[$1]=$2}
		    FILENAME ~ /rollup/ && /^(Pss|Private_Clean|Private_Dirty):/{v[$1]=$2}
		    END{printf "pid %s %s/%s/%s/%s/%s; ", p, v["VmRSS:"], v["RssAnon:"], v["RssFile:"],
		        v["Pss:"], v["Private_Clean:"] + v["Private_Dirty:"]}' \
		    "/proc/$p/status" "/proc/$p/smaps_rollup"
	done
}
if [ "$memory" -gt 0 ]; then
	# The floor: a program that links chatdesk's libraries and does
	# nothing (bench/rss_floor.c), run beside the pool.
	cc -O2 -o "$state/rss_floor" "$root/bench/rss_floor.c" -Wl,--no-as-needed \
		-lcurl -lsqlite3 -lhiredis -ljansson -lsodium -lfcgi
	echo "== memory floor: a program that links chatdesk's libraries and does nothing (KiB)"
	"$state/rss_floor" | sed 's/^/   /'
	echo "== memory: the cached messages read until $memory requests a process (VmRSS/RssAnon/RssFile/PSS/USS KiB)"
	first=$(mem)
	echo "   0 requests: $first"
	served=0
	while [ "$served" -lt $((memory * pool)) ]; do
		wrk -t2 -c"$conns" -d30s -H "$auth" "$base/rooms/1/messages" > "$state/wrk.out" 2>&1
		n=$(awk '/requests in/{print $1}' "$state/wrk.out")
		served=$((served + n))
		last=$(mem)
		echo "   $served requests: $last"
	done
	python3 - "$first" "$last" "$("$state/rss_floor" | head -n 1)" <<'PY'
import re, sys
def parse(s):
    return {p: tuple(map(int, v.split("/"))) for p, v in re.findall(r"pid (\d+) ([\d/]+);", s)}
a, b = parse(sys.argv[1]), parse(sys.argv[2])
floor = int(re.search(r"RSS (\d+)", sys.argv[3]).group(1))
# The goal of issue 17 says <= 8 MiB RSS. RSS counts every shared library
# page a process has touched, in full, in every process: the floor above
# shows what linking Debian's libcurl and the rest costs before main does
# anything. PSS divides each shared page among the processes that map
# it; it is what the goal is judged by (bench/README.md, "Memory").
for p in sorted(a):
    if p not in b:
        print("   pid %s: gone (restarted?): goal not measured" % p)
        continue
    grow = b[p][0] - a[p][0]
    grow_uss = b[p][4] - a[p][4]
    print("   pid %s: RSS %d -> %d KiB (growth %+d KiB; own %d KiB, library pages %d KiB; the libraries' floor %d KiB); "
          "PSS %d KiB, USS %d KiB (growth %+d KiB): PSS <= 8 MiB %s, no growth %s; RSS <= 8 MiB %s" % (
          p, a[p][0], b[p][0], grow, b[p][1], b[p][2], floor, b[p][3], b[p][4], grow_uss,
          "met" if b[p][3] <= 8192 else "MISSED",
          "met" if grow <= 64 and grow_uss <= 64 else "MISSED",
          "met" if b[p][0] <= 8192 else "missed"))
PY
fi
# BENCH_RESULTS=FILE keeps each wrk run's line (name req/s p50 p99 non2xx).
[ -z "${BENCH_RESULTS:-}" ] || cp "$results" "$BENCH_RESULTS"
[ -s "$results" ] && python3 - "$results" "$pools" "${sync_us:-0}" "$pool" <<'PY'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    n, rps, p50, p99, bad = line.split()
    rows.setdefault(n, []).append((float(rps), float(p50), float(p99), int(bad)))
def med(n, i):
    return statistics.median(r[i] for r in rows[n])
ceil_rps, ceil_p99 = (med("ceiling", 0), med("ceiling", 2)) if "ceiling" in rows else (0, 0)
goals = {
    "cached_messages": ("rps >= 0.80 x ceiling; p99 <= 1.5 x ceiling", lambda: med("cached_messages", 0) / ceil_rps >= 0.8 and med("cached_messages", 2) <= 1.5 * ceil_p99),
    "cached_ticket": ("rps >= 0.80 x ceiling", lambda: med("cached_ticket", 0) / ceil_rps >= 0.8),
    "post_message": ("rps >= 0.50 x ceiling", lambda: med("post_message", 0) / ceil_rps >= 0.5),
    "uncached_messages": ("p99 <= 3 x cached p99", lambda: med("uncached_messages", 2) <= 3 * med("cached_messages", 2)),
}
print()
print("%-18s %10s %9s %9s %8s %8s %6s  %s" % ("path", "req/s", "p50 ms", "p99 ms", "rps/ceil", "p99/ceil", "non2xx", "goal"))
names = ["ceiling", "cached_messages", "cached_ticket", "post_message", "write_ceiling_off", "write_ceiling_redis", "write_ceiling_full", "uncached_messages", "mixed"]
names += ["post_pool_%s" % p for p in sys.argv[2].split()]
names += ["mixed_pool_%s" % p for p in sys.argv[2].split()]
names += ["peer_cached_messages", "peer_cached_ticket", "peer_post_message", "peer_mixed"]
for n in names:
    if n not in rows:
        continue
    g = goals.get(n) if ceil_rps else None
    verdict = "" if g is None else ("%s: %s" % (g[0], "met" if g[1]() else "MISSED"))
    print("%-18s %10.0f %9.2f %9.2f %8s %8s %6d  %s" % (n, med(n, 0), med(n, 1), med(n, 2),
          "%.2f" % (med(n, 0) / ceil_rps) if ceil_rps else "-",
          "%.2f" % (med(n, 2) / ceil_p99) if ceil_rps else "-", sum(r[3] for r in rows[n]), verdict))
if "write_ceiling_off" in rows and "post_message" in rows and ceil_rps:
    # The goal of issue 17 asks POST >= 0.5 x the read ceiling. A post
    # that never syncs and does only the Redis work every post must do
    # bounds every post from above: under 0.5 x, no post is over it.
    off, red, full, post = (med(n, 0) for n in ("write_ceiling_off", "write_ceiling_redis", "write_ceiling_full", "post_message"))
    print()
    print("write ceilings (one INSERT, no auth), req/s / the read ceiling (goal of issue 17: post >= 0.5):")
    print("   never synced, no Redis           %5.2f x" % (off / ceil_rps))
    print("   never synced, the post's Redis   %5.2f x  (the bound for any post that keeps API.md, here)" % (red / ceil_rps))
    print("   synced every commit, no Redis    %5.2f x" % (full / ceil_rps))
    print("   chatdesk's POST                  %5.2f x  = %.2f x that bound" % (post / ceil_rps, post / red))
    # A durable post also waits for a sync that covers its commit, and a
    # process serves one request at a time: at least sync_us more per
    # request and process than the bound spent (an estimate: the bound's
    # time per request is taken from its own run).
    sync_us, pool = float(sys.argv[3]), int(sys.argv[4])
    if sync_us > 0:
        durable = 1.0 / (1.0 / red + sync_us / 1e6 / pool)
        print("   a write and fdatasync here takes %.0f us; with it, the bound for a durable post: %.2f x" % (
              sync_us, durable / ceil_rps))
peer = [n for n in ("cached_messages", "cached_ticket", "post_message", "mixed") if n in rows and "peer_" + n in rows]
if peer:
    # Of each round's pair too: the two ran seconds apart, so the ratio
    # of a round drifts less with the machine's other load.
    seq = {}
    for line in open(sys.argv[1]):
        n, rps = line.split()[:2]
        seq.setdefault(n, []).append(float(rps))
    print()
    print("chatdesk / FastAPI peer (goals of issue 17: post >= 2, cached messages >= 4):")
    for n in peer:
        pr = [a / b for a, b in zip(seq[n], seq["peer_" + n]) if b > 0]
        print("   %-16s %6.2f x  (medians); per round, in order: %s (median %.2f); p99 %.2f x" % (n,
              med(n, 0) / med("peer_" + n, 0), " ".join("%.2f" % x for x in pr),
              statistics.median(pr), med(n, 2) / med("peer_" + n, 2)))
pools = sys.argv[2].split()
if pools:
    first = med("post_pool_" + pools[0], 0)
    print()
    print("POST by pool size (goal of issue 17: throughput does not fall from 2 to 8):")
    for p in pools:
        n = "post_pool_" + p
        print("   pool %-3s %8.0f req/s  p99 %7.2f ms  %.2f x pool %s" % (p, med(n, 0), med(n, 2), med(n, 0) / first, pools[0]))
    # Each round's sizes ran within a minute of each other: their ratio
    # to the first size, per round, says more than medians on a machine
    # whose load changes by the minute.
    for kind in ("post", "mixed"):
        if kind + "_pool_" + pools[0] not in rows:
            continue
        seq = {}
        for line in open(sys.argv[1]):
            n, rps = line.split()[:2]
            seq.setdefault(n, []).append(float(rps))
        base = seq[kind + "_pool_" + pools[0]]
        print("%s by pool size, per round (req/s; x pool %s):" % (kind, pools[0]))
        for p in pools:
            v = seq[kind + "_pool_" + p]
            rel = sorted(a / b for a, b in zip(v, base) if b > 0)
            print("   pool %-3s %s   median ratio %.2f, range %.2f .. %.2f" % (p, " ".join("%6.0f" % x for x in v),
                  statistics.median(rel), rel[0], rel[-1]))
        for a, b in zip(pools, pools[1:]):
            rel = sorted(x / y for x, y in zip(seq[kind + "_pool_" + b], seq[kind + "_pool_" + a]) if y > 0)
            print("   pool %s / pool %s per round: median %.2f, range %.2f .. %.2f" % (b, a, statistics.median(rel), rel[0], rel[-1]))
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

fi

if [ "$maintenance" = 1 ]; then
	echo
	echo "== maintenance: seeding $tickets tickets, one interaction each, by SQL into the bench's database"
	# Inactive for slices+0.5 .. 1.5 days, oldest first, so that
	# close_inactive_tickets with inactive_days = slices .. 1 closes one
	# slice per run.
	# The tasks already queued (the setup's ticket_created) run first.
	"$build/chatdesk-worker" >/dev/null
	now=$(date +%s%3N)
	sqlite3 "$CHATDESK_DB_PATH" >/dev/null <<SQL
PRAGMA busy_timeout = 10000;
BEGIN;
WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < $tickets - 1)
INSERT INTO tickets (subject, status, priority, requester_id, created_at, updated_at, last_activity_at)
SELECT 'old ticket ' || i, 'open', 'normal', 1, 0, 0,
	$now - CAST(($slices - i * $slices / $tickets + 0.5) * 86400000 AS INTEGER) FROM n;
INSERT INTO interactions (ticket_id, author_id, kind, body, created_at)
SELECT id, 1, 'comment', 'the first message of an old ticket, with a little text', 0
FROM tickets WHERE id > 1;
COMMIT;
PRAGMA wal_checkpoint(TRUNCATE);
SQL
	# All the tasks first, in order: each close pushes a send_notifications
	# per ticket behind them, which this run leaves in the queue.
	# Each slice is closed, then its interactions (and the room's messages
	# but the newest 50) archived.
	for d in $(seq "$slices" -1 1); do
		"$build/chatdeskctl" enqueue close_inactive_tickets "{\"inactive_days\":$d}" >/dev/null
		"$build/chatdeskctl" enqueue archive_old_interactions '{"older_than_days":0}' >/dev/null
	done
	results=$state/results.m
	: > "$results"
	# hold_worker PID: SIGSTOP, kept only once the stopped worker is seen
	# to hold no write lock (a worker stopped inside a batch would stall
	# the app, as issue 12 saw); returns 1 if that was never seen.
	hold_worker() {
		local i
		for i in $(seq 200); do
			kill -STOP "$1" 2>/dev/null || return 1
			sqlite3 -bail "$CHATDESK_DB_PATH" ".timeout 50" "BEGIN IMMEDIATE;" "ROLLBACK;" >/dev/null 2>&1 && return 0
			kill -CONT "$1"
			sleep 0.01
		done
		return 1
	}
	# busy_rounds LABEL: one worker task, --pairs mixed rounds alternating
	# with it running (busy_LABEL) and held (idle), so that each busy round
	# has an idle one next to it on this noisy machine; then the task runs
	# to its end without load (it yields to the app, so under load a
	# million rows take most of an hour). The round the worker ends in is
	# partly idle: kept apart (partial_LABEL), not counted.
	busy_rounds() {
		local wpid t0 n=0
		t0=$(date +%s)
		# At debug level the worker logs each batch's rows and lock time.
		CHATDESK_LOG_LEVEL=debug "$build/chatdesk-worker" --max-tasks 1 \
			> "$state/worker.out" 2> "$state/worker.log" &
		wpid=$!
		pids+=("$wpid")
		while [ "$n" -lt "$pairs" ] && kill -0 "$wpid" 2>/dev/null; do
			n=$((n + 1))
			mixed_wrk "busy_$1"
			if ! kill -0 "$wpid" 2>/dev/null; then
				sed -i '$ s/^busy_/partial_/' "$results"
				break
			fi
			if hold_worker "$wpid"; then
				mixed_wrk idle
				kill -CONT "$wpid"
			fi
		done
		wait "$wpid" || true
		echo "   $1: $(tail -n 1 "$state/worker.out") (wall $(( $(date +%s) - t0 )) s)"
		python3 - "$state/worker.log" <<'PY'
import re, statistics, sys
b = [(int(n), int(us)) for n, us in re.findall(r"maintenance batch: (\d+) rows, write lock held (\d+) us", open(sys.argv[1]).read())]
if b:
    held = sorted(us for _, us in b)
    print("      %d batches: rows median %d; write lock held median %.1f ms, p99 %.1f ms, max %.1f ms"
          % (len(b), statistics.median(n for n, _ in b), statistics.median(held) / 1000,
             held[int(len(held) * 0.99)] / 1000, held[-1] / 1000))
PY
	}
	echo "== maintenance: mixed load rounds of ${seconds}s, alternately with the worker running and held"
	mixed_wrk idle
	for d in $(seq "$slices" -1 1); do
		busy_rounds close
		busy_rounds archive
	done
	echo "   hot interactions $(sqlite3 "$CHATDESK_DB_PATH" 'SELECT count(*) FROM interactions'), archived $(sqlite3 "$CHATDESK_ARCHIVE_DB_PATH" 'SELECT count(*) FROM interactions'); open tickets $(sqlite3 "$CHATDESK_DB_PATH" "SELECT count(*) FROM tickets WHERE status <> 'closed'")"
	python3 - "$results" <<'PY'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    n, rps, p50, p99, bad = line.split()
    rows.setdefault(n, []).append((float(rps), float(p99), int(bad)))
def med(names, i):
    v = [r[i] for n in names for r in rows.get(n, [])]
    return statistics.median(v) if v else 0
idle_rps, idle_p99 = med(["idle"], 0), med(["idle"], 1)
print()
print("%-22s %6s %10s %9s %8s %8s %6s" % ("mixed load", "rounds", "req/s", "p99 ms", "rps/idle", "p99/idle", "non2xx"))
for label, names in (("idle", ["idle"]), ("while closing", ["busy_close"]),
                     ("while archiving", ["busy_archive"]),
                     ("during maintenance", ["busy_close", "busy_archive"])):
    n = sum(len(rows.get(x, [])) for x in names)
    if n == 0:
        continue
    print("%-22s %6d %10.0f %9.2f %8.2f %8.2f %6d" % (label, n, med(names, 0), med(names, 1),
          med(names, 0) / idle_rps, med(names, 1) / idle_p99, sum(r[2] for x in names for r in rows.get(x, []))))
print("(partly idle rounds, not counted: %d)" % sum(len(v) for k, v in rows.items() if k.startswith("partial_")))
# Each busy round against the idle round right after it, which drifts
# less with the machine's other load than the medians of all rounds.
seq = [l.split() for l in open(sys.argv[1])]
for label in ("busy_close", "busy_archive"):
    pr = [(float(a[1]) / float(b[1]), float(a[3]) / float(b[3])) for a, b in zip(seq, seq[1:])
          if a[0] == label and b[0] == "idle" and float(b[1]) > 0 and float(b[3]) > 0]
    if pr:
        print("%s against the next idle round, median of %d pairs: req/s %.2f x, p99 %.2f x"
              % (label, len(pr), statistics.median(x for x, _ in pr), statistics.median(y for _, y in pr)))
busy = ["busy_close", "busy_archive"]
if any(rows.get(x) for x in busy):
    t, p = med(busy, 0) / idle_rps, med(busy, 1) / idle_p99
    print("maintenance: throughput %.2f x idle (goal >= 0.80: %s), p99 %.2f x idle (goal <= 2.0: %s)"
          % (t, "met" if t >= 0.8 else "MISSED", p, "met" if p <= 2.0 else "MISSED"))
PY
fi
echo
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB; $(uname -sr)"
