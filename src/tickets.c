/* tickets: see tickets.h. */
#include "autoconf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "db.h"
#include "events.h"
#include "log.h"
#include "queue.h"
#include "tickets.h"
#include "util.h"

const char *const tickets_statuses[] = { "open", "pending", "closed", NULL };
const char *const tickets_priorities[] = {
	"low", "normal", "high", "urgent", NULL
};

const char *const tickets_events[TICKETS_EVENT__MAX] = {
	[TICKETS_EVENT_CREATED] = "ticket_created",
	[TICKETS_EVENT_COMMENT] = "comment_added",
	[TICKETS_EVENT_STATUS] = "status_changed",
};

int
tickets_event_of(const char *name)
{
	int i;

	for (i = 0; i < TICKETS_EVENT__MAX; i++)
		if (strcmp(tickets_events[i], name) == 0)
			return i;
	return -1;
}

static void
copy_text(char *dst, size_t sz, const char *s)
{
	snprintf(dst, sz, "%s", s ? s : "");
}

/* A db_ticket_fn: the row into the struct ticket arg. */
static int
ticket_from_row(void *arg, const struct db_ticket *r)
{
	struct ticket *t = arg;

	t->id = r->id;
	copy_text(t->subject, sizeof(t->subject), r->subject);
	copy_text(t->status, sizeof(t->status), r->status);
	copy_text(t->priority, sizeof(t->priority), r->priority);
	t->requester_id = r->requester_id;
	t->assignee_id = r->assignee_id;
	t->created_at = r->created_at;
	t->updated_at = r->updated_at;
	t->last_activity_at = r->last_activity_at;
	t->closed_at = r->closed_at;
	return 0;
}

int
tickets_load(struct app *app, int64_t id, struct ticket *t)
{
	return db_ticket_get(app->db, id, ticket_from_row, t);
}

static json_t *
time_or_null(int64_t ms)
{
	char buf[UTIL_TIME_LEN];

	if (ms == 0)
		return json_null();
	util_format_time(ms, buf);
	return json_string(buf);
}

static json_t *
id_or_null(int64_t id)
{
	return id == 0 ? json_null() : json_integer(id);
}

json_t *
tickets_json(const struct ticket *t)
{
	return json_pack("{s:I, s:s, s:s, s:s, s:I, s:o, s:o, s:o, s:o, s:o}",
	    "id", (json_int_t)t->id, "subject", t->subject, "status", t->status,
	    "priority", t->priority, "requester_id", (json_int_t)t->requester_id,
	    "assignee_id", id_or_null(t->assignee_id),
	    "created_at", time_or_null(t->created_at),
	    "updated_at", time_or_null(t->updated_at),
	    "last_activity_at", time_or_null(t->last_activity_at),
	    "closed_at", time_or_null(t->closed_at));
}

static int
dump_cb(const char *buf, size_t size, void *data)
{
	strbuf_add(data, buf, size);
	return 0;
}

struct ticket_arg {
	struct app	*app;
	int64_t		 id;
};

static int
ticket_fill(void *arg, struct strbuf *out)
{
	struct ticket_arg *a = arg;
	struct ticket t;
	json_t *j;
	int rc;

	if ((rc = tickets_load(a->app, a->id, &t)) != 0)
		return rc;
	if ((j = tickets_json(&t)) == NULL)
		return -1;
	rc = json_dump_callback(j, dump_cb, out, JSON_COMPACT) == 0 ? 0 : -1;
	json_decref(j);
	return rc;
}

int
tickets_get_cached(struct app *app, int64_t id, struct strbuf *out,
    enum cache_result *res, int64_t *requester)
{
	struct ticket_arg a = { app, id };
	struct rkey k;
	json_t *j;
	int rc;

	keys_ticket(cache_keys(app->cache), &k, id);
	rc = cache_get(app->cache, &k, app->cfg.record_ttl, ticket_fill, &a,
	    out, res);
	if (rc == 0 && requester != NULL) {
		/* A hit holds only the text (authenticated, and made by
		 * ticket_fill): the requester is read back from it, here
		 * only. */
		j = json_loadb(out->buf, out->len, 0, NULL);
		*requester = json_integer_value(json_object_get(j,
		    "requester_id"));
		json_decref(j);
	}
	return rc;
}

