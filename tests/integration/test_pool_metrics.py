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

"""Metrics that cannot go wrong silently (issue 16, item 5):
chatdesk_build_info; the pool's busy/idle gauges and max-reached counter
(every process marks itself busy in the shared file while it handles a
request); a slow-request log line and counter above slow_request_ms; the
pool refuses to start when it cannot open the shared file; a root-run
chatdeskctl gives a file it finds (or makes) to the database's owner."""

import os
import re
import sys
import threading

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
import helpers  # noqa: E402
import tap  # noqa: E402

STACK = None
ADMIN = None


def setUpModule():
    global STACK, ADMIN
    # Cache fills take 400 ms: slow requests, and a process surely busy.
    STACK = harness.Stack(name="test_pool_metrics", pool_size=2, env={
        "CHATDESK_DEBUG_FILL_DELAY_MS": "400",
        "CHATDESK_SLOW_REQUEST_MS": "200"}).start()
    ADMIN = helpers.add_user(STACK, "Adm", "adm@example.com", "admin")[1]


def tearDownModule():
    if STACK is not None:
        STACK.stop()


def scrape():
    r = STACK.http("GET", "/metrics")
    if r.status != 200:
        raise AssertionError(r)
    vals = {}
    for ln in r.text.splitlines():
        if ln and not ln.startswith("#"):
            name, _, v = ln.rpartition(" ")
            vals[name] = float(v)
    return r.text, vals


def slow_get(user_id):
    """A cache fill of user:{id}: at least the fill delay."""
    STACK.redis("DEL", "user:%d" % user_id, "lease:user:%d" % user_id)
    return helpers.request(STACK, "GET", "/api/v1/users/%d" % user_id, ADMIN)


class PoolMetricsTest(harness.ApiTestCase):

    def test_build_info(self):
        text, vals = scrape()
        with open(os.path.join(harness.srcdir(), "configure.ac")) as f:
            version = re.search(r"AC_INIT\(\[[^]]*\],\s*\[([^]]+)\]",
                                f.read()).group(1)
        self.assertEqual(vals.get('chatdesk_build_info{version="%s"}' %
                                  version), 1, text)
        self.assertIn("# TYPE chatdesk_build_info gauge", text)

    def test_busy_idle(self):
        """At rest the scrape's own process is busy, the other idle. (The
        process that answered the previous request marks itself idle just
        after its answer is sent: a scrape may overtake that by a hair,
        so a few are allowed.)"""
        seen = []
        for _ in range(5):
            text, vals = scrape()
            state = (vals['chatdesk_pool_processes{state="busy"}'],
                     vals['chatdesk_pool_processes{state="idle"}'])
            self.assertEqual(sum(state), 2, text)
            seen.append(state)
            if state == (1, 1):
                break
        self.assertEqual(seen[-1], (1, 1), seen)

    def test_max_reached_and_busy_gauge(self):
        """While one process is in a slow fill, a scrape finds both busy,
        and it took the last idle process."""
        before = scrape()[1]["chatdesk_pool_max_reached_total"]
        helpers.request(STACK, "GET", "/api/v1/users/me", ADMIN)
        t = threading.Thread(target=slow_get, args=(1,))
        t.start()
        harness.wait_until(lambda: STACK.redis("EXISTS", "lease:user:1") == 1,
                           10, what="the fill's lease")
        text, vals = scrape()
        t.join(30)
        self.assertEqual(vals['chatdesk_pool_processes{state="busy"}'], 2,
                         text)
        self.assertEqual(vals['chatdesk_pool_processes{state="idle"}'], 0,
                         text)
        self.assertGreaterEqual(vals["chatdesk_pool_max_reached_total"],
                                before + 1)

    def test_slow_request_line(self):
        before = scrape()[1]["chatdesk_slow_requests_total"]
        r = slow_get(1)
        self.assertEqual(r.status, 200, r)
        line = STACK.wait_log(r"msg=\"slow request\".*request_id=%s" %
                              r.headers["X-Request-Id"], timeout=5)
        self.assertIsNotNone(line, STACK.app_log()[-2000:])
        self.assertIn("level=warn", line)
        self.assertIn('route=/api/v1/users/{id}', line)
        self.assertIn("slow_request_ms=200", line)
        self.assertGreaterEqual(scrape()[1]["chatdesk_slow_requests_total"],
                                before + 1)
        # A fast request is not logged as slow.
        r = STACK.http("GET", "/api/v1/health")
        self.assertIsNone(STACK.wait_log(
            r"msg=\"slow request\".*request_id=%s" %
            r.headers["X-Request-Id"], timeout=0.5))

    def test_slow_request_off(self):
        """slow_request_ms = 0 turns the line off."""
        helpers.restart_pool(STACK, env={"CHATDESK_SLOW_REQUEST_MS": "0"})
        try:
            r = slow_get(1)
            self.assertEqual(r.status, 200, r)
            self.assertIsNone(STACK.wait_log(
                r"msg=\"slow request\".*request_id=%s" %
                r.headers["X-Request-Id"], timeout=1))
        finally:
            helpers.restart_pool(STACK)

    def test_z_pool_refuses_without_shared_file(self):
        """A metrics file the pool cannot open: no pool process starts,
        and the log says why."""
        path = STACK.db_path + "-metrics"
        STACK.stop_pool()
        os.rename(path, path + ".save")
        os.mkdir(path)   # not openable for writing, even by root
        try:
            with self.assertRaises(harness.HarnessError):
                STACK.start_pool()
            self.assertIn("metrics: cannot open", STACK.app_log())
        finally:
            os.rmdir(path)
            os.rename(path + ".save", path)
            STACK.stop_pool()
            STACK.start_pool()
            STACK.wait_ready()

    def test_z_root_ctl_gives_file_to_db_owner(self):
        if os.geteuid() != 0:
            self.skipTest("needs root (chown)")
        path = STACK.db_path + "-metrics"
        st = os.stat(STACK.db_path)
        try:
            os.chown(STACK.db_path, 65534, 65534)
            os.chown(path, 0, 0)
            r = STACK.run_ctl("queue", "stats")
            self.assertEqual(r.returncode, 0, r.stderr)
            m = os.stat(path)
            self.assertEqual((m.st_uid, m.st_gid), (65534, 65534))
            os.unlink(path)
            r = STACK.run_ctl("queue", "stats")
            m = os.stat(path)
            self.assertEqual((m.st_uid, m.st_gid), (65534, 65534))
            self.assertEqual(m.st_mode & 0o7777 & ~0o660, 0)
        finally:
            os.chown(STACK.db_path, st.st_uid, st.st_gid)
            os.chown(path, st.st_uid, st.st_gid)
            helpers.restart_pool(STACK)


if __name__ == "__main__":
    tap.main()
