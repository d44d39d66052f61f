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

"""docs/openapi.yaml, the machine-readable contract, against what the
code does:

(a) the set of (method, path) in the spec equals the route table of
    src/routes.c exactly (path templates compared with their {...}
    placeholders normalised), and each operation's x-chatdesk-access is
    the access level the table gives the route;
(b) the spec passes a real OpenAPI 3.1 validator (Redocly's lint engine,
    scripts/openapi-lint.sh, installed by scripts/deps.sh --test): a
    validator that is not installed FAILS this test, never skips it; and
    the validator is shown to reject a broken copy, so a pass means
    something;
(c) live answers of the real server, for every operation of the spec
    (each with a 2xx and most with their errors), match the spec: the
    status is one the operation lists, the headers it marks required are
    there and match their schemas, the content type is the listed one,
    and the body validates (python3-jsonschema, Draft 2020-12) against
    the response schema made strict: an object schema that does not say
    otherwise gets additionalProperties false here, so a field the server
    sends and the spec does not name fails too (the published spec stays
    open to additions).

Besides the standard library this file needs python3-yaml and
python3-jsonschema (Debian packages; scripts/deps.sh --test installs
them)."""

import copy
import os
import re
import subprocess
import sys
import tempfile
import textwrap
import urllib.parse

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import jsonschema  # noqa: E402
import yaml  # noqa: E402

import events_client  # noqa: E402
import harness  # noqa: E402
import helpers  # noqa: E402
from helpers import User  # noqa: E402
import tap  # noqa: E402

SRC = harness.srcdir()
SPEC_PATH = os.path.join(SRC, "docs", "openapi.yaml")
PENDING_PATH = os.path.join(SRC, "docs", "openapi-pending.md")
ROUTES_C = os.path.join(SRC, "src", "routes.c")
LINT = os.path.join(SRC, "scripts", "openapi-lint.sh")
METHODS = ("get", "put", "post", "delete", "options", "head", "patch",
           "trace")
RATE_LIMIT = 5          # posts per window for this stack

with open(SPEC_PATH, encoding="utf-8") as f:
    SPEC = yaml.safe_load(f)

STACK = None
U = {}                  # name -> User
SEEN = set()            # (METHOD, template, status) answered live


# --------------------------------------------------------------------------
# The route table and the spec's operations


def norm(path):
    """A path template with every {name} placeholder as {}."""
    return re.sub(r"\{[^{}/]*\}", "{}", path)


def table_routes():
    """{(METHOD, normalised path): access level} of src/routes.c."""
    with open(ROUTES_C, encoding="utf-8") as f:
        text = f.read()
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    text = re.sub(r"//[^\n]*", "", text)
    routes = {}
    for m in re.finditer(r'"(GET|HEAD|POST|PUT|PATCH|DELETE|OPTIONS)"\s*,'
                         r'\s*"(/[^"]*)"([^}]*)\}', text):
        acc = re.search(r"\bACCESS_([A-Z]+)\b", m.group(3))
        routes[(m.group(1), norm(m.group(2)))] = \
            acc.group(1).lower() if acc else None
    return routes


def spec_operations():
    """{(METHOD, normalised path): (template, operation)} of the spec."""
    ops = {}
    for tmpl, item in SPEC["paths"].items():
        for m in METHODS:
            if m in item:
                ops[(m.upper(), norm(tmpl))] = (tmpl, item[m])
    return ops


def deref(node):
    """Follows a local $ref ('#/components/...') to its target."""
    while isinstance(node, dict) and "$ref" in node:
        ref = node["$ref"]
        if not ref.startswith("#/"):
            raise ValueError("non-local $ref %r" % ref)
        node = SPEC
        for part in ref[2:].split("/"):
            node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def template_of(method, path):
    """The spec's template and operation for a concrete path."""
    for tmpl, item in SPEC["paths"].items():
        rx = "^" + re.sub(r"\\\{[^{}/]*\\\}", "[^/]+", re.escape(tmpl)) + "$"
        if re.match(rx, path) and method.lower() in item:
            return tmpl, item[method.lower()]
    return None, None


# --------------------------------------------------------------------------
# Strict schemas and a validator that knows x-max-bytes


def strict(node):
    """A copy in which every object schema with properties and nothing
    said about other properties forbids them."""
    if isinstance(node, list):
        return [strict(x) for x in node]
    if not isinstance(node, dict):
        return node
    out = {k: strict(v) for k, v in node.items()}
    if out.get("type") == "object" and "properties" in out and \
            "additionalProperties" not in out and \
            "unevaluatedProperties" not in out:
        out["additionalProperties"] = False
    return out


