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

"""The per-user post rate limit (API.md section 6), with
rate_limit_count 5 and rate_limit_window 10: the 6th post within a window
is 429 rate_limited with Retry-After (whole seconds, 1..10); other users
are not limited; the window ends; with Redis stopped posts are not
limited.

Every burst starts just after a multiple of 10 s of the Unix clock, so
that it lies inside one window whether windows are fixed (aligned to the
clock) or sliding; no test asserts a duration."""

import os
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
import helpers  # noqa: E402
import tap  # noqa: E402

STACK = None
COUNT = 5
WINDOW = 10
TOKENS = {}
IDS = {}
ROOM = None


def auth(name):
    return helpers.auth(TOKENS[name])


def db_count(room, user):
    return helpers.db_query(STACK.db_path,
                            "SELECT count(*) FROM messages WHERE room_id = ? "
                            "AND user_id = ?", (room, user))[0][0]


def fresh_window(need=4.0):
    """Sleeps, if needed, until at least `need` seconds are left before the
    next multiple of WINDOW seconds of the clock."""
    left = WINDOW - (time.time() % WINDOW)
    if left < need:
        time.sleep(left + 0.15)


def next_window():
    """Sleeps until just after the next multiple of WINDOW seconds."""
    time.sleep(WINDOW - (time.time() % WINDOW) + 0.15)


def setUpModule():
    global STACK, ROOM
    STACK = harness.Stack(name="test_ratelimit", pool_size=2, env={
        "CHATDESK_RATE_LIMIT_COUNT": str(COUNT),
        "CHATDESK_RATE_LIMIT_WINDOW": str(WINDOW)}).start()
    roles = {"admin": "admin", "agent": "agent"}
    for n in ("admin", "agent", "alice", "bob", "carol", "dave", "erin"):
        IDS[n], TOKENS[n] = helpers.add_user(
            STACK, n, "%s@example.test" % n, roles.get(n, "customer"),
            via_me=True)
    r = STACK.http("POST", "/api/v1/rooms", headers=auth("admin"), body={
        "name": "limits", "member_ids": [IDS[n] for n in IDS]})
    if r.status != 201:
        raise harness.HarnessError("room: %r" % (r,))
    ROOM = r.json["id"]


def tearDownModule():
    if STACK is not None:
        STACK.stop()


class RateLimitTest(harness.ApiTestCase):

    def post(self, who, text):
        return STACK.http("POST", "/api/v1/rooms/%d/messages" % ROOM,
                          headers=auth(who), body={"body": text})

    def assertLimited(self, r):
        self.assertError(r, 429, "rate_limited")
        values = r.headers.get_all("Retry-After")
        self.assertEqual(len(values), 1, "Retry-After on %r: %r" % (r, values))
        self.assertRegex(values[0], r"^[0-9]+$", r)
        ra = int(values[0])
        self.assertTrue(1 <= ra <= WINDOW, "Retry-After %d on %r" % (ra, r))
        return ra

    def burst(self, who, n, tag):
        return [self.post(who, "%s %d" % (tag, i)) for i in range(n)]

    def test_1_sixth_post_limited(self):
        """5 posts 201, the 6th and 7th 429 rate_limited with Retry-After
        1..10; nothing stored for them"""
        fresh_window()
        before = db_count(ROOM, IDS["alice"])
        rs = self.burst("alice", COUNT + 2, "alice")
        for i, r in enumerate(rs[:COUNT]):
            with self.subTest(post=i + 1):
                self.assertEqual(r.status, 201, r)
        for i, r in enumerate(rs[COUNT:]):
            with self.subTest(post=COUNT + 1 + i):
                self.assertLimited(r)
        self.assertEqual(db_count(ROOM, IDS["alice"]), before + COUNT)
        # the counter lives in Redis under ratelimit:{user_id}:..., with
        # an expiry
        keys = STACK.redis("KEYS", "ratelimit:%d:*" % IDS["alice"])
        self.assertTrue(keys, "no ratelimit:%d:* key" % IDS["alice"])
        for k in keys:
            self.assertRegex(k.decode(), r"^ratelimit:%d:[0-9]+$" %
                             IDS["alice"])
            self.assertGreater(STACK.redis("TTL", k), 0,
                               "%r has no expiry" % k)

    def test_2_other_users_not_limited(self):
        """another user (and staff) in the same window is not limited by
        alice's posts; staff are limited the same way"""
        fresh_window()
        rs = self.burst("bob", COUNT + 1, "bob")
        self.assertLimited(rs[-1])  # bob's own 6th post
        for who in ("carol", "agent"):
            with self.subTest(who=who):
                rs = self.burst(who, COUNT, who)
                for i, r in enumerate(rs):
                    self.assertEqual(r.status, 201, "%s post %d: %r" % (
                        who, i + 1, r))
        self.assertLimited(self.post("agent", "agent 6"))
        self.assertLimited(self.post("bob", "bob again"))

    def test_3_window_ends(self):
        """after Retry-After seconds the user may post again"""
        fresh_window()
        rs = self.burst("dave", COUNT + 1, "dave")
        for r in rs[:COUNT]:
            self.assertEqual(r.status, 201, r)
        ra = self.assertLimited(rs[-1])
        time.sleep(ra + 0.3)
        r = self.post("dave", "dave after the window")
        self.assertEqual(r.status, 201, "a post %d s after Retry-After %d: "
                         "%r" % (ra, ra, r))

    def test_4_redis_down_not_limited(self):
        """Redis stopped: posts are not limited (and still 201); back:
        limited again"""
        STACK.stop_redis()
        try:
            for i in range(3 * COUNT):
                r = self.post("erin", "erin while down %d" % i)
                self.assertEqual(r.status, 201, "post %d with Redis down: "
                                 "%r" % (i + 1, r))
        finally:
            STACK.start_redis()
        # the pool reconnects after a short back-off; then the limit holds
        # (each attempt in a window of its own)
        codes = None
        for attempt in range(2):
            next_window()
            rs = self.burst("erin", COUNT + 1, "erin back %d" % attempt)
            codes = [r.status for r in rs]
            for r in rs:
                self.assertIn(r.status, (201, 429), r)
            if codes == [201] * COUNT + [429]:
                self.assertLimited(rs[-1])
                return
        self.fail("limit not enforced again after Redis came back: "
                  "statuses %r" % codes)

    def test_5_pool_alive(self):
        """no pool process died"""
        self.assertEqual(len(STACK.pool_pids()), STACK.pool_size)


if __name__ == "__main__":
    tap.main()
