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

"""HEAD and the bearer scheme (issue 16, item 9): HEAD on every GET route
of src/routes.c answers GET's status and headers with no body; HEAD on a
route without GET is a 405 with Allow; the scheme "Bearer" is matched in
any case (RFC 7235 2.1), with one or more spaces before the token."""

import os
import re
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
import helpers  # noqa: E402
import tap  # noqa: E402

STACK = None
ADMIN = None


def setUpModule():
    global STACK, ADMIN
    STACK = harness.Stack(name="test_head_bearer", pool_size=2).start()
    ADMIN = helpers.add_user(STACK, "Adm", "adm@example.com", "admin")[1]
    # Something to find behind every {id}.
    r = helpers.request(STACK, "POST", "/api/v1/rooms", ADMIN,
                        body={"name": "r", "member_ids": []})
    assert r.status == 201, r
    r = helpers.request(STACK, "POST", "/api/v1/tickets", ADMIN,
                        body={"subject": "s", "body": "d"})
    assert r.status == 201, r


def tearDownModule():
    if STACK is not None:
        STACK.stop()


def routes():
    """(method, pattern) of the route table."""
    with open(os.path.join(harness.srcdir(), "src", "routes.c")) as f:
        return re.findall(r'\{ "([A-Z]+)", "(/[^"]*)"', f.read())


# Headers that differ between two answers by nature.
VARYING = {"date", "x-request-id", "content-length", "x-cache",
           "connection", "transfer-encoding"}


class HeadTest(harness.ApiTestCase):

    def test_head_on_every_get_route(self):
        gets = [p for m, p in routes() if m == "GET"]
        self.assertGreater(len(gets), 5)
        for pattern in gets:
            path = pattern.replace("{id}", "1")
            if pattern == "/api/v1/events":
                # A subscription's GET never ends (Nchan holds it): ask
                # for one that is refused (no room 999999), which GET
                # and HEAD both answer at once.
                path += "?rooms=999999"
            with self.subTest(path=path):
                g = helpers.request(STACK, "GET", path, ADMIN)
                h = helpers.request(STACK, "HEAD", path, ADMIN)
                self.assertEqual(h.status, g.status, (g, h))
                self.assertEqual(h.body, b"")
                self.assertRequestId(h)
                same = {k.lower(): v for k, v in g.headers.items()
                        if k.lower() not in VARYING}
                got = {k.lower(): v for k, v in h.headers.items()
                       if k.lower() not in VARYING}
                self.assertEqual(got, same)

    def test_app_sends_no_body(self):
        """Straight to the pool (nginx would drop a body itself): the
        head of GET, Content-Length included, and nothing after it."""
        g = helpers.fcgi_request(STACK.fcgi_sock, helpers.fcgi_params(
            "GET", "/api/v1/users/me", token=ADMIN))
        h = helpers.fcgi_request(STACK.fcgi_sock, helpers.fcgi_params(
            "HEAD", "/api/v1/users/me", token=ADMIN))
        self.assertEqual((g.status, h.status), (200, 200))
        self.assertGreater(len(g.body), 0)
        self.assertEqual(h.body, b"")
        self.assertEqual(h.headers.get("Content-Length"), str(len(g.body)))

    def test_head_keeps_errors(self):
        """A HEAD without a token is GET's 401 (with WWW-Authenticate)."""
        h = STACK.http("HEAD", "/api/v1/users/me")
        self.assertEqual(h.status, 401)
        self.assertEqual(h.body, b"")
        self.assertIn("Bearer", h.headers.get("WWW-Authenticate", ""))

    def test_head_of_events_is_the_checks_alone(self):
        """HEAD /api/v1/events authorizes and answers 200 at once, with
        no body and no subscription handed to Nchan"""
        h = helpers.request(STACK, "HEAD", "/api/v1/events", ADMIN)
        self.assertEqual(h.status, 200, h)
        self.assertEqual(h.body, b"")
        self.assertRequestId(h)
        self.assertIsNone(h.headers.get("X-Accel-Redirect"))
        h = STACK.http("HEAD", "/api/v1/events")
        self.assertEqual(h.status, 401)

    def test_head_without_get_is_405(self):
        h = helpers.request(STACK, "HEAD", "/api/v1/rooms/1/members", ADMIN)
        self.assertEqual(h.status, 405)
        self.assertEqual(h.body, b"")
        self.assertEqual(h.headers.get("Allow"), "POST")


class BearerTest(harness.ApiTestCase):

    def me(self, value):
        return STACK.http("GET", "/api/v1/users/me",
                          headers={"Authorization": value})

    def test_scheme_any_case(self):
        for scheme in ("Bearer", "bearer", "BEARER", "bEaReR"):
            with self.subTest(scheme=scheme):
                r = self.me("%s %s" % (scheme, ADMIN))
                self.assertEqual(r.status, 200, r)

    def test_spaces(self):
        self.assertEqual(self.me("Bearer   " + ADMIN).status, 200)

    def test_still_refused(self):
        for value in ("Basic " + ADMIN, "Bearer" + ADMIN, "Bearer",
                      "Bearer ", "bearer " + ADMIN[:-1], "Bearers " + ADMIN,
                      "bearer\t" + ADMIN):
            with self.subTest(value=value):
                self.assertError(self.me(value), 401, "unauthorized")


if __name__ == "__main__":
    tap.main()
