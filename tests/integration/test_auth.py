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

"""Bearer tokens (API.md sections 2 and 4, issue 3): 401 with
WWW-Authenticate for missing, malformed, unknown and revoked tokens; the
token format from chatdeskctl and the two issuing routes; the session key
session:{sha256 hex} in Redis; revocation with and without Redis."""

import base64
import hashlib
import itertools
import os
import re
import sys
import threading
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
import helpers  # noqa: E402
from helpers import auth, session_key  # noqa: E402
import tap  # noqa: E402

STACK = None
ADMIN = None            # (id, token)

TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{43}$")
# Requests repeated so that every process of the pool (any may answer)
# has served one: the pool has 2, nginx hands a request to whichever
# process accepts first.
REPEAT = 8
RECORD_TTL = 300
POOL = 2
# The app's default back-off before it tries Redis again (the harness
# sets 200 ms); long enough to see what a process in back-off does.
RETRY_MS = 1000
PAUSE_MS = 500
_seq = itertools.count(1)


def setUpModule():
    global STACK, ADMIN
    STACK = harness.Stack(name="test_auth", pool_size=POOL,
                          env={"CHATDESK_REDIS_RETRY_MS": str(RETRY_MS)}
                          ).start()
    ADMIN = make_user("admin")


def tearDownModule():
    if STACK is not None:
        STACK.stop()


# ---- helpers ---------------------------------------------------------------

def make_user(role, name=None):
    """chatdeskctl user add; returns (id, token). The id comes from
    GET /users/me with the new token."""
    n = next(_seq)
    return helpers.add_user(
        STACK, name or "auth-%s-%d" % (role, n),
        "auth-%s-%d-%d@example.com" % (role, n, os.getpid()), role,
        via_me=True)


def random_token():
    """A well-formed token that was never issued."""
    return base64.urlsafe_b64encode(os.urandom(32)).rstrip(b"=").decode()


class AuthCase(harness.ApiTestCase):

    def assertUnauthorized(self, r):
        self.assertError(r, 401, "unauthorized")
        www = r.headers.get_all("WWW-Authenticate")
        self.assertTrue(www, "no WWW-Authenticate on %r" % (r,))
        self.assertTrue(any(re.match(r"(?i)^bearer(\s|,|$)", v.strip())
                            for v in www),
                        "WWW-Authenticate %r on %r is not Bearer" % (www, r))

    def assertTokenFormat(self, tok, what):
        self.assertIsInstance(tok, str, what)
        self.assertRegex(tok, TOKEN_RE, "%s: not 43 base64url characters "
                         "without padding: %r" % (what, tok))
        raw = base64.urlsafe_b64decode(tok + "=")
        self.assertEqual(len(raw), 32, "%s: %r does not decode to 32 bytes"
                         % (what, tok))
        # canonical encoding: re-encoding the 32 bytes gives the token back
        self.assertEqual(base64.urlsafe_b64encode(raw).rstrip(b"=").decode(),
                         tok, "%s: non-canonical base64url %r" % (what, tok))

    def assertMe(self, token, uid, n=1):
        for _ in range(n):
            r = STACK.http("GET", "/api/v1/users/me", headers=auth(token))
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.json["id"], uid, r)


# ---- 401s ------------------------------------------------------------------

# Routes that need a token (one of each method), with a body where one is
# taken, so that the 401 is not a 400/415 in disguise.
PROTECTED = [
    ("GET", "/api/v1/users/me", None),
    ("GET", "/api/v1/users/1", None),
    ("PATCH", "/api/v1/users/1", {"name": "x"}),
    ("POST", "/api/v1/users", {"name": "x", "email": "x@example.com",
                               "role": "customer"}),
    ("POST", "/api/v1/users/1/tokens", {}),
    ("DELETE", "/api/v1/tokens/current", None),
    ("GET", "/api/v1/rooms", None),
    ("POST", "/api/v1/rooms", {"name": "x"}),
]


