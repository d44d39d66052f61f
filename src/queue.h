/*
 * queue: the task queue of API.md section 5, shared by the three programs.
 * Producers never push directly: a task is inserted into the outbox table
 * in the same SQLite transaction as the change that caused it, and pushed
 * to tasks:pending after commit by queue_flush(). A flush deletes the rows
 * it pushed in the same transaction that claimed them, so a crash leaves
 * them for the next flush (a task may be pushed twice; handlers are
 * idempotent), and none is lost.
 *
 * With the cache, the only module that speaks Redis (through rconn).
 * struct queue is its handle, made by app_open: the connection of
 * queue_redis_url (shared with the cache's when both name one server),
 * the keys of the task lists and of worker:lock, the Lua scripts, the
 * worker's lock token.
 */
#ifndef CHATDESK_QUEUE_H
#define CHATDESK_QUEUE_H

#include <stdint.h>

#include <jansson.h>

#include "keys.h"
#include "util.h"

struct config;
struct db;
struct rconn;
struct queue;

#define QUEUE_TASK_ID_LEN	32
#define QUEUE_FLUSH_BATCH	500

/* A queue over rc (whose reference it takes), its keys under ks (copied);
 * db holds the outbox. cfg (dead_max) and db outlive the queue. */
struct queue *queue_open(const struct config *cfg, struct db *db,
    struct rconn *rc, const struct keyspace *ks);
void queue_close(struct queue *);

/*
 * Builds {"id","type","payload","timestamp","attempts":0} and inserts it
 * into the outbox, inside the caller's transaction. payload's reference
 * is stolen. Returns the outbox row id, or 0 on error.
 */
int64_t queue_outbox_add(struct queue *, const char *type, json_t *payload);

/*
 * Pushes outbox rows to tasks:pending and deletes them: the rows given
 * (n > 0), or every row (ids NULL), in batches. Returns the number pushed,
 * or -1 if Redis or SQLite failed (what was not pushed stays).
 */
int queue_flush(struct queue *, const int64_t *ids, int n);

/* Number of rows waiting in the outbox, or -1. */
long long queue_outbox_count(struct queue *);

/* Appends a task for type/payload to tasks:pending directly, through the
 * outbox (for chatdeskctl enqueue). Returns 0, or -1. */
int queue_enqueue(struct queue *, const char *type, json_t *payload);


/* Figures for GET /api/v1/queue, chatdeskctl queue stats and /health. */
struct queue_stats {
	long long	pending, processing, delayed, failed;
	long long	oldest_pending_age_s;	/* -1: none waiting */
};
/* Returns 0, or -1 if the queue's Redis is down. */
int queue_stats(struct queue *, struct queue_stats *);

/* Dead tasks, oldest first, into arr (at most limit). Returns the count
 * or -1. */
int queue_dead_list(struct queue *, int limit, json_t *arr);
/* Moves every dead task back to tasks:pending with attempts 0 and no
 * error. Returns the count, or -1. */
long long queue_dead_retry(struct queue *);
/* Deletes tasks:failed. Returns how many it held, or -1. */
long long queue_dead_clear(struct queue *);


/* The worker's moves (each atomic in Redis). */
/* Moves everything from tasks:processing back to the front of
 * tasks:pending (a crashed run's tasks). Returns the count or -1. */
long long queue_recover_orphans(struct queue *);
/* Moves delayed tasks due by now to tasks:pending. Count or -1. */
long long queue_move_due(struct queue *);
/*
 * LMOVE tasks:pending tasks:processing LEFT RIGHT: 1 and the task text in
 * out, 0 if empty, -1 on error. If ack is not NULL, that finished task is
 * removed from tasks:processing first, in the same round trip.
 */
int queue_take(struct queue *, const struct strbuf *ack, struct strbuf *out);
/* Removes a finished task from tasks:processing. 0 or -1. */
int queue_ack(struct queue *, const char *task, size_t len);
/* Replaces it by next in tasks:delayed, due at due_ms. 0 or -1. */
int queue_delay(struct queue *, const char *task, size_t len, const char *next,
    int64_t due_ms);
/* Replaces it by dead in tasks:failed, trimmed to dead_max. Returns the
 * number of old entries dropped, or -1. */
long long queue_bury(struct queue *, const char *task, size_t len,
    const char *dead);

/* LLEN (ZCARD for the delayed set) of one of the lists, or -1 if the
 * queue's Redis is down. */
long long queue_length(struct queue *, enum key_tasks);
/* 1 if the queue's Redis answers PING, else 0. */
int queue_ping(struct queue *);
/*
 * The queue's Redis evicts under memory pressure with an allkeys-*
 * policy, which would drop tasks: returns that policy's name, or NULL if
 * it does not (or the policy cannot be read). Asked once per process.
 */
const char *queue_eviction(struct queue *);

/*
 * worker:lock, so that one worker runs at a time. take: 1 taken (for
 * ttl_ms), 0 held by another run, -1 Redis unusable. renew (for ttl_ms
 * again) and release succeed only while the lock is still this run's:
 * 0, or -1.
 */
int queue_lock_take(struct queue *, long long ttl_ms);
int queue_lock_renew(struct queue *);
int queue_lock_release(struct queue *);

#endif
