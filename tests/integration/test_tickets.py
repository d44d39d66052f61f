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

"""Tickets and interactions (API.md sections 1-3 and 5): create (limits in
UTF-8 bytes, blank text, default priority, the first interaction, the
ticket_created task), hostile text kept byte for byte, who sees what
(404 for a customer, never 403), list filters and paging with next_before,
the PATCH rules (staff fields, the requester's close-only rule as a whole,
exactly one status_change interaction and one task per status change, none
otherwise, closed_at), comments (bump last_activity_at, a requester's
comment reopens a closed ticket with one comment_added task), interaction
paging.

Tasks are checked in tasks:pending (no worker runs in this file): each
write that must enqueue grows it by exactly one task of the documented
shape, and the outbox is empty again afterwards. The cache of tickets and
stats is in test_ticket_cache.py, the outbox with Redis down and the
notifications in test_outbox.py. The rate limit is set high enough never
to be reached."""

import datetime
import json
import os
import re
import sys
import threading
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
import helpers  # noqa: E402
from helpers import User, is_int  # noqa: E402
import tap  # noqa: E402

STACK = None
U = {}          # name -> User

TIME_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
TICKET_KEYS = {"id", "subject", "status", "priority", "requester_id",
               "assignee_id", "created_at", "updated_at", "last_activity_at",
               "closed_at"}
INTERACTION_KEYS = {"id", "ticket_id", "author_id", "kind", "body",
                    "created_at"}
TASK_KEYS = {"id", "type", "payload", "timestamp", "attempts"}
PAYLOAD_KEYS = {"ticket_id", "event", "actor_id"}

# Text that a careless implementation mangles: quotes, backslashes,
# control characters, SQL, HTML, printf formats, emoji and other non-BMP
# characters, line/paragraph separators, noncharacters, leading and
# trailing spaces (kept: only a blank field is refused).
HOSTILE = [
    'quote " double and \' single and `back`',
    'back\\slash \\\\ double, \\n \\u0041 \\" literal escapes \\',
    'ctl \x01\x02\x07\x08\x0b\x0c\x1b\x1f\x7f end',
    'tab\there\nnewline\r\ncrlf',
    "'; DROP TABLE tickets; --",
    'Robert"); DELETE FROM users WHERE 1=1; -- \' OR \'1\'=\'1',
    '<script>alert("x")</script> &amp; &lt;b&gt; <img src=x onerror=y>',
    'emoji \U0001F600\U0001F44D\U0001F3FD \U0001F1EB\U0001F1F7 '
    '\U0001F469\u200d\U0001F469\u200d\U0001F467',
    'rtl \u202eabc\u202c zw\u200b ls\u2028 ps\u2029 bom\ufeff nc\uffff',
    'fmt %s %n %d %x %.*s %% %99999999s',
    '{"json":"inside","n":[1,2,{"x":null}]}',
    '  leading and trailing spaces  ',
    'comb e\u0301 \u00f1 \u00df \u4e2d\u6587 \u65e5\u672c\u8a9e '
    '\ud55c\uad6d\uc5b4 \u0639\u0631\u0628\u0649',
    '\U0010ffff max code point \U0001D11E',
]


# ---------------------------------------------------------------- helpers

def add_user(name, role):
    """chatdeskctl user add; the id from its "created user N" line, else
    from GET /users/me."""
    uid, tok = helpers.add_user(
        STACK, name, "%s-%d@example.test" % (name, os.getpid()), role)
    U[name] = User(uid, tok, name, role)
    return U[name]


def call(method, path, who=None, body=None, headers=None):
    """who: a User, a name of U, or None (no Authorization)."""
    if isinstance(who, str):
        who = U[who]
    return helpers.request(STACK, method, path, who and who.token, body,
                           headers)


def send_json(method, path, who, obj, ascii_only=True):
    """obj as JSON; ascii_only=False sends raw UTF-8 (no \\u escapes)."""
    data = json.dumps(obj, ensure_ascii=ascii_only).encode("utf-8")
    return call(method, path, who, body=data,
                headers={"Content-Type": "application/json"})


def db_query(sql, args=()):
    """Reads the stack's SQLite file directly, read-only."""
    return helpers.db_query(STACK.db_path, sql, args)


def outbox_count():
    return helpers.outbox_count(STACK)


def pending_len():
    return STACK.redis("LLEN", "tasks:pending")


def pending_since(n0):
    """The tasks pushed to tasks:pending after it held n0 (no worker runs
    in this file, so nothing is taken from the left)."""
    return [json.loads(t.decode("utf-8"))
            for t in STACK.redis("LRANGE", "tasks:pending", n0, -1)]


def parse_time(s):
    return datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ")


def tpath(tid, suffix=""):
    return "/api/v1/tickets/%d%s" % (tid, suffix)


def setUpModule():
    global STACK
    STACK = harness.Stack(
        name="test_tickets", pool_size=2,
        env={"CHATDESK_RATE_LIMIT_COUNT": "1000000"}).start()
    for name, role in helpers.TICKET_CAST:
        add_user(name, role)


def tearDownModule():
    if STACK is not None:
        STACK.stop()


# ------------------------------------------------------------- base case

