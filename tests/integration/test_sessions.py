#!/usr/bin/env python3
"""Sign-in with email and password (API.md section 9, issue 15):
POST /api/v1/sessions, one 401 for a wrong email or password, rate limits
per email and per client address, sign-out, passwords set by an admin, by
the user with current_password, and by chatdeskctl; hashes are Argon2id
and no password is ever echoed or logged."""

import itertools
import os
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
import helpers  # noqa: E402
from helpers import auth  # noqa: E402
import tap  # noqa: E402

STACK = None
ADMIN = None            # (id, token)
EMAIL_LIMIT = 4
ADDR_LIMIT = 40
WINDOW = 300            # signin_rate_limit_window
PW = "correct horse battery staple"
_seq = itertools.count(1)


def setUpModule():
    global STACK, ADMIN
    STACK = harness.Stack(name="test_sessions", env={
        "CHATDESK_SIGNIN_RATE_LIMIT_EMAIL": str(EMAIL_LIMIT),
        "CHATDESK_SIGNIN_RATE_LIMIT_ADDR": str(ADDR_LIMIT),
        "CHATDESK_SIGNIN_RATE_LIMIT_WINDOW": str(WINDOW)}).start()
    ADMIN = helpers.add_user(STACK, "admin", "admin@example.com", "admin")


def tearDownModule():
    if STACK is not None:
        STACK.stop()


def email():
    return "s%d@example.com" % next(_seq)


def create(role="customer", password=PW, addr=None):
    """POST /users as the admin; returns (answer, email)."""
    e = email()
    body = {"name": "u", "email": e, "role": role}
    if password is not None:
        body["password"] = password
    return helpers.request(STACK, "POST", "/api/v1/users", ADMIN[1],
                           body), e


def signin(e, pw, headers=None):
    return STACK.http("POST", "/api/v1/sessions",
                      body={"email": e, "password": pw}, headers=headers)


def clear_limits():
    for k in STACK.redis("KEYS", "ratelimit:signin:*") or []:
        STACK.redis("DEL", k)


def fresh_window(need_s=60):
    """The limits count in fixed windows (now / WINDOW, as ratelimit.c
    does): a run of attempts that crosses into the next window starts
    counting again. Waits for the next window when fewer than need_s
    seconds are left of this one (under ASan 44 Argon2id sign-ins take
    several seconds)."""
    left = WINDOW - time.time() % WINDOW
    if left < need_s:
        time.sleep(left + 0.5)


