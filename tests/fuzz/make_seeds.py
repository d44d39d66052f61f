#!/usr/bin/env python3
"""Writes the committed seeds of the fuzz targets that take structured
input (tests/fuzz/corpus/<target>/): one readable file per case, so that a
change of route, field or reply shape is a change here. fuzz_request's
seeds are older and hand-written; regression seeds (a crash found and
fixed) are named regress_* and are not touched.

    python3 tests/fuzz/make_seeds.py
"""

import os

HERE = os.path.dirname(os.path.abspath(__file__))


def write(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# ---- fuzz_fcgi: NAME=VALUE lines, an empty line, the body ----------------

def fcgi(method, uri, token=None, body=None, extra=()):
    path, _, qs = uri.partition("?")
    lines = ["REQUEST_METHOD=" + method, "REQUEST_URI=" + uri,
             "DOCUMENT_URI=" + path, "QUERY_STRING=" + qs,
             "REMOTE_ADDR=192.0.2.7", "REQUEST_ID=fuzz-1"]
    if token:
        lines.append("HTTP_AUTHORIZATION=Bearer " + token)
    if body is not None:
        lines += ["CONTENT_TYPE=application/json", "CONTENT_LENGTH=*"]
    lines += list(extra)
    return "\n".join(lines) + "\n\n" + (body or "")


FCGI = {
    "health": fcgi("GET", "/api/v1/health"),
    "metrics_loopback": fcgi("GET", "/metrics", extra=["REMOTE_ADDR=127.0.0.1"]),
    "metrics_admin": fcgi("GET", "/metrics", "@admin"),
    "users_create": fcgi("POST", "/api/v1/users", "@admin",
                         '{"name":"Ann","email":"ann@example.com","role":"agent"}'),
    "users_me": fcgi("GET", "/api/v1/users/me", "@customer"),
    "users_get": fcgi("GET", "/api/v1/users/3", "@agent"),
    "users_patch": fcgi("PATCH", "/api/v1/users/4", "@admin",
                        '{"name":"Bo","email":"bo@example.com","role":"customer"}'),
    "users_patch_self": fcgi("PATCH", "/api/v1/users/3", "@customer",
                             '{"name":"Me"}'),
    "users_token": fcgi("POST", "/api/v1/users/3/tokens", "@customer", "{}"),
    "tokens_revoke": fcgi("DELETE", "/api/v1/tokens/current", "@other"),
    "rooms_create": fcgi("POST", "/api/v1/rooms", "@agent",
                         '{"name":"sales","member_ids":[3,4]}'),
    "rooms_list": fcgi("GET", "/api/v1/rooms?limit=5", "@customer"),
    "rooms_get": fcgi("GET", "/api/v1/rooms/1", "@customer"),
    "rooms_member": fcgi("POST", "/api/v1/rooms/1/members", "@agent",
                         '{"user_id":4}'),
    "messages_post": fcgi("POST", "/api/v1/rooms/1/messages", "@customer",
                          '{"body":"hi \\u00e9"}'),
    "messages_list": fcgi("GET", "/api/v1/rooms/1/messages?limit=2&before=9",
                          "@agent"),
    "tickets_create": fcgi("POST", "/api/v1/tickets", "@customer",
                           '{"subject":"s","body":"b","priority":"high"}'),
    "tickets_list": fcgi("GET", "/api/v1/tickets?status=open&assignee_id=2&limit=3",
                         "@agent"),
    "tickets_get": fcgi("GET", "/api/v1/tickets/1", "@customer"),
    "tickets_patch": fcgi("PATCH", "/api/v1/tickets/1", "@agent",
                          '{"status":"pending","priority":"low","assignee_id":2,'
                          '"subject":"new"}'),
    "tickets_patch_null": fcgi("PATCH", "/api/v1/tickets/1", "@admin",
                               '{"assignee_id":null}'),
    "interactions_post": fcgi("POST", "/api/v1/tickets/1/interactions",
                              "@customer", '{"body":"more"}'),
    "interactions_list": fcgi("GET", "/api/v1/tickets/1/interactions?limit=1",
                              "@agent"),
    "notifications_list": fcgi("GET", "/api/v1/notifications?unread=1", "@agent"),
    "notifications_read": fcgi("POST", "/api/v1/notifications/read", "@agent",
                               '{"ids":[1,2]}'),
    "stats_user": fcgi("GET", "/api/v1/stats/users/3?days=7", "@customer"),
    "cache_stats": fcgi("GET", "/api/v1/cache/stats", "@admin"),
    "cache_invalidate": fcgi("POST", "/api/v1/cache/invalidate", "@admin",
                             '{"pattern":"user:*"}'),
    "cache_invalidate_key": fcgi("POST", "/api/v1/cache/invalidate", "@admin",
                                 '{"key":"ticket:1"}'),
    "cache_clear": fcgi("POST", "/api/v1/cache/clear", "@admin", "{}"),
    "queue_stats": fcgi("GET", "/api/v1/queue", "@admin"),
    "queue_retry": fcgi("POST", "/api/v1/queue/failed/retry", "@admin", "{}"),
    "queue_clear": fcgi("DELETE", "/api/v1/queue/failed", "@admin"),
    "bad_method": fcgi("PUT", "/api/v1/rooms", "@agent"),
    "bad_length": fcgi("POST", "/api/v1/tickets", "@customer", '{"subject":"x"}',
                       extra=["CONTENT_LENGTH=99"]),
    "wrong_type": fcgi("POST", "/api/v1/rooms", "@agent", '{"name":"x"}',
                       extra=["CONTENT_TYPE=text/plain"]),
    "bad_token": fcgi("GET", "/api/v1/users/me", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
    "head_ticket": fcgi("HEAD", "/api/v1/tickets/1", "@customer"),
    "users_list": fcgi("GET", "/api/v1/users?limit=2&role=agent", "@agent"),
    "tokens_list": fcgi("GET", "/api/v1/users/3/tokens", "@customer"),
    "tokens_revoke_all": fcgi("DELETE", "/api/v1/users/4/tokens", "@admin"),
    "tokens_revoke_one": fcgi("DELETE", "/api/v1/users/3/tokens/3", "@customer"),
    "users_disable": fcgi("PATCH", "/api/v1/users/4", "@admin", '{"disabled":true}'),
    "token_with_lifetime": fcgi("POST", "/api/v1/users/3/tokens", "@customer",
                                '{"expires_in":3600}'),
    "sessions_login": fcgi("POST", "/api/v1/sessions", None,
                           '{"email":"customer@fuzz.example","password":"not it"}'),
    "typing": fcgi("POST", "/api/v1/rooms/1/typing", "@customer", "{}"),
    "presence": fcgi("GET", "/api/v1/rooms/1/presence", "@agent"),
    "events_subscribe": fcgi("GET", "/api/v1/events?rooms=1,2,1&tickets=1"
                             "&last_event_id=1:2,[3]", "@customer"),
    "events_ticket_param": fcgi("GET", "/api/v1/events?ticket=abc&rooms=1"),
    "events_ticket": fcgi("POST", "/api/v1/events/tickets", "@customer", "{}"),
    "presence_join": fcgi("POST", "/api/v1/events/presence/join?user=3"
                          "&sub=0123abcd&channels=room:1,ticket:1", None, None,
                          extra=["CHATDESK_INTERNAL=1"]),
    "presence_leave": fcgi("POST", "/api/v1/events/presence/leave?user=3"
                           "&sub=0123abcd&channels=room:1", None, None,
                           extra=["CHATDESK_INTERNAL=1"]),
    "presence_outside": fcgi("POST", "/api/v1/events/presence/join?user=3"
                             "&sub=ab&channels=room:1"),
    "head_messages": fcgi("HEAD", "/api/v1/rooms/1/messages?limit=1", "@agent"),
}

# ---- fuzz_auth: LEVEL byte, REMOTE_ADDR, LF, Authorization ---------------

AUTH = {
    "user_customer": b"\x01198.51.100.1\nBearer @customer",
    "staff_agent": b"\x02198.51.100.1\nBearer @agent",
    "admin_admin": b"\x83198.51.100.1\nBearer @admin",
    "admin_customer": b"\x03198.51.100.1\nBearer @customer",
    "metrics_loopback": b"\x04127.0.0.1",
    "metrics_v6": b"\x04::1\nBearer @other",
    "metrics_admin": b"\x0410.0.0.1\nBearer @admin",
    "public": b"\x00",
    "malformed": b"\x81::ffff:127.0.0.1\nBearer abc",
    "no_scheme": b"\x01x\nbasic @admin",
}

# ---- fuzz_resp: one operation byte, then what Redis answers ---------------


def bulk(s):
    if isinstance(s, str):
        s = s.encode()
    return b"$%d\r\n%s\r\n" % (len(s), s)


def arr(*items):
    return b"*%d\r\n" % len(items) + b"".join(items)


NIL = b"$-1\r\n"
OK = b"+OK\r\n"
SHA = bulk("0" * 40)


def intr(n):
    return b":%d\r\n" % n


USER3 = ('{"id":3,"name":"fuzz customer","email":"customer@fuzz.example",'
         '"role":"customer","created_at":"2026-01-01T00:00:00.000Z",'
         '"updated_at":"2026-01-01T00:00:00.000Z"}')
MSG = ('{"id":%d,"room_id":1,"user_id":3,"body":"hello",'
       '"created_at":"2026-01-01T00:00:00.000Z"}')
TICKET = ('{"id":1,"subject":"help","status":"open","priority":"normal",'
          '"requester_id":3,"assignee_id":null,'
          '"created_at":"2026-01-01T00:00:00.000Z",'
          '"updated_at":"2026-01-01T00:00:00.000Z"}')
TASK = ('{"id":"0123456789abcdef0123456789abcdef","type":"send_notifications",'
        '"payload":{"ticket_id":1,"event":"ticket_created","actor_id":3},'
        '"timestamp":"2026-01-01T00:00:00.000Z","attempts":0}')
DEAD = TASK[:-1] + ',"error":"boom","failed_at":"2026-01-01T00:00:00.000Z"}'
INFO = ("# Stats\r\nkeyspace_hits:10\r\nkeyspace_misses:2\r\n"
        "evicted_keys:0\r\n# Memory\r\nused_memory:123456\r\n")

# session:{hash} holds "user_id role token_id expires_at last_used" (auth.c).
SESSION3 = bulk("3 customer 3 0 0")
SESSION1 = bulk("1 admin 1 0 0")
SESSION2 = bulk("2 agent 2 0 0")

# Index = the operation in fuzz_resp.c's table.
RESP = {
    "users_me_hit": (0, SESSION3 + bulk(USER3)),
    "users_me_miss": (0, NIL + SHA + intr(1) + OK + NIL + intr(1) + intr(1)),
    "users_me_forged": (0, SESSION1 + bulk("{\"id\":1")),
    "users_get": (1, SESSION1 + bulk(USER3)),
    "users_patch": (2, SESSION1 + intr(2) + intr(1)),
    "rooms_list": (3, SESSION3 + NIL + intr(1) + NIL),
    "rooms_get": (4, SESSION3),
    "messages_hit": (5, SESSION3 + arr(bulk(MSG % 2), bulk(MSG % 1))),
    "messages_miss": (5, SESSION3 + arr() + SHA + intr(1) + intr(1)),
    "messages_lease_busy": (5, SESSION3 + arr() + SHA + intr(0) + arr() + intr(0)),
    "messages_page": (6, SESSION2 + arr(bulk(MSG % 3), bulk(MSG % 2), bulk(MSG % 1))),
    "messages_post": (7, SESSION3 + SHA + intr(1) + SHA + intr(1) + intr(1)),
    "messages_post_limited": (7, SESSION3 + SHA + intr(999999999)),
    "ticket_hit": (8, SESSION3 + bulk(TICKET)),
    "ticket_other": (9, bulk("4 customer 4 0 0") + bulk(TICKET)),
    "ticket_patch": (10, SESSION2 + NIL + intr(2) + intr(1)),
    "interactions": (11, SESSION3 + bulk(TICKET)),
    "interaction_post": (12, SESSION3 + bulk(TICKET) + SHA + intr(1) + intr(2)),
    "stats": (13, SESSION3 + bulk(USER3) + bulk('{"user_id":3,"days":7}')),
    "notifications": (14, SESSION2),
    "cache_stats": (15, SESSION1 + bulk(INFO) + intr(42)),
    "cache_scan": (16, SESSION1 + arr(bulk("7"), arr(bulk("user:1"), bulk("user:2")))
                   + intr(2) + arr(bulk("0"), arr(bulk("user:3"))) + intr(1)),
    "cache_unlink": (17, SESSION1 + intr(1)),
    "cache_clear": (18, SESSION1 + arr(bulk("0"), arr()) + arr(bulk("0"), arr())),
    "queue_stats": (19, SESSION1 + intr(3) + intr(1) + intr(0) + intr(2)
                    + arr(bulk(TASK)) + arr(bulk(DEAD))),
    "queue_retry": (20, SESSION1 + SHA + intr(2)),
    "queue_clear": (21, SESSION1 + intr(5)),
    "health": (22, b"+PONG\r\n" + b"+PONG\r\n"),
    "metrics": (23, SESSION1 + intr(1) + intr(2) + intr(3) + intr(4)),
    "take": (24, bulk(TASK) + SHA + bulk(TASK) + intr(1)),
    "lock": (25, OK + SHA + intr(1) + SHA + intr(1)),
    "moves": (26, SHA + intr(2) + SHA + intr(0) + intr(7) + b"+PONG\r\n"),
    "dead": (27, arr(bulk(DEAD), bulk("not json")) + SHA + intr(1) + intr(1)),
    "delay": (28, SHA + intr(1) + SHA + intr(0)),
    "noscript": (24, b"-NOSCRIPT No matching script\r\n" + SHA + bulk(TASK)),
    "error_reply": (0, b"-ERR wrong\r\n" + SESSION3),
    "protocol_error": (5, b"?garbage\r\n"),
    # Forged values (issue 13): with FUZZ_REDIS_UNTRUSTED set these must
    # still be refused.
    "forged_admin_session": (29, SESSION1),
    "forged_ticket_owner": (30, bulk("4 customer 4 0 0") + bulk(TICKET.replace(
        '"requester_id":3', '"requester_id":4'))),
}

# ---- fuzz_task: a task text as LMOVE hands it ------------------------------

TASKS = {
    "close": '{"id":"t1","type":"close_inactive_tickets","payload":{"inactive_days":7},'
             '"timestamp":"2026-01-01T00:00:00.000Z","attempts":0}',
    "close_zero": '{"id":"t2","type":"close_inactive_tickets","payload":{"inactive_days":0}}',
    "archive": '{"id":"t3","type":"archive_old_interactions",'
               '"payload":{"older_than_days":30},"attempts":1}',
    "notify_created": '{"id":"t4","type":"send_notifications","payload":'
                      '{"ticket_id":1,"event":"ticket_created","actor_id":3}}',
    "notify_updated": '{"id":"t5","type":"send_notifications","payload":'
                      '{"ticket_id":1,"event":"ticket_updated","actor_id":2},"attempts":2}',
    "unknown_type": '{"id":"t6","type":"nope","payload":{}}',
    "malformed_days": '{"id":"t7","type":"close_inactive_tickets","payload":{"inactive_days":-1}}',
    "bad_attempts": '{"id":"t8","type":"archive_old_interactions","payload":{},"attempts":"x"}',
    "not_json": "hello",
    # Found by fuzz_task: bytes that are not UTF-8 were never buried.
    "regress_not_utf8": b"}\xf9",
}

# ---- fuzz_config: a configuration file --------------------------------------

CONFIGS = {
    "example": open(os.path.join(HERE, "..", "..", "examples", "chatdesk.conf")).read()
    if os.path.exists(os.path.join(HERE, "..", "..", "examples", "chatdesk.conf")) else "",
    "all_keys": "\n".join([
        "# every key once",
        "db_path = /var/lib/chatdesk/chatdesk.db",
        "archive_db_path = /var/lib/chatdesk/archive.db",
        "redis_url = redis://:s%40cret@127.0.0.1:6380/2",
        "queue_redis_url = unix:///run/redis/redis.sock?db=3",
        "key_prefix = cd:",
        "room_cache_size = 100",
        "room_cache_ttl = 3600",
        "record_ttl = 300",
        "max_body_bytes = 65536",
        "rate_limit_count = 20",
        "rate_limit_window = 10",
        "task_max_attempts = 3",
        "task_backoff_s = 30",
        "dead_max = 10000",
        "notify_command = /usr/bin/logger -t chatdesk",
        "notify_timeout_ms = 5000",
        "sqlite_synchronous = normal",
        "log_level = debug",
        "log_file = /var/log/chatdesk/chatdesk.log",
        "redis_connect_timeout_ms = 100",
        "redis_command_timeout_ms = 250",
        "redis_retry_ms = 1000",
        "debug_fill_delay_ms = 0",
        "slow_request_ms = 500",
        "task_done_keep_s = 86400",
        "worker_stale_s = 600",
        ""]),
    "bad_int": "room_cache_size = 101\n",
    "bad_url": "redis_url = http://x\n",
    "unknown": "nope = 1\n",
    "no_eq": "just words\n",
    "long_line": "key_prefix = " + "x" * 5000 + "\n",
}


def main():
    for name, data in FCGI.items():
        write("fuzz_fcgi", name, data)
    for name, data in AUTH.items():
        write("fuzz_auth", name, data)
    for name, (op, data) in RESP.items():
        write("fuzz_resp", name, bytes([op]) + data)
    for name, data in TASKS.items():
        write("fuzz_task", name, data)
    for name, data in CONFIGS.items():
        write("fuzz_config", name, data)


if __name__ == "__main__":
    main()
