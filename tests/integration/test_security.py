#!/usr/bin/env python3
"""Issue 13, items 1, 2, 3 and 5 (API.md sections 4, 7 and 9):

  * Redis is not the trust anchor: made-up, moved, edited and replayed
    values of session:, user: and ticket: grant nothing; each is a miss,
    refilled from SQLite, counted in chatdesk_cache_forged_total and
    logged;
  * children inherit nothing: a notify_command that lists /proc/self/fd
    sees 0, 1, 2 (and the listing's own descriptor), and every descriptor
    of the worker and of the pool processes is close-on-exec;
  * no existence oracle: a customer's requests for an object it may not
    see and for one that does not exist get byte-identical answers
    (status, body, headers but Date and X-Request-Id), X-Cache included,
    on every route that hides objects;
  * smaller: file modes (umask 027), /metrics only for exactly
    127.0.0.1/::1 over the unix socket (over TCP only an admin token),
    Cache-Control: no-store on token answers, control bytes refused in
    names and emails, and a stalled FastCGI body read that gives up. (A
    pool whose shared metrics file cannot be opened refuses to start:
    test_pool_metrics.py; so no process can miss another's revocation.)

Classes run in name order on one stack."""

import base64
import hashlib
import json
import os
import re
import socket
import stat
import struct
import subprocess
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
import helpers  # noqa: E402
from helpers import auth, session_key, unseal  # noqa: E402
import tap  # noqa: E402

STACK = None
POOL = 2
REPEAT = 8          # enough requests that every pool process served one
BODY_TIMEOUT_MS = 500
U = {}              # name -> helpers.User
O_CLOEXEC = 0o2000000
FORGED_RE = re.compile(
    r'^chatdesk_cache_forged_total\{family="([a-z]+)"\} (\d+)$', re.M)


def setUpModule():
    global STACK
    STACK = harness.Stack(name="test_security", pool_size=POOL, env={
        "CHATDESK_BODY_TIMEOUT_MS": str(BODY_TIMEOUT_MS),
        "CHATDESK_RATE_LIMIT_COUNT": "1000",
        "CHATDESK_NOTIFY_COMMAND": ""}).start()
    for name, role in (("admin", "admin"), ("agent", "agent"),
                       ("cust1", "customer"), ("cust2", "customer")):
        uid, tok = helpers.add_user(STACK, "sec %s" % name,
                                    "sec-%s@example.com" % name, role,
                                    via_me=True)
        U[name] = helpers.User(uid, tok, "sec %s" % name, role)


def tearDownModule():
    if STACK is not None:
        STACK.stop()


def call(method, path, who=None, body=None, headers=None):
    h = dict(headers or {})
    if who is not None:
        # a name of U, or a bare token
        h.update(U[who].auth if who in U else auth(who))
    return STACK.http(method, path, headers=h, body=body)


def random_token():
    return base64.urlsafe_b64encode(os.urandom(32)).rstrip(b"=").decode()


def forged_counts():
    r = STACK.http("GET", "/metrics")
    assert r.status == 200, r
    return {f: int(n) for f, n in FORGED_RE.findall(r.body.decode())}


def new_ticket(who, subject="sec"):
    r = call("POST", "/api/v1/tickets", who, {"subject": subject,
                                               "body": "hello"})
    assert r.status == 201, r
    return r.json["id"]


def missing_id(table):
    return helpers.db_query(STACK.db_path, "SELECT coalesce(max(id), 0) + "
                            "100000 FROM %s" % table)[0][0]


class SecCase(harness.ApiTestCase):

    def assertForgedRose(self, before, family, at_least=1):
        after = forged_counts()
        self.assertGreaterEqual(after.get(family, 0) - before.get(family, 0),
                                at_least, "chatdesk_cache_forged_total{family="
                                "%r}: %r -> %r" % (family, before, after))

    def warm(self, path, who):
        """GETs until X-Cache says HIT; returns the answer."""
        for _ in range(5):
            r = call("GET", path, who)
            self.assertEqual(r.status, 200, r)
            if r.headers.get("X-Cache") == "HIT":
                return r
        self.fail("%s never a HIT" % path)


# --------------------------------------------------------------- item 1

