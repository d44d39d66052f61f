/* queue: see queue.h. */
#include "autoconf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "config.h"
#include "db.h"
#include "keys.h"
#include "log.h"
#include "queue.h"
#include "rconn.h"
#include "util.h"

struct queue {
	struct rconn		*rc;
	const struct config	*cfg;
	struct db		*db;
	struct keyspace		 ks;
	struct rkey		 lists[KEY_TASKS__MAX];
	struct rkey		 lock;
	struct rkey		 state;		/* queue:state */
	char			 lock_token[33];
	/* The task last marked done (queue_task_done), or found without a
	 * record (queue_task_finished): its done mark costs nothing. */
	char			 marked[QUEUE_TASK_ID_LEN * 2 + 1];
	long long		 lock_ttl_ms;
	/* maxmemory-policy, read once per process (0: not yet). */
	int			 policy_read;
	char			 policy[64];
};

/* The keys of the four lists, built once. */
#define PENDING(q)	(&(q)->lists[KEY_TASKS_PENDING])
#define PROCESSING(q)	(&(q)->lists[KEY_TASKS_PROCESSING])
#define DELAYED(q)	(&(q)->lists[KEY_TASKS_DELAYED])
#define FAILED(q)	(&(q)->lists[KEY_TASKS_FAILED])

struct queue *
queue_open(const struct config *cfg, struct db *db, struct rconn *rc,
    const struct keyspace *ks)
{
	struct queue *q;
	int i;

	if ((q = calloc(1, sizeof(*q))) == NULL)
		abort();
	q->rc = rc;
	q->cfg = cfg;
	q->db = db;
	q->ks = *ks;
	for (i = 0; i < KEY_TASKS__MAX; i++)
		keys_tasks(&q->ks, &q->lists[i], (enum key_tasks)i);
	keys_worker_lock(&q->ks, &q->lock);
	keys_queue_state(&q->ks, &q->state);
	return q;
}

void
queue_close(struct queue *q)
{
	if (q == NULL)
		return;
	rconn_free(q->rc);
	free(q);
}

int64_t
queue_outbox_add(struct queue *q, const char *type, json_t *payload)
{
	unsigned char rnd[QUEUE_TASK_ID_LEN / 2];
	char id[QUEUE_TASK_ID_LEN + 1], *text;
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
	/* row stays 0 if the insert fails. */
	db_task_add(q->db, id, text, now, &row);
	free(text);
	return row;
}

/*
 * RPUSH of the tasks and seq raised by their count, in one script. floor
 * is SQLite's pushed_seq, read in the transaction that holds the write
 * lock, so no push can have raised seq past it unseen: a seq below it
 * means this Redis went back in time (an old snapshot, a failover, a
 * restart without its data, a flush). Then the script sets lost, which
 * the next worker run finds even if later pushes raise seq past SQLite's
 * again, and seq restarts from floor. Only queue_recover_lost, after
 * pushing everything again, clears lost or writes the epoch.
 */
static struct rscript push_script = { .src =
	"local seq = tonumber(redis.call('HGET', KEYS[2], 'seq') or '0')\n"
	"local floor = tonumber(ARGV[1])\n"
	"if seq < floor then\n"
	"  redis.call('HSET', KEYS[2], 'lost', '1')\n"
	"  seq = floor\n"
	"end\n"
	"seq = seq + #ARGV - 1\n"
	"redis.call('RPUSH', KEYS[1], unpack(ARGV, 2))\n"
	"redis.call('HSET', KEYS[2], 'seq', string.format('%d', seq))\n"
	"return seq\n"
};

/* What one flush batch takes. */
enum flush_kind {
	FLUSH_ONE,	/* the row given, if not yet pushed */
	FLUSH_NEW,	/* the oldest not yet pushed */
	FLUSH_AGAIN	/* unfinished rows after the one given (a loss) */
};

/* pushed_seq, the epoch and whether it was written, from queue_state. */
static int
state_get(struct queue *q, long long *seq, char *epoch, size_t epochsz,
    int *written)
{
	int64_t v;

	if (db_queue_state_get(q->db, &v, epoch, epochsz, written) == -1)
		return -1;
	*seq = v;
	return 0;
}

/* One flush batch as read: the rows and their texts (copies). */
struct batch {
	int64_t	 rows[QUEUE_FLUSH_BATCH];
	char	*texts[QUEUE_FLUSH_BATCH];
	int	 n;
};

