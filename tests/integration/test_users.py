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

"""Users (API.md sections 1-3, issue 3): POST /api/v1/users (admin only,
201 with Location, validation, 409 on a duplicate email in any case),
GET /users/me and /users/{id} (full or reduced view), PATCH /users/{id}
(who may change what, 404, 409), POST /users/{id}/tokens, timestamps."""

import itertools
import os
import re
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
import helpers  # noqa: E402
from helpers import User  # noqa: E402
import tap  # noqa: E402

STACK = None
ADMIN = AGENT = CUST = CUST2 = None     # User

USER_KEYS = {"id", "name", "email", "role", "created_at", "updated_at",
             "disabled"}
PUBLIC_KEYS = {"id", "name", "role"}
TIME_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{43}$")
UNKNOWN_ID = 987654321
_seq = itertools.count(1)


def uniq_email(tag="u"):
    return "%s-%d-%d@example.com" % (tag, next(_seq), os.getpid())


def ctl_user(role):
    """A user made with chatdeskctl (no API involved)."""
    name = "Users %s %d" % (role, next(_seq))
    email = uniq_email(role)
    uid, tok = helpers.add_user(STACK, name, email, role, via_me=True)
    return User(uid, tok, name, role, email)


def setUpModule():
    global STACK, ADMIN, AGENT, CUST, CUST2
    STACK = harness.Stack(name="test_users").start()
    ADMIN = ctl_user("admin")
    AGENT = ctl_user("agent")
    CUST = ctl_user("customer")
    CUST2 = ctl_user("customer")


def tearDownModule():
    if STACK is not None:
        STACK.stop()


class UsersCase(harness.ApiTestCase):

    def create(self, body, who=None, headers=None):
        h = dict((who or ADMIN).auth)
        h.update(headers or {})
        return STACK.http("POST", "/api/v1/users", headers=h, body=body)

    def new_user(self, role="customer"):
        """A user made through POST /api/v1/users; returns User."""
        name = "Api %s %d" % (role, next(_seq))
        email = uniq_email("api-" + role)
        r = self.create({"name": name, "email": email, "role": role})
        self.assertEqual(r.status, 201, r)
        return User(r.json["user"]["id"], r.json["token"], name, role, email)

    def get(self, uid, who):
        return STACK.http("GET", "/api/v1/users/%s" % uid, headers=who.auth)

    def patch(self, uid, who, body, headers=None):
        h = dict(who.auth)
        h.update(headers or {})
        return STACK.http("PATCH", "/api/v1/users/%s" % uid, headers=h,
                          body=body)

    def assertUser(self, obj, r=None):
        """obj is a full user object of API.md; returns it."""
        self.assertIsInstance(obj, dict, r)
        self.assertEqual(set(obj), USER_KEYS, "keys of the user in %r" % (r,))
        self.assertTrue(isinstance(obj["id"], int) and
                        not isinstance(obj["id"], bool) and obj["id"] > 0, r)
        for k in ("name", "email", "role"):
            self.assertIsInstance(obj[k], str, r)
        self.assertIn(obj["role"], ("customer", "agent", "admin"), r)
        for k in ("created_at", "updated_at"):
            self.assertIsInstance(obj[k], str, r)
            self.assertRegex(obj[k], TIME_RE, "%s of %r" % (k, r))
        self.assertLessEqual(obj["created_at"], obj["updated_at"], r)
        return obj

    def assertOkUser(self, r, status=200):
        self.assertEqual(r.status, status, r)
        self.assertJsonType(r)
        self.assertRequestId(r)
        return self.assertUser(r.json, r)

    def assertInvalid(self, r, field):
        err = self.assertError(r, 400, "invalid_field")
        self.assertEqual(err.get("field"), field, r)
        return err


# ---- POST /api/v1/users ----------------------------------------------------

