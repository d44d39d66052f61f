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

"""Signals (API.md section 7): SIGTERM lets the request in flight finish,
then the process exits; an idle process exits on SIGTERM too (it must not
wait for another request); a client that goes away mid-response does not
kill the process. SIGQUIT stops as SIGTERM does; SIGUSR1 reopens
log_file; SIGHUP re-reads the configuration file, applies the keys that
may change (max_body_bytes here) and logs those that cannot
(room_cache_size); a bad file on SIGHUP changes nothing; SIGUSR2 is
ignored with a log line; none of them kills a process. The worker ends a
run cleanly on SIGTERM after the task in flight."""

import json
import os
import re
import shutil
import signal
import tempfile
import socket
import sys
import threading
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
import tap  # noqa: E402

STACK = None
TOKEN = None


def setUpModule():
    global STACK, TOKEN
    # A cache fill sleeps 1.5 s between its SQLite read and its Redis
    # store: a request that is surely in flight when SIGTERM arrives.
    STACK = harness.Stack(name="test_signals", pool_size=2,
                          env={"CHATDESK_DEBUG_FILL_DELAY_MS": "1500"}).start()
    TOKEN = STACK.add_user("Sig", "sig@example.com", "admin")


def tearDownModule():
    if STACK is not None:
        STACK.stop()
    if RELOAD is not None:
        RELOAD.stop()
    if CONF_DIR and os.environ.get("CHATDESK_KEEP_TMP") != "1":
        shutil.rmtree(CONF_DIR, ignore_errors=True)


RELOAD = None      # a stack configured by a file, logging to log_file
RELOAD_TOKEN = None
CONF_DIR = None


def write_conf(text):
    tmp = os.path.join(CONF_DIR, "chatdesk.conf.tmp")
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, os.path.join(CONF_DIR, "chatdesk.conf"))


def conf_text(**keys):
    base = {"log_file": os.path.join(CONF_DIR, "app-file.log"),
            "log_level": "info", "max_body_bytes": "65536",
            "room_cache_size": "50"}
    base.update(keys)
    return "".join("%s = %s\n" % kv for kv in sorted(base.items()))


def reload_stack():
    """The second stack, started on first use."""
    global RELOAD, RELOAD_TOKEN, CONF_DIR
    if RELOAD is None:
        CONF_DIR = tempfile.mkdtemp(prefix="chatdesk-it-conf-")
        write_conf(conf_text())
        RELOAD = harness.Stack(name="test_signals_reload", pool_size=2, env={
            "CHATDESK_CONFIG": os.path.join(CONF_DIR, "chatdesk.conf"),
            "CHATDESK_LOG_LEVEL": None}).start()
        RELOAD_TOKEN = RELOAD.add_user("Re", "re@example.com", "admin")
    return RELOAD


def file_log(name="app-file.log"):
    try:
        with open(os.path.join(CONF_DIR, name), errors="replace") as f:
            return f.read()
    except FileNotFoundError:
        return ""


def until_every_process(stack, text_fn, needle, count):
    """Sends requests until the text holds needle count times: a process
    acts on SIGHUP/SIGUSR1 before its next request, and nginx picks which
    process gets a request."""
    def seen():
        stack.http("GET", "/api/v1/health")
        return text_fn().count(needle) >= count
    harness.wait_until(seen, 20, interval=0.05,
                       what="%d x %r in the log" % (count, needle))


def auth():
    return {"Authorization": "Bearer " + TOKEN}


