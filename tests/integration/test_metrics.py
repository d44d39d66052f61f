#!/usr/bin/env python3
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

"""GET /metrics (API.md sections 3 and 7): Prometheus text format 0.0.4
with the names of section 7, well-formed (parsed here, line by line), no
duplicate series, cumulative histograms; counters summed over every
process of the pool and the worker; loopback or admin token only (a
non-loopback client is simulated by talking FastCGI to the pool's socket
with another REMOTE_ADDR); the Redis error counter moves while Redis is
down."""

import concurrent.futures
import json
import math
import os
import re
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
import helpers  # noqa: E402
from helpers import auth  # noqa: E402
import tap  # noqa: E402

STACK = None
POOL_SIZE = 4
RATE_LIMIT = 3
USERS = {}      # role -> (id, token)

ME = "/api/v1/users/me"

# --------------------------------------------------------------------------
# FastCGI straight to the pool's socket (helpers.fcgi_request)

def fcgi_get(path, remote_addr, token=None, extra=None):
    params = helpers.fcgi_params("GET", path, remote_addr, token)
    params.update(extra or {})
    return helpers.fcgi_request(STACK.fcgi_sock, params)


# --------------------------------------------------------------------------
# The Prometheus text format (0.0.4), parsed strictly

METRIC_NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL_NAME = r"[a-zA-Z_][a-zA-Z0-9_]*"
RX_NAME = re.compile(METRIC_NAME + r"$")
RX_SAMPLE_HEAD = re.compile(r"(" + METRIC_NAME + r")")
RX_LABEL_NAME = re.compile(LABEL_NAME)
RX_FLOAT = re.compile(r"[+-]?(?:\d+\.?\d*(?:[eE][+-]?\d+)?"
                      r"|\.\d+(?:[eE][+-]?\d+)?|Inf|inf)$|NaN$")
RX_TS = re.compile(r"-?\d+$")
TYPES = {"counter", "gauge", "histogram", "summary", "untyped"}


class ExpositionError(ValueError):
    pass


def _parse_value(s, lineno):
    if not RX_FLOAT.match(s):
        raise ExpositionError("line %d: bad value %r" % (lineno, s))
    return float(s)


def _parse_labels(line, i, lineno):
    """line[i] is just after '{'. Returns (labels dict, index after '}')."""
    labels = {}
    n = len(line)
    while True:
        while i < n and line[i] in " \t":
            i += 1
        if i < n and line[i] == "}":
            return labels, i + 1
        m = RX_LABEL_NAME.match(line, i)
        if not m:
            raise ExpositionError("line %d: bad label name at column %d: %r"
                                  % (lineno, i, line))
        name = m.group(0)
        i = m.end()
        while i < n and line[i] in " \t":
            i += 1
        if i >= n or line[i] != "=":
            raise ExpositionError("line %d: '=' expected after label %s" %
                                  (lineno, name))
        i += 1
        while i < n and line[i] in " \t":
            i += 1
        if i >= n or line[i] != '"':
            raise ExpositionError("line %d: '\"' expected for label %s" %
                                  (lineno, name))
        i += 1
        val = []
        while True:
            if i >= n:
                raise ExpositionError("line %d: unterminated label value" %
                                      lineno)
            c = line[i]
            if c == "\\":
                if i + 1 >= n or line[i + 1] not in '\\"n':
                    raise ExpositionError("line %d: bad escape in label %s"
                                          % (lineno, name))
                val.append("\n" if line[i + 1] == "n" else line[i + 1])
                i += 2
            elif c == '"':
                i += 1
                break
            else:
                val.append(c)
                i += 1
        if name in labels:
            raise ExpositionError("line %d: label %s twice" % (lineno, name))
        labels[name] = "".join(val)
        while i < n and line[i] in " \t":
            i += 1
        if i < n and line[i] == ",":
            i += 1
            continue
        if i < n and line[i] == "}":
            return labels, i + 1
        raise ExpositionError("line %d: ',' or '}' expected at column %d: %r"
                              % (lineno, i, line))


def family_of(name, types):
    """The family a sample name belongs to (histogram/summary suffixes)."""
    for suffix in ("_bucket", "_sum", "_count"):
        if name.endswith(suffix):
            base = name[:-len(suffix)]
            if types.get(base) in ("histogram", "summary"):
                if suffix == "_bucket" and types[base] != "histogram":
                    continue
                return base
    return name


