"""What the fault tests share (tests/faults/): a recorded mixed load, the
checks of what it recorded against SQLite, draining the worker, and two
stacks of harness.Stack's: one whose pool runs under multiwatch, one whose
databases live on a small tmpfs.

Every fault test records every request it makes (Load) and checks SQLite
afterwards: every 201 is a row (zero lost writes), and, after the worker,
every task a 201 caused has done its work (zero lost tasks).

Standard library only; built on tests/integration/harness.py and
helpers.py.
"""

import errno
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "integration"))

import harness  # noqa: E402
import helpers  # noqa: E402

MULTIWATCH = "/usr/bin/multiwatch"


# --------------------------------------------------------------------------
# Users and the room the load uses

class World:
    """An admin, two agents and two customers, a room they all belong to,
    and one ticket per customer to comment on."""

    def __init__(self, stack):
        self.stack = stack
        self.admin = helpers.add_user(stack, "Admin", "admin@f.example",
                                      "admin")
        self.agents = [helpers.add_user(stack, "Agent%d" % i,
                                        "agent%d@f.example" % i, "agent")
                       for i in range(2)]
        self.customers = [helpers.add_user(stack, "Cust%d" % i,
                                           "cust%d@f.example" % i,
                                           "customer")
                          for i in range(2)]
        members = [u[0] for u in self.agents + self.customers]
        r = helpers.request(stack, "POST", "/api/v1/rooms", self.admin[1],
                            {"name": "faults", "member_ids": members})
        if r.status != 201:
            raise harness.HarnessError("room: %r" % (r,))
        self.room = r.json["id"]
        self.tickets = []
        for uid, tok in self.customers:
            r = helpers.request(stack, "POST", "/api/v1/tickets", tok,
                                {"subject": "base", "body": "base"})
            if r.status != 201:
                raise harness.HarnessError("ticket: %r" % (r,))
            self.tickets.append(r.json["id"])

    @property
    def staff_ids(self):
        return sorted([self.admin[0]] + [a[0] for a in self.agents])


def start(cls=harness.Stack, name="faults", **kw):
    """Starts a stack of class cls for a fault test, with limits out of
    the load's way (nginx's rate, the post rate limit), and makes its
    World. Returns (stack, world)."""
    env = {"CHATDESK_RATE_LIMIT_COUNT": "1000000"}
    env.update(kw.pop("env", {}))
    stack = cls(name=name, rate="100000r/s", env=env, **kw)
    stack.start()
    return stack, World(stack)


def start_mounted(cls, name, **kw):
    """start() for a stack whose SQLite files are on a file system the
    test mounts (TmpfsStack, Ext4Stack): skips the test without root, or
    when the mount itself is refused (no loop devices)."""
    if os.geteuid() != 0:
        raise unittest.SkipTest("needs root to mount a file system")
    try:
        return start(cls, name, **kw)
    except harness.HarnessError as e:
        if "mount" in str(e) and "failed" in str(e):
            raise unittest.SkipTest(str(e))
        raise


# --------------------------------------------------------------------------
# The recorded load

class Record:
    __slots__ = ("op", "method", "path", "tag", "status", "id", "error",
                 "code", "thread", "phase")

    def __init__(self, op, method, path, tag, thread, phase):
        self.op, self.method, self.path, self.tag = op, method, path, tag
        self.thread, self.phase = thread, phase
        self.status = None      # None: no HTTP answer at all
        self.id = None          # the new row's id of a 201
        self.error = None       # the exception, if no answer
        self.code = None        # the error code of an error answer

    def __repr__(self):
        return "<%s %s %s %s -> %s id=%s %s%s>" % (
            self.phase, self.op, self.method, self.path, self.status, self.id,
            self.code or "", (" " + self.error) if self.error else "")


