/* rooms: see rooms.h. */
#include "autoconf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "db.h"
#include "events.h"
#include "log.h"
#include "metrics.h"
#include "rconn.h"
#include "rooms.h"
#include "util.h"

/*
 * Pushes one message (ARGV[2], whose text starts {"id":N,) on a list kept
 * newest first, capped at ARGV[3], renewing its TTL (ARGV[4]). ARGV[5] is
 * the id of the room's message just before this one, read in the same
 * transaction as the insert (0: none).
 *  - No list: a rebuild may be in flight that read SQLite before this
 *    message committed; its lease is deleted so that it cannot store.
 *  - The list's head is that previous message (or there is none): the
 *    list stays the contiguous newest-first run SQLite holds.
 *  - Otherwise the previous message's push has not arrived yet (two
 *    processes pushed out of order): pushing now would show a gap, so the
 *    list is deleted and the next read rebuilds it from SQLite.
 * Ids are compared as strings: 64-bit ids never pass through Lua doubles.
 */
static struct rscript push_script = { .src =
	"local function idof(v) return string.match(v, '^{\"id\":(%d+)') end\n"
	"if redis.call('EXISTS', KEYS[1]) == 0 then\n"
	"  redis.call('DEL', KEYS[2])\n"
	"  return 0\n"
	"end\n"
	"local head = redis.call('LINDEX', KEYS[1], 0)\n"
	"local hid = head and idof(head)\n"
	"if hid == ARGV[1] then return 0 end\n"
	"if ARGV[5] ~= '0' and hid ~= ARGV[5] then\n"
	"  for _, v in ipairs(redis.call('LRANGE', KEYS[1], 0, -1)) do\n"
	"    if idof(v) == ARGV[1] then return 0 end\n"
	"  end\n"
	"  redis.call('DEL', KEYS[1], KEYS[2])\n"
	"  return 2\n"
	"end\n"
	"redis.call('LPUSH', KEYS[1], ARGV[2])\n"
	"redis.call('LTRIM', KEYS[1], 0, tonumber(ARGV[3]) - 1)\n"
	"redis.call('EXPIRE', KEYS[1], ARGV[4])\n"
	"return 1\n"
};

/* A rebuild stores its list only if its lease (taken at the miss)
 * survived every post since. */
static struct rscript rebuild_script = { .src =
	"if redis.call('GET', KEYS[2]) ~= ARGV[1] then return 0 end\n"
	"redis.call('DEL', KEYS[1])\n"
	"if #ARGV > 2 then\n"
	"  redis.call('RPUSH', KEYS[1], unpack(ARGV, 3))\n"
	"  redis.call('EXPIRE', KEYS[1], ARGV[2])\n"
	"end\n"
	"redis.call('DEL', KEYS[2])\n"
	"return 1\n"
};

static void
list_keys(struct app *app, int64_t room, struct rkey *list, struct rkey *lease)
{
	app_key(app, list, "messages:room:%lld", (long long)room);
	app_key(app, lease, "lease:messages:room:%lld", (long long)room);
}

static json_t *
room_json(struct app *app, sqlite3_stmt *row, int *err)
{
	char created[UTIL_TIME_LEN];
	sqlite3_stmt *m;
	json_t *ids, *room;
	int64_t id = sqlite3_column_int64(row, 0);

	if ((m = db_stmt(app->db, SQL_ROOM_MEMBERS)) == NULL) {
		*err = 1;
		return NULL;
	}
	ids = json_array();
	db_bind_int(m, 1, id);
	while (db_step(app->db, m) == SQLITE_ROW)
		json_array_append_new(ids, json_integer(sqlite3_column_int64(m, 0)));
	db_reset(m);
	util_format_time(sqlite3_column_int64(row, 2), created);
	room = json_pack("{s:I, s:s, s:s, s:o}", "id", (json_int_t)id,
	    "name", (const char *)sqlite3_column_text(row, 1),
	    "created_at", created, "member_ids", ids);
	if (room == NULL)
		*err = 1;
	return room;
}

