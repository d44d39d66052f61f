#!/usr/bin/env python3
"""The task record and the worker's liveness (API.md section 5, the
/health row of section 3, section 7): every task has a row in SQLite's
tasks table from the transaction of its cause until a worker finished it
(done or dead); a Redis that lost its data (FLUSHALL, a restart without
its data, a restore from an old snapshot, another epoch) is noticed by the
next worker run, which pushes every unfinished task again, and every
expected notification then exists exactly once; a copy of a finished task
is acknowledged without running; finished rows are pruned (done rows by
task_done_keep_s, dead rows by dead_max); `unfinished` in GET /api/v1/queue,
`chatdeskctl queue stats` and /metrics; /health's worker object and its
staleness (worker_stale_s, counted from the database's creation while no
run ever succeeded); the worker's gauges in /metrics.

The classes run in order (A_..., B_...), the tests of each in order. Times
in SQLite are moved back by hand to age a state instead of waiting; no
test asserts a duration."""

import json
import os
import re
import sys
import threading
import time
import uuid

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
import helpers  # noqa: E402
from helpers import User, describe, now_ms  # noqa: E402
import tap  # noqa: E402

STACK = None
U = {}
STAFF = ("admin1", "agent1", "agent2")
STALE_S = 60
TIME_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
SLACK_MS = 2000


def setUpModule():
    global STACK
    STACK = harness.Stack(
        name="test_task_record", pool_size=2,
        env={"CHATDESK_RATE_LIMIT_COUNT": "1000000",
             "CHATDESK_WORKER_STALE_S": str(STALE_S)}).start()
    for name, role in helpers.TICKET_CAST:
        uid, tok = helpers.add_user(
            STACK, name, "%s-%d@record.test" % (name, os.getpid()), role)
        U[name] = User(uid, tok, name, role)


def tearDownModule():
    if STACK is not None:
        STACK.stop()


def call(method, path, who=None, body=None):
    return helpers.request(STACK, method, path, who and U[who].token, body)


def db_query(sql, args=()):
    return helpers.db_query(STACK.db_path, sql, args)


def db_write(sql, args=()):
    helpers.db_write(STACK.db_path, sql, args)


def record(task_id):
    """(pushed, finished, result) of a task's row, or None."""
    rows = db_query("SELECT pushed_at IS NOT NULL, finished_at IS NOT NULL, "
                    "result FROM tasks WHERE task_id = ?", (task_id,))
    return rows[0] if rows else None


def unfinished():
    return db_query("SELECT count(*) FROM tasks WHERE finished_at IS NULL"
                    )[0][0]


def queue_state():
    return db_query("SELECT epoch, epoch_written, pushed_seq FROM "
                    "queue_state")[0]


def redis_state():
    """queue:state in Redis as a dict of str."""
    flat = STACK.redis("HGETALL", "queue:state") or []
    return {flat[i].decode(): flat[i + 1].decode()
            for i in range(0, len(flat), 2)}


def pending():
    return [json.loads(x) for x in helpers.lrange(STACK, "tasks:pending")]


def notif_counts(tid):
    """{(user_id, event): count} of a ticket's notifications."""
    return {(u, e): n for u, e, n in db_query(
        "SELECT user_id, event, count(*) FROM notifications "
        "WHERE ticket_id = ? GROUP BY user_id, event", (tid,))}


def created_notifs(tid, actor="cust1"):
    return {(U[s].id, "ticket_created"): 1 for s in STAFF if s != actor}