class TicketCase(harness.ApiTestCase):

    def create(self, who="cust1", subject="Printer on fire", body="It is.",
               priority=None, status=201):
        obj = {"subject": subject, "body": body}
        if priority is not None:
            obj["priority"] = priority
        r = send_json("POST", "/api/v1/tickets", who, obj)
        self.assertEqual(r.status, status, r)
        if status == 201:
            self.assertTicket(r.json)
            return r.json
        return r

    def get(self, tid, who="agent1"):
        r = call("GET", tpath(tid), who)
        self.assertEqual(r.status, 200, r)
        self.assertJsonType(r)
        self.assertTicket(r.json)
        return r.json

    def patch(self, tid, who, obj, status=200):
        r = send_json("PATCH", tpath(tid), who, obj)
        self.assertEqual(r.status, status, r)
        if status == 200:
            self.assertJsonType(r)
            self.assertTicket(r.json)
            return r.json
        return r

    def comment(self, tid, who, body, status=201):
        r = send_json("POST", tpath(tid, "/interactions"), who,
                      {"body": body})
        self.assertEqual(r.status, status, r)
        if status == 201:
            self.assertInteraction(r.json)
            return r
        return r

    def interactions(self, tid, who="agent1", query="?limit=100"):
        r = call("GET", tpath(tid, "/interactions") + query, who)
        self.assertEqual(r.status, 200, r)
        self.assertJsonType(r)
        body = r.json
        self.assertEqual(set(body), {"interactions", "next_before"}, r)
        for it in body["interactions"]:
            self.assertInteraction(it)
            self.assertEqual(it["ticket_id"], tid, r)
        return body

    def all_interactions(self, tid):
        body = self.interactions(tid, "agent1", "?limit=100")
        self.assertIsNone(body["next_before"], "more than 100 interactions")
        return body["interactions"]

    def assertTicket(self, t):
        self.assertIsInstance(t, dict)
        self.assertEqual(set(t), TICKET_KEYS, "keys of ticket %r" % (t,))
        self.assertTrue(is_int(t["id"]) and t["id"] > 0, t)
        self.assertIsInstance(t["subject"], str, t)
        self.assertIn(t["status"], ("open", "pending", "closed"), t)
        self.assertIn(t["priority"], ("low", "normal", "high", "urgent"), t)
        self.assertTrue(is_int(t["requester_id"]), t)
        self.assertTrue(t["assignee_id"] is None or is_int(t["assignee_id"]),
                        t)
        for k in ("created_at", "updated_at", "last_activity_at"):
            self.assertRegex(t[k], TIME_RE, "%s of %r" % (k, t))
        if t["status"] == "closed":
            self.assertRegex(t["closed_at"] or "", TIME_RE,
                             "closed_at of a closed ticket %r" % (t,))
        else:
            self.assertIsNone(t["closed_at"],
                              "closed_at of a ticket not closed %r" % (t,))

    def assertInteraction(self, it):
        self.assertIsInstance(it, dict)
        self.assertEqual(set(it), INTERACTION_KEYS,
                         "keys of interaction %r" % (it,))
        self.assertTrue(is_int(it["id"]) and it["id"] > 0, it)
        self.assertTrue(it["author_id"] is None or is_int(it["author_id"]),
                        it)
        self.assertIn(it["kind"], ("comment", "status_change"), it)
        self.assertIsInstance(it["body"], str, it)
        self.assertRegex(it["created_at"], TIME_RE, it)

    def assertTask(self, task, tid, event, actor):
        """One send_notifications task of API.md section 5."""
        self.assertEqual(set(task), TASK_KEYS, "keys of task %r" % (task,))
        self.assertIsInstance(task["id"], str, task)
        self.assertTrue(task["id"], task)
        self.assertEqual(task["type"], "send_notifications", task)
        self.assertEqual(task["attempts"], 0, task)
        self.assertTrue(is_int(task["timestamp"]), task)
        # milliseconds, not seconds: within a day of now
        self.assertLess(abs(task["timestamp"] - time.time() * 1000),
                        86400 * 1000, "timestamp (ms) of %r" % (task,))
        self.assertIsInstance(task["payload"], dict, task)
        self.assertEqual(set(task["payload"]), PAYLOAD_KEYS,
                         "payload keys of %r" % (task,))
        self.assertEqual(task["payload"], {"ticket_id": tid, "event": event,
                                           "actor_id": actor}, task)

    def assertOneTask(self, n0, tid, event, actor, what):
        got = pending_since(n0)
        self.assertEqual(len(got), 1, "%s: tasks:pending grew by %d (expected"
                         " exactly 1): %r" % (what, len(got), got))
        self.assertTask(got[0], tid, event, actor)
        self.assertEqual(outbox_count(), 0,
                         "%s: the task is pushed but still in task_outbox" %
                         what)
        return got[0]

    def assertNoTask(self, n0, what):
        got = pending_since(n0)
        self.assertEqual(got, [], "%s: tasks pushed (expected none)" % what)
        self.assertEqual(outbox_count(), 0, "%s: task_outbox not empty" % what)

    def walk(self, path, who, key, limit=None, max_pages=1000):
        """Follows next_before until null or an empty page; returns the
        pages (lists of items)."""
        pages, before = [], None
        sep = "&" if "?" in path else "?"
        for _ in range(max_pages):
            q = []
            if limit is not None:
                q.append("limit=%d" % limit)
            if before is not None:
                q.append("before=%d" % before)
            r = call("GET", path + (sep + "&".join(q) if q else ""), who)
            self.assertEqual(r.status, 200, r)
            body = r.json
            self.assertEqual(set(body), {key, "next_before"}, r)
            items = body[key]
            if limit is not None:
                self.assertLessEqual(len(items), limit, r)
                if len(items) == limit:
                    self.assertTrue(is_int(body["next_before"]),
                                    "a full page has next_before: %r" % (r,))
                else:
                    self.assertIsNone(body["next_before"],
                                      "a short page has no next_before: %r"
                                      % (r,))
            if items:
                pages.append(items)
            if body["next_before"] is None or not items:
                return pages
            before = body["next_before"]
        self.fail("next_before did not end after %d pages" % max_pages)


# ------------------------------------------------------------- creation

