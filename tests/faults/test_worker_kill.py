#!/usr/bin/env python3
"""chatdesk-worker SIGKILLed in the middle of close_inactive_tickets and
of archive_old_interactions, while a mixed load runs on the app (API.md
section 5; issue 12, Tests):

  * after the kill, nothing is half done: every old ticket is open, or
    closed with its one "closed for inactivity" interaction; every old
    row is in at least one file;
  * a rerun converges: every old ticket closed with exactly one such
    interaction and, after the worker, exactly one status_changed
    notification to its requester (no task lost); every archived row in
    exactly one file, each room's newest 50 messages still hot;
  * the load: every request answered, no 5xx, every 201 in SQLite, every
    ticket's notifications once.

The old rows are written straight into SQLite (the API would take
minutes); the load only makes new ones, which neither task touches."""

import os
import sqlite3
import subprocess
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import faultlib  # noqa: E402
import harness  # noqa: E402
import helpers  # noqa: E402
import tap  # noqa: E402

STACK = None
WORLD = None
OLD = 1000000000000         # 2001: older than any cutoff
N_INACTIVE = 8000           # open tickets for close_inactive_tickets
N_CLOSED = 200              # closed tickets whose interactions are archived
N_INTERACTIONS = 20000
N_MESSAGES = 40000
CLOSED_BODY = "closed for inactivity"

INACTIVE = None             # ids of the old open tickets
ARCH_ROOM = None


def setUpModule():
    global STACK, WORLD, INACTIVE, ARCH_ROOM
    STACK, WORLD = faultlib.start(name="test_worker_kill")
    r = helpers.request(STACK, "POST", "/api/v1/rooms", WORLD.admin[1],
                        {"name": "old"})
    if r.status != 201:
        raise harness.HarnessError("room: %r" % (r,))
    ARCH_ROOM = r.json["id"]
    cust = WORLD.customers[0][0]
    db = sqlite3.connect(STACK.db_path, timeout=30)
    with db:
        first = db.execute("SELECT coalesce(max(id), 0) FROM tickets"
                           ).fetchone()[0] + 1
        db.executemany(
            "INSERT INTO tickets (id, subject, status, priority, "
            "requester_id, created_at, updated_at, last_activity_at) "
            "VALUES (?, ?, 'open', 'normal', ?, ?, ?, ?)",
            ((first + i, "inactive %d" % i, cust, OLD, OLD, OLD)
             for i in range(N_INACTIVE)))
        INACTIVE = list(range(first, first + N_INACTIVE))
        cfirst = first + N_INACTIVE
        db.executemany(
            "INSERT INTO tickets (id, subject, status, priority, "
            "requester_id, created_at, updated_at, last_activity_at, "
            "closed_at) VALUES (?, ?, 'closed', 'normal', ?, ?, ?, ?, ?)",
            ((cfirst + i, "closed %d" % i, cust, OLD, OLD, OLD, OLD)
             for i in range(N_CLOSED)))
        db.executemany(
            "INSERT INTO interactions (ticket_id, author_id, kind, body, "
            "created_at) VALUES (?, ?, 'comment', ?, ?)",
            ((cfirst + i % N_CLOSED, cust, "old comment %d" % i, OLD + i)
             for i in range(N_INTERACTIONS)))
        db.executemany(
            "INSERT INTO messages (room_id, user_id, body, created_at) "
            "VALUES (?, ?, ?, ?)",
            ((ARCH_ROOM, cust, "old message %d" % i, OLD + i)
             for i in range(N_MESSAGES)))
    db.close()


def tearDownModule():
    if STACK is not None:
        STACK.stop()


def ids(path, sql, args=()):
    return {r[0] for r in helpers.db_query(path, sql, args)}


def closed_counts():
    """{ticket: number of "closed for inactivity" interactions} of the old
    open tickets, and the set of them that are closed."""
    lo, hi = INACTIVE[0], INACTIVE[-1]
    counts = dict(helpers.db_query(
        STACK.db_path, "SELECT ticket_id, count(*) FROM interactions "
        "WHERE kind = 'status_change' AND body = ? AND ticket_id BETWEEN ? "
        "AND ? GROUP BY ticket_id", (CLOSED_BODY, lo, hi)))
    closed = ids(STACK.db_path, "SELECT id FROM tickets WHERE status = "
                 "'closed' AND id BETWEEN ? AND ?", (lo, hi))
    return counts, closed


def start_worker():
    return subprocess.Popen([harness.binary("chatdesk-worker")],
                            cwd=STACK.tmp, env=STACK.env(),
                            stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL,
                            start_new_session=True)