class RecordCase(harness.ApiTestCase):

    def worker(self, *args, env=None):
        """A worker run that must exit 0: ((taken, done, retried, dead), r)."""
        return helpers.worker_ok(self, STACK, *args, env=env)

    def drain(self):
        helpers.drain(self, self.worker)
        self.assertEqual(unfinished(), 0, "unfinished tasks after a drain")

    def create(self, who="cust1", subject="help"):
        r = call("POST", "/api/v1/tickets", who,
                 {"subject": subject, "body": "body of " + subject})
        self.assertEqual(r.status, 201, r)
        return r.json["id"]

    def comment(self, tid, who="agent1"):
        r = call("POST", "/api/v1/tickets/%d/interactions" % tid, who,
                 {"body": "a comment"})
        self.assertEqual(r.status, 201, r)

    def wait_pool_on_redis(self):
        """Until every pool process pushes to Redis again after a restart
        (a post's task is pushed at once, not left in the outbox), for 6
        posts in a row; then drains."""
        def post():
            self.create("cust2", "probe")
            return db_query("SELECT pushed_at IS NOT NULL FROM tasks "
                            "ORDER BY id DESC LIMIT 1")[0][0]
        run, last = helpers.poll_in_a_row(post, lambda p: p == 1, 6, 15,
                                          interval=0.1)
        self.assertEqual(len(run), 6, "the pool does not push to Redis")
        self.drain()

    def health(self):
        r = STACK.http("GET", "/api/v1/health")
        self.assertEqual(r.status, 200, r)
        self.assertJsonType(r)
        body = r.json
        self.assertEqual(set(body["worker"]), {"last_run_at",
                                               "last_success_at"}, r)
        for k in ("last_run_at", "last_success_at"):
            v = body["worker"][k]
            self.assertTrue(v is None or TIME_RE.match(v), "%s of %r" % (k, r))
        return body

    def health_settles(self, pred, what):
        """Polls /health until pred(body) holds 6 times in a row (every
        pool process seen); returns the last body."""
        run, last = helpers.poll_in_a_row(self.health, pred, 6, 15)
        self.assertEqual(len(run), 6, "health did not reach %s: last %r" % (
            what, last))
        return last

    def metrics(self):
        """{name or name{labels}: float} of GET /metrics' samples."""
        r = STACK.http("GET", "/metrics")
        self.assertEqual(r.status, 200, r)
        out = {}
        for ln in r.text.splitlines():
            if ln and not ln.startswith("#"):
                k, _, v = ln.rpartition(" ")
                out[k] = float(v)
        return out, r.text

    def expect_all_once(self, tickets, commented=()):
        """Each ticket has its ticket_created notification per staff user
        exactly once, and a commented one comment_added to its requester
        exactly once; nothing else."""
        for tid in tickets:
            with self.subTest(ticket=tid):
                want = created_notifs(tid)
                if tid in commented:
                    want[(U["cust1"].id, "comment_added")] = 1
                self.assertEqual(notif_counts(tid), want)


class A_FreshHealthTest(RecordCase):

    def test_1_fresh_install_ok(self):
        """a fresh install, no worker run yet: health ok, worker times null, no worker gauges"""
        body = self.health_settles(lambda b: b["status"] == "ok", "ok")
        self.assertEqual(body["worker"], {"last_run_at": None,
                                          "last_success_at": None}, body)
        self.assertNotIn("warnings", body)
        m, text = self.metrics()
        self.assertNotIn("chatdesk_worker_last_run_timestamp_seconds", m)
        self.assertNotIn("chatdesk_worker_last_success_timestamp_seconds", m)
        self.assertIn("# TYPE chatdesk_worker_last_run_timestamp_seconds "
                      "gauge", text)
        self.assertIn("# TYPE chatdesk_worker_last_success_timestamp_seconds "
                      "gauge", text)

    def test_2_stale_since_creation(self):
        """no run ever succeeded and the database is older than worker_stale_s: degraded with a warning"""
        db_write("UPDATE queue_state SET created_at = created_at - ?",
                 (2 * STALE_S * 1000,))
        body = self.health()
        self.assertEqual(body["status"], "degraded", body)
        self.assertEqual((body["database"], body["redis"]), ("ok", "ok"), body)
        self.assertEqual(len(body.get("warnings", [])), 1, body)
        self.assertIn("worker_stale_s", body["warnings"][0], body)
        self.assertEqual(body["worker"]["last_success_at"], None, body)

    def test_3_worker_run_recorded(self):
        """a worker run: last_run_at and last_success_at set, health ok again, the epoch written to Redis"""
        self.assertEqual(queue_state()[1], 0, "epoch written before any run")
        before = now_ms()
        self.worker()
        after = now_ms()
        body = self.health()
        self.assertEqual(body["status"], "ok", body)
        self.assertNotIn("warnings", body)
        w = body["worker"]
        self.assertTrue(w["last_run_at"] and w["last_success_at"], body)
        self.assertLessEqual(w["last_run_at"], w["last_success_at"], body)
        run, ok = db_query("SELECT worker_last_run_at, worker_last_success_at"
                           " FROM queue_state")[0]
        self.assertTrue(before - SLACK_MS <= run <= ok <= after + SLACK_MS,
                        (before, run, ok, after))
        self.assertEqual(w["last_run_at"], helpers.fmt_ms(run))
        self.assertEqual(w["last_success_at"], helpers.fmt_ms(ok))
        m, _ = self.metrics()
        self.assertAlmostEqual(
            m["chatdesk_worker_last_run_timestamp_seconds"], run / 1000.0,
            places=2)
        self.assertAlmostEqual(
            m["chatdesk_worker_last_success_timestamp_seconds"], ok / 1000.0,
            places=2)
        epoch, written, _ = queue_state()
        self.assertEqual(written, 1)
        self.assertEqual(redis_state().get("epoch"), epoch)

    def test_4_stale_since_last_success(self):
        """the last success older than worker_stale_s: degraded, the warning names it; a run makes it ok"""
        db_write("UPDATE queue_state SET worker_last_success_at = "
                 "worker_last_success_at - ?", (2 * STALE_S * 1000,))
        body = self.health()
        self.assertEqual(body["status"], "degraded", body)
        self.assertIn("last success", " ".join(body.get("warnings", [])),
                      body)
        self.worker()
        body = self.health()
        self.assertEqual(body["status"], "ok", body)
        self.assertNotIn("warnings", body)

    def test_5_failed_run_is_no_success(self):
        """a run with Redis down: last_run_at moves, last_success_at does not"""
        ok0 = db_query("SELECT worker_last_success_at FROM queue_state")[0][0]
        STACK.stop_redis()
        try:
            time.sleep(0.01)
            r = STACK.run_worker()
            self.assertEqual(r.returncode, 1, describe(r))
        finally:
            STACK.start_redis()
        run, ok = db_query("SELECT worker_last_run_at, worker_last_success_at"
                           " FROM queue_state")[0]
        self.assertEqual(ok, ok0)
        self.assertGreater(run, ok)
        # Redis came back empty: the next run notices and succeeds
        counts, r = self.worker()
        self.assertEqual(counts, (0, 0, 0, 0), describe(r))
        self.assertGreater(db_query("SELECT worker_last_success_at FROM "
                                    "queue_state")[0][0], ok0)