class Load:
    """Threads sending a mix of posts, ticket creations, comments and
    reads until stop(); every request and its answer kept in .records.

    ops is a sequence of op names each thread cycles through (from a
    different starting point): post, read, ticket, comment, get_ticket,
    health."""

    DEFAULT_OPS = ("post", "read", "ticket", "read", "comment", "get_ticket")

    def __init__(self, stack, world, threads=6, ops=DEFAULT_OPS,
                 timeout=30.0, pause=0.0):
        self.stack, self.world = stack, world
        self.nthreads, self.ops = threads, tuple(ops)
        self.timeout, self.pause = timeout, pause
        self.records = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = []
        self._seq = 0
        # Set by the test between stages; each record keeps the phase its
        # request started in.
        self.phase = "before"

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()
        return False

    def start(self):
        for i in range(self.nthreads):
            t = threading.Thread(target=self._run, args=(i,), daemon=True)
            self._threads.append(t)
            t.start()

    def stop(self):
        self._stop.set()
        for t in self._threads:
            t.join(self.timeout + 10)
        alive = [t for t in self._threads if t.is_alive()]
        if alive:
            raise harness.HarnessError("%d load threads did not stop"
                                       % len(alive))
        return self.records

    def count(self):
        with self._lock:
            return len(self.records)

    def wait_count(self, n, timeout=60):
        """Waits until at least n more requests were answered."""
        target = self.count() + n
        harness.wait_until(lambda: self.count() >= target, timeout,
                           what="%d more requests of the load" % n)

    def _tag(self, thread):
        with self._lock:
            self._seq += 1
            return "f%d-%d" % (thread, self._seq)

    def _one(self, thread, op):
        w = self.world
        cust = w.customers[thread % len(w.customers)]
        agent = w.agents[thread % len(w.agents)]
        tag = self._tag(thread)
        if op == "post":
            who, method = (cust if thread % 2 else agent), "POST"
            path, body = "/api/v1/rooms/%d/messages" % w.room, {"body": tag}
        elif op == "read":
            who, method, body = cust, "GET", None
            path = "/api/v1/rooms/%d/messages" % w.room
        elif op == "ticket":
            who, method = cust, "POST"
            path, body = "/api/v1/tickets", {"subject": tag, "body": tag}
        elif op == "comment":
            who, method = agent, "POST"
            path = "/api/v1/tickets/%d/interactions" % \
                w.tickets[thread % len(w.tickets)]
            body = {"body": tag}
        elif op == "get_ticket":
            who, method, body = agent, "GET", None
            path = "/api/v1/tickets/%d" % w.tickets[thread % len(w.tickets)]
        elif op == "health":
            who, method, body = None, "GET", None
            path = "/api/v1/health"
        else:
            raise ValueError(op)
        rec = Record(op, method, path, tag, thread, self.phase)
        headers = helpers.auth(who[1]) if who else {}
        try:
            r = self.stack.http(method, path, headers=headers, body=body,
                                timeout=self.timeout)
        except Exception as e:  # noqa: BLE001 - recorded, checked later
            rec.error = "%s: %s" % (type(e).__name__, e)
        else:
            rec.status = r.status
            try:
                js = r.json
            except ValueError:
                js = None
            if r.status == 201 and isinstance(js, dict):
                rec.id = js.get("id")
            elif r.status >= 400 and isinstance(js, dict):
                rec.code = (js.get("error") or {}).get("code")
        with self._lock:
            self.records.append(rec)

    def _run(self, thread):
        i = thread
        while not self._stop.is_set():
            self._one(thread, self.ops[i % len(self.ops)])
            i += 1
            if self.pause:
                time.sleep(self.pause)


# --------------------------------------------------------------------------
# Checks

WRITE_TABLES = {
    "post": ("messages", "body"),
    "comment": ("interactions", "body"),
}


def _rows(stack, sql, args=()):
    return helpers.db_query(stack.db_path, sql, args)