class CreateTest(UsersCase):

    def test_create(self):
        """admin: 201 {"user":{...},"token"} with Location /api/v1/users/{id}"""
        email = uniq_email("create")
        r = self.create({"name": "Ada Lovelace", "email": email,
                         "role": "agent"})
        self.assertEqual(r.status, 201, r)
        self.assertJsonType(r)
        self.assertRequestId(r)
        body = r.json
        self.assertEqual(set(body), {"user", "token"}, r)
        user = self.assertUser(body["user"], r)
        self.assertEqual(user["name"], "Ada Lovelace")
        self.assertEqual(user["email"], email)
        self.assertEqual(user["role"], "agent")
        self.assertEqual(user["created_at"], user["updated_at"], r)
        self.assertRegex(body["token"], TOKEN_RE, r)
        self.assertEqual(r.headers.get_all("Location"),
                         ["/api/v1/users/%d" % user["id"]], r)
        # what GET answers is what POST answered
        g = self.get(user["id"], ADMIN)
        self.assertEqual(self.assertOkUser(g), user)
        # the token is the new user's
        me = STACK.http("GET", "/api/v1/users/me",
                        headers={"Authorization": "Bearer " + body["token"]})
        self.assertEqual(self.assertOkUser(me), user)

    def test_create_each_role(self):
        """every role can be created; ids are distinct"""
        ids = set()
        for role in ("customer", "agent", "admin"):
            u = self.new_user(role)
            self.assertNotIn(u.id, ids)
            ids.add(u.id)
            r = self.get(u.id, u)
            self.assertEqual(self.assertOkUser(r)["role"], role)

    def test_not_admin(self):
        """customer and agent: 403 forbidden, nothing created"""
        for who in (CUST, AGENT):
            email = uniq_email("forbidden")
            with self.subTest(role=who.role):
                r = self.create({"name": "Nope", "email": email,
                                 "role": "customer"}, who=who)
                self.assertError(r, 403, "forbidden")
                self.assertIsNone(r.headers.get("Location"), r)
            # the email is free: it was not created
            r = self.create({"name": "Yes", "email": email,
                             "role": "customer"})
            self.assertEqual(r.status, 201, r)
        # also with a bad body: the role check comes first
        r = self.create({"name": ""}, who=CUST)
        self.assertError(r, 403, "forbidden")

    def test_name_validation(self):
        """name missing, empty, blank, 101 bytes, not a string: 400 invalid_field name"""
        bad = [None, "", "   ", "\t\n ", "a" * 101, "é" * 50 + "a",
               "€" * 34, 5, 1.5, True, [], {"x": 1}, "NULL"]
        for name in bad:
            if name == "NULL":
                body = {"name": None}
            else:
                body = {} if name is None else {"name": name}
            body.update({"email": uniq_email("bad-name"), "role": "customer"})
            with self.subTest(name=name):
                self.assertInvalid(self.create(body), "name")

    def test_name_limits(self):
        """name of 1 byte and 100 bytes (also multibyte, counted in bytes): 201"""
        good = ["x", "a" * 100, "é" * 50, "€" * 33 + "a", "😀" * 25,
                " padded ", "Zoë O'Brien-Łukasz"]
        for name in good:
            self.assertLessEqual(len(name.encode()), 100)
            with self.subTest(name=name):
                r = self.create({"name": name, "email": uniq_email("name"),
                                 "role": "customer"})
                self.assertEqual(r.status, 201, r)
                self.assertEqual(r.json["user"]["name"], name, r)
                g = self.get(r.json["user"]["id"], ADMIN)
                self.assertEqual(g.json["name"], name, g)

    def test_email_validation(self):
        """email without @, two @, 2 bytes, 255 bytes, blank, not a string, missing: 400"""
        long_local = "a" * (255 - len("@example.com"))
        bad = [
            "nobody.example.com",
            "a@b@example.com",
            "@@",
            "a@",
            "@a",
            "",
            "   ",
            long_local + "@example.com",               # 255 bytes
            5,
            ["a@b.c"],
            "MISSING",
            "NULL",
        ]
        self.assertEqual(len((long_local + "@example.com").encode()), 255)
        for email in bad:
            body = {"name": "Bad Email", "role": "customer"}
            if email == "NULL":
                body["email"] = None
            elif email != "MISSING":
                body["email"] = email
            with self.subTest(email=email):
                self.assertInvalid(self.create(body), "email")

    def test_email_limits(self):
        """email of 3 and 254 bytes with one @: 201"""
        n = next(_seq)
        e254 = "b%d" % n
        e254 = e254 + "x" * (254 - len(e254) - len("@example.com")) + \
            "@example.com"
        self.assertEqual(len(e254), 254)
        for email in ("a@%d" % (n % 10), e254):
            if len(email) != 3:
                self.assertEqual(len(email), 254)
            with self.subTest(email=email):
                r = self.create({"name": "Edge", "email": email,
                                 "role": "customer"})
                self.assertEqual(r.status, 201, r)
                self.assertEqual(r.json["user"]["email"], email)

    def test_role_validation(self):
        """role bad value, wrong case, empty, missing, not a string: 400 invalid_field role"""
        for role in ("root", "Admin", "ADMIN", "staff", "", " agent", 1, None,
                     ["admin"], "MISSING"):
            body = {"name": "Bad Role", "email": uniq_email("role")}
            if role != "MISSING":
                body["role"] = role
            with self.subTest(role=role):
                self.assertInvalid(self.create(body), "role")

    def test_unknown_fields_ignored(self):
        """unknown fields (even id, created_at) are ignored"""
        email = uniq_email("extra")
        r = self.create({"name": "Extra", "email": email, "role": "customer",
                         "id": 1, "created_at": "x", "token": "y",
                         "nonsense": [1, 2]})
        self.assertEqual(r.status, 201, r)
        self.assertNotEqual(r.json["user"]["id"], 1)
        self.assertNotEqual(r.json["token"], "y")
        self.assertRegex(r.json["user"]["created_at"], TIME_RE)

    def test_content_type(self):
        """text/plain or no Content-Type: 415; application/json; charset=utf-8: 201"""
        import json
        body = json.dumps({"name": "CT", "email": uniq_email("ct"),
                           "role": "customer"})
        for ct in ("text/plain", "application/x-www-form-urlencoded",
                   "application/jsonx", None):
            h = dict(ADMIN.auth)
            if ct is not None:
                h["Content-Type"] = ct
            with self.subTest(content_type=ct):
                r = STACK.http("POST", "/api/v1/users", headers=h, body=body)
                self.assertError(r, 415, "unsupported_media_type")
        for ct in ("application/json; charset=utf-8",
                   "application/json;charset=UTF-8"):
            with self.subTest(content_type=ct):
                r = STACK.http("POST", "/api/v1/users",
                               headers=dict(ADMIN.auth, **{"Content-Type": ct}),
                               body=json.dumps({"name": "CT",
                                                "email": uniq_email("ct"),
                                                "role": "customer"}))
                self.assertEqual(r.status, 201, r)

    def test_invalid_json(self):
        """bad JSON, empty body, non-object bodies: 400 invalid_json"""
        h = dict(ADMIN.auth, **{"Content-Type": "application/json"})
        for raw in (b"{", b'{"name": "x",', b"{'name': 'x'}", b"nul",
                    b'{"name":"x"} trailing', b"", b"[]", b'"x"', b"1",
                    b"null", b"true",
                    b'[{"name":"x","email":"x@y.z","role":"customer"}]'):
            with self.subTest(body=raw):
                r = STACK.http("POST", "/api/v1/users", headers=h, body=raw)
                err = self.assertError(r, 400, "invalid_json")
                self.assertNotIn("field", err, r)

    def test_invalid_utf8(self):
        """a body with invalid UTF-8: 400"""
        h = dict(ADMIN.auth, **{"Content-Type": "application/json"})
        raw = (b'{"name":"bad \xff\xfe","email":"' +
               uniq_email("utf8").encode() + b'","role":"customer"}')
        r = STACK.http("POST", "/api/v1/users", headers=h, body=raw)
        self.assertEqual(r.status, 400, r)
        self.assertIn(self.assertError(r, 400, r.json["error"]["code"])
                      ["code"], ("invalid_json", "invalid_field"), r)

    def test_duplicate_email(self):
        """an email taken in any letter case: 409 conflict"""
        n = next(_seq)
        email = "Dup.User-%d@Example.COM" % n
        r = self.create({"name": "First", "email": email, "role": "customer"})
        self.assertEqual(r.status, 201, r)
        first = r.json["user"]["id"]
        for other in (email, email.lower(), email.upper(),
                      "dup.user-%d@example.com" % n):
            with self.subTest(email=other):
                r = self.create({"name": "Second", "email": other,
                                 "role": "agent"})
                self.assertError(r, 409, "conflict")
                self.assertIsNone(r.headers.get("Location"), r)
        # the first one is unchanged
        g = self.get(first, ADMIN)
        self.assertEqual(self.assertOkUser(g)["name"], "First")
        self.assertEqual(g.json["email"], email)
        # a ctl user's email too
        r = self.create({"name": "Third", "email": CUST.email.upper(),
                         "role": "customer"})
        self.assertError(r, 409, "conflict")


