#!/usr/bin/env python3
"""Live events through nginx's Nchan module (API.md section 8), against
real nginx + Nchan, Redis and the pool: EventSource and WebSocket
subscribers get message.created with the message object as posted;
customers cannot subscribe to rooms or tickets they cannot see (404, the
body a missing one gets); event tickets are single-use, expire, and stand
in only on /events; Last-Event-ID resumes; a client that was away catches
up with after= exactly once; typing arrives and is never stored; presence
online and offline; tickets the worker closes reach the requester;
revocation ends subscriptions within events_recheck_s; a failed publish
never fails the request. Two nginx hosts sharing Nchan's Redis are in
test_events_multihost.py."""

import hashlib
import os
import socket
import sys
import threading
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
import helpers  # noqa: E402
import tap  # noqa: E402
from events_client import EventSource, WebSocket  # noqa: E402

STACK = None
U = {}
RECHECK = 4     # events_recheck_s (and Nchan's subscriber timeout) here


def add_user(name, role):
    uid, tok = helpers.add_user(STACK, name, "%s@example.test" % name, role)
    U[name] = helpers.User(uid, tok, name, role)
    return U[name]


def call(method, path, who=None, body=None, token=None):
    return helpers.request(STACK, method, path,
                           token or (U[who].token if who else None), body)


def setUpModule():
    global STACK
    STACK = harness.Stack(name="test_events", pool_size=3, rate="100000r/s",
                          env={"CHATDESK_RATE_LIMIT_COUNT": "100000",
                               "CHATDESK_EVENTS_RECHECK_S": str(RECHECK)})
    STACK.start()
    add_user("agent", "agent")
    add_user("admin", "admin")
    add_user("cust1", "customer")
    add_user("cust2", "customer")


def tearDownModule():
    if STACK is not None:
        STACK.stop()


def of_type(t, **fields):
    def pred(ev):
        d = ev["data"]
        return d.get("type") == t and all(d.get(k) == v
                                          for k, v in fields.items())
    return pred


class EventsCase(harness.ApiTestCase):

    def room(self, members=("cust1",)):
        r = call("POST", "/api/v1/rooms", "agent",
                 {"name": "live", "member_ids": [U[m].id for m in members]})
        self.assertEqual(r.status, 201, r)
        return r.json["id"]

    def post(self, room, who, body="hello"):
        r = call("POST", "/api/v1/rooms/%d/messages" % room, who,
                 {"body": body})
        self.assertEqual(r.status, 201, r)
        return r.json

    def ticket_for(self, who):
        r = call("POST", "/api/v1/events/tickets", who)
        self.assertEqual(r.status, 201, r)
        return r.json["ticket"]

    def sse(self, who, query="", **kw):
        s = EventSource(STACK, "/api/v1/events" + query,
                        headers=helpers.auth(U[who].token), **kw)
        self.addCleanup(s.close)
        return s

    def metric(self, name):
        text = STACK.http("GET", "/metrics").text
        for line in text.splitlines():
            if line.startswith(name + " "):
                return int(float(line.split()[1]))
        self.fail("no %s in /metrics" % name)


