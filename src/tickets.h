/*
 * tickets: tickets, interactions, notifications and stats in SQLite; the
 * cache entries ticket:{id} and stats:user:{id}:days:{d}; the tasks each
 * change enqueues through the outbox (API.md sections 3 to 5).
 */
#ifndef CHATDESK_TICKETS_H
#define CHATDESK_TICKETS_H

#include <stdint.h>

#include <jansson.h>

#include "cache.h"

struct app;

#define TICKETS_SUBJECT_MAX	200
#define TICKETS_BODY_MAX	10000

extern const char *const tickets_statuses[];	/* open pending closed */
extern const char *const tickets_priorities[];	/* low normal high urgent */

/*
 * The notification events (API.md section 5): what a ticket's change
 * tells the people on it. A send_notifications task carries the name in
 * its payload's "event", and each notification it writes stores it.
 */
enum tickets_event {
	TICKETS_EVENT_CREATED,		/* to every staff user */
	TICKETS_EVENT_COMMENT,		/* to the requester and the assignee */
	TICKETS_EVENT_STATUS,		/* to the requester and the assignee */
	TICKETS_EVENT__MAX
};
extern const char *const tickets_events[TICKETS_EVENT__MAX];
/* The event named name, or -1 if there is none by that name. */
int tickets_event_of(const char *name);

/* A ticket as read, for the rules of the routes. */
struct ticket {
	int64_t		 id;
	char		 subject[TICKETS_SUBJECT_MAX + 1];
	char		 status[16];
	char		 priority[16];
	int64_t		 requester_id;
	int64_t		 assignee_id;	/* 0: none */
	int64_t		 created_at;
	int64_t		 updated_at;
	int64_t		 last_activity_at;
	int64_t		 closed_at;	/* 0: not closed */
};

/* Reads a ticket from SQLite: 0 found, 1 none, -1 error. */
int tickets_load(struct app *, int64_t id, struct ticket *);
/* The ticket object of API.md. */
json_t *tickets_json(const struct ticket *);

/* Queues the cached record's read to go out with this request's next
 * cached read (cache_get_ahead). */
void tickets_get_ahead(struct app *, int64_t id);

/* Cache-aside read of ticket:{id} as JSON text and, when requester is
 * not NULL, the ticket's requester id (0 if the text holds none): 0, 1
 * none, -1 error. */
int tickets_get_cached(struct app *, int64_t id, struct strbuf *out,
    enum cache_result *, int64_t *requester);

/* Creates a ticket with its first interaction and a ticket_created task.
 * Returns the id, or 0. */
int64_t tickets_create(struct app *, int64_t requester, const char *subject,
    const char *body, size_t blen, const char *priority);

/* What a PATCH asks to change; NULL (or has_assignee 0) leaves a field. */
struct ticket_change {
	const char	*status;
	const char	*priority;
	int		 has_assignee;
	int64_t		 assignee_id;	/* 0: none */
	const char	*subject;
	size_t		 subject_len;
};

/*
 * In one write transaction: reads the ticket, applies the change, and if
 * the status moved adds one status_change interaction by actor and one
 * status_changed task. Commits, pushes the task, invalidates the caches.
 * Returns 0 with the new ticket in *t, 1 if there is no such ticket, -1.
 */
int tickets_update(struct app *, int64_t id, const struct ticket_change *,
    int64_t actor, struct ticket *t);

/* Adds a comment by author in one write transaction; a requester's
 * comment reopens a closed ticket. Returns 0 with the interaction JSON
 * text in out and its id in *iidp, 1 if there is no such ticket, or -1. */
int tickets_comment(struct app *, int64_t id, int64_t author,
    const char *body, size_t len, struct strbuf *out, int64_t *iidp);

/* Pages (newest first in SQL): see the routes. Return counts or -1.
 * A non-zero after pages forward instead: the items newer than after,
 * oldest first (before is then ignored). */
int tickets_page(struct app *, int64_t before, int64_t requester,
    const char *status, int64_t assignee, int limit, json_t *arr);
int tickets_interactions(struct app *, int64_t ticket, int64_t before,
    int64_t after, int limit, json_t *arr);
int tickets_notifications(struct app *, int64_t user, int64_t before,
    int64_t after, int unread, int limit, json_t *arr);
/* Marks the caller's notifications read (ids, or all when ids NULL). */
int tickets_notifications_read(struct app *, int64_t user,
    const int64_t *ids, size_t n);

/* Stats of user over days: JSON text (cached) into out. 0, 1, -1. */
int tickets_stats(struct app *, int64_t user, int staff, int days,
    struct strbuf *out, enum cache_result *);

#define TICKETS_BATCH_MAX	500

/* Closes up to limit open or pending tickets inactive since cutoff, in one
 * transaction (system status_change, status_changed task each), then
 * invalidates their caches. A batch that finds fewer than limit is the
 * last: if done_task is not NULL, that task is marked done in its
 * transaction. Returns the count, or -1. */
int tickets_close_inactive(struct app *, int64_t cutoff, int limit,
    const char *done_task);

/* Deletes stats:user:{id}:days:* (and their leases) after a change. */
void tickets_forget_stats(struct app *, int64_t user);
/* Deletes ticket:{id} after a change. */
void tickets_forget(struct app *, int64_t id);

#endif
