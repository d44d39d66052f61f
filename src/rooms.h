/*
 * rooms: rooms, members and messages in SQLite. A posted message is
 * pushed to the room list and the first page is read through it; the
 * list itself (its scripts, leases and invariant) belongs to the cache
 * (cache_list.c).
 */
#ifndef CHATDESK_ROOMS_H
#define CHATDESK_ROOMS_H

#include <stdint.h>

#include <jansson.h>

#include "cache.h"

struct app;

#define ROOMS_BODY_MAX		4096
#define ROOMS_NAME_MAX		100
#define ROOMS_MEMBERS_MAX	1000
#define ROOMS_PAGE_MAX		100	/* limit and room_cache_size cap */

/* Creates a room with its members (creator included) in one
 * transaction. Returns the id, or 0 on error. */
int64_t rooms_create(struct app *, const char *name, int64_t creator,
    const int64_t *members, size_t nmembers);
/* The room object of API.md, or NULL if none (*err set on error). */
json_t *rooms_get(struct app *, int64_t id, int *err);
/* 1 exists, 0 not, -1 error. */
int rooms_exists(struct app *, int64_t room);
/* 1 member, 0 not, -1 error. */
int rooms_is_member(struct app *, int64_t room, int64_t user);
int rooms_add_member(struct app *, int64_t room, int64_t user);

/* Appends a page of rooms to arr: all (user 0) or the user's. Returns the
 * count, or -1. */
int rooms_list(struct app *, int64_t user, int64_t before, int limit,
    json_t *arr);

/* Stores a message and pushes it to the room list. Returns 0 with the
 * message JSON text in out and its id in *idp, or -1. */
int rooms_post(struct app *, int64_t room, int64_t user, const char *body,
    size_t len, struct strbuf *out, int64_t *idp);

/*
 * Writes {"messages":[...],"next_before":...} for a page into out: from
 * the list when before is 0 and limit <= room_cache_size (HIT, or MISS
 * and a rebuild), else from SQLite (BYPASS). Returns 0 or -1.
 */
int rooms_messages(struct app *, int64_t room, int64_t before, int limit,
    struct strbuf *out, enum cache_result *res);

/* Queues the read of room's list head to go out with this request's
 * next cached read (cache_list_ahead). */
void rooms_messages_ahead(struct app *, int64_t room);

/*
 * Writes {"messages":[...],"next_after":...}: the messages newer than
 * after, oldest first, at most limit (API.md section 8's catch-up read).
 * From the list when it reaches back to after (HIT), else from SQLite,
 * archived rows included (BYPASS). Returns 0 or -1.
 */
int rooms_messages_after(struct app *, int64_t room, int64_t after,
    int limit, struct strbuf *out, enum cache_result *res);

/* Rebuilds the lists of the n most recently active rooms. Returns the
 * number rebuilt, or -1 if Redis is down. */
int rooms_warm(struct app *, int n);

#endif
