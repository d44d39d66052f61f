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

#endif
