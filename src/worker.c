/*
 * chatdesk-worker: one run of the batch worker, started by cron (API.md
 * section 5). Records the run, takes worker:lock, pushes every unfinished
 * task again if the queue's Redis lost data, recovers a crashed run's
 * tasks, moves due retries back, pushes the outbox, then takes tasks one
 * by one with LMOVE until the queue is empty or a limit is reached; marks
 * a task done (or dead) in its SQLite record, then acknowledges it in
 * Redis. Prunes finished records, prints one summary line, and records
 * the run's success (what /health's worker fields show).
 */
#include "autoconf.h"

#include <sys/stat.h>

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "app.h"
#include "check.h"
#include "config.h"
#include "db.h"
#include "log.h"
#include "metrics.h"
#include "queue.h"
#include "sig.h"
#include "task.h"
#include "util.h"

#define EXIT_USAGE	64
#define LOCK_TTL_MS	60000	/* at least; renewed every LOCK_RENEW_MS */
#define LOCK_RENEW_MS	10000

struct run {
	int64_t		lock_renewed_us;
	long long	taken, done, retried, dead, dropped, skipped;
	int		failed;		/* Redis or SQLite failed: no success */
	int		stalled;	/* the database cannot take writes */
};

static struct run run;

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: chatdesk-worker [--config FILE] [--max-tasks N] [--max-seconds S]\n"
	    "       chatdesk-worker [--config FILE] --check-config\n"
	    "\n"
	    "Drains tasks:pending once and exits; run it from cron every minute\n"
	    "(examples/crontab). A run that finds another one holding the lock\n"
	    "exits 0 at once.\n"
	    "  --config FILE     key = value settings (default: $CHATDESK_CONFIG)\n"
	    "  --max-tasks N     take at most N tasks (1..100000000)\n"
	    "  --max-seconds S   start no task after S seconds (1..86400)\n"
	    "  --check-config    check the settings, the database and Redis,\n"
	    "                    print what was found, exit 0 or 1\n"
	    "  --help, --version\n"
	    "\n"
	    "Signals: TERM, QUIT or INT finish the task in flight and end the\n"
	    "run (lock released, summary printed); HUP applies the live keys\n"
	    "(the next run reads everything); USR2 and USR1 are ignored.\n");
}

/* 1 taken, 0 held by another run, -1 Redis unusable. */
static int
lock_take(struct app *app)
{
	/* Longer than the longest wait between renewals: one notify_command
	 * run may take notify_timeout_ms. */
	long long ttl = LOCK_TTL_MS;
	int rc;

	if (ttl < 2 * app->cfg.notify_timeout_ms + LOCK_RENEW_MS)
		ttl = 2 * app->cfg.notify_timeout_ms + LOCK_RENEW_MS;
	rc = queue_lock_take(app->queue, ttl);
	run.lock_renewed_us = util_mono_us();
	return rc;
}

/* The heartbeat long handlers call between batches. */
static void
lock_renew(struct app *app)
{
	if (util_mono_us() - run.lock_renewed_us < LOCK_RENEW_MS * 1000LL)
		return;
	if (queue_lock_renew(app->queue) == -1)
		log_warn("worker:lock could not be renewed");
	run.lock_renewed_us = util_mono_us();
}

/* lock_renew for the queue module, which knows no struct app. */
static void
beat(void *arg)
{
	lock_renew(arg);
}

/* A cache Redis with an evicting policy would drop queue keys. */
static void
check_eviction(struct app *app)
{
	const char *p;

	if ((p = queue_eviction(app->queue)) != NULL)
		log_warn("the queue's Redis has maxmemory-policy %s: it "
		    "may evict tasks; set queue_redis_url to a Redis "
		    "with noeviction", p);
}

/* Adds error and failed_at (or a new attempts count) to a task text. */
static char *
task_with(json_t *task, const char *error, long long attempts)
{
	char when[UTIL_TIME_LEN];

	if (error != NULL) {
		util_format_time(util_now_ms(), when);
		json_object_set_new(task, "error", json_string(error));
		json_object_set_new(task, "failed_at", json_string(when));
	}
	if (attempts >= 0)
		json_object_set_new(task, "attempts", json_integer(attempts));
	return json_dumps(task, JSON_COMPACT);
}