class WorkerKillTest(harness.ApiTestCase):

    def setUp(self):
        helpers.clear_queue(STACK)

    def check_load(self, recs):
        faultlib.check_succeeded(self, recs)
        faultlib.check_writes(self, STACK, recs)

    def test_1_mid_close(self):
        """killed mid-close: nothing half closed; a rerun closes every one
        once, each notified once"""
        with faultlib.Load(STACK, WORLD, threads=4) as load:
            load.wait_count(20)
            r = STACK.run_ctl("enqueue", "close_inactive_tickets",
                              '{"inactive_days":30}')
            self.assertEqual(r.returncode, 0, r.stderr)
            helpers.kill_when(start_worker(),
                              lambda: len(closed_counts()[1]) > 0,
                              "close_inactive_tickets to close a batch", 120)
            counts, closed = closed_counts()
            self.assertLess(len(closed), N_INACTIVE,
                            "the run was not interrupted mid-way")
            # Whole batches only: closed <=> its one interaction.
            self.assertEqual(set(counts), closed)
            self.assertEqual(set(counts.values()), {1})
            load.wait_count(20)
        # The killed run's lock lives until its TTL; the rerun finds the
        # task in tasks:processing and finishes it. (After the load: a
        # worker that drains while the load adds tasks never ends.)
        STACK.redis("DEL", "worker:lock")
        faultlib.drain(self, STACK)
        counts, closed = closed_counts()
        self.assertEqual(closed, set(INACTIVE))
        self.assertEqual(set(counts), set(INACTIVE))
        self.assertEqual(set(counts.values()), {1}, "a ticket closed twice")
        lo, hi = INACTIVE[0], INACTIVE[-1]
        notes = helpers.db_query(
            STACK.db_path, "SELECT ticket_id, user_id, count(*) FROM "
            "notifications WHERE event = 'status_changed' AND ticket_id "
            "BETWEEN ? AND ? GROUP BY ticket_id, user_id", (lo, hi))
        want = {(t, WORLD.customers[0][0], 1) for t in INACTIVE}
        got = set(notes)
        self.assertEqual(len(got - want), 0, sorted(got - want)[:10])
        self.assertEqual(len(want - got), 0, "%d closed ticket(s) without "
                         "their one notification: %r" % (
                             len(want - got), sorted(want - got)[:10]))
        self.check_load(load.records)
        faultlib.check_ticket_tasks(self, STACK, WORLD, load.records)

    def test_2_mid_archive(self):
        """killed mid-archive: every row in a file; a rerun leaves each in
        exactly one"""
        msg_sql = "SELECT id FROM messages WHERE room_id = %d" % ARCH_ROOM
        inter_sql = ("SELECT id FROM interactions WHERE body LIKE "
                     "'old comment %'")
        hot_m0 = ids(STACK.db_path, msg_sql)
        hot_i0 = ids(STACK.db_path, inter_sql)
        self.assertEqual(len(hot_m0), N_MESSAGES)
        newest50 = set(sorted(hot_m0)[-50:])
        with faultlib.Load(STACK, WORLD, threads=4) as load:
            load.wait_count(20)
            r = STACK.run_ctl("enqueue", "archive_old_interactions",
                              '{"older_than_days":1}')
            self.assertEqual(r.returncode, 0, r.stderr)

            def copied():
                return len(ids(STACK.archive_db_path, msg_sql)) + len(
                    ids(STACK.archive_db_path, inter_sql)) > 0
            helpers.kill_when(start_worker(), copied,
                              "archive_old_interactions to copy a batch", 120)
            hot_m = ids(STACK.db_path, msg_sql)
            arch_m = ids(STACK.archive_db_path, msg_sql)
            hot_i = ids(STACK.db_path, inter_sql)
            arch_i = ids(STACK.archive_db_path, inter_sql)
            self.assertEqual(hot_m | arch_m, hot_m0)
            self.assertEqual(hot_i | arch_i, hot_i0)
            self.assertGreater(len(hot_m) + len(hot_i), 50,
                               "the run was not interrupted mid-way")
            load.wait_count(20)
        STACK.redis("DEL", "worker:lock")
        faultlib.drain(self, STACK)
        hot_m = ids(STACK.db_path, msg_sql)
        arch_m = ids(STACK.archive_db_path, msg_sql)
        hot_i = ids(STACK.db_path, inter_sql)
        arch_i = ids(STACK.archive_db_path, inter_sql)
        self.assertEqual(hot_m & arch_m, set(), "a message in both files")
        self.assertEqual(hot_i & arch_i, set(), "an interaction in both")
        self.assertEqual(hot_m | arch_m, hot_m0)
        self.assertEqual(hot_i | arch_i, hot_i0)
        self.assertEqual(hot_m, newest50)
        self.assertEqual(hot_i, set())
        self.check_load(load.records)
        faultlib.check_ticket_tasks(self, STACK, WORLD, load.records)
        faultlib.integrity_ok(self, STACK.db_path)
        faultlib.integrity_ok(self, STACK.archive_db_path)


if __name__ == "__main__":
    tap.main()