class CreateTest(TicketCase):

    def test_create_shape_and_location(self):
        """201, Location /api/v1/tickets/{id}, default priority normal, status open"""
        n0 = pending_len()
        r = send_json("POST", "/api/v1/tickets", "cust1",
                      {"subject": "Login fails", "body": "Since Tuesday."})
        self.assertEqual(r.status, 201, r)
        self.assertJsonType(r)
        self.assertRequestId(r)
        t = r.json
        self.assertTicket(t)
        self.assertEqual(r.headers.get("Location"),
                         "/api/v1/tickets/%d" % t["id"], r.headers)
        self.assertEqual(t["subject"], "Login fails")
        self.assertEqual(t["status"], "open")
        self.assertEqual(t["priority"], "normal")
        self.assertEqual(t["requester_id"], U["cust1"].id)
        self.assertIsNone(t["assignee_id"])
        self.assertIsNone(t["closed_at"])
        for k in ("updated_at", "last_activity_at"):
            self.assertGreaterEqual(parse_time(t[k]),
                                    parse_time(t["created_at"]), t)
        # the Location names the object just answered
        g = call("GET", r.headers.get("Location"), "cust1")
        self.assertEqual(g.status, 200, g)
        self.assertEqual(g.json, t)
        self.assertOneTask(n0, t["id"], "ticket_created", U["cust1"].id,
                           "create")

    def test_create_any_role(self):
        """agents and admins may create tickets too; each enqueues one ticket_created task"""
        for who in ("agent1", "admin1", "cust2"):
            with self.subTest(who=who):
                n0 = pending_len()
                t = self.create(who, subject="from " + who, priority="high")
                self.assertEqual(t["requester_id"], U[who].id)
                self.assertEqual(t["priority"], "high")
                self.assertOneTask(n0, t["id"], "ticket_created", U[who].id,
                                   "create by " + who)

    def test_first_interaction(self):
        """the body becomes the first interaction: comment, author = requester"""
        body = "First line.\nSecond line."
        t = self.create("cust1", subject="with body", body=body)
        its = self.all_interactions(t["id"])
        self.assertEqual(len(its), 1, its)
        it = its[0]
        self.assertEqual(it["kind"], "comment")
        self.assertEqual(it["author_id"], U["cust1"].id)
        self.assertEqual(it["body"], body)
        self.assertEqual(it["ticket_id"], t["id"])
        self.assertGreaterEqual(parse_time(it["created_at"]),
                                parse_time(t["created_at"]))
        # the requester sees it too
        b = self.interactions(t["id"], "cust1")
        self.assertEqual(b["interactions"], its)

    def test_priorities(self):
        """each priority is accepted; anything else is 400 invalid_field priority"""
        for p in ("low", "normal", "high", "urgent"):
            with self.subTest(priority=p):
                self.assertEqual(self.create(priority=p)["priority"], p)
        for bad in ("NORMAL", "", "critical", " low", 3, True, ["low"],
                    {"p": 1}):
            with self.subTest(priority=bad):
                n0 = pending_len()
                r = send_json("POST", "/api/v1/tickets", "cust1",
                              {"subject": "s", "body": "b", "priority": bad})
                err = self.assertError(r, 400, "invalid_field")
                self.assertEqual(err.get("field"), "priority", r)
                self.assertNoTask(n0, "bad priority %r" % (bad,))

    def count_tickets(self):
        return db_query("SELECT count(*) FROM tickets")[0][0]

    def assertRefused(self, obj, field, raw=None):
        n0, c0 = pending_len(), self.count_tickets()
        if raw is not None:
            r = call("POST", "/api/v1/tickets", "cust1", body=raw,
                     headers={"Content-Type": "application/json"})
        else:
            r = send_json("POST", "/api/v1/tickets", "cust1", obj)
        if field is None:
            self.assertEqual(r.status, 400, r)
            self.assertError(r, 400, r.json["error"]["code"])
        else:
            err = self.assertError(r, 400, "invalid_field")
            self.assertEqual(err.get("field"), field, r)
        self.assertEqual(self.count_tickets(), c0,
                         "a refused create stored a ticket: %r" % (r,))
        self.assertNoTask(n0, "refused create %r" % (r,))

    def test_subject_limits(self):
        """subject 1..200 bytes of UTF-8: 200 ok, 201 is 400 (bytes, not characters)"""
        ok = ["x", "a" * 200, "\u20ac" * 66 + "ab", "\u00e9" * 100,
              "\U0001F600" * 50]
        for s in ok:
            with self.subTest(subject_bytes=len(s.encode())):
                self.assertEqual(len(s.encode()) <= 200, True)
                self.assertEqual(self.create(subject=s)["subject"], s)
        for s in ("a" * 201, "\u20ac" * 67, "\u00e9" * 100 + "a",
                  "\U0001F600" * 50 + "a", "a" * 1000):
            with self.subTest(subject_bytes=len(s.encode())):
                self.assertRefused({"subject": s, "body": "b"}, "subject")

    def test_body_limits(self):
        """body 1..10000 bytes of UTF-8: 10000 ok, 10001 is 400"""
        for b in ("y", "b" * 10000, "\u20ac" * 3333 + "z"):
            with self.subTest(body_bytes=len(b.encode())):
                t = self.create(subject="body limit", body=b)
                its = self.all_interactions(t["id"])
                self.assertEqual(its[0]["body"], b)
        for b in ("b" * 10001, "\u20ac" * 3334, "\u20ac" * 3333 + "zz"):
            with self.subTest(body_bytes=len(b.encode())):
                self.assertRefused({"subject": "s", "body": b}, "body")

    def test_blank_missing_and_mistyped(self):
        """empty, white-space-only, missing or mistyped subject/body: 400 naming the field"""
        for blank in ("", " ", "   \t\r\n\x0b\x0c  "):
            with self.subTest(subject=blank):
                self.assertRefused({"subject": blank, "body": "b"}, "subject")
            with self.subTest(body=blank):
                self.assertRefused({"subject": "s", "body": blank}, "body")
        self.assertRefused({"body": "b"}, "subject")
        self.assertRefused({"subject": "s"}, "body")
        self.assertRefused({"subject": None, "body": "b"}, "subject")
        self.assertRefused({"subject": "s", "body": None}, "body")
        self.assertRefused({"subject": 5, "body": "b"}, "subject")
        self.assertRefused({"subject": "s", "body": ["b"]}, "body")
        self.assertRefused({"subject": {"a": 1}, "body": "b"}, "subject")

    def test_bad_text_refused_not_truncated(self):
        """NUL, a lone surrogate or invalid UTF-8 in a field: 400, nothing stored"""
        self.assertRefused(None, None,
                           raw=b'{"subject":"a\\u0000b","body":"x"}')
        self.assertRefused(None, None,
                           raw=b'{"subject":"s","body":"x\\u0000y"}')
        self.assertRefused(None, None,
                           raw=b'{"subject":"a\\ud800b","body":"x"}')
        self.assertRefused(None, None,
                           raw=b'{"subject":"a\xff\xfeb","body":"x"}')
        self.assertRefused(None, None,
                           raw=b'{"subject":"s","body":"\xc3("}')

    def test_unknown_fields_ignored(self):
        """unknown fields are ignored (status, requester_id cannot be forced)"""
        r = send_json("POST", "/api/v1/tickets", "cust1",
                      {"subject": "s", "body": "b", "status": "closed",
                       "requester_id": U["cust2"].id,
                       "assignee_id": U["agent1"].id, "x": [1]})
        self.assertEqual(r.status, 201, r)
        t = r.json
        self.assertEqual(t["status"], "open")
        self.assertEqual(t["requester_id"], U["cust1"].id)
        self.assertIsNone(t["assignee_id"])


