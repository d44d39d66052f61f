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

"""Cache administration (API.md sections 3 and 4): GET /api/v1/cache/stats,
POST /api/v1/cache/invalidate {"key"} / {"pattern"}, POST
/api/v1/cache/clear. Admin only; invalidate and clear touch only the cache
families under the prefix (never tasks:*, ratelimit:*, worker:lock, nor
keys outside the prefix). The key and pattern checks run twice: with the
default empty key_prefix and with key_prefix "cd:"."""

import json
import os
import re
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
import helpers  # noqa: E402
from helpers import auth, is_int, session_key  # noqa: E402
import tap  # noqa: E402

STATS_KEYS = {"connected", "keys", "hits", "misses", "hit_rate",
              "keyspace_hits", "keyspace_misses", "evicted_keys",
              "used_memory"}
# The cache families of API.md section 4, and the lease family.
FAMILIES = ("messages:room:", "user:", "ticket:", "session:", "stats:user:",
            "lease:")
ROUTES = (("GET", "/api/v1/cache/stats", None),
          ("POST", "/api/v1/cache/invalidate", {"key": "user:777"}),
          ("POST", "/api/v1/cache/clear", {}))


RX_CACHE_SAMPLE = re.compile(
    r"^chatdesk_cache_requests_total\{([^}]*)\}\s+(\S+)\s*$", re.M)


def metrics_cache_totals(text):
    """(hits, misses) summed over families from /metrics text."""
    out = {"hit": 0, "miss": 0}
    for labels, value in RX_CACHE_SAMPLE.findall(text):
        lb = dict(re.findall(r'(\w+)="([^"]*)"', labels))
        if lb.get("result") in out:
            out[lb["result"]] += int(float(value))
    return out["hit"], out["miss"]


