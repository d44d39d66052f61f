#!/usr/bin/env python3
"""The web client's live side in a real browser against the REAL events
server (issues 14 and 15): harness.Stack's nginx with Nchan, the pool
under spawn-fcgi, Redis. No stand-in: every event here was published by
chatdesk after a commit and held by Nchan.

Two users chat in a room and each sees the other's messages, typing and
presence; one's own post shows once; the events connection is cut
(each user's own channel deleted on Nchan's publisher socket, the way
chatdesk's own kick ends subscriptions; and nginx reloaded) while the
browsers are offline, so each page says "Reconnecting…"; messages posted meanwhile show exactly once after
the reconnect, in order, on both sides; older pages of a room. The
token is never in a URL (nginx's access log). What only a stand-in can
do (events published out of id order, a server without events) stays in
test_live.py."""

import os
import signal
import socket
import sys
import time

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "integration"))
sys.path.insert(0, HERE)

import harness  # noqa: E402
import helpers  # noqa: E402
import tap  # noqa: E402
import browser as br  # noqa: E402
import stack_users  # noqa: E402
from stack_users import out_dir  # noqa: E402

STACK = None
USERS = {}
BROWSERS = {}


def add(role, name):
    return stack_users.add(STACK, role, name)


def setUpModule():
    global STACK
    why = br.available()
    if why:
        raise harness.HarnessError(why)
    STACK = harness.Stack(name="test_realtime", rate="100000r/s", env={
        "CHATDESK_SIGNIN_RATE_LIMIT_ADDR": "1000",
        "CHATDESK_RATE_LIMIT_COUNT": "100000"}).start()
    USERS["agent"] = add("agent", "Alex")
    USERS["customer"] = add("customer", "Casey")


def tearDownModule():
    stack_users.tear_down(STACK, BROWSERS)


def browser(name):
    if name not in BROWSERS:
        b = BROWSERS[name] = br.Browser("http://127.0.0.1:%d" % STACK.port,
                                        name=name)
        u = USERS[name]
        b.open("/")
        b.type("form.signin input[name=email]", u["email"])
        b.type("form.signin input[name=password]", u["password"])
        b.find("form.signin button[type=submit]").click()
        b.wait_text("#me-name", u["name"])
    return BROWSERS[name]


def call(method, path, who, body=None):
    return helpers.request(STACK, method, path, USERS[who]["token"], body)


def post(room, who, body):
    r = call("POST", "/api/v1/rooms/%d/messages" % room, who, {"body": body})
    if r.status != 201:
        raise AssertionError("post: %r" % r)
    return r.json


def state(b):
    return b.find("#live-state").get_attribute("data-state")


def online(b):
    """The texts of the members shown online, read at once (the list is
    re-rendered on every presence event)."""
    return b.js("return [...document.querySelectorAll('.members li.online')]"
                ".map((e) => e.textContent)")


def bodies(b):
    return [e.text for e in b.finds(".messages .body")]


def offline(b, off):
    """Chromium's own network emulation: no request of the page leaves
    the browser while off (the event-ticket POSTs fail)."""
    b.driver.execute_cdp_cmd("Network.enable", {})
    b.driver.execute_cdp_cmd("Network.emulateNetworkConditions", {
        "offline": off, "latency": 0, "downloadThroughput": -1,
        "uploadThroughput": -1})


