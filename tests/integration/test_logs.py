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

"""The request log (API.md sections 1 and 7): one logfmt line per request
on the pool's stderr, with request_id (= the X-Request-Id answered),
method, route (the pattern), status, us, cache and user_id; never a
bearer token or a request body; a hostile path, method or request id
(sent through nginx, and raw over FastCGI to the pool's socket) cannot
forge a line or a key."""

import os
import re
import sys
import time
import uuid

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
import helpers  # noqa: E402
from helpers import auth  # noqa: E402
import tap  # noqa: E402

STACK = None
USERS = {}      # role -> (id, token)
REQUIRED = ("request_id", "method", "route", "status", "us", "cache",
            "user_id")

# --------------------------------------------------------------------------
# logfmt, parsed strictly: key=value pairs separated by one space; a value
# is bare (no blank, quote, '=' or backslash) or double-quoted with the
# escapes \" \\ \n \t \r \xNN.

RX_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*")
RX_BARE = re.compile(r'[^\s"=\\]*')


class LogfmtError(ValueError):
    pass


def _show(line):
    return repr(line if len(line) <= 300 else
                line[:120] + " ... " + line[-160:])


def parse_logfmt(line):
    """Returns the dict of a line; LogfmtError if it is not well-formed
    (including a key given twice)."""
    out, i, n = {}, 0, len(line)
    if not line:
        raise LogfmtError("empty line")
    while i < n:
        m = RX_KEY.match(line, i)
        if not m:
            raise LogfmtError("key expected at %d: %s" % (i, _show(line)))
        key = m.group(0)
        i = m.end()
        if i >= n or line[i] != "=":
            raise LogfmtError("'=' expected after %s: %s" % (key, _show(line)))
        i += 1
        if i < n and line[i] == '"':
            i += 1
            val = []
            while True:
                if i >= n:
                    raise LogfmtError("unterminated quote: %s" % _show(line))
                c = line[i]
                if c == '"':
                    i += 1
                    break
                if c == "\\":
                    e = line[i + 1:i + 2]
                    if e in ('"', "\\"):
                        val.append(e)
                        i += 2
                    elif e in ("n", "t", "r"):
                        val.append({"n": "\n", "t": "\t", "r": "\r"}[e])
                        i += 2
                    elif e == "x" and re.match(r"[0-9a-fA-F]{2}$",
                                               line[i + 2:i + 4]):
                        val.append(chr(int(line[i + 2:i + 4], 16)))
                        i += 4
                    else:
                        raise LogfmtError("bad escape at %d: %s" % (
                            i, _show(line)))
                    continue
                if ord(c) < 0x20:
                    raise LogfmtError("raw control byte: %s" % _show(line))
                val.append(c)
                i += 1
            value = "".join(val)
        else:
            m = RX_BARE.match(line, i)
            value = m.group(0)
            i = m.end()
        if key in out:
            raise LogfmtError("key %s twice: %s" % (key, _show(line)))
        out[key] = value
        if i < n:
            if line[i] != " ":
                raise LogfmtError("blank expected at %d: %s" % (
                    i, _show(line)))
            i += 1
            if i >= n:
                raise LogfmtError("trailing blank: %s" % _show(line))
    return out


# --------------------------------------------------------------------------
# FastCGI straight to the pool's socket (helpers.fcgi_request)

def fcgi(method, uri, remote="127.0.0.1", request_id=None, token=None):
    """Returns (status, headers, body)."""
    params = helpers.fcgi_params(method, uri, remote, token)
    if request_id is not None:
        params["REQUEST_ID"] = request_id
    r = helpers.fcgi_request(STACK.fcgi_sock, params)
    return r.status, r.headers, r.body


# --------------------------------------------------------------------------

def setUpModule():
    global STACK
    STACK = harness.Stack(name="test_logs").start()
    for role in ("admin", "agent", "customer"):
        USERS[role] = helpers.add_user(STACK, "L %s" % role,
                                       "logs-%s@example.com" % role, role,
                                       via_me=True)


def tearDownModule():
    if STACK is not None:
        STACK.stop()


def log_lines():
    return [ln for ln in STACK.app_log().split("\n") if ln]


