#!/usr/bin/env python3
"""The worker on a full disk (issue 12's gap): SQLite's files on a small
tmpfs, filled to ENOSPC with tasks pending.

  * a worker run stops at the first task that cannot write: that task
    goes back to the head of tasks:pending with no attempt counted, the
    run ends with an error on stderr, exit 0 (cron runs it again);
  * nothing is retried, delayed or dead, however many runs meet the full
    disk; every task stays pending with attempts 0;
  * once there is room, the next runs drain the queue: every ticket has
    exactly one ticket_created notification per staff user, and the
    databases pass integrity_check.

Root only (mount -t tmpfs); the mount is removed when the stack stops."""

import json
import os
import sqlite3
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import faultlib  # noqa: E402
import harness  # noqa: E402
import helpers  # noqa: E402
import tap  # noqa: E402

STACK = None
WORLD = None
TICKETS = 20


def setUpModule():
    global STACK, WORLD
    STACK, WORLD = faultlib.start_mounted(faultlib.TmpfsStack,
                                          "test_worker_disk_full", size_mb=8)


def tearDownModule():
    if STACK is not None:
        STACK.free()
        STACK.stop()


def pending():
    return [json.loads(t) for t in helpers.lrange(STACK, "tasks:pending")]


class WorkerDiskFullTest(harness.ApiTestCase):

    def test_full_disk_stalls_then_drains(self):
        faultlib.drain(self, STACK)         # the world's own tasks
        cust = WORLD.customers[0]
        tickets = []
        for i in range(TICKETS):
            r = helpers.request(STACK, "POST", "/api/v1/tickets", cust[1],
                                {"subject": "disk %d" % i, "body": "full"})
            self.assertEqual(r.status, 201, r)
            tickets.append(r.json["id"])
        harness.wait_until(lambda: len(pending()) == TICKETS, 10,
                           what="%d tasks pending" % TICKETS)
        before = pending()
        # An empty WAL, so that the worker's first write needs new space.
        for path in (STACK.db_path, STACK.archive_db_path):
            with sqlite3.connect(path) as c:
                c.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
        self.assertGreater(STACK.fill(), 0)
        for run in range(3):
            with self.subTest(run=run):
                r = STACK.run_worker()
                self.assertEqual(r.returncode, 0, helpers.describe(r))
                self.assertIn("cannot take writes", r.stderr,
                              helpers.describe(r))
                counts = helpers.worker_counts(self, r)
                self.assertEqual(counts[1:], (0, 0, 0),
                                 "done, retried, dead: %s" %
                                 helpers.describe(r))
                self.assertEqual(STACK.redis("LLEN", "tasks:failed"), 0)
                self.assertEqual(STACK.redis("ZCARD", "tasks:delayed"), 0)
                self.assertEqual(STACK.redis("LLEN", "tasks:processing"), 0)
                now = pending()
                self.assertEqual([t["id"] for t in now],
                                 [t["id"] for t in before])
                self.assertEqual([t.get("attempts", 0) for t in now],
                                 [0] * TICKETS)
        STACK.free()
        faultlib.drain(self, STACK)
        faultlib.check_ticket_tasks(self, STACK, WORLD, [],
                                    extra_tickets=tickets)
        faultlib.integrity_ok(self, STACK.db_path)
        faultlib.integrity_ok(self, STACK.archive_db_path)


if __name__ == "__main__":
    tap.main()
