#!/usr/bin/env python3
"""web/js/live.js in a real browser against a stand-in for the events
server of API.md section 8: this file's small HTTP server serves web/
and the few routes a room view reads, and speaks section 8's events:
POST /api/v1/events/tickets (single-use tickets) and an EventSource
stream on GET /api/v1/events that replays what came after
last_event_id, as Nchan does.

Only what the real events server cannot be made to do is here (the real
one is in test_realtime.py: live chat, typing, presence, cuts and
exactly-once catch-up, older pages): events published out of id order,
a last_event_id refused with 400, and a server without events (404 on
the ticket route), which is polled instead."""

import http.server
import json
import os
import re
import socketserver
import sys
import threading
import time
import unittest
import urllib.parse

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "integration"))
sys.path.insert(0, HERE)

import harness  # noqa: E402
import tap  # noqa: E402
import browser as br  # noqa: E402

WEB = os.path.join(harness.srcdir(), "web")
TOKEN = "T" * 43
ME = {"id": 1, "name": "Casey", "email": "casey@example.com",
      "role": "customer", "created_at": "2026-12-01T09:00:00.000Z",
      "updated_at": "2026-12-01T09:00:00.000Z"}
OTHER = {"id": 2, "name": "Alex", "role": "agent"}
ROOM = {"id": 7, "name": "Support", "created_at": "2026-12-01T09:00:00.000Z",
        "member_ids": [1, 2]}
TYPES = {".html": "text/html", ".js": "text/javascript", ".css": "text/css",
         ".svg": "image/svg+xml"}


