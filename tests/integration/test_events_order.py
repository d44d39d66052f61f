#!/usr/bin/env python3
"""The pool's publishes (API.md section 8, docs/DESIGN.md "Publishing
events"): each is sent before the post's answer leaves, Nchan's reply is
read afterwards. Against real nginx + Nchan, Redis and a pool of 4: posts
in a burst from several clients at once, each client posting after its
last answer, all reach a subscriber, none twice, each client's in the
order it made them; the same with Nchan slow to answer (a proxy in front
of the publisher socket that holds each reply back), over one kept
connection per process; and a post answers while Nchan's reply to its
publish is still held, the publish counted as done once the reply comes,
never as failed."""

import os
import socket
import sys
import threading

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
import helpers  # noqa: E402
import tap  # noqa: E402
from events_client import EventSource  # noqa: E402

STACK = None
POOL = 4
AGENT = None


def setUpModule():
    global STACK, AGENT
    STACK = harness.Stack(name="test_events_order", pool_size=POOL,
                          rate="100000r/s",
                          env={"CHATDESK_RATE_LIMIT_COUNT": "100000"})
    STACK.start()
    AGENT = helpers.User(*helpers.add_user(STACK, "agent",
                                           "agent@example.test", "agent"),
                         "agent", "agent")


def tearDownModule():
    if STACK is not None:
        STACK.stop()


class SlowPublisher:
    """A unix-socket proxy in front of nginx's publisher socket: requests
    go through at once (Nchan stores and delivers the event), each reply
    chunk is held for delay seconds, or, with hold, until release()."""

    def __init__(self, path, upstream, delay=0.0, hold=False):
        self.path, self.upstream, self.delay = path, upstream, delay
        self.gate = threading.Event()
        if not hold:
            self.gate.set()
        self.conns = 0
        self.requests = 0
        self.replies = 0
        self.socks = []
        self.lock = threading.Lock()
        self.srv = socket.socket(socket.AF_UNIX)
        self.srv.bind(path)
        self.srv.listen(64)
        threading.Thread(target=self._accept, daemon=True).start()

    def release(self):
        self.gate.set()

    def close(self):
        self.srv.close()
        for s in self.socks:
            try:
                s.close()
            except OSError:
                pass
        os.unlink(self.path)

    def _accept(self):
        while True:
            try:
                c = self.srv.accept()[0]
            except OSError:
                return
            u = socket.socket(socket.AF_UNIX)
            u.connect(self.upstream)
            with self.lock:
                self.conns += 1
                self.socks += [c, u]
            threading.Thread(target=self._pump, args=(c, u, False),
                             daemon=True).start()
            threading.Thread(target=self._pump, args=(u, c, True),
                             daemon=True).start()

    def _pump(self, src, dst, reply):
        while True:
            try:
                data = src.recv(65536)
            except OSError:
                data = b""
            if not data:
                for s in (src, dst):
                    try:
                        s.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
                return
            if reply:
                self.gate.wait()
                if self.delay:
                    threading.Event().wait(self.delay)
            with self.lock:
                if reply:
                    self.replies += 1
                else:
                    self.requests += 1
            try:
                dst.sendall(data)
            except OSError:
                return


