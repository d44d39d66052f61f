"""The FastAPI peer of bench/run.sh --peer (issue 17).

The three routes the bench compares, written the way a competent team
would on the seed documents' stack: FastAPI, redis-py, sqlite3, served by
uvicorn (two workers, uvloop, httptools) behind the bench's nginx. Not part
of chatdesk; nothing installs or tests it.

    GET  /api/v1/rooms/{id}/messages   the room's list from Redis
                                       (messages:room:{id}, newest first,
                                       at most 50), rebuilt from SQLite on
                                       a miss
    GET  /api/v1/tickets/{id}          ticket:{id} from Redis, or SQLite
    POST /api/v1/rooms/{id}/messages   rate limit (INCR + EXPIRE), INSERT,
                                       COMMIT, then LPUSH + LTRIM + EXPIRE

Every route authenticates the bearer token: session:{sha256 hex} in Redis,
or the tokens table on a miss (stored for 300 s). Staff see every room and
ticket; others the rooms they are members of and the tickets they filed.

Choices, each in the peer's favour where there was one:
- SQLite in WAL mode at synchronous=NORMAL (a 201 may be lost at a power
  loss), as the issue says; busy_timeout 5 s.
- Blocking calls (sqlite3, and redis-py's client next to it on the write
  path) run in `def` routes, which FastAPI puts on its thread pool, as its
  documentation says to; the reads are `async def` with redis.asyncio and
  touch SQLite only on a miss (then through the thread pool).
- Cached JSON strings are joined as they are, not parsed and dumped again.
- The write transaction is taken under a per-process lock (SQLite's busy
  handler sleeps; the measured POST was faster and its p99 far lower so).
- No access log in uvicorn (nginx's is off too).
- The list push is one MULTI/EXEC round trip; two workers that push at once
  can leave it out of id order (chatdesk's script cannot), which costs the
  peer nothing.

    /usr/bin/python3 bench/peer/app.py seed DB TOKEN   schema and data
    DB=... REDIS_SOCKET=... /usr/bin/python3 -m uvicorn --app-dir bench/peer \
        app:app --uds SOCK --workers 2 --loop uvloop --http httptools \
        --no-access-log
"""

import hashlib
import json
import os
import sqlite3
import sys
import threading
import time

from fastapi import Depends, FastAPI, Header, HTTPException
from fastapi.responses import Response
from pydantic import BaseModel, constr
import redis
import redis.asyncio as aredis
from starlette.concurrency import run_in_threadpool

DB = os.environ.get("DB", "peer.db")
REDIS_SOCKET = os.environ.get("REDIS_SOCKET", "/tmp/redis.sock")
REDIS_DB = int(os.environ.get("REDIS_DB", "1"))
LIST_MAX = 50
LIST_TTL = 3600
CACHE_TTL = 300
RATE_COUNT = int(os.environ.get("RATE_LIMIT_COUNT", "20"))
RATE_WINDOW = int(os.environ.get("RATE_LIMIT_WINDOW", "10"))
STAFF = ("agent", "admin")

SCHEMA = """
CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL,
    role TEXT NOT NULL);
CREATE TABLE tokens (id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL,
    hash TEXT NOT NULL UNIQUE, revoked_at INTEGER);
CREATE TABLE rooms (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
CREATE TABLE room_members (room_id INTEGER, user_id INTEGER,
    PRIMARY KEY (room_id, user_id)) WITHOUT ROWID;
CREATE TABLE messages (id INTEGER PRIMARY KEY AUTOINCREMENT,
    room_id INTEGER NOT NULL, user_id INTEGER NOT NULL, body TEXT NOT NULL,
    created_at TEXT NOT NULL);
CREATE INDEX messages_room ON messages (room_id, id);
CREATE TABLE tickets (id INTEGER PRIMARY KEY, subject TEXT NOT NULL,
    status TEXT NOT NULL, priority TEXT NOT NULL, requester_id INTEGER NOT NULL,
    assignee_id INTEGER, created_at TEXT NOT NULL, updated_at TEXT NOT NULL);
"""

_local = threading.local()
# SQLite has one writer: the threads of a process queue here, woken at
# once, rather than in SQLite's busy handler, which sleeps (1, 2, 5 ms, ...);
# only the two processes meet there.
_write = threading.Lock()


def db():
    """One connection per thread, opened once."""
    conn = getattr(_local, "conn", None)
    if conn is None:
        conn = sqlite3.connect(DB, timeout=5.0, isolation_level=None)
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        _local.conn = conn
    return conn


def now_iso():
    t = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + ".%03dZ" % (int(t * 1000) % 1000)


def message_json(mid, room, user, body, created):
    return json.dumps({"id": mid, "room_id": room, "user_id": user,
                       "body": body, "created_at": created}, separators=(",", ":"))


app = FastAPI()
ar = aredis.Redis(unix_socket_path=REDIS_SOCKET, db=REDIS_DB)
sr = redis.Redis(unix_socket_path=REDIS_SOCKET, db=REDIS_DB)


class User:
    __slots__ = ("id", "role")

    def __init__(self, uid, role):
        self.id, self.role = uid, role

    @property
    def staff(self):
        return self.role in STAFF


def session_from_db(digest):
    row = db().execute(
        "SELECT u.id, u.role FROM tokens t JOIN users u ON u.id = t.user_id"
        " WHERE t.hash = ? AND t.revoked_at IS NULL", (digest,)).fetchone()
    return None if row is None else "%d %s" % row


