#!/usr/bin/env python3
"""A failed group-commit sync (DESIGN.md, durable posts; invariant 7): an
LD_PRELOAD shim (fail_sync.c) makes fdatasync fail with EIO while a flag
file exists.

  * the post whose sync fails answers 503, never 201;
  * then every pool process is read-only: writes 503 unavailable, reads
    200, /health 200 "database":"read_only";
  * sticky: with the flag file gone (syncs would work again) and well past
    the once-a-second probe of a full disk, writes still answer 503 and
    health says read_only;
  * a restart of the pool clears it: writes 201, health "ok"."""

import os
import shutil
import subprocess
import sys
import time
import unittest

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import faultlib  # noqa: E402
import harness  # noqa: E402
import helpers  # noqa: E402
import tap  # noqa: E402

STACK = None
WORLD = None
POLL_S = 30.0
HERE = os.path.dirname(os.path.abspath(__file__))


def setUpModule():
    global STACK, WORLD
    cc = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if cc is None:
        raise unittest.SkipTest("no C compiler for the shim")
    STACK, WORLD = faultlib.start(name="test_sync_failed")
    shim = STACK.path("fail_sync.so")
    subprocess.run([cc, "-shared", "-fPIC", "-o", shim,
                    os.path.join(HERE, "fail_sync.c")], check=True)
    STACK.flag = STACK.path("fail-sync")
    STACK.shim_env = {"LD_PRELOAD": shim,
                      "CHATDESK_TEST_FAIL_SYNC": STACK.flag}
    helpers.restart_pool(STACK, env=STACK.shim_env)


def tearDownModule():
    if STACK is not None:
        STACK.stop()


def health():
    return STACK.http("GET", "/api/v1/health")


class SyncFailedTest(harness.ApiTestCase):

    def post(self, tag):
        return helpers.request(STACK, "POST", "/api/v1/rooms/%d/messages"
                               % WORLD.room, WORLD.customers[0][1],
                               {"body": tag})

    def read(self):
        return helpers.request(STACK, "GET", "/api/v1/rooms/%d/messages"
                               % WORLD.room, WORLD.customers[0][1])

    def check_read_only(self, what):
        """Every process (pool_size * 3 answers in a row): health says
        read_only, a read is 200, a write 503."""
        n = STACK.pool_size * 3
        run, last = helpers.poll_in_a_row(
            health, lambda r: r.status == 200 and
            r.json.get("database") == "read_only", n, POLL_S)
        self.assertGreaterEqual(len(run), n, "%s: health never said "
                                "read_only %d times in a row; last %r"
                                % (what, n, last))
        for i in range(n):
            r = self.read()
            self.assertEqual(r.status, 200, "%s: read %r" % (what, r))
            r = self.post("%s %d" % (what, i))
            self.assertEqual(r.status, 503, "%s: write %r" % (what, r))
            self.assertEqual(r.json["error"]["code"], "unavailable",
                             "%s: %r" % (what, r))

    def test_1_failed_sync_sticks_until_restart(self):
        r = self.post("before")
        self.assertEqual(r.status, 201, r)
        open(STACK.flag, "w").close()
        r = self.post("sync fails")
        self.assertEqual(r.status, 503, r)
        self.check_read_only("after the failed sync")
        os.unlink(STACK.flag)
        # Syncs would work now; a full disk's probe (once a second) would
        # have ended read_only by now. A failed sync does not.
        time.sleep(3)
        self.check_read_only("flag gone, 3 s later")
        helpers.restart_pool(STACK, env=STACK.shim_env)
        r = self.post("after the restart")
        self.assertEqual(r.status, 201, r)
        run, last = helpers.poll_in_a_row(
            health, lambda r: r.json.get("database") == "ok",
            STACK.pool_size * 3, POLL_S)
        self.assertGreaterEqual(len(run), STACK.pool_size * 3, last)
        bodies = [m["body"] for m in self.read().json["messages"]]
        self.assertIn("after the restart", bodies)
        self.assertIn("before", bodies)

    def test_zz_pool_alive(self):
        """no pool process died"""
        self.assertEqual(sorted(STACK.pool_pids()), sorted(STACK.pool))


if __name__ == "__main__":
    tap.main()