class MissingAndMalformedTest(AuthCase):

    def test_no_authorization(self):
        """no Authorization header: 401 unauthorized, WWW-Authenticate: Bearer"""
        for method, path, body in PROTECTED:
            with self.subTest(method=method, path=path):
                self.assertUnauthorized(STACK.http(method, path, body=body))

    def test_malformed(self):
        """malformed Authorization values: 401 with WWW-Authenticate: Bearer"""
        good = ADMIN[1]
        values = [
            "",
            "Bearer",
            "Bearer ",
            "Bearer abc",
            "Basic x",
            "Basic " + base64.b64encode(b"admin:secret").decode(),
            "Basic " + good,            # a valid token under another scheme
            "Token " + good,
            good,                       # no scheme at all
            "Bearer " + good[:42],      # 42 characters
            "Bearer " + good + "A",     # 44 characters
            "Bearer " + good + "=",     # with padding
            "Bearer " + random_token()[:42],
            "Bearer " + random_token() + "A",
            "Bearer " + good[:42] + "+",    # base64, not base64url
            "Bearer " + good[:42] + "/",
            "Bearer " + good[:42] + ".",
            "Bearer " + good[:42] + "=",
            "Bearer " + "!" * 43,
            "Bearer " + "A" * 21 + "%" + "A" * 21,
            "Bearer " + good + "," + good,
            "Bearer " + good + " x",
        ]
        for v in values:
            with self.subTest(authorization=v):
                self.assertUnauthorized(STACK.http(
                    "GET", "/api/v1/users/me", headers={"Authorization": v}))
        # the admin token itself is fine
        self.assertMe(good, ADMIN[0])

    def test_malformed_on_write_routes(self):
        """a malformed token on write routes: 401 before any body check"""
        for method, path, body in PROTECTED:
            with self.subTest(method=method, path=path):
                self.assertUnauthorized(STACK.http(
                    method, path, body=body,
                    headers={"Authorization": "Bearer abc"}))

    def test_unknown(self):
        """a well-formed 43-character token never issued: 401"""
        for _ in range(REPEAT):
            tok = random_token()
            self.assertRegex(tok, TOKEN_RE)
            self.assertUnauthorized(STACK.http("GET", "/api/v1/users/me",
                                               headers=auth(tok)))


# ---- token format --------------------------------------------------------

class TokenFormatTest(AuthCase):

    def test_ctl_token(self):
        """chatdeskctl user add: last stdout line is a 43-char base64url token"""
        n = next(_seq)
        r = STACK.run_ctl("user", "add", "--name", "Ctl %d" % n,
                          "--email", "ctl-%d@example.com" % n,
                          "--role", "customer")
        self.assertEqual(r.returncode, 0, r)
        lines = r.stdout.splitlines()
        self.assertTrue(lines, "no stdout: %r" % (r,))
        tok = lines[-1]
        # alone on its line: no surrounding blanks or other words
        self.assertTokenFormat(tok, "chatdeskctl user add")
        self.assertNotIn(tok, r.stderr)
        me = STACK.http("GET", "/api/v1/users/me", headers=auth(tok))
        self.assertEqual(me.status, 200, me)
        self.assertEqual(me.json["email"], "ctl-%d@example.com" % n)

    def test_post_users_token(self):
        """POST /api/v1/users: the token of the new user has the format and works"""
        n = next(_seq)
        r = STACK.http("POST", "/api/v1/users", headers=auth(ADMIN[1]),
                       body={"name": "Api %d" % n,
                             "email": "api-%d@example.com" % n,
                             "role": "agent"})
        self.assertEqual(r.status, 201, r)
        tok = r.json["token"]
        self.assertTokenFormat(tok, "POST /api/v1/users")
        self.assertMe(tok, r.json["user"]["id"])

    def test_post_user_tokens_token(self):
        """POST /users/{id}/tokens: new tokens have the format, all differ"""
        uid, tok = make_user("customer")
        seen = {tok}
        for who in (tok, ADMIN[1], tok):
            r = STACK.http("POST", "/api/v1/users/%d/tokens" % uid,
                           headers=auth(who), body={})
            self.assertEqual(r.status, 201, r)
            new = r.json["token"]
            self.assertTokenFormat(new, "POST /users/{id}/tokens")
            self.assertNotIn(new, seen, "a token issued twice")
            seen.add(new)
            self.assertMe(new, uid)
        # every one of them still works
        for t in seen:
            self.assertMe(t, uid)