def parse_exposition(text):
    """Parses the text format. Returns (types, helps, samples) where samples
    is a list of (name, labels dict, value). Raises ExpositionError on any
    malformed line, a duplicate series, a TYPE after samples of its family,
    a duplicate TYPE/HELP, or a family split into several groups."""
    if text and not text.endswith("\n"):
        raise ExpositionError("the exposition does not end with a newline")
    types, helps, samples = {}, {}, []
    seen_series = set()
    family_order = []      # families in the order of their first line
    closed = set()         # families whose group has ended
    sampled = set()        # families with a sample seen
    current = None

    def enter(fam, lineno):
        nonlocal current
        if fam == current:
            return
        if fam in closed or fam in family_order:
            raise ExpositionError("line %d: family %s appears in two groups"
                                  % (lineno, fam))
        if current is not None:
            closed.add(current)
        family_order.append(fam)
        current = fam

    for lineno, line in enumerate(text.split("\n")[:-1] if text else [], 1):
        if line.strip() == "":
            continue
        if line.startswith("#"):
            parts = line[1:].strip().split(None, 2)
            if parts and parts[0] in ("HELP", "TYPE"):
                if len(parts) < 2 or not RX_NAME.match(parts[1]):
                    raise ExpositionError("line %d: bad %s line %r" % (
                        lineno, parts[0], line))
                name = parts[1]
                if parts[0] == "TYPE":
                    if len(parts) != 3 or parts[2] not in TYPES:
                        raise ExpositionError("line %d: bad TYPE %r" %
                                              (lineno, line))
                    if name in types:
                        raise ExpositionError("line %d: second TYPE for %s"
                                              % (lineno, name))
                    if name in sampled:
                        raise ExpositionError("line %d: TYPE for %s after "
                                              "its samples" % (lineno, name))
                    types[name] = parts[2]
                else:
                    if name in helps:
                        raise ExpositionError("line %d: second HELP for %s"
                                              % (lineno, name))
                    helps[name] = parts[2] if len(parts) > 2 else ""
                enter(name, lineno)
            continue
        m = RX_SAMPLE_HEAD.match(line)
        if not m:
            raise ExpositionError("line %d: bad sample line %r" % (lineno,
                                                                   line))
        name = m.group(1)
        i = m.end()
        labels = {}
        if i < len(line) and line[i] == "{":
            labels, i = _parse_labels(line, i + 1, lineno)
        rest = line[i:]
        if not rest or rest[0] not in " \t":
            raise ExpositionError("line %d: blank expected before the value:"
                                  " %r" % (lineno, line))
        fields = rest.split()
        if len(fields) not in (1, 2):
            raise ExpositionError("line %d: value [timestamp] expected: %r"
                                  % (lineno, line))
        value = _parse_value(fields[0], lineno)
        if len(fields) == 2 and not RX_TS.match(fields[1]):
            raise ExpositionError("line %d: bad timestamp %r" % (lineno,
                                                                 fields[1]))
        series = (name, tuple(sorted(labels.items())))
        if series in seen_series:
            raise ExpositionError("line %d: duplicate series %s%r" % (
                lineno, name, labels))
        seen_series.add(series)
        fam = family_of(name, types)
        enter(fam, lineno)
        sampled.add(fam)
        samples.append((name, labels, value))
    return types, helps, samples


class Metrics:
    """A parsed /metrics answer with lookups."""

    def __init__(self, text):
        self.text = text
        self.types, self.helps, self.samples = parse_exposition(text)

    def series(self, name):
        return [(lb, v) for n, lb, v in self.samples if n == name]

    def get(self, name, **labels):
        """The value of one series; 0 when absent (counters that have not
        moved may be left out)."""
        want = {k: str(v) for k, v in labels.items()}
        found = [v for lb, v in self.series(name) if lb == want]
        return found[0] if found else 0.0

    def has(self, name, **labels):
        want = {k: str(v) for k, v in labels.items()}
        return any(lb == want for lb, _ in self.series(name))

    def total(self, name, **match):
        """Sum over the series whose labels include match."""
        return sum(v for lb, v in self.series(name)
                   if all(lb.get(k) == str(x) for k, x in match.items()))


# --------------------------------------------------------------------------

