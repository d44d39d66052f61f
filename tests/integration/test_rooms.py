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

"""Rooms and messages (API.md sections 1-4): who may create, list, see and
post; the message body limits counted in UTF-8 bytes; bodies kept byte for
byte; paging with next_before; the room list messages:room:{id} in Redis
(X-Cache HIT/MISS/BYPASS, cap, TTL); Redis stopped and back.

The cache race between many processes is in test_room_race.py; the rate
limit in test_ratelimit.py. This stack runs with a rate limit high enough
never to be reached."""

import json
import os
import re
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
import helpers  # noqa: E402
from helpers import is_int, list_key  # noqa: E402
import tap  # noqa: E402

STACK = None
U = {}          # name -> {"token", "id", "role"}
CACHE = 50      # room_cache_size (default)
TTL = 3600      # room_cache_ttl (default)

TIME_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
ROOM_KEYS = {"id", "name", "created_at", "member_ids"}
MESSAGE_KEYS = {"id", "room_id", "user_id", "body", "created_at"}


# ---------------------------------------------------------------- helpers

def call(method, path, who=None, body=None, headers=None):
    """who: a user name of U, or a raw token, or None."""
    tok = U[who]["token"] if who in U else who
    return helpers.request(STACK, method, path, tok, body, headers)


def post_raw(path, who, obj, ascii_only=True):
    """POSTs obj as JSON; ascii_only=False sends raw UTF-8 (no \\u
    escapes)."""
    data = json.dumps(obj, ensure_ascii=ascii_only).encode("utf-8")
    return call("POST", path, who, body=data,
                headers={"Content-Type": "application/json"})


def add_user(name, role):
    uid, tok = helpers.add_user(STACK, name, "%s@example.test" % name, role,
                                via_me=True)
    U[name] = {"token": tok, "id": uid, "role": role}
    return U[name]


def uid(name):
    return U[name]["id"]


def db_query(sql, args=()):
    """Reads the stack's SQLite file directly, read-only."""
    return helpers.db_query(STACK.db_path, sql, args)


def db_messages(room):
    """Every message of the room as API objects, newest first."""
    return helpers.db_messages(STACK, room)


class RoomsCase(harness.ApiTestCase):

    # ---- building blocks ------------------------------------------------

    def create_room(self, who="agent", name="room", members=()):
        r = call("POST", "/api/v1/rooms", who,
                 {"name": name, "member_ids": [uid(m) for m in members]})
        self.assertEqual(r.status, 201, r)
        return r.json["id"]

    def post(self, room, who, body, status=201):
        r = call("POST", "/api/v1/rooms/%d/messages" % room, who,
                 {"body": body})
        self.assertEqual(r.status, status, r)
        return r

    def post_many(self, room, who, n, tag="m"):
        return [self.post(room, who, "%s-%d" % (tag, i)).json["id"]
                for i in range(n)]

    def messages(self, room, who="agent", query=""):
        r = call("GET", "/api/v1/rooms/%d/messages%s" % (room, query), who)
        self.assertEqual(r.status, 200, r)
        self.assertJsonType(r)
        body = r.json
        self.assertEqual(set(body), {"messages", "next_before"}, r)
        for m in body["messages"]:
            self.assertEqual(set(m), MESSAGE_KEYS, r)
        return r, body

    def xcache(self, r):
        return r.headers.get("X-Cache")

    def assertPage(self, body, expected, limit, what):
        """body is the answer of a page whose items must be exactly
        expected[:limit]; next_before follows API.md section 3."""
        want = expected[:limit]
        got = body["messages"]
        self.assertEqual([m["id"] for m in got], [m["id"] for m in want],
                         "%s: ids" % what)
        self.assertEqual(got, want, "%s: message objects" % what)
        if len(want) == limit:
            self.assertEqual(body["next_before"], want[-1]["id"],
                             "%s: next_before of a full page" % what)
        else:
            self.assertIsNone(body["next_before"],
                              "%s: next_before of a short page" % what)

    def walk(self, room, limit, who="agent"):
        """Follows next_before from the first page until null or an empty
        page; returns every message seen, in order."""
        seen, before, pages = [], None, 0
        while True:
            q = "?limit=%d" % limit
            if before is not None:
                q += "&before=%d" % before
            r, body = self.messages(room, who, q)
            pages += 1
            self.assertLess(pages, 1000, "paging does not end")
            self.assertLessEqual(len(body["messages"]), limit, r)
            seen.extend(body["messages"])
            if body["next_before"] is None or not body["messages"]:
                return seen
            self.assertTrue(is_int(body["next_before"]), r)
            self.assertEqual(body["next_before"], body["messages"][-1]["id"],
                             r)
            before = body["next_before"]


