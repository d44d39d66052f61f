/*
 * api: the route table and the handlers, one file per resource
 * (api_health.c, api_users.c, ...). A handler reads like the contract it
 * implements: it validates, calls db/cache/queue, and answers.
 */
#ifndef CHATDESK_API_H
#define CHATDESK_API_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "router.h"

struct app;
struct req;
struct strbuf;

extern const struct route api_routes[];
extern const size_t api_nroutes;

/*
 * Checks the caller against the route's access level: authenticates the
 * bearer token when one is needed and sets req->user_id. Returns 0, or -1
 * after answering 401, 403 or 404.
 */
int api_check_access(struct app *, struct req *, int access);

/*
 * Field helpers: validate or reply. Each returns 1 when the field is
 * present and valid (value in the out parameters), 0 when it is absent
 * (or null, where null is allowed) and not required, and -1 after
 * answering 400 invalid_field naming the field.
 */
#define FIELD_REQUIRED	0x1
#define FIELD_NULLABLE	0x2

/* A string of min..max bytes; a required one may not be only white space. */
int api_field_str(struct req *, const char *name, size_t min, size_t max,
    int flags, const char **s, size_t *len);
/* An id (a positive integer). With FIELD_NULLABLE, null sets *id to 0. */
int api_field_id(struct req *, const char *name, int flags, int64_t *id);
/* One of the NULL-terminated choices; *idx is its index. */
int api_field_enum(struct req *, const char *name, const char *const *choices,
    int flags, int *idx);

/* Answers 201 with Location: prefix followed by the id. */
void api_created(struct req *, json_t *body, const char *prefix, int64_t id);

/*
 * api_page.c. Query parameter helpers: validate or reply, like the field
 * helpers. Each returns 1 when the parameter is present and valid (value
 * in the out parameter), 0 when it is absent (the default, or 0, in the
 * out parameter), and -1 after answering 400 invalid_field naming it.
 */
/* A decimal integer in min..max. */
int api_query_int(struct req *, const char *name, long long min,
    long long max, long long def, long long *out);
/* An id (a positive integer); absent is 0. */
int api_query_id(struct req *, const char *name, int64_t *id);
/* One of the NULL-terminated choices; *idx is its index. */
int api_query_enum(struct req *, const char *name,
    const char *const *choices, int *idx);
/* ID,ID,... (absent or empty: none) into ids, sorted, without duplicates,
 * at most max: returns the count (not 1), or -1 after answering 400. */
int api_query_ids(struct req *, const char *name, int max, int64_t *ids);

#define API_PAGE_MAX	100	/* ?limit= of every list route */

/* Reads ?limit= (1..API_PAGE_MAX, default def) and ?before= (an id, 0 if
 * absent). Returns 0, or -1 after answering 400. */
int api_page_params(struct req *, int def, int *limit, int64_t *before);

/* The same, and ?after= (an id, 0 if absent): after and before together
 * are 400. Returns 0, or -1 after answering 400. */
int api_page_params_after(struct req *, int def, int *limit, int64_t *before,
    int64_t *after);

/* The "id" of item i of items (0 if it has none). */
int64_t api_item_id(const json_t *items, size_t i);

/*
 * The one page answer of the lists read from SQLite, built as the cached
 * lists' (cache_page_answer): 200 {"<field>":[items],"<next>":next_id},
 * next being "next_before" or "next_after", next_id 0 answering null.
 * Takes the reference to items.
 */
void api_page_answer(struct req *, const char *field, json_t *items,
    const char *next, int64_t next_id);

/*
 * Answers 201 with text, item id that has no route of its own: Location
 * names the page of collection that holds exactly it,
 * collection?before=id+1&limit=1. Adds the final newline.
 */
void api_created_in_page(struct req *, int64_t id, struct strbuf *text,
    const char *collection);

/*
 * Visibility (API.md section 2): staff see every room and ticket that
 * exists; a customer the rooms it is a member of and the tickets it
 * requested. Anything else is 404, the same answer as for one that does
 * not exist. Return 0, or -1 after answering. api_ticket_visible loads
 * the ticket into *t.
 */
int api_room_visible(struct app *, struct req *, int64_t room);
struct ticket;
int api_ticket_visible(struct app *, struct req *, int64_t id,
    struct ticket *t);

/* GET /api/v1/health */
void api_health(struct app *, struct req *, const int64_t *);

/* api_users.c */
void api_users_create(struct app *, struct req *, const int64_t *);
void api_users_me(struct app *, struct req *, const int64_t *);
void api_users_get(struct app *, struct req *, const int64_t *);
void api_users_patch(struct app *, struct req *, const int64_t *);
void api_users_token(struct app *, struct req *, const int64_t *);
void api_tokens_revoke(struct app *, struct req *, const int64_t *);
void api_users_list(struct app *, struct req *, const int64_t *);
void api_users_tokens_list(struct app *, struct req *, const int64_t *);
void api_users_tokens_revoke(struct app *, struct req *, const int64_t *);
void api_users_token_revoke(struct app *, struct req *, const int64_t *);

/* api_sessions.c */
void api_sessions_create(struct app *, struct req *, const int64_t *);

/* api_rooms.c */
void api_rooms_create(struct app *, struct req *, const int64_t *);
void api_rooms_list(struct app *, struct req *, const int64_t *);
void api_rooms_get(struct app *, struct req *, const int64_t *);
void api_rooms_add_member(struct app *, struct req *, const int64_t *);
void api_messages_post(struct app *, struct req *, const int64_t *);
void api_messages_list(struct app *, struct req *, const int64_t *);
void api_messages_ahead(struct app *, struct req *, const int64_t *);

/* api_admin.c */
void api_metrics(struct app *, struct req *, const int64_t *);
void api_cache_stats(struct app *, struct req *, const int64_t *);
void api_cache_invalidate(struct app *, struct req *, const int64_t *);
void api_cache_clear(struct app *, struct req *, const int64_t *);
void api_queue_stats(struct app *, struct req *, const int64_t *);
void api_queue_retry(struct app *, struct req *, const int64_t *);
void api_queue_clear(struct app *, struct req *, const int64_t *);

/* api_tickets.c */
void api_tickets_create(struct app *, struct req *, const int64_t *);
void api_tickets_list(struct app *, struct req *, const int64_t *);
void api_tickets_get(struct app *, struct req *, const int64_t *);
void api_tickets_get_ahead(struct app *, struct req *, const int64_t *);
void api_tickets_patch(struct app *, struct req *, const int64_t *);
void api_interactions_post(struct app *, struct req *, const int64_t *);
void api_interactions_list(struct app *, struct req *, const int64_t *);

/* api_notifications.c */
void api_notifications_list(struct app *, struct req *, const int64_t *);
void api_notifications_read(struct app *, struct req *, const int64_t *);

/* api_stats.c */
void api_stats_user(struct app *, struct req *, const int64_t *);

/* api_events.c: live events (API.md section 8) */
void api_events_subscribe(struct app *, struct req *, const int64_t *);
void api_events_ticket(struct app *, struct req *, const int64_t *);
void api_events_join(struct app *, struct req *, const int64_t *);
void api_events_leave(struct app *, struct req *, const int64_t *);
void api_rooms_typing(struct app *, struct req *, const int64_t *);
void api_rooms_presence(struct app *, struct req *, const int64_t *);

#endif
