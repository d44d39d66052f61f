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

"""Helpers shared by the integration tests, on top of harness.Stack.

Functions that act on a stack take it as their first argument. Standard
library only.
"""

import contextlib
import hashlib
import json
import os
import re
import signal
import socket
import sqlite3
import struct
import subprocess
import time
import urllib.parse
import uuid

import harness

# --------------------------------------------------------------------------
# Users and requests


def auth(token):
    """The Authorization header of a bearer token."""
    return {"Authorization": "Bearer " + token}


def session_key(token):
    """The Redis key of a token's session: session:{sha256 hex}."""
    return "session:" + hashlib.sha256(token.encode()).hexdigest()


# The seal chatdesk puts before every record value it caches (src/cache.h):
# 64 hex digits of MAC, 16 of generation, 16 of expiry, and "|".
SEAL_LEN = 97
SEAL_RE = re.compile(rb"^[0-9a-f]{96}\|")


def unseal(v):
    """The value inside a sealed cache value (bytes), or None for None;
    fails loudly if v is not sealed."""
    if v is None:
        return None
    if not SEAL_RE.match(v):
        raise AssertionError("cached value without a seal: %r" % v[:120])
    return v[SEAL_LEN:]


def is_int(v):
    """An int that is not a bool (what JSON integers parse to)."""
    return isinstance(v, int) and not isinstance(v, bool)


class User:
    """A user made for a test; .auth is its Authorization header."""

    def __init__(self, id, token, name, role, email=None):
        self.id, self.token, self.name, self.role = id, token, name, role
        self.email = email

    @property
    def auth(self):
        return auth(self.token)


def add_user(stack, name, email, role, via_me=False):
    """chatdeskctl user add; returns (id, token). The token is the last
    stdout line, the id comes from the "created user N" line. With via_me
    (or without that line) the id comes from GET /users/me with the new
    token, which also caches its session."""
    r = stack.run_ctl("user", "add", "--name", name, "--email", email,
                      "--role", role)
    lines = [ln.strip() for ln in r.stdout.splitlines() if ln.strip()]
    if r.returncode != 0 or not lines:
        raise harness.HarnessError("chatdeskctl user add %s: %r" % (name, r))
    tok = lines[-1]
    m = None if via_me else re.search(r"\buser (\d+)\b", r.stdout)
    if m:
        return int(m.group(1)), tok
    # Twice: a token's first use records its last_used_at and drops the
    # session it cached (so that the copy carries the new time); the
    # second read caches it again, as the docstring promises.
    for _ in range(2):
        g = stack.http("GET", "/api/v1/users/me", headers=auth(tok))
        if g.status != 200:
            raise harness.HarnessError("GET /users/me for new %s user %s: %r"
                                       % (role, name, g))
    return g.json["id"], tok


def request(stack, method, path, token=None, body=None, headers=None):
    """stack.http with the bearer token (if any) added to headers."""
    h = dict(headers or {})
    if token is not None:
        h.update(auth(token))
    return stack.http(method, path, headers=h, body=body)


# --------------------------------------------------------------------------
# Waiting


def poll_in_a_row(fetch, ok, times, timeout, interval=0.05,
                  idle_interval=None):
    """Calls fetch() until ok(answer) holds for `times` answers in a row or
    timeout seconds pass; sleeps interval between calls (idle_interval,
    if given, while no run is going). Returns (run, last): the answers of
    the run (`times` of them on success) and the last answer."""
    deadline = time.monotonic() + timeout
    run, last = [], None
    while time.monotonic() < deadline:
        last = fetch()
        run = run + [last] if ok(last) else []
        if len(run) >= times:
            return run, last
        time.sleep(interval if run or idle_interval is None
                   else idle_interval)
    return run, last


def restart_pool(stack, env=None):
    """Stops the pool, starts it with env added, waits until it answers."""
    stack.stop_pool()
    stack.start_pool(env=env)
    stack.wait_ready()


# --------------------------------------------------------------------------
# Redis


def redis_up(stack):
    """True if the stack's Redis answers PING within a second."""
    try:
        return stack.redis("PING", timeout=1) == "PONG"
    except OSError:
        return False


@contextlib.contextmanager
def slow_redis(stack, ms, *mode, settle_s=None):
    """Redis holds every client's commands for ms milliseconds (CLIENT
    PAUSE ms [mode]) from the start of the block. Leaving the block waits
    settle_s seconds, or (None) until Redis answers PING again."""
    stack.redis("CLIENT", "PAUSE", ms, *mode)
    try:
        yield
    finally:
        if settle_s is None:
            harness.wait_until(lambda: redis_up(stack), 10,
                               what="redis to answer again")
        else:
            time.sleep(settle_s)