STRICT_SPEC = strict(SPEC)


def _max_bytes(validator, limit, instance, schema):
    if isinstance(instance, str) and len(instance.encode("utf-8")) > limit:
        yield jsonschema.ValidationError(
            "%r is longer than %d bytes of UTF-8" % (instance[:40], limit))


def _min_bytes(validator, limit, instance, schema):
    if isinstance(instance, str) and len(instance.encode("utf-8")) < limit:
        yield jsonschema.ValidationError(
            "%r is shorter than %d bytes of UTF-8" % (instance[:40], limit))


Validator = jsonschema.validators.extend(jsonschema.Draft202012Validator,
                                         {"x-max-bytes": _max_bytes,
                                          "x-min-bytes": _min_bytes})


def schema_errors(schema, instance):
    """The messages of every error of instance against schema, whose
    $refs ('#/components/...') resolve in the strict spec: the schema is
    validated inside a root document that holds the components, which
    works alike with Debian 12's jsonschema (4.10) and later ones."""
    root = {"$schema": "https://json-schema.org/draft/2020-12/schema",
            "components": STRICT_SPEC["components"],
            "allOf": [strict(schema)]}
    v = Validator(root, format_checker=jsonschema.FormatChecker())
    return sorted("%s at %s" % (e.message, "/".join(map(str, e.absolute_path))
                                or "(root)")
                  for e in v.iter_errors(instance))


class SpecCase(harness.ApiTestCase):
    """Assertions of a live answer against the spec."""

    def assertValid(self, schema, instance, what):
        errs = schema_errors(schema, instance)
        self.assertEqual(errs, [], "%s does not match its schema: %r" % (
            what, instance))

    def check(self, r):
        """r against the spec's response for (method, path, status).
        Returns the body (JSON, or text for another content type)."""
        path = urllib.parse.urlsplit(r.path).path
        tmpl, op = template_of(r.method, path)
        self.assertIsNotNone(op, "no operation for %s %s in the spec" % (
            r.method, path))
        resp = op["responses"].get(str(r.status))
        self.assertIsNotNone(resp, "%s %s answered %d, which the spec "
                             "does not list: %r" % (r.method, tmpl, r.status,
                                                    r.body[:300]))
        resp = deref(resp)
        for name, h in resp.get("headers", {}).items():
            h = deref(h)
            val = r.headers.get(name)
            if val is None:
                self.assertFalse(h.get("required"), "%s %s %d: no %s header"
                                 % (r.method, tmpl, r.status, name))
                continue
            sch = h.get("schema", {})
            if deref(sch).get("type") == "integer":
                self.assertRegex(val, r"^-?\d+$", "%s: %r" % (name, val))
                val = int(val)
            self.assertValid(sch, val, "header %s of %s %s %d" % (
                name, r.method, tmpl, r.status))
        content = resp.get("content")
        SEEN.add((r.method, tmpl, r.status))
        if not content:
            self.assertEqual(r.body, b"", "%s %s %d has a body the spec "
                             "does not describe" % (r.method, tmpl, r.status))
            return None
        ct = (r.headers.get("Content-Type") or "").replace(" ", "").lower()
        for mtype, media in content.items():
            if mtype == "application/json":
                if ct == "application/json;charset=utf-8":
                    body = r.json
                    self.assertValid(media.get("schema", {}), body,
                                     "%s %s %d" % (r.method, tmpl, r.status))
                    return body
            elif ct == mtype.replace(" ", "").lower():
                return r.body.decode("utf-8")
        self.fail("%s %s %d: Content-Type %r is none of the spec's %r" % (
            r.method, tmpl, r.status, r.headers.get("Content-Type"),
            list(content)))

    def call(self, method, path, user=None, body=None, headers=None,
             status=None):
        """A request, checked against the spec (and against status)."""
        r = helpers.request(STACK, method, path,
                            token=user.token if user else None, body=body,
                            headers=headers)
        if status is not None:
            self.assertEqual(r.status, status, r)
        return r, self.check(r)


# --------------------------------------------------------------------------
# (a) and (b): the spec itself


