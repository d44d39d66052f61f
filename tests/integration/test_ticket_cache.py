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

"""The ticket and stats caches (API.md sections 3 and 4): GET
/tickets/{id} is cache-aside on ticket:{id} (MISS, then HIT, TTL 300 s
jittered), every kind of write invalidates it (the next read is a MISS
with the new values); GET /stats/users/{id} (shape, who may read it,
?days=) is cached in stats:user:{id}:days:{d} and dropped by a ticket
change involving that user; with Redis stopped both answer BYPASS with
correct data, and HIT again once it is back.

The ticket routes themselves are in test_tickets.py."""

import datetime
import json
import os
import re
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
import helpers  # noqa: E402
from helpers import User, is_int, unseal  # noqa: E402
import tap  # noqa: E402

STACK = None
U = {}
RECORD_TTL = 300
REPEAT = 4          # consecutive HITs once Redis is back (both processes)

TIME_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
STATS_KEYS = {"user_id", "period_days", "total", "by_status",
              "avg_resolution_hours", "calculated_at"}


def add_user(name, role):
    uid, tok = helpers.add_user(
        STACK, name, "%s-%d@example.test" % (name, os.getpid()), role)
    U[name] = User(uid, tok, name, role)
    return U[name]


def who_of(who):
    return U[who] if isinstance(who, str) else who


def call(method, path, who=None, body=None):
    return helpers.request(STACK, method, path,
                           None if who is None else who_of(who).token, body)


def parse_time(s):
    return datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ")


def tkey(tid):
    return "ticket:%d" % tid


def skey(uid, days=30):
    return "stats:user:%d:days:%d" % (uid, days)


def setUpModule():
    global STACK
    STACK = harness.Stack(
        name="test_ticket_cache", pool_size=2,
        env={"CHATDESK_RATE_LIMIT_COUNT": "1000000"}).start()
    for name, role in helpers.TICKET_CAST:
        add_user(name, role)


def tearDownModule():
    if STACK is not None:
        STACK.stop()


class CacheCase(harness.ApiTestCase):

    def xcache(self, r):
        v = r.headers.get_all("X-Cache")
        self.assertEqual(len(v), 1, "one X-Cache on %r: %r" % (r, r.headers))
        return v[0]

    def create(self, who="cust1", subject="cache me", priority=None):
        obj = {"subject": subject, "body": "body of " + subject}
        if priority:
            obj["priority"] = priority
        r = call("POST", "/api/v1/tickets", who, obj)
        self.assertEqual(r.status, 201, r)
        return r.json

    def get(self, tid, who="agent1"):
        r = call("GET", "/api/v1/tickets/%d" % tid, who)
        self.assertEqual(r.status, 200, r)
        self.assertJsonType(r)
        return r

    def patch(self, tid, who, obj):
        r = call("PATCH", "/api/v1/tickets/%d" % tid, who, obj)
        self.assertEqual(r.status, 200, r)
        return r.json

    def comment(self, tid, who, body):
        r = call("POST", "/api/v1/tickets/%d/interactions" % tid, who,
                 {"body": body})
        self.assertEqual(r.status, 201, r)
        return r.json

    def stats(self, uid, who, query="?days=30"):
        r = call("GET", "/api/v1/stats/users/%d%s" % (uid, query), who)
        self.assertEqual(r.status, 200, r)
        self.assertJsonType(r)
        self.assertStats(r.json)
        return r

    def assertStats(self, s):
        self.assertEqual(set(s), STATS_KEYS, "keys of stats %r" % (s,))
        self.assertTrue(is_int(s["user_id"]), s)
        self.assertTrue(is_int(s["period_days"]), s)
        self.assertTrue(is_int(s["total"]) and s["total"] >= 0, s)
        self.assertIsInstance(s["by_status"], dict, s)
        self.assertEqual(set(s["by_status"]), {"open", "pending", "closed"},
                         s)
        for v in s["by_status"].values():
            self.assertTrue(is_int(v) and v >= 0, s)
        self.assertEqual(sum(s["by_status"].values()), s["total"], s)
        v = s["avg_resolution_hours"]
        self.assertTrue(v is None or (isinstance(v, (int, float)) and
                                      not isinstance(v, bool) and v >= 0), s)
        self.assertRegex(s["calculated_at"], TIME_RE, s)

    def cached(self, key):
        v = unseal(STACK.redis("GET", key))
        return None if v is None else json.loads(v.decode("utf-8"))

    def assertTtl(self, key):
        ttl = STACK.redis("TTL", key)
        self.assertTrue(0 < ttl <= RECORD_TTL, "TTL of %s is %r" % (key, ttl))

    def warm(self, tid, who="agent1"):
        """GETs until a HIT (the first may be a MISS); returns its body."""
        for _ in range(3):
            r = self.get(tid, who)
            if self.xcache(r) == "HIT":
                return r.json
        self.fail("no HIT for ticket %d after 3 GETs: %r" % (tid, r))


