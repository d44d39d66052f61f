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

"""Accounts and tokens (API.md section 9, issue 13 item 4): GET /users
(staff, role filter, pages), token listing (never the token), revoking
one and all, disabling (tokens 401 at once, no new token, sign-in the
same 401 as a wrong password), every route x role, revoke-all, disable
and role changes at once across a pool of 4 and on a second "host" (a
pool with its own shared metrics file, sharing Redis and the database),
token_max_age_days (expiry, also of a cached session; backdated in
SQLite), the holder-minted token's bound, last_used_at written at most
once a minute; chatdeskctl user disable, enable and revoke-tokens."""

import os
import re
import subprocess
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
import helpers  # noqa: E402
from helpers import User  # noqa: E402
import tap  # noqa: E402

STACK = None
ADMIN = AGENT = CUST = None
MAX_AGE_DAYS = 30
DAY_MS = 86400000
UNKNOWN_ID = 987654321
TOKEN_KEYS = {"id", "created_at", "last_used_at", "expires_at"}
TIME_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
_seq = [0]


def parse_ms(t):
    """RFC 3339 with milliseconds -> Unix ms."""
    import calendar
    base, ms = t[:-1].split(".")
    return calendar.timegm(time.strptime(base, "%Y-%m-%dT%H:%M:%S")) * 1000 \
        + int(ms)


def new_user(role="customer", password=None):
    """A user made with POST /users by the admin; returns User."""
    _seq[0] += 1
    name = "Acct %s %d" % (role, _seq[0])
    email = "acct-%s-%d-%d@example.com" % (role, _seq[0], os.getpid())
    body = {"name": name, "email": email, "role": role}
    if password:
        body["password"] = password
    r = helpers.request(STACK, "POST", "/api/v1/users", ADMIN.token, body)
    if r.status != 201:
        raise harness.HarnessError("POST /users: %r" % (r,))
    return User(r.json["user"]["id"], r.json["token"], name, role, email)


def call(method, path, who=None, body=None):
    return helpers.request(STACK, method, path,
                           who.token if who is not None else None, body)


def mint(uid, who):
    """POST /users/{uid}/tokens by who: the new token."""
    r = call("POST", "/api/v1/users/%d/tokens" % uid, who)
    if r.status != 201:
        raise harness.HarnessError("mint: %r" % (r,))
    return r.json["token"]


def token_rows(uid):
    """{token id: (expires_at, last_used_at, revoked_at)} from SQLite."""
    return {r[0]: r[1:] for r in helpers.db_query(
        STACK.db_path, "SELECT id, expires_at, last_used_at, revoked_at "
        "FROM tokens WHERE user_id = ?", (uid,))}


def setUpModule():
    global STACK, ADMIN, AGENT, CUST
    STACK = harness.Stack(name="test_accounts", pool_size=4, env={
        "CHATDESK_TOKEN_MAX_AGE_DAYS": str(MAX_AGE_DAYS)}).start()
    uid, tok = helpers.add_user(STACK, "Acct admin", "acct-admin@example.com",
                                "admin", via_me=True)
    ADMIN = User(uid, tok, "Acct admin", "admin")
    AGENT = new_user("agent")
    CUST = new_user("customer")


def tearDownModule():
    if STACK is not None:
        STACK.stop()


