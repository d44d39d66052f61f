#!/usr/bin/env python3
"""rconn across a Redis outage (issue 12, item 5), with a pool of one so
that every request meets the same connection:

  * a process idle while Redis restarts does not keep its dead
    connection: its first request after Redis is back uses Redis (a long
    redis_retry_ms makes a wrongly armed back-off visible as BYPASS);
  * "redis connection restored" is not logged while Redis is frozen
    (SIGSTOP: the kernel still accepts connections), only once a command
    worked again.

No timing assertions: the waits are for states, bounded."""

import os
import signal
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
import helpers  # noqa: E402
import tap  # noqa: E402

STACK = None
USER = None
ROOM = None
RESTORED = "redis connection restored"
# Long enough that a request after the outage could never fall inside it
# by chance, were the back-off armed by a stale connection.
RETRY_MS = 60000


def setUpModule():
    global STACK, USER, ROOM
    STACK = harness.Stack(name="test_redis_reconnect", pool_size=1, env={
        "CHATDESK_REDIS_RETRY_MS": str(RETRY_MS),
        "CHATDESK_RATE_LIMIT_COUNT": "1000000"}).start()
    uid, tok = helpers.add_user(STACK, "agent", "agent@example.com", "agent")
    USER = tok
    r = helpers.request(STACK, "POST", "/api/v1/rooms", tok,
                        {"name": "r", "member_ids": []})
    if r.status != 201:
        raise harness.HarnessError("room: %r" % (r,))
    ROOM = r.json["id"]
    # a message, so that the room's list exists in Redis once read
    r = helpers.request(STACK, "POST", "/api/v1/rooms/%d/messages" % ROOM,
                        tok, {"body": "hello"})
    if r.status != 201:
        raise harness.HarnessError("message: %r" % (r,))


def tearDownModule():
    if STACK is not None:
        STACK.stop()


def read():
    r = helpers.request(STACK, "GET", "/api/v1/rooms/%d/messages" % ROOM,
                        USER)
    return r


class IdleReconnectTest(harness.ApiTestCase):

    def test_1_idle_through_a_restart(self):
        """idle while Redis restarts empty: the next read uses Redis"""
        helpers.restart_pool(STACK, env={
            "CHATDESK_REDIS_RETRY_MS": str(RETRY_MS)})
        for _ in range(2):
            r = read()
            self.assertEqual(r.status, 200, r)
        self.assertIn(r.headers.get("X-Cache"), ("HIT", "MISS"), r)
        STACK.stop_redis()
        STACK.start_redis()   # empty (no persistence), same socket
        r = read()
        self.assertEqual(r.status, 200, r)
        # MISS: the list was lost with Redis; BYPASS would mean the dead
        # connection was used and the back-off armed.
        self.assertEqual(r.headers.get("X-Cache"), "MISS", r)
        r = read()
        self.assertEqual(r.headers.get("X-Cache"), "HIT", r)
        self.assertIsNotNone(
            STACK.wait_log("closed the idle connection", timeout=2),
            STACK.app_log()[-2000:])
        self.assertEqual(len(STACK.pool_pids()), 1)


class FrozenRestoreTest(harness.ApiTestCase):

    def test_2_not_restored_while_frozen(self):
        """frozen: no "restored" line however often the app reconnects;
        thawed: restored once a command works"""
        # A short back-off for this test, so that the app reconnects to
        # the frozen Redis several times.
        helpers.restart_pool(STACK, env={"CHATDESK_REDIS_RETRY_MS": "100"})
        self.assertEqual(read().status, 200)
        log0 = STACK.app_log()
        before = log0.count(RESTORED)
        pid = STACK.redis_proc.pid
        os.kill(pid, signal.SIGSTOP)
        try:
            for _ in range(8):
                r = read()
                self.assertEqual(r.status, 200, r)
                self.assertEqual(r.headers.get("X-Cache"), "BYPASS", r)
                time.sleep(0.15)   # past the back-off: the next reconnects
            log = STACK.app_log()[len(log0):]
            # it did reconnect (and fail) more than once while frozen ...
            self.assertGreaterEqual(log.count("failed: "), 2, log[-3000:])
            # ... but never called that restored
            self.assertEqual(log.count(RESTORED), 0, log[-3000:])
        finally:
            os.kill(pid, signal.SIGCONT)
        harness.wait_until(
            lambda: read().headers.get("X-Cache") in ("HIT", "MISS"), 10,
            what="a cached read after the thaw")
        self.assertGreater(STACK.app_log().count(RESTORED), before)
        self.assertEqual(len(STACK.pool_pids()), 1)


if __name__ == "__main__":
    tap.main()