int64_t
rooms_create(struct app *app, const char *name, int64_t creator,
    const int64_t *members, size_t nmembers)
{
	sqlite3_stmt *st;
	int64_t id, now = util_now_ms();
	size_t i;

	if (db_begin(app->db) == -1)
		return 0;
	if ((st = db_stmt(app->db, SQL_ROOM_INSERT)) == NULL)
		goto fail;
	db_bind_text(st, 1, name, strlen(name));
	db_bind_int(st, 2, creator);
	db_bind_int(st, 3, now);
	if (db_exec_stmt(app->db, st) != 0)
		goto fail;
	id = db_last_id(app->db);
	if (rooms_add_member(app, id, creator) == -1)
		goto fail;
	for (i = 0; i < nmembers; i++)
		if (rooms_add_member(app, id, members[i]) == -1)
			goto fail;
	if (db_commit(app->db) == -1)
		return 0;
	return id;
fail:
	db_rollback(app->db);
	return 0;
}

int
rooms_add_member(struct app *app, int64_t room, int64_t user)
{
	sqlite3_stmt *st;

	if ((st = db_stmt(app->db, SQL_ROOM_MEMBER_ADD)) == NULL)
		return -1;
	db_bind_int(st, 1, room);
	db_bind_int(st, 2, user);
	db_bind_int(st, 3, util_now_ms());
	return db_exec_stmt(app->db, st) == 0 ? 0 : -1;
}

json_t *
rooms_get(struct app *app, int64_t id, int *err)
{
	sqlite3_stmt *st;
	json_t *room = NULL;
	int rc;

	*err = 0;
	if ((st = db_stmt(app->db, SQL_ROOM_GET)) == NULL) {
		*err = 1;
		return NULL;
	}
	db_bind_int(st, 1, id);
	rc = db_step(app->db, st);
	if (rc == SQLITE_ROW)
		room = room_json(app, st, err);
	else if (rc != SQLITE_DONE)
		*err = 1;
	db_reset(st);
	return room;
}

/*
 * Rooms are never deleted and members never removed, so "room R exists"
 * and "user U is in room R" stay true once seen. A small direct-mapped
 * table of such facts per process keeps SQLite off the hot read path.
 * Only positive answers are kept: a new member is seen at once.
 */
#define SEEN_SLOTS	4096

static struct {
	int64_t	room;
	int64_t	user;	/* 0: the room exists */
} seen[SEEN_SLOTS];

static size_t
seen_slot(int64_t room, int64_t user)
{
	uint64_t h = (uint64_t)room * 0x9e3779b97f4a7c15ULL ^
	    (uint64_t)user * 0xc2b2ae3d27d4eb4fULL;

	return (size_t)(h >> 52) % SEEN_SLOTS;
}

/* 1 if the fact is known, else -1 after asking SQLite with s. */
static int
seen_check(struct app *app, enum sqlstmt s, int64_t room, int64_t user)
{
	size_t slot = seen_slot(room, user);
	sqlite3_stmt *st;
	int rc;

	if (seen[slot].room == room && seen[slot].user == user)
		return 1;
	if ((st = db_stmt(app->db, s)) == NULL)
		return -1;
	db_bind_int(st, 1, room);
	if (user != 0)
		db_bind_int(st, 2, user);
	rc = db_step(app->db, st);
	db_reset(st);
	if (rc == SQLITE_ROW) {
		seen[slot].room = room;
		seen[slot].user = user;
		return 1;
	}
	return rc == SQLITE_DONE ? 0 : -1;
}

int
rooms_exists(struct app *app, int64_t room)
{
	return seen_check(app, SQL_ROOM_EXISTS, room, 0);
}

int
rooms_is_member(struct app *app, int64_t room, int64_t user)
{
	return seen_check(app, SQL_ROOM_IS_MEMBER, room, user);
}

int
rooms_list(struct app *app, int64_t user, int64_t before, int limit,
    json_t *arr)
{
	sqlite3_stmt *st;
	json_t *room;
	int n = 0, err = 0, i = 1;

	st = db_stmt(app->db, user ? SQL_ROOMS_OF_USER : SQL_ROOMS_ALL);
	if (st == NULL)
		return -1;
	if (user)
		db_bind_int(st, i++, user);
	db_bind_int(st, i++, before);
	db_bind_int(st, i, limit);
	/* room_json uses another statement: collect ids first would be
	 * tidier, but SQLite allows one statement to step inside another. */
	while (!err && db_step(app->db, st) == SQLITE_ROW) {
		if ((room = room_json(app, st, &err)) != NULL) {
			json_array_append_new(arr, room);
			n++;
		}
	}
	db_reset(st);
	return err ? -1 : n;
}