class ListUsersTest(harness.ApiTestCase):
    def test_roles(self):
        """GET /users: staff 200, customer 403, no token 401"""
        for who in (AGENT, ADMIN):
            r = call("GET", "/api/v1/users", who)
            self.assertEqual(r.status, 200, r)
            self.assertEqual(set(r.json), {"users", "next_before"}, r)
        self.assertError(call("GET", "/api/v1/users", CUST), 403, "forbidden")
        self.assertError(call("GET", "/api/v1/users"), 401, "unauthorized")

    def test_pages_and_filter(self):
        """newest first, ?role=, next_before pages every user once, bad queries 400"""
        for _ in range(3):
            new_user("agent")
        all_ids = [row[0] for row in helpers.db_query(
            STACK.db_path, "SELECT id FROM users ORDER BY id DESC")]
        seen, before = [], None
        while True:
            q = "/api/v1/users?limit=2" + ("&before=%d" % before
                                           if before else "")
            r = call("GET", q, AGENT)
            self.assertEqual(r.status, 200, r)
            seen += [u["id"] for u in r.json["users"]]
            before = r.json["next_before"]
            if before is None:
                break
            self.assertEqual(before, r.json["users"][-1]["id"])
        self.assertEqual(seen, all_ids)
        r = call("GET", "/api/v1/users?role=agent&limit=100", ADMIN)
        self.assertEqual(r.status, 200, r)
        self.assertTrue(r.json["users"])
        self.assertEqual({u["role"] for u in r.json["users"]}, {"agent"})
        u = r.json["users"][0]
        self.assertEqual(set(u), {"id", "name", "email", "role", "created_at",
                                  "updated_at", "disabled"}, u)
        self.assertIs(u["disabled"], False)
        for q in ("role=boss", "limit=0", "limit=101", "before=0",
                  "before=x"):
            self.assertError(call("GET", "/api/v1/users?" + q, ADMIN), 400,
                             "invalid_field")


class TokensTest(harness.ApiTestCase):
    def test_list_never_shows_tokens(self):
        """GET /users/{id}/tokens: live tokens, newest first, four fields, no secret"""
        u = new_user()
        second = mint(u.id, u)
        r = call("GET", "/api/v1/users/%d/tokens" % u.id, u)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(set(r.json), {"tokens"})
        toks = r.json["tokens"]
        self.assertEqual(len(toks), 2, r)
        self.assertGreater(toks[0]["id"], toks[1]["id"])
        for t in toks:
            self.assertEqual(set(t), TOKEN_KEYS, t)
            self.assertRegex(t["created_at"], TIME_RE)
            self.assertRegex(t["expires_at"], TIME_RE)
        for tok in (u.token, second):
            self.assertNotIn(tok.encode(), r.body)
        # a revoked one is not listed
        self.assertEqual(call("DELETE", "/api/v1/tokens/current",
                              User(u.id, second, u.name, u.role)).status, 204)
        r = call("GET", "/api/v1/users/%d/tokens" % u.id, ADMIN)
        self.assertEqual([t["id"] for t in r.json["tokens"]],
                         [toks[1]["id"]])

    def test_routes_by_role(self):
        """self and admin may list and revoke; others 403; a missing user 404"""
        u = new_user()
        other = new_user()
        paths = [("GET", "/api/v1/users/%d/tokens"),
                 ("DELETE", "/api/v1/users/%d/tokens"),
                 ("DELETE", "/api/v1/users/%d/tokens/1")]
        for method, p in paths:
            for who in (other, AGENT):
                self.assertError(call(method, p % u.id, who), 403,
                                 "forbidden")
            for who in (CUST, ADMIN):
                self.assertError(call(method, p % UNKNOWN_ID, who), 404,
                                 "not_found")
            self.assertError(call(method, p % u.id), 401, "unauthorized")
        self.assertEqual(call("GET", "/api/v1/users/%d/tokens" % u.id,
                              ADMIN).status, 200)
        self.assertEqual(call("GET", "/api/v1/users/%d/tokens" % u.id,
                              u).status, 200)

    def test_revoke_one(self):
        """DELETE /users/{id}/tokens/{token_id}: 204, then 401 for it only; another user's token 404"""
        u = new_user()
        spare = User(u.id, mint(u.id, u), u.name, u.role)
        tid = max(token_rows(u.id))
        other = new_user()
        self.assertError(call("DELETE", "/api/v1/users/%d/tokens/%d" % (
            other.id, tid), other), 404, "not_found")
        self.assertError(call("DELETE", "/api/v1/users/%d/tokens/%d" % (
            other.id, tid), ADMIN), 404, "not_found")
        self.assertEqual(call("GET", "/api/v1/users/me", spare).status, 200)
        r = call("DELETE", "/api/v1/users/%d/tokens/%d" % (u.id, tid), u)
        self.assertEqual(r.status, 204, r)
        self.assertEqual(r.body, b"")
        self.assertError(call("GET", "/api/v1/users/me", spare), 401,
                         "unauthorized")
        self.assertEqual(call("GET", "/api/v1/users/me", u).status, 200)
        self.assertError(call("DELETE", "/api/v1/users/%d/tokens/%d" % (
            u.id, tid), u), 404, "not_found")
        # an admin revokes someone else's
        first = min(token_rows(u.id))
        self.assertEqual(call("DELETE", "/api/v1/users/%d/tokens/%d" % (
            u.id, first), ADMIN).status, 204)
        self.assertError(call("GET", "/api/v1/users/me", u), 401,
                         "unauthorized")

    def test_revoke_all_by_self(self):
        """DELETE /users/{id}/tokens by the holder: every token 401, the one used too"""
        u = new_user()
        toks = [u.token] + [mint(u.id, u) for _ in range(3)]
        for t in toks:
            self.assertEqual(helpers.request(STACK, "GET", "/api/v1/users/me",
                                             t).status, 200)
        self.assertEqual(call("DELETE", "/api/v1/users/%d/tokens" % u.id,
                              u).status, 204)
        for t in toks:
            self.assertEqual(helpers.request(STACK, "GET", "/api/v1/users/me",
                                             t).status, 401)
        self.assertTrue(all(row[2] is not None
                            for row in token_rows(u.id).values()))

    def test_last_used_at_once_a_minute(self):
        """last_used_at: null until used, set by a use, not rewritten within a minute"""
        u = new_user()
        fresh = User(u.id, mint(u.id, ADMIN), u.name, u.role)
        tid = max(token_rows(u.id))
        self.assertIsNone(token_rows(u.id)[tid][1])
        r = call("GET", "/api/v1/users/%d/tokens" % u.id, u)
        listed = {t["id"]: t for t in r.json["tokens"]}
        self.assertIsNone(listed[tid]["last_used_at"])
        self.assertEqual(call("GET", "/api/v1/users/me", fresh).status, 200)
        first = token_rows(u.id)[tid][1]
        self.assertIsNotNone(first)
        for _ in range(10):
            self.assertEqual(call("GET", "/api/v1/users/me", fresh).status,
                             200)
        self.assertEqual(token_rows(u.id)[tid][1], first,
                         "last_used_at rewritten within a minute")
        r = call("GET", "/api/v1/users/%d/tokens" % u.id, u)
        listed = {t["id"]: t for t in r.json["tokens"]}
        self.assertEqual(parse_ms(listed[tid]["last_used_at"]), first)
        # a minute later (backdated), the next use writes it again
        old = first - 120000
        helpers.db_write(STACK.db_path, "UPDATE tokens SET last_used_at = ? "
                         "WHERE id = ?", (old, tid))
        STACK.redis("DEL", helpers.session_key(fresh.token))
        self.assertEqual(call("GET", "/api/v1/users/me", fresh).status, 200)
        self.assertGreater(token_rows(u.id)[tid][1], old)