class A_ForgedSessionTest(SecCase):

    def test_1_made_up_session(self):
        """SET session:<sha256 of a made-up token> "1 admin", bare or with a seal of the right shape: 401, counted"""
        before = forged_counts()
        for value in ("%d admin" % U["admin"].id,
                      "0" * 96 + "|%d admin" % U["admin"].id,
                      "f" * 64 + "%016x%016x|%d admin" % (
                          0, int(time.time()) + 3600, U["admin"].id)):
            tok = random_token()
            STACK.redis("SET", session_key(tok), value, "EX", 300)
            for i in range(REPEAT):
                with self.subTest(value=value[:20], attempt=i):
                    self.assertError(call("GET", "/api/v1/users/me", tok),
                                     401, "unauthorized")
            r = call("POST", "/api/v1/users", tok, {
                "name": "evil", "email": "evil-%s@example.com" % tok[:8],
                "role": "admin"})
            self.assertError(r, 401, "unauthorized")
            # the forged value is gone: deleted, not served
            self.assertIsNone(STACK.redis("GET", session_key(tok)))
        self.assertForgedRose(before, "session", 3)
        self.assertEqual(helpers.db_query(
            STACK.db_path, "SELECT count(*) FROM users WHERE name = 'evil'"
        )[0][0], 0)
        self.assertTrue(STACK.wait_log(r"level=error .*fails its MAC"),
                        "no error line for the forged value")

    def test_2_moved_session(self):
        """the genuine sealed session of an admin copied under another token's key: 401"""
        self.assertEqual(call("GET", "/api/v1/users/me", "admin").status, 200)
        value = STACK.redis("GET", session_key(U["admin"].token))
        self.assertIsNotNone(value)
        unseal(value)
        before = forged_counts()
        tok = random_token()
        STACK.redis("SET", session_key(tok), value, "EX", 300)
        self.assertError(call("GET", "/api/v1/users/me", tok), 401,
                         "unauthorized")
        self.assertForgedRose(before, "session")

    def test_3_replayed_after_revocation(self):
        """a revoked token's genuine session value put back in Redis: 401 on every process"""
        uid, tok = helpers.add_user(STACK, "sec replay",
                                    "sec-replay@example.com", "agent",
                                    via_me=True)
        for _ in range(REPEAT):
            self.assertEqual(call("GET", "/api/v1/users/me", tok).status, 200)
        key = session_key(tok)
        value = STACK.redis("GET", key)
        self.assertIsNotNone(value, "no session value to replay")
        self.assertEqual(call("DELETE", "/api/v1/tokens/current",
                              tok).status, 204)
        STACK.redis("SET", key, value, "EX", 300)
        for i in range(REPEAT):
            with self.subTest(attempt=i):
                self.assertError(call("GET", "/api/v1/users/me", tok), 401,
                                 "unauthorized")

    def test_4_edited_role(self):
        """a customer's genuine session value with its role edited to admin: 401 or the customer, never admin"""
        _, tok = helpers.add_user(STACK, "sec edit", "sec-edit@example.com",
                                  "customer", via_me=True)
        key = session_key(tok)
        value = STACK.redis("GET", key)
        self.assertIsNotNone(value)
        before = forged_counts()
        STACK.redis("SET", key, value.replace(b"customer", b"admin"),
                    "KEEPTTL")
        for i in range(REPEAT):
            with self.subTest(attempt=i):
                r = call("GET", "/api/v1/users/me", tok)
                self.assertEqual(r.status, 200, r)
                self.assertEqual(r.json["role"], "customer", r)
                self.assertError(call("GET", "/api/v1/queue", tok), 403,
                                 "forbidden")
        # the processes that still remembered the session in memory did
        # not read Redis; the forged value is found at least by the next
        # reader after a revocation elsewhere moves the generation
        STACK.redis("SET", key, value.replace(b"customer", b"admin"),
                    "KEEPTTL")
        uid2, tok2 = helpers.add_user(STACK, "sec edit2",
                                      "sec-edit2@example.com", "customer")
        self.assertEqual(call("DELETE", "/api/v1/tokens/current",
                              tok2).status, 204)
        for i in range(REPEAT):
            r = call("GET", "/api/v1/users/me", tok)
            self.assertEqual(r.json["role"], "customer", r)
        self.assertForgedRose(before, "session")