class RouteTableTest(harness.ApiTestCase):
    def test_route_table_parsed(self):
        """src/routes.c yields a route table (the parser is not blind)"""
        routes = table_routes()
        self.assertGreaterEqual(len(routes), 20, routes)
        self.assertIn(("GET", "/api/v1/health"), routes)
        self.assertNotIn(None, routes.values(),
                         "a route without an ACCESS_ level: %r" % routes)

    def test_same_routes(self):
        """the spec's (method, path) set equals the route table's"""
        table = set(table_routes())
        spec = set(spec_operations())
        self.assertEqual(sorted(table - spec), [],
                         "routes the code serves that docs/openapi.yaml lacks")
        self.assertEqual(sorted(spec - table), [],
                         "operations in docs/openapi.yaml the code does not "
                         "serve (planned ones go to docs/openapi-pending.md)")

    def test_access_levels(self):
        """each operation's x-chatdesk-access is its route's ACCESS_ level"""
        table = table_routes()
        for key, (tmpl, op) in sorted(spec_operations().items()):
            if key in table:
                self.assertEqual(op.get("x-chatdesk-access"), table[key],
                                 "%s %s" % (key[0], tmpl))

    def test_security_matches_access(self):
        """public routes need no token, metrics may go without, the rest need one"""
        for (method, _), (tmpl, op) in sorted(spec_operations().items()):
            sec = op.get("security", SPEC.get("security"))
            acc = op.get("x-chatdesk-access")
            if acc == "public":
                self.assertEqual(sec, [], "%s %s" % (method, tmpl))
            elif acc == "metrics":
                self.assertEqual(sec, [{}, {"bearerAuth": []}],
                                 "%s %s" % (method, tmpl))
            elif acc == "internal":
                # nginx's own callbacks: no token, and to clients 404.
                self.assertEqual(sec, [], "%s %s" % (method, tmpl))
                self.assertIn("404", op["responses"], "%s %s" % (method, tmpl))
            else:
                self.assertIn({"bearerAuth": []}, sec or [],
                              "%s %s" % (method, tmpl))
                self.assertNotIn({}, sec, "%s %s" % (method, tmpl))
                self.assertIn("401", op["responses"], "%s %s" % (method, tmpl))

    def test_every_response_has_request_id(self):
        """every response of every operation lists X-Request-Id"""
        for (method, _), (tmpl, op) in sorted(spec_operations().items()):
            for status, resp in op["responses"].items():
                self.assertIn("X-Request-Id", deref(resp).get("headers", {}),
                              "%s %s %s" % (method, tmpl, status))


def lint(*files):
    return subprocess.run(["bash", LINT] + list(files), capture_output=True,
                          text=True, timeout=120, stdin=subprocess.DEVNULL)


class ValidatorTest(harness.ApiTestCase):
    def test_spec_validates(self):
        """docs/openapi.yaml passes the OpenAPI validator with no problem"""
        r = lint(SPEC_PATH)
        self.assertEqual(r.returncode, 0, "scripts/openapi-lint.sh:\n%s%s" % (
            r.stdout, r.stderr))
        self.assertRegex(r.stdout, r": 0 errors, 0 warnings")

    def test_validator_rejects_a_broken_spec(self):
        """the validator fails a copy with a dangling $ref and an undeclared path parameter"""
        broken = copy.deepcopy(SPEC)
        op = broken["paths"]["/api/v1/rooms/{id}"]["get"]
        op["responses"]["200"]["content"]["application/json"]["schema"] = \
            {"$ref": "#/components/schemas/NoSuchSchema"}
        del broken["paths"]["/api/v1/rooms/{id}"]["parameters"]
        with tempfile.NamedTemporaryFile("w", suffix=".yaml",
                                         delete=False) as f:
            yaml.safe_dump(broken, f, sort_keys=False)
        try:
            r = lint(f.name)
        finally:
            os.unlink(f.name)
        out = r.stdout + r.stderr
        self.assertEqual(r.returncode, 1, out)
        self.assertIn("no-unresolved-refs", out)
        self.assertIn("path-parameters-defined", out)


def pending_blocks():
    """[(target, mapping)] of the ```yaml blocks of openapi-pending.md,
    each led by a '# into: TARGET' line."""
    with open(PENDING_PATH, encoding="utf-8") as f:
        text = f.read()
    blocks = []
    for m in re.finditer(r"^```yaml\n(.*?)^```$", text, flags=re.S | re.M):
        first, _, rest = m.group(1).partition("\n")
        t = re.match(r"^# into: (\S+)$", first)
        if t is None:
            raise ValueError("a block without '# into:': %r" % first)
        blocks.append((t.group(1), yaml.safe_load(textwrap.dedent(rest))))
    return blocks