class OrderTest(harness.ApiTestCase):

    def metric(self, name):
        for line in STACK.http("GET", "/metrics").text.splitlines():
            if line.startswith(name + " "):
                return int(float(line.split()[1]))
        self.fail("no %s in /metrics" % name)

    def room(self):
        r = helpers.request(STACK, "POST", "/api/v1/rooms", AGENT.token,
                            {"name": "order"})
        self.assertEqual(r.status, 201, r)
        return r.json["id"]

    def subscribe(self, room):
        s = EventSource(STACK, "/api/v1/events?rooms=%d" % room,
                        headers=helpers.auth(AGENT.token))
        self.addCleanup(s.close)
        self.assertEqual(s.status, 200, s.body)
        return s

    def post(self, room, body):
        r = helpers.request(STACK, "POST", "/api/v1/rooms/%d/messages" % room,
                            AGENT.token, {"body": body})
        self.assertEqual(r.status, 201, r)
        return r.json

    def burst(self, clients, each):
        """clients threads post each messages to a new room, every one
        after the answer to the one before; the subscriber's events must
        be every message once, each client's in its order."""
        room = self.room()
        sub = self.subscribe(room)
        posted = [[] for _ in range(clients)]
        errors = []

        def client(c):
            try:
                for i in range(each):
                    posted[c].append(self.post(room, "c%d-%d" % (c, i)))
            except Exception as e:  # noqa: BLE001 (reported below)
                errors.append(e)
        threads = [threading.Thread(target=client, args=(c,))
                   for c in range(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(errors, [])
        got = []
        while len(got) < clients * each:
            ev = sub.wait_for(lambda e: e["data"]["type"] ==
                              "message.created", 10)
            if ev is None:
                break
            got.append(ev["data"]["message"])
        ids = [m["id"] for m in got]
        self.assertEqual(len(ids), len(set(ids)), "an event twice: %r" % ids)
        want = sorted(m["id"] for p in posted for m in p)
        self.assertEqual(sorted(ids), want, "events missing")
        for c in range(clients):
            mine = [m for m in got if m["body"].startswith("c%d-" % c)]
            self.assertEqual(mine, posted[c],
                             "client %d's events out of order" % c)
        self.assertEqual([e for e in sub.drain(0.3)
                          if e["data"]["type"] == "message.created"], [],
                         "more events than posts")

    def test_burst_across_processes_in_order(self):
        """6 clients post 20 messages each at once through a pool of 4:
        every event arrives once, each client's in its order"""
        err0 = self.metric("chatdesk_events_publish_errors_total")
        self.burst(6, 20)
        self.assertEqual(self.metric("chatdesk_events_publish_errors_total"),
                         err0)

    def test_burst_with_nchan_slow_to_answer(self):
        """Nchan's replies held 30 ms each: the same burst still arrives
        whole and in order, no publish fails, and each process keeps one
        connection to the publisher"""
        proxy = SlowPublisher(STACK.path("slow-pub.sock"), STACK.events_sock,
                              delay=0.03)
        helpers.restart_pool(STACK, env={
            "CHATDESK_EVENTS_SOCKET": proxy.path})
        try:
            err0 = self.metric("chatdesk_events_publish_errors_total")
            self.burst(6, 15)
            harness.wait_until(lambda: proxy.replies >= proxy.requests, 10,
                               what="every reply through the proxy")
            self.assertGreaterEqual(proxy.requests, 1,
                                    "the publishes went through the proxy")
            self.assertEqual(self.metric(
                "chatdesk_events_publish_errors_total"), err0)
            self.assertLessEqual(proxy.conns, POOL,
                                 "a new connection per publish")
        finally:
            helpers.restart_pool(STACK)
            proxy.close()

    def test_answer_does_not_wait_for_nchan(self):
        """with Nchan's reply held back, the post answers and its event
        is delivered; once the reply comes the publish counts as done,
        not as failed (events_timeout_ms is far longer than the test)"""
        # Subscribed first: the subscription publishes a presence event,
        # whose held reply would hold up the next publish of its process.
        room = self.room()
        sub = self.subscribe(room)
        sub.wait_for(lambda e: e["data"]["type"] == "presence", 10)
        proxy = SlowPublisher(STACK.path("held-pub.sock"), STACK.events_sock,
                              hold=True)
        helpers.restart_pool(STACK, env={
            "CHATDESK_EVENTS_SOCKET": proxy.path,
            "CHATDESK_EVENTS_TIMEOUT_MS": "60000"})
        try:
            pub0 = self.metric("chatdesk_events_published_total")
            err0 = self.metric("chatdesk_events_publish_errors_total")
            msg = self.post(room, "answered before Nchan's reply")
            ev = sub.wait_for(lambda e: e["data"]["type"] ==
                              "message.created", 10)
            self.assertIsNotNone(ev, sub.seen)
            self.assertEqual(ev["data"]["message"], msg)
            self.assertGreaterEqual(proxy.requests, 1,
                                    "the publish went through the proxy")
            self.assertEqual(proxy.replies, 0, "the reply was held")
            self.assertEqual(self.metric("chatdesk_events_published_total"),
                             pub0, "not counted before its reply")
            proxy.release()
            harness.wait_until(lambda: self.metric(
                "chatdesk_events_published_total") > pub0, 10,
                what="the publish counted once its reply came")
            self.assertEqual(self.metric(
                "chatdesk_events_publish_errors_total"), err0)
        finally:
            proxy.release()
            helpers.restart_pool(STACK)
            proxy.close()

    def test_z_pool_alive(self):
        """no pool process died"""
        self.assertEqual(len(STACK.pool_pids()), STACK.pool_size)


if __name__ == "__main__":
    tap.main()
