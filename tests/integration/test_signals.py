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

"""Signals (API.md section 7): SIGTERM lets the request in flight finish,
then the process exits; an idle process exits on SIGTERM too (it must not
wait for another request); a client that goes away mid-response does not
kill the process."""

import os
import signal
import socket
import sys
import threading
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
import tap  # noqa: E402

STACK = None
TOKEN = None


def setUpModule():
    global STACK, TOKEN
    # A cache fill sleeps 1.5 s between its SQLite read and its Redis
    # store: a request that is surely in flight when SIGTERM arrives.
    STACK = harness.Stack(name="test_signals", pool_size=2,
                          env={"CHATDESK_DEBUG_FILL_DELAY_MS": "1500"}).start()
    TOKEN = STACK.add_user("Sig", "sig@example.com", "admin")


def tearDownModule():
    if STACK is not None:
        STACK.stop()


def auth():
    return {"Authorization": "Bearer " + TOKEN}


class SignalTest(harness.ApiTestCase):

    def test_1_client_gone_mid_response(self):
        """A client that sends a request and closes at once leaves every
        pool process alive and answering."""
        before = sorted(STACK.pool_pids())
        port = STACK.port
        for _ in range(20):
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            s.sendall(b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\n"
                      b"Connection: close\r\n\r\n")
            s.close()
        # Every process still serves (two consecutive rounds of requests).
        for _ in range(6):
            r = STACK.http("GET", "/api/v1/health")
            self.assertEqual(r.status, 200)
        self.assertEqual(sorted(STACK.pool_pids()), before)

    def test_2_sigterm_finishes_request_in_flight(self):
        """SIGTERM to every pool process while one of them fills a cache
        entry: that request still gets its 200, then all processes exit."""
        STACK.redis("DEL", "user:1", "lease:user:1")
        # Sessions are cached too: make the session fill instant by using
        # the token once (this also fills user:1; delete it again).
        self.assertEqual(STACK.http("GET", "/api/v1/users/me",
                                    headers=auth()).status, 200)
        STACK.redis("DEL", "user:1", "lease:user:1")
        result = {}

        def slow_get():
            result["r"] = STACK.http("GET", "/api/v1/users/1",
                                     headers=auth(), timeout=30)

        t = threading.Thread(target=slow_get)
        t.start()
        # Wait until the request is inside the fill (its lease exists).
        harness.wait_until(lambda: STACK.redis("EXISTS", "lease:user:1") == 1,
                           10, what="the fill to take its lease")
        pids = STACK.pool_pids()
        self.assertEqual(len(pids), 2)
        for p in pids:
            os.kill(p, signal.SIGTERM)
        t.join(30)
        self.assertFalse(t.is_alive())
        r = result.get("r")
        self.assertIsNotNone(r)
        self.assertEqual(r.status, 200, r.text if r else None)
        self.assertEqual(r.json["id"], 1)
        # Both processes exit: the busy one after its answer, the idle one
        # without waiting for another request.
        harness.wait_until(lambda: not STACK.pool_pids(), 15,
                           what="the pool processes to exit on SIGTERM")
        log = STACK.app_log()
        for p in pids:
            self.assertIn("stopping (pid %d)" % p, log)


if __name__ == "__main__":
    tap.main()
