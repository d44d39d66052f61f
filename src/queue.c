/* queue: see queue.h. */
#include "autoconf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "db.h"
#include "log.h"
#include "queue.h"
#include "util.h"

int64_t
queue_outbox_add(struct app *app, const char *type, json_t *payload)
{
	unsigned char rnd[QUEUE_TASK_ID_LEN / 2];
	char id[QUEUE_TASK_ID_LEN + 1], *text;
	sqlite3_stmt *st;
	json_t *task;
	int64_t now = util_now_ms(), row = 0;

	util_random(rnd, sizeof(rnd));
	util_hex(rnd, sizeof(rnd), id);
	task = json_pack("{s:s, s:s, s:o, s:I, s:i}", "id", id, "type", type,
	    "payload", payload, "timestamp", (json_int_t)now, "attempts", 0);
	if (task == NULL || (text = json_dumps(task, JSON_COMPACT)) == NULL) {
		json_decref(task);
		return 0;
	}
	json_decref(task);
	if ((st = db_stmt(app->db, SQL_OUTBOX_ADD)) != NULL) {
		db_bind_text(st, 1, text, strlen(text));
		db_bind_int(st, 2, now);
		if (db_exec_stmt(app->db, st) == 0)
			row = db_last_id(app->db);
	}
	free(text);
	return row;
}

/*
 * One batch: claim (DELETE ... RETURNING) inside BEGIN IMMEDIATE, RPUSH
 * the claimed tasks, then COMMIT; on a Redis failure ROLLBACK, so the
 * rows stay. Returns the count pushed, or -1.
 */
static int
flush_batch(struct app *app, int64_t one)
{
	const char *argv[2 + QUEUE_FLUSH_BATCH];
	size_t lens[2 + QUEUE_FLUSH_BATCH];
	char *texts[QUEUE_FLUSH_BATCH];
	struct rkey k;
	sqlite3_stmt *st;
	redisReply *r;
	int n = 0, i, rc = -1;

	/* Do not take the write lock for a Redis that is known to be down. */
	if (rconn_get(app->queue) == NULL)
		return -1;
	if (db_begin(app->db) == -1)
		return -1;
	st = db_stmt(app->db, one ? SQL_OUTBOX_CLAIM_ONE : SQL_OUTBOX_CLAIM);
	if (st == NULL)
		goto out;
	if (one)
		db_bind_int(st, 1, one);
	else
		db_bind_int(st, 1, QUEUE_FLUSH_BATCH);
	while (n < QUEUE_FLUSH_BATCH && db_step(app->db, st) == SQLITE_ROW) {
		if ((texts[n] = strdup((const char *)sqlite3_column_text(st,
		    0))) == NULL)
			abort();
		n++;
	}
	db_reset(st);
	if (n == 0) {
		rc = 0;
		goto out;
	}
	app_key(app, &k, "tasks:pending");
	argv[0] = "RPUSH";
	lens[0] = 5;
	argv[1] = k.s;
	lens[1] = k.len;
	for (i = 0; i < n; i++) {
		argv[2 + i] = texts[i];
		lens[2 + i] = strlen(texts[i]);
	}
	if ((r = rconn_cmd(app->queue, 2 + n, argv, lens)) == NULL)
		goto out;
	freeReplyObject(r);
	if (db_commit(app->db) == -1) {
		/* Pushed but still in the outbox: pushed again later. */
		log_warn("outbox: %d task(s) pushed but not removed", n);
		goto free;
	}
	rc = n;
	goto free;
out:
	db_rollback(app->db);
free:
	for (i = 0; i < n; i++)
		free(texts[i]);
	return rc;
}

int
queue_flush(struct app *app, const int64_t *ids, int n)
{
	int total = 0, got, i;

	if (ids != NULL) {
		for (i = 0; i < n; i++) {
			if ((got = flush_batch(app, ids[i])) == -1)
				return -1;
			total += got;
		}
		return total;
	}
	do {
		if ((got = flush_batch(app, 0)) == -1)
			return total > 0 ? total : -1;
		total += got;
	} while (got == QUEUE_FLUSH_BATCH);
	return total;
}