/* A db_task_fn: keeps the task in the struct batch arg. */
static int
batch_add(void *arg, const struct db_task *t)
{
	struct batch *b = arg;

	if (b->n >= QUEUE_FLUSH_BATCH)
		return 1;
	b->rows[b->n] = t->row;
	if ((b->texts[b->n] = strdup(t->text)) == NULL)
		abort();
	b->n++;
	return b->n >= QUEUE_FLUSH_BATCH;
}

/*
 * One batch inside BEGIN IMMEDIATE: select the rows, push them with the
 * push script, mark them pushed and keep the new seq, COMMIT; on a Redis
 * failure ROLLBACK, so nothing is marked. *last gets the last row taken.
 * Returns the count pushed, or -1.
 */
static int
flush_batch(struct queue *q, enum flush_kind kind, int64_t arg, int64_t *last)
{
	const char *argv[3 + QUEUE_FLUSH_BATCH];
	size_t lens[3 + QUEUE_FLUSH_BATCH];
	char floor[24];
	struct batch b;
	int64_t now = util_now_ms();
	long long pushed, seq;
	int n = 0, i, rc = -1, got;

	b.n = 0;
	/* Do not take the write lock for a Redis that is known to be down. */
	if (rconn_get(q->rc) == NULL)
		return -1;
	if (db_begin(q->db) == -1)
		return -1;
	if (state_get(q, &pushed, NULL, 0, NULL) == -1)
		goto out;
	if (kind == FLUSH_ONE)
		got = db_task_unpushed_one(q->db, arg, batch_add, &b);
	else if (kind == FLUSH_NEW)
		got = db_tasks_unpushed(q->db, QUEUE_FLUSH_BATCH, batch_add,
		    &b);
	else
		got = db_tasks_unfinished(q->db, arg, QUEUE_FLUSH_BATCH,
		    batch_add, &b);
	n = b.n;
	if (got == -1)
		goto out;
	if (n == 0) {
		rc = 0;
		goto out;
	}
	*last = b.rows[n - 1];
	snprintf(floor, sizeof(floor), "%lld", pushed);
	argv[0] = PENDING(q)->s;
	lens[0] = PENDING(q)->len;
	argv[1] = q->state.s;
	lens[1] = q->state.len;
	argv[2] = floor;
	lens[2] = strlen(floor);
	for (i = 0; i < n; i++) {
		argv[3 + i] = b.texts[i];
		lens[3 + i] = strlen(b.texts[i]);
	}
	if ((seq = rconn_int(rconn_eval(q->rc, &push_script, 2, 3 + n, argv,
	    lens))) < 0)
		goto out;
	for (i = 0; kind != FLUSH_AGAIN && i < n; i++)
		if (db_task_pushed(q->db, b.rows[i], now) == -1)
			goto pushed;
	if (db_queue_seq_set(q->db, seq) == -1 || db_commit(q->db) == -1)
		goto pushed;
	rc = n;
	goto free;
pushed:
	/* Pushed but not marked: pushed again later (a duplicate the worker
	 * skips once the first copy has finished). */
	log_warn("queue: %d task(s) pushed but not marked pushed", n);
out:
	db_rollback(q->db);
free:
	for (i = 0; i < n; i++)
		free(b.texts[i]);
	return rc;
}

int
queue_flush(struct queue *q, const int64_t *ids, int n)
{
	int64_t last;
	int total = 0, got, i;

	if (ids != NULL) {
		for (i = 0; i < n; i++) {
			if ((got = flush_batch(q, FLUSH_ONE, ids[i], &last)) == -1)
				return -1;
			total += got;
		}
		return total;
	}
	do {
		if ((got = flush_batch(q, FLUSH_NEW, 0, &last)) == -1)
			return total > 0 ? total : -1;
		total += got;
	} while (got == QUEUE_FLUSH_BATCH);
	return total;
}

long long
queue_outbox_count(struct queue *q)
{
	return db_tasks_unpushed_count(q->db);
}

long long
queue_unfinished_count(struct queue *q)
{
	return db_tasks_unfinished_count(q->db);
}

