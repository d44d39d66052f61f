#!/usr/bin/env python3
"""Disk full under load (issue 12 item 3, API.md the /health row): the
SQLite files live on a small tmpfs, which a test file fills to ENOSPC
while a mixed load runs.

  * reads keep answering 200 (from SQLite and Redis), every one;
  * writes answer 201 or 503 unavailable, never 500, never a lost 201;
  * /health says 200 degraded, "database":"read_only", with a warning;
  * once the file is removed, writes succeed again by themselves and
    /health says ok, with no restart;
  * PRAGMA integrity_check is ok; no pool process exited.

Root only (mount -t tmpfs); the mount is removed when the stack stops."""

import os
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import faultlib  # noqa: E402
import harness  # noqa: E402
import helpers  # noqa: E402
import tap  # noqa: E402

STACK = None
WORLD = None
POLL_S = 30.0
WRITES = ("post", "ticket", "comment")


def setUpModule():
    global STACK, WORLD
    STACK, WORLD = faultlib.start_mounted(faultlib.TmpfsStack,
                                          "test_disk_full", size_mb=8)


def tearDownModule():
    if STACK is not None:
        STACK.free()
        STACK.stop()


def health():
    return STACK.http("GET", "/api/v1/health")


class DiskFullTest(harness.ApiTestCase):

    def wait_health(self, database):
        """Every pool process answers health with this database state (a
        run of pool_size * 3 in a row). Returns the last answer."""
        n = STACK.pool_size * 3
        run, last = helpers.poll_in_a_row(
            health, lambda r: r.json.get("database") == database, n, POLL_S)
        self.assertGreaterEqual(len(run), n, "health never said database "
                                "%s %d times in a row; last %r" % (
                                    database, n, last))
        return last

    def write_once(self, tag):
        cust = WORLD.customers[0]
        return helpers.request(STACK, "POST", "/api/v1/rooms/%d/messages"
                               % WORLD.room, cust[1], {"body": tag})

    def test_disk_full_then_space_again(self):
        pids = sorted(STACK.pool_pids())
        with faultlib.Load(STACK, WORLD, threads=4) as load:
            load.wait_count(40)
            load.phase = "full"
            filled = STACK.fill()
            self.assertGreater(filled, 0)
            # The first writes after the fill find out; then health, in
            # every process, says read_only.
            harness.wait_until(
                lambda: any(r.phase == "full" and r.status == 503
                            for r in list(load.records)), POLL_S,
                what="a write answered 503 on the full disk")
            r = self.wait_health("read_only")
            self.assertEqual(r.status, 200, r)
            body = r.json
            self.assertEqual(body["status"], "degraded", r)
            self.assertEqual(body["redis"], "ok", r)
            self.assertTrue(any("cannot take writes" in w
                                for w in body.get("warnings", [])), r)
            load.wait_count(100)       # more of the load on a full disk
            load.phase = "freed"
            STACK.free()
            # By itself: a write succeeds again, health says ok.
            harness.wait_until(
                lambda: any(r.phase == "freed" and r.op in WRITES and
                            r.status == 201 for r in list(load.records)),
                POLL_S, what="a write answered 201 after the space came back")
            r = self.wait_health("ok")
            self.assertEqual(r.json["status"], "ok", r)
            load.wait_count(40)
        recs = load.records
        # Reads: 200, every one, full disk or not; writes: 201 or 503
        # unavailable, never another error.
        faultlib.check_writes_refused(self, recs, "full")
        # After the space came back: writes in a row, each 201.
        for i in range(10):
            r = self.write_once("after-%d" % i)
            self.assertEqual(r.status, 201, r)
        n = faultlib.check_writes(self, STACK, recs)
        self.assertGreater(n, 0)
        faultlib.integrity_ok(self, STACK.db_path)
        faultlib.integrity_ok(self, STACK.archive_db_path)
        self.assertEqual(sorted(STACK.pool_pids()), pids,
                         "a pool process exited")
        # The tasks of the tickets that were created all ran once.
        faultlib.drain(self, STACK)
        faultlib.check_ticket_tasks(self, STACK, WORLD, recs)


if __name__ == "__main__":
    tap.main()
