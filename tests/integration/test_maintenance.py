#!/usr/bin/env python3
"""The maintenance tasks' batches over many rows (API.md section 5, issue
12): close_inactive_tickets and archive_old_interactions cut their work
into batches sized by time (maintenance_batch_ms, here 1 ms, so there are
many), and whatever the cut, every row is closed or archived exactly once
and none is lost, also when the worker is killed with -9 mid-way and run
again. And a crash between an archive copy and its delete, followed by the
requester reopening the ticket, converges on the next run: each row in
exactly one file."""

import os
import sqlite3
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
import helpers  # noqa: E402
import tap  # noqa: E402

STACK = None
ADMIN = None
CUSTOMER = None
OLD = 1000000000000     # 2001: older than any cutoff
CLOSE_REASON = "closed for inactivity"


def setUpModule():
    global STACK, ADMIN, CUSTOMER
    STACK = harness.Stack(name="test_maintenance", rate="100000r/s",
                          env={"CHATDESK_MAINTENANCE_BATCH_MS": "1"}).start()
    ADMIN = helpers.add_user(STACK, "Maint", "maint@example.com", "admin")
    CUSTOMER = helpers.add_user(STACK, "Cust", "cust@example.com", "customer")


def tearDownModule():
    if STACK is not None:
        STACK.stop()


def hot(sql, args=()):
    return helpers.db_query(STACK.db_path, sql, args)


def ids(path, table, where="1", args=()):
    return {r[0] for r in helpers.db_query(
        path, "SELECT id FROM %s WHERE %s" % (table, where), args)}


def rows(path, table, lo, hi):
    """Every column of the rows of table with ids in lo..hi, by id."""
    return {r[0]: r for r in helpers.db_query(
        path, "SELECT * FROM %s WHERE id BETWEEN ? AND ?" % table, (lo, hi))}


def rerun(test):
    """The killed run's lock lives until its TTL: drop it, then run the
    worker to the end (it finds the task in tasks:processing)."""
    STACK.redis("DEL", "worker:lock")
    r = STACK.run_worker(timeout=300)
    test.assertEqual(r.returncode, 0, helpers.describe(r))
    test.assertEqual(STACK.redis("LLEN", "tasks:processing"), 0)
    return r


def seed_tickets(db, n, status, activity, closed_at=None, requester=None):
    """n tickets straight into the hot file; returns their ids."""
    first = db.execute("SELECT coalesce(max(id), 0) + 1 FROM tickets") \
        .fetchone()[0]
    db.executemany(
        "INSERT INTO tickets (id, subject, status, priority, requester_id, "
        "created_at, updated_at, last_activity_at, closed_at) "
        "VALUES (?, ?, ?, 'normal', ?, ?, ?, ?, ?)",
        ((first + i, "seeded %d" % i, status, requester or CUSTOMER[0],
          OLD, activity, activity, closed_at) for i in range(n)))
    return set(range(first, first + n))


class CloseBatchesTest(harness.ApiTestCase):

    def test_close_many_kill9_then_rerun(self):
        """close_inactive_tickets over 8,000 tickets in many timed
        batches, killed with -9 mid-way, then run again: every inactive
        ticket closed exactly once (one status_change interaction, one
        notification), none of the others touched"""
        helpers.clear_queue(STACK)
        now = helpers.now_ms()
        db = sqlite3.connect(STACK.db_path, timeout=30)
        with db:
            seed_tickets(db, 6000, "open", OLD)
            seed_tickets(db, 2000, "pending", OLD + 1)
            seed_tickets(db, 50, "open", now)
            seed_tickets(db, 50, "closed", OLD, closed_at=OLD)
        db.close()
        # What the task must close, from the file (other tests' tickets
        # included), and what it must leave as it is.
        stale = ids(STACK.db_path, "tickets", "status IN ('open', "
                    "'pending') AND last_activity_at < ?",
                    (now - 86400000,))
        others = {r[0]: r[1:] for r in hot(
            "SELECT id, status, closed_at FROM tickets")
            if r[0] not in stale}
        self.assertGreaterEqual(len(stale), 8000)
        self.assertGreaterEqual(len(others), 100)

        def closed_by_task():
            return hot("SELECT count(*) FROM interactions WHERE body = ?",
                       (CLOSE_REASON,))[0][0]
        r = STACK.run_ctl("enqueue", "close_inactive_tickets",
                          '{"inactive_days":1}')
        self.assertEqual(r.returncode, 0, r.stderr)
        helpers.kill_worker_when(STACK, lambda: closed_by_task() > 0,
                                 "the close to commit a batch")

        # After the crash: each ticket closed with its interaction in one
        # transaction, or not at all.
        def closes():
            return dict(hot(
                "SELECT ticket_id, count(*) FROM interactions "
                "WHERE body = ? AND author_id IS NULL GROUP BY ticket_id",
                (CLOSE_REASON,)))
        by_ticket = closes()
        now_closed = ids(STACK.db_path, "tickets", "status = 'closed'")
        self.assertEqual(set(by_ticket), now_closed & stale)
        self.assertEqual(set(by_ticket.values()), {1})
        self.assertLess(len(by_ticket), len(stale),
                        "the run was not interrupted mid-way")

        rerun(self)
        tickets = {r[0]: r[1:] for r in hot(
            "SELECT id, status, closed_at FROM tickets")}
        for t in stale:
            self.assertEqual(tickets[t][0], "closed", t)
            self.assertIsNotNone(tickets[t][1], t)
        self.assertEqual({t: tickets[t] for t in others}, others)
        by_ticket = closes()
        self.assertEqual(set(by_ticket), stale)
        self.assertEqual(set(by_ticket.values()), {1})
        # Each close's send_notifications ran, at least once, writing one
        # notification to the requester, whatever the crash cut.
        notes = dict(hot(
            "SELECT ticket_id, count(*) FROM notifications "
            "WHERE event = 'status_changed' AND user_id = ? "
            "GROUP BY ticket_id", (CUSTOMER[0],)))
        self.assertEqual({t: notes.get(t, 0) for t in stale},
                         {t: 1 for t in stale})
        self.assertEqual(helpers.outbox_count(STACK), 0)
        # Through the route, uncached or invalidated.
        t = min(stale)
        r = helpers.request(STACK, "GET", "/api/v1/tickets/%d" % t, ADMIN[1])
        self.assertEqual(r.status, 200)
        self.assertEqual(r.json["status"], "closed")


