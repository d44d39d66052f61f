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

"""Errors and request ids (API.md section 1 and the end of section 3):
404 and 405 in the one error shape, bad ids in paths, X-Request-Id on
every answer and in the log, nginx's own 413 in the same shape."""

import os
import re
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
import helpers  # noqa: E402
import tap  # noqa: E402

STACK = None

# Paths whose id is not plain decimal digits in 1..2^63-1: 404 not_found,
# whether or not the route exists, and before any authentication.
BAD_ID_PATHS = [
    "/api/v1/users/abc",
    "/api/v1/users/01",
    "/api/v1/users/-1",
    "/api/v1/users/+1",
    "/api/v1/users/0",
    "/api/v1/users/1a",
    "/api/v1/users/%201",
    "/api/v1/users/1%20",
    "/api/v1/users/1.0",
    "/api/v1/users/0x10",
    "/api/v1/users/9223372036854775808",     # 2^63
    "/api/v1/users/18446744073709551616",    # 2^64
    "/api/v1/users/99999999999999999999",
    "/api/v1/rooms/01",
    "/api/v1/rooms/abc/messages",
    "/api/v1/tickets/-5",
    "/api/v1/tickets/00/interactions",
    "/api/v1/stats/users/x",
]


def setUpModule():
    global STACK
    STACK = harness.Stack(name="test_errors").start()


def tearDownModule():
    if STACK is not None:
        STACK.stop()


class NotFoundTest(harness.ApiTestCase):

    def test_unknown_path(self):
        """unknown paths: 404 not_found in the error shape"""
        for path in ("/api/v1/nope", "/api/v1/", "/api/v1/health/x",
                     "/api/v2/health", "/api/v1/users/1/nope",
                     "/api/v1/nope?x=1"):
            with self.subTest(path=path):
                self.assertError(STACK.http("GET", path), 404, "not_found")
        r = STACK.http("POST", "/api/v1/nope", body={})
        self.assertError(r, 404, "not_found")

    def test_bad_ids(self):
        """ids that are not plain decimal 1..2^63-1: 404 not_found"""
        for path in BAD_ID_PATHS:
            with self.subTest(path=path):
                self.assertError(STACK.http("GET", path), 404, "not_found")

    def test_max_id_is_a_path(self):
        """2^63-1 is a valid id: the route exists (401 without a token)"""
        r = STACK.http("GET", "/api/v1/users/9223372036854775807")
        self.assertError(r, 401, "unauthorized")
        self.assertIn("bearer", (r.headers.get("WWW-Authenticate") or "")
                      .lower(), r)


class MethodNotAllowedTest(harness.ApiTestCase):

    def test_post_health(self):
        """POST /api/v1/health: 405 method_not_allowed with Allow: GET"""
        for body in (None, {}):
            with self.subTest(body=body):
                r = STACK.http("POST", "/api/v1/health", body=body)
                self.assertError(r, 405, "method_not_allowed")
                allow = r.headers.get("Allow")
                self.assertIsNotNone(allow, "no Allow header on %r" % (r,))
                methods = {m.strip().upper() for m in allow.split(",")}
                self.assertIn("GET", methods, "Allow: %s" % allow)
                self.assertNotIn("POST", methods, "Allow: %s" % allow)

    def test_other_methods_on_health(self):
        """DELETE, PUT and PATCH on /api/v1/health: 405 with Allow"""
        for method in ("DELETE", "PUT", "PATCH"):
            with self.subTest(method=method):
                r = STACK.http(method, "/api/v1/health")
                self.assertError(r, 405, "method_not_allowed")
                self.assertIn("GET", r.headers.get("Allow") or "", r)


