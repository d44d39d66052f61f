/*
 * queue: the task queue of API.md section 5, shared by the three programs.
 * Producers never push directly: a task is inserted into the outbox table
 * in the same SQLite transaction as the change that caused it, and pushed
 * to tasks:pending after commit by queue_flush(). A flush deletes the rows
 * it pushed in the same transaction that claimed them, so a crash leaves
 * them for the next flush (a task may be pushed twice; handlers are
 * idempotent), and none is lost.
 */
#ifndef CHATDESK_QUEUE_H
#define CHATDESK_QUEUE_H

#include <stdint.h>

#include <jansson.h>

#include "util.h"

struct app;

#define QUEUE_TASK_ID_LEN	32
#define QUEUE_FLUSH_BATCH	500

/*
 * Builds {"id","type","payload","timestamp","attempts":0} and inserts it
 * into the outbox, inside the caller's transaction. payload's reference
 * is stolen. Returns the outbox row id, or 0 on error.
 */
int64_t queue_outbox_add(struct app *, const char *type, json_t *payload);

/*
 * Pushes outbox rows to tasks:pending and deletes them: the rows given
 * (n > 0), or every row (ids NULL), in batches. Returns the number pushed,
 * or -1 if Redis or SQLite failed (what was not pushed stays).
 */
int queue_flush(struct app *, const int64_t *ids, int n);

/* Number of rows waiting in the outbox, or -1. */
long long queue_outbox_count(struct app *);

/* Appends a task for type/payload to tasks:pending directly, through the
 * outbox (for chatdeskctl enqueue). Returns 0, or -1. */
int queue_enqueue(struct app *, const char *type, json_t *payload);


/* Figures for GET /api/v1/queue, chatdeskctl queue stats and /health. */
struct queue_stats {
	long long	pending, processing, delayed, failed;
	long long	oldest_pending_age_s;	/* -1: none waiting */
};
/* Returns 0, or -1 if the queue's Redis is down. */
int queue_stats(struct app *, struct queue_stats *);

/* Dead tasks, oldest first, into arr (at most limit). Returns the count
 * or -1. */
int queue_dead_list(struct app *, int limit, json_t *arr);
/* Moves every dead task back to tasks:pending with attempts 0 and no
 * error. Returns the count, or -1. */
long long queue_dead_retry(struct app *);
/* Deletes tasks:failed. Returns how many it held, or -1. */
long long queue_dead_clear(struct app *);

/* 1 if type is a task type the worker knows. */
int queue_known_type(const char *type);

/* The worker's moves (each atomic in Redis). */
/* Moves everything from tasks:processing back to the front of
 * tasks:pending (a crashed run's tasks). Returns the count or -1. */
long long queue_recover_orphans(struct app *);
/* Moves delayed tasks due by now to tasks:pending. Count or -1. */
long long queue_move_due(struct app *);
/*
 * LMOVE tasks:pending tasks:processing LEFT RIGHT: 1 and the task text in
 * out, 0 if empty, -1 on error. If ack is not NULL, that finished task is
 * removed from tasks:processing first, in the same round trip.
 */
int queue_take(struct app *, const struct strbuf *ack, struct strbuf *out);
/* Removes a finished task from tasks:processing. 0 or -1. */
int queue_ack(struct app *, const char *task, size_t len);
/* Replaces it by next in tasks:delayed, due at due_ms. 0 or -1. */
int queue_delay(struct app *, const char *task, size_t len, const char *next,
    int64_t due_ms);
/* Replaces it by dead in tasks:failed, trimmed to dead_max. Returns the
 * number of old entries dropped, or -1. */
long long queue_bury(struct app *, const char *task, size_t len,
    const char *dead);

#endif