# ---- sessions in Redis ---------------------------------------------------

class SessionKeyTest(AuthCase):

    def test_session_key_after_use(self):
        """session:{sha256 hex} exists after a use, TTL in (0,300], holds id and role, not the token"""
        uid, tok = make_user("agent")
        self.assertMe(tok, uid)
        key = session_key(tok)
        self.assertEqual(STACK.redis("EXISTS", key), 1,
                         "%s missing after a use of the token" % key)
        ttl = STACK.redis("TTL", key)
        self.assertTrue(0 < ttl <= RECORD_TTL, "TTL of %s is %r" % (key, ttl))
        # jittered up to 10 % below the configured 300 (a little slack for
        # the time between the store and this TTL)
        self.assertGreaterEqual(ttl, RECORD_TTL * 0.9 - 5,
                                "TTL of %s is %r" % (key, ttl))
        v = STACK.redis("GET", key)
        self.assertIsInstance(v, bytes, "%s is not a string: %r" % (key, v))
        text = v.decode("utf-8", "replace")
        self.assertRegex(text, r"(?<!\d)%d(?!\d)" % uid,
                         "%s does not hold the user id: %r" % (key, v))
        self.assertIn("agent", text, "%s does not hold the role: %r" % (key, v))
        # only hashes in Redis: the token is in no key name and no value
        for k in self._all_keys():
            self.assertNotIn(tok.encode(), k, "token in a key name %r" % k)
            kv = STACK.redis("TYPE", k)
            if kv == "string":
                self.assertNotIn(tok.encode(), STACK.redis("GET", k) or b"",
                                 "token in the value of %r" % k)

    def _all_keys(self):
        keys, cursor = [], b"0"
        while True:
            cursor, batch = STACK.redis("SCAN", cursor, "COUNT", 1000)
            keys.extend(batch)
            if cursor in (b"0", "0"):
                return keys

    def test_session_key_is_sha256_of_token(self):
        """the key is the SHA-256 of the token text, in lower-case hex"""
        uid, tok = make_user("customer")
        self.assertMe(tok, uid)
        hexdigest = hashlib.sha256(tok.encode()).hexdigest()
        self.assertRegex(hexdigest, r"^[0-9a-f]{64}$")
        self.assertEqual(STACK.redis("EXISTS", "session:" + hexdigest), 1)
        self.assertEqual(STACK.redis("EXISTS", "session:" + hexdigest.upper()),
                         0)


# ---- revocation ----------------------------------------------------------

class RevokeTest(AuthCase):

    def test_revoke(self):
        """DELETE /tokens/current: 204 empty, next uses 401 on every process, session key gone"""
        uid, tok = make_user("customer")
        # a second token of the same user, which must survive
        r = STACK.http("POST", "/api/v1/users/%d/tokens" % uid,
                       headers=auth(tok), body={})
        self.assertEqual(r.status, 201, r)
        other = r.json["token"]
        self.assertMe(tok, uid, n=REPEAT)    # cached on every process
        self.assertEqual(STACK.redis("EXISTS", session_key(tok)), 1)

        r = STACK.http("DELETE", "/api/v1/tokens/current", headers=auth(tok))
        self.assertEqual(r.status, 204, r)
        self.assertEqual(r.body, b"", r)
        self.assertRequestId(r)
        self.assertEqual(STACK.redis("EXISTS", session_key(tok)), 0,
                         "session key still there after the revocation")

        for i in range(REPEAT):
            with self.subTest(attempt=i):
                self.assertUnauthorized(STACK.http(
                    "GET", "/api/v1/users/me", headers=auth(tok)))
                self.assertUnauthorized(STACK.http(
                    "GET", "/api/v1/users/%d" % uid, headers=auth(tok)))
        # revoking it again: it is no longer a token
        self.assertUnauthorized(STACK.http("DELETE", "/api/v1/tokens/current",
                                           headers=auth(tok)))
        # other tokens of the same user are untouched
        self.assertMe(other, uid, n=REPEAT)
        self.assertMe(ADMIN[1], ADMIN[0])

    def test_revoke_issued_token(self):
        """a token issued by POST /users/{id}/tokens can be revoked alone"""
        uid, tok = make_user("agent")
        r = STACK.http("POST", "/api/v1/users/%d/tokens" % uid,
                       headers=auth(ADMIN[1]), body={})
        self.assertEqual(r.status, 201, r)
        new = r.json["token"]
        self.assertMe(new, uid, n=4)
        r = STACK.http("DELETE", "/api/v1/tokens/current", headers=auth(new))
        self.assertEqual(r.status, 204, r)
        for _ in range(REPEAT):
            self.assertUnauthorized(STACK.http("GET", "/api/v1/users/me",
                                               headers=auth(new)))
        self.assertMe(tok, uid, n=4)

    def test_revoke_with_a_body(self):
        """DELETE with an empty JSON object body is still a revocation"""
        uid, tok = make_user("customer")
        self.assertMe(tok, uid)
        r = STACK.http("DELETE", "/api/v1/tokens/current", headers=auth(tok),
                       body={})
        self.assertEqual(r.status, 204, r)
        self.assertUnauthorized(STACK.http("GET", "/api/v1/users/me",
                                           headers=auth(tok)))