def setUpModule():
    global STACK
    STACK = harness.Stack(name="test_rooms", pool_size=2, env={
        "CHATDESK_RATE_LIMIT_COUNT": "1000000"}).start()
    add_user("admin", "admin")
    add_user("agent", "agent")
    add_user("agent2", "agent")
    for n in ("cust1", "cust2", "cust3", "cust4", "loner"):
        add_user(n, "customer")


def tearDownModule():
    if STACK is not None:
        STACK.stop()


# ------------------------------------------------------------------ rooms

class RoomCreateTest(RoomsCase):

    def test_customer_forbidden(self):
        """POST /rooms by a customer: 403 forbidden, nothing created"""
        before = db_query("SELECT count(*) FROM rooms")[0][0]
        r = call("POST", "/api/v1/rooms", "cust1",
                 {"name": "mine", "member_ids": []})
        self.assertError(r, 403, "forbidden")
        self.assertEqual(db_query("SELECT count(*) FROM rooms")[0][0], before)

    def test_no_token(self):
        """POST /rooms without a token: 401 with WWW-Authenticate"""
        r = call("POST", "/api/v1/rooms", None, {"name": "x"})
        self.assertError(r, 401, "unauthorized")
        self.assertTrue(r.headers.get("WWW-Authenticate", "").startswith(
            "Bearer"), r)

    def test_create(self):
        """201, Location, the room object; creator and members are members"""
        for who in ("agent", "admin"):
            with self.subTest(creator=who):
                r = call("POST", "/api/v1/rooms", who,
                         {"name": "Support ü", "member_ids": [uid("cust1")]})
                self.assertEqual(r.status, 201, r)
                self.assertJsonType(r)
                self.assertRequestId(r)
                room = r.json
                self.assertEqual(set(room), ROOM_KEYS, r)
                self.assertTrue(is_int(room["id"]) and room["id"] > 0, r)
                self.assertEqual(room["name"], "Support ü")
                self.assertRegex(room["created_at"], TIME_RE)
                self.assertEqual(sorted(room["member_ids"]),
                                 sorted([uid(who), uid("cust1")]), r)
                loc = r.headers.get("Location")
                self.assertEqual(loc, "/api/v1/rooms/%d" % room["id"], r)
                g = call("GET", loc, who)
                self.assertEqual(g.status, 200, g)
                self.assertEqual(g.json["id"], room["id"])
                self.assertEqual(sorted(g.json["member_ids"]),
                                 sorted(room["member_ids"]))
                self.assertEqual(g.json["name"], room["name"])
                self.assertEqual(g.json["created_at"], room["created_at"])
                # the creator is a member in SQLite too
                self.assertEqual(db_query(
                    "SELECT count(*) FROM room_members WHERE room_id = ? "
                    "AND user_id = ?", (room["id"], uid(who)))[0][0], 1)

    def test_create_duplicate_members(self):
        """member_ids naming the creator or one user twice: each once"""
        r = call("POST", "/api/v1/rooms", "agent", {
            "name": "dups", "member_ids": [uid("agent"), uid("cust2"),
                                           uid("cust2")]})
        self.assertEqual(r.status, 201, r)
        self.assertEqual(sorted(r.json["member_ids"]),
                         sorted([uid("agent"), uid("cust2")]), r)

    def test_create_member_unknown(self):
        """an unknown user in member_ids: 400 invalid_field member_ids,
        no room created"""
        before = db_query("SELECT count(*) FROM rooms")[0][0]
        for ids in ([999999], [uid("cust1"), 999999],
                    [9223372036854775807]):
            with self.subTest(member_ids=ids):
                r = call("POST", "/api/v1/rooms", "agent",
                         {"name": "x", "member_ids": ids})
                err = self.assertError(r, 400, "invalid_field")
                self.assertEqual(err.get("field"), "member_ids", r)
        self.assertEqual(db_query("SELECT count(*) FROM rooms")[0][0], before)

    def test_create_member_ids_bad_type(self):
        """member_ids not an array of ids: 400 invalid_field member_ids"""
        before = db_query("SELECT count(*) FROM rooms")[0][0]
        for bad in (5, "1,2", {"a": 1}, True, [str(uid("cust1"))], [0], [-1],
                    [1.5], [None], [[uid("cust1")]]):
            with self.subTest(member_ids=bad):
                r = call("POST", "/api/v1/rooms", "agent",
                         {"name": "x", "member_ids": bad})
                err = self.assertError(r, 400, "invalid_field")
                self.assertEqual(err.get("field"), "member_ids", r)
        self.assertEqual(db_query("SELECT count(*) FROM rooms")[0][0], before)

    def test_create_name_invalid(self):
        """name missing, empty, white space, not a string: 400 name"""
        for body in ({"member_ids": []}, {"name": ""}, {"name": "  \t"},
                     {"name": 5}, {"name": None}):
            with self.subTest(body=body):
                r = call("POST", "/api/v1/rooms", "agent", body)
                err = self.assertError(r, 400, "invalid_field")
                self.assertEqual(err.get("field"), "name", r)