def setUpModule():
    global STACK
    STACK = harness.Stack(pool_size=POOL_SIZE, name="test_metrics", env={
        "CHATDESK_RATE_LIMIT_COUNT": str(RATE_LIMIT),
        "CHATDESK_RATE_LIMIT_WINDOW": "10"}).start()
    for role in ("admin", "agent", "customer"):
        USERS[role] = helpers.add_user(STACK, "M %s" % role,
                                       "metrics-%s@example.com" % role, role,
                                       via_me=True)


def tearDownModule():
    if STACK is not None:
        STACK.stop()


def tok(role):
    return USERS[role][1]


def is_int_value(v):
    return math.isfinite(v) and v == math.floor(v) and v >= 0


class MetricsTestBase(harness.ApiTestCase):

    def fetch(self):
        """GET /metrics through nginx (a loopback client): 200 and parsed."""
        r = STACK.http("GET", "/metrics")
        self.assertEqual(r.status, 200, r)
        self.assertMetricsType(r)
        try:
            return Metrics(r.body.decode("utf-8"))
        except (UnicodeDecodeError, ExpositionError) as e:
            self.fail("malformed /metrics: %s\n%s" % (e, r.text[:3000]))

    def assertMetricsType(self, r):
        ct = r.headers.get("Content-Type") or ""
        parts = [p.strip().lower() for p in ct.split(";")]
        self.assertEqual(parts[0], "text/plain", "Content-Type %r" % ct)
        self.assertIn("version=0.0.4", [p.replace(" ", "") for p in parts[1:]],
                      "Content-Type %r" % ct)

    def poll_metrics(self, pred, what, timeout=10.0):
        deadline = time.monotonic() + timeout
        last = None
        while True:
            last = self.fetch()
            if pred(last):
                return last
            if time.monotonic() >= deadline:
                self.fail("metrics never showed %s within %.0fs; last:\n%s"
                          % (what, timeout, last.text[:3000]))
            time.sleep(0.1)