class DeliveryTest(EventsCase):

    def test_eventsource_gets_message_created(self):
        """an EventSource subscriber gets message.created with the same
        message object the POST answered"""
        room = self.room()
        sub = self.sse("cust1", "?rooms=%d" % room)
        self.assertEqual(sub.status, 200, sub.body)
        self.assertTrue(sub.headers.get("content-type", "").startswith(
            "text/event-stream"), sub.headers)
        msg = self.post(room, "agent", "héllo, live")
        ev = sub.wait_for(of_type("message.created"), 5)
        self.assertIsNotNone(ev, "no message.created; got %r" % sub.seen)
        self.assertEqual(ev["data"], {"type": "message.created",
                                      "room_id": room, "message": msg})
        self.assertTrue(ev.get("id"), "an event id to resume from")

    def test_websocket_with_ticket_gets_message_created(self):
        """a WebSocket subscriber authorized by an event ticket gets the
        same event"""
        room = self.room()
        tk = self.ticket_for("cust1")
        ws = WebSocket(STACK, "/api/v1/events?rooms=%d&ticket=%s" % (room, tk))
        self.addCleanup(ws.close)
        self.assertEqual(ws.status, 101, ws.body)
        msg = self.post(room, "agent", "over a websocket")
        ev = ws.wait_for(of_type("message.created"), 5)
        self.assertIsNotNone(ev, "no message.created; got %r" % ws.seen)
        self.assertEqual(ev["data"]["message"], msg)

    def test_several_rooms_one_connection(self):
        """one subscription carries every room asked for, and nothing of
        the others"""
        r1, r2, r3 = self.room(), self.room(), self.room()
        sub = self.sse("cust1", "?rooms=%d,%d" % (r2, r1))
        self.assertEqual(sub.status, 200, sub.body)
        self.post(r3, "agent", "not for you")
        m1 = self.post(r1, "agent", "one")
        m2 = self.post(r2, "agent", "two")
        got = [e["data"]["message"]["id"] for e in sub.drain(1.0)
               if e["data"].get("type") == "message.created"]
        self.assertEqual(got, [m1["id"], m2["id"]])

    def test_ticket_events(self):
        """ticket.updated and interaction.created reach the ticket's
        subscribers and the requester's own channel"""
        r = call("POST", "/api/v1/tickets", "cust1",
                 {"subject": "live ticket", "body": "first"})
        self.assertEqual(r.status, 201, r)
        tid = r.json["id"]
        staff = self.sse("agent", "?tickets=%d" % tid)
        own = self.sse("cust1")
        self.assertEqual((staff.status, own.status), (200, 200))
        r = call("PATCH", "/api/v1/tickets/%d" % tid, "agent",
                 {"status": "pending", "assignee_id": U["agent"].id})
        self.assertEqual(r.status, 200, r)
        patched = r.json
        for s in (staff, own):
            # (The ticket's creation may be published after the
            # subscription started: publishing follows the answer.)
            ev = s.wait_for(lambda e: e["data"]["type"] == "ticket.updated"
                            and e["data"]["ticket"]["status"] == "pending",
                            5)
            self.assertIsNotNone(ev, s.seen)
            self.assertEqual(ev["data"]["ticket"], patched)
        r = call("POST", "/api/v1/tickets/%d/interactions" % tid, "cust1",
                 {"body": "a comment"})
        self.assertEqual(r.status, 201, r)
        ev = staff.wait_for(of_type("interaction.created", ticket_id=tid), 5)
        self.assertIsNotNone(ev, staff.seen)
        self.assertEqual(ev["data"]["interaction"], r.json)


class StaffChannelTest(EventsCase):
    """The staff channel (an extension of section 8, README "Where the
    code differs from the contract"): every agent's and admin's
    subscription includes it, and every ticket.updated (creation
    included) and interaction.created goes to it, so that an inbox
    learns of a ticket nobody is assigned to; a customer never gets it."""

    def test_staff_hear_every_ticket_customers_do_not(self):
        agent, admin = self.sse("agent"), self.sse("admin")
        other = self.sse("cust2")
        own = self.sse("cust1")
        for s in (agent, admin, other, own):
            self.assertEqual(s.status, 200, s.body)
        r = call("POST", "/api/v1/tickets", "cust1",
                 {"subject": "nobody's yet", "body": "first"})
        self.assertEqual(r.status, 201, r)
        created = r.json
        self.assertIsNone(created["assignee_id"])
        r = call("POST", "/api/v1/tickets/%d/interactions" % created["id"],
                 "cust1", {"body": "more"})
        self.assertEqual(r.status, 201, r)
        comment = r.json
        for s in (agent, admin):
            ev = s.wait_for(lambda e: e["data"].get("type") ==
                            "ticket.updated" and e["data"]["ticket"]["id"] ==
                            created["id"], 5)
            self.assertIsNotNone(ev, "no ticket.updated; got %r" % s.seen)
            ev = s.wait_for(of_type("interaction.created",
                                    ticket_id=created["id"]), 5)
            self.assertIsNotNone(ev, s.seen)
            self.assertEqual(ev["data"]["interaction"], comment)
        # The requester hears of its own ticket (its own channel) ...
        self.assertIsNotNone(own.wait_for(
            of_type("interaction.created", ticket_id=created["id"]), 5),
            own.seen)
        # ... another customer of nothing at all: the staff channel is
        # not in its subscription, and a customer cannot ask for it.
        self.assertEqual([e for e in other.drain(1.0)
                          if e["data"].get("type") in
                          ("ticket.updated", "interaction.created")], [])
        for q in ("?rooms=staff", "?tickets=staff"):
            sub = self.sse("cust2", q)
            self.assertNotEqual(sub.status, 200, (q, sub.body))