# ------------------------------------------------------------- tickets

class TicketCacheTest(CacheCase):

    def test_miss_then_hit(self):
        """GET /tickets/{id}: MISS, then HIT with the same body; ticket:{id} holds it with TTL in (0,300]"""
        t = self.create("cust1", "miss then hit")
        tid = t["id"]
        STACK.redis("DEL", tkey(tid))
        r1 = self.get(tid, "agent1")
        self.assertEqual(self.xcache(r1), "MISS", r1)
        self.assertEqual(r1.json, t)
        self.assertEqual(self.cached(tkey(tid)), t)
        self.assertTtl(tkey(tid))
        for who in ("agent1", "agent2", "cust1", "admin1"):
            with self.subTest(who=who):
                r = self.get(tid, who)
                self.assertEqual(self.xcache(r), "HIT", r)
                self.assertEqual(r.json, t)
                self.assertEqual(r.body, r1.body)

    def test_ttl_jitter_bounds(self):
        """every ticket:{id} filled has a TTL in (0,300]"""
        ttls = []
        for i in range(10):
            tid = self.create("cust1", "ttl %d" % i)["id"]
            STACK.redis("DEL", tkey(tid))
            self.assertEqual(self.xcache(self.get(tid)), "MISS")
            ttl = STACK.redis("TTL", tkey(tid))
            ttls.append(ttl)
        for ttl in ttls:
            self.assertTrue(0 < ttl <= RECORD_TTL, ttls)

    def test_each_write_invalidates(self):
        """after PATCH status, PATCH priority, subject, assignee, a comment, a close and a reopening comment: the next GET is a MISS with the new values"""
        t = self.create("cust1", "invalidate me")
        tid = t["id"]
        writes = [
            ("PATCH status", "agent1",
             lambda: self.patch(tid, "agent1", {"status": "pending"}),
             {"status": "pending"}),
            ("PATCH priority", "agent2",
             lambda: self.patch(tid, "agent2", {"priority": "urgent"}),
             {"priority": "urgent"}),
            ("PATCH subject", "admin1",
             lambda: self.patch(tid, "admin1", {"subject": "new subject"}),
             {"subject": "new subject"}),
            ("PATCH assignee", "agent1",
             lambda: self.patch(tid, "agent1",
                                {"assignee_id": U["agent2"].id}),
             {"assignee_id": U["agent2"].id}),
            ("staff comment", "agent2",
             lambda: self.comment(tid, "agent2", "we are on it"), {}),
            ("requester comment", "cust1",
             lambda: self.comment(tid, "cust1", "thanks"), {}),
            ("requester close", "cust1",
             lambda: self.patch(tid, "cust1", {"status": "closed"}),
             {"status": "closed"}),
            ("reopening comment", "cust1",
             lambda: self.comment(tid, "cust1", "it is back"),
             {"status": "open", "closed_at": None}),
        ]
        for what, who, write, expect in writes:
            with self.subTest(write=what):
                before = self.warm(tid, "agent1")
                time.sleep(0.005)
                out = write()
                self.assertIsNone(STACK.redis("GET", tkey(tid)),
                                  "%s left ticket:%d in the cache" % (what,
                                                                      tid))
                for reader in ("cust1", "agent1"):
                    r = self.get(tid, reader)
                    if reader == "cust1":
                        self.assertEqual(self.xcache(r), "MISS",
                                         "first GET after %s: %r" % (what, r))
                    else:
                        self.assertEqual(self.xcache(r), "HIT", r)
                    now = r.json
                    for k, v in expect.items():
                        self.assertEqual(now[k], v, "%s after %s" % (k, what))
                    if "kind" in out:       # a comment
                        self.assertGreater(
                            parse_time(now["last_activity_at"]),
                            parse_time(before["last_activity_at"]), what)
                        self.assertGreaterEqual(
                            parse_time(now["last_activity_at"]),
                            parse_time(out["created_at"]), what)
                    else:                   # a PATCH answers the ticket
                        self.assertEqual(now, out, what)
                    self.assertGreater(parse_time(now["updated_at"]),
                                       parse_time(before["updated_at"]), what)
                self.assertEqual(self.cached(tkey(tid)), now)

    def test_failed_write_keeps_value(self):
        """a refused PATCH (400, 403) neither changes nor drops the right value"""
        t = self.create("cust1", "refused")
        tid = t["id"]
        before = self.warm(tid)
        r = call("PATCH", "/api/v1/tickets/%d" % tid, "cust1",
                 {"priority": "urgent"})
        self.assertError(r, 403, "forbidden")
        r = call("PATCH", "/api/v1/tickets/%d" % tid, "agent1",
                 {"priority": "bogus"})
        self.assertError(r, 400, "invalid_field")
        for who in ("agent1", "cust1"):
            self.assertEqual(self.get(tid, who).json, before)

    def test_cached_ticket_hidden_from_other_customer(self):
        """a cached ticket is still 404 for another customer"""
        t = self.create("cust1", "hidden while cached")
        self.warm(t["id"])
        r = call("GET", "/api/v1/tickets/%d" % t["id"], "cust2")
        self.assertError(r, 404, "not_found")

    def test_hit_is_one_round_trip(self):
        """a cached GET /tickets/{id} is one Redis round trip: the
        session's GET and the ticket's, sent together"""
        # Tokens of their own, used already: a token's use is recorded
        # (and its cached session dropped) at most once a minute, which
        # must not fall among the reads counted.
        for name, role in (("tripcust", "customer"), ("tripagent", "agent")):
            add_user(name, role)
            self.assertEqual(call("GET", "/api/v1/users/me", name).status,
                             200)
            self.assertEqual(call("GET", "/api/v1/users/me", name).status,
                             200)
        t = self.create("tripcust", "one round trip")
        self.warm(t["id"], "tripagent")
        self.warm(t["id"], "tripcust")
        for who in ("tripagent", "tripcust"):
            with self.subTest(who=who):
                n = 30
                seen = []

                def reads():
                    for _ in range(n):
                        seen.append(self.xcache(self.get(t["id"], who)))
                trips = helpers.redis_round_trips(STACK, reads)
                self.assertEqual(seen, ["HIT"] * n)
                self.assertEqual(trips, n)
        cmds = helpers.redis_monitor(STACK,
                                     lambda: self.get(t["id"], "tripagent"))
        self.assertEqual([c[:2] for c in cmds],
                         [["GET", helpers.session_key(U["tripagent"].token)],
                          ["GET", tkey(t["id"])]], cmds)

    def test_missing_ticket(self):
        """a missing ticket is 404, read twice (nothing cached makes it exist)"""
        for _ in range(3):
            r = call("GET", "/api/v1/tickets/999999", "agent1")
            self.assertError(r, 404, "not_found")