class HostileTextTest(TicketCase):

    def check_everywhere(self, t, subject, body):
        tid = t["id"]
        self.assertEqual(t["subject"], subject)
        # twice: once from SQLite (MISS), once from the cache (HIT)
        for i in range(2):
            self.assertEqual(self.get(tid, "agent1")["subject"], subject,
                             "GET #%d" % i)
        self.assertEqual(self.get(tid, "cust1")["subject"], subject)
        page = call("GET", "/api/v1/tickets?limit=1&before=%d" % (tid + 1),
                    "agent1")
        self.assertEqual(page.status, 200, page)
        self.assertEqual(page.json["tickets"][0]["id"], tid, page)
        self.assertEqual(page.json["tickets"][0]["subject"], subject)
        its = self.all_interactions(tid)
        self.assertEqual(its[0]["body"], body)
        # the store holds exactly these bytes
        row = db_query("SELECT CAST(subject AS BLOB) FROM tickets "
                       "WHERE id = ?", (tid,))[0]
        self.assertEqual(bytes(row[0]), subject.encode("utf-8"))
        row = db_query("SELECT CAST(body AS BLOB) FROM interactions "
                       "WHERE id = ?", (its[0]["id"],))[0]
        self.assertEqual(bytes(row[0]), body.encode("utf-8"))

    def test_hostile_subject_and_body(self):
        """quotes, backslashes, control chars, SQL, HTML, formats, emoji: stored and returned byte-exactly"""
        for i, s in enumerate(HOSTILE):
            for ascii_only in (True, False):
                with self.subTest(i=i, escaped=ascii_only, text=s):
                    self.assertLessEqual(len(s.encode()), 200)
                    r = send_json("POST", "/api/v1/tickets", "cust1",
                                  {"subject": s, "body": s + "\n" + s},
                                  ascii_only=ascii_only)
                    self.assertEqual(r.status, 201, r)
                    self.assertTicket(r.json)
                    self.check_everywhere(r.json, s, s + "\n" + s)

    def test_hostile_all_in_one_body_and_comment(self):
        """all the hostile strings in one body and in a comment, both ways of sending"""
        big = "\n".join(HOSTILE) * 3
        t = self.create("cust1", subject="hostile body", body=big)
        self.check_everywhere(t, "hostile body", big)
        for ascii_only in (True, False):
            r = send_json("POST", tpath(t["id"], "/interactions"), "agent1",
                          {"body": big}, ascii_only=ascii_only)
            self.assertEqual(r.status, 201, r)
            self.assertEqual(r.json["body"], big)
            its = self.all_interactions(t["id"])
            self.assertEqual(its[-1]["id"], r.json["id"])
            self.assertEqual(its[-1]["body"], big)

    def test_hostile_patch_subject(self):
        """a hostile subject set by PATCH is kept byte-exactly"""
        t = self.create("cust1", subject="plain")
        for s in HOSTILE:
            with self.subTest(text=s):
                p = self.patch(t["id"], "agent1", {"subject": s})
                self.assertEqual(p["subject"], s)
                self.assertEqual(self.get(t["id"], "cust1")["subject"], s)
                self.assertEqual(self.get(t["id"], "agent1")["subject"], s)


# ------------------------------------------------------------- visibility

class VisibilityTest(TicketCase):

    def test_customer_sees_only_own(self):
        """another customer's ticket: GET, its interactions, PATCH, comment are 404"""
        t = self.create("cust1", subject="private")
        tid = t["id"]
        for cached in (False, True):
            if cached:
                self.get(tid, "agent1")   # fills ticket:{id}
                self.get(tid, "agent1")
            else:
                STACK.redis("DEL", "ticket:%d" % tid)
            with self.subTest(cached=cached):
                self.assertError(call("GET", tpath(tid), "cust2"), 404,
                                 "not_found")
                self.assertError(call("GET", tpath(tid, "/interactions"),
                                      "cust2"), 404, "not_found")
                n0 = pending_len()
                self.assertError(send_json("PATCH", tpath(tid), "cust2",
                                           {"status": "closed"}), 404,
                                 "not_found")
                self.assertError(send_json("POST",
                                           tpath(tid, "/interactions"),
                                           "cust2", {"body": "hi"}), 404,
                                 "not_found")
                self.assertNoTask(n0, "other customer's writes")
        self.assertEqual(self.get(tid, "agent1"), t,
                         "the ticket changed after the refused writes")
        self.assertEqual(len(self.all_interactions(tid)), 1)

    def test_same_answer_as_missing(self):
        """a hidden ticket answers exactly like a missing one (no leak)"""
        t = self.create("cust1", subject="hidden")
        missing = db_query("SELECT max(id) FROM tickets")[0][0] + 1000
        for suffix in ("", "/interactions"):
            a = call("GET", tpath(t["id"], suffix), "cust2")
            b = call("GET", tpath(missing, suffix), "cust2")
            self.assertError(a, 404, "not_found")
            self.assertError(b, 404, "not_found")
            self.assertEqual(a.json, b.json)

    def test_staff_see_all(self):
        """agents and admins see every ticket and its interactions"""
        t = self.create("cust2", subject="for staff")
        for who in ("agent1", "agent2", "admin1"):
            with self.subTest(who=who):
                self.assertEqual(self.get(t["id"], who), t)
                self.assertEqual(len(self.interactions(t["id"], who)[
                    "interactions"]), 1)

    def test_list_customer_own_only(self):
        """GET /tickets for a customer holds only its tickets; staff see both"""
        a = self.create("cust1", subject="list a")
        b = self.create("cust2", subject="list b")
        for who, mine in (("cust1", a), ("cust2", b)):
            ids = []
            for page in self.walk("/api/v1/tickets", who, "tickets", 100):
                for t in page:
                    self.assertTicket(t)
                    self.assertEqual(t["requester_id"], U[who].id, t)
                    ids.append(t["id"])
            self.assertIn(mine["id"], ids)
        ids = [t["id"] for p in self.walk("/api/v1/tickets", "agent1",
                                          "tickets", 100) for t in p]
        self.assertIn(a["id"], ids)
        self.assertIn(b["id"], ids)

    def test_bad_ids_in_path(self):
        """ids in the path that are not plain decimal: 404"""
        t = self.create("cust1", subject="path ids")
        for p in ("0", "-1", "0%d" % t["id"], "+%d" % t["id"], "abc",
                  "9223372036854775808", "1e3", "%d%%20" % t["id"]):
            with self.subTest(id=p):
                self.assertError(call("GET", "/api/v1/tickets/" + p,
                                      "agent1"), 404, "not_found")

    def test_no_token(self):
        """no or a bad token: 401"""
        for who in (None, User(0, "x" * 43, "nobody", "customer")):
            r = call("GET", "/api/v1/tickets", who)
            self.assertError(r, 401, "unauthorized")
            r = send_json("POST", "/api/v1/tickets", who,
                          {"subject": "s", "body": "b"})
            self.assertError(r, 401, "unauthorized")


# ------------------------------------------------------------- listing