class Fake:
    """The server's state, shared by the handler threads."""

    def __init__(self, events=True):
        self.events = events
        self.lock = threading.Condition()
        self.messages = []        # message objects, id order
        self.log = []             # (event id, event) published
        self.tickets = set()
        self.refuse_tickets = False
        self.refuse_resume = False  # 400 for any last_event_id
        self.cut_gen = 0          # bumped to cut every stream
        self.requests = []        # (method, path with query)
        self.typed = 0

    def publish(self, ev):
        with self.lock:
            self.log.append((len(self.log) + 1, ev))
            self.lock.notify_all()

    def post(self, body, user=2, publish=True):
        with self.lock:
            mid = len(self.messages) + 1
            m = {"id": mid, "room_id": ROOM["id"], "user_id": user,
                 "body": body, "created_at": time.strftime(
                     "%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())}
            self.messages.append(m)
            if publish:
                self.publish(self.created(m))
            return m

    @staticmethod
    def created(m):
        return {"type": "message.created", "room_id": ROOM["id"],
                "message": m}

    def cut(self):
        with self.lock:
            self.cut_gen += 1
            self.lock.notify_all()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"
    fake = None

    def log_message(self, *a):
        pass

    def send_json(self, status, obj, extra=None):
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def not_found(self):
        self.send_json(404, {"error": {"code": "not_found",
                                       "message": "not found"}})

    def do_GET(self):
        self.route("GET")

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        self.body = json.loads(self.rfile.read(n) or b"{}")
        self.route("POST")

    def route(self, method):
        f = self.fake
        u = urllib.parse.urlsplit(self.path)
        q = dict(urllib.parse.parse_qsl(u.query))
        with f.lock:
            f.requests.append((method, self.path))
        p = u.path
        if not p.startswith("/api/"):
            return self.static(p)
        if p == "/api/v1/events":
            return self.stream(q)
        if self.headers.get("Authorization") != "Bearer " + TOKEN:
            return self.send_json(401, {"error": {"code": "unauthorized",
                                                  "message": "no"}})
        if method == "GET" and p == "/api/v1/users/me":
            return self.send_json(200, ME)
        if method == "GET" and p == "/api/v1/users/2":
            return self.send_json(200, OTHER)
        if method == "GET" and p == "/api/v1/notifications":
            return self.send_json(200, {"notifications": [],
                                        "next_before": None})
        if method == "GET" and p == "/api/v1/rooms/7":
            return self.send_json(200, ROOM)
        if method == "GET" and p == "/api/v1/rooms/7/messages":
            return self.messages(q)
        if method == "GET" and p == "/api/v1/rooms/7/presence" and f.events:
            return self.send_json(200, {"online": [2]})
        if method == "POST" and p == "/api/v1/rooms/7/typing" and f.events:
            with f.lock:
                f.typed += 1
            self.send_response(204)
            self.end_headers()
            return
        if method == "POST" and p == "/api/v1/rooms/7/messages":
            return self.send_json(201, f.post(self.body["body"], user=1))
        if method == "POST" and p == "/api/v1/events/tickets" and f.events:
            with f.lock:
                if f.refuse_tickets:
                    return self.send_json(503, {"error": {
                        "code": "unavailable", "message": "down"}})
                t = "ticket%d" % (len(f.tickets) + 1)
                f.tickets.add(t)
            return self.send_json(201, {"ticket": t, "expires_in": 60})
        return self.not_found()

    def messages(self, q):
        f = self.fake
        limit = int(q.get("limit", 50))
        with f.lock:
            ms = list(f.messages)
        if "after" in q:
            after = int(q["after"])
            page = [m for m in ms if m["id"] > after][:limit]
            full = len(page) == limit
            return self.send_json(200, {"messages": page, "next_after":
                                        page[-1]["id"] if full else None})
        before = int(q.get("before", 1 << 62))
        page = [m for m in reversed(ms) if m["id"] < before][:limit]
        return self.send_json(200, {"messages": page, "next_before":
                                    page[-1]["id"] if len(page) == limit
                                    else None})

    def stream(self, q):
        f = self.fake
        with f.lock:
            ok = q.get("ticket") in f.tickets
            f.tickets.discard(q.get("ticket"))   # single use
        if not ok or q.get("rooms") != "7":
            return self.not_found()
        if f.refuse_resume and q.get("last_event_id"):
            return self.send_json(400, {"error": {"code": "invalid_field",
                                                  "message": "bad id"}})
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        with f.lock:
            gen = f.cut_gen
            # Nchan: resume after last_event_id, else only what is new.
            sent = int(q.get("last_event_id") or len(f.log))
        try:
            self.wfile.write(b": hello\n\n")
            self.wfile.flush()
            while True:
                with f.lock:
                    while f.cut_gen == gen and len(f.log) <= sent:
                        f.lock.wait(0.5)
                    if f.cut_gen != gen:
                        return
                    batch = f.log[sent:]
                for eid, ev in batch:
                    self.wfile.write(("id: %d\ndata: %s\n\n" % (
                        eid, json.dumps(ev))).encode())
                    sent = eid
                self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            return

    def static(self, p):
        if p == "/":
            p = "/index.html"
        path = os.path.realpath(os.path.join(WEB, p.lstrip("/")))
        if not path.startswith(WEB + os.sep) or not os.path.isfile(path):
            return self.not_found()
        data = open(path, "rb").read()
        self.send_response(200)
        self.send_header("Content-Type", TYPES.get(os.path.splitext(path)[1],
                                                   "application/octet-stream"))
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Content-Security-Policy", "default-src 'self'")
        self.end_headers()
        self.wfile.write(data)


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def serve(fake):
    handler = type("H", (Handler,), {"fake": fake})
    srv = Server(("127.0.0.1", 0), handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


class LiveCase(unittest.TestCase):
    events = True
    initial = 3

    def setUp(self):
        why = br.available()
        if why:
            self.skipTest(why)
        self.fake = Fake(events=self.events)
        for i in range(self.initial):
            self.fake.post("before %d" % i)
        self.srv = serve(self.fake)
        self.b = br.Browser("http://127.0.0.1:%d" % self.srv.server_port,
                            name="live")
        self.b.open("/")
        self.b.js("sessionStorage.setItem('chatdesk.session', arguments[0])",
                  json.dumps({"token": TOKEN, "user": ME}))
        self.b.open("/#/rooms/7")
        self.b.driver.refresh()     # a hash change alone does not boot
        self.b.wait_text(".messages", "before %d" % (self.initial - 1))

    def tearDown(self):
        try:
            self.b.quit()
        finally:
            self.fake.cut()
            self.srv.shutdown()
            self.srv.server_close()

    def bodies(self):
        return [e.text for e in self.b.finds(".messages .body")]

    def state(self):
        return self.b.find("#live-state").get_attribute("data-state")


class EventsTest(LiveCase):
    def test_out_of_order_events_show_in_id_order(self):
        b = self.b
        b.wait(lambda x: self.state() == "live", what="live state")
        # Two pool processes publish after commit; the later id first.
        m1 = self.fake.post("first", publish=False)
        m2 = self.fake.post("second", publish=False)
        self.fake.publish(Fake.created(m2))
        b.wait_text(".messages .body", "second")
        self.fake.publish(Fake.created(m1))
        b.wait_text(".messages .body", "first")
        self.assertEqual(self.bodies()[-2:], ["first", "second"])

    def test_refused_resume_goes_on_without_it(self):
        # A server that refuses the last_event_id (Nchan answers 400 for
        # an id of another set of channels): the next try goes without
        # it, and the catch-up with after= fills the gap.
        b = self.b
        b.wait(lambda x: self.state() == "live", what="live state")
        self.fake.post("live 1")
        b.wait_text(".messages .body", "live 1", timeout=10)
        with self.fake.lock:
            self.fake.refuse_resume = True
        self.fake.cut()
        self.fake.post("missed 1", publish=False)
        b.wait_text(".messages .body", "missed 1", timeout=20)
        b.wait(lambda x: self.state() == "live", timeout=20, what="live again")
        self.fake.post("after 1")
        b.wait_text(".messages .body", "after 1", timeout=10)
        time.sleep(1)
        self.assertEqual(self.bodies(), ["before 0", "before 1", "before 2",
                                         "live 1", "missed 1", "after 1"])
        streams = [p for _, p in self.fake.requests
                   if p.startswith("/api/v1/events?")]
        self.assertTrue(any("last_event_id=" in p for p in streams), streams)
        self.assertNotIn("last_event_id=", streams[-1])


class PollingTest(LiveCase):
    events = False

    def test_polls_without_events(self):
        b = self.b
        b.wait(lambda x: self.state() == "polling", what="polling state")
        self.fake.post("polled 1")
        self.fake.post("polled 2")
        b.wait_text(".messages .body", "polled 2", timeout=15)
        time.sleep(4)   # another poll or two
        got = self.bodies()
        self.assertEqual(got, ["before 0", "before 1", "before 2",
                               "polled 1", "polled 2"])


if __name__ == "__main__":
    tap.main()
