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

"""The worker's task handlers (API.md section 5), run by the real
chatdesk-worker against the stack's Redis and SQLite files:

  * close_inactive_tickets: open/pending tickets closed by the system
    (closed_at, one status_change interaction with a null author, cache
    entries gone, a send_notifications task with a null actor), fresh
    tickets left alone;
  * archive_old_interactions: messages (but each room's newest 50) and
    the interactions of closed tickets move to the archive file; every
    row in exactly one file, all still readable, in order, through the
    routes;
  * send_notifications: recipients per event, never the actor, the
    assignee as it is when the task runs, once per task however often it
    runs; notify_command gets each notification once, a retry pipes only
    what it has not accepted; a worker killed with -9 in the middle of a
    task leaves it to the next run, done once in effect;
  * the outbox: tasks of changes made while Redis was down are pushed by
    the next worker run.

Tests run in name order and share one stack; each one drains the queue
before and after."""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import uuid

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
import helpers  # noqa: E402
from helpers import describe, now_ms, task_json  # noqa: E402
import tap  # noqa: E402

STACK = None
U = {}          # name -> {"token", "id", "role"}
STAFF = ("admin", "agent1", "agent2")
NOTIF_KEYS = {"id", "user_id", "event", "ticket_id", "created_at", "read_at"}
ROOM_LIST_SIZE = 50     # each room's newest 50 stay in the hot file


# ---------------------------------------------------------------- helpers

def call(method, path, who=None, body=None):
    return helpers.request(STACK, method, path,
                           None if who is None else U[who]["token"], body)


def add_user(name, role):
    uid, tok = helpers.add_user(STACK, name, "%s@tasks.test" % name, role,
                                via_me=True)
    U[name] = {"token": tok, "id": uid, "role": role}


def uid(name):
    return U[name]["id"]


def hot(sql, args=()):
    """The hot database (db_path), read-only."""
    return helpers.db_query(STACK.db_path, sql, args)


def arch(sql, args=()):
    """The archive database (archive_db_path), read-only."""
    return helpers.db_query(STACK.archive_db_path, sql, args)


def hot_write(sql, rows):
    """Writes rows straight into the hot database (to backdate or to make
    many rows fast); the app only reads what it finds there."""
    con = sqlite3.connect(STACK.db_path, timeout=10)
    try:
        con.executemany(sql, rows)
        con.commit()
    finally:
        con.close()


DAY_MS = 86400000


def lrange(key):
    return helpers.lrange(STACK, key)


def llen(key):
    return STACK.redis("LLEN", key)


def clear_queue():
    helpers.clear_queue(STACK)


def max_notification_id():
    return hot("SELECT coalesce(max(id), 0) FROM notifications")[0][0]


def new_notifications(since):
    """(user_id, event, ticket_id) of the notifications written after
    id since, sorted."""
    return sorted(hot("SELECT user_id, event, ticket_id FROM notifications "
                      "WHERE id > ?", (since,)))


def expect(names, event, ticket):
    return sorted((uid(n), event, ticket) for n in names)