class ListTest(TicketCase):

    def ids(self, who, query):
        out = []
        for page in self.walk("/api/v1/tickets" + query, who, "tickets",
                              100):
            for t in page:
                self.assertTicket(t)
                out.append(t)
        got = [t["id"] for t in out]
        self.assertEqual(got, sorted(got, reverse=True), "newest first")
        self.assertEqual(len(got), len(set(got)), "duplicates")
        return out

    def test_filters(self):
        """?status= and ?assignee_id= (alone and together), for a customer and for staff"""
        lc = add_user("listcust", "customer")
        la = add_user("listagent", "agent")
        ts = [self.create(lc, subject="filter %d" % i)["id"]
              for i in range(6)]
        self.patch(ts[0], "agent1", {"status": "pending"})
        self.patch(ts[1], "agent1", {"status": "closed"})
        self.patch(ts[2], "agent1", {"assignee_id": la.id})
        self.patch(ts[3], "agent1", {"assignee_id": la.id,
                                     "status": "pending"})
        want = {"open": {ts[2], ts[4], ts[5]}, "pending": {ts[0], ts[3]},
                "closed": {ts[1]}}
        for st, ids in want.items():
            with self.subTest(status=st, who="customer"):
                got = self.ids(lc, "?status=" + st)
                self.assertEqual({t["id"] for t in got}, ids)
            with self.subTest(status=st, who="staff"):
                got = self.ids("agent1", "?status=" + st)
                for t in got:
                    self.assertEqual(t["status"], st, t)
                self.assertLessEqual(ids, {t["id"] for t in got})
        with self.subTest(assignee="listagent"):
            got = self.ids("agent1", "?assignee_id=%d" % la.id)
            self.assertEqual({t["id"] for t in got}, {ts[2], ts[3]})
            for t in got:
                self.assertEqual(t["assignee_id"], la.id, t)
            got = self.ids(lc, "?assignee_id=%d" % la.id)
            self.assertEqual({t["id"] for t in got}, {ts[2], ts[3]})
        with self.subTest(assignee="listagent", status="pending"):
            got = self.ids("agent1", "?assignee_id=%d&status=pending" % la.id)
            self.assertEqual([t["id"] for t in got], [ts[3]])
            got = self.ids("agent1", "?status=closed&assignee_id=%d" % la.id)
            self.assertEqual(got, [])
        with self.subTest(assignee="nobody's"):
            self.assertEqual(self.ids("agent1", "?assignee_id=%d" % lc.id),
                             [])
        with self.subTest(who="customer, no filter"):
            got = self.ids(lc, "")
            self.assertEqual([t["id"] for t in got], sorted(ts, reverse=True))

    def test_bad_query(self):
        """limit 0/101/x, status bogus, bad assignee_id or before: 400 naming the parameter"""
        cases = [("limit", v) for v in ("0", "101", "x", "-1", "", "1.5",
                                        "%2010", "99999999999999999999")]
        cases += [("status", v) for v in ("bogus", "OPEN", "", "open%20",
                                          "closed,open")]
        cases += [("assignee_id", v) for v in ("x", "0", "-1", "01", "")]
        cases += [("before", v) for v in ("0", "x", "-5", "")]
        for name, v in cases:
            for who in ("cust1", "agent1"):
                with self.subTest(param=name, value=v, who=who):
                    r = call("GET", "/api/v1/tickets?%s=%s" % (name, v), who)
                    err = self.assertError(r, 400, "invalid_field")
                    self.assertEqual(err.get("field"), name, r)

    def test_limits_accepted(self):
        """limit 1 and 100 accepted; default 20"""
        pc = add_user("pagecust", "customer")
        ts = [self.create(pc, subject="page %d" % i)["id"]
              for i in range(21)]
        r = call("GET", "/api/v1/tickets", pc)
        self.assertEqual(r.status, 200, r)
        self.assertEqual([t["id"] for t in r.json["tickets"]],
                         sorted(ts, reverse=True)[:20])
        self.assertEqual(r.json["next_before"], r.json["tickets"][-1]["id"])
        r2 = call("GET", "/api/v1/tickets?before=%d" % r.json["next_before"],
                  pc)
        self.assertEqual(r2.status, 200, r2)
        self.assertEqual([t["id"] for t in r2.json["tickets"]], [min(ts)])
        self.assertIsNone(r2.json["next_before"])
        r = call("GET", "/api/v1/tickets?limit=1", pc)
        self.assertEqual([t["id"] for t in r.json["tickets"]], [max(ts)])
        self.assertEqual(r.json["next_before"], max(ts))
        r = call("GET", "/api/v1/tickets?limit=100", pc)
        self.assertEqual(len(r.json["tickets"]), 21)
        self.assertIsNone(r.json["next_before"])

    def test_paging_sees_each_once(self):
        """following next_before sees every ticket once, newest first (exact pages and not)"""
        pc = add_user("pagecust2", "customer")
        ts = [self.create(pc, subject="walk %d" % i)["id"]
              for i in range(21)]
        for limit in (1, 3, 7, 8, 20, 21, 100):
            with self.subTest(limit=limit, who="customer"):
                pages = self.walk("/api/v1/tickets", pc, "tickets", limit)
                got = [t["id"] for p in pages for t in p]
                self.assertEqual(got, sorted(ts, reverse=True))
        # staff: every ticket of the database, once
        all_ids = [r[0] for r in db_query(
            "SELECT id FROM tickets ORDER BY id DESC")]
        for limit in (9, 50):
            with self.subTest(limit=limit, who="staff"):
                pages = self.walk("/api/v1/tickets", "admin1", "tickets",
                                  limit)
                got = [t["id"] for p in pages for t in p]
                self.assertEqual(got, all_ids)
        with self.subTest(filter="status=open"):
            pages = self.walk("/api/v1/tickets?status=open", "agent1",
                              "tickets", 4)
            got = [t["id"] for p in pages for t in p]
            self.assertEqual(got, [r[0] for r in db_query(
                "SELECT id FROM tickets WHERE status = 'open' "
                "ORDER BY id DESC")])


# ------------------------------------------------------------- PATCH