class RequestIdTest(harness.ApiTestCase):

    def test_every_answer_has_one(self):
        """200, 404, 405 and nginx's 413 all carry X-Request-Id"""
        answers = [
            STACK.http("GET", "/api/v1/health"),
            STACK.http("GET", "/api/v1/nope"),
            STACK.http("POST", "/api/v1/health"),
            STACK.http("POST", "/api/v1/tickets", body=b"x" * (2 << 20),
                       headers={"Content-Type": "application/json"}),
        ]
        self.assertEqual([r.status for r in answers], [200, 404, 405, 413],
                         answers)
        for r in answers:
            with self.subTest(status=r.status):
                self.assertRequestId(r)

    def test_nginx_id_is_used_and_differs(self):
        """the id is nginx's $request_id (32 hex digits), new per request"""
        ids = []
        for path in ("/api/v1/health", "/api/v1/health", "/api/v1/nope",
                     "/api/v1/nope"):
            r = STACK.http("GET", path)
            rid = self.assertRequestId(r)
            self.assertRegex(rid, harness.NGINX_REQUEST_ID,
                             "X-Request-Id is not nginx's $request_id")
            ids.append(rid)
        self.assertEqual(len(set(ids)), len(ids), ids)

    def test_client_cannot_choose_the_id(self):
        """an X-Request-Id sent by the client is not echoed"""
        r = STACK.http("GET", "/api/v1/health",
                       headers={"X-Request-Id": "forged-id-1234"})
        rid = self.assertRequestId(r)
        self.assertNotEqual(rid, "forged-id-1234")

    def test_log_line_has_the_id(self):
        """the request's logfmt log line carries the same id"""
        for method, path, status in (("GET", "/api/v1/health", 200),
                                     ("GET", "/api/v1/nope", 404),
                                     ("POST", "/api/v1/health", 405)):
            with self.subTest(path=path, method=method):
                r = STACK.http(method, path)
                self.assertEqual(r.status, status, r)
                rid = self.assertRequestId(r)
                line = STACK.wait_log(r"=\"?%s\"?(\s|$)" % re.escape(rid))
                self.assertIsNotNone(line, "no log line with id %s; log "
                                     "tail:\n%s" % (rid, STACK.app_log()[-2000:]))
                # logfmt: key=value pairs, the method and the status as values
                self.assertRegex(line, r"^\S+=\S")
                self.assertRegex(line, r"=\"?%s\"?(\s|$)" % method)
                self.assertRegex(line, r"=%d(\s|$)" % status)


class PoolDownTest(harness.ApiTestCase):

    def test_pool_down(self):
        """pool stopped: nginx answers 503 unavailable, JSON, X-Request-Id"""
        STACK.stop_pool()
        try:
            for path in ("/api/v1/health", "/api/v1/nope"):
                with self.subTest(path=path):
                    r = STACK.http("GET", path)
                    self.assertError(r, 503, "unavailable")
                    self.assertRegex(r.headers.get("X-Request-Id"),
                                     harness.NGINX_REQUEST_ID)
        finally:
            STACK.start_pool()
            STACK.wait_ready()
        self.assertEqual(STACK.http("GET", "/api/v1/health").status, 200)


class BodyTooLargeTest(harness.ApiTestCase):

    def test_huge_body(self):
        """a 2 MB body: 413 payload_too_large from nginx, JSON shape"""
        r = STACK.http("POST", "/api/v1/tickets", body=b"{" + b" " * (2 << 20),
                       headers={"Content-Type": "application/json"})
        self.assertError(r, 413, "payload_too_large")
        self.assertEqual(len(STACK.pool_pids()), STACK.pool_size)

    def test_unread_body_larger_than_the_socket(self):
        """a 900 KB body (under nginx's 1 MB, over max_body_bytes and a
        unix socket's buffer): the app's own 413, every time, never a 502;
        the pool answers it without reading the body, and that connection
        keeps libfcgi's graceful close (serve_handle)"""
        _, token = helpers.add_user(STACK, "Big Body", "big-body@example.com",
                                    "customer")
        body = b"{" + b" " * (900 << 10) + b"}"
        for _ in range(20):
            r = STACK.http("POST", "/api/v1/tickets", body=body, headers={
                "Content-Type": "application/json",
                "Authorization": "Bearer " + token})
            self.assertError(r, 413, "payload_too_large")
        self.assertEqual(STACK.http("GET", "/api/v1/health").status, 200)
        self.assertEqual(len(STACK.pool_pids()), STACK.pool_size)


if __name__ == "__main__":
    tap.main()