class B_ForgedRecordTest(SecCase):

    def test_1_user_role(self):
        """user:{customer} holding an agent's genuine value, or made-up JSON with role agent: the customer stays no assignee"""
        tid = new_ticket("cust2")
        path = "/api/v1/tickets/%d" % tid
        cid = U["cust1"].id
        r = call("PATCH", path, "agent", {"assignee_id": cid})
        err = self.assertError(r, 400, "invalid_field")
        self.assertEqual(err.get("field"), "assignee_id")
        self.warm("/api/v1/users/%d" % U["agent"].id, "agent")
        genuine = STACK.redis("GET", "user:%d" % U["agent"].id)
        fake = json.dumps({"id": cid, "name": "sec cust1",
                           "email": "sec-cust1@example.com", "role": "agent",
                           "created_at": "2026-01-01T00:00:00.000Z",
                           "updated_at": "2026-01-01T00:00:00.000Z"},
                          separators=(",", ":")).encode()
        before = forged_counts()
        for value in (genuine, fake, b"0" * 96 + b"|" + fake):
            with self.subTest(value=value[:30]):
                STACK.redis("SET", "user:%d" % cid, value, "EX", 300)
                r = call("PATCH", path, "agent", {"assignee_id": cid})
                err = self.assertError(r, 400, "invalid_field")
                self.assertEqual(err.get("field"), "assignee_id")
                r = call("GET", "/api/v1/users/%d" % cid, "agent")
                self.assertEqual(r.status, 200, r)
                self.assertEqual(r.json["role"], "customer", r)
        self.assertForgedRose(before, "user", 3)
        # refilled from SQLite: a genuine value again
        held = json.loads(unseal(STACK.redis("GET", "user:%d" % cid)))
        self.assertEqual(held["role"], "customer")
        self.assertEqual(helpers.db_query(
            STACK.db_path, "SELECT assignee_id FROM tickets WHERE id = ?",
            (tid,))[0][0], None)

    def test_2_ticket_requester(self):
        """ticket:{other's} holding the caller's own genuine ticket value, or JSON naming the caller requester: 404"""
        theirs = new_ticket("cust2", "theirs")
        mine = new_ticket("cust1", "mine")
        self.warm("/api/v1/tickets/%d" % mine, "cust1")
        self.warm("/api/v1/tickets/%d" % theirs, "agent")
        genuine_mine = STACK.redis("GET", "ticket:%d" % mine)
        genuine_theirs = STACK.redis("GET", "ticket:%d" % theirs)
        obj = json.loads(unseal(genuine_theirs))
        obj["requester_id"] = U["cust1"].id
        edited = json.dumps(obj, separators=(",", ":")).encode()
        before = forged_counts()
        for value in (genuine_mine, edited, genuine_theirs[:97] + edited):
            with self.subTest(value=value[:30]):
                STACK.redis("SET", "ticket:%d" % theirs, value, "EX", 300)
                self.assertError(call("GET", "/api/v1/tickets/%d" % theirs,
                                      "cust1"), 404, "not_found")
        self.assertForgedRose(before, "ticket", 3)
        r = call("GET", "/api/v1/tickets/%d" % theirs, "cust2")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["requester_id"], U["cust2"].id, r)
        self.assertEqual(r.json["subject"], "theirs", r)

    def test_3_seal_expiry_is_the_ttl(self):
        """the expiry inside a ticket's seal is its jittered TTL (a copy put back later than that is stale)"""
        tid = new_ticket("cust1", "expiry")
        path = "/api/v1/tickets/%d" % tid
        self.warm(path, "cust1")
        key = "ticket:%d" % tid
        value = STACK.redis("GET", key)
        # the expiry inside the seal is only good with the MAC: an
        # attacker cannot push it out; a genuine value is good until it
        self.assertRegex(value[:97].decode(), r"^[0-9a-f]{96}\|$")
        exp = int(value[80:96], 16)
        self.assertLessEqual(exp - time.time(), 300 + 5)
        self.assertGreater(exp - time.time(), 300 * 0.9 - 10)


# --------------------------------------------------------------- item 2