/* The message object, "id" first: the list scripts read it from there. */
static void
message_text(struct strbuf *out, int64_t id, int64_t room, int64_t user,
    const char *body, size_t len, int64_t created_ms)
{
	char created[UTIL_TIME_LEN];
	json_t *b = json_stringn(body, len);
	char *esc;

	util_format_time(created_ms, created);
	esc = json_dumps(b, JSON_ENCODE_ANY);
	strbuf_printf(out, "{\"id\":%lld,\"room_id\":%lld,\"user_id\":%lld,"
	    "\"body\":%s,\"created_at\":\"%s\"}", (long long)id,
	    (long long)room, (long long)user, esc ? esc : "\"\"", created);
	free(esc);
	json_decref(b);
}

static void
push(struct app *app, int64_t room, int64_t id, int64_t prev,
    const struct strbuf *msg)
{
	struct rkey list, lease;
	char ids[24], cap[24], ttl[24], prevs[24];
	redisReply *r;

	list_keys(app, room, &list, &lease);
	snprintf(ids, sizeof(ids), "%lld", (long long)id);
	snprintf(prevs, sizeof(prevs), "%lld", (long long)prev);
	snprintf(cap, sizeof(cap), "%lld", app->cfg.room_cache_size);
	snprintf(ttl, sizeof(ttl), "%lld", cache_jitter(app->cfg.room_cache_ttl));
	/* The message is JSON text: never a NUL byte. */
	r = rconn_evalv(app->cache, &push_script, 2, list.s, lease.s, ids,
	    msg->buf, cap, ttl, prevs, NULL);
	if (r != NULL) {
		freeReplyObject(r);
		return;
	}
	/* The list may now lack this message: it must go (now, or when
	 * Redis is back). A rebuild will read it from SQLite. */
	cache_invalidate(app, &list, 1);
}

/* message.created to the room's channel, the message text as stored. */
static void
publish_message(struct app *app, int64_t room, const struct strbuf *msg)
{
	struct events_chans ch;
	struct strbuf ev;

	events_chans_init(&ch);
	events_chans_add(&ch, "room", room);
	strbuf_init(&ev);
	strbuf_printf(&ev, "{\"type\":\"message.created\",\"room_id\":%lld,"
	    "\"message\":%s}", (long long)room, msg->buf);
	events_emit_text(app->events, &ch, ev.buf, ev.len);
	strbuf_free(&ev);
}

int
rooms_post(struct app *app, int64_t room, int64_t user, const char *body,
    size_t len, struct strbuf *out)
{
	sqlite3_stmt *st;
	int64_t now = util_now_ms(), id, prev = 0;

	/* The previous message of the room, read in the insert's write
	 * transaction, tells the push script whether the list is whole. */
	if (db_begin(app->db) == -1)
		return -1;
	if ((st = db_stmt(app->db, SQL_ROOM_LAST_MESSAGE)) == NULL)
		goto fail;
	db_bind_int(st, 1, room);
	if (db_step(app->db, st) == SQLITE_ROW)
		prev = sqlite3_column_int64(st, 0);
	db_reset(st);
	if ((st = db_stmt(app->db, SQL_MESSAGE_INSERT)) == NULL)
		goto fail;
	db_bind_int(st, 1, room);
	db_bind_int(st, 2, user);
	db_bind_text(st, 3, body, len);
	db_bind_int(st, 4, now);
	if (db_exec_stmt(app->db, st) != 0)
		goto fail;
	id = db_last_id(app->db);
	if (db_commit(app->db) == -1)
		return -1;
	strbuf_reset(out);
	message_text(out, id, room, user, body, len, now);
	push(app, room, id, prev, out);
	publish_message(app, room, out);
	return 0;
fail:
	db_rollback(app->db);
	return -1;
}

/* A page of messages as JSON texts joined by ',' in text; item i is at
 * offs[i], lens[i] long, with id ids[i]. */
struct page {
	struct strbuf	 text;
	int		 n;
	int64_t		 ids[ROOMS_PAGE_MAX];
	size_t		 offs[ROOMS_PAGE_MAX];
	size_t		 lens[ROOMS_PAGE_MAX];
};

/* Reads a page with s: SQL_MESSAGES_PAGE (before, newest first) or
 * SQL_MESSAGES_AFTER (bound is after, oldest first). */