class ArchiveBatchesTest(harness.ApiTestCase):

    def test_archive_many_kill9_then_rerun(self):
        """archive_old_interactions over 1,500 tickets and 3 rooms in many
        timed batches, killed with -9 mid-way, then run again: every
        eligible row in the archive only, with the same content, every
        other row in the hot file only, none lost"""
        helpers.clear_queue(STACK)
        now = helpers.now_ms()
        rooms = []
        for i in range(3):
            r = helpers.request(STACK, "POST", "/api/v1/rooms", ADMIN[1],
                                {"name": "maint %d" % i})
            self.assertEqual(r.status, 201, r)
            rooms.append(r.json["id"])
        db = sqlite3.connect(STACK.db_path, timeout=30)
        with db:
            old_closed = seed_tickets(db, 1500, "closed", OLD, closed_at=OLD)
            mine = old_closed | \
                seed_tickets(db, 100, "closed", now, closed_at=now) | \
                seed_tickets(db, 100, "open", OLD)
            db.executemany(
                "INSERT INTO interactions (ticket_id, author_id, kind, body, "
                "created_at) VALUES (?, ?, 'comment', ?, ?)",
                ((t, ADMIN[0], "comment %d on %d" % (k, t), OLD + k)
                 for t in sorted(mine) for k in range(4)))
            # Interleaved across rooms, so that batches mix them.
            db.executemany(
                "INSERT INTO messages (room_id, user_id, body, created_at) "
                "VALUES (?, ?, ?, ?)",
                ((rooms[k % 3], ADMIN[0], "old message %d" % k, OLD + k)
                 for k in range(6000)))
        db.close()
        # What the task must move, from the files (other tests' rows
        # included): the interactions of tickets closed over a day ago,
        # the messages (all old) but each room's newest 50.
        day_ago = now - 86400000
        tickets_of = dict(hot("SELECT id, ticket_id FROM interactions"))
        move_i = {i for i, t in tickets_of.items() if t in ids(
            STACK.db_path, "tickets", "status = 'closed' AND closed_at < ?",
            (day_ago,))}
        msgs = dict(hot("SELECT id, room_id FROM messages"))
        keep_m = set()
        for room in set(msgs.values()):
            keep_m |= set(sorted(i for i, r in msgs.items()
                                 if r == room)[-50:])
        arch_i0 = rows(STACK.archive_db_path, "interactions", 0, 1 << 62)
        arch_m0 = rows(STACK.archive_db_path, "messages", 0, 1 << 62)
        inter0 = dict(arch_i0)
        inter0.update(rows(STACK.db_path, "interactions", 0, 1 << 62))
        msg0 = dict(arch_m0)
        msg0.update(rows(STACK.db_path, "messages", 0, 1 << 62))

        r = STACK.run_ctl("enqueue", "archive_old_interactions",
                          '{"older_than_days":1}')
        self.assertEqual(r.returncode, 0, r.stderr)
        helpers.kill_worker_when(
            STACK, lambda: len(ids(STACK.archive_db_path, "interactions")) >
            len(arch_i0), "the archive to copy a batch")
        hot_i = ids(STACK.db_path, "interactions")
        arch_i = ids(STACK.archive_db_path, "interactions")
        self.assertEqual(hot_i | arch_i, set(inter0))
        self.assertTrue(hot_i & move_i, "the run was not interrupted "
                        "mid-way")

        rerun(self)
        hot_i = ids(STACK.db_path, "interactions")
        arch_i = ids(STACK.archive_db_path, "interactions")
        hot_m = ids(STACK.db_path, "messages")
        arch_m = ids(STACK.archive_db_path, "messages")
        self.assertEqual(hot_i & arch_i, set(), "an interaction in both")
        self.assertEqual(hot_m & arch_m, set(), "a message in both")
        self.assertEqual(arch_i, move_i | set(arch_i0))
        self.assertEqual(hot_i, set(inter0) - arch_i)
        self.assertEqual(hot_m, keep_m)
        self.assertEqual(arch_m, set(msg0) - keep_m)
        # The same rows, column for column.
        got = rows(STACK.db_path, "interactions", 0, 1 << 62)
        got.update(rows(STACK.archive_db_path, "interactions", 0, 1 << 62))
        self.assertEqual(got, inter0)
        got = rows(STACK.db_path, "messages", 0, 1 << 62)
        got.update(rows(STACK.archive_db_path, "messages", 0, 1 << 62))
        self.assertEqual(got, msg0)
        # Readable through the route, each interaction once.
        t = min(old_closed)
        r = helpers.request(STACK, "GET",
                            "/api/v1/tickets/%d/interactions" % t, ADMIN[1])
        self.assertEqual(r.status, 200)
        self.assertEqual([i["id"] for i in r.json["interactions"]],
                         sorted(i for i, tt in tickets_of.items() if tt == t))

    def test_copied_then_reopened_converges(self):
        """a crash between an archive copy and its delete, then the
        requester reopens the ticket with a comment: the next run deletes
        the hot copies, each row ends in exactly one file, and the route
        lists every interaction once"""
        helpers.clear_queue(STACK)
        r = helpers.request(STACK, "POST", "/api/v1/tickets", CUSTOMER[1],
                            {"subject": "reopen me", "body": "first"})
        self.assertEqual(r.status, 201, r)
        t = r.json["id"]
        for k in range(3):
            r = helpers.request(STACK, "POST",
                                "/api/v1/tickets/%d/interactions" % t,
                                ADMIN[1], {"body": "reply %d" % k})
            self.assertEqual(r.status, 201, r)
        r = helpers.request(STACK, "PATCH", "/api/v1/tickets/%d" % t,
                            ADMIN[1], {"status": "closed"})
        self.assertEqual(r.status, 200, r)
        db = sqlite3.connect(STACK.db_path, timeout=30)
        with db:
            db.execute("UPDATE tickets SET closed_at = ? WHERE id = ?",
                       (OLD, t))
        db.close()
        before = ids(STACK.db_path, "interactions", "ticket_id = ?", (t,))
        self.assertEqual(len(before), 5)
        # What a run killed after its copy's commit leaves: the rows in
        # the archive and still in the hot file.
        db = sqlite3.connect(STACK.db_path, timeout=30)
        db.execute("ATTACH DATABASE ? AS archive", (STACK.archive_db_path,))
        with db:
            db.execute("INSERT INTO archive.interactions SELECT id, "
                       "ticket_id, author_id, kind, body, created_at FROM "
                       "main.interactions WHERE ticket_id = ?", (t,))
        db.close()
        r = helpers.request(STACK, "POST",
                            "/api/v1/tickets/%d/interactions" % t,
                            CUSTOMER[1], {"body": "still broken"})
        self.assertEqual(r.status, 201, r)
        reopened = r.json["id"]
        r = helpers.request(STACK, "GET", "/api/v1/tickets/%d" % t,
                            CUSTOMER[1])
        self.assertEqual(r.json["status"], "open")

        r = STACK.run_ctl("enqueue", "archive_old_interactions",
                          '{"older_than_days":0}')
        self.assertEqual(r.returncode, 0, r.stderr)
        r = STACK.run_worker(timeout=120)
        self.assertEqual(r.returncode, 0, helpers.describe(r))
        hot_t = ids(STACK.db_path, "interactions", "ticket_id = ?", (t,))
        arch_t = ids(STACK.archive_db_path, "interactions", "ticket_id = ?",
                     (t,))
        self.assertEqual(hot_t & arch_t, set(), "an interaction in both")
        self.assertEqual(arch_t, before)
        self.assertEqual(hot_t, {reopened})
        r = helpers.request(STACK, "GET",
                            "/api/v1/tickets/%d/interactions" % t,
                            CUSTOMER[1])
        self.assertEqual(r.status, 200)
        self.assertEqual([i["id"] for i in r.json["interactions"]],
                         sorted(before | {reopened}))


if __name__ == "__main__":
    tap.main()
