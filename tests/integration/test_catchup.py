#!/usr/bin/env python3
"""The catch-up reads of API.md sections 3 and 8: ?after=ID on messages
(from the cached list when it reaches back to ID, else SQLite with
archived rows), interactions and notifications; next_after; after with
before is 400; a client that was away reads after= until next_after is
null and sees every message exactly once while others keep posting."""

import os
import sys
import threading
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
import helpers  # noqa: E402
import tap  # noqa: E402

STACK = None
U = {}


def add_user(name, role):
    uid, tok = helpers.add_user(STACK, name, "%s@example.test" % name, role)
    U[name] = helpers.User(uid, tok, name, role)
    return U[name]


def call(method, path, who=None, body=None):
    return helpers.request(STACK, method, path,
                           U[who].token if who else None, body)


def setUpModule():
    global STACK
    STACK = harness.Stack(name="test_catchup", pool_size=3, rate="100000r/s", env={
        "CHATDESK_RATE_LIMIT_COUNT": "1000000"}).start()
    add_user("agent", "agent")
    add_user("cust", "customer")
    add_user("other", "customer")


def tearDownModule():
    if STACK is not None:
        STACK.stop()


class CatchupTest(harness.ApiTestCase):

    def room(self, members=("cust",)):
        r = call("POST", "/api/v1/rooms", "agent",
                 {"name": "catch-up", "member_ids": [U[m].id for m in members]})
        self.assertEqual(r.status, 201, r)
        return r.json["id"]

    def post(self, room, who, body):
        r = call("POST", "/api/v1/rooms/%d/messages" % room, who,
                 {"body": body})
        self.assertEqual(r.status, 201, r)
        return r.json

    def after(self, room, who, after, limit=None):
        q = "after=%d" % after + ("&limit=%d" % limit if limit else "")
        r = call("GET", "/api/v1/rooms/%d/messages?%s" % (room, q), who)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(set(r.json), {"messages", "next_after"}, r)
        return r

    def read_all_after(self, room, who, after, limit=7):
        seen, pages = [], 0
        while True:
            r = self.after(room, who, after, limit)
            body = r.json
            ids = [m["id"] for m in body["messages"]]
            self.assertEqual(ids, sorted(ids), "oldest first: %r" % r)
            seen += body["messages"]
            pages += 1
            if body["next_after"] is None:
                self.assertLess(len(ids), limit, r)
                return seen
            self.assertEqual(len(ids), limit, r)
            self.assertEqual(body["next_after"], ids[-1], r)
            after = body["next_after"]
            self.assertLess(pages, 10000)

    def test_after_from_the_list_and_from_sqlite(self):
        """after= is served from the cached list when it reaches back far
        enough (HIT), from SQLite otherwise (BYPASS); same answer"""
        room = self.room()
        msgs = [self.post(room, "agent", "m%d" % i) for i in range(80)]
        # A read of the latest page fills the list (the newest 50).
        r = call("GET", "/api/v1/rooms/%d/messages" % room, "cust")
        self.assertEqual(r.status, 200, r)
        r = call("GET", "/api/v1/rooms/%d/messages" % room, "cust")
        self.assertEqual(r.headers.get("X-Cache"), "HIT", r)
        # Within the list: the 10 newer than msgs[69].
        r = self.after(room, "cust", msgs[69]["id"])
        self.assertEqual(r.headers.get("X-Cache"), "HIT", r)
        self.assertEqual(r.json["messages"], msgs[70:])
        self.assertIsNone(r.json["next_after"])
        # A full page: next_after is its last id.
        r = self.after(room, "cust", msgs[69]["id"], limit=4)
        self.assertEqual(r.json["messages"], msgs[70:74])
        self.assertEqual(r.json["next_after"], msgs[73]["id"])
        # Older than the list: SQLite.
        r = self.after(room, "cust", msgs[5]["id"], limit=100)
        self.assertEqual(r.headers.get("X-Cache"), "BYPASS", r)
        self.assertEqual(r.json["messages"], msgs[6:])
        self.assertIsNone(r.json["next_after"])
        # Nothing newer than the newest.
        r = self.after(room, "cust", msgs[-1]["id"])
        self.assertEqual(r.json["messages"], [])
        self.assertIsNone(r.json["next_after"])
        # Redis' list dropped: SQLite gives the same.
        STACK.redis("DEL", helpers.list_key(room))
        r = self.after(room, "cust", msgs[69]["id"])
        self.assertEqual(r.json["messages"], msgs[70:])

    def test_after_includes_archived_messages(self):
        """after= reads archived messages too, in one id order"""
        room = self.room()
        msgs = [self.post(room, "agent", "old %d" % i) for i in range(60)]
        r = STACK.run_ctl("enqueue", "archive_old_interactions",
                          '{"older_than_days":0}')
        self.assertEqual(r.returncode, 0, r)
        w = STACK.run_worker()
        self.assertEqual(w.returncode, 0, w)
        archived = helpers.db_query(
            STACK.archive_db_path,
            "SELECT count(*) FROM messages WHERE room_id = ?", (room,))[0][0]
        self.assertEqual(archived, 10, "the archive holds all but the "
                         "newest 50")
        seen = self.read_all_after(room, "cust", msgs[0]["id"] - 1)
        self.assertEqual(seen, msgs)

    def test_after_with_before_is_400(self):
        """after with before is 400 naming after; a bad after is 400"""
        room = self.room()
        m = self.post(room, "agent", "x")
        r = call("GET", "/api/v1/rooms/%d/messages?after=%d&before=%d" % (
            room, m["id"], m["id"]), "cust")
        err = self.assertError(r, 400, "invalid_field")
        self.assertEqual(err.get("field"), "after")
        for bad in ("0", "-1", "x", "01", ""):
            r = call("GET", "/api/v1/rooms/%d/messages?after=%s" % (room, bad),
                     "cust")
            err = self.assertError(r, 400, "invalid_field")
            self.assertEqual(err.get("field"), "after", bad)
        r = call("GET", "/api/v1/notifications?after=1&before=5", "cust")
        self.assertError(r, 400, "invalid_field")

    def test_after_hides_rooms_like_before(self):
        """a room the caller may not see is 404 with after= too"""
        room = self.room(members=())
        m = self.post(room, "agent", "secret")
        r = call("GET", "/api/v1/rooms/%d/messages?after=%d" % (room, m["id"]),
                 "other")
        self.assertError(r, 404, "not_found")

    def test_exactly_once_while_others_post(self):
        """a client that was away reads after= until next_after is null
        and gets every message exactly once while others keep posting"""
        room = self.room(members=("cust", "other"))
        first = self.post(room, "agent", "before the gap")
        # The list is warm, so the reads start from it and then fall off
        # its end as it moves on.
        call("GET", "/api/v1/rooms/%d/messages" % room, "cust")
        stop = threading.Event()
        posted, errors = [], []

        def poster(who):
            i = 0
            while not stop.is_set():
                try:
                    posted.append(self.post(room, who, "%s %d" % (who, i)))
                except Exception as e:  # noqa: BLE001 - reported below
                    errors.append(e)
                    return
                i += 1
        threads = [threading.Thread(target=poster, args=(w,))
                   for w in ("agent", "other")]
        for t in threads:
            t.start()
        try:
            time.sleep(0.3)
            seen = []
            last = first["id"]
            for _round in range(5):
                got = self.read_all_after(room, "cust", last, limit=5)
                seen += got
                if got:
                    last = got[-1]["id"]
                time.sleep(0.1)
        finally:
            stop.set()
            for t in threads:
                t.join(30)
        self.assertEqual(errors, [])
        seen += self.read_all_after(room, "cust", last, limit=5)
        ids = [m["id"] for m in seen]
        self.assertEqual(len(ids), len(set(ids)), "a message seen twice")
        self.assertEqual(ids, sorted(ids))
        want = sorted(m["id"] for m in posted)
        self.assertEqual(ids, want, "every message once")
        self.assertEqual(seen, sorted(posted, key=lambda m: m["id"]))

    def test_interactions_and_notifications_after(self):
        """after= pages forward on interactions and notifications"""
        r = call("POST", "/api/v1/tickets", "cust",
                 {"subject": "help", "body": "first"})
        self.assertEqual(r.status, 201, r)
        tid = r.json["id"]
        made = []
        for i in range(7):
            r = call("POST", "/api/v1/tickets/%d/interactions" % tid, "agent",
                     {"body": "reply %d" % i})
            self.assertEqual(r.status, 201, r)
            made.append(r.json)
        r = call("GET", "/api/v1/tickets/%d/interactions?after=%d&limit=3" % (
            tid, made[0]["id"]), "cust")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["interactions"], made[1:4])
        self.assertEqual(r.json["next_after"], made[3]["id"])
        r = call("GET", "/api/v1/tickets/%d/interactions?after=%d&limit=3" % (
            tid, made[3]["id"]), "cust")
        self.assertEqual(r.json["interactions"], made[4:7])
        r = call("GET", "/api/v1/tickets/%d/interactions?after=%d&limit=3" % (
            tid, made[6]["id"]), "cust")
        self.assertEqual(r.json, {"interactions": [], "next_after": None})
        r = call("GET", "/api/v1/tickets/%d/interactions?after=1&before=9" %
                 tid, "cust")
        self.assertError(r, 400, "invalid_field")
        # Notifications: the worker writes one per comment for the
        # requester.
        w = STACK.run_worker()
        self.assertEqual(w.returncode, 0, w)
        r = call("GET", "/api/v1/notifications?limit=100", "cust")
        newest_first = r.json["notifications"]
        self.assertGreaterEqual(len(newest_first), 7)
        oldest_first = list(reversed(newest_first))
        r = call("GET", "/api/v1/notifications?after=%d&limit=2" %
                 oldest_first[0]["id"], "cust")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(set(r.json), {"notifications", "next_after"})
        self.assertEqual(r.json["notifications"], oldest_first[1:3])
        self.assertEqual(r.json["next_after"], oldest_first[2]["id"])


if __name__ == "__main__":
    tap.main()
