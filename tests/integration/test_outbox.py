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

"""The task outbox and the notifications (API.md sections 3 and 5): with
Redis stopped a ticket write still answers, and its send_notifications
task waits in the task_outbox table (same transaction) instead of being
lost; once Redis is back a worker run pushes it and runs it exactly once
(one notification per recipient, never to the actor); a worker run with
Redis down fails (exit 1) and loses nothing. Then the notification routes:
GET /notifications (the caller's, newest first, ?unread=1, paging) and
POST /notifications/read ({"ids"} or {"all":true}, another user's ids
untouched, bad bodies 400).

The tests of this file run in order (test_1..., test_2...) and drain the
queue with a worker run before they start. The SQLite file is read
read-only with Python's sqlite3."""

import json
import os
import re
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
import helpers  # noqa: E402
from helpers import User, is_int  # noqa: E402
import tap  # noqa: E402

STACK = None
U = {}
STAFF = ("admin1", "agent1", "agent2")

TIME_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
SUMMARY_RE = re.compile(r"^taken=(\d+) done=(\d+) retried=(\d+) dead=(\d+) "
                        r"seconds=(\d+(?:\.\d+)?)$")
NOTIF_KEYS = {"id", "user_id", "event", "ticket_id", "created_at", "read_at"}
TASK_KEYS = {"id", "type", "payload", "timestamp", "attempts"}


def add_user(name, role):
    uid, tok = helpers.add_user(
        STACK, name, "%s-%d@example.test" % (name, os.getpid()), role)
    U[name] = User(uid, tok, name, role)
    return U[name]


def call(method, path, who=None, body=None, headers=None):
    if isinstance(who, str):
        who = U[who]
    return helpers.request(STACK, method, path, who and who.token, body,
                           headers)


def db_query(sql, args=()):
    return helpers.db_query(STACK.db_path, sql, args)


def outbox_tasks():
    return [json.loads(r[0]) for r in
            db_query("SELECT task FROM task_outbox ORDER BY id")]


def outbox_count():
    return helpers.outbox_count(STACK)


def notif_rows(tid):
    """{(user_id, event): count} of the ticket's notifications."""
    return {(u, e): n for u, e, n in db_query(
        "SELECT user_id, event, count(*) FROM notifications "
        "WHERE ticket_id = ? GROUP BY user_id, event", (tid,))}


def queue_lengths():
    return {"pending": STACK.redis("LLEN", "tasks:pending"),
            "processing": STACK.redis("LLEN", "tasks:processing"),
            "delayed": STACK.redis("ZCARD", "tasks:delayed"),
            "failed": STACK.redis("LLEN", "tasks:failed")}


EMPTY_QUEUE = {"pending": 0, "processing": 0, "delayed": 0, "failed": 0}


def setUpModule():
    global STACK
    STACK = harness.Stack(
        name="test_outbox", pool_size=2,
        env={"CHATDESK_RATE_LIMIT_COUNT": "1000000"}).start()
    for name, role in helpers.TICKET_CAST:
        add_user(name, role)


def tearDownModule():
    if STACK is not None:
        STACK.stop()


class OutboxCase(harness.ApiTestCase):

    def worker(self, *args):
        """Runs chatdesk-worker; returns (taken, done, retried, dead)."""
        r = STACK.run_worker(*args)
        self.assertEqual(r.returncode, 0, "chatdesk-worker %s exited %d: "
                         "stdout %r stderr %r" % (" ".join(args),
                                                  r.returncode, r.stdout,
                                                  r.stderr))
        lines = [ln for ln in r.stdout.splitlines() if ln.strip()]
        self.assertTrue(lines, "no summary line: %r" % (r,))
        m = SUMMARY_RE.match(lines[-1].strip())
        self.assertTrue(m, "summary line %r is not 'taken=N done=N retried=N"
                        " dead=N seconds=F' (stdout %r)" % (lines[-1],
                                                            r.stdout))
        return tuple(int(x) for x in m.groups()[:4])

    def drain(self):
        self.worker()
        self.assertEqual(outbox_count(), 0)
        self.assertEqual(queue_lengths(), EMPTY_QUEUE)

    def create(self, who="cust1", subject="help"):
        r = call("POST", "/api/v1/tickets", who,
                 {"subject": subject, "body": "body of " + subject})
        self.assertEqual(r.status, 201, r)
        return r.json

    def wait_app_on_redis(self):
        """Polls a cached read until it is served through Redis (HIT or
        MISS, not BYPASS) 6 times in a row, so that every pool process is
        back on Redis after a restart. Not through /health: see
        ZWalTest."""
        tid = self.create("cust2", "probe")["id"]
        self.drain()
        run, last = helpers.poll_in_a_row(
            lambda: call("GET", "/api/v1/tickets/%d" % tid, "agent1"),
            lambda r: r.status == 200 and r.headers.get("X-Cache") in (
                "HIT", "MISS"), 6, 10)
        self.assertEqual(len(run), 6, "the pool is not back on Redis: %r" % (
            last,))

    def assertTask(self, task, tid, event, actor):
        self.assertEqual(set(task), TASK_KEYS, task)
        self.assertTrue(isinstance(task["id"], str) and task["id"], task)
        self.assertEqual(task["type"], "send_notifications", task)
        self.assertEqual(task["attempts"], 0, task)
        self.assertTrue(is_int(task["timestamp"]), task)
        self.assertEqual(task["payload"], {"ticket_id": tid, "event": event,
                                           "actor_id": actor}, task)