class DisableTest(harness.ApiTestCase):
    def test_patch_by_role(self):
        """PATCH disabled: admin only (403 to self and staff), not oneself, a boolean"""
        u = new_user()
        for who in (u, AGENT, CUST):
            r = call("PATCH", "/api/v1/users/%d" % u.id, who,
                     {"disabled": True})
            self.assertError(r, 403, "forbidden")
        self.assertError(call("PATCH", "/api/v1/users/%d" % ADMIN.id, ADMIN,
                              {"disabled": True}), 403, "forbidden")
        for bad in (1, "true", None):
            err = self.assertError(call("PATCH", "/api/v1/users/%d" % u.id,
                                        ADMIN, {"disabled": bad}),
                                   400, "invalid_field")
            self.assertEqual(err.get("field"), "disabled")
        self.assertError(call("PATCH", "/api/v1/users/%d" % UNKNOWN_ID,
                              ADMIN, {"disabled": True}), 404, "not_found")
        self.assertEqual(call("GET", "/api/v1/users/me", u).status, 200)

    def test_disable_locks_and_enable_revives_nothing(self):
        """disabled: tokens 401, no new token (409), sign-in the wrong-password 401; enabled again: old tokens stay dead"""
        pw = "correct horse battery"
        u = new_user(password=pw)
        extra = mint(u.id, u)
        r = call("PATCH", "/api/v1/users/%d" % u.id, ADMIN, {"disabled": True})
        self.assertEqual(r.status, 200, r)
        self.assertIs(r.json["disabled"], True)
        for t in (u.token, extra):
            self.assertError(helpers.request(STACK, "GET", "/api/v1/users/me",
                                             t), 401, "unauthorized")
        r = call("GET", "/api/v1/users/%d" % u.id, ADMIN)
        self.assertIs(r.json["disabled"], True)
        self.assertError(call("POST", "/api/v1/users/%d/tokens" % u.id, ADMIN),
                         409, "conflict")
        self.assertEqual(len(token_rows(u.id)), 2)
        good = call("POST", "/api/v1/sessions", None,
                    {"email": u.email, "password": pw})
        wrong = call("POST", "/api/v1/sessions", None,
                     {"email": u.email, "password": pw + "x"})
        self.assertError(good, 401, "unauthorized")
        self.assertEqual(good.json, wrong.json)
        self.assertEqual(good.headers.get("WWW-Authenticate"),
                         wrong.headers.get("WWW-Authenticate"))
        r = call("PATCH", "/api/v1/users/%d" % u.id, ADMIN,
                 {"disabled": False})
        self.assertEqual(r.status, 200, r)
        self.assertIs(r.json["disabled"], False)
        for t in (u.token, extra):
            self.assertEqual(helpers.request(STACK, "GET", "/api/v1/users/me",
                                             t).status, 401)
        r = call("POST", "/api/v1/sessions", None,
                 {"email": u.email, "password": pw})
        self.assertEqual(r.status, 201, r)


