#!/usr/bin/env python3
"""Redis SIGKILLed and restarted empty under a posting load (issue 12
item 1; API.md section 5: "never loses a task when Redis is down or
loses its data"): tasks were pushed and waiting in Redis when it died,
some already done by a worker run before. After the worker, every ticket
the load created has exactly one ticket_created notification per staff
user: none lost, none twice. Every 201 is in SQLite.

It holds because a task stays recorded in SQLite until it is finished
and the worker pushes the unfinished ones again when it finds Redis lost
its data; without that record the tasks that were only in Redis are
gone."""

import os
import signal
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import faultlib  # noqa: E402
import harness  # noqa: E402
import helpers  # noqa: E402
import tap  # noqa: E402

STACK = None
WORLD = None
OPS = ("ticket", "post", "ticket", "read", "comment")


def setUpModule():
    global STACK, WORLD
    STACK, WORLD = faultlib.start(name="test_redis_lost")


def tearDownModule():
    if STACK is not None:
        STACK.stop()


class RedisLostTest(harness.ApiTestCase):

    def kill_redis(self):
        p = STACK.redis_proc
        os.kill(p.pid, signal.SIGKILL)
        p.wait(10)
        STACK.redis_proc = None

    def test_killed_and_restarted_empty(self):
        """SIGKILL, restart without data: every task still done once"""
        with faultlib.Load(STACK, WORLD, threads=6, ops=OPS) as load:
            load.wait_count(60)
            # Part of the queue done by a run, the rest left waiting.
            r = STACK.run_worker("--max-tasks", 10)
            self.assertEqual(r.returncode, 0, helpers.describe(r))
            load.wait_count(60)
            waiting = STACK.redis("LLEN", "tasks:pending")
            self.assertGreater(waiting, 0, "no task waiting in Redis")
            load.phase = "lost"
            self.kill_redis()
            load.wait_count(30)     # Redis down: tasks wait in SQLite
            # Empty: the harness runs it without persistence (the load
            # writes to it at once, so no count is asserted here).
            STACK.start_redis()
            load.phase = "after"
            harness.wait_until(lambda: helpers.redis_up(STACK), 10,
                               what="redis")
            load.wait_count(60)
        recs = load.records
        faultlib.check_succeeded(self, recs)
        faultlib.check_writes(self, STACK, recs)
        faultlib.drain(self, STACK)
        n = faultlib.check_ticket_tasks(self, STACK, WORLD, recs)
        self.assertGreater(n, 0)


if __name__ == "__main__":
    tap.main()