async def cache_aside(key, fill, arg):
    """The value of key, or fill(arg) from SQLite (None: there is none),
    stored for CACHE_TTL."""
    v = await ar.get(key)
    if v is None:
        s = await run_in_threadpool(fill, arg)
        if s is None:
            return None
        v = s.encode()
        await ar.set(key, v, ex=CACHE_TTL)
    return v


async def current_user(authorization: str = Header(None)):
    if not authorization or not authorization.startswith("Bearer "):
        raise HTTPException(401, "a bearer token is required")
    digest = hashlib.sha256(authorization[7:].encode()).hexdigest()
    s = await cache_aside("session:" + digest, session_from_db, digest)
    if s is None:
        raise HTTPException(401, "unknown or revoked bearer token")
    uid, role = s.decode().split()
    return User(int(uid), role)


def is_member(room, uid):
    return db().execute("SELECT 1 FROM room_members WHERE room_id = ? AND user_id = ?",
                        (room, uid)).fetchone() is not None


def rebuild_list(room):
    rows = db().execute(
        "SELECT id, room_id, user_id, body, created_at FROM messages"
        " WHERE room_id = ? ORDER BY id DESC LIMIT ?", (room, LIST_MAX)).fetchall()
    items = [message_json(*r) for r in rows]
    key = "messages:room:%d" % room
    with sr.pipeline(transaction=True) as p:
        p.delete(key)
        if items:
            p.rpush(key, *items)
            p.expire(key, LIST_TTL)
        p.execute()
    return [i.encode() for i in items]


def page(items):
    last = json.loads(items[-1])["id"] if len(items) == LIST_MAX else None
    return b'{"messages":[' + b",".join(items) + b'],"next_before":' + \
        (b"null" if last is None else str(last).encode()) + b"}"


@app.get("/api/v1/rooms/{room}/messages")
async def list_messages(room: int, user: User = Depends(current_user)):
    if not user.staff and not await run_in_threadpool(is_member, room, user.id):
        raise HTTPException(404, "no such room")
    items = await ar.lrange("messages:room:%d" % room, 0, LIST_MAX - 1)
    if not items:
        items = await run_in_threadpool(rebuild_list, room)
    return Response(page(items), media_type="application/json")


def ticket_from_db(tid):
    row = db().execute(
        "SELECT id, subject, status, priority, requester_id, assignee_id,"
        " created_at, updated_at FROM tickets WHERE id = ?", (tid,)).fetchone()
    if row is None:
        return None
    return json.dumps(dict(zip(("id", "subject", "status", "priority", "requester_id",
                                "assignee_id", "created_at", "updated_at"), row)),
                      separators=(",", ":"))


@app.get("/api/v1/tickets/{tid}")
async def get_ticket(tid: int, user: User = Depends(current_user)):
    t = await cache_aside("ticket:%d" % tid, ticket_from_db, tid)
    if t is None:
        raise HTTPException(404, "no such ticket")
    if not user.staff and json.loads(t)["requester_id"] != user.id:
        raise HTTPException(404, "no such ticket")
    return Response(t, media_type="application/json")


class NewMessage(BaseModel):
    body: constr(min_length=1, max_length=4000)


@app.post("/api/v1/rooms/{room}/messages", status_code=201)
def post_message(room: int, msg: NewMessage, user: User = Depends(current_user)):
    if not user.staff and not is_member(room, user.id):
        raise HTTPException(404, "no such room")
    win = int(time.time()) // RATE_WINDOW
    rk = "ratelimit:%d:%d" % (user.id, win)
    with sr.pipeline(transaction=True) as p:
        n, _ = p.incr(rk).expire(rk, RATE_WINDOW + 1).execute()
    if n > RATE_COUNT:
        raise HTTPException(429, "rate limited",
                            headers={"Retry-After": str((win + 1) * RATE_WINDOW - int(time.time()))})
    created = now_iso()
    conn = db()
    with _write, conn:
        conn.execute("BEGIN IMMEDIATE")
        mid = conn.execute("INSERT INTO messages (room_id, user_id, body, created_at)"
                           " VALUES (?, ?, ?, ?)", (room, user.id, msg.body, created)).lastrowid
    text = message_json(mid, room, user.id, msg.body, created)
    key = "messages:room:%d" % room
    with sr.pipeline(transaction=True) as p:
        p.lpush(key, text).ltrim(key, 0, LIST_MAX - 1).expire(key, LIST_TTL).execute()
    return Response(text, status_code=201, media_type="application/json",
                    headers={"Location": "/api/v1/rooms/%d/messages?before=%d&limit=1" % (room, mid + 1)})


def seed(path, token):
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.executescript(SCHEMA)
    conn.execute("BEGIN")
    conn.execute("INSERT INTO users VALUES (1, 'Bench', 'admin')")
    conn.execute("INSERT INTO tokens VALUES (1, 1, ?, NULL)",
                 (hashlib.sha256(token.encode()).hexdigest(),))
    conn.execute("INSERT INTO rooms VALUES (1, 'bench')")
    conn.execute("INSERT INTO room_members VALUES (1, 1)")
    for i in range(1, 51):
        conn.execute("INSERT INTO messages (room_id, user_id, body, created_at) VALUES (1, 1, ?, ?)",
                     ("message %d of the benchmark room, with a little text" % i, now_iso()))
    conn.execute("INSERT INTO tickets VALUES (1, 'bench', 'open', 'normal', 1, NULL, ?, ?)",
                 (now_iso(), now_iso()))
    conn.execute("COMMIT")
    conn.close()


if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[1] != "seed":
        sys.exit("usage: app.py seed DB TOKEN")
    seed(sys.argv[2], sys.argv[3])