# ---- GET ---------------------------------------------------------------

class GetTest(UsersCase):

    def test_me(self):
        """GET /users/me answers the caller, for each role"""
        for u in (ADMIN, AGENT, CUST):
            with self.subTest(role=u.role):
                r = STACK.http("GET", "/api/v1/users/me", headers=u.auth)
                obj = self.assertOkUser(r)
                self.assertEqual(obj["id"], u.id)
                self.assertEqual(obj["email"], u.email)
                self.assertEqual(obj["role"], u.role)

    def test_self_and_staff_see_all(self):
        """self, agent and admin see email, created_at, updated_at"""
        target = ctl_user("customer")
        me = self.assertOkUser(STACK.http("GET", "/api/v1/users/me",
                                          headers=target.auth))
        for who in (target, AGENT, ADMIN):
            with self.subTest(viewer=who.role):
                r = self.get(target.id, who)
                self.assertEqual(self.assertOkUser(r), me)
        # staff looking at staff
        r = self.get(ADMIN.id, AGENT)
        self.assertEqual(self.assertOkUser(r)["email"], ADMIN.email)

    def test_customer_sees_reduced(self):
        """a customer looking at another user sees exactly id, name, role"""
        for target in (CUST2, AGENT, ADMIN):
            with self.subTest(target=target.role):
                r = self.get(target.id, CUST)
                self.assertEqual(r.status, 200, r)
                self.assertJsonType(r)
                body = r.json
                self.assertEqual(set(body), PUBLIC_KEYS, r)
                self.assertEqual(body, {"id": target.id, "name": target.name,
                                        "role": target.role}, r)

    def test_unknown_id(self):
        """an unknown user id: 404 not_found, for any role"""
        for who in (CUST, AGENT, ADMIN):
            with self.subTest(viewer=who.role):
                self.assertError(self.get(UNKNOWN_ID, who), 404, "not_found")
        self.assertError(self.get(9223372036854775807, ADMIN), 404,
                         "not_found")