class AccessTest(EventsCase):

    def answer(self, who, query):
        r = call("GET", "/api/v1/events" + query, who)
        return r.status, r.body

    def test_customer_cannot_subscribe_to_unseen(self):
        """a room or ticket the customer may not see is 404 for the whole
        request, with the body a missing one gets"""
        mine = self.room(members=("cust1",))
        other = self.room(members=("cust2",))
        r = call("POST", "/api/v1/tickets", "cust2",
                 {"subject": "theirs", "body": "x"})
        theirs = r.json["id"]
        missing = 10 ** 12
        r = call("GET", "/api/v1/events?rooms=%d" % other, "cust1")
        self.assertError(r, 404, "not_found")
        self.assertEqual(self.answer("cust1", "?rooms=%d" % other),
                         self.answer("cust1", "?rooms=%d" % missing))
        self.assertEqual(self.answer("cust1", "?rooms=%d,%d" % (mine, other)),
                         self.answer("cust1", "?rooms=%d" % missing))
        self.assertEqual(self.answer("cust1", "?tickets=%d" % theirs),
                         self.answer("cust1", "?tickets=%d" % missing))
        r = call("GET", "/api/v1/events?tickets=%d" % theirs, "cust1")
        self.assertError(r, 404, "not_found")
        # Staff see any room that exists, but not one that does not.
        sub = self.sse("agent", "?rooms=%d,%d&tickets=%d" % (mine, other,
                                                            theirs))
        self.assertEqual(sub.status, 200, sub.body)
        sub.close()
        r = call("GET", "/api/v1/events?rooms=%d" % missing, "agent")
        self.assertError(r, 404, "not_found")

    def test_bad_lists_and_no_token(self):
        """ids lists are validated (at most 50); no token is 401"""
        room = self.room()
        for q in ("?rooms=x", "?rooms=1,,2", "?rooms=0", "?tickets=-1",
                  "?rooms=" + ",".join(str(room) for _ in range(51))):
            r = call("GET", "/api/v1/events" + q, "cust1")
            self.assertError(r, 400, "invalid_field")
        r = call("GET", "/api/v1/events?rooms=%d" % room)
        self.assertError(r, 401, "unauthorized")
        self.assertEqual(r.headers.get("WWW-Authenticate"), "Bearer")
        # 50 of the same room is one channel, and fine.
        sub = self.sse("cust1", "?rooms=" + ",".join([str(room)] * 50))
        self.assertEqual(sub.status, 200, sub.body)

    def test_internal_routes_are_hidden(self):
        """the subscriber location and the presence callbacks are not
        reachable from outside"""
        r = STACK.http("GET", "/_chatdesk/events/1/ab/user:1")
        self.assertEqual(r.status, 404, r)
        for path in ("/api/v1/events/presence/join",
                     "/api/v1/events/presence/leave"):
            r = call("POST", path + "?user=%d&sub=ab&channels=room:1" %
                     U["cust1"].id, "cust1", body={})
            self.assertError(r, 404, "not_found")


