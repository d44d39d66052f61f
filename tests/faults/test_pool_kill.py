#!/usr/bin/env python3
"""A pool process SIGKILLed under a mixed load, the pool supervised by
multiwatch under spawn-fcgi (issue 12 item 4): the dead process is
replaced, the pool is back to its size, and after that every request
succeeds again (the requests the killed process held may fail: nginx
answers them 502, as 503 unavailable). Every 201 is in SQLite, and
after the worker every ticket's notifications exist exactly once.
The pool is started with scripts/run.sh's multiwatch options
(faultlib.MultiwatchStack)."""

import os
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import faultlib  # noqa: E402
import harness  # noqa: E402
import tap  # noqa: E402

STACK = None
WORLD = None
KILLS = 3


def setUpModule():
    global STACK, WORLD
    STACK, WORLD = faultlib.start(faultlib.MultiwatchStack, "test_pool_kill",
                                  pool_size=2)


def tearDownModule():
    if STACK is not None:
        STACK.stop()


class PoolKillTest(harness.ApiTestCase):

    def test_sigkill_replaced(self):
        """SIGKILL of a pool process, three times: replaced each time"""
        size = STACK.pool_size
        self.assertEqual(len(STACK.pool_pids()), size)
        killed = []
        with faultlib.Load(STACK, WORLD, threads=6) as load:
            load.wait_count(40)
            for i in range(KILLS):
                # A phase of its own from before the kill, so that every
                # request in flight at the kill carries it.
                load.phase = "kill%d" % i
                load.wait_count(20)
                before = STACK.pool_pids()
                victim = before[i % len(before)]
                faultlib.sigkill(victim)
                killed.append(victim)
                harness.wait_until(
                    lambda: (victim not in STACK.pool_pids() and
                             len(STACK.pool_pids()) == size), 15,
                    what="multiwatch to replace pid %d" % victim)
            load.wait_count(20)
            load.phase = "after"
            load.wait_count(60)
        recs = load.records
        sm = faultlib.summary(recs)
        faultlib.check_answered(self, recs, allow_5xx=True)
        # Only around a kill may a request fail, and only as nginx's
        # answer for the connection the dead process held (502, which the
        # shipped nginx config turns into 503 unavailable).
        bad = [r for r in recs if r.status >= 500 and
               (r.phase in ("before", "after") or r.status not in (502, 503))]
        self.assertEqual(bad, [], sm)
        failed = [r for r in recs if r.status >= 500]
        self.assertLessEqual(len(failed), 2 * KILLS, sm)
        after = [r for r in recs if r.phase == "after"]
        self.assertTrue(after and all(r.status in (200, 201) for r in after),
                        sm)
        self.assertEqual(len(STACK.pool_pids()), size)
        self.assertFalse(set(killed) & set(STACK.pool_pids()))
        faultlib.check_writes(self, STACK, recs)
        faultlib.drain(self, STACK)
        faultlib.check_ticket_tasks(self, STACK, WORLD, recs)


if __name__ == "__main__":
    tap.main()