class PatchTest(TicketCase):

    def snapshot(self, tid):
        return (self.get(tid, "admin1"),
                [i["id"] for i in self.all_interactions(tid)])

    def test_staff_fields_no_status(self):
        """staff set priority, subject, assignee_id (agent, admin, null): no interaction, no task"""
        t = self.create("cust1", subject="staff fields")
        tid = t["id"]
        n_it = len(self.all_interactions(tid))
        steps = [("agent1", {"priority": "urgent"}, "priority", "urgent"),
                 ("agent1", {"subject": "renamed"}, "subject", "renamed"),
                 ("agent2", {"assignee_id": U["agent1"].id}, "assignee_id",
                  U["agent1"].id),
                 ("admin1", {"assignee_id": U["admin1"].id}, "assignee_id",
                  U["admin1"].id),
                 ("agent1", {"assignee_id": None}, "assignee_id", None),
                 ("admin1", {"priority": "low", "subject": "both"},
                  "priority", "low")]
        for who, body, field, value in steps:
            with self.subTest(who=who, body=body):
                n0 = pending_len()
                before = self.get(tid)
                p = self.patch(tid, who, body)
                self.assertEqual(p[field], value, p)
                for k, v in body.items():
                    self.assertEqual(p[k], v, p)
                for k in ("status", "requester_id", "created_at",
                          "closed_at"):
                    self.assertEqual(p[k], before[k], "%s changed: %r" % (k,
                                                                         p))
                self.assertEqual(self.get(tid, "cust1"), p)
                self.assertNoTask(n0, "PATCH %r" % (body,))
                self.assertEqual(len(self.all_interactions(tid)), n_it,
                                 "PATCH %r added an interaction" % (body,))

    def test_assignee_must_be_staff(self):
        """assignee_id of a customer, unknown or malformed: 400 invalid_field assignee_id, nothing changes"""
        t = self.create("cust1", subject="assignee rules")
        tid = t["id"]
        self.patch(tid, "agent1", {"assignee_id": U["agent2"].id})
        snap = self.snapshot(tid)
        for bad in (U["cust2"].id, U["cust1"].id, 2 ** 62, 0, -3, "5",
                    str(U["agent1"].id), 1.5, True, [U["agent1"].id]):
            with self.subTest(assignee_id=bad):
                n0 = pending_len()
                r = send_json("PATCH", tpath(tid), "agent1",
                              {"assignee_id": bad})
                err = self.assertError(r, 400, "invalid_field")
                self.assertEqual(err.get("field"), "assignee_id", r)
                # together with a valid change: refused as a whole
                r = send_json("PATCH", tpath(tid), "agent1",
                              {"assignee_id": bad, "priority": "urgent",
                               "status": "closed"})
                err = self.assertError(r, 400, "invalid_field")
                self.assertEqual(err.get("field"), "assignee_id", r)
                self.assertEqual(self.snapshot(tid), snap)
                self.assertNoTask(n0, "refused assignee %r" % (bad,))

    def test_staff_bad_values(self):
        """bad status, priority or subject from staff: 400 naming the field, nothing changes"""
        t = self.create("cust1", subject="bad values")
        tid = t["id"]
        snap = self.snapshot(tid)
        cases = [({"status": s}, "status") for s in
                 ("bogus", "Closed", "", "resolved", 1, None, ["open"])]
        cases += [({"priority": p}, "priority") for p in
                  ("NORMAL", "", "x", 2, None)]
        cases += [({"subject": s}, "subject") for s in
                  ("", "   ", "\t\n", "a" * 201, "\u20ac" * 67, 5, None,
                   ["s"])]
        for body, field in cases:
            with self.subTest(body=body):
                n0 = pending_len()
                r = send_json("PATCH", tpath(tid), "agent1", body)
                err = self.assertError(r, 400, "invalid_field")
                self.assertEqual(err.get("field"), field, r)
                self.assertEqual(self.snapshot(tid), snap)
                self.assertNoTask(n0, "refused PATCH %r" % (body,))
        # the 200-byte subject is fine
        p = self.patch(tid, "agent1", {"subject": "\u20ac" * 66 + "ab"})
        self.assertEqual(p["subject"], "\u20ac" * 66 + "ab")

    def test_requester_may_only_close(self):
        """requester: any other field or status is 403 as a whole and nothing changes"""
        t = self.create("cust1", subject="requester rules")
        tid = t["id"]
        self.patch(tid, "agent1", {"status": "pending",
                                   "assignee_id": U["agent1"].id})
        forbidden = [
            {"status": "open"}, {"status": "pending"}, {"priority": "high"},
            {"priority": "normal"}, {"subject": "mine now"},
            {"subject": "requester rules"}, {"assignee_id": None},
            {"assignee_id": U["agent2"].id},
            {"status": "closed", "priority": "urgent"},
            {"status": "closed", "subject": "x"},
            {"status": "closed", "assignee_id": None},
            {"status": "closed", "assignee_id": U["agent1"].id},
        ]
        for state in ("pending", "closed"):
            if state == "closed":
                self.patch(tid, "agent1", {"status": "closed"})
            snap = self.snapshot(tid)
            for body in forbidden:
                with self.subTest(state=state, body=body):
                    n0 = pending_len()
                    r = send_json("PATCH", tpath(tid), "cust1", body)
                    self.assertError(r, 403, "forbidden")
                    self.assertEqual(self.snapshot(tid), snap,
                                     "a refused PATCH %r changed the ticket"
                                     % (body,))
                    self.assertNoTask(n0, "refused PATCH %r" % (body,))

    def test_requester_close(self):
        """the requester closes: closed_at set, one status_change by it, one status_changed task"""
        t = self.create("cust1", subject="to close")
        tid = t["id"]
        its0 = self.all_interactions(tid)
        time.sleep(0.005)
        n0 = pending_len()
        p = self.patch(tid, "cust1", {"status": "closed"})
        self.assertEqual(p["status"], "closed")
        self.assertRegex(p["closed_at"] or "", TIME_RE)
        self.assertGreater(parse_time(p["closed_at"]),
                           parse_time(t["created_at"]))
        self.assertGreater(parse_time(p["last_activity_at"]),
                           parse_time(t["last_activity_at"]))
        self.assertEqual(self.get(tid, "cust1"), p)
        its = self.all_interactions(tid)
        self.assertEqual(len(its), len(its0) + 1, its)
        new = its[-1]
        self.assertEqual(new["kind"], "status_change", new)
        self.assertEqual(new["author_id"], U["cust1"].id, new)
        self.assertTrue(new["body"].strip(), new)
        self.assertOneTask(n0, tid, "status_changed", U["cust1"].id,
                           "requester close")
        # closing a closed ticket again changes no status: nothing added
        n0 = pending_len()
        again = self.patch(tid, "cust1", {"status": "closed"})
        self.assertEqual(again["closed_at"], p["closed_at"])
        self.assertEqual(again["status"], "closed")
        self.assertEqual(len(self.all_interactions(tid)), len(its))
        self.assertNoTask(n0, "requester closes a closed ticket")
        # unknown fields are ignored, not a reason for 403
        t2 = self.create("cust1", subject="close with extra")
        p2 = self.patch(t2["id"], "cust1", {"status": "closed", "note": "x"})
        self.assertEqual(p2["status"], "closed")

    def test_status_changes(self):
        """each status change: exactly one status_change interaction by the caller and one task; closed_at set, then null on reopen"""
        t = self.create("cust1", subject="lifecycle")
        tid = t["id"]
        prev = t
        steps = [("agent1", {"status": "pending"}, True),
                 ("agent1", {"status": "pending"}, False),
                 ("agent2", {"status": "closed", "priority": "high"}, True),
                 ("agent1", {"status": "closed"}, False),
                 ("agent1", {"status": "closed", "priority": "low"}, False),
                 ("admin1", {"status": "open"}, True),
                 ("admin1", {"status": "open", "subject": "lc2"}, False),
                 ("agent1", {}, False),
                 ("admin1", {"status": "closed"}, True),
                 ("agent2", {"status": "pending",
                             "assignee_id": U["agent2"].id}, True)]
        for who, body, moves in steps:
            with self.subTest(who=who, body=body):
                its0 = self.all_interactions(tid)
                time.sleep(0.005)
                n0 = pending_len()
                p = self.patch(tid, who, body)
                for k, v in body.items():
                    self.assertEqual(p[k], v, p)
                self.assertEqual(self.get(tid), p)
                its = self.all_interactions(tid)
                if moves:
                    self.assertEqual(len(its), len(its0) + 1,
                                     "interactions after %r: %r" % (body,
                                                                    its))
                    new = its[-1]
                    self.assertEqual(new["kind"], "status_change", new)
                    self.assertEqual(new["author_id"], U[who].id, new)
                    self.assertOneTask(n0, tid, "status_changed", U[who].id,
                                       "PATCH %r" % (body,))
                    self.assertGreater(parse_time(p["last_activity_at"]),
                                       parse_time(prev["last_activity_at"]))
                    if p["status"] == "closed":
                        self.assertRegex(p["closed_at"] or "", TIME_RE)
                        self.assertGreaterEqual(
                            parse_time(p["closed_at"]),
                            parse_time(prev["updated_at"]))
                    else:
                        self.assertIsNone(p["closed_at"], p)
                else:
                    self.assertEqual(its, its0,
                                     "PATCH %r without a status change added"
                                     " an interaction" % (body,))
                    self.assertNoTask(n0, "PATCH %r" % (body,))
                    self.assertEqual(p["closed_at"], prev["closed_at"], p)
                prev = p

    def test_patch_unknown_ticket(self):
        """PATCH of a missing ticket: 404 for staff and customers"""
        missing = db_query("SELECT max(id) FROM tickets")[0][0] + 1000
        for who in ("agent1", "cust1"):
            self.assertError(send_json("PATCH", tpath(missing), who,
                                       {"status": "closed"}), 404,
                             "not_found")