static int
page_read_with(struct app *app, enum sqlstmt s, int64_t room, int64_t bound,
    int limit, struct page *p)
{
	sqlite3_stmt *st;
	int rc = SQLITE_DONE;

	if ((st = db_stmt(app->db, s)) == NULL)
		return -1;
	db_bind_int(st, 1, room);
	db_bind_int(st, 2, bound);
	db_bind_int(st, 3, limit);
	p->n = 0;
	strbuf_reset(&p->text);
	while (p->n < ROOMS_PAGE_MAX &&
	    (rc = db_step(app->db, st)) == SQLITE_ROW) {
		if (p->n > 0)
			strbuf_add(&p->text, ",", 1);
		p->offs[p->n] = p->text.len;
		p->ids[p->n] = sqlite3_column_int64(st, 0);
		message_text(&p->text, p->ids[p->n], sqlite3_column_int64(st, 1),
		    sqlite3_column_int64(st, 2),
		    (const char *)sqlite3_column_text(st, 3),
		    (size_t)sqlite3_column_bytes(st, 3),
		    sqlite3_column_int64(st, 4));
		p->lens[p->n] = p->text.len - p->offs[p->n];
		p->n++;
	}
	db_reset(st);
	return p->n == ROOMS_PAGE_MAX || rc == SQLITE_DONE ? 0 : -1;
}

static int
page_read(struct app *app, int64_t room, int64_t before, int limit,
    struct page *p)
{
	return page_read_with(app, SQL_MESSAGES_PAGE, room,
	    before ? before : INT64_MAX, limit, p);
}

/*
 * {"messages":[items],"<next>":...}: next is "next_before" or
 * "next_after", the last id when the page is full (so that a client reads
 * on until null), else null.
 */
static void
page_answer_next(struct strbuf *out, const char *next, const char *items,
    size_t len, int n, int limit, int64_t last_id)
{
	strbuf_reset(out);
	strbuf_adds(out, "{\"messages\":[");
	strbuf_add(out, items, len);
	strbuf_printf(out, "],\"%s\":", next);
	if (n == limit && n > 0)
		strbuf_printf(out, "%lld}\n", (long long)last_id);
	else
		strbuf_adds(out, "null}\n");
}

static void
page_answer(struct strbuf *out, const char *items, size_t len, int n,
    int limit, int64_t last_id)
{
	page_answer_next(out, "next_before", items, len, n, limit, last_id);
}

/* Stores a rebuilt list if the lease is still ours. */
static void
rebuild_store(struct app *app, const struct rkey *list,
    const struct rkey *lease, const char *token, const struct page *p)
{
	const char *argv[4 + 100];
	size_t lens[4 + 100];
	char ttl[24];
	redisReply *r;
	int i;

	snprintf(ttl, sizeof(ttl), "%lld", cache_jitter(app->cfg.room_cache_ttl));
	argv[0] = list->s;
	lens[0] = list->len;
	argv[1] = lease->s;
	lens[1] = lease->len;
	argv[2] = token;
	lens[2] = strlen(token);
	argv[3] = ttl;
	lens[3] = strlen(ttl);
	for (i = 0; i < p->n; i++) {
		argv[4 + i] = p->text.buf + p->offs[i];
		lens[4 + i] = p->lens[i];
	}
	if (app->cfg.debug_fill_delay_ms > 0) {
		struct timespec ts = { app->cfg.debug_fill_delay_ms / 1000,
		    (app->cfg.debug_fill_delay_ms % 1000) * 1000000 };
		nanosleep(&ts, NULL);
	}
	if ((r = rconn_eval(app->cache, &rebuild_script, 2, 4 + i, argv,
	    lens)) != NULL)
		freeReplyObject(r);
}

/* Answers the first limit items of a page. */
static void
page_answer_from(struct strbuf *out, const struct page *p, int limit)
{
	int n = p->n < limit ? p->n : limit;
	size_t len = n > 0 ? p->offs[n - 1] + p->lens[n - 1] : 0;

	page_answer(out, p->text.buf ? p->text.buf : "", len, n, limit,
	    n > 0 ? p->ids[n - 1] : 0);
}

/* Takes the rebuild lease: 1 ours, 0 another reader's, 2 the list exists
 * (filled meanwhile), -1 Redis unusable. */
