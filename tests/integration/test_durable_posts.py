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

"""A 201 means the commit is on stable storage (sqlite_synchronous = full,
the default; docs/DESIGN.md "Durable posts: group commit").

test_1: the pool (4 processes) runs under `strace -f`, tracing the writes
to the WAL, fdatasync/fsync, and the writes to the FastCGI socket, while 8
threads post at once. For every response written with "Status: 201", the
last write of the WAL by the same process before it (the commit's frames)
must be followed by a completed fdatasync or fsync of the WAL (by any
process) that began after that write ended and ended before the 201 was
written. strace handles one stop at a time, so the order of its lines is
the order of the calls across processes.

test_2: the same checker on a pool at sqlite_synchronous = normal must find
201s that no sync covers (a checker that cannot fail proves nothing).

test_3: a burst of concurrent posts, then SIGKILL of every pool process
and of Redis right after the last 201: every message answered 201 is in
the database file, opened afresh (recovery of the WAL included).
(SIGKILL keeps the page cache, so this tests the process crash; the power
loss is what test_1's syncs are for.)"""

import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import unittest

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
import helpers  # noqa: E402
import tap  # noqa: E402

STACK = None
POOL = 4
THREADS = 8
PER_THREAD = 25
STRACE = "/usr/bin/strace"
TOKEN = None
ROOM = None

# "PID TIME call(args" ... "= result", or "<unfinished ...>", or
# "PID TIME <... call resumed>...) = result"
LINE_RE = re.compile(r"^(\d+)\s+\S+\s+(.*)$")
START_RE = re.compile(r"^(\w+)\((\d+)<([^>]*)>(.*)$")
RESUMED_RE = re.compile(r"^<\.\.\. (\w+) resumed>(.*)$")
RESULT_RE = re.compile(r"\)\s+=\s+(-?\d+)")


def setUpModule():
    global STACK, TOKEN, ROOM
    STACK = harness.Stack(name="test_durable_posts", pool_size=POOL,
                          rate="100000r/s",
                          env={"CHATDESK_RATE_LIMIT_COUNT": "1000000",
                               "CHATDESK_LOG_LEVEL": "warn"})
    STACK.start()
    _, TOKEN = helpers.add_user(STACK, "Poster", "poster@example.test",
                                "admin")
    r = helpers.request(STACK, "POST", "/api/v1/rooms", TOKEN,
                        body={"name": "durable"})
    if r.status != 201:
        raise harness.HarnessError("POST /rooms: %r" % r)
    ROOM = r.json["id"]


def tearDownModule():
    if STACK is not None:
        STACK.stop()


def burst(tag):
    """THREADS threads post PER_THREAD messages each; returns the list of
    (id, body) answered 201 and the list of other answers."""
    ok, bad, lock = [], [], threading.Lock()

    def poster(t):
        for i in range(PER_THREAD):
            body = "%s %d.%d" % (tag, t, i)
            try:
                r = helpers.request(STACK, "POST",
                                    "/api/v1/rooms/%d/messages" % ROOM, TOKEN,
                                    body={"body": body})
            except Exception as e:  # noqa: BLE001 - reported below
                with lock:
                    bad.append(repr(e))
                continue
            with lock:
                if r.status == 201:
                    ok.append((r.json["id"], body))
                else:
                    bad.append("%d %s" % (r.status, r.text[:300]))
    threads = [threading.Thread(target=poster, args=(t,))
               for t in range(THREADS)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    return ok, bad


def traced_burst(tag):
    """Runs burst() with strace attached to every pool process; returns
    (ok, bad, trace lines)."""
    out = STACK.path("strace-%s.out" % tag)
    cmd = [STRACE, "-f", "-ttt", "-y", "-s", "64", "-qq", "-o", out,
           "-e", "trace=write,pwrite64,writev,sendmsg,fdatasync,fsync"]
    for p in STACK.pool_pids():
        cmd += ["-p", str(p)]
    err = open(STACK.path("strace-%s.err" % tag), "wb")
    st = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=err,
                          stderr=subprocess.STDOUT)
    err.close()
    try:
        # attached once a health request shows up in the trace
        def attached():
            helpers.request(STACK, "GET", "/api/v1/health")
            return os.path.exists(out) and "socket:" in open(out).read()
        harness.wait_until(attached, 15, interval=0.2,
                           what="strace attached")
        ok, bad = burst(tag)
    finally:
        st.send_signal(signal.SIGINT)
        try:
            st.wait(timeout=15)
        except subprocess.TimeoutExpired:
            st.kill()
            st.wait()
    with open(out, errors="replace") as f:
        return ok, bad, f.read().splitlines()


