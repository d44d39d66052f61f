#!/usr/bin/env python3
"""SIGTERM under a mixed load (API.md section 7, Signals), to every
process of a spawn-fcgi pool at once, while requests are in flight; then
the pool is started again.

Each process finishes the request in flight and leaves its loop (its
"stopping" line; no SIGKILL needed); while the pool is gone nginx answers
503 unavailable; no request goes unanswered; every 201 is in SQLite;
after the worker, every ticket's notifications exist exactly once. The
same under multiwatch, as shipped: test_sigterm_supervised.py."""

import os
import signal
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import faultlib  # noqa: E402
import harness  # noqa: E402
import tap  # noqa: E402

STACK = None
WORLD = None


def setUpModule():
    global STACK, WORLD
    STACK, WORLD = faultlib.start(name="test_sigterm")


def tearDownModule():
    if STACK is not None:
        STACK.stop()


class SigtermTest(harness.ApiTestCase):

    def test_sigterm_every_process(self):
        """SIGTERM to every pool process at once, twice"""
        for round_ in range(2):
            with self.subTest(round=round_):
                self.check_stop()

    def check_stop(self):
        with faultlib.Load(STACK, WORLD, threads=6) as load:
            load.wait_count(40)
            load.phase = "stopping"
            load.wait_count(10)
            kids = STACK.pool_pids()
            self.assertEqual(len(kids), STACK.pool_size)
            for pid in kids:
                os.kill(pid, signal.SIGTERM)
            harness.wait_until(
                lambda: not any(harness.pid_alive(p) for p in kids),
                harness.Stack.STOP_TIMEOUT, what="the pool to exit")
            STACK.stop_pool()       # nothing left to stop: no warning
            load.wait_count(10)     # nginx, with no pool behind it
            STACK.start_pool()
            STACK.wait_ready()
            load.phase = "after"
            load.wait_count(60)
        self.assertEqual(STACK.warnings, [])
        recs = load.records
        faultlib.check_stopped(self, STACK, recs, kids)
        faultlib.check_writes(self, STACK, recs)
        faultlib.drain(self, STACK)
        faultlib.check_ticket_tasks(self, STACK, WORLD, recs)


if __name__ == "__main__":
    tap.main()