/* {"task": the text}, or {"task_base64": ...} for bytes that are not
 * UTF-8 and so cannot be a JSON string: either way the task reaches
 * tasks:failed, rather than staying in tasks:processing to fail again
 * on every run. */
static json_t *
wrap_text(const struct strbuf *text)
{
	json_t *w;
	char *b64;
	size_t n;

	if ((w = json_pack("{s:s%}", "task", text->buf, text->len)) != NULL)
		return w;
	n = sodium_base64_encoded_len(text->len,
	    sodium_base64_VARIANT_ORIGINAL);
	if ((b64 = malloc(n)) == NULL)
		abort();
	sodium_bin2base64(b64, n, (const unsigned char *)text->buf, text->len,
	    sodium_base64_VARIANT_ORIGINAL);
	w = json_pack("{s:s}", "task_base64", b64);
	free(b64);
	return w;
}

static void
bury(struct app *app, const struct strbuf *text, json_t *task,
    const char *error, long long attempts)
{
	char *dead;
	json_t *wrap = NULL, *id = json_object_get(task, "id");
	long long dropped;

	metrics_task(json_is_string(json_object_get(task, "type")) ?
	    task_type_of(json_string_value(json_object_get(task, "type"))) :
	    -1, MTASK_DEAD);
	/* A task that is not even JSON is kept as text inside a wrapper. */
	if (task == NULL)
		task = wrap = wrap_text(text);
	dead = task_with(task, error, attempts);
	json_decref(wrap);
	if (dead == NULL)
		return;
	dropped = queue_bury(app->queue, text->buf, text->len, dead);
	free(dead);
	run.dead++;
	/* After the bury: recorded dead first, a crash in between would
	 * leave it in tasks:processing, and the next run would skip it
	 * instead of burying it. */
	if (dropped >= 0 && json_is_string(id) &&
	    queue_task_dead(app->queue, json_string_value(id)) == -1) {
		run.failed = 1;
		log_warn("task dead but not recorded so");
	}
	if (dropped > 0) {
		run.dropped += dropped;
		metrics_dead_dropped((uint64_t)dropped);
		log_warn("tasks:failed is full (dead_max %lld): dropped %lld "
		    "oldest", app->cfg.dead_max, dropped);
	}
	log_warn("task dead: %s", error);
}

/* Runs one task taken into tasks:processing. Returns 1 if it is done
 * and still to be acknowledged (the caller does it with the next take,
 * in the same round trip), else 0. */