def fd_flags(pid):
    """{fd: flags} of a process, from /proc/PID/fdinfo."""
    out = {}
    d = "/proc/%d/fdinfo" % pid
    for name in os.listdir(d):
        try:
            with open(os.path.join(d, name)) as f:
                for ln in f:
                    if ln.startswith("flags:"):
                        out[int(name)] = int(ln.split()[1], 8)
        except FileNotFoundError:
            pass
    return out


class C_DescriptorTest(SecCase):

    def test_1_pool_descriptors_cloexec(self):
        """every descriptor of every pool process above 2 (SQLite, Redis, the health fd) is close-on-exec"""
        for _ in range(REPEAT):
            self.warm("/api/v1/users/%d" % U["cust1"].id, "cust1")
        for pid in STACK.pool_pids():
            flags = fd_flags(pid)
            self.assertGreater(len(flags), 4, "pid %d: %r" % (pid, flags))
            bad = {fd: oct(f) for fd, f in flags.items()
                   if fd > 2 and not f & O_CLOEXEC}
            targets = {fd: os.readlink("/proc/%d/fd/%d" % (pid, fd))
                       for fd in bad}
            self.assertFalse(bad, "pid %d: descriptors without "
                             "close-on-exec: %r" % (pid, targets))

    def test_2_hook_sees_only_0_1_2(self):
        """notify_command lists /proc/self/fd: 0, 1, 2 and the listing's own; the worker's own descriptors are all close-on-exec"""
        d = STACK.path("hook")
        os.makedirs(d, exist_ok=True)
        cmd = ("ls -l /proc/self/fd > %s/self.$$ 2>&1; "
               "for f in /proc/$PPID/fdinfo/*; do "
               "printf '%%s %%s\\n' \"${f##*/}\" "
               "\"$(sed -n 's/^flags:[[:space:]]*//p' \"$f\")\"; "
               "done > %s/parent.$$; cat > /dev/null" % (d, d))
        new_ticket("cust1", "hook")   # ticket_created: one per staff user
        r = STACK.run_worker(env={"CHATDESK_NOTIFY_COMMAND": cmd})
        self.assertEqual(r.returncode, 0, r.stderr)
        selfs = [f for f in os.listdir(d) if f.startswith("self.")]
        self.assertTrue(selfs, "the hook never ran: %s" % r.stdout)
        for f in selfs:
            with open(os.path.join(d, f)) as fh:
                text = fh.read()
            fds = {}
            for ln in text.splitlines():
                m = re.search(r"\s(\d+) -> (.*)$", ln)
                if m:
                    fds[int(m.group(1))] = m.group(2)
            self.assertTrue({0, 1, 2} <= set(fds), text)
            extra = {fd: t for fd, t in fds.items() if fd > 2 and
                     not re.match(r"^/proc/\d+/fd$", t)}
            self.assertFalse(extra, "the hook inherited %r" % extra)
            self.assertTrue(fds[0].startswith("pipe:"), fds)
        for f in os.listdir(d):
            if not f.startswith("parent."):
                continue
            with open(os.path.join(d, f)) as fh:
                rows = [ln.split() for ln in fh.read().splitlines()]
            flags = {int(row[0]): int(row[1], 8) for row in rows
                     if len(row) == 2}
            self.assertGreater(len(flags), 4, rows)
            bad = [fd for fd, fl in flags.items() if fd > 2 and
                   not fl & O_CLOEXEC]
            self.assertFalse(bad, "worker descriptors without close-on-"
                             "exec: %r" % bad)


# --------------------------------------------------------------- item 3

IGNORED_HEADERS = {"date", "x-request-id"}


def comparable(r):
    return (r.status, sorted((k.lower(), v) for k, v in r.headers.items()
                             if k.lower() not in IGNORED_HEADERS), r.body)