def _archived(stack, table, ids):
    """{id: body} of the given ids in the archive file."""
    if not ids or not os.path.exists(stack.archive_db_path):
        return {}
    out = {}
    lst = sorted(ids)
    for i in range(0, len(lst), 500):
        chunk = lst[i:i + 500]
        q = "SELECT id, body FROM %s WHERE id IN (%s)" % (
            table, ",".join("?" * len(chunk)))
        out.update(dict(helpers.db_query(stack.archive_db_path, q, chunk)))
    return out


def _hot(stack, table, col, ids):
    out = {}
    lst = sorted(ids)
    for i in range(0, len(lst), 500):
        chunk = lst[i:i + 500]
        q = "SELECT id, %s FROM %s WHERE id IN (%s)" % (
            col, table, ",".join("?" * len(chunk)))
        out.update(dict(_rows(stack, q, chunk)))
    return out


def check_writes(test, stack, records):
    """Zero lost writes: every 201 of the records is its row in SQLite
    (hot file or archive), with the text that was sent. Returns the
    number checked."""
    n = 0
    for op, (table, col) in list(WRITE_TABLES.items()) + [
            ("ticket", ("tickets", "subject"))]:
        got = [r for r in records if r.op == op and r.status == 201]
        test.assertTrue(all(helpers.is_int(r.id) for r in got),
                        "a 201 without an id: %r" % [r for r in got
                                                     if not helpers.is_int(
                                                         r.id)][:5])
        ids = {r.id for r in got}
        test.assertEqual(len(ids), len(got), "two 201s with one id (%s)" % op)
        found = _hot(stack, table, col, ids)
        if table != "tickets":
            found.update(_archived(stack, table, ids - set(found)))
        lost = [r for r in got if found.get(r.id) != r.tag]
        if lost:
            # What SQLite holds at those ids, and the highest id it has.
            top = _rows(stack, "SELECT max(id) FROM %s" % table)[0][0]
            test.fail("%d %s 201(s) not in SQLite as sent: %r; SQLite "
                      "has at those ids %r, its highest id %r" % (
                          len(lost), op, lost[:10],
                          {r.id: found.get(r.id) for r in lost[:10]}, top))
        n += len(got)
    return n


def check_answered(test, records, allow_5xx=False, allow=()):
    """Every request got an HTTP answer; no 5xx unless allowed (statuses
    in allow are always accepted)."""
    unanswered = [r for r in records if r.status is None]
    test.assertEqual(unanswered, [], "%d request(s) got no answer: %r" % (
        len(unanswered), unanswered[:10]))
    if not allow_5xx:
        bad = [r for r in records if r.status >= 500 and
               r.status not in allow]
        test.assertEqual(bad, [], "%d 5xx answer(s): %r" % (len(bad),
                                                              bad[:10]))


def check_writes_refused(test, records, phase):
    """A database that cannot take writes: every request answered; reads
    200, every one; writes 201 or 503 unavailable, never another error;
    in phase (the records made while it could not) reads answered 200 and
    some write 503."""
    sm = summary(records)
    check_answered(test, records, allow=(503,))
    bad_reads = [r for r in records if r.method == "GET" and r.status != 200]
    test.assertEqual(bad_reads, [], sm)
    bad_writes = [r for r in records if r.method == "POST" and not (
        r.status == 201 or (r.status == 503 and r.code == "unavailable"))]
    test.assertEqual(bad_writes, [], sm)
    during = [r for r in records if r.phase == phase]
    test.assertTrue(any(r.method == "GET" and r.status == 200
                        for r in during), sm)
    test.assertTrue(any(r.status == 503 for r in during), sm)


def check_succeeded(test, records):
    """Every request answered 200 or 201: the fault cost time, nothing
    else."""
    check_answered(test, records)
    bad = [r for r in records if r.status not in (200, 201)]
    test.assertEqual(bad, [], summary(records))