class CtlTest(harness.ApiTestCase):
    def test_ctl_disable_enable_revoke(self):
        """chatdeskctl user disable / enable / revoke-tokens act at once, like the API"""
        u = new_user()
        extra = mint(u.id, u)
        r = STACK.run_ctl("user", "revoke-tokens", "--email", u.email)
        self.assertEqual(r.returncode, 0, r)
        self.assertIn("revoked 2 tokens", r.stdout)
        for t in (u.token, extra):
            self.assertEqual(helpers.request(STACK, "GET", "/api/v1/users/me",
                                             t).status, 401)
        fresh = User(u.id, mint(u.id, ADMIN), u.name, u.role)
        self.assertEqual(call("GET", "/api/v1/users/me", fresh).status, 200)
        r = STACK.run_ctl("user", "disable", "--email", u.email)
        self.assertEqual(r.returncode, 0, r)
        self.assertError(call("GET", "/api/v1/users/me", fresh), 401,
                         "unauthorized")
        self.assertIs(call("GET", "/api/v1/users/%d" % u.id,
                           ADMIN).json["disabled"], True)
        self.assertEqual(call("POST", "/api/v1/users/%d/tokens" % u.id,
                              ADMIN).status, 409)
        r = STACK.run_ctl("user", "enable", "--email", u.email)
        self.assertEqual(r.returncode, 0, r)
        self.assertIs(call("GET", "/api/v1/users/%d" % u.id,
                           ADMIN).json["disabled"], False)
        self.assertEqual(call("GET", "/api/v1/users/me", fresh).status, 401)
        r = STACK.run_ctl("user", "disable", "--email", "nobody@example.com")
        self.assertEqual(r.returncode, 1, r)
        r = STACK.run_ctl("user", "disable")
        self.assertEqual(r.returncode, 64, r)