# --------------------------------------------------------------------------
# SQLite (read-only, beside the app)


def db_query(path, sql, args=()):
    """All rows of sql on the SQLite file at path, opened read-only."""
    uri = "file:%s?mode=ro" % urllib.parse.quote(path)
    con = sqlite3.connect(uri, uri=True, timeout=10)
    try:
        return con.execute(sql, args).fetchall()
    finally:
        con.close()


def outbox_count(stack):
    """Rows in the stack's task_outbox table."""
    return db_query(stack.db_path, "SELECT count(*) FROM task_outbox")[0][0]


def fmt_ms(ms):
    """Unix milliseconds as the API's time: 2026-01-02T03:04:05.678Z."""
    s, frac = divmod(ms, 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(s)) + \
        ".%03dZ" % frac


def db_messages(stack, room):
    """Every message of the room in SQLite as API objects, newest first."""
    rows = db_query(stack.db_path,
                    "SELECT id, room_id, user_id, body, created_at "
                    "FROM messages WHERE room_id = ? ORDER BY id DESC",
                    (room,))
    return [{"id": i, "room_id": r, "user_id": u, "body": b,
             "created_at": fmt_ms(c)} for i, r, u, b, c in rows]


def redis_reads(stack):
    """Redis's count of read events it processed (INFO stats
    total_reads_processed): one per round trip of a client."""
    info = stack.redis("INFO", "stats")
    if isinstance(info, bytes):
        info = info.decode()
    for line in info.splitlines():
        if line.startswith("total_reads_processed:"):
            return int(line.split(":")[1])
    raise AssertionError("no total_reads_processed in INFO stats")


def redis_round_trips(stack, action):
    """How many round trips to Redis action() made (redis_reads before
    and after, less what the counting itself adds)."""
    a = redis_reads(stack)
    b = redis_reads(stack)
    action()
    c = redis_reads(stack)
    return c - b - (b - a)


_MONITOR_ARG = re.compile(r'"((?:[^"\\]|\\.)*)"')


def redis_monitor(stack, action, timeout=10.0):
    """The commands Redis ran while action() ran, as lists of str
    (MONITOR's quoting kept for odd bytes), in order. A marker ECHO from
    a second connection ends the capture, so nothing is missed."""
    marker = "monitor-end-" + uuid.uuid4().hex
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(stack.redis_sock)
        s.sendall(b"MONITOR\r\n")
        buf = b""
        while b"\r\n" not in buf:
            buf += s.recv(4096)
        if not buf.startswith(b"+OK"):
            raise AssertionError("MONITOR refused: %r" % buf[:100])
        buf = buf.split(b"\r\n", 1)[1]
        action()
        stack.redis("ECHO", marker)
        cmds = []
        while True:
            while b"\r\n" not in buf:
                chunk = s.recv(65536)
                if not chunk:
                    raise AssertionError("MONITOR ended early")
                buf += chunk
            line, buf = buf.split(b"\r\n", 1)
            args = _MONITOR_ARG.findall(line.decode("utf-8", "replace"))
            if args == ["ECHO", marker]:
                return cmds
            if args:
                cmds.append(args)


def list_key(room):
    """The Redis key of a room's cached message list."""
    return "messages:room:%d" % room


# --------------------------------------------------------------------------
# The task queue and chatdesk-worker

QUEUE_KEYS = ("tasks:pending", "tasks:processing", "tasks:delayed",
              "tasks:failed", "worker:lock")
SUMMARY_RE = re.compile(r"^taken=(\d+) done=(\d+) retried=(\d+) dead=(\d+) "
                        r"seconds=\d+(\.\d+)?$")


def now_ms():
    return int(time.time() * 1000)


def task_obj(type_, payload, tid=None, attempts=0, timestamp=None):
    """A task object with the app's keys, in the app's order."""
    return {"id": tid or uuid.uuid4().hex, "type": type_, "payload": payload,
            "timestamp": now_ms() if timestamp is None else timestamp,
            "attempts": attempts}


def compact_json(obj):
    """JSON as the app writes it (no blanks)."""
    return json.dumps(obj, separators=(",", ":"))


def task_json(type_, payload, tid=None, attempts=0, timestamp=None):
    """A task text built like the app's (compact JSON, same key order)."""
    return compact_json(task_obj(type_, payload, tid=tid, attempts=attempts,
                                 timestamp=timestamp))


def lrange(stack, key):
    """The whole Redis list at key, as str."""
    return [x.decode() for x in stack.redis("LRANGE", key, 0, -1)]