class RoomListTest(RoomsCase):

    def rooms(self, who, query=""):
        r = call("GET", "/api/v1/rooms" + query, who)
        self.assertEqual(r.status, 200, r)
        self.assertJsonType(r)
        body = r.json
        self.assertIn("rooms", body, r)
        self.assertLessEqual(set(body), {"rooms", "next_before"}, r)
        for room in body["rooms"]:
            self.assertEqual(set(room), ROOM_KEYS, r)
        return body

    def test_visibility_and_order(self):
        """customer sees only its rooms, staff every room, newest first"""
        a = self.create_room("agent", "A", ["cust3"])
        b = self.create_room("agent", "B", ["cust4"])
        c = self.create_room("admin", "C", ["cust3", "cust4"])
        mine = self.rooms("cust3", "?limit=100")["rooms"]
        ids = [x["id"] for x in mine]
        self.assertIn(a, ids)
        self.assertIn(c, ids)
        self.assertNotIn(b, ids)
        for room in mine:
            self.assertIn(uid("cust3"), room["member_ids"], room)
        want = [r for (r,) in db_query(
            "SELECT room_id FROM room_members WHERE user_id = ? "
            "ORDER BY room_id DESC", (uid("cust3"),))]
        self.assertEqual(ids, want)
        # a customer in no room sees an empty list
        self.assertEqual(self.rooms("loner")["rooms"], [])
        for who in ("agent", "agent2", "admin"):
            with self.subTest(staff=who):
                ids = [x["id"] for x in self.rooms(who, "?limit=100")["rooms"]]
                all_ids = [r for (r,) in db_query(
                    "SELECT id FROM rooms ORDER BY id DESC LIMIT 100")]
                self.assertEqual(ids, all_ids)
                self.assertEqual(ids, sorted(ids, reverse=True))

    def test_paging(self):
        """?limit with next_before: every room once, newest first"""
        for i in range(5):
            self.create_room("agent", "P%d" % i, ["cust4"])
        all_ids = [r for (r,) in db_query("SELECT id FROM rooms "
                                          "ORDER BY id DESC")]
        mine_ids = [r for (r,) in db_query(
            "SELECT room_id FROM room_members WHERE user_id = ? "
            "ORDER BY room_id DESC", (uid("cust4"),))]
        for who, want in (("agent", all_ids), ("cust4", mine_ids)):
            for limit in (1, 2, 3, len(want)):
                with self.subTest(who=who, limit=limit):
                    seen, q = [], "?limit=%d" % limit
                    for _ in range(len(want) + 2):
                        body = self.rooms(who, q)
                        page = [x["id"] for x in body["rooms"]]
                        self.assertLessEqual(len(page), limit)
                        seen.extend(page)
                        nb = body.get("next_before")
                        if len(page) == limit:
                            self.assertEqual(nb, page[-1], body)
                        else:
                            self.assertIsNone(nb, body)
                        if nb is None or not page:
                            break
                        q = "?limit=%d&before=%d" % (limit, nb)
                    self.assertEqual(seen, want)

    def test_bad_query(self):
        """GET /rooms?limit=0|101|x, ?before=0|x: 400 naming the parameter"""
        for q, field in (("limit=0", "limit"), ("limit=101", "limit"),
                         ("limit=x", "limit"), ("limit=-1", "limit"),
                         ("before=0", "before"), ("before=x", "before"),
                         ("before=-5", "before")):
            with self.subTest(query=q):
                r = call("GET", "/api/v1/rooms?" + q, "agent")
                err = self.assertError(r, 400, "invalid_field")
                self.assertEqual(err.get("field"), field, r)