def session_pids(sid):
    """PIDs of the live processes of session sid (a worker started in its
    own session and the notify_command children it forked)."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2:].split()
        # fields: state ppid pgrp session ...
        if len(fields) > 3 and int(fields[3]) == sid and \
                fields[0] not in ("Z", "X"):
            out.append(int(d))
    return out


def cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def read_concatenated_json(path):
    """The JSON values written one after another (with or without white
    space between them) to path."""
    try:
        with open(path) as f:
            text = f.read()
    except FileNotFoundError:
        return []
    dec = json.JSONDecoder()
    out, i = [], 0
    while True:
        while i < len(text) and text[i].isspace():
            i += 1
        if i >= len(text):
            return out
        v, i = dec.raw_decode(text, i)
        out.append(v)


def setUpModule():
    global STACK
    STACK = harness.Stack(name="test_worker_tasks", rate="100000r/s", env={
        "CHATDESK_RATE_LIMIT_COUNT": "100000"}).start()
    add_user("admin", "admin")
    add_user("agent1", "agent")
    add_user("agent2", "agent")
    add_user("cust1", "customer")
    add_user("cust2", "customer")


def tearDownModule():
    if STACK is not None:
        STACK.stop()


class TasksCase(harness.ApiTestCase):

    BASE_ENV = {"CHATDESK_NOTIFY_COMMAND": "", "CHATDESK_TASK_BACKOFF_S": "0",
                "CHATDESK_TASK_MAX_ATTEMPTS": "3"}

    def setUp(self):
        self.drain()
        clear_queue()

    def tearDown(self):
        clear_queue()

    # ---- building blocks ------------------------------------------------

    def worker(self, *args, env=None):
        e = dict(self.BASE_ENV)
        e.update(env or {})
        return helpers.worker_ok(self, STACK, *args, env=e)

    def drain(self):
        """Runs the worker until nothing is left; every task must be done."""
        helpers.drain(self, self.worker)

    def create_ticket(self, who, subject="subject", body="first words"):
        r = call("POST", "/api/v1/tickets", who,
                 {"subject": subject, "body": body})
        self.assertEqual(r.status, 201, r)
        return r.json["id"]

    def patch(self, ticket, who, body):
        r = call("PATCH", "/api/v1/tickets/%d" % ticket, who, body)
        self.assertEqual(r.status, 200, r)
        return r.json

    def comment(self, ticket, who, body="a comment"):
        r = call("POST", "/api/v1/tickets/%d/interactions" % ticket, who,
                 {"body": body})
        self.assertEqual(r.status, 201, r)
        return r.json

    def ticket(self, ticket, who="agent1"):
        r = call("GET", "/api/v1/tickets/%d" % ticket, who)
        self.assertEqual(r.status, 200, r)
        return r

    def interactions(self, ticket, who="agent1", limit=None):
        """Every interaction through the route, following next_before to
        null; oldest first."""
        return helpers.follow_pages(
            self, lambda q: call("GET", "/api/v1/tickets/%d/interactions%s"
                                 % (ticket, q), who),
            "interactions", oldest_first=True, limit=limit)

    def messages(self, room, who="agent1", limit=None):
        """Every message through the route, following next_before to
        null; newest first."""
        return helpers.follow_pages(
            self, lambda q: call("GET", "/api/v1/rooms/%d/messages%s"
                                 % (room, q), who),
            "messages", oldest_first=False, limit=limit)

    def pending_tasks(self):
        return [json.loads(t) for t in lrange("tasks:pending")]

    # ---- close_inactive_tickets -----------------------------------------

    def make_close_fixture(self):
        ta = self.create_ticket("cust1", "close me (open)")
        tb = self.create_ticket("cust1", "close me (pending)")
        self.patch(tb, "agent1", {"status": "pending",
                                  "assignee_id": uid("agent2")})
        tc = self.create_ticket("cust1", "already closed")
        self.patch(tc, "cust1", {"status": "closed"})
        self.drain()
        return ta, tb, tc

    def test_10_close_inactive_keeps_fresh(self):
        """close_inactive_tickets {"inactive_days":7} leaves fresh tickets"""
        ta, tb, tc = self.make_close_fixture()
        before = hot("SELECT id, status, closed_at, updated_at FROM tickets "
                     "ORDER BY id")
        n_int = hot("SELECT count(*) FROM interactions")[0][0]
        STACK.redis("RPUSH", "tasks:pending", task_json(
            "close_inactive_tickets", {"inactive_days": 7}))
        counts, r = self.worker()
        self.assertEqual(counts, (1, 1, 0, 0), describe(r))
        self.assertEqual(hot("SELECT id, status, closed_at, updated_at FROM "
                             "tickets ORDER BY id"), before)
        self.assertEqual(hot("SELECT count(*) FROM interactions")[0][0],
                         n_int)
        self.assertEqual(llen("tasks:pending"), 0, lrange("tasks:pending"))
        self.assertEqual(self.ticket(ta).json["status"], "open")
        self.assertEqual(self.ticket(tb).json["status"], "pending")

    def test_11_close_inactive_all(self):
        """close_inactive_tickets {"inactive_days":0} closes open/pending

        close_inactive_tickets {"inactive_days":0}: open and pending
        tickets closed by the system, cache entries gone, one notify task
        each with actor_id null"""
        ta, tb, tc = self.make_close_fixture()
        targets = [i for (i,) in hot("SELECT id FROM tickets WHERE status "
                                     "IN ('open', 'pending') ORDER BY id")]
        self.assertIn(ta, targets)
        self.assertIn(tb, targets)
        self.assertNotIn(tc, targets)
        tc_before = hot("SELECT status, closed_at, updated_at FROM tickets "
                        "WHERE id = ?", (tc,))
        tc_inter = len(self.interactions(tc))
        inter_before = {t: len(self.interactions(t)) for t in targets}
        # fill the cache entries of two of them
        for t in (ta, tb):
            self.ticket(t)
            r = self.ticket(t)
            self.assertEqual(r.headers.get("X-Cache"), "HIT", r)
            self.assertEqual(STACK.redis("EXISTS", "ticket:%d" % t), 1)
        mark = max_notification_id()
        time.sleep(0.01)    # last_activity_at strictly before the cutoff
        start = now_ms()
        STACK.redis("RPUSH", "tasks:pending", task_json(
            "close_inactive_tickets", {"inactive_days": 0}))
        # only the close task, so that the notify tasks can be looked at
        counts, r = self.worker("--max-tasks", "1")
        end = now_ms()
        self.assertEqual(counts, (1, 1, 0, 0), describe(r))
        for t in targets:
            with self.subTest(ticket=t):
                self.assertEqual(STACK.redis("EXISTS", "ticket:%d" % t), 0,
                                 "ticket:%d still cached" % t)
                row = hot("SELECT status, closed_at FROM tickets WHERE "
                          "id = ?", (t,))[0]
                self.assertEqual(row[0], "closed")
                self.assertIsNotNone(row[1])
                self.assertTrue(start - 1000 <= row[1] <= end + 1000, row)
        for t in (ta, tb):
            r = self.ticket(t)
            self.assertEqual(r.headers.get("X-Cache"), "MISS", r)
            self.assertEqual(r.json["status"], "closed", r)
            self.assertIsNotNone(r.json["closed_at"], r)
        # exactly one new interaction each: a status_change by the system
        for t in targets:
            with self.subTest(ticket=t):
                inter = self.interactions(t)
                self.assertEqual(len(inter), inter_before[t] + 1, inter)
                new = inter[-1]
                self.assertEqual(new["kind"], "status_change", new)
                self.assertIsNone(new["author_id"], new)
                system = [i for i in inter if i["author_id"] is None]
                self.assertEqual(len(system), 1, inter)
        # the already-closed ticket is untouched
        self.assertEqual(hot("SELECT status, closed_at, updated_at FROM "
                             "tickets WHERE id = ?", (tc,)), tc_before)
        self.assertEqual(len(self.interactions(tc)), tc_inter)
        # one send_notifications task per closed ticket, actor null
        tasks = self.pending_tasks()
        self.assertEqual(sorted(t["payload"]["ticket_id"] for t in tasks),
                         targets, tasks)
        for t in tasks:
            self.assertEqual(t["type"], "send_notifications", t)
            self.assertEqual(t["payload"]["event"], "status_changed", t)
            self.assertIn("actor_id", t["payload"], t)
            self.assertIsNone(t["payload"]["actor_id"], t)
            self.assertEqual(t["attempts"], 0, t)
        self.assertEqual(len({t["id"] for t in tasks}), len(tasks))
        # processed by the next run: the requester, and the assignee
        counts, r = self.worker()
        self.assertEqual(counts, (len(targets), len(targets), 0, 0),
                         describe(r))
        got = new_notifications(mark)
        self.assertEqual([n for n in got if n[2] == ta],
                         expect(["cust1"], "status_changed", ta))
        self.assertEqual([n for n in got if n[2] == tb],
                         expect(["cust1", "agent2"], "status_changed", tb))
        # a rerun finds nothing more to close
        n_int = hot("SELECT count(*) FROM interactions")[0][0]
        STACK.redis("RPUSH", "tasks:pending", task_json(
            "close_inactive_tickets", {"inactive_days": 0}))
        counts, r = self.worker()
        self.assertEqual(counts, (1, 1, 0, 0), describe(r))
        self.assertEqual(hot("SELECT count(*) FROM interactions")[0][0],
                         n_int)

    def test_12_close_notifies_in_same_or_next_run(self):
        """close_inactive_tickets: notify tasks run in this run or the next

        without --max-tasks the close's notify tasks are done by the
        same run or the next one"""
        td = self.create_ticket("cust2", "idle")
        self.drain()
        mark = max_notification_id()
        time.sleep(0.01)
        STACK.redis("RPUSH", "tasks:pending", task_json(
            "close_inactive_tickets", {"inactive_days": 0}))
        counts, r = self.worker()
        self.assertEqual(counts[1:], (counts[0], 0, 0), describe(r))
        self.assertIn(counts[0], (1, 2), describe(r))
        if counts[0] == 1:
            counts, r = self.worker()
            self.assertEqual(counts, (1, 1, 0, 0), describe(r))
        self.assertEqual(llen("tasks:pending"), 0)
        self.assertEqual(llen("tasks:processing"), 0)
        self.assertEqual(new_notifications(mark),
                         expect(["cust2"], "status_changed", td))
        self.assertEqual(self.ticket(td).json["status"], "closed")

    def test_14_close_inactive_days(self):
        """close_inactive_tickets {"inactive_days":7}: 8 days idle closed

        close_inactive_tickets {"inactive_days":7}: a ticket idle for 8
        days is closed, one idle for 6 days and a fresh one are not"""
        old = self.create_ticket("cust1", "idle 8 days")
        six = self.create_ticket("cust1", "idle 6 days")
        fresh = self.create_ticket("cust1", "fresh")
        self.drain()
        now = now_ms()
        hot_write("UPDATE tickets SET last_activity_at = ? WHERE id = ?",
                  [(now - 8 * DAY_MS, old), (now - 6 * DAY_MS, six)])
        STACK.redis("DEL", "ticket:%d" % old, "ticket:%d" % six)
        self.ticket(old)    # cached again, with the old activity
        self.assertEqual(STACK.redis("EXISTS", "ticket:%d" % old), 1)
        STACK.redis("RPUSH", "tasks:pending", task_json(
            "close_inactive_tickets", {"inactive_days": 7}))
        counts, r = self.worker("--max-tasks", "1")
        self.assertEqual(counts, (1, 1, 0, 0), describe(r))
        status = dict(hot("SELECT id, status FROM tickets WHERE id IN "
                          "(?, ?, ?)", (old, six, fresh)))
        self.assertEqual(status, {old: "closed", six: "open",
                                  fresh: "open"})
        self.assertEqual(STACK.redis("EXISTS", "ticket:%d" % old), 0)
        tasks = self.pending_tasks()
        self.assertEqual([t["payload"] for t in tasks],
                         [{"ticket_id": old, "event": "status_changed",
                           "actor_id": None}])

    # ---- archive_old_interactions ---------------------------------------

    def snapshot_ids(self, table):
        h = {i for (i,) in hot("SELECT id FROM %s" % table)}
        a = {i for (i,) in arch("SELECT id FROM %s" % table)}
        return h, a

    def test_20_archive(self):
        """archive_old_interactions {"older_than_days":0}: nothing lost

        archive_old_interactions {"older_than_days":0}: all but each
        room's newest 50 messages and the interactions of closed tickets
        move to the archive; every row in one file, readable in order"""
        # rooms of 65, 120 and 10 messages
        rooms = {}
        for name, n in (("r65", 65), ("r120", 120), ("r10", 10)):
            r = call("POST", "/api/v1/rooms", "agent1",
                     {"name": name, "member_ids": [uid("cust1")]})
            self.assertEqual(r.status, 201, r)
            room = r.json["id"]
            rooms[room] = n
            for i in range(n):
                who = "cust1" if i % 3 == 0 else "agent1"
                r = call("POST", "/api/v1/rooms/%d/messages" % room, who,
                         {"body": "%s #%d" % (name, i)})
                self.assertEqual(r.status, 201, r)
        # closed tickets with interactions, and an open one
        closed, still_open = [], []
        for k in range(2):
            t = self.create_ticket("cust2", "to archive %d" % k)
            for j in range(4):
                self.comment(t, "cust2" if j % 2 else "agent2",
                             "comment %d of %d" % (j, t))
            self.patch(t, "agent2", {"status": "closed"})
            closed.append(t)
        t = self.create_ticket("cust2", "stays hot")
        self.comment(t, "agent1", "still talking")
        still_open.append(t)
        self.drain()
        all_rooms = [i for (i,) in hot("SELECT id FROM rooms ORDER BY id")]
        all_tickets = [i for (i,) in hot("SELECT id FROM tickets "
                                         "ORDER BY id")]
        msgs_before = {room: self.messages(room, limit=100)
                       for room in all_rooms}
        inter_before = {t: self.interactions(t, limit=100)
                        for t in all_tickets}
        for room, n in rooms.items():
            self.assertEqual(len(msgs_before[room]), n)
        m_hot0, m_arch0 = self.snapshot_ids("messages")
        i_hot0, i_arch0 = self.snapshot_ids("interactions")
        m_all = m_hot0 | m_arch0
        i_all = i_hot0 | i_arch0

        # 7 days: everything here is younger; nothing moves
        STACK.redis("RPUSH", "tasks:pending", task_json(
            "archive_old_interactions", {"older_than_days": 7}))
        counts, r = self.worker()
        self.assertEqual(counts, (1, 1, 0, 0), describe(r))
        self.assertEqual(self.snapshot_ids("messages"), (m_hot0, m_arch0))
        self.assertEqual(self.snapshot_ids("interactions"),
                         (i_hot0, i_arch0))

        time.sleep(0.01)    # every row strictly older than the cutoff
        STACK.redis("RPUSH", "tasks:pending", task_json(
            "archive_old_interactions", {"older_than_days": 0}))
        counts, r = self.worker()
        self.assertEqual(counts, (1, 1, 0, 0), describe(r))
        self.check_archived(all_rooms, msgs_before, m_all, i_all,
                            inter_before)

        # the routes, with pages that cross the files
        for room in all_rooms:
            with self.subTest(room=room):
                for limit in (None, 7, 100):
                    self.assertEqual(self.messages(room, limit=limit),
                                     msgs_before[room], "limit %r" % limit)
        room = next(iter(rooms))
        self.assertEqual(self.messages(room, who="cust1", limit=30),
                         msgs_before[room])
        for t in all_tickets:
            with self.subTest(ticket=t):
                for limit in (None, 2, 100):
                    self.assertEqual(self.interactions(t, limit=limit),
                                     inter_before[t], "limit %r" % limit)
        self.assertEqual(self.interactions(closed[0], who="cust2", limit=3),
                         inter_before[closed[0]])

        # a rerun changes nothing
        STACK.redis("RPUSH", "tasks:pending", task_json(
            "archive_old_interactions", {"older_than_days": 0}))
        counts, r = self.worker()
        self.assertEqual(counts, (1, 1, 0, 0), describe(r))
        self.check_archived(all_rooms, msgs_before, m_all, i_all,
                            inter_before)

        # one more message: the room's oldest hot one moves on the next run
        room = max(rooms, key=lambda k: rooms[k])
        r = call("POST", "/api/v1/rooms/%d/messages" % room, "agent1",
                 {"body": "one more"})
        self.assertEqual(r.status, 201, r)
        msgs_before[room] = [r.json] + msgs_before[room]
        m_all.add(r.json["id"])
        time.sleep(0.01)
        STACK.redis("RPUSH", "tasks:pending", task_json(
            "archive_old_interactions", {"older_than_days": 0}))
        counts, r = self.worker()
        self.assertEqual(counts, (1, 1, 0, 0), describe(r))
        self.check_archived(all_rooms, msgs_before, m_all, i_all,
                            inter_before)
        for limit in (None, 50, 51):
            self.assertEqual(self.messages(room, limit=limit),
                             msgs_before[room])

    def check_archived(self, all_rooms, msgs_before, m_all, i_all,
                       inter_before):
        m_hot, m_arch = self.snapshot_ids("messages")
        i_hot, i_arch = self.snapshot_ids("interactions")
        self.assertEqual(m_hot & m_arch, set(), "messages in both files")
        self.assertEqual(i_hot & i_arch, set(), "interactions in both files")
        self.assertEqual(m_hot | m_arch, m_all, "messages lost or invented")
        self.assertEqual(i_hot | i_arch, i_all,
                         "interactions lost or invented")
        for room in all_rooms:
            with self.subTest(room=room):
                ids = [m["id"] for m in msgs_before[room]]   # newest first
                h = [i for (i,) in hot("SELECT id FROM messages WHERE "
                                       "room_id = ? ORDER BY id DESC",
                                       (room,))]
                a = [i for (i,) in arch("SELECT id FROM messages WHERE "
                                        "room_id = ? ORDER BY id DESC",
                                        (room,))]
                self.assertEqual(h, ids[:ROOM_LIST_SIZE],
                                 "hot file: the room's newest 50")
                self.assertEqual(a, ids[ROOM_LIST_SIZE:],
                                 "archive: the rest")
        closed = {i for (i,) in hot("SELECT id FROM tickets WHERE "
                                    "status = 'closed'")}
        for t, inter in inter_before.items():
            with self.subTest(ticket=t):
                ids = {i["id"] for i in inter}
                h = {i for (i,) in hot("SELECT id FROM interactions WHERE "
                                       "ticket_id = ?", (t,))}
                a = {i for (i,) in arch("SELECT id FROM interactions WHERE "
                                        "ticket_id = ?", (t,))}
                if t in closed:
                    self.assertEqual((h, a), (set(), ids),
                                     "closed ticket: all archived")
                else:
                    self.assertEqual((h, a), (ids, set()),
                                     "open ticket: all hot")
        # the archived rows keep every column
        for (mid, room, user, body, created) in arch(
                "SELECT id, room_id, user_id, body, created_at FROM messages "
                "ORDER BY id LIMIT 5"):
            self.assertEqual(hot("SELECT count(*) FROM messages WHERE id = ?",
                                 (mid,))[0][0], 0)
            self.assertTrue(body.startswith("r") or body == "one more", body)

    def test_21_archive_days_and_batches(self):
        """archive_old_interactions {"older_than_days":7} over several batches

        archive_old_interactions {"older_than_days":7} over more than
        one 500-row batch: only rows older than 7 days (messages) or of
        tickets closed more than 7 days ago (interactions) move, each
        room's newest 50 stay"""
        now = now_ms()
        old = now - 10 * DAY_MS
        r = call("POST", "/api/v1/rooms", "agent1",
                 {"name": "long history", "member_ids": [uid("cust1")]})
        self.assertEqual(r.status, 201, r)
        room = r.json["id"]
        n_old = 1180
        hot_write("INSERT INTO messages (room_id, user_id, body, created_at) "
                  "VALUES (?, ?, ?, ?)",
                  [(room, uid("cust1") if i % 2 else uid("agent1"),
                    "old %d" % i, old + i) for i in range(n_old)])
        STACK.redis("DEL", "messages:room:%d" % room)
        for i in range(30):
            r = call("POST", "/api/v1/rooms/%d/messages" % room, "cust1",
                     {"body": "new %d" % i})
            self.assertEqual(r.status, 201, r)
        # a ticket closed 8 days ago with 600 interactions, one closed now
        ta = self.create_ticket("cust1", "closed long ago")
        hot_write("INSERT INTO interactions (ticket_id, author_id, kind, "
                  "body, created_at) VALUES (?, ?, 'comment', ?, ?)",
                  [(ta, uid("agent2") if i % 2 else uid("cust1"),
                    "reply %d" % i, old + i) for i in range(600)])
        self.patch(ta, "agent2", {"status": "closed"})
        hot_write("UPDATE tickets SET closed_at = ? WHERE id = ?",
                  [(now - 8 * DAY_MS, ta)])
        tb = self.create_ticket("cust1", "closed just now")
        self.comment(tb, "agent2", "done")
        self.patch(tb, "agent2", {"status": "closed"})
        self.drain()
        msgs_before = self.messages(room, limit=100)
        self.assertEqual(len(msgs_before), n_old + 30)
        inter_a = self.interactions(ta, limit=100)
        inter_b = self.interactions(tb)
        self.assertEqual(len(inter_a), 602)
        m_all = set().union(*self.snapshot_ids("messages"))
        i_all = set().union(*self.snapshot_ids("interactions"))

        STACK.redis("RPUSH", "tasks:pending", task_json(
            "archive_old_interactions", {"older_than_days": 7}))
        counts, r = self.worker()
        self.assertEqual(counts, (1, 1, 0, 0), describe(r))
        m_hot, m_arch = self.snapshot_ids("messages")
        i_hot, i_arch = self.snapshot_ids("interactions")
        self.assertEqual(m_hot & m_arch, set())
        self.assertEqual(i_hot & i_arch, set())
        self.assertEqual(m_hot | m_arch, m_all)
        self.assertEqual(i_hot | i_arch, i_all)
        ids = [m["id"] for m in msgs_before]     # newest first
        h = [i for (i,) in hot("SELECT id FROM messages WHERE room_id = ? "
                               "ORDER BY id DESC", (room,))]
        a = [i for (i,) in arch("SELECT id FROM messages WHERE room_id = ? "
                                "ORDER BY id DESC", (room,))]
        self.assertEqual(h, ids[:ROOM_LIST_SIZE])
        self.assertEqual(a, ids[ROOM_LIST_SIZE:])
        self.assertEqual(len(a), n_old + 30 - ROOM_LIST_SIZE)
        self.assertEqual({i for (i,) in arch(
            "SELECT id FROM interactions WHERE ticket_id = ?", (ta,))},
            {i["id"] for i in inter_a})
        self.assertEqual(hot("SELECT count(*) FROM interactions WHERE "
                             "ticket_id = ?", (ta,))[0][0], 0)
        self.assertEqual({i for (i,) in hot(
            "SELECT id FROM interactions WHERE ticket_id = ?", (tb,))},
            {i["id"] for i in inter_b})
        # all still there through the routes, in order
        self.assertEqual(self.messages(room, limit=100), msgs_before)
        self.assertEqual(self.messages(room, who="cust1", limit=37),
                         msgs_before)
        self.assertEqual(self.interactions(ta, limit=100), inter_a)
        self.assertEqual(self.interactions(ta, who="cust1"), inter_a)
        self.assertEqual(self.interactions(tb), inter_b)

    # ---- send_notifications -------------------------------------------------

    def test_30_same_task_twice(self):
        """the same send_notifications task twice: one per recipient

        the same send_notifications task run twice: one notification
        per recipient"""
        t = self.create_ticket("cust2", "twice")
        tasks = lrange("tasks:pending")
        self.assertEqual(len(tasks), 1, tasks)
        task = json.loads(tasks[0])
        self.assertEqual(task["type"], "send_notifications", task)
        self.assertEqual(task["payload"], {"ticket_id": t,
                                           "event": "ticket_created",
                                           "actor_id": uid("cust2")})
        self.assertEqual(task["attempts"], 0)
        self.assertIsInstance(task["id"], str)
        self.assertTrue(abs(task["timestamp"] - now_ms()) < 60000, task)
        STACK.redis("RPUSH", "tasks:pending", tasks[0])
        mark = max_notification_id()
        counts, r = self.worker()
        self.assertEqual(counts, (2, 2, 0, 0), describe(r))
        self.assertEqual(new_notifications(mark),
                         expect(STAFF, "ticket_created", t))
        # and once more, later
        STACK.redis("RPUSH", "tasks:pending", tasks[0])
        counts, r = self.worker()
        self.assertEqual(counts, (1, 1, 0, 0), describe(r))
        self.assertEqual(new_notifications(mark),
                         expect(STAFF, "ticket_created", t))
        # through the route
        for who in STAFF:
            r = call("GET", "/api/v1/notifications?limit=100", who)
            self.assertEqual(r.status, 200, r)
            mine = [n for n in r.json["notifications"]
                    if n["ticket_id"] == t]
            self.assertEqual(len(mine), 1, r)
            self.assertEqual(set(mine[0]), NOTIF_KEYS, r)
            self.assertEqual(mine[0]["event"], "ticket_created")
            self.assertEqual(mine[0]["user_id"], uid(who))
        r = call("GET", "/api/v1/notifications?limit=100", "cust2")
        self.assertEqual([n for n in r.json["notifications"]
                          if n["ticket_id"] == t], [], r)

    def step(self, action, want, ntasks=1):
        """Runs action(), which must enqueue ntasks tasks; runs the
        worker; returns after checking the new notifications == want."""
        mark = max_notification_id()
        action()
        self.assertEqual(llen("tasks:pending"), ntasks,
                         lrange("tasks:pending"))
        counts, r = self.worker()
        self.assertEqual(counts, (ntasks, ntasks, 0, 0), describe(r))
        self.assertEqual(new_notifications(mark), sorted(want))

    def test_31_recipients(self):
        """notification recipients per event, never the actor

        ticket_created to every agent and admin but the actor;
        comment_added/status_changed to requester and assignee, never
        the actor"""
        mark = max_notification_id()
        t = self.create_ticket("cust1", "who hears")
        counts, r = self.worker()
        self.assertEqual(counts, (1, 1, 0, 0), describe(r))
        self.assertEqual(new_notifications(mark),
                         expect(STAFF, "ticket_created", t))
        # a ticket opened by staff: every other staff member
        mark = max_notification_id()
        t2 = self.create_ticket("agent1", "by staff")
        counts, r = self.worker()
        self.assertEqual(counts, (1, 1, 0, 0), describe(r))
        self.assertEqual(new_notifications(mark),
                         expect(["admin", "agent2"], "ticket_created", t2))
        # an assignment alone changes no status: no task
        self.patch(t, "agent2", {"assignee_id": uid("agent2")})
        self.assertEqual(llen("tasks:pending"), 0, lrange("tasks:pending"))
        self.step(lambda: self.comment(t, "cust1"),
                  expect(["agent2"], "comment_added", t))
        self.step(lambda: self.comment(t, "agent2"),
                  expect(["cust1"], "comment_added", t))
        self.step(lambda: self.comment(t, "agent1"),
                  expect(["cust1", "agent2"], "comment_added", t))
        self.step(lambda: self.patch(t, "agent2", {"status": "pending"}),
                  expect(["cust1"], "status_changed", t))
        self.step(lambda: self.patch(t, "admin", {"status": "open"}),
                  expect(["cust1", "agent2"], "status_changed", t))
        self.step(lambda: self.patch(t, "cust1", {"status": "closed"}),
                  expect(["agent2"], "status_changed", t))
        # a requester's comment that reopens: one task, comment_added
        self.step(lambda: self.comment(t, "cust1", "still broken"),
                  expect(["agent2"], "comment_added", t))
        self.assertEqual(self.ticket(t).json["status"], "open")
        # on a ticket requested by staff with no assignee: nobody but
        # the requester, never the actor
        self.step(lambda: self.comment(t2, "agent1"), [])
        self.step(lambda: self.comment(t2, "admin"),
                  expect(["agent1"], "comment_added", t2))

    def test_32_recipients_as_when_run(self):
        """the assignee as it is when the task runs"""
        t = self.create_ticket("cust2", "reassigned")
        self.patch(t, "admin", {"assignee_id": uid("agent1")})
        self.drain()
        mark = max_notification_id()
        self.comment(t, "cust2", "anyone?")
        self.assertEqual(llen("tasks:pending"), 1)
        self.patch(t, "admin", {"assignee_id": uid("agent2")})
        counts, r = self.worker()
        self.assertEqual(counts, (1, 1, 0, 0), describe(r))
        self.assertEqual(new_notifications(mark),
                         expect(["agent2"], "comment_added", t))

    def test_33_notify_command(self):
        """notify_command gets each notification's JSON once on stdin"""
        out = STACK.path("notify-%s.out" % uuid.uuid4().hex[:8])
        env = {"CHATDESK_NOTIFY_COMMAND": "cat >> '%s'" % out}
        t = self.create_ticket("cust1", "piped")
        text = lrange("tasks:pending")[0]
        counts, r = self.worker(env=env)
        self.assertEqual(counts, (1, 1, 0, 0), describe(r))
        rows = hot("SELECT id, user_id, event, ticket_id, read_at FROM "
                   "notifications WHERE ticket_id = ? ORDER BY id", (t,))
        self.assertEqual(sorted(u for _, u, _, _, _ in rows),
                         sorted(uid(n) for n in STAFF))
        got = read_concatenated_json(out)
        self.assertEqual(sorted(n["id"] for n in got),
                         [i for i, _, _, _, _ in rows], got)
        for n in got:
            self.assertEqual(set(n), NOTIF_KEYS, n)
            row = [x for x in rows if x[0] == n["id"]][0]
            self.assertEqual((n["user_id"], n["event"], n["ticket_id"]),
                             row[1:4], n)
            self.assertIsInstance(n["created_at"], str, n)
        # the same task again: nothing is piped twice
        STACK.redis("RPUSH", "tasks:pending", text)
        counts, r = self.worker(env=env)
        self.assertEqual(counts, (1, 1, 0, 0), describe(r))
        self.assertEqual(sorted(n["id"] for n in read_concatenated_json(out)),
                         [i for i, _, _, _, _ in rows])

    def test_34_notify_retry_pipes_only_the_rest(self):
        """notify_command retry pipes only what it has not accepted

        a notify_command that rejects one notification fails the task;
        the retry pipes only what was not accepted"""
        out = STACK.path("notify-%s.out" % uuid.uuid4().hex[:8])
        a1 = uid("agent1")
        picky = ("x=$(cat); case \"$x\" in *'\"user_id\":%d,'*|"
                 "*'\"user_id\":%d}'*) exit 1;; esac; "
                 "printf '%%s\\n' \"$x\" >> '%s'" % (a1, a1, out))
        t = self.create_ticket("cust1", "picky")
        counts, r = self.worker(env={"CHATDESK_NOTIFY_COMMAND": picky})
        self.assertEqual(counts, (1, 0, 1, 0), describe(r))
        first = read_concatenated_json(out)
        self.assertNotIn(a1, [n["user_id"] for n in first])
        self.assertEqual(len({n["id"] for n in first}), len(first), first)
        counts, r = self.worker(env={"CHATDESK_NOTIFY_COMMAND":
                                     "cat >> '%s'" % out})
        self.assertEqual(counts, (1, 1, 0, 0), describe(r))
        got = read_concatenated_json(out)
        rows = hot("SELECT id FROM notifications WHERE ticket_id = ? "
                   "ORDER BY id", (t,))
        self.assertEqual(sorted(n["id"] for n in got), [i for (i,) in rows],
                         "each notification piped exactly once: %r" % got)
        self.assertEqual(sorted(n["user_id"] for n in got),
                         sorted(uid(n) for n in STAFF))
        self.assertEqual(STACK.redis("ZCARD", "tasks:delayed"), 0)
        self.assertEqual(llen("tasks:failed"), 0)

    def test_35_notify_timeout(self):
        """notify_command past notify_timeout_ms: killed, task retried

        a notify_command that runs past notify_timeout_ms fails the
        task (retried) and is killed, with its children"""
        tag = "%d.%03d" % (40 + os.getpid() % 50, int(uuid.uuid4().int %
                                                      1000))
        self.create_ticket("cust1", "slow pipe")
        counts, r = self.worker(env={
            "CHATDESK_NOTIFY_COMMAND": "sleep %s; true" % tag,
            "CHATDESK_NOTIFY_TIMEOUT_MS": "300"})
        self.assertEqual(counts, (1, 0, 1, 0), describe(r))
        self.assertEqual(STACK.redis("ZCARD", "tasks:delayed"), 1)

        def gone():
            for d in os.listdir("/proc"):
                if d.isdigit() and ("sleep %s" % tag) in cmdline(int(d)):
                    return False
            return True
        harness.wait_until(gone, 5, what="notify_command (sleep %s) to be "
                           "killed" % tag)
        # delivered by the retry
        counts, r = self.worker(env={"CHATDESK_NOTIFY_COMMAND": "true"})
        self.assertEqual(counts, (1, 1, 0, 0), describe(r))

    # ---- a worker killed in the middle of a task --------------------------

    def test_40_kill9_mid_task(self):
        """worker killed -9 mid-task: the next run recovers it, done once

        kill -9 of the worker while notify_command runs: the next run
        recovers the task and does it once in effect"""
        t = self.create_ticket("cust1", "killed")
        self.assertEqual(llen("tasks:pending"), 1)
        env = STACK.env({"CHATDESK_NOTIFY_COMMAND": "sleep 30",
                         "CHATDESK_NOTIFY_TIMEOUT_MS": "60000",
                         "CHATDESK_TASK_BACKOFF_S": "0"})
        log = open(STACK.path("killed-worker.log"), "wb")
        try:
            p = subprocess.Popen([harness.binary("chatdesk-worker")],
                                 cwd=STACK.tmp, env=env,
                                 stdin=subprocess.DEVNULL, stdout=log,
                                 stderr=subprocess.STDOUT,
                                 start_new_session=True)
        finally:
            log.close()
        killed = False
        try:
            def sleeping():
                if p.poll() is not None:
                    raise harness.HarnessError("worker exited %r" %
                                               p.returncode)
                return llen("tasks:processing") == 1 and any(
                    "sleep" in cmdline(q) for q in session_pids(p.pid)
                    if q != p.pid)
            harness.wait_until(sleeping, 15, what="the worker to run "
                               "notify_command on the task")
            # while it runs, it holds the lock, with an expiry
            self.assertIsNotNone(STACK.redis("GET", "worker:lock"))
            # The lock outlives the longest wait between renewals: one
            # notify_command run may take notify_timeout_ms (60 s here),
            # so its TTL is max(60 s, 2 x notify_timeout_ms + 10 s).
            ttl = STACK.redis("PTTL", "worker:lock")
            self.assertTrue(0 < ttl <= 2 * 60000 + 10000, ttl)
            # kill -9 the worker and its notify_command (which runs in a
            # process group of its own, in the worker's session)
            victims = session_pids(p.pid)
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            for q in victims:
                try:
                    os.kill(q, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            p.wait(10)
            killed = True
            harness.wait_until(lambda: not session_pids(p.pid), 10,
                               what="the killed worker's children to go")
        finally:
            if not killed and p.poll() is None:
                for q in session_pids(p.pid):
                    try:
                        os.kill(q, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                p.wait(10)
        self.assertEqual(p.returncode, -signal.SIGKILL)
        self.assertEqual(llen("tasks:processing"), 1)
        # the notifications were committed before the command ran; none
        # was accepted by it
        rows = hot("SELECT user_id, delivered_at FROM notifications WHERE "
                   "ticket_id = ?", (t,))
        self.assertEqual(sorted(u for u, _ in rows),
                         sorted(uid(n) for n in STAFF))
        self.assertEqual([d for _, d in rows if d is not None], [])
        # The killed run's lock stays until its TTL (60 s) runs out: a run
        # now exits at once saying the lock is held and takes nothing...
        self.assertIsNotNone(STACK.redis("GET", "worker:lock"))
        e = dict(self.BASE_ENV, CHATDESK_NOTIFY_COMMAND="true")
        r = STACK.run_worker(env=e)
        self.assertEqual(r.returncode, 0, describe(r))
        self.assertRegex(r.stdout + r.stderr, r"(?i)held", describe(r))
        self.assertEqual(llen("tasks:processing"), 1)
        # ...so, rather than wait 60 s, delete the dead run's lock by hand
        # (what an operator would do) before the rerun.
        STACK.redis("DEL", "worker:lock")
        counts, r = self.worker(env={"CHATDESK_NOTIFY_COMMAND": "true"})
        self.assertEqual(counts, (1, 1, 0, 0), describe(r))
        self.assertRegex(r.stderr, r"(?i)crash|recover|orphan|back to",
                         "the recovery is not logged: " + describe(r))
        self.assertEqual(llen("tasks:processing"), 0)
        self.assertEqual(llen("tasks:pending"), 0)
        self.assertIsNone(STACK.redis("GET", "worker:lock"))
        rows = hot("SELECT user_id, event, delivered_at FROM notifications "
                   "WHERE ticket_id = ?", (t,))
        self.assertEqual(sorted((u, e) for u, e, _ in rows),
                         sorted((uid(n), "ticket_created") for n in STAFF))
        self.assertEqual([d for _, _, d in rows if d is None], [],
                         "not delivered after the rerun")

    # ---- the outbox -----------------------------------------------------

    def test_50_outbox_pushed_by_worker(self):
        """the outbox left while Redis was down is pushed by the worker

        a ticket created while Redis was down: its task waits in the
        outbox and the next worker run pushes and runs it"""
        STACK.stop_redis()
        try:
            r = call("POST", "/api/v1/tickets", "cust2",
                     {"subject": "redis is down", "body": "still works?"})
            self.assertEqual(r.status, 201, r)
            t = r.json["id"]
            outbox = hot("SELECT task FROM task_outbox")
            self.assertEqual(len(outbox), 1, outbox)
            task = json.loads(outbox[0][0])
            self.assertEqual(task["type"], "send_notifications")
            self.assertEqual(task["payload"]["ticket_id"], t)
        finally:
            STACK.start_redis()
        self.assertEqual(llen("tasks:pending"), 0)
        mark = max_notification_id()
        counts, r = self.worker()
        self.assertEqual(counts, (1, 1, 0, 0), describe(r))
        self.assertEqual(hot("SELECT count(*) FROM task_outbox")[0][0], 0)
        self.assertEqual(new_notifications(mark),
                         expect(STAFF, "ticket_created", t))
        self.assertEqual(llen("tasks:pending"), 0)
        self.assertEqual(llen("tasks:processing"), 0)


    # ---- big batches (last: they add a thousand tickets) ------------------

    def test_60_close_inactive_many(self):
        """close_inactive_tickets over more than one 500-row batch

        close_inactive_tickets over more than one 500-row batch closes
        every one, with one task each"""
        t0 = now_ms() - 1000
        n = 1003
        hot_write("INSERT INTO tickets (subject, status, priority, "
                  "requester_id, created_at, updated_at, last_activity_at) "
                  "VALUES (?, ?, 'normal', ?, ?, ?, ?)",
                  [("bulk %d" % i, "open" if i % 2 else "pending",
                    uid("cust2"), t0, t0, t0) for i in range(n)])
        targets = [i for (i,) in hot("SELECT id FROM tickets WHERE status "
                                     "IN ('open', 'pending') ORDER BY id")]
        self.assertGreaterEqual(len(targets), n)
        mark = max_notification_id()
        STACK.redis("RPUSH", "tasks:pending", task_json(
            "close_inactive_tickets", {"inactive_days": 0}))
        counts, r = self.worker("--max-tasks", "1")
        self.assertEqual(counts, (1, 1, 0, 0), describe(r))
        self.assertEqual(hot("SELECT count(*) FROM tickets WHERE status "
                             "IN ('open', 'pending')")[0][0], 0)
        got = hot("SELECT ticket_id FROM interactions WHERE author_id IS "
                  "NULL AND kind = 'status_change' AND ticket_id >= ? "
                  "ORDER BY ticket_id", (targets[0],))
        self.assertEqual([t for (t,) in got], targets)
        tasks = self.pending_tasks()
        self.assertEqual(sorted(t["payload"]["ticket_id"] for t in tasks),
                         targets)
        self.assertEqual(hot("SELECT count(*) FROM task_outbox")[0][0], 0)
        counts, r = self.worker()
        self.assertEqual(counts, (len(targets), len(targets), 0, 0),
                         describe(r))
        want = []
        for t, req, asg in hot("SELECT id, requester_id, assignee_id FROM "
                               "tickets WHERE id >= ?", (targets[0],)):
            if t in targets:
                want += [(u, "status_changed", t) for u in {req, asg}
                         if u is not None]
        self.assertEqual(new_notifications(mark), sorted(want))


if __name__ == "__main__":
    tap.main()