class AOutboxTest(OutboxCase):

    def test_1_create_while_redis_down(self):
        """Redis stopped: create is 201, the task waits in task_outbox; a worker run pushes and runs it exactly once"""
        self.drain()
        STACK.stop_redis()
        try:
            t = self.create("cust1", "while Redis is down")
            tid = t["id"]
            # the ticket is there and readable
            g = call("GET", "/api/v1/tickets/%d" % tid, "agent1")
            self.assertEqual(g.status, 200, g)
            self.assertEqual(g.json, t)
            tasks = outbox_tasks()
            self.assertEqual(len(tasks), 1, tasks)
            self.assertTask(tasks[0], tid, "ticket_created", U["cust1"].id)
        finally:
            STACK.start_redis()
        # nothing was pushed (and Redis came back empty)
        self.assertEqual(queue_lengths(), EMPTY_QUEUE)
        r = STACK.run_ctl("queue", "stats")
        self.assertEqual(r.returncode, 0, r)
        self.assertRegex(r.stdout, r"\boutbox=1\b", r.stdout)
        self.assertRegex(r.stdout, r"\bpending=0\b", r.stdout)
        self.assertEqual(outbox_count(), 1)
        self.assertEqual(notif_rows(tid), {})
        taken, done, retried, dead = self.worker()
        self.assertEqual((taken, done, retried, dead), (1, 1, 0, 0),
                         "worker summary after one task in the outbox")
        self.assertEqual(outbox_count(), 0, "outbox not emptied")
        self.assertEqual(queue_lengths(), EMPTY_QUEUE)
        want = {(U[s].id, "ticket_created"): 1 for s in STAFF}
        self.assertEqual(notif_rows(tid), want,
                         "one ticket_created notification per staff user, "
                         "none to the requester")
        # a second run finds nothing and writes nothing
        self.assertEqual(self.worker(), (0, 0, 0, 0))
        self.assertEqual(notif_rows(tid), want)

    def test_2_changes_while_redis_down(self):
        """Redis stopped: a status change and a reopening comment wait in order; the worker notifies requester and assignee, never the actor"""
        t = self.create("cust1", "assigned, then changed while down")
        tid = t["id"]
        r = call("PATCH", "/api/v1/tickets/%d" % tid, "agent1",
                 {"assignee_id": U["agent2"].id})
        self.assertEqual(r.status, 200, r)
        self.drain()
        STACK.stop_redis()
        try:
            r = call("PATCH", "/api/v1/tickets/%d" % tid, "agent1",
                     {"status": "closed"})
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.json["status"], "closed")
            r = call("POST", "/api/v1/tickets/%d/interactions" % tid,
                     "cust1", {"body": "not fixed"})
            self.assertEqual(r.status, 201, r)
            tasks = outbox_tasks()
            self.assertEqual(len(tasks), 2, tasks)
            self.assertTask(tasks[0], tid, "status_changed", U["agent1"].id)
            self.assertTask(tasks[1], tid, "comment_added", U["cust1"].id)
            g = call("GET", "/api/v1/tickets/%d" % tid, "cust1")
            self.assertEqual(g.status, 200, g)
            self.assertEqual(g.json["status"], "open", g)
        finally:
            STACK.start_redis()
        self.assertEqual(outbox_count(), 2)
        self.assertEqual(self.worker(), (2, 2, 0, 0))
        self.assertEqual(outbox_count(), 0)
        self.assertEqual(queue_lengths(), EMPTY_QUEUE)
        got = {k: v for k, v in notif_rows(tid).items()
               if k[1] != "ticket_created"}
        self.assertEqual(got, {
            (U["cust1"].id, "status_changed"): 1,
            (U["agent2"].id, "status_changed"): 1,
            (U["agent2"].id, "comment_added"): 1,
        }, "status_changed to requester and assignee (not the actor "
           "agent1); comment_added to the assignee only (the requester is "
           "the actor)")

    def test_3_worker_with_redis_down(self):
        """the worker with Redis down exits 1 with a message and the outbox keeps the task"""
        self.drain()
        STACK.stop_redis()
        try:
            t = self.create("cust2", "worker cannot push")
            self.assertEqual(outbox_count(), 1)
            r = STACK.run_worker()
            self.assertEqual(r.returncode, 1, r)
            self.assertTrue(r.stderr.strip(), "no message on stderr: %r" %
                            (r,))
            self.assertEqual(outbox_count(), 1, "the outbox lost the task")
        finally:
            STACK.start_redis()
        self.assertEqual(self.worker(), (1, 1, 0, 0))
        self.assertEqual(outbox_count(), 0)
        self.assertEqual(notif_rows(t["id"]),
                         {(U[s].id, "ticket_created"): 1 for s in STAFF})

    def test_4_up_path_and_actor(self):
        """Redis up: the task is in tasks:pending at once, not in the outbox; a staff creator is not notified"""
        self.drain()
        self.wait_app_on_redis()
        t = self.create("agent1", "created by an agent")
        tid = t["id"]
        self.assertEqual(outbox_count(), 0)
        pending = [json.loads(x) for x in
                   STACK.redis("LRANGE", "tasks:pending", 0, -1)]
        self.assertEqual(len(pending), 1, pending)
        self.assertTask(pending[0], tid, "ticket_created", U["agent1"].id)
        self.assertEqual(self.worker(), (1, 1, 0, 0))
        self.assertEqual(notif_rows(tid), {
            (U["admin1"].id, "ticket_created"): 1,
            (U["agent2"].id, "ticket_created"): 1})