static struct rscript lease_script = { .src =
	"if redis.call('EXISTS', KEYS[1]) == 1 then return 2 end\n"
	"if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then\n"
	"  return 1\n"
	"end\n"
	"return 0\n"
};

static int
take_lease(struct app *app, const struct rkey *list, const struct rkey *lease,
    const char *token)
{
	char ms[16];
	redisReply *r;
	int rc = -1;

	snprintf(ms, sizeof(ms), "%d", CACHE_LEASE_MS);
	if ((r = rconn_evalv(app->cache, &lease_script, 2, list->s, lease->s,
	    token, ms, NULL)) == NULL)
		return -1;
	if (r->type == REDIS_REPLY_INTEGER)
		rc = (int)r->integer;
	freeReplyObject(r);
	return rc;
}

/* LRANGE of the list: 1 hit (answered into out), 0 empty, -1 down. */
static int
list_read(struct app *app, const struct rkey *list, int limit,
    struct strbuf *out)
{
	char stop[16];
	redisReply *r, *e;
	size_t i;
	const char *idp;
	long long last = 0;

	snprintf(stop, sizeof(stop), "%d", limit - 1);
	if ((r = rconn_cmdv(app->cache, "LRANGE", list->s, "0", stop,
	    NULL)) == NULL)
		return -1;
	if (r->type != REDIS_REPLY_ARRAY || r->elements == 0) {
		freeReplyObject(r);
		return 0;
	}
	/* The cached texts are sent as they are, joined. */
	strbuf_reset(out);
	strbuf_adds(out, "{\"messages\":[");
	for (i = 0; i < r->elements; i++) {
		e = r->element[i];
		if (e->type != REDIS_REPLY_STRING)
			continue;
		if (i > 0)
			strbuf_add(out, ",", 1);
		strbuf_add(out, e->str, e->len);
	}
	e = r->element[r->elements - 1];
	if ((int)r->elements == limit && e->type == REDIS_REPLY_STRING &&
	    (idp = strstr(e->str, "{\"id\":")) == e->str)
		last = strtoll(e->str + 6, NULL, 10);
	if (last > 0)
		strbuf_printf(out, "],\"next_before\":%lld}\n", last);
	else
		strbuf_adds(out, "],\"next_before\":null}\n");
	freeReplyObject(r);
	return 1;
}

int
rooms_messages(struct app *app, int64_t room, int64_t before, int limit,
    struct strbuf *out, enum cache_result *res)
{
	struct rkey list, lease;
	struct page p;
	unsigned char rnd[12];
	char token[25];
	int got, lease_rc = 0, i, rc;

	memset(&p, 0, sizeof(p));
	strbuf_init(&p.text);
	list_keys(app, room, &list, &lease);
	if (before != 0 || limit > app->cfg.room_cache_size) {
		*res = CACHE_BYPASS;
		metrics_cache(MFAM_MESSAGES, 2);
		goto sqlite;
	}
	if (cache_sync(app) == -1) {
		*res = CACHE_BYPASS;
		metrics_cache(MFAM_MESSAGES, 2);
		goto sqlite;
	}
	for (i = 0; i <= CACHE_WAIT_TRIES; i++) {
		if ((got = list_read(app, &list, limit, out)) == 1) {
			*res = CACHE_HIT;
			metrics_cache(MFAM_MESSAGES, 0);
			strbuf_free(&p.text);
			return 0;
		}
		/* A miss: the lease token (a syscall for its randomness) is
		 * made only now, off the hit path. */
		if (i == 0) {
			util_random(rnd, sizeof(rnd));
			util_hex(rnd, sizeof(rnd), token);
		}
		if (got == -1 ||
		    (lease_rc = take_lease(app, &list, &lease, token)) == -1) {
			*res = CACHE_BYPASS;
			metrics_cache(MFAM_MESSAGES, 2);
			goto sqlite;
		}
		if (lease_rc == 1)
			break;
		/* 0: another reader is rebuilding; 2: the list appeared (or
		 * the room has no messages yet). Read again after a pause. */
		if (lease_rc == 0) {
			struct timespec ts = { 0, CACHE_WAIT_US * 1000 };
			nanosleep(&ts, NULL);
		}
	}
	*res = CACHE_MISS;
	metrics_cache(MFAM_MESSAGES, 1);
	if (lease_rc == 1) {
		/* Rebuild the whole list, answer the first limit. */
		if (page_read(app, room, 0, (int)app->cfg.room_cache_size,
		    &p) == -1) {
			strbuf_free(&p.text);
			return -1;
		}
		rebuild_store(app, &list, &lease, token, &p);
		page_answer_from(out, &p, limit);
		strbuf_free(&p.text);
		return 0;
	}
sqlite:
	rc = page_read(app, room, before, limit, &p);
	if (rc == 0)
		page_answer_from(out, &p, limit);
	strbuf_free(&p.text);
	return rc;
}

