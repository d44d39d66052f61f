/* check: see check.h. */
#include "autoconf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app.h"
#include "cache.h"
#include "check.h"
#include "config.h"
#include "db.h"
#include "log.h"
#include "metrics.h"
#include "queue.h"
#include "rconn.h"

/* A Redis URL as it may be printed: never its password. */
static void
redis_where(const char *url, char *buf, size_t bufsz)
{
	struct rconn_url u;
	char err[128];

	if (rconn_parse_url(url, &u, err, sizeof(err)) == -1)
		snprintf(buf, bufsz, "(unparsable: %s)", err);
	else if (u.is_unix)
		snprintf(buf, bufsz, "unix:%s db %d%s", u.path, u.db,
		    *u.password ? " (with password)" : "");
	else
		snprintf(buf, bufsz, "%s:%d db %d%s", u.host, u.port, u.db,
		    *u.password ? " (with password)" : "");
}

/* One Redis line; returns 1 if it is a problem. */
static int
check_redis(FILE *out, const char *key, const char *url, int ok,
    const char *consequence)
{
	char where[400];

	redis_where(url, where, sizeof(where));
	if (ok)
		fprintf(out, "%s: %s: ok\n", key, where);
	else
		fprintf(out, "%s: %s: unreachable or refused%s\n", key, where,
		    consequence);
	return ok ? 0 : 1;
}

int
check_config_load(struct app *app, const char *prog, int check)
{
	char err[CONFIG_ERRLEN + 256], lf[1024];

	if (config_load(&app->cfg, app->config_path, err, sizeof(err)) == 0)
		return 0;
	if (check)
		printf("config: %s\n%s: configuration check failed\n", err,
		    prog);
	else
		log_startup_error(config_log_file(app->config_path, lf,
		    sizeof(lf)), "config: %s", err);
	return -1;
}

int
check_run(struct app *app, const char *prog, FILE *out)
{
	const char *config_path = app->config_path;
	const struct config *c = &app->cfg;
	char err[512], gen[DB_GENERATION_MAX + 1];
	const char *p;
	int bad = 0, fd;

	if (config_path == NULL && (p = getenv("CHATDESK_CONFIG")) != NULL &&
	    *p != '\0')
		config_path = p;
	fprintf(out, "config: %s: ok\n", config_path ? config_path :
	    "no file (defaults and CHATDESK_* variables)");
	if (app_open(app, DB_OPEN_APP, err, sizeof(err)) == -1) {
		fprintf(out, "open: %s\n", err);
		fprintf(out, "%s: configuration check failed\n", prog);
		return 1;
	}
	fprintf(out, "db_path: %s: schema version %d (current)\n", c->db_path,
	    db_latest_version());
	if (db_generation(app->db, gen, sizeof(gen)) == 0)
		fprintf(out, "generation: %s\n", *gen ? gen :
		    "none (never restored)");
	fprintf(out, "archive_db_path: %s: attached\n", c->archive_db_path);
	if (metrics_shared())
		fprintf(out, "metrics: %s-metrics: shared\n", c->db_path);
	else {
		fprintf(out, "metrics: %s-metrics: cannot be opened (the pool "
		    "refuses to start without it)\n", c->db_path);
		bad++;
	}
	bad += check_redis(out, "redis_url", c->redis_url,
	    cache_ping(app->cache), " (the app would run without its cache)");
	if (app->one_redis)
		fprintf(out, "queue_redis_url: the same server as redis_url\n");
	else
		bad += check_redis(out, "queue_redis_url", c->queue_redis_url,
		    queue_ping(app->queue), "");
	if (*c->log_file == '\0')
		fprintf(out, "log_file: none (standard error)\n");
	else if ((fd = open(c->log_file, O_WRONLY | O_APPEND | O_CREAT |
	    O_CLOEXEC, 0640)) == -1) {
		fprintf(out, "log_file: %s: %s\n", c->log_file, strerror(errno));
		bad++;
	} else {
		close(fd);
		fprintf(out, "log_file: %s: writable\n", c->log_file);
	}
	fprintf(out, "notify_command: %s\n", *c->notify_command ?
	    "set" : "none");
	if (bad)
		fprintf(out, "%s: configuration check failed: %d problem%s\n",
		    prog, bad, bad == 1 ? "" : "s");
	else
		fprintf(out, "%s: configuration is ok\n", prog);
	return bad ? 1 : 0;
}