class TicketTest(EventsCase):

    def test_event_ticket_single_use_and_expiring(self):
        """POST /events/tickets: 201 {ticket, expires_in: 60}; the ticket
        works once, only on /events, and not after it expired"""
        r = call("POST", "/api/v1/events/tickets", "cust1")
        self.assertEqual(r.status, 201, r)
        self.assertEqual(set(r.json), {"ticket", "expires_in"})
        self.assertEqual(r.json["expires_in"], 60)
        self.assertEqual(r.headers.get("Cache-Control"), "no-store")
        tk = r.json["ticket"]
        self.assertRegex(tk, r"^[A-Za-z0-9_-]{43}$")
        key = "events:ticket:" + hashlib.sha256(tk.encode()).hexdigest()
        ttl = STACK.redis("TTL", key)
        self.assertTrue(0 < ttl <= 60, ttl)
        # Redis holds neither the ticket nor the token.
        stored = STACK.redis("GET", key)
        self.assertNotIn(U["cust1"].token.encode(), stored)
        self.assertNotIn(tk.encode(), stored)
        # Not a bearer token anywhere.
        self.assertError(helpers.request(STACK, "GET", "/api/v1/users/me",
                                         tk), 401, "unauthorized")
        s = EventSource(STACK, "/api/v1/events?ticket=" + tk)
        self.addCleanup(s.close)
        self.assertEqual(s.status, 200, s.body)
        s.close()
        s2 = EventSource(STACK, "/api/v1/events?ticket=" + tk)
        self.assertEqual(s2.status, 401, s2.body)
        self.assertEqual(s2.json["error"]["code"], "unauthorized")
        # Expired: what Redis' TTL does, done now.
        tk2 = self.ticket_for("cust1")
        STACK.redis("DEL", "events:ticket:" +
                    hashlib.sha256(tk2.encode()).hexdigest())
        r = STACK.http("GET", "/api/v1/events?ticket=" + tk2)
        self.assertError(r, 401, "unauthorized")
        for bad in ("x" * 43, "short", "%2F" * 10):
            r = STACK.http("GET", "/api/v1/events?ticket=" + bad)
            self.assertError(r, 401, "unauthorized")

    def test_ticket_of_a_revoked_token(self):
        """a ticket stands for its token: revoked, the ticket is no good"""
        r = call("POST", "/api/v1/users/%d/tokens" % U["cust2"].id, "cust2")
        tok = r.json["token"]
        tk = self.ticket_for_token(tok)
        r = helpers.request(STACK, "DELETE", "/api/v1/tokens/current", tok)
        self.assertEqual(r.status, 204, r)
        r = STACK.http("GET", "/api/v1/events?ticket=" + tk)
        self.assertError(r, 401, "unauthorized")

    def ticket_for_token(self, tok):
        r = helpers.request(STACK, "POST", "/api/v1/events/tickets", tok)
        self.assertEqual(r.status, 201, r)
        return r.json["ticket"]

    def test_forged_redis_value_is_nobody(self):
        """a value written into Redis by someone else unmasks to no token"""
        tk = self.ticket_for("cust1")
        key = "events:ticket:" + hashlib.sha256(tk.encode()).hexdigest()
        STACK.redis("SET", key, b"A" * 43, "EX", 60)
        r = STACK.http("GET", "/api/v1/events?ticket=" + tk)
        self.assertError(r, 401, "unauthorized")