class RoomGetTest(RoomsCase):

    def test_get(self):
        """member 200, non-member customer 404, staff 200, unknown 404"""
        room = self.create_room("agent", "G", ["cust1"])
        for who in ("cust1", "agent", "agent2", "admin"):
            with self.subTest(who=who):
                r = call("GET", "/api/v1/rooms/%d" % room, who)
                self.assertEqual(r.status, 200, r)
                self.assertJsonType(r)
                self.assertEqual(set(r.json), ROOM_KEYS, r)
                self.assertEqual(r.json["id"], room)
                self.assertEqual(sorted(r.json["member_ids"]),
                                 sorted([uid("agent"), uid("cust1")]))
        r = call("GET", "/api/v1/rooms/%d" % room, "cust2")
        self.assertError(r, 404, "not_found")
        missing = db_query("SELECT coalesce(max(id), 0) + 1000 FROM rooms")[0][0]
        for who in ("cust2", "agent", "admin"):
            with self.subTest(unknown_for=who):
                r = call("GET", "/api/v1/rooms/%d" % missing, who)
                self.assertError(r, 404, "not_found")
        # the non-member's 404 is the unknown room's 404
        a = call("GET", "/api/v1/rooms/%d" % room, "cust2").json
        b = call("GET", "/api/v1/rooms/%d" % missing, "cust2").json
        self.assertEqual(a["error"]["code"], b["error"]["code"])


class MembersTest(RoomsCase):

    def test_add_member(self):
        """POST members: 204, idempotent, the user can then see and post"""
        room = self.create_room("agent", "M", [])
        path = "/api/v1/rooms/%d/members" % room
        r = call("GET", "/api/v1/rooms/%d" % room, "cust2")
        self.assertError(r, 404, "not_found")
        for who in ("agent", "agent2", "admin"):
            with self.subTest(who=who):
                r = call("POST", path, who, {"user_id": uid("cust2")})
                self.assertEqual(r.status, 204, r)
                self.assertEqual(r.body, b"", r)
                self.assertRequestId(r)
        g = call("GET", "/api/v1/rooms/%d" % room, "cust2")
        self.assertEqual(g.status, 200, g)
        self.assertEqual(sorted(g.json["member_ids"]),
                         sorted([uid("agent"), uid("cust2")]), g)
        self.post(room, "cust2", "now I am in")

    def test_add_member_errors(self):
        """customer 403; unknown user 400 user_id; bad user_id 400;
        unknown room 404"""
        room = self.create_room("agent", "ME", ["cust1"])
        path = "/api/v1/rooms/%d/members" % room
        # a member customer may see the room, not add to it
        r = call("POST", path, "cust1", {"user_id": uid("cust2")})
        self.assertError(r, 403, "forbidden")
        r = call("POST", path, "cust2", {"user_id": uid("cust2")})
        self.assertIn(r.status, (403, 404), r)
        self.assertError(r, r.status, "forbidden" if r.status == 403
                         else "not_found")
        for bad in (999999, 0, -1, "5", None, 1.5):
            with self.subTest(user_id=bad):
                r = call("POST", path, "agent", {"user_id": bad})
                err = self.assertError(r, 400, "invalid_field")
                self.assertEqual(err.get("field"), "user_id", r)
        r = call("POST", path, "agent", {})
        err = self.assertError(r, 400, "invalid_field")
        self.assertEqual(err.get("field"), "user_id", r)
        self.assertEqual(db_query("SELECT count(*) FROM room_members WHERE "
                                  "room_id = ?", (room,))[0][0], 2)
        missing = db_query("SELECT coalesce(max(id), 0) + 1000 FROM rooms")[0][0]
        r = call("POST", "/api/v1/rooms/%d/members" % missing, "agent",
                 {"user_id": uid("cust2")})
        self.assertError(r, 404, "not_found")


# --------------------------------------------------------------- messages