class A_FormatTest(MetricsTestBase):

    def test_1_content_type_and_names(self):
        """loopback GET /metrics: 200 text/plain version=0.0.4, every name of API.md 7 with its TYPE"""
        # some traffic first, so that the per-route series exist
        for _ in range(3):
            self.assertEqual(STACK.http("GET", ME, headers=auth(tok(
                "customer"))).status, 200)
        self.assertEqual(STACK.http("GET", "/api/v1/users/%d" % USERS[
            "agent"][0], headers=auth(tok("customer"))).status, 200)
        r = STACK.http("GET", "/metrics")
        self.assertEqual(r.status, 200, r)
        self.assertMetricsType(r)
        self.assertRequestId(r)
        m = self.fetch()
        want = {
            "chatdesk_http_requests_total": "counter",
            "chatdesk_http_request_duration_seconds": "histogram",
            "chatdesk_cache_requests_total": "counter",
            "chatdesk_redis_errors_total": "counter",
            "chatdesk_queue_length": "gauge",
            "chatdesk_tasks_total": "counter",
            "chatdesk_ratelimit_rejections_total": "counter",
        }
        for name, typ in want.items():
            with self.subTest(name=name):
                self.assertEqual(m.types.get(name), typ,
                                 "TYPE of %s in:\n%s" % (name, m.text[:2000]))
        # the samples of each family carry exactly the labels of API.md
        label_sets = {
            "chatdesk_http_requests_total": {"route", "method", "status"},
            "chatdesk_http_request_duration_seconds_bucket":
                {"route", "method", "le"},
            "chatdesk_http_request_duration_seconds_sum": {"route", "method"},
            "chatdesk_http_request_duration_seconds_count":
                {"route", "method"},
            "chatdesk_cache_requests_total": {"family", "result"},
            "chatdesk_redis_errors_total": set(),
            "chatdesk_queue_length": {"queue"},
            "chatdesk_tasks_total": {"type", "result"},
            "chatdesk_ratelimit_rejections_total": set(),
        }
        for name, labels in label_sets.items():
            with self.subTest(series=name):
                ss = m.series(name)
                self.assertTrue(ss, "no sample of %s in:\n%s" % (
                    name, m.text[:3000]))
                for lb, v in ss:
                    self.assertEqual(set(lb), labels, "%s%r" % (name, lb))
                    self.assertFalse(math.isnan(v), "%s%r" % (name, lb))
        for name in ("chatdesk_http_requests_total",
                     "chatdesk_cache_requests_total",
                     "chatdesk_redis_errors_total", "chatdesk_tasks_total",
                     "chatdesk_ratelimit_rejections_total",
                     "chatdesk_http_request_duration_seconds_bucket",
                     "chatdesk_http_request_duration_seconds_count"):
            for lb, v in m.series(name):
                self.assertTrue(is_int_value(v), "%s%r = %r: a count" % (
                    name, lb, v))
        results = {lb["result"] for lb, _ in
                   m.series("chatdesk_cache_requests_total")}
        self.assertLessEqual(results, {"hit", "miss", "bypass"})
        families = {lb["family"] for lb, _ in
                    m.series("chatdesk_cache_requests_total")}
        self.assertGreaterEqual(len(families), 1)
        tresults = {lb["result"] for lb, _ in m.series("chatdesk_tasks_total")}
        self.assertLessEqual(tresults, {"done", "retried", "dead"})
        queues = {lb["queue"] for lb, _ in m.series("chatdesk_queue_length")}
        self.assertGreaterEqual(queues, {"pending", "processing", "delayed",
                                         "failed"}, "queue labels")
        for lb, v in m.series("chatdesk_queue_length"):
            self.assertTrue(is_int_value(v), "queue_length%r = %r" % (lb, v))

    def test_2_routes_are_patterns(self):
        """route labels are the route patterns, never a concrete path"""
        uid = USERS["agent"][0]
        self.assertEqual(STACK.http("GET", "/api/v1/users/%d" % uid,
                                    headers=auth(tok("admin"))).status, 200)
        m = self.fetch()
        self.assertGreaterEqual(m.get(
            "chatdesk_http_requests_total", route="/api/v1/users/{id}",
            method="GET", status="200"), 1, m.text[:3000])
        self.assertGreaterEqual(m.get(
            "chatdesk_http_requests_total", route=ME, method="GET",
            status="200"), 1)
        for lb, _ in m.series("chatdesk_http_requests_total"):
            self.assertNotRegex(lb["route"], r"/\d+(/|$)",
                                "a concrete id in a route label: %r" % lb)
            self.assertRegex(lb["status"], r"^([1-5]\d\d|other)$", lb)
            self.assertRegex(lb["method"], r"^[A-Z]+$|^any$", lb)

    def test_3_histograms(self):
        """histograms: cumulative buckets in le order, +Inf == _count, _sum per route+method"""
        m = self.fetch()
        base = "chatdesk_http_request_duration_seconds"
        groups = {}
        for lb, v in m.series(base + "_bucket"):
            key = (lb["route"], lb["method"])
            groups.setdefault(key, []).append((lb["le"], v))
        self.assertIn((ME, "GET"), groups, m.text[:3000])
        counts = {(lb["route"], lb["method"]): v
                  for lb, v in m.series(base + "_count")}
        sums = {(lb["route"], lb["method"]): v
                for lb, v in m.series(base + "_sum")}
        self.assertEqual(set(groups), set(counts), "_bucket vs _count groups")
        self.assertEqual(set(groups), set(sums), "_bucket vs _sum groups")
        for key, buckets in groups.items():
            with self.subTest(route=key):
                les = [le for le, _ in buckets]
                self.assertIn("+Inf", les, key)
                self.assertEqual(len(set(les)), len(les), key)
                parsed = [(float(le), v) for le, v in buckets]
                self.assertEqual(parsed, sorted(parsed, key=lambda x: x[0]),
                                 "buckets not in le order for %r" % (key,))
                self.assertEqual(les[-1], "+Inf", key)
                prev = 0
                for le, v in parsed:
                    self.assertGreaterEqual(v, prev, "bucket le=%s of %r "
                                            "below the previous one" % (le,
                                                                        key))
                    prev = v
                self.assertEqual(parsed[-1][1], counts[key],
                                 "+Inf bucket != _count for %r" % (key,))
                self.assertGreaterEqual(sums[key], 0, key)
                self.assertGreater(counts[key], 0, key)