# ------------------------------------------------------------- stats

class StatsTest(CacheCase):

    def test_shape_and_counts(self):
        """stats of a customer: exact fields, counts by status over the tickets it requested"""
        sc = add_user("statcust", "customer")
        ts = [self.create(sc, "stat %d" % i)["id"] for i in range(4)]
        self.patch(ts[0], "agent1", {"status": "pending"})
        self.patch(ts[1], "agent1", {"status": "closed"})
        self.patch(ts[2], sc, {"status": "closed"})
        self.create("cust1", "not counted")     # someone else's
        for who in (sc, "agent1", "admin1"):
            for query, days in (("?days=30", 30), ("", 30), ("?days=1", 1),
                                ("?days=365", 365), ("?days=7", 7)):
                with self.subTest(who=getattr(who, "name", who), q=query):
                    s = self.stats(sc.id, who, query).json
                    self.assertEqual(s["user_id"], sc.id)
                    self.assertEqual(s["period_days"], days)
                    self.assertEqual(s["total"], 4)
                    self.assertEqual(s["by_status"], {"open": 1,
                                                      "pending": 1,
                                                      "closed": 2})
                    self.assertIsNotNone(s["avg_resolution_hours"], s)
                    self.assertLess(s["avg_resolution_hours"], 1, s)

    def test_empty_and_staff(self):
        """no tickets: zeros and avg null; an agent's stats count the tickets assigned to it"""
        ec = add_user("emptycust", "customer")
        s = self.stats(ec.id, ec).json
        self.assertEqual(s["total"], 0, s)
        self.assertEqual(s["by_status"], {"open": 0, "pending": 0,
                                          "closed": 0})
        self.assertIsNone(s["avg_resolution_hours"], s)
        sa = add_user("statagent", "agent")
        s = self.stats(sa.id, sa).json
        self.assertEqual(s["total"], 0, s)
        a = self.create("cust1", "assigned 1")["id"]
        b = self.create("cust2", "assigned 2")["id"]
        self.create(sa, "requested by the agent")   # not assigned: not counted
        self.patch(a, "agent1", {"assignee_id": sa.id})
        self.patch(b, "agent1", {"assignee_id": sa.id, "status": "closed"})
        s = self.stats(sa.id, "admin1").json
        self.assertEqual(s["total"], 2, s)
        self.assertEqual(s["by_status"], {"open": 1, "pending": 0,
                                          "closed": 1})

    def test_access(self):
        """self or staff; another customer 403, a customer on an agent 403; unknown user 404"""
        self.assertEqual(self.stats(U["cust1"].id, "cust1").json["user_id"],
                         U["cust1"].id)
        self.assertEqual(self.stats(U["agent1"].id, "agent1").json[
            "user_id"], U["agent1"].id)
        self.assertEqual(self.stats(U["agent1"].id, "agent2").json[
            "user_id"], U["agent1"].id)
        for target, who in (("cust2", "cust1"), ("agent1", "cust1"),
                            ("admin1", "cust2")):
            with self.subTest(target=target, who=who):
                r = call("GET", "/api/v1/stats/users/%d?days=30" %
                         U[target].id, who)
                self.assertError(r, 403, "forbidden")
        for who in ("agent1", "admin1"):
            r = call("GET", "/api/v1/stats/users/987654321?days=30", who)
            self.assertError(r, 404, "not_found")
        r = call("GET", "/api/v1/stats/users/0", "agent1")
        self.assertError(r, 404, "not_found")
        r = call("GET", "/api/v1/stats/users/%d" % U["cust1"].id)
        self.assertError(r, 401, "unauthorized")

    def test_bad_days(self):
        """days=0/366/x/-1/empty/1.5: 400 invalid_field days"""
        for v in ("0", "366", "x", "-1", "", "1.5", "30x", "%2030",
                  "99999999999999999999"):
            for who in ("cust1", "agent1"):
                with self.subTest(days=v, who=who):
                    r = call("GET", "/api/v1/stats/users/%d?days=%s" % (
                        U["cust1"].id, v), who)
                    err = self.assertError(r, 400, "invalid_field")
                    self.assertEqual(err.get("field"), "days", r)

    def test_miss_then_hit(self):
        """MISS then HIT with the same body; stats:user:{id}:days:30 with TTL in (0,300]"""
        uid = U["cust1"].id
        for days in (30, 7):
            with self.subTest(days=days):
                STACK.redis("DEL", skey(uid, days))
                r1 = self.stats(uid, "cust1", "?days=%d" % days)
                self.assertEqual(self.xcache(r1), "MISS", r1)
                self.assertEqual(self.cached(skey(uid, days)), r1.json)
                self.assertTtl(skey(uid, days))
                for who in ("cust1", "agent1"):
                    r = self.stats(uid, who, "?days=%d" % days)
                    self.assertEqual(self.xcache(r), "HIT", r)
                    self.assertEqual(r.json, r1.json)
        # the default days is the same entry as days=30
        r = self.stats(uid, "cust1", "")
        self.assertEqual(self.xcache(r), "HIT", r)
        self.assertEqual(r.json["period_days"], 30)

    def fill(self, uid, who, days=(30, 7)):
        """Fills the stats entries; returns {days: body}."""
        out = {}
        for d in days:
            self.stats(uid, who, "?days=%d" % d)
            r = self.stats(uid, who, "?days=%d" % d)
            self.assertEqual(self.xcache(r), "HIT", r)
            out[d] = r.json
        return out

    def assertDropped(self, uid, what):
        for d in (30, 7):
            self.assertEqual(STACK.redis("EXISTS", skey(uid, d)), 0,
                             "%s left %s" % (what, skey(uid, d)))

    def assertMissWith(self, uid, who, what, total, by_status):
        r = self.stats(uid, who, "?days=30")
        self.assertEqual(self.xcache(r), "MISS", "%s: %r" % (what, r))
        self.assertEqual(r.json["total"], total, "%s: %r" % (what, r.json))
        self.assertEqual(r.json["by_status"], by_status, "%s: %r" % (
            what, r.json))
        r = self.stats(uid, who, "?days=30")
        self.assertEqual(self.xcache(r), "HIT", r)

    def test_customer_changes_invalidate(self):
        """a new ticket, a status change, a close by the requester: the customer's stats keys are gone, the next read is a MISS with the new counts"""
        ic = add_user("invcust", "customer")
        self.fill(ic.id, ic)
        t1 = self.create(ic, "inv 1")["id"]
        self.assertDropped(ic.id, "a new ticket")
        self.assertMissWith(ic.id, ic, "after a new ticket", 1,
                            {"open": 1, "pending": 0, "closed": 0})
        self.fill(ic.id, "agent1")
        self.patch(t1, "agent1", {"status": "pending"})
        self.assertDropped(ic.id, "PATCH status by staff")
        self.assertMissWith(ic.id, "agent1", "after PATCH status", 1,
                            {"open": 0, "pending": 1, "closed": 0})
        self.fill(ic.id, ic)
        self.patch(t1, ic, {"status": "closed"})
        self.assertDropped(ic.id, "close by the requester")
        self.assertMissWith(ic.id, ic, "after the close", 1,
                            {"open": 0, "pending": 0, "closed": 1})
        self.fill(ic.id, ic)
        self.comment(t1, ic, "reopen")
        self.assertDropped(ic.id, "a reopening comment")
        self.assertMissWith(ic.id, ic, "after the reopening comment", 1,
                            {"open": 1, "pending": 0, "closed": 0})

    def test_assignee_changes_invalidate(self):
        """assigning, reassigning and unassigning drop the stats of the old and the new assignee"""
        a1 = add_user("invagent1", "agent")
        a2 = add_user("invagent2", "agent")
        tid = self.create("cust2", "assign me")["id"]
        zero = {"open": 0, "pending": 0, "closed": 0}
        one = {"open": 1, "pending": 0, "closed": 0}
        self.fill(a1.id, a1)
        self.fill(a2.id, a2)
        self.patch(tid, "agent1", {"assignee_id": a1.id})
        self.assertDropped(a1.id, "assigning to it")
        self.assertMissWith(a1.id, a1, "assigned", 1, one)
        self.fill(a1.id, a1)
        self.patch(tid, "agent1", {"assignee_id": a2.id})
        self.assertDropped(a1.id, "reassigning away from it")
        self.assertDropped(a2.id, "reassigning to it")
        self.assertMissWith(a1.id, a1, "reassigned away", 0, zero)
        self.assertMissWith(a2.id, a2, "reassigned to", 1, one)
        self.fill(a2.id, a2)
        self.patch(tid, "agent1", {"status": "closed"})
        self.assertDropped(a2.id, "closing a ticket assigned to it")
        self.assertMissWith(a2.id, a2, "closed", 1,
                            {"open": 0, "pending": 0, "closed": 1})
        self.fill(a2.id, a2)
        self.patch(tid, "agent1", {"assignee_id": None})
        self.assertDropped(a2.id, "unassigning")
        self.assertMissWith(a2.id, a2, "unassigned", 0, zero)