class ResumeTest(EventsCase):

    def test_last_event_id_resumes(self):
        """reconnecting with Last-Event-ID (or ?last_event_id=) gets the
        events missed meanwhile, in order"""
        room = self.room()
        sub = self.sse("cust1", "?rooms=%d" % room)
        first = self.post(room, "agent", "seen live")
        ev = sub.wait_for(of_type("message.created"), 5)
        self.assertEqual(ev["data"]["message"], first)
        sub.close()
        missed = [self.post(room, "agent", "missed %d" % i) for i in range(3)]
        again = self.sse("cust1", "?rooms=%d" % room, last_event_id=ev["id"])
        self.assertEqual(again.status, 200, again.body)
        got = [e["data"]["message"] for e in again.drain(1.0)
               if e["data"].get("type") == "message.created"]
        self.assertEqual(got, missed)
        again.close()
        # Browsers that reconnect with a fresh ticket pass it in the query.
        tk = self.ticket_for("cust1")
        q = EventSource(STACK, "/api/v1/events?rooms=%d&ticket=%s&"
                        "last_event_id=%s" % (room, tk, ev["id"]))
        self.addCleanup(q.close)
        self.assertEqual(q.status, 200, q.body)
        got = [e["data"]["message"] for e in q.drain(1.0)
               if e["data"].get("type") == "message.created"]
        self.assertEqual(got, missed)

    def test_away_client_catches_up_exactly_once(self):
        """live events, a gap, then after=LAST_SEEN until next_after is
        null: every message once, none missed"""
        room = self.room(members=("cust1", "cust2"))
        sub = self.sse("cust1", "?rooms=%d" % room)
        live = [self.post(room, "cust2", "live %d" % i) for i in range(3)]
        seen = [e["data"]["message"] for e in sub.drain(0.8)
                if e["data"].get("type") == "message.created"]
        self.assertEqual(seen, live)
        sub.close()
        gap = [self.post(room, w, "gap %d" % i)
               for i, w in enumerate(["agent", "cust2"] * 4)]
        after = seen[-1]["id"]
        while True:
            r = call("GET", "/api/v1/rooms/%d/messages?after=%d&limit=3" % (
                room, after), "cust1")
            self.assertEqual(r.status, 200, r)
            seen += r.json["messages"]
            if r.json["next_after"] is None:
                break
            after = r.json["next_after"]
        self.assertEqual(seen, live + gap)