void
tickets_get_ahead(struct app *app, int64_t id)
{
	struct rkey k;

	keys_ticket(cache_keys(app->cache), &k, id);
	cache_get_ahead(app->cache, &k);
}

void
tickets_forget(struct app *app, int64_t id)
{
	struct rkey k;

	keys_ticket(cache_keys(app->cache), &k, id);
	cache_invalidate(app->cache, &k, 1);
}

void
tickets_forget_stats(struct app *app, int64_t user)
{
	struct rkey glob;

	if (user == 0)
		return;
	keys_stats_glob(cache_keys(app->cache), &glob, user);
	cache_invalidate_glob(app->cache, &glob);
}

/* Adds an interaction inside the caller's transaction. Returns its id. */
static int64_t
add_interaction(struct app *app, int64_t ticket, int64_t author,
    const char *kind, const char *body, size_t len, int64_t now)
{
	int64_t id;

	if (db_interaction_insert(app->db, ticket, author, kind, body, len, now,
	    &id) == -1)
		return 0;
	return id;
}

/* Writes the send_notifications task into the outbox (same transaction).
 * actor 0 is the system (null). Returns the outbox row, or 0. */
static int64_t
add_notify_task(struct app *app, int64_t ticket, enum tickets_event event,
    int64_t actor)
{
	return queue_outbox_add(app->queue, "send_notifications",
	    json_pack("{s:I, s:s, s:o}", "ticket_id", (json_int_t)ticket,
	    "event", tickets_events[event], "actor_id", id_or_null(actor)));
}

static json_t *interaction_json(int64_t id, int64_t ticket, int64_t author,
    const char *kind, const char *body, size_t len, int64_t created);

/*
 * After a committed change (API.md section 8): interaction.created for
 * the new interaction (if any; its reference is stolen), then
 * ticket.updated, to the requester's and the assignee's own channels
 * (and a former assignee's, who learns it was unassigned) and the
 * ticket's, and to every agent's and admin's (the staff channel: an
 * inbox shows a new or changed ticket nobody is assigned to).
 */
static void
publish_ticket(struct app *app, const struct ticket *t, int64_t old_assignee,
    json_t *interaction)
{
	struct events_chans ch;

	events_chans_init(&ch);
	events_chans_add(&ch, "user", t->requester_id);
	events_chans_add(&ch, "user", t->assignee_id);
	events_chans_add(&ch, "user", old_assignee);
	events_chans_add(&ch, "ticket", t->id);
	events_chans_add_name(&ch, EVENTS_CHAN_STAFF);
	if (interaction != NULL)
		events_emit(app->events, &ch, json_pack("{s:s, s:I, s:o}",
		    "type", "interaction.created", "ticket_id",
		    (json_int_t)t->id, "interaction", interaction));
	events_emit(app->events, &ch, json_pack("{s:s, s:o}", "type",
	    "ticket.updated", "ticket", tickets_json(t)));
}

int64_t
tickets_create(struct app *app, int64_t requester, const char *subject,
    const char *body, size_t blen, const char *priority)
{
	struct ticket t;
	int64_t now = util_now_ms(), id, task, iid;

	if (db_begin(app->db) == -1)
		return 0;
	if (db_ticket_insert(app->db, subject, priority, requester, now,
	    &id) == -1)
		goto fail;
	if ((iid = add_interaction(app, id, requester, "comment", body, blen,
	    now)) == 0 ||
	    (task = add_notify_task(app, id, TICKETS_EVENT_CREATED,
	    requester)) == 0)
		goto fail;
	if (db_commit(app->db) == -1)
		return 0;
	queue_flush(app->queue, &task, 1);
	tickets_forget_stats(app, requester);
	if (tickets_load(app, id, &t) == 0)
		publish_ticket(app, &t, 0, interaction_json(iid, id, requester,
		    "comment", body, blen, now));
	return id;
fail:
	db_rollback(app->db);
	return 0;
}

static int
write_ticket(struct app *app, const struct ticket *t)
{
	struct db_ticket r = {
		.id = t->id, .subject = t->subject, .status = t->status,
		.priority = t->priority, .requester_id = t->requester_id,
		.assignee_id = t->assignee_id, .created_at = t->created_at,
		.updated_at = t->updated_at,
		.last_activity_at = t->last_activity_at,
		.closed_at = t->closed_at
	};

	return db_ticket_update(app->db, &r);
}