# ---- PATCH -------------------------------------------------------------

class PatchTest(UsersCase):

    def test_self_name(self):
        """self changes its name: 200 with the updated user; GET agrees"""
        u = ctl_user("customer")
        before = self.assertOkUser(self.get(u.id, u))
        r = self.patch(u.id, u, {"name": "Renamed Self"})
        after = self.assertOkUser(r)
        self.assertEqual(after["name"], "Renamed Self")
        for k in ("id", "email", "role", "created_at"):
            self.assertEqual(after[k], before[k], k)
        self.assertGreaterEqual(after["updated_at"], before["updated_at"])
        self.assertEqual(self.assertOkUser(self.get(u.id, u)), after)
        self.assertEqual(self.assertOkUser(self.get(u.id, ADMIN)), after)

    def test_self_email_or_role_forbidden(self):
        """self may not change its email or role: 403, nothing changed"""
        for role in ("customer", "agent"):
            u = ctl_user(role)
            before = self.assertOkUser(self.get(u.id, u))
            for body in ({"email": uniq_email("self")},
                         {"role": "admin"},
                         {"role": role},
                         {"name": "Sneaky", "role": "admin"},
                         {"name": "Sneaky", "email": uniq_email("self")}):
                with self.subTest(role=role, body=body):
                    r = self.patch(u.id, u, body)
                    self.assertError(r, 403, "forbidden")
            self.assertEqual(self.assertOkUser(self.get(u.id, u)), before)
            # the token still has its old role
            r = STACK.http("POST", "/api/v1/users", headers=u.auth,
                           body={"name": "x", "email": uniq_email("x"),
                                 "role": "customer"})
            self.assertError(r, 403, "forbidden")

    def test_other_forbidden(self):
        """a customer or agent changing another user: 403"""
        target = ctl_user("customer")
        before = self.assertOkUser(self.get(target.id, ADMIN))
        for who in (CUST, AGENT):
            for body in ({"name": "Hijack"}, {"email": uniq_email("h")},
                         {"role": "admin"}, {}):
                with self.subTest(who=who.role, body=body):
                    self.assertError(self.patch(target.id, who, body), 403,
                                     "forbidden")
        # agent on an admin
        self.assertError(self.patch(ADMIN.id, AGENT, {"name": "x"}), 403,
                         "forbidden")
        self.assertEqual(self.assertOkUser(self.get(target.id, ADMIN)), before)

    def test_admin_all_fields(self):
        """admin changes name, email and role of another user: 200, GET agrees"""
        u = ctl_user("customer")
        email = uniq_email("patched")
        r = self.patch(u.id, ADMIN, {"name": "By Admin", "email": email,
                                     "role": "agent"})
        after = self.assertOkUser(r)
        self.assertEqual((after["id"], after["name"], after["email"],
                          after["role"]), (u.id, "By Admin", email, "agent"))
        self.assertEqual(self.assertOkUser(self.get(u.id, u)), after)
        # one field at a time
        r = self.patch(u.id, ADMIN, {"role": "customer"})
        self.assertEqual(self.assertOkUser(r)["role"], "customer")
        self.assertEqual(r.json["name"], "By Admin")
        self.assertEqual(r.json["email"], email)
        r = self.patch(u.id, ADMIN, {"email": email.upper()})
        self.assertEqual(self.assertOkUser(r)["email"], email.upper())
        # the admin on itself
        r = self.patch(ADMIN.id, ADMIN, {"name": "The Admin"})
        self.assertEqual(self.assertOkUser(r)["name"], "The Admin")
        ADMIN.name = "The Admin"

    def test_admin_unknown_user(self):
        """admin PATCH of an unknown user: 404 not_found"""
        for body in ({"name": "Ghost"}, {"role": "agent"}, {}):
            with self.subTest(body=body):
                self.assertError(self.patch(UNKNOWN_ID, ADMIN, body), 404,
                                 "not_found")

    def test_duplicate_email(self):
        """PATCH to an email another user has, in any case: 409 conflict"""
        a = ctl_user("customer")
        b = ctl_user("customer")
        before = self.assertOkUser(self.get(b.id, ADMIN))
        for email in (a.email, a.email.upper()):
            with self.subTest(email=email):
                self.assertError(self.patch(b.id, ADMIN, {"email": email}),
                                 409, "conflict")
        self.assertEqual(self.assertOkUser(self.get(b.id, ADMIN)), before)

    def test_validation(self):
        """PATCH with bad fields: 400 invalid_field naming the field"""
        u = ctl_user("customer")
        for body, field in (({"name": ""}, "name"), ({"name": "  "}, "name"),
                            ({"name": "a" * 101}, "name"),
                            ({"name": "é" * 51}, "name"),
                            ({"name": 7}, "name"), ({"name": None}, "name"),
                            ({"email": "no-at"}, "email"),
                            ({"email": "a@b@c"}, "email"),
                            ({"email": "a@"}, "email"),
                            ({"email": 1}, "email"),
                            ({"role": "boss"}, "role"),
                            ({"role": 2}, "role")):
            with self.subTest(body=body):
                self.assertInvalid(self.patch(u.id, ADMIN, body), field)
        # self with a bad name
        self.assertInvalid(self.patch(u.id, u, {"name": ""}), "name")
        self.assertInvalid(self.patch(u.id, u, {"name": "a" * 101}), "name")
        # 100 bytes of multibyte is fine
        r = self.patch(u.id, u, {"name": "é" * 50})
        self.assertEqual(self.assertOkUser(r)["name"], "é" * 50)

    def test_body_errors(self):
        """PATCH with text/plain: 415; bad JSON or a non-object: 400 invalid_json"""
        u = ctl_user("customer")
        r = STACK.http("PATCH", "/api/v1/users/%d" % u.id,
                       headers=dict(u.auth, **{"Content-Type": "text/plain"}),
                       body='{"name":"x"}')
        self.assertError(r, 415, "unsupported_media_type")
        for raw in (b"{", b"[]", b'"x"', b"null"):
            with self.subTest(body=raw):
                r = STACK.http("PATCH", "/api/v1/users/%d" % u.id,
                               headers=dict(u.auth, **{
                                   "Content-Type": "application/json"}),
                               body=raw)
                self.assertError(r, 400, "invalid_json")