class LifetimeTest(harness.ApiTestCase):
    def test_expires_at_from_config(self):
        """token_max_age_days: expires_at is created_at + N days"""
        u = new_user()
        t = call("GET", "/api/v1/users/%d/tokens" % u.id, u).json["tokens"][0]
        self.assertEqual(parse_ms(t["expires_at"]) - parse_ms(t["created_at"]),
                         MAX_AGE_DAYS * DAY_MS)

    def test_expired_token_is_401(self):
        """a token past expires_at (backdated in SQLite) is 401 and not listed"""
        u = new_user()
        t = User(u.id, mint(u.id, ADMIN), u.name, u.role)
        tid = max(token_rows(u.id))
        helpers.db_write(STACK.db_path, "UPDATE tokens SET expires_at = ? "
                         "WHERE id = ?", (helpers.now_ms() - 1000, tid))
        self.assertError(call("GET", "/api/v1/users/me", t), 401,
                         "unauthorized")
        ids = [x["id"] for x in call("GET", "/api/v1/users/%d/tokens" % u.id,
                                     u).json["tokens"]]
        self.assertNotIn(tid, ids)

    def test_cached_session_ends_on_time(self):
        """a session cached in Redis ends when its token expires, before the key's TTL"""
        u = new_user()
        t = User(u.id, mint(u.id, ADMIN), u.name, u.role)
        tid = max(token_rows(u.id))
        end = helpers.now_ms() + 3000
        helpers.db_write(STACK.db_path, "UPDATE tokens SET expires_at = ? "
                         "WHERE id = ?", (end, tid))
        # The first use writes last_used_at and drops the session; the
        # second caches it.
        for _ in range(2):
            self.assertEqual(call("GET", "/api/v1/users/me", t).status, 200)
        self.assertEqual(STACK.redis("EXISTS", helpers.session_key(t.token)),
                         1)
        while helpers.now_ms() <= end + 50:
            time.sleep(0.1)
        self.assertEqual(STACK.redis("EXISTS", helpers.session_key(t.token)),
                         1, "the session key should still be cached")
        self.assertError(call("GET", "/api/v1/users/me", t), 401,
                         "unauthorized")

    def test_holder_minted_bound(self):
        """a token minted by its holder ends no later than the issuing token; an admin's for another gets the full age"""
        u = new_user()
        tid = max(token_rows(u.id))
        end = helpers.now_ms() + 3600000
        helpers.db_write(STACK.db_path, "UPDATE tokens SET expires_at = ? "
                         "WHERE id = ?", (end, tid))
        STACK.redis("DEL", helpers.session_key(u.token))
        child = User(u.id, mint(u.id, u), u.name, u.role)
        cid = max(token_rows(u.id))
        self.assertEqual(token_rows(u.id)[cid][0], end)
        # ... and a grandchild is bound by the child
        mint(u.id, child)
        self.assertEqual(token_rows(u.id)[max(token_rows(u.id))][0], end)
        before = helpers.now_ms()
        mint(u.id, ADMIN)
        got = token_rows(u.id)[max(token_rows(u.id))][0]
        self.assertGreaterEqual(got, before + MAX_AGE_DAYS * DAY_MS)

    def test_z_no_lifetime(self):
        """token_max_age_days 0: expires_at null; a holder-minted token of a token without end has none"""
        helpers.restart_pool(STACK, env={"CHATDESK_TOKEN_MAX_AGE_DAYS": "0"})
        try:
            u = new_user()
            toks = call("GET", "/api/v1/users/%d/tokens" % u.id,
                        u).json["tokens"]
            self.assertIsNone(toks[0]["expires_at"])
            mint(u.id, u)
            self.assertIsNone(token_rows(u.id)[max(token_rows(u.id))][0])
            # a bounded issuing token still bounds its children
            tid = max(token_rows(u.id))
            end = helpers.now_ms() + 3600000
            helpers.db_write(STACK.db_path, "UPDATE tokens SET expires_at = ? "
                             "WHERE user_id = ?", (end, u.id))
            STACK.redis("DEL", helpers.session_key(u.token))
            mint(u.id, u)
            self.assertGreater(max(token_rows(u.id)), tid)
            self.assertEqual(token_rows(u.id)[max(token_rows(u.id))][0], end)
        finally:
            helpers.restart_pool(STACK)