class B_RecordTest(RecordCase):

    def test_1_row_until_done(self):
        """a task's row: written with its ticket, pushed, unfinished until the worker marks it done"""
        self.wait_pool_on_redis()
        tid = self.create("cust1", "recorded")
        tasks = pending()
        self.assertEqual(len(tasks), 1, tasks)
        task_id = tasks[0]["id"]
        self.assertEqual(tasks[0]["payload"]["ticket_id"], tid)
        self.assertEqual(record(task_id), (1, 0, None))
        self.assertEqual(json.loads(db_query(
            "SELECT task FROM tasks WHERE task_id = ?", (task_id,))[0][0]),
            tasks[0])
        self.assertEqual(helpers.outbox_count(STACK), 0)
        r = call("GET", "/api/v1/queue", "admin1")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["unfinished"], 1, r)
        self.assertEqual(r.json["pending"], 1, r)
        c = STACK.run_ctl("queue", "stats")
        self.assertEqual(c.returncode, 0, describe(c))
        self.assertRegex(c.stdout, r"\bunfinished=1\b", c.stdout)
        m, _ = self.metrics()
        self.assertEqual(m['chatdesk_queue_length{queue="unfinished"}'], 1)
        counts, r = self.worker()
        self.assertEqual(counts, (1, 1, 0, 0), describe(r))
        self.assertEqual(record(task_id), (1, 1, "done"))
        self.assertEqual(notif_counts(tid), created_notifs(tid))
        r = call("GET", "/api/v1/queue", "admin1")
        self.assertEqual(r.json["unfinished"], 0, r)
        c = STACK.run_ctl("queue", "stats")
        self.assertRegex(c.stdout, r"\bunfinished=0\b", c.stdout)
        m, _ = self.metrics()
        self.assertEqual(m['chatdesk_queue_length{queue="unfinished"}'], 0)

    def test_2_outbox_row_unfinished(self):
        """with Redis down the row waits unpushed (the outbox) and counts as unfinished"""
        self.wait_pool_on_redis()
        STACK.stop_redis()
        try:
            tid = self.create("cust1", "while down")
            rows = db_query("SELECT task_id, pushed_at, finished_at FROM "
                            "tasks WHERE finished_at IS NULL")
            self.assertEqual(len(rows), 1, rows)
            self.assertEqual(rows[0][1:], (None, None))
            self.assertEqual(helpers.outbox_count(STACK), 1)
        finally:
            STACK.start_redis()
        counts, r = self.worker()
        self.assertEqual(counts, (1, 1, 0, 0), describe(r))
        self.assertEqual(record(rows[0][0]), (1, 1, "done"))
        self.assertEqual(notif_counts(tid), created_notifs(tid))

    def test_3_dead_marked_and_retried(self):
        """a dead task is marked dead; dead retry makes it unfinished again, and it dies again"""
        self.wait_pool_on_redis()
        c = STACK.run_ctl("enqueue", "send_notifications",
                          '{"ticket_id":"not a number"}')
        self.assertEqual(c.returncode, 0, describe(c))
        task_id = pending()[0]["id"]
        self.assertEqual(record(task_id), (1, 0, None))
        counts, r = self.worker()
        self.assertEqual(counts, (1, 0, 0, 1), describe(r))
        self.assertEqual(record(task_id), (1, 1, "dead"))
        self.assertEqual(unfinished(), 0)
        c = STACK.run_ctl("dead", "retry")
        self.assertEqual(c.returncode, 0, describe(c))
        self.assertEqual(record(task_id), (1, 0, None),
                         "a retried dead task is unfinished again")
        counts, r = self.worker()
        self.assertEqual(counts, (1, 0, 0, 1), describe(r))
        self.assertEqual(record(task_id), (1, 1, "dead"))
        self.assertEqual(STACK.redis("DEL", "tasks:failed"), 1)

    def test_4_copy_of_finished_task_not_run(self):
        """a second copy of a done task is acknowledged without running: notify_command sees each notification once"""
        self.wait_pool_on_redis()
        out = STACK.path("notify-%s.out" % uuid.uuid4().hex[:8])
        env = {"CHATDESK_NOTIFY_COMMAND": "cat >> '%s'; echo >> '%s'" % (
            out, out)}
        tid = self.create("cust1", "piped once")
        text = helpers.lrange(STACK, "tasks:pending")[0]
        counts, r = self.worker(env=env)
        self.assertEqual(counts, (1, 1, 0, 0), describe(r))
        with open(out) as f:
            first = [json.loads(ln) for ln in f if ln.strip()]
        self.assertEqual(len(first), len(created_notifs(tid)), first)
        STACK.redis("RPUSH", "tasks:pending", text)
        counts, r = self.worker(env=env)
        self.assertEqual(counts, (1, 1, 0, 0), describe(r))
        self.assertRegex(r.stderr, r"already finished", describe(r))
        with open(out) as f:
            again = [json.loads(ln) for ln in f if ln.strip()]
        self.assertEqual(again, first, "notify_command ran again")
        self.assertEqual(notif_counts(tid), created_notifs(tid))


    def test_5_maintenance_tasks_recorded_done(self):
        """close_inactive_tickets and archive_old_interactions enqueued by chatdeskctl: their records end done"""
        self.wait_pool_on_redis()
        for typ, payload in (
                ("close_inactive_tickets", '{"inactive_days":100000}'),
                ("close_inactive_tickets", '{"inactive_days":0}'),
                ("archive_old_interactions", '{"older_than_days":100000}'),
                ("archive_old_interactions", '{"older_than_days":0}')):
            with self.subTest(type=typ, payload=payload):
                c = STACK.run_ctl("enqueue", typ, payload)
                self.assertEqual(c.returncode, 0, describe(c))
                task_id = pending()[-1]["id"]
                self.assertEqual(record(task_id), (1, 0, None))
                counts, r = self.worker()
                # closing tickets enqueues their notifications, run too
                self.assertEqual(counts[1:], (counts[0], 0, 0), describe(r))
                self.assertEqual(record(task_id), (1, 1, "done"))
        self.assertEqual(unfinished(), 0)


