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

"""A pool that heals (issue 12 item 4, API.md section 7 "Supervision"), and
scripts/run.sh as an operator uses it (issue 16 item 8).

The stack is started by scripts/run.sh itself (NO_DEPS=1 NO_BUILD=1, the
binaries of CHATDESK_BUILDDIR, a temporary STATE and a free PORT), so the
pool runs exactly as run.sh runs it: spawn-fcgi starts multiwatch, which
forks the chatdesk processes on the shared socket. Then:

  * `run.sh status` creates nothing, for a missing and for a live state
    directory;
  * a CHATDESK_<KEY> given to run.sh (key_prefix) is in the generated
    config, so the worker command run.sh prints finds the tasks queued
    under that prefix;
  * a pool process SIGKILLed under load is replaced (a new PID, the pool
    back to its size), the requests in flight on it fail as nginx's JSON
    503 at most, and every request after the replacement answers 200;
  * killed again and again right after each start, a slot is given up by
    multiwatch after a bounded number of starts ("died to often"), the
    pool keeps serving with the other process, and nothing respawns it in
    a loop;
  * `run.sh stop` stops every process it started, multiwatch's children
    included.

Everything started is stopped by PID (run.sh stop, then any survivor by
the PIDs this test saw)."""

import http.client
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
import tap  # noqa: E402

POOL = 2
PREFIX = "heal:"
TMP = None
STATE = None
PORT = None
OUT = ""          # run.sh's output at start
TOKEN = None
SEEN = set()      # (pid, program) of everything this test saw running


def run_sh(*args, env=None, timeout=120):
    script = os.path.join(harness.srcdir(), "scripts", "run.sh")
    e = harness.clean_env({
        "STATE": STATE, "PORT": PORT, "POOL": POOL, "NO_DEPS": "1",
        "NO_BUILD": "1", "BUILD": harness.builddir(),
        # 4 clients without pause would meet run.sh's 50 r/s per address
        "RATE": "100000r/s",
    })
    e.update(env or {})
    return subprocess.run(["bash", script] + list(args), env=e,
                          stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, timeout=timeout,
                          universal_newlines=True)


def runs(pid, prog):
    """True if pid is alive and its command name is prog (PID reuse)."""
    try:
        with open("/proc/%d/comm" % pid) as f:
            comm = f.read().strip()
    except OSError:
        return False
    return harness.pid_alive(pid) and comm == prog[:15]