class B_CountTest(MetricsTestBase):

    def test_1_summed_over_pool(self):
        """40 concurrent GET /users/me on a pool of 4: the counter, the histogram count and the cache reads rise by exactly 40"""
        n = 40
        before = self.fetch()
        io_before = self.proc_io()
        uid, token = USERS["customer"]

        def one(_):
            r = STACK.http("GET", ME, headers=auth(token))
            return r.status, (r.json.get("id") if r.status == 200 else r)

        with concurrent.futures.ThreadPoolExecutor(8) as ex:
            got = list(ex.map(one, range(n)))
        self.assertEqual([g for g in got if g != (200, uid)], [],
                         "requests that did not answer the caller")
        # Before the scrape below, which one more process may serve.
        served = self.served_by(io_before)
        after = self.fetch()
        if served is not None:
            # Not a check of the app: the precondition that makes the
            # exact sum below prove that counting is shared.
            self.assertGreaterEqual(served, 2, "all %d requests were served "
                                    "by one process" % n)
        d = after.get("chatdesk_http_requests_total", route=ME, method="GET",
                      status="200") - before.get(
            "chatdesk_http_requests_total", route=ME, method="GET",
            status="200")
        self.assertEqual(d, n, "chatdesk_http_requests_total{route=%s,"
                         "status=200} rose by %r, not %d (counted per "
                         "process?)\n%s" % (ME, d, n, after.text[:2500]))
        base = "chatdesk_http_request_duration_seconds"
        for name, extra in ((base + "_count", {}),
                            (base + "_bucket", {"le": "+Inf"})):
            d = after.get(name, route=ME, method="GET", **extra) - \
                before.get(name, route=ME, method="GET", **extra)
            self.assertEqual(d, n, "%s rose by %r, not %d" % (name, d, n))
        # each request reads user:{id} and its session through the cache
        for fam in ("user", "session"):
            d = after.total("chatdesk_cache_requests_total", family=fam) - \
                before.total("chatdesk_cache_requests_total", family=fam)
            self.assertEqual(d, n, "cache reads of family %s rose by %r, "
                             "not %d" % (fam, d, n))
        d = after.get("chatdesk_cache_requests_total", family="user",
                      result="hit") - before.get(
            "chatdesk_cache_requests_total", family="user", result="hit")
        self.assertGreaterEqual(d, n - POOL_SIZE, "user cache hits")

    def proc_io(self):
        """syscall counts of each pool process (None if unreadable)."""
        out = {}
        for pid in STACK.pool_pids():
            try:
                with open("/proc/%d/io" % pid) as f:
                    for ln in f:
                        if ln.startswith("syscw:"):
                            out[pid] = int(ln.split()[1])
            except OSError:
                return None
        return out

    def served_by(self, before):
        if not before:
            return None
        after = self.proc_io()
        if not after:
            return None
        return sum(1 for p, v in after.items() if v > before.get(p, v))

    def test_2_statuses(self):
        """401 and 404 answers are counted by status; an unknown path does not create a route series per path"""
        before = self.fetch()
        for _ in range(5):
            self.assertEqual(STACK.http("GET", ME).status, 401)
        for i in range(3):
            self.assertEqual(STACK.http("GET", "/api/v1/users/%d" % (
                900000 + i), headers=auth(tok("admin"))).status, 404)
        for i in range(4):
            self.assertEqual(STACK.http("GET", "/api/v1/nope-%d" % i).status,
                             404)
        after = self.fetch()

        def delta(**lb):
            return after.get("chatdesk_http_requests_total", **lb) - \
                before.get("chatdesk_http_requests_total", **lb)
        self.assertEqual(delta(route=ME, method="GET", status="401"), 5)
        self.assertEqual(delta(route="/api/v1/users/{id}", method="GET",
                               status="404"), 3)
        for lb, _ in after.series("chatdesk_http_requests_total"):
            self.assertNotIn("nope", lb["route"], lb)
        total_404 = after.total("chatdesk_http_requests_total",
                                status="404") - before.total(
            "chatdesk_http_requests_total", status="404")
        self.assertEqual(total_404, 7, "all 404s counted once each")

    def test_3_worker_counts(self):
        """tasks done and dead by chatdesk-worker show in the pool's /metrics"""
        STACK.redis("DEL", "tasks:pending", "tasks:failed")
        before = self.fetch()
        r = STACK.run_ctl("enqueue", "close_inactive_tickets",
                          '{"inactive_days":7}')
        self.assertEqual(r.returncode, 0, r.stderr)
        STACK.redis("RPUSH", "tasks:pending", json.dumps({
            "id": "it-metrics-bogus", "type": "no_such_type", "payload": {},
            "timestamp": int(time.time() * 1000), "attempts": 0}))
        w = STACK.run_worker("--max-seconds", "20")
        self.assertEqual(w.returncode, 0, "worker: %s %s" % (w.stdout,
                                                             w.stderr))
        after = self.fetch()

        def delta(**lb):
            return after.get("chatdesk_tasks_total", **lb) - \
                before.get("chatdesk_tasks_total", **lb)
        self.assertEqual(delta(type="close_inactive_tickets", result="done"),
                         1, after.text[-1500:])
        self.assertEqual(delta(type="unknown", result="dead"), 1,
                         after.text[-1500:])
        self.assertEqual(after.total("chatdesk_tasks_total", result="dead") -
                         before.total("chatdesk_tasks_total", result="dead"),
                         1)
        STACK.redis("DEL", "tasks:failed")

    def test_4_queue_length(self):
        """chatdesk_queue_length{queue} follows the queue keys"""
        now = int(time.time() * 1000)
        STACK.redis("DEL", "tasks:pending", "tasks:failed", "tasks:delayed",
                    "tasks:processing")
        try:
            for i in range(3):
                STACK.redis("RPUSH", "tasks:pending", json.dumps({
                    "id": "it-q%d" % i, "type": "close_inactive_tickets",
                    "payload": {"inactive_days": 7}, "timestamp": now,
                    "attempts": 0}))
            STACK.redis("RPUSH", "tasks:failed", "{}", "{}")
            STACK.redis("ZADD", "tasks:delayed", now + 600000, "{}")
            m = self.fetch()
            self.assertEqual(m.get("chatdesk_queue_length", queue="pending"),
                             3, m.text[-1500:])
            self.assertEqual(m.get("chatdesk_queue_length", queue="failed"),
                             2)
            self.assertEqual(m.get("chatdesk_queue_length", queue="delayed"),
                             1)
            self.assertEqual(m.get("chatdesk_queue_length",
                                   queue="processing"), 0)
            self.assertTrue(m.has("chatdesk_queue_length",
                                  queue="processing"))
        finally:
            STACK.redis("DEL", "tasks:pending", "tasks:failed",
                        "tasks:delayed")

    def test_5_ratelimit_rejections(self):
        """every 429 of the per-user rate limit is counted"""
        token = STACK.add_user("M rl", "metrics-rl@example.com", "customer")
        before = self.fetch()
        statuses = []
        for i in range(3 * RATE_LIMIT):
            r = STACK.http("POST", "/api/v1/tickets", headers=auth(token),
                           body={"subject": "rl %d" % i, "body": "x"})
            self.assertIn(r.status, (201, 429), r)
            statuses.append(r.status)
        rejected = statuses.count(429)
        # at most two windows can be involved: 2 * RATE_LIMIT accepted
        self.assertGreaterEqual(rejected, RATE_LIMIT, statuses)
        after = self.fetch()
        d = after.get("chatdesk_ratelimit_rejections_total") - before.get(
            "chatdesk_ratelimit_rejections_total")
        self.assertEqual(d, rejected, "rejections counted %r, answered %d "
                         "429s" % (d, rejected))
        d = after.get("chatdesk_http_requests_total", route="/api/v1/tickets",
                      method="POST", status="429") - before.get(
            "chatdesk_http_requests_total", route="/api/v1/tickets",
            method="POST", status="429")
        self.assertEqual(d, rejected)
        STACK.redis("DEL", "tasks:pending")


