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

/* A db_id_fn: the id onto the JSON array arg. */
static int
id_add(void *arg, int64_t id)
{
	json_array_append_new(arg, json_integer(id));
	return 0;
}

static json_t *
room_json(struct app *app, const struct db_room *r, int *err)
{
	char created[UTIL_TIME_LEN];
	json_t *ids, *room;

	ids = json_array();
	if (db_room_members(app->db, r->id, id_add, ids) == -1) {
		json_decref(ids);
		*err = 1;
		return NULL;
	}
	util_format_time(r->created_at, created);
	room = json_pack("{s:I, s:s, s:s, s:o}", "id", (json_int_t)r->id,
	    "name", r->name, "created_at", created, "member_ids", ids);
	if (room == NULL)
		*err = 1;
	return room;
}

int64_t
rooms_create(struct app *app, const char *name, int64_t creator,
    const int64_t *members, size_t nmembers)
{
	int64_t id;
	size_t i;

	if (db_begin(app->db) == -1)
		return 0;
	if (db_room_insert(app->db, name, creator, util_now_ms(), &id) == -1)
		goto fail;
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
	return db_room_member_add(app->db, room, user, util_now_ms());
}

struct room_arg {
	struct app	*app;
	json_t		*room;		/* rooms_get's */
	json_t		*arr;		/* rooms_list's */
	int		 n;
	int		 err;
};

/* A db_room_fn: the room's object into a room_arg, or onto its array. */
static int
room_add(void *arg, const struct db_room *r)
{
	struct room_arg *a = arg;
	json_t *room;

	if ((room = room_json(a->app, r, &a->err)) == NULL)
		return a->err ? -1 : 0;
	if (a->arr == NULL) {
		a->room = room;
		return 0;
	}
	json_array_append_new(a->arr, room);
	a->n++;
	return 0;
}

json_t *
rooms_get(struct app *app, int64_t id, int *err)
{
	struct room_arg a = { app, NULL, NULL, 0, 0 };

	if (db_room_get(app->db, id, room_add, &a) == -1)
		a.err = 1;
	*err = a.err;
	return a.room;
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

/* 1 if the fact (the room exists for user 0) is known, else SQLite's
 * answer: 1, 0 or -1. */
static int
seen_check(struct app *app, int64_t room, int64_t user)
{
	size_t slot = seen_slot(room, user);
	int rc;

	if (seen[slot].room == room && seen[slot].user == user)
		return 1;
	rc = user == 0 ? db_room_exists(app->db, room) :
	    db_room_is_member(app->db, room, user);
	if (rc == 1) {
		seen[slot].room = room;
		seen[slot].user = user;
	}
	return rc;
}

int
rooms_exists(struct app *app, int64_t room)
{
	return seen_check(app, room, 0);
}

int
rooms_is_member(struct app *app, int64_t room, int64_t user)
{
	return seen_check(app, room, user);
}

int
rooms_list(struct app *app, int64_t user, int64_t before, int limit,
    json_t *arr)
{
	struct room_arg a = { app, NULL, arr, 0, 0 };

	/* room_json reads the members with another statement: collecting
	 * the ids first would be tidier, but SQLite allows one statement to
	 * step inside another. */
	if (db_rooms_page(app->db, user, before, limit, room_add, &a) == -1)
		return -1;
	return a.n;
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
	struct rkey list;
	int64_t now = util_now_ms(), id, prev = 0;

	/* The previous message of the room, read in the insert's write
	 * transaction, tells the push script whether the list is whole. */
	if (db_begin(app->db) == -1)
		return -1;
	if (db_room_last_message(app->db, room, &prev) == -1 ||
	    db_message_insert(app->db, room, user, body, len, now, &id) == -1)
		goto fail;
	*idp = id;
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

/* A db_message_fn: the message's text onto the cache_page arg, which
 * takes CACHE_PAGE_MAX at most. */
static int
page_add(void *arg, const struct db_message *m)
{
	struct cache_page *p = arg;

	if (p->n >= CACHE_PAGE_MAX)
		return 1;
	cache_page_begin(p, m->id);
	message_text(&p->text, m->id, m->room_id, m->user_id, m->body, m->len,
	    m->created_at);
	cache_page_end(p);
	return p->n >= CACHE_PAGE_MAX;
}

/* Reads a page with read: db_messages_page (before, newest first) or
 * db_messages_after (bound is after, oldest first). A full page is a
 * page, whatever the read did after it. */
static int
page_read_with(struct page_arg *a, int (*read)(struct db *, int64_t,
    int64_t, int, db_message_fn *, void *), int64_t bound, int limit,
    struct cache_page *p)
{
	int rc;

	p->n = 0;
	strbuf_reset(&p->text);
	rc = read(a->app->db, a->room, bound, limit, page_add, p);
	return p->n == CACHE_PAGE_MAX || rc != -1 ? 0 : -1;
}

/* A page of the room's messages from SQLite, newest first. */
static int
page_read(void *arg, int64_t before, int limit, struct cache_page *p)
{
	return page_read_with(arg, db_messages_page,
	    before ? before : INT64_MAX, limit, p);
}

/* The messages newer than after, oldest first, archived rows included. */
static int
page_read_after(void *arg, int64_t after, int limit, struct cache_page *p)
{
	return page_read_with(arg, db_messages_after, after, limit, p);
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

void
rooms_messages_ahead(struct app *app, int64_t room)
{
	struct rkey list;

	list_key(app, room, &list);
	cache_list_ahead(app->cache, &list);
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
	int64_t rooms[1000];
	struct db_ids r = { rooms, 0, 0 };
	struct strbuf out;
	enum cache_result res;
	int count, i, done = 0;

	if (n > 1000)
		n = 1000;
	r.max = n;
	/* A read that fails warms the rooms it found first. */
	if (db_rooms_recent(app->db, n, db_ids_keep, &r) == -1 && r.n == 0)
		return -1;
	count = r.n;
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
