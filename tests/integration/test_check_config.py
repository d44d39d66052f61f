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

"""Configuration checks and start-up errors (issue 16): `chatdesk
--check-config`, `chatdesk-worker --check-config` and `chatdeskctl check`
print what they found and exit 0 or 1 without serving, never printing a
Redis password; a pool process that cannot start writes its reason to
log_file even under spawn-fcgi (which drops its children's stderr), and
even when the configuration itself is what is wrong."""

import os
import subprocess
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
import tap  # noqa: E402

STACK = None
CHECKS = (("chatdesk", "--check-config"),
          ("chatdesk-worker", "--check-config"),
          ("chatdeskctl", "check"))


def setUpModule():
    global STACK
    STACK = harness.Stack(name="test_check_config", pool_size=1).start()


def tearDownModule():
    if STACK is not None:
        STACK.stop()


def run(prog, *args, env=None):
    return subprocess.run([harness.binary(prog)] + list(args),
                          stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, cwd=STACK.tmp, env=STACK.env(env),
                          timeout=20)


class CheckTest(harness.ApiTestCase):

    def test_all_ok(self):
        for prog, arg in CHECKS:
            with self.subTest(prog=prog):
                r = run(prog, arg)
                self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
                out = r.stdout
                self.assertIn("db_path: %s: schema version" % STACK.db_path,
                              out)
                self.assertIn("redis_url: unix:%s db 0: ok" %
                              STACK.redis_sock, out)
                self.assertIn("metrics: %s-metrics: shared" % STACK.db_path,
                              out)
                self.assertIn("configuration is ok", out)

    def test_redis_down_password_hidden(self):
        url = "unix://:sekrit@%s/nothing.sock?db=0" % STACK.tmp
        for prog, arg in CHECKS:
            with self.subTest(prog=prog):
                r = run(prog, arg, env={"CHATDESK_REDIS_URL": url,
                                        "CHATDESK_QUEUE_REDIS_URL": url})
                self.assertEqual(r.returncode, 1, r.stdout)
                self.assertIn("unreachable", r.stdout)
                self.assertIn("(with password)", r.stdout)
                self.assertNotIn("sekrit", r.stdout + r.stderr)
                self.assertIn("configuration check failed", r.stdout)

    def test_bad_config(self):
        for prog, arg in CHECKS:
            with self.subTest(prog=prog):
                r = run(prog, arg, env={"CHATDESK_ROOM_CACHE_SIZE": "0"})
                self.assertEqual(r.returncode, 1, r.stdout)
                self.assertIn("room_cache_size", r.stdout + r.stderr)

    def test_no_database(self):
        missing = os.path.join(STACK.tmp, "missing.db")
        for prog, arg in CHECKS:
            with self.subTest(prog=prog):
                r = run(prog, arg, env={"CHATDESK_DB_PATH": missing})
                self.assertEqual(r.returncode, 1, r.stdout)
                self.assertIn("chatdeskctl migrate", r.stdout)
                self.assertFalse(os.path.exists(missing))

    def test_pool_keeps_serving(self):
        """A check beside a running pool touches nothing of it."""
        before = STACK.pool_pids()
        self.assertEqual(run("chatdesk", "--check-config").returncode, 0)
        self.assertEqual(STACK.http("GET", "/api/v1/health").status, 200)
        self.assertEqual(STACK.pool_pids(), before)


class StartupErrorTest(harness.ApiTestCase):

    def spawn(self, env, name):
        """spawn-fcgi as an operator runs it: the child's stderr is
        /dev/null. Returns spawn-fcgi's output."""
        sock = os.path.join(STACK.tmp, name + ".sock")
        r = subprocess.run([harness.SPAWN_FCGI, "-s", sock, "-M", "0660",
                            "-F", "1", "--", harness.binary("chatdesk")],
                           stdin=subprocess.DEVNULL, capture_output=True,
                           text=True, cwd=STACK.tmp, env=STACK.env(env),
                           timeout=30)
        return r.stdout + r.stderr

    def wait_file(self, path, needle):
        deadline = time.monotonic() + 10
        text = ""
        while time.monotonic() < deadline:
            if os.path.exists(path):
                with open(path, errors="replace") as f:
                    text = f.read()
                if needle in text:
                    return text
            time.sleep(0.05)
        self.fail("%r not in %s: %r" % (needle, path, text))

    def test_missing_database_reaches_log_file(self):
        log = os.path.join(STACK.tmp, "start-db.log")
        self.spawn({"CHATDESK_LOG_FILE": log,
                    "CHATDESK_DB_PATH": os.path.join(STACK.tmp, "no.db")},
                   "start-db")
        text = self.wait_file(log, "run chatdeskctl migrate")
        self.assertIn("level=error", text)

    def test_bad_config_reaches_log_file(self):
        """The file's error is on a line before log_file: the reason
        still lands there."""
        log = os.path.join(STACK.tmp, "start-conf.log")
        conf = os.path.join(STACK.tmp, "bad.conf")
        with open(conf, "w") as f:
            f.write("room_cache_size = 0\nlog_file = %s\n" % log)
        self.spawn({"CHATDESK_CONFIG": conf}, "start-conf")
        text = self.wait_file(log, "room_cache_size")
        self.assertIn("level=error", text)
        self.assertIn("bad.conf:1", text)

    def test_bad_value_from_environment(self):
        log = os.path.join(STACK.tmp, "start-env.log")
        self.spawn({"CHATDESK_LOG_FILE": log,
                    "CHATDESK_SLOW_REQUEST_MS": "-1"}, "start-env")
        self.wait_file(log, "slow_request_ms")


if __name__ == "__main__":
    tap.main()