static int
task_finish(struct queue *q, const char *task_id, const char *result)
{
	int own = !db_in_txn(q->db), rc;
	size_t len = strlen(task_id);

	if (strcmp(result, "done") == 0 && len < sizeof(q->marked) &&
	    strcmp(q->marked, task_id) == 0)
		return 0;
	if (own && db_begin(q->db) == -1)
		return -1;
	rc = db_task_finish(q->db, task_id, len, result, util_now_ms());
	if (own) {
		if (rc == -1)
			db_rollback(q->db);
		else
			rc = db_commit(q->db);
	}
	/* Remembered even inside a transaction that may still roll back:
	 * the handler then fails, and the worker does not mark it done. */
	if (rc == 0 && len < sizeof(q->marked))
		memcpy(q->marked, task_id, len + 1);
	return rc;
}

int
queue_task_done(struct queue *q, const char *task_id)
{
	return task_finish(q, task_id, "done");
}

int
queue_task_dead(struct queue *q, const char *task_id)
{
	return task_finish(q, task_id, "dead");
}

int
queue_task_finished(struct queue *q, const char *task_id)
{
	int finished;

	q->marked[0] = '\0';
	switch (db_task_finished(q->db, task_id, &finished)) {
	case 0:
		return finished;
	case 1:
		/* No record (pushed by hand): nothing to mark when done. */
		if (strlen(task_id) < sizeof(q->marked))
			memcpy(q->marked, task_id, strlen(task_id) + 1);
		return 0;
	default:
		return -1;
	}
}

const char *
queue_loss(const struct queue_seen *v, int *init)
{
	*init = 0;
	if (v->seq < v->pushed)
		return "it holds fewer pushes than SQLite recorded (restored "
		    "from an old snapshot, failed over, or restarted empty)";
	if (v->lost)
		return "a push found it holding fewer pushes than SQLite "
		    "recorded (restored from an old snapshot, failed over, "
		    "restarted empty or flushed)";
	if (v->written && !v->has_epoch)
		return "queue:state has no epoch (restarted without its data, "
		    "or flushed)";
	if (v->has_epoch && !v->same_epoch)
		return "queue:state holds another epoch (another database "
		    "shares this Redis and key_prefix, or Redis was replaced)";
	*init = !v->written;
	return NULL;
}

/* queue_loss of what SQLite and Redis hold now, or "" if either failed. */
static const char *
lost_why(struct queue *q, int *init)
{
	struct queue_seen v;
	char epoch[64];
	redisReply *r;

	memset(&v, 0, sizeof(v));
	/* SQLite first: a push raises seq before SQLite records it, so a
	 * seq read after is never below it unless Redis lost data. */
	if (state_get(q, &v.pushed, epoch, sizeof(epoch), &v.written) == -1)
		return "";
	if ((r = rconn_cmdv(q->rc, "HMGET", q->state.s, "epoch", "seq", "lost",
	    NULL)) == NULL)
		return "";
	if (r->type == REDIS_REPLY_ARRAY && r->elements == 3) {
		if (r->element[0]->type == REDIS_REPLY_STRING) {
			v.has_epoch = 1;
			v.same_epoch = strcmp(r->element[0]->str, epoch) == 0;
		}
		if (r->element[1]->type == REDIS_REPLY_STRING)
			v.seq = strtoll(r->element[1]->str, NULL, 10);
		v.lost = r->element[2]->type == REDIS_REPLY_STRING;
	}
	freeReplyObject(r);
	return queue_loss(&v, init);
}

/* The epoch back, lost cleared and seq up to SQLite's, after a loss or
 * on the first run: the next run finds them as they should be. */
static struct rscript settle_script = { .src =
	"redis.call('HSET', KEYS[1], 'epoch', ARGV[1])\n"
	"redis.call('HDEL', KEYS[1], 'lost')\n"
	"local seq = tonumber(redis.call('HGET', KEYS[1], 'seq') or '0')\n"
	"if seq < tonumber(ARGV[2]) then\n"
	"  redis.call('HSET', KEYS[1], 'seq', ARGV[2])\n"
	"end\n"
	"return 1\n"
};

static int
epoch_written(struct queue *q)
{
	if (db_begin(q->db) == -1)
		return -1;
	if (db_queue_epoch_written(q->db) == -1) {
		db_rollback(q->db);
		return -1;
	}
	return db_commit(q->db);
}