def read_pid(name):
    try:
        with open(os.path.join(STATE, name)) as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def ppid_of(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            stat = f.read()
    except OSError:
        return None
    return int(stat[stat.rfind(")") + 2:].split()[1])


def multiwatch_pid():
    pid = read_pid("multiwatch.pid")
    if pid is None or not harness.pid_alive(pid):
        return None
    return pid


def children():
    """The chatdesk processes whose parent is multiwatch, oldest first."""
    mw = multiwatch_pid()
    if mw is None:
        return []
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit() and ppid_of(int(d)) == mw and runs(int(d), "chatdesk"):
            out.append(int(d))
    for pid in out:
        SEEN.add((pid, "chatdesk"))
    return sorted(out)


def pool_log():
    try:
        with open(os.path.join(STATE, "pool.log")) as f:
            return f.read()
    except OSError:
        return ""


def get(path, token=None):
    """(status, parsed JSON body or None); status -1 if nginx could not be
    reached at all."""
    c = http.client.HTTPConnection("127.0.0.1", PORT, timeout=10)
    try:
        h = {"Authorization": "Bearer " + token} if token else {}
        c.request("GET", path, headers=h)
        r = c.getresponse()
        body = r.read()
        try:
            return r.status, json.loads(body.decode())
        except ValueError:
            return r.status, None
    except OSError:
        return -1, None
    finally:
        c.close()


def setUpModule():
    global TMP, STATE, PORT, OUT, TOKEN
    for tool in ("multiwatch", "spawn-fcgi", "nginx", "redis-server"):
        if not shutil.which(tool, path="/usr/sbin:/usr/bin:/sbin:/bin:" +
                            os.environ.get("PATH", "")):
            raise harness.HarnessError("%s is not installed" % tool)
    harness.binary("chatdesk")
    TMP = tempfile.mkdtemp(prefix="chatdesk-heal-", dir="/tmp")
    STATE = os.path.join(TMP, "state")
    PORT = harness.free_port()
    r = run_sh(env={"CHATDESK_KEY_PREFIX": PREFIX})
    OUT = r.stdout
    for name, prog in (("nginx.pid", "nginx"), ("redis.pid", "redis-server"),
                       ("multiwatch.pid", "multiwatch")):
        pid = read_pid(name)
        if pid is not None:
            SEEN.add((pid, prog))
    if r.returncode != 0:
        raise harness.HarnessError("run.sh exited %d:\n%s" % (r.returncode,
                                                              r.stdout))
    m = re.search(r"admin token \(also in [^)]*\):\s*\n\s*(\S+)", OUT)
    if not m:
        raise harness.HarnessError("run.sh printed no admin token:\n" + OUT)
    TOKEN = m.group(1)
    harness.wait_until(lambda: len(children()) == POOL, 15,
                       what="%d chatdesk processes under multiwatch" % POOL)


def tearDownModule():
    if STATE is None:
        return
    r = run_sh("stop", timeout=60)
    if r.returncode != 0:
        sys.stdout.write("# run.sh stop exited %d: %s\n" % (
            r.returncode, r.stdout.replace("\n", "\n# ")))
    # Anything run.sh stop missed: by PID, only if it still runs the
    # program this test saw under that PID.
    for pid, prog in SEEN:
        if runs(pid, prog):
            sys.stdout.write("# %s pid %d survived run.sh stop: SIGKILL\n"
                             % (prog, pid))
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    if harness.TEST_FAILED or os.environ.get("CHATDESK_IT_VERBOSE") == "1":
        for name in ("pool.log", "chatdesk.log", "nginx-error.log"):
            try:
                with open(os.path.join(STATE, name)) as f:
                    tail = f.read()[-3000:]
            except OSError:
                continue
            sys.stdout.write("# --- %s\n# %s\n" % (
                name, tail.replace("\n", "\n# ")))
    if os.environ.get("CHATDESK_KEEP_TMP") != "1":
        shutil.rmtree(TMP, ignore_errors=True)


class PoolHealsTest(unittest.TestCase):

    def test_1_status_creates_nothing(self):
        """run.sh status on a missing state directory creates nothing; on
        the live one it names multiwatch and its chatdesk children and
        adds, removes or changes no file."""
        missing = os.path.join(TMP, "missing")
        r = run_sh("status", env={"STATE": missing})
        self.assertEqual(r.returncode, 0, r.stdout)
        self.assertFalse(os.path.exists(missing), r.stdout)

        before = sorted(os.listdir(STATE))
        r = run_sh("status")
        self.assertEqual(r.returncode, 0, r.stdout)
        self.assertEqual(sorted(os.listdir(STATE)), before)
        self.assertIn("multiwatch: running, pid %d" % multiwatch_pid(),
                      r.stdout)
        for pid in children():
            self.assertIn(str(pid), r.stdout)

    def test_2_printed_worker_sees_the_overrides(self):
        """CHATDESK_KEY_PREFIX given to run.sh is in the generated config:
        a task queued with that config alone lands under the prefix, and
        the worker command run.sh printed takes it."""
        with open(os.path.join(STATE, "chatdesk.conf")) as f:
            conf = f.read()
        self.assertRegex(conf, r"(?m)^key_prefix = %s$" % re.escape(PREFIX))
        conf_env = harness.clean_env({
            "CHATDESK_CONFIG": os.path.join(STATE, "chatdesk.conf")})
        r = subprocess.run(
            [harness.binary("chatdeskctl"), "enqueue",
             "close_inactive_tickets", '{"inactive_days":7}'],
            env=conf_env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, timeout=30, universal_newlines=True)
        self.assertEqual(r.returncode, 0, r.stdout)
        sock = os.path.join(STATE, "redis.sock")
        self.assertEqual(harness.redis_command(
            sock, "LLEN", PREFIX + "tasks:pending"), 1)

        m = re.search(r"(?m)^\s*worker:\s+(.+)$", OUT)
        self.assertIsNotNone(m, OUT)
        words = shlex.split(m.group(1))
        env = harness.clean_env()
        while words and re.match(r"^[A-Z_][A-Z0-9_]*=", words[0]):
            k, v = words.pop(0).split("=", 1)
            env[k] = v
        r = subprocess.run(words, env=env, stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=60, universal_newlines=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stdout, r"\btaken=1\b")
        self.assertEqual(harness.redis_command(
            sock, "LLEN", PREFIX + "tasks:pending"), 0)

    def test_3_killed_process_is_replaced_under_load(self):
        """SIGKILL to one pool process while 4 clients send requests: a new
        process takes its place, the pool is back to its size, at most the
        requests in flight failed (as nginx's JSON 503), and every request
        after the replacement answers 200."""
        before = children()
        self.assertEqual(len(before), POOL)
        results = []
        lock = threading.Lock()
        stop = threading.Event()

        def client(i):
            path = "/api/v1/users/me" if i % 2 else "/api/v1/health"
            while not stop.is_set():
                st, body = get(path, TOKEN)
                with lock:
                    results.append((st, body))

        threads = [threading.Thread(target=client, args=(i,), daemon=True)
                   for i in range(4)]
        for t in threads:
            t.start()
        try:
            harness.wait_until(lambda: len(results) >= 50, 30,
                               what="load before the kill")
            victim = before[0]
            os.kill(victim, signal.SIGKILL)
            now = harness.wait_until(
                lambda: (lambda c: c if len(c) == POOL and victim not in c
                         else None)(children()),
                15, what="the killed process to be replaced")
            self.assertNotIn(victim, now)
            n = len(results)
            harness.wait_until(lambda: len(results) >= n + 100, 30,
                               what="load after the replacement")
        finally:
            stop.set()
            for t in threads:
                t.join(15)
        bad = [(st, body) for st, body in results if st != 200]
        # Only the connection the killed process held can fail.
        self.assertLessEqual(len(bad), len(threads), bad[:10])
        for st, body in bad:
            self.assertEqual(st, 503, bad[:10])
            self.assertEqual(body["error"]["code"], "unavailable")
        for _ in range(40):
            st, _body = get("/api/v1/users/me", TOKEN)
            self.assertEqual(st, 200)
        self.assertRegex(pool_log(), r"Child\[\d+\] died, respawn|"
                                     r"Spawning child\[\d+\] failed")

    def test_4_crash_loop_backs_off(self):
        """The newest process killed right after each start: multiwatch
        gives that slot up after a bounded number of starts (--retry=3
        failed starts in a row; a process that lived 10 s resets the
        count, hence at most retry + 2 kills here), the other process
        keeps answering, and no new process appears afterwards."""
        gave_up = "died to often, not forking again"
        c = children()
        self.assertEqual(len(c), POOL)
        # The replacement of test_3 (the newest, unless PIDs wrapped): its
        # slot is the one hit again and again.
        target = max(c)
        survivor = [p for p in c if p != target]
        kills = 0
        while kills < 8:
            os.kill(target, signal.SIGKILL)
            kills += 1

            def next_target():
                if gave_up in pool_log():
                    return "gave up"
                new = [p for p in children()
                       if p not in survivor and p != target]
                return new or None
            got = harness.wait_until(next_target, 15, what="a new process "
                                     "or multiwatch giving up")
            if got == "gave up":
                break
            target = got[0]
        self.assertIn(gave_up, pool_log())
        self.assertLessEqual(kills, 5)
        self.assertIsNotNone(multiwatch_pid(), "multiwatch exited")
        left = children()
        self.assertEqual(left, survivor)
        for _ in range(20):
            st, _body = get("/api/v1/users/me", TOKEN)
            self.assertEqual(st, 200)
        # Nothing respawns the given-up slot: the same single process, seen
        # again after those requests.
        self.assertEqual(children(), left)
        self.assertEqual(pool_log().count(gave_up), 1)

    def test_5_stop_stops_everything(self):
        """run.sh stop ends nginx, multiwatch, every chatdesk process and
        redis-server, and removes their pid files."""
        running = children()
        self.assertTrue(running)
        r = run_sh("stop", timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout)
        for pid, prog in SEEN:
            self.assertFalse(runs(pid, prog), "%s pid %d still runs"
                             % (prog, pid))
        for name in ("nginx.pid", "multiwatch.pid", "redis.pid"):
            self.assertFalse(os.path.exists(os.path.join(STATE, name)), name)


if __name__ == "__main__":
    tap.main()