def uncovered_201s(lines):
    """The 201 answers of the trace that no completed WAL sync covers, as
    descriptions; and the number of 201s seen."""
    pending = {}          # pid -> (call, path, start index)
    last_wal_write = {}   # pid -> index where its last WAL write ended
    syncs = []            # (start index, end index) of successful WAL syncs
    problems, seen = [], 0

    def finished(pid, call, path, start, end, rest):
        nonlocal seen
        m = RESULT_RE.search(rest)
        result = int(m.group(1)) if m else -1
        is_wal = path.endswith("-wal")
        if call in ("write", "pwrite64", "writev") and is_wal and result > 0:
            last_wal_write[pid] = end
        elif call in ("fdatasync", "fsync") and is_wal and result == 0:
            syncs.append((start, end))
        elif (call in ("write", "writev", "sendmsg") and
              path.startswith("socket:") and "Status: 201" in rest):
            seen += 1
            w = last_wal_write.pop(pid, None)
            if w is None:
                problems.append("line %d: a 201 by pid %s with no WAL write "
                                "before it since its last 201" % (start, pid))
            elif not any(s > w and e < start for s, e in syncs):
                problems.append("line %d: a 201 by pid %s whose commit "
                                "(WAL write ending line %d) no completed "
                                "sync covers" % (start, pid, w))

    for i, raw in enumerate(lines):
        m = LINE_RE.match(raw)
        if not m:
            continue
        pid, text = m.group(1), m.group(2)
        r = RESUMED_RE.match(text)
        if r:
            call, path, start, head = pending.pop(pid, (None, "", i, ""))
            if call is not None:
                finished(pid, call, path, start, i, head + r.group(2))
            continue
        s = START_RE.match(text)
        if not s:
            continue
        call, path, rest = s.group(1), s.group(3), s.group(4)
        if rest.endswith("<unfinished ...>"):
            pending[pid] = (call, path, i, rest)
        else:
            finished(pid, call, path, i, i, rest)
    return problems, seen


class DurablePosts(unittest.TestCase):

    def test_1_every_201_after_a_wal_sync(self):
        """under strace, every 201 follows a completed sync of the WAL
        that began after its commit's write"""
        ok, bad, lines = traced_burst("full")
        self.assertEqual(bad, [], "every post answered 201")
        problems, seen = uncovered_201s(lines)
        self.assertEqual(seen, len(ok), "every 201 is in the trace")
        self.assertEqual(problems, [], "\n".join(problems[:10]))

    def test_2_checker_finds_unsynced_201s(self):
        """the same checker finds 201s no sync covers at synchronous =
        normal"""
        helpers.restart_pool(STACK, env={"CHATDESK_SQLITE_SYNCHRONOUS":
                                         "normal"})
        try:
            ok, bad, lines = traced_burst("normal")
            self.assertEqual(bad, [])
            problems, seen = uncovered_201s(lines)
            self.assertEqual(seen, len(ok))
            self.assertGreater(len(problems), 0,
                               "at normal, 201s are sent before any sync")
        finally:
            helpers.restart_pool(STACK)

    def test_3_kill_9_after_201s_loses_none(self):
        """SIGKILL of every pool process and Redis right after a burst of
        201s: every one of those messages is in the database"""
        ok, bad = burst("killed")
        for p in STACK.pool_pids():
            os.kill(p, signal.SIGKILL)
        if STACK.redis_proc is not None:
            STACK.redis_proc.send_signal(signal.SIGKILL)
        harness.wait_until(lambda: not STACK.pool_pids(), 10,
                           what="the pool gone")
        self.assertEqual(bad, [])
        self.assertEqual(len(ok), THREADS * PER_THREAD)
        db = sqlite3.connect(STACK.db_path, timeout=10)
        try:
            got = dict(db.execute("SELECT id, body FROM messages WHERE "
                                  "room_id = ?", (ROOM,)).fetchall())
        finally:
            db.close()
        lost = [(i, b) for i, b in ok if got.get(i) != b]
        self.assertEqual(lost, [], "messages answered 201 and lost")
        # the stack's stop expects what it started; bring it back
        STACK.redis_proc.wait()
        STACK.start_redis()
        STACK.pool = []
        STACK.start_pool()
        STACK.wait_ready()


if __name__ == "__main__":
    tap.main()