def check_stopped(test, stack, records, pids):
    """After the pool was stopped under load: a 5xx only while it was
    ("stopping" phase), and only nginx's 503 unavailable; at least one
    such; each of pids left its loop (its "stopping" log line)."""
    sm = summary(records)
    check_answered(test, records, allow_5xx=True)
    bad = [r for r in records if r.status >= 500 and not (
        r.phase == "stopping" and r.status == 503 and
        r.code == "unavailable")]
    test.assertEqual(bad, [], sm)
    test.assertTrue(any(r.status == 503 for r in records), sm)
    log = stack.app_log()
    for pid in pids:
        test.assertIn("stopping (pid %d)" % pid, log,
                      "pid %d did not leave its loop; the end of the app "
                      "log:\n%s" % (pid, log[-3000:]))


def summary(records):
    """{op: {status: count}} for failure messages."""
    out = {}
    for r in records:
        d = out.setdefault(r.op, {})
        d[r.status] = d.get(r.status, 0) + 1
    return out


def queue_empty(stack):
    return (helpers.outbox_count(stack) == 0 and
            stack.redis("LLEN", "tasks:pending") == 0 and
            stack.redis("LLEN", "tasks:processing") == 0 and
            stack.redis("ZCARD", "tasks:delayed") == 0)


def drain(test, stack, runs=30):
    """Runs chatdesk-worker until the outbox and the queue are empty (a
    crashed run's lock is the test's to delete first)."""
    for _ in range(runs):
        r = stack.run_worker(timeout=300)
        test.assertEqual(r.returncode, 0, helpers.describe(r))
        if queue_empty(stack):
            break
        stack.redis("ZUNIONSTORE", "tasks:delayed", 1, "tasks:delayed",
                    "WEIGHTS", 0)   # retries due now
    else:
        test.fail("the queue did not drain in %d worker runs" % runs)
    test.assertEqual(stack.redis("LLEN", "tasks:failed"), 0,
                     "dead tasks: %r" % (stack.redis("LRANGE", "tasks:failed",
                                                     0, 5),))


def check_ticket_tasks(test, stack, world, records, extra_tickets=()):
    """Zero lost tasks, each done once: every ticket a 201 created has
    exactly one ticket_created notification per staff user (the
    requester is a customer, so every staff user gets one)."""
    tickets = {r.id for r in records if r.op == "ticket" and
               r.status == 201} | set(extra_tickets)
    staff = world.staff_ids
    got = {}
    lst = sorted(tickets)
    for i in range(0, len(lst), 500):
        chunk = lst[i:i + 500]
        q = ("SELECT ticket_id, user_id, count(*) FROM notifications "
             "WHERE event = 'ticket_created' AND ticket_id IN (%s) "
             "GROUP BY ticket_id, user_id" % ",".join("?" * len(chunk)))
        for t, u, c in _rows(stack, q, chunk):
            got.setdefault(t, {})[u] = c
    want = {u: 1 for u in staff}
    wrong = [(t, got.get(t)) for t in lst if got.get(t) != want]
    test.assertEqual(wrong, [], "%d of %d ticket(s) without exactly one "
                     "ticket_created notification per staff user %r: %r" % (
                         len(wrong), len(lst), staff, wrong[:10]))
    return len(lst)


def integrity_ok(test, path):
    rows = helpers.db_query(path, "PRAGMA integrity_check")
    test.assertEqual(rows, [("ok",)], "integrity_check of %s" % path)


# --------------------------------------------------------------------------
# A pool under multiwatch

def children(pid):
    """PIDs of the live children of pid (every thread's, from /proc)."""
    out = set()
    try:
        tids = os.listdir("/proc/%d/task" % pid)
    except OSError:
        return []
    for t in tids:
        try:
            with open("/proc/%d/task/%s/children" % (pid, t)) as f:
                out.update(int(x) for x in f.read().split())
        except OSError:
            continue
    return sorted(p for p in out if harness.pid_alive(p))