class LogTestBase(harness.ApiTestCase):

    def parsed_log(self):
        """Every line of the app log, parsed; fails on the first line that
        is not logfmt."""
        out = []
        for ln in log_lines():
            try:
                out.append(parse_logfmt(ln))
            except LogfmtError as e:
                self.fail("a log line is not logfmt: %s" % e)
        return out

    def request_lines(self, rid, timeout=5.0):
        """The request lines (msg=request) of rid, once at least one is
        there."""
        deadline = time.monotonic() + timeout
        while True:
            found = [d for d in self.parsed_log()
                     if d.get("msg") == "request" and
                     d.get("request_id") == rid]
            if found or time.monotonic() >= deadline:
                return found
            time.sleep(0.05)

    def request_line(self, rid):
        found = self.request_lines(rid)
        self.assertEqual(len(found), 1, "request lines for %s: %r" % (
            rid, found))
        return found[0]

    def assertLine(self, r, route, user=None, method=None):
        """The one request line of response r carries its id, method,
        route, status, us, cache and user_id."""
        rid = self.assertRequestId(r)
        d = self.request_line(rid)
        for k in REQUIRED:
            self.assertIn(k, d, "key %s missing in %r" % (k, d))
        self.assertEqual(d["method"], method or r.method, d)
        self.assertEqual(d["route"], route, d)
        self.assertEqual(d["status"], str(r.status), d)
        self.assertRegex(d["us"], r"^\d+$", d)
        xc = r.headers.get("X-Cache")
        if xc is not None:
            self.assertEqual(d["cache"], xc, d)
        else:
            self.assertNotIn(d["cache"], ("HIT", "MISS"), d)
        if user is not None:
            self.assertEqual(d["user_id"], str(USERS[user][0]), d)
        else:
            self.assertRegex(d["user_id"], r"^(0|-|)$", d)
        return d


class A_FieldsTest(LogTestBase):

    def test_1_fields(self):
        """each request: one line with request_id = X-Request-Id, method, route pattern, status, us, cache, user_id"""
        cid, ctok = USERS["customer"]
        aid, atok = USERS["admin"]
        self.assertLine(STACK.http("GET", "/api/v1/health"),
                        "/api/v1/health")
        self.assertLine(STACK.http("GET", "/api/v1/users/me",
                                   headers=auth(ctok)),
                        "/api/v1/users/me", "customer")
        STACK.redis("DEL", "user:%d" % aid)
        r = STACK.http("GET", "/api/v1/users/%d" % aid, headers=auth(ctok))
        self.assertEqual(r.headers.get("X-Cache"), "MISS", r)
        self.assertLine(r, "/api/v1/users/{id}", "customer")
        r = STACK.http("GET", "/api/v1/users/%d" % aid, headers=auth(ctok))
        self.assertEqual(r.headers.get("X-Cache"), "HIT", r)
        self.assertLine(r, "/api/v1/users/{id}", "customer")
        r = STACK.http("GET", "/api/v1/users/999999", headers=auth(atok))
        self.assertEqual(r.status, 404, r)
        self.assertLine(r, "/api/v1/users/{id}", "admin")
        r = STACK.http("POST", "/api/v1/tickets", headers=auth(ctok),
                       body={"subject": "log test", "body": "hello"})
        self.assertEqual(r.status, 201, r)
        self.assertLine(r, "/api/v1/tickets", "customer")
        tid = r.json["id"]
        r = STACK.http("GET", "/api/v1/tickets/%d" % tid, headers=auth(atok))
        self.assertEqual(r.status, 200, r)
        self.assertLine(r, "/api/v1/tickets/{id}", "admin")
        r = STACK.http("GET", "/api/v1/users/me")
        self.assertEqual(r.status, 401, r)
        self.assertLine(r, "/api/v1/users/me")
        r = STACK.http("DELETE", "/api/v1/users/me", headers=auth(ctok))
        self.assertEqual(r.status, 405, r)
        d = self.request_line(self.assertRequestId(r))
        self.assertEqual((d["method"], d["status"]), ("DELETE", "405"), d)
        r = STACK.http("GET", "/api/v1/no-such-thing")
        self.assertEqual(r.status, 404, r)
        d = self.request_line(self.assertRequestId(r))
        self.assertEqual((d["method"], d["status"]), ("GET", "404"), d)
        r = STACK.http("GET", "/metrics")
        self.assertEqual(r.status, 200, r)
        self.assertLine(r, "/metrics")

    def test_2_ids_are_unique(self):
        """20 requests: 20 distinct request ids, one line each"""
        rids = []
        for _ in range(20):
            r = STACK.http("GET", "/api/v1/health")
            rids.append(self.assertRequestId(r))
        self.assertEqual(len(set(rids)), len(rids))
        for rid in rids:
            self.request_line(rid)

    def test_3_given_request_id(self):
        """REQUEST_ID from the front end is answered and logged; a hostile one is replaced"""
        status, h, _ = fcgi("GET", "/api/v1/health", request_id="it-log.1_x")
        self.assertEqual((status, h.get("x-request-id")), (200, "it-log.1_x"))
        self.request_line("it-log.1_x")
        for bad in ("a b", 'x"y', "x\ny", "x=y", "z" * 300):
            with self.subTest(request_id=bad):
                status, h, _ = fcgi("GET", "/api/v1/health", request_id=bad)
                rid = h.get("x-request-id")
                self.assertEqual(status, 200)
                self.assertTrue(rid and rid != bad, h)
                self.assertRegex(rid, r"^[A-Za-z0-9._-]{1,64}$")
                self.request_line(rid)


