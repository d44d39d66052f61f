#!/usr/bin/env python3
"""Two nginx hosts share live events through Redis (API.md section 8):
both nginx instances store Nchan's channels in one Redis (nchan_redis_url,
a redis-server on a loopback port that this test starts and stops by
PID); the pool publishes to host A's publisher only, yet a subscriber on
host B gets every event, whichever host the post came through."""

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
import helpers  # noqa: E402
import tap  # noqa: E402
from events_client import EventSource  # noqa: E402

STACK = None
NCHAN_REDIS = None      # the redis-server process Nchan shares
NCHAN_TMP = None
HOST_B = None           # the second nginx process
PORT_B = None
U = {}


def start_nchan_redis():
    """redis-server on a free loopback port, in a temp dir of its own."""
    global NCHAN_REDIS, NCHAN_TMP
    NCHAN_TMP = tempfile.mkdtemp(prefix="chatdesk-it-nchan-", dir="/tmp")
    port = harness.free_port()
    log = open(os.path.join(NCHAN_TMP, "redis.log"), "ab")
    try:
        NCHAN_REDIS = subprocess.Popen(
            [harness.REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no", "--dir", NCHAN_TMP],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True)
    finally:
        log.close()
    harness.wait_until(lambda: _tcp_up(port), 10, what="Nchan's redis-server")
    return port


def _tcp_up(port):
    with socket.create_connection(("127.0.0.1", port), 0.5):
        return True


def start_host_b(redis_url):
    """A second nginx for the same pool: its own port and publisher
    socket, the same Nchan Redis."""
    global HOST_B, PORT_B
    PORT_B = harness.free_port()
    conf = STACK.write_nginx_conf(PORT_B, name="nginx-b",
                                  events_sock=STACK.path("events-b.sock"),
                                  nchan_redis=redis_url)
    cmd = [harness.NGINX, "-p", STACK.tmp + "/", "-e",
           STACK.path("nginx-b-error.log"), "-c", conf, "-g", "daemon off;"]
    t = subprocess.run(cmd + ["-t"], capture_output=True, text=True)
    if t.returncode != 0:
        raise harness.HarnessError("nginx -t (host B): %s" % t.stderr)
    HOST_B = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                              stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL,
                              start_new_session=True)
    harness.wait_until(lambda: _tcp_up(PORT_B), 10, what="host B to listen")


def stop(p):
    if p is not None and p.poll() is None:
        p.terminate()
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(5)


def setUpModule():
    global STACK
    try:
        url = "redis://127.0.0.1:%d" % start_nchan_redis()
        # Host A: the stack's own nginx.
        STACK = harness.Stack(name="test_events_multihost", rate="100000r/s",
                              env={"CHATDESK_RATE_LIMIT_COUNT": "100000"},
                              nchan_redis=url).start()
        start_host_b(url)
    except BaseException:
        stop(HOST_B)
        if STACK is not None:
            STACK.stop(check=False)
        stop(NCHAN_REDIS)
        raise
    for name, role in (("agent", "agent"), ("cust", "customer")):
        uid, tok = helpers.add_user(STACK, name, name + "@example.test", role)
        U[name] = helpers.User(uid, tok, name, role)


def tearDownModule():
    stop(HOST_B)
    if STACK is not None:
        STACK.stop()
    stop(NCHAN_REDIS)
    if NCHAN_TMP is not None:
        shutil.rmtree(NCHAN_TMP, ignore_errors=True)


class MultiHostTest(harness.ApiTestCase):

    def http_b(self, method, path, token, body=None):
        port, STACK.port = STACK.port, PORT_B
        try:
            return helpers.request(STACK, method, path, token, body)
        finally:
            STACK.port = port

    def test_post_through_one_reaches_subscriber_on_the_other(self):
        """a post through host A, or through host B, reaches a subscriber
        on host B (the pool publishes to A only)"""
        r = helpers.request(STACK, "POST", "/api/v1/rooms", U["agent"].token,
                            {"name": "two hosts",
                             "member_ids": [U["cust"].id]})
        room = r.json["id"]
        on_b = EventSource(STACK, "/api/v1/events?rooms=%d" % room,
                           headers=helpers.auth(U["cust"].token), port=PORT_B)
        self.addCleanup(on_b.close)
        self.assertEqual(on_b.status, 200, on_b.body)
        on_a = EventSource(STACK, "/api/v1/events?rooms=%d" % room,
                           headers=helpers.auth(U["cust"].token))
        self.addCleanup(on_a.close)
        self.assertEqual(on_a.status, 200, on_a.body)
        time.sleep(0.3)     # Nchan subscribes to Redis' pub/sub
        via_a = helpers.request(STACK, "POST", "/api/v1/rooms/%d/messages" %
                                room, U["agent"].token, {"body": "via A"})
        self.assertEqual(via_a.status, 201, via_a)
        via_b = self.http_b("POST", "/api/v1/rooms/%d/messages" % room,
                            U["agent"].token, {"body": "via B"})
        self.assertEqual(via_b.status, 201, via_b)
        for sub, host in ((on_b, "B"), (on_a, "A")):
            got = [e["data"]["message"] for e in sub.drain(1.5)
                   if e["data"].get("type") == "message.created"]
            self.assertEqual(got, [via_a.json, via_b.json],
                             "subscriber on host %s" % host)
        keys = STACK.redis("KEYS", "*")
        self.assertFalse([k for k in keys if b"channel" in k],
                         "Nchan's keys are in its own Redis, not the app's")


if __name__ == "__main__":
    tap.main()
