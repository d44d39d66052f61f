/*
 * task_pace: how the maintenance handlers (task_close.c, task_archive.c)
 * size and space their write transactions, so that the app's writers never
 * wait long behind them (API.md section 5, issue 12).
 *
 * The app's writers wait for SQLite's write lock in db.c's busy handler,
 * which polls every 20 us, then every 200 us, and every 2 ms only after
 * some 40 ms of waiting. Two things stalled the app: batches of 500 rows
 * that held the lock for tens of milliseconds, and batches back to back,
 * where the worker's next BEGIN IMMEDIATE takes the lock before a waiter's
 * sleep ends. Both pool processes then sat in the busy handler and every
 * request, reads included, queued behind them (960 -> 288 req/s).
 *
 * So each batch is sized to hold the lock for about maintenance_batch_ms:
 * the next batch's row count follows from the measured time per row of the
 * last one (shrinking at once, growing at most twofold per batch), within
 * PACE_MIN_ROWS .. the handler's row cap. After each batch the worker
 * sleeps PACE_FACTOR times as long as the batch held the lock, and never
 * less than PACE_MIN_US: long enough for every waiting writer (at most one
 * per pool process, each a commit of well under a millisecond) to get its
 * turn, and maintenance holds the lock at most 1/(1+PACE_FACTOR) of the
 * time.
 *
 * Every PACE_CHECKPOINT batches the pause begins with a checkpoint of the
 * WAL (PASSIVE, which waits for no one and blocks no one): the batches
 * write many pages, and left in the WAL they would be copied back by
 * SQLite's automatic checkpoint inside whichever commit crosses 1000
 * pages, most often an app's request. Not after every batch: each
 * checkpoint is an fsync of the database file, competing with the app's.
 *
 * The time measured is the lock's holding (db_held_us, every transaction
 * of the batch), not the batch's wall time: the wait for the lock in each
 * BEGIN grows with the app's load, not with the rows, and counted as their
 * cost it shrank the batches under load until each closed one ticket.
 */
#include "autoconf.h"

#include <time.h>

#include "app.h"
#include "db.h"
#include "log.h"
#include "task.h"
#include "util.h"

#define PACE_FIRST	32		/* rows in the first batch */
#define PACE_MIN_ROWS	32		/* see task_pace_end */
#define PACE_FACTOR	9		/* see bench/README.md */
#define PACE_CHECKPOINT	8		/* batches between checkpoints */
#define PACE_MIN_US	2000
#define PACE_MAX_US	1000000

void
task_pace_init(struct task_pace *p, struct app *app, int max)
{
	p->app = app;
	p->budget_us = app->cfg.maintenance_batch_ms * 1000;
	p->max = max;
	p->limit = max < PACE_FIRST ? max : PACE_FIRST;
	p->held_us = 0;
	p->batches = 0;
}

int
task_pace_start(struct task_pace *p)
{
	p->held_us = db_held_us(p->app->db);
	return p->limit;
}

void
task_pace_end(struct task_pace *p, int n)
{
	int64_t took = db_held_us(p->app->db) - p->held_us, pause, fit, t0;
	struct timespec ts;

	if (took < 1)
		took = 1;
	if (n > 0) {
		/* The rows this batch's rate fits into the budget. */
		fit = (int64_t)n * p->budget_us / took;
		if (fit > 2 * (int64_t)p->limit)
			fit = 2 * (int64_t)p->limit;
		/* Not below PACE_MIN_ROWS: under load a batch's fixed
		 * costs (its commits' fsyncs, a Redis round trip, waiting
		 * for the CPU) can fill the budget alone, and sizing by
		 * them would leave one row a batch, the same costs and no
		 * progress. */
		if (fit < PACE_MIN_ROWS)
			fit = PACE_MIN_ROWS;
		p->limit = fit > p->max ? p->max : (int)fit;
	}
	log_debug("maintenance batch: %d rows, write lock held %lld us; "
	    "next %d", n, (long long)took, p->limit);
	pause = took * PACE_FACTOR;
	if (pause < PACE_MIN_US)
		pause = PACE_MIN_US;
	if (pause > PACE_MAX_US)
		pause = PACE_MAX_US;
	if (++p->batches % PACE_CHECKPOINT == 0) {
		t0 = util_mono_us();
		db_checkpoint_passive(p->app->db);
		pause -= util_mono_us() - t0;
		if (pause < PACE_MIN_US)
			pause = PACE_MIN_US;
	}
	ts.tv_sec = pause / 1000000;
	ts.tv_nsec = (pause % 1000000) * 1000;
	nanosleep(&ts, NULL);
	if (p->app->heartbeat != NULL)
		p->app->heartbeat(p->app);
}