def delete_channel(chan):
    """DELETE on Nchan's publisher (the unix socket only the pool and the
    worker reach): every subscription that includes the channel ends."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(5)
    s.connect(STACK.events_sock)
    s.sendall(("DELETE /pub/%s HTTP/1.0\r\nHost: localhost\r\n\r\n" %
               chan).encode())
    head = s.recv(4096).decode("latin-1")
    s.close()
    status = int(head.split()[1])
    if status not in (200, 404):
        raise AssertionError("channel delete: %r" % head)
    return status


class RealtimeTest(harness.ApiTestCase):

    @classmethod
    def setUpClass(cls):
        r = call("POST", "/api/v1/rooms", "agent",
                 {"name": "Casey and Alex",
                  "member_ids": [USERS["customer"]["id"]]})
        if r.status != 201:
            raise AssertionError("room: %r" % r)
        cls.room = r.json["id"]
        post(cls.room, "agent", "hello before")

    def open_room(self, *names):
        out = []
        for n in names:
            b = browser(n)
            b.open("/#/rooms/%d" % self.room)
            b.wait_text(".messages .body", "hello before")
            b.wait(lambda x: state(x) == "live", what="live state")
            out.append(b)
        return out

    def test_1_two_users_chat_typing_presence(self):
        c, a = self.open_room("customer", "agent")
        # Presence: each sees the other online (Nchan's subscribe
        # callback, chatdesk's presence events).
        c.wait_text(".members li.online", "Alex", timeout=20)
        a.wait_text(".members li.online", "Casey", timeout=20)
        # Typing, both ways: the composer sends it, the other shows it.
        c.type(".composer textarea", "I am typ", clear=False)
        a.wait_text(".typing", "Casey is typing", timeout=10)
        c.find(".composer textarea").clear()
        c.type(".composer textarea", "Is anyone there?")
        c.find(".composer button[type=submit]").click()
        c.wait_text(".messages .body", "Is anyone there?")
        a.wait_text(".messages .body", "Is anyone there?", timeout=10)
        # The message clears the typing line.
        a.wait(lambda x: x.find(".typing").text == "", what="typing cleared")
        a.type(".composer textarea", "Yes, her", clear=False)
        c.wait_text(".typing", "Alex is typing", timeout=10)
        c.screenshot(os.path.join(out_dir(), "room-live.png"))
        a.find(".composer textarea").clear()
        a.type(".composer textarea", "Yes, here. How can I help?")
        a.find(".composer button[type=submit]").click()
        c.wait_text(".messages .body", "How can I help?", timeout=10)
        time.sleep(1)   # let any duplicate arrive
        for b in (c, a):
            got = bodies(b)
            self.assertEqual(got[-3:], ["hello before", "Is anyone there?",
                                        "Yes, here. How can I help?"], b.name)
        # Alex leaves the room: Casey sees him go offline (the
        # unsubscribe callback's presence event).
        a.open("/#/inbox")
        c.wait(lambda x: not [t for t in online(x) if "Alex" in t],
               timeout=20, what="Alex offline")
        # Typing was never stored as a message.
        self.assertEqual(
            [m["body"] for m in call("GET", "/api/v1/rooms/%d/messages" %
                                     self.room, "agent").json["messages"]],
            ["Yes, here. How can I help?", "Is anyone there?", "hello before"])

    def cut_and_catch_up(self, cut, tag):
        """Browsers offline (no new event ticket), the subscriptions cut
        by cut(), messages posted by both users meanwhile; back online,
        each browser shows each of them exactly once, in order."""
        c, a = self.open_room("customer", "agent")
        post(self.room, "agent", "%s live" % tag)
        for b in (c, a):
            b.wait_text(".messages .body", "%s live" % tag, timeout=10)
        before = {b.name: bodies(b) for b in (c, a)}
        for b in (c, a):
            offline(b, True)
        try:
            cut()
            for b in (c, a):
                b.wait(lambda x: state(x) == "reconnecting", timeout=20,
                       what="reconnecting")
                self.assertIn("Reconnecting", b.find("#live-state").text)
            missed = []
            for i in range(6):
                who = ("agent", "customer")[i % 2]
                missed.append(post(self.room, who, "%s missed %d" %
                                   (tag, i))["body"])
            time.sleep(1)
        finally:
            # Online again whatever happened: the next test's browsers
            # are these.
            for b in (c, a):
                offline(b, False)
        for b in (c, a):
            b.wait(lambda x: state(x) == "live", timeout=40,
                   what="live again")
            b.wait_text(".messages .body", missed[-1], timeout=15)
        post(self.room, "customer", "%s after" % tag)
        for b in (c, a):
            b.wait_text(".messages .body", "%s after" % tag, timeout=10)
        time.sleep(1.5)   # let any duplicate arrive
        for b in (c, a):
            self.assertEqual(bodies(b), before[b.name] + missed +
                             ["%s after" % tag], b.name)

    def test_2a_kicked_then_exactly_once(self):
        # The cut chatdesk itself makes (events_kick_user): each user's
        # own channel deleted, which ends every subscription holding it.
        self.cut_and_catch_up(lambda: [
            delete_channel("user:%d" % u["id"]) for u in USERS.values()],
            "kick")

    def test_2b_nginx_reloaded_then_exactly_once(self):
        # nginx reloaded (SIGHUP, as an operator's `systemctl reload`):
        # its old workers end their subscriptions.
        self.cut_and_catch_up(
            lambda: os.kill(STACK.nginx_proc.pid, signal.SIGHUP), "reload")

    def test_3_own_post_once(self):
        (c,) = self.open_room("customer")
        c.type(".composer textarea", "mine, once")
        c.find(".composer button[type=submit]").click()
        c.wait_text(".messages .body", "mine, once")
        time.sleep(1)
        self.assertEqual(bodies(c).count("mine, once"), 1)

    def test_4_older_pages(self):
        r = call("POST", "/api/v1/rooms", "agent",
                 {"name": "long", "member_ids": [USERS["customer"]["id"]]})
        self.assertEqual(r.status, 201, r)
        room = r.json["id"]
        for i in range(60):
            post(room, "agent", "old %d" % i)
        b = browser("customer")
        b.open("/#/rooms/%d" % room)
        b.wait_text(".messages .body", "old 59")
        self.assertEqual(len(b.finds(".messages li")), 50)
        self.assertEqual(bodies(b)[0], "old 10")
        b.find("section.chat button.link").click()
        b.wait(lambda x: len(x.finds(".messages li")) == 60, what="60")
        self.assertEqual(bodies(b), ["old %d" % i for i in range(60)])
        self.assertFalse(b.find("section.chat button.link").is_displayed())

    def test_5_no_token_in_any_url(self):
        log = open(STACK.path("nginx-access.log")).read()
        self.assertIn("/api/v1/events?ticket=", log)
        # After the cuts: the stream resumed with Nchan's id, and the
        # catch-up read the room with after=.
        self.assertRegex(log, r"/api/v1/events\?[^ ]*last_event_id=")
        self.assertRegex(log, r"/api/v1/rooms/%d/messages\?[^ ]*after=\d" %
                         self.room)
        toks = [u["token"] for u in USERS.values()] + [b.js(
            "return JSON.parse(sessionStorage.getItem('chatdesk.session'))"
            ".token") for b in BROWSERS.values()]
        self.assertEqual(len(toks), 4)
        for t in toks:
            self.assertNotIn(t, log)


if __name__ == "__main__":
    tap.main()
