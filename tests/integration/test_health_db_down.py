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

"""SQLite unusable (API.md section 3, health row): /health answers 503
with status down and database down, and every other route answers
503 unavailable. Two ways to break the file, each on a fresh database:
its header overwritten in place, and the file renamed away."""

import os
import re
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
import helpers  # noqa: E402
import tap  # noqa: E402

STACK = None
CONSECUTIVE = 6
POLL_S = 10.0

# Existing routes, without a token: while the database is down they answer
# 503 unavailable (not 401).
OTHER_ROUTES = [
    ("GET", "/api/v1/users/me", None),
    ("GET", "/api/v1/users/1", None),
    ("GET", "/api/v1/rooms", None),
    ("GET", "/api/v1/tickets", None),
    ("GET", "/api/v1/tickets/1", None),
    ("POST", "/api/v1/tickets",
     {"subject": "s", "body": "b", "priority": "normal"}),
    ("GET", "/api/v1/queue", None),
]


def setUpModule():
    global STACK
    STACK = harness.Stack(name="test_health_db_down").start()


def tearDownModule():
    if STACK is not None:
        STACK.stop()


class DatabaseDownTest(harness.ApiTestCase):

    def setUp(self):
        # a fresh, healthy database and pool for each way of breaking it
        STACK.reset_database()
        r = STACK.http("GET", "/api/v1/health")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["database"], "ok", r)

    def wait_down(self):
        def down(r):
            try:
                return r.status == 503 and r.json.get("database") == "down"
            except ValueError:
                return False
        run, last = helpers.poll_in_a_row(
            lambda: STACK.http("GET", "/api/v1/health"), down, CONSECUTIVE,
            POLL_S)
        if len(run) >= CONSECUTIVE:
            return run
        self.fail("health did not report the database down within %.0fs; "
                  "last answer %r" % (POLL_S, last))

    def check_down(self):
        for r in self.wait_down():
            self.assertEqual(r.status, 503, r)
            self.assertJsonType(r)
            self.assertRequestId(r)
            body = r.json
            self.assertEqual(set(body), {"status", "database", "redis",
                                         "queue", "worker"}, r)
            self.assertEqual(body["status"], "down", r)
            self.assertEqual(body["database"], "down", r)
            self.assertEqual(body["redis"], "ok", r)
        # Every process checks again within a second (db_down), whether
        # or not it served one of the health answers above.
        n = STACK.pool_size * 3
        for method, path, body in OTHER_ROUTES:
            with self.subTest(route="%s %s" % (method, path)):
                run, r = helpers.poll_in_a_row(
                    lambda: STACK.http(method, path, body=body),
                    lambda r: r.status == 503, n, POLL_S)
                self.assertGreaterEqual(len(run), n, "%s %s did not answer "
                                        "503 %d times in a row; last %r" % (
                                            method, path, n, r))
                self.assertError(r, 503, "unavailable")
                # answered by the app, not by nginx for a dead pool: the
                # app logs the request with its id
                rid = r.headers.get("X-Request-Id")
                self.assertIsNotNone(
                    STACK.wait_log(r"=\"?%s\"?(\s|$)" % re.escape(rid)),
                    "no log line with request id %s" % rid)
        self.assertEqual(len(STACK.pool_pids()), STACK.pool_size,
                         "a pool process died with the database down")

    def test_header_overwritten(self):
        """the file's first 100 bytes overwritten in place"""
        with open(STACK.db_path, "r+b") as f:
            f.write(b"\xa5" * 100)
            f.flush()
            os.fsync(f.fileno())
        self.check_down()

    def test_file_renamed(self):
        """the file renamed away"""
        os.rename(STACK.db_path, STACK.db_path + ".moved")
        self.check_down()


if __name__ == "__main__":
    tap.main()