class MessagePostTest(RoomsCase):

    def test_post(self):
        """member and staff post: 201 message object, Location; the
        non-member customer 404, unknown room 404"""
        room = self.create_room("agent", "P", ["cust1"])
        for who in ("cust1", "agent", "admin", "agent2"):
            with self.subTest(who=who):
                r = self.post(room, who, "hello from %s" % who)
                self.assertJsonType(r)
                self.assertRequestId(r)
                m = r.json
                self.assertEqual(set(m), MESSAGE_KEYS, r)
                self.assertTrue(is_int(m["id"]) and m["id"] > 0, r)
                self.assertEqual(m["room_id"], room)
                self.assertEqual(m["user_id"], uid(who))
                self.assertEqual(m["body"], "hello from %s" % who)
                self.assertRegex(m["created_at"], TIME_RE)
                loc = r.headers.get("Location")
                self.assertTrue(loc, "no Location on %r" % (r,))
                g = call("GET", loc, who)
                self.assertEqual(g.status, 200, g)
                self.assertEqual(g.json["messages"], [m], g)
                self.assertEqual(db_messages(room)[0], m)
        n = len(db_messages(room))
        r = call("POST", "/api/v1/rooms/%d/messages" % room, "cust2",
                 {"body": "let me in"})
        self.assertError(r, 404, "not_found")
        r = call("GET", "/api/v1/rooms/%d/messages" % room, "cust2")
        self.assertError(r, 404, "not_found")
        missing = db_query("SELECT coalesce(max(id), 0) + 1000 FROM rooms")[0][0]
        for who in ("cust1", "agent"):
            with self.subTest(unknown_room_for=who):
                r = call("POST", "/api/v1/rooms/%d/messages" % missing, who,
                         {"body": "x"})
                self.assertError(r, 404, "not_found")
                r = call("GET", "/api/v1/rooms/%d/messages" % missing, who)
                self.assertError(r, 404, "not_found")
        self.assertEqual(len(db_messages(room)), n)

    def test_body_limits(self):
        """body 1..4096 bytes of UTF-8: 4096 ok, 4097 400; multi-byte
        characters count as their bytes"""
        room = self.create_room("agent", "L", ["cust1"])
        ok = [("a" * 4096, "4096 ASCII"), ("a", "1 byte"),
              ("€" * 1365, "1365 euro = 4095 bytes"),
              ("€" * 1364 + "abcd", "4096 bytes mixed"),
              ("é" * 2048, "2048 e-acute = 4096 bytes"),
              ("😀" * 1024, "1024 emoji = 4096 bytes")]
        bad = [("a" * 4097, "4097 ASCII"),
               ("€" * 1366, "1366 euro = 4098 bytes"),
               ("€" * 1365 + "ab", "4097 bytes mixed"),
               ("é" * 2049, "2049 e-acute = 4098 bytes"),
               ("😀" * 1025, "1025 emoji = 4100 bytes"),
               ("a" * 5000, "5000 ASCII")]
        for text, what in ok:
            for ascii_only in (True, False):
                with self.subTest(ok=what, escaped=ascii_only):
                    self.assertLessEqual(len(text.encode()), 4096)
                    r = post_raw("/api/v1/rooms/%d/messages" % room, "cust1",
                                 {"body": text}, ascii_only)
                    self.assertEqual(r.status, 201, r)
                    self.assertEqual(r.json["body"], text)
        count = len(db_messages(room))
        for text, what in bad:
            for ascii_only in (True, False):
                with self.subTest(refused=what, escaped=ascii_only):
                    self.assertGreater(len(text.encode()), 4096)
                    r = post_raw("/api/v1/rooms/%d/messages" % room, "cust1",
                                 {"body": text}, ascii_only)
                    err = self.assertError(r, 400, "invalid_field")
                    self.assertEqual(err.get("field"), "body", r)
        self.assertEqual(len(db_messages(room)), count)

    def test_body_blank_or_missing(self):
        """empty, white-space-only, missing or non-string body: 400 body"""
        room = self.create_room("agent", "B", ["cust1"])
        for body in ({"body": ""}, {"body": " "}, {"body": " \t\r\n "},
                     {"body": "\n"}, {}, {"body": None}, {"body": 5},
                     {"body": ["x"]}, {"body": {"t": "x"}}, {"text": "x"}):
            with self.subTest(body=body):
                r = call("POST", "/api/v1/rooms/%d/messages" % room, "cust1",
                         body)
                err = self.assertError(r, 400, "invalid_field")
                self.assertEqual(err.get("field"), "body", r)
        self.assertEqual(db_messages(room), [])

    def test_bodies_byte_exact(self):
        """quotes, backslashes, control characters, SQL, HTML, emoji:
        stored and returned exactly (post answer, cached and SQLite reads)"""
        room = self.create_room("agent", "X", ["cust1"])
        texts = [
            'say "hi" and \'bye\'',
            'back\\slash \\n \\u0041 \\"',
            "ctl \u0001 \u0002 \u001f \u007f end",
            "line1\nline2\ttab\r\nCRLF",
            "'; DROP TABLE messages; --",
            "Robert'); DROP TABLE rooms;-- \" OR 1=1",
            '<script>alert("x")</script> &amp; &lt; <b>b</b>',
            "emoji 😀 👍🏽 👨‍👩‍👧 flags 🇫🇷",
            "€ é ü ß 中文 日本語 العربية",
            "\u2028 \u2029 \ufeff zero\u200bwidth",
            "  leading and trailing  ",
            '{"id":1,"room_id":2} not a message',
            '%s %d %n %x %%',
            "*3\r\n$3\r\nDEL\r\n",
            "]}, {\"messages\":[",
        ]
        sent = []
        for i, t in enumerate(texts):
            ascii_only = i % 2 == 0
            with self.subTest(body=t, escaped=ascii_only):
                r = post_raw("/api/v1/rooms/%d/messages" % room, "cust1",
                             {"body": t}, ascii_only)
                self.assertEqual(r.status, 201, r)
                r.body.decode("utf-8")  # valid UTF-8
                self.assertEqual(r.json["body"], t)
                sent.append((r.json["id"], t))
        # the same text, once escaped and once raw, gives equal rows
        db = {m["id"]: m for m in db_messages(room)}
        for mid, t in sent:
            self.assertEqual(db[mid]["body"].encode("utf-8"), t.encode("utf-8"),
                             "SQLite body of message %d" % mid)
        want = sorted(sent, reverse=True)
        STACK.redis("DEL", list_key(room))
        for q, cache in (("", "MISS"), ("", "HIT"), ("?limit=50", "HIT"),
                         ("?limit=100", "BYPASS"),
                         ("?before=%d" % (want[0][0] + 1), "BYPASS")):
            with self.subTest(read=q, cache=cache):
                r, body = self.messages(room, "cust1", q)
                self.assertEqual(self.xcache(r), cache, r)
                r.body.decode("utf-8")
                self.assertEqual([(m["id"], m["body"]) for m in
                                  body["messages"]], want)
        # the cached copies hold the same texts
        items = STACK.redis("LRANGE", list_key(room), 0, -1)
        self.assertEqual([(json.loads(x)["id"], json.loads(x)["body"])
                          for x in items], want)

    def test_messages_unknown_fields_and_type(self):
        """unknown fields are ignored; a non-JSON content type is 415"""
        room = self.create_room("agent", "U", ["cust1"])
        r = call("POST", "/api/v1/rooms/%d/messages" % room, "cust1",
                 {"body": "x", "extra": [1, 2], "id": 5, "user_id": 1})
        self.assertEqual(r.status, 201, r)
        self.assertEqual(r.json["user_id"], uid("cust1"))
        r = call("POST", "/api/v1/rooms/%d/messages" % room, "cust1",
                 body=b'{"body":"x"}', headers={"Content-Type": "text/plain"})
        self.assertError(r, 415, "unsupported_media_type")