/* After a committed change: the ticket's entry and the stats of everyone
 * it involves (before and after). */
static void
forget_after(struct app *app, const struct ticket *old, const struct ticket *t)
{
	tickets_forget(app, t->id);
	tickets_forget_stats(app, t->requester_id);
	tickets_forget_stats(app, t->assignee_id);
	if (old != NULL && old->assignee_id != t->assignee_id)
		tickets_forget_stats(app, old->assignee_id);
}

int
tickets_update(struct app *app, int64_t id, const struct ticket_change *c,
    int64_t actor, struct ticket *t)
{
	struct ticket old;
	char body[96];
	int64_t now = util_now_ms(), task = 0, iid = 0;
	int moved, rc;

	if (db_begin(app->db) == -1)
		return -1;
	/* Read inside the write transaction: a concurrent change to the
	 * same ticket is seen, not overwritten, and "did the status move"
	 * is decided once. */
	if ((rc = tickets_load(app, id, &old)) != 0) {
		db_rollback(app->db);
		return rc;
	}
	*t = old;
	if (c->status != NULL)
		snprintf(t->status, sizeof(t->status), "%s", c->status);
	if (c->priority != NULL)
		snprintf(t->priority, sizeof(t->priority), "%s", c->priority);
	if (c->has_assignee)
		t->assignee_id = c->assignee_id;
	if (c->subject != NULL)
		snprintf(t->subject, sizeof(t->subject), "%.*s",
		    (int)c->subject_len, c->subject);
	moved = strcmp(old.status, t->status) != 0;
	t->updated_at = now;
	if (moved) {
		t->last_activity_at = now;
		t->closed_at = strcmp(t->status, "closed") == 0 ? now : 0;
		snprintf(body, sizeof(body), "status changed from %s to %s",
		    old.status, t->status);
		if ((iid = add_interaction(app, t->id, actor, "status_change",
		    body, strlen(body), now)) == 0 ||
		    (task = add_notify_task(app, t->id, TICKETS_EVENT_STATUS,
		    actor)) == 0)
			goto fail;
	}
	if (write_ticket(app, t) == -1)
		goto fail;
	if (db_commit(app->db) == -1)
		return -1;
	if (task)
		queue_flush(app->queue, &task, 1);
	forget_after(app, &old, t);
	publish_ticket(app, t, old.assignee_id, iid == 0 ? NULL :
	    interaction_json(iid, t->id, actor, "status_change", body,
	    strlen(body), now));
	return 0;
fail:
	db_rollback(app->db);
	return -1;
}

/* The interaction object of API.md. */
static json_t *
interaction_json(int64_t id, int64_t ticket, int64_t author, const char *kind,
    const char *body, size_t len, int64_t created)
{
	return json_pack("{s:I, s:I, s:o, s:s, s:s%, s:o}", "id", (json_int_t)id,
	    "ticket_id", (json_int_t)ticket, "author_id", id_or_null(author),
	    "kind", kind, "body", body, len, "created_at", time_or_null(created));
}

int
tickets_comment(struct app *app, int64_t id, int64_t author, const char *body,
    size_t len, struct strbuf *out, int64_t *iidp)
{
	struct ticket old, t;
	int64_t now = util_now_ms(), iid, task;
	json_t *j;
	int rc;

	if (db_begin(app->db) == -1)
		return -1;
	/* Read inside the write transaction, as tickets_update does. */
	if ((rc = tickets_load(app, id, &old)) != 0) {
		db_rollback(app->db);
		return rc;
	}
	t = old;
	t.updated_at = t.last_activity_at = now;
	/* The requester's comment on a closed ticket reopens it; the task is
	 * still one comment_added (API.md section 5). */
	if (author == t.requester_id && strcmp(t.status, "closed") == 0) {
		snprintf(t.status, sizeof(t.status), "open");
		t.closed_at = 0;
	}
	if ((iid = add_interaction(app, t.id, author, "comment", body, len,
	    now)) == 0 || write_ticket(app, &t) == -1 ||
	    (task = add_notify_task(app, t.id, TICKETS_EVENT_COMMENT,
	    author)) == 0) {
		db_rollback(app->db);
		return -1;
	}
	if (db_commit(app->db) == -1)
		return -1;
	queue_flush(app->queue, &task, 1);
	forget_after(app, &old, &t);
	if ((j = interaction_json(iid, t.id, author, "comment", body, len,
	    now)) == NULL)
		return -1;
	strbuf_reset(out);
	json_dump_callback(j, dump_cb, out, JSON_COMPACT);
	*iidp = iid;
	publish_ticket(app, &t, 0, j);
	return 0;
}

