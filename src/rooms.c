/* rooms: see rooms.h. */
#include "autoconf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "db.h"
#include "events.h"
#include "log.h"
#include "metrics.h"
#include "rooms.h"
#include "util.h"

static void
list_key(struct app *app, int64_t room, struct rkey *list)
{
	keys_messages(cache_keys(app->cache), list, room);
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
    size_t len, struct strbuf *out, int64_t *idp)
{
	sqlite3_stmt *st;
	struct rkey list;
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
	*idp = id = db_last_id(app->db);
	if (db_commit(app->db) == -1)
		return -1;
	strbuf_reset(out);
	message_text(out, id, room, user, body, len, now);
	list_key(app, room, &list);
	cache_list_push(app->cache, &list, id, prev, out);
	publish_message(app, room, out);
	return 0;
fail:
	db_rollback(app->db);
	return -1;
}

struct page_arg {
	struct app	*app;
	int64_t		 room;
};

/* Reads a page with s: SQL_MESSAGES_PAGE (before, newest first) or
 * SQL_MESSAGES_AFTER (bound is after, oldest first). */
static int
page_read_with(struct page_arg *a, enum sqlstmt s, int64_t bound, int limit,
    struct cache_page *p)
{
	struct db *db = a->app->db;
	sqlite3_stmt *st;
	int rc = SQLITE_DONE;

	if ((st = db_stmt(db, s)) == NULL)
		return -1;
	db_bind_int(st, 1, a->room);
	db_bind_int(st, 2, bound);
	db_bind_int(st, 3, limit);
	p->n = 0;
	strbuf_reset(&p->text);
	while (p->n < CACHE_PAGE_MAX && (rc = db_step(db, st)) == SQLITE_ROW) {
		cache_page_begin(p, sqlite3_column_int64(st, 0));
		message_text(&p->text, sqlite3_column_int64(st, 0),
		    sqlite3_column_int64(st, 1), sqlite3_column_int64(st, 2),
		    (const char *)sqlite3_column_text(st, 3),
		    (size_t)sqlite3_column_bytes(st, 3),
		    sqlite3_column_int64(st, 4));
		cache_page_end(p);
	}
	db_reset(st);
	return p->n == CACHE_PAGE_MAX || rc == SQLITE_DONE ? 0 : -1;
}

/* A page of the room's messages from SQLite, newest first. */
static int
page_read(void *arg, int64_t before, int limit, struct cache_page *p)
{
	return page_read_with(arg, SQL_MESSAGES_PAGE,
	    before ? before : INT64_MAX, limit, p);
}

/* The messages newer than after, oldest first, archived rows included. */
static int
page_read_after(void *arg, int64_t after, int limit, struct cache_page *p)
{
	return page_read_with(arg, SQL_MESSAGES_AFTER, after, limit, p);
}

int
rooms_messages(struct app *app, int64_t room, int64_t before, int limit,
    struct strbuf *out, enum cache_result *res)
{
	struct page_arg a = { app, room };
	struct rkey list;

	list_key(app, room, &list);
	return cache_list_get(app->cache, &list, "messages", before, limit,
	    page_read, &a, out, res);
}

int
rooms_messages_after(struct app *app, int64_t room, int64_t after,
    int limit, struct strbuf *out, enum cache_result *res)
{
	struct page_arg a = { app, room };
	struct rkey list;

	list_key(app, room, &list);
	return cache_list_after(app->cache, &list, "messages", after, limit,
	    page_read_after, &a, out, res);
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