class SignInTest(harness.ApiTestCase):
    def setUp(self):
        clear_limits()

    def test_sign_in_gives_a_working_token(self):
        r, e = create()
        self.assertEqual(r.status, 201, r)
        self.assertEqual(r.headers.get("Cache-Control"), "no-store", r)
        self.assertNotIn(PW, r.text)
        self.assertNotIn("password", r.json["user"])
        s = signin(e.upper(), PW)     # emails compare case-insensitively
        self.assertEqual(s.status, 201, s)
        self.assertEqual(s.headers.get("Cache-Control"), "no-store", s)
        self.assertJsonType(s)
        self.assertEqual(set(s.json), {"token", "user"})
        self.assertEqual(s.json["user"]["email"], e)
        self.assertEqual(s.json["user"]["id"], r.json["user"]["id"])
        self.assertNotIn(PW, s.text)
        me = STACK.http("GET", "/api/v1/users/me",
                        headers=auth(s.json["token"]))
        self.assertEqual(me.status, 200, me)
        self.assertEqual(me.json["id"], r.json["user"]["id"])

    def test_wrong_email_and_wrong_password_are_one_answer(self):
        r, e = create()
        bad_pw = signin(e, "not the password")
        bad_email = signin("nobody-" + e, PW)
        for a in (bad_pw, bad_email):
            self.assertError(a, 401, "unauthorized")
            self.assertEqual(a.headers.get("WWW-Authenticate"), "Bearer")
        self.assertEqual(bad_pw.json, bad_email.json)
        self.assertEqual(
            sorted(k.lower() for k, _ in bad_pw.headers.items()
                   if k.lower() not in ("x-request-id", "date")),
            sorted(k.lower() for k, _ in bad_email.headers.items()
                   if k.lower() not in ("x-request-id", "date")))

    def test_user_without_password_cannot_sign_in(self):
        r, e = create(password=None)
        self.assertEqual(r.status, 201, r)
        self.assertError(signin(e, PW), 401, "unauthorized")

    def test_validation(self):
        for body in ({}, {"email": "a@b.c"}, {"password": PW},
                     {"email": 5, "password": PW},
                     {"email": "a@b.c", "password": 5},
                     {"email": "a@b.c", "password": "x" * 1025},
                     {"email": "no-at-sign", "password": PW},
                     {"email": "two@at@signs", "password": PW}):
            r = STACK.http("POST", "/api/v1/sessions", body=body)
            self.assertError(r, 400, "invalid_field")
        r = STACK.http("POST", "/api/v1/sessions", body="x",
                       headers={"Content-Type": "text/plain"})
        self.assertError(r, 415, "unsupported_media_type")

    def test_short_and_long_passwords_are_refused(self):
        for pw in ("123456789", "x" * 1025):
            r, _ = create(password=pw)
            err = self.assertError(r, 400, "invalid_field")
            self.assertEqual(err.get("field"), "password")
            self.assertNotIn(pw, r.text)
        r, _ = create(password=5)
        self.assertError(r, 400, "invalid_field")
        r, _ = create(password="x" * 1024)
        self.assertEqual(r.status, 201, r)

    def test_sign_out_revokes_at_once(self):
        _, e = create()
        tok = signin(e, PW).json["token"]
        for _ in range(4):      # every process of the pool knows it
            self.assertEqual(STACK.http("GET", "/api/v1/users/me",
                                        headers=auth(tok)).status, 200)
        d = STACK.http("DELETE", "/api/v1/tokens/current", headers=auth(tok))
        self.assertEqual(d.status, 204, d)
        for _ in range(4):
            self.assertError(STACK.http("GET", "/api/v1/users/me",
                                        headers=auth(tok)),
                             401, "unauthorized")

    def test_hash_is_argon2id_and_never_echoed(self):
        r, e = create()
        uid = r.json["user"]["id"]
        rows = helpers.db_query(STACK.db_path,
                                "SELECT password_hash FROM users WHERE id=?",
                                (uid,))
        self.assertTrue(rows[0][0].startswith("$argon2id$"), rows)
        g = helpers.request(STACK, "GET", "/api/v1/users/%d" % uid, ADMIN[1])
        self.assertNotIn("password", g.text)
        self.assertNotIn("argon2", g.text)
        self.assertNotIn(PW, STACK.app_log())
        self.assertNotIn("argon2", STACK.app_log())