/* A db_ticket_fn: the ticket's object onto the JSON array arg. */
static int
ticket_add(void *arg, const struct db_ticket *r)
{
	struct ticket t;

	ticket_from_row(&t, r);
	json_array_append_new(arg, tickets_json(&t));
	return 0;
}

int
tickets_page(struct app *app, int64_t before, int64_t requester,
    const char *status, int64_t assignee, int limit, json_t *arr)
{
	return db_tickets_page(app->db, before ? before : INT64_MAX, requester,
	    status, assignee, limit, ticket_add, arr);
}

struct interactions_arg {
	json_t	*arr;
	int	 after;
	size_t	 n;
};

/* A db_interaction_fn: the interaction's object into the array. */
static int
interaction_add(void *arg, const struct db_interaction *i)
{
	struct interactions_arg *a = arg;

	/* Newest first from SQL for a before page, which is shown oldest
	 * first; an after page is oldest first already. */
	json_array_insert_new(a->arr, a->after ? a->n : 0, interaction_json(
	    i->id, i->ticket_id, i->author_id, i->kind, i->body, i->len,
	    i->created_at));
	a->n++;
	return 0;
}

int
tickets_interactions(struct app *app, int64_t ticket, int64_t before,
    int64_t after, int limit, json_t *arr)
{
	struct interactions_arg a = { arr, after != 0, 0 };

	if (after)
		return db_interactions_after(app->db, ticket, after, limit,
		    interaction_add, &a);
	return db_interactions_page(app->db, ticket, before ? before :
	    INT64_MAX, limit, interaction_add, &a);
}

/* A db_notification_fn: the notification's object onto the array. */
static int
notification_add(void *arg, const struct db_notification *n)
{
	json_array_append_new(arg, json_pack("{s:I, s:I, s:s, s:I, s:o, s:o}",
	    "id", (json_int_t)n->id,
	    "user_id", (json_int_t)n->user_id,
	    "event", n->event,
	    "ticket_id", (json_int_t)n->ticket_id,
	    "created_at", time_or_null(n->created_at),
	    "read_at", time_or_null(n->read_at)));
	return 0;
}

int
tickets_notifications(struct app *app, int64_t user, int64_t before,
    int64_t after, int unread, int limit, json_t *arr)
{
	if (after)
		return db_notifications_after(app->db, user, after, unread,
		    limit, notification_add, arr);
	return db_notifications_page(app->db, user, before ? before :
	    INT64_MAX, unread, limit, notification_add, arr);
}

int
tickets_notifications_read(struct app *app, int64_t user, const int64_t *ids,
    size_t n)
{
	int64_t now = util_now_ms();
	size_t i;

	if (ids == NULL)
		return db_notifications_read_all(app->db, user, now);
	if (db_begin(app->db) == -1)
		return -1;
	for (i = 0; i < n; i++)
		if (db_notification_read(app->db, user, ids[i], now) == -1)
			goto fail;
	return db_commit(app->db);
fail:
	db_rollback(app->db);
	return -1;
}

struct stats_arg {
	struct app	*app;
	int64_t		 user;
	int		 staff;
	int		 days;
};