class SecondHost:
    """A second pool, as another host would run it: its own FastCGI socket
    and its own shared metrics file (db_path names the database through a
    symlink, so db_path-metrics differs), the same Redis and database."""

    def __init__(self, stack, size=2):
        self.stack = stack
        self.sock = stack.path("host2.sock")
        self.pidfile = stack.path("host2.pid")
        link = stack.path("host2-chatdesk.db")
        if not os.path.lexists(link):
            os.symlink(stack.db_path, link)
        script = 'exec "$0" "$@" 2>>%s' % stack.path("host2.log")
        r = subprocess.run(
            [harness.SPAWN_FCGI, "-s", self.sock, "-M", "0660", "-F",
             str(size), "-P", self.pidfile, "--", "/bin/sh", "-c", script,
             stack.chatdesk], stdin=subprocess.DEVNULL, capture_output=True,
            cwd=stack.tmp, env=stack.env({"CHATDESK_DB_PATH": link}),
            timeout=30)
        with open(self.pidfile) as f:
            self.pids = [int(x) for x in f.read().split()]
        if r.returncode != 0 or len(self.pids) != size:
            self.stop()
            raise harness.HarnessError("second pool: %r" % (r,))
        harness.wait_until(lambda: self.get("/api/v1/health").status == 200,
                           10, what="the second pool answers")

    def get(self, path, token=None):
        return helpers.fcgi_request(self.sock, helpers.fcgi_params(
            "GET", path, token=token))

    def stop(self):
        for pid in self.pids:
            if harness.pid_alive(pid) and harness.pid_is(pid,
                                                         self.stack.chatdesk):
                os.kill(pid, 15)
        harness.wait_until(lambda: not any(harness.pid_alive(p)
                                           for p in self.pids), 10,
                           what="the second pool stops")


class AtOnceTest(harness.ApiTestCase):
    """Changes reach every process of the pool of 4, and another host, on
    the very next request: no process keeps an old session."""

    ROUNDS = 24     # requests per token: each of the 4 processes serves some

    @classmethod
    def setUpClass(cls):
        cls.host2 = SecondHost(STACK)

    @classmethod
    def tearDownClass(cls):
        cls.host2.stop()

    def warm(self, tokens, status=200):
        """Every token used ROUNDS times through nginx (the pool of 4) and
        on the second host; all answer status."""
        for t in tokens:
            for _ in range(self.ROUNDS):
                self.assertEqual(helpers.request(
                    STACK, "GET", "/api/v1/users/me", t).status, status)
            for _ in range(4):
                self.assertEqual(self.host2.get("/api/v1/users/me",
                                                t).status, status)

    def test_pool_size(self):
        """the stack runs a pool of 4"""
        self.assertEqual(len(STACK.pool_pids()), 4)

    def test_revoke_all_at_once(self):
        """revoke-all: the next request with any token is 401 in every process and on the other host"""
        u = new_user()
        toks = [u.token] + [mint(u.id, u) for _ in range(2)]
        self.warm(toks)
        self.assertEqual(call("DELETE", "/api/v1/users/%d/tokens" % u.id,
                              ADMIN).status, 204)
        self.warm(toks, 401)

    def test_revoke_all_on_the_other_host(self):
        """revoke-all made on the other host: 401 at once in the pool of 4"""
        u = new_user()
        toks = [u.token, mint(u.id, u)]
        self.warm(toks)
        r = helpers.fcgi_request(self.host2.sock, helpers.fcgi_params(
            "DELETE", "/api/v1/users/%d/tokens" % u.id, token=u.token))
        self.assertEqual(r.status, 204, r)
        self.warm(toks, 401)

    def test_disable_at_once(self):
        """disable: every token 401 at once everywhere"""
        u = new_user()
        toks = [u.token, mint(u.id, u)]
        self.warm(toks)
        self.assertEqual(call("PATCH", "/api/v1/users/%d" % u.id, ADMIN,
                              {"disabled": True}).status, 200)
        self.warm(toks, 401)

    def test_role_change_at_once(self):
        """a demoted admin: staff routes 403 at once everywhere"""
        u = new_user("admin")
        for _ in range(self.ROUNDS):
            self.assertEqual(call("GET", "/api/v1/queue", u).status, 200)
        for _ in range(4):
            self.assertEqual(self.host2.get("/api/v1/queue",
                                            u.token).status, 200)
        self.assertEqual(call("PATCH", "/api/v1/users/%d" % u.id, ADMIN,
                              {"role": "customer"}).status, 200)
        for _ in range(self.ROUNDS):
            self.assertEqual(call("GET", "/api/v1/queue", u).status, 403)
        for _ in range(4):
            self.assertEqual(self.host2.get("/api/v1/queue",
                                            u.token).status, 403)


if __name__ == "__main__":
    tap.main()