def db_write(path, sql, args=()):
    """Runs one writing statement on the SQLite file at path, beside the
    app (which only reads what it finds there)."""
    con = sqlite3.connect(path, timeout=10)
    try:
        con.execute(sql, args)
        con.commit()
    finally:
        con.close()


def clear_queue(stack):
    """Deletes the queue's keys and the worker lock, and forgets the tasks
    they held: the records of pushed tasks not yet finished (else the next
    worker run that finds Redis lost data pushes them again, API.md 5).
    Tasks not yet pushed (the outbox) stay."""
    stack.redis("DEL", *QUEUE_KEYS)
    db_write(stack.db_path, "DELETE FROM tasks WHERE pushed_at IS NOT NULL "
             "AND finished_at IS NULL")


def kill_when(p, started, what, timeout=60):
    """SIGKILLs the process group of p (started in its own session) once
    started() is true; a started() that raises sqlite3.OperationalError (a
    file not there yet) counts as false. Raises HarnessError if p finished
    before it could be killed: the test's data must be larger."""
    try:
        def ready():
            if p.poll() is not None:
                raise harness.HarnessError(
                    "the worker finished before it could be killed (%s); "
                    "make the data larger" % what)
            try:
                return started()
            except sqlite3.OperationalError:
                return False
        harness.wait_until(ready, timeout, interval=0.005, what=what)
        os.killpg(p.pid, signal.SIGKILL)
    finally:
        if p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        p.wait(10)


def kill_worker_when(stack, started, what):
    """Starts chatdesk-worker on stack in its own session and kills it (its
    whole group) once started() is true, as kill_when."""
    p = subprocess.Popen([harness.binary("chatdesk-worker")],
                         cwd=stack.tmp, env=stack.env(),
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, start_new_session=True)
    kill_when(p, started, what)


def describe(r):
    """A CompletedProcess for a failure message."""
    return "exit %r\nstdout: %r\nstderr: %r" % (
        r.returncode, r.stdout[-2000:], r.stderr[-3000:])


def worker_counts(test, r):
    """Asserts that the last stdout line of the worker run r is the
    summary; returns (taken, done, retried, dead)."""
    lines = r.stdout.splitlines()
    test.assertTrue(lines, "no stdout: " + describe(r))
    m = SUMMARY_RE.match(lines[-1])
    test.assertIsNotNone(m, "last stdout line is not the summary: " +
                         describe(r))
    return tuple(int(m.group(i)) for i in range(1, 5))


def worker_ok(test, stack, *args, env=None):
    """A chatdesk-worker run that must exit 0: returns ((taken, done,
    retried, dead), the CompletedProcess)."""
    r = stack.run_worker(*args, env=env)
    test.assertEqual(r.returncode, 0, describe(r))
    return worker_counts(test, r), r


def drain(test, run, tries=5):
    """Calls run() (a worker run returning (counts, r)) until a run takes
    nothing; every task on the way must be done (none retried or dead)."""
    for _ in range(tries):
        counts, r = run()
        test.assertEqual(counts[2:], (0, 0), describe(r))
        if counts[0] == 0:
            return
    test.fail("the queue did not drain")


# --------------------------------------------------------------------------
# A minimal FastCGI client (responder role, one request per connection)

FCGI_BEGIN_REQUEST = 1
FCGI_END_REQUEST = 3
FCGI_PARAMS = 4
FCGI_STDIN = 5
FCGI_STDOUT = 6
FCGI_STDERR = 7
FCGI_RESPONDER = 1


def _fcgi_record(rtype, content, req_id=1):
    pad = (-len(content)) % 8
    return (struct.pack("!BBHHBx", 1, rtype, req_id, len(content), pad) +
            content + b"\0" * pad)


def _fcgi_len(n):
    return bytes([n]) if n < 128 else struct.pack("!I", n | 0x80000000)


def _fcgi_bytes(x):
    return x.encode("utf-8", "surrogateescape") if isinstance(x, str) else x


def _fcgi_nv(name, value):
    name, value = _fcgi_bytes(name), _fcgi_bytes(value)
    return _fcgi_len(len(name)) + _fcgi_len(len(value)) + name + value


def _fcgi_stream(rtype, data):
    out = b""
    for i in range(0, len(data), 65528):
        out += _fcgi_record(rtype, data[i:i + 65528])
    return out + _fcgi_record(rtype, b"")


