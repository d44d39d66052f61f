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

"""GET /api/v1/health (API.md section 3): ok, the queue counts, degraded
while Redis is down, ok again when it is back. SQLite down is in
test_health_db_down.py (its own stack)."""

import json
import os
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
import helpers  # noqa: E402
from helpers import is_int  # noqa: E402
import tap  # noqa: E402

STACK = None
HEALTH_KEYS = {"status", "database", "redis", "queue", "worker"}
QUEUE_KEYS = {"pending", "failed"}
# Consecutive answers required once a state is reached, so that every
# process of the pool (requests land on any) has been seen in that state.
CONSECUTIVE = 6
POLL_S = 10.0


def setUpModule():
    global STACK
    STACK = harness.Stack(name="test_health").start()


def tearDownModule():
    if STACK is not None:
        STACK.stop()


class HealthTest(harness.ApiTestCase):

    def health(self):
        return STACK.http("GET", "/api/v1/health")

    def assertHealthShape(self, r, queue_known=True):
        self.assertJsonType(r)
        self.assertRequestId(r)
        body = r.json
        self.assertIsInstance(body, dict, r)
        self.assertEqual(set(body), HEALTH_KEYS, "keys of %r" % (r,))
        self.assertIsInstance(body["queue"], dict, r)
        self.assertEqual(set(body["queue"]), QUEUE_KEYS,
                         "queue keys of %r" % (r,))
        for k in QUEUE_KEYS:
            v = body["queue"][k]
            if queue_known:
                self.assertTrue(is_int(v) and v >= 0,
                                "queue.%s of %r" % (k, r))
            else:
                # Redis (the queue's) is down: a count, or null for unknown
                self.assertTrue(v is None or (is_int(v) and v >= 0),
                                "queue.%s of %r" % (k, r))
        return body

    def assertOk(self, r):
        self.assertEqual(r.status, 200, r)
        body = self.assertHealthShape(r)
        self.assertEqual(body["status"], "ok", r)
        self.assertEqual(body["database"], "ok", r)
        self.assertEqual(body["redis"], "ok", r)
        return body

    def poll_until(self, pred, what):
        """Polls health until pred(response) holds CONSECUTIVE times in a
        row, within POLL_S seconds; returns the responses of that run."""
        def ok(r):
            try:
                return pred(r)
            except (ValueError, KeyError, TypeError):
                return False
        run, last = helpers.poll_in_a_row(self.health, ok, CONSECUTIVE,
                                          POLL_S, 0.05, 0.1)
        if len(run) >= CONSECUTIVE:
            return run
        self.fail("health did not reach %s within %.0fs (%d in a row); last "
                  "answer %r" % (what, POLL_S, len(run), last))

    def test_1_ok(self):
        """200 ok with exactly the keys of API.md"""
        for _ in range(CONSECUTIVE):
            body = self.assertOk(self.health())
        self.assertEqual(body["queue"], {"pending": 0, "failed": 0})

    def test_1b_no_auth_needed(self):
        """health is for anyone: a bad or odd Authorization is ignored"""
        for value in ("Bearer not-a-token", "Basic Zm9vOmJhcg==", ""):
            with self.subTest(authorization=value):
                self.assertOk(STACK.http("GET", "/api/v1/health",
                                         headers={"Authorization": value}))
        self.assertOk(STACK.http("GET", "/api/v1/health?x=1"))

    def test_2_head_has_no_body_or_is_405(self):
        """HEAD /api/v1/health does not crash the pool"""
        r = STACK.http("HEAD", "/api/v1/health")
        self.assertIn(r.status, (200, 405), r)
        self.assertEqual(r.body, b"")
        self.assertRequestId(r)
        self.assertEqual(len(STACK.pool_pids()), STACK.pool_size)

    def test_3_queue_counts(self):
        """queue.pending/failed are LLEN tasks:pending/tasks:failed"""
        now = int(time.time() * 1000)
        try:
            for i in range(3):
                STACK.redis("RPUSH", "tasks:pending", json.dumps({
                    "id": "it-p%d" % i, "type": "send_notifications",
                    "payload": {"ticket_id": 1, "event": "ticket_created",
                                "actor_id": 1},
                    "timestamp": now, "attempts": 0}))
            for i in range(2):
                STACK.redis("RPUSH", "tasks:failed", json.dumps({
                    "id": "it-f%d" % i, "type": "nope", "payload": {},
                    "timestamp": now, "attempts": 3, "error": "unknown type",
                    "failed_at": now}))
            run = self.poll_until(
                lambda r: r.status == 200 and
                r.json["queue"] == {"pending": 3, "failed": 2},
                "queue {pending: 3, failed: 2}")
            self.assertOk(run[-1])
        finally:
            STACK.redis("DEL", "tasks:pending", "tasks:failed")
        self.poll_until(lambda r: r.status == 200 and
                        r.json["queue"] == {"pending": 0, "failed": 0},
                        "queue back to 0/0")

    def test_4_redis_down_then_back(self):
        """Redis stopped: 200 degraded, redis down; back: ok again"""
        STACK.stop_redis()
        try:
            run = self.poll_until(
                lambda r: r.status == 200 and r.json["redis"] == "down",
                "redis down")
            for r in run:
                self.assertEqual(r.status, 200, r)
                body = self.assertHealthShape(r, queue_known=False)
                self.assertEqual(body["status"], "degraded", r)
                self.assertEqual(body["database"], "ok", r)
                self.assertEqual(body["redis"], "down", r)
            # the rest of the app still answers (here: an unknown path)
            r = STACK.http("GET", "/api/v1/no-such-route")
            self.assertError(r, 404, "not_found")
        finally:
            STACK.start_redis()
        run = self.poll_until(lambda r: r.status == 200 and
                              r.json["status"] == "ok", "ok after restart")
        for r in run:
            self.assertOk(r)
        self.assertEqual(len(STACK.pool_pids()), STACK.pool_size,
                         "a pool process died during the Redis outage")

    def test_5_pool_alive(self):
        """no pool process died"""
        self.assertEqual(len(STACK.pool_pids()), STACK.pool_size)


if __name__ == "__main__":
    tap.main()