class MessageReadTest(RoomsCase):

    def test_empty_room(self):
        """a room without messages: [] and next_before null"""
        room = self.create_room("agent", "E", ["cust1"])
        for q in ("", "?limit=1", "?limit=100", "?before=5"):
            with self.subTest(query=q):
                r, body = self.messages(room, "cust1", q)
                self.assertEqual(body, {"messages": [], "next_before": None})

    def test_default_limit_and_order(self):
        """newest first, default limit 50, next_before the 50th id"""
        room = self.create_room("agent", "D", ["cust1"])
        self.post_many(room, "cust1", 30, "a")
        self.post_many(room, "agent", 30, "b")
        want = db_messages(room)
        self.assertEqual(len(want), 60)
        for q in ("", "?limit=50"):
            for _ in range(2):  # a MISS (or BYPASS), then a HIT
                with self.subTest(query=q):
                    r, body = self.messages(room, "cust1", q)
                    self.assertPage(body, want, 50, "GET messages%s" % q)
        r, body = self.messages(room, "cust1", "?limit=100")
        self.assertPage(body, want, 100, "limit=100")
        for limit in (1, 2, 49, 51, 59, 60, 61):
            with self.subTest(limit=limit):
                r, body = self.messages(room, "cust1", "?limit=%d" % limit)
                self.assertPage(body, want, limit, "limit=%d" % limit)

    def test_limit_and_before_validated(self):
        """limit outside 1..100 or not a number, before not an id: 400"""
        room = self.create_room("agent", "V", ["cust1"])
        self.post(room, "cust1", "x")
        for q, field in (("limit=0", "limit"), ("limit=101", "limit"),
                         ("limit=x", "limit"), ("limit=-1", "limit"),
                         ("limit=", "limit"), ("limit=1.5", "limit"),
                         ("limit=99999999999999999999", "limit"),
                         ("before=0", "before"), ("before=x", "before"),
                         ("before=-1", "before"), ("before=", "before"),
                         ("before=99999999999999999999", "before")):
            with self.subTest(query=q):
                r = call("GET", "/api/v1/rooms/%d/messages?%s" % (room, q),
                         "cust1")
                err = self.assertError(r, 400, "invalid_field")
                self.assertEqual(err.get("field"), field, r)

    def test_paging_before(self):
        """following next_before sees every message once, newest first"""
        room = self.create_room("agent", "W", ["cust1"])
        self.post_many(room, "cust1", 23, "w")
        want = db_messages(room)
        self.assertEqual(len(want), 23)
        # 7: pages 7,7,7,2; 23: one full page then an empty one;
        # 1: 23 pages; 100: one short page
        for limit in (7, 23, 1, 5, 50, 100):
            for first in ("cached", "fresh"):
                with self.subTest(limit=limit, first=first):
                    if first == "fresh":
                        STACK.redis("DEL", list_key(room))
                    seen = self.walk(room, limit, "cust1")
                    ids = [m["id"] for m in seen]
                    self.assertEqual(len(ids), len(set(ids)), "duplicates")
                    self.assertEqual(seen, want)
        # before= an id that is not a message of the room: the older ones
        for m in (want[5], want[0]):
            r, body = self.messages(room, "cust1",
                                    "?before=%d&limit=100" % m["id"])
            self.assertEqual(body["messages"],
                             [x for x in want if x["id"] < m["id"]])
        r, body = self.messages(room, "cust1", "?before=9223372036854775807")
        self.assertEqual(body["messages"], want)