# ------------------------------------------------------------- interactions

class InteractionTest(TicketCase):

    def test_post_by_requester_and_staff(self):
        """201 + Location, the interaction object, last_activity_at bumped, one comment_added task"""
        t = self.create("cust1", subject="talk")
        tid = t["id"]
        prev = t
        for who in ("cust1", "agent1", "admin1"):
            with self.subTest(who=who):
                time.sleep(0.005)
                n0 = pending_len()
                body = "reply from %s \u2713" % who
                r = self.comment(tid, who, body)
                self.assertJsonType(r)
                it = r.json
                self.assertEqual(it["ticket_id"], tid)
                self.assertEqual(it["author_id"], U[who].id)
                self.assertEqual(it["kind"], "comment")
                self.assertEqual(it["body"], body)
                loc = r.headers.get("Location")
                self.assertTrue(loc, "no Location on %r" % (r,))
                self.assertTrue(loc.startswith(
                    "/api/v1/tickets/%d/interactions" % tid), loc)
                g = call("GET", loc, who)
                self.assertEqual(g.status, 200, g)
                self.assertIn(it, g.json["interactions"],
                              "Location %s does not name it" % loc)
                self.assertEqual(self.all_interactions(tid)[-1], it)
                now = self.get(tid, "agent1")
                self.assertGreater(parse_time(now["last_activity_at"]),
                                   parse_time(prev["last_activity_at"]))
                self.assertGreaterEqual(parse_time(now["last_activity_at"]),
                                        parse_time(it["created_at"]))
                self.assertEqual(now["status"], "open")
                self.assertOneTask(n0, tid, "comment_added", U[who].id,
                                   "comment by " + who)
                prev = now

    def test_body_rules(self):
        """comment body 1..10000 bytes, not blank: 400 naming body; nothing stored"""
        t = self.create("cust1", subject="comment limits")
        tid = t["id"]
        r = self.comment(tid, "cust1", "c" * 10000)
        self.assertEqual(r.json["body"], "c" * 10000)
        r = self.comment(tid, "agent1", "\u20ac" * 3333 + "c")
        n_it = len(self.all_interactions(tid))
        for obj in ({"body": "c" * 10001}, {"body": "\u20ac" * 3334},
                    {"body": ""}, {"body": " \n\t "}, {}, {"body": None},
                    {"body": 12}, {"text": "x"}):
            with self.subTest(body=obj):
                n0 = pending_len()
                r = send_json("POST", tpath(tid, "/interactions"), "cust1",
                              obj)
                err = self.assertError(r, 400, "invalid_field")
                self.assertEqual(err.get("field"), "body", r)
                self.assertEqual(len(self.all_interactions(tid)), n_it)
                self.assertNoTask(n0, "refused comment %r" % (obj,))

    def test_not_visible(self):
        """comment on another customer's or a missing ticket: 404"""
        t = self.create("cust1", subject="not yours")
        missing = db_query("SELECT max(id) FROM tickets")[0][0] + 1000
        n0 = pending_len()
        for tid, who in ((t["id"], "cust2"), (missing, "cust1"),
                         (missing, "agent1")):
            with self.subTest(tid=tid, who=who):
                r = send_json("POST", tpath(tid, "/interactions"), who,
                              {"body": "hello"})
                self.assertError(r, 404, "not_found")
        self.assertNoTask(n0, "refused comments")
        self.assertEqual(len(self.all_interactions(t["id"])), 1)

    def test_requester_comment_reopens(self):
        """a requester's comment on a closed ticket reopens it, with one comment_added task"""
        t = self.create("cust1", subject="reopen me")
        tid = t["id"]
        closed = self.patch(tid, "cust1", {"status": "closed"})
        self.assertEqual(closed["status"], "closed")
        self.get(tid, "cust1")    # cached while closed
        n0 = pending_len()
        r = self.comment(tid, "cust1", "still broken")
        now = self.get(tid, "cust1")
        self.assertEqual(now["status"], "open", now)
        self.assertIsNone(now["closed_at"], now)
        self.assertEqual(self.get(tid, "agent1"), now)
        its = self.all_interactions(tid)
        self.assertIn(r.json, its)
        self.assertEqual(its[-1]["kind"], "comment", its)
        self.assertOneTask(n0, tid, "comment_added", U["cust1"].id,
                           "reopening comment")
        # listed as open again
        ids = [x["id"] for p in self.walk("/api/v1/tickets?status=open",
                                          "cust1", "tickets", 100)
               for x in p]
        self.assertIn(tid, ids)

    def test_staff_comment_keeps_closed(self):
        """a staff comment on a closed ticket does not reopen it"""
        t = self.create("cust1", subject="stay closed")
        tid = t["id"]
        closed = self.patch(tid, "agent1", {"status": "closed"})
        n0 = pending_len()
        self.comment(tid, "agent1", "closing note")
        now = self.get(tid, "cust1")
        self.assertEqual(now["status"], "closed", now)
        self.assertEqual(now["closed_at"], closed["closed_at"], now)
        self.assertOneTask(n0, tid, "comment_added", U["agent1"].id,
                           "staff comment on a closed ticket")

    def test_paging_oldest_first(self):
        """each page oldest first; following next_before sees every interaction once"""
        t = self.create("cust1", subject="long thread", body="c0")
        tid = t["id"]
        for i in range(1, 13):
            self.comment(tid, "cust1" if i % 2 else "agent1", "c%d" % i)
        self.patch(tid, "agent1", {"status": "pending"})   # one more (14)
        want = [r[0] for r in db_query(
            "SELECT id FROM interactions WHERE ticket_id = ? ORDER BY id",
            (tid,))]
        self.assertEqual(len(want), 14)
        full = self.all_interactions(tid)
        self.assertEqual([i["id"] for i in full], want)
        self.assertEqual([i["body"] for i in full[:13]],
                         ["c%d" % i for i in range(13)])
        for limit in (1, 4, 5, 7, 14, 100):
            for who in ("cust1", "agent2"):
                with self.subTest(limit=limit, who=who):
                    pages = self.walk(tpath(tid, "/interactions"), who,
                                      "interactions", limit)
                    for p in pages:
                        ids = [i["id"] for i in p]
                        self.assertEqual(ids, sorted(ids),
                                         "a page is oldest first")
                    for a, b in zip(pages, pages[1:]):
                        self.assertLess(b[-1]["id"], a[0]["id"],
                                        "pages walk back in time")
                    got = sorted(i["id"] for p in pages for i in p)
                    self.assertEqual(got, want)
                    self.assertEqual(len(got), len(set(got)))
                    # the first page is the newest ones
                    self.assertEqual([i["id"] for i in pages[0]],
                                     want[-limit:])

    def test_bad_query(self):
        """interactions ?limit= and ?before= validated: 400 naming the parameter"""
        t = self.create("cust1", subject="query")
        for name, v in (("limit", "0"), ("limit", "101"), ("limit", "x"),
                        ("before", "0"), ("before", "x"), ("before", "-1")):
            with self.subTest(param=name, value=v):
                r = call("GET", tpath(t["id"], "/interactions?%s=%s" % (
                    name, v)), "cust1")
                err = self.assertError(r, 400, "invalid_field")
                self.assertEqual(err.get("field"), name, r)


