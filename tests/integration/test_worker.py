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

"""chatdesk-worker (API.md sections 5 and 7): draining tasks:pending, the
summary line, --max-tasks, usage errors, retries through tasks:delayed
with their due time, dead letters (attempts exhausted, unknown type,
malformed task or payload), worker:lock held and released, recovery of a
crashed run's tasks:processing, the dead_max bound.

The task handlers' effects are in test_worker_tasks.py; the admin routes
and chatdeskctl's queue commands in test_queue_admin.py."""

import base64
import json
import os
import signal
import subprocess
import sys
import uuid

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
import helpers  # noqa: E402
from helpers import SUMMARY_RE, describe, now_ms, task_json  # noqa: E402
import tap  # noqa: E402

STACK = None
U = {}          # name -> {"token", "id", "role"}
TICKET = None   # a real ticket, requested by the customer

# Slack for clocks read on both sides of a run (ms).
SLACK_MS = 2000


# ---------------------------------------------------------------- helpers

def call(method, path, who=None, body=None):
    return helpers.request(STACK, method, path,
                           None if who is None else U[who]["token"], body)


def add_user(name, role):
    uid, tok = helpers.add_user(STACK, name, "%s@worker.test" % name, role,
                                via_me=True)
    U[name] = {"token": tok, "id": uid, "role": role}


def notify_task(tid=None, event="ticket_created", actor="customer"):
    return task_json("send_notifications",
                     {"ticket_id": TICKET, "event": event,
                      "actor_id": U[actor]["id"]}, tid=tid)


def db_query(sql, args=()):
    return helpers.db_query(STACK.db_path, sql, args)


def notifications_of_task(tid):
    return db_query("SELECT user_id, event, ticket_id FROM notifications "
                    "WHERE task_id = ? ORDER BY user_id", (tid,))


def lrange(key):
    return helpers.lrange(STACK, key)


def llen(key):
    return STACK.redis("LLEN", key)


def clear_queue():
    helpers.clear_queue(STACK)


def keeps_original(dead, text):
    """True if the dead entry holds the queued text: the same object
    (error, failed_at added), or the text or its value inside it."""
    try:
        orig = json.loads(text)
    except ValueError:
        orig = None
    if isinstance(orig, dict) and isinstance(dead, dict):
        return all(dead.get(k) == v for k, v in orig.items())

    def walk(v):
        if v == text or (orig is not None and v == orig):
            return True
        if isinstance(v, dict):
            return any(walk(x) for x in v.values())
        if isinstance(v, list):
            return any(walk(x) for x in v)
        return False
    return walk(dead)


def metrics_text():
    r = STACK.http("GET", "/metrics")
    if r.status != 200:
        raise AssertionError("GET /metrics: %r" % (r,))
    return r.text


def metric(name):
    """The value of the sample named exactly name (with its labels)."""
    for ln in metrics_text().splitlines():
        if ln.startswith(name + " "):
            return float(ln.split()[-1])
    raise AssertionError("no sample %s in /metrics" % name)


def metric_sum(prefix, label):
    """Sum of the samples starting with prefix that carry label."""
    total = 0.0
    for ln in metrics_text().splitlines():
        if ln.startswith(prefix) and label in ln.split("}")[0]:
            total += float(ln.split()[-1])
    return total


def setUpModule():
    global STACK, TICKET
    STACK = harness.Stack(name="test_worker", env={
        "CHATDESK_RATE_LIMIT_COUNT": "100000"}).start()
    for name, role in helpers.ONE_OF_EACH:
        add_user(name, role)
    r = call("POST", "/api/v1/tickets", "customer",
             {"subject": "printer on fire", "body": "help"})
    if r.status != 201:
        raise harness.HarnessError("POST /tickets: %r" % (r,))
    TICKET = r.json["id"]


def tearDownModule():
    if STACK is not None:
        STACK.stop()