class CacheTest(RoomsCase):

    def test_x_cache(self):
        """X-Cache: MISS after the key is deleted, then HIT for limit<=50
        without before; BYPASS for before= or limit>50"""
        room = self.create_room("agent", "C", ["cust1"])
        self.post_many(room, "cust1", 12, "c")
        want = db_messages(room)
        for cycle in range(3):
            STACK.redis("DEL", list_key(room))
            r, body = self.messages(room, "cust1", "")
            self.assertEqual(self.xcache(r), "MISS", r)
            self.assertPage(body, want, 50, "MISS read %d" % cycle)
            self.assertEqual(STACK.redis("EXISTS", list_key(room)), 1,
                             "the MISS did not refill the list")
            for q, limit in (("", 50), ("?limit=50", 50), ("?limit=1", 1),
                             ("?limit=12", 12), ("?limit=13", 13),
                             ("?limit=30", 30)):
                with self.subTest(cycle=cycle, query=q):
                    r, body = self.messages(room, "cust1", q)
                    self.assertEqual(self.xcache(r), "HIT", r)
                    self.assertPage(body, want, limit, "HIT %s" % q)
            for q, exp, limit in (
                    ("?limit=51", want, 51), ("?limit=100", want, 100),
                    ("?before=%d" % (want[0]["id"] + 1), want, 50),
                    ("?before=9223372036854775807&limit=10", want, 10),
                    ("?before=%d&limit=3" % want[4]["id"], want[5:], 3)):
                with self.subTest(cycle=cycle, query=q):
                    r, body = self.messages(room, "cust1", q)
                    self.assertEqual(self.xcache(r), "BYPASS", r)
                    self.assertPage(body, exp, limit, q)
            # a post lands in the list: still a HIT, with the new message
            self.post(room, "agent", "cycle %d" % cycle)
            want = db_messages(room)
            r, body = self.messages(room, "cust1", "")
            self.assertEqual(self.xcache(r), "HIT", r)
            self.assertPage(body, want, 50, "HIT after a post")

    def test_list_capped_and_ttl(self):
        """messages:room:{id} holds the newest 50 after 60 posts, newest
        first, TTL in (0, 3600], renewed on each push"""
        room = self.create_room("agent", "T", ["cust1"])
        self.post(room, "cust1", "first")
        r, _ = self.messages(room, "cust1")  # builds the list
        self.assertEqual(STACK.redis("LLEN", list_key(room)), 1)
        self.post_many(room, "cust1", 60, "t")
        want = db_messages(room)
        self.assertEqual(len(want), 61)
        self.assertEqual(STACK.redis("LLEN", list_key(room)), CACHE)
        ttl = STACK.redis("TTL", list_key(room))
        self.assertTrue(0 < ttl <= TTL, "TTL %r" % ttl)
        items = [json.loads(x) for x in
                 STACK.redis("LRANGE", list_key(room), 0, -1)]
        self.assertEqual(items, want[:CACHE])
        # the push renews the TTL (jittered at most 10 % below)
        STACK.redis("EXPIRE", list_key(room), 100)
        self.post(room, "cust1", "renew")
        ttl = STACK.redis("TTL", list_key(room))
        self.assertTrue(TTL * 0.9 - 2 <= ttl <= TTL,
                        "TTL after a push: %r" % ttl)
        # a rebuild sets the TTL too
        STACK.redis("DEL", list_key(room))
        r, body = self.messages(room, "cust1")
        self.assertEqual(self.xcache(r), "MISS", r)
        ttl = STACK.redis("TTL", list_key(room))
        self.assertTrue(TTL * 0.9 - 2 <= ttl <= TTL,
                        "TTL after a rebuild: %r" % ttl)
        self.assertEqual(STACK.redis("LLEN", list_key(room)), CACHE)
        # no lease key is left behind
        leases = STACK.redis("KEYS", "lease:*")
        self.assertEqual(leases, [], "lease keys left: %r" % (leases,))

    def test_keys_only_numbers(self):
        """Redis keys of rooms hold no client text"""
        room = self.create_room("agent", "name with spaces {}*", ["cust1"])
        self.post(room, "cust1", "body text *?[]")
        self.messages(room, "cust1")
        for k in STACK.redis("KEYS", "*"):
            k = k.decode("utf-8", "replace")
            self.assertRegex(k, r"^[a-z0-9_:]+$", "key %r" % k)