class RaceTest(TicketCase):
    """Writes to one ticket from two pool processes at once. Each round
    starts the requests together (a barrier); a correct implementation
    passes every round whatever the interleaving."""

    ROUNDS = 12

    def together(self, *calls):
        barrier = threading.Barrier(len(calls))
        results = [None] * len(calls)

        def run(i, fn):
            try:
                barrier.wait(10)
                results[i] = fn()
            except Exception as e:  # noqa: BLE001 - reported below
                results[i] = e
        threads = [threading.Thread(target=run, args=(i, fn))
                   for i, fn in enumerate(calls)]
        for th in threads:
            th.start()
        for th in threads:
            th.join(30)
        for r in results:
            if isinstance(r, Exception):
                raise r
        return results

    def test_concurrent_patches_of_different_fields(self):
        """two staff PATCHes of different fields at once: both take effect (no lost update)"""
        lost = []
        for i in range(self.ROUNDS):
            tid = self.create("cust1", subject="race %d" % i)["id"]
            rs = self.together(
                lambda: send_json("PATCH", tpath(tid), "agent1",
                                  {"priority": "urgent"}),
                lambda: send_json("PATCH", tpath(tid), "agent2",
                                  {"subject": "race %d renamed" % i}))
            for r in rs:
                self.assertEqual(r.status, 200, r)
            now = self.get(tid)
            if (now["priority"], now["subject"]) != ("urgent",
                                                     "race %d renamed" % i):
                lost.append((tid, now["priority"], now["subject"]))
        self.assertEqual(lost, [], "PATCH {priority: urgent} and PATCH "
                         "{subject: renamed} at once: the ticket lost one of "
                         "them in %d of %d rounds (ticket, priority, subject):"
                         " %r" % (len(lost), self.ROUNDS, lost))

    def test_concurrent_closes_one_change(self):
        """three closes of an open ticket at once: one status_change interaction and one task in all"""
        bad = []
        for i in range(self.ROUNDS):
            tid = self.create("cust1", subject="close race %d" % i)["id"]
            n0 = pending_len()
            rs = self.together(*[
                (lambda w=w: send_json("PATCH", tpath(tid), w,
                                       {"status": "closed"}))
                for w in ("agent1", "agent2", "cust1")])
            for r in rs:
                self.assertEqual(r.status, 200, r)
                self.assertEqual(r.json["status"], "closed", r)
            n_it = db_query("SELECT count(*) FROM interactions WHERE "
                            "ticket_id = ? AND kind = 'status_change'",
                            (tid,))[0][0]
            tasks = [t for t in pending_since(n0)
                     if t["payload"].get("ticket_id") == tid]
            if n_it != 1 or len(tasks) != 1:
                bad.append((tid, n_it, len(tasks)))
        self.assertEqual(bad, [], "one status change (open -> closed) asked "
                         "three times at once must add exactly one "
                         "status_change interaction and one task; rounds "
                         "(ticket, interactions, tasks): %r" % (bad,))

    def test_comment_does_not_undo_a_patch(self):
        """a comment at the same time as a staff PATCH does not undo the PATCH"""
        lost = []
        for i in range(self.ROUNDS):
            tid = self.create("cust1", subject="comment race %d" % i)["id"]
            rs = self.together(
                lambda: send_json("POST", tpath(tid, "/interactions"),
                                  "agent1", {"body": "note %d" % i}),
                lambda: send_json("PATCH", tpath(tid), "agent2",
                                  {"priority": "high", "status": "pending"}))
            self.assertEqual(rs[0].status, 201, rs[0])
            self.assertEqual(rs[1].status, 200, rs[1])
            now = self.get(tid)
            if (now["priority"], now["status"]) != ("high", "pending"):
                lost.append((tid, now["priority"], now["status"]))
        self.assertEqual(lost, [], "a staff comment and PATCH {priority: "
                         "high, status: pending} at once: the PATCH was "
                         "undone in %d of %d rounds (ticket, priority, "
                         "status): %r" % (len(lost), self.ROUNDS, lost))


class ZPoolTest(TicketCase):

    def test_pool_alive(self):
        """no pool process died; nothing left in the outbox"""
        self.assertEqual(len(STACK.pool_pids()), STACK.pool_size)
        self.assertEqual(outbox_count(), 0)


if __name__ == "__main__":
    tap.main()