class SignalTest(harness.ApiTestCase):

    def test_1_client_gone_mid_response(self):
        """A client that sends a request and closes at once leaves every
        pool process alive and answering."""
        before = sorted(STACK.pool_pids())
        port = STACK.port
        for _ in range(20):
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            s.sendall(b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\n"
                      b"Connection: close\r\n\r\n")
            s.close()
        # Every process still serves (two consecutive rounds of requests).
        for _ in range(6):
            r = STACK.http("GET", "/api/v1/health")
            self.assertEqual(r.status, 200)
        self.assertEqual(sorted(STACK.pool_pids()), before)

    def test_2_sigterm_finishes_request_in_flight(self):
        """SIGTERM to every pool process while one of them fills a cache
        entry: that request still gets its 200, then all processes exit."""
        STACK.redis("DEL", "user:1", "lease:user:1")
        # Sessions are cached too: make the session fill instant by using
        # the token once (this also fills user:1; delete it again).
        self.assertEqual(STACK.http("GET", "/api/v1/users/me",
                                    headers=auth()).status, 200)
        STACK.redis("DEL", "user:1", "lease:user:1")
        result = {}

        def slow_get():
            result["r"] = STACK.http("GET", "/api/v1/users/1",
                                     headers=auth(), timeout=30)

        t = threading.Thread(target=slow_get)
        t.start()
        # Wait until the request is inside the fill (its lease exists).
        harness.wait_until(lambda: STACK.redis("EXISTS", "lease:user:1") == 1,
                           10, what="the fill to take its lease")
        pids = STACK.pool_pids()
        self.assertEqual(len(pids), 2)
        for p in pids:
            os.kill(p, signal.SIGTERM)
        t.join(30)
        self.assertFalse(t.is_alive())
        r = result.get("r")
        self.assertIsNotNone(r)
        self.assertEqual(r.status, 200, r.text if r else None)
        self.assertEqual(r.json["id"], 1)
        # Both processes exit: the busy one after its answer, the idle one
        # without waiting for another request.
        harness.wait_until(lambda: not STACK.pool_pids(), 15,
                           what="the pool processes to exit on SIGTERM")
        log = STACK.app_log()
        for p in pids:
            self.assertIn("stopping (pid %d)" % p, log)


class ReloadTest(harness.ApiTestCase):
    """Each test leaves both processes of the reload stack alive."""

    def setUp(self):
        self.stack = reload_stack()
        self.pids = sorted(self.stack.pool_pids())
        self.assertEqual(len(self.pids), 2)

    def tearDown(self):
        self.assertEqual(sorted(self.stack.pool_pids()), self.pids,
                         "a signal killed a pool process")

    def signal_all(self, sig):
        for p in self.pids:
            os.kill(p, sig)

    def big_user(self):
        """A user create with a body of about 2 kB."""
        return self.stack.http("POST", "/api/v1/users", headers={
            "Authorization": "Bearer " + RELOAD_TOKEN},
            body={"name": "x" * 2000, "email": "big@example.com",
                  "role": "customer"})

    def test_1_log_file_and_sigusr1_reopen(self):
        """Lines go to log_file; after logrotate's move and SIGUSR1 every
        process writes to a new file of that name."""
        self.assertIn('msg="ready', file_log())
        path = os.path.join(CONF_DIR, "app-file.log")
        os.rename(path, path + ".1")
        self.signal_all(signal.SIGUSR1)
        until_every_process(self.stack, file_log, "reopened log file", 2)
        self.assertTrue(os.path.exists(path))
        self.assertIn('msg=request', file_log())

    def test_2_sighup_applies_live_keys(self):
        """max_body_bytes is applied on SIGHUP; room_cache_size is logged
        as needing a restart; both processes say so."""
        r = self.big_user()
        self.assertNotEqual(r.status, 413, r.text)
        write_conf(conf_text(max_body_bytes="1024", room_cache_size="20"))
        self.signal_all(signal.SIGHUP)
        until_every_process(self.stack, file_log,
                            "reloaded configuration", 2)
        log = file_log()
        self.assertEqual(log.count("reload: max_body_bytes applied"), 2, log)
        self.assertEqual(len(re.findall(r"reload: room_cache_size changed[^\n]*"
                                        r"restart to apply", log)), 2, log)
        for _ in range(4):
            r = self.big_user()
            self.assertError(r, 413, "payload_too_large")
        write_conf(conf_text())
        self.signal_all(signal.SIGHUP)
        until_every_process(self.stack, file_log,
                            "reloaded configuration", 4)

    def test_3_sighup_bad_file_keeps_running_config(self):
        """A file with an error: the reload is refused, logged, and the
        running configuration stays."""
        write_conf(conf_text(max_body_bytes="1024") + "bogus_key = 1\n")
        self.signal_all(signal.SIGHUP)
        until_every_process(self.stack, file_log, "reload failed", 2)
        self.assertIn("bogus_key: unknown key", file_log())
        r = self.big_user()
        self.assertNotEqual(r.status, 413, r.text)
        write_conf(conf_text())

    def test_4_sigusr2_ignored_with_a_line(self):
        self.signal_all(signal.SIGUSR2)
        until_every_process(self.stack, file_log, "SIGUSR2 ignored", 2)

    def test_4b_sighup_new_log_file(self):
        """A reload that names another log_file: every process opens it;
        set back, they return to the first."""
        other = os.path.join(CONF_DIR, "other.log")
        write_conf(conf_text(log_file=other))
        self.signal_all(signal.SIGHUP)
        until_every_process(self.stack, lambda: file_log("other.log"),
                            "reopened log file", 2)
        self.assertIn("msg=request", file_log("other.log"))
        write_conf(conf_text())
        self.signal_all(signal.SIGHUP)
        until_every_process(self.stack, file_log,
                            "reopened log file " +
                            os.path.join(CONF_DIR, "app-file.log"), 4)

    def test_5_sigquit_stops_gracefully(self):
        """SIGQUIT: both processes exit (the idle one without waiting for
        a request), each with its stopping line; the pool is restarted
        for any later test."""
        self.signal_all(signal.SIGQUIT)
        harness.wait_until(lambda: not self.stack.pool_pids(), 15,
                           what="the pool processes to exit on SIGQUIT")
        log = file_log()
        for p in self.pids:
            self.assertIn("stopping (pid %d)" % p, log)
        self.stack.stop_pool()
        self.stack.start_pool()
        self.stack.wait_ready()
        self.pids = sorted(self.stack.pool_pids())