class MultiwatchStack(harness.Stack):
    """A Stack whose pool is spawn-fcgi -n exec'ing multiwatch -f N, which
    forks the chatdesk processes and replaces one that dies.

    This is how the shipped deployment runs it (scripts/run.sh, with the
    same multiwatch options; run.sh lets spawn-fcgi fork and keeps a pid
    file, this one uses -n: spawn-fcgi execs multiwatch, so the Popen is
    the supervisor and is stopped by PID)."""

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.supervisor = None

    def start(self):
        if not os.access(MULTIWATCH, os.X_OK):
            raise harness.HarnessError("%s is not installed (Debian package "
                                       "multiwatch)" % MULTIWATCH)
        return super().start()

    def start_pool(self, size=None, env=None):
        if self.supervisor is not None:
            raise harness.HarnessError("the pool is already running")
        size = self.pool_size if size is None else int(size)
        script = 'exec "$0" "$@" 2>>%s' % shlex.quote(self.log_path)
        # As scripts/run.sh: --signal=TERM, so that multiwatch's SIGTERM
        # is passed on as a stop (its default, SIGUSR1, is chatdesk's log
        # reopening; multiwatch 1.0.0 actually sends SIGQUIT for TERM, a
        # stop too), --retry and --timeout against a crash loop.
        cmd = [harness.SPAWN_FCGI, "-s", self.fcgi_sock, "-M", "0660", "-n",
               "--", MULTIWATCH, "--forks=%d" % size, "--signal=TERM",
               "--retry=3", "--timeout=10000", "--",
               "/bin/sh", "-c", script, self.chatdesk]
        with open(self.path("spawn-fcgi.log"), "ab") as out:
            self.supervisor = subprocess.Popen(
                cmd, stdin=subprocess.DEVNULL, stdout=out,
                stderr=subprocess.STDOUT, cwd=self.tmp, env=self.env(env),
                start_new_session=True)
        harness.wait_until(lambda: len(self.pool_pids()) == size or
                           self.supervisor.poll() is not None,
                           self.START_TIMEOUT, what="multiwatch's children")
        if self.supervisor.poll() is not None:
            raise harness.HarnessError("spawn-fcgi/multiwatch exited %d: %s"
                                       % (self.supervisor.returncode,
                                          self._tail(self.path(
                                              "spawn-fcgi.log"), 20)))
        self.pool = self.pool_pids()

    def pool_pids(self):
        if self.supervisor is None or self.supervisor.poll() is not None:
            return []
        return [p for p in children(self.supervisor.pid)
                if harness.pid_is(p, self.chatdesk)]

    def stop_pool(self):
        p, self.supervisor = self.supervisor, None
        self.pool = []
        if p is not None:
            # multiwatch passes SIGTERM on to its children and waits.
            self._stop_child(p, "multiwatch")


# --------------------------------------------------------------------------
# Databases on a small tmpfs