class RedisDownTest(RoomsCase):

    def wait_for(self, pred, what, timeout=10.0):
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            last = pred()
            if last[0]:
                return last
            time.sleep(0.1)
        self.fail("%s not reached in %.0fs; last %r" % (what, timeout, last))

    def test_z_redis_stopped(self):
        """Redis stopped: posts 201, reads BYPASS and right; back: cached
        reads exact again"""
        room = self.create_room("agent", "R", ["cust1"])
        self.post_many(room, "cust1", 55, "up")
        r, _ = self.messages(room, "cust1")  # builds the list
        self.messages(room, "cust1")
        STACK.stop_redis()
        try:
            ids = []
            for i in range(12):
                who = ("cust1", "agent")[i % 2]
                r = self.post(room, who, "while down %d" % i)
                ids.append(r.json["id"])
            self.assertEqual(ids, sorted(ids))
            want = db_messages(room)
            self.assertEqual([m["id"] for m in want[:12]], ids[::-1])
            for i in range(8):  # requests land on every process
                for q, limit in (("", 50), ("?limit=10", 10),
                                 ("?limit=100", 100)):
                    with self.subTest(read=i, query=q):
                        r, body = self.messages(room, "cust1", q)
                        self.assertEqual(self.xcache(r), "BYPASS", r)
                        self.assertPage(body, want, limit, "down %s" % q)
            self.assertEqual(self.walk(room, 20, "cust1"), want)
        finally:
            STACK.start_redis()
        # back: within a short back-off the cache is used again
        self.wait_for(lambda: (self.xcache(self.messages(room, "cust1")[0])
                               == "HIT", None), "a HIT after Redis came back")
        self.post(room, "agent", "after restart")
        want = db_messages(room)
        for i in range(10):
            with self.subTest(after=i):
                r, body = self.messages(room, "cust1", "?limit=50")
                self.assertEqual(self.xcache(r), "HIT", r)
                rb, bypass = self.messages(room, "cust1", "?limit=100")
                self.assertEqual(self.xcache(rb), "BYPASS", rb)
                self.assertEqual(body["messages"], bypass["messages"][:50])
                self.assertPage(body, want, 50, "HIT after Redis came back")
        items = [json.loads(x) for x in
                 STACK.redis("LRANGE", list_key(room), 0, -1)]
        self.assertEqual(items, want[:CACHE])

    def test_z_redis_paused(self):
        """Redis too slow (CLIENT PAUSE) during a post: the post is 201, and
        once Redis answers again every read is exact (no stale list, no
        gap), whichever pool process serves it"""
        bad = []
        for trial in range(4):
            room = self.create_room("agent", "S%d" % trial, ["cust1"])
            self.post_many(room, "cust1", 5, "s")
            # warm every process: the list exists, connections are up
            for _ in range(8):
                r, _ = self.messages(room, "cust1")
            self.assertEqual(self.xcache(r), "HIT", r)
            # leaving the block: 1 s, the pause is over
            with helpers.slow_redis(STACK, 800, "ALL", settle_s=1.0):
                r = self.post(room, "cust1", "while paused %d" % trial)
                paused_id = r.json["id"]
            if trial % 2:
                # a newer post first: pushed on top of the list by a
                # process whose connection never broke
                self.post(room, "agent", "after the pause %d" % trial)
            want = db_messages(room)
            for i in range(12):
                r, body = self.messages(room, "cust1")
                ids = [m["id"] for m in body["messages"]]
                if ids != [m["id"] for m in want[:50]]:
                    bad.append("trial %d (%s), read %d after the pause: "
                               "X-Cache %s, ids %s, SQLite %s (message %d "
                               "was posted during the pause)" % (
                                   trial, "a post then reads" if trial % 2
                                   else "reads", i, self.xcache(r), ids,
                                   [m["id"] for m in want[:50]], paused_id))
                    break
                self.assertPage(body, want, 50, "read %d" % i)
                time.sleep(0.02)
        if bad:
            self.fail("%d of 4 trials served a wrong list after Redis was "
                      "slow:\n  %s" % (len(bad), "\n  ".join(bad)))


class ZPoolTest(RoomsCase):

    def test_zz_pool_alive(self):
        """no pool process died"""
        self.assertEqual(len(STACK.pool_pids()), STACK.pool_size)


if __name__ == "__main__":
    tap.main()