class C_AccessTest(MetricsTestBase):

    def assertMetrics200(self, r):
        self.assertEqual(r.status, 200, r)
        self.assertMetricsType(r)
        try:
            m = Metrics(r.body.decode("utf-8"))
        except (UnicodeDecodeError, ExpositionError) as e:
            self.fail("malformed /metrics over FastCGI: %s" % e)
        self.assertIn("chatdesk_http_requests_total", m.types)

    def assertHidden(self, r):
        self.assertError(r, 404, "not_found")
        self.assertNotIn(b"chatdesk_", r.body)

    def test_1_loopback_needs_no_token(self):
        """loopback: no token, a customer token or a bad token: 200"""
        self.assertMetrics200(STACK.http("GET", "/metrics"))
        self.assertMetrics200(STACK.http("GET", "/metrics", headers=auth(
            tok("customer"))))
        self.assertMetrics200(STACK.http("GET", "/metrics", headers=auth(
            "not-a-token")))
        for addr in ("127.0.0.1", "::1"):
            with self.subTest(remote_addr=addr):
                self.assertMetrics200(fcgi_get("/metrics", addr))

    def test_2_remote_without_admin_is_404(self):
        """REMOTE_ADDR 10.1.2.3: no token, customer, agent, bad token: 404 not_found"""
        for name, token in (("none", None), ("customer", tok("customer")),
                            ("agent", tok("agent")),
                            ("bad", "A" * 43)):
            with self.subTest(token=name):
                self.assertHidden(fcgi_get("/metrics", "10.1.2.3", token))
        # loopback is exactly 127.0.0.1 or ::1 (issue 13: not any 127.*)
        for addr in ("2001:db8::1", "192.168.0.1", "", "::ffff:10.1.2.3",
                     "128.0.0.1", "127.0.0.2", "127.1", "127.0.0.1.example",
                     "127.0.0.10", " 127.0.0.1", "127.0.0.1 ",
                     "::ffff:127.0.0.1", "::1%lo", "0:0:0:0:0:0:0:1"):
            with self.subTest(remote_addr=addr):
                self.assertHidden(fcgi_get("/metrics", addr))
        with self.subTest(remote_addr="absent"):
            self.assertHidden(fcgi_get("/metrics", None))

    def test_3_remote_with_admin_is_200(self):
        """REMOTE_ADDR 10.1.2.3 with an admin token: 200 metrics"""
        self.assertMetrics200(fcgi_get("/metrics", "10.1.2.3", tok("admin")))
        self.assertMetrics200(fcgi_get("/metrics", "2001:db8::1",
                                       tok("admin")))

    def test_4_fcgi_client_sanity(self):
        """the FastCGI client reaches the app like nginx does (health, users/me)"""
        r = fcgi_get("/api/v1/health", "10.1.2.3")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["status"], "ok")
        r = fcgi_get(ME, "10.1.2.3", tok("customer"))
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["id"], USERS["customer"][0])

    def test_5_demoted_or_revoked_admin(self):
        """REMOTE_ADDR 10.1.2.3: an admin demoted to customer, or a revoked admin token: 404"""
        demoted = STACK.add_user("M demoted", "metrics-demoted@example.com",
                                 "admin")
        revoked = STACK.add_user("M revoked", "metrics-revoked@example.com",
                                 "admin")
        for t in (demoted, revoked):
            self.assertMetrics200(fcgi_get("/metrics", "10.1.2.3", t))
        uid = STACK.http("GET", ME, headers=auth(demoted)).json["id"]
        r = STACK.http("PATCH", "/api/v1/users/%d" % uid, headers=auth(
            tok("admin")), body={"role": "customer"})
        self.assertEqual(r.status, 200, r)
        self.assertHidden(fcgi_get("/metrics", "10.1.2.3", demoted))
        r = STACK.http("DELETE", "/api/v1/tokens/current",
                       headers=auth(revoked))
        self.assertEqual(r.status, 204, r)
        self.assertHidden(fcgi_get("/metrics", "10.1.2.3", revoked))