class TmpfsStack(harness.Stack):
    """A Stack whose two SQLite files live on a tmpfs of size_mb, mounted
    in its temp dir (root only) and unmounted when it stops."""

    def __init__(self, *a, size_mb=8, **kw):
        super().__init__(*a, **kw)
        self.size_mb = size_mb
        self.mounted = False

    @property
    def disk(self):
        return self.path("disk")

    @property
    def db_path(self):
        return os.path.join(self.disk, "chatdesk.db")

    @property
    def archive_db_path(self):
        return os.path.join(self.disk, "archive.db")

    @property
    def filler(self):
        return os.path.join(self.disk, "filler")

    def _migrate(self):
        if not self.mounted:
            os.makedirs(self.disk, exist_ok=True)
            r = subprocess.run(["mount", "-t", "tmpfs", "-o",
                                "size=%dm,mode=0700" % self.size_mb,
                                "chatdesk-faults", self.disk],
                               capture_output=True, text=True, timeout=30)
            if r.returncode != 0:
                raise harness.HarnessError("mount -t tmpfs failed (root "
                                           "needed): %s" % r.stderr.strip())
            self.mounted = True
        super()._migrate()

    def fill(self):
        """Fills the file system until ENOSPC. Returns the bytes written."""
        n = 0
        chunk = b"\0" * 65536
        with open(self.filler, "ab", buffering=0) as f:
            while True:
                try:
                    w = f.write(chunk)
                except OSError as e:
                    if e.errno != errno.ENOSPC:
                        raise
                    if len(chunk) == 1:
                        break
                    chunk = chunk[:len(chunk) // 2]
                    continue
                n += w
        return n

    def free(self):
        try:
            os.unlink(self.filler)
        except FileNotFoundError:
            pass

    def unmount(self):
        if not self.mounted:
            return
        r = subprocess.run(["umount", self.disk], capture_output=True,
                           text=True, timeout=30)
        if r.returncode != 0:
            # Something still holds a file there: lazily, so that the
            # mount never outlives the test.
            self.warnings.append("umount %s: %s; lazy" % (self.disk,
                                                          r.stderr.strip()))
            subprocess.run(["umount", "-l", self.disk], timeout=30)
        self.mounted = False

    def stop(self, failed=None, check=True):
        # The pool (and nginx) first: they hold the database files.
        try:
            if not self._stopped:
                self._stop_nginx()
                self.stop_pool()
        finally:
            self.unmount()
        super().stop(failed=failed, check=check)


class Ext4Stack(TmpfsStack):
    """A Stack whose two SQLite files live on an ext4 file system in a
    loop-mounted image of size_mb with errors=remount-ro, the setting
    Debian's installer writes to fstab: error() makes the kernel take it
    read-only under the open files, as it does after an I/O error;
    repair() (the pool stopped) runs e2fsck and mounts it again."""

    @property
    def image(self):
        return self.path("disk.img")

    def _mount(self):
        r = subprocess.run(["mount", "-o", "loop,errors=remount-ro",
                            self.image, self.disk],
                           capture_output=True, text=True, timeout=30)
        if r.returncode != 0:
            raise harness.HarnessError("mount -o loop failed (root and a "
                                       "loop device needed): %s" %
                                       r.stderr.strip())
        self.mounted = True

    def _migrate(self):
        if not self.mounted:
            os.makedirs(self.disk, exist_ok=True)
            with open(self.image, "wb") as f:
                f.truncate(self.size_mb << 20)
            r = subprocess.run(["mkfs.ext4", "-q", "-F", self.image],
                               capture_output=True, text=True, timeout=60)
            if r.returncode != 0:
                raise harness.HarnessError("mkfs.ext4: %s" % r.stderr)
            self._mount()
        harness.Stack._migrate(self)

    def error(self):
        """An ext4 error on the mounted file system: with errors=
        remount-ro the kernel makes it read-only at once."""
        dev = subprocess.run(["findmnt", "-n", "-o", "SOURCE", self.disk],
                             capture_output=True, text=True,
                             timeout=10).stdout.strip()
        with open("/sys/fs/ext4/%s/trigger_fs_error"
                  % os.path.basename(dev), "w") as f:
            f.write("1")

    def read_only(self):
        opts = subprocess.run(["findmnt", "-n", "-o", "OPTIONS", self.disk],
                              capture_output=True, text=True,
                              timeout=10).stdout
        return "ro" in opts.strip().split(",") or "emergency_ro" in opts

    def repair(self):
        """Unmounts (nothing may hold a file there), e2fsck -fy, mounts
        again read-write."""
        self.unmount()
        r = subprocess.run(["e2fsck", "-fy", self.image],
                           capture_output=True, text=True, timeout=120)
        # Kept for the test's messages: what the repair changed.
        self.fsck_output = "e2fsck exited %d:\n%s%s" % (
            r.returncode, r.stdout, r.stderr)
        if r.returncode not in (0, 1):
            raise harness.HarnessError("e2fsck exited %d: %s%s" % (
                r.returncode, r.stdout, r.stderr))
        self._mount()


def sigkill(pid):
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