class C_LossTest(RecordCase):
    """Redis loses data between the posts and the worker run."""

    def post_some(self, n, subject):
        tickets = [self.create("cust1", "%s %d" % (subject, i))
                   for i in range(n)]
        for tid in tickets:
            self.comment(tid, "agent1")
        return tickets

    def test_1_flushall(self):
        """FLUSHALL after the posts: the next run pushes every unfinished task again; each notification exactly once"""
        self.wait_pool_on_redis()
        tickets = self.post_some(4, "flushed")
        self.assertEqual(len(pending()), 8)
        self.assertEqual(unfinished(), 8)
        self.assertEqual(STACK.redis("FLUSHALL"), "OK")
        r = call("GET", "/api/v1/queue", "admin1")
        self.assertEqual((r.json["pending"], r.json["unfinished"]), (0, 8), r)
        counts, r = self.worker()
        self.assertEqual(counts, (8, 8, 0, 0), describe(r))
        self.assertRegex(r.stderr, r"lost data", describe(r))
        self.expect_all_once(tickets, tickets)
        self.assertEqual(unfinished(), 0)
        counts, r = self.worker()
        self.assertEqual(counts, (0, 0, 0, 0), describe(r))
        self.assertNotRegex(r.stderr, r"lost data", describe(r))
        self.expect_all_once(tickets, tickets)

    def test_2_restart_without_data(self):
        """Redis restarted empty, then one more post before the run: every notification exactly once"""
        self.wait_pool_on_redis()
        tickets = self.post_some(3, "restarted")
        STACK.stop_redis()
        STACK.start_redis()
        # The pool is back on Redis at once (rconn finds the connection
        # Redis closed and reconnects, without a back-off), so this task
        # is pushed; the run then pushes every unfinished task again, this
        # one too: 8 taken, the copy acknowledged without running twice.
        tickets.append(self.create("cust1", "after the restart"))
        self.assertEqual(unfinished(), 7)
        counts, r = self.worker()
        self.assertEqual(counts, (8, 8, 0, 0), describe(r))
        self.assertRegex(r.stderr, r"lost data", describe(r))
        self.assertRegex(r.stderr, r"acknowledged 1 task\(s\) already "
                         r"finished without running them again", describe(r))
        self.expect_all_once(tickets, tickets[:3])
        self.assertEqual(unfinished(), 0)
        self.assertEqual(self.worker()[0], (0, 0, 0, 0))

    def test_3_old_snapshot(self):
        """Redis restored from an old snapshot (same epoch, fewer pushes), then more posts than were lost: noticed; each notification once, copies not run twice"""
        self.wait_pool_on_redis()
        a = self.create("cust1", "in the snapshot")
        snap_pending = helpers.lrange(STACK, "tasks:pending")
        snap_state = redis_state()
        self.assertEqual(len(snap_pending), 1)
        lost = [self.create("cust1", "lost %d" % i) for i in range(2)]
        # the restore: what Redis held when the snapshot was taken
        STACK.redis("FLUSHALL")
        STACK.redis("RPUSH", "tasks:pending", *snap_pending)
        STACK.redis("HSET", "queue:state", *[x for kv in snap_state.items()
                                             for x in kv])
        self.assertLess(int(redis_state()["seq"]), queue_state()[2])
        # more posts than were lost: seq catches up with SQLite's again
        later = [self.create("cust1", "later %d" % i) for i in range(3)]
        self.assertEqual(helpers.outbox_count(STACK), 0)
        self.assertGreaterEqual(int(redis_state()["seq"]), queue_state()[2])
        self.assertEqual(unfinished(), 6)
        counts, r = self.worker()
        # in Redis: a and the 3 later; pushed again: all 6
        self.assertEqual(counts, (10, 10, 0, 0), describe(r))
        self.assertRegex(r.stderr, r"lost data", describe(r))
        self.assertRegex(r.stderr, r"acknowledged 4 task\(s\) already "
                         r"finished", describe(r))
        self.expect_all_once([a] + lost + later)
        self.assertEqual(unfinished(), 0)
        self.assertEqual(self.worker()[0], (0, 0, 0, 0))

    def test_4_epoch_missing_or_other(self):
        """queue:state deleted, or holding another epoch: noticed; the epoch is SQLite's again afterwards"""
        self.wait_pool_on_redis()
        epoch = queue_state()[0]
        for how in ("deleted", "other"):
            with self.subTest(how=how):
                tid = self.create("cust1", "epoch %s" % how)
                if how == "deleted":
                    STACK.redis("DEL", "queue:state", "tasks:pending")
                else:
                    STACK.redis("HSET", "queue:state", "epoch", "0" * 32)
                counts, r = self.worker()
                self.assertRegex(r.stderr, r"lost data", describe(r))
                self.assertEqual(counts, (1, 1, 0, 0) if how == "deleted"
                                 else (2, 2, 0, 0), describe(r))
                self.assertEqual(notif_counts(tid), created_notifs(tid))
                self.assertEqual(redis_state().get("epoch"), epoch)
                self.assertNotIn("lost", redis_state())
                counts, r = self.worker()
                self.assertNotRegex(r.stderr, r"lost data", describe(r))


    def test_5_killed_under_load(self):
        """Redis SIGKILLed and restarted empty while tickets are posted: every post answers 201, and after the worker each ticket's notifications exist exactly once"""
        self.wait_pool_on_redis()
        made, bad = [], []
        stop = threading.Event()

        def poster(n):
            i = 0
            while not stop.is_set():
                r = call("POST", "/api/v1/tickets", "cust1",
                         {"subject": "load %d.%d" % (n, i), "body": "b"})
                i += 1
                (made if r.status == 201 else bad).append(
                    r.json["id"] if r.status == 201 else r)

        def more(n):
            goal = len(made) + n
            harness.wait_until(lambda: len(made) >= goal or bad, 30,
                               what="%d more tickets" % n)

        threads = [threading.Thread(target=poster, args=(n,))
                   for n in range(4)]
        for t in threads:
            t.start()
        try:
            more(20)
            STACK.redis_proc.kill()
            STACK.redis_proc.wait(10)
            more(20)
            STACK.start_redis()
            more(40)
        finally:
            stop.set()
            for t in threads:
                t.join(30)
        self.assertEqual(bad, [], "posts that did not answer 201")
        self.drain()
        self.expect_all_once(made)
        self.assertEqual(helpers.outbox_count(STACK), 0)


