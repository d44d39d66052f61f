/* chatdeskctl check, backup and restore: the database as a file. */
#include "autoconf.h"

#include <sys/stat.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "check.h"
#include "ctl.h"
#include "db.h"
#include "metrics.h"
#include "queue.h"
#include "util.h"

#define CTL_POOL_MAX		16	/* pids named in the refusal */
#define CTL_RESTORE_LOCK_MS	600000	/* worker:lock while restoring */

/* check: chatdesk --check-config from the operator's command line. */
static int
ctl_check(struct app *app, int argc, char **argv)
{
	(void)argv;
	if (argc != 1)
		return ctl_usage_error(&ctl_check_cmd, "check takes no arguments");
	return check_run(app, "chatdeskctl", stdout);
}

/* backup FILE */
static int
ctl_backup(struct app *app, int argc, char **argv)
{
	char err[512];

	if (argc != 2)
		return ctl_usage_error(&ctl_backup_cmd, "expected FILE");
	if (ctl_open(app, 0) == -1)
		return EXIT_FAILURE;
	if (db_backup(app->db, argv[1], err, sizeof(err)) == -1) {
		fprintf(stderr, "chatdeskctl: backup failed: %s\n", err);
		return EXIT_FAILURE;
	}
	printf("backed up %s to %s\n", app->cfg.db_path, argv[1]);
	return EXIT_SUCCESS;
}

/*
 * restore FILE. A pool process keeps the generation it read at start
 * and its prepared statements, so restoring under a live pool is
 * refused: the pids come from the shared metrics file, where every pool
 * process registers (metrics_pool_join). A worker run is kept off by
 * worker:lock.
 */
static int
ctl_restore(struct app *app, int argc, char **argv)
{
	long pids[CTL_POOL_MAX];
	unsigned char rnd[8];
	char err[512], gen[2 * sizeof(rnd) + 1];
	struct stat st;
	size_t n, i;
	int v, locked, rc;

	if (argc != 2)
		return ctl_usage_error(&ctl_restore_cmd, "expected FILE");
	if (stat(argv[1], &st) == -1) {
		fprintf(stderr, "chatdeskctl: %s: %s\n", argv[1],
		    strerror(errno));
		return EXIT_FAILURE;
	}
	if ((v = db_file_version(argv[1], err, sizeof(err))) < 0) {
		fprintf(stderr, "chatdeskctl: %s\n", err);
		return EXIT_FAILURE;
	}
	if (v == 0 || v > db_latest_version()) {
		fprintf(stderr, "chatdeskctl: %s has schema version %d; this "
		    "build restores 1..%d\n", argv[1], v, db_latest_version());
		return EXIT_FAILURE;
	}
	/* MIGRATE: a restore onto a new host creates the database. */
	if (ctl_open(app, 1) == -1)
		return EXIT_FAILURE;
	if ((n = metrics_pool_pids(pids, CTL_POOL_MAX)) > 0) {
		fprintf(stderr, "chatdeskctl: the pool is running (pid");
		for (i = 0; i < n; i++)
			fprintf(stderr, " %ld", pids[i]);
		fprintf(stderr, "): stop it first, restore, then start it "
		    "again\n");
		return EXIT_FAILURE;
	}
	/* worker:lock keeps worker runs off the database meanwhile (a run
	 * that finds it held exits at once). Without the queue's Redis no
	 * run can start either. */
	if ((locked = queue_lock_take(app->queue, CTL_RESTORE_LOCK_MS)) == 0) {
		fprintf(stderr, "chatdeskctl: a worker run holds worker:lock: "
		    "stop the worker's timer or cron line, wait for the run to "
		    "end, then restore\n");
		return EXIT_FAILURE;
	}
	util_random(rnd, sizeof(rnd));
	util_hex(rnd, sizeof(rnd), gen);
	rc = db_restore(app->db, argv[1], gen, err, sizeof(err));
	if (locked == 1)
		queue_lock_release(app->queue);
	if (rc == -1) {
		fprintf(stderr, "chatdeskctl: restore failed: %s\n", err);
		return EXIT_FAILURE;
	}
	printf("restored %s from %s (schema version %d, now %d); "
	    "generation %s: the cache entries of the database it replaced "
	    "are never read again\n", app->cfg.db_path, argv[1], v,
	    db_latest_version(), gen);
	return EXIT_SUCCESS;
}

const struct ctl_cmd ctl_check_cmd = {
	.name = "check",
	.usage = "check",
	.help = "check the settings, the database and Redis (like nginx -t)",
	.exec = ctl_check,
};

const struct ctl_cmd ctl_backup_cmd = {
	.name = "backup",
	.usage = "backup FILE",
	.help = "write a consistent copy of the database to a new FILE",
	.exec = ctl_backup,
};

const struct ctl_cmd ctl_restore_cmd = {
	.name = "restore",
	.usage = "restore FILE",
	.help = "replace the database with FILE (the pool must be stopped)",
	.exec = ctl_restore,
};
