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

"""Queue administration (API.md sections 3, 5 and 7): GET /api/v1/queue,
POST /api/v1/queue/failed/retry, DELETE /api/v1/queue/failed (admin only),
and chatdeskctl enqueue, queue stats, dead list, dead retry."""

import json
import os
import re
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
import helpers  # noqa: E402
from helpers import describe, is_int, now_ms  # noqa: E402
from helpers import compact_json as dumps  # noqa: E402
import tap  # noqa: E402

STACK = None
U = {}          # name -> {"token", "id", "role"}
TICKET = None
STATS_KEYS = {"pending", "processing", "delayed", "failed",
              "oldest_pending_age_s", "unfinished"}
TASK_KEYS = {"id", "type", "payload", "timestamp", "attempts"}


# ---------------------------------------------------------------- helpers

def call(method, path, who=None, body=None, headers=None):
    return helpers.request(STACK, method, path,
                           None if who is None else U[who]["token"], body,
                           headers)


def add_user(name, role):
    uid, tok = helpers.add_user(STACK, name, "%s@queue.test" % name, role,
                                via_me=True)
    U[name] = {"token": tok, "id": uid, "role": role}


def task_obj(type_="send_notifications", payload=None, tid=None,
             timestamp=None):
    if payload is None:
        payload = {"ticket_id": TICKET, "event": "ticket_created",
                   "actor_id": U["customer"]["id"]}
    return helpers.task_obj(type_, payload, tid=tid, timestamp=timestamp)


def dead_obj(**kw):
    t = task_obj(**kw)
    t.update({"attempts": 3, "error": "notify_command failed (status 1)",
              "failed_at": "2026-01-02T03:04:05.678Z"})
    return t


def lrange(key):
    return helpers.lrange(STACK, key)


def llen(key):
    return STACK.redis("LLEN", key)


def clear_queue():
    helpers.clear_queue(STACK)


def outbox_count():
    return helpers.outbox_count(STACK)


def setUpModule():
    global STACK, TICKET
    STACK = harness.Stack(name="test_queue_admin").start()
    for name, role in helpers.ONE_OF_EACH:
        add_user(name, role)
    r = call("POST", "/api/v1/tickets", "customer",
             {"subject": "queue admin", "body": "a ticket to notify about"})
    if r.status != 201:
        raise harness.HarnessError("POST /tickets: %r" % (r,))
    TICKET = r.json["id"]


def tearDownModule():
    if STACK is not None:
        STACK.stop()