class CacheAdminMixin:
    """The tests; a subclass says PREFIX and the stack's env."""

    PREFIX = ""
    ENV = {}
    NAME = "test_cache_admin"
    stack = None
    users = None

    @classmethod
    def setUpClass(cls):
        cls.stack = harness.Stack(pool_size=3, env=cls.ENV,
                                  name=cls.NAME).start()
        cls.users = {}
        for role in ("admin", "agent", "customer"):
            cls.users[role] = helpers.add_user(
                cls.stack, "C %s" % role, "cache-%s-%s@example.com" % (
                    role, cls.PREFIX.strip(":") or "np"), role, via_me=True)

    @classmethod
    def tearDownClass(cls):
        if cls.stack is not None:
            cls.stack.stop()

    # ---- helpers -------------------------------------------------------

    def tok(self, role):
        return self.users[role][1]

    def k(self, name):
        return self.PREFIX + name

    def req(self, method, path, role="admin", body=None):
        headers = auth(self.tok(role)) if role else {}
        return self.stack.http(method, path, headers=headers, body=body)

    def all_keys(self):
        keys, cursor = set(), b"0"
        while True:
            cursor, batch = self.stack.redis("SCAN", cursor, "COUNT", 1000)
            keys.update(k.decode() for k in batch)
            if cursor in (b"0", "0"):
                return keys

    def is_cache_key(self, key):
        """Under the prefix and in a cache family."""
        if not key.startswith(self.PREFIX):
            return False
        rest = key[len(self.PREFIX):]
        return any(rest.startswith(f) for f in FAMILIES)

    def protected(self):
        """Keys that invalidate and clear must never touch (each with its
        type), for this stack's prefix."""
        p = self.PREFIX
        keys = {
            p + "tasks:pending": "list", p + "tasks:processing": "list",
            p + "tasks:delayed": "zset", p + "tasks:failed": "list",
            p + "worker:lock": "string", p + "ratelimit:7:1234567": "string",
            p + "ratelimit:%d:99" % self.users["customer"][0]: "string",
            p + "users:1": "string", p + "userx": "string",
            p + "ticketing:1": "string", p + "stats:room:1": "string",
            "other:user:1": "string", "other:ticket:2": "string",
        }
        if p:
            # the same names without the prefix belong to someone else
            keys.update({
                "user:1": "string", "user:901": "string",
                "ticket:903": "string", "session:" + "ab" * 32: "string",
                "messages:room:904": "list",
                "stats:user:905:days:30": "string",
                "lease:ticket:906": "string", "tasks:pending": "list",
                "worker:lock": "string", "ratelimit:1:1": "string",
                "x" + p + "user:901": "string",
            })
        return keys

    def cache_seed(self):
        """Cache keys under the prefix (all in a family)."""
        p = self.PREFIX
        return {
            p + "user:901": "string", p + "user:902": "string",
            p + "user:9020": "string", p + "ticket:903": "string",
            p + "session:" + "cd" * 32: "string",
            p + "messages:room:904": "list",
            p + "stats:user:905:days:30": "string",
            p + "stats:user:905:days:7": "string",
            p + "lease:ticket:906": "string",
        }

    def seed(self):
        r = self.stack.redis
        now = int(time.time() * 1000)
        task = json.dumps({"id": "it-ca", "type": "close_inactive_tickets",
                           "payload": {"inactive_days": 7},
                           "timestamp": now, "attempts": 0})
        for key, typ in list(self.protected().items()) + \
                list(self.cache_seed().items()):
            r("DEL", key)
            if typ == "list":
                r("RPUSH", key, task, '{"id":2}')
            elif typ == "zset":
                r("ZADD", key, now + 600000, task)
            elif key.endswith("worker:lock"):
                r("SET", key, "tok-" + key, "PX", 600000)
            else:
                r("SET", key, '{"v":"%s"}' % key, "EX", 600)

    def dumps(self, keys):
        return {k: (self.stack.redis("DUMP", k),
                    self.stack.redis("PTTL", k) > 0) for k in keys}

    def warm_admin(self):
        """An admin request, so that the admin's session is cached and the
        next admin request writes no key of its own."""
        r = self.req("GET", "/api/v1/users/me")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.stack.redis("EXISTS", self.k(session_key(
            self.tok("admin")))), 1, "the admin's session is not cached "
            "under %r" % self.k(session_key(self.tok("admin"))))

    def post(self, path, body):
        return self.req("POST", path, body=body)

    def assertDeleted(self, r, n):
        self.assertEqual(r.status, 200, r)
        self.assertJsonType(r)
        self.assertEqual(r.json, {"deleted": n}, r)

    def assertKeysNow(self, expected, what):
        now = self.all_keys()
        self.assertEqual(sorted(now - expected), [], "%s: keys appeared" %
                         what)
        self.assertEqual(sorted(expected - now), [], "%s: keys vanished" %
                         what)

    # ---- tests -------------------------------------------------------

    def test_1_access(self):
        """admin only: no token 401, customer and agent 403; nothing deleted by a refused call"""
        self.seed()
        before = self.all_keys()
        for method, path, body in ROUTES:
            with self.subTest(route=path, who="nobody"):
                r = self.stack.http(method, path, body=body)
                self.assertError(r, 401, "unauthorized")
                self.assertIn("bearer", (r.headers.get("WWW-Authenticate")
                                         or "").lower(), r)
            for role in ("customer", "agent"):
                with self.subTest(route=path, who=role):
                    r = self.req(method, path, role=role, body=body)
                    self.assertError(r, 403, "forbidden")
        # the refused calls may have cached the callers' sessions, nothing
        # else; every key seeded is still there
        now = self.all_keys()
        self.assertEqual(sorted(before - now), [], "keys deleted by refused "
                         "calls")
        for method, path, body in ROUTES:
            with self.subTest(route=path, who="admin"):
                self.assertEqual(self.req(method, path, body=body).status,
                                 200)

    def test_2_prefix_in_use(self):
        """the app's cache keys live under the prefix"""
        uid = self.users["agent"][0]
        self.stack.redis("DEL", self.k("user:%d" % uid))
        r = self.req("GET", "/api/v1/users/%d" % uid)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.stack.redis("EXISTS", self.k("user:%d" % uid)),
                         1, "no %r after a read" % self.k("user:%d" % uid))
        # a post writes a rate-limit counter and a task
        r = self.req("POST", "/api/v1/tickets", role="customer",
                     body={"subject": "prefix", "body": "x"})
        self.assertEqual(r.status, 201, r)
        self.assertEqual(self.req("GET", "/api/v1/tickets/%d" % r.json["id"],
                                  role="customer").status, 200)
        if self.PREFIX:
            # API.md 4: every key the app writes is under the prefix
            outside = {k for k in self.all_keys()
                       if not k.startswith(self.PREFIX)}
            self.assertEqual(sorted(outside - set(self.protected())), [],
                             "the app wrote keys outside the prefix")
        self.stack.redis("DEL", self.k("tasks:pending"))

    def test_3_stats(self):
        """stats: exactly the fields of API.md, types, hits/misses move with cached reads and equal /metrics"""
        self.warm_admin()
        r = self.req("GET", "/api/v1/cache/stats")
        self.assertEqual(r.status, 200, r)
        self.assertJsonType(r)
        s1 = r.json
        self.assertEqual(set(s1), STATS_KEYS, r)
        self.assertIs(s1["connected"], True, r)
        for f in STATS_KEYS - {"connected", "hit_rate"}:
            self.assertTrue(is_int(s1[f]) and s1[f] >= 0, "%s in %r" % (f, r))
        self.assertIsInstance(s1["hit_rate"], (int, float), r)
        self.assertFalse(isinstance(s1["hit_rate"], bool), r)
        self.assertTrue(0 <= s1["hit_rate"] <= 1, r)
        self.assertGreater(s1["used_memory"], 0, r)
        ncache = len([k for k in self.all_keys() if self.is_cache_key(k)])
        self.assertGreaterEqual(s1["keys"], ncache, r)
        self.assertLessEqual(s1["keys"], self.stack.redis("DBSIZE"), r)

        # a fresh user read twice: one miss, then a hit
        uid = self.users["customer"][0]
        self.stack.redis("DEL", self.k("user:%d" % uid))
        r = self.req("GET", "/api/v1/users/%d" % uid)
        self.assertEqual((r.status, r.headers.get("X-Cache")), (200, "MISS"),
                         r)
        r = self.req("GET", "/api/v1/users/%d" % uid)
        self.assertEqual((r.status, r.headers.get("X-Cache")), (200, "HIT"),
                         r)
        r = self.req("GET", "/api/v1/cache/stats")
        self.assertEqual(r.status, 200, r)
        s2 = r.json
        self.assertEqual(s2["misses"] - s1["misses"], 1,
                         "misses %r -> %r after one MISS" % (s1, s2))
        self.assertGreaterEqual(s2["hits"] - s1["hits"], 1,
                                "hits %r -> %r after a HIT" % (s1, s2))
        total = s2["hits"] + s2["misses"]
        self.assertAlmostEqual(s2["hit_rate"], s2["hits"] / total if total
                               else 0.0, places=6)
        # hits/misses are the app's own, summed over the pool: the same
        # shared counters as /metrics (no cache read in between: /metrics
        # from loopback authenticates nobody)
        m = self.stack.http("GET", "/metrics")
        self.assertEqual(m.status, 200, m)
        self.assertEqual(metrics_cache_totals(m.text), (s2["hits"],
                                                        s2["misses"]),
                         "cache/stats %r vs /metrics" % (s2,))
        info = self.stack.redis("INFO", "stats").decode()
        kh = int(re.search(r"keyspace_hits:(\d+)", info).group(1))
        self.assertLessEqual(s2["keyspace_hits"], kh)
        self.assertGreater(s2["keyspace_hits"], 0)

    def test_4_invalidate_key(self):
        """invalidate {"key":"user:901"}: that key only, {"deleted":1}; again: 0"""
        self.seed()
        self.warm_admin()
        before = self.all_keys()
        dumps = self.dumps(set(self.protected()))
        r = self.post("/api/v1/cache/invalidate", {"key": "user:901"})
        self.assertDeleted(r, 1)
        self.assertKeysNow(before - {self.k("user:901")}, "after invalidate")
        self.assertEqual(self.dumps(set(self.protected())), dumps)
        self.assertDeleted(self.post("/api/v1/cache/invalidate",
                                     {"key": "user:901"}), 0)
        self.assertKeysNow(before - {self.k("user:901")}, "after a 2nd one")
        for name in ("messages:room:904", "stats:user:905:days:30",
                     "session:" + "cd" * 32, "ticket:903"):
            with self.subTest(key=name):
                self.assertDeleted(self.post("/api/v1/cache/invalidate",
                                             {"key": name}), 1)
                self.assertEqual(self.stack.redis("EXISTS", self.k(name)), 0)
        self.assertEqual(self.dumps(set(self.protected())), dumps)

    def test_5_invalidate_pattern(self):
        """invalidate {"pattern":"user:*"}: every user key under the prefix, nothing else"""
        self.seed()
        self.warm_admin()
        before = self.all_keys()
        dumps = self.dumps(set(self.protected()))
        users = {k for k in before if k.startswith(self.k("user:"))}
        self.assertGreaterEqual(len(users), 4, users)
        r = self.post("/api/v1/cache/invalidate", {"pattern": "user:*"})
        self.assertDeleted(r, len(users))
        self.assertKeysNow(before - users, "after user:*")
        self.assertEqual(self.dumps(set(self.protected())), dumps)
        # a narrower pattern inside a family
        before = self.all_keys()
        r = self.post("/api/v1/cache/invalidate",
                      {"pattern": "stats:user:905:*"})
        self.assertDeleted(r, 2)
        self.assertKeysNow(before - {self.k("stats:user:905:days:30"),
                                     self.k("stats:user:905:days:7")},
                           "after stats:user:905:*")
        self.assertDeleted(self.post("/api/v1/cache/invalidate",
                                     {"pattern": "user:*"}), 0)
        self.assertEqual(self.dumps(set(self.protected())), dumps)

    def test_6_outside_families_400(self):
        """a key or pattern outside the cache families: 400 invalid_field, nothing deleted"""
        self.seed()
        self.warm_admin()
        before = self.all_keys()
        dumps = self.dumps(set(self.protected()))
        bodies = [
            {"key": "tasks:pending"}, {"key": "tasks:failed"},
            {"key": "worker:lock"}, {"key": "ratelimit:7:1234567"},
            {"key": "users:1"}, {"key": "other:user:1"},
            {"pattern": "*"}, {"pattern": "ratelimit:*"},
            {"pattern": "tasks:*"}, {"pattern": "worker:*"},
            {"pattern": "*user:*"}, {"pattern": "?ser:*"},
            {"pattern": "u*"}, {"pattern": "other:*"},
            {"key": "user:1\r\nFLUSHALL"},
            {"pattern": "user:*\r\n*3\r\n$3\r\nDEL\r\n"},
        ]
        if self.PREFIX:
            # written with the prefix: the app adds its own
            bodies += [{"pattern": self.PREFIX + "*"},
                       {"pattern": self.PREFIX + "tasks:*"}]
        for body in bodies:
            with self.subTest(body=body):
                r = self.post("/api/v1/cache/invalidate", body)
                err = self.assertError(r, 400, "invalid_field")
                self.assertIn(err.get("field"), ("key", "pattern"), r)
                self.assertEqual(err.get("field"), list(body)[0], r)
        for body in ({}, {"key": ""}, {"pattern": ""}, {"key": 5},
                     {"pattern": ["user:*"]}, {"key": None}):
            with self.subTest(body=body):
                r = self.post("/api/v1/cache/invalidate", body)
                self.assertError(r, 400, "invalid_field")
        self.assertKeysNow(before, "after refused invalidations")
        self.assertEqual(self.dumps(set(self.protected())), dumps)

    def test_7_clear(self):
        """clear: every cache key under the prefix, {"deleted":N}; tasks:*, worker:lock, ratelimit:* and foreign keys untouched"""
        self.seed()
        # some keys the app writes itself
        for role in ("customer", "agent"):
            self.assertEqual(self.req("GET", "/api/v1/users/me",
                                      role=role).status, 200)
        self.warm_admin()
        before = self.all_keys()
        dumps = self.dumps(set(self.protected()))
        cache = {k for k in before if self.is_cache_key(k)}
        self.assertGreaterEqual(cache, set(self.cache_seed()))
        self.assertTrue(before & set(self.protected()) ==
                        set(self.protected()), "seeding failed")
        r = self.post("/api/v1/cache/clear", None)
        self.assertDeleted(r, len(cache))
        self.assertKeysNow(before - cache, "after clear")
        self.assertEqual(self.dumps(set(self.protected())), dumps,
                         "a protected key changed")
        # an empty JSON object is a bodiless POST too
        self.warm_admin()
        cache = {k for k in self.all_keys() if self.is_cache_key(k)}
        r = self.post("/api/v1/cache/clear", {})
        self.assertDeleted(r, len(cache))
        self.assertEqual([k for k in self.all_keys() if self.is_cache_key(k)],
                         [])
        # the app works on: it refills what it reads
        r = self.req("GET", "/api/v1/users/me", role="customer")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.stack.redis("EXISTS", self.k("user:%d" % (
            self.users["customer"][0]))), 1)
        for key in ("tasks:pending", "worker:lock"):
            self.stack.redis("DEL", self.k(key))

    def test_8_many_keys(self):
        """thousands of keys (several SCAN rounds): clear and a pattern count every cache key once and spare the rest"""
        n = 2500
        p = self.PREFIX
        args = []
        for i in range(n):
            args += [p + "ticket:%d" % (100000 + i), "t",
                     p + "ratelimit:%d:1" % (100000 + i), "1"]
        self.stack.redis("MSET", *args)
        args = []
        for i in range(n):
            args += [p + "user:%d" % (100000 + i), "u",
                     "other:" + p + "user:%d" % i, "o"]
        self.stack.redis("MSET", *args)
        self.warm_admin()
        before = self.all_keys()
        tickets = {k for k in before if k.startswith(p + "ticket:")}
        self.assertGreaterEqual(len(tickets), n)
        r = self.post("/api/v1/cache/invalidate", {"pattern": "ticket:*"})
        self.assertDeleted(r, len(tickets))
        self.assertKeysNow(before - tickets, "after ticket:*")
        before = self.all_keys()
        cache = {k for k in before if self.is_cache_key(k)}
        self.assertGreaterEqual(len(cache), n)
        r = self.post("/api/v1/cache/clear", None)
        self.assertDeleted(r, len(cache))
        self.assertKeysNow(before - cache, "after clear")
        self.assertEqual(len([k for k in self.all_keys()
                              if k.startswith(p + "ratelimit:")]) >= n, True)
        for i in range(0, n, 500):
            self.stack.redis("DEL", *[p + "ratelimit:%d:1" % (100000 + j)
                                      for j in range(i, i + 500)])
            self.stack.redis("DEL", *["other:" + p + "user:%d" % j
                                      for j in range(i, i + 500)])