static int
handle(struct app *app, const struct strbuf *text)
{
	json_t *task, *type, *id, *payload, *att;
	const struct task_handler *tt;
	char err[256] = "";
	long long attempts, backoff_ms;
	uint32_t jitter;
	char *next;
	enum task_rc rc;

	task = json_loadb(text->buf, text->len, 0, NULL);
	type = json_object_get(task, "type");
	id = json_object_get(task, "id");
	payload = json_object_get(task, "payload");
	att = json_object_get(task, "attempts");
	if (!json_is_object(task) || !json_is_string(type) ||
	    !json_is_string(id) || !json_is_object(payload) ||
	    (att != NULL && (!json_is_integer(att) ||
	    json_integer_value(att) < 0))) {
		bury(app, text, json_is_object(task) ? task : NULL,
		    "malformed task", -1);
		json_decref(task);
		return 0;
	}
	attempts = att ? json_integer_value(att) : 0;
	/* A second copy (pushed twice, or again after a loss) of a task that
	 * has finished: acknowledged without running. */
	if (queue_task_finished(app->queue, json_string_value(id)) == 1) {
		run.done++;
		run.skipped++;
		json_decref(task);
		return 1;
	}
	if ((tt = task_find(json_string_value(type))) == NULL) {
		bury(app, text, task, "unknown task type", -1);
		json_decref(task);
		return 0;
	}
	rc = tt->fn(app, json_string_value(id), payload, err, sizeof(err));
	if (rc == TASK_DONE) {
		/* Free when the handler marked it with its own writes. If
		 * this fails the task stays unfinished in the record: at most
		 * it runs again after a loss (handlers are idempotent). */
		if (queue_task_done(app->queue, json_string_value(id)) == -1) {
			run.failed = 1;
			log_warn("task %s done but not recorded so",
			    json_string_value(id));
		}
		run.done++;
		metrics_task((int)tt->type, MTASK_DONE);
		json_decref(task);
		return 1;
	} else if (rc == TASK_MALFORMED) {
		bury(app, text, task, err, -1);
	} else if (db_read_only(app->db)) {
		/*
		 * The database cannot take writes (a full disk, a read-only
		 * file system, a failed sync): the failure is not the
		 * task's, and every task after it would fail alike and die
		 * after its retries. It goes back to the head of
		 * tasks:pending with no attempt counted (it is the only task
		 * in tasks:processing), and the run ends; its record stays
		 * unfinished, and the next run, once there is room, runs it.
		 */
		if (queue_recover_orphans(app->queue) == -1)
			log_warn("task %s stays in tasks:processing for the "
			    "next run", json_string_value(id));
		run.stalled = 1;
		run.failed = 1;
		log_error("the database cannot take writes (%s): stopping; "
		    "task %s and the rest stay in tasks:pending", err,
		    json_string_value(id));
	} else if (attempts + 1 >= app->cfg.task_max_attempts) {
		bury(app, text, task, err, app->cfg.task_max_attempts);
	} else {
		/* backoff * 2^(attempts-1), attempts counted from 1, plus up
		 * to 10 % jitter. */
		/* attempts is capped so the shift cannot overflow; a day is
		 * the longest wait. */
		backoff_ms = app->cfg.task_backoff_s * 1000LL <<
		    (attempts < 20 ? attempts : 20);
		if (backoff_ms > 86400000LL)
			backoff_ms = 86400000LL;
		util_random(&jitter, sizeof(jitter));
		backoff_ms += backoff_ms > 0 ?
		    (long long)(jitter % (uint32_t)(backoff_ms / 10 + 1)) : 0;
		if ((next = task_with(task, NULL, attempts + 1)) != NULL) {
			if (queue_delay(app->queue, text->buf, text->len, next,
			    util_now_ms() + backoff_ms) == -1)
				log_warn("task could not be delayed; it stays "
				    "in tasks:processing for the next run");
			free(next);
		}
		run.retried++;
		metrics_task((int)tt->type, MTASK_RETRIED);
		log_info("task %s failed (%s); retry %lld in %lld ms",
		    json_string_value(id), err, attempts + 1, backoff_ms);
	}
	json_decref(task);
	return 0;
}

