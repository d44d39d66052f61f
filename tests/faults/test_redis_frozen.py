#!/usr/bin/env python3
"""Redis frozen under a mixed load (issue 12, "Redis down means slower,
never broken"): once stopped with SIGSTOP (a hung host: connections are
still accepted, nothing is answered), once paused with CLIENT PAUSE.

While frozen, every request is answered, none with a 5xx, and reads and
writes both succeed (from SQLite, the command timeout bounding each wait:
no timing is asserted). Afterwards every 201 is in SQLite, and after the
worker every ticket's notifications exist exactly once: a task whose push
failed waited in the outbox."""

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
# CLIENT PAUSE's length: far longer than the frozen phase takes, so that
# the phase ends while Redis still holds every command (checked).
PAUSE_MS = 30000


def redis_held():
    """True while Redis holds a new client's PING (CLIENT PAUSE ALL)."""
    try:
        STACK.redis("PING", timeout=0.5)
    except OSError:
        return True
    return False


def setUpModule():
    global STACK, WORLD
    STACK, WORLD = faultlib.start(name="test_redis_frozen")


def tearDownModule():
    if STACK is not None:
        if STACK.redis_proc is not None:
            try:
                os.kill(STACK.redis_proc.pid, signal.SIGCONT)
            except ProcessLookupError:
                pass
        STACK.stop()


class RedisFrozenTest(harness.ApiTestCase):

    def check_frozen(self, freeze, thaw, held=None):
        pids = sorted(STACK.pool_pids())
        with faultlib.Load(STACK, WORLD, threads=6) as load:
            load.wait_count(30)
            load.phase = "frozen"
            freeze()
            try:
                # Enough requests that each process meets the frozen Redis
                # several times, its back-off expiring in between.
                load.wait_count(120, timeout=120)
                if held is not None:
                    self.assertTrue(held(), "Redis was let go before the "
                                    "frozen phase ended: its requests may "
                                    "only have waited")
            finally:
                thaw()
            load.phase = "after"
            harness.wait_until(lambda: helpers.redis_up(STACK), 10,
                               what="redis to answer again")
            load.wait_count(30)
        recs = load.records
        sm = faultlib.summary(recs)
        faultlib.check_succeeded(self, recs)
        frozen = [r for r in recs if r.phase == "frozen"]
        self.assertTrue(any(r.method == "GET" and r.status == 200
                            for r in frozen), sm)
        self.assertTrue(any(r.method == "POST" and r.status == 201
                            for r in frozen), sm)
        faultlib.check_writes(self, STACK, recs)
        self.assertEqual(sorted(STACK.pool_pids()), pids)
        faultlib.drain(self, STACK)
        faultlib.check_ticket_tasks(self, STACK, WORLD, recs)

    def test_1_sigstop(self):
        """SIGSTOP: a hung Redis"""
        pid = STACK.redis_proc.pid
        self.check_frozen(lambda: os.kill(pid, signal.SIGSTOP),
                          lambda: os.kill(pid, signal.SIGCONT))

    def test_2_client_pause(self):
        """CLIENT PAUSE ALL: Redis holds every command"""
        # CLIENT UNPAUSE is held too under ALL: the pause ends by itself.
        self.check_frozen(
            lambda: STACK.redis("CLIENT", "PAUSE", PAUSE_MS, "ALL"),
            lambda: harness.wait_until(lambda: helpers.redis_up(STACK),
                                       PAUSE_MS / 1000 + 30,
                                       what="the pause to end"),
            held=redis_held)


if __name__ == "__main__":
    tap.main()