def paste(spec, target, block):
    """Pastes block at target (dot-separated keys) into spec, as the
    file tells a person to. Returns the keys that replaced others."""
    node = spec
    for key in target.split("."):
        node = node.setdefault(key, {})
    replaced = [k for k in block if k in node]
    node.update(block)
    return replaced


class PendingTest(harness.ApiTestCase):
    def test_pending_blocks_paste_and_validate(self):
        """the blocks of docs/openapi-pending.md, pasted into the spec, pass the validator"""
        blocks = pending_blocks()
        # The file shrinks as routes land (their blocks move into the
        # spec): what matters is that the parser finds every block it has.
        with open(PENDING_PATH, encoding="utf-8") as f:
            leads = len(re.findall(r"^# into: ", f.read(), flags=re.M))
        self.assertEqual(len(blocks), leads, "blocks found: %d of %d" %
                         (len(blocks), leads))
        merged = copy.deepcopy(SPEC)
        for target, block in blocks:
            self.assertIsInstance(block, dict, target)
            replaced = paste(merged, target, block)
            if target == "paths" or target.startswith("paths./") and \
                    target.count(".") == 1:
                # A path item or an operation: one that the spec has is
                # served already, and its block should have gone.
                self.assertEqual(replaced, [], "pending blocks for %s that "
                                 "docs/openapi.yaml has already" % target)
        with tempfile.NamedTemporaryFile("w", suffix=".yaml",
                                         delete=False) as f:
            yaml.safe_dump(merged, f, sort_keys=False, allow_unicode=True)
        try:
            r = lint(f.name)
        finally:
            os.unlink(f.name)
        self.assertEqual(r.returncode, 0, "the spec with the pending blocks "
                         "pasted:\n%s%s" % (r.stdout, r.stderr))

    def test_pending_routes_not_served(self):
        """no pending path item or operation is in the route table yet"""
        table = set(table_routes())
        for target, block in pending_blocks():
            if target == "paths":
                items = block.items()
            elif target.startswith("paths./") and target.count(".") == 1:
                items = [(target[len("paths."):], block)]
            else:
                continue
            for tmpl, item in items:
                for m in METHODS:
                    if m in item:
                        self.assertNotIn((m.upper(), norm(tmpl)), table,
                                         "served already: paste its block "
                                         "into docs/openapi.yaml")


# --------------------------------------------------------------------------
# (c): live answers


def setUpModule():
    global STACK
    STACK = harness.Stack(name="test_openapi", env={
        "CHATDESK_RATE_LIMIT_COUNT": str(RATE_LIMIT)}).start()
    for name, role in (("admin", "admin"), ("agent", "agent"),
                       ("spammer", "agent"), ("reader", "agent"),
                       ("cust", "customer"),
                       ("cust2", "customer")):
        uid, tok = helpers.add_user(STACK, "oa " + name,
                                    "oa-%s@example.com" % name, role)
        U[name] = User(uid, tok, "oa " + name, role)


def tearDownModule():
    if STACK is not None:
        STACK.stop()