class QueueAdminCase(harness.ApiTestCase):

    def setUp(self):
        clear_queue()

    def tearDown(self):
        clear_queue()

    def stats(self):
        r = call("GET", "/api/v1/queue", "admin")
        self.assertEqual(r.status, 200, r)
        self.assertJsonType(r)
        self.assertRequestId(r)
        body = r.json
        self.assertEqual(set(body), STATS_KEYS, r)
        for k in ("pending", "processing", "delayed", "failed"):
            self.assertTrue(is_int(body[k]) and body[k] >= 0, r)
        return body

    def worker(self, env=None):
        e = {"CHATDESK_NOTIFY_COMMAND": "", "CHATDESK_TASK_BACKOFF_S": "0"}
        e.update(env or {})
        r = STACK.run_worker(env=e)
        self.assertEqual(r.returncode, 0, describe(r))
        return helpers.worker_counts(self, r), r

    def assertRevived(self, text, original):
        t = json.loads(text)
        self.assertEqual(t["attempts"], 0, t)
        self.assertNotIn("error", t)
        self.assertNotIn("failed_at", t)
        for k in ("id", "type", "payload", "timestamp"):
            self.assertEqual(t[k], original[k], "%s of %r" % (k, t))

    # ---- GET /api/v1/queue -------------------------------------------------

    def test_01_get_queue_admin_only(self):
        """GET /api/v1/queue is admin only

        GET /api/v1/queue: admin only (customer, agent 403; no token
        401)"""
        self.assertError(call("GET", "/api/v1/queue", "customer"), 403,
                         "forbidden")
        self.assertError(call("GET", "/api/v1/queue", "agent"), 403,
                         "forbidden")
        r = call("GET", "/api/v1/queue")
        self.assertError(r, 401, "unauthorized")
        self.assertIn("Bearer", r.headers.get("WWW-Authenticate", ""), r)
        body = self.stats()
        self.assertEqual({k: body[k] for k in ("pending", "processing",
                                               "delayed", "failed")},
                         {"pending": 0, "processing": 0, "delayed": 0,
                          "failed": 0})
        # nothing waiting: no age (null), or 0
        self.assertIn(body["oldest_pending_age_s"], (None, 0), body)
        r = call("PUT", "/api/v1/queue", "admin", {})
        self.assertError(r, 405, "method_not_allowed")
        self.assertIn("GET", r.headers.get("Allow", ""), r)

    def test_02_get_queue_counts(self):
        """the four counts and the age of the oldest pending task"""
        oldest = task_obj(timestamp=now_ms() - 7000)
        STACK.redis("RPUSH", "tasks:pending", dumps(oldest),
                    dumps(task_obj()), dumps(task_obj()))
        STACK.redis("RPUSH", "tasks:processing", dumps(task_obj()))
        STACK.redis("ZADD", "tasks:delayed", now_ms() + 60000,
                    dumps(task_obj()), now_ms() + 90000, dumps(task_obj()))
        STACK.redis("RPUSH", "tasks:failed",
                    *[dumps(dead_obj()) for _ in range(4)])
        body = self.stats()
        self.assertEqual({k: body[k] for k in ("pending", "processing",
                                               "delayed", "failed")},
                         {"pending": 3, "processing": 1, "delayed": 2,
                          "failed": 4}, body)
        age = body["oldest_pending_age_s"]
        self.assertTrue(is_int(age), body)
        self.assertGreaterEqual(age, 7, body)
        self.assertLess(age, 7 + 60, body)

    # ---- POST /api/v1/queue/failed/retry ----------------------------------

    def test_03_retry_failed(self):
        """POST /api/v1/queue/failed/retry requeues dead tasks with attempts 0

        POST /api/v1/queue/failed/retry moves dead tasks back with
        attempts 0, no error or failed_at -> {"requeued":N}"""
        # one task killed by the worker itself, two written by hand
        first = task_obj()
        STACK.redis("RPUSH", "tasks:pending", dumps(first))
        counts, r = self.worker(env={"CHATDESK_NOTIFY_COMMAND": "exit 1",
                                     "CHATDESK_TASK_MAX_ATTEMPTS": "1"})
        self.assertEqual(counts, (1, 0, 0, 1), describe(r))
        dead = [dead_obj(), dead_obj()]
        STACK.redis("RPUSH", "tasks:failed", *[dumps(d) for d in dead])
        self.assertEqual(llen("tasks:failed"), 3)
        waiting = dumps(task_obj())
        STACK.redis("RPUSH", "tasks:pending", waiting)
        # not for customers or agents: nothing moves
        for who in ("customer", "agent"):
            self.assertError(call("POST", "/api/v1/queue/failed/retry", who,
                                  b"", {"Content-Type": "application/json"}),
                             403, "forbidden")
        self.assertEqual(llen("tasks:failed"), 3)
        r = call("POST", "/api/v1/queue/failed/retry", "admin")
        self.assertEqual(r.status, 200, r)
        self.assertJsonType(r)
        self.assertEqual(r.json, {"requeued": 3}, r)
        self.assertEqual(llen("tasks:failed"), 0)
        pending = lrange("tasks:pending")
        self.assertEqual(len(pending), 4, pending)
        self.assertIn(waiting, pending)
        revived = [p for p in pending if p != waiting]
        originals = {o["id"]: o for o in [first] + dead}
        self.assertEqual(sorted(json.loads(p)["id"] for p in revived),
                         sorted(originals))
        for p in revived:
            self.assertRevived(p, originals[json.loads(p)["id"]])
        # again: nothing left; {} is a body too
        r = call("POST", "/api/v1/queue/failed/retry", "admin", {})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json, {"requeued": 0}, r)
        # and they run
        counts, r = self.worker()
        self.assertEqual(counts, (4, 4, 0, 0), describe(r))
        self.assertEqual(llen("tasks:pending"), 0)

    # ---- DELETE /api/v1/queue/failed ------------------------------------

    def test_04_delete_failed(self):
        """DELETE /api/v1/queue/failed -> {"deleted":N}, nothing else"""
        STACK.redis("RPUSH", "tasks:failed", dumps(dead_obj()),
                    dumps(dead_obj()))
        waiting = dumps(task_obj())
        STACK.redis("RPUSH", "tasks:pending", waiting)
        STACK.redis("ZADD", "tasks:delayed", now_ms() + 60000,
                    dumps(task_obj()))
        for who in ("customer", "agent"):
            self.assertError(call("DELETE", "/api/v1/queue/failed", who),
                             403, "forbidden")
        self.assertEqual(llen("tasks:failed"), 2)
        r = call("DELETE", "/api/v1/queue/failed", "admin")
        self.assertEqual(r.status, 200, r)
        self.assertJsonType(r)
        self.assertEqual(r.json, {"deleted": 2}, r)
        self.assertEqual(llen("tasks:failed"), 0)
        self.assertEqual(lrange("tasks:pending"), [waiting])
        self.assertEqual(STACK.redis("ZCARD", "tasks:delayed"), 1)
        r = call("DELETE", "/api/v1/queue/failed", "admin")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json, {"deleted": 0}, r)

    # ---- chatdeskctl --------------------------------------------------------

    def test_05_ctl_queue_stats(self):
        """chatdeskctl queue stats: the counts of each queue key"""
        STACK.redis("RPUSH", "tasks:pending", dumps(task_obj()),
                    dumps(task_obj()))
        STACK.redis("RPUSH", "tasks:processing", dumps(task_obj()))
        STACK.redis("ZADD", "tasks:delayed", now_ms() + 60000,
                    dumps(task_obj()), now_ms() + 61000, dumps(task_obj()),
                    now_ms() + 62000, dumps(task_obj()))
        STACK.redis("RPUSH", "tasks:failed",
                    *[dumps(dead_obj()) for _ in range(4)])
        r = STACK.run_ctl("queue", "stats")
        self.assertEqual(r.returncode, 0, describe(r))
        got = {k: int(v) for k, v in re.findall(
            r"\b(pending|processing|delayed|failed)\b\s*[=:]\s*(\d+)",
            r.stdout)}
        self.assertEqual(got, {"pending": 2, "processing": 1, "delayed": 3,
                               "failed": 4}, describe(r))
        r = STACK.run_ctl("queue", "stats", "extra")
        self.assertEqual(r.returncode, 64, describe(r))

    def test_06_ctl_dead_list(self):
        """chatdeskctl dead list: one JSON per line, each dead task"""
        r = STACK.run_ctl("dead", "list")
        self.assertEqual(r.returncode, 0, describe(r))
        self.assertEqual(r.stdout.strip(), "", describe(r))
        dead = [dead_obj(), dead_obj(type_="no_such_type", payload={}),
                dead_obj(payload={"ticket_id": TICKET, "event":
                                  "comment_added", "actor_id": None})]
        STACK.redis("RPUSH", "tasks:failed", *[dumps(d) for d in dead])
        r = STACK.run_ctl("dead", "list")
        self.assertEqual(r.returncode, 0, describe(r))
        lines = [ln for ln in r.stdout.splitlines() if ln.strip()]
        self.assertEqual(len(lines), 3, describe(r))
        got = [json.loads(ln) for ln in lines]
        self.assertEqual(got, dead, describe(r))   # in tasks:failed order
        # listing changes nothing
        self.assertEqual(llen("tasks:failed"), 3)

    def test_07_ctl_dead_retry(self):
        """chatdeskctl dead retry requeues dead tasks with attempts 0

        chatdeskctl dead retry: dead tasks back to tasks:pending with
        attempts 0 and no error or failed_at"""
        dead = [dead_obj(), dead_obj()]
        STACK.redis("RPUSH", "tasks:failed", *[dumps(d) for d in dead])
        r = STACK.run_ctl("dead", "retry")
        self.assertEqual(r.returncode, 0, describe(r))
        self.assertRegex(r.stdout, r"\b2\b", describe(r))
        self.assertEqual(llen("tasks:failed"), 0)
        pending = lrange("tasks:pending")
        self.assertEqual(len(pending), 2, pending)
        originals = {d["id"]: d for d in dead}
        for p in pending:
            self.assertRevived(p, originals[json.loads(p)["id"]])
        r = STACK.run_ctl("dead", "retry")
        self.assertEqual(r.returncode, 0, describe(r))
        self.assertRegex(r.stdout, r"\b0\b", describe(r))
        self.assertEqual(llen("tasks:pending"), 2)

    def test_07b_ctl_dead_retry_pages(self):
        """dead retry moves every task of a dead list longer than a page

        chatdeskctl dead retry reads the dead list 1000 at a time (no
        Redis reply larger than a page): 2,500 tasks with non-tasks
        between them all move, and the non-tasks all stay, in order"""
        dead = [dead_obj() for _ in range(2500)]
        junk = ["not json %d" % i for i in range(0, 2500, 400)]
        items = []
        for i, d in enumerate(dead):
            if i % 400 == 0:
                items.append(junk[i // 400])
            items.append(dumps(d))
        for i in range(0, len(items), 500):
            STACK.redis("RPUSH", "tasks:failed", *items[i:i + 500])
        r = STACK.run_ctl("dead", "retry")
        self.assertEqual(r.returncode, 0, describe(r))
        self.assertRegex(r.stdout, r"\b2500\b", describe(r))
        self.assertEqual(lrange("tasks:failed"), junk)
        pending = lrange("tasks:pending")
        self.assertEqual(sorted(json.loads(p)["id"] for p in pending),
                         sorted(d["id"] for d in dead))

    ENQUEUE_ERRORS = [
        (("enqueue", "close_inactive_tickets", "{not json"),
         r"(?i)json|payload"),
        (("enqueue", "close_inactive_tickets", '{"inactive_days":0'),
         r"(?i)json|payload"),
        (("enqueue", "close_inactive_tickets", "[1]"), r"(?i)json|payload|"
         r"object"),
        (("enqueue", "frobnicate", "{}"), r"(?i)type|frobnicate"),
        (("enqueue", "frobnicate"), r"(?i)type|frobnicate"),
        (("enqueue",), r"(?i)type|usage|expected"),
    ]

    def test_08_ctl_enqueue_usage_errors(self):
        """chatdeskctl enqueue: bad JSON or unknown type exit 64

        chatdeskctl enqueue: bad JSON or unknown type -> exit 64, a
        message saying what is wrong, nothing enqueued"""
        for args, reason in self.ENQUEUE_ERRORS:
            with self.subTest(args=" ".join(args)):
                r = STACK.run_ctl(*args)
                self.assertEqual(r.returncode, 64, describe(r))
                first = (r.stderr.strip().splitlines() or [""])[0]
                self.assertRegex(first, reason, describe(r))
                self.assertEqual(r.stdout.strip(), "", describe(r))
                self.assertEqual(llen("tasks:pending"), 0)
                self.assertEqual(outbox_count(), 0)

    def test_09_ctl_enqueue_usage_error_one_line(self):
        """chatdeskctl enqueue usage errors: one line on stderr (API.md 7)

        chatdeskctl enqueue usage errors: a one-line message on stderr
        (API.md section 7)"""
        for args, _ in self.ENQUEUE_ERRORS[:5]:
            with self.subTest(args=" ".join(args)):
                r = STACK.run_ctl(*args)
                self.assertEqual(r.returncode, 64, describe(r))
                lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
                self.assertEqual(len(lines), 1, "want one line on stderr: "
                                 + describe(r))

    def test_10_ctl_enqueue(self):
        """chatdeskctl enqueue puts the task in tasks:pending

        chatdeskctl enqueue close_inactive_tickets '{"inactive_days":0}'
        puts the task in tasks:pending"""
        before = now_ms()
        r = STACK.run_ctl("enqueue", "close_inactive_tickets",
                          '{"inactive_days":0}')
        after = now_ms()
        self.assertEqual(r.returncode, 0, describe(r))
        pending = lrange("tasks:pending")
        self.assertEqual(len(pending), 1, pending)
        t = json.loads(pending[0])
        self.assertEqual(set(t), TASK_KEYS, t)
        self.assertIsInstance(t["id"], str)
        self.assertTrue(t["id"], t)
        self.assertEqual(t["type"], "close_inactive_tickets")
        self.assertEqual(t["payload"], {"inactive_days": 0})
        self.assertEqual(t["attempts"], 0)
        self.assertTrue(is_int(t["timestamp"]), t)
        self.assertTrue(before - 1000 <= t["timestamp"] <= after + 1000, t)
        self.assertEqual(outbox_count(), 0)
        # another one: a new id
        r = STACK.run_ctl("enqueue", "send_notifications", json.dumps(
            {"ticket_id": TICKET, "event": "ticket_created",
             "actor_id": U["customer"]["id"]}))
        self.assertEqual(r.returncode, 0, describe(r))
        pending = [json.loads(p) for p in lrange("tasks:pending")]
        self.assertEqual(len(pending), 2, pending)
        self.assertNotEqual(pending[0]["id"], pending[1]["id"])
        self.assertEqual(pending[1]["type"], "send_notifications")
        # the worker runs them
        counts, r = self.worker()
        self.assertGreaterEqual(counts[0], 2, describe(r))
        self.assertEqual(counts[1], counts[0], describe(r))
        self.assertEqual(counts[2:], (0, 0), describe(r))
        self.assertEqual(llen("tasks:pending"), 0)
        r = call("GET", "/api/v1/tickets/%d" % TICKET, "admin")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["status"], "closed", r)


if __name__ == "__main__":
    tap.main()
