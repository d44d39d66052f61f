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

"""A read sent ahead, and a replay of failed deletes that lands after it
(API.md section 4, docs/DESIGN.md "one round trip for the hot reads").

GET /tickets/{id} sends the handler's GET ticket:{id} with the session's
GET, before the handler runs. If another process records a delete that
failed (Redis unreachable for it) between that round trip and the
handler's read, the handler's cache_sync replays the deletes, and the
reply read before them must not be served: it may be the very value the
replay deletes.

The race is forced, not waited for. The ticket's row changes in SQLite
while Redis keeps the old copy, and the delete of ticket:{id} is recorded
in cache_pending, as a failed invalidation leaves them; the pool is not
told yet. The request's session is made a miss and Redis paused for
writes (CLIENT PAUSE WRITE), so the process reads both replies and then
waits on the session's lease script. While it waits, chatdeskctl, pointed
at a Redis that is not there, revokes another user's tokens: its delete
fails, it records that, and it bumps the pool's pending generation. Redis
is let go; the answer must be the row as SQLite has it, read after the
replay (X-Cache MISS), not the copy sent ahead (HIT with the old subject).
"""

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


def setUpModule():
    global STACK
    # Long enough that no command of the paused process times out: a
    # timeout would drop the connection and read SQLite anyway.
    STACK = harness.Stack(
        name="test_ahead_replay", pool_size=1,
        env={"CHATDESK_REDIS_COMMAND_TIMEOUT_MS": "20000"}).start()


def tearDownModule():
    if STACK is not None:
        STACK.stop()


def paused_client_waiting():
    """True when Redis holds a client's script because writes are paused:
    CLIENT LIST shows it blocked (flag b) on EVAL or EVALSHA. (Not the
    query buffer: the paused command has left it, and the caller's own
    CLIENT LIST is in its own.)"""
    out = STACK.redis("CLIENT", "LIST")
    if isinstance(out, bytes):
        out = out.decode()
    return any(re.search(r"\bflags=\w*b", ln) and re.search(r"\bcmd=eval", ln)
               for ln in out.splitlines())


class AheadReplayTest(harness.ApiTestCase):

    def test_replay_after_the_read_ahead(self):
        """a delete recorded after the read sent ahead, before the handler's read: the handler serves SQLite's row, not the reply read ahead"""
        sfx = os.getpid()
        _, agent = helpers.add_user(STACK, "Agent", "agent-%d@example.test" % sfx, "agent")
        _, cust = helpers.add_user(STACK, "Cust", "cust-%d@example.test" % sfx, "customer")
        helpers.add_user(STACK, "Victim", "victim-%d@example.test" % sfx, "agent")
        r = helpers.request(STACK, "POST", "/api/v1/tickets", cust,
                            {"subject": "old subject", "body": "b"})
        self.assertEqual(r.status, 201, r)
        tid = r.json["id"]
        key = "ticket:%d" % tid
        for want in ("MISS", "HIT"):
            r = helpers.request(STACK, "GET", "/api/v1/tickets/%d" % tid, agent)
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.headers.get("X-Cache"), want, r)
        self.assertIsNotNone(STACK.redis("GET", key))

        # What a committed change whose delete failed leaves behind,
        # except that no process has been told (no generation bump).
        helpers.db_write(STACK.db_path, "UPDATE tickets SET subject = ? WHERE id = ?",
                         ("new subject", tid))
        helpers.db_write(STACK.db_path,
                         "INSERT INTO cache_pending (key, pattern, created_at) VALUES (?, 0, ?)",
                         (key, helpers.now_ms()))
        STACK.redis("DEL", helpers.session_key(agent))

        got = {}

        def fetch():
            got["r"] = helpers.request(STACK, "GET", "/api/v1/tickets/%d" % tid, agent)

        STACK.redis("CLIENT", "PAUSE", "60000", "WRITE")
        t = threading.Thread(target=fetch)
        try:
            t.start()
            harness.wait_until(paused_client_waiting, 30,
                               what="the pool process waiting on its lease script")
            ctl = STACK.run_ctl("user", "revoke-tokens", "--email", "victim-%d@example.test" % sfx,
                                env={"CHATDESK_REDIS_URL": "unix://%s/nothing.sock" % STACK.tmp})
            self.assertEqual(ctl.returncode, 0, ctl)
            pending = helpers.db_query(STACK.db_path, "SELECT key FROM cache_pending")
            self.assertGreaterEqual(len(pending), 2,
                                    "chatdeskctl recorded its failed delete: %r" % (pending,))
        finally:
            STACK.redis("CLIENT", "UNPAUSE")
            t.join(60)
        self.assertFalse(t.is_alive(), "the request was answered")
        r = got["r"]
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["subject"], "new subject",
                         "the reply read ahead of the replay was served: %r" % (r.json,))
        self.assertEqual(r.headers.get("X-Cache"), "MISS", r)
        # The replay ran: the pending rows are gone, and Redis holds the new row.
        self.assertEqual(helpers.db_query(STACK.db_path, "SELECT key FROM cache_pending"), [])
        r = helpers.request(STACK, "GET", "/api/v1/tickets/%d" % tid, agent)
        self.assertEqual((r.status, r.headers.get("X-Cache"), r.json["subject"]),
                         (200, "HIT", "new subject"), r)


if __name__ == "__main__":
    tap.main()