class RateLimitTest(harness.ApiTestCase):
    def setUp(self):
        clear_limits()

    def test_per_email(self):
        _, e = create()
        fresh_window()
        for _ in range(EMAIL_LIMIT):
            self.assertError(signin(e, "wrong password!"), 401,
                             "unauthorized")
        r = signin(e, PW)   # even the right password, once over
        self.assertError(r, 429, "rate_limited")
        ra = int(r.headers["Retry-After"])
        self.assertTrue(1 <= ra <= 300, r.headers)
        # An unknown email is limited the same way (no enumeration).
        u = "ghost-" + e
        for _ in range(EMAIL_LIMIT):
            self.assertError(signin(u, PW), 401, "unauthorized")
        self.assertError(signin(u, PW), 429, "rate_limited")
        # Another email from the same address goes on.
        _, e2 = create()
        self.assertEqual(signin(e2, PW).status, 201)

    def test_per_address(self):
        emails = [create()[1] for _ in range(ADDR_LIMIT // EMAIL_LIMIT + 1)]
        fresh_window()
        n = 0
        statuses = []
        for e in emails:
            for _ in range(EMAIL_LIMIT):
                statuses.append(signin(e, "wrong password!").status)
                n += 1
        self.assertEqual(statuses[:ADDR_LIMIT], [401] * ADDR_LIMIT)
        self.assertIn(429, statuses[ADDR_LIMIT:])
        # The keys hold no client text: hashes only.
        keys = [k.decode() for k in STACK.redis("KEYS", "ratelimit:signin:*")]
        self.assertTrue(keys)
        for k in keys:
            self.assertNotIn("@", k)
            self.assertNotIn("127.0.0.1", k)


class PasswordChangeTest(harness.ApiTestCase):
    def setUp(self):
        clear_limits()

    def test_admin_sets_a_password(self):
        r, e = create(password=None)
        uid = r.json["user"]["id"]
        p = helpers.request(STACK, "PATCH", "/api/v1/users/%d" % uid,
                            ADMIN[1], {"password": "a new password"})
        self.assertEqual(p.status, 200, p)
        self.assertNotIn("a new password", p.text)
        self.assertEqual(signin(e, "a new password").status, 201)

    def test_conflict_changes_no_password(self):
        r, e = create()
        _, taken = create()
        p = helpers.request(STACK, "PATCH",
                            "/api/v1/users/%d" % r.json["user"]["id"],
                            ADMIN[1], {"email": taken,
                                       "password": "never stored pw"})
        self.assertError(p, 409, "conflict")
        self.assertEqual(signin(e, PW).status, 201)
        self.assertError(signin(e, "never stored pw"), 401, "unauthorized")

    def test_self_needs_current_password(self):
        r, e = create()
        uid = r.json["user"]["id"]
        tok = r.json["token"]
        path = "/api/v1/users/%d" % uid
        a = helpers.request(STACK, "PATCH", path, tok,
                            {"password": "another password"})
        err = self.assertError(a, 400, "invalid_field")
        self.assertEqual(err["field"], "current_password")
        b = helpers.request(STACK, "PATCH", path, tok,
                            {"password": "another password",
                             "current_password": "wrong guess!"})
        err = self.assertError(b, 403, "forbidden")
        self.assertEqual(err["field"], "current_password")
        self.assertEqual(signin(e, PW).status, 201)
        c = helpers.request(STACK, "PATCH", path, tok,
                            {"password": "another password",
                             "current_password": PW, "name": "renamed"})
        self.assertEqual(c.status, 200, c)
        self.assertEqual(c.json["name"], "renamed")
        self.assertError(signin(e, PW), 401, "unauthorized")
        self.assertEqual(signin(e, "another password").status, 201)

    def test_others_may_not(self):
        r, e = create()
        other, _ = create()
        p = helpers.request(STACK, "PATCH",
                            "/api/v1/users/%d" % r.json["user"]["id"],
                            other.json["token"], {"password": "hijacked pw!"})
        self.assertError(p, 403, "forbidden")
        self.assertEqual(signin(e, PW).status, 201)

    def test_chatdeskctl(self):
        e = email()
        r = STACK.run_ctl("user", "add", "--name", "c", "--email", e,
                          "--role", "agent", "--password-stdin",
                          input=PW + "\n")
        self.assertEqual(r.returncode, 0, r)
        self.assertNotIn(PW, r.stdout + r.stderr)
        self.assertEqual(signin(e, PW).status, 201)
        r = STACK.run_ctl("user", "passwd", "--email", e.upper(),
                          input="a third password")
        self.assertEqual(r.returncode, 0, r)
        self.assertError(signin(e, PW), 401, "unauthorized")
        self.assertEqual(signin(e, "a third password").status, 201)
        r = STACK.run_ctl("user", "passwd", "--email", e, input="short\n")
        self.assertEqual(r.returncode, 64, r)
        r = STACK.run_ctl("user", "passwd", "--email", "none@example.com",
                          input=PW)
        self.assertEqual(r.returncode, 1, r)
        r = STACK.run_ctl("user", "add", "--name", "c", "--email", email(),
                          "--role", "agent", "--password-stdin", input="")
        self.assertEqual(r.returncode, 64, r)


if __name__ == "__main__":
    tap.main()
