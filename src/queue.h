/*
 * queue: the task queue of API.md section 5, shared by the three programs.
 * SQLite holds the record of every task, Redis is the transport. A task's
 * row (table tasks) is inserted in the same SQLite transaction as the
 * change that caused it, pushed to tasks:pending after commit by
 * queue_flush() (and marked pushed in the transaction that claimed it, so
 * a crash leaves it for the next flush), and stays until a worker has
 * finished it: queue_task_done() or queue_task_dead(). A task may be
 * pushed or run twice; handlers are idempotent, and the worker does not
 * run a task that the record holds as finished.
 *
 * A Redis that lost data (restarted empty, flushed, restored from an old
 * snapshot, failed over) is noticed by queue_recover_lost() at the start
 * of a worker run, from queue:state: an epoch the first worker run writes
 * (and SQLite keeps), and a counter, seq, that every push raises and whose
 * highest value SQLite keeps (queue_state.pushed_seq). An epoch missing or
 * different, or a seq below SQLite's, means Redis lost tasks: every
 * unfinished one is pushed again. A push that finds seq below SQLite's
 * deletes the epoch, so a restore cannot hide behind later pushes.
 *
 * With the cache, the only module that speaks Redis (through rconn).
 * struct queue is its handle, made by app_open: the connection of
 * queue_redis_url (shared with the cache's when both name one server),
 * the keys of the task lists, queue:state and worker:lock, the Lua
 * scripts, the worker's lock token.
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
/* Tasks per push (one script call; rconn takes at most 128 arguments). */
#define QUEUE_FLUSH_BATCH	100
/* Done rows kept at most, whatever task_done_keep_s says. */
#define QUEUE_DONE_MAX		10000

/* A queue over rc (whose reference it takes), its keys under ks (copied);
 * db holds the outbox. cfg (dead_max) and db outlive the queue. */
struct queue *queue_open(const struct config *cfg, struct db *db,
    struct rconn *rc, const struct keyspace *ks);
void queue_close(struct queue *);

/*
 * Builds {"id","type","payload","timestamp","attempts":0} and records it
 * (not yet pushed: the outbox), inside the caller's transaction.
 * payload's reference is stolen. Returns the task's row id, or 0 on error.
 */
int64_t queue_outbox_add(struct queue *, const char *type, json_t *payload);

/*
 * Pushes tasks not yet pushed to tasks:pending and marks them pushed: the
 * rows given (n > 0), or every one (ids NULL), in batches. Returns the
 * number pushed, or -1 if Redis or SQLite failed (what was not pushed
 * stays in the outbox).
 */
int queue_flush(struct queue *, const int64_t *ids, int n);

/* Tasks not yet pushed (the outbox), or -1. */
long long queue_outbox_count(struct queue *);
/* Tasks recorded and not yet done or dead, or -1. */
long long queue_unfinished_count(struct queue *);

/*
 * The end of a task in its record: done or dead. Inside the caller's
 * transaction if one is open (a handler marks its task done with its own
 * writes), else in one of its own. The id is remembered, so that the
 * worker's mark right after a handler that marked already costs nothing.
 * A task without a record (pushed by hand) is not an error. 0 or -1.
 */
int queue_task_done(struct queue *, const char *task_id);
int queue_task_dead(struct queue *, const char *task_id);
/*
 * 1 if the record holds the task as finished (a copy pushed twice, or
 * pushed again after a loss, whose first copy already ran), 0 if it is
 * unfinished or has no record, -1 on error. Called by the worker before
 * each task; forgets the id queue_task_done remembered (and remembers this
 * one if it has no record: nothing to mark).
 */
int queue_task_finished(struct queue *, const char *task_id);

/*
 * Once per worker run, before anything else is moved: if the queue's
 * Redis lost data (see above), pushes every unfinished task again and
 * writes the epoch back; on the first run ever writes the epoch. Returns
 * the number pushed again (0: nothing was lost), or -1 if Redis or SQLite
 * failed (the next run tries again).
 */
long long queue_recover_lost(struct queue *);

/* What queue_recover_lost reads: SQLite's pushed_seq and whether its
 * epoch was written to Redis; Redis's seq (0 if absent), whether it has an
 * epoch, the same as SQLite's, and the lost flag a push sets. */
struct queue_seen {
	long long	pushed, seq;
	int		written, has_epoch, same_epoch, lost;
};
/* Its decision: why Redis lost data (a sentence for the log), or NULL if
 * it did not; then *init is 1 when the epoch is still to be written (the
 * first run). Pure, for the unit tests. */
const char *queue_loss(const struct queue_seen *, int *init);

/*
 * Deletes finished rows: done ones finished more than keep_ms ago or
 * beyond the newest QUEUE_DONE_MAX, dead ones beyond the newest dead_max
 * (as many as tasks:failed keeps). In batches of their own transaction,
 * calling beat (if not NULL) between them. Returns the count, or -1.
 */
long long queue_prune(struct queue *, long long keep_ms,
    void (*beat)(void *), void *arg);

/* Appends a task for type/payload to tasks:pending directly, through the
 * outbox (for chatdeskctl enqueue). Returns 0, or -1. */
int queue_enqueue(struct queue *, const char *type, json_t *payload);


/* Figures for GET /api/v1/queue, chatdeskctl queue stats and /health. */
struct queue_stats {
	long long	pending, processing, delayed, failed;
	long long	oldest_pending_age_s;	/* -1: none waiting */
	long long	unfinished;	/* in SQLite; -1: unknown */
};
/* Returns 0, or -1 if the queue's Redis is down. */
int queue_stats(struct queue *, struct queue_stats *);

/* Dead tasks, oldest first, into arr (at most limit). Returns the count
 * or -1. */
int queue_dead_list(struct queue *, int limit, json_t *arr);
/* Moves every dead task back to tasks:pending with attempts 0 and no
 * error, and its record back to unfinished (first: a task that is still
 * recorded dead would not run). Returns the count, or -1. */
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