long long
queue_recover_lost(struct queue *q)
{
	char epoch[64], floor[24];
	long long pushed, total = 0;
	int64_t last = 0;
	const char *why;
	int init, got, written;

	if ((why = lost_why(q, &init)) != NULL && *why == '\0')
		return -1;
	if (why != NULL) {
		log_warn("the queue's Redis lost data: %s; pushing every "
		    "unfinished task again", why);
		do {
			if ((got = flush_batch(q, FLUSH_AGAIN, last, &last)) == -1)
				return -1;
			total += got;
		} while (got == QUEUE_FLUSH_BATCH);
		log_warn("pushed %lld unfinished task(s) again", total);
	} else if (!init)
		return 0;
	/* Only now: a run that dies before this point finds the loss again. */
	if (state_get(q, &pushed, epoch, sizeof(epoch), &written) == -1)
		return -1;
	snprintf(floor, sizeof(floor), "%lld", pushed);
	if (rconn_int(rconn_evalv(q->rc, &settle_script, 1, q->state.s, epoch,
	    floor, NULL)) != 1)
		return -1;
	if (!written && epoch_written(q) == -1)
		return -1;
	return total;
}

long long
queue_prune(struct queue *q, long long keep_ms, void (*beat)(void *),
    void *arg)
{
	static const char *const results[2] = { "done", "dead" };
	long long total = 0;
	int i, n;

	for (i = 0; i < 2; i++) {
		do {
			if (db_begin(q->db) == -1)
				return -1;
			/* Dead rows go by count only, as tasks:failed. */
			if (db_tasks_prune(q->db, results[i], i == 0 ?
			    util_now_ms() - keep_ms : 0, i == 0 ?
			    QUEUE_DONE_MAX : q->cfg->dead_max,
			    QUEUE_FLUSH_BATCH * 5) == -1) {
				db_rollback(q->db);
				return -1;
			}
			n = db_changes(q->db);
			if (db_commit(q->db) == -1)
				return -1;
			total += n;
			if (beat != NULL)
				beat(arg);
		} while (n == QUEUE_FLUSH_BATCH * 5);
	}
	return total;
}

int
queue_enqueue(struct queue *q, const char *type, json_t *payload)
{
	int64_t row;

	if (db_begin(q->db) == -1) {
		json_decref(payload);
		return -1;
	}
	if ((row = queue_outbox_add(q, type, payload)) == 0) {
		db_rollback(q->db);
		return -1;
	}
	if (db_commit(q->db) == -1)
		return -1;
	/* If Redis is down the task waits in the outbox for the worker. */
	queue_flush(q, &row, 1);
	return 0;
}