class B_SecretsTest(LogTestBase):

    def test_1_no_token_no_body(self):
        """no bearer token and no request body in the log, whatever the answer"""
        cid, ctok = USERS["customer"]
        aid, atok = USERS["admin"]
        marker = "MARK" + uuid.uuid4().hex
        bad_token = "Z" + uuid.uuid4().hex + "x" * 10
        rids = []

        def send(method, path, token, body=None, headers=None):
            h = dict(headers or {})
            if token:
                h["Authorization"] = "Bearer " + token
            r = STACK.http(method, path, headers=h, body=body)
            rids.append(self.assertRequestId(r))
            return r

        r = send("POST", "/api/v1/tickets", ctok,
                 {"subject": "s " + marker, "body": "b " + marker})
        self.assertEqual(r.status, 201, r)
        tid = r.json["id"]
        r = send("POST", "/api/v1/tickets/%d/interactions" % tid, atok,
                 {"body": marker})
        self.assertEqual(r.status, 201, r)
        r = send("PATCH", "/api/v1/users/%d" % cid, ctok,
                 {"name": "n" + marker})
        self.assertEqual(r.status, 200, r)
        r = send("POST", "/api/v1/rooms", atok,
                 {"name": "r" + marker, "member_ids": [cid]})
        self.assertEqual(r.status, 201, r)
        room = r.json["id"]
        r = send("POST", "/api/v1/rooms/%d/messages" % room, ctok,
                 {"body": "m " + marker})
        self.assertEqual(r.status, 201, r)
        # refused bodies: invalid JSON, wrong field type, wrong media type,
        # too large, not UTF-8
        for body, headers, status in (
                ('{"subject": "%s' % marker, None, 400),
                ('{"subject": 5, "body": "%s"}' % marker, None, 400),
                ('{"subject": "%s", "body": "x"}' % marker,
                 {"Content-Type": "text/plain"}, 415),
                (('{"subject": "%s", "body": "' % marker) + "y" * 70000 +
                 '"}', None, 413),
                (b'{"subject": "\xff\xfe' + marker.encode() + b'"}', None,
                 400)):
            h = {"Content-Type": "application/json"}
            h.update(headers or {})
            with self.subTest(status=status):
                r = send("POST", "/api/v1/tickets", ctok, body, h)
                self.assertEqual(r.status, status, r)
        r = send("GET", "/api/v1/users/me", bad_token)
        self.assertEqual(r.status, 401, r)
        r = send("GET", "/api/v1/users/me", None,
                 headers={"Authorization": "Basic " + bad_token})
        self.assertEqual(r.status, 401, r)
        for rid in rids:
            self.request_line(rid)
        text = STACK.app_log()
        for name, secret in (("customer token", ctok), ("admin token", atok),
                             ("an unknown token", bad_token),
                             ("the body marker", marker)):
            self.assertNotIn(secret, text, "%s in the app log" % name)
        for role, (_, token) in USERS.items():
            self.assertNotIn(token, text, "%s token in the log" % role)
            self.assertNotIn(token[:20], text, "part of the %s token" % role)