static int
stats_fill(void *arg, struct strbuf *out)
{
	struct stats_arg *a = arg;
	struct db_stats s;
	int64_t now = util_now_ms();
	char calc[UTIL_TIME_LEN];
	json_t *j;
	int rc;

	if (db_stats_get(a->app->db, a->user, a->staff,
	    now - (int64_t)a->days * 86400000, &s) == -1)
		return -1;
	util_format_time(now, calc);
	j = json_pack("{s:I, s:i, s:I, s:{s:I, s:I, s:I}, s:o, s:s}",
	    "user_id", (json_int_t)a->user, "period_days", a->days,
	    "total", (json_int_t)s.total,
	    "by_status",
	    "open", (json_int_t)s.open,
	    "pending", (json_int_t)s.pending,
	    "closed", (json_int_t)s.closed,
	    "avg_resolution_hours", s.has_avg ? json_real(s.avg_hours) :
	    json_null(),
	    "calculated_at", calc);
	if (j == NULL)
		return -1;
	rc = json_dump_callback(j, dump_cb, out,
	    JSON_COMPACT | JSON_REAL_PRECISION(6)) == 0 ? 0 : -1;
	json_decref(j);
	return rc;
}

int
tickets_stats(struct app *app, int64_t user, int staff, int days,
    struct strbuf *out, enum cache_result *res)
{
	struct stats_arg a = { app, user, staff, days };
	struct rkey k;

	keys_stats(cache_keys(app->cache), &k, user, days);
	return cache_get(app->cache, &k, app->cfg.record_ttl, stats_fill, &a, out,
	    res);
}

/* Appends id to the set users[0..n) unless there or 0; returns n. */
static int
add_user_once(int64_t *users, int n, int64_t id)
{
	int i;

	if (id == 0)
		return n;
	for (i = 0; i < n; i++)
		if (users[i] == id)
			return n;
	users[n] = id;
	return n + 1;
}

/* After a committed batch: the tickets' entries, 8 keys a command, and
 * the stats of each user involved once, not once per ticket. */
static void
forget_batch(struct app *app, const int64_t *ids, const int64_t *users,
    int n, int nusers)
{
	struct rkey keys[8];
	int i, k = 0;

	for (i = 0; i < n; i++) {
		keys_ticket(cache_keys(app->cache), &keys[k++], ids[i]);
		if (k == 8 || i == n - 1) {
			cache_invalidate(app->cache, keys, k);
			k = 0;
		}
	}
	for (i = 0; i < nusers; i++)
		tickets_forget_stats(app, users[i]);
}

int
tickets_close_inactive(struct app *app, int64_t cutoff, int limit,
    const char *done_task)
{
	struct ticket old, t;
	int64_t ids[TICKETS_BATCH_MAX], users[2 * TICKETS_BATCH_MAX];
	int64_t iids[TICKETS_BATCH_MAX];
	struct db_ids found = { ids, 0, 0 };
	int64_t now = util_now_ms();
	int n, i, nusers = 0;

	if (limit > TICKETS_BATCH_MAX)
		limit = TICKETS_BATCH_MAX;
	found.max = limit;
	if (db_begin(app->db) == -1)
		return -1;
	if (db_tickets_inactive(app->db, cutoff, limit, db_ids_keep,
	    &found) == -1)
		goto fail;
	n = found.n;
	for (i = 0; i < n; i++) {
		if (tickets_load(app, ids[i], &old) != 0)
			goto fail;
		t = old;
		snprintf(t.status, sizeof(t.status), "closed");
		t.closed_at = t.updated_at = now;
		nusers = add_user_once(users, nusers, t.requester_id);
		nusers = add_user_once(users, nusers, t.assignee_id);
		/* By the system: author and actor are null. */
		if ((iids[i] = add_interaction(app, t.id, 0, "status_change",
		    "closed for inactivity", 21, now)) == 0 ||
		    write_ticket(app, &t) == -1 ||
		    add_notify_task(app, t.id, TICKETS_EVENT_STATUS, 0) == 0)
			goto fail;
	}
	if (n < limit && done_task != NULL &&
	    queue_task_done(app->queue, done_task) == -1)
		goto fail;
	if (db_commit(app->db) == -1)
		return -1;
	/* One batch: the whole outbox in one claim. */
	queue_flush(app->queue, NULL, 0);
	forget_batch(app, ids, users, n, nusers);
	/* The requesters learn at once (API.md section 8): the tickets as
	 * committed, read again outside the transaction. */
	for (i = 0; i < n; i++)
		if (tickets_load(app, ids[i], &t) == 0)
			publish_ticket(app, &t, 0, interaction_json(iids[i],
			    t.id, 0, "status_change", "closed for inactivity",
			    21, now));
	events_flush(app->events);
	return n;
fail:
	db_rollback(app->db);
	return -1;
}
