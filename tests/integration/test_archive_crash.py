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

"""archive_old_interactions killed with -9 in the middle of a large run
(API.md section 5): the move is copy-commit-delete in batches, so after the
crash every row is in at least one file, and a rerun of the worker finishes
the move with every row in exactly one file, none lost, each room's newest
50 messages still in the hot file, and everything readable through the
routes."""

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
N_MESSAGES = 60000      # enough batches of 500 that the run takes a while
N_INTERACTIONS = 30000
OLD = 1000000000000     # 2001: older than any cutoff


def setUpModule():
    global STACK, ADMIN
    STACK = harness.Stack(name="test_archive_crash", rate="100000r/s").start()
    ADMIN = helpers.add_user(STACK, "Arch", "arch@example.com", "admin")
    # A room and a closed ticket through the API, then many old rows
    # written straight into the hot file (the API would take minutes).
    r = helpers.request(STACK, "POST", "/api/v1/rooms", ADMIN[1],
                        {"name": "archive"})
    assert r.status == 201, r
    r = helpers.request(STACK, "POST", "/api/v1/tickets", ADMIN[1],
                        {"subject": "old", "body": "first"})
    assert r.status == 201, r
    ticket = r.json["id"]
    r = helpers.request(STACK, "PATCH", "/api/v1/tickets/%d" % ticket,
                        ADMIN[1], {"status": "closed"})
    assert r.status == 200, r
    db = sqlite3.connect(STACK.db_path, timeout=30)
    with db:
        db.executemany(
            "INSERT INTO messages (room_id, user_id, body, created_at) "
            "VALUES (1, ?, ?, ?)",
            ((ADMIN[0], "old message %d" % i, OLD + i)
             for i in range(N_MESSAGES)))
        db.executemany(
            "INSERT INTO interactions (ticket_id, author_id, kind, body, "
            "created_at) VALUES (?, ?, 'comment', ?, ?)",
            ((ticket, ADMIN[0], "old comment %d" % i, OLD + i)
             for i in range(N_INTERACTIONS)))
        db.execute("UPDATE tickets SET closed_at = ? WHERE id = ?",
                   (OLD, ticket))
    db.close()


def tearDownModule():
    if STACK is not None:
        STACK.stop()


def ids(path, table):
    return {r[0] for r in helpers.db_query(path, "SELECT id FROM %s" % table)}


class ArchiveCrashTest(harness.ApiTestCase):

    def test_kill9_mid_archive_then_rerun(self):
        hot_m0 = ids(STACK.db_path, "messages")
        hot_i0 = ids(STACK.db_path, "interactions")
        newest50 = set(sorted(hot_m0)[-50:])
        r = STACK.run_ctl("enqueue", "archive_old_interactions",
                          '{"older_than_days":0}')
        self.assertEqual(r.returncode, 0, r.stderr)
        # Kill it once the archive holds some rows but the move is far
        # from done.
        helpers.kill_worker_when(
            STACK, lambda: len(ids(STACK.archive_db_path, "messages")) +
            len(ids(STACK.archive_db_path, "interactions")) > 0,
            "the archive run to copy a batch")
        # After the crash: nothing lost, every row in at least one file.
        hot_m, arch_m = ids(STACK.db_path, "messages"), \
            ids(STACK.archive_db_path, "messages")
        hot_i, arch_i = ids(STACK.db_path, "interactions"), \
            ids(STACK.archive_db_path, "interactions")
        self.assertEqual(hot_m | arch_m, hot_m0)
        self.assertEqual(hot_i | arch_i, hot_i0)
        self.assertTrue(len(hot_m) + len(hot_i) > 50 + 1,
                        "the run was not interrupted mid-way")
        # The killed run's lock lives until its TTL; a rerun finds the
        # task in tasks:processing and finishes the move.
        STACK.redis("DEL", "worker:lock")
        r = STACK.run_worker(timeout=300)
        self.assertEqual(r.returncode, 0, r.stderr)
        hot_m, arch_m = ids(STACK.db_path, "messages"), \
            ids(STACK.archive_db_path, "messages")
        hot_i, arch_i = ids(STACK.db_path, "interactions"), \
            ids(STACK.archive_db_path, "interactions")
        self.assertEqual(hot_m & arch_m, set(), "a message in both files")
        self.assertEqual(hot_i & arch_i, set(), "an interaction in both files")
        self.assertEqual(hot_m | arch_m, hot_m0)
        self.assertEqual(hot_i | arch_i, hot_i0)
        self.assertEqual(hot_m, newest50)
        self.assertEqual(hot_i, set())
        self.assertEqual(STACK.redis("LLEN", "tasks:processing"), 0)
        # Readable through the routes: the newest page, and the oldest
        # page of interactions, which now come from the archive.
        r = helpers.request(STACK, "GET",
                            "/api/v1/rooms/1/messages?limit=100&before=%d"
                            % (min(newest50) + 1), ADMIN[1])
        self.assertEqual(r.status, 200)
        got = [m["id"] for m in r.json["messages"]]
        self.assertEqual(got, sorted((i for i in hot_m0
                                      if i <= min(newest50)),
                                     reverse=True)[:100])
        r = helpers.request(STACK, "GET",
                            "/api/v1/tickets/1/interactions?limit=100",
                            ADMIN[1])
        self.assertEqual(r.status, 200)
        got = [i["id"] for i in r.json["interactions"]]
        self.assertEqual(got, sorted(hot_i0)[-100:])


if __name__ == "__main__":
    tap.main()