class D_Identical404Test(SecCase):

    def test_1_hidden_equals_missing(self):
        """a customer's answers for another's objects and for missing ones are identical (status, headers, body), warm cache or not"""
        room = call("POST", "/api/v1/rooms", "agent",
                    {"name": "hidden", "member_ids": [U["cust2"].id]})
        self.assertEqual(room.status, 201, room)
        rid = room.json["id"]
        self.assertEqual(call("POST", "/api/v1/rooms/%d/messages" % rid,
                              "cust2", {"body": "psst"}).status, 201)
        tid = new_ticket("cust2", "hidden")
        # everything warm in Redis, as the staff reads leave it
        self.warm("/api/v1/tickets/%d" % tid, "agent")
        self.warm("/api/v1/rooms/%d/messages" % rid, "agent")
        self.assertEqual(call("GET", "/api/v1/tickets/%d/interactions" % tid,
                              "agent").status, 200)
        mroom, mticket = missing_id("rooms"), missing_id("tickets")
        routes = (
            ("GET", "/api/v1/tickets/%d", None, tid, mticket),
            ("PATCH", "/api/v1/tickets/%d", {"status": "closed"}, tid,
             mticket),
            ("GET", "/api/v1/tickets/%d/interactions", None, tid, mticket),
            ("POST", "/api/v1/tickets/%d/interactions", {"body": "x"}, tid,
             mticket),
            ("GET", "/api/v1/rooms/%d", None, rid, mroom),
            ("GET", "/api/v1/rooms/%d/messages", None, rid, mroom),
            ("POST", "/api/v1/rooms/%d/messages", {"body": "x"}, rid, mroom),
            ("POST", "/api/v1/rooms/%d/members", {"user_id": U["cust1"].id},
             rid, mroom),
        )
        for method, pattern, body, there, missing in routes:
            for i in range(3):
                with self.subTest(route="%s %s" % (method, pattern),
                                  attempt=i):
                    a = call(method, pattern % there, "cust1", body)
                    b = call(method, pattern % missing, "cust1", body)
                    self.assertError(a, 404, "not_found")
                    self.assertEqual(comparable(a), comparable(b))
                    self.assertIsNone(a.headers.get("X-Cache"), a)
        # nothing was done on the hidden objects
        self.assertEqual(helpers.db_query(
            STACK.db_path, "SELECT status FROM tickets WHERE id = ?",
            (tid,))[0][0], "open")
        self.assertEqual(helpers.db_query(
            STACK.db_path, "SELECT count(*) FROM room_members WHERE "
            "room_id = ? AND user_id = ?", (rid, U["cust1"].id))[0][0], 0)

    def test_2_notifications_read(self):
        """marking another user's notification read and a missing one: identical answers, nothing marked"""
        new_ticket("cust1", "notify")     # notifies admin and agent
        r = STACK.run_worker()
        self.assertEqual(r.returncode, 0, r.stderr)
        nid = helpers.db_query(STACK.db_path, "SELECT max(id) FROM "
                               "notifications WHERE user_id = ?",
                               (U["agent"].id,))[0][0]
        self.assertIsNotNone(nid)
        a = call("POST", "/api/v1/notifications/read", "cust1",
                 {"ids": [nid]})
        b = call("POST", "/api/v1/notifications/read", "cust1",
                 {"ids": [missing_id("notifications")]})
        self.assertEqual(comparable(a), comparable(b))
        self.assertIsNone(helpers.db_query(
            STACK.db_path, "SELECT read_at FROM notifications WHERE id = ?",
            (nid,))[0][0])


# --------------------------------------------------------------- item 5

class E_FileModeTest(SecCase):

    def test_1_database_files(self):
        """databases, WAL, shared-memory and metrics files: no group write, nothing for others (umask 027)"""
        self.assertEqual(call("POST", "/api/v1/tickets", "cust1",
                              {"subject": "m", "body": "m"}).status, 201)
        seen = []
        for base in (STACK.db_path, STACK.archive_db_path):
            for suffix in ("", "-wal", "-shm", "-metrics"):
                p = base + suffix
                if not os.path.exists(p):
                    continue
                seen.append(p)
                mode = stat.S_IMODE(os.stat(p).st_mode)
                with self.subTest(path=os.path.basename(p)):
                    self.assertEqual(mode & 0o027, 0, "%s is %o" % (p, mode))
        self.assertIn(STACK.db_path, seen)
        self.assertIn(STACK.db_path + "-metrics", seen)

    def test_2_listen_socket_and_log(self):
        """chatdesk --listen PATH: its socket is 0660 (nginx's group connects, others cannot), the log_file it creates 0640 at most"""
        sock = STACK.path("own.sock")
        log = STACK.path("own.log")
        p = subprocess.Popen([harness.binary("chatdesk"), "--listen", sock],
                             stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL,
                             env=STACK.env({"CHATDESK_LOG_FILE": log}),
                             cwd=STACK.tmp)
        try:
            harness.wait_until(lambda: os.path.exists(sock), 10,
                               what="the socket")
            mode = stat.S_IMODE(os.stat(sock).st_mode)
            self.assertEqual(mode, 0o660, "%o" % mode)
            r = helpers.fcgi_request(sock, helpers.fcgi_params(
                "GET", "/api/v1/health", "10.0.0.1"))
            self.assertEqual(r.status, 200, r)
            self.assertTrue(os.path.exists(log), log)
            mode = stat.S_IMODE(os.stat(log).st_mode)
            self.assertEqual(mode & 0o027, 0, "%s is %o" % (log, mode))
        finally:
            p.terminate()
            p.wait(10)