class LiveTest(SpecCase):
    def room(self, members=()):
        _, room = self.call("POST", "/api/v1/rooms", U["agent"],
                            {"name": "oa room", "member_ids": list(members)},
                            status=201)
        return room

    def ticket(self, user):
        _, t = self.call("POST", "/api/v1/tickets", user,
                         {"subject": "oa help", "body": "it broke"},
                         status=201)
        return t

    def test_health(self):
        """GET /api/v1/health without a token"""
        _, body = self.call("GET", "/api/v1/health", status=200)
        self.assertEqual(body["status"], "ok", body)
        self.call("GET", "/api/v1/health?" + "&".join(
            "p%d=1" % i for i in range(20)), status=400)

    def test_users(self):
        """users: create, conflict, me, public and whole views, patch, 403, 404"""
        a, c, c2 = U["admin"], U["cust"], U["cust2"]
        r, body = self.call("POST", "/api/v1/users", a,
                            {"name": "oa new", "email": "oa-new@example.com",
                             "role": "customer"}, status=201)
        self.assertEqual(r.headers.get("Location"),
                         "/api/v1/users/%d" % body["user"]["id"])
        self.call("POST", "/api/v1/users", a,
                  {"name": "oa new", "email": "OA-NEW@example.com",
                   "role": "customer"}, status=409)
        self.call("POST", "/api/v1/users", a, {"name": "x", "role": "boss",
                                                "email": "a@b"}, status=400)
        self.call("POST", "/api/v1/users", c,
                  {"name": "x", "email": "x@example.com", "role": "admin"},
                  status=403)
        self.call("POST", "/api/v1/users", a, body="{}",
                  headers={"Content-Type": "text/plain"}, status=415)
        _, me = self.call("GET", "/api/v1/users/me", c, status=200)
        self.assertEqual(me["id"], c.id)
        _, pub = self.call("GET", "/api/v1/users/%d" % c2.id, c, status=200)
        self.assertEqual(set(pub), {"id", "name", "role"})
        _, whole = self.call("GET", "/api/v1/users/%d" % c.id, c, status=200)
        self.assertIn("email", whole)
        self.call("GET", "/api/v1/users/999999", c, status=404)
        self.call("GET", "/api/v1/users/me", status=401)
        self.call("PATCH", "/api/v1/users/%d" % c.id, c,
                  {"name": "oa cust renamed"}, status=200)
        self.call("PATCH", "/api/v1/users/%d" % c.id, c, {"role": "admin"},
                  status=403)
        self.call("PATCH", "/api/v1/users/%d" % c2.id, c, {"name": "no"},
                  status=403)
        self.call("PATCH", "/api/v1/users/%d" % c.id, c, {"name": " "},
                  status=400)

    def test_tokens(self):
        """a new token, its revocation, and the 401 that follows"""
        c = U["cust2"]
        _, body = self.call("POST", "/api/v1/users/%d/tokens" % c.id, c,
                            status=201)
        fresh = User(c.id, body["token"], c.name, c.role)
        self.call("POST", "/api/v1/users/%d/tokens" % U["agent"].id, c,
                  body={}, status=403)
        self.call("POST", "/api/v1/users/999999/tokens", c, status=404)
        self.call("DELETE", "/api/v1/tokens/current", fresh, status=204)
        r, _ = self.call("DELETE", "/api/v1/tokens/current", fresh,
                         status=401)
        self.assertEqual(r.headers.get("WWW-Authenticate"), "Bearer")

    def test_accounts(self):
        """accounts (section 9): list users, list and revoke tokens, disable"""
        a, ag, c = U["admin"], U["agent"], U["cust"]
        _, page = self.call("GET", "/api/v1/users?limit=2", ag, status=200)
        self.assertEqual(len(page["users"]), 2)
        self.call("GET", "/api/v1/users?role=agent", a, status=200)
        self.call("GET", "/api/v1/users?role=boss", a, status=400)
        self.call("GET", "/api/v1/users", c, status=403)
        _, made = self.call("POST", "/api/v1/users", a,
                            {"name": "oa lock", "email": "oa-lock@example.com",
                             "role": "customer"}, status=201)
        u = User(made["user"]["id"], made["token"], "oa lock", "customer")
        _, body = self.call("POST", "/api/v1/users/%d/tokens" % u.id, u,
                            status=201)
        _, toks = self.call("GET", "/api/v1/users/%d/tokens" % u.id, u,
                            status=200)
        self.assertEqual(len(toks["tokens"]), 2)
        self.call("GET", "/api/v1/users/%d/tokens" % u.id, c, status=403)
        self.call("GET", "/api/v1/users/999999/tokens", a, status=404)
        self.call("DELETE", "/api/v1/users/%d/tokens/%d" % (
            u.id, toks["tokens"][0]["id"]), u, status=204)
        self.call("DELETE", "/api/v1/users/%d/tokens/%d" % (
            u.id, toks["tokens"][0]["id"]), u, status=404)
        self.call("DELETE", "/api/v1/users/%d/tokens" % u.id, c, status=403)
        self.call("DELETE", "/api/v1/users/%d/tokens" % u.id, a, status=204)
        self.call("GET", "/api/v1/users/me", u, status=401)
        _, off = self.call("PATCH", "/api/v1/users/%d" % u.id, a,
                           {"disabled": True}, status=200)
        self.assertIs(off["disabled"], True)
        self.call("POST", "/api/v1/users/%d/tokens" % u.id, a, status=409)
        self.call("PATCH", "/api/v1/users/%d" % u.id, c, {"disabled": False},
                  status=403)
        self.call("PATCH", "/api/v1/users/%d" % u.id, a, {"disabled": 1},
                  status=400)
        self.call("PATCH", "/api/v1/users/%d" % u.id, a, {"disabled": False},
                  status=200)

    def test_sessions(self):
        """sign-in: a user with a password, 201, the one 401, 400, 415; password changes"""
        a = U["admin"]
        pw = "oa sign-in password"
        r, body = self.call("POST", "/api/v1/users", a,
                            {"name": "oa signer", "role": "customer",
                             "email": "oa-signer@example.com",
                             "password": pw}, status=201)
        self.assertEqual(r.headers.get("Cache-Control"), "no-store")
        self.assertNotIn(pw, r.text)
        me = User(body["user"]["id"], body["token"], "oa signer", "customer")
        self.call("POST", "/api/v1/users", a,
                  {"name": "x", "role": "customer", "email": "oa-x@example.com",
                   "password": "short"}, status=400)
        r, s = self.call("POST", "/api/v1/sessions", None,
                         {"email": "oa-signer@example.com", "password": pw},
                         status=201)
        self.assertEqual(s["user"]["id"], me.id)
        self.call("POST", "/api/v1/sessions", None,
                  {"email": "oa-signer@example.com", "password": "wrong one"},
                  status=401)
        self.call("POST", "/api/v1/sessions", None,
                  {"email": "oa-nobody@example.com", "password": pw},
                  status=401)
        self.call("POST", "/api/v1/sessions", None, {"email": "x@y"},
                  status=400)
        self.call("POST", "/api/v1/sessions", None, body="{}",
                  headers={"Content-Type": "text/plain"}, status=415)
        self.call("PATCH", "/api/v1/users/%d" % me.id, me,
                  {"password": "oa new password", "current_password": "no!"},
                  status=403)
        self.call("PATCH", "/api/v1/users/%d" % me.id, me,
                  {"password": "oa new password", "current_password": pw},
                  status=200)
        self.call("PATCH", "/api/v1/users/%d" % me.id, a,
                  {"password": "oa admin-set password"}, status=200)

    def test_rooms(self):
        """rooms: create, list, get, members, 403 and 404"""
        room = self.room([U["cust"].id])
        r, _ = self.call("GET", "/api/v1/rooms", U["cust"], status=200)
        self.call("GET", "/api/v1/rooms?limit=1", U["agent"], status=200)
        self.call("GET", "/api/v1/rooms?before=0", U["agent"], status=400)
        self.call("GET", "/api/v1/rooms/%d" % room["id"], U["cust"],
                  status=200)
        self.call("GET", "/api/v1/rooms/%d" % room["id"], U["cust2"],
                  status=404)
        self.call("POST", "/api/v1/rooms/%d/members" % room["id"], U["agent"],
                  {"user_id": U["cust2"].id}, status=204)
        self.call("POST", "/api/v1/rooms/%d/members" % room["id"], U["agent"],
                  {"user_id": 999999}, status=400)
        self.call("POST", "/api/v1/rooms/%d/members" % room["id"], U["cust"],
                  {"user_id": U["cust2"].id}, status=403)
        self.call("POST", "/api/v1/rooms/999999/members", U["agent"],
                  {"user_id": U["cust2"].id}, status=404)
        self.call("POST", "/api/v1/rooms", U["cust"], {"name": "mine"},
                  status=403)

    def test_messages(self):
        """messages: post (Location in its page), list (X-Cache), bad limit"""
        room = self.room([U["cust"].id])
        path = "/api/v1/rooms/%d/messages" % room["id"]
        r, msg = self.call("POST", path, U["cust"], {"body": "héllo"},
                           status=201)
        self.assertEqual(r.headers.get("Location"),
                         "%s?before=%d&limit=1" % (path, msg["id"] + 1))
        self.call("POST", path, U["cust"], {"body": "x" * 4097}, status=400)
        _, page = self.call("GET", path, U["cust"], status=200)
        self.assertEqual([m["id"] for m in page["messages"]], [msg["id"]])
        self.call("GET", path + "?limit=1", U["cust"], status=200)
        self.call("GET", path + "?limit=101", U["cust"], status=400)
        self.call("GET", path, U["cust2"], status=404)

    def test_rate_limit(self):
        """posts over the limit answer 429 with Retry-After"""
        room = self.room()
        path = "/api/v1/rooms/%d/messages" % room["id"]
        for i in range(RATE_LIMIT):
            r = helpers.request(STACK, "POST", path, U["spammer"].token,
                                {"body": "m%d" % i})
            if r.status == 429:
                break
        r, _ = self.call("POST", path, U["spammer"], {"body": "one more"},
                         status=429)

    def test_tickets(self):
        """tickets: create, list, get (X-Cache), patch, 403, 404, 413"""
        t = self.ticket(U["cust"])
        r, _ = self.call("GET", "/api/v1/tickets/%d" % t["id"], U["cust"],
                         status=200)
        self.call("GET", "/api/v1/tickets/%d" % t["id"], U["cust2"],
                  status=404)
        self.call("GET", "/api/v1/tickets?status=open&limit=1", U["agent"],
                  status=200)
        self.call("GET", "/api/v1/tickets?assignee_id=%d" % U["agent"].id,
                  U["cust"], status=200)
        self.call("GET", "/api/v1/tickets?status=lost", U["agent"],
                  status=400)
        _, t2 = self.call("PATCH", "/api/v1/tickets/%d" % t["id"], U["agent"],
                          {"status": "pending", "assignee_id": U["agent"].id,
                           "priority": "high"}, status=200)
        self.assertEqual(t2["assignee_id"], U["agent"].id)
        self.call("PATCH", "/api/v1/tickets/%d" % t["id"], U["cust"],
                  {"priority": "low"}, status=403)
        self.call("PATCH", "/api/v1/tickets/%d" % t["id"], U["agent"],
                  {"assignee_id": U["cust"].id}, status=400)
        _, t3 = self.call("PATCH", "/api/v1/tickets/%d" % t["id"], U["cust"],
                          {"status": "closed"}, status=200)
        self.assertIsNotNone(t3["closed_at"])
        self.call("POST", "/api/v1/tickets", U["cust"],
                  {"subject": "big", "body": "x" * 70000}, status=413)

    def test_interactions(self):
        """interactions: post (Location in its page), list, 404"""
        t = self.ticket(U["cust2"])
        path = "/api/v1/tickets/%d/interactions" % t["id"]
        r, i = self.call("POST", path, U["agent"], {"body": "on it"},
                         status=201)
        self.assertEqual(r.headers.get("Location"),
                         "%s?before=%d&limit=1" % (path, i["id"] + 1))
        _, page = self.call("GET", path, U["cust2"], status=200)
        self.assertEqual(len(page["interactions"]), 2, page)
        self.call("GET", path + "?limit=1", U["cust2"], status=200)
        self.call("POST", path, U["cust"], {"body": "not mine"}, status=404)

    def test_catch_up(self):
        """after= on messages, interactions and notifications; with before, 400"""
        # Posts by a user of its own here: the others' allowance
        # (RATE_LIMIT a window) is spent by the tests that post.
        a = U["reader"]
        room = self.room([U["cust"].id])
        path = "/api/v1/rooms/%d/messages" % room["id"]
        _, first = self.call("POST", path, a, {"body": "one"}, status=201)
        _, second = self.call("POST", path, a, {"body": "two"}, status=201)
        _, page = self.call("GET", path + "?after=%d" % first["id"],
                            U["cust"], status=200)
        self.assertEqual([m["id"] for m in page["messages"]], [second["id"]])
        self.assertIsNone(page["next_after"])
        self.call("GET", path + "?after=%d&before=%d" % (first["id"],
                  second["id"]), U["cust"], status=400)
        t = self.ticket(a)
        _, page = self.call("GET", "/api/v1/tickets/%d/interactions?after=1"
                            % t["id"], a, status=200)
        self.assertIn("next_after", page)
        _, page = self.call("GET", "/api/v1/notifications?after=1",
                            U["cust"], status=200)
        self.assertIn("next_after", page)

    def test_events(self):
        """live events: a ticket, a subscription, typing, presence, 404"""
        room = self.room([U["cust"].id])
        _, tk = self.call("POST", "/api/v1/events/tickets", U["cust"],
                          status=201)
        path = "/api/v1/events?rooms=%d" % room["id"]
        es = events_client.EventSource(STACK, path + "&ticket=" + tk["ticket"])
        try:
            self.check(harness.Response("GET", path, es.status, "",
                                        list(es.headers.items()), b""))
            self.call("POST", "/api/v1/rooms/%d/typing" % room["id"],
                      U["agent"], status=204)
            ev = es.wait_for(lambda e: e["data"].get("type") == "typing", 10)
            self.assertValid({"$ref": "#/components/schemas/Event"},
                             ev["data"], "the typing event")
        finally:
            es.close()
        _, online = self.call("GET", "/api/v1/rooms/%d/presence" % room["id"],
                              U["agent"], status=200)
        self.assertIsInstance(online, dict)
        self.call("GET", path, U["cust2"], status=404)
        self.call("POST", "/api/v1/rooms/%d/typing" % room["id"], U["cust2"],
                  status=404)
        # The presence callbacks, as nginx makes them (straight to the
        # pool with CHATDESK_INTERNAL), and as a client cannot.
        for which in ("join", "leave"):
            uri = ("/api/v1/events/presence/%s?user=%d&sub=ab12&channels="
                   "room:%d" % (which, U["cust"].id, room["id"]))
            params = helpers.fcgi_params("POST", uri)
            params["CHATDESK_INTERNAL"] = "1"
            self.check(helpers.fcgi_request(STACK.fcgi_sock, params))
            self.call("POST", uri, U["cust"], status=404)

    def test_notifications(self):
        """notifications written by the worker: list, unread, mark read"""
        self.ticket(U["cust"])
        w = STACK.run_worker()
        self.assertEqual(w.returncode, 0, w)
        _, page = self.call("GET", "/api/v1/notifications?unread=1",
                            U["agent"], status=200)
        self.assertTrue(page["notifications"], page)
        first = page["notifications"][0]["id"]
        self.call("POST", "/api/v1/notifications/read", U["agent"],
                  {"ids": [first]}, status=204)
        self.call("POST", "/api/v1/notifications/read", U["agent"],
                  {"all": True}, status=204)
        self.call("POST", "/api/v1/notifications/read", U["agent"],
                  {"ids": "all"}, status=400)
        _, page = self.call("GET", "/api/v1/notifications?limit=1",
                            U["agent"], status=200)
        self.assertIsNotNone(page["notifications"][0]["read_at"], page)
        self.call("GET", "/api/v1/notifications?unread=2", U["agent"],
                  status=400)

    def test_stats(self):
        """stats of a user: self, staff, another customer's 403, bad days"""
        self.ticket(U["cust"])
        self.call("GET", "/api/v1/stats/users/%d" % U["cust"].id, U["cust"],
                  status=200)
        self.call("GET", "/api/v1/stats/users/%d?days=7" % U["agent"].id,
                  U["agent"], status=200)
        self.call("GET", "/api/v1/stats/users/%d" % U["cust2"].id, U["cust"],
                  status=403)
        self.call("GET", "/api/v1/stats/users/999999", U["agent"], status=404)
        self.call("GET", "/api/v1/stats/users/%d?days=366" % U["cust"].id,
                  U["cust"], status=400)

    def test_cache_admin(self):
        """cache stats, invalidate, clear (admin) and their 400 and 403"""
        a = U["admin"]
        self.call("GET", "/api/v1/cache/stats", a, status=200)
        self.call("GET", "/api/v1/cache/stats", U["agent"], status=403)
        self.call("POST", "/api/v1/cache/invalidate", a, {"key": "ticket:1"},
                  status=200)
        self.call("POST", "/api/v1/cache/invalidate", a,
                  {"pattern": "stats:user:*"}, status=200)
        self.call("POST", "/api/v1/cache/invalidate", a,
                  {"key": "tasks:pending"}, status=400)
        self.call("POST", "/api/v1/cache/clear", a, status=200)
        self.call("POST", "/api/v1/cache/clear", a, body={}, status=200)

    def test_queue_admin(self):
        """queue stats, retry and delete of dead tasks (admin)"""
        a = U["admin"]
        self.call("GET", "/api/v1/queue", a, status=200)
        self.call("POST", "/api/v1/queue/failed/retry", a, status=200)
        self.call("DELETE", "/api/v1/queue/failed", a, status=200)
        self.call("DELETE", "/api/v1/queue/failed", U["cust"], status=403)

    def test_metrics(self):
        """/metrics from the loopback: Prometheus text"""
        _, text = self.call("GET", "/metrics", status=200)
        self.assertIn("chatdesk_http_requests_total", text)

    def test_method_not_allowed(self):
        """405 (not an operation's answer) has Allow and the Error shape"""
        r = helpers.request(STACK, "PUT", "/api/v1/rooms", U["agent"].token)
        self.assertError(r, 405, "method_not_allowed")
        self.assertEqual(r.headers.get("Allow"), "POST, GET")
        self.assertValid({"$ref": "#/components/schemas/Error"}, r.json,
                         "the 405 body")

    def test_zz_every_operation_answered(self):
        """every operation of the spec was answered live with a 2xx (runs last)"""
        ok = {(m, t) for m, t, s in SEEN if 200 <= s < 300}
        missing = sorted("%s %s" % (m, tmpl) for (m, _), (tmpl, _)
                         in spec_operations().items() if (m, tmpl) not in ok)
        self.assertEqual(missing, [], "operations no test called with "
                         "success (run the whole file)")


if __name__ == "__main__":
    tap.main()
