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

"""chatdeskctl backup and restore (issue 16): a restored database is never
served stale cache. Post, back up, post more (all of it cached), restore
with the pool stopped: every read answers what the restored database
holds, the next post is in the cached list, a token created after the
backup (its session cached) is refused. A restore under a running pool,
or while a worker run holds worker:lock, is refused and changes
nothing."""

import os
import re
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
import helpers  # noqa: E402
import tap  # noqa: E402

STACK = None
ADMIN = None


def setUpModule():
    global STACK, ADMIN
    STACK = harness.Stack(name="test_restore", pool_size=2).start()
    ADMIN = helpers.add_user(STACK, "Adm", "adm@example.com", "admin")[1]


def tearDownModule():
    if STACK is not None:
        STACK.stop()


def call(method, path, token=None, body=None):
    return helpers.request(STACK, method, path, token or ADMIN, body=body)


def api_messages(room):
    r = call("GET", "/api/v1/rooms/%d/messages" % room)
    if r.status != 200:
        raise AssertionError(r)
    return r, r.json["messages"]


def ids(msgs):
    return [m["id"] for m in msgs]


class RestoreTest(harness.ApiTestCase):

    def post(self, room, text):
        r = call("POST", "/api/v1/rooms/%d/messages" % room, body={"body": text})
        self.assertEqual(r.status, 201, r)
        return r.json["id"]

    def cached_read(self, room):
        """Reads until the list comes from the cache."""
        for _ in range(5):
            r, msgs = api_messages(room)
            if r.headers.get("X-Cache") == "HIT":
                return msgs
        self.fail("the room list is never served from the cache: %r" % r)

    def test_restore(self):
        r = call("POST", "/api/v1/rooms", body={"name": "r", "member_ids": []})
        self.assertEqual(r.status, 201, r)
        room = r.json["id"]
        old = [self.post(room, "before-%d" % i) for i in range(3)]
        self.assertEqual(ids(self.cached_read(room)), old[::-1])
        backup = os.path.join(STACK.tmp, "backup.db")
        b = STACK.run_ctl("backup", backup)
        self.assertEqual(b.returncode, 0, b.stderr)
        self.assertTrue(os.path.exists(backup))
        # A second backup never overwrites a file.
        b2 = STACK.run_ctl("backup", backup)
        self.assertEqual(b2.returncode, 1, b2.stdout)
        later = [self.post(room, "after-%d" % i) for i in range(3)]
        self.assertEqual(ids(self.cached_read(room)), (old + later)[::-1])
        uid, tok = helpers.add_user(STACK, "Late", "late@example.com",
                                    "customer", via_me=True)
        self.assertEqual(helpers.request(STACK, "GET", "/api/v1/users/me",
                                         tok).status, 200)
        self.assertEqual(call("GET", "/api/v1/users/%d" % uid).status, 200)

        # Under a running pool: refused, nothing changed.
        r = STACK.run_ctl("restore", backup)
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertIn("pool is running", r.stderr)
        self.assertEqual(ids(helpers.db_messages(STACK, room)),
                         (old + later)[::-1])

        STACK.stop_pool()
        # A worker run in progress (its lock held): refused too.
        STACK.redis("SET", "worker:lock", "another-run", "PX", "60000")
        r = STACK.run_ctl("restore", backup)
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertIn("worker:lock", r.stderr)
        STACK.redis("DEL", "worker:lock")
        r = STACK.run_ctl("restore", backup)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(STACK.redis("EXISTS", "worker:lock"), 0)
        m = re.search(r"generation ([0-9a-f]+)", r.stdout)
        self.assertIsNotNone(m, r.stdout)
        gen = m.group(1)
        self.assertEqual(helpers.db_query(
            STACK.db_path, "SELECT value FROM meta WHERE name = "
            "'generation'"), [(gen,)])
        STACK.start_pool()
        STACK.wait_ready()

        # Every read answers what the database holds, cached or not.
        self.assertEqual(ids(helpers.db_messages(STACK, room)), old[::-1])
        for _ in range(4):
            r, msgs = api_messages(room)
            self.assertEqual(msgs, helpers.db_messages(STACK, room), r)
        self.assertEqual(r.headers.get("X-Cache"), "HIT")
        # The user and the token made after the backup are gone, though
        # their entries were cached.
        self.assertEqual(call("GET", "/api/v1/users/%d" % uid).status, 404)
        r = helpers.request(STACK, "GET", "/api/v1/users/me", tok)
        self.assertError(r, 401, "unauthorized")
        # The next post (its id may be one the old database had used) is
        # in the cached list.
        new = self.post(room, "after-restore")
        for _ in range(4):
            r, msgs = api_messages(room)
            self.assertEqual(msgs, helpers.db_messages(STACK, room), r)
            self.assertEqual(msgs[0]["id"], new)
        self.assertEqual(r.headers.get("X-Cache"), "HIT")
        # Cache keys carry the generation; the queue's do not.
        self.assertEqual(STACK.redis("EXISTS", "g%s:messages:room:%d" %
                                     (gen, room)), 1)

    def test_restore_refuses_a_bad_file(self):
        junk = os.path.join(STACK.tmp, "junk.db")
        with open(junk, "wb") as f:
            f.write(b"not a database at all" * 100)
        r = STACK.run_ctl("restore", junk)
        self.assertEqual(r.returncode, 1, r.stdout)
        r = STACK.run_ctl("restore", os.path.join(STACK.tmp, "missing.db"))
        self.assertEqual(r.returncode, 1, r.stdout)
        r = STACK.run_ctl("restore")
        self.assertEqual(r.returncode, 64, r.stdout)


if __name__ == "__main__":
    tap.main()