def fcgi_params(method, uri, remote_addr=None, token=None):
    """The FastCGI params of a request without a body, as nginx sends
    them; REMOTE_ADDR only if given."""
    path, _, qs = uri.partition("?")
    params = {"REQUEST_METHOD": method, "REQUEST_URI": uri,
              "DOCUMENT_URI": path, "SCRIPT_NAME": path, "QUERY_STRING": qs,
              "SERVER_PROTOCOL": "HTTP/1.1", "CONTENT_TYPE": "",
              "CONTENT_LENGTH": ""}
    if remote_addr is not None:
        params["REMOTE_ADDR"] = remote_addr
    if token is not None:
        params["HTTP_AUTHORIZATION"] = "Bearer " + token
    return params


def fcgi_request(sock_path, params, stdin=b"", timeout=10.0):
    """One request straight to the pool: params is a dict of FastCGI
    params (str or bytes); sock_path a unix socket's path, or a (host,
    port) pair for a TCP listener. Returns a harness.Response (status from
    the CGI Status header, 200 if absent); .fcgi_stderr holds the STDERR
    stream."""
    payload = _fcgi_record(FCGI_BEGIN_REQUEST,
                           struct.pack("!HB5x", FCGI_RESPONDER, 0))
    payload += _fcgi_stream(FCGI_PARAMS, b"".join(
        _fcgi_nv(k, v) for k, v in params.items()))
    payload += _fcgi_stream(FCGI_STDIN, stdin)
    out, err, ended = b"", b"", False
    family = socket.AF_INET if isinstance(sock_path, tuple) else \
        socket.AF_UNIX
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(sock_path)
        s.sendall(payload)
        buf = b""
        while not ended:
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
            while len(buf) >= 8:
                _v, rtype, _rid, clen, plen = struct.unpack("!BBHHBx", buf[:8])
                if len(buf) < 8 + clen + plen:
                    break
                content = buf[8:8 + clen]
                buf = buf[8 + clen + plen:]
                if rtype == FCGI_STDOUT:
                    out += content
                elif rtype == FCGI_STDERR:
                    err += content
                elif rtype == FCGI_END_REQUEST:
                    ended = True
                    break
    if not ended:
        raise harness.HarnessError("FastCGI: no END_REQUEST (got %r)" %
                                   out[:300])
    sep = out.find(b"\r\n\r\n")
    if sep >= 0:
        head, body = out[:sep], out[sep + 4:]
        lines = head.split(b"\r\n")
    else:
        sep = out.find(b"\n\n")
        if sep < 0:
            raise harness.HarnessError("FastCGI: no header end in %r" %
                                       out[:300])
        head, body = out[:sep], out[sep + 2:]
        lines = head.split(b"\n")
    headers, status, reason = [], 200, "OK"
    for ln in lines:
        k, _, v = ln.decode("latin-1").partition(":")
        k, v = k.strip(), v.strip()
        if k.lower() == "status":
            status = int(v.split()[0])
            reason = v.partition(" ")[2]
        else:
            headers.append((k, v))
    p = params.get("REQUEST_URI", "")
    r = harness.Response(params.get("REQUEST_METHOD", "GET"),
                         p if isinstance(p, str) else p.decode("latin-1"),
                         status, reason, headers, body)
    r.fcgi_stderr = err
    return r


def follow_pages(test, get, key, oldest_first, limit=None):
    """Follows next_before from the first page until null (or an empty
    page), through get(query_string) -> response. Each page must be in
    the route's order (oldest_first: ascending ids, and next_before is the
    page's first id; else descending). Returns every item across pages in
    the route's order."""
    out, before, seen = [], None, 0
    while True:
        q = []
        if limit is not None:
            q.append("limit=%d" % limit)
        if before is not None:
            q.append("before=%d" % before)
        r = get(("?" + "&".join(q)) if q else "")
        test.assertEqual(r.status, 200, r)
        body = r.json
        page = body[key]
        ids = [i["id"] for i in page]
        test.assertEqual(ids, sorted(ids, reverse=not oldest_first),
                         "page not %s first: %r" % (
                             "oldest" if oldest_first else "newest", r))
        out = page + out if oldest_first else out + page
        before = body["next_before"]
        seen += 1
        test.assertLess(seen, 1000, "paging does not end")
        if before is None or not page:
            break
        if oldest_first:
            test.assertEqual(before, page[0]["id"], r)
    return out


# The users the ticket and worker tests create, by name and role.
TICKET_CAST = (("admin1", "admin"), ("agent1", "agent"), ("agent2", "agent"),
               ("cust1", "customer"), ("cust2", "customer"))
ONE_OF_EACH = (("admin", "admin"), ("agent", "agent"),
               ("customer", "customer"))