class C_ForgeryTest(LogTestBase):

    FORGED = ' ts=2020-01-01T00:00:00.000Z level=error msg=request ' \
        'request_id=forged method=GET route=/x status=200 us=1 cache=HIT ' \
        'user_id=1 "'

    def assertNoForgery(self):
        for d in self.parsed_log():
            self.assertNotEqual(d.get("request_id"), "forged", d)
            self.assertNotEqual(d.get("ts"), "2020-01-01T00:00:00.000Z", d)
            self.assertNotEqual(d.get("level"), "error", d)

    def test_1_hostile_paths_through_nginx(self):
        """paths with %0A, %0D, %22, %20, %5C and = cannot forge a line"""
        enc = self.FORGED.replace(" ", "%20").replace('"', "%22")
        paths = [
            "/api/v1/users/1%0A" + enc,
            "/api/v1/users/1%0D%0A" + enc,
            "/api/v1/nope%0a" + enc + "%0a",
            "/api/v1/users/me%5C%22%20x=y%0Auser_id=1",
            "/api/v1/health?x=%0A" + enc,
            "/api/" + enc,
            "/metrics?" + enc,
        ]
        for path in paths:
            with self.subTest(path=path):
                r = STACK.http("GET", path, headers=auth(USERS["customer"][1]))
                rid = self.assertRequestId(r)
                lines = self.request_lines(rid)
                self.assertEqual(len(lines), 1, "%s: %r" % (path, lines))
                self.assertEqual(lines[0]["status"], str(r.status))
        # raw bytes: a literal quote, backslash and '=' in the request line
        raw = STACK.http_raw(b'GET /api/v1/x"y\\z=1 HTTP/1.1\r\nHost: t\r\n'
                             b'Connection: close\r\n\r\n')
        m = re.search(rb"\r\nX-Request-Id: *(\S+)\r\n", raw, re.I)
        if m:   # nginx may refuse the line itself (then the app saw nothing)
            self.assertEqual(len(self.request_lines(m.group(1).decode())), 1)
        self.assertNoForgery()

    def test_2_hostile_fastcgi_params(self):
        """raw newlines, quotes and control bytes in REQUEST_URI and REQUEST_METHOD: still one well-formed line"""
        cases = [
            ("GET", "/api/v1/users/1\n" + self.FORGED),
            ("GET", "/api/v1/health\r\n" + self.FORGED),
            ("GET", '/api/v1/"x"\\\t\x01\x7f\xff' + self.FORGED),
            ("GET\n" + self.FORGED.strip(), "/api/v1/health"),
            ('GE"T x=y', "/api/v1/users/me"),
            ("", "/api/v1/health"),
        ]
        for method, uri in cases:
            with self.subTest(method=method, uri=uri):
                status, h, _ = fcgi(method, uri,
                                    token=USERS["customer"][1])
                rid = h.get("x-request-id")
                self.assertTrue(rid, h)
                lines = self.request_lines(rid)
                self.assertEqual(len(lines), 1, "%r %r: %r" % (method, uri,
                                                               lines))
                d = lines[0]
                self.assertEqual(d["status"], str(status), d)
                for k in REQUIRED:
                    self.assertIn(k, d, d)
                if method:
                    self.assertEqual(d["method"], method, d)
        self.assertNoForgery()

    def test_3_every_line_parses(self):
        """every line of the whole app log is well-formed logfmt, one request line per request id"""
        seen = {}
        for d in self.parsed_log():
            self.assertIn("msg", d, d)
            self.assertIn("level", d, d)
            if d.get("msg") == "request":
                seen[d["request_id"]] = seen.get(d["request_id"], 0) + 1
        self.assertTrue(seen)
        self.assertEqual({k: v for k, v in seen.items() if v != 1}, {})

    def test_4_long_values(self):
        """a very long method (nginx passes any [A-Z_] method) still gives one complete line: status, us, cache, user_id kept"""
        def one_line(rid):
            deadline = time.monotonic() + 5
            while True:
                raw = [ln for ln in log_lines()
                       if "request_id=%s " % rid in ln]
                if raw or time.monotonic() >= deadline:
                    break
                time.sleep(0.05)
            self.assertEqual(len(raw), 1, raw)
            try:
                d = parse_logfmt(raw[0])
            except LogfmtError as e:
                self.fail("the request line is not logfmt: %s" % e)
            missing = [k for k in REQUIRED if k not in d]
            self.assertEqual(missing, [], "keys lost from the request line "
                             "(%d bytes): ...%s" % (len(raw[0]),
                                                   raw[0][-150:]))
            return d
        with self.subTest(via="nginx"):
            method = "A" * 1100
            r = STACK.http(method, "/api/v1/users/me",
                           headers=auth(USERS["customer"][1]))
            rid = self.assertRequestId(r)
            d = one_line(rid)
            self.assertEqual(d["status"], str(r.status), d)
        with self.subTest(via="fastcgi"):
            status, h, _ = fcgi('"\x01' * 400, "/api/v1/health")
            d = one_line(h.get("x-request-id"))
            self.assertEqual(d["status"], str(status), d)


if __name__ == "__main__":
    tap.main()