class BNotificationsTest(OutboxCase):

    def notifs(self, who, query=""):
        r = call("GET", "/api/v1/notifications" + query, who)
        self.assertEqual(r.status, 200, r)
        self.assertJsonType(r)
        body = r.json
        self.assertEqual(set(body), {"notifications", "next_before"}, r)
        for n in body["notifications"]:
            self.assertEqual(set(n), NOTIF_KEYS, n)
            self.assertTrue(is_int(n["id"]) and n["id"] > 0, n)
            self.assertEqual(n["user_id"], U[who].id, n)
            self.assertIn(n["event"], ("ticket_created", "comment_added",
                                       "status_changed"), n)
            self.assertTrue(is_int(n["ticket_id"]), n)
            self.assertRegex(n["created_at"], TIME_RE, n)
            self.assertTrue(n["read_at"] is None or
                            TIME_RE.match(n["read_at"]), n)
        ids = [n["id"] for n in body["notifications"]]
        self.assertEqual(ids, sorted(ids, reverse=True), "newest first")
        return body

    def all_notifs(self, who, query=""):
        body = self.notifs(who, query + ("&" if query else "?") + "limit=100")
        self.assertIsNone(body["next_before"])
        return body["notifications"]

    def db_notifs(self, who, unread=False):
        return [r[0] for r in db_query(
            "SELECT id FROM notifications WHERE user_id = ?%s ORDER BY id "
            "DESC" % (" AND read_at IS NULL" if unread else ""),
            (U[who].id,))]

    def read(self, who, body):
        return call("POST", "/api/v1/notifications/read", who, body)

    def test_1_list(self):
        """after a worker run an agent lists the ticket_created notifications: its own, newest first, unread"""
        self.drain()
        ts = [self.create("cust2", "notify %d" % i)["id"] for i in range(3)]
        self.assertEqual(self.worker(), (3, 3, 0, 0))
        for who in STAFF:
            with self.subTest(who=who):
                ns = self.all_notifs(who)
                self.assertEqual([n["id"] for n in ns], self.db_notifs(who))
                mine = [n for n in ns if n["ticket_id"] in ts]
                self.assertEqual(sorted(n["ticket_id"] for n in mine),
                                 sorted(ts))
                for n in mine:
                    self.assertEqual(n["event"], "ticket_created", n)
                    self.assertIsNone(n["read_at"], n)
                # the newest is the last ticket's
                self.assertEqual(ns[0]["ticket_id"], ts[-1], ns[0])
        # the requester (a customer, the actor) has none of these
        self.assertEqual([n for n in self.all_notifs("cust2")
                          if n["ticket_id"] in ts], [])

    def test_2_paging_and_query(self):
        """?limit and ?before walk every notification once; bad query parameters are 400"""
        want = self.db_notifs("agent1")
        self.assertGreaterEqual(len(want), 5)
        for limit in (1, 2, 3, len(want), 100):
            with self.subTest(limit=limit):
                got, before = [], None
                for _ in range(200):
                    q = "?limit=%d" % limit + (
                        "&before=%d" % before if before else "")
                    body = self.notifs("agent1", q)
                    items = body["notifications"]
                    if len(items) == limit:
                        self.assertEqual(body["next_before"], items[-1]["id"])
                    else:
                        self.assertIsNone(body["next_before"])
                    got += [n["id"] for n in items]
                    before = body["next_before"]
                    if before is None or not items:
                        break
                self.assertEqual(got, want)
        d = self.notifs("agent1")
        self.assertEqual([n["id"] for n in d["notifications"]], want[:20])
        for name, v in (("limit", "0"), ("limit", "101"), ("limit", "x"),
                        ("before", "0"), ("before", "x"), ("unread", "2"),
                        ("unread", "yes"), ("unread", "")):
            with self.subTest(param=name, value=v):
                r = call("GET", "/api/v1/notifications?%s=%s" % (name, v),
                         "agent1")
                err = self.assertError(r, 400, "invalid_field")
                self.assertEqual(err.get("field"), name, r)

    def test_3_read_ids_and_unread(self):
        """POST read {"ids":[id]}: 204, read_at set, ?unread=1 drops it; another user's ids untouched"""
        mine = self.all_notifs("agent1", "?unread=1")
        self.assertGreaterEqual(len(mine), 3)
        theirs = self.all_notifs("agent2", "?unread=1")
        self.assertGreaterEqual(len(theirs), 1)
        target = mine[1]
        r = self.read("agent1", {"ids": [target["id"]]})
        self.assertEqual(r.status, 204, r)
        self.assertEqual(r.body, b"")
        after = {n["id"]: n for n in self.all_notifs("agent1")}
        self.assertRegex(after[target["id"]]["read_at"] or "", TIME_RE)
        for n in mine:
            if n["id"] != target["id"]:
                self.assertIsNone(after[n["id"]]["read_at"], n)
        unread = [n["id"] for n in self.all_notifs("agent1", "?unread=1")]
        self.assertEqual(unread, [n["id"] for n in mine
                                  if n["id"] != target["id"]])
        self.assertEqual(unread, self.db_notifs("agent1", unread=True))
        self.assertEqual([n["id"] for n in self.all_notifs(
            "agent1", "?unread=0")], self.db_notifs("agent1"))
        # again: idempotent, read_at kept
        first = after[target["id"]]["read_at"]
        time.sleep(0.005)
        r = self.read("agent1", {"ids": [target["id"], target["id"]]})
        self.assertEqual(r.status, 204, r)
        again = {n["id"]: n for n in self.all_notifs("agent1")}
        self.assertEqual(again[target["id"]]["read_at"], first)
        # another user's notification: not touched, whatever the answer
        other = theirs[0]["id"]
        r = self.read("agent1", {"ids": [other]})
        self.assertIn(r.status, (204, 404), r)
        self.assertEqual(db_query("SELECT read_at FROM notifications "
                                  "WHERE id = ?", (other,)), [(None,)])
        self.assertEqual(self.all_notifs("agent2", "?unread=1"), theirs)
        # a missing id: nothing happens
        r = self.read("agent1", {"ids": [987654321]})
        self.assertIn(r.status, (204, 404), r)
        self.assertEqual(self.db_notifs("agent1", unread=True), unread)

    def test_4_bad_bodies(self):
        """bad read bodies are 400 (415 without JSON) and change nothing"""
        before = db_query("SELECT id, read_at FROM notifications ORDER BY id")
        own = self.db_notifs("agent2")[0]
        cases = [({}, None), ({"ids": "1"}, "ids"), ({"ids": 1}, "ids"),
                 ({"ids": [0]}, "ids"), ({"ids": [-1]}, "ids"),
                 ({"ids": ["%d" % own]}, "ids"), ({"ids": [own + 0.5]}, "ids"),
                 ({"ids": [None]}, "ids"), ({"ids": [own, "x"]}, "ids"),
                 ({"ids": [[own]]}, "ids"), ({"ids": None}, None),
                 ({"all": "yes"}, "all"), ({"all": 1}, "all"),
                 ({"all": None}, None), ({"all": False}, None),
                 ([own], None), ("null", None), ("[]", None),
                 ("\"all\"", None)]
        for body, field in cases:
            with self.subTest(body=body):
                if isinstance(body, str):
                    r = call("POST", "/api/v1/notifications/read", "agent2",
                             body=body.encode(),
                             headers={"Content-Type": "application/json"})
                else:
                    r = self.read("agent2", body)
                self.assertEqual(r.status, 400, r)
                err = self.assertError(r, 400, r.json["error"]["code"])
                self.assertIn(err["code"], ("invalid_field", "invalid_json"),
                              r)
                if field is not None:
                    self.assertEqual(err["code"], "invalid_field", r)
                    self.assertEqual(err.get("field"), field, r)
        r = call("POST", "/api/v1/notifications/read", "agent2",
                 body=b"{not json", headers={"Content-Type":
                                             "application/json"})
        self.assertError(r, 400, "invalid_json")
        r = call("POST", "/api/v1/notifications/read", "agent2",
                 body=b'{"all":true}', headers={"Content-Type": "text/plain"})
        self.assertError(r, 415, "unsupported_media_type")
        r = call("POST", "/api/v1/notifications/read", None, {"all": True})
        self.assertError(r, 401, "unauthorized")
        self.assertEqual(db_query("SELECT id, read_at FROM notifications "
                                  "ORDER BY id"), before,
                         "a refused read changed notifications")

    def test_5_read_all(self):
        """POST read {"all":true}: 204, every one of the caller's read; others' untouched"""
        theirs = self.db_notifs("agent2", unread=True)
        self.assertTrue(theirs)
        self.assertTrue(self.db_notifs("agent1", unread=True))
        r = self.read("agent1", {"all": True})
        self.assertEqual(r.status, 204, r)
        self.assertEqual(r.body, b"")
        self.assertEqual(self.all_notifs("agent1", "?unread=1"), [])
        for n in self.all_notifs("agent1"):
            self.assertRegex(n["read_at"] or "", TIME_RE, n)
        self.assertEqual(self.db_notifs("agent2", unread=True), theirs)
        # nothing left to read: still 204
        self.assertEqual(self.read("agent1", {"all": True}).status, 204)
        # both keys: all wins or ids apply; either way the caller's only
        r = self.read("agent2", {"all": True, "ids": [theirs[0]]})
        self.assertEqual(r.status, 204, r)
        self.assertNotIn(theirs[0], self.db_notifs("agent2", unread=True))
        self.assertTrue(self.db_notifs("admin1", unread=True),
                        "admin1's notifications were read by another user")

    def test_6_customer_notifications(self):
        """the requester sees status_changed for its ticket (from AOutboxTest) and nothing of others"""
        ns = self.all_notifs("cust1")
        self.assertIn("status_changed", [n["event"] for n in ns], ns)
        self.assertEqual([n["id"] for n in ns], self.db_notifs("cust1"))