class WorkerSignalTest(harness.ApiTestCase):

    N = 50000

    def test_sigterm_ends_the_run_after_the_task(self):
        """A worker draining many tasks gets SIGTERM: it ends the run
        after the task in flight, prints its summary, exits 0, releases
        worker:lock, and every task not taken is still pending."""
        stack = reload_stack()
        for k in ("tasks:pending", "tasks:processing", "tasks:failed"):
            stack.redis("DEL", k)
        for start in range(0, self.N, 5000):
            stack.redis("LPUSH", "tasks:pending", *[json.dumps({
                "type": "close_inactive_tickets", "id": "sig-%d" % i,
                "payload": {"inactive_days": 7}, "attempts": 0},
                separators=(",", ":")) for i in range(start, start + 5000)])
        p = harness.subprocess.Popen(
            [harness.binary("chatdesk-worker")], cwd=stack.tmp,
            env=stack.env(), stdin=harness.subprocess.DEVNULL,
            stdout=harness.subprocess.PIPE, stderr=harness.subprocess.PIPE,
            text=True)
        try:
            # Signal handlers are in place before the lock is taken.
            harness.wait_until(
                lambda: stack.redis("EXISTS", "worker:lock") == 1 or
                p.poll() is not None, 20, what="the worker's lock")
            p.send_signal(signal.SIGTERM)
            out, err = p.communicate(timeout=60)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
        self.assertEqual(p.returncode, 0, err)
        m = re.search(r"taken=(\d+) done=(\d+) retried=0 dead=0", out)
        self.assertIsNotNone(m, out + err)
        taken = int(m.group(1))
        self.assertEqual(int(m.group(2)), taken)
        self.assertLess(taken, self.N, "the run did not end early")
        self.assertEqual(stack.redis("EXISTS", "worker:lock"), 0)
        self.assertEqual(stack.redis("LLEN", "tasks:processing"), 0)
        self.assertEqual(stack.redis("LLEN", "tasks:pending"),
                         self.N - taken)
        stack.redis("DEL", "tasks:pending")


if __name__ == "__main__":
    tap.main()