# ---- without Redis ---------------------------------------------------------

class RedisDownTest(AuthCase):

    def tearDown(self):
        if not helpers.redis_up(STACK):
            STACK.start_redis()

    def wait_redis_used(self, token):
        """After Redis returns: polls until requests are served from the
        cache again (X-Cache not BYPASS) several times in a row, so that
        every pool process has reconnected."""
        run, last = helpers.poll_in_a_row(
            lambda: STACK.http("GET", "/api/v1/users/me", headers=auth(token)),
            lambda r: (r.status == 200 and
                       r.headers.get("X-Cache") in ("HIT", "MISS")),
            REPEAT, 10)
        if len(run) >= REPEAT:
            return
        self.fail("requests did not use Redis again within 10 s; last %r "
                  "X-Cache %r" % (last, last and last.headers.get("X-Cache")))

    def test_requests_work_without_redis(self):
        """Redis stopped: GET /users/me 200 with X-Cache BYPASS, new tokens work"""
        uid, tok = make_user("customer")
        self.assertMe(tok, uid)
        STACK.stop_redis()
        try:
            for _ in range(REPEAT):
                r = STACK.http("GET", "/api/v1/users/me", headers=auth(tok))
                self.assertEqual(r.status, 200, r)
                self.assertEqual(r.json["id"], uid, r)
                self.assertEqual(r.headers.get("X-Cache"), "BYPASS", r)
            # a token never used before (no session anywhere) works too
            n = next(_seq)
            r = STACK.http("POST", "/api/v1/users", headers=auth(ADMIN[1]),
                           body={"name": "Down %d" % n,
                                 "email": "down-%d@example.com" % n,
                                 "role": "customer"})
            self.assertEqual(r.status, 201, r)
            new = r.json["token"]
            for _ in range(REPEAT):
                r = STACK.http("GET", "/api/v1/users/me", headers=auth(new))
                self.assertEqual(r.status, 200, r)
                self.assertEqual(r.headers.get("X-Cache"), "BYPASS", r)
            # and unknown tokens are still refused
            self.assertUnauthorized(STACK.http(
                "GET", "/api/v1/users/me", headers=auth(random_token())))
        finally:
            STACK.start_redis()
        self.wait_redis_used(tok)

    def test_revoke_while_redis_down(self):
        """revoked while Redis is down: 401 while down and after it returns"""
        uid, tok = make_user("customer")
        _, keep = make_user("customer")
        self.assertMe(tok, uid, n=REPEAT)     # session cached
        STACK.stop_redis()
        try:
            self.assertMe(tok, uid, n=2)
            r = STACK.http("DELETE", "/api/v1/tokens/current",
                           headers=auth(tok))
            self.assertEqual(r.status, 204, r)
            for i in range(REPEAT):
                with self.subTest(phase="down", attempt=i):
                    self.assertUnauthorized(STACK.http(
                        "GET", "/api/v1/users/me", headers=auth(tok)))
        finally:
            STACK.start_redis()
        # until every process is back on Redis and some more
        self.wait_redis_used(keep)
        for i in range(REPEAT):
            with self.subTest(phase="back", attempt=i):
                self.assertUnauthorized(STACK.http(
                    "GET", "/api/v1/users/me", headers=auth(tok)))
        self.assertEqual(STACK.redis("EXISTS", session_key(tok)), 0)

    def test_revoke_while_redis_down_key_survives(self):
        """revoked while Redis is down, and Redis comes back still holding the session: 401"""
        # The harness's Redis has no persistence, so a restart loses the
        # session key that the failed revocation could not delete. A Redis
        # that was only unreachable, or restarted from its dump, still has
        # it: put it back by hand, as it was, before any request reaches
        # the restarted Redis.
        uid, tok = make_user("customer")
        _, keep = make_user("customer")
        self.assertMe(tok, uid, n=REPEAT)
        key = session_key(tok)
        value = STACK.redis("GET", key)
        ttl = STACK.redis("TTL", key)
        self.assertIsInstance(value, bytes, "no session key %s" % key)
        STACK.stop_redis()
        try:
            r = STACK.http("DELETE", "/api/v1/tokens/current",
                           headers=auth(tok))
            self.assertEqual(r.status, 204, r)
            self.assertUnauthorized(STACK.http(
                "GET", "/api/v1/users/me", headers=auth(tok)))
        finally:
            STACK.start_redis()
        STACK.redis("SET", key, value, "EX", max(ttl, 60))
        for i in range(REPEAT):
            with self.subTest(phase="back, first requests", attempt=i):
                self.assertUnauthorized(STACK.http(
                    "GET", "/api/v1/users/me", headers=auth(tok)))
        self.wait_redis_used(keep)
        for i in range(REPEAT):
            with self.subTest(phase="back", attempt=i):
                self.assertUnauthorized(STACK.http(
                    "GET", "/api/v1/users/me", headers=auth(tok)))
        self.assertEqual(STACK.redis("EXISTS", key), 0,
                         "the revoked token's session key is still in Redis")

    def test_revoke_while_redis_slow(self):
        """revoked while Redis does not answer (paused, keys kept): 401 on every process afterwards"""
        # CLIENT PAUSE makes Redis hold every client's commands: the
        # revoking process's commands time out (redis_command_timeout_ms,
        # 250) and its session delete fails, while Redis keeps the session
        # key and the other process keeps its connection. That process
        # must not accept the revoked token from the cached session,
        # neither while the revoking one waits out its back-off
        # (redis_retry_ms, 1000 in this file) nor after.
        uid, tok = make_user("customer")
        _, keep = make_user("customer")
        self.assertMe(tok, uid, n=REPEAT)
        self.assertMe(keep, _, n=REPEAT)
        key = session_key(tok)
        self.assertEqual(STACK.redis("EXISTS", key), 1)
        # the pause ends by itself; leaving the block waits for it (PING
        # is held too)
        with helpers.slow_redis(STACK, PAUSE_MS):
            r = STACK.http("DELETE", "/api/v1/tokens/current",
                           headers=auth(tok))
            self.assertEqual(r.status, 204, r)
        answers = []

        def one():
            r = STACK.http("GET", "/api/v1/users/me", headers=auth(tok))
            answers.append((r.status, r.headers.get("X-Cache")))
        # pairs of concurrent requests, so that both processes answer,
        # for about half the back-off (paced: nginx has a limit_req)
        for _ in range(10):
            ts = [threading.Thread(target=one) for _ in range(POOL)]
            for t in ts:
                t.start()
            for t in ts:
                t.join(15)
            time.sleep(0.03)
        self.wait_redis_used(keep)
        for _ in range(REPEAT):
            one()
        accepted = [a for a in answers if a[0] != 401]
        if accepted:
            counts = {}
            for a in answers:
                counts[a] = counts.get(a, 0) + 1
            self.fail("the revoked token was not refused %d times of %d "
                      "after a Redis pause of %d ms; (status, X-Cache) "
                      "counts %r; the first answers %r" % (
                          len(accepted), len(answers), PAUSE_MS, counts,
                          answers[:8]))
        self.assertEqual(STACK.redis("EXISTS", key), 0,
                         "the revoked token's session key is still in Redis")

if __name__ == "__main__":
    tap.main()
