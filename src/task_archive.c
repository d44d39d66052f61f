/*
 * archive_old_interactions {"older_than_days":N} (API.md section 5):
 * interactions of tickets closed longer ago than N days, and messages
 * older than that except each room's newest 50, move to the archive file.
 * A transaction over ATTACHed WAL databases is not atomic across files,
 * so each batch is copied (INSERT OR IGNORE by id) and committed, then the
 * rows the archive now holds are deleted from the hot file. A crash at any
 * point leaves every row in at least one file; a rerun finishes the move,
 * even when the ticket was reopened in between: a hot row that the archive
 * already holds is deleted whatever its ticket's state (db.c, the
 * SQL_ARCH_* statements behind db_archive_*). The delete of the last
 * batch of messages marks the task done.
 *
 * Each batch (its copy and its delete) is sized and spaced by task_pace:
 * rows are cheap to count but not to move (a message's "newest 50 of its
 * room" test, the indexes of both files), so the row count adapts to the
 * time the two transactions hold the write lock.
 */
#include "autoconf.h"

#include <stdio.h>

#include "app.h"
#include "db.h"
#include "queue.h"
#include "task.h"
#include "util.h"

#define ARCHIVE_BATCH	500	/* rows at most, whatever the pace */

/* The ids of one batch: the first and last, and how many. */
struct batch {
	int64_t	lo;
	int64_t	hi;
	int	n;
};

/* A db_id_fn: adds the id to the struct batch arg. */
static int
batch_add(void *arg, int64_t id)
{
	struct batch *b = arg;

	b->hi = id;
	if (b->n++ == 0)
		b->lo = id;
	return 0;
}

/* Runs op (db_archive_copy or _delete) in its own transaction, and marks
 * done_task (if not NULL) done in it. */
static int
run_range(struct app *app, int (*op)(struct db *, enum db_archive, int64_t,
    int64_t, int64_t), enum db_archive what, int64_t cutoff, int64_t lo,
    int64_t hi, const char *done_task)
{
	if (db_begin(app->db) == -1)
		return -1;
	if (op(app->db, what, cutoff, lo, hi) != 0 || (done_task != NULL &&
	    queue_task_done(app->queue, done_task) == -1)) {
		db_rollback(app->db);
		return -1;
	}
	return db_commit(app->db);
}

/* Moves every row that db_archive_ids finds, batch by batch; the delete
 * of a batch smaller than asked for (the last) marks done_task done. */
static int
move_all(struct app *app, enum db_archive what, int64_t cutoff,
    const char *done_task)
{
	struct task_pace pace;
	struct batch b;
	int64_t after = 0;
	int limit;

	task_pace_init(&pace, app, ARCHIVE_BATCH);
	for (;;) {
		limit = task_pace_start(&pace);
		b.lo = b.hi = 0;
		b.n = 0;
		/* The ids are read outside the write transactions: a read
		 * never waits for the app's writers nor holds them up. */
		if (db_archive_ids(app->db, what, cutoff, after, limit,
		    batch_add, &b) == -1)
			return -1;
		if (b.n == 0)
			return 0;
		if (run_range(app, db_archive_copy, what, cutoff, b.lo, b.hi,
		    NULL) == -1 ||
		    run_range(app, db_archive_delete, what, cutoff, b.lo, b.hi,
		    b.n < limit ? done_task : NULL) == -1)
			return -1;
		if (b.n < limit)
			return 0;
		after = b.hi;
		task_pace_end(&pace, b.n);
	}
}

enum task_rc
task_archive(struct app *app, const char *id, json_t *payload, char *err,
    size_t errsz)
{
	long long days;
	int64_t cutoff;

	if (task_days(payload, "older_than_days", &days, err, errsz) == -1)
		return TASK_MALFORMED;
	cutoff = util_now_ms() - days * 86400000LL;
	if (move_all(app, DB_ARCHIVE_INTERACTIONS, cutoff, NULL) == -1 ||
	    move_all(app, DB_ARCHIVE_MESSAGES, cutoff, id) == -1) {
		snprintf(err, errsz, "database error");
		return TASK_RETRY;
	}
	return TASK_DONE;
}