# ---- POST /users/{id}/tokens --------------------------------------------------

class TokensTest(UsersCase):

    def issue(self, uid, who, body=b"{}"):
        h = dict(who.auth)
        if body:
            h["Content-Type"] = "application/json"
        return STACK.http("POST", "/api/v1/users/%d/tokens" % uid, headers=h,
                          body=body)

    def assertWorksFor(self, token, uid):
        r = STACK.http("GET", "/api/v1/users/me",
                       headers={"Authorization": "Bearer " + token})
        self.assertEqual(self.assertOkUser(r)["id"], uid)

    def test_self(self):
        """self: 201 {"token"}; the new token and the old one both work"""
        u = ctl_user("customer")
        for body in (b"{}", b""):
            with self.subTest(body=body):
                r = self.issue(u.id, u, body)
                self.assertEqual(r.status, 201, r)
                self.assertJsonType(r)
                self.assertEqual(set(r.json), {"token"}, r)
                self.assertRegex(r.json["token"], TOKEN_RE)
                self.assertNotEqual(r.json["token"], u.token)
                self.assertWorksFor(r.json["token"], u.id)
        self.assertWorksFor(u.token, u.id)

    def test_other_not_admin(self):
        """customer or agent for another user: 403 forbidden"""
        target = ctl_user("customer")
        for who in (CUST, AGENT):
            with self.subTest(who=who.role):
                self.assertError(self.issue(target.id, who), 403, "forbidden")
        self.assertError(self.issue(ADMIN.id, AGENT), 403, "forbidden")

    def test_admin(self):
        """admin for another user: 201; the token is that user's and carries its role"""
        target = ctl_user("agent")
        r = self.issue(target.id, ADMIN)
        self.assertEqual(r.status, 201, r)
        tok = r.json["token"]
        self.assertWorksFor(tok, target.id)
        # it is an agent's token, not an admin's
        r = STACK.http("POST", "/api/v1/users",
                       headers={"Authorization": "Bearer " + tok},
                       body={"name": "x", "email": uniq_email("x"),
                             "role": "customer"})
        self.assertError(r, 403, "forbidden")

    def test_unknown_user(self):
        """admin for an unknown user: 404 not_found"""
        self.assertError(self.issue(UNKNOWN_ID, ADMIN), 404, "not_found")

    def test_body_rules(self):
        """a body other than empty or an object: 400; text/plain: 415"""
        u = ctl_user("customer")
        r = self.issue(u.id, u, b"[]")
        self.assertError(r, 400, "invalid_json")
        r = STACK.http("POST", "/api/v1/users/%d/tokens" % u.id,
                       headers=dict(u.auth, **{"Content-Type": "text/plain"}),
                       body=b"{}")
        self.assertError(r, 415, "unsupported_media_type")


if __name__ == "__main__":
    tap.main()