class F_MetricsAccessTest(SecCase):

    def test_1_tcp_listener_trusts_no_address(self):
        """over a TCP FastCGI listener REMOTE_ADDR 127.0.0.1 or ::1 is not enough: 404; an admin token: 200"""
        port = harness.free_port()
        p = subprocess.Popen([harness.binary("chatdesk"), "--listen",
                              "127.0.0.1:%d" % port],
                             stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, env=STACK.env(),
                             cwd=STACK.tmp)
        addr = ("127.0.0.1", port)

        def up():
            try:
                socket.create_connection(addr, 1).close()
                return True
            except OSError:
                return False
        try:
            harness.wait_until(up, 10, what="the TCP listener")
            for ra in ("127.0.0.1", "::1"):
                with self.subTest(remote_addr=ra):
                    r = helpers.fcgi_request(addr, helpers.fcgi_params(
                        "GET", "/metrics", ra))
                    self.assertError(r, 404, "not_found")
                    self.assertNotIn(b"chatdesk_", r.body)
            r = helpers.fcgi_request(addr, helpers.fcgi_params(
                "GET", "/metrics", "127.0.0.1", U["admin"].token))
            self.assertEqual(r.status, 200, r)
            self.assertIn(b"chatdesk_http_requests_total", r.body)
            r = helpers.fcgi_request(addr, helpers.fcgi_params(
                "GET", "/metrics", "127.0.0.1", U["agent"].token))
            self.assertError(r, 404, "not_found")
        finally:
            p.terminate()
            p.wait(10)

    def test_2_unix_socket_exact_loopback(self):
        """over the pool's unix socket: 127.0.0.1 and ::1 are loopback, 127.0.0.2 is not"""
        for ra, status in (("127.0.0.1", 200), ("::1", 200),
                           ("127.0.0.2", 404), ("127.255.255.255", 404)):
            with self.subTest(remote_addr=ra):
                r = helpers.fcgi_request(STACK.fcgi_sock, helpers.fcgi_params(
                    "GET", "/metrics", ra))
                self.assertEqual(r.status, status, r)