long long
queue_outbox_count(struct app *app)
{
	sqlite3_stmt *st;
	long long n = -1;

	if ((st = db_stmt(app->db, SQL_OUTBOX_COUNT)) == NULL)
		return -1;
	if (db_step(app->db, st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	db_reset(st);
	return n;
}

int
queue_enqueue(struct app *app, const char *type, json_t *payload)
{
	int64_t row;

	if (db_begin(app->db) == -1) {
		json_decref(payload);
		return -1;
	}
	if ((row = queue_outbox_add(app, type, payload)) == 0) {
		db_rollback(app->db);
		return -1;
	}
	if (db_commit(app->db) == -1)
		return -1;
	/* If Redis is down the task waits in the outbox for the worker. */
	queue_flush(app, &row, 1);
	return 0;
}

int
queue_known_type(const char *type)
{
	return strcmp(type, "close_inactive_tickets") == 0 ||
	    strcmp(type, "archive_old_interactions") == 0 ||
	    strcmp(type, "send_notifications") == 0;
}

static long long
int_reply(redisReply *r)
{
	long long n = -1;

	if (r == NULL)
		return -1;
	if (r->type == REDIS_REPLY_INTEGER)
		n = r->integer;
	freeReplyObject(r);
	return n;
}

int
queue_stats(struct app *app, struct queue_stats *s)
{
	struct rkey p, pr, d, f;
	redisReply *r;
	json_t *t;

	app_key(app, &p, "tasks:pending");
	app_key(app, &pr, "tasks:processing");
	app_key(app, &d, "tasks:delayed");
	app_key(app, &f, "tasks:failed");
	if ((s->pending = int_reply(rconn_cmdv(app->queue, "LLEN", p.s,
	    NULL))) < 0 ||
	    (s->processing = int_reply(rconn_cmdv(app->queue, "LLEN", pr.s,
	    NULL))) < 0 ||
	    (s->delayed = int_reply(rconn_cmdv(app->queue, "ZCARD", d.s,
	    NULL))) < 0 ||
	    (s->failed = int_reply(rconn_cmdv(app->queue, "LLEN", f.s,
	    NULL))) < 0)
		return -1;
	s->oldest_pending_age_s = -1;
	if ((r = rconn_cmdv(app->queue, "LINDEX", p.s, "0", NULL)) == NULL)
		return -1;
	if (r->type == REDIS_REPLY_STRING &&
	    (t = json_loadb(r->str, r->len, 0, NULL)) != NULL) {
		json_int_t ts = json_integer_value(json_object_get(t,
		    "timestamp"));
		s->oldest_pending_age_s = ts > 0 ?
		    (util_now_ms() - ts) / 1000 : 0;
		if (s->oldest_pending_age_s < 0)
			s->oldest_pending_age_s = 0;
		json_decref(t);
	}
	freeReplyObject(r);
	return 0;
}

int
queue_dead_list(struct app *app, int limit, json_t *arr)
{
	struct rkey f;
	redisReply *r;
	char stop[24];
	json_t *t;
	size_t i;
	int n = 0;

	app_key(app, &f, "tasks:failed");
	snprintf(stop, sizeof(stop), "%d", limit - 1);
	if ((r = rconn_cmdv(app->queue, "LRANGE", f.s, "0", stop, NULL)) == NULL)
		return -1;
	for (i = 0; r->type == REDIS_REPLY_ARRAY && i < r->elements; i++) {
		t = json_loadb(r->element[i]->str, r->element[i]->len, 0, NULL);
		json_array_append_new(arr, t ? t :
		    json_stringn(r->element[i]->str, r->element[i]->len));
		n++;
	}
	freeReplyObject(r);
	return n;
}

/* Moves one dead task back if it is still there (another retry or a
 * trim may have taken it). */
static struct rscript revive_script = { .src =
	"if redis.call('LREM', KEYS[1], 1, ARGV[1]) == 1 then\n"
	"  redis.call('RPUSH', KEYS[2], ARGV[2])\n"
	"  return 1\n"
	"end\n"
	"return 0\n"
};

long long
queue_dead_retry(struct app *app)
{
	struct rkey f, p;
	redisReply *r, *e;
	size_t i;
	json_t *t;
	char *next;
	long long n = 0;

	app_key(app, &f, "tasks:failed");
	app_key(app, &p, "tasks:pending");
	if ((r = rconn_cmdv(app->queue, "LRANGE", f.s, "0", "-1", NULL)) == NULL)
		return -1;
	for (i = 0; r->type == REDIS_REPLY_ARRAY && i < r->elements; i++) {
		e = r->element[i];
		if ((t = json_loadb(e->str, e->len, 0, NULL)) == NULL ||
		    !json_is_object(t)) {
			/* Not a task at all: stays dead. */
			json_decref(t);
			continue;
		}
		json_object_set_new(t, "attempts", json_integer(0));
		json_object_del(t, "error");
		json_object_del(t, "failed_at");
		next = json_dumps(t, JSON_COMPACT);
		json_decref(t);
		if (next == NULL)
			continue;
		/* Tasks are JSON text: never a NUL byte. */
		if (int_reply(rconn_evalv(app->queue, &revive_script, 2, f.s,
		    p.s, e->str, next, NULL)) == 1)
			n++;
		free(next);
	}
	freeReplyObject(r);
	return n;
}

static struct rscript clear_script = { .src =
	"local n = redis.call('LLEN', KEYS[1])\n"
	"redis.call('DEL', KEYS[1])\n"
	"return n\n"
};

long long
queue_dead_clear(struct app *app)
{
	struct rkey f;

	app_key(app, &f, "tasks:failed");
	return int_reply(rconn_evalv(app->queue, &clear_script, 1, f.s, NULL));
}

/* processing -> front of pending, oldest taken first stays first. */
static struct rscript orphans_script = { .src =
	"local n = 0\n"
	"while redis.call('LMOVE', KEYS[1], KEYS[2], 'RIGHT', 'LEFT') do\n"
	"  n = n + 1\n"
	"end\n"
	"return n\n"
};

long long
queue_recover_orphans(struct app *app)
{
	struct rkey pr, p;

	app_key(app, &pr, "tasks:processing");
	app_key(app, &p, "tasks:pending");
	return int_reply(rconn_evalv(app->queue, &orphans_script, 2, pr.s, p.s,
	    NULL));
}

static struct rscript due_script = { .src =
	"local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1],\n"
	"  'LIMIT', 0, 1000)\n"
	"for _, t in ipairs(due) do\n"
	"  redis.call('ZREM', KEYS[1], t)\n"
	"  redis.call('RPUSH', KEYS[2], t)\n"
	"end\n"
	"return #due\n"
};

long long
queue_move_due(struct app *app)
{
	struct rkey d, p;
	char now[24];
	long long n, total = 0;

	app_key(app, &d, "tasks:delayed");
	app_key(app, &p, "tasks:pending");
	snprintf(now, sizeof(now), "%lld", (long long)util_now_ms());
	do {
		if ((n = int_reply(rconn_evalv(app->queue, &due_script, 2, d.s,
		    p.s, now, NULL))) < 0)
			return -1;
		total += n;
	} while (n == 1000);
	return total;
}

int
queue_take(struct app *app, const struct strbuf *ack, struct strbuf *out)
{
	struct rkey p, pr;
	const char *lrem[4], *lmove[5];
	size_t lremlen[4], lmovelen[5];
	const char *const *argv[2];
	const size_t *const *lensp;
	const size_t *lens[2];
	int argc[2], n = 0, rc = 0;
	redisReply *r[2], *m;

	app_key(app, &p, "tasks:pending");
	app_key(app, &pr, "tasks:processing");
	if (ack != NULL) {
		lrem[0] = "LREM";
		lremlen[0] = 4;
		lrem[1] = pr.s;
		lremlen[1] = pr.len;
		lrem[2] = "1";
		lremlen[2] = 1;
		lrem[3] = ack->buf;
		lremlen[3] = ack->len;
		argv[n] = lrem;
		lens[n] = lremlen;
		argc[n++] = 4;
	}
	lmove[0] = "LMOVE";
	lmovelen[0] = 5;
	lmove[1] = p.s;
	lmovelen[1] = p.len;
	lmove[2] = pr.s;
	lmovelen[2] = pr.len;
	lmove[3] = "LEFT";
	lmovelen[3] = 4;
	lmove[4] = "RIGHT";
	lmovelen[4] = 5;
	argv[n] = lmove;
	lens[n] = lmovelen;
	argc[n++] = 5;
	lensp = lens;
	if (rconn_pipeline(app->queue, n, argc, argv, lensp, r) == -1)
		return -1;
	m = r[n - 1];
	if (m->type == REDIS_REPLY_STRING) {
		strbuf_reset(out);
		strbuf_add(out, m->str, m->len);
		rc = 1;
	} else if (m->type == REDIS_REPLY_ERROR)
		rc = -1;
	if (n == 2 && r[0]->type == REDIS_REPLY_ERROR)
		rc = -1;
	freeReplyObject(r[0]);
	if (n == 2)
		freeReplyObject(r[1]);
	return rc;
}

int
queue_ack(struct app *app, const char *task, size_t len)
{
	struct rkey pr;
	const char *argv[4];
	size_t lens[4];

	app_key(app, &pr, "tasks:processing");
	argv[0] = "LREM";
	lens[0] = 4;
	argv[1] = pr.s;
	lens[1] = pr.len;
	argv[2] = "1";
	lens[2] = 1;
	argv[3] = task;
	lens[3] = len;
	return int_reply(rconn_cmd(app->queue, 4, argv, lens)) >= 0 ? 0 : -1;
}

static struct rscript delay_script = { .src =
	"redis.call('LREM', KEYS[1], 1, ARGV[1])\n"
	"redis.call('ZADD', KEYS[2], ARGV[3], ARGV[2])\n"
	"return 1\n"
};

int
queue_delay(struct app *app, const char *task, size_t len, const char *next,
    int64_t due_ms)
{
	struct rkey pr, d;
	char due[24];

	if (memchr(task, '\0', len) != NULL)
		return -1;
	app_key(app, &pr, "tasks:processing");
	app_key(app, &d, "tasks:delayed");
	snprintf(due, sizeof(due), "%lld", (long long)due_ms);
	return int_reply(rconn_evalv(app->queue, &delay_script, 2, pr.s, d.s,
	    task, next, due, NULL)) == 1 ? 0 : -1;
}

/* Dead tasks are appended at the right; the oldest drop off the left. */
static struct rscript bury_script = { .src =
	"redis.call('LREM', KEYS[1], 1, ARGV[1])\n"
	"local n = redis.call('RPUSH', KEYS[2], ARGV[2])\n"
	"local max = tonumber(ARGV[3])\n"
	"if n > max then\n"
	"  redis.call('LTRIM', KEYS[2], n - max, -1)\n"
	"  return n - max\n"
	"end\n"
	"return 0\n"
};

long long
queue_bury(struct app *app, const char *task, size_t len, const char *dead)
{
	struct rkey pr, f;
	char max[24];

	/* A task holding a NUL byte cannot be passed as text: it stays in
	 * tasks:processing, where the next run finds it again. */
	if (memchr(task, '\0', len) != NULL)
		return -1;
	app_key(app, &pr, "tasks:processing");
	app_key(app, &f, "tasks:failed");
	snprintf(max, sizeof(max), "%lld", app->cfg.dead_max);
	return int_reply(rconn_evalv(app->queue, &bury_script, 2, pr.s, f.s,
	    task, dead, max, NULL));
}