class ZWalTest(OutboxCase):
    """Last in the file: when it fails, the stack's database is no longer
    trustworthy."""

    def deleted_db_files(self):
        """Files of the database that a pool process holds open although
        they were unlinked (e.g. a -wal another process deleted)."""
        out = []
        for pid in STACK.pool_pids():
            try:
                fds = os.listdir("/proc/%d/fd" % pid)
            except OSError:
                continue
            for fd in fds:
                try:
                    target = os.readlink("/proc/%d/fd/%s" % (pid, fd))
                except OSError:
                    continue
                if (target.startswith(STACK.db_path) and
                        target.endswith(" (deleted)")):
                    out.append("pid %d fd %s -> %s" % (pid, fd, target))
        return out

    def test_writes_after_health_and_worker_visible(self):
        """after GET /health (every process) and a worker run, a new ticket is seen by other connections and notified"""
        for _ in range(6 * STACK.pool_size):
            r = STACK.http("GET", "/api/v1/health")
            self.assertEqual(r.status, 200, r)
        self.drain()
        self.drain()
        t = self.create("cust1", "after health and worker")
        tid = t["id"]
        seen = db_query("SELECT id FROM tickets WHERE id = ?", (tid,))
        deleted = self.deleted_db_files()
        self.assertEqual(seen, [(tid,)],
                         "ticket %d answered 201 but another connection "
                         "does not see it; pool processes hold unlinked "
                         "database files: %r" % (tid, deleted))
        self.assertEqual(self.worker(), (1, 1, 0, 0))
        self.assertEqual(notif_rows(tid),
                         {(U[s].id, "ticket_created"): 1 for s in STAFF},
                         "the worker did not see ticket %d; unlinked files "
                         "held by the pool: %r" % (tid, deleted))
        self.assertEqual(deleted, [])


class ZZPoolTest(OutboxCase):

    def test_pool_alive(self):
        """no pool process died; outbox and queue empty after a last run"""
        self.assertEqual(len(STACK.pool_pids()), STACK.pool_size)
        self.drain()


if __name__ == "__main__":
    tap.main()