int
queue_stats(struct queue *q, struct queue_stats *s)
{
	redisReply *r;
	json_t *t;

	if ((s->pending = rconn_int(rconn_cmdv(q->rc, "LLEN", PENDING(q)->s,
	    NULL))) < 0 ||
	    (s->processing = rconn_int(rconn_cmdv(q->rc, "LLEN", PROCESSING(q)->s,
	    NULL))) < 0 ||
	    (s->delayed = rconn_int(rconn_cmdv(q->rc, "ZCARD", DELAYED(q)->s,
	    NULL))) < 0 ||
	    (s->failed = rconn_int(rconn_cmdv(q->rc, "LLEN", FAILED(q)->s,
	    NULL))) < 0)
		return -1;
	s->unfinished = queue_unfinished_count(q);
	s->oldest_pending_age_s = -1;
	if ((r = rconn_cmdv(q->rc, "LINDEX", PENDING(q)->s, "0", NULL)) == NULL)
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
queue_dead_list(struct queue *q, int limit, json_t *arr)
{
	redisReply *r;
	char stop[24];
	json_t *t;
	size_t i;
	int n = 0;

	snprintf(stop, sizeof(stop), "%d", limit - 1);
	if ((r = rconn_cmdv(q->rc, "LRANGE", FAILED(q)->s, "0", stop, NULL)) == NULL)
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

/* The record of a dead task back to unfinished (none: nothing to do).
 * 0, or -1. */
static int
reopen(struct queue *q, json_t *id)
{
	if (!json_is_string(id))
		return 0;
	if (db_begin(q->db) == -1)
		return -1;
	if (db_task_reopen(q->db, json_string_value(id),
	    json_string_length(id)) == -1) {
		db_rollback(q->db);
		return -1;
	}
	return db_commit(q->db);
}

/* Revives one dead entry e. 1 moved, 0 stays (not a task, gone
 * meanwhile, or its record could not be reopened). */
static int
revive(struct queue *q, const redisReply *e)
{
	json_t *t;
	char *next;
	int moved;

	if (e->type != REDIS_REPLY_STRING)
		return 0;
	t = json_loadb(e->str, e->len, 0, NULL);
	if (t == NULL || !json_is_object(t)) {
		/* Not a task at all: stays dead. */
		json_decref(t);
		return 0;
	}
	/* Unfinished in the record first: one still recorded dead
	 * would be skipped by the worker. */
	if (reopen(q, json_object_get(t, "id")) == -1) {
		json_decref(t);
		return 0;
	}
	json_object_set_new(t, "attempts", json_integer(0));
	json_object_del(t, "error");
	json_object_del(t, "failed_at");
	next = json_dumps(t, JSON_COMPACT);
	json_decref(t);
	if (next == NULL)
		return 0;
	/* Tasks are JSON text: never a NUL byte. */
	moved = rconn_int(rconn_evalv(q->rc, &revive_script, 2, FAILED(q)->s,
	    PENDING(q)->s, e->str, next, NULL)) == 1;
	free(next);
	return moved;
}

/*
 * Pages through the dead list RCONN_PAGE entries at a time, so that no
 * reply is larger than a page whatever dead_max is. Revived entries leave
 * the list, so the next page starts after the ones that stayed; a task
 * buried meanwhile (at the head) only shifts a page onto entries already
 * seen, which stay again.
 */
long long
queue_dead_retry(struct queue *q)
{
	redisReply *r;
	char start[24], stop[24];
	long long n = 0, kept = 0;
	size_t i;
	int got;

	do {
		snprintf(start, sizeof(start), "%lld", kept);
		snprintf(stop, sizeof(stop), "%lld", kept + RCONN_PAGE - 1);
		if ((r = rconn_cmdv(q->rc, "LRANGE", FAILED(q)->s, start, stop,
		    NULL)) == NULL)
			return n > 0 ? n : -1;
		got = r->type == REDIS_REPLY_ARRAY ? (int)r->elements : 0;
		for (i = 0; i < (size_t)got; i++)
			if (revive(q, r->element[i]))
				n++;
			else
				kept++;
		freeReplyObject(r);
	} while (got == RCONN_PAGE);
	return n;
}

static struct rscript clear_script = { .src =
	"local n = redis.call('LLEN', KEYS[1])\n"
	"redis.call('DEL', KEYS[1])\n"
	"return n\n"
};

long long
queue_dead_clear(struct queue *q)
{

	return rconn_int(rconn_evalv(q->rc, &clear_script, 1, FAILED(q)->s, NULL));
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
queue_recover_orphans(struct queue *q)
{

	return rconn_int(rconn_evalv(q->rc, &orphans_script, 2, PROCESSING(q)->s, PENDING(q)->s,
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
queue_move_due(struct queue *q)
{
	char now[24];
	long long n, total = 0;

	snprintf(now, sizeof(now), "%lld", (long long)util_now_ms());
	do {
		if ((n = rconn_int(rconn_evalv(q->rc, &due_script, 2, DELAYED(q)->s,
		    PENDING(q)->s, now, NULL))) < 0)
			return -1;
		total += n;
	} while (n == 1000);
	return total;
}

int
queue_take(struct queue *q, const struct strbuf *ack, struct strbuf *out)
{
	const char *lrem[4], *lmove[5];
	size_t lremlen[4], lmovelen[5];
	const char *const *argv[2];
	const size_t *const *lensp;
	const size_t *lens[2];
	int argc[2], n = 0, rc = 0;
	redisReply *r[2], *m;

	if (ack != NULL) {
		lrem[0] = "LREM";
		lremlen[0] = 4;
		lrem[1] = PROCESSING(q)->s;
		lremlen[1] = PROCESSING(q)->len;
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
	lmove[1] = PENDING(q)->s;
	lmovelen[1] = PENDING(q)->len;
	lmove[2] = PROCESSING(q)->s;
	lmovelen[2] = PROCESSING(q)->len;
	lmove[3] = "LEFT";
	lmovelen[3] = 4;
	lmove[4] = "RIGHT";
	lmovelen[4] = 5;
	argv[n] = lmove;
	lens[n] = lmovelen;
	argc[n++] = 5;
	lensp = lens;
	if (rconn_pipeline(q->rc, n, argc, argv, lensp, r) == -1)
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
queue_ack(struct queue *q, const char *task, size_t len)
{
	const char *argv[4];
	size_t lens[4];

	argv[0] = "LREM";
	lens[0] = 4;
	argv[1] = PROCESSING(q)->s;
	lens[1] = PROCESSING(q)->len;
	argv[2] = "1";
	lens[2] = 1;
	argv[3] = task;
	lens[3] = len;
	return rconn_int(rconn_cmd(q->rc, 4, argv, lens)) >= 0 ? 0 : -1;
}

static struct rscript delay_script = { .src =
	"redis.call('LREM', KEYS[1], 1, ARGV[1])\n"
	"redis.call('ZADD', KEYS[2], ARGV[3], ARGV[2])\n"
	"return 1\n"
};

int
queue_delay(struct queue *q, const char *task, size_t len, const char *next,
    int64_t due_ms)
{
	char due[24];

	if (memchr(task, '\0', len) != NULL)
		return -1;
	snprintf(due, sizeof(due), "%lld", (long long)due_ms);
	return rconn_int(rconn_evalv(q->rc, &delay_script, 2, PROCESSING(q)->s, DELAYED(q)->s,
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
queue_bury(struct queue *q, const char *task, size_t len, const char *dead)
{
	char max[24];

	/* A task holding a NUL byte cannot be passed as text: it stays in
	 * tasks:processing, where the next run finds it again. */
	if (memchr(task, '\0', len) != NULL)
		return -1;
	snprintf(max, sizeof(max), "%lld", q->cfg->dead_max);
	return rconn_int(rconn_evalv(q->rc, &bury_script, 2, PROCESSING(q)->s, FAILED(q)->s,
	    task, dead, max, NULL));
}

long long
queue_length(struct queue *q, enum key_tasks which)
{
	const struct rkey *k = &q->lists[which];

	return rconn_int(rconn_cmdv(q->rc, which == KEY_TASKS_DELAYED ?
	    "ZCARD" : "LLEN", k->s, NULL));
}

int
queue_ping(struct queue *q)
{
	return rconn_ping(q->rc);
}

const char *
queue_eviction(struct queue *q)
{
	redisReply *r;

	if (!q->policy_read) {
		if ((r = rconn_cmdv(q->rc, "CONFIG", "GET", "maxmemory-policy",
		    NULL)) == NULL)
			return NULL;
		if (r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
		    r->element[1]->type == REDIS_REPLY_STRING)
			snprintf(q->policy, sizeof(q->policy), "%s",
			    r->element[1]->str);
		freeReplyObject(r);
		q->policy_read = 1;
	}
	return strncmp(q->policy, "allkeys-", 8) == 0 ? q->policy : NULL;
}

/* Compare-and-set scripts: only the run that holds the lock may renew or
 * release it. */
static struct rscript renew_script = { .src =
	"if redis.call('GET', KEYS[1]) == ARGV[1] then\n"
	"  return redis.call('PEXPIRE', KEYS[1], ARGV[2])\n"
	"end\n"
	"return 0\n"
};

static struct rscript release_script = { .src =
	"if redis.call('GET', KEYS[1]) == ARGV[1] then\n"
	"  return redis.call('DEL', KEYS[1])\n"
	"end\n"
	"return 0\n"
};

int
queue_lock_take(struct queue *q, long long ttl_ms)
{
	unsigned char rnd[16];
	char ttl[24];
	redisReply *r;
	int rc;

	util_random(rnd, sizeof(rnd));
	util_hex(rnd, sizeof(rnd), q->lock_token);
	q->lock_ttl_ms = ttl_ms;
	snprintf(ttl, sizeof(ttl), "%lld", ttl_ms);
	if ((r = rconn_cmdv(q->rc, "SET", q->lock.s, q->lock_token, "NX", "PX",
	    ttl, NULL)) == NULL)
		return -1;
	rc = r->type == REDIS_REPLY_STATUS ? 1 : 0;
	freeReplyObject(r);
	return rc;
}

static int
lock_call(struct queue *q, struct rscript *sc)
{
	char ttl[24];

	snprintf(ttl, sizeof(ttl), "%lld", q->lock_ttl_ms);
	return rconn_int(rconn_evalv(q->rc, sc, 1, q->lock.s, q->lock_token,
	    ttl, NULL)) == 1 ? 0 : -1;
}

int
queue_lock_renew(struct queue *q)
{
	return lock_call(q, &renew_script);
}

int
queue_lock_release(struct queue *q)
{
	return lock_call(q, &release_script);
}