# ------------------------------------------------------------- Redis down

class ZRedisDownTest(CacheCase):

    def test_redis_stopped(self):
        """Redis stopped: GET ticket and stats answer BYPASS with correct data, writes work; back: HIT again"""
        t = self.create("cust1", "outage")
        tid = t["id"]
        self.warm(tid)
        uid = U["cust1"].id
        STACK.stop_redis()
        try:
            for i in range(8):
                for who in ("agent1", "cust1"):
                    r = self.get(tid, who)
                    self.assertEqual(self.xcache(r), "BYPASS", r)
                    self.assertEqual(r.json, t)
            p = self.patch(tid, "agent1", {"status": "pending",
                                           "priority": "high"})
            for i in range(6):
                r = self.get(tid, "cust1")
                self.assertEqual(self.xcache(r), "BYPASS", r)
                self.assertEqual(r.json, p)
            c = self.comment(tid, "agent2", "during the outage")
            for i in range(4):
                r = self.get(tid, "agent1")
                self.assertEqual(self.xcache(r), "BYPASS", r)
                self.assertEqual(r.json["status"], "pending")
                self.assertGreaterEqual(
                    parse_time(r.json["last_activity_at"]),
                    parse_time(c["created_at"]))
            want = [x for x in self.walk_all()
                    if x["requester_id"] == uid]
            for i in range(4):
                r = self.stats(uid, "cust1")
                self.assertEqual(self.xcache(r), "BYPASS", r)
                s = r.json
                self.assertEqual(s["total"], len(want), s)
                for st in ("open", "pending", "closed"):
                    self.assertEqual(s["by_status"][st], len(
                        [x for x in want if x["status"] == st]), s)
            final = r_ticket = self.get(tid, "agent1").json
        finally:
            STACK.start_redis()
        # back: MISS, then HIT, with the data written during the outage
        def fetch():
            r = self.get(tid, "agent1")
            self.assertEqual(r.json, final, r)
            return r
        run, last = helpers.poll_in_a_row(
            fetch, lambda r: self.xcache(r) == "HIT", REPEAT, 15)
        self.assertEqual(len(run), REPEAT, "no run of %d HITs after Redis came "
                         "back; last %r (X-Cache %r)" % (
                             REPEAT, last, last and self.xcache(last)))
        self.assertEqual(self.cached(tkey(tid)), r_ticket)
        self.assertEqual(len(STACK.pool_pids()), STACK.pool_size)

    def walk_all(self):
        out, before = [], None
        while True:
            q = "?limit=100" + ("&before=%d" % before if before else "")
            r = call("GET", "/api/v1/tickets" + q, "agent1")
            self.assertEqual(r.status, 200, r)
            out += r.json["tickets"]
            before = r.json["next_before"]
            if before is None:
                return out


if __name__ == "__main__":
    tap.main()