class WorkerCase(harness.ApiTestCase):

    # env of every run: no real notify command, fast retries unless a
    # test says otherwise
    BASE_ENV = {"CHATDESK_NOTIFY_COMMAND": "", "CHATDESK_TASK_BACKOFF_S": "0",
                "CHATDESK_TASK_MAX_ATTEMPTS": "3"}

    def setUp(self):
        clear_queue()

    def tearDown(self):
        clear_queue()

    def worker(self, *args, env=None, expect_exit=0):
        e = dict(self.BASE_ENV)
        e.update(env or {})
        r = STACK.run_worker(*args, env=e)
        self.assertEqual(r.returncode, expect_exit, describe(r))
        return r

    def summary(self, r):
        """The counts of the last stdout line, which must be the summary."""
        return helpers.worker_counts(self, r)

    def run_ok(self, *args, env=None):
        r = self.worker(*args, env=env)
        return self.summary(r), r

    def assertDrained(self):
        self.assertEqual(llen("tasks:pending"), 0, lrange("tasks:pending"))
        self.assertEqual(llen("tasks:processing"), 0,
                         lrange("tasks:processing"))

    def assertStaffNotified(self, tid):
        """One ticket_created notification per staff member (the actor is
        the customer)."""
        want = sorted((U[n]["id"], "ticket_created", TICKET)
                      for n in ("admin", "agent"))
        self.assertEqual(sorted(notifications_of_task(tid)), want,
                         "notifications of task %s" % tid)

    def one_dead(self):
        dead = lrange("tasks:failed")
        self.assertEqual(len(dead), 1, dead)
        return json.loads(dead[0])

    def assertDeadFields(self, d, what):
        self.assertIsInstance(d, dict, what)
        self.assertIsInstance(d.get("error"), str, "%s: error of %r" % (
            what, d))
        self.assertTrue(d["error"].strip(), "%s: empty error" % what)
        self.assertIn("failed_at", d, "%s: no failed_at in %r" % (what, d))
        self.assertIsNotNone(d["failed_at"], what)

    # ---- draining -------------------------------------------------------

    def test_01_drain(self):
        """N tasks pushed: exit 0, summary taken=N done=N, queue empty"""
        ids = ["drain-%d-%s" % (i, uuid.uuid4().hex[:8]) for i in range(5)]
        for tid in ids:
            STACK.redis("RPUSH", "tasks:pending", notify_task(tid))
        counts, r = self.run_ok()
        self.assertEqual(counts, (5, 5, 0, 0), describe(r))
        self.assertDrained()
        self.assertEqual(STACK.redis("ZCARD", "tasks:delayed"), 0)
        self.assertEqual(llen("tasks:failed"), 0, lrange("tasks:failed"))
        for tid in ids:
            self.assertStaffNotified(tid)

    def test_02_empty_queue(self):
        """nothing waiting: exit 0, taken=0 done=0 retried=0 dead=0"""
        counts, r = self.run_ok()
        self.assertEqual(counts, (0, 0, 0, 0), describe(r))

    def test_03_max_tasks(self):
        """--max-tasks N takes exactly N when more wait"""
        ids = ["max-%d-%s" % (i, uuid.uuid4().hex[:8]) for i in range(5)]
        texts = [notify_task(tid) for tid in ids]
        STACK.redis("RPUSH", "tasks:pending", *texts)
        counts, r = self.run_ok("--max-tasks", "2")
        self.assertEqual(counts, (2, 2, 0, 0), describe(r))
        # the oldest two went (LMOVE ... LEFT RIGHT), the rest wait in order
        self.assertEqual(lrange("tasks:pending"), texts[2:])
        self.assertEqual(llen("tasks:processing"), 0)
        counts, r = self.run_ok("--max-tasks", "1")
        self.assertEqual(counts, (1, 1, 0, 0), describe(r))
        self.assertEqual(lrange("tasks:pending"), texts[3:])
        # more than waiting: takes what there is
        counts, r = self.run_ok("--max-tasks", "10")
        self.assertEqual(counts, (2, 2, 0, 0), describe(r))
        self.assertDrained()
        for tid in ids:
            self.assertStaffNotified(tid)

    def test_04_bad_options(self):
        """bad options exit 64 and take nothing"""
        text = notify_task("badopt-" + uuid.uuid4().hex)
        STACK.redis("RPUSH", "tasks:pending", text)
        for args in (("--max-tasks", "0"), ("--max-tasks", "x"),
                     ("--max-tasks", "-1"), ("--max-tasks", "1.5"),
                     ("--max-tasks", ""), ("--max-seconds", "0"),
                     ("--max-seconds", "x"), ("--bogus",),
                     ("--max-tasks",), ("extra-argument",)):
            with self.subTest(args=" ".join(args)):
                r = STACK.run_worker(*args, env=self.BASE_ENV)
                self.assertEqual(r.returncode, 64, describe(r))
                self.assertTrue(r.stderr.strip(), describe(r))
                self.assertFalse(any(SUMMARY_RE.match(ln) for ln in
                                     r.stdout.splitlines()), describe(r))
                self.assertEqual(lrange("tasks:pending"), [text])
                self.assertIsNone(STACK.redis("GET", "worker:lock"))

    # ---- retries ------------------------------------------------------------

    def test_05_retry_due_time(self):
        """a failed task goes to tasks:delayed, due in 30 s, attempts 1

        a failed task waits in tasks:delayed, due at now + backoff
        (+ up to 10 % jitter), with attempts 1"""
        tid = "due-" + uuid.uuid4().hex
        text = notify_task(tid)
        STACK.redis("RPUSH", "tasks:pending", text)
        env = {"CHATDESK_NOTIFY_COMMAND": "exit 1",
               "CHATDESK_TASK_BACKOFF_S": "30"}
        before = now_ms()
        counts, r = self.run_ok(env=env)
        after = now_ms()
        self.assertEqual(counts, (1, 0, 1, 0), describe(r))
        self.assertDrained()
        self.assertEqual(llen("tasks:failed"), 0, lrange("tasks:failed"))
        delayed = STACK.redis("ZRANGE", "tasks:delayed", 0, -1, "WITHSCORES")
        self.assertEqual(len(delayed), 2, delayed)
        task, score = json.loads(delayed[0]), float(delayed[1])
        self.assertEqual(task["id"], tid)
        self.assertEqual(task["attempts"], 1, task)
        self.assertEqual(task["type"], "send_notifications")
        self.assertEqual(task["payload"], json.loads(text)["payload"])
        self.assertNotIn("error", task)
        self.assertGreaterEqual(score, before + 30000,
                                "due %d ms after the run started" %
                                (score - before))
        self.assertLessEqual(score, after + 33000 + SLACK_MS,
                             "due %d ms after the run ended" %
                             (score - after))
        # not due yet: the next run leaves it there
        counts, r = self.run_ok(env=env)
        self.assertEqual(counts, (0, 0, 0, 0), describe(r))
        self.assertEqual(STACK.redis("ZCARD", "tasks:delayed"), 1)
        self.assertEqual(llen("tasks:pending"), 0)

    def test_05b_second_retry_due_time(self):
        """the second retry waits backoff x 2 (30 s x 2^(attempts-1))"""
        tid = "due2-" + uuid.uuid4().hex
        STACK.redis("RPUSH", "tasks:pending", task_json(
            "send_notifications", {"ticket_id": TICKET,
                                   "event": "ticket_created",
                                   "actor_id": U["customer"]["id"]},
            tid=tid, attempts=1))
        env = {"CHATDESK_NOTIFY_COMMAND": "exit 1",
               "CHATDESK_TASK_BACKOFF_S": "30"}
        before = now_ms()
        counts, r = self.run_ok(env=env)
        after = now_ms()
        self.assertEqual(counts, (1, 0, 1, 0), describe(r))
        delayed = STACK.redis("ZRANGE", "tasks:delayed", 0, -1, "WITHSCORES")
        self.assertEqual(len(delayed), 2, delayed)
        task, score = json.loads(delayed[0]), float(delayed[1])
        self.assertEqual((task["id"], task["attempts"]), (tid, 2), task)
        self.assertGreaterEqual(score, before + 60000,
                                "due %d ms after the run started" %
                                (score - before))
        self.assertLessEqual(score, after + 66000 + SLACK_MS,
                             "due %d ms after the run ended" %
                             (score - after))

    def test_06_retry_until_dead(self):
        """backoff 0: retried run by run, dead after the 3rd attempt

        backoff 0: runs move delayed -> pending and retry; after the 3rd
        attempt the task is dead with attempts 3, error and failed_at"""
        tid = "retry-" + uuid.uuid4().hex
        STACK.redis("RPUSH", "tasks:pending", notify_task(tid))
        env = {"CHATDESK_NOTIFY_COMMAND": "exit 1"}
        for attempt in (1, 2):
            counts, r = self.run_ok(env=env)
            self.assertEqual(counts, (1, 0, 1, 0),
                             "run %d: %s" % (attempt, describe(r)))
            self.assertDrained()
            delayed = STACK.redis("ZRANGE", "tasks:delayed", 0, -1,
                                  "WITHSCORES")
            self.assertEqual(len(delayed), 2, delayed)
            task = json.loads(delayed[0])
            self.assertEqual(task["id"], tid)
            self.assertEqual(task["attempts"], attempt, task)
            # backoff 0: due at once
            self.assertLessEqual(float(delayed[1]), now_ms() + SLACK_MS)
            self.assertEqual(llen("tasks:failed"), 0)
        counts, r = self.run_ok(env=env)
        self.assertEqual(counts, (1, 0, 0, 1), describe(r))
        self.assertDrained()
        self.assertEqual(STACK.redis("ZCARD", "tasks:delayed"), 0)
        d = self.one_dead()
        self.assertEqual(d["id"], tid)
        self.assertEqual(d["type"], "send_notifications")
        self.assertEqual(d["attempts"], 3, d)
        self.assertDeadFields(d, "exhausted task")
        # dead is dead: the next run takes nothing
        counts, r = self.run_ok(env=env)
        self.assertEqual(counts, (0, 0, 0, 0), describe(r))
        self.assertEqual(llen("tasks:failed"), 1)
        # the notifications were written once, whatever the retries
        self.assertStaffNotified(tid)

    def test_07_retry_then_success(self):
        """a retried task that then succeeds is done, not dead"""
        tid = "heal-" + uuid.uuid4().hex
        STACK.redis("RPUSH", "tasks:pending", notify_task(tid))
        counts, r = self.run_ok(env={"CHATDESK_NOTIFY_COMMAND": "exit 1"})
        self.assertEqual(counts, (1, 0, 1, 0), describe(r))
        counts, r = self.run_ok(env={"CHATDESK_NOTIFY_COMMAND": "true"})
        self.assertEqual(counts, (1, 1, 0, 0), describe(r))
        self.assertDrained()
        self.assertEqual(STACK.redis("ZCARD", "tasks:delayed"), 0)
        self.assertEqual(llen("tasks:failed"), 0, lrange("tasks:failed"))
        self.assertStaffNotified(tid)

    # ---- dead at once -------------------------------------------------------

    def test_08_unknown_type(self):
        """unknown type: tasks:failed at once, attempts unchanged, error"""
        tid = "unk-" + uuid.uuid4().hex
        text = task_json("no_such_type", {"x": 1}, tid=tid, attempts=1)
        STACK.redis("RPUSH", "tasks:pending", text)
        counts, r = self.run_ok()
        self.assertEqual(counts, (1, 0, 0, 1), describe(r))
        self.assertDrained()
        self.assertEqual(STACK.redis("ZCARD", "tasks:delayed"), 0)
        d = self.one_dead()
        self.assertDeadFields(d, "unknown type")
        self.assertEqual(d["id"], tid)
        self.assertEqual(d["type"], "no_such_type")
        self.assertEqual(d["attempts"], 1, d)
        self.assertEqual(d["payload"], {"x": 1})

    def test_09_malformed_task(self):
        """malformed tasks go to tasks:failed at once, never retried

        malformed task (not JSON, not an object, fields missing or of
        the wrong type): tasks:failed at once, never retried"""
        cases = [
            "not json",
            "[1,2,3]",
            '"a string"',
            '{"id":"m1","type":"send_notifications"}',
            '{"id":"m2","payload":{}}',
            '{"id":"m3","type":7,"payload":{}}',
            '{"type":"close_inactive_tickets","payload":'
            '{"inactive_days":1},"attempts":0}',
            '{"id":"m5","type":"close_inactive_tickets","payload":'
            '{"inactive_days":1},"attempts":"x"}',
            '{"id":"m6","type":"close_inactive_tickets","payload":'
            '{"inactive_days":1},"attempts":-1}',
            '{"id":"m7","type":"close_inactive_tickets","payload":'
            '"inactive_days"}',
            # send_notifications with a payload it cannot use
            '{"id":"m8","type":"send_notifications","payload":'
            '{"ticket_id":"1","event":"ticket_created","actor_id":1}}',
            '{"id":"m9","type":"send_notifications","payload":'
            '{"ticket_id":1,"event":"no_such_event","actor_id":1}}',
            '{"id":"m10","type":"send_notifications","payload":{}}',
        ]
        for text in cases:
            with self.subTest(task=text):
                clear_queue()
                STACK.redis("RPUSH", "tasks:pending", text)
                counts, r = self.run_ok()
                self.assertEqual(counts, (1, 0, 0, 1), describe(r))
                self.assertDrained()
                self.assertEqual(STACK.redis("ZCARD", "tasks:delayed"), 0)
                dead = lrange("tasks:failed")
                self.assertEqual(len(dead), 1, dead)
                d = json.loads(dead[0])
                # the dead entry keeps what was queued, with the error
                self.assertTrue(keeps_original(d, text),
                                "dead entry %r lost the task %r" % (d, text))
                self.assertDeadFields(d, text)
                counts, r = self.run_ok()
                self.assertEqual(counts, (0, 0, 0, 0), describe(r))

    def test_09b_task_not_utf8(self):
        """a task whose bytes are not UTF-8 goes to tasks:failed too

        bytes that cannot be a JSON string are kept in base64 (found by
        fuzz_task: such a task stayed in tasks:processing and failed again
        on every run)"""
        raw = b"}\xf9 not json \xff"
        clear_queue()
        STACK.redis("RPUSH", "tasks:pending", raw)
        counts, r = self.run_ok()
        self.assertEqual(counts, (1, 0, 0, 1), describe(r))
        self.assertDrained()
        dead = lrange("tasks:failed")
        self.assertEqual(len(dead), 1, dead)
        d = json.loads(dead[0])
        self.assertEqual(base64.b64decode(d["task_base64"]), raw, d)
        self.assertDeadFields(d, repr(raw))
        counts, r = self.run_ok()
        self.assertEqual(counts, (0, 0, 0, 0), describe(r))

    def test_10_bad_day_counts(self):
        """bad day counts or payloads go to tasks:failed at once, never retried

        negative or non-integer day counts, payload not an object:
        tasks:failed at once, never retried, nothing closed"""
        cases = [
            ("close_inactive_tickets", {"inactive_days": -1}),
            ("close_inactive_tickets", {"inactive_days": 1.5}),
            ("close_inactive_tickets", {"inactive_days": "7"}),
            ("close_inactive_tickets", {"inactive_days": None}),
            ("close_inactive_tickets", "inactive_days=0"),
            ("close_inactive_tickets", [0]),
            ("close_inactive_tickets", 0),
            ("archive_old_interactions", {"older_than_days": -1}),
            ("archive_old_interactions", {"older_than_days": 0.5}),
            ("archive_old_interactions", {"older_than_days": True}),
            ("archive_old_interactions", None),
        ]
        for type_, payload in cases:
            with self.subTest(type=type_, payload=payload):
                clear_queue()
                tid = "days-" + uuid.uuid4().hex
                STACK.redis("RPUSH", "tasks:pending",
                            task_json(type_, payload, tid=tid))
                counts, r = self.run_ok()
                self.assertEqual(counts, (1, 0, 0, 1), describe(r))
                self.assertDrained()
                self.assertEqual(STACK.redis("ZCARD", "tasks:delayed"), 0,
                                 "a malformed task was scheduled for retry")
                d = self.one_dead()
                self.assertDeadFields(d, repr(payload))
                self.assertEqual(d["id"], tid)
                self.assertEqual(d["attempts"], 0, d)
                counts, r = self.run_ok()
                self.assertEqual(counts, (0, 0, 0, 0), describe(r))
        # inactive_days -1 would have meant "everything": nothing closed
        r = call("GET", "/api/v1/tickets/%d" % TICKET, "agent")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["status"], "open", r)

    # ---- the lock -------------------------------------------------------

    def test_11_lock_held(self):
        """worker:lock held: exit 0 at once saying so, tasks stay pending

        worker:lock held by another run: exit 0 at once saying so;
        tasks stay pending, the other run's lock untouched"""
        text = notify_task("locked-" + uuid.uuid4().hex)
        STACK.redis("RPUSH", "tasks:pending", text)
        STACK.redis("SET", "worker:lock", "other-token", "PX", 60000)
        r = self.worker()
        self.assertRegex(r.stdout + r.stderr, r"(?i)lock\S*.*\bheld\b|"
                         r"\bheld\b.*lock", describe(r))
        self.assertEqual(lrange("tasks:pending"), [text])
        self.assertEqual(llen("tasks:processing"), 0)
        self.assertEqual(STACK.redis("GET", "worker:lock"), b"other-token")
        ttl = STACK.redis("PTTL", "worker:lock")
        self.assertTrue(0 < ttl <= 60000, ttl)
        # once it is gone, a run drains
        STACK.redis("DEL", "worker:lock")
        counts, r = self.run_ok()
        self.assertEqual(counts, (1, 1, 0, 0), describe(r))
        self.assertDrained()

    def test_12_lock_released(self):
        """a normal run releases worker:lock at the end"""
        STACK.redis("RPUSH", "tasks:pending",
                    notify_task("rel-" + uuid.uuid4().hex))
        counts, r = self.run_ok()
        self.assertEqual(counts, (1, 1, 0, 0), describe(r))
        self.assertIsNone(STACK.redis("GET", "worker:lock"))
        # and an empty run too
        counts, r = self.run_ok()
        self.assertIsNone(STACK.redis("GET", "worker:lock"))

    # ---- a crashed run ------------------------------------------------------

    def test_13_orphan_recovery(self):
        """tasks left in tasks:processing by a crashed run are processed"""
        tid = "orphan-" + uuid.uuid4().hex
        tid2 = "pend-" + uuid.uuid4().hex
        STACK.redis("RPUSH", "tasks:processing", notify_task(tid))
        STACK.redis("RPUSH", "tasks:pending", notify_task(tid2))
        counts, r = self.run_ok()
        self.assertEqual(counts, (2, 2, 0, 0), describe(r))
        self.assertDrained()
        self.assertStaffNotified(tid)
        self.assertStaffNotified(tid2)

    # ---- dead_max ---------------------------------------------------------

    def test_14_dead_max(self):
        """dead_max 2: tasks:failed keeps the 2 newest, drops logged

        dead_max 2: 4 dead tasks leave the 2 newest in tasks:failed,
        the drops logged"""
        ids = ["dm-%d-%s" % (i, uuid.uuid4().hex[:8]) for i in range(4)]
        for tid in ids:
            STACK.redis("RPUSH", "tasks:pending",
                        task_json("no_such_type", {}, tid=tid))
        counts, r = self.run_ok(env={"CHATDESK_DEAD_MAX": "2"})
        self.assertEqual(counts, (4, 0, 0, 4), describe(r))
        self.assertDrained()
        dead = [json.loads(x)["id"] for x in lrange("tasks:failed")]
        self.assertEqual(sorted(dead), sorted(ids[2:]), dead)
        self.assertRegex(r.stderr, r"(?i)drop", "drops not logged: " +
                         describe(r))

        # counted (API.md section 5: each drop logged and counted)
        self.assertGreaterEqual(
            metric(r"chatdesk_dead_tasks_dropped_total"), 2)

    # ---- what the run reports elsewhere -----------------------------------

    def test_14b_release_is_compare_and_delete(self):
        """the lock release is compare-and-delete

        a run whose lock was taken over meanwhile does not delete the
        other run's lock at the end"""
        STACK.redis("RPUSH", "tasks:pending",
                    notify_task("cad-" + uuid.uuid4().hex))
        env = STACK.env(dict(self.BASE_ENV,
                             CHATDESK_NOTIFY_COMMAND="sleep 1"))
        with open(STACK.path("cad-worker.out"), "wb") as out:
            p = subprocess.Popen([harness.binary("chatdesk-worker")],
                                 cwd=STACK.tmp, env=env,
                                 stdin=subprocess.DEVNULL, stdout=out,
                                 stderr=subprocess.STDOUT,
                                 start_new_session=True)
        try:
            harness.wait_until(lambda: llen("tasks:processing") == 1 or
                               p.poll() is not None, 10,
                               what="the worker to take the task")
            mine = STACK.redis("GET", "worker:lock")
            self.assertIsNotNone(mine, "no worker:lock while running")
            STACK.redis("SET", "worker:lock", "someone-else", "PX", 60000)
            rc = p.wait(30)
        finally:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait(10)
        with open(STACK.path("cad-worker.out")) as f:
            text = f.read()
        self.assertEqual(rc, 0, text)
        self.assertEqual(STACK.redis("GET", "worker:lock"), b"someone-else",
                         text)
        self.assertTrue(0 < STACK.redis("PTTL", "worker:lock") <= 60000)

    def test_15_metrics(self):
        """chatdesk_tasks_total counts the worker's results

        chatdesk_tasks_total{type,result} counts the worker's results
        in /metrics"""
        done = r'chatdesk_tasks_total{type="send_notifications",result="done"}'
        retried = (r'chatdesk_tasks_total{type="send_notifications",'
                   r'result="retried"}')
        d0, r0, dead0 = metric(done), metric(retried), metric_sum(
            r'chatdesk_tasks_total{', 'result="dead"')
        STACK.redis("RPUSH", "tasks:pending",
                    notify_task("m1-" + uuid.uuid4().hex),
                    notify_task("m2-" + uuid.uuid4().hex),
                    task_json("no_such_type", {}))
        counts, r = self.run_ok()
        self.assertEqual(counts, (3, 2, 0, 1), describe(r))
        STACK.redis("RPUSH", "tasks:pending",
                    notify_task("m3-" + uuid.uuid4().hex))
        counts, r = self.run_ok(env={"CHATDESK_NOTIFY_COMMAND": "exit 3"})
        self.assertEqual(counts, (1, 0, 1, 0), describe(r))
        self.assertEqual(metric(done) - d0, 2)
        self.assertEqual(metric(retried) - r0, 1)
        self.assertEqual(metric_sum(r'chatdesk_tasks_total{',
                                    'result="dead"') - dead0, 1)

    def test_16_evicting_redis_warns(self):
        """the worker warns when the queue's Redis evicts

        a queue Redis with an evicting maxmemory-policy: the worker
        warns"""
        old = STACK.redis("CONFIG", "GET", "maxmemory-policy")[1].decode()
        STACK.redis("CONFIG", "SET", "maxmemory-policy", "allkeys-lru")
        try:
            counts, r = self.run_ok()
        finally:
            STACK.redis("CONFIG", "SET", "maxmemory-policy", old)
        self.assertRegex(r.stderr, r"(?i)evict|maxmemory", describe(r))
        counts, r = self.run_ok()
        self.assertNotRegex(r.stderr, r"(?i)evict|maxmemory", describe(r))


if __name__ == "__main__":
    tap.main()