class D_RedisDownTest(MetricsTestBase):

    def tearDown(self):
        if STACK.redis_proc is None:
            STACK.start_redis()

    def test_1_redis_errors(self):
        """Redis stopped: requests still answer, chatdesk_redis_errors_total rises, /metrics stays well-formed"""
        before = self.fetch().get("chatdesk_redis_errors_total")
        STACK.stop_redis()
        try:
            def moved(m):
                # requests that need Redis (session and user cache)
                for _ in range(POOL_SIZE):
                    r = STACK.http("GET", ME, headers=auth(tok("customer")))
                    self.assertEqual(r.status, 200, r)
                return m.get("chatdesk_redis_errors_total") > before
            m = self.poll_metrics(moved, "chatdesk_redis_errors_total rise")
            self.assertIn("chatdesk_queue_length", m.types)
            for lb, v in m.series("chatdesk_queue_length"):
                self.assertTrue(is_int_value(v), lb)
        finally:
            STACK.start_redis()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            r = STACK.http("GET", "/api/v1/health")
            if r.status == 200 and r.json.get("redis") == "ok":
                break
            time.sleep(0.1)
        self.assertEqual(len(STACK.pool_pids()), POOL_SIZE,
                         "a pool process died during the Redis outage")


if __name__ == "__main__":
    tap.main()