class A_DefaultPrefixTest(CacheAdminMixin, harness.ApiTestCase):
    PREFIX = ""
    ENV = {}
    NAME = "test_cache_admin"

    def test_9_redis_down(self):
        """Redis stopped: stats 200 connected false; invalidate and clear 503 unavailable"""
        self.stack.stop_redis()
        try:
            deadline = time.monotonic() + 10
            while True:
                r = self.req("GET", "/api/v1/cache/stats")
                if r.status == 200 and r.json.get("connected") is False:
                    break
                if time.monotonic() > deadline:
                    self.fail("stats never said connected false: %r" % (r,))
                time.sleep(0.1)
            self.assertEqual(set(r.json), STATS_KEYS, r)
            r = self.post("/api/v1/cache/invalidate", {"key": "user:1"})
            self.assertError(r, 503, "unavailable")
            r = self.post("/api/v1/cache/clear", None)
            self.assertError(r, 503, "unavailable")
        finally:
            self.stack.start_redis()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            r = self.req("GET", "/api/v1/cache/stats")
            if r.status == 200 and r.json.get("connected") is True:
                break
            time.sleep(0.1)
        self.assertIs(r.json.get("connected"), True, r)


class B_PrefixedTest(CacheAdminMixin, harness.ApiTestCase):
    PREFIX = "cd:"
    ENV = {"CHATDESK_KEY_PREFIX": "cd:"}
    NAME = "test_cache_admin_prefixed"


if __name__ == "__main__":
    tap.main()