/* The id a cached message text starts with ({"id":N,), or 0. */
static int64_t
text_id(const char *s, size_t len)
{
	if (len < 7 || strncmp(s, "{\"id\":", 6) != 0)
		return 0;
	return strtoll(s + 6, NULL, 10);
}

/*
 * The catch-up read from the cached list. The list is the contiguous run
 * of the room's newest messages (section 4), so when its oldest entry is
 * at or before after, every message newer than after is in it. Returns 1
 * (answered into out), 0 (the list does not reach back that far, or is
 * absent) or -1 (Redis down).
 */
static int
list_after(struct app *app, const struct rkey *list, int64_t after,
    int limit, struct strbuf *out)
{
	redisReply *r, *e;
	struct strbuf items;
	int64_t id, last = 0;
	size_t i;
	int n = 0;

	if ((r = rconn_cmdv(app->cache, "LRANGE", list->s, "0", "-1",
	    NULL)) == NULL)
		return -1;
	if (r->type != REDIS_REPLY_ARRAY || r->elements == 0 ||
	    (e = r->element[r->elements - 1])->type != REDIS_REPLY_STRING ||
	    (id = text_id(e->str, e->len)) == 0 || id > after) {
		freeReplyObject(r);
		return 0;
	}
	strbuf_init(&items);
	/* Newest first in the list; the answer is oldest first. */
	for (i = r->elements; i-- > 0 && n < limit; ) {
		e = r->element[i];
		if (e->type != REDIS_REPLY_STRING ||
		    (id = text_id(e->str, e->len)) <= after)
			continue;
		if (n++ > 0)
			strbuf_add(&items, ",", 1);
		strbuf_add(&items, e->str, e->len);
		last = id;
	}
	page_answer_next(out, "next_after", items.buf ? items.buf : "",
	    items.len, n, limit, last);
	strbuf_free(&items);
	freeReplyObject(r);
	return 1;
}

int
rooms_messages_after(struct app *app, int64_t room, int64_t after,
    int limit, struct strbuf *out, enum cache_result *res)
{
	struct rkey list, lease;
	struct page p;
	int rc;

	list_keys(app, room, &list, &lease);
	if (limit <= app->cfg.room_cache_size && cache_sync(app) == 0 &&
	    list_after(app, &list, after, limit, out) == 1) {
		*res = CACHE_HIT;
		metrics_cache(MFAM_MESSAGES, 0);
		return 0;
	}
	*res = CACHE_BYPASS;
	metrics_cache(MFAM_MESSAGES, 2);
	memset(&p, 0, sizeof(p));
	strbuf_init(&p.text);
	if ((rc = page_read_with(app, SQL_MESSAGES_AFTER, room, after, limit,
	    &p)) == 0)
		page_answer_next(out, "next_after", p.text.buf ? p.text.buf : "",
		    p.text.len, p.n, limit, p.n > 0 ? p.ids[p.n - 1] : 0);
	strbuf_free(&p.text);
	return rc;
}

int
rooms_warm(struct app *app, int n)
{
	sqlite3_stmt *st;
	int64_t rooms[1000];
	struct strbuf out;
	enum cache_result res;
	int count = 0, i, done = 0;

	if (n > 1000)
		n = 1000;
	if ((st = db_stmt(app->db, SQL_ROOMS_RECENT)) == NULL)
		return -1;
	db_bind_int(st, 1, n);
	while (count < n && db_step(app->db, st) == SQLITE_ROW)
		rooms[count++] = sqlite3_column_int64(st, 0);
	db_reset(st);
	strbuf_init(&out);
	for (i = 0; i < count; i++) {
		if (rooms_messages(app, rooms[i], 0,
		    (int)app->cfg.room_cache_size, &out, &res) == -1 ||
		    res == CACHE_BYPASS)
			break;
		done++;
	}
	strbuf_free(&out);
	return i < count && done == 0 && count > 0 ? -1 : done;
}
