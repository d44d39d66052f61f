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
 * 1 .. the handler's row cap. After each batch the worker sleeps PACE_FACTOR
 * times as long as the batch took, and never less than PACE_MIN_US: long
 * enough for every waiting writer (at most one per pool process, each a
 * commit of well under a millisecond) to get its turn, and maintenance
 * holds the lock at most 1/(1+PACE_FACTOR) of the time.
 *
 * The time measured is the caller's whole batch, which may include Redis
 * round trips made after the commit: an upper bound on the lock's holding,
 * so a slow Redis makes batches smaller, never longer.
 */
#include "autoconf.h"

#include <time.h>

#include "app.h"
#include "log.h"
#include "task.h"
#include "util.h"

#define PACE_FIRST	32		/* rows in the first batch */
#define PACE_FACTOR	3
#define PACE_MIN_US	2000
#define PACE_MAX_US	1000000

void
task_pace_init(struct task_pace *p, struct app *app, int max)
{
	p->app = app;
	p->budget_us = app->cfg.maintenance_batch_ms * 1000;
	p->max = max;
	p->limit = max < PACE_FIRST ? max : PACE_FIRST;
	p->start_us = 0;
}

int
task_pace_start(struct task_pace *p)
{
	p->start_us = util_mono_us();
	return p->limit;
}

void
task_pace_end(struct task_pace *p, int n)
{
	int64_t took = util_mono_us() - p->start_us, pause, fit;
	struct timespec ts;

	if (took < 1)
		took = 1;
	if (n > 0) {
		/* The rows this batch's rate fits into the budget. */
		fit = (int64_t)n * p->budget_us / took;
		if (fit > 2 * (int64_t)p->limit)
			fit = 2 * (int64_t)p->limit;
		p->limit = fit < 1 ? 1 : fit > p->max ? p->max : (int)fit;
	}
	log_debug("maintenance batch: %d rows in %lld us; next %d",
	    n, (long long)took, p->limit);
	pause = took * PACE_FACTOR;
	if (pause < PACE_MIN_US)
		pause = PACE_MIN_US;
	if (pause > PACE_MAX_US)
		pause = PACE_MAX_US;
	ts.tv_sec = pause / 1000000;
	ts.tv_nsec = (pause % 1000000) * 1000;
	nanosleep(&ts, NULL);
	if (p->app->heartbeat != NULL)
		p->app->heartbeat(p->app);
}