class D_PruneTest(RecordCase):

    def test_1_done_rows_kept_then_pruned(self):
        """done rows stay for task_done_keep_s; with 0 they are pruned, unfinished ones never"""
        self.wait_pool_on_redis()
        self.create("cust1", "to prune")
        self.worker()
        done = db_query("SELECT count(*) FROM tasks WHERE result = 'done'"
                        )[0][0]
        self.assertGreater(done, 0, "done rows were pruned at once")
        # one task that stays unfinished (retried, due in an hour)
        tid = self.create("cust1", "stays")
        task_id = pending()[0]["id"]
        counts, r = self.worker(env={"CHATDESK_NOTIFY_COMMAND": "false",
                                     "CHATDESK_TASK_BACKOFF_S": "3600"})
        self.assertEqual(counts, (1, 0, 1, 0), describe(r))
        counts, r = self.worker(env={"CHATDESK_TASK_DONE_KEEP_S": "0"})
        self.assertRegex(r.stderr, r"pruned \d+ finished", describe(r))
        self.assertEqual(db_query("SELECT count(*) FROM tasks WHERE result "
                                  "= 'done'")[0][0], 0)
        self.assertEqual(record(task_id), (1, 0, None))
        self.assertEqual(STACK.redis("ZCARD", "tasks:delayed"), 1)
        self.assertEqual(notif_counts(tid), created_notifs(tid))
        helpers.clear_queue(STACK)
        self.assertEqual(record(task_id), None)

    def test_2_dead_rows_bounded_by_dead_max(self):
        """dead rows beyond dead_max are pruned, the newest kept, as in tasks:failed"""
        self.wait_pool_on_redis()
        ids = []
        for i in range(5):
            c = STACK.run_ctl("enqueue", "send_notifications",
                              '{"ticket_id":"bad %d"}' % i)
            self.assertEqual(c.returncode, 0, describe(c))
            ids.append(pending()[-1]["id"])
        counts, r = self.worker(env={"CHATDESK_DEAD_MAX": "2"})
        self.assertEqual(counts, (5, 0, 0, 5), describe(r))
        kept = [t for (t,) in db_query("SELECT task_id FROM tasks WHERE "
                                       "result = 'dead' ORDER BY id")]
        self.assertEqual(kept, ids[-2:])
        failed = [json.loads(x)["id"] for x in
                  helpers.lrange(STACK, "tasks:failed")]
        self.assertEqual(failed, ids[-2:])
        STACK.redis("DEL", "tasks:failed")


class E_PoolTest(RecordCase):

    def test_pool_alive(self):
        """no pool process died; nothing unfinished after a last run"""
        self.assertEqual(len(STACK.pool_pids()), STACK.pool_size)
        self.drain()


if __name__ == "__main__":
    tap.main()
