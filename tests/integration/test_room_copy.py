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

"""Each pool process keeps its last answer from a room list (cache_list.c,
validated by the list's head id in the read's one round trip). No process
may serve a page older than a committed post after that post's 201.

test_1: a pool of 4; every process holds the room's page (many reads at
two limits); then a post, and right after its 201 many reads (which reach
every process): each is exactly SQLite's newest messages, the new one
first. 40 rounds.

test_2: 6 threads each post and then read, concurrently, 40 times: every
read after a 201 holds that message (or 50 newer ones), newest first; a
cached read at the end equals SQLite.

test_4: a cached read of a room's latest page is one round trip to Redis
(the session's GET and the list head's LINDEX are sent together): Redis's
own count of read events (INFO stats total_reads_processed) grows by one
per read, and MONITOR shows the two commands and nothing else."""

import os
import sys
import threading
import unittest

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
import helpers  # noqa: E402
import tap  # noqa: E402

STACK = None
POOL = 4
TOKEN = None
READS = 16


def setUpModule():
    global STACK, TOKEN
    STACK = harness.Stack(name="test_room_copy", pool_size=POOL,
                          rate="100000r/s",
                          env={"CHATDESK_RATE_LIMIT_COUNT": "1000000"})
    STACK.start()
    _, TOKEN = helpers.add_user(STACK, "Copier", "copier@example.test",
                                "admin")


def tearDownModule():
    if STACK is not None:
        STACK.stop()


def new_room(name):
    r = helpers.request(STACK, "POST", "/api/v1/rooms", TOKEN,
                        body={"name": name})
    assert r.status == 201, r
    return r.json["id"]


def post(room, body):
    r = helpers.request(STACK, "POST", "/api/v1/rooms/%d/messages" % room,
                        TOKEN, body={"body": body})
    assert r.status == 201, "%d %s" % (r.status, r.text[:300])
    return r.json["id"]


def read(room, limit, token=None):
    r = helpers.request(STACK, "GET", "/api/v1/rooms/%d/messages?limit=%d"
                        % (room, limit), token or TOKEN)
    assert r.status == 200, "%d %s" % (r.status, r.text[:300])
    return r, [m["id"] for m in r.json["messages"]]


class RoomCopy(unittest.TestCase):

    def test_1_no_page_older_than_a_201(self):
        """after a post's 201, every process's read starts with it"""
        room = new_room("copy 1")
        for i in range(5):
            post(room, "seed %d" % i)
        hits = 0
        for rnd in range(40):
            for limit in (50, 3):
                for _ in range(READS):
                    read(room, limit)
            mid = post(room, "round %d" % rnd)
            want = [m["id"] for m in helpers.db_messages(STACK, room)]
            for limit in (50, 3):
                for k in range(READS):
                    r, ids = read(room, limit)
                    hits += r.headers.get("X-Cache") == "HIT"
                    self.assertEqual(ids, want[:limit], "round %d, limit "
                                     "%d, read %d after the 201 of %d"
                                     % (rnd, limit, k, mid))
        self.assertGreater(hits, 0, "some reads were cached")

    def test_3_catch_up_after_a_201(self):
        """?after= (answered from a process's copy while its head holds):
        after a post's 201, every read has every message newer than after,
        oldest first, the new one last, and the same objects as the
        latest read"""
        room = new_room("copy 3")
        for i in range(8):
            post(room, "seed %d" % i)
        hits = 0
        for rnd in range(30):
            for _ in range(READS):
                read(room, 50)
            mid = post(room, "round %d" % rnd)
            want = [m["id"] for m in helpers.db_messages(STACK, room)]
            after = want[4]
            latest, _ = read(room, 50)
            objs = {m["id"]: m for m in latest.json["messages"]}
            for k in range(READS):
                r = helpers.request(
                    STACK, "GET", "/api/v1/rooms/%d/messages?after=%d"
                    % (room, after), TOKEN)
                self.assertEqual(r.status, 200, r)
                hits += r.headers.get("X-Cache") == "HIT"
                got = r.json["messages"]
                self.assertEqual([m["id"] for m in got],
                                 sorted(i for i in want if i > after),
                                 "round %d, read %d after the 201 of %d"
                                 % (rnd, k, mid))
                self.assertEqual(got[-1]["id"], mid)
                self.assertEqual(got, [objs[m["id"]] for m in got])
                self.assertIsNone(r.json["next_after"])
        self.assertGreater(hits, 0, "some catch-up reads were cached")

    def test_2_concurrent_posts_and_reads(self):
        """concurrent posters each read their own message back"""
        room = new_room("copy 2")
        errors, lock = [], threading.Lock()

        def worker(t):
            for i in range(40):
                try:
                    mid = post(room, "t%d m%d" % (t, i))
                    _, ids = read(room, 50)
                except AssertionError as e:
                    with lock:
                        errors.append(str(e))
                    continue
                # The post is in the page, or 50 newer ones pushed it out
                # (other threads post meanwhile): never an older page.
                ok = (ids == sorted(ids, reverse=True) and ids and
                      ids[0] >= mid and
                      (mid in ids or (len(ids) == 50 and ids[-1] > mid)))
                if not ok:
                    with lock:
                        errors.append("thread %d: read after the 201 of %d: "
                                      "%s" % (t, mid, ids[:5]))
        threads = [threading.Thread(target=worker, args=(t,))
                   for t in range(6)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        self.assertEqual(errors, [], "\n".join(errors[:10]))
        want = [m["id"] for m in helpers.db_messages(STACK, room)]
        for _ in range(READS):
            _, ids = read(room, 50)
            self.assertEqual(ids, want[:50])

    def test_4_one_round_trip(self):
        """a cached latest-page read is one Redis round trip: GET session
        and LINDEX of the list, sent together"""
        room = new_room("copy 4")
        for i in range(3):
            post(room, "seed %d" % i)
        # A token of its own, used once already: a token's use is
        # recorded (and its cached session dropped) at most once a
        # minute, which must not fall among the reads counted.
        _, tok = helpers.add_user(STACK, "Tripper", "tripper@example.test",
                                  "admin", via_me=True)
        # Every process holds the page: reads from many threads at once,
        # so that each process takes some (one after the other, the same
        # idle process may take them all).
        warm = [threading.Thread(target=lambda: [read(room, 50, tok)
                                                 for _ in range(8)])
                for _ in range(POOL * 4)]
        for th in warm:
            th.start()
        for th in warm:
            th.join()
        r, _ = read(room, 50, tok)
        self.assertEqual(r.headers.get("X-Cache"), "HIT")
        n = 40
        hits = []

        def reads():
            for _ in range(n):
                hits.append(read(room, 50, tok)[0].headers.get("X-Cache"))
        trips = helpers.redis_round_trips(STACK, reads)
        self.assertEqual(hits, ["HIT"] * n)
        self.assertEqual(trips, n, "Redis round trips for %d cached reads"
                         % n)
        # And the commands themselves: GET session:..., LINDEX list 0.
        cmds = helpers.redis_monitor(STACK, lambda: read(room, 50, tok))
        self.assertEqual(cmds, [["GET", helpers.session_key(tok)],
                                ["LINDEX", helpers.list_key(room), "0"]])

    def test_zz_pool_alive(self):
        """no pool process died"""
        self.assertEqual(len(STACK.pool_pids()), POOL)


if __name__ == "__main__":
    tap.main()