class G_SmallTest(SecCase):

    def test_1_no_store_on_tokens(self):
        """POST /users and POST /users/{id}/tokens carry Cache-Control: no-store"""
        r = call("POST", "/api/v1/users", "admin", {
            "name": "sec store", "email": "sec-store@example.com",
            "role": "customer"})
        self.assertEqual(r.status, 201, r)
        self.assertEqual(r.headers.get("Cache-Control"), "no-store", r)
        uid = r.json["user"]["id"]
        r = call("POST", "/api/v1/users/%d/tokens" % uid, "admin")
        self.assertEqual(r.status, 201, r)
        self.assertEqual(r.headers.get("Cache-Control"), "no-store", r)
        r = call("POST", "/api/v1/users/%d/tokens" % U["cust1"].id, "cust1")
        self.assertEqual(r.status, 201, r)
        self.assertEqual(r.headers.get("Cache-Control"), "no-store", r)

    def test_2_control_bytes(self):
        """names and emails with CR, LF, tab, ESC or DEL: 400 naming the field, from the API and chatdeskctl"""
        for i, bad in enumerate(("a\r\nb", "a\nb", "a\tb", "a\x1bb",
                                 "a\x7fb", "a\x01b")):
            with self.subTest(bad=bad):
                r = call("POST", "/api/v1/users", "admin", {
                    "name": "x" + bad, "email": "cc%d@example.com" % i,
                    "role": "customer"})
                self.assertEqual(self.assertError(r, 400, "invalid_field")
                                 .get("field"), "name")
                r = call("POST", "/api/v1/users", "admin", {
                    "name": "ok", "email": "cc%d%s@example.com" % (i, bad),
                    "role": "customer"})
                self.assertEqual(self.assertError(r, 400, "invalid_field")
                                 .get("field"), "email")
                r = call("PATCH", "/api/v1/users/%d" % U["cust2"].id,
                         "cust2", {"name": "me" + bad})
                self.assertEqual(self.assertError(r, 400, "invalid_field")
                                 .get("field"), "name")
                r = call("PATCH", "/api/v1/users/%d" % U["cust2"].id,
                         "admin", {"email": "x%s@example.com" % bad})
                self.assertEqual(self.assertError(r, 400, "invalid_field")
                                 .get("field"), "email")
                r = STACK.run_ctl("user", "add", "--name", "n" + bad,
                                  "--email", "ctl%d@example.com" % i,
                                  "--role", "customer")
                self.assertEqual(r.returncode, 64, r)
        self.assertEqual(helpers.db_query(
            STACK.db_path, "SELECT count(*) FROM users WHERE email LIKE "
            "'cc%' OR email LIKE 'ctl%'")[0][0], 0)

    def test_3_members_customer(self):
        """POST /rooms/{id}/members by a customer: 404 for a room it may not see, 403 for its own"""
        room = call("POST", "/api/v1/rooms", "agent",
                    {"name": "mem", "member_ids": [U["cust1"].id]})
        rid = room.json["id"]
        body = {"user_id": U["cust2"].id}
        self.assertError(call("POST", "/api/v1/rooms/%d/members" % rid,
                              "cust2", body), 404, "not_found")
        self.assertError(call("POST", "/api/v1/rooms/%d/members" % rid,
                              "cust1", body), 403, "forbidden")
        self.assertEqual(call("POST", "/api/v1/rooms/%d/members" % rid,
                              "agent", body).status, 204)


def stalled_request(token, declared=100, sent=10):
    """Opens a FastCGI connection to the pool, sends a POST's params and
    `sent` of `declared` body bytes, then waits. Returns the socket."""
    params = helpers.fcgi_params("POST", "/api/v1/tickets", "127.0.0.1",
                                 token)
    params["CONTENT_TYPE"] = "application/json"
    params["CONTENT_LENGTH"] = str(declared)
    data = helpers._fcgi_record(helpers.FCGI_BEGIN_REQUEST,
                                struct.pack("!HB5x", helpers.FCGI_RESPONDER,
                                            0))
    data += helpers._fcgi_stream(helpers.FCGI_PARAMS, b"".join(
        helpers._fcgi_nv(k, v) for k, v in params.items()))
    data += helpers._fcgi_record(helpers.FCGI_STDIN, b"{" + b" " * (sent - 1))
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(30)
    s.connect(STACK.fcgi_sock)
    s.sendall(data)
    return s


def read_answer(s):
    """Reads records until END_REQUEST; returns the STDOUT bytes."""
    buf, out = b"", b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            raise AssertionError("connection closed without END_REQUEST; "
                                 "got %r" % out[:200])
        buf += chunk
        while len(buf) >= 8:
            _v, rtype, _rid, clen, plen = struct.unpack("!BBHHBx", buf[:8])
            if len(buf) < 8 + clen + plen:
                break
            content, buf = buf[8:8 + clen], buf[8 + clen + plen:]
            if rtype == helpers.FCGI_STDOUT:
                out += content
            elif rtype == helpers.FCGI_END_REQUEST:
                return out


class H_StalledBodyTest(SecCase):

    def test_1_stalled_body_times_out(self):
        """a body that stops after 10 of 100 bytes, on every pool process at once: each answers 400 and serves again"""
        socks = [stalled_request(U["cust1"].token) for _ in range(POOL)]
        try:
            for s in socks:
                out = read_answer(s)
                self.assertRegex(out, rb"^Status: 400", out[:200])
                self.assertIn(b"invalid_json", out)
        finally:
            for s in socks:
                s.close()
        for _ in range(REPEAT):
            self.assertEqual(call("GET", "/api/v1/users/me", "cust1").status,
                             200)
        self.assertEqual(len(STACK.pool_pids()), POOL)


if __name__ == "__main__":
    tap.main()
