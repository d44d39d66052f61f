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