class TypingPresenceTest(EventsCase):

    def test_typing_arrives_and_is_never_stored(self):
        """POST /rooms/{id}/typing: 204, a typing event to the room, no
        message, no key but the rate limit's"""
        room = self.room()
        sub = self.sse("agent", "?rooms=%d" % room)
        before = STACK.redis("KEYS", "*")
        r = call("POST", "/api/v1/rooms/%d/typing" % room, "cust1")
        self.assertEqual(r.status, 204, r)
        self.assertEqual(r.body, b"")
        ev = sub.wait_for(of_type("typing"), 5)
        self.assertEqual(ev["data"], {"type": "typing", "room_id": room,
                                      "user_id": U["cust1"].id})
        r = call("GET", "/api/v1/rooms/%d/messages" % room, "cust1")
        self.assertEqual(r.json["messages"], [])
        new = set(STACK.redis("KEYS", "*")) - set(before)
        # (presence: the watcher's own subscription, made just now.)
        self.assertTrue(all(k.startswith(b"ratelimit:typing:") or
                            k.startswith(b"presence:room:") or
                            k.startswith(b"messages:room:") or
                            k.startswith(b"lease:") for k in new), new)
        # A body of {} is fine too; a room one may not see is 404.
        r = call("POST", "/api/v1/rooms/%d/typing" % room, "cust1", body={})
        self.assertEqual(r.status, 204, r)
        r = call("POST", "/api/v1/rooms/%d/typing" % room, "cust2")
        self.assertError(r, 404, "not_found")

    def test_typing_over_the_limit_is_dropped_silently(self):
        """over the rate limit: still 204, and no event"""
        room = self.room()
        sub = self.sse("agent", "?rooms=%d" % room)
        now = int(time.time())
        for win in (now // 10, now // 10 + 1):
            STACK.redis("SET", "ratelimit:typing:%d:%d" % (U["cust1"].id, win),
                        10 ** 9, "EX", 30)
        r = call("POST", "/api/v1/rooms/%d/typing" % room, "cust1")
        self.assertEqual(r.status, 204, r)
        self.assertIsNone(sub.wait_for(of_type("typing"), 1.0))
        # Posts keep their own allowance, and the stream is alive: the
        # post's event arrives (no typing event came before it either).
        msg = self.post(room, "cust1", "still allowed")
        ev = sub.wait_for(lambda e: e["data"].get("type") in
                          ("typing", "message.created"), 5)
        self.assertIsNotNone(ev, "the post's event on the same stream")
        self.assertEqual(ev["data"].get("message"), msg, ev)
        for win in (now // 10, now // 10 + 1):
            STACK.redis("DEL", "ratelimit:typing:%d:%d" % (U["cust1"].id, win))
        # Under the limit again, typing is an event again.
        r = call("POST", "/api/v1/rooms/%d/typing" % room, "cust1")
        self.assertEqual(r.status, 204, r)
        self.assertIsNotNone(sub.wait_for(of_type("typing"), 5))

    def test_presence_online_and_offline(self):
        """a subscription to a room makes its user online there (event and
        GET /presence); the last one closed makes it offline"""
        room = self.room(members=("cust1", "cust2"))
        watcher = self.sse("agent", "?rooms=%d" % room)
        online = watcher.wait_for(of_type("presence",
                                          user_id=U["agent"].id), 3)
        self.assertIsNotNone(online, watcher.seen)
        tk = self.ticket_for("cust1")
        a = WebSocket(STACK, "/api/v1/events?rooms=%d&ticket=%s" % (room, tk))
        self.addCleanup(a.close)
        self.assertEqual(a.status, 101, a.body)
        ev = watcher.wait_for(of_type("presence", user_id=U["cust1"].id), 3)
        self.assertEqual(ev["data"], {"type": "presence", "room_id": room,
                                      "user_id": U["cust1"].id,
                                      "online": True})
        r = call("GET", "/api/v1/rooms/%d/presence" % room, "cust2")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json, {"online": sorted([U["agent"].id,
                                                     U["cust1"].id])})
        # A second tab: closing it keeps the user online. (WebSockets:
        # nginx reads their close frame at once, while it notices a
        # closed EventSource only when writes to it fail, at the next
        # events or Nchan's pings.)
        b = WebSocket(STACK, "/api/v1/events?rooms=%d" % room,
                      headers=helpers.auth(U["cust1"].token))
        self.addCleanup(b.close)
        self.assertEqual(b.status, 101, b.body)
        time.sleep(0.2)
        b.close()
        self.assertIsNone(watcher.wait_for(
            of_type("presence", user_id=U["cust1"].id, online=False), 1.0))
        self.assertIn(U["cust1"].id, call(
            "GET", "/api/v1/rooms/%d/presence" % room, "agent").json["online"])
        # A WebSocket's close frame is read at once.
        a.close()
        ev = watcher.wait_for(of_type("presence", user_id=U["cust1"].id,
                                      online=False), 3)
        self.assertIsNotNone(ev, watcher.seen)
        self.assertEqual(call("GET", "/api/v1/rooms/%d/presence" % room,
                              "agent").json, {"online": [U["agent"].id]})
        r = call("GET", "/api/v1/rooms/%d/presence" % self.room(
            members=()), "cust2")
        self.assertError(r, 404, "not_found")

    def test_presence_entries_expire(self):
        """an entry nobody removes (a crashed nginx) expires"""
        room = self.room()
        STACK.redis("ZADD", "presence:room:%d" % room,
                    int(time.time() * 1000) - 1, "%d:dead" % U["cust2"].id)
        STACK.redis("HSET", "presence:room:%d:users" % room,
                    str(U["cust2"].id), 1)
        r = call("GET", "/api/v1/rooms/%d/presence" % room, "agent")
        self.assertEqual(r.json, {"online": []})
        self.assertEqual(STACK.redis("HLEN", "presence:room:%d:users" % room),
                         0)


class WorkerTest(EventsCase):

    def test_worker_closed_ticket_reaches_requester(self):
        """close_inactive_tickets publishes ticket.updated (closed) and
        the status_change to the requester; the notification follows"""
        r = call("POST", "/api/v1/tickets", "cust2",
                 {"subject": "idle", "body": "nobody answers"})
        tid = r.json["id"]
        w = STACK.run_worker()      # the ticket_created notifications
        self.assertEqual(w.returncode, 0, w)
        sub = self.sse("cust2")
        self.assertEqual(sub.status, 200, sub.body)
        r = STACK.run_ctl("enqueue", "close_inactive_tickets",
                          '{"inactive_days":0}')
        self.assertEqual(r.returncode, 0, r)
        w = STACK.run_worker()
        self.assertEqual(w.returncode, 0, w)
        ev = sub.wait_for(lambda e: e["data"]["type"] == "ticket.updated" and
                          e["data"]["ticket"]["id"] == tid and
                          e["data"]["ticket"]["status"] == "closed", 5)
        self.assertIsNotNone(ev, sub.seen)
        self.assertEqual(ev["data"]["ticket"]["status"], "closed")
        self.assertEqual(ev["data"]["ticket"],
                         call("GET", "/api/v1/tickets/%d" % tid, "cust2").json)
        inter = [e for e in sub.seen if e["data"]["type"] ==
                 "interaction.created" and e["data"]["ticket_id"] == tid]
        self.assertEqual(len(inter), 1, sub.seen)
        self.assertEqual(inter[0]["data"]["interaction"]["kind"],
                         "status_change")
        self.assertIsNone(inter[0]["data"]["interaction"]["author_id"])
        ev = sub.wait_for(lambda e: e["data"]["type"] ==
                          "notification.created" and
                          e["data"]["notification"]["ticket_id"] == tid, 5)
        self.assertIsNotNone(ev, sub.seen)
        n = ev["data"]["notification"]
        self.assertEqual((n["user_id"], n["event"]),
                         (U["cust2"].id, "status_changed"))
        listed = call("GET", "/api/v1/notifications", "cust2").json
        self.assertIn(n, listed["notifications"])


class RevocationTest(EventsCase):

    def test_revocation_ends_subscriptions(self):
        """a revoked token loses its subscription within
        events_recheck_s, and cannot subscribe again"""
        room = self.room()
        r = call("POST", "/api/v1/users/%d/tokens" % U["cust1"].id, "cust1")
        tok = r.json["token"]
        sub = EventSource(STACK, "/api/v1/events?rooms=%d" % room,
                          headers=helpers.auth(tok))
        self.addCleanup(sub.close)
        self.assertEqual(sub.status, 200, sub.body)
        t0 = time.monotonic()
        r = helpers.request(STACK, "DELETE", "/api/v1/tokens/current", tok)
        self.assertEqual(r.status, 204, r)
        # Busy room: messages do not keep the subscription alive.
        while not sub.ended(0.5) and time.monotonic() - t0 < RECHECK + 5:
            self.post(room, "agent", "still here?")
        self.assertTrue(sub.ended(0), "subscription outlived the recheck")
        again = EventSource(STACK, "/api/v1/events?rooms=%d" % room,
                            headers=helpers.auth(tok))
        self.assertEqual(again.status, 401, again.body)


    def test_role_change_ends_subscriptions(self):
        """a user whose role changes loses its subscriptions at once (it
        may see other things now) and subscribes again, checked anew"""
        uid, tok = helpers.add_user(STACK, "mover", "mover@example.test",
                                    "agent")
        room = self.room(members=())
        sub = EventSource(STACK, "/api/v1/events?rooms=%d" % room,
                          headers=helpers.auth(tok))
        self.addCleanup(sub.close)
        self.assertEqual(sub.status, 200, sub.body)
        r = call("PATCH", "/api/v1/users/%d" % uid, "admin",
                 {"role": "customer"})
        self.assertEqual(r.status, 200, r)
        # At once: well before the recheck timeout would end it.
        self.assertTrue(sub.ended(RECHECK / 2), "subscription survived")
        # A customer now, and not a member: the room is not visible.
        r = helpers.request(STACK, "GET", "/api/v1/events?rooms=%d" % room,
                            tok)
        self.assertError(r, 404, "not_found")


class MetricsTest(EventsCase):

    def test_metrics_count_events(self):
        """/metrics counts publishes, subscriptions and refusals"""
        room = self.room()
        pub0 = self.metric("chatdesk_events_published_total")
        sub0 = self.metric("chatdesk_events_subscriptions_total")
        ref0 = self.metric("chatdesk_events_refusals_total")
        s = self.sse("cust1", "?rooms=%d" % room)
        self.assertEqual(s.status, 200)
        self.post(room, "agent")
        s.wait_for(of_type("message.created"), 5)
        r = call("GET", "/api/v1/events?rooms=%d" % room, "cust2")
        self.assertEqual(r.status, 404)
        self.assertGreater(self.metric("chatdesk_events_published_total"),
                           pub0)
        self.assertEqual(self.metric("chatdesk_events_subscriptions_total"),
                         sub0 + 1)
        self.assertEqual(self.metric("chatdesk_events_refusals_total"),
                         ref0 + 1)


class ZPublishFailureTest(EventsCase):

    def test_zz_failed_publish_never_fails_the_request(self):
        """with Nchan unreachable, posts still answer 201; the failure is
        counted and logged; clients catch up with after="""
        room = self.room()
        seen = self.post(room, "agent", "heard live")
        err0 = self.metric("chatdesk_events_publish_errors_total")
        helpers.restart_pool(STACK, env={
            "CHATDESK_EVENTS_SOCKET": STACK.path("no-such.sock")})
        try:
            msg = self.post(room, "agent", "nobody hears this live")
            # Counted right after the answer went out.
            harness.wait_until(lambda: self.metric(
                "chatdesk_events_publish_errors_total") > err0, 5,
                what="the failed publish to be counted")
            self.assertIsNotNone(STACK.wait_log(
                r"events: publish to room:%d failed" % room))
            r = call("GET", "/api/v1/rooms/%d/messages?after=%d" % (
                room, seen["id"]), "cust1")
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.json["messages"], [msg])
        finally:
            helpers.restart_pool(STACK)

    def test_zz_hung_publisher_is_left_alone(self):
        """a publisher that accepts and never answers: posts still answer
        201, and after its timeout it is not tried again for a while, so
        it does not cost every post a timeout"""
        path = STACK.path("hung.sock")
        srv = socket.socket(socket.AF_UNIX)
        srv.bind(path)
        srv.listen(64)
        conns = []

        def accept():
            while True:
                try:
                    conns.append(srv.accept()[0])
                except OSError:
                    return
        threading.Thread(target=accept, daemon=True).start()
        room = self.room()
        helpers.restart_pool(STACK, env={"CHATDESK_EVENTS_SOCKET": path,
                                         "CHATDESK_EVENTS_TIMEOUT_MS": "300"})
        try:
            for i in range(12):
                self.post(room, "agent", "into the void %d" % i)
            harness.wait_until(lambda: conns, 5,
                               what="a publish to the hung publisher")
            # Without the back-off, each post would have tried (12); with
            # it, each of the 3 processes tried about once.
            self.assertLessEqual(len(conns), 6, "publisher tried %d times "
                                 "for 12 posts" % len(conns))
        finally:
            srv.close()
            for c in conns:
                c.close()
            helpers.restart_pool(STACK)

    def test_zz_pool_alive(self):
        """no pool process died"""
        self.assertEqual(len(STACK.pool_pids()), STACK.pool_size)


if __name__ == "__main__":
    tap.main()