int
main(int argc, char *argv[])
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "max-tasks", required_argument, NULL, 't' },
		{ "max-seconds", required_argument, NULL, 's' },
		{ "check-config", no_argument, NULL, 'C' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	struct app app;
	struct strbuf text, ack, tmp;
	const char *config_path = NULL;
	char err[CONFIG_ERRLEN + 256];
	long long max_tasks = 0, max_seconds = 0, n;
	int64_t start = util_mono_us();
	int ch, got, check = 0, rc = EXIT_FAILURE;

	umask(APP_UMASK);
	opterr = 0;	/* one-line errors, printed below */
	while ((ch = getopt_long(argc, argv, ":c:t:s:ChV", opts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			config_path = optarg;
			break;
		case 't':
			if (util_parse_int(optarg, 1, 100000000, &max_tasks) == -1) {
				fprintf(stderr, "chatdesk-worker: --max-tasks: "
				    "expected 1..100000000\n");
				return EXIT_USAGE;
			}
			break;
		case 's':
			if (util_parse_int(optarg, 1, 86400, &max_seconds) == -1) {
				fprintf(stderr, "chatdesk-worker: --max-seconds: "
				    "expected 1..86400\n");
				return EXIT_USAGE;
			}
			break;
		case 'C':
			check = 1;
			break;
		case 'h':
			usage(stdout);
			return EXIT_SUCCESS;
		case 'V':
			printf("chatdesk-worker %s\n", PACKAGE_VERSION);
			return EXIT_SUCCESS;
		default:
			fprintf(stderr, "chatdesk-worker: bad option '%s' (see chatdesk-worker --help)\n",
			    argv[optind - 1]);
			return EXIT_USAGE;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "chatdesk-worker: unexpected argument '%s'\n",
		    argv[optind]);
		return EXIT_USAGE;
	}
	memset(&app, 0, sizeof(app));
	app.config_path = config_path;
	log_init("chatdesk-worker", LOGL_INFO);
	if (check_config_load(&app, "chatdesk-worker", check) == -1)
		return EXIT_FAILURE;
	log_init("chatdesk-worker", (enum log_level)app.cfg.log_level);
	/* Stop signals end the run after the task in flight; they restart
	 * system calls, so a notify_command's pipe is not cut. SIGPIPE
	 * ignored: a notify_command that exits without reading its input. */
	sig_init(NULL, 0, 0);
	strbuf_init(&text);
	strbuf_init(&ack);
	if (sodium_init() < 0) {
		log_startup_error(app.cfg.log_file, "libsodium failed to "
		    "initialise");
		goto out;
	}
	if (check) {
		rc = check_run(&app, "chatdesk-worker", stdout);
		goto out;
	}
	/* The worker logs to standard error (cron mails it, systemd keeps
	 * it); log_file gets its start-up errors only. */
	if (app_open(&app, DB_OPEN_APP, err, sizeof(err)) == -1) {
		log_startup_error(app.cfg.log_file, "%s", err);
		goto out;
	}
	app.heartbeat = lock_renew;
	/* Every start counts as a run, even one that finds the lock held
	 * or Redis away: the success below is what tells they worked. */
	if (db_worker_run(app.db, util_now_ms()) == -1)
		log_warn("the worker's run could not be recorded");
	if ((got = lock_take(&app)) == -1) {
		fprintf(stderr, "chatdesk-worker: the queue's Redis is "
		    "unreachable (queue_redis_url)\n");
		goto out;
	}
	if (got == 0) {
		printf("worker:lock is held by another run; exiting\n");
		rc = EXIT_SUCCESS;
		goto out;
	}
	check_eviction(&app);
	if (queue_recover_lost(app.queue) == -1) {
		run.failed = 1;
		log_error("could not check whether the queue's Redis lost "
		    "data; the next run tries again");
	}
	if ((n = queue_recover_orphans(app.queue)) > 0)
		log_warn("moved %lld task(s) of a crashed run back to "
		    "tasks:pending", n);
	if ((n = queue_move_due(app.queue)) > 0)
		log_info("moved %lld due retr%s to tasks:pending", n,
		    n == 1 ? "y" : "ies");
	if ((n = queue_flush(app.queue, NULL, 0)) > 0)
		log_info("pushed %lld task(s) from the outbox", n);
	for (;;) {
		sig_apply(&app);
		if (sig_stopping()) {
			log_info("stop signal: ending the run after %lld "
			    "task(s)", run.taken);
			break;
		}
		if (max_tasks > 0 && run.taken >= max_tasks)
			break;
		if (max_seconds > 0 &&
		    (util_mono_us() - start) / 1000000 >= max_seconds)
			break;
		/* The previous task's acknowledgement rides with this take. */
		got = queue_take(app.queue, ack.len > 0 ? &ack : NULL, &text);
		strbuf_reset(&ack);
		if (got != 1) {
			if (got == -1) {
				run.failed = 1;
				log_error("redis failed while taking a task (a "
				    "done task may run again next time)");
			}
			break;
		}
		run.taken++;
		if (handle(&app, &text)) {
			/* Swap buffers: the done task becomes the ack. */
			tmp = ack;
			ack = text;
			text = tmp;
		}
		if (run.stalled)
			break;
		lock_renew(&app);
	}
	if (ack.len > 0 && queue_ack(app.queue, ack.buf, ack.len) == -1)
		log_warn("the last task done was not acknowledged: it will "
		    "run again");
	if (run.skipped > 0)
		log_info("acknowledged %lld task(s) already finished without "
		    "running them again", run.skipped);
	if ((n = queue_prune(app.queue, app.cfg.task_done_keep_s * 1000,
	    beat, &app)) == -1) {
		run.failed = 1;
		log_warn("finished tasks could not be pruned");
	} else if (n > 0)
		log_info("pruned %lld finished task record(s)", n);
	if (queue_lock_release(app.queue) == -1)
		log_warn("worker:lock was not ours any more at the end");
	db_checkpoint(app.db);
	if (!run.failed && db_worker_success(app.db, util_now_ms()) == -1)
		log_warn("the worker's success could not be recorded");
	printf("taken=%lld done=%lld retried=%lld dead=%lld seconds=%.3f\n",
	    run.taken, run.done, run.retried, run.dead,
	    (double)(util_mono_us() - start) / 1e6);
	rc = EXIT_SUCCESS;
out:
	strbuf_free(&text);
	strbuf_free(&ack);
	app_close(&app);
	config_free(&app.cfg);
	return rc;
}
